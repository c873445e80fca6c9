//! The three-frame wire format: `[type][header][BSON body]`.

use bson::oid::ObjectId;
use bson::{Bson, doc};
use eventstorm_core::wire::{self, HEADER_LEN, VERSION};
use eventstorm_core::{DecodeError, Event, Header};

fn frames_for(event: &Event, header: Header) -> (Vec<u8>, [u8; HEADER_LEN], Vec<u8>) {
    (
        event.event_type().as_bytes().to_vec(),
        header.encode(),
        event.to_bytes(),
    )
}

#[test]
fn header_layout() {
    let header = Header {
        publisher: 0x0102_0304_0506_0708,
        sequence: 0x1112_1314_1516_1718,
    };
    let bytes = header.encode();
    assert_eq!(bytes.len(), HEADER_LEN);
    assert_eq!(bytes[0], VERSION);
    assert_eq!(bytes[1], 0, "no flags");
    assert_eq!(
        &bytes[2..10],
        &[8, 7, 6, 5, 4, 3, 2, 1],
        "publisher, little endian"
    );
    assert_eq!(
        &bytes[10..18],
        &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]
    );
    assert_eq!(Header::decode(&bytes), Ok(header));
}

#[test]
fn header_round_trips_extremes() {
    for (publisher, sequence) in [(0, 0), (1, 1), (u64::MAX, u64::MAX), (u64::MAX, 0)] {
        let header = Header {
            publisher,
            sequence,
        };
        assert_eq!(Header::decode(&header.encode()), Ok(header));
    }
}

#[test]
fn header_ignores_unknown_flag_bits() {
    let header = Header {
        publisher: 9,
        sequence: 3,
    };
    let mut bytes = header.encode();
    bytes[1] = 0x80;
    assert_eq!(Header::decode(&bytes), Ok(header));
}

#[test]
fn header_length_errors() {
    assert_eq!(Header::decode(&[]), Err(DecodeError::HeaderLength(0)));
    assert_eq!(
        Header::decode(&[VERSION]),
        Err(DecodeError::HeaderLength(1))
    );
    let bytes = Header {
        publisher: 1,
        sequence: 1,
    }
    .encode();
    assert_eq!(
        Header::decode(&bytes[..HEADER_LEN - 1]),
        Err(DecodeError::HeaderLength(HEADER_LEN - 1))
    );
    let mut long = bytes.to_vec();
    long.push(0);
    assert_eq!(
        Header::decode(&long),
        Err(DecodeError::HeaderLength(HEADER_LEN + 1))
    );
}

