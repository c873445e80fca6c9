//! The store's segments as the engine tracks them: which records are still
//! needed, when a segment can go, and moving the last live records out of
//! old segments that are mostly dead (so that one long stream does not
//! keep a segment of closed ones).

use std::collections::BTreeMap;

use super::Engine;
use crate::streams::store::{Batch, STATE_SEQ, push_record};
use crate::streams::stream::Stream;

/// Segments looked at per commit for compaction (the oldest first).
const COMPACT_SCAN: usize = 8;

/// Records moved per commit at most.
const COMPACT_MAX_RECORDS: usize = 4096;

/// A segment is compacted only once it is this old (ms): the streams of a
/// young segment are likely to close soon and free it whole.
const COMPACT_AFTER_MS: i64 = 10_000;

/// One segment with live records.
#[derive(Debug, Default)]
pub(crate) struct SegInfo {
    /// Records of active streams.
    pub(crate) live: u32,
    /// Records written.
    pub(crate) total: u32,
    /// Streams with records in it (a stream can appear more than once).
    pub(crate) streams: Vec<u64>,
    /// When it was written (ms since the epoch).
    pub(crate) born: i64,
    /// Closed records whose stream's row is not deleted yet (also counted
    /// in `live`): such a segment is not compacted, so the record stays
    /// until the row is gone.
    pub(crate) closed: u32,
}

impl SegInfo {
    /// `n` records of stream `num` added.
    pub(crate) fn add(&mut self, num: u64, n: u32) {
        self.live += n;
        self.total += n;
        if self.streams.last() != Some(&num) {
            self.streams.push(num);
        }
    }
}

/// `n` records of segment `seg` are no longer needed; a segment left
/// without live records is deleted (or, still open, never written).
pub(crate) fn unref(
    segs: &mut BTreeMap<u64, SegInfo>,
    batch: &mut Batch,
    open: u64,
    seg: u64,
    n: u32,
) {
    if let Some(info) = segs.get_mut(&seg) {
        info.live = info.live.saturating_sub(n);
        if info.live == 0 && seg != open {
            segs.remove(&seg);
            batch.dead_segments.push(seg);
        }
    }
}

/// A stream closed: none of its records is needed any more.
pub(crate) fn release(
    segs: &mut BTreeMap<u64, SegInfo>,
    batch: &mut Batch,
    open: u64,
    stream: &Stream,
) {
    if stream.state_seg != 0 {
        unref(segs, batch, open, stream.state_seg, 1);
    }
    let mut events = stream.events.iter().map(|(seg, _)| *seg).peekable();
    while let Some(seg) = events.next() {
        let mut n = 1;
        while events.peek() == Some(&seg) {
            events.next();
            n += 1;
        }
        unref(segs, batch, open, seg, n);
    }
}

impl Engine {
    /// Hands the open segment to the batch (unless nothing in it is
    /// needed any more) and opens the next.
    pub(crate) fn seal(&mut self) {
        if self.seg_buf.is_empty() {
            return;
        }
        let capacity = self
            .seg_buf
            .len()
            .min(crate::streams::store::SEGMENT_MAX_BYTES);
        let records = std::mem::replace(&mut self.seg_buf, Vec::with_capacity(capacity));
        self.seg_records = 0;
        match self.segs.get_mut(&self.seg) {
            Some(info) if info.live > 0 => {
                info.born = super::now_ms();
                self.batch.segments.push((self.seg, records));
            }
            _ => {
                self.segs.remove(&self.seg);
            }
        }
        self.seg += 1;
    }

