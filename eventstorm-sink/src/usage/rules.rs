//! The version rules, as pure functions: given an entity's latest versions
//! and a change, what to write. Almanach's rules, plus what keeps versions
//! from ever overlapping.

use bson::DateTime;

use super::model::{Kind, Version};
use super::notification::Change;
use super::time;

/// What the store knows of an entity: its active version, else its latest
/// closed one, and whether it has more than one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) active: Option<Version>,
    pub(crate) latest_closed: Option<Version>,
    pub(crate) several: bool,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// A first (or a fresh) active version.
    Insert(Version),
    /// Close the active version at `at`, then open `next` from `at`.
    Replace { at: DateTime, next: Version },
    /// Rewrite the active version in place.
    Update(Version),
    /// Close the active version at `at` (a delete).
    Close { at: DateTime },
    /// Remove the active version (a volume deleted within the threshold
    /// of a version's start, when it had an earlier version).
    DropActive,
    /// Nothing changes (the same flavor, image or name).
    Unchanged,
    /// Ignored: older than what is stored (the reason).
    Stale(String),
    /// The entity does not exist yet: keep the change until its create.
    Park,
    /// Cannot be applied without rewriting closed history (the reason).
    Refuse(String),
}

/// The plan for `change` on an entity in `state`. `threshold_ms`: the
/// existence threshold. A volume create's `volume_type` is already the
/// type's name.
pub(crate) fn plan(change: &Change, state: &State, threshold_ms: i64) -> Plan {
    if let Some(new) = created(change) {
        return plan_create(new, state);
    }
    let Some(active) = &state.active else {
        return match &state.latest_closed {
            None => Plan::Park,
            Some(last) => Plan::Refuse(format!(
                "{} {} has no active version (its last one ended {})",
                last.kind.as_str(),
                last.entity_id,
                last.end.map_or_else(|| "?".into(), time::format)
            )),
        };
    };
    let wrong_kind = |want: Kind| {
        Plan::Refuse(format!(
            "{} is a {}, not a {}",
            active.entity_id,
            active.kind.as_str(),
            want.as_str()
        ))
    };
    let within =
        |at: DateTime| at.timestamp_millis() - active.start.timestamp_millis() < threshold_ms;
    let replace = |at: DateTime, edit: &dyn Fn(&mut Version)| {
        let mut next = active.successor(at);
        edit(&mut next);
        Plan::Replace { at, next }
    };
    let in_place = |at: DateTime, edit: &dyn Fn(&mut Version)| {
        let mut next = active.clone();
        next.last_event = next.last_event.max(at);
        edit(&mut next);
        Plan::Update(next)
    };
    if let Some(at) = change_time(change)
        && at < active.start
    {
        return Plan::Refuse(format!(
            "the change at {} is older than the start of {}'s active version ({}): \
             placing it would rewrite closed history",
            time::format(at),
            active.entity_id,
            time::format(active.start)
        ));
    }
    match change {
        Change::InstanceDelete { at, .. } if active.kind == Kind::Instance => {
            Plan::Close { at: *at }
        }
        Change::InstanceResize { flavor, at, .. } if active.kind == Kind::Instance => {
            if *flavor == active.flavor {
                Plan::Unchanged
            } else {
                replace(*at, &|v| v.flavor.clone_from(flavor))
            }
        }
        Change::InstanceRebuild { os, at, .. } if active.kind == Kind::Instance => {
            if os.distro == active.os.distro && os.version == active.os.version {
                Plan::Unchanged
            } else {
                replace(*at, &|v| v.os = os.clone())
            }
        }
        Change::InstanceDelete { .. }
        | Change::InstanceResize { .. }
        | Change::InstanceRebuild { .. } => wrong_kind(Kind::Instance),
        _ if active.kind != Kind::Volume => wrong_kind(Kind::Volume),
        Change::VolumeDelete { at, .. } => {
            if state.several && within(*at) {
                Plan::DropActive
            } else {
                Plan::Close { at: *at }
            }
        }
        Change::VolumeResize { size, at, .. } => replace(*at, &|v| v.size = *size),
        Change::VolumeAttach {
            attachments, at, ..
        } => {
            let set = |v: &mut Version| v.attached_to.clone_from(attachments);
            if !active.attached_to.is_empty() || within(*at) {
                in_place(*at, &set)
            } else {
                replace(*at, &set)
            }
        }
        Change::VolumeDetach {
            attachments, at, ..
        } => {
            let set = |v: &mut Version| v.attached_to.clone_from(attachments);
            if !attachments.is_empty() || within(*at) {
                in_place(*at, &set)
            } else {
                replace(*at, &set)
            }
        }
        Change::VolumeRename { name, .. } => {
            if *name == active.name {
                Plan::Unchanged
            } else {
                let mut next = active.clone();
                next.name.clone_from(name);
                Plan::Update(next)
            }
        }
        // Creates and volume types are planned elsewhere.
        _ => Plan::Unchanged,
    }
}

/// A create: ignored when older than the active version's last event or
/// than the end of the latest version; otherwise it closes an active
/// version (at its own start) so that versions never overlap.
fn plan_create(new: Version, state: &State) -> Plan {
    if let Some(active) = &state.active {
        if active.kind != new.kind {
            return Plan::Refuse(format!(
                "{} is a {}, not a {}",
                active.entity_id,
                active.kind.as_str(),
                new.kind.as_str()
            ));
        }
        if new.start <= active.last_event {
            return Plan::Stale(format!(
                "a create at {} is not newer than the active version's last event ({})",
                time::format(new.start),
                time::format(active.last_event)
            ));
        }
        return Plan::Replace {
            at: new.start,
            next: new,
        };
    }
    if let Some(end) = state.latest_closed.as_ref().and_then(|v| v.end)
        && new.start < end
    {
        return Plan::Stale(format!(
            "a create at {} is older than the end of the entity's latest version ({})",
            time::format(new.start),
            time::format(end)
        ));
    }
    Plan::Insert(new)
}

/// The version a create opens.
fn created(change: &Change) -> Option<Version> {
    match change {
        Change::InstanceCreate {
            id,
            project,
            start,
            flavor,
            os,
            name,
            metadata,
        } => {
            let mut v = Version::new(id, Kind::Instance, project, *start);
            v.flavor.clone_from(flavor);
            v.os = os.clone();
            v.name.clone_from(name);
            v.metadata = metadata.clone();
            Some(v)
        }
        Change::VolumeCreate {
            id,
            project,
            start,
            volume_type,
            size,
            name,
            attached_to,
        } => {
            let mut v = Version::new(id, Kind::Volume, project, *start);
            v.volume_type.clone_from(volume_type);
            v.size = *size;
            v.name.clone_from(name);
            v.attached_to.clone_from(attached_to);
            Some(v)
        }
        _ => None,
    }
}

/// When a non-create change happened (a rename has no time).
fn change_time(change: &Change) -> Option<DateTime> {
    match change {
        Change::InstanceDelete { at, .. }
        | Change::InstanceResize { at, .. }
        | Change::InstanceRebuild { at, .. }
        | Change::VolumeDelete { at, .. }
        | Change::VolumeResize { at, .. }
        | Change::VolumeAttach { at, .. }
        | Change::VolumeDetach { at, .. } => Some(*at),
        _ => None,
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
