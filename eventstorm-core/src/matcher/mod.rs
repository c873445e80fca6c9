//! Matchers: which events a router rule, a sink or a stream definition wants.
//!
//! A matcher is a list of event type patterns plus an optional condition on
//! envelope and body fields. One grammar serves router rules, sink filters and
//! stream definitions (`docs/matchers.md` is the reference):
//!
//! ```text
//! matcher   := [ pattern { "," pattern } ] [ "where" expr ]
//! pattern   := event type with optional globs: `*` any run of characters
//!              (dots included), `?` any one character; `*` alone matches all
//! expr      := and { ("or" | "||") and }
//! and       := unary { ("and" | "&&") unary }
//! unary     := ("not" | "!") unary | "(" expr ")" | "exists" "(" path ")" | comparison
//! comparison:= path ("==" | "!=" | "<" | "<=" | ">" | ">=") literal
//!            | path "=~" string            (regular expression, unanchored)
//!            | path "in" "[" literal { "," literal } "]"
//! path      := field { "." field }          (from the document root: `tenant`,
//!                                            `severity`, `body.flavor`, `body.tags.0`)
//! literal   := "string" | 'string' | integer | float | true | false | null
//! ```
//!
//! In strings, `\\`, `\"`, `\'`, `\n`, `\t` and `\r` are escapes; a backslash
//! before any other character is kept as written, so regular expressions read
//! naturally: `body.flavor =~ "^m1\."`.
//!
//! ```
//! use eventstorm_core::{Event, Matcher, Severity};
//!
//! let m: Matcher = r#"compute.instance.*, volume.* where tenant == "acme" and body.size_gb >= 10"#
//!     .parse()?;
//! let event = Event::builder("volume.create.end").tenant("acme").field("size_gb", 20).build();
//! assert!(m.matches_event(&event));
//! assert_eq!(m.subscriptions(), vec!["compute.instance.", "volume."]);
//!
//! let err = "volume.* where body.size_gb >> 3".parse::<Matcher>().unwrap_err();
//! assert_eq!(err.column(), 30);
//! # Ok::<(), eventstorm_core::matcher::ParseError>(())
//! ```

mod config;
mod eval;
mod lexer;
mod parser;
mod pattern;

pub use eval::{FieldValue, Fields};
pub use pattern::TypePattern;

use std::fmt;
use std::str::FromStr;

/// A parsed matcher: type patterns plus an optional condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    types: Vec<TypePattern>,
    condition: Option<Expr>,
}

/// A condition tree.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// All must hold (`and`); empty holds.
    All(Vec<Expr>),
    /// At least one must hold (`or`); empty does not hold.
    Any(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A single condition on one field.
    Cond(Condition),
}

/// A condition on one field, addressed by a dotted path from the document root.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Condition {
    /// The field is present (even if null).
    Exists(String),
    /// The field compares to a literal. Numbers compare across integer and float
    /// types; strings compare bytewise; values of different kinds are unequal and
    /// never ordered. `== null` also holds for a missing field.
    Compare(String, CmpOp, Literal),
    /// The field is a string matching the regular expression.
    Regex(String, Regex),
    /// The field equals one of the literals.
    In(String, Vec<Literal>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Null (also matches a missing field with `==`).
    Null,
}

/// A compiled regular expression (compared by its source text).
#[derive(Debug, Clone)]
pub struct Regex(pub regex::Regex);

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A matcher expression that could not be parsed: where, what was expected and
/// what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid matcher at column {column}: expected {expected}, found {found}\n  {input}\n  {caret:>width$}", caret = "^", width = column)]
pub struct ParseError {
    input: String,
    column: usize,
    expected: String,
    found: String,
}

impl ParseError {
    pub(crate) fn new(
        input: &str,
        offset: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        let column = input.get(..offset).map_or(offset, |s| s.chars().count()) + 1;
        ParseError {
            input: input.to_string(),
            column,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The 1-based column (in characters) where the problem starts.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What the parser expected there.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What it found instead.
    pub fn found(&self) -> &str {
        &self.found
    }
}

impl Matcher {
    /// A matcher that matches every event.
    pub fn any() -> Self {
        Matcher {
            types: Vec::new(),
            condition: None,
        }
    }

    /// Parses the string grammar (also available through [`str::parse`]).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        parser::parse(input)
    }

    pub(crate) fn from_parts(types: Vec<TypePattern>, condition: Option<Expr>) -> Self {
        let types = if types.iter().any(|t| matches!(t, TypePattern::Any)) {
            Vec::new()
        } else {
            types
        };
        Matcher { types, condition }
    }

    /// The type patterns (empty: all types).
    pub fn types(&self) -> &[TypePattern] {
        &self.types
    }

    /// The condition, if any.
    pub fn condition(&self) -> Option<&Expr> {
        self.condition.as_ref()
    }

    /// The ZeroMQ subscription prefixes that cover every type this matcher can
    /// accept (`""` for all), without duplicates or prefixes covered by others.
    pub fn subscriptions(&self) -> Vec<String> {
        if self.types.is_empty() {
            return vec![String::new()];
        }
        let mut prefixes: Vec<String> = self
            .types
            .iter()
            .map(|t| t.literal_prefix().to_string())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let all = prefixes.clone();
        prefixes.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q.as_str())));
        prefixes
    }

    /// Whether an event of this type can match (the condition is not checked).
    #[inline]
    pub fn matches_type(&self, event_type: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t.matches(event_type))
    }

    /// Whether the event matches: its type, then the condition.
    pub fn matches<F: Fields + ?Sized>(&self, event: &F) -> bool {
        if !self.matches_type(event.event_type()) {
            return false;
        }
        self.condition.as_ref().is_none_or(|c| c.eval(event))
    }

    /// Whether a received event matches, reading only the fields the condition
    /// names.
    pub fn matches_raw(&self, event: crate::RawEventRef<'_>) -> bool {
        self.matches(&event)
    }

    /// Whether a decoded event matches.
    pub fn matches_event(&self, event: &crate::Event) -> bool {
        self.matches(event)
    }
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::any()
    }
}

impl FromStr for Matcher {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Matcher::parse(s)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.types.is_empty() {
            f.write_str("*")?;
        }
        for (i, pattern) in self.types.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{pattern}")?;
        }
        if let Some(condition) = &self.condition {
            write!(f, " where {condition}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, empty: &str| {
            if items.is_empty() {
                return f.write_str(empty);
            }
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {sep} ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::All(items) => join(f, items, "and", "exists(_id)"),
            Expr::Any(items) => join(f, items, "or", "not exists(_id)"),
            Expr::Not(inner) => write!(f, "not {inner}"),
            Expr::Cond(Condition::Exists(path)) => write!(f, "exists({path})"),
            Expr::Cond(Condition::Compare(path, op, value)) => write!(f, "{path} {op} {value}"),
            Expr::Cond(Condition::Regex(path, regex)) => {
                write!(
                    f,
                    "{path} =~ {}",
                    Literal::Str(regex.0.as_str().to_string())
                )
            }
            Expr::Cond(Condition::In(path, values)) => {
                write!(f, "{path} in [")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}
