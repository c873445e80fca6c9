//! One `insert_many` of pending events, and what its result means for each
//! event.

use std::collections::HashMap;

use bson::RawDocumentBuf;
use mongodb::Collection;
use mongodb::error::{Error, ErrorKind};

use super::pending::PendingDoc;

/// MongoDB's duplicate key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

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
    /// Events the server refused for good (invalid document), with why.
    pub(crate) rejected: Vec<String>,
    /// Events to keep pending (not attempted, or outcome unknown).
    pub(crate) retry: Vec<PendingDoc>,
    /// Why the events in `retry` were not written, when the server is
    /// unreachable or unavailable (`None`: retry at once, e.g. the tail of an
    /// ordered insert after a rejected event).
    pub(crate) failure: Option<Error>,
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
        if matches!(error.kind.as_ref(), ErrorKind::InvalidArgument { .. }) && chunk.len() > 1 {
            // The driver refused the chunk before sending it (a document too
            // large, for example): find the culprit by inserting one by one.
            return Box::pin(one_by_one(coll, chunk, was_attempted)).await;
        }
        if matches!(error.kind.as_ref(), ErrorKind::InvalidArgument { .. }) {
            outcome.rejected.push(error.to_string());
            return outcome;
        }
        outcome.retry = chunk;
        outcome.failure = Some(error);
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
            Some((code, message)) => outcome.rejected.push(format!("error {code}: {message}")),
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

async fn one_by_one(
    coll: &Collection<RawDocumentBuf>,
    chunk: Vec<PendingDoc>,
    was_attempted: Vec<bool>,
) -> ChunkOutcome {
    let mut total = ChunkOutcome::default();
    let mut docs = chunk.into_iter().zip(was_attempted);
    for (mut doc, attempted) in docs.by_ref() {
        doc.attempted = attempted;
        let one = insert_chunk(coll, vec![doc], false).await;
        total.written += one.written;
        total.duplicates += one.duplicates;
        total.duplicates_first_seen += one.duplicates_first_seen;
        total.rejected.extend(one.rejected);
        total.retry.extend(one.retry);
        if one.failure.is_some() {
            total.failure = one.failure;
            break;
        }
    }
    total.retry.extend(docs.map(|(mut doc, attempted)| {
        doc.attempted = attempted;
        doc
    }));
    total
}
