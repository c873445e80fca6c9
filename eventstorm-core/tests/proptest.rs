//! Property tests: nothing received from the network panics, what validates
//! decodes, nested structures round-trip and stop at the depth limit, and
//! matchers print as text that parses back to the same matcher.

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Timestamp, doc};
use eventstorm_core::event::MAX_DEPTH;
use eventstorm_core::matcher::TypePattern;
use eventstorm_core::{DecodeError, Event, Header, Matcher, RawEvent, RawEventRef, wire};
use proptest::prelude::*;

fn base_event() -> Event {
    Event::builder("compute.instance.create.end")
        .id(ObjectId::from_bytes([5; 12]))
        .timestamp(DateTime::from_millis(1_700_000_000_000))
        .tenant("acme")
        .logger("l")
        .pid(7)
        .fields(doc! {
            "s": "str",
            "d": 1.5,
            "i": 3,
            "l": 4_i64,
            "b": true,
            "n": Bson::Null,
            "dt": DateTime::from_millis(5),
            "arr": [1, "x", { "k": [2, 3] }],
            "doc": { "a": { "b": "c" }, "e": [] },
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "oid": ObjectId::from_bytes([9; 12]),
            "re": bson::Regex { pattern: "a+".try_into().expect("no NUL"), options: "i".try_into().expect("no NUL") },
            "js": Bson::JavaScriptCode("f()".into()),
            "ts": Timestamp { time: 1, increment: 2 },
            "dec": Decimal128::from_bytes([1; 16]),
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
        })
        .build()
}

/// Every dotted path of a document (arrays by index), plus some that do not exist.
fn all_paths(doc: &Document) -> Vec<String> {
    fn walk(prefix: &str, value: &Bson, out: &mut Vec<String>) {
        out.push(prefix.to_string());
        match value {
            Bson::Document(d) => {
                for (k, v) in d {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            Bson::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}.{i}"), v, out);
                }
            }
            _ => {}
        }
        out.push(format!("{prefix}.nope"));
        out.push(format!("{prefix}.0"));
        out.push(format!("{prefix}.99"));
    }
    let mut out = vec![String::new(), ".".into(), "..".into()];
    for (k, v) in doc {
        walk(k, v, &mut out);
    }
    out
}

fn matchers_over(paths: &[String]) -> Vec<Matcher> {
    let mut out = vec![Matcher::any()];
    for path in paths
        .iter()
        .filter(|p| Matcher::parse(&format!("where exists({p})")).is_ok())
    {
        out.push(
            Matcher::parse(&format!(
                "* where exists({path}) or {path} == 1 or {path} < 'x' or {path} >= 2.5 \
                 or {path} =~ 'a' or {path} in [null, true, '2024-01-01T00:00:00Z'] or {path} > '2024-01-01T00:00:00Z'"
            ))
            .expect("valid matcher"),
        );
    }
    out
}

