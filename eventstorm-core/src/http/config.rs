//! [`HttpConfig`]: where a [`Server`](super::Server) listens and its limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::HttpError;

/// Where a [`Server`](super::Server) listens, its limits and its timeouts.
///
/// Every field has a named default; [`validate`](Self::validate) (called by
/// [`Server::start`](super::Server::start)) refuses values outside the
/// documented ranges with the key and what was expected.
///
/// ```
/// use eventstorm_core::http::HttpConfig;
///
/// let config: HttpConfig = toml::from_str(r#"
///     listen = "127.0.0.1:8080"
///     max_connections = 512
/// "#)?;
/// assert_eq!(config.max_connections, 512);
/// assert_eq!(config.header_timeout_ms, HttpConfig::DEFAULT_HEADER_TIMEOUT_MS);
/// config.validate()?;
///
/// let wrong: HttpConfig = toml::from_str("workers = 100000")?;
/// assert!(wrong.validate().unwrap_err().to_string().contains("workers"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on, `IP:PORT` ([`Self::DEFAULT_LISTEN`]; port 0 picks one).
    pub listen: String,
    /// Connections served at once; more wait in the kernel's accept backlog
    /// until one closes ([`Self::DEFAULT_MAX_CONNECTIONS`], 1 to 65 536).
    pub max_connections: usize,
    /// Time a client has to send a request's line and headers, counted from
    /// the moment the server waits for them: on a new connection and between
    /// two requests of a kept-alive one, so it is also the idle timeout. The
    /// connection is closed when it runs out ([`Self::DEFAULT_HEADER_TIMEOUT_MS`],
    /// 1 ms to 1 h).
    pub header_timeout_ms: u64,
    /// Time a client has to send a whole request body, counted from the end
    /// of its headers; answered 408 and closed when it runs out
    /// ([`Self::DEFAULT_BODY_TIMEOUT_MS`], 1 ms to 1 h).
    pub body_timeout_ms: u64,
    /// Largest request body, in bytes, after decoding `Content-Encoding: gzip`;
    /// larger bodies are answered 413 ([`Self::DEFAULT_MAX_BODY_BYTES`], 1 B to 1 GiB).
    pub max_body_bytes: usize,
    /// Largest request line plus headers, in bytes; larger ones are answered
    /// 431 ([`Self::DEFAULT_MAX_HEADER_BYTES`], 1 KiB to 1 MiB).
    pub max_header_bytes: usize,
    /// On shutdown, time given to requests in flight before every connection
    /// is closed, whatever the clients do ([`Self::DEFAULT_SHUTDOWN_TIMEOUT_MS`],
    /// 0 to 60 s).
    pub shutdown_timeout_ms: u64,
    /// Threads doing network I/O ([`Self::DEFAULT_WORKERS`], 1 to 64).
    pub workers: usize,
    /// Threads running request handlers, so a slow handler never holds up the
    /// network threads ([`Self::DEFAULT_HANDLER_THREADS`], 1 to 1024).
    pub handler_threads: usize,
    /// Serve HTTPS instead of plain HTTP: `tls = { cert = "...", key = "..." }`
    /// (default: none, plain HTTP). The handshake must finish within
    /// `header_timeout_ms`.
    pub tls: Option<TlsConfig>,
}

/// The certificate and private key an HTTPS listener presents, as PEM files.
///
/// ```
/// use eventstorm_core::http::HttpConfig;
///
/// let config: HttpConfig = toml::from_str(r#"
///     listen = "0.0.0.0:8443"
///     tls = { cert = "/etc/eventstorm/tls/cert.pem", key = "/etc/eventstorm/tls/key.pem" }
/// "#)?;
/// assert!(config.tls.is_some());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM: the server's certificate first, then
    /// the intermediates.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS #8, PKCS #1 or SEC1). Keep it readable
    /// by the service's user only.
    pub key: PathBuf,
}

/// The accepted range of each numeric setting: key, lowest, highest.
const RANGES: [(&str, u64, u64); 8] = [
    ("max_connections", 1, 65_536),
    ("header_timeout_ms", 1, 3_600_000),
    ("body_timeout_ms", 1, 3_600_000),
    ("max_body_bytes", 1, 1 << 30),
    ("max_header_bytes", 1024, 1 << 20),
    ("shutdown_timeout_ms", 0, 60_000),
    ("workers", 1, 64),
    ("handler_threads", 1, 1024),
];

impl HttpConfig {
    /// Default listen address.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8080";
    /// Default connection cap.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// Default header (and idle) timeout: 10 s.
    pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
    /// Default whole-body timeout: 30 s.
    pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 30_000;
    /// Default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
    /// Default header limit: 16 KiB.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 10;
    /// Default shutdown grace: 5 s.
    pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 5_000;
    /// Default number of network threads.
    pub const DEFAULT_WORKERS: usize = 2;
    /// Default number of handler threads.
    pub const DEFAULT_HANDLER_THREADS: usize = 8;

    /// A config listening on `addr`, with the defaults for the rest.
    pub fn listen(addr: impl Into<String>) -> Self {
        HttpConfig {
            listen: addr.into(),
            ..Default::default()
        }
    }

    /// Checks every setting against its documented range.
    pub fn validate(&self) -> Result<(), HttpError> {
        let values = [
            self.max_connections as u64,
            self.header_timeout_ms,
            self.body_timeout_ms,
            self.max_body_bytes as u64,
            self.max_header_bytes as u64,
            self.shutdown_timeout_ms,
            self.workers as u64,
            self.handler_threads as u64,
        ];
        for ((key, low, high), value) in RANGES.iter().zip(values) {
            if !(*low..=*high).contains(&value) {
                return Err(HttpError::Config {
                    key,
                    message: format!("expected {low} to {high}, got {value}"),
                });
            }
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(HttpError::Config {
                key: "listen",
                message: format!(
                    "expected IP:PORT such as 127.0.0.1:8080 or [::]:8080, got {:?}",
                    self.listen
                ),
            });
        }
        Ok(())
    }

    /// [`header_timeout_ms`](Self::header_timeout_ms) as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// [`body_timeout_ms`](Self::body_timeout_ms) as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// [`shutdown_timeout_ms`](Self::shutdown_timeout_ms) as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: Self::DEFAULT_LISTEN.to_string(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout_ms: Self::DEFAULT_HEADER_TIMEOUT_MS,
            body_timeout_ms: Self::DEFAULT_BODY_TIMEOUT_MS,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            shutdown_timeout_ms: Self::DEFAULT_SHUTDOWN_TIMEOUT_MS,
            workers: Self::DEFAULT_WORKERS,
            handler_threads: Self::DEFAULT_HANDLER_THREADS,
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_name_their_key() {
        assert!(HttpConfig::default().validate().is_ok());
        let cases: [(&str, HttpConfig); 5] = [
            (
                "workers",
                HttpConfig {
                    workers: 100_000,
                    ..Default::default()
                },
            ),
            (
                "workers",
                HttpConfig {
                    workers: 0,
                    ..Default::default()
                },
            ),
            (
                "max_connections",
                HttpConfig {
                    max_connections: 0,
                    ..Default::default()
                },
            ),
            (
                "max_header_bytes",
                HttpConfig {
                    max_header_bytes: 10,
                    ..Default::default()
                },
            ),
            ("listen", HttpConfig::listen("localhost:99999")),
        ];
        for (key, config) in cases {
            let err = config.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
