//! The `webhook` action: a worker thread per webhook POSTs each stream's
//! JSON, with a timeout per attempt and retries with exponential back-off;
//! what cannot be delivered is counted and dead-lettered.
//!
//! The client is hyper's HTTP/1 connection API on a private current-thread
//! tokio runtime: hyper is already the project's HTTP server stack, so the
//! webhook adds no new HTTP implementation to the build.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use eventstorm_core::ThreadError;
use http_body_util::Full;
use hyper::body::Bytes;

use super::{Payload, SharedDeadLetters};
use crate::dead_letter::{DeadLetter, GiveUp};
use crate::streams::config::WebhookConfig;
use crate::streams::counters::StreamCounters;
use crate::streams::stream::Outcome;

/// Where a webhook posts: parsed from its `url`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    /// Checks and splits an `http://host:port/path` URL.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let expected = || format!("expected an `http://host:port/path` URL, found {url:?}");
        let uri: hyper::Uri = url.parse().map_err(|_| expected())?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "{}: only plain `http://` is supported (put a local TLS proxy in front of an \
                 https receiver)",
                expected()
            ));
        }
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(expected)?;
        let authority = uri.authority().ok_or_else(expected)?.to_string();
        if authority.contains('@') {
            return Err(format!("{}: no user info in the URL", expected()));
        }
        Ok(Target {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: uri.port_u16().unwrap_or(80),
            authority,
            path: uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

/// One stream to post.
struct Delivery {
    fire: u64,
    payload: Payload,
}

/// The engine's side of a webhook worker.
pub(crate) struct WebhookHandle {
    name: String,
    url: String,
    tx: Option<Sender<Delivery>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<StreamCounters>,
    dead: SharedDeadLetters,
    done: Sender<u64>,
}

impl WebhookHandle {
    pub(crate) fn start(
        name: &str,
        config: WebhookConfig,
        counters: Arc<StreamCounters>,
        dead: SharedDeadLetters,
        done: Sender<u64>,
    ) -> crate::Result<WebhookHandle> {
        let target = Target::parse(&config.url)
            .map_err(|m| crate::Error::config(format!("streams.actions.{name}.url"), m))?;
        let (tx, rx) = crossbeam_channel::bounded(config.queue);
        let stop = Arc::new(AtomicBool::new(false));
        let url = config.url.clone();
        let worker = Worker {
            name: name.to_string(),
            url: config.url.clone(),
            target,
            config,
            counters: Arc::clone(&counters),
            dead: Arc::clone(&dead),
            done: done.clone(),
            stop: Arc::clone(&stop),
        };
        let thread = ThreadError::spawn(format!("streams-webhook-{name}"), move || {
            worker.run(rx);
        })?;
        Ok(WebhookHandle {
            name: name.to_string(),
            url,
            tx: Some(tx),
            stop,
            thread: Some(thread),
            counters,
            dead,
            done,
        })
    }

    /// Queues a delivery; a full queue dead-letters it at once.
    pub(crate) fn enqueue(&self, fire: u64, payload: &Payload) {
        let Some(tx) = &self.tx else { return };
        let delivery = Delivery {
            fire,
            payload: payload.clone(),
        };
        match tx.try_send(delivery) {
            Ok(()) => {}
            Err(TrySendError::Full(d) | TrySendError::Disconnected(d)) => {
                self.counters.webhook_queue_full.inc();
                give_up(
                    &self.dead,
                    &d.payload,
                    GiveUp::DroppedQueueFull,
                    &self.name,
                    &self.url,
                    "the webhook's queue was full",
                );
                let _ = self.done.send(d.fire);
            }
        }
    }

    /// Stops the worker: the delivery in flight ends within its timeout,
    /// the queued ones are dead-lettered.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && let Err(e) = ThreadError::join(thread)
        {
            tracing::error!(webhook = %self.name, "{e}");
        }
    }
}

fn give_up(
    dead: &SharedDeadLetters,
    payload: &Payload,
    cause: GiveUp,
    name: &str,
    url: &str,
    reason: &str,
) {
    tracing::warn!(
        webhook = name,
        url,
        cause = cause.as_str(),
        "stream not delivered: {reason}"
    );
    let mut guard = dead.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handler) = guard.as_mut() {
        let event_type = match payload.outcome {
            Outcome::Fire => "stream.fire",
            Outcome::Expire => "stream.expire",
        };
        if let Some(event) = payload.event(event_type) {
            handler.dead_letter(DeadLetter::new(
                event,
                cause,
                format!("webhook {name} {url}"),
                reason,
            ));
        }
    }
}

