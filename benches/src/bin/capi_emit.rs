//! cargo run --release -p eventstorm-benches --bin capi_emit [-- --quick] [--rounds N]
//!
//! The C API's emit against the Rust client's, in one run: `Client::emit`
//! of the typical ~550-byte event's body document (passed by reference),
//! (plus a `project_id`: events of about 550 bytes),
//! `eventstorm_emit_bson` of the same body as BSON bytes, and
//! `eventstorm_emit_json` of it as JSON text, each called through the
//! exported `extern "C"` function as a C program calls it. Calls per second
//! on one thread, with a subscriber attached (otherwise nothing is
//! encoded), in bursts of 16,384 that fit the client's queue with an untimed
//! flush between bursts, as `throughput`'s `client_emit`. The kinds run
//! interleaved (all three in round 1, then round 2, ...) and a ratio is the
//! median of the per-round ratios (docs/performance.md, "Method"). Every
//! run checks that every call was accepted and every event received. The
//! last line is `ratio_bson=X ratio_json=Y` (C ÷ Rust; the target is
//! ≥ 0.8 for BSON).

// Calls the C API's `unsafe extern "C"` functions, as a C program does; the
// workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use bson::{Bson, Document};
use eventstorm::{
    EventstormClient, EventstormCounters, EventstormStatus, eventstorm_client_close,
    eventstorm_client_counters, eventstorm_client_endpoint, eventstorm_client_free,
    eventstorm_client_new, eventstorm_emit_bson, eventstorm_emit_json, eventstorm_flush,
    eventstorm_last_error,
};
use eventstorm_benches::raw::RawSubscriber;
use eventstorm_benches::stats::median;
use eventstorm_benches::typical_event;
use eventstorm_source::Client;

/// Any error, as text.
type Res<T> = Result<T, String>;

const TYPE: &str = "compute.instance.create.end";
/// Calls between two flushes: fits the client's queue (65,536).
const EMIT_BURST: u64 = 16_384;
/// How long a subscriber may take to join, a flush to finish.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A receiver stops after this long without news once the sender is done.
const QUIET: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rust,
    CBson,
    CJson,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Rust, Kind::CBson, Kind::CJson];

    fn name(self) -> &'static str {
        match self {
            Kind::Rust => "rust_emit",
            Kind::CBson => "c_emit_bson",
            Kind::CJson => "c_emit_json",
        }
    }
}

/// The body in each form the callers pass it.
struct Body {
    document: Document,
    bson: Vec<u8>,
    json: CString,
}

impl Body {
    fn typical() -> Res<Body> {
        // The typical event's body, plus the project the harness's typical
        // event carries as its tenant: events of about 550 bytes.
        let mut document = typical_event(0).body().clone();
        document.insert("project_id", "7a1c5e2f9b3d4c6a8e0f1a2b3c4d5e6f");
        let mut bson = Vec::new();
        document.to_writer(&mut bson).map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&Bson::Document(document.clone()).into_relaxed_extjson())
            .map_err(|e| e.to_string())?;
        let json = CString::new(json).map_err(|e| e.to_string())?;
        Ok(Body {
            document,
            bson,
            json,
        })
    }
}

/// Either client, started with a subscriber attached.
enum Emitter {
    Rust(Client),
    C(*mut EventstormClient),
}

impl Emitter {
    fn start(kind: Kind, ctx: &zmq::Context) -> Res<(Emitter, String)> {
        if kind == Kind::Rust {
            let client = Client::builder()
                .context(ctx.clone())
                .bind("tcp://127.0.0.1:*")
                .logger("nova-compute")
                .build()
                .map_err(|e| e.to_string())?;
            let endpoint = client.endpoints()[0].clone();
            return Ok((Emitter::Rust(client), endpoint));
        }
        let config = c"{\"bind\": [\"tcp://127.0.0.1:*\"], \"logger\": \"nova-compute\"}";
        // SAFETY: a NUL-terminated string.
        let client = unsafe { eventstorm_client_new(config.as_ptr()) };
        if client.is_null() {
            return Err(last_error());
        }
        // SAFETY: a live client; the endpoint is copied at once.
        let endpoint = unsafe { CStr::from_ptr(eventstorm_client_endpoint(client, 0)) };
        let endpoint = endpoint.to_string_lossy().into_owned();
        Ok((Emitter::C(client), endpoint))
    }

    fn subscribed(&self) -> bool {
        match self {
            Emitter::Rust(client) => client.is_wanted(TYPE),
            Emitter::C(client) => counters(*client).subscriptions > 0,
        }
    }

    /// One burst of calls; returns how many were not accepted.
    fn burst(&self, kind: Kind, body: &Body, type_c: &CStr) -> u64 {
        let mut refused = 0;
        for _ in 0..EMIT_BURST {
            let accepted = match (self, kind) {
                (Emitter::Rust(client), _) => client.emit(TYPE, &body.document),
                // SAFETY: a live client, NUL-terminated strings, and
                // `bson.len()` readable bytes.
                (Emitter::C(client), Kind::CBson) => unsafe {
                    eventstorm_emit_bson(
                        *client,
                        type_c.as_ptr(),
                        body.bson.as_ptr(),
                        body.bson.len(),
                        -1,
                    ) == EventstormStatus::Ok
                },
                // SAFETY: a live client and NUL-terminated strings.
                (Emitter::C(client), _) => unsafe {
                    eventstorm_emit_json(*client, type_c.as_ptr(), body.json.as_ptr(), -1)
                        == EventstormStatus::Ok
                },
            };
            refused += u64::from(!accepted);
        }
        refused
    }

