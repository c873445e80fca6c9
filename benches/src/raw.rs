//! Plain ZeroMQ, without Eventstorm: the baselines the harness compares with.
//!
//! The raw publisher sends exactly the frames Eventstorm sends
//! (`[topic][18-byte header][BSON body]`, the header's sequence counting up),
//! from one pre-encoded body, on an XPUB socket with `ZMQ_XPUB_NODROP` and
//! blocking sends: lossless, like Eventstorm's block mode. The raw proxy is a
//! hand loop between an XSUB and an XPUB socket (what `zmq::proxy` does, but
//! stoppable), forwarding subscriptions upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::transport::set_xpub_nodrop;
use eventstorm_core::{Header, wire};

/// A transport to measure over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP over loopback.
    Tcp,
    /// Unix domain sockets.
    Ipc,
}

impl Transport {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
        }
    }

    /// A fresh endpoint to bind (`tcp://127.0.0.1:*` or a new ipc path).
    pub fn endpoint(self) -> String {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_string(),
            Transport::Ipc => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("eventstorm-bench-{}-{n}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                format!("ipc://{}", path.display())
            }
        }
    }
}

/// The endpoint a socket actually bound (resolves `*` ports).
pub fn bound_endpoint(socket: &zmq::Socket, asked: &str) -> String {
    socket
        .get_last_endpoint()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| asked.to_string())
}

/// The keys of a CURVE client: its own pair and the server's public key.
#[derive(Debug, Clone)]
pub struct CurveClient {
    /// The server's public key.
    pub server: [u8; 32],
    /// This client's public key.
    pub public: [u8; 32],
    /// This client's secret key.
    pub secret: [u8; 32],
}

impl CurveClient {
    fn apply(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_curve_serverkey(&self.server)?;
        socket.set_curve_publickey(&self.public)?;
        socket.set_curve_secretkey(&self.secret)
    }
}

/// A raw publisher: an XPUB socket with `ZMQ_XPUB_NODROP` and blocking sends,
/// or, after [`RawPublisher::drop_when_full`], non-blocking sends that drop
/// (and count) a message when a subscriber's queue is full.
#[allow(missing_debug_implementations)]
pub struct RawPublisher {
    socket: zmq::Socket,
    topic: Vec<u8>,
    body: Vec<u8>,
    header: Header,
    flags: i32,
    dropped: u64,
}

impl RawPublisher {
    /// Opens the socket; `bind` or connect to `endpoint`. Returns the
    /// publisher and the endpoint (resolved when bound).
    pub fn open(
        ctx: &zmq::Context,
        endpoint: &str,
        bind: bool,
        topic: &str,
        body: Vec<u8>,
    ) -> zmq::Result<(RawPublisher, String)> {
        Self::open_with(ctx, endpoint, bind, topic, body, None)
    }

    /// As [`RawPublisher::open`], as a CURVE client when `curve` is given.
    pub fn open_with(
        ctx: &zmq::Context,
        endpoint: &str,
        bind: bool,
        topic: &str,
        body: Vec<u8>,
        curve: Option<&CurveClient>,
    ) -> zmq::Result<(RawPublisher, String)> {
        let mut socket = ctx.socket(zmq::XPUB)?;
        if let Some(curve) = curve {
            curve.apply(&socket)?;
        }
        socket.set_sndhwm(10_000)?;
        set_xpub_nodrop(&mut socket)?;
        socket.set_linger(2_000)?;
        let endpoint = if bind {
            socket.bind(endpoint)?;
            bound_endpoint(&socket, endpoint)
        } else {
            socket.connect(endpoint)?;
            endpoint.to_string()
        };
        let publisher = RawPublisher {
            socket,
            topic: topic.as_bytes().to_vec(),
            body,
            header: Header {
                publisher: 0x5eed,
                sequence: 0,
            },
            flags: 0,
            dropped: 0,
        };
        Ok((publisher, endpoint))
    }

    /// Waits up to `timeout` for a first subscription message.
    pub fn wait_for_subscriber(&self, timeout: Duration) -> bool {
        let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        matches!(self.socket.poll(zmq::POLLIN, ms), Ok(n) if n > 0)
            && self.socket.recv_bytes(zmq::DONTWAIT).is_ok()
    }

