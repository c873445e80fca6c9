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
    let mut found: Option<usize> = None;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    let root = table.get_ref();
    for segment in segments {
        let next = match (segment, current.map(Spanned::get_ref)) {
            (Segment::Key(k), None) => {
                root.iter()
                    .find(|(key, _)| key.get_ref() == k)
                    .map(|(key, v)| {
                        found = Some(key.span().start);
                        v
                    })
            }
            (Segment::Key(k), Some(DeValue::Table(t))) => t
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(key, v)| {
                    found = Some(key.span().start);
                    v
                }),
            (Segment::Index(i), Some(DeValue::Array(a))) => a.get(i),
            _ => None,
        };
        let Some(next) = next else { break };
        // Array-of-tables items span only their header; a value's own span
        // is the better position for everything else.
        if !matches!(next.get_ref(), DeValue::Table(_)) {
            found = Some(next.span().start);
        }
        current = Some(next);
    }
    found
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}
