//! The one rule for an event time given in a JSON `ts` field, shared by the
//! `json` parser, the `openstack` parser's `timestamp` and HTTP ingest.
//!
//! A **string** is an RFC 3339 date-time (`2026-03-01T09:00:00.5Z`,
//! `2026-03-01T10:00:00+01:00`); `2026-03-01 09:00:00[.f]` without an offset is
//! taken as UTC.
//!
//! A **number** counts from 1970-01-01T00:00:00Z in a unit chosen by its
//! magnitude, so that seconds, milliseconds, microseconds and nanoseconds all
//! work:
//!
//! | value | unit |
//! |---|---|
//! | below 10^11 | seconds (`1714564800`, `1714564800.5`) |
//! | 10^11 to below 10^14 | milliseconds (`1714564800500`) |
//! | 10^14 to below 10^17 | microseconds |
//! | 10^17 to below 10^20 | nanoseconds |
//!
//! Fractions below a millisecond are dropped (truncated), for strings and
//! numbers alike, as every parser does with the times it reads: BSON dates
//! hold milliseconds. So the same instant written as a string or as a number
//! in any unit gives the same event time. (A non-integer number is first
//! rounded to whole microseconds, so that `1714564800.123`, which a double
//! holds as `1714564800.1229999`, keeps the digits it was written with.)
//!
//! Every event time, string or number, must lie from [`EARLIEST`]
//! (1970-01-01) up to but excluding [`END`] (2200-01-01); anything else
//! (negative numbers, `1e20`, `0001-01-01T00:00:00Z`, a millisecond count read
//! as seconds past 2200) is an error that names the value, the unit it was
//! read in and the range.

use bson::{Bson, DateTime};
use serde_json::Value;

use super::time::rfc3339;

/// The earliest event time accepted: 1970-01-01T00:00:00Z, in milliseconds
/// since the epoch.
pub(crate) const EARLIEST: i64 = 0;

/// The first event time no longer accepted: 2200-01-01T00:00:00Z, in
/// milliseconds since the epoch.
pub(crate) const END: i64 = 7_258_118_400_000;

/// The accepted range, as written in error messages.
const RANGE: &str = "1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z (excluded)";

/// A number given as an event time: an integer read exactly, or a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum EpochNumber {
    /// An integer (JSON number without fraction or exponent).
    Int(i64),
    /// Any other number.
    Float(f64),
}

/// The units a number can be read in, smallest magnitude first: (exclusive
/// upper bound of the value, the unit's name, units per millisecond as a
/// divisor or multiplier).
const UNITS: [(f64, &str, Scale); 4] = [
    (1e11, "seconds", Scale::Times(1000)),
    (1e14, "milliseconds", Scale::Times(1)),
    (1e17, "microseconds", Scale::Per(1000)),
    (1e20, "nanoseconds", Scale::Per(1_000_000)),
];

#[derive(Debug, Clone, Copy)]
enum Scale {
    /// Milliseconds = value × n.
    Times(i64),
    /// Milliseconds = value ÷ n.
    Per(i64),
}

/// The event time of a number of seconds, milliseconds, microseconds or
/// nanoseconds since the epoch, the unit chosen by magnitude (see the [module
/// docs](self)); an error when it is not finite or falls outside the accepted
/// range.
///
/// This is the numeric-timestamp rule of every JSON input (the `json` and
/// `openstack` parsers, HTTP ingest).
pub(crate) fn event_time_from_number(n: EpochNumber) -> Result<DateTime, String> {
    let magnitude = match n {
        EpochNumber::Int(i) => i as f64,
        EpochNumber::Float(f) => f,
    };
    let shown = match n {
        EpochNumber::Int(i) => i.to_string(),
        EpochNumber::Float(f) => f.to_string(),
    };
    if !magnitude.is_finite() {
        return Err(format!(
            "{shown} is not a time: expected a finite number of seconds, milliseconds, microseconds or nanoseconds since 1970-01-01T00:00:00Z"
        ));
    }
    if magnitude < 0.0 {
        return Err(format!(
            "{shown} is before 1970-01-01T00:00:00Z: event times must lie from {RANGE}"
        ));
    }
    let Some(&(_, unit, scale)) = UNITS.iter().find(|(below, _, _)| magnitude < *below) else {
        return Err(format!(
            "{shown} is too large for a time in nanoseconds since the epoch: event times must lie from {RANGE}"
        ));
    };
    // Not negative (checked above): integer division truncates.
    let millis = match (n, scale) {
        (EpochNumber::Int(i), Scale::Times(k)) => i.saturating_mul(k),
        (EpochNumber::Int(i), Scale::Per(k)) => i / k,
        (EpochNumber::Float(f), scale) => {
            let micros = match scale {
                Scale::Times(k) => f * (k * 1000) as f64,
                Scale::Per(k) => f * 1000.0 / k as f64,
            }
            .round();
            (micros / 1000.0).floor() as i64
        }
    };
    in_range(millis).map_err(|()| {
        format!("{shown}, read as {unit} since the epoch, is outside the accepted range {RANGE}")
    })
}

