//! Nesting depth and the structure of nested values: what every receiver
//! checks before it accepts an event (`docs/wire-format.md`, "Nesting depth"
//! and "What a receiver does"), and what the encoders refuse to send.

use bson::{Bson, Document, JavaScriptCodeWithScope, doc};
use eventstorm_core::event::{Envelope, MAX_DEPTH, encode_event, write_document};
use eventstorm_core::{DecodeError, Error, Event, Header, RawEvent, RawEventRef, Severity, wire};

/// The bytes of a document nesting `levels` levels (itself included): each
/// level holds one element `a` whose value is the next level, as a document
/// or (`array`) an array. Built without a `bson::Document`, whose drop would
/// recurse.
fn nested(levels: usize, array: bool) -> Vec<u8> {
    let kind = if array { 0x04 } else { 0x03 };
    let key: &[u8] = if array { b"0" } else { b"a" };
    let per_level = 4 + 1 + key.len() + 1 + 1;
    let mut out = Vec::with_capacity(levels * per_level + 5);
    for level in 0..levels - 1 {
        let len = (levels - level - 1) * per_level + 5;
        out.extend_from_slice(&(len as i32).to_le_bytes());
        out.push(kind);
        out.extend_from_slice(key);
        out.push(0);
    }
    out.extend_from_slice(&[5, 0, 0, 0, 0]);
    out.extend(std::iter::repeat_n(0u8, levels - 1));
    out
}

/// An event of `event_type` whose body is `body` (the bytes of a document).
fn event_with_body(event_type: &str, fields: Document, body: &[u8]) -> Vec<u8> {
    let mut bytes = Event::builder(event_type).build().to_bytes();
    // The builder writes `body` last: drop its empty document and the
    // event's terminator, and put this body there instead.
    bytes.truncate(bytes.len() - 6);
    for (key, value) in fields {
        let mut one = Vec::new();
        let mut element = Document::new();
        element.insert(key, value);
        element.to_writer(&mut one).expect("encode");
        let at = bytes.len() - "\x03body\0".len();
        bytes.splice(at..at, one[4..one.len() - 1].iter().copied());
    }
    bytes.extend_from_slice(body);
    bytes.push(0);
    let len = (bytes.len() as i32).to_le_bytes();
    bytes[..4].copy_from_slice(&len);
    bytes
}

/// An event whose deepest document sits at nesting `depth` (the event is 1,
/// its body 2).
fn event_of_depth(depth: usize, array: bool) -> Vec<u8> {
    let mut body = nested(depth - 1, false);
    if array && depth > 2 {
        // Keep the body a document: nest arrays inside it.
        let inner = nested(depth - 2, true);
        body = Vec::new();
        let len = 4 + 1 + 2 + inner.len() + 1;
        body.extend_from_slice(&(len as i32).to_le_bytes());
        body.push(0x04);
        body.extend_from_slice(b"a\0");
        body.extend_from_slice(&inner);
        body.push(0);
    }
    event_with_body("deep.event", Document::new(), &body)
}

/// Runs `f` on a thread with a small stack: what it does must not recurse
/// once per level of the input.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no stack overflow")
}

fn too_deep(result: Result<RawEventRef<'_>, DecodeError>) -> (usize, String) {
    match result {
        Err(DecodeError::TooDeep { limit, path, .. }) => (limit, path),
        other => panic!("expected TooDeep, got {other:?}"),
    }
}

#[test]
fn depth_at_the_limit_is_accepted_and_one_more_is_refused() {
    for array in [false, true] {
        let at_limit = event_of_depth(MAX_DEPTH, array);
        let raw = RawEventRef::from_bytes(&at_limit).expect("at the limit");
        assert_eq!(raw.event_type(), "deep.event");
        raw.to_event().expect("decodes");

        let over = event_of_depth(MAX_DEPTH + 1, array);
        let (limit, path) = too_deep(RawEventRef::from_bytes(&over));
        assert_eq!(limit, MAX_DEPTH);
        // body, then the levels down to the one that would be too deep.
        assert_eq!(path.split('.').count(), MAX_DEPTH, "{path}");
        assert!(path.starts_with("body.a."), "{path}");
        assert!(RawEvent::from_bytes(over.clone()).is_err());
        assert!(Event::from_bytes(&over).is_err());
    }
}

