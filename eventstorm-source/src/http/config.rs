//! Configuration of an [`HttpSource`](super::HttpSource).

use eventstorm_core::auth::{TokenStore, TokensConfig};
use eventstorm_core::http::{HttpConfig, HttpError};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::parse::{ParserConfig, parser_by_name};

/// An HTTP ingest endpoint: its name, its queue, its JSON limits, the options
/// of the parsers behind `POST /v1/events/{parser}`, and the HTTP server
/// (listen address, connection cap, timeouts, body limit).
///
/// ```
/// use eventstorm_source::http::HttpSourceConfig;
///
/// let config: HttpSourceConfig = toml::from_str(r#"
///     name = "ingest"
///     [server]
///     listen = "127.0.0.1:8080"
///     max_connections = 512
/// "#)?;
/// assert_eq!(config.server.max_connections, 512);
/// assert_eq!(config.queue_requests, HttpSourceConfig::DEFAULT_QUEUE_REQUESTS);
/// assert_eq!(config.max_depth, HttpSourceConfig::DEFAULT_MAX_DEPTH);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSourceConfig {
    /// A name for logs and stats (default `http`).
    pub name: String,
    /// Accepted requests queued for the source's `poll`; when full, requests
    /// are answered 503 ([`Self::DEFAULT_QUEUE_REQUESTS`], 1 to 1 048 576).
    pub queue_requests: usize,
    /// Deepest nesting of JSON objects and arrays in a request, counting the
    /// array of a batch; deeper bodies are answered 400 without being parsed
    /// ([`Self::DEFAULT_MAX_DEPTH`], 1 to [`Self::MAX_MAX_DEPTH`]).
    pub max_depth: usize,
    /// Options of the parsers behind `POST /v1/events/{parser}` (`log_format`,
    /// `type_field`, ...; see [`ParserConfig`]).
    pub parser_options: ParserConfig,
    /// The HTTP server: `listen`, `max_connections`, timeouts,
    /// `max_body_bytes`, `tls`, ... (a `[http.server]` table; see [`HttpConfig`]).
    pub server: HttpConfig,
    /// The tenants' tokens (an `[http.auth]` table: `tokens`, `tokens_file`;
    /// see [`TokensConfig`]). Default: none, and then every request is
    /// accepted and events keep the tenant they carry. With tokens, a
    /// request without a valid one is answered 401, and each token's tenant
    /// is stamped on its events.
    pub auth: TokensConfig,
}

impl HttpSourceConfig {
    /// Default queue capacity, in requests.
    pub const DEFAULT_QUEUE_REQUESTS: usize = 1024;
    /// Default nesting limit.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// The highest accepted `max_depth` (the JSON decoder's own bound is 128).
    pub const MAX_MAX_DEPTH: usize = 100;

    /// A config listening on `addr`, with the defaults for the rest.
    pub fn listen(addr: impl Into<String>) -> Self {
        HttpSourceConfig {
            server: HttpConfig::listen(addr),
            ..Default::default()
        }
    }

    /// Checks every setting (ranges, parser options, the server's settings);
    /// errors name the key (`server.workers`).
    pub fn validate(&self) -> Result<()> {
        if !(1..=1 << 20).contains(&self.queue_requests) {
            return Err(Error::config(
                "queue_requests",
                format!("expected 1 to 1048576, got {}", self.queue_requests),
            ));
        }
        let max = Self::MAX_MAX_DEPTH;
        if !(1..=max).contains(&self.max_depth) {
            return Err(Error::config(
                "max_depth",
                format!("expected 1 to {max}, got {}", self.max_depth),
            ));
        }
        for name in super::handler::PARSERS {
            parser_by_name(name, &self.parser_options)
                .map_err(|e| Error::config("parser_options", e.to_string()))?;
        }
        self.server.validate().map_err(server_error)?;
        self.tokens().map(drop)
    }

    /// The token store, when tokens are configured; errors name the key
    /// under `auth.`.
    pub(crate) fn tokens(&self) -> Result<Option<TokenStore>> {
        if !self.auth.is_enabled() {
            return Ok(None);
        }
        TokenStore::new(&self.auth)
            .map(Some)
            .map_err(|e| Error::config(format!("auth.{}", e.key), e.message))
    }

    /// Requires a token: `token` stamps `tenant` on the events it sends.
    pub fn with_token(mut self, tenant: impl Into<String>, token: impl Into<String>) -> Self {
        self.auth
            .tokens
            .push(eventstorm_core::auth::TokenEntry::new(tenant, token));
        self
    }

    /// Sets the body limit (of the server).
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.server.max_body_bytes = bytes;
        self
    }

    /// Sets the queue capacity, in requests.
    pub fn with_queue_requests(mut self, requests: usize) -> Self {
        self.queue_requests = requests;
        self
    }
}

impl Default for HttpSourceConfig {
    fn default() -> Self {
        HttpSourceConfig {
            name: "http".to_string(),
            queue_requests: Self::DEFAULT_QUEUE_REQUESTS,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            parser_options: ParserConfig::default(),
            server: HttpConfig::default(),
            auth: TokensConfig::default(),
        }
    }
}

/// A server error as a source configuration error, keys under `server.`.
pub(crate) fn server_error(e: HttpError) -> Error {
    match e {
        HttpError::Config { key, message } => Error::config(format!("server.{key}"), message),
        other => Error::config("server.listen", other.to_string()),
    }
}
