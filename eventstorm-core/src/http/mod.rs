//! The one HTTP server stack of Eventstorm (feature `http`): HTTP ingest and
//! every HTTP API of the binaries mount their routes on it.
//!
//! A [`Server`] is built from a serde [`HttpConfig`] and a [`Router`] of
//! synchronous [`Handler`]s. It runs [hyper](https://hyper.rs) on a private
//! tokio runtime that the caller never sees, with these bounds whatever the
//! clients do:
//!
//! | bound | setting (default) | when it is hit |
//! |---|---|---|
//! | connections at once | `max_connections` (256) | more wait in the kernel's accept backlog |
//! | request line + headers, and idle keep-alive | `header_timeout_ms` (10 s) | the connection is closed |
//! | whole body | `body_timeout_ms` (30 s) | 408, connection closed |
//! | body size, after gzip decoding | `max_body_bytes` (1 MiB) | 413, connection closed |
//! | header size | `max_header_bytes` (16 KiB) | 431, connection closed |
//! | shutdown | `shutdown_timeout_ms` (5 s) | every connection is closed |
//! | TLS handshake | `header_timeout_ms` (10 s) | the connection is closed |
//!
//! With [`tls`](HttpConfig::tls) set, the listener serves HTTPS only
//! (rustls, TLS 1.2 and 1.3, from PEM files read at start); a client that
//! speaks plain HTTP to it gets no answer, its connection is closed and
//! counted in `tls_handshake_failures`.
//!
//! Accept errors (EMFILE, ENFILE, ...) are counted, logged at most once per
//! 10 s, and retried with a back-off from 10 ms to 1 s, so the port recovers
//! as soon as descriptors are free again. `Content-Encoding: gzip` bodies are
//! decoded before the handler sees them (a gzip bomb is refused with 413 once
//! the decoded size passes `max_body_bytes`); other encodings get 415.
//! Handlers run on `handler_threads` threads, never on the network threads.
//! A handler that panics gives a 500, counted in `handler_panics`.
//!
//! ```
//! use std::io::{Read, Write};
//! use eventstorm_core::http::{HttpConfig, Request, Response, Router, Server};
//!
//! let router = Router::new().route("GET", "/v1/hello/{name}", |r: &Request| {
//!     Response::json(200, &serde_json::json!({"hello": r.param("name")}))
//! });
//! let server = Server::start(&HttpConfig::listen("127.0.0.1:0"), router)?;
//! let mut stream = std::net::TcpStream::connect(server.local_addr())?;
//! stream.write_all(b"GET /v1/hello/ann HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200"));
//! assert!(answer.ends_with(r#"{"hello":"ann"}"#));
//! assert!(server.shutdown());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Why hyper rather than a small synchronous server such as tiny_http: a
//! hostile client must not be able to hold a thread, a descriptor or the
//! shutdown. hyper gives header-read timeouts on new and kept-alive
//! connections, header size limits and graceful connection shutdown, and on
//! tokio each idle connection costs a few KiB instead of a thread, so
//! timeouts, a connection cap and a bounded shutdown are a few lines around
//! well-tested code instead of a hand-written HTTP layer.

mod answer;
mod body;
mod config;
mod router;
mod server;
mod tls;

pub use body::{BodyClosed, BodySender};
pub use config::{HttpConfig, TlsConfig};
pub use router::{Handler, Request, Response, Router};
pub use server::Server;

crate::counters! {
    /// The counters of a [`Server`], readable from any thread.
    pub struct ServerCounters {
        /// Connections accepted.
        connections,
        /// Accept calls that failed (EMFILE and others; retried with back-off).
        accept_errors,
        /// Requests whose headers were read.
        requests,
        /// Connections closed because the request line and headers (or the
        /// next request on a kept-alive connection) did not arrive in time.
        header_timeouts,
        /// Requests answered 404 or 405 by the router: no route for the path
        /// or the method.
        no_route,
        /// Requests answered 408: the body did not arrive in time.
        body_timeouts,
        /// Requests answered 413: the body (decoded) is over the limit.
        too_large,
        /// Requests answered 415: a `Content-Encoding` other than gzip.
        unsupported_encoding,
        /// Requests answered 400 by the server: broken body framing or gzip data.
        bad_bodies,
        /// Requests answered 500: the handler panicked.
        handler_panics,
        /// TLS connections closed before a request: the handshake failed
        /// (plain HTTP sent to an HTTPS port, a client that does not trust
        /// the certificate) or did not finish within `header_timeout_ms`.
        tls_handshake_failures,
    }
}

/// Why a [`Server`] did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A setting is out of its range.
    #[error("HTTP setting `{key}`: {message}")]
    Config {
        /// The setting's key in [`HttpConfig`].
        key: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source} (is the address valid, local and free?)")]
    Bind {
        /// The configured address.
        addr: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS {what} {path}: {message}")]
    Tls {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The configured file.
        path: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The runtime or its threads could not be created.
    #[error("cannot start the HTTP runtime: {0} (out of threads or memory?)")]
    Runtime(std::io::Error),
}
