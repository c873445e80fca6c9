//! Loading the stored state at start, and the API's changes to
//! definitions and streams (answered on the engine thread, so that a change
//! takes effect from the next event).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::{ApiAnswer, Def, Engine, FastMap, now_ms, segments};
use crate::streams::definition::{DefinitionSpec, FieldError};
use crate::streams::store::{CLOSED_SEQ, STATE_SEQ, StoreError, event_id, records};
use crate::streams::stream::{Stream, parse_stream_id, rfc3339, view};

/// An API request for the engine.
#[derive(Debug)]
pub(crate) enum ApiCall {
    CreateDefinition(Value),
    ListDefinitions {
        tenant: Option<String>,
    },
    GetDefinition(String),
    PatchDefinition(String, Value),
    DeleteDefinition(String),
    ListStreams {
        definition: Option<String>,
        state: Option<String>,
        limit: usize,
    },
    DeleteStream(String),
}

pub(crate) fn error(status: u16, message: impl Into<String>) -> ApiAnswer {
    ApiAnswer {
        status,
        body: json!({ "error": message.into() }),
    }
}

pub(crate) fn field_error(status: u16, e: &FieldError) -> ApiAnswer {
    ApiAnswer {
        status,
        body: json!({
            "error": format!("invalid definition: {e}"),
            "field": e.path,
            "expected": e.expected,
        }),
    }
}

fn record(def: &Def) -> Vec<u8> {
    json!({
        "id": def.id,
        "created": def.created,
        "updated": def.updated,
        "definition": def.spec.to_json(),
    })
    .to_string()
    .into_bytes()
}