    /// Moves the live records of the oldest segments that are at least
    /// three quarters dead (and older than [`COMPACT_AFTER_MS`]) into the
    /// open segment, so that they can go.
    pub(crate) fn compact(&mut self) {
        let old = super::now_ms() - COMPACT_AFTER_MS;
        let candidates: Vec<u64> = self
            .segs
            .iter()
            .take(COMPACT_SCAN)
            .filter(|(seg, info)| {
                **seg != self.seg
                    && info.born <= old
                    && info.live * 4 <= info.total
                    && info.closed == 0
            })
            .map(|(seg, _)| *seg)
            .collect();
        let mut moved = 0;
        for seg in candidates {
            if moved >= COMPACT_MAX_RECORDS {
                break;
            }
            let Some(mut info) = self.segs.remove(&seg) else {
                continue;
            };
            info.streams.sort_unstable();
            info.streams.dedup();
            for num in &info.streams {
                let Some(stream) = self.streams.get_mut(num) else {
                    continue;
                };
                let mut n = 0;
                for (i, (at, bytes)) in stream.events.iter_mut().enumerate() {
                    if *at == seg {
                        push_record(&mut self.seg_buf, *num, i as u32, bytes);
                        *at = self.seg;
                        n += 1;
                    }
                }
                if stream.state_seg == seg {
                    self.state_buf.clear();
                    stream.push_state(&mut self.state_buf);
                    push_record(&mut self.seg_buf, *num, STATE_SEQ, &self.state_buf);
                    stream.state_seg = self.seg;
                    n += 1;
                }
                if n > 0 {
                    self.seg_records += n as usize;
                    moved += n as usize;
                    self.segs.entry(self.seg).or_default().add(*num, n);
                }
            }
            self.batch.dead_segments.push(seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use eventstorm_core::{Event, EventSink, RawEvent};
    use serde_json::json;

    use crate::streams::store::{Batch, CLOSED_SEQ, RedbStore, StateStore, push_record, records};
    use crate::streams::{StreamsConfig, StreamsSink};

    fn event(t: &str, group: &str) -> RawEvent {
        RawEvent::from_event(&Event::builder(t).field("g", group).build()).expect("event")
    }

    /// A long stream's record is moved out of a segment its closed
    /// neighbours left mostly dead; the old segment goes, and the stream
    /// comes back from the moved record after a restart.
    #[test]
    fn a_mostly_dead_segment_is_compacted_and_its_live_records_survive() {
        eventstorm_test_support::with_timeout(Duration::from_secs(120), || {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("c.redb");
            let config = || fire_config(&path);
            let (mut sink, handle) = StreamsSink::new(config()).expect("sink");
            let mut first: Vec<RawEvent> = vec![event("t.start", "long")];
            first.extend((0..9).map(|n| event("t.start", &format!("s{n}"))));
            sink.write(&first).expect("write");
            sink.flush().expect("flush");
            let ends: Vec<RawEvent> = (0..9).map(|n| event("t.end", &format!("s{n}"))).collect();
            sink.write(&ends).expect("write");
            sink.flush().expect("flush");
            assert_eq!(handle.active_streams(), 1);
            // Compaction waits until a segment is old enough.
            std::thread::sleep(Duration::from_millis(super::COMPACT_AFTER_MS as u64 + 500));
            sink.flush().expect("flush");
            drop(sink);

            let mut store = RedbStore::open(&path).expect("open");
            let snap = store.load().expect("load");
            assert_eq!(snap.streams.len(), 1);
            let segs: Vec<u64> = snap.segments.iter().map(|(n, _)| *n).collect();
            assert!(!segs.contains(&1), "the first segment is gone: {segs:?}");
            let events: Vec<(u64, u32)> = snap
                .segments
                .iter()
                .flat_map(|(_, s)| records(s))
                .filter(|(_, seq, _)| *seq < CLOSED_SEQ)
                .map(|(num, seq, _)| (num, seq))
                .collect();
            assert_eq!(
                events,
                vec![(snap.streams[0].0, 0)],
                "the long stream's event moved"
            );
            drop(store);

            let (mut sink, handle) = StreamsSink::new(config()).expect("again");
            assert_eq!(handle.active_streams(), 1);
            sink.write(&[event("t.end", "long")]).expect("write");
            sink.flush().expect("flush");
            assert_eq!(handle.active_streams(), 0);
            assert_eq!(sink.stats().get("streams_fired"), Some(1));
        });
    }

    /// One definition on a redb file at `path`: `t.*` grouped by `body.g`,
    /// fired by `t.end`.
    fn fire_config(path: &std::path::Path) -> StreamsConfig {
        serde_json::from_value(json!({
            "store": {"type": "redb", "path": path},
            "definitions": [{
                "name": "d",
                "select": ["t.*"],
                "group_by": ["body.g"],
                "expiration": "last + 1h",
                "fire_criteria": [{"match": "t.end"}],
            }],
        }))
        .expect("config")
    }

    /// A stop between the commit of a stream's closed record and the one
    /// deleting its row: the next start does not bring the stream back, and
    /// deletes the row.
    #[test]
    fn a_closed_record_keeps_a_closed_stream_closed_after_a_restart() {
        eventstorm_test_support::with_timeout(Duration::from_secs(120), || {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("closed.redb");
            let (mut sink, handle) = StreamsSink::new(fire_config(&path)).expect("sink");
            sink.write(&[event("t.start", "a"), event("t.start", "b")])
                .expect("write");
            sink.flush().expect("flush");
            assert_eq!(handle.active_streams(), 2);
            drop(sink);

            // What a stop right after closing stream `a` leaves: its row,
            // and a segment with its closed record.
            let mut store = RedbStore::open(&path).expect("open");
            let snap = store.load().expect("load");
            assert_eq!(snap.streams.len(), 2);
            let a = snap
                .streams
                .iter()
                .map(|(num, _)| *num)
                .min()
                .expect("a stream");
            let last = snap.segments.iter().map(|(n, _)| *n).max().unwrap_or(0);
            let mut closed = Vec::new();
            push_record(&mut closed, a, CLOSED_SEQ, &[]);
            let batch = Batch {
                segments: vec![(last + 1, closed)],
                next_stream: snap.next_stream,
                ..Batch::default()
            };
            store.commit(&batch).expect("commit");
            drop(store);

            let (mut sink, handle) = StreamsSink::new(fire_config(&path)).expect("again");
            assert_eq!(handle.active_streams(), 1, "stream a stays closed");
            // A later `a` event opens a new stream; `b` is still the old one.
            sink.write(&[event("t.end", "a"), event("t.end", "b")])
                .expect("write");
            sink.flush().expect("flush");
            assert_eq!(sink.stats().get("streams_fired"), Some(2));
            assert_eq!(sink.stats().get("streams_created"), Some(1));
            drop(sink);
            let mut store = RedbStore::open(&path).expect("open");
            let snap = store.load().expect("load");
            assert!(snap.streams.is_empty(), "{:?}", snap.streams);
            let records: Vec<u32> = snap
                .segments
                .iter()
                .flat_map(|(_, s)| records(s).map(|(_, seq, _)| seq))
                .collect();
            assert!(records.is_empty(), "segments left: {records:?}");
        });
    }

    /// More closes at once than one commit deletes rows for: every row is
    /// deleted by the commits that follow, and nothing is left at the stop.
    #[test]
    fn a_burst_of_closes_deletes_every_row_in_chunks() {
        eventstorm_test_support::with_timeout(Duration::from_secs(120), || {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("burst.redb");
            let n = super::super::DELETE_CHUNK * 2 + 7;
            let (mut sink, handle) = StreamsSink::new(fire_config(&path)).expect("sink");
            let starts: Vec<RawEvent> = (0..n).map(|i| event("t.start", &i.to_string())).collect();
            sink.write(&starts).expect("write");
            sink.flush().expect("flush");
            assert_eq!(handle.active_streams(), n as u64);
            let ends: Vec<RawEvent> = (0..n).map(|i| event("t.end", &i.to_string())).collect();
            sink.write(&ends).expect("write");
            sink.flush().expect("flush");
            assert_eq!(handle.active_streams(), 0);
            assert_eq!(sink.stats().get("streams_fired"), Some(n as u64));
            drop(sink);
            let mut store = RedbStore::open(&path).expect("open");
            let snap = store.load().expect("load");
            assert!(snap.streams.is_empty(), "{} rows left", snap.streams.len());
            assert!(
                snap.segments.is_empty(),
                "{} segments left",
                snap.segments.len()
            );
        });
    }
}
