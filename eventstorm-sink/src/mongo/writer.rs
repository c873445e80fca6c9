//! One `insert_many` of pending events, and what its result means for each
//! event.

use std::collections::HashMap;

use bson::RawDocumentBuf;
use mongodb::Collection;
use mongodb::error::{Error, ErrorKind};

use super::indexes::is_transient;
use super::pending::PendingDoc;

/// MongoDB's duplicate key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that condemn a whole collection (every event for it is
/// refused): invalid namespace (73, e.g. "namespace too long"), unauthorized
/// (13), command not supported on a view (166).
const NAMESPACE_CODES: &[i32] = &[73, 13, 166];

/// What happened to each event of a chunk.
#[derive(Debug, Default)]
pub(crate) struct ChunkOutcome {
    /// Inserted now, or found already inserted by an earlier attempt of this
    /// sink (a duplicate key on a retried event).
    pub(crate) written: usize,
    /// Duplicate-key errors ignored (on retries and on events sent twice).
    pub(crate) duplicates: usize,
    /// Duplicates of events this sink had not attempted before: the same
    /// event was sent to the sink twice; it is stored once.
    pub(crate) duplicates_first_seen: usize,
    /// Events the server refused for good (invalid document or namespace),
    /// with why.
    pub(crate) rejected: Vec<(PendingDoc, String)>,
    /// Events to keep pending (not attempted, or outcome unknown).
    pub(crate) retry: Vec<PendingDoc>,
    /// Why the events in `retry` were not written, when the server is
    /// unreachable or unavailable (`None`: retry at once, e.g. the tail of an
    /// ordered insert after a rejected event).
    pub(crate) failure: Option<Error>,
}

impl ChunkOutcome {
    fn merge(&mut self, other: ChunkOutcome) {
        self.written += other.written;
        self.duplicates += other.duplicates;
        self.duplicates_first_seen += other.duplicates_first_seen;
        self.rejected.extend(other.rejected);
        self.retry.extend(other.retry);
        if other.failure.is_some() {
            self.failure = other.failure;
        }
    }
}

/// How a failed `insert_many` (that is not a list of write errors) is taken.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The server is unreachable or unavailable: keep the events pending.
    Outage,
    /// The collection cannot be written to: refuse every event of it.
    Namespace,
    /// Some document of the chunk is refused: find which.
    Documents,
}

fn classify(error: &Error) -> Failure {
    match error.kind.as_ref() {
        _ if is_transient(error) => Failure::Outage,
        ErrorKind::Command(command) if NAMESPACE_CODES.contains(&command.code) => {
            Failure::Namespace
        }
        ErrorKind::Command(_)
        | ErrorKind::InvalidArgument { .. }
        | ErrorKind::BsonSerialization(_) => Failure::Documents,
        // Anything else (authentication, a driver-internal error, ...) is
        // not a verdict on the events: wait it out like an outage.
        _ => Failure::Outage,
    }
}

/// The server's reason, without the driver's decorations.
fn reason(error: &Error) -> String {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => format!("error {} ({}): {}", c.code, c.code_name, c.message),
        _ => error.to_string(),
    }
}

/// Inserts `chunk` (marking each event attempted) and sorts out the result.
pub(crate) async fn insert_chunk(
    coll: &Collection<RawDocumentBuf>,
    mut chunk: Vec<PendingDoc>,
    ordered: bool,
) -> ChunkOutcome {
    let was_attempted: Vec<bool> = chunk.iter().map(|d| d.attempted).collect();
    for doc in &mut chunk {
        doc.attempted = true;
    }
    let result = coll
        .insert_many(chunk.iter().map(|d| &d.doc))
        .ordered(ordered)
        .await;
    let mut outcome = ChunkOutcome::default();
    let error = match result {
        Ok(_) => {
            outcome.written = chunk.len();
            return outcome;
        }
        Err(error) => error,
    };
    let ErrorKind::InsertMany(failure) = error.kind.as_ref() else {
        let restore = |chunk: Vec<PendingDoc>| {
            chunk
                .into_iter()
                .zip(&was_attempted)
                .map(|(mut doc, &attempted)| {
                    doc.attempted = attempted;
                    doc
                })
                .collect::<Vec<_>>()
        };
        match classify(&error) {
            Failure::Outage => {
                outcome.retry = chunk;
                outcome.failure = Some(error);
            }
            Failure::Namespace => {
                let why = reason(&error);
                outcome.rejected = chunk.into_iter().map(|d| (d, why.clone())).collect();
            }
            Failure::Documents if chunk.len() > 1 => {
                // The server refused the chunk as a whole (a document too
                // deep, too large for the driver): halve it until the
                // culprits are alone.
                let mut chunk = restore(chunk);
                let second = chunk.split_off(chunk.len() / 2);
                for half in [chunk, second] {
                    if outcome.failure.is_some() {
                        outcome.retry.extend(half);
                        continue;
                    }
                    outcome.merge(Box::pin(insert_chunk(coll, half, ordered)).await);
                }
            }
            Failure::Documents => {
                let why = reason(&error);
                outcome.rejected = chunk.into_iter().map(|d| (d, why.clone())).collect();
            }
        }
        return outcome;
    };
    let errors: HashMap<usize, (i32, &str)> = failure
        .write_errors
        .iter()
        .flatten()
        .map(|e| (e.index, (e.code, e.message.as_str())))
        .collect();
    // With ordered inserts the server stops at the first error: what follows
    // it was not attempted.
    let stop = if ordered {
        errors.keys().min().copied()
    } else {
        None
    };
    let concern_failed = failure.write_concern_error.is_some();
    for (index, doc) in chunk.into_iter().enumerate() {
        match errors.get(&index) {
            Some((DUPLICATE_KEY, _)) => {
                outcome.duplicates += 1;
                if was_attempted[index] {
                    outcome.written += 1;
                } else {
                    outcome.duplicates_first_seen += 1;
                }
            }
            Some((code, message)) => outcome
                .rejected
                .push((doc, format!("error {code}: {message}"))),
            None if stop.is_some_and(|stop| index > stop) => {
                // Not processed by the server: as attempted as it was before.
                let mut doc = doc;
                doc.attempted = was_attempted[index];
                outcome.retry.push(doc);
            }
            // Inserted, but the write concern was not satisfied: retry; the
            // retry finds it as a duplicate (and counts it written then).
            None if concern_failed => outcome.retry.push(doc),
            None => outcome.written += 1,
        }
    }
    if concern_failed {
        outcome.failure = Some(error);
    }
    outcome
}
