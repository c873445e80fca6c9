//! The ZAP handler: the one thread per ZeroMQ context that answers libzmq's
//! authentication requests (ZAP, RFC 27) for every CURVE server socket of
//! that context that has an allow-list.
//!
//! libzmq asks whoever is bound at `inproc://zeromq.zap.01` in a socket's
//! context, once per connection, at the end of the CURVE handshake: the
//! request names the socket's ZAP domain, the peer's address and the
//! client's public key. Each socket with an allow-list registers its own
//! domain here (given, or one made up for it); the handler answers from
//! that domain's list, re-read when the file changes, and counts the
//! answers in the socket's [`SecurityCounters`]. Requests for a domain no
//! socket registered (a CURVE socket without an allow-list, a NULL socket
//! with a ZAP domain) are accepted, as they would be without a handler.
//!
//! The handler starts with the first registration in a context and stops
//! (its thread joined) when the last one is dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::allow_list::{AllowList, Stamp};
use super::curve::z85;
use super::error::{Result, TransportError};

crate::counters! {
    /// What a CURVE server socket with an allow-list counts of the peers
    /// that tried to connect (`zap_accepted` + `zap_refused` is every
    /// completed handshake).
    pub struct SecurityCounters {
        /// Connections whose client key is on the allow-list.
        zap_accepted,
        /// Connections refused: the client's key is not on the allow-list.
        zap_refused,
        /// Connections whose handshake failed before the allow-list was
        /// asked: a peer without CURVE (no key), or with another server
        /// key. Counted where the socket's monitor is read (router inputs
        /// and every publishing socket).
        handshake_failed,
        /// Changes to the allow-list file that could not be read (the
        /// previous list stays in force).
        allow_list_errors,
    }
}

/// A socket's handshake counters, and whether the socket reports them (a
/// CURVE server does).
#[derive(Debug)]
pub(crate) struct SocketSecurity {
    counters: Arc<SecurityCounters>,
    reports: bool,
}

impl SocketSecurity {
    pub(crate) fn new(counters: Arc<SecurityCounters>, reports: bool) -> SocketSecurity {
        SocketSecurity { counters, reports }
    }

    /// The counters, when the socket reports them.
    pub(crate) fn reported(&self) -> Option<Arc<SecurityCounters>> {
        self.reports.then(|| Arc::clone(&self.counters))
    }

    /// `stats` with the counters appended, when the socket reports them.
    pub(crate) fn appended_to(&self, mut stats: crate::Stats) -> crate::Stats {
        if self.reports {
            self.counters.append_to(&mut stats);
        }
        stats
    }
}

/// Where libzmq looks for the ZAP handler of a context.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// How often the allow-lists are checked for changes when no request comes.
const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// Least time between two warnings about refused clients, per socket.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);
/// The metadata properties the handler gives each accepted connection
/// (read from each message with `zmq_msg_gets`).
pub(crate) const TENANT_PROPERTY: &str = "X-Eventstorm-Tenant";
/// See [`TENANT_PROPERTY`]: `true` or `false`.
pub(crate) const TRUSTED_PROPERTY: &str = "X-Eventstorm-Trusted";

/// One registered socket: its allow-list and counters.
struct Domain {
    socket: String,
    path: PathBuf,
    stamp: Option<Stamp>,
    list: AllowList,
    counters: Arc<SecurityCounters>,
    warned: Option<Instant>,
    suppressed: u64,
}

type Domains = Arc<Mutex<HashMap<String, Domain>>>;

/// A running handler, in one context.
struct Handler {
    id: u64,
    ctx: zmq::Context,
    /// The inproc endpoint of the handler's control socket: a message stops
    /// it. Binding it in a context tells whether the handler lives there.
    control: String,
    domains: Domains,
    thread: Option<JoinHandle<()>>,
}

/// Every running handler, one per context that has one.
static HANDLERS: Mutex<Vec<Handler>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A socket's place in its context's handler; dropping it removes the
/// socket's domain (and stops the handler when it was the last).
#[derive(Debug)]
pub(crate) struct Registration {
    handler: u64,
    domain: String,
}

