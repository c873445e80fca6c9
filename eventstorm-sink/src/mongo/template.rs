//! Collection names: a fixed name or a template with placeholders.

use std::fmt::Write as _;

use eventstorm_core::RawEventRef;

/// A parsed collection name template, e.g. `events_{type_prefix}`.
///
/// Placeholders:
///
/// | placeholder     | replaced by                                                        |
/// |-----------------|--------------------------------------------------------------------|
/// | `{type_prefix}` | the event type up to its first dot (`compute` for `compute.instance.create.end`) |
/// | `{tenant}`      | the event's tenant, or `default_tenant` when it has none            |
/// | `{day}`         | the UTC day of the event's `ts`, as `YYYYMMDD`                      |
///
/// Values are sanitized: any character other than ASCII letters, digits, `_` and
/// `-` becomes `_`, so a value can never produce `$`, a dot-separated
/// namespace trick or an empty name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CollectionTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    TypePrefix,
    Tenant,
    Day,
}

impl CollectionTemplate {
    /// Parses `template`; the error says what is wrong.
    pub(crate) fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in collection template {template:?}"))?;
            parts.push(match &after[..close] {
                "type_prefix" => Part::TypePrefix,
                "tenant" => Part::Tenant,
                "day" => Part::Day,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{other}}} in collection template {template:?}: \
                         expected {{type_prefix}}, {{tenant}} or {{day}}"
                    ));
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let literal: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Literal(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            return Err("collection name is empty".into());
        }
        if literal.contains(['$', '\0', '}']) {
            return Err(format!(
                "collection template {template:?} contains `$`, `}}` or NUL, which MongoDB collection names cannot hold"
            ));
        }
        if let Some(Part::Literal(first)) = parts.first()
            && first.starts_with("system.")
        {
            return Err(format!(
                "collection template {template:?} starts with `system.`, which MongoDB reserves"
            ));
        }
        Ok(CollectionTemplate { parts })
    }

    /// The name when the template has no placeholders.
    pub(crate) fn fixed(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Literal(name)] => Some(name),
            _ => None,
        }
    }

    /// Writes the collection name for `event` into `out` (cleared first).
    pub(crate) fn render(&self, event: RawEventRef<'_>, default_tenant: &str, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::TypePrefix => {
                    let t = event.event_type();
                    push_sanitized(out, t.split('.').next().unwrap_or(t));
                }
                Part::Tenant => push_sanitized(out, event.tenant().unwrap_or(default_tenant)),
                Part::Day => {
                    let (y, m, d) = civil_day(event.timestamp().timestamp_millis());
                    let _ = write!(out, "{y:04}{m:02}{d:02}");
                }
            }
        }
    }

    /// Whether `name` could have been produced by this template, with
    /// `type_prefix` and `tenant` fixed to the given (unsanitized) values when
    /// known.
    pub(crate) fn matches(
        &self,
        name: &str,
        type_prefix: Option<&str>,
        tenant: Option<&str>,
    ) -> bool {
        match_parts(&self.parts, name, type_prefix, tenant)
    }
}

fn match_parts(
    parts: &[Part],
    name: &str,
    type_prefix: Option<&str>,
    tenant: Option<&str>,
) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return name.is_empty();
    };
    let known = match first {
        Part::Literal(s) => Some(s.clone()),
        Part::TypePrefix => type_prefix.map(sanitized),
        Part::Tenant => tenant.map(sanitized),
        Part::Day => None,
    };
    if let Some(value) = known {
        return name
            .strip_prefix(value.as_str())
            .is_some_and(|tail| match_parts(rest, tail, type_prefix, tenant));
    }
    // An unknown placeholder value: one or more sanitized characters
    // (`{day}`: exactly eight digits).
    let valid = |c: char| match first {
        Part::Day => c.is_ascii_digit(),
        _ => c.is_ascii_alphanumeric() || c == '_' || c == '-',
    };
    let run = name
        .char_indices()
        .find(|(_, c)| !valid(*c))
        .map_or(name.len(), |(i, _)| i);
    if matches!(first, Part::Day) {
        return run >= 8 && match_parts(rest, &name[8..], type_prefix, tenant);
    }
    (1..=run).any(|end| match_parts(rest, &name[end..], type_prefix, tenant))
}

fn sanitized(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_sanitized(&mut out, value);
    out
}

fn push_sanitized(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('_');
    }
    out.extend(value.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    }));
}

/// The UTC (year, month, day) of a Unix time in milliseconds (proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_day(millis: i64) -> (i64, u32, u32) {
    let days = millis.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstorm_core::{Event, RawEvent};

    fn render(template: &str, event: &Event) -> String {
        let raw = RawEvent::from_event(event).expect("valid event");
        let mut out = String::new();
        CollectionTemplate::parse(template)
            .expect("valid template")
            .render(raw.view(), "none", &mut out);
        out
    }

    #[test]
    fn renders_placeholders() {
        let ts = bson::DateTime::from_millis(1_700_000_000_000); // 2023-11-14
        let event = Event::builder("compute.instance.create.end")
            .tenant("acme/eu")
            .timestamp(ts)
            .build();
        assert_eq!(render("events", &event), "events");
        assert_eq!(render("events_{type_prefix}", &event), "events_compute");
        assert_eq!(render("{tenant}_events", &event), "acme_eu_events");
        assert_eq!(render("events_{day}", &event), "events_20231114");
        let untenanted = Event::builder("volume").timestamp(ts).build();
        assert_eq!(render("{tenant}_{type_prefix}", &untenanted), "none_volume");
    }

    #[test]
    fn civil_days() {
        assert_eq!(civil_day(0), (1970, 1, 1));
        assert_eq!(civil_day(-1), (1969, 12, 31));
        assert_eq!(civil_day(951_782_400_000), (2000, 2, 29));
        assert_eq!(civil_day(4_102_444_800_000), (2100, 1, 1));
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(CollectionTemplate::parse("events_{typ}").is_err());
        assert!(CollectionTemplate::parse("events_{day").is_err());
        assert!(CollectionTemplate::parse("").is_err());
        assert!(CollectionTemplate::parse("ev$nts").is_err());
        assert!(CollectionTemplate::parse("system.events").is_err());
    }

    #[test]
    fn matches_names() {
        let t = CollectionTemplate::parse("{tenant}_events_{day}").expect("valid");
        assert!(t.matches("acme_events_20240101", None, None));
        assert!(t.matches("acme_events_20240101", None, Some("acme")));
        assert!(!t.matches("acme_events_20240101", None, Some("other")));
        assert!(!t.matches("acme_events_2024", None, None));
        assert!(!t.matches("events", None, None));
        let fixed = CollectionTemplate::parse("events").expect("valid");
        assert_eq!(fixed.fixed(), Some("events"));
        assert!(fixed.matches("events", None, None));
        assert!(!fixed.matches("events2", None, None));
    }
}
