//! The transport layer: every ZeroMQ socket Eventstorm opens (feature
//! `transport`).
//!
//! - [`PubSocket`]: the publishing side (XPUB with `ZMQ_XPUB_NODROP`, the
//!   high-water mark, linger, stamping, sequence marks, subscription reading),
//!   configured by [`PublishConfig`];
//! - [`SubSocket`]: the receiving side (SUB or XSUB, the frame reader, decode
//!   → loss accounting → counters), configured by [`ReceiveConfig`];
//! - [`RawSubSocket`]: a SUB socket opened the same way for foreign
//!   publishers, whose messages are read as frames, not decoded as events;
//! - [`ConnectMonitor`]: the connect and accept events of a receiving socket
//!   ([`SubSocket::monitor_connections`]);
//! - [`EndpointConfig`]: what both sides share (`bind`, `connect`, `hwm`
//!   and the [`SecurityConfig`]), flattened into both configurations;
//! - [`check_endpoint`]: endpoints are checked before libzmq sees them;
//! - [`KeyPair`], [`read_public_key`]: CURVE key files; a socket's
//!   `security` table names them, and a CURVE server's allow-list (checked
//!   by one ZAP handler thread per context, counted in
//!   [`SecurityCounters`]); docs/security.md.
//!
//! The client and source publishers, the router's inputs and outputs, and
//! subscribers are thin users of these types: no other module of the
//! project opens a ZeroMQ socket. Every socket is prepared by one function
//! (security options, then binds and connects), so a security option such as
//! the ZAP domain or CURVE keys is set in one place for every component.
//!
//! ```
//! use std::time::Duration;
//! use eventstorm_core::Event;
//! use eventstorm_core::transport::{
//!     PubSocket, PublishConfig, ReceiveConfig, ReceiveKind, Received, SubSocket,
//! };
//!
//! let ctx = zmq::Context::new();
//! let mut publisher = PubSocket::open(&ctx, "pub", &PublishConfig::bind("tcp://127.0.0.1:*"))?;
//! let kind = ReceiveKind::Sub { subscribe: vec![String::new()] };
//! let config = ReceiveConfig::connect(publisher.endpoints()[0].clone());
//! let mut sub = SubSocket::open(&ctx, "sub", kind, &config)?;
//! // No event is lost to the slow-joiner effect: wait for the subscription.
//! assert!(publisher.wait_for_subscribers(1, Duration::from_secs(5))?);
//! let body = Event::builder("app.started").build().to_bytes();
//! assert!(publisher.try_send(b"app.started", &body[..], 0)?.is_sent());
//! sub.wait(Duration::from_secs(5))?;
//! match sub.try_recv()? {
//!     Some(Received::Event(raw)) => assert_eq!(raw.event_type(), "app.started"),
//!     other => panic!("expected the event, got {other:?}"),
//! }
//! # Ok::<(), eventstorm_core::transport::TransportError>(())
//! ```

mod allow_list;
mod curve;
mod endpoint;
mod endpoint_config;
mod error;
mod keys;
mod monitor;
mod peers;
mod publish;
mod publish_config;
mod raw_receive;
mod receive;
mod receive_config;
mod security;
mod subscriptions;
mod sys;
mod zap;

pub use curve::{KeyPair, curve_available, decode_z85_key, read_public_key};
pub use endpoint::{check_all, check_endpoint};
pub use endpoint_config::EndpointConfig;
pub use error::{Result, TransportError};
pub use monitor::ConnectMonitor;
pub use publish::{PubSocket, PublishCounters, SubscriptionChange, TrySend};
pub use publish_config::PublishConfig;
pub use raw_receive::{RawMessage, RawSubSocket};
pub use receive::{PeerIdentity, ReceiveKind, Received, SubSocket};
pub use receive_config::ReceiveConfig;
pub use security::SecurityConfig;
pub use subscriptions::Subscriptions;
pub use sys::set_xpub_nodrop;
pub use zap::SecurityCounters;
pub use zmq;

// The sockets' owners may move between threads, never be shared (a ZeroMQ
// socket is not thread-safe).
crate::assert_send!(PubSocket, SubSocket, ConnectMonitor);
crate::assert_not_sync!(PubSocket, SubSocket, ConnectMonitor);
