//! `/api/stream`: Server-Sent Events, one update per second to every
//! browser following the dashboard, from one thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventstorm_core::http::{BodySender, Request, Response};
use serde_json::json;

use super::Shared;

/// Chunks waiting to be written per client; a client further behind
/// misses updates (counted in `stream_skipped`).
const CLIENT_BUFFER: usize = 8;
/// The most updates a test may ask for with `?updates=N`.
const MAX_TEST_UPDATES: u64 = 3600;
/// How long the browser waits before reconnecting.
const RETRY_MS: u64 = 1000;

/// One browser following the stream.
#[derive(Debug)]
pub(super) struct Client {
    sender: BodySender,
    /// Updates still to send before closing (`?updates=N`), or none.
    remaining: Option<u64>,
}

/// Answers `/api/stream`: registers the client and sends it the current
/// state at once. `?updates=N` closes the stream after N updates (with an
/// `end` event), so that a headless browser's virtual time can run out.
pub(super) fn subscribe(shared: &Arc<Shared>, request: &Request) -> Response {
    let remaining = match request.query_param("updates") {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_TEST_UPDATES).contains(&n) => Some(n),
            _ => {
                return Response::json(
                    400,
                    &json!({"error": format!(
                        "updates={text:?}: expected a number of updates from 1 to {MAX_TEST_UPDATES}"
                    )}),
                );
            }
        },
    };
    let mut clients = shared.lock_clients();
    if clients.len() >= shared.config.max_stream_clients {
        shared.counters.stream_refused.inc();
        return Response::json(
            503,
            &json!({"error": format!(
                "{} browsers already follow this dashboard (max_stream_clients)",
                clients.len()
            )}),
        )
        .with_header("Retry-After", "5");
    }
    let (response, sender) = Response::streaming(200, CLIENT_BUFFER);
    let first = format!("retry: {RETRY_MS}\n{}", event(&shared.update()));
    let mut client = Client { sender, remaining };
    if send(shared, &mut client, first) {
        clients.push(client);
    }
    response
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-store")
        .with_header("X-Accel-Buffering", "no")
}

/// An SSE `data:` event (JSON has no newlines).
fn event(update: &str) -> String {
    format!("data: {update}\n\n")
}

/// Sends one update; false once the client is done (gone, or its
/// `updates` sent, after which the stream ends with an `end` event).
fn send(shared: &Shared, client: &mut Client, chunk: String) -> bool {
    match client.sender.try_send(chunk) {
        Ok(true) => shared.counters.stream_updates.inc(),
        Ok(false) => shared.counters.stream_skipped.inc(),
        Err(_) => return false,
    }
    match &mut client.remaining {
        Some(n) => {
            *n -= 1;
            if *n == 0 {
                let _ = client.sender.try_send("event: end\ndata: {}\n\n");
                return false;
            }
            true
        }
        None => true,
    }
}

/// The thread that, at the end of every second, moves the window on and
/// sends one update to every client. Ends when the sink is dropped (the
/// streams end with it).
pub(super) fn run(shared: &Arc<Shared>) {
    let clock = shared.clock;
    while !shared.stop.load(Ordering::Acquire) {
        let second = clock.second();
        // A little after the second ends, so that its last batch is in.
        let wake = clock.end_of(second) + Duration::from_millis(20);
        while !shared.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= wake {
                break;
            }
            std::thread::sleep((wake - now).min(Duration::from_millis(100)));
        }
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let update = shared.update();
        let chunk = event(&update);
        let mut clients = shared.lock_clients();
        clients.retain_mut(|client| send(shared, client, chunk.clone()));
    }
    shared.lock_clients().clear();
}