/// The event time of an RFC 3339 string (or `YYYY-MM-DD hh:mm:ss[.f]`, taken
/// as UTC), within the accepted range.
pub(crate) fn event_time_from_str(s: &str) -> Result<DateTime, String> {
    let mut pos = 0;
    let ts = rfc3339(s, &mut pos, true, true).map_err(|e| {
        format!("{s:?} is not an RFC 3339 date-time (e.g. 2026-03-01T09:00:00Z): {e}")
    })?;
    if pos != s.len() {
        return Err(format!(
            "{s:?} is not an RFC 3339 date-time: unexpected text after the time at column {}",
            pos + 1
        ));
    }
    in_range(ts.timestamp_millis())
        .map_err(|()| format!("{s:?} is outside the accepted range {RANGE}"))
}

/// The event time of a JSON value: a string or a number, as the [module
/// docs](self) say. This is the function HTTP ingest and the JSON parsers call.
pub(crate) fn event_time_of_json(value: &Value) -> Result<DateTime, String> {
    match value {
        Value::String(s) => event_time_from_str(s),
        Value::Number(n) => event_time_from_number(match n.as_i64() {
            Some(i) => EpochNumber::Int(i),
            None => EpochNumber::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        other => Err(not_a_time(match other {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            _ => "an object",
        })),
    }
}

/// The event time of a BSON value converted from JSON (see
/// [`event_time_of_json`]).
pub(crate) fn event_time_of_bson(value: &Bson) -> Result<DateTime, String> {
    match value {
        Bson::String(s) => event_time_from_str(s),
        Bson::Int32(i) => event_time_from_number(EpochNumber::Int(i64::from(*i))),
        Bson::Int64(i) => event_time_from_number(EpochNumber::Int(*i)),
        Bson::Double(f) => event_time_from_number(EpochNumber::Float(*f)),
        Bson::Null => Err(not_a_time("null")),
        Bson::Boolean(_) => Err(not_a_time("a boolean")),
        Bson::Array(_) => Err(not_a_time("an array")),
        _ => Err(not_a_time("an object")),
    }
}

fn not_a_time(found: &str) -> String {
    format!(
        "expected an RFC 3339 date-time string or a number of seconds (or milliseconds, microseconds, nanoseconds) since the epoch, found {found}"
    )
}

fn in_range(millis: i64) -> Result<DateTime, ()> {
    if (EARLIEST..END).contains(&millis) {
        Ok(DateTime::from_millis(millis))
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(n: EpochNumber) -> Result<i64, String> {
        event_time_from_number(n).map(|t| t.timestamp_millis())
    }

    #[test]
    fn units_by_magnitude() {
        let want = 1_714_564_800_500;
        assert_eq!(millis(EpochNumber::Float(1_714_564_800.5)), Ok(want));
        assert_eq!(millis(EpochNumber::Int(1_714_564_800)), Ok(want - 500));
        assert_eq!(millis(EpochNumber::Int(1_714_564_800_500)), Ok(want));
        assert_eq!(millis(EpochNumber::Int(1_714_564_800_500_123)), Ok(want));
        assert_eq!(
            millis(EpochNumber::Int(1_714_564_800_500_123_456)),
            Ok(want)
        );
        assert_eq!(millis(EpochNumber::Float(1.7145648005e12)), Ok(want));
        assert_eq!(millis(EpochNumber::Int(0)), Ok(0));
    }

    #[test]
    fn sub_milliseconds_are_truncated_as_in_strings() {
        let want = 1_714_564_800_123;
        for n in [
            EpochNumber::Float(1_714_564_800.123),
            EpochNumber::Float(1_714_564_800.123_999),
            EpochNumber::Float(1_714_564_800_123.9),
            EpochNumber::Int(1_714_564_800_123_999),
            EpochNumber::Float(1_714_564_800_123_999.0),
            EpochNumber::Int(1_714_564_800_123_999_999),
        ] {
            assert_eq!(millis(n), Ok(want), "{n:?}");
        }
        for s in ["2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123999999Z"] {
            let t = event_time_from_str(s).map(|t| t.timestamp_millis());
            assert_eq!(t, Ok(want), "{s}");
        }
    }

    #[test]
    fn out_of_range() {
        for bad in [
            EpochNumber::Int(-1),
            EpochNumber::Int(99_999_999_999),
            EpochNumber::Float(1e20),
            EpochNumber::Float(f64::NAN),
            EpochNumber::Float(f64::INFINITY),
            EpochNumber::Int(i64::MAX),
        ] {
            assert!(millis(bad).is_err(), "{bad:?}");
        }
        let err = millis(EpochNumber::Int(50_000_000_000)).unwrap_err();
        assert!(err.contains("read as seconds"), "{err}");
        assert!(event_time_from_str("0001-01-01T00:00:00Z").is_err());
        assert!(event_time_from_str("2200-01-01T00:00:00Z").is_err());
        assert_eq!(
            event_time_from_str("2199-12-31T23:59:59.999Z").map(|t| t.timestamp_millis()),
            Ok(END - 1)
        );
        assert!(event_time_from_str("2026-03-01T09:00:00Zjunk").is_err());
    }
}
