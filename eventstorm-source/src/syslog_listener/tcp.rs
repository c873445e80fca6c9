//! The TCP listener: one thread accepts, one thread per connection frames and
//! parses (see [`Framer`]).
//!
//! Connections are bounded in number and in idle time. A connection that
//! sends nothing for `idle_timeout_ms` is closed by its thread. At
//! `max_connections`, a new connection is admitted by closing the one idle
//! the longest: idle connections, however many, never lock an active sender
//! out, and a sender is closed this way only when every other connection has
//! sent something more recently.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventstorm_core::ThreadError;

use super::framing::{Frame, Framer};
use super::ingest::{Ingest, WarnKind};
use crate::error::Error;

/// How often a blocked accept or read looks at the stop flag.
const CHECK_STOP: Duration = Duration::from_millis(100);

/// The TCP settings of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpLimits {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
}

/// What a connection's thread and the accept loop share.
#[derive(Debug)]
struct Activity {
    /// When the connection last received data, in ms since `clock`.
    last_active_ms: AtomicU64,
    /// Closed by the accept loop to admit another connection.
    evicted: AtomicBool,
}

/// A connection being served, as the accept loop sees it.
#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    /// A handle on the socket, to shut it down on eviction.
    stream: TcpStream,
    activity: Arc<Activity>,
    thread: JoinHandle<()>,
}

/// Milliseconds since `clock`.
fn now_ms(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Accepts connections until the source stops, then waits for their threads.
pub(crate) fn accept_loop(listener: &TcpListener, ingest: &Arc<Ingest>, limits: TcpLimits) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(source = %ingest.name, "cannot make the TCP listener non-blocking: {e}");
        return;
    }
    let clock = Instant::now();
    let mut conns: Vec<Conn> = Vec::new();
    // Threads of evicted connections, joined at the end.
    let mut closing: Vec<JoinHandle<()>> = Vec::new();
    while !ingest.stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let (done, open): (Vec<Conn>, Vec<Conn>) =
                    conns.drain(..).partition(|c| c.thread.is_finished());
                conns = open;
                closing.extend(done.into_iter().map(|c| c.thread));
                join_finished(&mut closing, ingest);
                if conns.len() >= limits.max_connections {
                    evict_idlest(&mut conns, &mut closing, ingest, peer, clock);
                }
                match start(stream, peer, ingest, limits, clock) {
                    Ok(conn) => {
                        ingest.counters.connections.inc();
                        conns.push(conn);
                    }
                    Err(e) => {
                        ingest.counters.connections_refused.inc();
                        ingest.warn(WarnKind::Connection, || {
                            format!("connection from {peer} refused: {e}")
                        });
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                ingest.warn(WarnKind::Connection, || format!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    for thread in conns.into_iter().map(|c| c.thread).chain(closing) {
        join(thread, ingest);
    }
}

/// Joins the threads that have ended; keeps the others.
fn join_finished(threads: &mut Vec<JoinHandle<()>>, ingest: &Ingest) {
    let (done, running): (Vec<_>, Vec<_>) = threads.drain(..).partition(JoinHandle::is_finished);
    *threads = running;
    for thread in done {
        join(thread, ingest);
    }
}

/// Joins a connection's thread; a panic (its connection was dropped and
/// the partial message it held lost) is logged.
fn join(thread: JoinHandle<()>, ingest: &Ingest) {
    if let Err(e) = ThreadError::join(thread) {
        tracing::error!(source = %ingest.name, "{e}");
    }
}

/// Closes the connection idle the longest, to make room for one from `peer`.
fn evict_idlest(
    conns: &mut Vec<Conn>,
    closing: &mut Vec<JoinHandle<()>>,
    ingest: &Ingest,
    peer: SocketAddr,
    clock: Instant,
) {
    let Some(idlest) = conns
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| c.activity.last_active_ms.load(Ordering::Relaxed))
        .map(|(i, _)| i)
    else {
        return;
    };
    let victim = conns.swap_remove(idlest);
    victim.activity.evicted.store(true, Ordering::Relaxed);
    let _ = victim.stream.shutdown(Shutdown::Both);
    ingest.counters.connections_evicted.inc();
    let idle_ms =
        now_ms(clock).saturating_sub(victim.activity.last_active_ms.load(Ordering::Relaxed));
    ingest.warn(WarnKind::Connection, || {
        format!(
            "max_connections reached: closed the connection from {} (idle for {idle_ms} ms, the longest) to admit {peer}",
            victim.peer
        )
    });
    closing.push(victim.thread);
}

/// Starts the thread serving one connection.
fn start(
    stream: TcpStream,
    peer: SocketAddr,
    ingest: &Arc<Ingest>,
    limits: TcpLimits,
    clock: Instant,
) -> Result<Conn, Error> {
    let setup = |e| eventstorm_core::Error::io("setting up the connection's socket", e);
    stream.set_nonblocking(false).map_err(setup)?;
    stream.set_read_timeout(Some(CHECK_STOP)).map_err(setup)?;
    let handle = stream.try_clone().map_err(setup)?;
    let activity = Arc::new(Activity {
        last_active_ms: AtomicU64::new(now_ms(clock)),
        evicted: AtomicBool::new(false),
    });
    let thread = {
        let ingest = Arc::clone(ingest);
        let activity = Arc::clone(&activity);
        ThreadError::spawn(format!("syslog-tcp-{peer}"), move || {
            serve(stream, peer, &ingest, limits, &activity, clock)
        })?
    };
    Ok(Conn {
        peer,
        stream: handle,
        activity,
        thread,
    })
}

/// Reads one connection until it closes, fails, idles out, is evicted, or
/// the source stops.
fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ingest: &Ingest,
    limits: TcpLimits,
    activity: &Activity,
    clock: Instant,
) {
    let max_message_bytes = limits.max_message_bytes;
    let idle_timeout_ms = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut framer = Framer::new(max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut emit = |frame: Frame<'_>| match frame {
        Frame::Message(bytes) => ingest.message(bytes, peer),
        Frame::TooLong => {
            ingest.reject(|| format!("message from {peer} longer than {max_message_bytes} bytes"))
        }
        Frame::Invalid(why) => {
            ingest.reject(|| format!("closing the connection from {peer}: {why}"))
        }
    };
    while !ingest.stopping() {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                activity
                    .last_active_ms
                    .store(now_ms(clock), Ordering::Relaxed);
                if !framer.push(&buf[..n], &mut emit) {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                let idle =
                    now_ms(clock).saturating_sub(activity.last_active_ms.load(Ordering::Relaxed));
                if idle >= idle_timeout_ms {
                    let _ = stream.shutdown(Shutdown::Both);
                    ingest.counters.connections_idle_closed.inc();
                    ingest.warn(WarnKind::Connection, || {
                        format!("closed the connection from {peer}: idle for {idle} ms (idle_timeout_ms)")
                    });
                    break;
                }
            }
            Err(_) if activity.evicted.load(Ordering::Relaxed) => break,
            Err(e) => {
                ingest.warn(WarnKind::Connection, || format!("reading from {peer}: {e}"));
                break;
            }
        }
    }
    framer.finish(&mut emit);
}
