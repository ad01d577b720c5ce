//! How a writer object changes the records it owns, so that nothing it
//! acknowledges is lost and nothing it refuses is left half-written.
//!
//! The object keeps the committed value of each record in its own storage
//! (SQLite, synchronous, private to the object) and KV holds the copy that
//! reads are served from. A write is recorded as pending, applied to KV,
//! then committed. When KV refuses part of it, KV gets the committed values
//! back and the write fails as a whole. A write left pending (the object
//! was interrupted between recording and committing it) was never
//! acknowledged: the next request undoes it the same way.
//!
//! A write may carry events: they are recorded in the object's outbox in
//! the same synchronous step as the commit, so that every committed write
//! has its events and no event exists for a write that was not committed.
//! `deliver` sends them on, oldest first, until the publisher refuses.

use crate::kv::{KeyValue, StoreError};
use serde::{Deserialize, Serialize};

/// A record's new value: the JSON to store, or `None` to delete it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    pub value: Option<String>,
}

impl Change {
    pub fn put(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: None,
        }
    }
}

/// A writer object's own storage. Synchronous: no other request runs in
/// the object between two of these calls.
pub trait JournalStorage {
    /// The committed value of `key`: `None` when the object has not seen
    /// the record yet, `Some(None)` when it knows there is none.
    fn committed(&self, key: &str) -> Result<Option<Option<String>>, StoreError>;
    /// Takes `value` as committed (a record seen for the first time).
    fn remember(&self, key: &str, value: Option<&str>) -> Result<(), StoreError>;
    fn pending(&self) -> Result<Option<Vec<Change>>, StoreError>;
    fn set_pending(&self, changes: Option<&[Change]>) -> Result<(), StoreError>;
    /// Takes the changes as committed, puts `events` in the outbox, and
    /// clears the pending write.
    fn commit(&self, changes: &[Change], events: &[String]) -> Result<(), StoreError>;
    /// The events not delivered yet, oldest first, with their sequence
    /// numbers (increasing, never reused).
    fn outbox(&self) -> Result<Vec<(u64, String)>, StoreError>;
    fn delivered(&self, sequence: u64) -> Result<(), StoreError>;
}

/// Where a writer's events go (a queue).
#[allow(async_fn_in_trait)]
pub trait Publisher {
    async fn publish(&self, sequence: u64, event: &str) -> Result<(), StoreError>;
}

/// Sends the outbox on, oldest first, and stops at the first refusal:
/// `Ok(true)` when nothing is left to send.
pub async fn deliver(
    storage: &impl JournalStorage,
    publisher: &impl Publisher,
) -> Result<bool, StoreError> {
    for (sequence, event) in storage.outbox()? {
        if publisher.publish(sequence, &event).await.is_err() {
            return Ok(false);
        }
        storage.delivered(sequence)?;
    }
    Ok(true)
}

pub struct Journal<'a, S, K> {
    storage: &'a S,
    kv: &'a K,
}

impl<'a, S: JournalStorage, K: KeyValue> Journal<'a, S, K> {
    pub fn new(storage: &'a S, kv: &'a K) -> Self {
        Self { storage, kv }
    }

    /// The committed value of `key`, after undoing an unfinished write. A
    /// record the object has not seen yet is read from KV once and taken as
    /// committed from then on.
    pub async fn load(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.repair().await?;
        if let Some(known) = self.storage.committed(key)? {
            return Ok(known);
        }
        let value = self.kv.get(key).await?;
        self.storage.remember(key, value.as_deref())?;
        Ok(value)
    }

