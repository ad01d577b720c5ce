//! What a write does to one record, by the rules both services share:
//! create, replace (PUT), patch (PATCH) and delete, with `If-Match`
//! compared with the committed version. `edit` is pure: the writer object
//! loads the committed JSON, asks it what to do, and `write_one` writes
//! what it answers through the journal.

use crate::collection::Collection;
use crate::etag::{etag_of, if_match, representation};
use crate::id::ResourceId;
use crate::journal::{Change, Journal, JournalStorage};
use crate::kv::{KeyValue, StoreError};
use crate::records::{unreadable_record, Record};
use crate::time::Timestamp;
use crate::{Problem, Reply};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A record kind that clients create, replace, patch and delete.
pub trait Resource: Record + Serialize + Clone + PartialEq + std::fmt::Debug {
    /// Every field a client writes (`POST`, `PUT`): a patch of them all.
    type Draft: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Into<Self::Patch>;
    /// Only the fields a client sent (`PATCH`).
    type Patch: Serialize + DeserializeOwned + Clone + std::fmt::Debug;

    fn id(&self) -> &ResourceId;
    /// Sets the client fields `patch` carries.
    fn apply(&mut self, patch: Self::Patch);
    /// Records that the record changed at `now`.
    fn touch(&mut self, now: &Timestamp);

    /// The record with `patch` applied: unchanged (same `updated_at`) when
    /// that changes nothing.
    fn patched(&self, patch: Self::Patch, now: &Timestamp) -> Self {
        let mut next = self.clone();
        next.apply(patch);
        if next != *self {
            next.touch(now);
        }
        next
    }
}

/// A write to one record, as a service's worker sends it to the record's
/// writer object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[serde(bound(serialize = "R: Resource", deserialize = "R: Resource"))]
pub enum Edit<R: Resource> {
    Create { record: R },
    Replace { draft: R::Draft },
    Patch { patch: R::Patch },
    Delete,
}

/// An edit of the record `id`, as it travels to the record's writer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "R: Resource", deserialize = "R: Resource"))]
pub struct Command<R: Resource> {
    pub id: ResourceId,
    pub edit: Edit<R>,
}

/// Why a write was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    /// The committed record does not decode.
    Unreadable,
    Storage(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(error: StoreError) -> Self {
        WriteError::Storage(error)
    }
}

/// The HTTP answer to a write error about record `id`.
pub fn write_problem(error: WriteError, collection: Collection, id: &ResourceId) -> Problem {
    match error {
        WriteError::NotFound => collection.not_found(id),
        WriteError::AlreadyExists => {
            Problem::conflict(format!("{} {id} already exists", collection.noun))
        }
        WriteError::PreconditionFailed => Problem::precondition_failed(),
        WriteError::Unreadable => unreadable_record(collection, id),
        WriteError::Storage(_) => {
            Problem::unavailable("storage is unavailable; nothing was written")
        }
    }
}

/// What an edit does.
#[derive(Debug, Clone, PartialEq)]
pub enum Edited<R> {
    /// Nothing to write: the edit changes nothing.
    Unchanged {
        json: String,
    },
    Created {
        record: R,
        json: String,
    },
    Updated {
        before: R,
        record: R,
        json: String,
    },
    Deleted {
        before: R,
    },
}

impl<R: Resource> Edited<R> {
    /// The record before the edit, if there was one.
    pub fn before(&self) -> Option<&R> {
        match self {
            Edited::Updated { before, .. } | Edited::Deleted { before } => Some(before),
            _ => None,
        }
    }

    /// The record after the edit, if there is one and it changed.
    pub fn after(&self) -> Option<&R> {
        match self {
            Edited::Created { record, .. } | Edited::Updated { record, .. } => Some(record),
            _ => None,
        }
    }

    /// The change to the record's key, if there is one.
    pub fn change(&self, id: &ResourceId) -> Option<Change> {
        let key = R::COLLECTION.key(id);
        match self {
            Edited::Unchanged { .. } => None,
            Edited::Created { json, .. } | Edited::Updated { json, .. } => {
                Some(Change::put(key, json.clone()))
            }
            Edited::Deleted { .. } => Some(Change::delete(key)),
        }
    }

    /// The answer once the change is written: 201 with `Location`, 200 with
    /// the representation and its ETag, or 204.
    pub fn reply(self, id: &ResourceId) -> Reply {
        match self {
            Edited::Created { json, .. } => {
                Reply::created(representation(json, None), R::COLLECTION.location(id))
            }
            Edited::Updated { json, .. } | Edited::Unchanged { json } => representation(json, None),
            Edited::Deleted { .. } => Reply::no_content(),
        }
    }
}