/// Reads everything a receiver may read from a view; none of it may panic.
fn read_everything(raw: RawEventRef<'_>, paths: &[String], matchers: &[Matcher]) {
    let _ = (
        raw.event_type(),
        raw.id(),
        raw.timestamp(),
        raw.severity(),
        raw.tenant(),
    );
    let _ = raw.body().map(|b| b.iter().count());
    for path in paths {
        if let Some(value) = raw.get(path) {
            let _ = Bson::try_from(value);
        }
    }
    let _ = raw.payload::<Document>();
    let _ = raw.payload::<std::collections::BTreeMap<String, Bson>>();
    let decoded = raw.to_event();
    // Validation is the only check a receiver makes: what passes it decodes.
    assert!(decoded.is_ok(), "validated, yet: {decoded:?}");
    let results: Vec<bool> = matchers.iter().map(|m| m.matches_raw(raw)).collect();
    // When the whole document decodes, decoded and raw evaluation agree.
    if let Ok(event) = decoded {
        for path in paths {
            let _ = event.get(path);
        }
        let decoded_results: Vec<bool> = matchers.iter().map(|m| m.matches_event(&event)).collect();
        assert_eq!(results, decoded_results);
    }
    if let Ok(owned) = RawEvent::from_bytes(raw.as_bytes().to_vec()) {
        let _ = owned.to_event();
        let _ = owned.event_type();
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        3 => (any::<usize>(), prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()])
            .prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1..8usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Flip(i, m) => {
            if let Some(b) = bytes.get_mut(i % len) {
                *b ^= m;
            }
        }
        Mutation::Set(i, v) => {
            if let Some(b) = bytes.get_mut(i % len) {
                *b = *v;
            }
        }
        Mutation::Truncate(n) => bytes.truncate(n % len),
        Mutation::Extend(more) => bytes.extend_from_slice(more),
        Mutation::Insert(i, more) => {
            let at = i % len.min(bytes.len() + 1);
            bytes.splice(at..at, more.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = (i % len).min(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Header::decode(&bytes);
        let _ = Event::from_bytes(&bytes);
        let _ = RawEvent::from_bytes(bytes.clone());
        if let Ok(raw) = RawEventRef::from_bytes(&bytes) {
            read_everything(raw, &all_paths(&base_event().into_document()), &[]);
        }
        let _ = wire::decode(&[b"x", &bytes, &bytes]);
    }

    #[test]
    fn random_bson_shaped_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 5..300)) {
        // A correct length prefix and terminator get past the first check, so the
        // element parser sees the random bytes.
        let len = bytes.len();
        bytes[..4].copy_from_slice(&(len as i32).to_le_bytes());
        bytes[len - 1] = 0;
        let _ = Event::from_bytes(&bytes);
        if let Ok(raw) = RawEventRef::from_bytes(&bytes) {
            read_everything(raw, &all_paths(&base_event().into_document()), &[]);
        }
    }

    #[test]
    fn random_frames_never_panic(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..5),
    ) {
        let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let _ = wire::decode(&frames);
    }

    #[test]
    fn random_headers(publisher in any::<u64>(), sequence in any::<u64>(), flags in any::<u8>(),
                      version in any::<u8>(), cut in 0..=18usize) {
        let header = Header { publisher, sequence };
        let mut bytes = header.encode();
        prop_assert_eq!(Header::decode(&bytes), Ok(header));
        bytes[1] = flags & !1;
        prop_assert_eq!(Header::decode(&bytes), Ok(header));
        bytes[0] = version;
        prop_assert_eq!(Header::decode(&bytes).is_ok(), version == wire::VERSION);
        bytes[0] = wire::VERSION;
        prop_assert_eq!(Header::decode(&bytes[..cut]).is_ok(), cut == wire::HEADER_LEN);
    }

    #[test]
    fn mutated_events_never_panic(
        mutations in prop::collection::vec(mutation(), 1..6),
        fix_length in any::<bool>(),
    ) {
        let event = base_event();
        let paths = all_paths(event.as_document());
        let matchers = matchers_over(&paths);
        let mut bytes = event.to_bytes();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if fix_length && bytes.len() >= 5 {
            let len = bytes.len();
            bytes[..4].copy_from_slice(&(len as i32).to_le_bytes());
            bytes[len - 1] = 0;
        }
        let _ = Event::from_bytes(&bytes).map(|e| {
            for path in &paths {
                let _ = e.get(path);
            }
            let _ = (e.severity(), e.pid(), e.tenant(), e.body().len(), e.to_bytes());
        });
        if let Ok(raw) = RawEventRef::from_bytes(&bytes) {
            read_everything(raw, &paths, &matchers);
        }
        let head = Header { publisher: 1, sequence: 1 }.encode();
        if let Ok((_, raw)) = wire::decode(&[event.event_type().as_bytes(), &head, &bytes]) {
            read_everything(raw, &paths, &matchers);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic_the_parser(text in any::<String>()) {
        let _ = Matcher::parse(&text);
    }

    #[test]
    fn token_soup_never_panics_the_parser(
        tokens in prop::collection::vec(prop::sample::select(vec![
            "where", "and", "or", "not", "in", "exists", "true", "false", "null", "(", ")", "[", "]",
            ",", "==", "!=", "<", "<=", ">", ">=", "=~", "!", "&&", "||", "x", "body.a", "a.*", "*",
            "?", "1", "-2.5", "1e9", "'s'", "\"t\"", "'", "\"", "\\", "é", "日", " ", "=", "&", "|",
            "'\\", "\"(\"", "'['", "+", ".", "..",
        ]), 0..24),
    ) {
        let text: String = tokens.concat();
        match Matcher::parse(&text) {
            Ok(matcher) => {
                // Whatever parses prints as text that parses back the same.
                let printed = matcher.to_string();
                let again = Matcher::parse(&printed);
                prop_assert_eq!(again.as_ref().ok(), Some(&matcher), "{} printed as {}", text, printed);
            }
            Err(e) => {
                prop_assert!(e.column() >= 1 && e.column() <= text.chars().count() + 1, "{}", e);
                let _ = e.to_string();
            }
        }
    }
}

// Nested structures: what the encoder writes, every receiver accepts and
// `bson` reads back; what corruption does to it.

/// A key: any text without NUL (BSON keys are C strings).
fn key() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,6}"
}

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        // Any text: BSON strings are length-prefixed and may hold NUL.
        any::<String>().prop_map(Bson::String),
        any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(subtype, bytes)| {
            // The old subtype 0x02 has an inner length `bson` writes itself.
            let subtype = if subtype == 2 { 0 } else { subtype };
            Bson::Binary(Binary {
                subtype: BinarySubtype::from(subtype),
                bytes,
            })
        }),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        ("[^\u{0}]{0,4}", any::<u8>()).prop_map(|(pattern, mask)| {
            // Options in alphabetical order, as `bson` reads them back.
            let options: String = "ilmsux"
                .chars()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, c)| c)
                .collect();
            Bson::RegularExpression(bson::Regex {
                pattern: pattern.try_into().expect("no NUL"),
                options: options.try_into().expect("no NUL"),
            })
        }),
        any::<String>().prop_map(Bson::JavaScriptCode),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ]
}

