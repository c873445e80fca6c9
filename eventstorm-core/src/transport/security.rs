//! Per-socket security: the one place a socket's security options are
//! checked and set: the ZAP domain and CURVE (keys, and the allow-list its
//! ZAP handler enforces).

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::curve::{KeyPair, read_public_key, require_curve};
use super::error::{Result, TransportError};
use super::zap::{self, Registration, SecurityCounters};

/// The security options of one socket (the `security` table of any socket's
/// settings). Every socket the project opens applies them, in one function,
/// before it binds or connects, so they reach every publishing and
/// receiving socket of every component (client, publishers, router inputs
/// and outputs, subscribers).
///
/// **CURVE** (encryption and authentication; needs a libzmq with CURVE,
/// docs/security.md): a socket is a CURVE *server* when it has
/// `curve_secret_key` and no `curve_server_key`, a CURVE *client* when it
/// has both. Which side binds does not matter. A server with
/// `curve_allow_list` accepts only the client keys on that list (re-read
/// when the file changes); without one it encrypts but accepts any key.
/// It is `#[non_exhaustive]`: build it from [`SecurityConfig::default`] and
/// its `with_*` methods.
///
/// ```
/// use eventstorm_core::transport::{PublishConfig, ReceiveConfig, SecurityConfig};
///
/// // A router input that accepts the clients on an allow-list ...
/// let input: ReceiveConfig = toml::from_str(r#"
///     bind = ["tcp://0.0.0.0:5555"]
///     [security]
///     curve_secret_key = "keys/router.key"
///     curve_allow_list = "keys/clients.toml"
/// "#)?;
/// assert!(input.endpoint.security.is_curve_server());
/// // ... and a publisher on that list.
/// let publisher: PublishConfig = toml::from_str(r#"
///     connect = ["tcp://router:5555"]
///     security = { curve_secret_key = "keys/app.key", curve_server_key = "keys/router.pub" }
/// "#)?;
/// assert_eq!(
///     publisher.endpoint.security,
///     SecurityConfig::default().with_curve_client("keys/app.key", "keys/router.pub"),
/// );
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// The ZAP domain (`ZMQ_ZAP_DOMAIN`, 1 to 255 bytes; default: none).
    ///
    /// When it is set and a ZAP handler is bound at
    /// `inproc://zeromq.zap.01` in the socket's ZeroMQ context, libzmq asks
    /// the handler, naming this domain, before it accepts each connection
    /// of the socket; the handler may refuse it. With the NULL mechanism
    /// (no CURVE) and no handler, every connection is accepted, as without
    /// a domain. A socket with `curve_allow_list` gets a domain of its own
    /// when none is set (Eventstorm's handler tells the sockets apart by
    /// it); a domain set here must then be unique within the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zap_domain: Option<String>,
    /// This socket's own CURVE key pair: the secret key file (`NAME.key`,
    /// made by `eventstorm-router keygen`; refused when others than its
    /// owner may read it). Alone, the socket is a CURVE server; with
    /// `curve_server_key`, a client. Default: none (no CURVE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve_secret_key: Option<PathBuf>,
    /// The public key file (`NAME.pub`) of the CURVE server this socket
    /// connects to or accepts: makes the socket a CURVE client. Default:
    /// none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve_server_key: Option<PathBuf>,
    /// A CURVE server's allow-list (TOML, `[[clients]]` with `key`, `name`,
    /// `tenant`, `trusted`): only these client keys may connect. Re-read
    /// when the file changes, for new connections. Default: none (any
    /// client key is accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve_allow_list: Option<PathBuf>,
}

/// What applying a [`SecurityConfig`] left running for one socket: its
/// place in the ZAP handler, released with the socket.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Dropped after the socket (field order): the handler outlives every
    /// connection it checks.
    pub(crate) registration: Option<Registration>,
}

impl SecurityConfig {
    /// Longest ZAP domain libzmq accepts, in bytes.
    pub const MAX_ZAP_DOMAIN_LEN: usize = 255;

    /// Sets the ZAP domain.
    pub fn with_zap_domain(mut self, domain: impl Into<String>) -> Self {
        self.zap_domain = Some(domain.into());
        self
    }

    /// Makes the socket a CURVE server with this secret key file, accepting
    /// the clients of `allow_list` (`None`: any client key).
    pub fn with_curve_server(
        mut self,
        secret_key: impl Into<PathBuf>,
        allow_list: Option<PathBuf>,
    ) -> Self {
        self.curve_secret_key = Some(secret_key.into());
        self.curve_server_key = None;
        self.curve_allow_list = allow_list;
        self
    }

