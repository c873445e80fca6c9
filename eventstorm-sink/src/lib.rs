//! # eventstorm-sink
//!
//! The receiving side of Eventstorm:
//!
//! - [`Subscriber`]: a SUB socket that validates every message and counts what
//!   it missed, per publisher and type;
//! - [`SinkRuntime`]: drives any [`EventSink`]:
//!   subscriber thread → bounded channel → batching → sink, with graceful
//!   shutdown and counters that account for every event;
//! - [`sinks`]: stdout, JSON-lines file, null and channel sinks;
//! - `mongo` (feature `mongodb`, on by default): the MongoDB sink;
//! - `dashboard` (feature `dashboard`): a live dashboard of rates and
//!   losses, served over HTTP;
//! - `streams` (feature `streams`): the stream engine (group-by, expiry,
//!   fire and expire actions, definitions changed over HTTP);
//! - `usage` (feature `usage`): usage accounting for OpenStack tenants,
//!   with an API compatible with Almanach's.
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

#[cfg(feature = "dashboard")]
pub mod dashboard;
mod dead_letter;
mod error;
mod runtime;
#[cfg(feature = "service")]
pub mod service;
pub mod sinks;
#[cfg(feature = "streams")]
pub mod streams;
mod subscriber;

#[cfg(feature = "cql")]
pub mod cql;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mongodb")]
pub mod search;
#[cfg(feature = "usage")]
pub mod usage;

pub use error::{Error, Result, ThreadError, TransportError};
pub use runtime::{RuntimeConfig, SinkHandle, SinkRuntime, WhenFull};

// What a custom sink needs, so that it depends on this crate alone.
pub use dead_letter::{
    DeadLetter, DeadLetterConfig, DeadLetterCounters, DeadLetterFile, DeadLetterHandler,
    DeadLetterReader, DeadLetterRecord, GiveUp, ReadError,
};
pub use eventstorm_core::{EventSink, RawEvent, RawEventRef, SinkError, Stats};
pub use subscriber::{Subscriber, SubscriberConfig};
pub use zmq;

// The threading rules (ARCHITECTURE.md): a `Subscriber` owns a ZeroMQ
// socket, so it may move to another thread but never be shared; a
// `SinkHandle` may be shared.
eventstorm_core::assert_send_sync!(SinkHandle);
eventstorm_core::assert_send!(Subscriber);
eventstorm_core::assert_not_sync!(Subscriber);

/// The README's Rust snippets, compiled and run as doctests (this crate's
/// dependencies and dev-dependencies cover every crate they use).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