    /// Sends with `ZMQ_DONTWAIT` from now on: a message that finds a
    /// subscriber's queue full is dropped and counted ([`Self::dropped`]),
    /// the way Eventstorm's drop mode works, without Eventstorm.
    pub fn drop_when_full(&mut self) {
        self.flags = zmq::DONTWAIT;
    }

    /// Messages dropped because a queue was full (drop mode only).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends one message (blocking while a subscriber's queue is full, or
    /// dropping it in drop mode).
    pub fn send(&mut self) -> zmq::Result<()> {
        self.header.sequence += 1;
        let header = self.header.encode();
        match self.socket.send(&self.topic[..], self.flags | zmq::SNDMORE) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => {
                self.dropped += 1;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // Once the first frame is accepted, the rest of the message is too.
        self.socket.send(&header[..], zmq::SNDMORE)?;
        self.socket.send(&self.body[..], 0)
    }

    /// Sends for `duration`; returns how many messages were sent.
    pub fn send_for(&mut self, duration: Duration) -> zmq::Result<u64> {
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < duration {
            for _ in 0..256 {
                self.send()?;
            }
            sent += 256;
        }
        Ok(sent)
    }
}

/// A raw subscriber: a SUB socket that counts whole messages.
#[allow(missing_debug_implementations)]
pub struct RawSubscriber {
    socket: zmq::Socket,
}

impl RawSubscriber {
    /// Connects to `endpoint` and subscribes to everything.
    pub fn connect(ctx: &zmq::Context, endpoint: &str) -> zmq::Result<RawSubscriber> {
        Self::connect_with(ctx, endpoint, None)
    }

    /// As [`RawSubscriber::connect`], as a CURVE client when `curve` is given.
    pub fn connect_with(
        ctx: &zmq::Context,
        endpoint: &str,
        curve: Option<&CurveClient>,
    ) -> zmq::Result<RawSubscriber> {
        let socket = ctx.socket(zmq::SUB)?;
        if let Some(curve) = curve {
            curve.apply(&socket)?;
        }
        socket.set_rcvhwm(10_000)?;
        socket.set_linger(0)?;
        socket.set_subscribe(b"")?;
        socket.connect(endpoint)?;
        Ok(RawSubscriber { socket })
    }

