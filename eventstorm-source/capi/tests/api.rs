//! The C API called through its exported functions, as C calls them:
//! hostile arguments are errors with a message (never undefined behaviour
//! or a panic), the last error is per thread, a client is shared by threads,
//! and calls racing a close either finish or see it closed, all counted.

#![allow(unsafe_code)] // Calling the exported `unsafe extern "C"` functions.

use std::ffi::{CStr, CString, c_char};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventstorm::*;
use eventstorm_test_support::with_timeout;

mod common;
use common::Receiver;

fn last_error() -> String {
    // SAFETY: eventstorm_last_error returns a NUL-terminated string valid
    // until the next failing call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(eventstorm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}

/// A client connected to `receiver`, in block mode, once it has seen the
/// receiver's subscription.
fn client_for(receiver: &mut Receiver) -> *mut EventstormClient {
    let config = c(&format!(
        r#"{{"connect": ["{}"], "logger": "api-test", "mode": "block"}}"#,
        receiver.endpoint()
    ));
    // SAFETY: a NUL-terminated string.
    let client = unsafe { eventstorm_client_new(config.as_ptr()) };
    assert!(!client.is_null(), "{}", last_error());
    receiver.serve_until(Duration::from_secs(30), || {
        counters(client).subscriptions > 0
    });
    client
}

fn counters(client: *const EventstormClient) -> EventstormCounters {
    let mut out = EventstormCounters::default();
    // SAFETY: a live client and a whole, writable struct.
    let status = unsafe { eventstorm_client_counters(client, &mut out, size_of_val(&out)) };
    assert_eq!(status, EventstormStatus::Ok, "{}", last_error());
    out
}

/// A client pointer that may cross threads (the C API's clients are
/// thread-safe).
#[derive(Clone, Copy)]
struct Shared(*mut EventstormClient);
// SAFETY: EventstormClient is Send + Sync (a Client and an RwLock).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    with_timeout(Duration::from_secs(30), || {
        // SAFETY: NULL is allowed.
        assert!(unsafe { eventstorm_client_new(std::ptr::null()) }.is_null());
        assert!(
            last_error().contains("`config_json` is NULL"),
            "{}",
            last_error()
        );
        let not_utf8 = b"{\"logger\": \"\xff\"}\0";
        // SAFETY: a NUL-terminated string.
        assert!(unsafe { eventstorm_client_new(not_utf8.as_ptr().cast::<c_char>()) }.is_null());
        assert!(last_error().contains("not UTF-8"), "{}", last_error());
        for (config, expected) in [
            (r#"{"conect": []}"#, "unknown field `conect`"),
            (r#"{"mode": "fast"}"#, "fast"),
            ("not json", "not a valid client configuration"),
            (r#"{"connect": ["nowhere"]}"#, "could not start"),
        ] {
            let config = c(config);
            // SAFETY: a NUL-terminated string.
            assert!(unsafe { eventstorm_client_new(config.as_ptr()) }.is_null());
            assert!(
                last_error().contains(expected),
                "{config:?}: {}",
                last_error()
            );
        }
    });
}

#[test]
fn hostile_arguments_are_errors_and_nothing_is_counted() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut receiver = Receiver::bind(&ctx);
        let client = client_for(&mut receiver);
        // SAFETY: a live client; the endpoint is copied at once.
        let endpoint = unsafe { CStr::from_ptr(eventstorm_client_endpoint(client, 0)) };
        assert_eq!(endpoint.to_str().ok(), Some(receiver.endpoint().as_str()));
        // SAFETY: a live client, and NULL.
        unsafe {
            assert!(eventstorm_client_endpoint(client, 1).is_null());
            assert!(eventstorm_client_endpoint(std::ptr::null(), 0).is_null());
        }
        let t = c("order.placed");
        let null = std::ptr::null::<c_char>();
        // SAFETY (every call below): `client` is live; the other pointers
        // are NULL, NUL-terminated strings, or `len` readable bytes.
        unsafe {
            use EventstormStatus::*;
            assert_eq!(
                eventstorm_incr(std::ptr::null(), t.as_ptr(), 1),
                NullArgument
            );
            assert!(last_error().starts_with("eventstorm_incr: `client` is NULL"));
            assert_eq!(
                eventstorm_emit_json(client, null, t.as_ptr(), -1),
                NullArgument
            );
            assert_eq!(
                eventstorm_emit_json(client, t.as_ptr(), null, -1),
                NullArgument
            );
            assert_eq!(
                eventstorm_emit_bson(client, t.as_ptr(), std::ptr::null(), 5, -1),
                NullArgument
            );
            assert_eq!(eventstorm_log(client, -1, null), NullArgument);
            assert_eq!(eventstorm_gauge(client, null, 1.0), NullArgument);
            assert_eq!(eventstorm_timer(client, null, 1.0), NullArgument);
            assert_eq!(
                eventstorm_client_counters(client, std::ptr::null_mut(), 8),
                NullArgument
            );
            assert_eq!(eventstorm_flush(std::ptr::null(), 1), NullArgument);
            assert_eq!(eventstorm_client_close(std::ptr::null()), NullArgument);
            eventstorm_client_free(std::ptr::null_mut());

            let bad_utf8 = b"caf\xe9\0";
            assert_eq!(
                eventstorm_incr(client, bad_utf8.as_ptr().cast(), 1),
                InvalidUtf8
            );
            assert!(last_error().contains("`name` is not UTF-8: invalid byte at offset 3"));

            for severity in [-2, 8, i32::MIN, i32::MAX] {
                assert_eq!(
                    eventstorm_log(client, severity, t.as_ptr()),
                    InvalidArgument
                );
                assert!(
                    last_error().contains("is not 0 (emerg) to 7"),
                    "{}",
                    last_error()
                );
            }
            let bad_type = c("no spaces");
            assert_eq!(eventstorm_incr(client, bad_type.as_ptr(), 1), Ok); // a name, not a type
            assert_eq!(
                eventstorm_emit_json(client, bad_type.as_ptr(), c("{}").as_ptr(), -1),
                InvalidArgument
            );

            let deep = format!("{}1{}", "{\"a\":".repeat(65), "}".repeat(65));
            let ok = format!("{}1{}", "{\"a\":".repeat(64), "}".repeat(64));
            for (json, expected) in [
                ("{\"a\": ", "invalid JSON"),
                ("[1]", "a JSON object (not an array)"),
                ("{\"n\": 9223372036854775808}", "does not fit in 64 bits"),
                ("{\"a\\u0000b\": 1}", "NUL"),
                (deep.as_str(), "nested deeper than 64 levels"),
                ("{} {}", "trailing"),
            ] {
                let json = c(json);
                assert_eq!(
                    eventstorm_emit_json(client, t.as_ptr(), json.as_ptr(), -1),
                    InvalidArgument
                );
                assert!(
                    last_error().contains(expected),
                    "{json:?}: {}",
                    last_error()
                );
            }
            let ok = c(&ok);
            assert_eq!(
                eventstorm_emit_json(client, t.as_ptr(), ok.as_ptr(), -1),
                Ok
            );

            let mut doc = Vec::new();
            bson::doc! { "s": "x", "n": 1 }
                .to_writer(&mut doc)
                .expect("bson");
            let mut bad_string = doc.clone();
            let s = bad_string.iter().position(|&b| b == b'x').expect("x");
            bad_string[s] = 0xff;
            let mut deep_doc = bson::doc! { "x": 1 };
            for _ in 0..99 {
                deep_doc = bson::doc! { "d": deep_doc };
            }
            let mut deep_bytes = Vec::new();
            deep_doc.to_writer(&mut deep_bytes).expect("bson");
            for (bytes, len, expected) in [
                (&doc[..], doc.len() - 1, "length prefix says"),
                (&doc[..], 3, "too short"),
                (&bad_string[..], bad_string.len(), "not UTF-8"),
                (&deep_bytes[..], deep_bytes.len(), "deep"),
                (&doc[..], usize::MAX, "larger than any object"),
            ] {
                assert_eq!(
                    eventstorm_emit_bson(client, t.as_ptr(), bytes.as_ptr(), len, -1),
                    InvalidArgument
                );
                assert!(
                    last_error().contains(expected),
                    "{expected}: {}",
                    last_error()
                );
            }
            assert_eq!(
                eventstorm_emit_bson(client, t.as_ptr(), doc.as_ptr(), doc.len(), 3),
                Ok
            );
        }
        let counted = counters(client);
        assert_eq!((counted.emitted, counted.invalid), (3, 0), "{counted:?}");

        // A shorter struct (an older header) gets the fields it knows.
        let mut two = [u64::MAX; 3];
        // SAFETY: 16 writable bytes at `two`.
        let status = unsafe { eventstorm_client_counters(client, two.as_mut_ptr().cast(), 16) };
        assert_eq!(status, EventstormStatus::Ok);
        assert_eq!(two, [3, 0, u64::MAX]);
        // SAFETY: a live client, freed once.
        unsafe { eventstorm_client_free(client) };
    });
}

