//! The client handle: creating, flushing, reading counters, closing and
//! freeing.

use std::ffi::{CString, c_char};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use eventstorm_source::{Client, ClientConfig};

use crate::args;
use crate::status::{EventstormStatus, Failure, guard};

/// A client: an opaque handle made by `eventstorm_client_new`, shared by
/// any number of threads, closed by `eventstorm_client_close` and released
/// by `eventstorm_client_free`.
///
/// The handle stays valid between close and free, so that a call after close
/// is an error (`EVENTSTORM_STATUS_CLOSED`) rather than a use of freed
/// memory: only `eventstorm_client_free` ends its life.
pub struct EventstormClient {
    client: Client,
    /// The publisher's endpoints, `*` ports resolved, for
    /// `eventstorm_client_endpoint`.
    endpoints: Vec<CString>,
    /// Whether the client is open. Calls that use the client hold the read
    /// lock for their duration; close takes the write lock, so it waits for
    /// the calls in progress and no call starts on a closed client.
    open: RwLock<bool>,
}

impl std::fmt::Debug for EventstormClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventstormClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl EventstormClient {
    /// The client, while it is open: hold the guard for the whole call.
    pub(crate) fn open(&self) -> Result<(OpenGuard<'_>, &Client), Failure> {
        let open = self.open.read().unwrap_or_else(PoisonError::into_inner);
        if *open {
            Ok((open, &self.client))
        } else {
            Err(Failure::new(
                EventstormStatus::Closed,
                "the client is closed; only eventstorm_client_counters and eventstorm_client_free \
                 may follow eventstorm_client_close",
            ))
        }
    }

    /// Closes the client once; later calls do nothing.
    fn close(&self) -> Result<(), Failure> {
        let mut open = self.open.write().unwrap_or_else(PoisonError::into_inner);
        if !std::mem::replace(&mut *open, false) {
            return Ok(());
        }
        self.client.shutdown().map(drop).map_err(|e| {
            Failure::new(
                EventstormStatus::Failed,
                format_args!("the client closed, but {e}"),
            )
        })
    }
}

/// Held while a call uses an open client.
pub(crate) type OpenGuard<'a> = RwLockReadGuard<'a, bool>;

/// The client's counters (`eventstorm_client_counters`): the Rust
/// client's `stats()`, the client's counters first, then its publisher's.
///
/// Once everything emitted has been handled (`eventstorm_flush` or
/// `eventstorm_client_close`), `emitted` = `sent` + `dropped_hwm` +
/// `send_errors`, and every emit call that returned
/// `EVENTSTORM_STATUS_OK` or `EVENTSTORM_STATUS_NOT_SENT` is counted once
/// in `emitted`, `dropped_queue_full`, `unsubscribed` or `invalid`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventstormCounters {
    /// Events handed to the publisher.
    pub emitted: u64,
    /// Drop mode: events dropped because the client's queue was full.
    pub dropped_queue_full: u64,
    /// Events no subscriber asked for: not encoded, not sent.
    pub unsubscribed: u64,
    /// Events that could not be encoded.
    pub invalid: u64,
    /// Events the socket accepted.
    pub sent: u64,
    /// Bytes of the event bodies sent.
    pub bytes: u64,
    /// Events dropped because a subscriber's queue was full (numbered, so
    /// receivers count them as lost too).
    pub dropped_hwm: u64,
    /// Events lost to a socket error.
    pub send_errors: u64,
    /// Sequence marks sent.
    pub marks: u64,
    /// Subscribe messages received from subscribers.
    pub subscriptions: u64,
    /// Unsubscribe messages received.
    pub unsubscriptions: u64,
    /// Subscribe messages refused (too long, too many).
    pub subscriptions_refused: u64,
}

impl EventstormCounters {
    fn of(client: &Client) -> Self {
        let stats = client.stats();
        let get = |name: &str| stats.get(name).unwrap_or(0);
        EventstormCounters {
            emitted: get("emitted"),
            dropped_queue_full: get("dropped_queue_full"),
            unsubscribed: get("unsubscribed"),
            invalid: get("invalid"),
            sent: get("sent"),
            bytes: get("bytes"),
            dropped_hwm: get("dropped_hwm"),
            send_errors: get("send_errors"),
            marks: get("marks"),
            subscriptions: get("subscriptions"),
            unsubscriptions: get("unsubscriptions"),
            subscriptions_refused: get("subscriptions_refused"),
        }
    }
}

/// Starts a client from its configuration, a JSON object with the keys of
/// the Rust `ClientConfig` (`docs/c-api.md` lists them), for example
/// `{"connect": ["tcp://127.0.0.1:5555"], "logger": "app", "mode": "block",
/// "wait_for_subscriber_ms": 2000}`. Unknown keys are errors.
///
/// Returns the client, or NULL with the reason in `eventstorm_last_error`
/// (a bad configuration, or a socket that could not bind or connect). Free
/// the client with `eventstorm_client_free`.
///
/// # Safety
///
/// `config_json` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_client_new(
    config_json: *const c_char,
) -> *mut EventstormClient {
    guard(
        "eventstorm_client_new",
        |_| std::ptr::null_mut(),
        || {
            // SAFETY: the caller's promise, passed on.
            let text = unsafe { args::text(config_json, "config_json") }?;
            let config: ClientConfig = serde_json::from_str(text).map_err(|e| {
                Failure::new(
                    EventstormStatus::InvalidConfig,
                    format_args!("the configuration is not a valid client configuration: {e}"),
                )
            })?;
            let client = Client::new(config).map_err(|e| {
                Failure::new(
                    EventstormStatus::Failed,
                    format_args!("the client could not start: {e}"),
                )
            })?;
            // Endpoints are validated text without NUL; one with a NUL
            // could not have been opened.
            let endpoints = client
                .endpoints()
                .iter()
                .filter_map(|e| CString::new(e.as_str()).ok())
                .collect();
            Ok(Box::into_raw(Box::new(EventstormClient {
                client,
                endpoints,
                open: RwLock::new(true),
            })))
        },
    )
}

