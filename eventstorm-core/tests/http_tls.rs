//! HTTPS on the HTTP server stack, over real connections: a self-signed
//! certificate made for the test (rcgen), a request through rustls, plain
//! HTTP refused on the TLS port, a client that does not trust the
//! certificate, and files that cannot be used.
#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eventstorm_core::http::{HttpConfig, HttpError, Request, Response, Router, Server, TlsConfig};
use eventstorm_test_support::{wait_for, with_timeout};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

const LIMIT: Duration = Duration::from_secs(60);

/// A self-signed certificate for `localhost` and its key, as PEM files in a
/// directory of their own; the certificate's DER for the client's trust store.
struct TestCert {
    dir: PathBuf,
    tls: TlsConfig,
    der: CertificateDer<'static>,
}

impl TestCert {
    fn new(name: &str) -> TestCert {
        let dir =
            std::env::temp_dir().join(format!("eventstorm-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let made =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
        let tls = TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&tls.cert, made.cert.pem()).expect("write cert");
        std::fs::write(&tls.key, made.signing_key.serialize_pem()).expect("write key");
        TestCert {
            dir,
            tls,
            der: made.cert.der().clone(),
        }
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hello_server(tls: &TlsConfig) -> Server {
    let router = Router::new().route("GET", "/v1/hello", |r: &Request| {
        Response::json(200, &serde_json::json!({"hello": r.auth_token()}))
    });
    let config = HttpConfig {
        tls: Some(tls.clone()),
        ..HttpConfig::listen("127.0.0.1:0")
    };
    Server::start(&config, router).expect("start")
}

/// A GET over TLS trusting `root`; the answer, or the error that stopped it.
fn https_get(
    server: &Server,
    root: &CertificateDer<'static>,
    path: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(server.local_addr())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sesame\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn https_request_with_a_self_signed_certificate() {
    with_timeout(LIMIT, || {
        let cert = TestCert::new("ok");
        let server = hello_server(&cert.tls);
        let answer = https_get(&server, &cert.der, "/v1/hello").expect("https");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(r#"{"hello":"sesame"}"#), "{answer}");
        assert_eq!(server.counters().tls_handshake_failures.get(), 0);
        assert!(server.shutdown());
    });
}

#[test]
fn plain_http_on_a_tls_port_gets_no_answer() {
    with_timeout(LIMIT, || {
        let cert = TestCert::new("plain");
        let server = hello_server(&cert.tls);
        let mut stream = TcpStream::connect(server.local_addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream
            .write_all(b"GET /v1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            !answer.starts_with(b"HTTP/"),
            "plain HTTP was answered: {}",
            String::from_utf8_lossy(&answer)
        );
        let counters = server.counters();
        wait_for("the refused handshake to be counted", LIMIT, || {
            counters.tls_handshake_failures.get() == 1
        });
        assert_eq!(counters.requests.get(), 0);

        // A TLS client that trusts another certificate stops at the handshake.
        let other = TestCert::new("other");
        let err = https_get(&server, &other.der, "/v1/hello").expect_err("untrusted");
        assert!(err.to_string().contains("certificate"), "{err}");
        wait_for("the second refused handshake", LIMIT, || {
            counters.tls_handshake_failures.get() == 2
        });
        // The listener still serves a client that trusts it.
        let answer = https_get(&server, &cert.der, "/v1/hello").expect("https");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
}

#[test]
fn unusable_files_fail_the_start_naming_the_file() {
    with_timeout(LIMIT, || {
        let cert = TestCert::new("bad");
        let missing = TlsConfig {
            cert: cert.dir.join("nope.pem"),
            key: cert.tls.key.clone(),
        };
        // The key file holds no certificate; the certificate file no key.
        let swapped = TlsConfig {
            cert: cert.tls.key.clone(),
            key: cert.tls.cert.clone(),
        };
        for (tls, file) in [(missing, "nope.pem"), (swapped, "key.pem")] {
            let config = HttpConfig {
                tls: Some(tls),
                ..HttpConfig::listen("127.0.0.1:0")
            };
            let err = Server::start(&config, Router::new()).expect_err(file);
            assert!(matches!(err, HttpError::Tls { .. }), "{err}");
            assert!(err.to_string().contains(file), "{err}");
        }
    });
}
