//! Finding keys in TOML text, so that configuration errors name the line,
//! the column and the key.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The dotted key path (`rules[1].transform.sample`) of the deepest key or
/// value whose span contains `offset`.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let table = DeTable::parse(text).ok()?;
    let mut best: Option<(usize, String)> = None;
    walk_table(table.get_ref(), String::new(), offset, &mut best);
    best.map(|(_, path)| path)
}

fn consider(
    span: std::ops::Range<usize>,
    offset: usize,
    path: &str,
    best: &mut Option<(usize, String)>,
) {
    if span.contains(&offset) || (span.is_empty() && span.start == offset) {
        let len = span.len();
        if best.as_ref().is_none_or(|(l, _)| len <= *l) {
            *best = Some((len, path.to_string()));
        }
    }
}

fn walk_table(
    table: &DeTable<'_>,
    prefix: String,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        consider(key.span(), offset, &path, best);
        walk_value(value, path, offset, best);
    }
}

fn walk_value(
    value: &Spanned<DeValue<'_>>,
    path: String,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    match value.get_ref() {
        DeValue::Table(table) => walk_table(table, path, offset, best),
        DeValue::Array(array) => {
            consider(value.span(), offset, &path, best);
            for (i, item) in array.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                consider(item.span(), offset, &item_path, best);
                walk_value(item, item_path, offset, best);
            }
        }
        _ => consider(value.span(), offset, &path, best),
    }
}

/// The byte offset of the value at a dotted key path such as
/// `rules[2].outputs[1]`, or of the nearest enclosing key that exists.
pub fn offset_of(text: &str, path: &str) -> Option<usize> {
    let table = DeTable::parse(text).ok()?;
    follow(table.get_ref(), path).1
}

/// Follows a dotted key path from the root as far as it exists. Returns the
/// value at its end (`None` when some segment is missing) and the offset
/// [`offset_of`] reports: the last key found, or the last value found that
/// is not a table (array-of-tables items span only their header; a value's
/// own span is the better position for everything else).
fn follow<'t, 'a>(
    root: &'t DeTable<'a>,
    path: &str,
) -> (Option<&'t Spanned<DeValue<'a>>>, Option<usize>) {
    let mut found: Option<usize> = None;
    let mut current: Option<&'t Spanned<DeValue<'a>>> = None;
    for segment in segments(path) {
        let table = match current.map(Spanned::get_ref) {
            None => Some(root),
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        };
        let next = match (segment, table, current.map(Spanned::get_ref)) {
            (Segment::Key(k), Some(t), _) => {
                t.iter()
                    .find(|(key, _)| key.get_ref() == k)
                    .map(|(key, v)| {
                        found = Some(key.span().start);
                        v
                    })
            }
            (Segment::Index(i), _, Some(DeValue::Array(a))) => a.get(i),
            _ => None,
        };
        let Some(next) = next else {
            return (None, found);
        };
        if !matches!(next.get_ref(), DeValue::Table(_)) {
            found = Some(next.span().start);
        }
        current = Some(next);
    }
    (current, found)
}

/// The segments of a dotted key path: `rules[2].outputs` is `rules`, `2`,
/// `outputs`.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        segments.push(Segment::Key(name));
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse::<usize>() {
                segments.push(Segment::Index(i));
            }
        }
    }
    segments
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Inside the table at `table_path` (its own keys, and those of tables
/// nested in it), the key whose value serde would describe as `unexpected`
/// (`string "lots"`, ``integer `5` ``, ``boolean `true` ``, ``floating point
/// `1.5` ``), when exactly one key has it: its dotted path and the offset of
/// its value.
///
/// A table deserialized as a whole (one with flattened parts) reports a
/// wrong-typed value at the table, not at its key: this finds the key again.
pub(super) fn key_with_value(
    text: &str,
    table_path: &str,
    unexpected: &str,
) -> Option<(String, usize)> {
    let root = DeTable::parse(text).ok()?;
    let (current, _) = follow(root.get_ref(), table_path);
    let DeValue::Table(table) = current?.get_ref() else {
        return None;
    };
    let mut found = Vec::new();
    matching_keys(table, table_path, unexpected, 1, &mut found);
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn matching_keys(
    table: &DeTable<'_>,
    prefix: &str,
    unexpected: &str,
    depth: usize,
    found: &mut Vec<(String, usize)>,
) {
    for (key, value) in table {
        let path = format!("{prefix}.{}", key.get_ref());
        match value.get_ref() {
            DeValue::Table(inner) if depth > 0 => {
                matching_keys(inner, &path, unexpected, depth - 1, found);
            }
            other if described(other).as_deref() == Some(unexpected) => {
                found.push((path, value.span().start));
            }
            _ => {}
        }
    }
}

/// How serde's `Unexpected` describes a scalar value.
fn described(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(format!("string {s:?}")),
        DeValue::Integer(i) => Some(format!("integer `{i}`")),
        DeValue::Boolean(b) => Some(format!("boolean `{b}`")),
        DeValue::Float(f) => Some(format!("floating point `{f}`")),
        _ => None,
    }
}
