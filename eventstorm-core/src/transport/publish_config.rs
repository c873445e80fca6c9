//! The configuration of every publishing socket.

use super::endpoint_config::EndpointConfig;
use crate::DeliveryMode;

super::keys::socket_config! {
    /// How a publishing (XPUB) socket is opened: the one shape shared by the
    /// application client, source publishers and router outputs.
    ///
    /// Its `bind`, `connect`, `hwm` and `security` keys are the
    /// [`EndpointConfig`] every socket shares (flattened into this table); the
    /// other keys are the publishing side's own.
    ///
    /// ```
    /// use eventstorm_core::DeliveryMode;
    /// use eventstorm_core::transport::PublishConfig;
    ///
    /// let config: PublishConfig = toml::from_str(r#"
    ///     bind = ["tcp://127.0.0.1:5555"]
    ///     mode = "block"
    ///     hwm = 1000
    /// "#)?;
    /// assert_eq!(config.mode, DeliveryMode::Block);
    /// assert_eq!(config.endpoint.hwm, 1000);
    /// assert_eq!(config.linger_ms, PublishConfig::DEFAULT_LINGER_MS);
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub struct PublishConfig read as PublishKeys {
        /// Endpoints, high-water mark (messages queued per subscriber before
        /// `mode` applies) and security.
        pub endpoint: EndpointConfig,
        /// Drop (default) or block when a subscriber's queue is full.
        pub mode: DeliveryMode,
        /// When above zero, wait up to this long at start for a first subscriber, so
        /// that the first events are not lost to the slow-joiner effect.
        pub wait_for_subscriber_ms: u64,
        /// How long closing waits to deliver queued events ([`Self::DEFAULT_LINGER_MS`]).
        pub linger_ms: u64,
        /// How often, when idle, the socket announces the last sequence of each
        /// stream, so subscribers also count losses at the end of a burst
        /// ([`Self::DEFAULT_MARK_INTERVAL_MS`]; 0 disables; marks are always sent on close).
        pub mark_interval_ms: u64,
        /// Most distinct subscription prefixes kept ([`Self::DEFAULT_MAX_SUBSCRIPTIONS`]);
        /// more are refused and counted (`subscriptions_refused`).
        pub max_subscriptions: usize,
        /// Longest subscription prefix accepted, in bytes
        /// ([`Self::DEFAULT_MAX_SUBSCRIPTION_LEN`]); longer ones are refused and counted.
        pub max_subscription_len: usize,
        /// Most distinct prefixes the subscribers of one host hold together
        /// (unset: [`Self::DEFAULT_MAX_SUBSCRIPTIONS_PER_PEER`], or
        /// `max_subscriptions` if smaller; set: at least 1 and at most
        /// `max_subscriptions`). A host is an IP address for TCP
        /// subscribers; every ipc subscriber together is one host, every
        /// inproc subscriber together another. Subscriptions beyond it are
        /// refused and counted (`subscriptions_refused_peer`); the host's
        /// prefixes are released when its last connection closes.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub max_subscriptions_per_peer: Option<usize>,
        /// Most events sent in one message. Above 1, consecutive events of
        /// one type travel as a *batch* (wire version 2, see
        /// `docs/wire-format.md`): one message of up to this many events,
        /// which costs libzmq's per-message work once for all of them; 1: one
        /// event per message (version 1). Only the socket's owner decides when
        /// a batch goes (never a timer), whenever it has nothing more queued
        /// to send, so batching adds no waiting. Every receiver of this
        /// version reads both; receivers that speak only version 1 count
        /// batches as undecodable.
        ///
        /// Unset, the owner decides: the application `Client`, source
        /// runners and router outputs, which know when nothing more is
        /// queued, batch ([`Self::DEFAULT_BATCH_EVENTS`]); a socket driven by
        /// hand (`Publisher`, `PubSocket`) sends each event at once.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub batch_events: Option<usize>,
        /// Most body bytes in one batch ([`Self::DEFAULT_BATCH_BYTES`]); a
        /// single larger event travels alone. With batching, a subscriber's
        /// queue holds up to `hwm` messages of up to this size.
        pub batch_bytes: usize,
    }
}

impl PublishConfig {
    /// Default high-water mark, in messages per subscriber.
    pub const DEFAULT_HWM: i32 = EndpointConfig::DEFAULT_HWM;
    /// Default linger on close, in milliseconds.
    pub const DEFAULT_LINGER_MS: u64 = 2_000;
    /// Default interval between sequence marks, in milliseconds.
    pub const DEFAULT_MARK_INTERVAL_MS: u64 = 1_000;
    /// Default bound on distinct subscription prefixes.
    pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 10_000;
    /// Default bound on the length of a subscription prefix, in bytes.
    pub const DEFAULT_MAX_SUBSCRIPTION_LEN: usize = 256;
    /// Default bound on the distinct prefixes of one subscriber host.
    pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_PEER: usize = 1_000;
    /// Events per batch of the owners that batch by default (the client,
    /// source runners, router outputs) when `batch_events` is not set.
    pub const DEFAULT_BATCH_EVENTS: usize = 256;
    /// Default bound on the body bytes of one batch: about 15 typical
    /// events, which saves most of libzmq's per-message work, while a
    /// subscriber's queue of `hwm` (10,000) batches stays at 80 MiB of small
    /// events (64 KiB batches made it 640 MiB, and an overloaded router grew
    /// towards that for tens of seconds).
    pub const DEFAULT_BATCH_BYTES: usize = 8 * 1024;
    /// The largest `batch_events` accepted.
    pub const MAX_BATCH_EVENTS: usize = 65_536;
    /// The largest `batch_bytes` accepted: a receiver's default
    /// `max_message_size`.
    pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

