//! Configuration of a [`Publisher`](crate::Publisher): the transport layer's
//! one publishing-socket configuration.

pub use eventstorm_core::DeliveryMode;

/// How a [`Publisher`](crate::Publisher) opens its socket: the same shape as
/// every publishing socket of the project (router outputs too).
///
/// ```
/// use eventstorm_source::{DeliveryMode, PublisherConfig};
///
/// let config: PublisherConfig = toml::from_str(r#"
///     bind = ["tcp://127.0.0.1:5555"]
///     mode = "block"
///     hwm = 1000
/// "#)?;
/// assert_eq!(config.mode, DeliveryMode::Block);
/// assert_eq!(config.linger_ms, PublisherConfig::DEFAULT_LINGER_MS);
/// # Ok::<(), toml::de::Error>(())
/// ```
pub type PublisherConfig = eventstorm_core::transport::PublishConfig;
