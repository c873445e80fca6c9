//! # eventstorm-source
//!
//! Everything that puts events on the wire:
//!
//! - [`Client`]: the Metlog-style API applications link: `emit`, `log`, `incr`,
//!   `gauge`, `timer`, from any thread, fire-and-forget, never blocking in drop
//!   mode, nearly free when nobody listens;
//! - [`Publisher`]: one ZeroMQ XPUB socket that stamps each event with this
//!   publisher's id and its sequence, in drop (counted) or block (lossless) mode,
//!   optionally waiting for a first subscriber;
//! - [`SourceRunner`]: drives any [`EventSource`](eventstorm_core::EventSource)
//!   into a publisher on its own thread;
//! - [`parse`]: log parsers;
//! - sources: [`tail`] (follow a log file), [`syslog_listener`] (UDP and TCP
//!   syslog), [`http`] (`POST /v1/events`) and [`zmq_source`] (foreign
//!   ZeroMQ publishers), and [`sources_config`], the configuration file of
//!   the `eventstorm-source` binary.
//!
//! ```
//! use eventstorm_source::Client;
//!
//! let client = Client::builder().bind("tcp://127.0.0.1:*").logger("shop").build()?;
//! client.emit("order.placed", bson::doc! { "order_id": 7 });
//! client.close();
//! # Ok::<(), eventstorm_source::Error>(())
//! ```

mod client;
mod config;
mod error;
pub mod http;
pub mod parse;
mod publisher;
mod ratelimit;
mod reserved;
mod runner;
pub mod sources_config;
pub mod syslog_listener;
pub mod tail;
mod validate;
pub mod zmq_source;

pub use client::{Client, ClientBuilder, ClientConfig, Timer};
pub use config::{DeliveryMode, PublisherConfig};
pub use error::{Error, Result, ThreadError, TransportError};
pub use publisher::Subscriptions;
pub use publisher::{Publisher, PublisherCounters, SendOutcome};
pub use runner::{SourceHandle, SourceRunner};

// The threading rules (ARCHITECTURE.md): a `Client` may be shared between
// threads; a `Publisher` owns a ZeroMQ socket, so it may move to another
// thread but never be shared.
eventstorm_core::assert_send_sync!(Client, SourceHandle);
eventstorm_core::assert_send!(Publisher);
eventstorm_core::assert_not_sync!(Publisher);
