//! Keyspace, table and column names: the rules every name the sink writes
//! into CQL passes (the same ones the MongoDB sink applies to collection
//! names: no reserved prefix, a length limit, a safe character set, and no
//! two spellings of one name).

use super::CqlError;

/// Cassandra's longest keyspace or table name.
pub const MAX_NAME_LEN: usize = 48;

/// CQL keywords that cannot be used as unquoted identifiers (Cassandra 4/5
/// and ScyllaDB reserved words).
const RESERVED_WORDS: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Checks a name the sink writes unquoted: a lower-case letter, then
/// lower-case letters, digits or `_`, at most [`MAX_NAME_LEN`] characters,
/// not a reserved word. Upper case is refused because unquoted CQL
/// identifiers are case-insensitive (`Events` *is* `events`): one spelling
/// per table.
pub(crate) fn check_identifier(key: &str, name: &str) -> Result<(), CqlError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_LEN;
    if !well_formed {
        let hint = if name.chars().any(|c| c.is_ascii_uppercase()) {
            " (unquoted CQL names are case-insensitive: write it in lower case)"
        } else {
            ""
        };
        return Err(CqlError::config(
            key,
            format!(
                "{name:?}: expected a lower-case letter, then lower-case letters, digits or _, \
                 at most {MAX_NAME_LEN} characters{hint}"
            ),
        ));
    }
    if RESERVED_WORDS.contains(&name) {
        return Err(CqlError::config(
            key,
            format!("{name:?} is a reserved CQL keyword: choose another name"),
        ));
    }
    Ok(())
}

/// Checks the keyspace name: an identifier, and not one of the cluster's own
/// keyspaces (`system`, `system_*`).
pub(crate) fn check_keyspace(key: &str, name: &str) -> Result<(), CqlError> {
    check_identifier(key, name)?;
    if name == "system" || name.starts_with("system_") {
        return Err(CqlError::config(
            key,
            format!("{name:?}: `system` and `system_*` keyspaces belong to the cluster"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_identifier("t", "events_2024").is_ok());
        assert!(check_identifier("t", &"e".repeat(48)).is_ok());
        for bad in [
            "",
            "Events",
            "1x",
            "my-ks",
            "a.b",
            "ü",
            "select",
            &"e".repeat(49),
        ] {
            assert!(check_identifier("t", bad).is_err(), "{bad:?}");
        }
        let err = check_identifier("table", "Events").unwrap_err().to_string();
        assert!(
            err.contains("lower case") && err.contains("`table`"),
            "{err}"
        );
        assert!(check_keyspace("keyspace", "system_auth").is_err());
        assert!(check_keyspace("keyspace", "system").is_err());
        assert!(check_keyspace("keyspace", "systems").is_ok());
    }
}
