//! Calendar arithmetic and the timestamp formats shared by the parsers.

use bson::DateTime;

use super::error::ParseError;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a UTC instant in milliseconds since the epoch.
pub(crate) fn year_of(millis: i64) -> i64 {
    let days = millis.div_euclid(86_400_000);
    // civil_from_days, year only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The month number (1-12) of an English three-letter abbreviation (`Jan`).
pub(crate) fn month_from_abbrev(abbrev: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(abbrev))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A broken-down date and time, validated before conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) millis: u32,
    /// Offset east of UTC, in minutes.
    pub(crate) offset_minutes: i64,
}

impl Civil {
    /// The UTC instant, or an error naming the bad component. `at` is the byte
    /// offset of the timestamp in `line`, for the error column.
    pub(crate) fn to_datetime(self, line: &str, at: usize) -> Result<DateTime, ParseError> {
        if !(1..=12).contains(&self.month) {
            return Err(ParseError::invalid(
                line,
                at,
                format!("month {} is not 1-12", self.month),
            ));
        }
        let max_day = days_in_month(self.year, self.month);
        if self.day == 0 || self.day > max_day {
            return Err(ParseError::invalid(
                line,
                at,
                format!(
                    "day {} is not 1-{max_day} for month {}",
                    self.day, self.month
                ),
            ));
        }
        // 60 is allowed for leap seconds.
        if self.hour > 23 || self.minute > 59 || self.second > 60 {
            return Err(ParseError::invalid(
                line,
                at,
                format!(
                    "time {:02}:{:02}:{:02} is not a valid time of day",
                    self.hour, self.minute, self.second
                ),
            ));
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - self.offset_minutes * 60;
        Ok(DateTime::from_millis(secs * 1000 + i64::from(self.millis)))
    }
}

/// Reads exactly `n` ASCII digits at `*pos`, advancing it.
pub(crate) fn digits(line: &str, pos: &mut usize, n: usize, what: &str) -> Result<u32, ParseError> {
    let bytes = line.as_bytes();
    let mut value = 0u32;
    for i in 0..n {
        match bytes.get(*pos + i) {
            Some(b) if b.is_ascii_digit() => value = value * 10 + u32::from(b - b'0'),
            _ => {
                return Err(ParseError::expected(
                    line,
                    *pos + i,
                    format!("{n} digits of the {what}"),
                ));
            }
        }
    }
    *pos += n;
    Ok(value)
}

/// Expects byte `b` at `*pos`, advancing past it.
pub(crate) fn expect_byte(
    line: &str,
    pos: &mut usize,
    b: u8,
    what: &str,
) -> Result<(), ParseError> {
    if line.as_bytes().get(*pos) == Some(&b) {
        *pos += 1;
        Ok(())
    } else {
        Err(ParseError::expected(
            line,
            *pos,
            format!("{:?} {what}", char::from(b)),
        ))
    }
}

/// Reads optional fractional seconds (`.` or `,` then 1-9 digits) at `*pos`,
/// returning milliseconds (truncated).
pub(crate) fn fraction_millis(line: &str, pos: &mut usize) -> Result<u32, ParseError> {
    let bytes = line.as_bytes();
    if !matches!(bytes.get(*pos), Some(b'.' | b',')) {
        return Ok(0);
    }
    *pos += 1;
    let start = *pos;
    let mut millis = 0u32;
    while let Some(b) = bytes.get(*pos).filter(|b| b.is_ascii_digit()) {
        if *pos - start < 3 {
            millis = millis * 10 + u32::from(b - b'0');
        }
        *pos += 1;
    }
    let n = *pos - start;
    if n == 0 || n > 9 {
        return Err(ParseError::expected(
            line,
            start,
            "1 to 9 digits of fractional seconds",
        ));
    }
    for _ in n..3 {
        millis *= 10;
    }
    Ok(millis)
}

/// Parses an RFC 3339 / ISO 8601 timestamp at `*pos`: `YYYY-MM-DD`, `T` (or `t`,
/// or a space when `allow_space`), `hh:mm:ss`, optional fraction, and an offset
/// `Z` or `±hh:mm` (`±hhmm` too). A missing offset means UTC only when
/// `offset_optional`.
pub(crate) fn rfc3339(
    line: &str,
    pos: &mut usize,
    allow_space: bool,
    offset_optional: bool,
) -> Result<DateTime, ParseError> {
    let start = *pos;
    let year = digits(line, pos, 4, "year")?;
    expect_byte(line, pos, b'-', "after the year")?;
    let month = digits(line, pos, 2, "month")?;
    expect_byte(line, pos, b'-', "after the month")?;
    let day = digits(line, pos, 2, "day")?;
    match line.as_bytes().get(*pos) {
        Some(b'T' | b't') => *pos += 1,
        Some(b' ') if allow_space => *pos += 1,
        _ => {
            return Err(ParseError::expected(
                line,
                *pos,
                "'T' between date and time",
            ));
        }
    }
    let hour = digits(line, pos, 2, "hour")?;
    expect_byte(line, pos, b':', "after the hour")?;
    let minute = digits(line, pos, 2, "minute")?;
    expect_byte(line, pos, b':', "after the minute")?;
    let second = digits(line, pos, 2, "second")?;
    let millis = fraction_millis(line, pos)?;
    let offset_minutes = match line.as_bytes().get(*pos) {
        Some(b'Z' | b'z') => {
            *pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            *pos += 1;
            let h = digits(line, pos, 2, "offset hours")?;
            if line.as_bytes().get(*pos) == Some(&b':') {
                *pos += 1;
            }
            let m = digits(line, pos, 2, "offset minutes")?;
            if h > 23 || m > 59 {
                return Err(ParseError::invalid(
                    line,
                    start,
                    "time zone offset out of range",
                ));
            }
            let total = i64::from(h * 60 + m);
            if sign == b'-' { -total } else { total }
        }
        _ if offset_optional => 0,
        _ => {
            return Err(ParseError::expected(
                line,
                *pos,
                "'Z' or a '+hh:mm' / '-hh:mm' offset",
            ));
        }
    };
    Civil {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        millis,
        offset_minutes,
    }
    .to_datetime(line, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(days_from_civil(2024, 12, 31) * 86_400_000), 2024);
        assert_eq!(year_of(days_from_civil(2025, 1, 1) * 86_400_000), 2025);
    }

    #[test]
    fn rfc3339_offsets() {
        let mut pos = 0;
        let t = rfc3339("2026-03-01T10:00:00.5+01:00", &mut pos, false, false).unwrap();
        let expected = bson::DateTime::parse_rfc3339_str("2026-03-01T09:00:00.500Z").unwrap();
        assert_eq!(t.timestamp_millis(), expected.timestamp_millis());
    }
}
