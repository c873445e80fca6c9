//! Dates in and out: RFC 3339 (any offset, stored as UTC) and Almanach's
//! `%Y-%m-%d %H:%M:%S.%f` (UTC) in; RFC 3339 UTC with milliseconds out.

use bson::DateTime;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2026-03-01T09:02:43.000Z`: RFC 3339, UTC, milliseconds.
pub(crate) fn format(t: DateTime) -> String {
    let ms = t.timestamp_millis();
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// What [`parse`] accepts, for error messages.
pub(crate) const EXPECTED: &str = "an RFC 3339 date (2026-03-01T09:02:43.000Z) or \
     `YYYY-MM-DD hh:mm:ss.ffffff` (UTC)";

/// Reads `YYYY-MM-DD(T| )hh:mm:ss[.f{1,9}][Z|±hh:mm|±hhmm]`; without a zone
/// the time is UTC. Fractions beyond milliseconds are cut.
pub(crate) fn parse(text: &str) -> Option<DateTime> {
    let b = text.trim().as_bytes();
    if b.len() < 19 || b.len() > 40 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(range)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.iter()
            .try_fold(0u32, |n, c| Some(n * 10 + u32::from(c - b'0')))
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0u32;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let digits = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        for (i, c) in b[pos..pos + digits.min(3)].iter().enumerate() {
            millis += u32::from(c - b'0') * 10u32.pow(2 - i as u32);
        }
        pos += digits;
    }
    let offset_secs: i64 = match b.get(pos) {
        None => 0,
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[pos + 1..];
            let (h, m) = match rest.len() {
                5 if rest[2] == b':' => (num(pos + 1..pos + 3)?, num(pos + 4..pos + 6)?),
                4 => (num(pos + 1..pos + 3)?, num(pos + 3..pos + 5)?),
                2 => (num(pos + 1..pos + 3)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset_secs;
    Some(DateTime::from_millis(secs * 1000 + i64::from(millis)))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats_and_writes_milliseconds() {
        let t = parse("2026-03-01 09:02:43.000000").expect("almanach");
        assert_eq!(format(t), "2026-03-01T09:02:43.000Z");
        assert_eq!(parse("2026-03-01T09:02:43.000Z"), Some(t));
        assert_eq!(parse("2026-03-01T10:02:43+01:00"), Some(t));
        assert_eq!(parse("2026-03-01 09:02:43+00:00"), Some(t));
        assert_eq!(parse("2026-03-01 09:02:43"), Some(t));
        let t = parse("2024-02-29 23:59:59.987654").expect("leap day");
        assert_eq!(format(t), "2024-02-29T23:59:59.987Z");
        assert_eq!(
            format(DateTime::from_millis(-1)),
            "1969-12-31T23:59:59.999Z"
        );
        for bad in [
            "",
            "2026-02-30 00:00:00",
            "2026-13-01 00:00:00",
            "2026-03-01",
            "2026-03-01 24:00:00",
            "2026-03-01T09:02:43.Z",
            "2026-03-01T09:02:43Zjunk",
            "yesterday at noon and a bit",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
