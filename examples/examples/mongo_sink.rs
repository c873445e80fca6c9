//! eval "$(scripts/services/mongo.sh start)" && cargo run --example mongo_sink
//!
//! Publisher → router → MongoDB: a `Client` publishes OpenStack-style usage
//! events to an embedded router, whose rule sends `compute.instance.*` and
//! `volume.*` events (with the tenant's password field removed) to a
//! `SinkRuntime` writing them with the `MongoSink` into one collection per type
//! prefix. Then the example asks MongoDB for one tenant's volume events and
//! for a text search over all events of that tenant.
//!
//! The server comes from `EVENTSTORM_MONGODB_URI`: `scripts/services/mongo.sh
//! start` starts the MongoDB-compatible test server and prints it; a real
//! MongoDB works the same way.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use eventstorm_router::{RouterConfig, RouterRuntime};
use eventstorm_sink::mongo::{EventQuery, MongoSink, MongoSinkConfig};
use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

const EVENTS: i64 = 600;

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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(eventstorm_core::log::use_color())
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let uri = std::env::var("EVENTSTORM_MONGODB_URI").map_err(|_| {
        "EVENTSTORM_MONGODB_URI is not set: run eval \"$(scripts/services/mongo.sh start)\" first"
    })?;
    let ctx = zmq::Context::new();

    // The router: applications publish to its input; the usage rule forwards
    // compute and volume events to the `usage` output, scrubbing a field.
    let router = RouterRuntime::new(
        &ctx,
        &RouterConfig::from_toml_str(
            r#"
            [router]
            name = "example"

            [[inputs]]
            name = "apps"
            bind = ["tcp://127.0.0.1:*"]

            [[outputs]]
            name = "usage"
            bind = ["tcp://127.0.0.1:*"]
            mode = "block"

            [[rules]]
            match = "compute.instance.*, volume.*"
            outputs = ["usage"]
            transform.remove = ["body.admin_password"]
            "#,
            "example.toml",
        )?,
    )?
    .start()?;

    // The sink: one collection per type prefix (`events_compute`, `events_volume`).
    // With `text_index = true` (real MongoDB) text search uses a text index on
    // `body.message`; the test server has none, so the example searches by
    // substring, which works everywhere.
    let mut config = MongoSinkConfig::new(uri, "eventstorm_example");
    config.collection = "events_{type_prefix}".into();
    config.text_index = false;
    let sink = MongoSink::new(config)?;
    let reader = sink.reader();
    let runtime = SinkRuntime::spawn(
        &ctx,
        RuntimeConfig::new(SubscriberConfig::connect(
            router.endpoints().output("usage")[0].clone(),
        ))
        .with_batch(200, Duration::from_millis(50)),
        Box::new(sink),
    )?;

    let client = Client::builder()
        .context(ctx.clone())
        .connect(router.endpoints().input("apps")[0].clone())
        .logger("mongo-example")
        .mode(DeliveryMode::Block)
        .wait_for_subscriber(Duration::from_secs(5))
        .build()?;
    for i in 0..EVENTS {
        let tenant = ["acme", "globex"][(i % 2) as usize];
        let event = match i % 3 {
            0 => client
                .event("compute.instance.create.end")
                .field("instance_id", format!("i-{i}"))
                .field("admin_password", "hunter2")
                .field("message", format!("instance i-{i} booted")),
            1 => client
                .event("volume.create.end")
                .field("volume_id", format!("v-{i}"))
                .field("size_gb", i % 50 + 1)
                .field("message", format!("volume v-{i} created")),
            _ => client.event("app.heartbeat").field("i", i), // no rule: not routed
        };
        client.send(&event.tenant(tenant).build());
    }
    client.close();

    let expected = (0..EVENTS).filter(|i| i % 3 != 2).count() as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while runtime.written() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{}", runtime.shutdown()?);
    println!("{}", router.shutdown()?);

    let volumes = reader.find(&EventQuery::new().type_prefix("volume.").tenant("acme"))?;
    println!(
        "acme's volume events stored so far (all runs): {}",
        volumes.len()
    );
    let booted = reader.find(&EventQuery::new().tenant("globex").text("booted").limit(3))?;
    for event in &booted {
        println!(
            "{} {} {:?}",
            event.event_type(),
            event.tenant().unwrap_or("-"),
            event.body()
        );
    }
    Ok(())
}
