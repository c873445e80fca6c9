//! Reserved event types: `_eventstorm.*` is for Eventstorm's own events
//! (`_eventstorm.stats`, see docs/wire-format.md). Sources that take events
//! from outside (syslog, tail) refuse them, so a forged one can never pass
//! for the real thing downstream.

/// The prefix of reserved event types.
pub(crate) const RESERVED_PREFIX: &str = "_eventstorm.";

/// Whether `event_type` is reserved for Eventstorm's own events.
pub(crate) fn is_reserved(event_type: &str) -> bool {
    event_type.starts_with(RESERVED_PREFIX)
}
