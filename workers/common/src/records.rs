//! Reading records out of a service's store: one with its ETag, a page of
//! them, or a batch by id. A record that no longer decodes is skipped from
//! pages and batches (the caller logs it) and answered as a 500 that names
//! it when read alone: one bad record never takes a listing down.

use crate::collection::Collection;
use crate::cursor::CursorKey;
use crate::etag::representation;
use crate::id::ResourceId;
use crate::kv::{KeyPage, KeyValue, StoreError};
use crate::url::PageRequest;
use crate::{Problem, Reply};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// A kind of record a service stores, and where.
pub trait Record: DeserializeOwned {
    const COLLECTION: Collection;
}

/// `GET /<collection>?limit=&cursor=`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `GET /<collection>?ids=`: the records found, in the order asked, and the
/// ids not found. The one wire type both sides of a batch read use.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch<T> {
    pub items: Vec<T>,
    pub missing: Vec<ResourceId>,
}

/// An answer built from stored records, and the keys of those skipped
/// because they no longer decode.
#[derive(Debug)]
pub struct Listing {
    pub reply: Reply,
    pub unreadable: Vec<String>,
}

pub fn storage_unavailable(_: StoreError) -> Problem {
    Problem::unavailable("storage is unavailable")
}

pub fn unreadable_record(collection: Collection, id: &ResourceId) -> Problem {
    unreadable(format!(
        "the stored {} {id} cannot be read",
        collection.noun
    ))
}

/// Stored data that no longer decodes: a 500 that says which.
pub fn unreadable(detail: String) -> Problem {
    Problem::new(500, "unreadable-record", "Unreadable record", detail)
}

/// Whether `json` is a valid `R`.
pub fn decodes<R: Record>(json: &str) -> bool {
    serde_json::from_str::<R>(json).is_ok()
}

/// One record's answer to a GET: its stored JSON with its ETag, a 304 when
/// the client has it, a 404, or a 500 naming it when it does not decode.
pub async fn read<R: Record>(
    kv: &impl KeyValue,
    id: &ResourceId,
    if_none_match: Option<&str>,
) -> Result<Reply, Problem> {
    let json = kv
        .get(&R::COLLECTION.key(id))
        .await
        .map_err(storage_unavailable)?
        .ok_or_else(|| R::COLLECTION.not_found(id))?;
    if !decodes::<R>(&json) {
        return Err(unreadable_record(R::COLLECTION, id));
    }
    Ok(representation(json, if_none_match))
}

/// The page of records a list query asks for, in key order.
pub async fn page<R: Record>(
    kv: &impl KeyValue,
    query: &str,
    cursor_key: &CursorKey,
) -> Result<Listing, Problem> {
    let prefix = R::COLLECTION.prefix;
    let request = PageRequest::from_query(query, prefix, cursor_key)?;
    let KeyPage { keys, cursor } = kv
        .list(prefix, request.limit, request.cursor.as_deref())
        .await
        .map_err(storage_unavailable)?;
    let mut found = kv.get_many(&keys).await.map_err(storage_unavailable)?;
    let mut unreadable = Vec::new();
    let items = keys
        .iter()
        .filter_map(|key| take_readable::<R>(&mut found, key, &mut unreadable))
        .collect();
    let page = Page {
        items,
        next_cursor: cursor.map(|cursor| cursor_key.seal(prefix, &cursor)),
    };
    Ok(Listing {
        reply: Reply::json(200, &page),
        unreadable,
    })
}

/// The records with `ids`, in the order asked, and the ids not found.
pub async fn batch<R: Record>(kv: &impl KeyValue, ids: &[ResourceId]) -> Result<Listing, Problem> {
    let keys: Vec<String> = ids.iter().map(|id| R::COLLECTION.key(id)).collect();
    let mut found = kv.get_many(&keys).await.map_err(storage_unavailable)?;
    let mut unreadable = Vec::new();
    let mut batch = Batch {
        items: Vec::with_capacity(ids.len()),
        missing: Vec::new(),
    };
    for (id, key) in ids.iter().zip(&keys) {
        if !found.contains_key(key) {
            batch.missing.push(id.clone());
        } else if let Some(item) = take_readable::<R>(&mut found, key, &mut unreadable) {
            batch.items.push(item);
        }
    }
    Ok(Listing {
        reply: Reply::json(200, &batch),
        unreadable,
    })
}

