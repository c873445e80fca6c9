//! The optional envelope fields of a decoded document, checked with the rule
//! receivers apply to the wire (see `docs/wire-format.md`): an [`Event`]
//! always encodes to bytes every receiver accepts.
//!
//! [`Event`]: super::Event

use bson::{Bson, Document};

use super::fields;
use crate::error::{Error, Result};

fn invalid(key: &str, expected: &str, got: &Bson) -> Error {
    Error::InvalidEvent(format!(
        "`{key}` must be {expected}, got {:?}",
        got.element_type()
    ))
}

/// Checks `severity`, `logger`, `hostname`, `pid` and `tenant` when present.
/// Integers of the other width are converted (`severity` is written as int32,
/// `pid` as int64, as the wire format wants them); anything else of the wrong
/// type, or a severity outside 0 to 7, is an error.
pub(crate) fn normalize(doc: &mut Document) -> Result<()> {
    if let Some(value) = doc.get(fields::SEVERITY) {
        let code = match value {
            Bson::Int32(v) => i64::from(*v),
            Bson::Int64(v) => *v,
            other => return Err(invalid(fields::SEVERITY, "an integer from 0 to 7", other)),
        };
        let code = i32::try_from(code)
            .ok()
            .filter(|c| (0..=7).contains(c))
            .ok_or_else(|| {
                Error::InvalidEvent(format!(
                    "`{}` must be from 0 to 7, got {code}",
                    fields::SEVERITY
                ))
            })?;
        if !matches!(value, Bson::Int32(_)) {
            doc.insert(fields::SEVERITY, code);
        }
    }
    match doc.get(fields::PID) {
        None | Some(Bson::Int64(_)) => {}
        Some(Bson::Int32(v)) => {
            let pid = i64::from(*v);
            doc.insert(fields::PID, pid);
        }
        Some(other) => return Err(invalid(fields::PID, "an integer", other)),
    }
    for key in [fields::LOGGER, fields::HOSTNAME, fields::TENANT] {
        match doc.get(key) {
            None | Some(Bson::String(_)) => {}
            Some(other) => return Err(invalid(key, "a string", other)),
        }
    }
    Ok(())
}