    /// The bound on the distinct prefixes of one subscriber host in effect:
    /// `max_subscriptions_per_peer` when set, otherwise the default or
    /// `max_subscriptions`, whichever is smaller.
    pub fn subscriptions_per_peer(&self) -> usize {
        self.max_subscriptions_per_peer
            .unwrap_or(Self::DEFAULT_MAX_SUBSCRIPTIONS_PER_PEER.min(self.max_subscriptions))
    }

    /// A config that binds `endpoint`.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        EndpointConfig::bind(endpoint).into()
    }

    /// A config that connects to `endpoint`.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        EndpointConfig::connect(endpoint).into()
    }

    /// Sets the delivery mode.
    pub fn with_mode(mut self, mode: DeliveryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the high-water mark.
    pub fn with_hwm(mut self, hwm: i32) -> Self {
        self.endpoint.hwm = hwm;
        self
    }

    /// Waits up to `ms` milliseconds for a first subscriber at start.
    pub fn with_wait_for_subscriber_ms(mut self, ms: u64) -> Self {
        self.wait_for_subscriber_ms = ms;
        self
    }

    /// Sets the linger on close.
    pub fn with_linger_ms(mut self, ms: u64) -> Self {
        self.linger_ms = ms;
        self
    }

    /// Sets the interval between sequence marks (0: only on close).
    pub fn with_mark_interval_ms(mut self, ms: u64) -> Self {
        self.mark_interval_ms = ms;
        self
    }

    /// Sends up to `events` events of one type per message (wire version 2;
    /// 1: one per message, version 1).
    pub fn with_batch_events(mut self, events: usize) -> Self {
        self.batch_events = Some(events);
        self
    }

    /// Batches of [`Self::DEFAULT_BATCH_EVENTS`] unless `batch_events` is
    /// set: for owners that send what they hold whenever nothing more is
    /// queued (see `batch_events`).
    pub fn batching_by_default(mut self) -> Self {
        self.batch_events.get_or_insert(Self::DEFAULT_BATCH_EVENTS);
        self
    }

    /// The `batch_events` in effect: as set, or 1 (a socket driven by hand
    /// sends each event at once).
    pub fn batch_events(&self) -> usize {
        self.batch_events.unwrap_or(1)
    }

    /// Checks the settings serde cannot: endpoints, ranges. `socket` names
    /// the socket in errors.
    pub fn validate(&self, socket: &str) -> super::Result<()> {
        self.endpoint.validate(socket)?;
        let setting = |key, message: &str| super::TransportError::setting(socket, key, message);
        if self.max_subscriptions == 0 {
            return Err(setting("max_subscriptions", "must be at least 1"));
        }
        if self.max_subscription_len == 0 {
            return Err(setting("max_subscription_len", "must be at least 1"));
        }
        match self.max_subscriptions_per_peer {
            Some(0) => return Err(setting("max_subscriptions_per_peer", "must be at least 1")),
            Some(n) if n > self.max_subscriptions => {
                return Err(setting(
                    "max_subscriptions_per_peer",
                    &format!(
                        "must be at most max_subscriptions ({}), got {n}",
                        self.max_subscriptions
                    ),
                ));
            }
            _ => {}
        }
        if !(1..=Self::MAX_BATCH_EVENTS).contains(&self.batch_events()) {
            return Err(setting(
                "batch_events",
                &format!(
                    "must be from 1 (no batching) to {}, got {}",
                    Self::MAX_BATCH_EVENTS,
                    self.batch_events()
                ),
            ));
        }
        if !(1..=Self::MAX_BATCH_BYTES).contains(&self.batch_bytes) {
            return Err(setting(
                "batch_bytes",
                &format!(
                    "must be from 1 to {} (a receiver's default max_message_size), got {}",
                    Self::MAX_BATCH_BYTES,
                    self.batch_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            endpoint: EndpointConfig::default(),
            mode: DeliveryMode::Drop,
            wait_for_subscriber_ms: 0,
            linger_ms: Self::DEFAULT_LINGER_MS,
            mark_interval_ms: Self::DEFAULT_MARK_INTERVAL_MS,
            max_subscriptions: Self::DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscription_len: Self::DEFAULT_MAX_SUBSCRIPTION_LEN,
            max_subscriptions_per_peer: None,
            batch_events: None,
            batch_bytes: Self::DEFAULT_BATCH_BYTES,
        }
    }
}

/// The defaults, with these endpoints, high-water mark and security.
impl From<EndpointConfig> for PublishConfig {
    fn from(endpoint: EndpointConfig) -> Self {
        PublishConfig {
            endpoint,
            ..Default::default()
        }
    }
}
