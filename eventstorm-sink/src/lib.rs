//! # eventstorm-sink
//!
//! The receiving side of Eventstorm:
//!
//! - [`Subscriber`]: a SUB socket that validates every message and counts what
//!   it missed, per publisher and type;
//! - [`SinkRuntime`]: drives any [`EventSink`](eventstorm_core::EventSink):
//!   subscriber thread → bounded channel → batching → sink, with graceful
//!   shutdown and counters that account for every event;
//! - [`sinks`]: stdout, JSON-lines file, null and channel sinks;
//! - `mongo` (feature `mongodb`, on by default): the MongoDB sink.
//!
//! ```no_run
//! use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig, sinks::StdoutSink};
//!
//! let ctx = zmq::Context::new();
//! let config = RuntimeConfig::new(SubscriberConfig::connect("tcp://127.0.0.1:5556").subscribe(["volume."]));
//! let runtime = SinkRuntime::spawn(&ctx, config, Box::new(StdoutSink::pretty()))?;
//! std::thread::sleep(std::time::Duration::from_secs(10));
//! println!("{}", runtime.shutdown()?);
//! # Ok::<(), eventstorm_sink::Error>(())
//! ```

mod error;
mod refused;
mod runtime;
pub mod sinks;
mod subscriber;

#[cfg(feature = "cql")]
pub mod cql;
#[cfg(feature = "mongodb")]
pub mod mongo;

pub use error::{Error, Result};
pub use refused::{RefusedEvent, RefusedHandler};
pub use runtime::{RuntimeConfig, SinkRuntime, WhenFull};
pub use subscriber::{Subscriber, SubscriberConfig};
