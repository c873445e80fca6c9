//! Emitting: events with a JSON or BSON body, logs, counters, gauges and
//! timers. Each returns `EVENTSTORM_STATUS_OK` when the event was handed
//! to the publisher, `EVENTSTORM_STATUS_NOT_SENT` when the client counted
//! it as not sent, or an error for a bad argument or a closed client (not
//! counted: the call never reached the client).

use std::ffi::c_char;

use eventstorm_core::Severity;
use eventstorm_core::event::{CheckedBody, validate_type};
use eventstorm_source::Client;
use eventstorm_source::parse::json::json_to_document;

use crate::EventstormClient;
use crate::args;
use crate::status::{EventstormStatus, Failure, guard};

/// Runs `emit` on the open client and turns its answer into a status.
fn on_open(
    handle: &EventstormClient,
    emit: impl FnOnce(&Client) -> Result<bool, Failure>,
) -> Result<EventstormStatus, Failure> {
    let (_open, client) = handle.open()?;
    Ok(if emit(client)? {
        EventstormStatus::Ok
    } else {
        EventstormStatus::NotSent
    })
}

/// The event type `text` reads, checked as the wire format requires.
fn event_type(text: &str) -> Result<&str, Failure> {
    validate_type(text).map_err(|e| {
        Failure::new(
            EventstormStatus::InvalidArgument,
            format_args!("`event_type`: {e}"),
        )
    })?;
    Ok(text)
}

/// Emits an event of `event_type` whose body is the JSON object `json`
/// (members in their order; integers that fit in 32 bits become int32,
/// other integers int64, other numbers doubles; objects and arrays nested
/// at most 64 levels; integers beyond 64 bits are refused, never rounded).
/// `severity` is 0 (emerg) to 7 (debug), or `EVENTSTORM_SEVERITY_DEFAULT`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `event_type` and `json` are
/// NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_emit_json(
    client: *const EventstormClient,
    event_type: *const c_char,
    json: *const c_char,
    severity: i32,
) -> EventstormStatus {
    guard(
        "eventstorm_emit_json",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, event_type, json) = unsafe {
                (
                    args::client(client)?,
                    args::text(event_type, "event_type")?,
                    args::text(json, "json")?,
                )
            };
            let event_type = self::event_type(event_type)?;
            on_open(handle, |client| {
                let severity = args::severity(severity, client.severity())?;
                // Not converted for nobody: the client would not encode it.
                if !client.is_wanted(event_type) {
                    return Ok(client.emit_with(event_type, severity, bson::Document::new()));
                }
                let body = json_to_document(json).map_err(|e| {
                    Failure::new(
                        EventstormStatus::InvalidArgument,
                        format_args!("`json`: {e}"),
                    )
                })?;
                Ok(client.emit_with(event_type, severity, &body))
            })
        },
    )
}

/// Emits an event of `event_type` whose body is the BSON document of
/// `len` bytes at `body`. The bytes are checked (framing, every nested
/// element, at most 99 levels of nesting) and copied into the event
/// without being decoded: the fastest way to emit. As with every emit,
/// when no subscriber wants `event_type` the body is not even read: the
/// call returns `EVENTSTORM_STATUS_NOT_SENT`, counted as `unsubscribed`.
/// `severity` is 0 (emerg) to 7 (debug), or `EVENTSTORM_SEVERITY_DEFAULT`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `event_type` is NULL or a
/// NUL-terminated string; `body` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_emit_bson(
    client: *const EventstormClient,
    event_type: *const c_char,
    body: *const u8,
    len: usize,
    severity: i32,
) -> EventstormStatus {
    guard(
        "eventstorm_emit_bson",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, event_type, bytes) = unsafe {
                (
                    args::client(client)?,
                    args::text(event_type, "event_type")?,
                    args::bytes(body, len, "body")?,
                )
            };
            let event_type = self::event_type(event_type)?;
            on_open(handle, |client| {
                let severity = args::severity(severity, client.severity())?;
                // Not checked for nobody: the client would not encode it.
                if !client.is_wanted(event_type) {
                    return Ok(client.emit_with(event_type, severity, bson::Document::new()));
                }
                let body = CheckedBody::new(bytes).map_err(|e| {
                    Failure::new(
                        EventstormStatus::InvalidArgument,
                        format_args!("`body` is not a valid BSON document: {e}"),
                    )
                })?;
                Ok(client.emit_bson(event_type, severity, body))
            })
        },
    )
}

/// Emits a log message: type `log`, body `{message}`. `severity` is 0
/// (emerg) to 7 (debug), or `EVENTSTORM_SEVERITY_DEFAULT`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `message` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_log(
    client: *const EventstormClient,
    severity: i32,
    message: *const c_char,
) -> EventstormStatus {
    guard(
        "eventstorm_log",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, message) =
                unsafe { (args::client(client)?, args::text(message, "message")?) };
            on_open(handle, |client| {
                let severity: Severity = args::severity(severity, client.severity())?;
                Ok(client.log(severity, message))
            })
        },
    )
}

/// Adds `n` to the counter `name`: type `counter`, body `{name, value}`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_incr(
    client: *const EventstormClient,
    name: *const c_char,
    n: i64,
) -> EventstormStatus {
    guard(
        "eventstorm_incr",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, name) = unsafe { (args::client(client)?, args::text(name, "name")?) };
            on_open(handle, |client| Ok(client.incr(name, n)))
        },
    )
}

/// Reports the value of the gauge `name`: type `gauge`, body
/// `{name, value}`.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_gauge(
    client: *const EventstormClient,
    name: *const c_char,
    value: f64,
) -> EventstormStatus {
    guard(
        "eventstorm_gauge",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, name) = unsafe { (args::client(client)?, args::text(name, "name")?) };
            on_open(handle, |client| Ok(client.gauge(name, value)))
        },
    )
}

/// Reports a timing the caller measured: type `timer`, body
/// `{name, elapsed_ms}`, the event the Rust client's `Timer` sends.
///
/// # Safety
///
/// `client` is NULL or a client not yet freed; `name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventstorm_timer(
    client: *const EventstormClient,
    name: *const c_char,
    elapsed_ms: f64,
) -> EventstormStatus {
    guard(
        "eventstorm_timer",
        |status| status,
        || {
            // SAFETY: the caller's promises, passed on.
            let (handle, name) = unsafe { (args::client(client)?, args::text(name, "name")?) };
            on_open(handle, |client| {
                Ok(client.emit(
                    "timer",
                    bson::doc! { "name": name, "elapsed_ms": elapsed_ms },
                ))
            })
        },
    )
}
