//! TCP syslog framing (RFC 6587): octet counting (`LEN SP MSG`) or newline
//! framing, chosen from the first byte of the connection.

/// What the framer found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// One message.
    Message(&'a [u8]),
    /// A message longer than the limit, skipped.
    TooLong,
    /// The stream cannot be framed (a bad length): the connection is closed.
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    OctetCounting,
    Newline,
}

/// Longest length prefix, in digits.
const MAX_LEN_DIGITS: usize = 10;

/// Splits a byte stream into messages; holds at most `max` bytes plus one read.
#[derive(Debug)]
pub(crate) struct Framer {
    max: usize,
    mode: Option<Mode>,
    buf: Vec<u8>,
    /// Octet counting: bytes of an over-long message still to skip.
    skip: usize,
    /// Newline framing: discarding an over-long line up to its newline.
    skipping_line: bool,
}

impl Framer {
    /// A framer for messages of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Framer {
            max,
            mode: None,
            buf: Vec::new(),
            skip: 0,
            skipping_line: false,
        }
    }

    /// Adds received bytes and hands each complete frame to `emit`. Returns
    /// false after an [`Frame::Invalid`] (stop reading).
    pub(crate) fn push(&mut self, data: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> bool {
        self.buf.extend_from_slice(data);
        loop {
            match self.next_frame(emit) {
                Step::Emitted => {}
                Step::NeedMore => return true,
                Step::Invalid => return false,
            }
        }
    }

    /// At the end of the stream: a last newline-framed message without its
    /// newline is a message; a partial octet-counted one is rejected.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        let rest = std::mem::take(&mut self.buf);
        if rest.iter().all(u8::is_ascii_whitespace) || self.skipping_line || self.skip > 0 {
            return;
        }
        match self.mode {
            Some(Mode::Newline) => emit(Frame::Message(trim_cr(&rest))),
            _ => emit(Frame::Invalid(format!(
                "connection closed inside an octet-counted frame ({} bytes pending)",
                rest.len()
            ))),
        }
    }

    fn next_frame(&mut self, emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        if self.skip > 0 {
            let n = self.skip.min(self.buf.len());
            self.buf.drain(..n);
            self.skip -= n;
            if self.skip > 0 {
                return Step::NeedMore;
            }
        }
        let mode = match self.mode {
            Some(mode) => mode,
            None => {
                let Some(first) = self.buf.iter().find(|b| !b.is_ascii_whitespace()) else {
                    self.buf.clear();
                    return Step::NeedMore;
                };
                let mode = if first.is_ascii_digit() {
                    Mode::OctetCounting
                } else {
                    Mode::Newline
                };
                self.mode = Some(mode);
                mode
            }
        };
        match mode {
            Mode::OctetCounting => self.octet_counted(emit),
            Mode::Newline => self.newline(emit),
        }
    }

    fn octet_counted(&mut self, emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        // Some senders end each frame with a newline too: tolerate whitespace.
        let start = self
            .buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.buf.len());
        self.buf.drain(..start);
        let Some(space) = self
            .buf
            .iter()
            .take(MAX_LEN_DIGITS + 1)
            .position(|&b| b == b' ')
        else {
            if self.buf.len() > MAX_LEN_DIGITS {
                return self.invalid(emit, "expected a message length (digits) and a space");
            }
            return Step::NeedMore;
        };
        let digits = &self.buf[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return self.invalid(emit, "expected a message length (digits) and a space");
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        if len > self.max {
            self.buf.drain(..=space);
            self.skip = len;
            emit(Frame::TooLong);
            return Step::Emitted;
        }
        if self.buf.len() < space + 1 + len {
            return Step::NeedMore;
        }
        emit(Frame::Message(&self.buf[space + 1..space + 1 + len]));
        self.buf.drain(..space + 1 + len);
        Step::Emitted
    }

    fn newline(&mut self, emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                if std::mem::take(&mut self.skipping_line) {
                    self.buf.drain(..=at);
                    return Step::Emitted;
                }
                let line = trim_cr(&self.buf[..at]);
                if !line.is_empty() {
                    if line.len() > self.max {
                        emit(Frame::TooLong);
                    } else {
                        emit(Frame::Message(line));
                    }
                }
                self.buf.drain(..=at);
                Step::Emitted
            }
            None if self.buf.len() > self.max => {
                self.buf.clear();
                if !std::mem::replace(&mut self.skipping_line, true) {
                    emit(Frame::TooLong);
                }
                Step::NeedMore
            }
            None => Step::NeedMore,
        }
    }

    fn invalid(&mut self, emit: &mut dyn FnMut(Frame<'_>), message: &str) -> Step {
        let shown: String =
            String::from_utf8_lossy(&self.buf[..self.buf.len().min(16)]).into_owned();
        emit(Frame::Invalid(format!("{message}, found {shown:?}")));
        self.buf.clear();
        Step::Invalid
    }
}

enum Step {
    Emitted,
    NeedMore,
    Invalid,
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        let mut emit = |f: Frame<'_>| {
            out.push(match f {
                Frame::Message(m) => String::from_utf8_lossy(m).into_owned(),
                Frame::TooLong => "<too long>".to_string(),
                Frame::Invalid(_) => "<invalid>".to_string(),
            });
        };
        for chunk in chunks {
            if !framer.push(chunk, &mut emit) {
                break;
            }
        }
        framer.finish(&mut emit);
        out
    }

    #[test]
    fn octet_counting_across_reads() {
        assert_eq!(
            frames(100, &[b"5 hel", b"lo3 abc", b"\n2 de"]),
            ["hello", "abc", "de"]
        );
    }

    #[test]
    fn newline_framing_with_crlf_and_last_line() {
        assert_eq!(
            frames(100, &[b"<1>a\r\n<2>b", b"\n\n<3>c"]),
            ["<1>a", "<2>b", "<3>c"]
        );
    }

    #[test]
    fn too_long_messages_are_skipped() {
        assert_eq!(frames(4, &[b"6 abcdef2 ok"]), ["<too long>", "ok"]);
        assert_eq!(
            frames(4, &[b"<1>abcdef", b"gh\n<2>x\n"]),
            ["<too long>", "<2>x"]
        );
    }

    #[test]
    fn bad_lengths_close_the_connection() {
        assert_eq!(frames(100, &[b"12x4 abc"]), ["<invalid>"]);
        assert_eq!(frames(100, &[b"5 ab"]), ["<invalid>"]);
    }
}
