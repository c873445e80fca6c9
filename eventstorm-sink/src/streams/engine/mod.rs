//! The engine thread: it owns every definition and active stream, the
//! store, the timer heap and the actions, and takes events, API calls and
//! webhook completions over channels.
//!
//! Per event: a dedupe check, then per definition a tenant check, the
//! `select` matchers, the group-by fields read from the raw bytes, a hash
//! lookup, one counter per fire criterion, and a kept event is appended to
//! its stream (in memory) and to the open store segment: constant time,
//! nothing of the stream is read again. Timers are a binary heap of
//! deadlines; the thread sleeps until the earliest one (or the next
//! command).
//!
//! The thread takes every command waiting (for at most [`DRAIN`]) before it
//! closes the streams that fell due: the streams closed by those events and
//! by the timers are closed together, with one commit, then their actions
//! run. Under load, commits grow instead of multiplying.

mod admin;
mod close;
mod dedupe;
mod memory;
mod segments;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use eventstorm_core::{RawEvent, RawEventRef};
use serde_json::Value;

use super::actions::{Actions, SharedDeadLetters};
use super::config::StreamsConfig;
use super::counters::{Lags, StreamCounters};
use super::definition::DefinitionSpec;
use super::store::{Batch, SEGMENT_MAX_BYTES, STATE_SEQ, StateStore, push_record};
use super::stream::{Outcome, Stream, push_key};

pub(crate) use admin::ApiCall;

/// What the engine thread is asked to do.
pub(crate) enum Cmd {
    /// Events from the sink.
    Events(Vec<RawEvent>),
    /// Commit now and answer.
    Flush(Sender<()>),
    /// An API request, and where to answer.
    Api(ApiCall, Sender<ApiAnswer>),
    /// Commit and stop (the API's handle may still hold a sender).
    Stop,
}

/// An API answer: status and JSON body.
#[derive(Debug)]
pub(crate) struct ApiAnswer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

/// Gauges the sink reports.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pub(crate) definitions: AtomicU64,
    pub(crate) streams: AtomicU64,
    /// Events handed to the engine and not yet stored or finished with.
    pub(crate) unconfirmed: AtomicU64,
    /// Changes waiting for the next commit.
    pub(crate) uncommitted: AtomicU64,
    /// Bytes of kept events held in memory (`max_kept_bytes`).
    pub(crate) kept_bytes: AtomicU64,
}

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// One definition in the engine.
#[derive(Debug)]
pub(crate) struct Def {
    pub(crate) id: String,
    pub(crate) spec: DefinitionSpec,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    /// Group key → stream number, for the streams still taking events.
    pub(crate) streams: FastMap<Box<[u8]>, u64>,
    /// Every active stream, oldest first (the eviction order).
    pub(crate) order: BTreeSet<u64>,
}

/// A stream leaving: why, and its deadline when a timer closed it.
pub(crate) struct Closing {
    pub(crate) num: u64,
    pub(crate) outcome: Outcome,
    pub(crate) deadline: Option<i64>,
}

