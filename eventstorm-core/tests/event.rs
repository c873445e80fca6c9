//! The event envelope and its BSON codec: builder, bytes, raw views, payloads.

use bson::oid::ObjectId;
use bson::raw::RawBsonRef;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Timestamp, doc};
use eventstorm_core::event::{MAX_TYPE_LEN, fields, validate_type};
use eventstorm_core::{DecodeError, Error, Event, RawEvent, RawEventRef, Severity};
use serde::{Deserialize, Serialize};

fn full_event() -> Event {
    Event::builder("compute.instance.create.end")
        .id(ObjectId::from_bytes([7; 12]))
        .timestamp(DateTime::from_millis(1_700_000_000_123))
        .severity(Severity::Warning)
        .logger("nova-compute")
        .hostname("host-1")
        .pid(4242)
        .tenant("acme")
        .field("instance_id", "i-42")
        .field("memory_mb", 2048)
        .field("tags", vec![Bson::from("a"), Bson::from("b")])
        .field(
            "nested",
            doc! { "flavor": { "name": "m1.small", "vcpus": 1 } },
        )
        .build()
}

/// A body holding one value of every BSON type.
fn every_type() -> Document {
    doc! {
        "double": 1.5,
        "string": "héllo",
        "doc": { "inner": 1 },
        "array": [1, "two", { "three": 3 }],
        "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2, 255] },
        "binary_uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![9; 16] },
        "oid": ObjectId::from_bytes([1; 12]),
        "bool": true,
        "datetime": DateTime::from_millis(-86_400_000),
        "null": Bson::Null,
        "regex": bson::Regex {
            pattern: "^a.*b$".try_into().expect("no NUL"),
            options: "i".try_into().expect("no NUL"),
        },
        "js": Bson::JavaScriptCode("function () { return 1; }".into()),
        "js_scope": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "x".into(),
            scope: doc! { "x": 1 },
        }),
        "int32": -7_i32,
        "timestamp": Timestamp { time: 12, increment: 34 },
        "int64": i64::MIN,
        "decimal128": Decimal128::from_bytes([3; 16]),
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
    }
}

#[test]
fn builder_sets_every_envelope_field() {
    let event = full_event();
    assert_eq!(event.id(), ObjectId::from_bytes([7; 12]));
    assert_eq!(event.event_type(), "compute.instance.create.end");
    assert_eq!(event.timestamp().timestamp_millis(), 1_700_000_000_123);
    assert_eq!(event.severity(), Severity::Warning);
    assert_eq!(event.logger(), Some("nova-compute"));
    assert_eq!(event.hostname(), Some("host-1"));
    assert_eq!(event.pid(), Some(4242));
    assert_eq!(event.tenant(), Some("acme"));
    assert_eq!(event.body().get_str("instance_id").ok(), Some("i-42"));
    // Envelope fields are written in the documented order.
    let keys: Vec<&str> = event.as_document().keys().map(String::as_str).collect();
    assert_eq!(keys, fields::ALL);
}

#[test]
fn builder_defaults() {
    let before = DateTime::now();
    let a = Event::builder("x").build();
    let b = Event::builder("x").build();
    assert_ne!(a.id(), b.id(), "each event gets a fresh id");
    assert!(a.timestamp() >= before);
    assert_eq!(a.severity(), Severity::Informational);
    assert_eq!(
        (a.logger(), a.hostname(), a.pid(), a.tenant()),
        (None, None, None, None)
    );
    assert!(a.body().is_empty());
    let keys: Vec<&str> = a.as_document().keys().map(String::as_str).collect();
    assert_eq!(keys, ["_id", "type", "ts", "severity", "body"]);
}

#[test]
fn setters_and_body_mut() {
    let mut event = Event::builder("x").build();
    event.set_tenant("t1");
    event.set_tenant("t2");
    event.set_severity(Severity::Debug);
    event.body_mut().insert("k", 1);
    assert_eq!(event.tenant(), Some("t2"));
    assert_eq!(event.severity(), Severity::Debug);
    assert_eq!(event.get("body.k"), Some(&Bson::Int32(1)));

    // body_mut repairs a missing body.
    let mut event = Event::from_document(doc! { "type": "x" }).expect("valid");
    event.body_mut().insert("k", "v");
    assert_eq!(event.body().get_str("k").ok(), Some("v"));
}