#[test]
fn the_limit_is_one_hundred_levels() {
    // Documented in docs/wire-format.md; changing it changes the wire format.
    assert_eq!(MAX_DEPTH, 100);
}

#[test]
fn a_6000_level_event_is_refused_without_recursing() {
    let deep = event_with_body(
        "compute.instance.create.end",
        doc! { "tenant": "acme" },
        &nested(6_000, false),
    );
    assert!((47_000..50_000).contains(&deep.len()), "{}", deep.len());
    let (header, bytes) = (
        Header {
            publisher: 1,
            sequence: 1,
        }
        .encode(),
        deep.clone(),
    );
    let message = on_small_stack(move || {
        let frames: [&[u8]; 3] = [b"compute.instance.create.end", &header, &bytes];
        wire::decode_message(&frames).map(|_| ()).unwrap_err()
    });
    assert!(
        matches!(message, DecodeError::TooDeep { limit: 100, .. }),
        "{message}"
    );
    let text = message.to_string();
    assert!(text.contains("deeper than 100 levels"), "{text}");
    assert!(text.contains("docs/wire-format.md"), "{text}");
    let decoded = on_small_stack(move || Event::from_bytes(&deep).map(|_| ()));
    assert!(
        matches!(decoded, Err(Error::Decode(DecodeError::TooDeep { .. }))),
        "{decoded:?}"
    );
}

/// The bytes of `event` with the first occurrence of `from` replaced by `to`
/// (same length).
fn patched(event: &Event, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut bytes = event.to_bytes();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in the event");
    bytes[at..at + to.len()].copy_from_slice(to);
    assert!(RawEventRef::from_bytes(&event.to_bytes()).is_ok());
    bytes
}

fn bson_error(bytes: &[u8]) -> String {
    match RawEventRef::from_bytes(bytes) {
        Err(DecodeError::Bson(message)) => message,
        other => panic!("expected a BSON error, got {other:?}"),
    }
}

#[test]
fn malformed_nested_values_are_refused_and_located() {
    let event = Event::builder("app.nested")
        .field(
            "inner",
            doc! { "s": "abcdef", "flag": true, "list": [1, "xyz"] },
        )
        .build();
    // A nested string whose length runs past its document.
    let message = bson_error(&patched(&event, b"\x07\0\0\0abcdef", b"\x70\0\0\0abcdef"));
    assert!(message.contains("`body.inner.s`"), "{message}");
    assert!(message.contains("NUL-terminated"), "{message}");
    // A nested string that is not UTF-8.
    let message = bson_error(&patched(&event, b"abcdef", b"ab\xffdef"));
    assert!(message.contains("not UTF-8"), "{message}");
    // A key that is not UTF-8, in an array.
    let message = bson_error(&patched(&event, b"\x021\0", b"\x02\xc3\0"));
    assert!(message.contains("key is not UTF-8"), "{message}");
    // A boolean that is neither 0 nor 1.
    let message = bson_error(&patched(&event, b"flag\0\x01", b"flag\0\x02"));
    assert!(message.contains("`body.inner.flag`"), "{message}");
    // An unknown element type.
    let message = bson_error(&patched(&event, b"\x08flag", b"\x42flag"));
    assert!(message.contains("unknown element type 0x42"), "{message}");
    // A nested array one byte shorter: its last string now runs past it.
    let message = bson_error(&patched(&event, b"\x04list\0\x17", b"\x04list\0\x16"));
    assert!(message.contains("`body.inner.list.1`"), "{message}");
    // One byte longer: its terminator is no NUL.
    let message = bson_error(&patched(&event, b"\x04list\0\x17", b"\x04list\0\x18"));
    assert!(message.contains("`body.inner.list`"), "{message}");
}

