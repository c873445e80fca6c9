//! Request bodies read within limits (size, time, gzip), and response bodies
//! (whole or streamed).

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

/// Why a request body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the limit (before or after decoding).
    TooLarge,
    /// Not complete within the body timeout.
    Timeout,
    /// The client broke the framing or the connection.
    Read(String),
    /// A gzip body that does not decode.
    Corrupt(String),
}

/// The encodings the server decodes: identity or gzip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
}

/// The body's `Content-Encoding`, or the value that is not supported.
pub(crate) fn encoding(headers: &hyper::HeaderMap) -> Result<Encoding, String> {
    let mut found = Encoding::Identity;
    for value in headers.get_all(hyper::header::CONTENT_ENCODING) {
        let text = value.to_str().map_err(|_| "(not ASCII)".to_string())?;
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match coding.to_ascii_lowercase().as_str() {
                "identity" => {}
                "gzip" | "x-gzip" if found == Encoding::Identity => found = Encoding::Gzip,
                _ => return Err(text.to_string()),
            }
        }
    }
    Ok(found)
}

/// Reads the whole body: at most `limit` bytes, within `timeout`.
pub(crate) async fn read(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
    }
}

/// Decompresses a gzip body (all its members), refusing more than `limit`
/// decoded bytes: a small compressed body cannot expand without bound.
pub(crate) fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    let mut decoded = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut decoded)
        .map_err(|e| BodyError::Corrupt(e.to_string()))?;
    if decoded.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(decoded.into())
}

/// A response body: whole, or chunks sent through a [`BodySender`].
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// The whole body (empty once written).
    Full(Bytes),
    /// Chunks, until the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) if bytes.is_empty() => Poll::Ready(None),
            ResponseBody::Full(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            ResponseBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(bytes) if bytes.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Writes the body of a [`Response::streaming`](super::Response::streaming)
/// answer. Dropping it ends the body.
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Bytes>,
}

/// The client is gone (or the server shut down): stop sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response body is closed: the client went away or the server shut down")]
pub struct BodyClosed;

impl BodySender {
    pub(crate) fn channel(capacity: usize) -> (BodySender, ResponseBody) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (BodySender { tx }, ResponseBody::Stream(rx))
    }

    /// Sends a chunk, waiting while `capacity` chunks are unwritten. Call it
    /// from a thread of your own, not from inside an async runtime.
    pub fn send(&self, chunk: impl Into<Bytes>) -> Result<(), BodyClosed> {
        self.tx.blocking_send(chunk.into()).map_err(|_| BodyClosed)
    }

    /// Sends a chunk if there is room; `Ok(false)` when the client is slow.
    pub fn try_send(&self, chunk: impl Into<Bytes>) -> Result<bool, BodyClosed> {
        match self.tx.try_send(chunk.into()) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(BodyClosed),
        }
    }

    /// True once the client is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