#[test]
fn the_last_error_belongs_to_its_thread() {
    with_timeout(Duration::from_secs(30), || {
        // SAFETY: NULL is allowed.
        let _ = unsafe { eventstorm_flush(std::ptr::null(), 0) };
        assert!(last_error().starts_with("eventstorm_flush"));
        let other = std::thread::spawn(last_error).join().expect("thread");
        assert_eq!(other, "");
        assert!(last_error().starts_with("eventstorm_flush"));
    });
}

#[test]
fn threads_share_a_client_and_calls_racing_close_are_counted_or_refused() {
    with_timeout(Duration::from_secs(120), || {
        let ctx = zmq::Context::new();
        let mut receiver = Receiver::bind(&ctx);
        let client = Shared(client_for(&mut receiver));
        let accepted = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|n| {
                let accepted = Arc::clone(&accepted);
                std::thread::spawn(move || {
                    let client = client;
                    let t = c("thread.event");
                    let json = c(&format!(r#"{{"thread": {n}}}"#));
                    loop {
                        // SAFETY: the client is freed only after every
                        // thread was joined.
                        match unsafe {
                            eventstorm_emit_json(client.0, t.as_ptr(), json.as_ptr(), -1)
                        } {
                            EventstormStatus::Ok => accepted.fetch_add(1, Ordering::Relaxed),
                            EventstormStatus::Closed => return,
                            other => panic!("{other:?}: {}", last_error()),
                        };
                    }
                })
            })
            .collect();
        // Receive meanwhile: block mode waits for a full subscriber queue.
        let expected = Arc::new(AtomicU64::new(u64::MAX));
        let collector = {
            let expected = Arc::clone(&expected);
            std::thread::spawn(move || {
                receiver.receive_until(Duration::from_secs(60), |n| {
                    u64::try_from(n).is_ok_and(|n| n >= expected.load(Ordering::Acquire))
                })
            })
        };
        eventstorm_test_support::wait_for("4000 events accepted", Duration::from_secs(60), || {
            accepted.load(Ordering::Relaxed) >= 4000
        });
        // SAFETY: a live client.
        assert_eq!(
            unsafe { eventstorm_client_close(client.0) },
            EventstormStatus::Ok
        );
        for thread in threads {
            thread.join().expect("emitting thread");
        }
        let accepted = accepted.load(Ordering::Relaxed);
        expected.store(accepted, Ordering::Release);
        let counted = counters(client.0);
        assert_eq!(counted.emitted, accepted);
        assert_eq!(counted.sent, accepted);
        // Closed: calls are refused, close again is fine.
        // SAFETY: a live (closed) client.
        unsafe {
            assert_eq!(eventstorm_flush(client.0, 1), EventstormStatus::Closed);
            assert_eq!(eventstorm_client_close(client.0), EventstormStatus::Ok);
        }
        let (events, stats) = collector.join().expect("collector");
        assert_eq!(u64::try_from(events.len()).ok(), Some(accepted));
        assert_eq!(stats.get("lost"), Some(0));
        // SAFETY: freed once, no thread uses it any more.
        unsafe { eventstorm_client_free(client.0) };
    });
}
