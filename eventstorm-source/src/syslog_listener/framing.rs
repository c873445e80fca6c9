//! TCP syslog framing (RFC 6587): octet counting (`LEN SP MSG`) or newline
//! framing, chosen from the first byte of the connection.
//!
//! Messages are consumed by offset: complete messages are handed out as
//! slices of the bytes just read (no copy at all when nothing was pending),
//! and only the incomplete tail of a read is kept, moved once per read.

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
    state: State,
    /// The incomplete frame left over from earlier reads.
    pending: Vec<u8>,
}

/// Everything but the pending bytes, so that framing can borrow both.
#[derive(Debug)]
struct State {
    max: usize,
    mode: Option<Mode>,
    /// Octet counting: bytes of an over-long message still to skip.
    skip: usize,
    /// Newline framing: discarding an over-long line up to its newline.
    skipping_line: bool,
    /// Newline framing: how many pending bytes are known to hold no newline.
    scanned: usize,
}

impl Framer {
    /// A framer for messages of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Framer {
            state: State {
                max,
                mode: None,
                skip: 0,
                skipping_line: false,
                scanned: 0,
            },
            pending: Vec::new(),
        }
    }

    /// Adds received bytes and hands each complete frame to `emit`. Returns
    /// false after an [`Frame::Invalid`] (stop reading).
    pub(crate) fn push(&mut self, data: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> bool {
        if self.pending.is_empty() {
            // Frame straight from the read buffer; keep only its tail.
            let (used, ok) = self.state.frame_all(data, emit);
            if ok {
                self.pending.extend_from_slice(&data[used..]);
            }
            return ok;
        }
        self.pending.extend_from_slice(data);
        let (used, ok) = self.state.frame_all(&self.pending, emit);
        if ok {
            // The one move per read: what is left goes to the front.
            self.pending.drain(..used);
        } else {
            self.pending.clear();
        }
        ok
    }

    /// At the end of the stream: a last newline-framed message without its
    /// newline is a message; a partial octet-counted one is rejected.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        let rest = std::mem::take(&mut self.pending);
        let state = &self.state;
        if rest.iter().all(u8::is_ascii_whitespace) || state.skipping_line || state.skip > 0 {
            return;
        }
        match state.mode {
            Some(Mode::Newline) => emit(Frame::Message(trim_cr(&rest))),
            _ => emit(Frame::Invalid(format!(
                "connection closed inside an octet-counted frame ({} bytes pending)",
                rest.len()
            ))),
        }
    }
}

