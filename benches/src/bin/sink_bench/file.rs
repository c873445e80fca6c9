//! The JSON-lines file sink vs a plain loop that writes the same lines to a
//! buffered file.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bson::Bson;
use eventstorm_core::{EventSink, RawEvent};
use eventstorm_sink::sinks::{FileSinkConfig, JsonLinesFileSink};

use crate::{Pair, Res, Side};

/// Events per `write`, as the sink runtime batches by default.
const BATCH: usize = 1000;

/// A directory of the run's own, removed at the end.
pub(crate) struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Both sides, writing into a directory under the system's temporary one.
pub(crate) fn sides() -> Res<(Pair, Dir)> {
    let dir = std::env::temp_dir().join(format!("eventstorm_file_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((
        (Box::new(Sink(dir.clone())), Box::new(Plain(dir.clone()))),
        Dir(dir),
    ))
}

fn lines(path: &PathBuf) -> Res<usize> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.iter().filter(|&&b| b == b'\n').count())
}

/// The sink: `write` in batches, then `flush`, into a new file each round.
struct Sink(PathBuf);

impl Side for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let path = self.0.join(format!("sink_{round}.jsonl"));
        let _ = std::fs::remove_file(&path);
        let mut sink =
            JsonLinesFileSink::new(FileSinkConfig::new(&path)).map_err(|e| e.to_string())?;
        let start = Instant::now();
        for batch in events.chunks(BATCH) {
            sink.write(batch).map_err(|e| format!("sink write: {e}"))?;
        }
        sink.flush().map_err(|e| format!("sink flush: {e}"))?;
        let took = start.elapsed();
        drop(sink);
        let n = lines(&path)?;
        let _ = std::fs::remove_file(&path);
        if n != events.len() {
            return Err(format!("the sink wrote {n} lines of {}", events.len()));
        }
        Ok(took)
    }
}

/// The plain loop: each event decoded with the bson crate, rendered as
/// relaxed extended JSON by serde_json into a `BufWriter`, flushed at the
/// end: the same lines, written the obvious way.
struct Plain(PathBuf);

impl Side for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let path = self.0.join(format!("plain_{round}.jsonl"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let start = Instant::now();
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        for event in events {
            let doc = bson::Document::try_from(event.view().document())
                .map_err(|e| format!("decode: {e}"))?;
            serde_json::to_writer(&mut out, &Bson::Document(doc).into_relaxed_extjson())
                .map_err(|e| format!("render: {e}"))?;
            out.write_all(b"\n").map_err(|e| format!("write: {e}"))?;
        }
        out.flush().map_err(|e| format!("flush: {e}"))?;
        let took = start.elapsed();
        drop(out);
        let n = lines(&path)?;
        let _ = std::fs::remove_file(&path);
        if n != events.len() {
            return Err(format!("the loop wrote {n} lines of {}", events.len()));
        }
        Ok(took)
    }
}