struct Worker {
    name: String,
    url: String,
    target: Target,
    config: WebhookConfig,
    counters: Arc<StreamCounters>,
    dead: SharedDeadLetters,
    done: Sender<u64>,
    stop: Arc<AtomicBool>,
}

/// How an attempt ended.
enum Attempt {
    Delivered,
    /// Worth another try (connection, timeout, 408, 429, 5xx).
    Retry(String),
    /// The receiver refused it (other 4xx).
    Refused(String),
}

impl Worker {
    fn run(self, rx: Receiver<Delivery>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(webhook = %self.name, "cannot start the webhook runtime: {e}");
                for d in rx {
                    self.fail(&d, GiveUp::Failed, "the webhook's runtime did not start");
                }
                return;
            }
        };
        for delivery in rx {
            if self.stop.load(Ordering::Acquire) {
                self.fail(
                    &delivery,
                    GiveUp::DroppedAtClose,
                    "the engine stopped first",
                );
                continue;
            }
            self.deliver(&runtime, &delivery);
            let _ = self.done.send(delivery.fire);
        }
    }

    fn fail(&self, d: &Delivery, cause: GiveUp, reason: &str) {
        match cause {
            GiveUp::DroppedAtClose => self.counters.webhook_dropped_at_close.inc(),
            _ => self.counters.webhook_failed.inc(),
        }
        give_up(&self.dead, &d.payload, cause, &self.name, &self.url, reason);
        let _ = self.done.send(d.fire);
    }

    fn deliver(&self, runtime: &tokio::runtime::Runtime, d: &Delivery) {
        let body = Bytes::from(d.payload.json().to_string());
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let mut backoff = Duration::from_millis(self.config.backoff_ms);
        let mut attempt = 0;
        loop {
            let result = runtime.block_on(async {
                match tokio::time::timeout(timeout, self.post(body.clone())).await {
                    Ok(r) => r,
                    Err(_) => {
                        Attempt::Retry(format!("no answer within {} ms", timeout.as_millis()))
                    }
                }
            });
            match result {
                Attempt::Delivered => {
                    self.counters.webhook_delivered.inc();
                    return;
                }
                Attempt::Refused(reason) => {
                    self.counters.webhook_failed.inc();
                    give_up(
                        &self.dead,
                        &d.payload,
                        GiveUp::Refused,
                        &self.name,
                        &self.url,
                        &reason,
                    );
                    return;
                }
                Attempt::Retry(reason) => {
                    if attempt >= self.config.retries || self.stop.load(Ordering::Acquire) {
                        self.counters.webhook_failed.inc();
                        let reason = format!("{reason} (after {} attempts)", attempt + 1);
                        give_up(
                            &self.dead,
                            &d.payload,
                            GiveUp::Failed,
                            &self.name,
                            &self.url,
                            &reason,
                        );
                        return;
                    }
                    attempt += 1;
                    self.counters.webhook_retries.inc();
                    tracing::debug!(webhook = %self.name, attempt, "retrying: {reason}");
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(self.config.max_backoff_ms));
                }
            }
        }
    }

    /// Sleeps, waking early when the engine stops.
    fn sleep(&self, total: Duration) {
        let end = Instant::now() + total;
        while !self.stop.load(Ordering::Acquire) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    async fn post(&self, body: Bytes) -> Attempt {
        let t = &self.target;
        let stream = match tokio::net::TcpStream::connect((t.host.as_str(), t.port)).await {
            Ok(s) => s,
            Err(e) => return Attempt::Retry(format!("cannot connect to {}: {e}", t.authority)),
        };
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
            Ok(pair) => pair,
            Err(e) => return Attempt::Retry(format!("HTTP handshake: {e}")),
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = hyper::Request::post(t.path.as_str())
            .header(hyper::header::HOST, t.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "eventstorm-streams");
        for (k, v) in &self.config.headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = match request.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return Attempt::Refused(format!("the request could not be built: {e}")),
        };
        match sender.send_request(request).await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                match status {
                    200..=299 => Attempt::Delivered,
                    408 | 429 | 500..=599 => Attempt::Retry(format!("answered {status}")),
                    _ => Attempt::Refused(format!("answered {status}")),
                }
            }
            Err(e) => Attempt::Retry(format!("sending: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let t = Target::parse("http://127.0.0.1:9000/hooks?x=1").expect("valid");
        assert_eq!((t.port, t.path.as_str()), (9000, "/hooks?x=1"));
        assert_eq!(Target::parse("http://example.org").expect("valid").port, 80);
        assert!(Target::parse("https://example.org/").is_err());
        assert!(Target::parse("example.org/hook").is_err());
        assert!(Target::parse("http://user:pw@example.org/").is_err());
    }
}
