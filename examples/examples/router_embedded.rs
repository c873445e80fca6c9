//! cargo run --example router_embedded
//!
//! A router inside an application, with routing written in Rust: an
//! `EventRouter` implementation decides, the `RouterRuntime` owns the sockets
//! on its own thread. Here, events of tenants on a watch list go to an
//! `audit` output, everything goes to `all`.

use std::process::ExitCode;
use std::time::Duration;

use bson::doc;
use eventstorm_core::{EventRouter, RawEventRef, Routed};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

/// Sends every event to output 0 and watched tenants' events to output 1 too.
struct Audit {
    watched: Vec<String>,
}

impl EventRouter for Audit {
    fn outputs(&self) -> Vec<String> {
        vec!["all".into(), "audit".into()]
    }

    fn route(
        &mut self,
        event: RawEventRef<'_>,
        routes: &mut Vec<Routed>,
    ) -> eventstorm_core::Result<()> {
        routes.push(Routed::Original(0));
        if event
            .tenant()
            .is_some_and(|t| self.watched.iter().any(|w| w == t))
        {
            routes.push(Routed::Original(1));
        }
        Ok(())
    }
}

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
        .init();
    let ctx = zmq::Context::new();
    let config = RouterConfig {
        inputs: vec![InputConfig::bind("apps", "inproc://apps")],
        outputs: vec![
            OutputConfig::bind("all", "inproc://all"),
            OutputConfig::bind("audit", "inproc://audit"),
        ],
        ..Default::default()
    };
    let router = RouterRuntime::with_router(
        &ctx,
        &config,
        Box::new(Audit {
            watched: vec!["globex".into()],
        }),
    )?
    .start()?;

    let mut audit = Subscriber::new(&ctx, &SubscriberConfig::connect("inproc://audit"))?;
    let client = Client::builder()
        .context(ctx.clone())
        .connect("inproc://apps")
        .mode(DeliveryMode::Block)
        .build()?;
    while !client.is_wanted("order.placed") {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, tenant) in ["acme", "globex", "initech", "globex"].iter().enumerate() {
        let event = client
            .event("order.placed")
            .tenant(*tenant)
            .fields(doc! { "order": i as i64 })
            .build();
        client.send(&event);
    }
    client.flush(Duration::from_secs(5));
    while let Some(event) = audit.recv(Duration::from_millis(500))? {
        println!(
            "audit: {} tenant={:?} order={:?}",
            event.event_type(),
            event.view().tenant(),
            event.get("body.order")
        );
    }
    client.close();
    println!("{}", router.shutdown()?);
    Ok(())
}