#[test]
fn code_with_scope_counts_as_a_level() {
    fn scoped(levels: usize) -> Bson {
        let mut scope = doc! {};
        for _ in 1..levels {
            scope = doc! { "a": scope };
        }
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "f()".into(),
            scope,
        })
    }
    // The event is level 1, the body 2: the scope is level 3 and holds the rest.
    let ok = Event::builder("app.code")
        .field("c", scoped(MAX_DEPTH - 2))
        .build();
    let bytes = ok.to_bytes();
    assert!(!bytes.is_empty());
    RawEventRef::from_bytes(&bytes).expect("at the limit");
    let mut theirs = Vec::new();
    ok.as_document().to_writer(&mut theirs).expect("bson");
    assert_eq!(bytes, theirs, "the encoder writes what bson writes");

    let over = Event::builder("app.code")
        .field("c", scoped(MAX_DEPTH - 1))
        .build();
    assert!(over.to_bytes().is_empty());
    let mut theirs = Vec::new();
    over.as_document().to_writer(&mut theirs).expect("bson");
    too_deep(RawEventRef::from_bytes(&theirs));
}

/// A body nesting `levels` levels (itself included), as a document.
fn body_of(levels: usize) -> Document {
    let mut body = doc! {};
    for _ in 1..levels {
        body = doc! { "a": body };
    }
    body
}

#[test]
fn encoders_refuse_events_deeper_than_the_limit() {
    // The body is level 2: a body of MAX_DEPTH - 1 levels reaches the limit.
    let fits = Event::builder("app.deep")
        .fields(body_of(MAX_DEPTH - 1))
        .build();
    let mut buf = Vec::new();
    fits.encode_into(&mut buf).expect("at the limit");
    RawEventRef::from_bytes(&buf).expect("receivers accept it");

    let over = Event::builder("app.deep")
        .fields(body_of(MAX_DEPTH))
        .build();
    let err = over.encode_into(&mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidEvent(_)), "{err}");
    assert!(err.to_string().contains("100 levels"), "{err}");
    assert!(over.to_bytes().is_empty());
    assert!(RawEvent::from_event(&over).is_err());

    let envelope = Envelope {
        event_type: "app.deep",
        severity: Severity::Notice,
        logger: None,
        hostname: None,
        pid: None,
        tenant: None,
    };
    encode_event(&mut Vec::new(), &envelope, &body_of(MAX_DEPTH - 1)).expect("at the limit");
    assert!(encode_event(&mut Vec::new(), &envelope, &body_of(MAX_DEPTH)).is_err());

    // A standalone document is level 1; arrays count like documents.
    write_document(&mut Vec::new(), &body_of(MAX_DEPTH)).expect("at the limit");
    assert!(write_document(&mut Vec::new(), &body_of(MAX_DEPTH + 1)).is_err());
    let mut list = Bson::Array(vec![]);
    for _ in 2..MAX_DEPTH {
        list = Bson::Array(vec![list]);
    }
    write_document(&mut Vec::new(), &doc! { "l": list.clone() }).expect("at the limit");
    assert!(write_document(&mut Vec::new(), &doc! { "l": [list] }).is_err());
}

/// The stack that reading a whole event at the limit must fit in: an eighth
/// of a spawned thread's 2 MiB when optimized, as docs/wire-format.md says
/// (about 256 KiB are used). Unoptimized code takes about ten times more
/// stack per level (serde's visitors most of all), so debug builds get more.
const AT_LIMIT_STACK: usize = if cfg!(debug_assertions) {
    4 << 20
} else {
    512 << 10
};

#[test]
fn everything_that_reads_a_whole_event_fits_a_small_stack_at_the_limit() {
    let bytes = event_of_depth(MAX_DEPTH, false);
    std::thread::Builder::new()
        .stack_size(AT_LIMIT_STACK)
        .spawn(move || {
            let raw = RawEventRef::from_bytes(&bytes).expect("valid");
            let event = raw.to_event().expect("decode");
            let json = Bson::Document(event.as_document().clone()).into_relaxed_extjson();
            assert!(serde_json::to_string(&json).expect("json").len() > MAX_DEPTH);
            let _: Document = raw.payload().expect("serde");
            assert_eq!(event.to_bytes(), bytes);
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow at the limit");
}