#[test]
fn header_version_errors() {
    let mut bytes = Header {
        publisher: 1,
        sequence: 1,
    }
    .encode();
    for version in [0, 3, 255] {
        bytes[0] = version;
        assert_eq!(
            Header::decode(&bytes),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
    // Another version's frame may have another length: the version is reported.
    assert_eq!(
        Header::decode(&[3, 0, 0]),
        Err(DecodeError::UnsupportedVersion(3))
    );
    let message = DecodeError::UnsupportedVersion(3).to_string();
    assert!(
        message.contains("version 3") && message.contains("versions 1 and 2"),
        "{message}"
    );
}

#[test]
fn decode_good_message() {
    let event = Event::builder("volume.create.end")
        .tenant("acme")
        .field("size_gb", 20)
        .build();
    let header = Header {
        publisher: 77,
        sequence: 12,
    };
    let (topic, head, body) = frames_for(&event, header);
    let frames: [&[u8]; 3] = [&topic, &head, &body];
    let (h, raw) = wire::decode(&frames).expect("decodes");
    assert_eq!(h, header);
    assert_eq!(raw.event_type(), "volume.create.end");
    assert_eq!(raw.id(), event.id());
    assert_eq!(raw.tenant(), Some("acme"));
    assert_eq!(raw.get("body.size_gb").and_then(|v| v.as_i32()), Some(20));
    assert_eq!(raw.as_bytes(), &body[..]);
    assert_eq!(raw.to_event().expect("decodes"), event);
}

#[test]
fn decode_borrows_from_the_frames() {
    let event = Event::builder("a.b").build();
    let (topic, head, body) = frames_for(
        &event,
        Header {
            publisher: 1,
            sequence: 1,
        },
    );
    let frames = vec![&topic[..], &head[..], &body[..]];
    let (_, raw) = wire::decode(&frames).expect("decodes");
    drop(frames);
    // `raw` lives as long as the body bytes, not the slice of frames.
    assert_eq!(raw.event_type(), "a.b");
}

#[test]
fn frame_count_errors() {
    let event = Event::builder("a").build();
    let (topic, head, body) = frames_for(
        &event,
        Header {
            publisher: 1,
            sequence: 1,
        },
    );
    let empty: [&[u8]; 0] = [];
    assert_eq!(
        wire::decode(&empty).unwrap_err(),
        DecodeError::FrameCount(0)
    );
    assert_eq!(
        wire::decode(&[&body[..]]).unwrap_err(),
        DecodeError::FrameCount(1)
    );
    assert_eq!(
        wire::decode(&[&head[..], &body[..]]).unwrap_err(),
        DecodeError::FrameCount(2)
    );
    assert_eq!(
        wire::decode(&[&topic[..], &head[..], &body[..], &body[..]]).unwrap_err(),
        DecodeError::FrameCount(4)
    );
    assert!(DecodeError::FrameCount(2).to_string().contains("got 2"));
}

#[test]
fn header_errors_through_decode() {
    let event = Event::builder("a").build();
    let (topic, mut head, body) = frames_for(
        &event,
        Header {
            publisher: 1,
            sequence: 1,
        },
    );
    assert_eq!(
        wire::decode(&[&topic[..], &head[..5], &body[..]]).unwrap_err(),
        DecodeError::HeaderLength(5)
    );
    head[0] = 9;
    assert_eq!(
        wire::decode(&[&topic[..], &head[..], &body[..]]).unwrap_err(),
        DecodeError::UnsupportedVersion(9)
    );
}

#[test]
fn topic_must_equal_the_type() {
    let event = Event::builder("volume.create.end").build();
    let (_, head, body) = frames_for(
        &event,
        Header {
            publisher: 1,
            sequence: 1,
        },
    );
    for topic in [
        &b"volume.create"[..],
        b"volume.create.end.",
        b"",
        b"VOLUME.create.end",
    ] {
        match wire::decode(&[topic, &head[..], &body[..]]) {
            Err(DecodeError::TopicMismatch {
                topic: t,
                event_type,
            }) => {
                assert_eq!(t.as_bytes(), topic);
                assert_eq!(event_type, "volume.create.end");
            }
            other => panic!("expected a topic mismatch, got {other:?}"),
        }
    }
    // A non-UTF-8 topic is reported lossily.
    let err = wire::decode(&[&[0xff, b'a'][..], &head[..], &body[..]]).unwrap_err();
    assert!(matches!(err, DecodeError::TopicMismatch { ref topic, .. } if topic == "\u{fffd}a"));
}

#[test]
fn body_errors() {
    let head = Header {
        publisher: 1,
        sequence: 1,
    }
    .encode();
    let decode = |body: &[u8]| wire::decode(&[b"a", &head[..], body]).map(|_| ());

    assert!(matches!(decode(b""), Err(DecodeError::Bson(_))));
    assert!(matches!(
        decode(b"not bson at all"),
        Err(DecodeError::Bson(_))
    ));
    // Length prefix disagreeing with the frame.
    let mut body = Event::builder("a").build().to_bytes();
    body[0] += 1;
    assert!(matches!(decode(&body), Err(DecodeError::Bson(_))));
    // Not NUL-terminated.
    let mut body = Event::builder("a").build().to_bytes();
    let last = body.len() - 1;
    body[last] = 1;
    assert!(matches!(decode(&body), Err(DecodeError::Bson(_))));
    // A broken element inside: an unknown element type byte.
    let mut body = Event::builder("a").build().to_bytes();
    body[4] = 0x7e;
    assert!(matches!(decode(&body), Err(DecodeError::Bson(_))));
}

#[test]
fn envelope_errors_through_decode() {
    let head = Header {
        publisher: 1,
        sequence: 1,
    }
    .encode();
    let cases = [
        (
            doc! { "_id": ObjectId::new(), "ts": bson::DateTime::now() },
            "type",
        ),
        (doc! { "type": "a", "ts": bson::DateTime::now() }, "_id"),
        (doc! { "_id": ObjectId::new(), "type": "a" }, "ts"),
        (
            doc! { "_id": "x", "type": "a", "ts": bson::DateTime::now() },
            "_id",
        ),
        (
            doc! { "_id": ObjectId::new(), "type": "a", "ts": bson::DateTime::now(), "body": "x" },
            "body",
        ),
        (
            doc! { "_id": ObjectId::new(), "type": "a a", "ts": bson::DateTime::now() },
            "type",
        ),
    ];
    for (doc, expected) in cases {
        let body = bson::serialize_to_vec(&doc).expect("encodes");
        match wire::decode(&[b"a", &head[..], &body[..]]) {
            Err(DecodeError::Envelope { field, problem }) => {
                assert_eq!(field, expected, "{doc}: {problem}");
                let message = DecodeError::Envelope { field, problem }.to_string();
                assert!(message.contains(expected), "{message}");
            }
            other => panic!("{doc}: expected an envelope error, got {other:?}"),
        }
    }
}

/// An optional envelope field of another type than the wire format gives it
/// (as a BSON library picks by value: pymongo writes a small `pid` as int32)
/// is undecodable, named in the error; the right types pass.
#[test]
fn optional_envelope_fields_of_the_wrong_type_are_undecodable() {
    let head = Header {
        publisher: 1,
        sequence: 1,
    }
    .encode();
    let with = |key: &str, value: Bson| {
        let mut doc = doc! { "_id": ObjectId::new(), "type": "a", "ts": bson::DateTime::now() };
        doc.insert(key, value);
        bson::serialize_to_vec(&doc).expect("encodes")
    };
    let cases = [
        (
            "pid",
            Bson::Int32(4321),
            "expected an int64 (BSON type 0x12), got BSON type 0x10",
        ),
        ("pid", Bson::String("4321".into()), "got BSON type 0x02"),
        (
            "severity",
            Bson::Int64(6),
            "expected an int32 from 0 to 7, got BSON type 0x12",
        ),
        (
            "severity",
            Bson::String("info".into()),
            "got BSON type 0x02",
        ),
        ("severity", Bson::Int32(8), "8 is not a syslog severity"),
        ("severity", Bson::Int32(-1), "-1 is not a syslog severity"),
        (
            "tenant",
            Bson::Int32(5),
            "expected a string, got BSON type 0x10",
        ),
        (
            "tenant",
            Bson::Null,
            "expected a string, got BSON type 0x0a",
        ),
        ("logger", Bson::Boolean(true), "expected a string"),
        ("hostname", Bson::Document(doc! {}), "expected a string"),
    ];
    for (key, value, expected) in cases {
        let body = with(key, value.clone());
        match wire::decode(&[b"a", &head[..], &body[..]]) {
            Err(DecodeError::Envelope { field, problem }) => {
                assert_eq!(field, key, "{key}={value:?}: {problem}");
                assert!(problem.contains(expected), "{key}={value:?}: {problem}");
            }
            other => panic!("{key}={value:?}: expected an envelope error, got {other:?}"),
        }
    }
    // A string that is not UTF-8.
    let mut body = with("tenant", Bson::String("ab".into()));
    let at = body
        .windows(3)
        .position(|w| w == b"ab\0")
        .expect("the string");
    body[at] = 0xff;
    // Refused by the whole-document validation before the envelope is read.
    assert!(matches!(
        wire::decode(&[b"a", &head[..], &body[..]]),
        Err(DecodeError::Envelope {
            field: "tenant",
            ..
        } | DecodeError::Bson(_))
    ));
    // The wire types, and the range ends of the severity, pass.
    for (key, value) in [
        ("pid", Bson::Int64(4321)),
        ("severity", Bson::Int32(0)),
        ("severity", Bson::Int32(7)),
        ("tenant", Bson::String("acme".into())),
        ("logger", Bson::String(String::new())),
        ("hostname", Bson::String("h".into())),
    ] {
        let body = with(key, value.clone());
        assert!(
            wire::decode(&[b"a", &head[..], &body[..]]).is_ok(),
            "{key}={value:?}"
        );
    }
}

/// A sequence mark has an empty body frame; one with a body is undecodable
/// (not accounted for), whatever the body holds.
#[test]
fn a_mark_with_a_body_is_undecodable() {
    let mark = Header {
        publisher: 3,
        sequence: 1 << 63,
    }
    .encode_mark();
    match wire::decode_message(&[b"a", &mark[..], &[][..]]) {
        Ok(wire::Message::Mark(header, topic)) => {
            assert_eq!(header.sequence, 1 << 63);
            assert_eq!(topic, b"a");
        }
        other => panic!("expected a mark, got {other:?}"),
    }
    let event = Event::builder("a").build().to_bytes();
    for body in [&b"x"[..], &event[..]] {
        let err = wire::decode_message(&[b"a", &mark[..], body]).unwrap_err();
        assert_eq!(err, DecodeError::MarkWithBody(body.len()));
        assert!(err.to_string().contains("empty body frame"), "{err}");
    }
}

/// A mark's topic is checked like an event type: a long or malformed topic
/// is undecodable, so a receiver never tracks a stream under it (16 KB
/// topics on 65,000 marks took a router to 1 GiB).
#[test]
fn a_mark_with_an_invalid_topic_is_undecodable() {
    let mark = Header {
        publisher: 3,
        sequence: 1,
    }
    .encode_mark();
    let long = vec![b'a'; 16 * 1024];
    let max = vec![b'a'; eventstorm_core::event::MAX_TYPE_LEN];
    assert!(wire::decode_message(&[&max[..], &mark[..], &[][..]]).is_ok());
    for topic in [&long[..], b"", b"bad type", b"\xff\xfe"] {
        match wire::decode_message(&[topic, &mark[..], &[][..]]) {
            Err(DecodeError::MarkTopic(problem)) => {
                assert!(problem.len() < 400, "the message stays short: {problem}");
            }
            other => panic!("{} bytes: expected MarkTopic, got {other:?}", topic.len()),
        }
    }
}

/// Reads every event of a batch message; the sequences of those that pass.
fn batch_sequences(frames: &[&[u8]]) -> Result<Vec<Result<u64, DecodeError>>, DecodeError> {
    match wire::decode_message(frames)? {
        wire::Message::Batch(_, events) => Ok(events.map(|e| e.map(|(h, _)| h.sequence)).collect()),
        other => panic!("expected a batch, got {other:?}"),
    }
}

#[test]
fn a_batch_yields_each_event_with_its_sequence() {
    let events: Vec<Event> = (0..3)
        .map(|i| Event::builder("app.tick").field("i", i).build())
        .collect();
    let body: Vec<u8> = events.iter().flat_map(Event::to_bytes).collect();
    let header = Header {
        publisher: 9,
        sequence: 40,
    }
    .encode_batch();
    assert_eq!(header[0], wire::VERSION_BATCH);
    let frames: [&[u8]; 3] = [b"app.tick", &header, &body];
    let got = batch_sequences(&frames).expect("a batch");
    assert_eq!(got, [Ok(40), Ok(41), Ok(42)]);
    // A batch of sequence 0 is not sequenced: every event has 0.
    let unsequenced = Header {
        publisher: 9,
        sequence: 0,
    }
    .encode_batch();
    let frames: [&[u8]; 3] = [b"app.tick", &unsequenced, &body];
    assert_eq!(
        batch_sequences(&frames).expect("a batch"),
        [Ok(0), Ok(0), Ok(0)]
    );
    // One event where one event is expected.
    assert_eq!(
        wire::decode(&frames).unwrap_err(),
        DecodeError::UnexpectedBatch
    );
}

/// Every truncation and every one-byte change of a batch's body and header
/// is either read or refused: no panic, and never more events than the
/// body can hold.
#[test]
fn corrupted_batches_never_panic() {
    let events: Vec<Event> = (0..3)
        .map(|i| {
            Event::builder("app.tick")
                .field("i", i)
                .field("s", "text")
                .build()
        })
        .collect();
    let body: Vec<u8> = events.iter().flat_map(Event::to_bytes).collect();
    let header = Header {
        publisher: 9,
        sequence: u64::MAX - 1,
    }
    .encode_batch();
    let check = |header: &[u8], body: &[u8]| {
        let frames: [&[u8]; 3] = [b"app.tick", header, body];
        if let Ok(events) = batch_sequences(&frames) {
            assert!(events.len() <= body.len() / 5 + 1);
        }
    };
    for cut in 0..body.len() {
        check(&header, &body[..cut]);
    }
    for at in 0..body.len() {
        for value in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut changed = body.clone();
            changed[at] = value;
            check(&header, &changed);
        }
    }
    for at in 0..header.len() {
        let mut changed = header;
        changed[at] ^= 0xff;
        check(&changed, &body);
    }
}
