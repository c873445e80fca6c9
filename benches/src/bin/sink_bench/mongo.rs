//! `MongoSink` vs a plain `insert_many` loop.

use std::time::{Duration, Instant};

use bson::RawDocumentBuf;
use eventstorm_core::{EventSink, RawEvent};
use eventstorm_sink::mongo::{DEFAULT_BATCH_SIZE, MongoSink, MongoSinkConfig};

use crate::{Res, Side};

fn database() -> String {
    format!("eventstorm_bench_{}", std::process::id())
}

fn config(uri: &str, collection: String) -> MongoSinkConfig {
    MongoSinkConfig {
        collection,
        batch_size: DEFAULT_BATCH_SIZE,
        ..MongoSinkConfig::new(uri, database())
    }
}

/// The sink: `write` in batches of the batch size, then `flush`.
struct Sink {
    uri: String,
}

impl Side for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let mut sink = MongoSink::new(config(&self.uri, format!("sink_{round}")))
            .map_err(|e| format!("mongo sink: {e}"))?;
        let start = Instant::now();
        for batch in events.chunks(DEFAULT_BATCH_SIZE) {
            sink.write(batch).map_err(|e| format!("sink write: {e}"))?;
        }
        sink.flush().map_err(|e| format!("sink flush: {e}"))?;
        let took = start.elapsed();
        let written = sink.stats().get("written").unwrap_or(0);
        if written != events.len() as u64 {
            return Err(format!("the sink wrote {written} of {}", events.len()));
        }
        Ok(took)
    }
}

/// The plain loop: the same driver, `insert_many` of `RawDocumentBuf`s in
/// batches of the same size, unordered like the sink, into a collection with
/// the sink's indexes.
struct Plain {
    uri: String,
    runtime: tokio::runtime::Runtime,
    client: mongodb::Client,
}

impl Side for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let name = format!("plain_{round}");
        // Created through a sink so that it has the same indexes.
        drop(MongoSink::new(config(&self.uri, name.clone())).map_err(|e| format!("indexes: {e}"))?);
        let coll = self
            .client
            .database(&database())
            .collection::<RawDocumentBuf>(&name);
        let docs: Vec<RawDocumentBuf> = events
            .iter()
            .map(|e| RawDocumentBuf::from_bytes(e.as_bytes().to_vec()).map_err(|e| e.to_string()))
            .collect::<Res<_>>()?;
        let start = Instant::now();
        self.runtime.block_on(async {
            for batch in docs.chunks(DEFAULT_BATCH_SIZE) {
                coll.insert_many(batch.iter())
                    .ordered(false)
                    .await
                    .map_err(|e| format!("insert_many: {e}"))?;
            }
            Ok::<(), String>(())
        })?;
        Ok(start.elapsed())
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        let db = self.client.database(&database());
        let _ = self.runtime.block_on(async { db.drop().await });
    }
}

/// Both sides against the same server.
pub(crate) fn sides(uri: &str) -> Res<(Box<dyn Side>, Box<dyn Side>)> {
    let uri = uri.to_owned();
    eprintln!("MongoDB server: {uri}");
    // Like the sink's private runtime: one worker thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let client = runtime
        .block_on(mongodb::Client::with_uri_str(&uri))
        .map_err(|e| format!("mongodb client: {e}"))?;
    Ok((
        Box::new(Sink { uri: uri.clone() }),
        Box::new(Plain {
            uri,
            runtime,
            client,
        }),
    ))
}
