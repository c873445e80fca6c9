//! The TCP listener: one thread accepts, one thread per connection frames and
//! parses (see [`Framer`]).

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::framing::{Frame, Framer};
use super::ingest::Ingest;

/// How often a blocked accept or read looks at the stop flag.
const CHECK_STOP: Duration = Duration::from_millis(100);

/// Accepts connections until the source stops, then waits for their threads.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    ingest: &Arc<Ingest>,
    max_message_bytes: usize,
    max_connections: usize,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(source = %ingest.name, "cannot make the TCP listener non-blocking: {e}");
        return;
    }
    let active = Arc::new(AtomicUsize::new(0));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !ingest.stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                threads.retain(|t| !t.is_finished());
                if active.load(Ordering::Relaxed) >= max_connections {
                    ingest.counters.connections_refused.inc();
                    ingest.warn(|| format!("connection from {peer} refused: {max_connections} connections already open"));
                    continue;
                }
                ingest.counters.connections.inc();
                active.fetch_add(1, Ordering::Relaxed);
                let ingest = Arc::clone(ingest);
                let active = Arc::clone(&active);
                let spawned = std::thread::Builder::new()
                    .name(format!("syslog-tcp-{peer}"))
                    .spawn(move || {
                        serve(stream, peer, &ingest, max_message_bytes);
                        active.fetch_sub(1, Ordering::Relaxed);
                    });
                match spawned {
                    Ok(thread) => threads.push(thread),
                    Err(e) => tracing::error!("cannot start a connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                ingest.warn(|| format!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
}

/// Reads one connection until it closes, fails, or the source stops.
fn serve(mut stream: TcpStream, peer: SocketAddr, ingest: &Ingest, max_message_bytes: usize) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(CHECK_STOP)).is_err()
    {
        return;
    }
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
                if !framer.push(&buf[..n], &mut emit) {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                ingest.warn(|| format!("reading from {peer}: {e}"));
                break;
            }
        }
    }
    framer.finish(&mut emit);
}