/// Registers a socket's allow-list under `domain` (or a domain made up for
/// it) with the handler of `ctx`, starting the handler if the context has
/// none. Returns the registration and the domain to set on the socket.
pub(crate) fn register(
    ctx: &zmq::Context,
    socket: &str,
    domain: Option<&str>,
    path: &Path,
    counters: Arc<SecurityCounters>,
) -> Result<(Registration, String)> {
    static NEXT_DOMAIN: AtomicU64 = AtomicU64::new(0);
    let (list, stamp) = AllowList::read(path)?;
    let domain = domain.map_or_else(
        || format!("eventstorm-{}", NEXT_DOMAIN.fetch_add(1, Ordering::Relaxed)),
        str::to_string,
    );
    let mut handlers = lock(&HANDLERS);
    let index = match find(ctx, &handlers)? {
        Some(index) => index,
        None => {
            handlers.push(start(ctx)?);
            handlers.len() - 1
        }
    };
    let handler = &handlers[index];
    let mut domains = lock(&handler.domains);
    if domains.contains_key(&domain) {
        return Err(TransportError::setting(
            socket,
            "security.zap_domain",
            &format!(
                "`{domain}` is already the domain of another socket with an allow-list in this \
                 ZeroMQ context: give each its own, or leave it out"
            ),
        ));
    }
    tracing::info!(
        socket,
        allow_list = %path.display(),
        clients = list.len(),
        "CURVE clients are checked against the allow-list"
    );
    domains.insert(
        domain.clone(),
        Domain {
            socket: socket.to_string(),
            path: path.to_path_buf(),
            stamp,
            list,
            counters,
            warned: None,
            suppressed: 0,
        },
    );
    let registration = Registration {
        handler: handler.id,
        domain: domain.clone(),
    };
    Ok((registration, domain))
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut handlers = lock(&HANDLERS);
        let Some(index) = handlers.iter().position(|h| h.id == self.handler) else {
            return;
        };
        let empty = {
            let mut domains = lock(&handlers[index].domains);
            domains.remove(&self.domain);
            domains.is_empty()
        };
        if empty {
            // Stopped with the registry held: no socket of this context can
            // start a handler while this one still holds the ZAP endpoint.
            handlers.swap_remove(index).stop();
        }
    }
}

/// The index of the handler that lives in `ctx`, if any: a handler's control
/// endpoint cannot be bound again in its own context.
fn find(ctx: &zmq::Context, handlers: &[Handler]) -> Result<Option<usize>> {
    if handlers.is_empty() {
        return Ok(None);
    }
    let probe = ctx
        .socket(zmq::PAIR)
        .map_err(|e| TransportError::socket("creating a ZAP probe socket", e))?;
    probe
        .set_linger(0)
        .map_err(|e| TransportError::socket("setting linger", e))?;
    for (index, handler) in handlers.iter().enumerate() {
        match probe.bind(&handler.control) {
            Err(zmq::Error::EADDRINUSE) => return Ok(Some(index)),
            Ok(()) => {
                let _ = probe.unbind(&handler.control);
            }
            Err(e) => return Err(TransportError::socket("probing for the ZAP handler", e)),
        }
    }
    Ok(None)
}

/// Binds the ZAP endpoint and the control socket in `ctx` and starts the
/// handler's thread.
fn start(ctx: &zmq::Context) -> Result<Handler> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let rep = ctx
        .socket(zmq::REP)
        .map_err(|e| TransportError::socket("creating the ZAP socket", e))?;
    rep.set_linger(0)
        .map_err(|e| TransportError::socket("setting linger", e))?;
    // A handler that just stopped in this context releases the endpoint
    // when libzmq has reaped its socket: a moment later.
    let mut tries = 0;
    let bound = loop {
        match rep.bind(ZAP_ENDPOINT) {
            Err(zmq::Error::EADDRINUSE) if tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other,
        }
    };
    match bound {
        Ok(()) => {}
        Err(zmq::Error::EADDRINUSE) => {
            return Err(TransportError::Zap(format!(
                "another ZAP handler, not Eventstorm's, is bound at {ZAP_ENDPOINT} in this ZeroMQ \
                 context: open Eventstorm's sockets in a context of their own"
            )));
        }
        Err(e) => return Err(TransportError::socket("binding the ZAP endpoint", e)),
    }
    let control_endpoint = format!(
        "inproc://eventstorm-zap-control-{}-{id}",
        std::process::id()
    );
    let control = ctx
        .socket(zmq::PAIR)
        .map_err(|e| TransportError::socket("creating the ZAP control socket", e))?;
    control
        .set_linger(0)
        .map_err(|e| TransportError::socket("setting linger", e))?;
    control
        .bind(&control_endpoint)
        .map_err(|e| TransportError::socket("binding the ZAP control socket", e))?;
    let domains: Domains = Arc::new(Mutex::new(HashMap::new()));
    let shared = Arc::clone(&domains);
    let thread = std::thread::Builder::new()
        .name("eventstorm-zap".into())
        .spawn(move || run(&rep, &control, &shared))
        .map_err(|e| TransportError::Zap(format!("cannot start its thread: {e}")))?;
    Ok(Handler {
        id,
        ctx: ctx.clone(),
        control: control_endpoint,
        domains,
        thread: Some(thread),
    })
}

impl Handler {
    /// Tells the thread to stop and waits for it.
    fn stop(mut self) {
        let sent = self.ctx.socket(zmq::PAIR).and_then(|pair| {
            pair.set_linger(1000)?;
            pair.connect(&self.control)?;
            pair.send(&b"stop"[..], 0)
        });
        if let Err(e) = sent {
            tracing::warn!("cannot stop the ZAP handler: {e}; it stops with its context");
            return;
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the ZAP handler's thread panicked");
        }
    }
}

