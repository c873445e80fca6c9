//! Evaluating conditions against events, decoded or raw.

use std::cmp::Ordering;

use bson::Bson;
use bson::raw::RawBsonRef;

use super::{CmpOp, Condition, Expr, Literal};
use crate::event::{Event, RawEvent, RawEventRef};

/// A field's value as a condition sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// A string.
    Str(&'a str),
    /// An int32 or int64.
    Int(i64),
    /// A double.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Null.
    Null,
    /// A UTC datetime, in milliseconds since the epoch.
    DateTime(i64),
    /// Any other BSON type (documents, arrays, binary, ...): it exists but
    /// compares to nothing.
    Other,
}

/// Field access for matchers: implemented by [`Event`], [`RawEvent`] and
/// [`RawEventRef`], and by anything else a matcher should evaluate.
pub trait Fields {
    /// The event type.
    fn event_type(&self) -> &str;
    /// The value at a dotted path from the document root.
    fn field(&self, path: &str) -> Option<FieldValue<'_>>;
}

impl<'a> From<RawBsonRef<'a>> for FieldValue<'a> {
    fn from(value: RawBsonRef<'a>) -> Self {
        match value {
            RawBsonRef::String(s) => FieldValue::Str(s),
            RawBsonRef::Int32(i) => FieldValue::Int(i64::from(i)),
            RawBsonRef::Int64(i) => FieldValue::Int(i),
            RawBsonRef::Double(f) => FieldValue::Float(f),
            RawBsonRef::Boolean(b) => FieldValue::Bool(b),
            RawBsonRef::Null | RawBsonRef::Undefined => FieldValue::Null,
            RawBsonRef::DateTime(d) => FieldValue::DateTime(d.timestamp_millis()),
            _ => FieldValue::Other,
        }
    }
}

impl<'a> From<&'a Bson> for FieldValue<'a> {
    fn from(value: &'a Bson) -> Self {
        match value {
            Bson::String(s) => FieldValue::Str(s),
            Bson::Int32(i) => FieldValue::Int(i64::from(*i)),
            Bson::Int64(i) => FieldValue::Int(*i),
            Bson::Double(f) => FieldValue::Float(*f),
            Bson::Boolean(b) => FieldValue::Bool(*b),
            Bson::Null | Bson::Undefined => FieldValue::Null,
            Bson::DateTime(d) => FieldValue::DateTime(d.timestamp_millis()),
            _ => FieldValue::Other,
        }
    }
}

impl Fields for RawEventRef<'_> {
    fn event_type(&self) -> &str {
        RawEventRef::event_type(self)
    }
    fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        self.get(path).map(FieldValue::from)
    }
}

impl Fields for RawEvent {
    fn event_type(&self) -> &str {
        RawEvent::event_type(self)
    }
    fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        self.get(path).map(FieldValue::from)
    }
}

impl Fields for Event {
    fn event_type(&self) -> &str {
        Event::event_type(self)
    }
    fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        self.get(path).map(FieldValue::from)
    }
}

impl Expr {
    /// Evaluates the condition against an event.
    pub fn eval<F: Fields + ?Sized>(&self, event: &F) -> bool {
        match self {
            Expr::All(items) => items.iter().all(|e| e.eval(event)),
            Expr::Any(items) => items.iter().any(|e| e.eval(event)),
            Expr::Not(inner) => !inner.eval(event),
            Expr::Cond(condition) => condition.eval(event),
        }
    }
}

impl Condition {
    /// Evaluates the condition against an event.
    pub fn eval<F: Fields + ?Sized>(&self, event: &F) -> bool {
        match self {
            Condition::Exists(path) => event.field(path).is_some(),
            Condition::Compare(path, op, literal) => {
                let value = event.field(path);
                match op {
                    CmpOp::Eq => equals(value, literal),
                    CmpOp::Ne => !equals(value, literal),
                    CmpOp::Lt => order(value, literal) == Some(Ordering::Less),
                    CmpOp::Le => matches!(
                        order(value, literal),
                        Some(Ordering::Less | Ordering::Equal)
                    ),
                    CmpOp::Gt => order(value, literal) == Some(Ordering::Greater),
                    CmpOp::Ge => matches!(
                        order(value, literal),
                        Some(Ordering::Greater | Ordering::Equal)
                    ),
                }
            }
            Condition::Regex(path, regex) => {
                matches!(event.field(path), Some(FieldValue::Str(s)) if regex.0.is_match(s))
            }
            Condition::In(path, literals) => {
                let value = event.field(path);
                literals.iter().any(|l| equals(value, l))
            }
        }
    }
}

fn equals(value: Option<FieldValue<'_>>, literal: &Literal) -> bool {
    match (value, literal) {
        (None | Some(FieldValue::Null), Literal::Null) => true,
        (Some(FieldValue::Str(a)), Literal::Str(b)) => a == b,
        (Some(FieldValue::Bool(a)), Literal::Bool(b)) => a == *b,
        (Some(v), l) => order(Some(v), l) == Some(Ordering::Equal),
        (None, _) => false,
    }
}

fn order(value: Option<FieldValue<'_>>, literal: &Literal) -> Option<Ordering> {
    match (value?, literal) {
        (FieldValue::Int(a), Literal::Int(b)) => Some(a.cmp(b)),
        (FieldValue::Int(a), Literal::Float(b)) => cmp_int_float(a, *b),
        (FieldValue::Float(a), Literal::Int(b)) => cmp_int_float(*b, a).map(Ordering::reverse),
        (FieldValue::Float(a), Literal::Float(b)) => a.partial_cmp(b),
        (FieldValue::Str(a), Literal::Str(b)) => Some(a.cmp(b.as_str())),
        (FieldValue::DateTime(a), Literal::Int(b)) => Some(a.cmp(b)),
        (FieldValue::DateTime(a), Literal::Str(b)) => bson::DateTime::parse_rfc3339_str(b)
            .ok()
            .map(|d| a.cmp(&d.timestamp_millis())),
        _ => None,
    }
}

/// Compares an integer with a float exactly (`i64 as f64` rounds above 2^53,
/// which would make `9007199254740993 == 9007199254740992.0` hold).
fn cmp_int_float(int: i64, float: f64) -> Option<Ordering> {
    // 2^63: the first float above every i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if float.is_nan() {
        return None;
    }
    if float >= TWO_63 {
        return Some(Ordering::Less);
    }
    if float < -TWO_63 {
        return Some(Ordering::Greater);
    }
    // In range, so the truncation is exact.
    let whole = float.trunc() as i64;
    Some(int.cmp(&whole).then_with(|| {
        let fraction = float - float.trunc();
        if fraction > 0.0 {
            Ordering::Less
        } else if fraction < 0.0 {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }))
}
