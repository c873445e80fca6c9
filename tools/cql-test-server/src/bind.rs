//! Prepared statement bookkeeping: stable ids and bind-marker metadata that lists only
//! the real markers (kassandra also lists literals) plus the ones the server handles.

use kassandra::cql::column::ColumnType;
use kassandra::cql::query::{QueryString, QueryValue};
use kassandra::error::DbError;
use kassandra::frame::response::error::Error;
use kassandra::frame::response::result::{ColumnSpec, PartitionKeyIndex, PreparedMetadata};

use crate::rewrite::{Rewritten, Role};

fn invalid(message: impl ToString) -> Error {
    Error::new(DbError::Invalid, message)
}

/// A stable statement id (FNV-1a, twice), so that ids survive restarts: the scylla
/// driver insists that a re-prepared statement keeps its id.
pub(crate) fn stable_id(keyspace: Option<&str>, text: &str) -> u128 {
    let hash = |seed: u64| {
        let mut h = seed;
        for b in keyspace
            .unwrap_or("")
            .bytes()
            .chain([0])
            .chain(text.bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(hash(0x84222325_cbf29ce4))
}

/// Which (column, value) pairs of a parsed statement are bind markers, in the order
/// kassandra reports them in its prepared metadata.
pub(crate) fn blank_pairs(query: &QueryString) -> Option<Vec<bool>> {
    let blank = |v: &QueryValue| matches!(v, QueryValue::Blankslate);
    match query {
        QueryString::Insert(i) => Some(i.values.iter().map(blank).collect()),
        QueryString::Select(s) => {
            Some(s.r#where.statements.iter().map(|(_, v)| blank(v)).collect())
        }
        QueryString::Delete(d) => {
            Some(d.r#where.statements.iter().map(|(_, v)| blank(v)).collect())
        }
        _ => None,
    }
}

/// Bind metadata for `rw`, from kassandra's metadata `kmeta` of the rewritten statement
/// (whose (column, value) pairs are bind markers where `blanks` says so).
pub(crate) fn metadata(
    rw: &Rewritten,
    kmeta: PreparedMetadata,
    blanks: Option<Vec<bool>>,
    filter_types: &[ColumnType],
) -> Result<PreparedMetadata, Error> {
    let blank_idx: Vec<usize> = blanks
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, b)| **b)
        .map(|(i, _)| i)
        .collect();
    let mut col_specs: Vec<ColumnSpec> = Vec::new();
    let mut pk_indexes = Vec::new();
    let mut kept = 0;
    for role in &rw.roles {
        let spec = match role {
            Role::Kept => {
                let pair = *blank_idx
                    .get(kept)
                    .ok_or_else(|| invalid("unsupported bind marker position"))?;
                kept += 1;
                if let Some(pk) = kmeta
                    .pk_indexes
                    .iter()
                    .find(|p| usize::from(p.index) == pair)
                {
                    let index =
                        u16::try_from(col_specs.len()).map_err(|_| invalid("too many markers"))?;
                    pk_indexes.push(PartitionKeyIndex {
                        index,
                        sequence: pk.sequence,
                    });
                }
                kmeta
                    .col_specs
                    .get(pair)
                    .cloned()
                    .ok_or_else(|| invalid("bind marker without column"))?
            }
            Role::Ttl => ColumnSpec::new("[ttl]", ColumnType::Int),
            Role::Timestamp => ColumnSpec::new("[timestamp]", ColumnType::BigInt),
            Role::Limit => ColumnSpec::new("[limit]", ColumnType::Int),
            Role::Filter(n) => {
                let ty = filter_types
                    .get(*n)
                    .cloned()
                    .ok_or_else(|| invalid("unknown filter"))?;
                ColumnSpec::new(rw.filters[*n].column.clone(), ty)
            }
        };
        col_specs.push(spec);
    }
    if kept != blank_idx.len() {
        return Err(invalid("bind markers do not match the parsed statement"));
    }
    pk_indexes.sort_by_key(|p| p.sequence);
    Ok(PreparedMetadata {
        pk_indexes,
        global_spec: kmeta.global_spec,
        col_specs,
    })
}
