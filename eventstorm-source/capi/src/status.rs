//! Return codes, the per-thread last error, and the guard every entry point
//! runs in: no panic crosses the C boundary.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a call did. Every function that can fail returns one; on an error
/// (a negative value), `eventstorm_last_error` says what went wrong on
/// this thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventstormStatus {
    /// Done: the event was handed to the publisher, the flush finished, the
    /// counters were read, the client closed.
    Ok = 0,
    /// The event was not sent, and the reason is counted in the client's
    /// counters as the Rust client counts it: no subscriber wanted the type
    /// (`unsubscribed`), drop mode with the queue full
    /// (`dropped_queue_full`), an invalid event type or a body that cannot
    /// be encoded (`invalid`), or a subscriber's queue full (`dropped_hwm`).
    /// Not an error: fire-and-forget goes on.
    NotSent = 1,
    /// A pointer argument was NULL.
    NullArgument = -1,
    /// A string argument is not UTF-8.
    InvalidUtf8 = -2,
    /// An argument is not what the function takes: BSON that is not one
    /// valid document, JSON that is not one object, a severity outside
    /// -1..=7, a length too large.
    InvalidArgument = -3,
    /// The configuration is not valid JSON or has a wrong key or value.
    InvalidConfig = -4,
    /// The client was closed (`eventstorm_client_close`).
    Closed = -5,
    /// `eventstorm_flush` did not finish in time.
    Timeout = -6,
    /// The client could not start (a socket could not bind or connect, its
    /// thread could not start), or its publisher thread had failed when it
    /// was closed.
    Failed = -7,
    /// An internal error (a bug): the call was abandoned without effect on
    /// the caller's memory.
    Internal = -8,
}

/// An error of one call: its status and what to tell the caller.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: EventstormStatus,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: EventstormStatus, message: impl Display) -> Self {
        Failure {
            status,
            message: message.to_string(),
        }
    }
}

thread_local! {
    /// The message of the last error on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // A NUL inside the message (from a caller's string) would cut it short.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // Fails only while the thread is ending: nothing could read it then.
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = message);
}

/// Runs the body of the entry point `function`: its error becomes the
/// returned status and this thread's last error, prefixed with the
/// function's name; a panic becomes `EVENTSTORM_STATUS_INTERNAL`.
pub(crate) fn guard<T>(
    function: &str,
    on_error: impl FnOnce(EventstormStatus) -> T,
    body: impl FnOnce() -> Result<T, Failure>,
) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            set_last_error(&format!("{function}: {}", failure.message));
            on_error(failure.status)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            set_last_error(&format!(
                "{function}: internal error ({what}); the call had no effect, please report it"
            ));
            on_error(EventstormStatus::Internal)
        }
    }
}

/// The message of the last error of a call made on this thread: a
/// NUL-terminated UTF-8 string, empty when no call on this thread has
/// failed yet. Only meaningful right after a call returned an error
/// (a successful call does not clear it).
///
/// The pointer stays valid until the next call that fails on this thread,
/// or until the thread ends; copy the message to keep it. Never NULL; do
/// not free it.
#[unsafe(no_mangle)]
pub extern "C" fn eventstorm_last_error() -> *const c_char {
    // The CString's buffer lives in this thread's storage and is replaced
    // only by a later failing call on this same thread.
    LAST_ERROR
        .try_with(|last| last.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}