#[test]
fn fields_and_payload_merge_into_the_body() {
    #[derive(Serialize)]
    struct P {
        a: i32,
    }
    let event = Event::builder("x")
        .field("z", 1)
        .fields(doc! { "y": 2, "z": 3 })
        .payload(&P { a: 4 })
        .expect("serializable")
        .build();
    assert_eq!(event.body(), &doc! { "z": 3, "y": 2, "a": 4 });
}

#[test]
fn builder_to_bytes_to_event_round_trip() {
    let event = full_event();
    let bytes = event.to_bytes();
    assert_eq!(Event::from_bytes(&bytes).expect("decodes"), event);

    let mut buf = vec![0xAA];
    event.encode_into(&mut buf).expect("encodes");
    assert_eq!(&buf[1..], &bytes[..], "encode_into appends");
}

#[test]
fn event_to_raw_event_and_back() {
    let event = full_event();
    let raw = RawEvent::from_event(&event).expect("valid");
    assert_eq!(raw.event_type(), event.event_type());
    assert_eq!(raw.id(), event.id());
    assert_eq!(raw.timestamp(), event.timestamp());
    assert_eq!(raw.as_bytes(), &event.to_bytes()[..]);
    assert_eq!(raw.to_event().expect("decodes"), event);
    assert_eq!(raw.view().to_event().expect("decodes"), event);
    assert_eq!(
        RawEvent::from_bytes(raw.clone().into_bytes()).expect("valid"),
        raw
    );

    let view = raw.view();
    assert_eq!(view.event_type(), "compute.instance.create.end");
    assert_eq!(view.id(), event.id());
    assert_eq!(view.timestamp(), event.timestamp());
    assert_eq!(view.severity(), Some(Severity::Warning));
    assert_eq!(view.tenant(), Some("acme"));
    assert_eq!(view.as_bytes(), raw.as_bytes());
    assert_eq!(view.document().as_bytes(), raw.as_bytes());
    let body = view.body().expect("has a body");
    assert_eq!(body.get_str("instance_id").ok(), Some("i-42"));
}

#[test]
fn raw_get_walks_documents_and_arrays() {
    let bytes = full_event().to_bytes();
    let raw = RawEventRef::from_bytes(&bytes).expect("valid");
    assert_eq!(raw.get("tenant").and_then(|v| v.as_str()), Some("acme"));
    assert_eq!(
        raw.get("body.memory_mb").and_then(|v| v.as_i32()),
        Some(2048)
    );
    assert_eq!(raw.get("body.tags.1").and_then(|v| v.as_str()), Some("b"));
    assert_eq!(
        raw.get("body.nested.flavor.name").and_then(|v| v.as_str()),
        Some("m1.small")
    );
    for missing in [
        "",
        ".",
        "nope",
        "body.nope",
        "body.tags.2",
        "body.tags.x",
        "body.tags.-1",
        "body.memory_mb.deeper",
        "tenant.0",
        "body..memory_mb",
        "body.nested.flavor.name.x",
    ] {
        assert!(raw.get(missing).is_none(), "{missing:?}");
    }
    // Event::get agrees on the same paths.
    let event = full_event();
    assert_eq!(event.get("body.tags.1"), Some(&Bson::from("b")));
    assert_eq!(event.get("body.nested.flavor.vcpus"), Some(&Bson::Int32(1)));
    assert_eq!(event.get("body.tags.2"), None);
    assert_eq!(event.get(""), None);
}

#[test]
fn every_bson_type_round_trips_through_bytes() {
    let body = every_type();
    let event = Event::builder("types.all").fields(body.clone()).build();
    let bytes = event.to_bytes();
    let back = Event::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, event);
    assert_eq!(back.body(), &body);

    let raw = RawEvent::from_bytes(bytes.clone()).expect("valid");
    assert_eq!(raw.to_event().expect("decodes"), event);
}

