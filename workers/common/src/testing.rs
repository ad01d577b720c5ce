//! Fakes for native tests: an in-memory key-value store and journal
//! storage that can be told to fail any call, and a `block_on` for futures
//! that never wait (every fake answers at once).

use crate::journal::{Change, JournalStorage};
use crate::kv::{KeyPage, KeyValue, StoreError};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future that completes without waiting on anything.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a future under test waited on something a fake does not do"),
    }
}

/// A call that fails: an operation name ("get", "put", …), for one key or
/// any, a number of times (`None`: always).
type FailureRule = (String, Option<String>, Option<usize>);

#[derive(Debug, Default)]
struct Failures(RefCell<Vec<FailureRule>>);

impl Failures {
    fn add(&self, operation: &str, key: Option<&str>, times: Option<usize>) {
        self.0
            .borrow_mut()
            .push((operation.into(), key.map(Into::into), times));
    }

    fn check(&self, operation: &str, key: &str) -> Result<(), StoreError> {
        let mut rules = self.0.borrow_mut();
        let hit = rules.iter_mut().find(|(op, k, times)| {
            op == operation && k.as_deref().is_none_or(|k| k == key) && *times != Some(0)
        });
        match hit {
            Some((_, _, times)) => {
                if let Some(left) = times {
                    *left -= 1;
                }
                Err(StoreError(format!("{operation} {key} failed (injected)")))
            }
            None => Ok(()),
        }
    }
}

/// A key-value store in memory.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: RefCell<BTreeMap<String, String>>,
    failures: Failures,
    writes: RefCell<Vec<String>>,
}

impl MemoryKv {
    pub fn insert(&self, key: &str, value: &str) {
        self.entries.borrow_mut().insert(key.into(), value.into());
    }

    pub fn value(&self, key: &str) -> Option<String> {
        self.entries.borrow().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// Every put and delete so far, as "put key" / "delete key".
    pub fn writes(&self) -> Vec<String> {
        self.writes.borrow().clone()
    }

    /// The next call of `operation` fails.
    pub fn fail_next(&self, operation: &str) {
        self.failures.add(operation, None, Some(1));
    }

    /// Every call of `operation` on `key` fails, until `heal`.
    pub fn fail_on(&self, operation: &str, key: &str) {
        self.failures.add(operation, Some(key), None);
    }

    pub fn heal(&self) {
        self.failures.0.borrow_mut().clear();
    }
}

impl KeyValue for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.failures.check("get", key)?;
        Ok(self.value(key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<HashMap<String, String>, StoreError> {
        self.failures.check("get_many", "")?;
        Ok(keys
            .iter()
            .filter_map(|key| Some((key.clone(), self.value(key)?)))
            .collect())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.failures.check("put", key)?;
        self.writes.borrow_mut().push(format!("put {key}"));
        self.insert(key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.failures.check("delete", key)?;
        self.writes.borrow_mut().push(format!("delete {key}"));
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<KeyPage, StoreError> {
        self.failures.check("list", prefix)?;
        let after = cursor.unwrap_or("");
        let matching: Vec<String> = self
            .keys()
            .into_iter()
            .filter(|key| key.starts_with(prefix) && key.as_str() > after)
            .collect();
        let keys: Vec<String> = matching.iter().take(limit as usize).cloned().collect();
        let more = matching.len() > keys.len();
        Ok(KeyPage {
            cursor: more.then(|| keys.last().cloned()).flatten(),
            keys,
        })
    }
}

/// A writer object's storage in memory.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    committed: RefCell<HashMap<String, Option<String>>>,
    pending: RefCell<Option<Vec<Change>>>,
    outbox: RefCell<BTreeMap<u64, String>>,
    last_sequence: std::cell::Cell<u64>,
    failures: Failures,
}

impl MemoryJournal {
    pub fn committed_value(&self, key: &str) -> Option<Option<String>> {
        self.committed.borrow().get(key).cloned()
    }

    pub fn has_pending(&self) -> bool {
        self.pending.borrow().is_some()
    }

    /// The next call of `operation` ("commit", "set_pending", …) fails.
    pub fn fail_next(&self, operation: &str) {
        self.failures.add(operation, None, Some(1));
    }
}

impl JournalStorage for MemoryJournal {
    fn committed(&self, key: &str) -> Result<Option<Option<String>>, StoreError> {
        self.failures.check("committed", key)?;
        Ok(self.committed_value(key))
    }

    fn remember(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.failures.check("remember", key)?;
        self.committed
            .borrow_mut()
            .insert(key.into(), value.map(Into::into));
        Ok(())
    }

    fn pending(&self) -> Result<Option<Vec<Change>>, StoreError> {
        self.failures.check("pending", "")?;
        Ok(self.pending.borrow().clone())
    }

    fn set_pending(&self, changes: Option<&[Change]>) -> Result<(), StoreError> {
        self.failures.check("set_pending", "")?;
        *self.pending.borrow_mut() = changes.map(<[Change]>::to_vec);
        Ok(())
    }

    fn commit(&self, changes: &[Change], events: &[String]) -> Result<(), StoreError> {
        self.failures.check("commit", "")?;
        let mut committed = self.committed.borrow_mut();
        for change in changes {
            committed.insert(change.key.clone(), change.value.clone());
        }
        for event in events {
            self.last_sequence.set(self.last_sequence.get() + 1);
            self.outbox
                .borrow_mut()
                .insert(self.last_sequence.get(), event.clone());
        }
        *self.pending.borrow_mut() = None;
        Ok(())
    }

    fn outbox(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.failures.check("outbox", "")?;
        Ok(self
            .outbox
            .borrow()
            .iter()
            .map(|(sequence, event)| (*sequence, event.clone()))
            .collect())
    }

    fn delivered(&self, sequence: u64) -> Result<(), StoreError> {
        self.failures.check("delivered", "")?;
        self.outbox.borrow_mut().remove(&sequence);
        Ok(())
    }
}
