//! The serde forms of a matcher, for TOML and JSON configuration.
//!
//! A matcher deserializes from either the string grammar:
//!
//! ```toml
//! match = 'compute.instance.* where body.state == "active"'
//! ```
//!
//! or a table:
//!
//! ```toml
//! [match]
//! types = ["compute.instance.*", "volume.*"]    # default: all types
//! where = 'severity <= 3'                       # optional, string grammar
//! all = [{ field = "tenant", eq = "acme" }]     # every condition holds
//! any = [{ field = "body.size_gb", ge = 100 }, { field = "body.flavor", regex = "^m1\\." }]
//! none = [{ field = "body.test", exists = true }] # no condition holds
//! ```
//!
//! Each condition table names one `field` and exactly one operator: `eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`, `exists`, `regex` or `in`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{CmpOp, Condition, Expr, Literal, Matcher, TypePattern, parser};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherTable {
    #[serde(default)]
    types: Vec<String>,
    #[serde(default, rename = "where")]
    condition: Option<String>,
    #[serde(default)]
    all: Vec<ConditionTable>,
    #[serde(default)]
    any: Vec<ConditionTable>,
    #[serde(default)]
    none: Vec<ConditionTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionTable {
    field: String,
    eq: Option<LiteralRepr>,
    ne: Option<LiteralRepr>,
    lt: Option<LiteralRepr>,
    le: Option<LiteralRepr>,
    gt: Option<LiteralRepr>,
    ge: Option<LiteralRepr>,
    exists: Option<bool>,
    regex: Option<String>,
    #[serde(rename = "in")]
    one_of: Option<Vec<LiteralRepr>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LiteralRepr {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl LiteralRepr {
    fn into_literal(self, field: &str) -> Result<Literal, String> {
        Ok(match self {
            LiteralRepr::Bool(b) => Literal::Bool(b),
            LiteralRepr::Int(i) => Literal::Int(i),
            // `inf` and `nan` are valid TOML but not in the string grammar (a
            // matcher must print as text that parses back), and compare to nothing.
            LiteralRepr::Float(f) if !f.is_finite() => {
                return Err(format!(
                    "condition on `{field}`: {f} is not a finite number"
                ));
            }
            LiteralRepr::Float(f) => Literal::Float(f),
            LiteralRepr::Str(s) => Literal::Str(s),
        })
    }
}

impl ConditionTable {
    fn into_expr(self) -> Result<Expr, String> {
        let field = self.field;
        if !parser::is_field_path(&field) {
            return Err(format!(
                "`{field}` is not a field path such as `tenant` or `body.flavor`"
            ));
        }
        let mut found: Vec<Expr> = Vec::new();
        for (op, value) in [
            (CmpOp::Eq, self.eq),
            (CmpOp::Ne, self.ne),
            (CmpOp::Lt, self.lt),
            (CmpOp::Le, self.le),
            (CmpOp::Gt, self.gt),
            (CmpOp::Ge, self.ge),
        ] {
            if let Some(value) = value {
                found.push(Expr::Cond(Condition::Compare(
                    field.clone(),
                    op,
                    value.into_literal(&field)?,
                )));
            }
        }
        if let Some(exists) = self.exists {
            let cond = Expr::Cond(Condition::Exists(field.clone()));
            found.push(if exists {
                cond
            } else {
                Expr::Not(Box::new(cond))
            });
        }
        if let Some(pattern) = self.regex {
            let regex = regex::Regex::new(&pattern)
                .map_err(|e| format!("invalid regex for field `{field}`: {e}"))?;
            found.push(Expr::Cond(Condition::Regex(
                field.clone(),
                super::Regex(regex),
            )));
        }
        if let Some(values) = self.one_of {
            if values.is_empty() {
                return Err(format!(
                    "condition on `{field}`: `in` needs at least one value"
                ));
            }
            let values = values
                .into_iter()
                .map(|v| v.into_literal(&field))
                .collect::<Result<_, _>>()?;
            found.push(Expr::Cond(Condition::In(field.clone(), values)));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(format!(
                "condition on `{field}` has {n} operators: expected exactly one of eq, ne, lt, le, gt, ge, exists, regex, in"
            )),
        }
    }
}

impl MatcherTable {
    fn into_matcher(self) -> Result<Matcher, String> {
        let types = self
            .types
            .iter()
            .map(|t| TypePattern::parse(t).map_err(|e| format!("invalid type pattern: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parts = Vec::new();
        if let Some(text) = self.condition {
            parts.push(parser::parse_expr(&text).map_err(|e| format!("in `where`: {e}"))?);
        }
        for cond in self.all {
            parts.push(cond.into_expr()?);
        }
        let mut any = self
            .any
            .into_iter()
            .map(ConditionTable::into_expr)
            .collect::<Result<Vec<_>, _>>()?;
        match any.len() {
            0 => {}
            // As the string grammar would have it, so that printing and parsing
            // back gives an equal matcher.
            1 => parts.extend(any.pop()),
            _ => parts.push(Expr::Any(any)),
        }
        for cond in self.none {
            parts.push(Expr::Not(Box::new(cond.into_expr()?)));
        }
        let condition = match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => Some(Expr::All(parts)),
        };
        Ok(Matcher::from_parts(types, condition))
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatcherVisitor;

        impl<'de> Visitor<'de> for MatcherVisitor {
            type Value = Matcher;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a matcher: a string such as 'volume.* where tenant == \"acme\"' or a table with types/where/all/any/none")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Matcher, E> {
                Matcher::parse(v).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Matcher, A::Error> {
                let table = MatcherTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                table.into_matcher().map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_any(MatcherVisitor)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
