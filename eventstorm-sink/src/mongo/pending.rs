//! Events accepted by the sink and not yet written, per collection.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bson::RawDocumentBuf;

/// One accepted event: its bytes (as received), when it was accepted, and
/// whether an insert of it was already sent (so that a duplicate-key error on
/// a later attempt means "that earlier attempt did write it").
#[derive(Debug)]
pub(crate) struct PendingDoc {
    pub(crate) doc: RawDocumentBuf,
    pub(crate) attempted: bool,
    pub(crate) accepted_at: Instant,
}

/// The pending events, grouped by collection, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    queues: BTreeMap<String, VecDeque<PendingDoc>>,
    len: usize,
    bytes: usize,
}

impl Pending {
    /// How many events are pending.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The size of the pending documents, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes, per collection, the events accepted longer than `max_age`
    /// ago; returns them with their collection.
    pub(crate) fn expire(&mut self, max_age: Duration) -> Vec<(String, PendingDoc)> {
        let now = Instant::now();
        let mut expired = Vec::new();
        for (name, queue) in &mut self.queues {
            // Oldest first in each queue (put_back keeps the order).
            while queue
                .front()
                .is_some_and(|d| now.duration_since(d.accepted_at) > max_age)
            {
                if let Some(doc) = queue.pop_front() {
                    self.len -= 1;
                    self.bytes -= doc.doc.as_bytes().len();
                    expired.push((name.clone(), doc));
                }
            }
        }
        self.queues.retain(|_, queue| !queue.is_empty());
        expired
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a never-attempted event for `collection`.
    pub(crate) fn push(&mut self, collection: &str, doc: RawDocumentBuf) {
        self.bytes += doc.as_bytes().len();
        let doc = PendingDoc {
            doc,
            attempted: false,
            accepted_at: Instant::now(),
        };
        match self.queues.get_mut(collection) {
            Some(queue) => queue.push_back(doc),
            None => {
                self.queues
                    .insert(collection.to_owned(), VecDeque::from([doc]));
            }
        }
        self.len += 1;
    }

    /// The collections that have pending events.
    pub(crate) fn collections(&self) -> Vec<String> {
        self.queues
            .iter()
            .filter(|(_, queue)| !queue.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Removes and returns up to `max` of the oldest events of `collection`.
    pub(crate) fn take(&mut self, collection: &str, max: usize) -> Vec<PendingDoc> {
        let Some(queue) = self.queues.get_mut(collection) else {
            return Vec::new();
        };
        let n = max.min(queue.len());
        let chunk: Vec<PendingDoc> = queue.drain(..n).collect();
        self.len -= chunk.len();
        self.bytes -= chunk.iter().map(|d| d.doc.as_bytes().len()).sum::<usize>();
        if queue.is_empty() {
            self.queues.remove(collection);
        }
        chunk
    }

    /// Puts events back at the front of `collection`'s queue, in their order.
    pub(crate) fn put_back(&mut self, collection: &str, docs: Vec<PendingDoc>) {
        if docs.is_empty() {
            return;
        }
        self.len += docs.len();
        self.bytes += docs.iter().map(|d| d.doc.as_bytes().len()).sum::<usize>();
        let queue = self.queues.entry(collection.to_owned()).or_default();
        for doc in docs.into_iter().rev() {
            queue.push_front(doc);
        }
    }

    /// Removes everything; returns how many events were removed.
    pub(crate) fn clear(&mut self) -> Vec<(String, PendingDoc)> {
        let mut all = Vec::with_capacity(self.len);
        for (name, queue) in std::mem::take(&mut self.queues) {
            all.extend(queue.into_iter().map(|doc| (name.clone(), doc)));
        }
        self.len = 0;
        self.bytes = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: i32) -> RawDocumentBuf {
        bson::rawdoc! { "i": i }
    }

    #[test]
    fn take_and_put_back_keep_order() {
        let mut pending = Pending::default();
        for i in 0..5 {
            pending.push("a", doc(i));
        }
        pending.push("b", doc(9));
        assert_eq!(pending.len(), 6);
        assert_eq!(pending.collections(), vec!["a", "b"]);
        let mut chunk = pending.take("a", 3);
        assert_eq!(pending.len(), 3);
        chunk.remove(0);
        pending.put_back("a", chunk);
        let order: Vec<i32> = pending
            .take("a", 10)
            .iter()
            .map(|d| d.doc.get_i32("i").expect("i"))
            .collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        assert_eq!(pending.clear().len(), 1);
        assert!(pending.is_empty());
        assert_eq!(pending.bytes(), 0);
    }

    #[test]
    fn bytes_and_age() {
        let mut pending = Pending::default();
        pending.push("a", doc(1));
        let one = doc(1).as_bytes().len();
        assert_eq!(pending.bytes(), one);
        assert!(pending.expire(Duration::from_secs(60)).is_empty());
        std::thread::sleep(Duration::from_millis(5));
        pending.push("b", doc(2));
        let expired = pending.expire(Duration::from_millis(2));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0, "a");
        assert_eq!((pending.len(), pending.bytes()), (1, one));
        let chunk = pending.take("b", 5);
        assert_eq!(pending.bytes(), 0);
        pending.put_back("b", chunk);
        assert_eq!(pending.bytes(), one);
    }
}
