//! Syslog severities (RFC 5424), as Metlog used them.

use std::fmt;
use std::str::FromStr;

/// A syslog severity, 0 (emergency) to 7 (debug). Lower is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum Severity {
    /// 0: the system is unusable.
    Emergency = 0,
    /// 1: action must be taken immediately.
    Alert = 1,
    /// 2: critical conditions.
    Critical = 2,
    /// 3: error conditions.
    Error = 3,
    /// 4: warning conditions.
    Warning = 4,
    /// 5: normal but significant condition.
    Notice = 5,
    /// 6: informational messages (the default).
    #[default]
    Informational = 6,
    /// 7: debug-level messages.
    Debug = 7,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Informational,
        Severity::Debug,
    ];

    /// The severity with this numeric code, if it is 0-7.
    pub fn from_code(code: i64) -> Option<Severity> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Severity::ALL.get(i).copied())
    }

    /// The numeric code, 0-7.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The lower-case keyword (`emerg`, `alert`, `crit`, `err`, `warning`,
    /// `notice`, `info`, `debug`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "crit",
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
            Severity::Debug => "debug",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Severity`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown severity {0:?}: expected 0-7 or one of emerg, alert, crit, err, warning, notice, info, debug"
)]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let sev = match lower.as_str() {
            "0" | "emerg" | "emergency" | "panic" => Severity::Emergency,
            "1" | "alert" => Severity::Alert,
            "2" | "crit" | "critical" => Severity::Critical,
            "3" | "err" | "error" => Severity::Error,
            "4" | "warning" | "warn" => Severity::Warning,
            "5" | "notice" => Severity::Notice,
            "6" | "info" | "informational" => Severity::Informational,
            "7" | "debug" => Severity::Debug,
            _ => return Err(ParseSeverityError(s.to_string())),
        };
        Ok(sev)
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Severity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a severity: 0-7 or a name such as \"info\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Severity, E> {
                Severity::from_code(v).ok_or_else(|| E::custom(format!("severity {v} is not 0-7")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Severity, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Severity, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
