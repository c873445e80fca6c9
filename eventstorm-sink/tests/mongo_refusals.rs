//! MongoDB sink: one bad event (a tenant or type too long for a namespace, a
//! document too deep for the server) is refused and stops nothing else; the
//! tenant/type → collection mapping is injective. Against a real server:
//!
//! ```text
//! eval "$(scripts/services/mongo.sh start)"
//! cargo test -p eventstorm-sink --test mongo_refusals
//! ```
#![cfg(feature = "mongodb")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;

use bson::RawDocumentBuf;
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::mongo::{EventQuery, MongoSink, MongoSinkConfig};
use eventstorm_sink::{DeadLetter, GiveUp};

mod common;
mod mongo_support;
use common::with_timeout;
use mongo_support::{TestDb, raw, server_uri};

fn tenant_event(tenant: &str, i: usize) -> RawEvent {
    raw(&Event::builder("refusal.test")
        .tenant(tenant)
        .field("i", i as i64)
        .build())
}

/// Sends `good` events of tenant `acme` around one `bad` event, in batches
/// of 100, and checks that only the bad one is refused.
fn one_bad_among_good(config: MongoSinkConfig, bad: RawEvent, good: usize) {
    let (tx, rx) = mpsc::channel::<DeadLetter>();
    let mut sink = MongoSink::new(config)
        .unwrap()
        .with_dead_letters(Box::new(tx));
    let mut sent: Vec<RawEvent> = (0..20).map(|i| tenant_event("acme", i)).collect();
    sent.push(bad.clone());
    sent.extend((20..good).map(|i| tenant_event("acme", i)));
    let mut reported = 0;
    for batch in sent.chunks(100) {
        if let Err(e) = sink.write(batch) {
            assert!(!e.retryable, "a refusal is not retryable: {e}");
            reported += e.failed;
        }
    }
    sink.flush().unwrap();
    let stats = sink.stats();
    assert_eq!(stats.get("written"), Some(good as u64), "{stats}");
    assert_eq!(stats.get("refused"), Some(1), "{stats}");
    assert_eq!(stats.get("dropped"), Some(0), "{stats}");
    assert_eq!(
        stats.get("outages"),
        Some(0),
        "a refusal is no outage: {stats}"
    );
    assert_eq!(stats.get("pending"), Some(0), "{stats}");
    assert_eq!(reported, 1, "the refusal is reported");
    let refused: Vec<DeadLetter> = rx.try_iter().collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].cause, GiveUp::Refused);
    assert_eq!(
        refused[0].event, bad,
        "the refused event is handed over whole"
    );
    assert!(!refused[0].reason.is_empty());
    eprintln!(
        "refused {}: {}",
        refused[0].destination.chars().take(60).collect::<String>(),
        refused[0].reason
    );
    assert_eq!(
        sink.reader().count(&EventQuery::new()).unwrap(),
        good as u64
    );
}

#[test]
fn a_tenant_too_long_for_a_namespace_blocks_nothing() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "long_tenant");
        let config = MongoSinkConfig {
            collection: "{tenant}_events".into(),
            ..db.config()
        };
        one_bad_among_good(config, tenant_event(&"t".repeat(300), 0), 3_000);
    });
}

#[test]
fn a_type_too_long_for_a_namespace_blocks_nothing() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "long_type");
        let config = MongoSinkConfig {
            collection: "events_{type_prefix}".into(),
            ..db.config()
        };
        let bad = raw(&Event::builder("y".repeat(250)).tenant("acme").build());
        // The good events all go to events_refusal.
        one_bad_among_good(config, bad, 1_000);
    });
}

