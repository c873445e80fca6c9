//! `${VAR}` and `${VAR:-default}` in configuration files, expanded before
//! the TOML is parsed.
//!
//! The rules, the same for every binary's configuration:
//!
//! - `${NAME}` is the value of the environment variable `NAME` (letters,
//!   digits and `_`, not starting with a digit); unset, it is an error that
//!   names the variable and the line.
//! - `${NAME:-default}` is the default when `NAME` is unset or empty. The
//!   default is plain text up to the closing `}`; it may not contain `}` or
//!   another `${`.
//! - `$${` is a literal `${`; a `$` not followed by `{` is itself.
//! - Inside a TOML basic string (`"..."`), the value is taken as text: `"`
//!   and `\` in it are escaped. Inside a literal string (`'...'`) a value
//!   holding `'` is an error. Outside strings the value is inserted as it is
//!   (`hwm = ${HWM:-1000}`).
//! - Comments are left alone: `# ${UNSET}` is not an error.
//! - A value holding a line break or another control character is an error:
//!   configurations take single-line values, and line numbers in errors stay
//!   those of the file.

use std::borrow::Cow;

use super::ConfigError;

/// Longest variable name, default or value taken (bytes); longer is an
/// error, not an allocation.
const MAX_PART: usize = 64 * 1024;

/// Expands `${VAR}` and `${VAR:-default}` in `text` from the process
/// environment (see the module docs for the rules).
///
/// ```
/// use eventstorm_core::config::expand_env;
///
/// // SAFETY of the example: a single-threaded doctest.
/// # unsafe { std::env::set_var("EVENTSTORM_DOC_DB", "mongodb://db:27017"); }
/// let text = r#"uri = "${EVENTSTORM_DOC_DB}"  # ${NOT_EXPANDED}
/// hwm = ${EVENTSTORM_DOC_HWM:-1000}"#;
/// assert_eq!(
///     expand_env(text)?,
///     "uri = \"mongodb://db:27017\"  # ${NOT_EXPANDED}\nhwm = 1000"
/// );
/// # Ok::<(), eventstorm_core::config::ConfigError>(())
/// ```
pub fn expand_env(text: &str) -> Result<Cow<'_, str>, ConfigError> {
    expand_with(text, |name| std::env::var(name).ok())
}

