//! The configuration of every receiving socket.

use super::endpoint_config::EndpointConfig;

super::keys::socket_config! {
    /// How a receiving (SUB or XSUB) socket is opened: the one shape shared by
    /// subscribers, sink runtimes and router inputs.
    ///
    /// Its `bind`, `connect`, `hwm` and `security` keys are the
    /// [`EndpointConfig`] every socket shares (flattened into this table); the
    /// other keys are the receiving side's own.
    ///
    /// ```
    /// use eventstorm_core::transport::ReceiveConfig;
    ///
    /// let config: ReceiveConfig = toml::from_str(r#"
    ///     connect = ["tcp://127.0.0.1:5556"]
    ///     hwm = 1000
    /// "#)?;
    /// assert_eq!(config.max_message_size, ReceiveConfig::DEFAULT_MAX_MESSAGE_SIZE);
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub struct ReceiveConfig read as ReceiveKeys {
        /// Endpoints (publishers connect to bound ones; connect to publishers
        /// and router outputs), high-water mark (messages queued per publisher
        /// before ZeroMQ stops reading from it) and security.
        pub endpoint: EndpointConfig,
        /// Publishers whose sequences are remembered at once, for loss
        /// accounting ([`Self::DEFAULT_MAX_PUBLISHERS`]); the least recently seen
        /// is forgotten first.
        pub max_publishers: usize,
        /// Largest frame accepted, in bytes ([`Self::DEFAULT_MAX_MESSAGE_SIZE`],
        /// libzmq's `ZMQ_MAXMSGSIZE`). A peer that sends a larger frame is
        /// disconnected by libzmq before the frame is buffered; it may reconnect.
        pub max_message_size: u64,
        /// Largest forward or backward jump in a stream's sequence counted as
        /// an ordinary gap ([`crate::loss::DEFAULT_SEQUENCE_WINDOW`]); a larger
        /// one is counted as `suspicious` and re-syncs the stream, so that a
        /// forged header cannot inflate `lost`.
        pub sequence_window: u64,
    }
}

impl ReceiveConfig {
    /// Default receive high-water mark, in messages per publisher.
    pub const DEFAULT_HWM: i32 = EndpointConfig::DEFAULT_HWM;
    /// Default number of publishers tracked for loss accounting.
    pub const DEFAULT_MAX_PUBLISHERS: usize = crate::loss::DEFAULT_MAX_PUBLISHERS;
    /// Default largest frame: 16 MiB, MongoDB's largest document.
    pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

    /// A config that connects to `endpoint`.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        EndpointConfig::connect(endpoint).into()
    }

    /// A config that binds `endpoint`.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        EndpointConfig::bind(endpoint).into()
    }

    /// Checks the settings serde cannot: endpoints, ranges. `socket` names
    /// the socket in errors.
    pub fn validate(&self, socket: &str) -> super::Result<()> {
        self.endpoint.validate(socket)?;
        let setting = |key, message: &str| super::TransportError::setting(socket, key, message);
        if self.max_publishers == 0 {
            return Err(setting("max_publishers", "must be at least 1"));
        }
        if self.max_message_size < 64 || i64::try_from(self.max_message_size).is_err() {
            return Err(setting(
                "max_message_size",
                "must be at least 64 bytes (and fit in 63 bits)",
            ));
        }
        if self.sequence_window == 0 {
            return Err(setting(
                "sequence_window",
                "must be at least 1 (0 would make every gap suspicious)",
            ));
        }
        Ok(())
    }
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        ReceiveConfig {
            endpoint: EndpointConfig::default(),
            max_publishers: Self::DEFAULT_MAX_PUBLISHERS,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            sequence_window: crate::loss::DEFAULT_SEQUENCE_WINDOW,
        }
    }
}

/// The defaults, with these endpoints, high-water mark and security.
impl From<EndpointConfig> for ReceiveConfig {
    fn from(endpoint: EndpointConfig) -> Self {
        ReceiveConfig {
            endpoint,
            ..Default::default()
        }
    }
}
