//! HTTPS: the rustls server configuration built from [`TlsConfig`]'s PEM
//! files.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::{HttpError, TlsConfig};

/// The handshake of an HTTPS listener.
#[derive(Clone)]
pub(super) struct Tls(pub(super) TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// Reads the certificate chain and the key and builds the acceptor. Fails
/// with the file and what is wrong.
pub(super) fn acceptor(config: &TlsConfig) -> Result<Tls, HttpError> {
    let cert_path = config.cert.display().to_string();
    let key_path = config.key.display().to_string();
    let cert_error = |message: String| HttpError::Tls {
        what: "certificate",
        path: cert_path.clone(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .map_err(|e| cert_error(format!("cannot read it: {e} (does the file exist?)")))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(cert_error(
            "no certificate in it: expected PEM `-----BEGIN CERTIFICATE-----` blocks".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| HttpError::Tls {
        what: "private key",
        path: key_path.clone(),
        message: format!(
            "{e}: expected a PEM private key (`-----BEGIN PRIVATE KEY-----`, RSA or EC) in a readable file"
        ),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| HttpError::Tls {
            what: "private key",
            path: key_path,
            message: format!("does not go with the certificate {cert_path}: {e}"),
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls(TlsAcceptor::from(Arc::new(server))))
}
