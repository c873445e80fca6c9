//! The few calls the `zmq` crate has no safe wrapper for: two XPUB socket
//! options, and the address of the peer on a connection libzmq reported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::raw::c_int;

/// Sets an integer option on a socket we hold exclusively.
#[allow(unsafe_code)]
fn set_int_option(socket: &mut zmq::Socket, option: u32, value: c_int) -> zmq::Result<()> {
    // SAFETY: `socket` is a live socket we hold exclusively; the option
    // value is a valid c_int whose size is passed alongside it, as
    // zmq_setsockopt requires for the integer XPUB options; zmq_errno only
    // reads the calling thread's errno.
    let (rc, errno) = unsafe {
        let rc = zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            option as c_int,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>(),
        );
        (rc, zmq_sys::zmq_errno())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(zmq::Error::from_raw(errno))
    }
}

/// Sets `ZMQ_XPUB_NODROP` on an XPUB socket: a full subscriber queue then
/// makes a send fail with EAGAIN (with `DONTWAIT`) or wait, instead of
/// silently discarding the message. Public for programs that build their own
/// XPUB sockets next to Eventstorm's.
pub fn set_xpub_nodrop(socket: &mut zmq::Socket) -> zmq::Result<()> {
    set_int_option(socket, zmq_sys::ZMQ_XPUB_NODROP, 1)
}

/// Sets `ZMQ_XPUB_VERBOSER`: every subscribe and every unsubscribe of every
/// subscriber reaches the socket's owner, duplicates included, and a
/// subscriber that goes away has each of its prefixes cancelled.
pub(crate) fn set_xpub_verboser(socket: &mut zmq::Socket) -> zmq::Result<()> {
    set_int_option(socket, zmq_sys::ZMQ_XPUB_VERBOSER, 1)
}

/// The remote end of a connected socket, as libzmq reported it by its file
/// descriptor: `Some(Some(ip))` for TCP, `Some(None)` for another family (a
/// Unix-domain socket), `None` when the descriptor is no longer a connected
/// socket (the connection already closed).
///
/// Only reads: the descriptor belongs to libzmq and is neither wrapped in an
/// owning type nor closed here.
#[allow(unsafe_code)]
pub(crate) fn peer_ip(fd: c_int) -> Option<Option<IpAddr>> {
    // SAFETY: sockaddr_storage is plain data for which all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `storage`, a
    // properly aligned sockaddr_storage, and updates `len`; on a descriptor
    // that is closed or not a socket it fails with EBADF or ENOTSOCK.
    let rc = unsafe {
        libc::getpeername(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    match c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            Some(Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            )))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            Some(Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))))
        }
        _ => Some(None),
    }
}
