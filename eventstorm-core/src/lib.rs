//! # eventstorm-core
//!
//! The small, stable heart of Eventstorm: the [`Event`] model, the [wire] format,
//! [`Matcher`]s, the [`EventSource`] / [`EventRouter`] / [`EventSink`] traits,
//! errors and counters. Sources, routers and sinks depend on this crate; it
//! depends on none of them.
//!
//! ```
//! use eventstorm_core::{Event, Matcher, RawEventRef, Severity};
//!
//! // Build an event and encode it as it travels.
//! let event = Event::builder("compute.instance.create.end")
//!     .severity(Severity::Notice)
//!     .tenant("acme")
//!     .field("instance_id", "i-42")
//!     .field("flavor", "m1.small")
//!     .build();
//! let bytes = event.to_bytes();
//!
//! // A receiver reads single fields without decoding the document...
//! let raw = RawEventRef::from_bytes(&bytes)?;
//! assert_eq!(raw.tenant(), Some("acme"));
//!
//! // ... and a matcher decides on it the same way.
//! let matcher: Matcher = r#"compute.instance.* where body.flavor =~ "^m1\.""#.parse()?;
//! assert!(matcher.matches_raw(raw));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assert;
#[cfg(feature = "auth")]
pub mod auth;
#[cfg(feature = "config")]
pub mod config;
pub mod error;
pub mod event;
pub mod flow;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod loss;
pub mod matcher;
pub mod stats;
pub mod traits;
#[cfg(feature = "transport")]
pub mod transport;
pub mod wire;

pub use bson;
pub use error::{BoxError, DecodeError, Error, Result, SinkError, ThreadError};
pub use event::{Event, EventBuilder, RawEvent, RawEventRef, Severity};
pub use flow::{DeliveryMode, WhenFull};
pub use loss::{ReceiveCounters, SequenceTracker, Stamper};
pub use matcher::Matcher;
pub use stats::{Counter, STATS_TYPE, Stats};
pub use traits::{EventRouter, EventSink, EventSource, Routed, SourceStatus, decode_polled};
pub use wire::Header;
