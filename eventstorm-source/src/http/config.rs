//! Configuration of an [`HttpSource`](super::HttpSource).

use serde::Deserialize;

/// Where an [`HttpSource`](super::HttpSource) listens and its limits.
///
/// ```
/// use eventstorm_source::http::HttpConfig;
///
/// let config: HttpConfig = toml::from_str(r#"listen = "127.0.0.1:8080""#)?;
/// assert_eq!(config.max_body_bytes, HttpConfig::DEFAULT_MAX_BODY_BYTES);
/// assert_eq!(config.queue_requests, HttpConfig::DEFAULT_QUEUE_REQUESTS);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A name for logs and stats (default `http`).
    pub name: String,
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks one).
    pub listen: String,
    /// Larger request bodies are answered 413 ([`Self::DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// Accepted requests queued for the source's `poll`; when full, requests are
    /// answered 503 ([`Self::DEFAULT_QUEUE_REQUESTS`]).
    pub queue_requests: usize,
    /// Threads answering requests ([`Self::DEFAULT_WORKERS`]).
    pub workers: usize,
}

impl HttpConfig {
    /// Default body limit, in bytes (1 MiB).
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
    /// Default queue capacity, in requests.
    pub const DEFAULT_QUEUE_REQUESTS: usize = 1024;
    /// Default number of worker threads.
    pub const DEFAULT_WORKERS: usize = 2;

    /// A config listening on `addr`, with the defaults for the rest.
    pub fn listen(addr: impl Into<String>) -> Self {
        HttpConfig {
            listen: addr.into(),
            ..Default::default()
        }
    }

    /// Sets the body limit.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the queue capacity, in requests.
    pub fn with_queue_requests(mut self, requests: usize) -> Self {
        self.queue_requests = requests;
        self
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            name: "http".to_string(),
            listen: "127.0.0.1:8080".to_string(),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            queue_requests: Self::DEFAULT_QUEUE_REQUESTS,
            workers: Self::DEFAULT_WORKERS,
        }
    }
}