impl State {
    /// Emits every complete frame of `buf`. Returns how many bytes were used
    /// (the rest is an incomplete frame) and false after an invalid frame.
    fn frame_all(&mut self, buf: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> (usize, bool) {
        let mut at = 0;
        loop {
            match self.next_frame(&buf[at..], emit) {
                Step::Used(n) => at += n,
                Step::NeedMore(n) => return (at + n, true),
                Step::Invalid => return (buf.len(), false),
            }
        }
    }

    /// One frame at the start of `buf`.
    fn next_frame(&mut self, buf: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        if self.skip > 0 {
            let n = self.skip.min(buf.len());
            self.skip -= n;
            return if self.skip > 0 || n == buf.len() {
                Step::NeedMore(n)
            } else {
                Step::Used(n)
            };
        }
        let mode = match self.mode {
            Some(mode) => mode,
            None => {
                let Some(first) = buf.iter().find(|b| !b.is_ascii_whitespace()) else {
                    return Step::NeedMore(buf.len());
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
            Mode::OctetCounting => self.octet_counted(buf, emit),
            Mode::Newline => self.newline(buf, emit),
        }
    }

    fn octet_counted(&mut self, buf: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        // Some senders end each frame with a newline too: tolerate whitespace.
        let start = buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(buf.len());
        let frame = &buf[start..];
        let Some(space) = frame
            .iter()
            .take(MAX_LEN_DIGITS + 1)
            .position(|&b| b == b' ')
        else {
            if frame.len() > MAX_LEN_DIGITS {
                return invalid(
                    frame,
                    emit,
                    "expected a message length (digits) and a space",
                );
            }
            return Step::NeedMore(start);
        };
        let digits = &frame[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return invalid(
                frame,
                emit,
                "expected a message length (digits) and a space",
            );
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        if len > self.max {
            self.skip = len;
            emit(Frame::TooLong);
            return Step::Used(start + space + 1);
        }
        let end = space + 1 + len;
        if frame.len() < end {
            return Step::NeedMore(start);
        }
        emit(Frame::Message(&frame[space + 1..end]));
        Step::Used(start + end)
    }

    fn newline(&mut self, buf: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> Step {
        let from = std::mem::take(&mut self.scanned).min(buf.len());
        match buf[from..].iter().position(|&b| b == b'\n') {
            Some(p) => {
                let at = from + p;
                if std::mem::take(&mut self.skipping_line) {
                    return Step::Used(at + 1);
                }
                let line = trim_cr(&buf[..at]);
                if !line.is_empty() {
                    if line.len() > self.max {
                        emit(Frame::TooLong);
                    } else {
                        emit(Frame::Message(line));
                    }
                }
                Step::Used(at + 1)
            }
            None if buf.len() > self.max || self.skipping_line => {
                if !std::mem::replace(&mut self.skipping_line, true) {
                    emit(Frame::TooLong);
                }
                Step::NeedMore(buf.len())
            }
            None => {
                self.scanned = buf.len();
                Step::NeedMore(0)
            }
        }
    }
}

fn invalid(frame: &[u8], emit: &mut dyn FnMut(Frame<'_>), message: &str) -> Step {
    let shown: String = String::from_utf8_lossy(&frame[..frame.len().min(16)]).into_owned();
    emit(Frame::Invalid(format!("{message}, found {shown:?}")));
    Step::Invalid
}

/// What one framing step did.
enum Step {
    /// A frame (or a skipped part) of this many bytes was consumed.
    Used(usize),
    /// The rest is incomplete; this many bytes of it can be dropped already.
    NeedMore(usize),
    /// An unframeable stream.
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

    /// A stream with every kind of frame, for one framing mode.
    fn stream(octet: bool) -> (Vec<u8>, Vec<String>) {
        let messages = ["<13>first", "", "<14>second one", "<15>x", "<16>last"];
        let long = format!("<17>{}", "y".repeat(40));
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if i == 2 {
                // An over-long message in the middle.
                if octet {
                    bytes.extend_from_slice(format!("{} {long}", long.len()).as_bytes());
                } else {
                    bytes.extend_from_slice(format!("{long}\n").as_bytes());
                }
                want.push("<too long>".to_string());
            }
            if octet {
                if m.is_empty() {
                    bytes.extend_from_slice(b"\n");
                    continue;
                }
                bytes.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
            } else {
                bytes.extend_from_slice(format!("{m}\r\n").as_bytes());
                if m.is_empty() {
                    continue;
                }
            }
            want.push((*m).to_string());
        }
        (bytes, want)
    }

    #[test]
    fn messages_split_across_reads_at_every_byte_position() {
        for octet in [true, false] {
            let (bytes, want) = stream(octet);
            assert_eq!(frames(20, &[&bytes]), want, "in one read");
            for i in 0..=bytes.len() {
                let got = frames(20, &[&bytes[..i], &bytes[i..]]);
                assert_eq!(got, want, "split at {i} (octet counting: {octet})");
                for j in i..=bytes.len() {
                    let got = frames(20, &[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                    assert_eq!(got, want, "split at {i} and {j} (octet counting: {octet})");
                }
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(frames(20, &bytewise), want, "one byte per read");
        }
    }

    #[test]
    fn only_an_incomplete_frame_is_kept_between_reads() {
        let mut framer = Framer::new(100);
        let mut count = 0;
        let mut emit = |_: Frame<'_>| count += 1;
        assert!(framer.push(b"3 abc3 def2 g", &mut emit));
        assert_eq!(framer.pending, b"2 g");
        assert!(framer.push(b"h", &mut emit));
        assert!(framer.pending.is_empty());
        assert_eq!(count, 3);
        let mut lines = Framer::new(100);
        let mut count = 0;
        let mut emit = |_: Frame<'_>| count += 1;
        assert!(lines.push(b"<1>a\n<2>b\n<3", &mut emit));
        assert_eq!(lines.pending, b"<3");
        assert!(lines.push(b">c", &mut emit));
        assert_eq!(
            (lines.pending.as_slice(), lines.state.scanned),
            (&b"<3>c"[..], 4)
        );
        assert_eq!(count, 2);
    }

    #[test]
    fn a_skipped_line_is_not_held_in_memory() {
        let mut framer = Framer::new(8);
        let mut out = Vec::new();
        let mut emit = |f: Frame<'_>| out.push(format!("{f:?}"));
        assert!(framer.push(b"<1>0123456789", &mut emit));
        assert!(framer.pending.is_empty());
        assert!(framer.push(b"abc", &mut emit));
        assert!(framer.pending.is_empty());
        assert!(framer.push(b"def\n<2>ok\n", &mut emit));
        assert_eq!(out, ["TooLong", "Message([60, 50, 62, 111, 107])"]);
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_frames_like_one_read(
            octet: bool,
            cuts in proptest::collection::vec(0usize..200, 0..12),
        ) {
            let (bytes, want) = stream(octet);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for cut in cuts {
                chunks.push(&bytes[last..cut]);
                last = cut;
            }
            chunks.push(&bytes[last..]);
            proptest::prop_assert_eq!(frames(20, &chunks), want);
        }
    }
}
