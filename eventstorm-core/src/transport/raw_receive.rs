//! [`RawSubSocket`]: a SUB socket for foreign publishers, whose messages are
//! frames to hand to a parser, not Eventstorm events.

use std::time::Duration;

use super::error::{Result, TransportError};
use super::receive::{ReceiveKind, SubSocket};
use super::receive_config::ReceiveConfig;
use super::security::Applied;

// Like every socket's owner: may move between threads, never be shared.
crate::assert_send!(RawSubSocket);
crate::assert_not_sync!(RawSubSocket);

/// A SUB socket that reads foreign messages (rsyslog's omczmq, pyzmq
/// scripts, any ZeroMQ PUB) as frames, without decoding them as events.
///
/// It is opened exactly as a [`SubSocket`] is (the same [`ReceiveConfig`]:
/// endpoints, high-water mark, linger, `ZMQ_MAXMSGSIZE`, and any option
/// added there later); only the reader differs. Of each message it keeps the
/// first frame and the last one, whatever the number of frames in between
/// (they are read and released), so a message of a million frames costs a
/// million reads and no memory. The frames of one message are bounded by
/// [`ReceiveConfig::max_message_size`] each, enforced by libzmq before the
/// frame is buffered: a peer that sends a larger one is disconnected.
/// Loss accounting does not apply (foreign messages carry no sequence), so
/// [`ReceiveConfig::max_publishers`] and [`ReceiveConfig::sequence_window`]
/// are unused.
///
/// ```
/// use std::time::Duration;
/// use eventstorm_core::transport::{RawSubSocket, ReceiveConfig};
///
/// let ctx = zmq::Context::new();
/// let mut sub = RawSubSocket::open(&ctx, "foreign", &[String::new()], &ReceiveConfig::bind("tcp://127.0.0.1:*"))?;
/// let publisher = ctx.socket(zmq::PUB)?;
/// publisher.connect(&sub.endpoints()[0])?;
/// // A foreign PUB drops what it sends before the subscription reached it:
/// // send until the first message arrives.
/// let message = loop {
///     publisher.send_multipart([&b"syslog"[..], b"<13>Oct 11 22:14:15 host app: hi"], 0)?;
///     if sub.wait(Duration::from_millis(50))? {
///         break sub.try_recv()?.expect("a message");
///     }
/// };
/// assert_eq!(message.frames(), 2);
/// assert_eq!(message.topic(), Some(&b"syslog"[..]));
/// assert_eq!(message.payload(), b"<13>Oct 11 22:14:15 host app: hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RawSubSocket {
    socket: zmq::Socket,
    name: String,
    endpoints: Vec<String>,
    /// The first frame of the last message.
    first: zmq::Message,
    /// The last frame of the last message (when it had two or more).
    last: zmq::Message,
    /// Kept as long as the socket, dropped after it.
    _applied: Applied,
}

impl std::fmt::Debug for RawSubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSubSocket")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// One foreign message, borrowed from the socket until its next receive.
#[derive(Debug)]
pub struct RawMessage<'a> {
    frames: usize,
    first: &'a mut zmq::Message,
    last: &'a zmq::Message,
}

impl RawMessage<'_> {
    /// The number of frames the message had (at least 1).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The first frame of a message of two or more frames (by convention,
    /// the topic); `None` for a single-frame message.
    pub fn topic(&self) -> Option<&[u8]> {
        (self.frames > 1).then_some(&self.first[..])
    }

    /// The last frame: the payload of a `[topic][payload]` message, the
    /// whole of a single-frame one.
    pub fn payload(&self) -> &[u8] {
        if self.frames > 1 {
            self.last
        } else {
            self.first
        }
    }

    /// The sending peer's address (libzmq's `Peer-Address` property:
    /// `tcp://` and `ipc://` connections), for logs.
    pub fn peer_address(&mut self) -> Option<&str> {
        self.first.gets("Peer-Address")
    }
}

impl RawSubSocket {
    /// Opens a SUB socket subscribed to `subscribe` (topic prefixes; `""`
    /// for everything), binds and connects as `config` says. `name` says
    /// which socket in errors and logs.
    pub fn open(
        ctx: &zmq::Context,
        name: &str,
        subscribe: &[String],
        config: &ReceiveConfig,
    ) -> Result<RawSubSocket> {
        let kind = ReceiveKind::Sub {
            subscribe: subscribe.to_vec(),
        };
        let (socket, endpoints, applied) = SubSocket::open(ctx, name, kind, config)?.into_parts();
        Ok(RawSubSocket {
            socket,
            name: name.to_string(),
            endpoints,
            first: zmq::Message::new(),
            last: zmq::Message::new(),
            _applied: applied,
        })
    }

    /// The socket's name in errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The socket, for polling it ([`zmq::Socket::as_poll_item`]).
    pub fn socket(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Waits up to `timeout` for a message to be readable.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        super::receive::wait_readable(&self.socket, timeout)
    }

    /// Receives one message without waiting; `None` when none is queued.
    /// Every frame of the message is read (the rest of a multipart message
    /// is already here); the first and the last are kept.
    pub fn try_recv(&mut self) -> Result<Option<RawMessage<'_>>> {
        loop {
            match self.socket.recv(&mut self.first, zmq::DONTWAIT) {
                Ok(()) => break,
                Err(zmq::Error::EAGAIN) => return Ok(None),
                Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(TransportError::socket("receiving", e)),
            }
        }
        let mut frames = 1usize;
        let mut more = self.first.get_more();
        while more {
            loop {
                match self.socket.recv(&mut self.last, 0) {
                    Ok(()) => break,
                    Err(zmq::Error::EINTR) => {}
                    Err(e) => return Err(TransportError::socket("receiving", e)),
                }
            }
            more = self.last.get_more();
            frames = frames.saturating_add(1);
        }
        Ok(Some(RawMessage {
            frames,
            first: &mut self.first,
            last: &self.last,
        }))
    }
}