    fn flush(&self) -> bool {
        match self {
            Emitter::Rust(client) => client.flush(JOIN_TIMEOUT),
            // SAFETY: a live client.
            Emitter::C(client) => unsafe {
                eventstorm_flush(*client, 10_000) == EventstormStatus::Ok
            },
        }
    }

    /// The size of the events sent (their body frame is the whole encoded
    /// event), and how many the publisher dropped (a subscriber's queue
    /// full: counted, as drop mode does).
    fn sent_and_dropped(&self) -> (u64, u64) {
        let (bytes, sent, dropped) = match self {
            Emitter::Rust(client) => {
                let stats = client.stats();
                let get = |name| stats.get(name).unwrap_or(0);
                (
                    get("bytes"),
                    get("sent"),
                    get("dropped_hwm") + get("dropped_queue_full"),
                )
            }
            Emitter::C(client) => {
                let c = counters(*client);
                (c.bytes, c.sent, c.dropped_hwm + c.dropped_queue_full)
            }
        };
        (bytes / sent.max(1), dropped)
    }

    /// Closes the publisher (everything sent, the counters final); the
    /// handle stays readable.
    fn close_publisher(&self) {
        match self {
            Emitter::Rust(client) => client.close(),
            // SAFETY: a live client.
            Emitter::C(client) => {
                let _ = unsafe { eventstorm_client_close(*client) };
            }
        }
    }

    fn close(self) {
        match self {
            Emitter::Rust(client) => client.close(),
            // SAFETY: a live client, freed once.
            Emitter::C(client) => unsafe { eventstorm_client_free(client) },
        }
    }
}

fn last_error() -> String {
    // SAFETY: a NUL-terminated string, copied at once.
    unsafe { CStr::from_ptr(eventstorm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn counters(client: *const EventstormClient) -> EventstormCounters {
    let mut out = EventstormCounters::default();
    // SAFETY: a live client and a whole, writable struct.
    let _ = unsafe { eventstorm_client_counters(client, &mut out, size_of_val(&out)) };
    out
}

/// Calls per second of one kind over `duration` of bursts, and the size
/// of the events sent.
fn measure(kind: Kind, body: &Body, duration: Duration) -> Res<(f64, u64)> {
    let ctx = zmq::Context::new();
    let (emitter, endpoint) = Emitter::start(kind, &ctx)?;
    let subscriber = RawSubscriber::connect(&ctx, &endpoint).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + JOIN_TIMEOUT;
    while !emitter.subscribed() {
        if Instant::now() > deadline {
            return Err("the subscriber never reached the client".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let type_c = CString::new(TYPE).map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let unknown = AtomicU64::new(u64::MAX);
    std::thread::scope(|s| {
        let counter = s.spawn(|| subscriber.count_until(&stop, &unknown, QUIET, Instant::now()));
        let start = Instant::now();
        let mut timed = Duration::ZERO;
        let (mut calls, mut refused) = (0u64, 0u64);
        while start.elapsed() < duration {
            let t = Instant::now();
            refused += emitter.burst(kind, body, &type_c);
            timed += t.elapsed();
            calls += EMIT_BURST;
            if !emitter.flush() {
                return Err("the client's publisher thread did not catch up".to_string());
            }
        }
        emitter.close_publisher();
        let (event_bytes, dropped) = emitter.sent_and_dropped();
        emitter.close();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let received = counter
            .join()
            .map_err(|_| "the subscriber panicked".to_string())?
            .map_err(|e| e.to_string())?
            .0;
        // Every event is accounted for: received, or dropped and counted.
        if refused > 0 || received + dropped != calls {
            return Err(format!(
                "{}: {calls} calls, {refused} not accepted, {received} received, {dropped} dropped",
                kind.name()
            ));
        }
        Ok((calls as f64 / timed.as_secs_f64(), event_bytes))
    })
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(if quick { 3 } else { 5 }), |n| n.parse::<usize>())
        .map_err(|e| format!("--rounds: {e}"))?;
    let duration = Duration::from_millis(if quick { 300 } else { 1000 });
    let body = Body::typical()?;
    println!(
        "body: {} bytes of BSON, {} bytes of JSON (events: the bytes in brackets); \
         {rounds} rounds of {duration:?} per kind",
        body.bson.len(),
        body.json.as_bytes().len()
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Kind::ALL.len()];
    let (mut bson_ratios, mut json_ratios) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut line = format!("round {round}:");
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            let (rate, event_bytes) = measure(kind, &body, duration)?;
            rates[i].push(rate);
            line += &format!(" {}={:.0}k/s ({event_bytes} B)", kind.name(), rate / 1e3);
        }
        let [rust, bson, json] = [
            rates[0][round - 1],
            rates[1][round - 1],
            rates[2][round - 1],
        ];
        bson_ratios.push(bson / rust);
        json_ratios.push(json / rust);
        println!(
            "{line} bson/rust={:.2} json/rust={:.2}",
            bson / rust,
            json / rust
        );
    }
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        println!(
            "{}: median {:.2}M calls/s",
            kind.name(),
            median(&rates[i]) / 1e6
        );
    }
    println!(
        "ratio_bson={:.2} ratio_json={:.2}",
        median(&bson_ratios),
        median(&json_ratios)
    );
    Ok(())
}
