//! The one writer: reads each event, skips what was applied already,
//! plans with the version rules, writes, records the message id; parks
//! changes for entities not created yet and tries them again. The sink's
//! thread, the parked-retry thread and the API's writes take turns behind
//! one mutex, so changes to one entity never interleave.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::RawEvent;
use mongodb::error::Error;

use super::UsageCounters;
use super::config::UsageConfig;
use super::model::Version;
use super::notification::{self, Change, Notification, Unread};
use super::rules::{self, Plan, State};
use super::store::{Store, StoreResult, is_duplicate};
use crate::dead_letter::{DeadLetters, GiveUp};

/// Parked changes tried per round.
const PARKED_PER_ROUND: i64 = 1000;

/// What became of one change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Written.
    Applied,
    /// Nothing to change.
    Unchanged,
    /// Ignored: older than what is stored.
    Stale(String),
    /// Applied already (same message id).
    Duplicate,
    /// The entity does not exist (yet).
    NotFound,
    /// Kept until the entity's create.
    Parked,
    /// Cannot be applied (the reason).
    Refused(String),
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale(_) => "stale",
            Outcome::Duplicate => "duplicate",
            Outcome::NotFound => "not_found",
            Outcome::Parked => "parked",
            Outcome::Refused(_) => "refused",
        }
    }
}

/// The writer's state.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) store: Store,
    pub(crate) config: UsageConfig,
    pub(crate) counters: Arc<UsageCounters>,
    pub(crate) dead_letters: DeadLetters,
    pub(crate) name: String,
    /// Changes parked now (a gauge, refreshed from MongoDB).
    pub(crate) parked_now: Arc<AtomicU64>,
    indexed: bool,
}

impl Engine {
    pub(crate) fn new(store: Store, config: UsageConfig, counters: Arc<UsageCounters>) -> Engine {
        let mut engine = Engine {
            store,
            config,
            counters,
            dead_letters: DeadLetters::default(),
            name: "usage".into(),
            parked_now: Arc::default(),
            indexed: false,
        };
        if let Err(e) = engine.ensure_indexes() {
            tracing::warn!(
                sink = %engine.name,
                error = %e,
                "MongoDB not ready at start-up: the usage indexes will be created on the first write"
            );
        }
        engine
    }

