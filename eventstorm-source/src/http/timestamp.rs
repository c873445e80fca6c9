//! The event time of an HTTP item: one rule for numbers, one range for all.
//!
//! A number is read by its magnitude (its unit cannot be told otherwise):
//!
//! | value `n` | unit |
//! |---|---|
//! | below 10^11 | seconds (up to year 5138) |
//! | 10^11 to below 10^14 | milliseconds |
//! | 10^14 to below 10^17 | microseconds |
//! | 10^17 to below 10^20 | nanoseconds |
//!
//! So `1714564800`, `1714564800.5`, `1714564800500`, `1714564800500000` and
//! `1714564800500000000` are all 2024-05-01T12:00:00(.5)Z. Milliseconds
//! before 1973-03-03 (below 10^11) would be read as seconds: not a date an
//! event carries. Finer than milliseconds is truncated (BSON dates hold
//! milliseconds). Every time, a number or a string, must fall between
//! [`MIN_MILLIS`] (1970-01-01T00:00:00Z) and [`MAX_MILLIS`]
//! (9999-12-31T23:59:59.999Z); negative numbers are out of range.

use bson::DateTime;
use serde_json::{Number, Value};

/// The earliest accepted time: 1970-01-01T00:00:00Z.
pub(crate) const MIN_MILLIS: i64 = 0;
/// The latest accepted time: 9999-12-31T23:59:59.999Z.
pub(crate) const MAX_MILLIS: i64 = 253_402_300_799_999;

/// How the rule reads a number, for error messages.
const RULE: &str = "a number below 1e11 is seconds, below 1e14 milliseconds, below 1e17 \
                    microseconds, below 1e20 nanoseconds since 1970-01-01T00:00:00Z";

/// The event time of a `ts` value: a number (see the module docs) or a
/// string (RFC 3339, or `YYYY-MM-DD hh:mm:ss[.f]` taken as UTC), within range.
pub(crate) fn event_time(value: &Value) -> Result<DateTime, String> {
    let millis = match value {
        Value::Number(n) => number_millis(n)?,
        Value::String(s) => crate::parse::json::timestamp(value)
            .ok_or_else(|| {
                format!("`ts` {s:?} is not a date-time: expected RFC 3339 such as 2026-03-01T09:00:00Z, or a number ({RULE})")
            })?
            .timestamp_millis(),
        other => {
            return Err(format!(
                "`ts` must be an RFC 3339 string or a number ({RULE}), got {other}"
            ));
        }
    };
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
        return Err(format!(
            "`ts` {value} is out of range: expected 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z ({RULE})"
        ));
    }
    Ok(DateTime::from_millis(millis))
}

/// Milliseconds since the epoch for a number, by magnitude; out-of-range
/// values give a value outside [`MIN_MILLIS`]..=[`MAX_MILLIS`] or an error.
pub(crate) fn number_millis(n: &Number) -> Result<i64, String> {
    let out_of_range = || {
        format!(
            "`ts` {n} is out of range: expected 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z ({RULE})"
        )
    };
    if let Some(u) = n.as_u64() {
        let u = u128::from(u);
        let millis = match u {
            0..100_000_000_000 => u * 1000,
            100_000_000_000..100_000_000_000_000 => u,
            100_000_000_000_000..100_000_000_000_000_000 => u / 1000,
            _ => u / 1_000_000,
        };
        return i64::try_from(millis).map_err(|_| out_of_range());
    }
    if n.is_i64() {
        return Err(out_of_range()); // a negative integer
    }
    let x = n
        .as_f64()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(out_of_range)?;
    let millis = if x < 1e11 {
        x * 1e3
    } else if x < 1e14 {
        x
    } else if x < 1e17 {
        x / 1e3
    } else if x < 1e20 {
        x / 1e6
    } else {
        return Err(out_of_range());
    };
    Ok(millis.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> Result<i64, String> {
        event_time(&serde_json::from_str(text).expect("json")).map(|t| t.timestamp_millis())
    }

    #[test]
    fn every_unit_gives_the_same_time() {
        for text in [
            "1714564800.5",
            "1714564800500",
            "1714564800500.0",
            "1714564800500000",
            "1714564800500000000",
            "\"2024-05-01T12:00:00.5Z\"",
        ] {
            assert_eq!(millis(text), Ok(1_714_564_800_500), "{text}");
        }
        assert_eq!(millis("1714564800"), Ok(1_714_564_800_000));
        assert_eq!(millis("0"), Ok(0));
    }

    #[test]
    fn out_of_range_is_an_error_that_says_the_rule() {
        for text in [
            "-1",
            "-0.5",
            "1e20",
            "1e300",
            "\"0001-01-01T00:00:00Z\"",
            "true",
        ] {
            let err = millis(text).expect_err(text);
            assert!(err.contains("1e11"), "{text}: {err}");
        }
        assert!(millis("\"yesterday\"").is_err());
    }
}
