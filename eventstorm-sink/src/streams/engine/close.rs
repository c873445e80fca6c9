//! Closing streams: every stream that fell due in a round of commands is
//! closed together, its state change committed (one commit for all of
//! them: a closed record each, the rows deleted by later commits in chunks
//! of [`super::DELETE_CHUNK`]), then the actions run, so an action never runs twice for one fire
//! (a crash before the commit fires the stream again after the restart; a
//! crash after it leaves only unconfirmed webhook deliveries, which are
//! dead-lettered at the next start rather than sent again). The events an
//! action carries are the stream's own, in memory: nothing is read back.

use std::sync::atomic::Ordering;

use bson::{Bson, doc};

use super::{Closing, Engine, now_ms, segments};
use crate::dead_letter::{DeadLetter, GiveUp};
use crate::streams::actions::Payload;
use crate::streams::store::{CLOSED_SEQ, push_record};
use crate::streams::stream::{Outcome, group_doc, stream_id};

impl Engine {
    /// Closes `closing` (already detached from their group keys).
    pub(crate) fn close(&mut self, closing: Vec<Closing>) {
        let mut runs = Vec::new();
        let mut lags = Vec::new();
        for c in closing {
            let Some(stream) = self.streams.remove(&c.num) else {
                continue;
            };
            if stream.stored {
                // A closed record now, the row's deletion later.
                push_record(&mut self.seg_buf, c.num, CLOSED_SEQ, &[]);
                self.seg_records += 1;
                let info = self.segs.entry(self.seg).or_default();
                info.add(c.num, 1);
                info.closed += 1;
                self.closed_new.push((c.num, self.seg));
            }
            segments::release(&mut self.segs, &mut self.batch, self.seg, &stream);
            self.memory.release(&stream);
            let Some(def) = self.defs[stream.def as usize].as_mut() else {
                continue;
            };
            def.order.remove(&c.num);
            if def.streams.get(&stream.key) == Some(&c.num) {
                def.streams.remove(&stream.key);
            }
            match c.outcome {
                Outcome::Fire => self.counters.streams_fired.inc(),
                Outcome::Expire => self.counters.streams_expired.inc(),
            }
            if let Some(deadline) = c.deadline {
                lags.push(deadline);
            }
            let names = match c.outcome {
                Outcome::Fire => &def.spec.fire_actions,
                Outcome::Expire => &def.spec.expire_actions,
            };
            if names.is_empty() {
                continue;
            }
            if !def.spec.actions_enabled {
                self.counters.actions_disabled.inc();
                continue;
            }
            if self.actions.done_if_quiet(names) {
                continue;
            }
            let events: Vec<&[u8]> =
                if self.config.max_action_events == 0 || !self.actions.need_events(names) {
                    Vec::new()
                } else {
                    stream
                        .events
                        .iter()
                        .take(self.config.max_action_events)
                        .map(|(_, bytes)| &bytes[..])
                        .collect()
                };
            let payload = Payload::new(
                c.outcome,
                &def.id,
                &def.spec.name,
                def.spec.tenant.as_deref(),
                &stream_id(c.num),
                group_doc(&def.spec, &stream.key),
                stream.first_ts,
                stream.last_ts,
                stream.count,
                &events,
            );
            let fire = self.next_fire;
            self.next_fire += 1;
            let deferred = self.actions.deferred(names);
            if deferred > 0 {
                self.outbox.insert(fire, deferred);
                let event = payload
                    .event(match c.outcome {
                        Outcome::Fire => "stream.fire",
                        Outcome::Expire => "stream.expire",
                    })
                    .map(|e| e.into_bytes())
                    .unwrap_or_default();
                let record = doc! {
                    "deliveries": deferred as i64,
                    "event": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: event },
                };
                let mut bytes = Vec::new();
                let _ = record.to_writer(&mut bytes);
                self.batch.outbox.push((fire, Some(bytes)));
            }
            runs.push((names.clone(), payload, fire));
        }
        self.gauges
            .streams
            .store(self.streams.len() as u64, Ordering::Relaxed);
        self.memory.check_empty(self.streams.len());
        self.commit();
        if !self.batch.is_empty() {
            // The commit failed: the streams would fire again after a
            // restart, so their actions do not run now.
            self.counters.actions_unstored.add(runs.len() as u64);
            tracing::error!(
                streams = runs.len(),
                "closed streams could not be stored: their actions did not run (actions_unstored)"
            );
            return;
        }
        let now = now_ms();
        for deadline in lags {
            self.lags.record(now - deadline);
        }
        for (names, payload, fire) in runs {
            self.actions.run(&names, &payload, fire);
        }
    }

    /// Outbox records left by a stop before their webhooks confirmed:
    /// dead-lettered and removed, never sent again.
    pub(crate) fn interrupted(&mut self, outbox: Vec<(u64, Vec<u8>)>) {
        for (fire, bytes) in outbox {
            self.batch.outbox.push((fire, None));
            self.next_fire = self.next_fire.max(fire + 1);
            let Ok(doc) = bson::Document::from_reader(bytes.as_slice()) else {
                continue;
            };
            let n = doc.get_i64("deliveries").unwrap_or(1).max(1) as u64;
            self.counters.actions_interrupted.add(n);
            let event = match doc.get("event") {
                Some(Bson::Binary(b)) => {
                    eventstorm_core::RawEvent::from_bytes(b.bytes.clone()).ok()
                }
                _ => None,
            };
            tracing::warn!(
                deliveries = n,
                "a webhook delivery was interrupted by a stop: dead-lettered, not sent again \
                 (actions_interrupted)"
            );
            let mut guard = self.dead.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(handler), Some(event)) = (guard.as_mut(), event) {
                handler.dead_letter(DeadLetter::new(
                    event,
                    GiveUp::Failed,
                    "webhook",
                    "interrupted by a stop before the receiver confirmed it; not sent again",
                ));
            }
        }
    }
}
