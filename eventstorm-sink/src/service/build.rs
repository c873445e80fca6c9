//! Building each configured sink: the [`EventSink`] of its `type`, and its
//! dead-letter file.

use eventstorm_core::EventSink;
use eventstorm_core::http::Router;

use super::config::{SinkEntry, SinkKind};
use crate::dead_letter::{DeadLetterFile, DeadLetterHandler};
use crate::error::{Error, Result};
use crate::sinks::{JsonLinesFileSink, NullSink, StdoutSink};

/// A sink built from its entry, with its dead-letter file if configured.
pub struct BuiltSink {
    /// The sink.
    pub sink: Box<dyn EventSink>,
    /// Its dead-letter file, also handed to the sink.
    pub dead_letters: Option<DeadLetterFile>,
    /// The routes it serves on the process's `[http]` listener (a
    /// dashboard's page and API), if any.
    pub routes: Option<Router>,
}

impl std::fmt::Debug for BuiltSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltSink")
            .field("sink", &self.sink.name())
            .field("dead_letters", &self.dead_letters)
            .field("routes", &self.routes)
            .finish()
    }
}

/// Builds the sink of `entry` (its dead-letter file first, when
/// configured). A database that cannot be reached does not fail this: the
/// MongoDB sink keeps its events pending and retries; a CQL sink that
/// cannot connect yet is built again in the background while its events
/// wait (within its `max_pending`).
pub fn build_sink(entry: &SinkEntry) -> Result<BuiltSink> {
    let dead_letters = match &entry.dead_letter {
        Some(config) => Some(
            DeadLetterFile::open(config.clone(), entry.name.clone()).map_err(|source| {
                Error::Io {
                    context: format!(
                        "sink `{}`: opening the dead-letter file {}",
                        entry.name,
                        config.path.display()
                    ),
                    source,
                }
            })?,
        ),
        None => None,
    };
    let handler =
        || -> Option<Box<dyn DeadLetterHandler>> { dead_letters.clone().map(|d| Box::new(d) as _) };
    let name = entry.name.clone();
    #[cfg_attr(
        not(any(
            feature = "dashboard",
            feature = "mongodb",
            feature = "streams",
            feature = "usage"
        )),
        allow(unused_mut)
    )]
    let mut routes = None;
    let sink: Box<dyn EventSink> = match entry.kind {
        #[cfg(feature = "mongodb")]
        SinkKind::Mongodb => {
            let config = entry.mongodb.clone().unwrap_or_default();
            if let Some(search) = &entry.search {
                routes = Some(
                    crate::search::search_routes(&config, search)
                        .map_err(|e| sink_error(&name, e))?,
                );
            }
            let mut sink = crate::mongo::MongoSink::new(config)
                .map_err(|e| sink_error(&name, e))?
                .with_name(name.clone());
            if let Some(h) = handler() {
                sink = sink.with_dead_letters(h);
            }
            Box::new(sink)
        }
        #[cfg(feature = "cql")]
        SinkKind::Cql => cql(&name, entry, handler)?,
        SinkKind::File => {
            let Some(config) = entry.file.clone() else {
                return Err(Error::config(
                    format!("sinks.{name}.file"),
                    "a file sink needs `[sinks.file]` with a `path`",
                ));
            };
            let mut sink = JsonLinesFileSink::new(config)?.with_name(name.clone());
            if let Some(h) = handler() {
                sink = sink.with_dead_letters(h);
            }
            Box::new(sink)
        }
        SinkKind::Stdout => Box::new(
            StdoutSink::new(entry.stdout.unwrap_or_default().format).with_name(name.clone()),
        ),
        SinkKind::Null => Box::new(NullSink::new().with_name(name.clone())),
        #[cfg(feature = "dashboard")]
        SinkKind::Dashboard => {
            let config = entry.dashboard.clone().unwrap_or_default();
            let (sink, handle) =
                crate::dashboard::DashboardSink::new(config).map_err(|e| match e {
                    Error::Config { key, message } => {
                        Error::config(format!("sinks.{name}.{key}"), message)
                    }
                    other => other,
                })?;
            routes = Some(handle.router());
            Box::new(sink.with_name(name.clone()))
        }
        #[cfg(feature = "streams")]
        SinkKind::Streams => {
            let config = entry.streams.clone().unwrap_or_default();
            let (mut sink, handle) =
                crate::streams::StreamsSink::new(config).map_err(|e| match e {
                    Error::Config { key, message } => {
                        Error::config(format!("sinks.{name}.{key}"), message)
                    }
                    other => other,
                })?;
            if let Some(h) = handler() {
                sink = sink.with_dead_letters(h);
            }
            routes = Some(handle.router());
            Box::new(sink.with_name(name.clone()))
        }
        #[cfg(feature = "usage")]
        SinkKind::Usage => {
            let config = entry.usage.clone().unwrap_or_default();
            let (mut sink, handle) = crate::usage::UsageSink::new(config).map_err(|e| match e {
                Error::Config { key, message } => {
                    Error::config(format!("sinks.{name}.{key}"), message)
                }
                other => other,
            })?;
            routes = Some(handle.router());
            sink = sink.with_name(name.clone());
            if let Some(h) = handler() {
                sink = sink.with_dead_letters(h);
            }
            Box::new(sink)
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::config(
                format!("sinks.{name}.type"),
                format!("`{}` sinks are not built into this binary", other.as_str()),
            ));
        }
    };
    Ok(BuiltSink {
        sink,
        dead_letters,
        routes,
    })
}

#[cfg(any(feature = "mongodb", feature = "cql"))]
fn sink_error(name: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("sinks.{name}"), e.to_string())
}

/// The CQL sink, or a [`Deferred`](super::deferred::Deferred) one while the
/// cluster cannot be reached.
#[cfg(feature = "cql")]
fn cql(
    name: &str,
    entry: &SinkEntry,
    handler: impl Fn() -> Option<Box<dyn DeadLetterHandler>>,
) -> Result<Box<dyn EventSink>> {
    use crate::cql::{CqlError, CqlSink};
    let config = entry.cql.clone().unwrap_or_default();
    let max_held = config.max_pending;
    let attach = |sink: CqlSink, dead: Option<Box<dyn DeadLetterHandler>>| {
        let sink = sink.with_name(name);
        match dead {
            Some(h) => sink.with_dead_letters(h),
            None => sink,
        }
    };
    match CqlSink::new(config.clone()) {
        Ok(sink) => Ok(Box::new(attach(sink, handler()))),
        Err(e @ (CqlError::Connect { .. } | CqlError::ConnectTimeout { .. })) => {
            let mut dead = handler();
            let factory_name = name.to_owned();
            let factory: super::deferred::Factory = Box::new(move || {
                CqlSink::new(config.clone())
                    .map(|sink| {
                        let sink = sink.with_name(factory_name.clone());
                        let sink = match dead.take() {
                            Some(h) => sink.with_dead_letters(h),
                            None => sink,
                        };
                        Box::new(sink) as Box<dyn EventSink>
                    })
                    .map_err(|e| e.to_string())
            });
            Ok(Box::new(super::deferred::Deferred::new(
                name.to_owned(),
                factory,
                max_held,
                e.to_string(),
                handler(),
            )))
        }
        Err(e) => Err(sink_error(name, e)),
    }
}