    /// Writes `changes` as a whole, or not at all.
    pub async fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.write_with_events(changes, &[]).await
    }

    /// Writes `changes` as a whole with its `events` in the outbox, or
    /// neither.
    pub async fn write_with_events(
        &self,
        changes: &[Change],
        events: &[String],
    ) -> Result<(), StoreError> {
        self.storage.set_pending(Some(changes))?;
        if let Err(error) = self.apply(changes).await {
            // When the undo fails too, the write stays pending and the next
            // request undoes it.
            if self.restore(changes).await.is_ok() {
                self.storage.set_pending(None)?;
            }
            return Err(error);
        }
        self.storage.commit(changes, events)
    }

    /// Takes `changes` as committed at once, then applies them to KV: an
    /// undo of a committed write that must hold even when KV refuses it.
    /// Then the changes stay pending, and the next request's repair puts
    /// them into KV. `Err` only when the object's own storage fails.
    pub async fn revert(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.storage.commit(changes, &[])?;
        self.storage.set_pending(Some(changes))?;
        if self.apply(changes).await.is_ok() {
            self.storage.set_pending(None)?;
        }
        Ok(())
    }

    async fn repair(&self) -> Result<(), StoreError> {
        if let Some(unfinished) = self.storage.pending()? {
            self.restore(&unfinished).await?;
            self.storage.set_pending(None)?;
        }
        Ok(())
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            self.set(&change.key, change.value.as_deref()).await?;
        }
        Ok(())
    }

    /// Puts the committed values of the changed keys back into KV.
    async fn restore(&self, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            let committed = self.storage.committed(&change.key)?.flatten();
            self.set(&change.key, committed.as_deref()).await?;
        }
        Ok(())
    }

    async fn set(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(value) => self.kv.put(key, value).await,
            None => self.kv.delete(key).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, MemoryJournal, MemoryKv};

    fn two_records() -> Vec<Change> {
        vec![Change::put("a", "A2"), Change::delete("b")]
    }

    fn setup() -> (MemoryJournal, MemoryKv) {
        let (storage, kv) = (MemoryJournal::default(), MemoryKv::default());
        kv.insert("a", "A1");
        kv.insert("b", "B1");
        (storage, kv)
    }

    #[test]
    fn a_record_is_read_from_kv_once_then_from_the_object() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        assert_eq!(block_on(journal.load("a")).unwrap().as_deref(), Some("A1"));
        assert_eq!(block_on(journal.load("none")).unwrap(), None);
        kv.insert("a", "changed behind the object's back");
        kv.fail_next("get");
        assert_eq!(block_on(journal.load("a")).unwrap().as_deref(), Some("A1"));
        assert_eq!(storage.committed_value("none"), Some(None));
    }

    #[test]
    fn a_write_reaches_kv_and_is_committed() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        block_on(journal.load("b")).unwrap();
        block_on(journal.write(&two_records())).unwrap();
        assert_eq!(
            (kv.value("a").as_deref(), kv.value("b")),
            (Some("A2"), None)
        );
        assert_eq!(storage.committed_value("a"), Some(Some("A2".into())));
        assert_eq!(storage.committed_value("b"), Some(None));
        assert!(!storage.has_pending());
    }

    #[test]
    fn a_write_kv_refuses_halfway_is_undone() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        block_on(journal.load("b")).unwrap();
        kv.fail_next("delete");
        assert!(block_on(journal.write(&two_records())).is_err());
        assert_eq!(
            kv.value("a").as_deref(),
            Some("A1"),
            "the first half is undone"
        );
        assert_eq!(kv.value("b").as_deref(), Some("B1"));
        assert_eq!(storage.committed_value("a"), Some(Some("A1".into())));
        assert!(!storage.has_pending());
    }

    #[test]
    fn a_revert_holds_even_when_kv_refuses_it_and_reaches_kv_with_the_next_request() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        block_on(journal.write(&[Change::put("a", "A2")])).unwrap();
        kv.fail_next("put");
        block_on(journal.revert(&[Change::put("a", "A1")])).unwrap();
        assert_eq!(storage.committed_value("a"), Some(Some("A1".into())));
        assert_eq!(kv.value("a").as_deref(), Some("A2"), "KV refused");
        assert_eq!(block_on(journal.load("a")).unwrap().as_deref(), Some("A1"));
        assert_eq!(kv.value("a").as_deref(), Some("A1"), "repaired");
        assert!(!storage.has_pending());
    }

    #[test]
    fn a_write_whose_undo_fails_is_undone_by_the_next_request() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        block_on(journal.load("b")).unwrap();
        kv.fail_on("delete", "b");
        kv.fail_on("put", "b");
        assert!(block_on(journal.write(&two_records())).is_err());
        assert!(storage.has_pending());
        assert_eq!(kv.value("a").as_deref(), Some("A1"));
        kv.heal();
        block_on(journal.load("a")).unwrap();
        assert!(!storage.has_pending());
        assert_eq!(
            (kv.value("a").as_deref(), kv.value("b").as_deref()),
            (Some("A1"), Some("B1"))
        );
    }

    #[test]
    fn a_write_interrupted_before_its_commit_is_undone_by_the_next_request() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        block_on(journal.load("b")).unwrap();
        storage.fail_next("commit");
        assert!(block_on(journal.write(&two_records())).is_err());
        assert_eq!(kv.value("a").as_deref(), Some("A2"), "KV had taken it");
        assert_eq!(block_on(journal.load("a")).unwrap().as_deref(), Some("A1"));
        assert_eq!(
            (kv.value("a").as_deref(), kv.value("b").as_deref()),
            (Some("A1"), Some("B1"))
        );
    }

    struct Queue {
        sent: std::cell::RefCell<Vec<(u64, String)>>,
        down: std::cell::Cell<bool>,
    }

    impl Publisher for Queue {
        async fn publish(&self, sequence: u64, event: &str) -> Result<(), StoreError> {
            if self.down.get() {
                return Err(StoreError("queue down".into()));
            }
            self.sent.borrow_mut().push((sequence, event.to_string()));
            Ok(())
        }
    }

    #[test]
    fn events_are_kept_with_committed_writes_only_and_delivered_in_order() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        kv.fail_next("put");
        assert!(
            block_on(journal.write_with_events(&[Change::put("a", "A2")], &["lost".into()]))
                .is_err()
        );
        assert!(
            storage.outbox().unwrap().is_empty(),
            "no event for a write that failed"
        );
        block_on(journal.write_with_events(&[Change::put("a", "A2")], &["one".into()])).unwrap();
        block_on(journal.write_with_events(&[Change::put("a", "A3")], &["two".into()])).unwrap();
        let queue = Queue {
            sent: Default::default(),
            down: std::cell::Cell::new(true),
        };
        assert_eq!(block_on(deliver(&storage, &queue)), Ok(false));
        assert_eq!(
            storage.outbox().unwrap().len(),
            2,
            "kept while the queue is down"
        );
        queue.down.set(false);
        assert_eq!(block_on(deliver(&storage, &queue)), Ok(true));
        let sent = queue.sent.borrow();
        assert_eq!(
            sent.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert!(sent[0].0 < sent[1].0, "sequence numbers increase");
        assert!(storage.outbox().unwrap().is_empty());
    }

    #[test]
    fn nothing_reaches_kv_when_the_pending_record_cannot_be_written() {
        let (storage, kv) = setup();
        let journal = Journal::new(&storage, &kv);
        block_on(journal.load("a")).unwrap();
        storage.fail_next("set_pending");
        assert!(block_on(journal.write(&[Change::put("a", "A2")])).is_err());
        assert!(kv.writes().is_empty());
    }
}
