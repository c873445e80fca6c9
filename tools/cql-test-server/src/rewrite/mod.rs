//! Rewrites CQL statements into the subset kassandra understands, remembering what was
//! removed (TTL, timestamps, range conditions, ordering, limits, count) so that the
//! server can bind those values correctly and apply them itself.

mod select;

use crate::lexer::{Kind, Token, render, tokenize};
use select::select;

/// What a bind marker of the original statement stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Passed through to kassandra.
    Kept,
    /// `USING TTL ?` (accepted, ignored).
    Ttl,
    /// `USING TIMESTAMP ?` (accepted, ignored).
    Timestamp,
    /// `LIMIT ?`.
    Limit,
    /// The value of filter number `n` (a range/IN condition applied by the server).
    Filter(usize),
}

/// Where the compared value of a filter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operand {
    /// A bind marker.
    Marker,
    /// A literal, as written.
    Literal(String),
}

/// A WHERE condition kassandra cannot evaluate, applied to the result rows instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) column: String,
    /// One of `<`, `<=`, `>`, `>=`, `!=`, `IN`.
    pub(crate) op: String,
    pub(crate) operand: Operand,
}

/// The kind of statement, as far as the server cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statement {
    /// SELECT.
    Select,
    /// INSERT, UPDATE or DELETE.
    Write,
    /// Anything else (DDL, USE).
    Other,
}

/// A statement rewritten for kassandra, plus what the server must do itself.
#[derive(Debug, Clone)]
pub(crate) struct Rewritten {
    /// Text handed to kassandra's parser.
    pub(crate) text: String,
    pub(crate) statement: Statement,
    /// One entry per bind marker of the original statement, in textual order.
    pub(crate) roles: Vec<Role>,
    pub(crate) filters: Vec<Filter>,
    /// `ORDER BY ... DESC`.
    pub(crate) order_desc: bool,
    /// `LIMIT n` (a marker limit shows up in `roles`).
    pub(crate) limit: Option<usize>,
    /// `count(*)` was selected, under this column name.
    pub(crate) count: Option<String>,
    /// `IF NOT EXISTS` / `IF EXISTS` on a write (not checked: always applied).
    pub(crate) lwt: bool,
    /// The table a SELECT reads (as written, maybe keyspace-qualified).
    pub(crate) table: Option<String>,
}

impl Rewritten {
    /// Whether the result needs post-processing (and so must be read in one page).
    pub(crate) fn needs_post(&self) -> bool {
        !self.filters.is_empty()
            || self.order_desc
            || self.limit.is_some()
            || self.count.is_some()
            || self.roles.contains(&Role::Limit)
    }
}

const UNSUPPORTED: &[&str] = &[
    "DROP", "TRUNCATE", "ALTER", "GRANT", "REVOKE", "BEGIN", "APPLY", "LIST",
];

/// Rewrites one statement. Errors are messages for an `Invalid`/`SyntaxError` reply.
pub(crate) fn rewrite(query: &str) -> Result<Rewritten, String> {
    let mut tokens = tokenize(query)?;
    while tokens.last().is_some_and(|t| t.is_punct(";")) {
        tokens.pop();
    }
    let first = tokens.first().map(|t| t.text.to_ascii_uppercase());
    let mut rw = Rewritten {
        text: String::new(),
        statement: Statement::Other,
        roles: Vec::new(),
        filters: Vec::new(),
        order_desc: false,
        limit: None,
        count: None,
        lwt: false,
        table: None,
    };
    let mut roles: Vec<(usize, Role)> = Vec::new();
    let kept: Vec<(usize, Token)> = match first.as_deref() {
        Some("SELECT") => {
            rw.statement = Statement::Select;
            select(tokens, &mut rw, &mut roles)?
        }
        Some("INSERT" | "UPDATE" | "DELETE") => {
            rw.statement = Statement::Write;
            write(tokens, &mut rw, &mut roles)?
        }
        Some("CREATE") if tokens.get(1).is_some_and(|t| !is_create_supported(t)) => {
            return Err(format!(
                "CREATE {} is not supported by cql-test-server (kassandra supports only \
                 CREATE KEYSPACE and CREATE TABLE)",
                tokens[1].text
            ));
        }
        Some(w) if UNSUPPORTED.contains(&w) => {
            return Err(format!(
                "{w} statements are not supported by cql-test-server (kassandra)"
            ));
        }
        _ => tokens.into_iter().enumerate().collect(),
    };
    for (i, t) in &kept {
        if t.kind == Kind::Marker {
            roles.push((*i, Role::Kept));
        }
    }
    roles.sort_by_key(|(i, _)| *i);
    rw.roles = roles.into_iter().map(|(_, r)| r).collect();
    let kept: Vec<Token> = kept.into_iter().map(|(_, t)| t).collect();
    rw.text = render(&kept);
    Ok(rw)
}

fn is_create_supported(t: &Token) -> bool {
    t.is("KEYSPACE") || t.is("TABLE") || t.is("COLUMNFAMILY")
}

pub(crate) type Indexed = Vec<(usize, Token)>;