impl Engine {
    /// Reads the stored state back, then installs the configured
    /// definitions.
    pub(crate) fn load(&mut self) -> Result<(), StoreError> {
        let snap = self.store.load()?;
        self.next_stream = snap.next_stream.max(1);
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (id, bytes) in snap.definitions {
            let parsed = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                let spec = DefinitionSpec::from_json(&v["definition"]).ok()?;
                Some((spec, v["created"].as_i64()?, v["updated"].as_i64()?))
            });
            let Some((spec, created, updated)) = parsed else {
                tracing::error!(definition = %id, "a stored definition is unreadable: removed");
                self.batch.definitions.push((id, None));
                continue;
            };
            if let Err(e) = spec.check(&self.config) {
                tracing::warn!(definition = %spec.name, "{e}: that action is skipped");
            }
            by_id.insert(id.clone(), self.defs.len());
            self.defs.push(Some(Def {
                id,
                spec,
                created,
                updated,
                streams: FastMap::default(),
                order: BTreeSet::new(),
            }));
        }
        for (num, bytes) in snap.streams {
            self.next_stream = self.next_stream.max(num + 1);
            let Some((def_id, mut stream)) = Stream::from_record(&bytes) else {
                tracing::error!(stream = num, "a stored stream is unreadable: removed");
                self.batch.streams.push((num, None));
                continue;
            };
            let Some(&d) = by_id.get(&def_id) else {
                self.batch.streams.push((num, None));
                continue;
            };
            let Some(def) = self.defs[d].as_mut() else {
                continue;
            };
            if stream.criteria.len() != def.spec.fire_criteria.len() {
                self.batch.streams.push((num, None));
                continue;
            }
            stream.def = d as u32;
            def.streams.insert(stream.key.clone(), num);
            def.order.insert(num);
            self.streams.insert(num, stream);
        }
        self.load_segments(snap.segments);
        for (num, stream) in &mut self.streams {
            if let Some(def) = self.defs[stream.def as usize].as_ref() {
                let (due, _) = stream.due(&def.spec);
                stream.scheduled = due;
                self.timers.push(Reverse((due, *num)));
            }
        }
        self.interrupted(snap.outbox);
        for spec in std::mem::take(&mut self.config.definitions) {
            self.install(spec);
        }
        self.update_gauges();
        self.commit();
        Ok(())
    }

    /// Gives the active streams their events back from the stored
    /// segments (in their order; a record found twice, as a crash in the
    /// middle of a MongoDB commit can leave, is taken once) and refills the
    /// dedupe window. Segments no active stream needs are deleted.
    fn load_segments(&mut self, stored: Vec<(u64, Vec<u8>)>) {
        // Stream → its event records: sequence, segment, bytes.
        type Found<'a> = HashMap<u64, Vec<(u32, u64, &'a [u8])>>;
        let mut found: Found<'_> = HashMap::new();
        let mut states: HashMap<u64, (u64, &[u8])> = HashMap::new();
        let mut totals: Vec<(u64, u32)> = Vec::with_capacity(stored.len());
        for (seg, blob) in &stored {
            self.seg = self.seg.max(seg + 1);
            let mut total = 0;
            for (num, seq, bytes) in records(blob) {
                total += 1;
                if seq == CLOSED_SEQ {
                    // Closed before the stop; its row was not deleted yet.
                    self.forget_closed(num);
                } else if seq == STATE_SEQ {
                    // Segments are in order: the last one read is the latest.
                    if self.streams.contains_key(&num) {
                        states.insert(num, (*seg, bytes));
                    }
                } else if self.streams.contains_key(&num) {
                    found.entry(num).or_default().push((seq, *seg, bytes));
                    if let Some(id) = event_id(bytes) {
                        self.dedupe.first_time(id);
                    }
                }
            }
            totals.push((*seg, total));
        }
        let now = now_ms();
        for (seg, total) in totals {
            let info = self.segs.entry(seg).or_default();
            info.total = total;
            info.born = now;
        }
        for (num, (seg, bytes)) in states {
            let Some(stream) = self.streams.get_mut(&num) else {
                continue;
            };
            if stream.apply_state(bytes) {
                stream.state_seg = seg;
                let info = self.segs.entry(seg).or_default();
                info.live += 1;
                info.streams.push(num);
            } else {
                tracing::error!(
                    stream = num,
                    "a stored stream state is unreadable: its row is used"
                );
            }
        }
        let max = self.config.max_events_per_stream;
        // Oldest streams first: what fits in `max_kept_bytes` is loaded.
        let mut found: Vec<_> = found.into_iter().collect();
        found.sort_unstable_by_key(|(num, _)| *num);
        let mut not_loaded = 0u64;
        for (num, mut events) in found {
            // A sequence found twice: the newest record (a crash in the
            // middle of a MongoDB commit leaves two equal ones).
            events.sort_by_key(|(seq, seg, _)| (*seq, std::cmp::Reverse(*seg)));
            events.dedup_by_key(|(seq, _, _)| *seq);
            events.truncate(max);
            let Some(stream) = self.streams.get_mut(&num) else {
                continue;
            };
            // A stream keeps the first of its events that fit, in order.
            let fit = events
                .iter()
                .position(|(_, _, bytes)| !self.memory.take(bytes.len()))
                .unwrap_or(events.len());
            not_loaded += (events.len() - fit) as u64;
            events.truncate(fit);
            for (_, seg, bytes) in events {
                stream.events.push((seg, bytes.into()));
                let info = self.segs.entry(seg).or_default();
                info.live += 1;
                if info.streams.last() != Some(&num) {
                    info.streams.push(num);
                }
            }
        }
        if not_loaded > 0 {
            self.counters.events_not_kept_memory.add(not_loaded);
            tracing::warn!(
                not_loaded,
                kept_bytes = self.memory.used(),
                max_kept_bytes = self.memory.max(),
                "the stored events of the active streams exceed max_kept_bytes: those that do \
                 not fit are not loaded, their streams' counts stay exact \
                 (events_not_kept_memory)"
            );
        }
        let dead: Vec<u64> = self
            .segs
            .iter()
            .filter(|(_, info)| info.live == 0)
            .map(|(seg, _)| *seg)
            .collect();
        for seg in dead {
            self.segs.remove(&seg);
            self.batch.dead_segments.push(seg);
        }
    }

    /// A stream whose closed record was found: it is not loaded, and its
    /// row is deleted.
    fn forget_closed(&mut self, num: u64) {
        let Some(stream) = self.streams.remove(&num) else {
            return;
        };
        self.batch.streams.push((num, None));
        if let Some(def) = self.defs[stream.def as usize].as_mut() {
            def.order.remove(&num);
            if def.streams.get(&stream.key) == Some(&num) {
                def.streams.remove(&stream.key);
            }
        }
    }

    fn update_gauges(&self) {
        let defs = self.defs.iter().flatten().count() as u64;
        self.gauges.definitions.store(defs, Ordering::Relaxed);
        self.gauges
            .streams
            .store(self.streams.len() as u64, Ordering::Relaxed);
    }

    /// A configured definition: replaces the stored one of the same
    /// tenant and name, or is added.
    fn install(&mut self, spec: DefinitionSpec) {
        let existing = self.defs.iter().position(|d| {
            d.as_ref()
                .is_some_and(|d| d.spec.name == spec.name && d.spec.tenant == spec.tenant)
        });
        match existing {
            Some(d) => {
                let same = self.defs[d].as_ref().is_some_and(|def| def.spec == spec);
                if !same {
                    self.replace(d, spec);
                }
            }
            None => {
                self.add(spec);
            }
        }
    }

    fn add(&mut self, spec: DefinitionSpec) -> usize {
        let now = now_ms();
        let def = Def {
            id: bson::oid::ObjectId::new().to_hex(),
            spec,
            created: now,
            updated: now,
            streams: FastMap::default(),
            order: BTreeSet::new(),
        };
        self.batch
            .definitions
            .push((def.id.clone(), Some(record(&def))));
        let slot = self.defs.iter().position(Option::is_none);
        let d = match slot {
            Some(d) => {
                self.defs[d] = Some(def);
                d
            }
            None => {
                self.defs.push(Some(def));
                self.defs.len() - 1
            }
        };
        self.update_gauges();
        d
    }

    /// Replaces definition `d`'s spec; its streams are dropped when the
    /// group-by fields or the criteria changed (how many is returned),
    /// rescheduled otherwise.
    fn replace(&mut self, d: usize, spec: DefinitionSpec) -> usize {
        let Some(def) = self.defs[d].as_mut() else {
            return 0;
        };
        let reshaped =
            def.spec.group_by != spec.group_by || def.spec.fire_criteria != spec.fire_criteria;
        def.spec = spec;
        def.updated = now_ms();
        self.batch
            .definitions
            .push((def.id.clone(), Some(record(def))));
        let nums: Vec<u64> = def.order.iter().copied().collect();
        if reshaped {
            return self.drop_streams(d, &nums);
        }
        let now = now_ms();
        for num in nums {
            let Some(s) = self.streams.get_mut(&num) else {
                continue;
            };
            let (due, _) = s.due(&def.spec);
            if s.scheduled != i64::MIN && due < s.scheduled {
                s.scheduled = due.max(now);
                self.timers.push(Reverse((s.scheduled, num)));
            }
        }
        0
    }

    /// Closes streams of definition `d` without actions.
    fn drop_streams(&mut self, d: usize, nums: &[u64]) -> usize {
        let mut dropped = 0;
        for num in nums {
            if let Some(s) = self.streams.remove(num) {
                if let Some(def) = self.defs[d].as_mut() {
                    def.order.remove(num);
                    if def.streams.get(&s.key) == Some(num) {
                        def.streams.remove(&s.key);
                    }
                }
                self.batch.streams.push((*num, None));
                segments::release(&mut self.segs, &mut self.batch, self.seg, &s);
                self.memory.release(&s);
                dropped += 1;
            }
        }
        self.memory.check_empty(self.streams.len());
        self.counters.streams_dropped.add(dropped as u64);
        if dropped > 0 {
            tracing::info!(
                definition = self.defs[d].as_ref().map_or("", |d| d.spec.name.as_str()),
                dropped,
                "streams closed without actions (streams_dropped)"
            );
        }
        self.update_gauges();
        dropped
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.defs
            .iter()
            .position(|d| d.as_ref().is_some_and(|d| d.id == id))
    }

    fn def_json(&self, d: usize) -> Value {
        let Some(def) = self.defs[d].as_ref() else {
            return Value::Null;
        };
        let mut v = def.spec.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), json!(def.id));
            o.insert("created".into(), rfc3339(def.created));
            o.insert("updated".into(), rfc3339(def.updated));
            o.insert("active_streams".into(), json!(def.order.len()));
        }
        v
    }

    /// Commits an API change; the answer says whether it is stored.
    fn stored(&mut self) -> bool {
        self.commit();
        self.batch.is_empty()
    }

    /// Answers an API call.
    pub(crate) fn api(&mut self, call: ApiCall) -> ApiAnswer {
        self.counters.api_requests.inc();
        let answer = self.answer(call);
        if (400..500).contains(&answer.status) {
            self.counters.api_rejected.inc();
        }
        answer
    }

    fn answer(&mut self, call: ApiCall) -> ApiAnswer {
        match call {
            ApiCall::CreateDefinition(body) => {
                let spec = match DefinitionSpec::from_json(&body) {
                    Ok(s) => s,
                    Err(e) => return field_error(422, &e),
                };
                if let Err(e) = spec.check(&self.config) {
                    return field_error(422, &e);
                }
                if self
                    .defs
                    .iter()
                    .flatten()
                    .any(|d| d.spec.name == spec.name && d.spec.tenant == spec.tenant)
                {
                    return error(
                        409,
                        format!(
                            "a definition named `{}` exists for this tenant: PATCH it or \
                             DELETE it first",
                            spec.name
                        ),
                    );
                }
                if self.defs.iter().flatten().count() >= self.config.max_definitions {
                    return error(
                        409,
                        format!(
                            "max_definitions ({}) reached: delete one first",
                            self.config.max_definitions
                        ),
                    );
                }
                let d = self.add(spec);
                let mut body = self.def_json(d);
                body["stored"] = json!(self.stored());
                ApiAnswer { status: 201, body }
            }
            ApiCall::ListDefinitions { tenant } => {
                let defs: Vec<Value> = (0..self.defs.len())
                    .filter(|&d| {
                        self.defs[d].as_ref().is_some_and(|def| {
                            tenant.is_none() || def.spec.tenant.as_deref() == tenant.as_deref()
                        })
                    })
                    .map(|d| self.def_json(d))
                    .collect();
                ApiAnswer {
                    status: 200,
                    body: json!({ "definitions": defs }),
                }
            }
            ApiCall::GetDefinition(id) => match self.find(&id) {
                Some(d) => ApiAnswer {
                    status: 200,
                    body: self.def_json(d),
                },
                None => error(404, format!("no stream definition `{id}`")),
            },
            ApiCall::PatchDefinition(id, patch) => {
                let Some(d) = self.find(&id) else {
                    return error(404, format!("no stream definition `{id}`"));
                };
                let Some(current) = self.defs[d].as_ref().map(|def| def.spec.clone()) else {
                    return error(404, format!("no stream definition `{id}`"));
                };
                let spec = match current.patched(&patch) {
                    Ok(s) => s,
                    Err(e) => return field_error(422, &e),
                };
                if let Err(e) = spec.check(&self.config) {
                    return field_error(422, &e);
                }
                let dropped = self.replace(d, spec);
                let mut body = self.def_json(d);
                body["streams_dropped"] = json!(dropped);
                body["stored"] = json!(self.stored());
                ApiAnswer { status: 200, body }
            }
            ApiCall::DeleteDefinition(id) => {
                let Some(d) = self.find(&id) else {
                    return error(404, format!("no stream definition `{id}`"));
                };
                let nums: Vec<u64> = self.defs[d]
                    .as_ref()
                    .map(|def| def.order.iter().copied().collect())
                    .unwrap_or_default();
                self.drop_streams(d, &nums);
                self.defs[d] = None;
                self.batch.definitions.push((id, None));
                self.update_gauges();
                self.stored();
                ApiAnswer {
                    status: 204,
                    body: Value::Null,
                }
            }
            ApiCall::ListStreams {
                definition,
                state,
                limit,
            } => self.list_streams(definition.as_deref(), state.as_deref(), limit),
            ApiCall::DeleteStream(id) => {
                let Some(num) = parse_stream_id(&id) else {
                    return error(404, format!("no active stream `{id}`"));
                };
                let Some(d) = self.streams.get(&num).map(|s| s.def as usize) else {
                    return error(404, format!("no active stream `{id}`"));
                };
                self.drop_streams(d, &[num]);
                self.stored();
                ApiAnswer {
                    status: 204,
                    body: Value::Null,
                }
            }
        }
    }

    fn list_streams(
        &self,
        definition: Option<&str>,
        state: Option<&str>,
        limit: usize,
    ) -> ApiAnswer {
        if let Some(s) = state
            && s != "active"
            && s != "ready"
        {
            return error(
                400,
                format!("`state`: expected `active` or `ready`, found {s:?}"),
            );
        }
        let def_filter = match definition {
            Some(id) => match self.find(id) {
                Some(d) => Some(d),
                None => return error(404, format!("no stream definition `{id}`")),
            },
            None => None,
        };
        let mut nums: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, s)| def_filter.is_none_or(|d| s.def as usize == d))
            .filter(|(_, s)| match state {
                Some("ready") => s.ready_since.is_some(),
                Some(_) => s.ready_since.is_none(),
                None => true,
            })
            .map(|(n, _)| *n)
            .collect();
        nums.sort_unstable();
        let total = nums.len();
        let dirty: std::collections::HashSet<u64> = self.dirty.iter().copied().collect();
        let streams: Vec<Value> = nums
            .into_iter()
            .take(limit)
            .filter_map(|n| {
                let s = self.streams.get(&n)?;
                let def = self.defs[s.def as usize].as_ref()?;
                let stored = !dirty.contains(&n) && !s.dirty && self.batch.is_empty();
                Some(view(n, s, &def.id, &def.spec, stored))
            })
            .collect();
        ApiAnswer {
            status: 200,
            body: json!({ "total": total, "streams": streams }),
        }
    }
}
