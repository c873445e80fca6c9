//! CQL native protocol v4 framing: 9-byte headers, bodies, response encoding.

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use kassandra::error::DbError;
use kassandra::frame::FrameFlags;
use kassandra::frame::response::Response;
use kassandra::frame::response::error::Error;

/// Largest request body accepted (Cassandra's default native_transport_max_frame_size).
pub(crate) const MAX_BODY: usize = 256 << 20;

/// Request opcodes (protocol v4, section 2.4).
pub(crate) mod opcode {
    pub(crate) const STARTUP: u8 = 0x01;
    pub(crate) const OPTIONS: u8 = 0x05;
    pub(crate) const QUERY: u8 = 0x07;
    pub(crate) const PREPARE: u8 = 0x09;
    pub(crate) const EXECUTE: u8 = 0x0A;
    pub(crate) const REGISTER: u8 = 0x0B;
    pub(crate) const BATCH: u8 = 0x0D;
    pub(crate) const AUTH_RESPONSE: u8 = 0x0F;
}

/// One request frame.
#[derive(Debug)]
pub(crate) struct RequestFrame {
    pub(crate) version: u8,
    pub(crate) flags: u8,
    pub(crate) stream: i16,
    pub(crate) opcode: u8,
    pub(crate) body: Vec<u8>,
}

/// Outcome of reading a frame.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    Frame(RequestFrame),
    /// Clean end of stream between frames.
    Eof,
    /// Header announced an oversized body: reply on this stream, then close.
    TooLarge(i16),
}

/// Reads one frame; `Err` on I/O errors or a stream cut inside a frame.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<ReadOutcome> {
    let mut header = [0u8; 9];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(ReadOutcome::Eof),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = i16::from_be_bytes([header[2], header[3]]);
    let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if len > MAX_BODY {
        return Ok(ReadOutcome::TooLarge(stream));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(ReadOutcome::Frame(RequestFrame {
        version: header[0],
        flags: header[1],
        stream,
        opcode: header[4],
        body,
    }))
}

/// Serialises a response body; kassandra's encoders may panic on odd values, which
/// becomes a server error instead.
pub(crate) fn encode(response: &Response) -> (u8, Vec<u8>) {
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let mut body = Vec::new();
        let mut flags = FrameFlags::empty();
        response
            .serialize(&mut body, &mut flags)
            .map(|()| (response.opcode(), body))
            .map_err(|e| e.to_string())
    }));
    let message = match attempt {
        Ok(Ok(encoded)) => return encoded,
        Ok(Err(message)) => message,
        Err(_) => "panic while encoding the response".to_owned(),
    };
    let error = Response::Error(Error::new(
        DbError::ServerError,
        format!("cql-test-server: {message}"),
    ));
    let mut body = Vec::new();
    let mut flags = FrameFlags::empty();
    // Encoding a plain error cannot fail.
    let _ = error.serialize(&mut body, &mut flags);
    (error.opcode(), body)
}

/// Writes one v4 response frame.
pub(crate) fn write_frame(
    w: &mut impl Write,
    stream: i16,
    opcode: u8,
    body: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response too large"))?;
    let mut header = [0u8; 9];
    header[0] = 0x84;
    header[2..4].copy_from_slice(&stream.to_be_bytes());
    header[4] = opcode;
    header[5..9].copy_from_slice(&len.to_be_bytes());
    w.write_all(&header)?;
    w.write_all(body)
}

/// An ERROR response with a kassandra error code.
pub(crate) fn error(code: DbError, message: impl ToString) -> Response {
    Response::Error(Error::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::{ReadOutcome, read_frame, write_frame};

    #[test]
    fn frame_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 7, 0x05, b"abc").unwrap();
        buf[0] = 0x04;
        let ReadOutcome::Frame(f) = read_frame(&mut buf.as_slice()).unwrap() else {
            panic!("no frame")
        };
        assert_eq!(
            (f.version, f.stream, f.opcode, f.body.as_slice()),
            (4, 7, 5, &b"abc"[..])
        );
        assert!(matches!(
            read_frame(&mut &[][..]).unwrap(),
            ReadOutcome::Eof
        ));
        assert!(read_frame(&mut &[4u8, 0, 0][..]).is_err());
    }
}
