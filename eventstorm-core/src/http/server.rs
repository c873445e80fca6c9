//! The [`Server`]: a listener, a connection cap, hyper connections with
//! timeouts, handler threads, and a bounded shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::answer;
use super::{HttpConfig, HttpError, Router, ServerCounters};

/// The first pause after an accept error such as EMFILE; doubled per error.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause after accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Accept errors are logged at most once per this interval.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// After the shutdown grace, time left to the runtime to drop what remains.
const FORCED_STOP: Duration = Duration::from_millis(200);

/// What the connection tasks share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) counters: Arc<ServerCounters>,
    http1: http1::Builder,
    pub(super) max_body_bytes: usize,
    pub(super) body_timeout: Duration,
    /// HTTPS: the handshake each connection goes through first.
    tls: Option<super::tls::Tls>,
    /// The time a TLS handshake may take (the header timeout).
    handshake_timeout: Duration,
    connections: Arc<Semaphore>,
    /// Connections being served (the accept loop may hold one more permit
    /// while it waits).
    active: AtomicUsize,
    accepting: AtomicBool,
}

/// Holds a connection's permit and its place in `active`.
struct Slot {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An HTTP/1.1 server on a private tokio runtime, behind a sync API: see
/// the [module docs](super). Dropping it shuts it down like
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    shutdown_timeout: Duration,
}

impl Server {
    /// Validates `config`, binds its address and starts serving `router`.
    pub fn start(config: &HttpConfig, router: Router) -> Result<Server, HttpError> {
        config.validate()?;
        let tls = config.tls.as_ref().map(super::tls::acceptor).transpose()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers)
            .max_blocking_threads(config.handler_threads)
            .thread_name("http")
            .enable_io()
            .enable_time()
            .build()
            .map_err(HttpError::Runtime)?;
        let listener = runtime
            .block_on(TcpListener::bind(&config.listen))
            .map_err(|source| HttpError::Bind {
                addr: config.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(HttpError::Runtime)?;
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_timeout())
            .max_header_size(config.max_header_bytes);
        if config.max_header_bytes > 256 << 10 {
            http1.max_buf_size(config.max_header_bytes + 8192);
        }
        let shared = Arc::new(Shared {
            router,
            counters: Arc::default(),
            http1,
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout(),
            tls,
            handshake_timeout: config.header_timeout(),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            active: AtomicUsize::new(0),
            accepting: AtomicBool::new(true),
        });
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        let scheme = if shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(%addr, scheme, "HTTP server listening");
        Ok(Server {
            addr,
            runtime: Some(runtime),
            stop,
            shared,
            shutdown_timeout: config.shutdown_timeout(),
        })
    }

    /// The bound address (with the port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<ServerCounters> {
        Arc::clone(&self.shared.counters)
    }

    /// Connections being served now (at most `max_connections`).
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Stops accepting, lets requests in flight finish for up to
    /// `shutdown_timeout_ms`, then closes every connection whatever the
    /// clients do. True when everything finished within the grace period.
    pub fn shutdown(mut self) -> bool {
        self.stop_now()
    }

    fn stop_now(&mut self) -> bool {
        let Some(runtime) = self.runtime.take() else {
            return true;
        };
        let _ = self.stop.send(true);
        let deadline = Instant::now() + self.shutdown_timeout;
        let graceful = loop {
            let idle = !self.shared.accepting.load(Ordering::Acquire)
                && self.shared.active.load(Ordering::Acquire) == 0;
            if idle {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !graceful {
            tracing::warn!(
                addr = %self.addr,
                connections = self.active_connections(),
                "HTTP shutdown grace of {:?} ran out: closing the remaining connections",
                self.shutdown_timeout
            );
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(FORCED_STOP);
        }
        graceful
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Accepts while a connection permit is free; backs off on errors such as
/// EMFILE and recovers when they clear.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = MIN_ACCEPT_BACKOFF;
    let mut last_log: Option<Instant> = None;
    let mut unlogged = 0u64;
    loop {
        let permit = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            permit = Arc::clone(&shared.connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                shared.counters.connections.inc();
                let _ = stream.set_nodelay(true);
                shared.active.fetch_add(1, Ordering::AcqRel);
                let slot = Slot {
                    shared: Arc::clone(&shared),
                    _permit: permit,
                };
                tokio::spawn(connection(stream, peer, slot, stop.clone()));
            }
            Err(e) => {
                shared.counters.accept_errors.inc();
                unlogged += 1;
                if last_log.is_none_or(|at| at.elapsed() >= ACCEPT_LOG_INTERVAL) {
                    tracing::warn!(
                        errors = unlogged,
                        "HTTP accept failed: {e} (out of file descriptors? check `ulimit -n` \
                         and max_connections); retrying with back-off"
                    );
                    last_log = Some(Instant::now());
                    unlogged = 0;
                }
                if per_connection(&e) {
                    continue;
                }
                drop(permit);
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
    drop(listener);
    shared.accepting.store(false, Ordering::Release);
}

/// Returns once shutdown is asked for (the guard of `wait_for` is not held
/// across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Errors about one connection (the next accept may well succeed).
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

/// Serves one accepted connection, after its TLS handshake on an HTTPS
/// listener (bounded by the header timeout and by shutdown).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let Some(super::tls::Tls(acceptor)) = slot.shared.tls.clone() else {
        return serve(stream, peer, slot, stop).await;
    };
    let timeout = slot.shared.handshake_timeout;
    let handshake = tokio::select! {
        biased;
        () = stopped(&mut stop) => return,
        done = tokio::time::timeout(timeout, acceptor.accept(stream)) => done,
    };
    match handshake {
        Ok(Ok(tls)) => serve(tls, peer, slot, stop).await,
        Ok(Err(e)) => {
            slot.shared.counters.tls_handshake_failures.inc();
            tracing::debug!(%peer, "TLS handshake failed: {e}");
        }
        Err(_) => {
            slot.shared.counters.tls_handshake_failures.inc();
            tracing::debug!(%peer, "TLS handshake did not finish within {timeout:?}");
        }
    }
}

/// Serves one connection until it closes, or until shutdown asks it to finish.
async fn serve<S>(stream: S, peer: SocketAddr, slot: Slot, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::clone(&slot.shared);
    let service_shared = Arc::clone(&shared);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&service_shared);
        async move { Ok::<_, Infallible>(answer::answer(request, peer, &shared).await) }
    });
    let connection = shared.http1.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            shared.counters.header_timeouts.inc();
        }
        tracing::debug!(%peer, "HTTP connection ended: {e}");
    }
    drop(slot);
}
