//! The one socket option the `zmq` crate has no setter for.

/// Sets `ZMQ_XPUB_NODROP` on an XPUB socket: a full subscriber queue then
/// makes a send fail with EAGAIN (with `DONTWAIT`) or wait, instead of
/// silently discarding the message. Public for programs that build their own
/// XPUB sockets next to Eventstorm's.
#[allow(unsafe_code)]
pub fn set_xpub_nodrop(socket: &mut zmq::Socket) -> zmq::Result<()> {
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
        Err(zmq::Error::from_raw(errno))
    }
}
