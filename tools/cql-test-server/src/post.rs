//! Applies what kassandra ignores to result rows: range/IN filters, `ORDER BY ... DESC`,
//! `LIMIT`, `count(*)`, and the `[applied]` row of conditional writes.

use kassandra::cql::column::ColumnType;
use kassandra::cql::value::{CqlValue, deserialize_value};
use kassandra::error::DbError;
use kassandra::frame::response::error::Error;
use kassandra::frame::response::result::{
    ColumnSpec, QueryResult, ResultMetadata, Row, Rows, TableSpec,
};
use kassandra::frame::value::FrameValue;

use crate::rewrite::{Filter, Rewritten};

fn invalid(message: impl ToString) -> Error {
    Error::new(DbError::Invalid, message)
}

/// Decodes a bound value for a filter.
pub(crate) fn bound_value(value: &FrameValue<'_>, ty: &ColumnType) -> Result<CqlValue, Error> {
    match value {
        FrameValue::Some(bytes) => deserialize_value(bytes, ty),
        FrameValue::Null => Err(invalid("null value in a WHERE condition")),
        FrameValue::NotSet => Err(invalid("unset value in a WHERE condition")),
    }
}

/// Decodes a bound `LIMIT ?` value.
pub(crate) fn bound_limit(value: &FrameValue<'_>) -> Result<usize, Error> {
    match value {
        FrameValue::Some(bytes) => <[u8; 4]>::try_from(*bytes)
            .ok()
            .map(i32::from_be_bytes)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("LIMIT must be a strictly positive int")),
        _ => Err(invalid("LIMIT must be set")),
    }
}

/// Converts a literal written in a range condition into a value of the column type.
pub(crate) fn literal_value(text: &str, ty: &ColumnType) -> Result<CqlValue, Error> {
    let unsupported = || {
        invalid(format!(
            "cql-test-server cannot compare literal `{text}` with a {ty:?} column; use a bind marker"
        ))
    };
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        let s = inner.replace("''", "'");
        return match ty {
            ColumnType::Text => Ok(CqlValue::Text(s)),
            ColumnType::Ascii => Ok(CqlValue::Ascii(s)),
            _ => Err(unsupported()),
        };
    }
    let n: i64 = text.parse().map_err(|_| unsupported())?;
    let narrow = |_| unsupported();
    Ok(match ty {
        ColumnType::BigInt => CqlValue::BigInt(n),
        ColumnType::Counter => CqlValue::Counter(n),
        ColumnType::Timestamp => CqlValue::Timestamp(n),
        ColumnType::Int => CqlValue::Int(i32::try_from(n).map_err(narrow)?),
        ColumnType::SmallInt => CqlValue::SmallInt(i16::try_from(n).map_err(narrow)?),
        ColumnType::TinyInt => CqlValue::TinyInt(i8::try_from(n).map_err(narrow)?),
        _ => return Err(unsupported()),
    })
}

fn keep(value: Option<&CqlValue>, op: &str, bound: &CqlValue) -> bool {
    let Some(value) = value else { return false };
    match op {
        "<" => value < bound,
        "<=" => value <= bound,
        ">" => value > bound,
        ">=" => value >= bound,
        "!=" => value != bound,
        "IN" => match bound {
            CqlValue::List(items) | CqlValue::Set(items) => items.contains(value),
            other => other == value,
        },
        _ => false,
    }
}

fn filter_rows(rows: &mut Rows, filter: &Filter, bound: &CqlValue) -> Result<(), Error> {
    let index = rows
        .metadata
        .col_specs
        .iter()
        .position(|c| c.name == filter.column)
        .ok_or_else(|| {
            invalid(format!(
                "cql-test-server applies `{} {}` to result rows: column `{}` must be selected",
                filter.column, filter.op, filter.column
            ))
        })?;
    rows.rows.retain(|row| {
        keep(
            row.columns.get(index).and_then(Option::as_ref),
            &filter.op,
            bound,
        )
    });
    Ok(())
}

/// Post-processes a result. `bounds` holds one value per filter of `rw`.
pub(crate) fn apply(
    result: QueryResult,
    rw: &Rewritten,
    bounds: &[CqlValue],
    limit: Option<usize>,
) -> Result<QueryResult, Error> {
    let mut rows = match result {
        QueryResult::Void if rw.lwt => return Ok(applied_row()),
        QueryResult::Rows(rows) if rw.needs_post() => rows,
        other => return Ok(other),
    };
    for (filter, bound) in rw.filters.iter().zip(bounds) {
        filter_rows(&mut rows, filter, bound)?;
    }
    if rw.order_desc {
        rows.rows.reverse();
    }
    if let Some(limit) = limit {
        rows.rows.truncate(limit);
    }
    rows.metadata.paging_state = None;
    if let Some(name) = &rw.count {
        let count = i64::try_from(rows.rows.len()).unwrap_or(i64::MAX);
        rows = Rows {
            metadata: count_metadata(rows.metadata.global_spec.take(), name),
            rows: vec![Row {
                columns: vec![Some(CqlValue::BigInt(count))],
            }],
        };
    }
    Ok(QueryResult::Rows(rows))
}

/// Result metadata of a `count(*)` query.
pub(crate) fn count_metadata(global_spec: Option<TableSpec>, name: &str) -> ResultMetadata {
    ResultMetadata {
        global_spec,
        paging_state: None,
        col_specs: vec![ColumnSpec::new(name, ColumnType::BigInt)],
    }
}

fn applied_row() -> QueryResult {
    QueryResult::Rows(Rows {
        metadata: ResultMetadata {
            global_spec: Some(TableSpec {
                ks_name: String::new(),
                table_name: String::new(),
            }),
            paging_state: None,
            col_specs: vec![ColumnSpec::new("[applied]", ColumnType::Boolean)],
        },
        rows: vec![Row {
            columns: vec![Some(CqlValue::Boolean(true))],
        }],
    })
}

#[cfg(test)]
mod tests {
    use kassandra::cql::column::ColumnType;
    use kassandra::cql::value::CqlValue;

    use super::{keep, literal_value};

    #[test]
    fn comparisons() {
        let v = CqlValue::Timestamp(5);
        assert!(keep(Some(&v), ">=", &CqlValue::Timestamp(5)));
        assert!(!keep(Some(&v), "<", &CqlValue::Timestamp(5)));
        assert!(keep(Some(&v), "IN", &CqlValue::List(vec![v.clone()])));
        assert!(!keep(None, "!=", &v));
        assert_eq!(
            literal_value("7", &ColumnType::Timestamp).unwrap(),
            CqlValue::Timestamp(7)
        );
        assert!(literal_value("x", &ColumnType::Blob).is_err());
    }
}
