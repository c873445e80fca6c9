//! # libeventstorm: the Eventstorm client for C
//!
//! A C ABI over [`eventstorm_source::Client`], built as `libeventstorm.so`
//! and `libeventstorm.a` with the header `include/eventstorm.h` (generated
//! from this crate by cbindgen and committed) and a pkg-config file. C, and
//! through it Ruby (`ruby/lib/eventstorm.rb`) or any language with an FFI,
//! get the Rust client's delivery modes, loss counters and speed.
//!
//! ```c
//! #include <eventstorm.h>
//!
//! EventstormClient *client = eventstorm_client_new(
//!     "{\"connect\": [\"tcp://127.0.0.1:5555\"], \"logger\": \"shop\"}");
//! if (client == NULL) { fprintf(stderr, "%s\n", eventstorm_last_error()); return 1; }
//! eventstorm_emit_json(client, "order.placed", "{\"order_id\": 42}", EVENTSTORM_SEVERITY_DEFAULT);
//! eventstorm_incr(client, "orders", 1);
//! eventstorm_client_close(client);
//! eventstorm_client_free(client);
//! ```
//!
//! The rules (`docs/c-api.md` has them in full, with a complete example):
//!
//! - **Errors** are return codes ([`EventstormStatus`]); the message of the
//!   last error on the calling thread is [`eventstorm_last_error`]. NULL
//!   pointers, strings that are not UTF-8, bad BSON or JSON, a bad severity
//!   and calls on a closed client are errors, never undefined behaviour, and
//!   no panic crosses the boundary.
//! - **Fire-and-forget**: an event the client did not send is not an error
//!   but [`EventstormStatus::NotSent`], counted in the counters as the Rust
//!   client counts it.
//! - **Lifetime**: [`eventstorm_client_new`] → any calls, from any threads
//!   → [`eventstorm_client_close`] (calls then return
//!   [`EventstormStatus::Closed`]; the counters stay readable) →
//!   [`eventstorm_client_free`], once, when no other thread uses the client.
//! - **Threads**: one client may be used by any number of threads at once,
//!   as the Rust client.

// The crate is an FFI boundary: every exported function reads raw pointers
// from C. Unsafe code is allowed here only (the workspace denies it), each
// block with its `// SAFETY:` reason, checked by clippy.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod args;
mod client;
mod emit;
mod status;

pub use args::EVENTSTORM_SEVERITY_DEFAULT;
pub use client::{
    EventstormClient, EventstormCounters, eventstorm_client_close, eventstorm_client_counters,
    eventstorm_client_endpoint, eventstorm_client_free, eventstorm_client_new, eventstorm_flush,
};
pub use emit::{
    eventstorm_emit_bson, eventstorm_emit_json, eventstorm_gauge, eventstorm_incr, eventstorm_log,
    eventstorm_timer,
};
pub use status::{EventstormStatus, eventstorm_last_error};

/// The library's version, `MAJOR.MINOR.PATCH`: a static NUL-terminated
/// string (never free it).
#[unsafe(no_mangle)]
pub extern "C" fn eventstorm_version() -> *const std::ffi::c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(version) => version,
        Err(_) => panic!("the version has no NUL inside"),
    };
    VERSION.as_ptr()
}
