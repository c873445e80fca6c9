//! Per-socket security: the one place a socket's security options are
//! checked and set.

use serde::{Deserialize, Serialize};

use super::error::{Result, TransportError};

/// The security options of one socket (the `security` table of any socket's
/// settings). Every socket the project opens applies them, in one function,
/// before it binds or connects.
///
/// Today: `zap_domain`. CURVE keys, when they come, are fields of this
/// struct and nowhere else, so they reach every publishing and receiving
/// socket at once. It is `#[non_exhaustive]`: build it from
/// [`SecurityConfig::default`] and its `with_*` methods.
///
/// ```
/// use eventstorm_core::transport::{PublishConfig, SecurityConfig};
///
/// let config: PublishConfig = toml::from_str(r#"
///     bind = ["tcp://127.0.0.1:5555"]
///     security = { zap_domain = "events" }
/// "#)?;
/// assert_eq!(config.endpoint.security, SecurityConfig::default().with_zap_domain("events"));
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
    /// a domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zap_domain: Option<String>,
}

impl SecurityConfig {
    /// Longest ZAP domain libzmq accepts, in bytes.
    pub const MAX_ZAP_DOMAIN_LEN: usize = 255;

    /// Sets the ZAP domain.
    pub fn with_zap_domain(mut self, domain: impl Into<String>) -> Self {
        self.zap_domain = Some(domain.into());
        self
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
        Ok(())
    }

    /// Sets the options on `socket`. Called once for every socket the
    /// project opens, before it binds or connects (libzmq reads them when a
    /// connection starts).
    pub(crate) fn apply(&self, socket: &zmq::Socket) -> Result<()> {
        if let Some(domain) = &self.zap_domain {
            socket
                .set_zap_domain(domain)
                .map_err(|e| TransportError::socket("setting ZMQ_ZAP_DOMAIN", e))?;
        }
        Ok(())
    }
}