/// The handler's loop: answers requests, reloads changed allow-lists, stops
/// on a control message or when the context ends.
fn run(rep: &zmq::Socket, control: &zmq::Socket, domains: &Mutex<HashMap<String, Domain>>) {
    let mut last_reload = Instant::now();
    loop {
        let mut items = [
            rep.as_poll_item(zmq::POLLIN),
            control.as_poll_item(zmq::POLLIN),
        ];
        let ms = i64::try_from(RELOAD_EVERY.as_millis()).unwrap_or(1000);
        match zmq::poll(&mut items, ms) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(zmq::Error::ETERM) => return,
            Err(e) => {
                tracing::error!("ZAP handler stopped: polling failed: {e}");
                return;
            }
        }
        if items[1].is_readable() {
            return;
        }
        let request = items[0].is_readable();
        // Before every request, so that a change counts from the next
        // connection on, and at least once per interval.
        if request || last_reload.elapsed() >= RELOAD_EVERY {
            last_reload = Instant::now();
            reload_changed(&mut lock(domains));
        }
        if request {
            let frames = match rep.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
                Err(zmq::Error::ETERM) => return,
                Err(e) => {
                    tracing::error!("ZAP handler stopped: receiving failed: {e}");
                    return;
                }
            };
            let reply = answer(&frames, &mut lock(domains));
            match rep.send_multipart(reply, 0) {
                Ok(()) => {}
                Err(zmq::Error::ETERM) => return,
                Err(e) => tracing::warn!("ZAP handler: cannot reply: {e}"),
            }
        }
    }
}

/// Re-reads every allow-list whose file changed; a list that cannot be read
/// keeps the previous one in force.
fn reload_changed(domains: &mut HashMap<String, Domain>) {
    for domain in domains.values_mut() {
        let stamp = Stamp::of(&domain.path);
        if stamp == domain.stamp {
            continue;
        }
        domain.stamp = stamp;
        match AllowList::read(&domain.path) {
            Ok((list, stamp)) => {
                tracing::info!(
                    socket = %domain.socket,
                    allow_list = %domain.path.display(),
                    clients = list.len(),
                    "allow-list reloaded: new connections are checked against it"
                );
                domain.list = list;
                domain.stamp = stamp;
            }
            Err(e) => {
                domain.counters.allow_list_errors.inc();
                tracing::error!(
                    socket = %domain.socket,
                    "{e}; the previous allow-list stays in force until the file is fixed"
                );
            }
        }
    }
}

/// The reply to one ZAP request: version, request id, status code, status
/// text, user id, metadata.
fn answer(frames: &[Vec<u8>], domains: &mut HashMap<String, Domain>) -> Vec<Vec<u8>> {
    let request_id = frames.get(1).cloned().unwrap_or_default();
    let reply = |code: &str, text: &str, user: &str, metadata: Vec<u8>| {
        vec![
            b"1.0".to_vec(),
            request_id.clone(),
            code.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.as_bytes().to_vec(),
            metadata,
        ]
    };
    if frames.len() < 6 || frames[0] != b"1.0" {
        tracing::warn!(
            frames = frames.len(),
            "malformed ZAP request refused (expected version 1.0 and at least 6 frames)"
        );
        return reply("500", "malformed ZAP request", "", Vec::new());
    }
    let domain_name = String::from_utf8_lossy(&frames[2]);
    let Some(domain) = domains.get_mut(domain_name.as_ref()) else {
        // No allow-list for this socket: as if there were no handler.
        return reply("200", "OK", "", Vec::new());
    };
    let address = String::from_utf8_lossy(&frames[3]);
    let mechanism = &frames[5];
    let key = (mechanism == b"CURVE" && frames.len() == 7 && frames[6].len() == 32)
        .then(|| &frames[6][..]);
    match key.and_then(|k| domain.list.get(k)) {
        Some(client) => {
            domain.counters.zap_accepted.inc();
            tracing::debug!(socket = %domain.socket, peer = %address, client = %client.name, "CURVE client accepted");
            let mut metadata = Vec::new();
            if let Some(tenant) = &client.tenant {
                property(&mut metadata, TENANT_PROPERTY, tenant);
            }
            property(
                &mut metadata,
                TRUSTED_PROPERTY,
                if client.trusted { "true" } else { "false" },
            );
            reply("200", "OK", &client.name, metadata)
        }
        None => {
            domain.counters.zap_refused.inc();
            let key = key
                .and_then(|k| <&[u8; 32]>::try_from(k).ok())
                .map_or_else(|| "(none)".to_string(), z85);
            let now = Instant::now();
            if domain
                .warned
                .is_some_and(|at| now.duration_since(at) < REFUSAL_WARNING_EVERY)
            {
                domain.suppressed += 1;
            } else {
                tracing::warn!(
                    socket = %domain.socket,
                    peer = %address,
                    key = %key,
                    suppressed = std::mem::take(&mut domain.suppressed),
                    "connection refused: the client's key is not on the allow-list {}",
                    domain.path.display()
                );
                domain.warned = Some(now);
            }
            reply("400", "key not on the allow-list", "", Vec::new())
        }
    }
}

/// Appends one ZMTP metadata property: name length (1 byte), name, value
/// length (4 bytes, big-endian), value.
fn property(out: &mut Vec<u8>, name: &str, value: &str) {
    // Names are ours (short); values are checked to 255 bytes at most.
    out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}
