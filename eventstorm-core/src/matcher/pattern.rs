//! Event type patterns.

use std::fmt;

/// A pattern over event types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypePattern {
    /// `*`: every type.
    Any,
    /// A type with no glob characters: equality.
    Exact(String),
    /// `prefix*` (or `prefix.` with a trailing dot): every type starting with the prefix.
    Prefix(String),
    /// Any other pattern with `*` (any run of characters) and `?` (one character).
    Glob(String),
}

impl TypePattern {
    /// Parses one pattern; the error says what is wrong.
    pub fn parse(pattern: &str) -> Result<TypePattern, String> {
        if pattern == "*" {
            return Ok(TypePattern::Any);
        }
        if pattern.is_empty() {
            return Err("an empty pattern".into());
        }
        if let Some((at, c)) = pattern.char_indices().find(|(_, c)| !is_pattern_char(*c)) {
            return Err(format!("{c:?} at byte {at} of {pattern:?}"));
        }
        let first_glob = pattern.find(['*', '?']);
        Ok(match first_glob {
            None if pattern.ends_with('.') => TypePattern::Prefix(pattern.to_string()),
            None => TypePattern::Exact(pattern.to_string()),
            Some(i) if i == pattern.len() - 1 && pattern.ends_with('*') => {
                TypePattern::Prefix(pattern[..i].to_string())
            }
            Some(_) => TypePattern::Glob(pattern.to_string()),
        })
    }

    /// The literal text every matching type starts with (the ZeroMQ subscription).
    pub fn literal_prefix(&self) -> &str {
        match self {
            TypePattern::Any => "",
            TypePattern::Exact(s) | TypePattern::Prefix(s) => s,
            TypePattern::Glob(g) => &g[..g.find(['*', '?']).unwrap_or(g.len())],
        }
    }

    /// Whether `event_type` matches.
    #[inline]
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            TypePattern::Any => true,
            TypePattern::Exact(s) => event_type == s,
            TypePattern::Prefix(p) => event_type.starts_with(p.as_str()),
            TypePattern::Glob(g) if event_type.is_ascii() => {
                glob_match(g.as_bytes(), event_type.as_bytes(), b'*', b'?')
            }
            // `?` is one character, not one byte (patterns are ASCII).
            TypePattern::Glob(g) => glob_match(
                &g.chars().collect::<Vec<_>>(),
                &event_type.chars().collect::<Vec<_>>(),
                '*',
                '?',
            ),
        }
    }
}

impl fmt::Display for TypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypePattern::Any => f.write_str("*"),
            TypePattern::Exact(s) | TypePattern::Glob(s) => f.write_str(s),
            // `a.*`, not `a.` (which parses the same but reads like an exact type).
            TypePattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// Characters allowed in a pattern: those of an event type, plus `*` and `?`.
pub(crate) fn is_pattern_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '*' | '?')
}

/// Iterative glob matching with single-star backtracking: linear in practice,
/// never exponential.
fn glob_match<T: Copy + PartialEq>(pattern: &[T], text: &[T], any_run: T, any_one: T) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some(&s) if s == any_run => {
                star = Some((p, t));
                p += 1;
            }
            Some(&q) if q == any_one => {
                p += 1;
                t += 1;
            }
            Some(&l) if l == c => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == any_run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_prefixes() {
        assert_eq!(TypePattern::parse("*"), Ok(TypePattern::Any));
        assert_eq!(
            TypePattern::parse("a.b"),
            Ok(TypePattern::Exact("a.b".into()))
        );
        assert_eq!(
            TypePattern::parse("a.*"),
            Ok(TypePattern::Prefix("a.".into()))
        );
        assert_eq!(
            TypePattern::parse("a."),
            Ok(TypePattern::Prefix("a.".into()))
        );
        let glob = TypePattern::parse("compute.*.end").unwrap();
        assert_eq!(glob.literal_prefix(), "compute.");
        assert!(glob.matches("compute.instance.create.end"));
        assert!(!glob.matches("compute.instance.create.start"));
        assert!(TypePattern::parse("a b").is_err());
    }

    #[test]
    fn glob_semantics() {
        let glob = |p: &[u8], t: &[u8]| glob_match(p, t, b'*', b'?');
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"*.end", b"x.y.end"));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        assert!(!glob(b"a*b*c", b"aXbYbZ"));
        assert!(glob(b"**", b""));
    }
}
