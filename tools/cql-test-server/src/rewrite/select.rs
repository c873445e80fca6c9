//! Rewriting of SELECT statements: `count(*)`, WHERE conditions kassandra cannot
//! evaluate, ORDER BY, LIMIT and ALLOW FILTERING.

use super::{Filter, Indexed, Operand, Rewritten, Role, find, text_of, value_len};
use crate::lexer::{Kind, Token};

pub(super) fn select(
    tokens: Vec<Token>,
    rw: &mut Rewritten,
    roles: &mut Vec<(usize, Role)>,
) -> Result<Indexed, String> {
    let mut toks: Indexed = tokens.into_iter().enumerate().collect();
    let from = find(&toks, 1, |t| t.is("FROM")).ok_or("SELECT without FROM")?;
    // count(*) / count(1) [AS name]
    let selection = &toks[1..from];
    if selection.len() >= 4 && selection[0].1.is("COUNT") && selection[1].1.is_punct("(") {
        let name = match selection {
            [_, _, _, _, (_, a), (_, n)] if a.is("AS") => n.text.to_ascii_lowercase(),
            [_, _, _, _] => "count".to_owned(),
            _ => return Err("count(*) can only be selected alone".to_owned()),
        };
        rw.count = Some(name);
        let star = Token {
            kind: Kind::Punct,
            text: "*".to_owned(),
            space_before: true,
        };
        let at = toks[1].0;
        toks.splice(1..from, [(at, star)]);
    }
    let from = find(&toks, 1, |t| t.is("FROM")).ok_or("SELECT without FROM")?;
    let mut table = String::new();
    for (n, (_, t)) in toks.iter().enumerate().skip(from + 1) {
        let name_part = t.kind == Kind::Word || t.kind == Kind::Quoted || t.is_punct(".");
        if !name_part || (n > from + 1 && t.space_before) {
            break;
        }
        table.push_str(&t.text);
    }
    rw.table = Some(table);
    let is_end = |t: &Token| {
        ["ORDER", "LIMIT", "ALLOW", "PER", "GROUP"]
            .iter()
            .any(|w| t.is(w))
    };
    let mut tail_start = find(&toks, from, is_end).unwrap_or(toks.len());
    if let Some(where_pos) = find(&toks, from, |t| t.is("WHERE")).filter(|w| *w < tail_start) {
        let mut kept: Indexed = Vec::new();
        let mut p = where_pos + 1;
        while p < tail_start {
            let (column, op) = match (toks.get(p), toks.get(p + 1)) {
                (Some((_, c)), Some((_, o))) if c.kind == Kind::Word => (c.clone(), o.clone()),
                _ => return Err("unsupported WHERE clause (multi-column relations?)".to_owned()),
            };
            let vlen = value_len(&toks, p + 2);
            let end = p + 2 + vlen;
            if op.is_punct("=") {
                if !kept.is_empty() {
                    kept.push((
                        toks[p].0,
                        Token {
                            kind: Kind::Word,
                            text: "AND".into(),
                            space_before: true,
                        },
                    ));
                }
                kept.extend(toks[p..end].iter().cloned());
            } else if ["<", "<=", ">", ">=", "!="].iter().any(|o| op.is_punct(o)) || op.is("IN") {
                let value = &toks[p + 2..end];
                let operand = match value {
                    [(i, t)] if t.kind == Kind::Marker => {
                        roles.push((*i, Role::Filter(rw.filters.len())));
                        Operand::Marker
                    }
                    _ if value.iter().any(|(_, t)| t.kind == Kind::Marker) => {
                        return Err("IN (?, ?, ...) is not supported; use IN ?".to_owned());
                    }
                    _ => Operand::Literal(text_of(value)),
                };
                rw.filters.push(Filter {
                    column: column.text.to_ascii_lowercase(),
                    op: op.text.to_ascii_uppercase(),
                    operand,
                });
            } else {
                return Err(format!("unsupported WHERE operator `{}`", op.text));
            }
            p = end;
            if toks.get(p).is_some_and(|(_, t)| t.is("AND")) {
                p += 1;
            } else if p < tail_start {
                return Err("unsupported WHERE clause".to_owned());
            }
        }
        if let Some((_, first)) = kept.first_mut() {
            first.space_before = true;
        }
        let keep_where = !kept.is_empty();
        let mut new: Indexed = toks[..where_pos + usize::from(keep_where)].to_vec();
        new.extend(kept);
        let tail_len = toks.len() - tail_start;
        new.extend(toks.drain(tail_start..));
        toks = new;
        tail_start = toks.len() - tail_len;
    }
    // Tail: ORDER BY, LIMIT, ALLOW FILTERING (all removed and handled here).
    let mut p = tail_start;
    while p < toks.len() {
        let t = &toks[p].1;
        if t.is("ORDER") {
            p += 2; // ORDER BY
            while let Some((_, c)) = toks.get(p) {
                if c.kind != Kind::Word || c.is("LIMIT") || c.is("ALLOW") {
                    break;
                }
                p += 1;
                if let Some((_, d)) = toks.get(p)
                    && (d.is("DESC") || d.is("ASC"))
                {
                    rw.order_desc = d.is("DESC");
                    p += 1;
                }
                if toks.get(p).is_some_and(|(_, c)| c.is_punct(",")) {
                    p += 1;
                }
            }
        } else if t.is("LIMIT") {
            match toks.get(p + 1) {
                Some((i, v)) if v.kind == Kind::Marker => roles.push((*i, Role::Limit)),
                Some((_, v)) if v.kind == Kind::Num => {
                    rw.limit = Some(v.text.parse().map_err(|_| "invalid LIMIT")?);
                }
                _ => return Err("invalid LIMIT".to_owned()),
            }
            p += 2;
        } else if t.is("ALLOW") && toks.get(p + 1).is_some_and(|(_, f)| f.is("FILTERING")) {
            p += 2;
        } else {
            return Err(format!("unsupported SELECT clause at `{}`", t.text));
        }
    }
    toks.truncate(tail_start);
    Ok(toks)
}
