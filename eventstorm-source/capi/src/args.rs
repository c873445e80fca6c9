//! Reading the arguments of a C call: every pointer checked for NULL,
//! every string for UTF-8, every length for range, before anything is done.

use std::ffi::{CStr, c_char};

use eventstorm_core::Severity;

use crate::EventstormClient;
use crate::status::{EventstormStatus, Failure};

/// Passed as a severity: use the client's default severity (its
/// configuration's `severity`, `info` unless set).
pub const EVENTSTORM_SEVERITY_DEFAULT: i32 = -1;

/// The string `ptr` points to, named `what` in errors.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            EventstormStatus::NullArgument,
            format_args!("`{what}` is NULL; expected a NUL-terminated UTF-8 string"),
        ));
    }
    // SAFETY: not NULL, and the caller promises a NUL-terminated string
    // valid for 'a.
    let c_str = unsafe { CStr::from_ptr(ptr) };
    c_str.to_str().map_err(|e| {
        Failure::new(
            EventstormStatus::InvalidUtf8,
            format_args!(
                "`{what}` is not UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ),
        )
    })
}

/// The `len` bytes at `ptr`, named `what` in errors.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            EventstormStatus::NullArgument,
            format_args!("`{what}` is NULL; expected a pointer to {len} bytes"),
        ));
    }
    if isize::try_from(len).is_err() {
        return Err(Failure::new(
            EventstormStatus::InvalidArgument,
            format_args!("`{what}`: length {len} is larger than any object can be"),
        ));
    }
    // SAFETY: not NULL, `len` fits in isize, and the caller promises `len`
    // readable bytes valid for 'a (a u8 needs no alignment).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The client `ptr` points to.
///
/// # Safety
///
/// `ptr` is NULL or was returned by `eventstorm_client_new` and not yet
/// passed to `eventstorm_client_free`.
pub(crate) unsafe fn client<'a>(
    ptr: *const EventstormClient,
) -> Result<&'a EventstormClient, Failure> {
    // SAFETY: the caller promises a live client or NULL; `as_ref` handles NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| {
        Failure::new(
            EventstormStatus::NullArgument,
            "`client` is NULL; expected a client from eventstorm_client_new",
        )
    })
}

/// The severity `code` stands for: 0 (emerg) to 7 (debug), or
/// `EVENTSTORM_SEVERITY_DEFAULT` for `default`.
pub(crate) fn severity(code: i32, default: Severity) -> Result<Severity, Failure> {
    if code == EVENTSTORM_SEVERITY_DEFAULT {
        return Ok(default);
    }
    Severity::from_code(i64::from(code)).ok_or_else(|| {
        Failure::new(
            EventstormStatus::InvalidArgument,
            format_args!(
                "severity {code} is not 0 (emerg) to 7 (debug) or EVENTSTORM_SEVERITY_DEFAULT (-1)"
            ),
        )
    })
}