/// The stored JSON of `key` as it is, when it decodes as an `R`.
fn take_readable<R: Record>(
    found: &mut HashMap<String, String>,
    key: &str,
    unreadable: &mut Vec<String>,
) -> Option<Box<RawValue>> {
    let json = found.remove(key)?;
    match decodes::<R>(&json) {
        true => RawValue::from_string(json).ok(),
        false => {
            unreadable.push(key.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, MemoryKv};
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Thing {
        id: ResourceId,
        size: u32,
    }

    impl Record for Thing {
        const COLLECTION: Collection = Collection {
            prefix: "thing:",
            noun: "thing",
            path: "/things",
        };
    }

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn store() -> MemoryKv {
        let kv = MemoryKv::default();
        kv.insert("thing:1", r#"{"id":"1","size":1}"#);
        kv.insert("thing:2", r#"{"id":"2","size":"big"}"#);
        kv.insert("thing:3", r#"{"id":"3","size":3}"#);
        kv.insert("other:1", r#"{}"#);
        kv
    }

    fn body(reply: &Reply) -> Value {
        serde_json::from_str(reply.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn a_record_reads_back_as_stored_with_its_etag() {
        let reply = block_on(read::<Thing>(&store(), &id("1"), None)).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.as_deref(), Some(r#"{"id":"1","size":1}"#));
        assert!(reply.headers.iter().any(|(name, _)| *name == "ETag"));
    }

    #[test]
    fn missing_unreadable_and_unavailable_records_have_their_own_answers() {
        let kv = store();
        let missing = block_on(read::<Thing>(&kv, &id("9"), None)).unwrap_err();
        assert_eq!(
            (missing.status, missing.detail.as_str()),
            (404, "thing 9 does not exist")
        );
        let corrupt = block_on(read::<Thing>(&kv, &id("2"), None)).unwrap_err();
        assert_eq!(corrupt.status, 500);
        assert_eq!(corrupt.detail, "the stored thing 2 cannot be read");
        kv.fail_next("get");
        assert_eq!(
            block_on(read::<Thing>(&kv, &id("1"), None))
                .unwrap_err()
                .status,
            503
        );
    }

    #[test]
    fn a_page_skips_what_does_not_decode_and_seals_its_cursor() {
        let key = CursorKey::from_secret("s");
        let listing = block_on(page::<Thing>(&store(), "limit=2", &key)).unwrap();
        assert_eq!(listing.unreadable, ["thing:2"]);
        let first = body(&listing.reply);
        assert_eq!(first["items"], serde_json::json!([{"id":"1","size":1}]));
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        assert!(key.open("thing:", &cursor).is_some());
        let query = format!("limit=2&cursor={cursor}");
        let rest = body(
            &block_on(page::<Thing>(&store(), &query, &key))
                .unwrap()
                .reply,
        );
        assert_eq!(rest["items"], serde_json::json!([{"id":"3","size":3}]));
        assert_eq!(rest["next_cursor"], Value::Null);
    }

    #[test]
    fn a_forged_cursor_is_a_400_before_the_store_is_asked() {
        let kv = store();
        kv.fail_next("list");
        let forged = CursorKey::from_secret("guess").seal("thing:", "x");
        let problem = block_on(page::<Thing>(
            &kv,
            &format!("cursor={forged}"),
            &CursorKey::from_secret("s"),
        ))
        .unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn a_batch_keeps_the_order_asked_and_lists_the_missing() {
        let ids = [id("3"), id("9"), id("2"), id("1")];
        let listing = block_on(batch::<Thing>(&store(), &ids)).unwrap();
        let answer = body(&listing.reply);
        assert_eq!(
            answer["items"],
            serde_json::json!([{"id":"3","size":3},{"id":"1","size":1}])
        );
        assert_eq!(answer["missing"], serde_json::json!(["9"]));
        assert_eq!(listing.unreadable, ["thing:2"]);
        let kv = store();
        kv.fail_next("get_many");
        assert_eq!(block_on(batch::<Thing>(&kv, &ids)).unwrap_err().status, 503);
    }
}