/// Applies `edit` to the committed JSON of a record (`None`: there is
/// none), checking `If-Match` against it.
pub fn edit<R: Resource>(
    committed: Option<&str>,
    edit: Edit<R>,
    if_match_header: Option<&str>,
    now: &Timestamp,
) -> Result<Edited<R>, WriteError> {
    let Some(json) = committed else {
        return match edit {
            Edit::Create { record } => {
                let json = encode(&record)?;
                Ok(Edited::Created { record, json })
            }
            _ => Err(WriteError::NotFound),
        };
    };
    let current: R = serde_json::from_str(json).map_err(|_| WriteError::Unreadable)?;
    if matches!(edit, Edit::Create { .. }) {
        return Err(WriteError::AlreadyExists);
    }
    if let Some(header) = if_match_header {
        if !if_match(header, &etag_of(json.as_bytes())) {
            return Err(WriteError::PreconditionFailed);
        }
    }
    let record = match edit {
        Edit::Create { .. } => return Err(WriteError::AlreadyExists),
        Edit::Delete => return Ok(Edited::Deleted { before: current }),
        Edit::Replace { draft } => current.patched(draft.into(), now),
        Edit::Patch { patch } => current.patched(patch, now),
    };
    if record == current {
        return Ok(Edited::Unchanged {
            json: json.to_string(),
        });
    }
    let json = encode(&record)?;
    Ok(Edited::Updated {
        before: current,
        record,
        json,
    })
}

/// A writer's whole write of a record kept under one key: the committed
/// version loaded, the edit decided, the change written with the events
/// `events_of` makes of it (in the writer's outbox).
pub async fn write_one<R: Resource>(
    journal: &Journal<'_, impl JournalStorage, impl KeyValue>,
    id: &ResourceId,
    change: Edit<R>,
    if_match_header: Option<&str>,
    now: &Timestamp,
    events_of: impl FnOnce(&Edited<R>) -> Vec<String>,
) -> Result<Edited<R>, WriteError> {
    let committed = journal.load(&R::COLLECTION.key(id)).await?;
    let edited = edit(committed.as_deref(), change, if_match_header, now)?;
    if let Some(change) = edited.change(id) {
        journal
            .write_with_events(&[change], &events_of(&edited))
            .await?;
    }
    Ok(edited)
}