/// Index of the first top-level token at or after `from` satisfying `pred`.
pub(crate) fn find(tokens: &Indexed, from: usize, pred: impl Fn(&Token) -> bool) -> Option<usize> {
    let mut depth = 0i32;
    for (pos, (_, t)) in tokens.iter().enumerate().skip(from) {
        if depth == 0 && pred(t) {
            return Some(pos);
        }
        if t.kind == Kind::Punct {
            match t.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                _ => {}
            }
        }
    }
    None
}

/// Length of the value (literal, marker or bracketed group) starting at `pos`.
pub(crate) fn value_len(tokens: &Indexed, pos: usize) -> usize {
    match tokens.get(pos) {
        Some((_, t)) if t.kind == Kind::Punct && matches!(t.text.as_str(), "(" | "[" | "{") => {
            find(tokens, pos + 1, |t| {
                matches!(t.text.as_str(), ")" | "]" | "}")
            })
            .map_or(tokens.len() - pos, |end| end + 1 - pos)
        }
        Some((_, t)) if t.is_punct("-") => 2,
        Some(_) => 1,
        None => 0,
    }
}

pub(crate) fn text_of(tokens: &[(usize, Token)]) -> String {
    tokens.iter().map(|(_, t)| t.text.as_str()).collect()
}

/// Parses `USING TTL x AND TIMESTAMP y` at `pos`; returns its length.
fn using_clause(tokens: &Indexed, pos: usize, roles: &mut Vec<(usize, Role)>) -> usize {
    let mut p = pos + 1;
    loop {
        let role = match tokens.get(p) {
            Some((_, t)) if t.is("TTL") => Role::Ttl,
            Some((_, t)) if t.is("TIMESTAMP") => Role::Timestamp,
            _ => break,
        };
        if let Some((i, t)) = tokens.get(p + 1)
            && t.kind == Kind::Marker
        {
            roles.push((*i, role));
        }
        p += 2;
        if !tokens.get(p).is_some_and(|(_, t)| t.is("AND")) {
            break;
        }
        p += 1;
    }
    p - pos
}

fn write(
    tokens: Vec<Token>,
    rw: &mut Rewritten,
    roles: &mut Vec<(usize, Role)>,
) -> Result<Indexed, String> {
    let mut toks: Indexed = tokens.into_iter().enumerate().collect();
    // USING clause (anywhere at top level: after VALUES (...), or before SET/WHERE).
    while let Some(pos) = find(&toks, 1, |t| t.is("USING")) {
        let len = using_clause(&toks, pos, roles);
        toks.drain(pos..pos + len);
    }
    // Trailing IF [NOT] EXISTS / IF conditions.
    if let Some(pos) = find(&toks, 1, |t| t.is("IF")) {
        let tail = &toks[pos + 1..];
        let exists = matches!(tail.len(), 1 if tail[0].1.is("EXISTS"))
            || matches!(tail.len(), 2 if tail[0].1.is("NOT") && tail[1].1.is("EXISTS"));
        if !exists {
            return Err("conditional writes (IF <condition>) are not supported".to_owned());
        }
        rw.lwt = true;
        toks.truncate(pos);
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::{Operand, Role, rewrite};

    #[test]
    fn insert_with_ttl() {
        let rw =
            rewrite("INSERT INTO ks.t (a, b) VALUES (?, 'x') IF NOT EXISTS USING TTL ?;").unwrap();
        assert_eq!(rw.text, "INSERT INTO KS.T (A, B) VALUES (?, 'x')");
        assert_eq!(rw.roles, vec![Role::Kept, Role::Ttl]);
        assert!(rw.lwt);
    }

    #[test]
    fn update_with_using() {
        let rw = rewrite("update t using ttl ? and timestamp 5 set a = ? where k = ?").unwrap();
        assert_eq!(rw.text, "UPDATE T SET A = ? WHERE K = ?");
        assert_eq!(rw.roles, vec![Role::Ttl, Role::Kept, Role::Kept]);
    }

    #[test]
    fn select_range_order_limit() {
        let rw = rewrite(
            "SELECT a FROM ks.t WHERE k = ? and ts >= ? AND ts < 10 ORDER BY ts DESC LIMIT ? ALLOW FILTERING",
        )
        .unwrap();
        assert_eq!(rw.text, "SELECT A FROM KS.T WHERE K = ?");
        assert_eq!(rw.roles, vec![Role::Kept, Role::Filter(0), Role::Limit]);
        assert_eq!(rw.filters[1].operand, Operand::Literal("10".into()));
        assert!(rw.order_desc);
        assert_eq!(rw.table.as_deref(), Some("ks.t"));
    }

    #[test]
    fn select_count() {
        let rw = rewrite("SELECT COUNT(*) FROM t WHERE ts > ?").unwrap();
        assert_eq!(rw.text, "SELECT * FROM T");
        assert_eq!(rw.count.as_deref(), Some("count"));
        assert_eq!(rw.roles, vec![Role::Filter(0)]);
    }

    #[test]
    fn unsupported() {
        assert!(rewrite("DROP TABLE t").is_err());
        assert!(rewrite("CREATE TYPE t (a int)").is_err());
        assert!(rewrite("CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY)").is_ok());
    }
}
