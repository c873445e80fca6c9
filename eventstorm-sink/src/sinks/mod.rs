//! Built-in sinks: [`StdoutSink`], [`JsonLinesFileSink`], [`NullSink`] and
//! [`ChannelSink`]. The database sinks live in their own modules.

mod channel;
mod file;
mod json;
mod null;
mod stdout;

pub use channel::ChannelSink;
pub use file::{FileSinkConfig, FileSinkCounters, JsonLinesFileSink};
pub use json::{to_json, write_json_line};
pub use null::NullSink;
pub use stdout::{StdoutFormat, StdoutSink};