    /// Makes the socket a CURVE client with this secret key file, trusting
    /// the server whose public key file is `server_key`.
    pub fn with_curve_client(
        mut self,
        secret_key: impl Into<PathBuf>,
        server_key: impl Into<PathBuf>,
    ) -> Self {
        self.curve_secret_key = Some(secret_key.into());
        self.curve_server_key = Some(server_key.into());
        self.curve_allow_list = None;
        self
    }

    /// Whether the socket uses CURVE.
    pub fn uses_curve(&self) -> bool {
        self.curve_secret_key.is_some()
    }

    /// Whether the socket is a CURVE server.
    pub fn is_curve_server(&self) -> bool {
        self.curve_secret_key.is_some() && self.curve_server_key.is_none()
    }

    /// Whether the socket checks its clients against an allow-list (and so
    /// knows who sent each message).
    pub fn has_allow_list(&self) -> bool {
        self.is_curve_server() && self.curve_allow_list.is_some()
    }

    /// Checks the settings serde cannot. `socket` names the socket in errors.
    pub(crate) fn validate(&self, socket: &str) -> Result<()> {
        if let Some(domain) = &self.zap_domain
            && (domain.is_empty() || domain.len() > Self::MAX_ZAP_DOMAIN_LEN)
        {
            return Err(TransportError::setting(
                socket,
                "security.zap_domain",
                "must be 1 to 255 bytes long (leave it out for no domain)",
            ));
        }
        if self.curve_server_key.is_some() && self.curve_secret_key.is_none() {
            return Err(TransportError::setting(
                socket,
                "security.curve_server_key",
                "needs `curve_secret_key` too: a CURVE client has a key pair of its own \
                 (`eventstorm-router keygen --out DIR/NAME`)",
            ));
        }
        if self.curve_allow_list.is_some() && !self.is_curve_server() {
            return Err(TransportError::setting(
                socket,
                "security.curve_allow_list",
                "is for a CURVE server (`curve_secret_key` without `curve_server_key`): \
                 a client is checked by the server it connects to",
            ));
        }
        Ok(())
    }

    /// Sets the options on `socket` (CURVE keys and role, the ZAP domain)
    /// and registers its allow-list with the context's ZAP handler. Called
    /// once for every socket the project opens, before it binds or connects
    /// (libzmq reads them when a connection starts). `counters` receive the
    /// handler's answers for this socket.
    pub(crate) fn apply(
        &self,
        ctx: &zmq::Context,
        socket: &zmq::Socket,
        name: &str,
        counters: &Arc<SecurityCounters>,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        let mut domain = self.zap_domain.clone();
        if let Some(secret) = &self.curve_secret_key {
            require_curve(name)?;
            let pair = KeyPair::read(secret)?;
            let set = |result: zmq::Result<()>, action| {
                result.map_err(|e| TransportError::socket(action, e))
            };
            if let Some(server) = &self.curve_server_key {
                let server = read_public_key(server)?;
                set(
                    socket.set_curve_serverkey(&server),
                    "setting ZMQ_CURVE_SERVERKEY",
                )?;
                set(
                    socket.set_curve_publickey(pair.public()),
                    "setting ZMQ_CURVE_PUBLICKEY",
                )?;
                set(
                    socket.set_curve_secretkey(pair.secret()),
                    "setting ZMQ_CURVE_SECRETKEY",
                )?;
            } else {
                set(socket.set_curve_server(true), "setting ZMQ_CURVE_SERVER")?;
                set(
                    socket.set_curve_secretkey(pair.secret()),
                    "setting ZMQ_CURVE_SECRETKEY",
                )?;
                if let Some(list) = &self.curve_allow_list {
                    let (registration, own) =
                        zap::register(ctx, name, domain.as_deref(), list, Arc::clone(counters))?;
                    applied.registration = Some(registration);
                    domain = Some(own);
                } else {
                    tracing::warn!(
                        socket = name,
                        "CURVE server without `curve_allow_list`: connections are encrypted, \
                         but any client key is accepted"
                    );
                }
            }
        }
        if let Some(domain) = &domain {
            socket
                .set_zap_domain(domain)
                .map_err(|e| TransportError::socket("setting ZMQ_ZAP_DOMAIN", e))?;
        }
        Ok(applied)
    }
}