#[test]
fn a_document_too_deep_for_the_server_never_reaches_the_sink() {
    // 1,000 levels: more than MongoDB (100) and SecantusDB (Python's
    // recursion limit) store. Every receiver refuses an event nested past
    // the wire format's limit (100 levels, the event itself included), so
    // such a document cannot reach a sink's `write`: the subscriber counts it
    // as undecodable. Built as bytes: nothing here recurses.
    let bad = with_deep_field(
        &Event::builder("refusal.test").tenant("acme").build(),
        1_000,
    );
    assert!(
        matches!(
            bad,
            Err(eventstorm_core::DecodeError::TooDeep { limit: 100, .. })
        ),
        "{bad:?}"
    );
    // At the limit, it is an ordinary event.
    assert!(with_deep_field(&Event::builder("refusal.test").build(), 97).is_ok());
}

/// `event` with a field `deep` nesting `depth` documents, encoded
/// iteratively.
fn with_deep_field(event: &Event, depth: usize) -> Result<RawEvent, eventstorm_core::DecodeError> {
    let doc = |elements: &[u8]| {
        let mut out = ((elements.len() + 5) as i32).to_le_bytes().to_vec();
        out.extend_from_slice(elements);
        out.push(0);
        out
    };
    let mut nested = doc(&[0x10, b'x', 0, 1, 0, 0, 0]);
    for _ in 0..depth {
        let mut element = vec![0x03, b'n', 0];
        element.extend_from_slice(&nested);
        nested = doc(&element);
    }
    let top = RawEvent::from_event(event).unwrap().into_bytes();
    let mut elements = top[4..top.len() - 1].to_vec();
    elements.extend_from_slice(&[0x03, b'd', b'e', b'e', b'p', 0]);
    elements.extend_from_slice(&nested);
    RawEvent::from_bytes(doc(&elements))
}

#[test]
fn distinct_tenants_get_distinct_collections() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "names");
        let config = MongoSinkConfig {
            collection: "{tenant}_events".into(),
            ..db.config()
        };
        let mut sink = MongoSink::new(config).unwrap();
        let tenants = [
            "acme/eu",
            "acme.eu",
            "acme_eu",
            "",
            "$",
            ".",
            "ü",
            "%",
            "acme%2Feu",
        ];
        let sent: Vec<RawEvent> = tenants
            .iter()
            .enumerate()
            .map(|(i, t)| tenant_event(t, i))
            .collect();
        sink.write(&sent).unwrap();
        sink.flush().unwrap();
        let names: HashSet<String> = db.with_db(async |db| {
            db.list_collection_names()
                .await
                .unwrap()
                .into_iter()
                .collect()
        });
        assert_eq!(
            names.len(),
            tenants.len(),
            "one collection per tenant: {names:?}"
        );
        for expected in [
            "acme%2Feu_events",
            "acme%2Eeu_events",
            "acme_eu_events",
            "%_events",
        ] {
            assert!(names.contains(expected), "{expected} in {names:?}");
        }
        let reader = sink.reader();
        for (i, tenant) in tenants.iter().enumerate() {
            let found = reader.find_raw(&EventQuery::new().tenant(*tenant)).unwrap();
            assert_eq!(found, vec![sent[i].clone()], "tenant {tenant:?}");
        }
        // Each collection holds its tenant's event only.
        for name in &names {
            let docs = db.with_db(async |db| {
                use futures_util::TryStreamExt;
                db.collection::<RawDocumentBuf>(name)
                    .find(bson::doc! {})
                    .await
                    .unwrap()
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
            });
            assert_eq!(docs.len(), 1, "{name}");
        }
    });
}

#[test]
fn a_tenant_named_like_a_system_namespace_is_refused() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(60), move || {
        let db = TestDb::new(&uri, "system");
        let config = MongoSinkConfig {
            collection: "{tenant}.events".into(),
            ..db.config()
        };
        let mut sink = MongoSink::new(config).unwrap();
        let err = sink
            .write(&[tenant_event("system", 0), tenant_event("acme", 1)])
            .unwrap_err();
        assert_eq!(err.failed, 1);
        assert!(err.message.contains("system."), "{err}");
        let stats = sink.stats();
        assert_eq!(
            (stats.get("written"), stats.get("refused")),
            (Some(1), Some(1))
        );
    });
}
