//! The one socket option the `zmq` crate has no setter for.

use crate::error::{Error, Result};

/// Sets `ZMQ_XPUB_NODROP`: a full subscriber queue then makes a send fail with
/// EAGAIN (counted in drop mode) or wait (block mode) instead of silently
/// discarding the message.
#[allow(unsafe_code)]
pub(crate) fn set_xpub_nodrop(socket: &mut zmq::Socket) -> Result<()> {
    let value: std::os::raw::c_int = 1;
    // SAFETY: `socket` is a live XPUB socket we hold exclusively; the option
    // value is a valid c_int whose size is passed alongside it, as
    // zmq_setsockopt requires for ZMQ_XPUB_NODROP; zmq_errno only reads the
    // calling thread's errno.
    let (rc, errno) = unsafe {
        let rc = zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as std::os::raw::c_int,
            (&value as *const std::os::raw::c_int).cast(),
            std::mem::size_of::<std::os::raw::c_int>(),
        );
        (rc, zmq_sys::zmq_errno())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::zmq(
            "setting ZMQ_XPUB_NODROP",
            zmq::Error::from_raw(errno),
        ))
    }
}
