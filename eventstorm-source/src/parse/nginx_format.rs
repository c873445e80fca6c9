//! Compiling an nginx `log_format` string into segments (see [`super::nginx`]).

use super::error::{ConfigError, column_of};

/// How a variable's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Float,
    IntOrStr,
    FloatOrStr,
    Request,
    TimeLocal,
    TimeIso8601,
    Msec,
}

impl Kind {
    /// The kind of the variable `$name`.
    pub(crate) fn of(name: &str) -> Kind {
        match name {
            "request" => Kind::Request,
            "time_local" => Kind::TimeLocal,
            "time_iso8601" => Kind::TimeIso8601,
            "msec" => Kind::Msec,
            "status"
            | "body_bytes_sent"
            | "bytes_sent"
            | "request_length"
            | "connection"
            | "connection_requests"
            | "remote_port"
            | "server_port"
            | "content_length"
            | "pid" => Kind::Int,
            "request_time" | "gzip_ratio" => Kind::Float,
            n if n.starts_with("upstream_") && n.ends_with("_time") => Kind::FloatOrStr,
            "upstream_status" | "upstream_response_length" => Kind::IntOrStr,
            n if n.starts_with("upstream_bytes_") => Kind::IntOrStr,
            _ => Kind::Str,
        }
    }
}

/// A piece of a compiled format: literal text, or a variable (its field name
/// and kind).
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Literal(Box<str>),
    Var { name: Box<str>, kind: Kind },
}

/// Compiles a format string (bare, or nginx-config quoted strings) into segments.
pub(crate) fn compile(format: &str) -> Result<Vec<Segment>, ConfigError> {
    let (text, origin) = unquote(format)?;
    let bad = |at: usize, message: String| ConfigError::LogFormat {
        column: column_of(format, origin.get(at).copied().unwrap_or(format.len())),
        message,
    };
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let (name_start, name_end, next) = if bytes.get(i + 1) == Some(&b'{') {
            let end = text[i + 2..]
                .find('}')
                .map(|e| i + 2 + e)
                .ok_or_else(|| bad(i, "unterminated ${...}: expected '}'".into()))?;
            (i + 2, end, end + 1)
        } else {
            let len = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            (i + 1, i + 1 + len, i + 1 + len)
        };
        let name = &text[name_start..name_end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad(
                i,
                "expected a variable name ([A-Za-z0-9_]) after '$'".into(),
            ));
        }
        if literal_start < i {
            segments.push(Segment::Literal(text[literal_start..i].into()));
        } else if let Some(Segment::Var { name: prev, .. }) = segments.last() {
            return Err(bad(
                i,
                format!(
                    "${name} directly follows ${prev}: expected literal text between variables"
                ),
            ));
        }
        segments.push(Segment::Var {
            name: name.into(),
            kind: Kind::of(name),
        });
        i = next;
        literal_start = next;
    }
    if literal_start < text.len() {
        segments.push(Segment::Literal(text[literal_start..].into()));
    }
    if !segments.iter().any(|s| matches!(s, Segment::Var { .. })) {
        return Err(bad(0, "expected at least one $variable".into()));
    }
    Ok(segments)
}

/// Joins nginx-config quoted strings (`'a' "b"`) into one, undoing `\` escapes;
/// a format that does not start with a quote is returned as is. Also returns,
/// for each byte of the result, its byte offset in `format`.
fn unquote(format: &str) -> Result<(String, Vec<usize>), ConfigError> {
    let start = format.len() - format.trim_start().len();
    let bytes = format.as_bytes();
    if !matches!(bytes.get(start), Some(b'\'' | b'"')) {
        return Ok((format.to_string(), (0..format.len()).collect()));
    }
    let mut out = String::new();
    let mut origin = Vec::new();
    let mut iter = format
        .char_indices()
        .skip_while(|(_, c)| c.is_whitespace())
        .peekable();
    while let Some((at, quote)) = iter.next() {
        if quote.is_whitespace() {
            continue;
        }
        if quote != '\'' && quote != '"' {
            return Err(ConfigError::LogFormat {
                column: super::error::column_of(format, at),
                message: format!("expected a quoted string, found {quote:?}"),
            });
        }
        let mut closed = false;
        while let Some((at, c)) = iter.next() {
            let c = match c {
                c if c == quote => {
                    closed = true;
                    break;
                }
                '\\' => match iter.next() {
                    Some((_, 't')) => '\t',
                    Some((_, 'n')) => '\n',
                    Some((_, 'r')) => '\r',
                    Some((_, other)) => other,
                    None => break,
                },
                c => c,
            };
            origin.extend(std::iter::repeat_n(at, c.len_utf8()));
            out.push(c);
        }
        if !closed {
            return Err(ConfigError::LogFormat {
                column: super::error::column_of(format, format.len()),
                message: format!("unterminated string: expected closing {quote:?}"),
            });
        }
    }
    Ok((out, origin))
}