    fn ensure_indexes(&mut self) -> StoreResult<()> {
        if !self.indexed {
            self.store.ensure_indexes()?;
            self.indexed = true;
            if let Ok(n) = self.store.parked_count() {
                self.parked_now.store(n, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Handles one received event; never fails: what cannot be applied is
    /// counted and, when it is usage, given to the dead letters.
    pub(crate) fn write_event(&mut self, event: &RawEvent) {
        let notification = match notification::read(event, &self.config.metadata_whitelist) {
            Ok(n) => n,
            Err(Unread::Ignored) => {
                self.counters.ignored.inc();
                return;
            }
            Err(Unread::Invalid(reason)) => {
                self.counters.invalid.inc();
                self.give_up(event, GiveUp::Refused, reason);
                return;
            }
        };
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .ensure_indexes()
                .and_then(|()| self.apply_event(&notification, event))
            {
                Ok(outcome) => {
                    self.count(&outcome, event);
                    return;
                }
                Err(e) if crate::mongo::is_transient(&e) || !self.indexed => {
                    let waited = started.elapsed();
                    if waited >= Duration::from_millis(self.config.retry_timeout_ms) {
                        self.counters.failed.inc();
                        let reason =
                            format!("MongoDB unreachable for {} ms: {e}", waited.as_millis());
                        tracing::warn!(sink = %self.name, "{reason}");
                        self.give_up(event, GiveUp::Failed, reason);
                        return;
                    }
                    self.counters.retries.inc();
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.counters.failed.inc();
                    self.give_up(
                        event,
                        GiveUp::Failed,
                        format!("MongoDB refused the change: {e}"),
                    );
                    return;
                }
            }
        }
    }

    fn count(&mut self, outcome: &Outcome, event: &RawEvent) {
        let c = &self.counters;
        match outcome {
            Outcome::Applied => c.applied.inc(),
            Outcome::Unchanged => c.unchanged.inc(),
            Outcome::Stale(reason) => {
                c.stale.inc();
                tracing::debug!(sink = %self.name, "ignored: {reason}");
            }
            Outcome::Duplicate => c.duplicates.inc(),
            Outcome::Parked => c.parked.inc(),
            Outcome::NotFound => {
                // Parking was refused (max_parked): counted where it was.
            }
            Outcome::Refused(reason) => {
                c.refused.inc();
                let reason = reason.clone();
                self.give_up(event, GiveUp::Refused, reason);
            }
        }
    }

    fn give_up(&mut self, event: &RawEvent, cause: GiveUp, reason: String) {
        let destination = format!("{}.entity", self.config.database);
        self.dead_letters
            .give_up(|| Some(event.clone()), cause, || destination, || reason);
    }

    /// Applies a received notification once.
    fn apply_event(&mut self, n: &Notification, event: &RawEvent) -> StoreResult<Outcome> {
        if !self.store.processed(&[n.message_id.as_str()])?.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let outcome = self.apply_change(&n.change, Some(&n.message_id))?;
        if outcome == Outcome::NotFound {
            return self.park(n, event);
        }
        self.store.mark_processed(&n.message_id, outcome.name())?;
        if outcome == Outcome::Applied
            && n.change.is_create()
            && self.parked_now.load(Ordering::Relaxed) > 0
            && let Some(id) = n.change.entity_id()
        {
            self.retry_parked(Some(id));
        }
        Ok(outcome)
    }

    fn park(&mut self, n: &Notification, event: &RawEvent) -> StoreResult<Outcome> {
        let entity = n.change.entity_id().unwrap_or_default();
        if self.parked_now.load(Ordering::Relaxed) >= self.config.max_parked {
            self.counters.parked_overflow.inc();
            let reason = format!(
                "no entity {entity} yet, and max_parked ({}) changes are parked already",
                self.config.max_parked
            );
            self.give_up(event, GiveUp::DroppedFull, reason);
            return Ok(Outcome::NotFound);
        }
        if self
            .store
            .park(&n.message_id, entity, event.timestamp(), event.as_bytes())?
        {
            self.parked_now.fetch_add(1, Ordering::Relaxed);
            Ok(Outcome::Parked)
        } else {
            Ok(Outcome::Duplicate)
        }
    }

    /// Plans and writes one change. `message`: the notification's id (for
    /// finishing a change a crash interrupted); none for API calls.
    pub(crate) fn apply_change(
        &mut self,
        change: &Change,
        message: Option<&str>,
    ) -> StoreResult<Outcome> {
        let Some(entity_id) = change.entity_id() else {
            if let Change::VolumeTypeCreate { type_id, name } = change {
                self.store.put_type(type_id, name)?;
            }
            return Ok(Outcome::Applied);
        };
        let resolved;
        let change = match change {
            Change::VolumeCreate {
                volume_type: Some(t),
                ..
            } => {
                let mut c = change.clone();
                if let (Some(name), Change::VolumeCreate { volume_type, .. }) =
                    (self.store.type_name(t)?, &mut c)
                {
                    *volume_type = Some(name);
                }
                resolved = c;
                &resolved
            }
            _ => change,
        };
        let mut state = self.store.state(entity_id)?;
        if let Some(m) = message {
            if state
                .active
                .as_ref()
                .is_some_and(|a| a.opened_by.as_deref() == Some(m))
            {
                return Ok(Outcome::Applied);
            }
            // Closed by this very message, but its next version was never
            // written (a crash between the two writes): plan again from
            // the version as it was.
            if state.active.is_none()
                && let Some(last) = state
                    .latest_closed
                    .take_if(|l| l.closed_by.as_deref() == Some(m))
            {
                let mut reopened = last;
                reopened.end = None;
                reopened.closed_by = None;
                state.active = Some(reopened);
            }
        }
        let threshold = (self.config.existence_threshold_secs * 1000) as i64;
        let plan = rules::plan(change, &state, threshold);
        self.execute(plan, &state, message)
    }

    fn execute(
        &mut self,
        plan: Plan,
        state: &State,
        message: Option<&str>,
    ) -> StoreResult<Outcome> {
        let active_id = || state.active.as_ref().and_then(|a| a.id);
        match plan {
            Plan::Insert(mut version) => {
                version.opened_by = message.map(str::to_owned);
                self.insert(version)
            }
            Plan::Replace { at, mut next } => {
                if let Some(id) = active_id() {
                    self.store.close(id, at, message)?;
                }
                next.opened_by = message.map(str::to_owned);
                self.insert(next)
            }
            Plan::Update(version) => {
                self.store.replace(&version)?;
                Ok(Outcome::Applied)
            }
            Plan::Close { at } => {
                if let Some(id) = active_id() {
                    self.store.close(id, at, message)?;
                }
                Ok(Outcome::Applied)
            }
            Plan::DropActive => {
                if let Some(id) = active_id() {
                    self.store.remove(id)?;
                }
                Ok(Outcome::Applied)
            }
            Plan::Unchanged => Ok(Outcome::Unchanged),
            Plan::Stale(reason) => Ok(Outcome::Stale(reason)),
            Plan::Park => Ok(Outcome::NotFound),
            Plan::Refuse(reason) => Ok(Outcome::Refused(reason)),
        }
    }

    fn insert(&mut self, mut version: Version) -> StoreResult<Outcome> {
        match self.store.insert(&mut version) {
            Ok(()) => Ok(Outcome::Applied),
            Err(e) if is_duplicate(&e) => Ok(Outcome::Refused(format!(
                "{} has another active version: MongoDB refused a second one",
                version.entity_id
            ))),
            Err(e) => Err(e),
        }
    }

    /// Tries the parked changes of one entity (just created) or of every
    /// entity (the periodic round, which counts a try for each change that
    /// still finds no entity and gives up after `park_max_tries`).
    pub(crate) fn retry_parked(&mut self, entity: Option<&str>) {
        if let Err(e) = self.try_retry_parked(entity) {
            tracing::warn!(sink = %self.name, error = %e, "trying parked changes again failed; next round later");
        }
        if let Ok(n) = self.store.parked_count() {
            self.parked_now.store(n, Ordering::Relaxed);
        }
    }

    fn try_retry_parked(&mut self, entity: Option<&str>) -> StoreResult<()> {
        self.ensure_indexes()?;
        for parked in self.store.parked(entity, PARKED_PER_ROUND)? {
            let Ok(event) = RawEvent::from_bytes(parked.bytes) else {
                self.counters.invalid.inc();
                self.store.unpark(&parked.message_id)?;
                continue;
            };
            let n = match notification::read(&event, &self.config.metadata_whitelist) {
                Ok(n) => n,
                Err(_) => {
                    self.counters.invalid.inc();
                    self.give_up(
                        &event,
                        GiveUp::Refused,
                        "a parked event is no longer readable".into(),
                    );
                    self.store.unpark(&parked.message_id)?;
                    continue;
                }
            };
            let outcome = if self.store.processed(&[n.message_id.as_str()])?.is_empty() {
                self.apply_change(&n.change, Some(&n.message_id))?
            } else {
                Outcome::Duplicate
            };
            if outcome == Outcome::NotFound {
                if entity.is_none() {
                    let tries = parked.tries + 1;
                    if tries >= self.config.park_max_tries {
                        self.counters.parked_expired.inc();
                        let reason = format!(
                            "entity {} was not created after {tries} tries over at least {} ms",
                            n.change.entity_id().unwrap_or_default(),
                            u64::from(tries) * self.config.park_retry_interval_ms
                        );
                        self.give_up(&event, GiveUp::Expired, reason);
                        self.store.unpark(&parked.message_id)?;
                    } else {
                        self.store.parked_tried(&parked.message_id)?;
                    }
                }
                continue;
            }
            if outcome != Outcome::Duplicate {
                self.store.mark_processed(&n.message_id, outcome.name())?;
            }
            self.store.unpark(&parked.message_id)?;
            self.counters.parked_applied.inc();
            if let Outcome::Refused(reason) = outcome {
                self.counters.refused.inc();
                self.give_up(&event, GiveUp::Refused, reason);
            }
        }
        Ok(())
    }

    /// Pings MongoDB.
    pub(crate) fn ping(&self) -> Result<(), Error> {
        self.store.ping()
    }
}