fn document(inner: impl Strategy<Value = Bson>) -> impl Strategy<Value = Document> {
    prop::collection::vec((key(), inner), 0..6).prop_map(|kvs| kvs.into_iter().collect())
}

/// Any BSON value, documents and arrays nested up to 8 levels.
fn value() -> impl Strategy<Value = Bson> + Clone {
    leaf().prop_recursive(8, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            document(inner.clone()).prop_map(Bson::Document),
            (any::<String>(), document(inner)).prop_map(|(code, scope)| {
                Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope { code, scope })
            }),
        ]
    })
}

/// How deep a value nests (a leaf is 0, an empty document 1).
fn depth(value: &Bson) -> usize {
    match value {
        Bson::Document(doc) => 1 + doc.values().map(depth).max().unwrap_or(0),
        Bson::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Bson::JavaScriptCodeWithScope(code) => {
            1 + code.scope.values().map(depth).max().unwrap_or(0)
        }
        _ => 0,
    }
}

fn nested_event(body: Document) -> Event {
    Event::builder("prop.nested")
        .id(ObjectId::from_bytes([3; 12]))
        .timestamp(DateTime::from_millis(1_700_000_000_000))
        .fields(body)
        .build()
}

/// What validates must read back whole: the claim that makes validation the
/// only check a receiver needs.
fn assert_readable_when_valid(bytes: &[u8]) {
    if let Ok(raw) = RawEventRef::from_bytes(bytes) {
        let doc = bson::raw::RawDocument::from_bytes(bytes).expect("framed");
        if let Err(e) = Document::try_from(doc) {
            panic!("validated, yet bson cannot read it: {e}\n{bytes:?}");
        }
        raw.to_event().expect("a validated event decodes");
        Event::from_bytes(bytes).expect("a validated event decodes");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn nested_documents_round_trip_through_encode_and_validate(body in document(value())) {
        let event = nested_event(body);
        let bytes = event.to_bytes();
        let mut theirs = Vec::new();
        event.as_document().to_writer(&mut theirs).expect("bson encodes");
        prop_assert_eq!(&bytes, &theirs);
        let raw = RawEventRef::from_bytes(&bytes).expect("what we encode validates");
        prop_assert_eq!(raw.to_event().expect("decodes").to_bytes(), bytes.clone());
        prop_assert_eq!(Event::from_bytes(&bytes).expect("decodes").to_bytes(), bytes);
    }

    #[test]
    fn depth_is_accepted_up_to_the_limit_by_encoder_and_receiver_alike(
        levels in 90usize..110,
        arrays in prop::collection::vec(any::<bool>(), 110),
        leaves in prop::collection::vec(leaf(), 110),
    ) {
        // A chain of documents and arrays, `levels` deep, with a leaf beside
        // each link; the body is level 2, so the event is `levels + 1` deep.
        let mut value = leaves[0].clone();
        for level in 1..levels {
            value = if arrays[level] {
                Bson::Array(vec![leaves[level].clone(), value])
            } else {
                Bson::Document(doc! { "leaf": leaves[level].clone(), "next": value })
            };
        }
        let body = doc! { "leaf": leaves[0].clone(), "next": value };
        let event_depth = 1 + depth(&Bson::Document(body.clone()));
        prop_assert_eq!(event_depth, levels + 1);
        let event = nested_event(body);
        let fits = event_depth <= MAX_DEPTH;
        prop_assert_eq!(event.encode_into(&mut Vec::new()).is_ok(), fits);
        let mut bytes = Vec::new();
        event.as_document().to_writer(&mut bytes).expect("bson encodes any depth");
        match RawEventRef::from_bytes(&bytes) {
            Ok(_) => prop_assert!(fits),
            Err(DecodeError::TooDeep { limit, .. }) => {
                prop_assert!(!fits);
                prop_assert_eq!(limit, MAX_DEPTH);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn corrupted_nested_events_never_panic_nor_validate_what_bson_refuses(
        body in document(value()),
        mutations in prop::collection::vec(mutation(), 1..6),
        fix_length in any::<bool>(),
    ) {
        let mut bytes = nested_event(body).to_bytes();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if fix_length && bytes.len() >= 5 {
            let len = bytes.len();
            bytes[..4].copy_from_slice(&(len as i32).to_le_bytes());
            bytes[len - 1] = 0;
        }
        assert_readable_when_valid(&bytes);
        let head = Header { publisher: 1, sequence: 1 }.encode();
        let _ = wire::decode_message(&[b"prop.nested", &head, &bytes]);
    }
}

/// A random matcher, as text in a random style.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<String>().prop_map(|s| {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    c => c.to_string(),
                })
                .collect();
            format!("\"{escaped}\"")
        }),
        "[a-z ]{0,5}".prop_map(|s| format!("'{s}'")),
        prop::sample::select(vec!["true", "false", "null", "TRUE", "Null"]).prop_map(String::from),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "tenant",
        "severity",
        "ts",
        "type",
        "body.a",
        "body.b.c",
        "body.tags.0",
        "x_y",
        "a-b",
        "k:v",
    ])
    .prop_map(String::from)
}