#[test]
fn every_bson_type_reads_through_raw_get() {
    let body = every_type();
    let bytes = Event::builder("types.all")
        .fields(body.clone())
        .build()
        .to_bytes();
    let raw = RawEventRef::from_bytes(&bytes).expect("valid");
    for (key, expected) in &body {
        let value = raw
            .get(&format!("body.{key}"))
            .unwrap_or_else(|| panic!("{key} missing"));
        let owned = Bson::try_from(value).expect("converts");
        assert_eq!(&owned, expected, "{key}");
        assert_eq!(value.element_type(), expected.element_type(), "{key}");
    }
    // Spot-check the borrowed accessors.
    assert_eq!(
        raw.get("body.string").and_then(|v| v.as_str()),
        Some("héllo")
    );
    assert_eq!(
        raw.get("body.int64").and_then(|v| v.as_i64()),
        Some(i64::MIN)
    );
    assert_eq!(raw.get("body.double").and_then(|v| v.as_f64()), Some(1.5));
    assert!(matches!(raw.get("body.null"), Some(RawBsonRef::Null)));
    assert!(matches!(raw.get("body.min"), Some(RawBsonRef::MinKey)));
    assert!(matches!(raw.get("body.max"), Some(RawBsonRef::MaxKey)));
    let Some(RawBsonRef::Binary(bin)) = raw.get("body.binary") else {
        panic!("binary");
    };
    assert_eq!(bin.bytes, &[0, 1, 2, 255]);
    assert_eq!(
        raw.get("body.array.2.three").and_then(|v| v.as_i32()),
        Some(3)
    );
    assert_eq!(raw.get("body.doc.inner").and_then(|v| v.as_i32()), Some(1));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct VolumeCreated {
    volume_id: String,
    size_gb: i64,
    bootable: bool,
    tags: Vec<String>,
    zone: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct VolumeRef<'a> {
    volume_id: &'a str,
    size_gb: i64,
}

fn volume() -> VolumeCreated {
    VolumeCreated {
        volume_id: "v-1".into(),
        size_gb: 20,
        bootable: true,
        tags: vec!["ssd".into()],
        zone: None,
    }
}

#[test]
fn typed_payload_from_event() {
    let event = Event::builder("volume.create.end")
        .payload(&volume())
        .expect("serializes")
        .build();
    assert_eq!(
        event.payload::<VolumeCreated>().expect("deserializes"),
        volume()
    );
    assert_eq!(event.body().get_i64("size_gb").ok(), Some(20));

    // A payload that does not fit is an error, not a panic.
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Wrong {
        volume_id: i32,
    }
    assert!(event.payload::<Wrong>().is_err());
}

#[test]
fn typed_payload_from_raw_borrows_strings() {
    let bytes = Event::builder("volume.create.end")
        .payload(&volume())
        .expect("serializes")
        .build()
        .to_bytes();
    let raw = RawEventRef::from_bytes(&bytes).expect("valid");
    let owned: VolumeCreated = raw.payload().expect("deserializes");
    assert_eq!(owned, volume());
    let borrowed: VolumeRef<'_> = raw.payload().expect("deserializes borrowing");
    assert_eq!(
        borrowed,
        VolumeRef {
            volume_id: "v-1",
            size_gb: 20
        }
    );
    // The &str points into the received bytes.
    let range = bytes.as_ptr_range();
    assert!(range.contains(&borrowed.volume_id.as_ptr()));
}

#[test]
fn payload_of_a_missing_body_is_an_empty_document() {
    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Opt {
        x: Option<i32>,
    }
    let doc = doc! { "_id": ObjectId::new(), "type": "x", "ts": DateTime::now() };
    let bytes = bson::serialize_to_vec(&doc).expect("encodes");
    let raw = RawEventRef::from_bytes(&bytes).expect("valid without a body");
    assert!(raw.body().is_none());
    assert_eq!(raw.payload::<Opt>().expect("empty"), Opt::default());
    assert_eq!(raw.to_event().expect("decodes").body(), &Document::new());
}

#[test]
fn from_document_fills_id_ts_and_body() {
    let event = Event::from_document(doc! { "type": "a.b" }).expect("valid");
    assert_eq!(event.event_type(), "a.b");
    assert!(event.as_document().get_object_id("_id").is_ok());
    assert!(event.as_document().get_datetime("ts").is_ok());
    assert_eq!(event.body(), &Document::new());
    assert_eq!(event.clone().into_document(), event.as_document().clone());
}

fn invalid_event(doc: Document) -> String {
    match Event::from_document(doc) {
        Err(Error::InvalidEvent(message)) => message,
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

#[test]
fn from_document_validation_errors() {
    assert!(invalid_event(doc! {}).contains("missing `type`"));
    assert!(invalid_event(doc! { "type": 1 }).contains("`type` must be a string"));
    assert!(invalid_event(doc! { "type": "a", "_id": "x" }).contains("`_id`"));
    assert!(invalid_event(doc! { "type": "a", "ts": 5 }).contains("`ts`"));
    assert!(invalid_event(doc! { "type": "a", "body": [1] }).contains("`body`"));
    // The type itself must be valid, as a receiver would require.
    assert!(invalid_event(doc! { "type": "bad type" }).contains("' '"));
    assert!(invalid_event(doc! { "type": "" }).contains("1 to 255"));
}

#[test]
fn from_bytes_errors() {
    assert!(matches!(
        Event::from_bytes(&[]),
        Err(Error::Decode(DecodeError::Bson(_)))
    ));
    assert!(matches!(
        Event::from_bytes(&[5, 0, 0, 0]),
        Err(Error::Decode(DecodeError::Bson(_)))
    ));
    // A length prefix far beyond the bytes given is refused (without allocating it).
    assert!(matches!(
        Event::from_bytes(&[0xff, 0xff, 0xff, 0x7f, 0]),
        Err(Error::Decode(DecodeError::Bson(_)))
    ));
    // Trailing bytes after the document are refused, as RawEventRef does.
    let mut bytes = Event::builder("x").build().to_bytes();
    bytes.push(0);
    assert!(Event::from_bytes(&bytes).is_err());
    assert!(RawEventRef::from_bytes(&bytes).is_err());
    // An empty document has no type.
    assert!(matches!(
        Event::from_bytes(&[5, 0, 0, 0, 0]),
        Err(Error::InvalidEvent(_))
    ));
}

fn envelope_error(doc: &Document) -> (&'static str, String) {
    let bytes = bson::serialize_to_vec(doc).expect("encodes");
    match RawEventRef::from_bytes(&bytes) {
        Err(DecodeError::Envelope { field, problem }) => (field, problem),
        other => panic!("expected an envelope error, got {other:?}"),
    }
}

#[test]
fn raw_envelope_errors() {
    let id = ObjectId::new();
    let ts = DateTime::now();
    assert_eq!(envelope_error(&doc! { "_id": id, "ts": ts }).0, "type");
    assert_eq!(
        envelope_error(&doc! { "type": "a", "ts": ts }),
        ("_id", "missing".into())
    );
    assert_eq!(envelope_error(&doc! { "_id": id, "type": "a" }).0, "ts");
    assert_eq!(
        envelope_error(&doc! { "_id": 1, "type": "a", "ts": ts }).0,
        "_id"
    );
    assert_eq!(
        envelope_error(&doc! { "_id": id, "type": 1, "ts": ts }).0,
        "type"
    );
    assert_eq!(
        envelope_error(&doc! { "_id": id, "type": "a", "ts": 1 }).0,
        "ts"
    );
    assert_eq!(
        envelope_error(&doc! { "_id": id, "type": "a", "ts": ts, "body": 1 }).0,
        "body"
    );
    let (field, problem) = envelope_error(&doc! { "_id": id, "type": "a b", "ts": ts });
    assert_eq!(field, "type");
    assert!(problem.contains("' '"), "{problem}");
}

#[test]
fn raw_rejects_duplicate_envelope_fields() {
    // bson's Document keeps one value per key, so write the duplicate by hand:
    // append a second `tenant` element before the terminating NUL.
    let mut bytes = Event::builder("x").tenant("acme").build().to_bytes();
    bytes.pop();
    bytes.push(0x02);
    bytes.extend_from_slice(b"tenant\0");
    bytes.extend_from_slice(&5_i32.to_le_bytes());
    bytes.extend_from_slice(b"evil\0");
    bytes.push(0);
    let len = i32::try_from(bytes.len()).expect("small");
    bytes[..4].copy_from_slice(&len.to_le_bytes());
    assert!(
        bson::raw::RawDocument::from_bytes(&bytes).is_ok(),
        "well-formed BSON"
    );
    match RawEventRef::from_bytes(&bytes) {
        Err(DecodeError::Envelope { field, problem }) => {
            assert_eq!(field, "tenant");
            assert!(problem.contains("more than once"));
        }
        other => panic!("expected a duplicate error, got {other:?}"),
    }
}

#[test]
fn severity_parsing_and_codes() {
    for sev in Severity::ALL {
        assert_eq!(Severity::from_code(i64::from(sev.code())), Some(sev));
        assert_eq!(sev.as_str().parse::<Severity>(), Ok(sev));
        assert_eq!(sev.code().to_string().parse::<Severity>(), Ok(sev));
        assert_eq!(sev.to_string(), sev.as_str());
    }
    assert_eq!(" WARN ".parse::<Severity>(), Ok(Severity::Warning));
    assert!("8".parse::<Severity>().is_err());
    assert_eq!(Severity::from_code(-1), None);
    assert_eq!(Severity::from_code(8), None);
    assert!(Severity::Emergency < Severity::Debug);

    // An out-of-range severity is refused, as receivers refuse it on the wire.
    let mut doc = full_event().into_document();
    doc.insert("severity", 99);
    assert!(invalid_event(doc.clone()).contains("from 0 to 7, got 99"));
    // An int64 severity is stored as the int32 the wire format wants.
    doc.insert("severity", 3_i64);
    let event = Event::from_document(doc).expect("valid");
    assert_eq!(event.severity(), Severity::Error);
    assert_eq!(event.as_document().get_i32("severity").ok(), Some(3));
    let bytes = event.to_bytes();
    assert_eq!(
        RawEventRef::from_bytes(&bytes).expect("valid").severity(),
        Some(Severity::Error)
    );
}

/// Optional envelope fields of the wrong type: `from_document` converts
/// integers of the other width and refuses the rest, so that an `Event`
/// always encodes to bytes receivers accept.
#[test]
fn from_document_checks_optional_envelope_fields() {
    let base = || doc! { "type": "a.b" };
    let with = |key: &str, value: Bson| {
        let mut doc = base();
        doc.insert(key, value);
        doc
    };
    let event = Event::from_document(with("pid", Bson::Int32(42))).expect("int32 pid");
    assert_eq!(event.as_document().get_i64("pid").ok(), Some(42));
    assert_eq!(event.pid(), Some(42));
    let bytes = event.to_bytes();
    assert!(RawEventRef::from_bytes(&bytes).is_ok());

    for (key, value, expected) in [
        ("pid", Bson::String("x".into()), "`pid` must be an integer"),
        ("pid", Bson::Double(1.5), "`pid` must be an integer"),
        (
            "severity",
            Bson::String("loud".into()),
            "`severity` must be an integer",
        ),
        ("severity", Bson::Int64(-1), "from 0 to 7, got -1"),
        ("severity", Bson::Int64(1 << 40), "from 0 to 7"),
        ("tenant", Bson::Int32(5), "`tenant` must be a string"),
        ("tenant", Bson::Null, "`tenant` must be a string"),
        ("logger", Bson::Boolean(true), "`logger` must be a string"),
        (
            "hostname",
            Bson::Document(doc! {}),
            "`hostname` must be a string",
        ),
    ] {
        let message = invalid_event(with(key, value.clone()));
        assert!(message.contains(expected), "{key}={value:?}: {message}");
    }
}

#[test]
fn severity_serde() {
    #[derive(Deserialize, Serialize, Debug, PartialEq)]
    struct C {
        level: Severity,
    }
    let c: C = toml::from_str("level = \"err\"").expect("name");
    assert_eq!(c.level, Severity::Error);
    let c: C = toml::from_str("level = 2").expect("code");
    assert_eq!(c.level, Severity::Critical);
    assert!(toml::from_str::<C>("level = 9").is_err());
    assert!(toml::from_str::<C>("level = \"loud\"").is_err());
    assert_eq!(
        toml::to_string(&c).expect("serializes").trim(),
        "level = \"crit\""
    );
}

#[test]
fn validate_type_rules() {
    for good in [
        "a",
        "compute.instance.create.end",
        "A-b_c:d/e.9",
        &"x".repeat(MAX_TYPE_LEN),
    ] {
        assert!(validate_type(good).is_ok(), "{good:?}");
    }
    for bad in [
        "",
        "a b",
        "é",
        "a*",
        "a?",
        "a\0",
        "tab\t",
        &"x".repeat(MAX_TYPE_LEN + 1),
    ] {
        assert!(
            matches!(validate_type(bad), Err(Error::InvalidEvent(_))),
            "{bad:?}"
        );
    }
    let Err(Error::InvalidEvent(message)) = validate_type("ab,c") else {
        panic!("invalid");
    };
    assert!(message.contains("byte 2"), "{message}");
}