/// The engine's state; lives on its thread.
pub(crate) struct Engine {
    pub(crate) config: StreamsConfig,
    pub(crate) store: Box<dyn StateStore>,
    pub(crate) defs: Vec<Option<Def>>,
    pub(crate) streams: FastMap<u64, Stream>,
    pub(crate) next_stream: u64,
    pub(crate) timers: BinaryHeap<Reverse<(i64, u64)>>,
    pub(crate) dedupe: dedupe::Dedupe,
    pub(crate) batch: Batch,
    /// The segment being filled: its number and records.
    pub(crate) seg: u64,
    pub(crate) seg_buf: Vec<u8>,
    /// Records in `seg_buf`.
    pub(crate) seg_records: usize,
    /// Every segment with live records: live and total records, streams.
    pub(crate) segs: BTreeMap<u64, segments::SegInfo>,
    /// Streams due to close at the end of this round of commands.
    pub(crate) closing: Vec<Closing>,
    /// Scratch space for a state record.
    state_buf: Vec<u8>,
    /// Scratch space: the streams keeping the current event.
    kept: Vec<(u64, u64)>,
    /// The bytes of kept events held, against `max_kept_bytes`.
    pub(crate) memory: memory::KeptBytes,
    /// Events of `batch` (they are confirmed when it commits).
    pub(crate) batch_events: u64,
    pub(crate) dirty: Vec<u64>,
    /// Streams closed with a closed record not committed yet: stream and
    /// the segment of its record.
    pub(crate) closed_new: Vec<(u64, u64)>,
    /// Streams whose closed record is committed: their rows are deleted by
    /// the next commits, [`DELETE_CHUNK`] at a time.
    pub(crate) closed_stored: VecDeque<(u64, u64)>,
    pub(crate) last_commit: Instant,
    /// Fire number → webhook deliveries not finished.
    pub(crate) outbox: FastMap<u64, usize>,
    pub(crate) next_fire: u64,
    pub(crate) actions: Actions,
    pub(crate) counters: Arc<StreamCounters>,
    pub(crate) lags: Arc<Lags>,
    pub(crate) gauges: Arc<Gauges>,
    pub(crate) dead: SharedDeadLetters,
    pub(crate) last_evict_log: Option<Instant>,
    pub(crate) last_store_log: Option<Instant>,
    pub(crate) last_memory_log: Option<Instant>,
    key: Vec<u8>,
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How often the publisher's upkeep runs when idle.
const TICK: Duration = Duration::from_millis(100);

/// How long the thread keeps taking waiting commands before it closes the
/// streams that fell due (and commits).
const DRAIN: Duration = Duration::from_millis(10);

/// Rows of closed streams deleted per commit at most: a burst of closes
/// costs the commits that follow it a few milliseconds each, instead of
/// one long commit that every action (and every stream falling due
/// meanwhile) waits for.
pub(crate) const DELETE_CHUNK: usize = 1_000;

impl Engine {
    pub(crate) fn new(
        config: StreamsConfig,
        store: Box<dyn StateStore>,
        actions: Actions,
        counters: Arc<StreamCounters>,
        lags: Arc<Lags>,
        gauges: Arc<Gauges>,
        dead: SharedDeadLetters,
    ) -> Engine {
        Engine {
            dedupe: dedupe::Dedupe::new(config.dedupe_window),
            memory: memory::KeptBytes::new(config.max_kept_bytes, Arc::clone(&gauges)),
            config,
            store,
            defs: Vec::new(),
            streams: FastMap::default(),
            next_stream: 1,
            timers: BinaryHeap::new(),
            batch: Batch::default(),
            seg: 1,
            seg_buf: Vec::new(),
            seg_records: 0,
            segs: BTreeMap::new(),
            closing: Vec::new(),
            state_buf: Vec::with_capacity(128),
            kept: Vec::new(),
            batch_events: 0,
            dirty: Vec::new(),
            closed_new: Vec::new(),
            closed_stored: VecDeque::new(),
            last_commit: Instant::now(),
            outbox: FastMap::default(),
            next_fire: 1,
            actions,
            counters,
            lags,
            gauges,
            dead,
            last_evict_log: None,
            last_store_log: None,
            last_memory_log: None,
            key: Vec::with_capacity(64),
        }
    }

    /// The thread's loop, until the sink hangs up.
    pub(crate) fn run(mut self, cmds: &Receiver<Cmd>, done: &Receiver<u64>) {
        let mut last_tick = Instant::now();
        // Without webhook actions nobody holds the completions' sender: a
        // disconnected channel is always ready, so it is not waited on.
        let never = crossbeam_channel::never();
        let mut completions = done;
        loop {
            let wait = self
                .wait_time()
                .min(TICK.saturating_sub(last_tick.elapsed()));
            let started = Instant::now();
            let mut stop = false;
            crossbeam_channel::select! {
                recv(cmds) -> cmd => match cmd {
                    Ok(cmd) => stop = !self.handle(cmd),
                    Err(_) => stop = true,
                },
                recv(completions) -> fire => match fire {
                    Ok(fire) => self.on_done(fire),
                    Err(_) => completions = &never,
                },
                default(wait) => {}
            }
            // Everything waiting, for a while: one commit for all of it.
            while !stop && started.elapsed() < DRAIN {
                match cmds.try_recv() {
                    Ok(cmd) => stop = !self.handle(cmd),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => stop = true,
                }
            }
            self.run_timers();
            self.finish_closing();
            if stop {
                break;
            }
            if self.commit_due() {
                self.commit();
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.actions.tick();
            }
        }
        self.commit();
        self.actions.close();
        while let Ok(fire) = done.try_recv() {
            self.on_done(fire);
        }
        self.commit();
        // The closed streams' rows too, while commits succeed.
        while !self.closed_stored.is_empty() && self.batch.is_empty() {
            self.commit();
        }
    }