    /// Counts whole messages into `received` as they arrive, until `stop`
    /// is set; returns the count.
    pub fn count_into(self, stop: &AtomicBool, received: &AtomicU64) -> zmq::Result<u64> {
        let mut msg = zmq::Message::new();
        let mut count = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {
                    while msg.get_more() {
                        self.socket.recv(&mut msg, 0)?;
                    }
                    count += 1;
                    received.store(count, Ordering::Relaxed);
                }
                Err(zmq::Error::EAGAIN) => {
                    self.socket.poll(zmq::POLLIN, 5)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    /// Counts messages until `expected` of them arrived (the sender stores
    /// it once known; `u64::MAX` until then), or `stop` is set and nothing
    /// arrived for `quiet`. Returns the count, the instant of the last
    /// message, and the count at the first message at or after `warm_at`
    /// (see [`Progress`]). Eventstorm's sequence marks are not counted.
    pub fn count_until(
        self,
        stop: &AtomicBool,
        expected: &AtomicU64,
        quiet: Duration,
        warm_at: Instant,
    ) -> zmq::Result<(u64, Instant, Option<Progress>)> {
        let mut msg = zmq::Message::new();
        let mut count = 0u64;
        let mut last = Instant::now();
        let mut warm = None;
        loop {
            match self.socket.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {
                    // Sequence marks (header flag FLAG_MARK) are not events;
                    // a batch (version 2) holds as many as its documents.
                    let mut frame = 1;
                    let mut mark = false;
                    let mut batch = false;
                    let mut events = 1;
                    while msg.get_more() {
                        self.socket.recv(&mut msg, 0)?;
                        frame += 1;
                        if frame == 2 {
                            mark = msg.get(1).is_some_and(|f| f & wire::FLAG_MARK != 0);
                            batch = msg.first() == Some(&wire::VERSION_BATCH);
                        } else if frame == 3 && batch {
                            events = documents_in(&msg);
                        }
                    }
                    if !mark {
                        count += events;
                        last = Instant::now();
                        if warm.is_none() && last >= warm_at {
                            warm = Some(Progress { at: last, count });
                        }
                        if count >= expected.load(Ordering::Relaxed) {
                            return Ok((count, last, warm));
                        }
                    }
                }
                Err(zmq::Error::EAGAIN) => {
                    let done = count >= expected.load(Ordering::Relaxed)
                        || (stop.load(Ordering::Relaxed) && last.elapsed() >= quiet);
                    if done {
                        return Ok((count, last, warm));
                    }
                    self.socket.poll(zmq::POLLIN, 5)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How many events had been delivered at an instant: the start of the
/// measured window, once the pipeline is warm.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// When.
    pub at: Instant,
    /// Events delivered by then.
    pub count: u64,
}

impl Progress {
    /// Events per second from this point to the `last` delivery, when it
    /// leaves a window to measure; otherwise the rate over the whole run.
    pub fn rate(warm: Option<Progress>, total: u64, start: Instant, last: Instant) -> f64 {
        match warm {
            Some(w) if last > w.at && total > w.count => {
                (total - w.count) as f64 / last.duration_since(w.at).as_secs_f64()
            }
            _ => total as f64 / last.duration_since(start).as_secs_f64().max(1e-9),
        }
    }
}

/// A hand-written XSUB → XPUB proxy (the raw routed baseline), forwarding
/// messages downstream and subscriptions upstream, running until stopped.
#[derive(Debug)]
pub struct RawProxy {
    /// Where publishers connect (the XSUB side).
    pub frontend: String,
    /// Where subscribers connect (the XPUB side).
    pub backend: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<zmq::Result<u64>>>,
}

impl RawProxy {
    /// Binds both sides on `transport` and starts the loop on a thread.
    pub fn spawn(ctx: &zmq::Context, transport: Transport) -> zmq::Result<RawProxy> {
        let xsub = ctx.socket(zmq::XSUB)?;
        xsub.set_rcvhwm(10_000)?;
        xsub.set_linger(0)?;
        let asked = transport.endpoint();
        xsub.bind(&asked)?;
        let frontend = bound_endpoint(&xsub, &asked);
        let mut xpub = ctx.socket(zmq::XPUB)?;
        xpub.set_sndhwm(10_000)?;
        set_xpub_nodrop(&mut xpub)?;
        xpub.set_linger(0)?;
        let asked = transport.endpoint();
        xpub.bind(&asked)?;
        let backend = bound_endpoint(&xpub, &asked);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("raw-proxy".into())
            .spawn(move || proxy_loop(&xsub, &xpub, &flag))
            .map_err(|_| zmq::Error::EFAULT)?;
        Ok(RawProxy {
            frontend,
            backend,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the loop; returns how many messages it forwarded.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .and_then(Result::ok)
            .unwrap_or(0)
    }
}

impl Drop for RawProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn proxy_loop(xsub: &zmq::Socket, xpub: &zmq::Socket, stop: &AtomicBool) -> zmq::Result<u64> {
    let mut forwarded = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut items = [
            xsub.as_poll_item(zmq::POLLIN),
            xpub.as_poll_item(zmq::POLLIN),
        ];
        zmq::poll(&mut items, 50)?;
        let (down, up) = (items[0].is_readable(), items[1].is_readable());
        if down {
            // Like the router: up to 4096 messages before looking elsewhere.
            for _ in 0..4096 {
                let mut msg = zmq::Message::new();
                match xsub.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e),
                }
                loop {
                    let more = msg.get_more();
                    xpub.send(msg, if more { zmq::SNDMORE } else { 0 })?;
                    if !more {
                        break;
                    }
                    msg = zmq::Message::new();
                    xsub.recv(&mut msg, 0)?;
                }
                forwarded += 1;
            }
        }
        if up {
            while let Ok(sub) = xpub.recv_bytes(zmq::DONTWAIT) {
                xsub.send(sub, 0)?;
            }
        }
    }
    Ok(forwarded)
}

/// How many BSON documents lie back to back in a batch's body (each starts
/// with its length); a length that does not fit ends the count.
fn documents_in(body: &[u8]) -> u64 {
    let (mut offset, mut count) = (0usize, 0u64);
    while let Some(len) = body
        .get(offset..offset + 4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    {
        match usize::try_from(len) {
            Ok(len) if len >= 5 && offset + len <= body.len() => {
                offset += len;
                count += 1;
            }
            _ => break,
        }
    }
    count
}