fn encode<R: Serialize>(record: &R) -> Result<String, WriteError> {
    serde_json::to_string(record).map_err(|_| WriteError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        id: ResourceId,
        text: String,
        updated_at: Timestamp,
    }

    impl Record for Note {
        const COLLECTION: Collection = Collection {
            prefix: "note:",
            noun: "note",
            path: "/notes",
        };
    }

    impl Resource for Note {
        type Draft = String;
        type Patch = Option<String>;

        fn id(&self) -> &ResourceId {
            &self.id
        }

        fn apply(&mut self, patch: Option<String>) {
            if let Some(text) = patch {
                self.text = text;
            }
        }

        fn touch(&mut self, now: &Timestamp) {
            self.updated_at = now.clone();
        }
    }

    fn t(n: u64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    fn note(text: &str) -> Note {
        Note {
            id: ResourceId::parse("1").unwrap(),
            text: text.into(),
            updated_at: t(0),
        }
    }

    fn stored(text: &str) -> String {
        serde_json::to_string(&note(text)).unwrap()
    }

    #[test]
    fn create_only_where_there_is_nothing() {
        let created = edit(None, Edit::Create { record: note("a") }, None, &t(1)).unwrap();
        let change = created.change(&note("a").id).unwrap();
        assert_eq!(
            (change.key.as_str(), change.value),
            ("note:1", Some(stored("a")))
        );
        let reply = created.reply(&note("a").id);
        assert_eq!(reply.status, 201);
        assert!(reply
            .headers
            .contains(&("Location", "/notes/1".to_string())));
        let again = edit(
            Some(&stored("a")),
            Edit::Create { record: note("a") },
            None,
            &t(1),
        );
        assert_eq!(again.unwrap_err(), WriteError::AlreadyExists);
    }

    #[test]
    fn updates_need_a_record_and_a_matching_if_match() {
        let patch = || Edit::<Note>::Patch {
            patch: Some("b".into()),
        };
        assert_eq!(
            edit(None, patch(), None, &t(1)).unwrap_err(),
            WriteError::NotFound
        );
        let json = stored("a");
        let tag = etag_of(json.as_bytes());
        assert_eq!(
            edit(Some(&json), patch(), Some("\"stale\""), &t(1)).unwrap_err(),
            WriteError::PreconditionFailed
        );
        let updated = edit(Some(&json), patch(), Some(&tag), &t(1)).unwrap();
        assert_eq!(updated.after().map(|n| n.text.as_str()), Some("b"));
        assert_eq!(updated.before().map(|n| n.text.as_str()), Some("a"));
        assert_eq!(updated.clone().reply(&note("a").id).status, 200);
        assert!(edit(Some(&json), patch(), Some("*"), &t(1)).is_ok());
    }

    #[test]
    fn an_edit_that_changes_nothing_writes_nothing() {
        let json = stored("a");
        let same = edit(
            Some(&json),
            Edit::<Note>::Patch { patch: None },
            None,
            &t(5),
        )
        .unwrap();
        assert_eq!(same, Edited::Unchanged { json: json.clone() });
        assert_eq!(same.change(&note("a").id), None);
        let replaced = edit(
            Some(&json),
            Edit::<Note>::Replace { draft: "a".into() },
            None,
            &t(5),
        );
        assert!(matches!(replaced, Ok(Edited::Unchanged { .. })));
    }

    #[test]
    fn delete_checks_if_match_and_removes_the_key() {
        let json = stored("a");
        let stale = edit(Some(&json), Edit::<Note>::Delete, Some("\"x\""), &t(1));
        assert_eq!(stale.unwrap_err(), WriteError::PreconditionFailed);
        let deleted = edit(Some(&json), Edit::<Note>::Delete, None, &t(1)).unwrap();
        assert_eq!(
            deleted.change(&note("a").id),
            Some(Change::delete("note:1"))
        );
        assert_eq!(deleted.reply(&note("a").id).status, 204);
    }

    #[test]
    fn an_unreadable_record_is_not_overwritten() {
        let broken = edit(Some("{\"id\":"), Edit::<Note>::Delete, None, &t(1));
        assert_eq!(broken.unwrap_err(), WriteError::Unreadable);
    }

    #[test]
    fn edits_travel_as_json_named_by_their_kind() {
        let json = serde_json::to_string(&Edit::<Note>::Patch {
            patch: Some("b".into()),
        })
        .unwrap();
        assert_eq!(json, r#"{"patch":{"patch":"b"}}"#);
        let back: Edit<Note> = serde_json::from_str(r#""delete""#).unwrap();
        assert!(matches!(back, Edit::Delete));
    }

    #[test]
    fn a_write_goes_through_the_journal_and_fails_whole() {
        use crate::testing::{block_on, MemoryJournal, MemoryKv};
        let (storage, kv) = (MemoryJournal::default(), MemoryKv::default());
        kv.insert("note:1", &stored("a"));
        let journal = Journal::new(&storage, &kv);
        let id = note("a").id;
        let patch = |text: &str| Edit::<Note>::Patch {
            patch: Some(text.into()),
        };
        let no_events = |_: &Edited<Note>| Vec::new();
        block_on(write_one(&journal, &id, patch("b"), None, &t(1), no_events)).unwrap();
        assert!(kv.value("note:1").unwrap().contains("\"b\""));
        kv.fail_next("put");
        let failed = block_on(write_one(&journal, &id, patch("c"), None, &t(2), no_events));
        assert!(matches!(failed, Err(WriteError::Storage(_))));
        assert!(kv.value("note:1").unwrap().contains("\"b\""));
        let unchanged =
            block_on(write_one(&journal, &id, patch("b"), None, &t(3), no_events)).unwrap();
        assert!(matches!(unchanged, Edited::Unchanged { .. }));
        // b written; c refused (not counted) and b restored; nothing for the no-op.
        assert_eq!(kv.writes(), ["put note:1", "put note:1"]);
    }

    #[test]
    fn errors_map_to_their_statuses() {
        let id = ResourceId::parse("7").unwrap();
        let status = |error| write_problem(error, Note::COLLECTION, &id).status;
        assert_eq!(status(WriteError::NotFound), 404);
        assert_eq!(status(WriteError::AlreadyExists), 409);
        assert_eq!(status(WriteError::PreconditionFailed), 412);
        assert_eq!(status(WriteError::Unreadable), 500);
        assert_eq!(status(WriteError::Storage(StoreError("x".into()))), 503);
    }
}