/// Expands `${VAR}` and `${VAR:-default}` in `text`, looking variables up
/// with `lookup` (see the module docs for the rules). Errors carry the
/// position and the variable's name as the key.
pub fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Cow<'_, str>, ConfigError> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut state = State::Code;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match state {
            State::Comment => {
                if b == b'\n' {
                    state = State::Code;
                }
                i += 1;
                continue;
            }
            State::Code if b == b'#' => {
                state = State::Comment;
                i += 1;
                continue;
            }
            State::Code if b == b'"' || b == b'\'' => {
                let triple = bytes.get(i..i + 3) == Some(&[b, b, b][..]);
                state = match (b, triple) {
                    (b'"', false) => State::Basic,
                    (b'"', true) => State::MultiBasic,
                    (_, false) => State::Literal,
                    (_, true) => State::MultiLiteral,
                };
                i += if triple { 3 } else { 1 };
                continue;
            }
            State::Basic | State::MultiBasic if b == b'\\' => {
                i += 2;
                continue;
            }
            State::Basic if b == b'"' => state = State::Code,
            State::Literal if b == b'\'' => state = State::Code,
            State::Basic | State::Literal if b == b'\n' => state = State::Code,
            State::MultiBasic if bytes.get(i..i + 3) == Some(b"\"\"\"") => {
                state = State::Code;
                i += 3;
                continue;
            }
            State::MultiLiteral if bytes.get(i..i + 3) == Some(b"'''") => {
                state = State::Code;
                i += 3;
                continue;
            }
            _ => {}
        }
        if b != b'$' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1..i + 3) == Some(b"${") {
            // `$${` → `${`
            out.push_str(&text[copied..i]);
            out.push_str("${");
            i += 3;
            copied = i;
            continue;
        }
        if bytes.get(i + 1) != Some(&b'{') {
            i += 1;
            continue;
        }
        let error = |message: String, name: Option<&str>| {
            let mut e = ConfigError::whole(message).at_offset(text, i);
            e.key = name.map(str::to_string);
            e
        };
        let start = i + 2;
        let Some(len) = text[start..].find('}') else {
            return Err(error(
                "`${` without a closing `}` (write `$${` for a literal `${`)".into(),
                None,
            ));
        };
        let inner = &text[start..start + len];
        if inner.len() > MAX_PART || inner.contains('\n') {
            return Err(error(
                "`${` without a closing `}` on its line (write `$${` for a literal `${`)".into(),
                None,
            ));
        }
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !valid_name(name) {
            return Err(error(
                format!(
                    "`${{{inner}}}`: expected `${{NAME}}` or `${{NAME:-default}}`, NAME made of \
                     letters, digits and `_`, not starting with a digit"
                ),
                None,
            ));
        }
        if default.is_some_and(|d| d.contains("${")) {
            return Err(error(
                format!("`${{{inner}}}`: a default may not hold another `${{`"),
                Some(name),
            ));
        }
        let value = match (lookup(name), default) {
            (Some(value), Some(default)) if value.is_empty() => default.to_string(),
            (Some(value), _) => value,
            (None, Some(default)) => default.to_string(),
            (None, None) => {
                return Err(error(
                    format!(
                        "environment variable `{name}` is not set (give it a value, or a \
                         default: `${{{name}:-default}}`)"
                    ),
                    Some(name),
                ));
            }
        };
        if value.len() > MAX_PART {
            return Err(error(
                format!(
                    "environment variable `{name}` is {} bytes long, more than {MAX_PART}",
                    value.len()
                ),
                Some(name),
            ));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(error(
                format!(
                    "environment variable `{name}` holds a line break or another control \
                     character; configurations take single-line values"
                ),
                Some(name),
            ));
        }
        out.push_str(&text[copied..i]);
        match state {
            State::Basic | State::MultiBasic => {
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            State::Literal | State::MultiLiteral if value.contains('\'') => {
                return Err(error(
                    format!(
                        "environment variable `{name}` holds `'`, which a literal string \
                         ('...') cannot: use a basic string (\"...\")"
                    ),
                    Some(name),
                ));
            }
            _ => out.push_str(&value),
        }
        i = start + len + 1;
        copied = i;
    }
    out.push_str(&text[copied..]);
    Ok(Cow::Owned(out))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Code,
    Comment,
    Basic,
    MultiBasic,
    Literal,
    MultiLiteral,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> Result<String, ConfigError> {
        expand_with(text, |name| match name {
            "HOST" => Some("db.example".into()),
            "EMPTY" => Some(String::new()),
            "QUOTE" => Some(r#"a "b" \c"#.into()),
            "APOS" => Some("it's".into()),
            "NL" => Some("a\nb".into()),
            _ => None,
        })
        .map(Cow::into_owned)
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(expand("a = \"${HOST}\"").unwrap(), "a = \"db.example\"");
        assert_eq!(expand("n = ${PORT:-5556}").unwrap(), "n = 5556");
        assert_eq!(expand("n = ${EMPTY:-x}").unwrap(), "n = x");
        assert_eq!(expand("n = '${EMPTY}'").unwrap(), "n = ''");
        assert_eq!(
            expand("a = \"${HOST:-x}:1\"").unwrap(),
            "a = \"db.example:1\""
        );
        assert_eq!(expand("a = \"${UNSET:-}\"").unwrap(), "a = \"\"");
    }

    #[test]
    fn leaves_comments_dollars_and_escapes_alone() {
        assert_eq!(expand("# ${UNSET}\nx = 1").unwrap(), "# ${UNSET}\nx = 1");
        assert_eq!(expand("x = \"$HOME $ {\"").unwrap(), "x = \"$HOME $ {\"");
        assert_eq!(expand("x = \"$${HOST}\"").unwrap(), "x = \"${HOST}\"");
        // `#` inside a string is not a comment.
        assert_eq!(expand("x = \"#${HOST}\"").unwrap(), "x = \"#db.example\"");
        assert_eq!(
            expand("x = '''\n# ${HOST}'''").unwrap(),
            "x = '''\n# db.example'''"
        );
    }

    #[test]
    fn quotes_values_inside_basic_strings() {
        let text = expand("x = \"${QUOTE}\"").unwrap();
        assert_eq!(text, r#"x = "a \"b\" \\c""#);
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["x"].as_str(), Some(r#"a "b" \c"#));
        let err = expand("x = '${APOS}'").unwrap_err();
        assert!(err.message.contains("literal string"), "{err}");
    }

    #[test]
    fn names_the_unset_variable_and_its_line() {
        let err = expand("a = 1\nb = \"${NOPE}\"").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("NOPE"));
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("`NOPE` is not set"), "{err}");
    }

    #[test]
    fn refuses_bad_syntax_and_values() {
        for (text, expected) in [
            ("x = \"${HOST\"", "closing"),
            ("x = ${}", "expected `${NAME}`"),
            ("x = ${1A}", "expected `${NAME}`"),
            ("x = ${A-B}", "expected `${NAME}`"),
            ("x = ${A:-${B}}", "another"),
            ("x = \"${NL}\"", "line break"),
        ] {
            let err = expand(text).unwrap_err();
            assert!(err.message.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn a_huge_reference_is_an_error_not_an_allocation() {
        let text = format!("x = \"${{{}}}\"", "A".repeat(MAX_PART + 1));
        assert!(expand(&text).is_err());
    }
}
