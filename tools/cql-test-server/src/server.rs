//! Accepts connections and answers requests, one thread per connection.

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use kassandra::error::DbError;
use kassandra::frame::FrameFlags;
use kassandra::frame::parse;
use kassandra::frame::request::QueryParameters;
use kassandra::frame::request::batch::Batch;
use kassandra::frame::response::Response;
use kassandra::frame::response::error::Error;
use kassandra::frame::response::result::QueryResult;

use crate::db::{Conn, Db};
use crate::frame::{self, ReadOutcome, RequestFrame, error, opcode};

/// Serves `listener` forever.
pub(crate) fn serve(listener: TcpListener, db: Arc<Db>, verbose: bool) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let db = Arc::clone(&db);
                let spawned = thread::Builder::new()
                    .name("cql-conn".to_owned())
                    .spawn(move || connection(stream, &db, verbose));
                if let Err(e) = spawned {
                    eprintln!("cannot spawn a connection thread: {e}");
                }
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

fn connection(stream: TcpStream, db: &Db, verbose: bool) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    let mut conn = Conn::default();
    loop {
        let (stream_id, response, close) = match frame::read_frame(&mut reader) {
            Ok(ReadOutcome::Frame(request)) => {
                let response = catch_unwind(AssertUnwindSafe(|| handle(db, &mut conn, &request)))
                    .unwrap_or_else(|_| {
                        error(
                            DbError::ServerError,
                            "cql-test-server: kassandra panicked on this request",
                        )
                    });
                if verbose {
                    eprintln!(
                        "{peer} stream {} opcode {:#04x} -> {response:?}",
                        request.stream, request.opcode
                    );
                }
                (request.stream, response, false)
            }
            Ok(ReadOutcome::TooLarge(id)) => {
                (id, error(DbError::ProtocolError, "frame too large"), true)
            }
            Ok(ReadOutcome::Eof) | Err(_) => break,
        };
        let (op, body) = frame::encode(&response);
        if frame::write_frame(&mut writer, stream_id, op, &body).is_err() {
            break;
        }
        // Flush once no further request is already buffered (pipelined requests).
        if (close || reader.buffer().is_empty()) && writer.flush().is_err() {
            break;
        }
        if close {
            break;
        }
    }
}

fn result(outcome: Result<QueryResult, Error>) -> Response {
    match outcome {
        Ok(r) => Response::Result(r),
        Err(e) => Response::Error(e),
    }
}

fn params(body: &[u8]) -> Result<QueryParameters<'_>, Error> {
    QueryParameters::parse(body, FrameFlags::empty())
}

fn protocol_error(message: impl ToString) -> Response {
    error(DbError::ProtocolError, message)
}

fn handle(db: &Db, conn: &mut Conn, request: &RequestFrame) -> Response {
    if request.version & 0x7f != 4 {
        return protocol_error(format!(
            "Invalid or unsupported protocol version ({}); supported versions are (4/v4)",
            request.version & 0x7f
        ));
    }
    if request.flags & 0x01 != 0 {
        return protocol_error("compression is not supported");
    }
    let body = request.body.as_slice();
    match request.opcode {
        opcode::OPTIONS => Response::options(),
        opcode::STARTUP => match parse::string_map(body) {
            Ok((_, options)) if options.contains_key("COMPRESSION") => {
                protocol_error("compression is not supported")
            }
            Ok(_) => Response::Ready,
            Err(_) => protocol_error("invalid STARTUP body"),
        },
        opcode::REGISTER => Response::Ready,
        opcode::AUTH_RESPONSE => protocol_error("authentication is not supported"),
        opcode::QUERY => match parse::long_string(body) {
            Ok((rest, text)) => result(params(rest).and_then(|p| db.query(conn, text, p))),
            Err(_) => protocol_error("invalid QUERY body"),
        },
        opcode::PREPARE => match parse::long_string(body) {
            Ok((_, text)) => result(db.prepare(conn, text)),
            Err(_) => protocol_error("invalid PREPARE body"),
        },
        opcode::EXECUTE => match parse::short_bytes(body) {
            Ok((rest, id)) => result(params(rest).and_then(|p| db.execute(conn, id, p))),
            Err(_) => protocol_error("invalid EXECUTE body"),
        },
        opcode::BATCH => result(Batch::deserialize(body).and_then(|b| db.batch(conn, b))),
        other => protocol_error(format!("unsupported opcode {other:#04x}")),
    }
}
