//! Collection names: a fixed name or a template with placeholders.

use std::fmt::Write as _;

use eventstorm_core::RawEventRef;

use super::names::{escaped, in_escaped_alphabet, push_escaped};

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
/// Values are escaped (see [`super::names`]): distinct values give distinct
/// names, and a value can never produce `.`, `$` or an empty name. Two
/// placeholders of variable length (`{type_prefix}`, `{tenant}`) must be
/// separated by a literal holding a character that escaped values never
/// contain (`.` for example), or two tenant/type pairs could share a name.
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
        check_separated(template, &parts)?;
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
                    push_escaped(out, t.split('.').next().unwrap_or(t));
                }
                Part::Tenant => push_escaped(out, event.tenant().unwrap_or(default_tenant)),
                Part::Day => {
                    let (y, m, d) = civil_day(event.timestamp().timestamp_millis());
                    let _ = write!(out, "{y:04}{m:02}{d:02}");
                }
            }
        }
    }

    /// Whether `name` could have been produced by this template, with
    /// `type_prefix` and `tenant` fixed to the given (unescaped) values when
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
        Part::TypePrefix => type_prefix.map(escaped),
        Part::Tenant => tenant.map(escaped),
        Part::Day => None,
    };
    if let Some(value) = known {
        return name
            .strip_prefix(value.as_str())
            .is_some_and(|tail| match_parts(rest, tail, type_prefix, tenant));
    }
    // An unknown placeholder value: one or more escaped characters
    // (`{day}`: exactly eight digits).
    let valid = |c: char| match first {
        Part::Day => c.is_ascii_digit(),
        _ => in_escaped_alphabet(c),
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

/// Refuses two variable-length placeholders that only a literal made of
/// escaped-alphabet characters separates (`{tenant}_{type_prefix}`: tenant
/// `a_b` with type `c` and tenant `a` with type `b_c` would share a name).
fn check_separated(template: &str, parts: &[Part]) -> Result<(), String> {
    let mut previous: Option<&Part> = None;
    let mut separated = true;
    for part in parts {
        match part {
            Part::Literal(s) => {
                if !s.chars().all(in_escaped_alphabet) {
                    separated = true;
                }
            }
            Part::Day => {}
            variable => {
                if let Some(previous) = previous
                    && previous != variable
                    && !separated
                {
                    return Err(format!(
                        "collection template {template:?}: {} and {} must be separated by a \
                         character other than letters, digits, `_`, `-` and `%` (for example \
                         `{{tenant}}.{{type_prefix}}`), or different tenant/type pairs could \
                         share a collection",
                        placeholder(previous),
                        placeholder(variable)
                    ));
                }
                previous = Some(variable);
                separated = false;
            }
        }
    }
    Ok(())
}

fn placeholder(part: &Part) -> &'static str {
    match part {
        Part::TypePrefix => "{type_prefix}",
        Part::Tenant => "{tenant}",
        Part::Day => "{day}",
        Part::Literal(_) => "a literal",
    }
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
        assert_eq!(render("{tenant}_events", &event), "acme%2Feu_events");
        assert_eq!(render("events_{day}", &event), "events_20231114");
        let untenanted = Event::builder("volume").timestamp(ts).build();
        assert_eq!(render("{tenant}.{type_prefix}", &untenanted), "none.volume");
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
        for ambiguous in [
            "{tenant}_{type_prefix}",
            "{type_prefix}{tenant}",
            "{tenant}-{day}x{type_prefix}",
        ] {
            let err = CollectionTemplate::parse(ambiguous).expect_err(ambiguous);
            assert!(err.contains("separated"), "{err}");
        }
        for fine in [
            "{tenant}.{type_prefix}",
            "{tenant}_{day}",
            "{tenant}_x_{tenant}",
            "e_{day}_{tenant}",
        ] {
            CollectionTemplate::parse(fine).expect(fine);
        }
    }

    #[test]
    fn matches_names() {
        let t = CollectionTemplate::parse("{tenant}_events_{day}").expect("valid");
        assert!(t.matches("acme_events_20240101", None, None));
        assert!(t.matches("acme_events_20240101", None, Some("acme")));
        assert!(!t.matches("acme_events_20240101", None, Some("other")));
        assert!(!t.matches("acme_events_2024", None, None));
        assert!(!t.matches("events", None, None));
        let t = CollectionTemplate::parse("{tenant}_events").expect("valid");
        assert!(t.matches("acme%2Feu_events", None, Some("acme/eu")));
        assert!(!t.matches("acme_eu_events", None, Some("acme/eu")));
        assert!(t.matches("%C3%BC_events", None, None));
        let fixed = CollectionTemplate::parse("events").expect("valid");
        assert_eq!(fixed.fixed(), Some("events"));
        assert!(fixed.matches("events", None, None));
        assert!(!fixed.matches("events2", None, None));
    }
}
