//! The matcher grammar, its evaluation on every event form, its errors and its
//! configuration forms.

use bson::{Bson, DateTime, doc};
use eventstorm_core::matcher::{CmpOp, Condition, Expr, Literal, ParseError, TypePattern};
use eventstorm_core::{Event, Matcher, RawEvent, RawEventRef, Severity};
use serde::Deserialize;

fn m(text: &str) -> Matcher {
    Matcher::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> ParseError {
    match Matcher::parse(text) {
        Ok(matcher) => panic!("{text:?} parsed as {matcher:?}"),
        Err(e) => e,
    }
}

fn sample() -> Event {
    Event::builder("compute.instance.create.end")
        .timestamp(DateTime::from_millis(1_704_067_200_000)) // 2024-01-01T00:00:00Z
        .severity(Severity::Warning)
        .tenant("acme")
        .hostname("host-1")
        .pid(4242)
        .field("flavor", "m1.small")
        .field("size_gb", 20)
        .field("ratio", 0.5)
        .field("big", 9_007_199_254_740_993_i64)
        .field("active", true)
        .field("nothing", Bson::Null)
        .field("tags", vec![Bson::from("ssd"), Bson::from("fast")])
        .field("nested", doc! { "a": { "b": 3 } })
        .field("created", DateTime::from_millis(1_700_000_000_000))
        .field("quote", "say \"hi\"\n")
        .field("unicode", "héllo wörld")
        .build()
}

/// Evaluates on Event, RawEvent and RawEventRef and checks they agree.
fn on(matcher: &Matcher, event: &Event) -> bool {
    let decoded = matcher.matches_event(event);
    let raw = RawEvent::from_event(event).expect("valid");
    let bytes = event.to_bytes();
    let view = RawEventRef::from_bytes(&bytes).expect("valid");
    assert_eq!(
        matcher.matches(&raw),
        decoded,
        "RawEvent disagrees on `{matcher}`"
    );
    assert_eq!(
        matcher.matches_raw(view),
        decoded,
        "RawEventRef disagrees on `{matcher}`"
    );
    assert_eq!(matcher.matches_raw(raw.view()), decoded);
    decoded
}

fn holds(text: &str) -> bool {
    on(&m(text), &sample())
}

#[track_caller]
fn check(cases: &[(&str, bool)]) {
    for (text, expected) in cases {
        assert_eq!(holds(text), *expected, "{text}");
    }
}

#[test]
fn type_patterns() {
    assert_eq!(m("").types(), &[]);
    assert_eq!(m("*").types(), &[]);
    assert_eq!(m("a.*, *").types(), &[], "`*` anywhere means all types");
    assert_eq!(m("a.b").types(), &[TypePattern::Exact("a.b".into())]);
    assert_eq!(m("a.*").types(), &[TypePattern::Prefix("a.".into())]);
    assert_eq!(m("a.").types(), &[TypePattern::Prefix("a.".into())]);
    assert_eq!(m("a*").types(), &[TypePattern::Prefix("a".into())]);
    assert_eq!(m("a.*.end").types(), &[TypePattern::Glob("a.*.end".into())]);
    assert_eq!(m("a?").types(), &[TypePattern::Glob("a?".into())]);
    assert_eq!(
        m("a , b.*,c?d").types(),
        &[
            TypePattern::Exact("a".into()),
            TypePattern::Prefix("b.".into()),
            TypePattern::Glob("c?d".into()),
        ]
    );

    let t = |pattern: &str, event_type: &str| m(pattern).matches_type(event_type);
    assert!(t(
        "compute.instance.create.end",
        "compute.instance.create.end"
    ));
    assert!(!t("compute.instance.create", "compute.instance.create.end"));
    assert!(t("compute.*", "compute.instance.create.end"));
    assert!(t("compute.*", "compute."));
    assert!(!t("compute.*", "compute"));
    assert!(t("compute.", "compute.x"));
    assert!(t("compute*", "computer"));
    assert!(t("*.end", "compute.instance.create.end"));
    assert!(!t("*.end", "compute.instance.create.endx"));
    assert!(t("compute.*.end", "compute.instance.create.end"));
    assert!(t("compute.*.end", "compute..end"));
    assert!(!t("compute.*.end", "compute.end"));
    assert!(t("*.*", "a.b"));
    assert!(!t("*.*", "ab"));
    assert!(t("a*b*c", "abc"));
    assert!(t("a*b*c", "aXbYbZc"));
    assert!(!t("a*b*c", "aXbYbZ"));
    assert!(t("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
    assert!(!t("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert!(t("v?", "v1"));
    assert!(!t("v?", "v"));
    assert!(!t("v?", "v12"));
    assert!(t("v?*", "v12"));
    assert!(t("??", "ab"));
    assert!(t("a**", "a"));
    assert!(t("*a", "a"));
    // `?` is one character even outside ASCII (events built locally may have any type).
    assert!(t("a?b", "aéb"));
    assert!(t("a*b", "aéééb"));
    assert!(!t("a?b", "aééb"));
    assert!(t("a, b", "b"));
    assert!(!t("a, b", "c"));
}

#[test]
fn glob_agrees_with_a_regex() {
    let patterns = [
        "*", "a*", "*a", "a*b", "*a*", "a?b", "?*?", "a*b?c*", "**a**", "a.*.c",
    ];
    let texts = [
        "", "a", "b", "ab", "ba", "aab", "abb", "axb", "a.b.c", "abxc", "aXbYcZ", "a..c",
    ];
    for pattern in patterns {
        let regex = format!(
            "^{}$",
            regex::escape(pattern)
                .replace("\\*", ".*")
                .replace("\\?", ".")
        );
        let regex = regex::Regex::new(&regex).expect("valid");
        let parsed = TypePattern::parse(pattern).expect("valid");
        for text in texts {
            assert_eq!(
                parsed.matches(text),
                regex.is_match(text),
                "{pattern} on {text:?}"
            );
        }
    }
}

#[test]
fn subscriptions() {
    let subs = |text: &str| m(text).subscriptions();
    assert_eq!(subs(""), [""]);
    assert_eq!(subs("*"), [""]);
    assert_eq!(subs("* where tenant == 'x'"), [""]);
    assert_eq!(subs("a.b"), ["a.b"]);
    assert_eq!(subs("b.*, a.*"), ["a.", "b."], "sorted");
    assert_eq!(subs("a.*, a.*, a.*"), ["a."], "duplicates removed");
    assert_eq!(
        subs("a.b.c, a.*, a.b.*"),
        ["a."],
        "covered prefixes removed"
    );
    assert_eq!(
        subs("a.b, a.bc"),
        ["a.b"],
        "a.b covers a.bc as a ZeroMQ prefix"
    );
    assert_eq!(subs("a.b, a.c"), ["a.b", "a.c"]);
    assert_eq!(subs("compute.*.end, compute.instance.x"), ["compute."]);
    assert_eq!(
        subs("*.end, volume.*"),
        [""],
        "a leading glob needs everything"
    );
    assert_eq!(subs("v?.x, v1.*"), ["v"]);
    assert_eq!(subs("ab, a, abc, b"), ["a", "b"]);
    // Every type a matcher accepts is covered by one of its subscriptions.
    for text in [
        "a.*, b.c",
        "x?y, xy*",
        "compute.*.end, compute.instance.create.*",
    ] {
        let matcher = m(text);
        let subs = matcher.subscriptions();
        for t in [
            "a.x",
            "b.c",
            "xzy",
            "xy",
            "xyz",
            "compute.q.end",
            "compute.instance.create.end",
        ] {
            if matcher.matches_type(t) {
                assert!(
                    subs.iter().any(|s| t.starts_with(s.as_str())),
                    "{text}: {t}"
                );
            }
        }
    }
}

#[test]
fn comparison_operators() {
    check(&[
        ("where tenant == 'acme'", true),
        ("where tenant == \"acme\"", true),
        ("where tenant != 'acme'", false),
        ("where tenant != 'other'", true),
        ("where tenant < 'b'", true),
        ("where tenant <= 'acme'", true),
        ("where tenant > 'acme'", false),
        ("where tenant >= 'acme'", true),
        ("where body.size_gb == 20", true),
        ("where body.size_gb != 20", false),
        ("where body.size_gb < 20", false),
        ("where body.size_gb <= 20", true),
        ("where body.size_gb > 19", true),
        ("where body.size_gb >= 21", false),
        ("where severity == 4", true),
        ("where severity <= 4", true),
        ("where severity < 4", false),
        ("where pid == 4242", true),
        ("where body.active == true", true),
        ("where body.active != false", true),
        ("where body.active == 1", false),
        ("where body.active < true", false),
        ("where body.size_gb == '20'", false),
        ("where body.flavor > 1", false),
        ("where body.tags.0 == 'ssd'", true),
        ("where body.tags.1 == 'fast'", true),
        ("where body.tags.2 == 'fast'", false),
        ("where body.nested.a.b == 3", true),
        ("where body.nested.a == 3", false),
        ("where body.nested != 3", true),
        ("where body.quote == \"say \\\"hi\\\"\\n\"", true),
        ("where body.quote == 'say \"hi\"\\n'", true),
        ("where body.unicode == 'héllo wörld'", true),
        ("where type == 'compute.instance.create.end'", true),
        ("where hostname == 'host-1' && pid == 4242", true),
    ]);
}

#[test]
fn numbers_int_and_float() {
    check(&[
        ("where body.size_gb == 20.0", true),
        ("where body.size_gb < 20.5", true),
        ("where body.size_gb > 19.99", true),
        ("where body.size_gb == 2e1", true),
        ("where body.ratio == 0.5", true),
        ("where body.ratio == .5", true),
        ("where body.ratio < 1", true),
        ("where body.ratio > 0", true),
        ("where body.ratio == 5e-1", true),
        ("where body.ratio >= -1", true),
        ("where body.size_gb == +20", true),
        ("where body.size_gb > -20", true),
        // 2^53 + 1 is not 2^53, even though `as f64` would round it there.
        ("where body.big == 9007199254740993", true),
        ("where body.big == 9007199254740992.0", false),
        ("where body.big > 9007199254740992.0", true),
        ("where body.big < 9007199254740994.0", true),
        ("where body.big in [9007199254740992.0]", false),
        // Beyond i64: parsed as a float, compared exactly.
        ("where body.big < 9223372036854775808", true),
        ("where body.big > -9223372036854775809", true),
    ]);
    assert_eq!(
        m("where x == 9223372036854775808").condition(),
        Some(&Expr::Cond(Condition::Compare(
            "x".into(),
            CmpOp::Eq,
            Literal::Float(9_223_372_036_854_775_808.0)
        )))
    );
    assert_eq!(
        m("where x == -9223372036854775808").condition(),
        Some(&Expr::Cond(Condition::Compare(
            "x".into(),
            CmpOp::Eq,
            Literal::Int(i64::MIN)
        )))
    );
    // Float field against int literal, in both directions around the value.
    let event = Event::builder("n")
        .field("f", 2.5)
        .field("neg", -2.5)
        .build();
    for (text, expected) in [
        ("where body.f > 2", true),
        ("where body.f < 3", true),
        ("where body.f == 2", false),
        ("where body.neg < -2", true),
        ("where body.neg > -3", true),
        ("where body.neg == -2", false),
    ] {
        assert_eq!(on(&m(text), &event), expected, "{text}");
    }
    let nan = Event::builder("n").field("f", f64::NAN).build();
    assert!(!on(&m("where body.f == 1"), &nan));
    assert!(!on(&m("where body.f < 1"), &nan));
    assert!(!on(&m("where body.f >= 1"), &nan));
    assert!(on(&m("where body.f != 1"), &nan));
}

#[test]
fn logic_precedence_and_parentheses() {
    check(&[
        ("where tenant == 'acme' and severity == 4", true),
        ("where tenant == 'acme' and severity == 5", false),
        ("where tenant == 'x' or severity == 4", true),
        ("where tenant == 'x' || severity == 5", false),
        // `and` binds tighter than `or`.
        ("where tenant == 'x' and severity == 5 or pid == 4242", true),
        ("where pid == 4242 or tenant == 'x' and severity == 5", true),
        (
            "where (pid == 4242 or tenant == 'x') and severity == 5",
            false,
        ),
        ("where pid == 1 or pid == 2 or pid == 4242", true),
        ("where pid == 4242 and pid == 4242 and pid == 1", false),
        // `not` binds tighter than both.
        ("where not tenant == 'x' and severity == 4", true),
        ("where not (tenant == 'acme' and severity == 4)", false),
        ("where ! tenant == 'acme'", false),
        ("where !(tenant == 'x')", true),
        ("where not not tenant == 'acme'", true),
        (
            "where NOT tenant == 'x' AND pid == 4242 OR false_field == 1",
            true,
        ),
        ("where ((((tenant == 'acme'))))", true),
        (
            "where (tenant == 'acme') and (not (pid == 1 or pid == 2))",
            true,
        ),
    ]);
    let parsed = m("where a == 1 or b == 2 and not c == 3");
    let cond = |p: &str, v| Expr::Cond(Condition::Compare(p.into(), CmpOp::Eq, Literal::Int(v)));
    assert_eq!(
        parsed.condition(),
        Some(&Expr::Any(vec![
            cond("a", 1),
            Expr::All(vec![cond("b", 2), Expr::Not(Box::new(cond("c", 3)))]),
        ]))
    );
}

#[test]
fn exists_regex_in() {
    check(&[
        ("where exists(tenant)", true),
        ("where exists(logger)", false),
        ("where exists(body.nothing)", true),
        ("where exists(body.tags.1)", true),
        ("where exists(body.tags.5)", false),
        ("where not exists(body.missing)", true),
        ("where exists ( body.nested.a )", true),
        ("where body.flavor =~ '^m1\\.'", true),
        ("where body.flavor =~ \"^m1\\.\"", true),
        ("where body.flavor =~ \"^m1\\\\.\"", true),
        ("where body.flavor =~ 'small'", true),
        ("where body.flavor =~ '^small'", false),
        ("where body.flavor =~ '(?i)M1'", true),
        ("where body.unicode =~ '^h.llo'", true),
        ("where body.size_gb =~ '20'", false),
        ("where body.missing =~ '.*'", false),
        ("where tenant in ['x', 'acme']", true),
        ("where tenant in ['x']", false),
        ("where body.size_gb in [1, 20.0, 'x']", true),
        ("where body.missing in [null]", true),
        ("where body.missing in [1, 2]", false),
        ("where body.active in [true]", true),
        ("where not tenant in ['acme']", false),
    ]);
    let Some(Expr::Cond(Condition::Regex(path, regex))) = m("where a =~ 'x+'").condition().cloned()
    else {
        panic!("regex");
    };
    assert_eq!(path, "a");
    assert_eq!(regex.0.as_str(), "x+");
}

#[test]
fn null_semantics() {
    check(&[
        ("where body.nothing == null", true),
        ("where body.missing == null", true),
        ("where body.nothing != null", false),
        ("where body.missing != null", false),
        ("where tenant == null", false),
        ("where tenant != null", true),
        ("where body.nothing < 1", false),
        ("where body.missing < 1", false),
        ("where body.missing != 1", true),
        ("where body.nothing == 0", false),
        ("where body.nothing == false", false),
        ("where body.nothing == ''", false),
        ("where body.missing == NULL", true),
    ]);
}

#[test]
fn datetimes() {
    // ts is 2024-01-01T00:00:00Z = 1704067200000 ms.
    check(&[
        ("where ts == 1704067200000", true),
        ("where ts >= '2024-01-01T00:00:00Z'", true),
        ("where ts == '2024-01-01T00:00:00Z'", true),
        ("where ts == '2024-01-01T01:00:00+01:00'", true),
        ("where ts > '2023-12-31T23:59:59.999Z'", true),
        ("where ts < '2024-01-01T00:00:00.001Z'", true),
        ("where ts < '2024-01-01T00:00:00Z'", false),
        ("where ts != '2024-01-01T00:00:00Z'", false),
        ("where ts < 'not a date'", false),
        ("where ts == 'not a date'", false),
        ("where body.created < '2024-01-01T00:00:00Z'", true),
        ("where body.created > 1699999999999", true),
        ("where body.created in [1700000000000]", true),
        ("where body.created == 1700000000000.0", false),
    ]);
}

#[test]
fn severity_field_forms() {
    // Severity is an int32 on the wire; a matcher compares it numerically.
    let event = Event::builder("x").severity(Severity::Error).build();
    assert!(on(&m("where severity <= 3"), &event));
    assert!(!on(&m("where severity < 3"), &event));
    assert!(on(&m("where severity in [0, 1, 2, 3]"), &event));
}

#[test]
fn types_and_condition_together() {
    let event = sample();
    assert!(on(&m("compute.* where tenant == 'acme'"), &event));
    assert!(!on(&m("volume.* where tenant == 'acme'"), &event));
    assert!(!on(&m("compute.* where tenant == 'x'"), &event));
    assert!(on(
        &m("volume.*, compute.instance.create.end WHERE pid == 4242"),
        &event
    ));
    assert!(on(&Matcher::any(), &event));
    assert!(on(&Matcher::default(), &event));
    assert_eq!(Matcher::any(), m(""));
}

#[test]
fn keywords_are_case_insensitive_but_not_paths() {
    assert_eq!(
        m("a WHERE x == TRUE Or y == False aNd z == Null"),
        m("a where x == true or y == false and z == null")
    );
    for keyword in ["and", "or", "in", "true", "false", "null", "where", "AND"] {
        let e = err(&format!("where {keyword} == 1"));
        assert!(e.expected().contains("field path"), "{keyword}: {e}");
    }
    // Keyword prefixes are ordinary fields.
    assert!(
        m("where android == 1 and notes == 2 and index == 3 and nullable == 4")
            .condition()
            .is_some()
    );
}

struct Bad {
    input: &'static str,
    column: usize,
    expected: &'static str,
    found: &'static str,
}

#[test]
fn parse_errors_point_at_the_problem() {
    let cases = [
        Bad {
            input: "a where tenant == 'acme",
            column: 19,
            expected: "a closing '",
            found: "end of input",
        },
        Bad {
            input: "a where body.size_gb >> 3",
            column: 23,
            expected: "a value",
            found: "`>`",
        },
        Bad {
            input: "a where tenant ==",
            column: 18,
            expected: "a value",
            found: "end of input",
        },
        Bad {
            input: "a where tenant == and",
            column: 19,
            expected: "a value",
            found: "`and`",
        },
        Bad {
            input: "a where x =~ '('",
            column: 14,
            expected: "a valid regular expression",
            found: "\"(\": unclosed group",
        },
        Bad {
            input: "a where x =~ 3",
            column: 14,
            expected: "a quoted regular expression",
            found: "`3`",
        },
        Bad {
            input: "a where x == 1 y",
            column: 16,
            expected: "`and`, `or` or end of input",
            found: "`y`",
        },
        Bad {
            input: "a where x == 1)",
            column: 15,
            expected: "`and`, `or` or end of input",
            found: "`)`",
        },
        Bad {
            input: "volume.* tenant == 'x'",
            column: 10,
            expected: "`,`, `where` or end of input",
            found: "`tenant`",
        },
        Bad {
            input: "a where x in []",
            column: 15,
            expected: "a value",
            found: "`]`",
        },
        Bad {
            input: "a where x in 1",
            column: 14,
            expected: "`[` after `in`",
            found: "`1`",
        },
        Bad {
            input: "a where x in [1 2]",
            column: 17,
            expected: "`,` or `]`",
            found: "`2`",
        },
        Bad {
            input: "a where x = 1",
            column: 11,
            expected: "a field, a value",
            found: "'='",
        },
        Bad {
            input: "a where (x == 1",
            column: 16,
            expected: "`)`",
            found: "end of input",
        },
        Bad {
            input: "a where exists x",
            column: 16,
            expected: "`(` after `exists`",
            found: "`x`",
        },
        Bad {
            input: "a where exists(x",
            column: 17,
            expected: "`)`",
            found: "end of input",
        },
        Bad {
            input: "a where",
            column: 8,
            expected: "a field path",
            found: "end of input",
        },
        Bad {
            input: "a where x == 1 and",
            column: 19,
            expected: "a field path",
            found: "end of input",
        },
        Bad {
            input: "a where x",
            column: 10,
            expected: "a comparison after the field",
            found: "end of input",
        },
        Bad {
            input: "a where 1x == 2",
            column: 9,
            expected: "a field path",
            found: "`1x`",
        },
        Bad {
            input: "a where x == abc",
            column: 14,
            expected: "a value",
            found: "`abc`",
        },
        Bad {
            input: "a where x == inf",
            column: 14,
            expected: "a value",
            found: "`inf`",
        },
        Bad {
            input: "a where x == 1e999",
            column: 14,
            expected: "a value",
            found: "`1e999`",
        },
        Bad {
            input: "a,",
            column: 3,
            expected: "an event type pattern",
            found: "end of input",
        },
        Bad {
            input: ", a",
            column: 1,
            expected: "an event type pattern",
            found: "`,`",
        },
        Bad {
            input: "a,,b",
            column: 3,
            expected: "an event type pattern",
            found: "`,`",
        },
        Bad {
            input: "vol+ume",
            column: 4,
            expected: "an event type pattern",
            found: "'+' at byte 3",
        },
        Bad {
            input: "a; b",
            column: 2,
            expected: "a field, a value",
            found: "';'",
        },
        Bad {
            input: "a where x == 'é' and y >> 1",
            column: 25,
            expected: "a value",
            found: "`>`",
        },
        Bad {
            input: "a where ünïcödé == 1",
            column: 9,
            expected: "a field, a value",
            found: "'ü'",
        },
        Bad {
            input: "a where x == '日本' or ¬y",
            column: 22,
            expected: "a field, a value",
            found: "'¬'",
        },
        Bad {
            input: "a where x & y",
            column: 11,
            expected: "a field, a value",
            found: "'&'",
        },
        Bad {
            input: "a where x == \"unterminated \\\"",
            column: 14,
            expected: "a closing \"",
            found: "end of input",
        },
    ];
    for Bad {
        input,
        column,
        expected,
        found,
    } in cases
    {
        let e = err(input);
        assert_eq!(e.column(), column, "{input:?}: {e}");
        assert!(
            e.expected().contains(expected),
            "{input:?}: expected {:?}",
            e.expected()
        );
        assert!(
            e.found().contains(found),
            "{input:?}: found {:?}",
            e.found()
        );
        // The message shows the input with a caret under the column.
        let message = e.to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 3, "{message}");
        assert_eq!(lines[1], format!("  {input}"));
        assert_eq!(lines[2].chars().count(), column + 2, "{message}");
        assert!(lines[2].ends_with('^'));
        assert!(lines[0].contains(&format!("column {column}")));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("where {}x == 1{}", "(".repeat(100_000), ")".repeat(100_000));
    let e = err(&deep);
    assert!(e.expected().contains("nested at most"), "{}", e.expected());
    let e = err(&format!("where {}x == 1", "not ".repeat(100_000)));
    assert!(e.expected().contains("nested at most"));
    let e = err(&format!("where {}x == 1", "!".repeat(100_000)));
    assert!(e.expected().contains("nested at most"));
    // Reasonable nesting is fine.
    let ok = format!("where {}x == 1{}", "(not ".repeat(30), ")".repeat(30));
    assert!(Matcher::parse(&ok).is_ok());
    // Long flat chains are not nesting.
    let flat = format!("where {}", vec!["x == 1"; 10_000].join(" or "));
    assert!(Matcher::parse(&flat).is_ok());
}

#[test]
fn display_round_trips() {
    for text in [
        "",
        "*",
        "a.b",
        "a.*, b., c?d, *.end",
        "a where x == 1",
        "where x == 1.5 and y != -2 or not z < 1e300",
        "where x == 1e-7 and y == 0.1 and z == 100000000000000000000.0 and w == -0.0",
        "where x == 'it\\'s'",
        r#"where x == "quote \" backslash \\ newline \n tab \t cr \r""#,
        r#"where x =~ "^m1\.\d+$" and y =~ '\\\\' and z =~ "a\"b""#,
        "where x in [1, 'a', true, null, 2.5] and exists(y.z.0)",
        "where not (a == 1 or b == 2) and (c == 3 or not d == 4)",
        "where not not a == 1",
        "where ((a == 1 and b == 2) and c == 3) or (d == 4 or e == 5)",
        "where x == 'héllo 日本 \u{1F600}' and y == '\u{0}\u{7f}'",
        "where ts >= '2024-01-01T00:00:00Z'",
        "compute.instance.* WHERE tenant == 'acme' AND body.size_gb >= 10",
    ] {
        let first = m(text);
        let printed = first.to_string();
        let second = Matcher::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
        assert_eq!(first, second, "{text:?} printed as {printed:?}");
        assert_eq!(second.to_string(), printed, "printing is stable");
    }
    assert_eq!(m("").to_string(), "*");
    assert_eq!(m("a.*, b").to_string(), "a.*, b");
    assert_eq!(
        m("a where x == 1 and y == 'b'").to_string(),
        r#"a where (x == 1 and y == "b")"#
    );
    assert_eq!(m("where x == 2.0").to_string(), "* where x == 2.0");
}

#[derive(Deserialize, Debug)]
struct Rule {
    #[serde(rename = "match")]
    matcher: Matcher,
}

fn rule(text: &str) -> Result<Matcher, String> {
    toml::from_str::<Rule>(text)
        .map(|r| r.matcher)
        .map_err(|e| e.to_string())
}

#[test]
fn toml_string_form() {
    let parsed =
        rule(r#"match = 'compute.instance.* where body.flavor =~ "^m1\."'"#).expect("valid");
    assert_eq!(
        parsed,
        m(r#"compute.instance.* where body.flavor =~ "^m1\.""#)
    );
    assert!(on(&parsed, &sample()));
    let e = rule("match = 'a where x >> 1'").unwrap_err();
    assert!(e.contains("column 12"), "{e}");
}

#[test]
fn toml_table_form() {
    let parsed = rule(
        r#"
        [match]
        types = ["compute.instance.*", "volume.*"]
        where = 'severity <= 4'
        all = [{ field = "tenant", eq = "acme" }, { field = "body.size_gb", ge = 10 }]
        any = [{ field = "body.ratio", lt = 0.75 }, { field = "body.flavor", regex = "^m1\\." }]
        none = [{ field = "body.test", exists = true }, { field = "body.flavor", in = ["x", "y"] }]
        "#,
    )
    .expect("valid");
    let expected = m(
        r#"compute.instance.*, volume.* where severity <= 4 and tenant == "acme"
        and body.size_gb >= 10 and (body.ratio < 0.75 or body.flavor =~ "^m1\.")
        and not exists(body.test) and not body.flavor in ["x", "y"]"#,
    );
    assert_eq!(parsed, expected);
    assert!(on(&parsed, &sample()));

    // Every operator.
    for (table, holds) in [
        (r#"{ field = "body.size_gb", eq = 20 }"#, true),
        (r#"{ field = "body.size_gb", ne = 20 }"#, false),
        (r#"{ field = "body.size_gb", lt = 20 }"#, false),
        (r#"{ field = "body.size_gb", le = 20 }"#, true),
        (r#"{ field = "body.size_gb", gt = 19.5 }"#, true),
        (r#"{ field = "body.size_gb", ge = 21 }"#, false),
        (r#"{ field = "body.active", eq = true }"#, true),
        (r#"{ field = "body.nope", exists = false }"#, true),
        (r#"{ field = "body.flavor", regex = "small$" }"#, true),
        (r#"{ field = "tenant", in = ["acme", 1] }"#, true),
    ] {
        let parsed = rule(&format!("match = {{ all = [{table}] }}")).expect(table);
        assert_eq!(on(&parsed, &sample()), holds, "{table}");
        assert!(parsed.types().is_empty());
    }

    // A table with nothing matches everything.
    assert_eq!(rule("[match]").expect("valid"), Matcher::any());
    assert_eq!(
        rule("match = { types = ['*'] }").expect("valid"),
        Matcher::any()
    );
}

#[test]
fn toml_table_errors() {
    let cases = [
        ("match = { typos = ['a'] }", "typos"),
        (
            "match = { all = [{ field = 'x', eq = 1, colour = 2 }] }",
            "colour",
        ),
        (
            "match = { all = [{ field = 'x', eq = 1, ne = 2 }] }",
            "2 operators",
        ),
        (
            "match = { all = [{ field = 'x', exists = true, regex = 'a' }] }",
            "2 operators",
        ),
        ("match = { all = [{ field = 'x' }] }", "0 operators"),
        ("match = { all = [{ eq = 1 }] }", "field"),
        (
            "match = { all = [{ field = 'x', regex = '(' }] }",
            "invalid regex for field `x`",
        ),
        ("match = { types = ['a b'] }", "invalid type pattern"),
        ("match = { types = [''] }", "empty pattern"),
        ("match = { where = 'x >> 1' }", "in `where`"),
        (
            "match = { all = [{ field = 'x', in = [] }] }",
            "at least one value",
        ),
        (
            "match = { all = [{ field = 'x', eq = inf }] }",
            "not a finite number",
        ),
        (
            "match = { all = [{ field = 'x', in = [nan] }] }",
            "not a finite number",
        ),
        (
            "match = { all = [{ field = 'and', eq = 1 }] }",
            "`and` is not a field path",
        ),
        (
            "match = { all = [{ field = 'a..b', eq = 1 }] }",
            "not a field path",
        ),
        (
            "match = { all = [{ field = 'a b', eq = 1 }] }",
            "not a field path",
        ),
        ("match = 3", "a matcher"),
    ];
    for (text, needle) in cases {
        let e = rule(text).expect_err(text);
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn table_form_prints_as_an_equal_string_form() {
    for text in [
        "match = { any = [{ field = 'x', eq = 1 }] }",
        "match = { any = [{ field = 'x', eq = 1 }, { field = 'y', eq = 2.5 }], none = [{ field = 'z', exists = true }] }",
        "match = { types = ['a.*', 'b'], where = 'x == 1 or y == 2', all = [{ field = 'z', regex = '^q\\.' }] }",
        "match = { all = [{ field = 'x', in = ['a', 1, 2.5, false] }] }",
    ] {
        let parsed = rule(text).expect(text);
        let printed = parsed.to_string();
        assert_eq!(m(&printed), parsed, "{text} printed as {printed}");
    }
}

#[test]
fn serialize_is_the_string_form() {
    #[derive(serde::Serialize)]
    struct Out {
        #[serde(rename = "match")]
        matcher: Matcher,
    }
    let matcher = m("a.* where x == 1");
    let text = toml::to_string(&Out {
        matcher: matcher.clone(),
    })
    .expect("serializes");
    assert_eq!(rule(&text).expect("parses back"), matcher);
}

#[test]
fn fields_on_a_custom_type() {
    use eventstorm_core::matcher::{FieldValue, Fields};
    struct Fake;
    impl Fields for Fake {
        fn event_type(&self) -> &str {
            "fake.type"
        }
        fn field(&self, path: &str) -> Option<FieldValue<'_>> {
            (path == "n").then_some(FieldValue::Int(3))
        }
    }
    assert!(m("fake.* where n == 3").matches(&Fake));
    assert!(!m("fake.* where n == 4").matches(&Fake));
    assert!(!m("other where n == 3").matches(&Fake));
}