    /// Handles one command; `false` to stop.
    fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Events(events) => self.on_events(events),
            Cmd::Flush(reply) => {
                self.finish_closing();
                self.commit();
                let _ = reply.send(());
            }
            Cmd::Api(call, reply) => {
                self.finish_closing();
                let answer = self.api(call);
                let _ = reply.send(answer);
            }
            Cmd::Stop => return false,
        }
        true
    }

    /// Closes the streams gathered in `closing`.
    fn finish_closing(&mut self) {
        if !self.closing.is_empty() {
            let closing = std::mem::take(&mut self.closing);
            self.close(closing);
        }
    }

    /// Until the earliest timer or the next commit.
    fn wait_time(&self) -> Duration {
        let mut wait = TICK;
        if let Some(Reverse((at, _))) = self.timers.peek() {
            let ms = (*at - now_ms()).max(0) as u64;
            wait = wait.min(Duration::from_millis(ms));
        }
        if self.closed_stored.len() >= DELETE_CHUNK {
            return Duration::ZERO;
        }
        if !self.batch.is_empty()
            || !self.dirty.is_empty()
            || self.seg_records > 0
            || !self.closed_stored.is_empty()
        {
            let interval = Duration::from_millis(self.config.commit_interval_ms);
            wait = wait.min(interval.saturating_sub(self.last_commit.elapsed()));
        }
        wait
    }

    fn commit_due(&self) -> bool {
        let changes =
            self.batch.len() + self.dirty.len() + self.seg_records + self.closed_stored.len();
        changes > 0
            && (changes >= self.config.commit_max_changes
                || self.closed_stored.len() >= DELETE_CHUNK
                || self.last_commit.elapsed()
                    >= Duration::from_millis(self.config.commit_interval_ms))
    }

    /// Writes the batch, the open segment and every changed stream.
    pub(crate) fn commit(&mut self) {
        let n = self.closed_stored.len().min(DELETE_CHUNK);
        for (num, seg) in self.closed_stored.drain(..n) {
            self.batch.streams.push((num, None));
            if let Some(info) = self.segs.get_mut(&seg) {
                info.closed = info.closed.saturating_sub(1);
            }
            segments::unref(&mut self.segs, &mut self.batch, self.seg, seg, 1);
        }
        for num in std::mem::take(&mut self.dirty) {
            let Some(s) = self.streams.get_mut(&num) else {
                continue;
            };
            if !s.dirty {
                continue;
            }
            s.dirty = false;
            if !s.stored {
                s.stored = true;
                let def_id = self.defs[s.def as usize]
                    .as_ref()
                    .map_or("", |d| d.id.as_str());
                self.batch.streams.push((num, Some(s.record(def_id))));
                continue;
            }
            // A state record in the open segment, not a row rewritten.
            self.state_buf.clear();
            s.push_state(&mut self.state_buf);
            push_record(&mut self.seg_buf, num, STATE_SEQ, &self.state_buf);
            self.seg_records += 1;
            let old = std::mem::replace(&mut s.state_seg, self.seg);
            self.segs.entry(self.seg).or_default().add(num, 1);
            segments::unref(&mut self.segs, &mut self.batch, self.seg, old, 1);
        }
        self.compact();
        self.seal();
        self.last_commit = Instant::now();
        if self.batch.is_empty() {
            return;
        }
        self.batch.next_stream = self.next_stream;
        match self.store.commit(&self.batch) {
            Ok(()) => {
                self.counters.commits.inc();
                self.batch = Batch::default();
                self.closed_stored.extend(self.closed_new.drain(..));
                self.gauges
                    .unconfirmed
                    .fetch_sub(self.batch_events, Ordering::Relaxed);
                self.batch_events = 0;
            }
            Err(e) => {
                self.counters.store_errors.inc();
                if self
                    .last_store_log
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                {
                    self.last_store_log = Some(Instant::now());
                    tracing::error!("{e} (kept for the next commit)");
                }
                if self.batch.len() > self.config.commit_max_changes.saturating_mul(4) {
                    tracing::error!(
                        changes = self.batch.len(),
                        "the store keeps failing: these changes are not stored (store_errors)"
                    );
                    self.batch = Batch::default();
                    self.gauges
                        .unconfirmed
                        .fetch_sub(self.batch_events, Ordering::Relaxed);
                    self.batch_events = 0;
                }
            }
        }
        self.gauges
            .uncommitted
            .store(self.batch.len() as u64, Ordering::Relaxed);
    }

    /// A chunk of events from the sink.
    fn on_events(&mut self, events: Vec<RawEvent>) {
        let now = now_ms();
        let mut closing = std::mem::take(&mut self.closing);
        let mut finished = 0u64;
        for event in events {
            self.counters.events.inc_single_writer();
            let view = event.view();
            if !self.dedupe.first_time(view.id().bytes()) {
                self.counters.duplicates.inc_single_writer();
                finished += 1;
                continue;
            }
            let mut joined = 0;
            let mut kept = std::mem::take(&mut self.kept);
            for d in 0..self.defs.len() {
                if self.join(d, view, now, &mut closing, &mut kept) {
                    joined += 1;
                }
            }
            // The streams that keep the event take its bytes: moved into
            // the last, copied for the others.
            if let Some(((last, last_seg), others)) = kept.split_last() {
                let len = event.as_bytes().len();
                for (num, seg) in others {
                    match self.streams.get_mut(num) {
                        Some(s) => s.events.push((*seg, event.as_bytes().into())),
                        None => self.memory.give_back(len),
                    }
                }
                match self.streams.get_mut(last) {
                    Some(s) => s
                        .events
                        .push((*last_seg, event.into_bytes().into_boxed_slice())),
                    None => self.memory.give_back(len),
                }
            }
            kept.clear();
            self.kept = kept;
            if joined == 0 {
                self.counters.joined_none.inc_single_writer();
                finished += 1;
            } else {
                self.counters.joined.add_single_writer(joined);
                self.batch_events += 1;
            }
        }
        self.gauges
            .unconfirmed
            .fetch_sub(finished, Ordering::Relaxed);
        self.gauges
            .uncommitted
            .store(self.batch.len() as u64, Ordering::Relaxed);
        self.closing = closing;
    }

    /// Adds the event to definition `d`'s stream when the definition wants
    /// it; whether it joined.
    /// A stream that keeps the event is added to `kept`, with the segment
    /// of its record (the caller hands it the bytes).
    fn join(
        &mut self,
        d: usize,
        view: RawEventRef<'_>,
        now: i64,
        closing: &mut Vec<Closing>,
        kept: &mut Vec<(u64, u64)>,
    ) -> bool {
        let Some(def) = self.defs[d].as_mut() else {
            return false;
        };
        let spec = &def.spec;
        if let Some(tenant) = &spec.tenant
            && view.tenant() != Some(tenant.as_str())
        {
            return false;
        }
        if !spec.select.iter().any(|m| m.matches_raw(view)) {
            return false;
        }
        self.key.clear();
        for path in &spec.group_by {
            match view.get(path) {
                None => {
                    self.counters.group_by_missing.inc_single_writer();
                    return false;
                }
                Some(value) => {
                    if !push_key(&mut self.key, value) {
                        self.counters.group_by_unusable.inc_single_writer();
                        return false;
                    }
                }
            }
        }
        if self.key.len() > self.config.max_group_bytes {
            self.counters.group_by_unusable.inc_single_writer();
            return false;
        }
        let ts = view.timestamp().timestamp_millis();
        let num = match def.streams.get(self.key.as_slice()) {
            Some(num) => *num,
            None => {
                if def.order.len() >= self.config.max_streams_per_definition
                    && let Some(oldest) = def.order.pop_first()
                {
                    if let Some(old) = self.streams.remove(&oldest) {
                        if def.streams.get(&old.key) == Some(&oldest) {
                            def.streams.remove(&old.key);
                        }
                        self.batch.streams.push((oldest, None));
                        segments::release(&mut self.segs, &mut self.batch, self.seg, &old);
                        self.memory.release(&old);
                    }
                    self.counters.streams_evicted.inc_single_writer();
                    if self
                        .last_evict_log
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                    {
                        self.last_evict_log = Some(Instant::now());
                        tracing::warn!(
                            definition = %def.spec.name,
                            evicted = self.counters.streams_evicted.get(),
                            max = self.config.max_streams_per_definition,
                            "max_streams_per_definition reached: the oldest streams are closed \
                             without actions (streams_evicted)"
                        );
                    }
                }
                let num = self.next_stream;
                self.next_stream += 1;
                let key: Box<[u8]> = self.key.as_slice().into();
                def.streams.insert(key.clone(), num);
                def.order.insert(num);
                self.streams.insert(
                    num,
                    Stream::new(d as u32, key, def.spec.fire_criteria.len(), ts, now),
                );
                self.counters.streams_created.inc_single_writer();
                self.gauges
                    .streams
                    .store(self.streams.len() as u64, Ordering::Relaxed);
                num
            }
        };
        if self.seg_buf.len() >= SEGMENT_MAX_BYTES {
            self.seal();
        }
        let Some(def) = self.defs[d].as_mut() else {
            return false;
        };
        let spec = &def.spec;
        let Some(stream) = self.streams.get_mut(&num) else {
            return false;
        };
        stream.count += 1;
        stream.first_ts = stream.first_ts.min(ts);
        stream.last_ts = stream.last_ts.max(ts);
        stream.last_seen = stream.last_seen.max(now);
        for (criterion, n) in spec.fire_criteria.iter().zip(stream.criteria.iter_mut()) {
            if criterion.matcher.matches_raw(view) {
                *n += 1;
            }
        }
        let bytes = view.as_bytes();
        if stream.events.len() >= self.config.max_events_per_stream {
            self.counters.events_not_kept.inc_single_writer();
        } else if !self.memory.take(bytes.len()) {
            self.counters.events_not_kept_memory.inc_single_writer();
            if self
                .last_memory_log
                .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
            {
                self.last_memory_log = Some(Instant::now());
                tracing::warn!(
                    definition = %spec.name,
                    kept_bytes = self.memory.used(),
                    max_kept_bytes = self.memory.max(),
                    not_kept = self.counters.events_not_kept_memory.get(),
                    "max_kept_bytes reached: events are counted in their streams but not kept \
                     until streams close (events_not_kept_memory)"
                );
            }
        } else {
            push_record(&mut self.seg_buf, num, stream.events.len() as u32, bytes);
            self.seg_records += 1;
            kept.push((num, self.seg));
            let info = self.segs.entry(self.seg).or_default();
            info.add(num, 1);
        }
        if !stream.dirty {
            stream.dirty = true;
            self.dirty.push(num);
        }
        if stream.ready_since.is_none() && stream.criteria_met(spec) {
            stream.ready_since = Some(now);
        }
        let (due, outcome) = stream.due(spec);
        if due <= now && outcome == Outcome::Fire {
            // Later events of this group start a new stream.
            def.streams.remove(&stream.key);
            stream.scheduled = i64::MIN;
            closing.push(Closing {
                num,
                outcome,
                deadline: None,
            });
        } else if due < stream.scheduled {
            stream.scheduled = due;
            self.timers.push(Reverse((due, num)));
        }
        true
    }

    /// Closes every stream whose time has come.
    fn run_timers(&mut self) {
        let now = now_ms();
        let mut closing = Vec::new();
        while let Some(Reverse((at, num))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(stream) = self.streams.get_mut(&num) else {
                continue;
            };
            if stream.scheduled != at {
                continue;
            }
            let Some(def) = self.defs[stream.def as usize].as_mut() else {
                continue;
            };
            let (due, outcome) = stream.due(&def.spec);
            if due > now {
                stream.scheduled = due;
                self.timers.push(Reverse((due, num)));
                continue;
            }
            if def.streams.get(&stream.key) == Some(&num) {
                def.streams.remove(&stream.key);
            }
            stream.scheduled = i64::MIN;
            closing.push(Closing {
                num,
                outcome,
                deadline: Some(due),
            });
        }
        if !closing.is_empty() {
            self.close(closing);
        }
    }

    /// A webhook delivery of fire `fire` finished.
    fn on_done(&mut self, fire: u64) {
        if let Some(left) = self.outbox.get_mut(&fire) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.outbox.remove(&fire);
                self.batch.outbox.push((fire, None));
            }
        }
    }
}
