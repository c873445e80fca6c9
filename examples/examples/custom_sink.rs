//! cargo run --example custom_sink
//!
//! How to write your own sink with nothing but `eventstorm-sink`: implement
//! `EventSink` (`write` for a batch; `name`, `flush`, `healthcheck`, `stats`
//! and `pending` have defaults) and hand it to a `SinkRuntime`. This one keeps
//! per-tenant totals of volume sizes, reading one field of each event without
//! decoding the rest.
//!
//! The traffic comes from a raw ZeroMQ socket speaking the wire format
//! (`docs/wire-format.md`), as a program in any language would send it: three
//! frames per event, each numbered, and a final sequence mark. At the end the
//! counts add up: `sent = received + lost + missed_at_join` and, at the sink,
//! `received = written` (nothing filtered, dropped or pending).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

// Everything a custom sink needs is re-exported by `eventstorm-sink`.
use eventstorm_sink::{
    EventSink, RawEvent, RuntimeConfig, SinkError, SinkHandle, SinkRuntime, Stats,
    SubscriberConfig, zmq,
};

/// Sums `body.size_gb` of volume events per tenant, printing on flush.
#[derive(Default)]
struct VolumeTotals {
    gb_by_tenant: BTreeMap<String, i64>,
    events: u64,
}

impl EventSink for VolumeTotals {
    // `name` defaults to the type's name, `VolumeTotals`.

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        for event in batch {
            let view = event.view();
            let tenant = view.tenant().unwrap_or("-").to_string();
            let size = event
                .get("body.size_gb")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            *self.gb_by_tenant.entry(tenant).or_default() += size;
            self.events += 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        println!("GB by tenant: {:?}", self.gb_by_tenant);
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name());
        stats.push("events", self.events);
        stats
    }
}

const EVENTS: u64 = 300;
const TYPE: &str = "volume.create.end";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = zmq::Context::new();
    let config =
        RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*").subscribe(["volume."]));
    let runtime = SinkRuntime::spawn(&ctx, config, Box::new(VolumeTotals::default()))?;

    let sent = publish(&ctx, &runtime.endpoints()[0])?;

    // Every event sent is received, lost on the way, or was sent before the
    // subscriber saw its stream; wait until all are accounted for (or 10 s).
    let accounted = |runtime: &SinkHandle| {
        let stats = runtime.stats();
        let get = |name| stats.get(name).unwrap_or(0);
        get("received") + get("lost") + get("missed_at_join")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while accounted(&runtime) < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = runtime.shutdown()?; // writes what was received, flushes
    println!("{stats}");
    let get = |name| stats.get(name).unwrap_or(0);
    println!(
        "sent={sent} received={} lost={} missed_at_join={} written={} sink.events={}",
        get("received"),
        get("lost"),
        get("missed_at_join"),
        get("written"),
        get("sink.events")
    );
    if get("received") + get("lost") + get("missed_at_join") != sent
        || get("written") != get("received")
    {
        return Err("the counts do not add up".into());
    }
    Ok(())
}

/// Publishes EVENTS volume events to `endpoint` the way any program can: an
/// XPUB socket that waits for the subscription before sending (so nothing is
/// lost to the slow-joiner effect), three frames per event, and a final
/// sequence mark. Returns how many events it sent.
fn publish(ctx: &zmq::Context, endpoint: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let socket = ctx.socket(zmq::XPUB)?;
    socket.set_linger(1000)?;
    socket.set_rcvtimeo(5000)?;
    socket.connect(endpoint)?;
    // A subscription message is 0x01 followed by the prefix.
    let subscription = socket
        .recv_bytes(0)
        .map_err(|e| format!("no subscriber at {endpoint} within 5 s: {e}"))?;
    eprintln!(
        "subscriber asked for {:?}",
        String::from_utf8_lossy(&subscription[1..])
    );

    // Any id but 0, different for each run of the publisher.
    let publisher = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_nanos() as u64
        | 1;
    let header = |flags: u8, sequence: u64| {
        let mut header = vec![1, flags];
        header.extend_from_slice(&publisher.to_le_bytes());
        header.extend_from_slice(&sequence.to_le_bytes());
        header
    };
    for sequence in 1..=EVENTS {
        let tenant = ["acme", "globex", "initech"][(sequence % 3) as usize];
        let body = bson::doc! {
            "_id": bson::oid::ObjectId::new(),
            "type": TYPE,
            "ts": bson::DateTime::now(),
            "tenant": tenant,
            "body": { "size_gb": (sequence % 10 + 1) as i64 },
        }
        .to_vec()?;
        socket.send(TYPE, zmq::SNDMORE)?;
        socket.send(header(0, sequence), zmq::SNDMORE)?;
        socket.send(body, 0)?;
    }
    // The mark says the last sequence of the stream, so that the subscriber
    // also counts events lost at the very end.
    socket.send(TYPE, zmq::SNDMORE)?;
    socket.send(header(1, EVENTS), zmq::SNDMORE)?;
    socket.send(&[][..], 0)?;
    Ok(EVENTS)
}