/// The client's endpoint number `index` (its `bind` endpoints, then its
/// `connect` ones), with a `*` port resolved to the port bound: for
/// example `tcp://127.0.0.1:41234` for `tcp://127.0.0.1:*`. NULL past the
/// last endpoint or on an error. The string belongs to the client and
/// stays valid until `eventstorm_client_free`, also after close.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_client_endpoint(
    client: *const EventstormClient,
    index: usize,
) -> *const c_char {
    guard(
        "eventstorm_client_endpoint",
        |_| std::ptr::null(),
        || {
            // SAFETY: the caller's promise, passed on.
            let handle = unsafe { args::client(client) }?;
            Ok(handle
                .endpoints
                .get(index)
                .map_or(std::ptr::null(), |e| e.as_ptr()))
        },
    )
}

/// Waits until every event emitted so far was handed to the socket, or
/// `timeout_ms` milliseconds pass: `EVENTSTORM_STATUS_OK` or
/// `EVENTSTORM_STATUS_TIMEOUT`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_flush(
    client: *const EventstormClient,
    timeout_ms: u64,
) -> EventstormStatus {
    guard(
        "eventstorm_flush",
        |status| status,
        || {
            // SAFETY: the caller's promise, passed on.
            let handle = unsafe { args::client(client) }?;
            let (_open, client) = handle.open()?;
            if client.flush(Duration::from_millis(timeout_ms)) {
                Ok(EventstormStatus::Ok)
            } else {
                Err(Failure::new(
                    EventstormStatus::Timeout,
                    format_args!("events were still queued after {timeout_ms} ms"),
                ))
            }
        },
    )
}

/// Copies the client's counters into `*out`: the first `out_size` bytes of
/// an `EventstormCounters` (pass `sizeof(EventstormCounters)`; a program
/// built against an older, shorter struct gets the fields it knows). Works
/// after `eventstorm_client_close` too: then they are final.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `out` is NULL or points to
/// `out_size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_client_counters(
    client: *const EventstormClient,
    out: *mut EventstormCounters,
    out_size: usize,
) -> EventstormStatus {
    guard(
        "eventstorm_client_counters",
        |status| status,
        || {
            // SAFETY: the caller's promise, passed on.
            let handle = unsafe { args::client(client) }?;
            if out.is_null() {
                return Err(Failure::new(
                    EventstormStatus::NullArgument,
                    "`out` is NULL; expected a pointer to an EventstormCounters",
                ));
            }
            let counters = EventstormCounters::of(&handle.client);
            let len = out_size.min(size_of::<EventstormCounters>());
            // SAFETY: `counters` is a live value of `len` bytes or more; `out`
            // is not NULL and the caller promises `out_size` >= `len` writable
            // bytes there; the two cannot overlap (one is on this stack frame).
            // Bytes are copied, so `out` needs no alignment.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (&raw const counters).cast::<u8>(),
                    out.cast::<u8>(),
                    len,
                );
            }
            Ok(EventstormStatus::Ok)
        },
    )
}

/// Closes the client: sends everything queued and final sequence marks,
/// then stops its thread and socket. Waits for calls in progress on other
/// threads. Afterwards every call but `eventstorm_client_counters` and
/// `eventstorm_client_free` returns `EVENTSTORM_STATUS_CLOSED`; closing
/// again returns `EVENTSTORM_STATUS_OK` and does nothing.
///
/// Returns `EVENTSTORM_STATUS_FAILED` when the client's publisher thread
/// had failed (events it had not sent then were lost; the client is closed
/// all the same).
///
/// # Safety
///
/// `client` is NULL or a client not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_client_close(
    client: *const EventstormClient,
) -> EventstormStatus {
    guard(
        "eventstorm_client_close",
        |status| status,
        || {
            // SAFETY: the caller's promise, passed on.
            let handle = unsafe { args::client(client) }?;
            handle.close()?;
            Ok(EventstormStatus::Ok)
        },
    )
}

/// Closes the client if it is open (as `eventstorm_client_close`, an
/// error being recorded in `eventstorm_last_error` only) and releases it.
/// NULL is accepted and does nothing. The pointer must not be used again,
/// by any thread: no other call on this client may be in progress or
/// follow.
///
/// # Safety
///
/// `client` is NULL or a client from `eventstorm_client_new` not yet
/// freed, with no call on it in progress on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_client_free(client: *mut EventstormClient) {
    guard(
        "eventstorm_client_free",
        |_| (),
        || {
            if client.is_null() {
                return Ok(());
            }
            // SAFETY: the caller gives back a pointer from
            // `eventstorm_client_new` (made by `Box::into_raw`), not freed yet,
            // and no other thread uses it: ownership returns to this Box.
            let handle = unsafe { Box::from_raw(client) };
            let closed = handle.close();
            drop(handle);
            closed
        },
    );
}
