//! JSON records in a KV namespace, stored with `serde_json` (never through
//! serde-wasm-bindgen, which mangles maps and large integers).

use crate::collection::Collection;
use crate::etag::representation;
use crate::glue::storage_failure;
use crate::id::ResourceId;
use crate::url::{seal_cursor, PageRequest};
use crate::Problem;
use crate::Reply;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use worker::{Env, KvStore};

/// KV's limit on keys read in one bulk get.
const BULK_GET_MAX: usize = 100;

pub struct JsonStore {
    kv: KvStore,
}

/// One page of keys under a prefix, and the cursor of the next page.
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

impl JsonStore {
    pub fn open(env: &Env, binding: &str) -> Result<Self, Problem> {
        env.kv(binding)
            .map(|kv| Self { kv })
            .map_err(|_| Problem::unavailable(format!("the {binding} binding is missing")))
    }

    pub async fn get_text(&self, key: &str) -> Result<Option<String>, Problem> {
        self.kv.get(key).text().await.map_err(storage_failure)
    }

    /// A record and its stored JSON text.
    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, String)>, Problem> {
        match self.get_text(key).await? {
            None => Ok(None),
            Some(json) => Ok(Some((decode(key, &json)?, json))),
        }
    }

    /// Stores a record; answers the JSON text stored.
    pub async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<String, Problem> {
        let json = serde_json::to_string(value).map_err(storage_failure)?;
        self.put_text(key, &json).await?;
        Ok(json)
    }

    pub async fn put_text(&self, key: &str, text: &str) -> Result<(), Problem> {
        self.kv
            .put(key, text)
            .map_err(storage_failure)?
            .execute()
            .await
            .map_err(storage_failure)
    }

    pub async fn delete(&self, key: &str) -> Result<(), Problem> {
        self.kv.delete(key).await.map_err(storage_failure)
    }

    /// Many records by key, in as few round trips as KV allows.
    pub async fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, T>, Problem> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BULK_GET_MAX) {
            let texts = self
                .kv
                .get_bulk(chunk)
                .text()
                .await
                .map_err(storage_failure)?;
            for (key, text) in texts {
                if let Some(text) = text {
                    let value = decode(&key, &text)?;
                    found.insert(key, value);
                }
            }
        }
        Ok(found)
    }

    /// The page of keys under `prefix` that `page` asks for.
    pub async fn list_keys(&self, prefix: &str, page: &PageRequest) -> Result<KeyPage, Problem> {
        let mut list = self
            .kv
            .list()
            .prefix(prefix.to_string())
            .limit(u64::from(page.limit));
        if let Some(cursor) = &page.cursor {
            list = list.cursor(cursor.clone());
        }
        let listed = list.execute().await.map_err(storage_failure)?;
        let next_cursor = match listed.list_complete {
            true => None,
            false => listed.cursor.map(|cursor| seal_cursor(prefix, &cursor)),
        };
        Ok(KeyPage {
            keys: listed.keys.into_iter().map(|key| key.name).collect(),
            next_cursor,
        })
    }

    /// A record's answer to a GET: its stored JSON with an ETag, a 304
    /// when the client has it, or a 404.
    pub async fn read(
        &self,
        records: Collection,
        id: &ResourceId,
        if_none_match: Option<&str>,
    ) -> Result<Reply, Problem> {
        let json = self
            .get_text(&records.key(id))
            .await?
            .ok_or_else(|| records.not_found(id))?;
        Ok(representation(json, if_none_match))
    }

    /// A record and its stored JSON, or a 404.
    pub async fn load<T: DeserializeOwned>(
        &self,
        records: Collection,
        id: &ResourceId,
    ) -> Result<(T, String), Problem> {
        self.get(&records.key(id))
            .await?
            .ok_or_else(|| records.not_found(id))
    }

    /// A page of records as `{"items": [...], "next_cursor": ...}`.
    pub async fn page<T: DeserializeOwned + Serialize>(
        &self,
        records: Collection,
        query: &str,
    ) -> Result<Reply, Problem> {
        let page = PageRequest::from_query(query, records.prefix)?;
        let (items, next_cursor) = self.list::<T>(records.prefix, &page).await?;
        Ok(Reply::json(
            200,
            &json!({"items": items, "next_cursor": next_cursor}),
        ))
    }

    /// `200 {"status": "ok"}` once the namespace answers a read.
    pub async fn health(&self) -> Result<Reply, Problem> {
        self.get_text("health:probe").await?;
        Ok(Reply::json(200, &json!({"status": "ok"})))
    }

    /// The records of a page, in key order, and the next cursor.
    pub async fn list<T: DeserializeOwned>(
        &self,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<(Vec<T>, Option<String>), Problem> {
        let KeyPage { keys, next_cursor } = self.list_keys(prefix, page).await?;
        let mut found = self.get_many::<T>(&keys).await?;
        let items = keys.iter().filter_map(|key| found.remove(key)).collect();
        Ok((items, next_cursor))
    }
}

fn decode<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, Problem> {
    serde_json::from_str(json)
        .map_err(|error| storage_failure(format!("record {key} is unreadable: {error}")))
}