fn condition() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            path(),
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            literal()
        )
            .prop_map(|(p, op, l)| format!("{p} {op} {l}")),
        path().prop_map(|p| format!("exists({p})")),
        (
            path(),
            prop::sample::select(vec!["^a", "b+$", "\\d", "\\.", "(?i)x", "[a-z]{2}"])
        )
            .prop_map(|(p, r)| format!("{p} =~ \"{r}\"")),
        (path(), prop::collection::vec(literal(), 1..4))
            .prop_map(|(p, ls)| format!("{p} in [{}]", ls.join(", "))),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    condition().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["and", "&&", "AND"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (
                inner.clone(),
                prop::sample::select(vec!["or", "||", "Or"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|e| format!("not ({e})")),
            inner.clone().prop_map(|e| format!("!({e})")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,4}(\\.[a-z]{1,4}){0,3}",
        "[a-z]{1,4}\\.\\*",
        "[a-z]{1,4}\\.",
        "[a-z*?.]{1,8}",
        Just("*".to_string()),
    ]
}

fn matcher_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(pattern(), 0..4),
        prop::option::of(expression()),
    )
        .prop_map(|(patterns, condition)| {
            let mut text = patterns.join(", ");
            if let Some(condition) = condition {
                text.push_str(" where ");
                text.push_str(&condition);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_matchers_print_and_parse_back(text in matcher_text()) {
        let matcher = Matcher::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = matcher.to_string();
        let again = Matcher::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{text} printed as {printed}: {e}")))?;
        prop_assert_eq!(&again, &matcher, "{} printed as {}", text, printed);
        prop_assert_eq!(again.to_string(), printed);
        // And they evaluate the same on an event.
        let event = base_event();
        prop_assert_eq!(matcher.matches_event(&event), again.matches_event(&event));
    }

    #[test]
    fn glob_matches_like_a_regex(pattern in "[ab.*?]{1,8}", text in "[ab.é]{0,10}") {
        let parsed = TypePattern::parse(&pattern).map_err(TestCaseError::fail)?;
        // A trailing dot without globs is a prefix: `a.` means `a.*`.
        let glob = if pattern.ends_with('.') && !pattern.contains(['*', '?']) {
            format!("{pattern}*")
        } else {
            pattern.clone()
        };
        let regex = format!(
            "^{}$",
            regex::escape(&glob).replace("\\*", ".*").replace("\\?", ".")
        );
        let regex = regex::Regex::new(&regex).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.matches(&text), regex.is_match(&text), "{} on {:?}", pattern, text);
    }

    #[test]
    fn subscriptions_cover_every_matching_type(
        patterns in prop::collection::vec("[ab.*?]{1,5}", 1..5),
        text in "[ab.]{0,8}",
    ) {
        let matcher = Matcher::parse(&patterns.join(", ")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let subs = matcher.subscriptions();
        let mut sorted = subs.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, &subs, "sorted, no duplicates");
        for (i, a) in subs.iter().enumerate() {
            for (j, b) in subs.iter().enumerate() {
                prop_assert!(i == j || !a.starts_with(b.as_str()), "{:?} covered by {:?}", a, b);
            }
        }
        if matcher.matches_type(&text) {
            prop_assert!(subs.iter().any(|s| text.starts_with(s.as_str())), "{:?} not covered by {:?}", text, subs);
        }
    }
}
