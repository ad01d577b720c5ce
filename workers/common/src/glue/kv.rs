//! JSON records in a KV namespace, stored with `serde_json` (never through
//! serde-wasm-bindgen, which mangles maps and large integers).

use crate::collection::Collection;
use crate::etag::representation;
use crate::glue::{describe, storage_failure};
use crate::id::ResourceId;
use crate::url::{seal_cursor, PageRequest};
use crate::Problem;
use crate::Reply;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::js_sys::{Array, Map, Object, Promise, Reflect};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// KV's limit on keys read in one bulk get.
const BULK_GET_MAX: usize = 100;

#[wasm_bindgen]
extern "C" {
    /// The runtime's KV binding, called directly: one call per operation,
    /// where the `worker` crate's wrapper looks up five methods per request.
    type KvNamespace;

    #[wasm_bindgen(method, catch)]
    fn get(this: &KvNamespace, key_or_keys: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(this: &KvNamespace, key: &str, value: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &Object) -> Result<Promise, JsValue>;
}

pub struct JsonStore {
    kv: KvNamespace,
}

/// One page of keys under a prefix, and the cursor of the next page.
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

/// Awaits a KV operation; any failure is a storage failure.
async fn settle(operation: Result<Promise, JsValue>) -> Result<JsValue, Problem> {
    let failed = |error: JsValue| storage_failure(describe(&error));
    JsFuture::from(operation.map_err(failed)?)
        .await
        .map_err(failed)
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

impl JsonStore {
    pub fn open(env: &Env, binding: &str) -> Result<Self, Problem> {
        let kv = field(env, binding);
        if kv.is_undefined() {
            return Err(Problem::unavailable(format!(
                "the {binding} binding is missing"
            )));
        }
        Ok(Self {
            kv: kv.unchecked_into(),
        })
    }

    pub async fn get_text(&self, key: &str) -> Result<Option<String>, Problem> {
        Ok(settle(self.kv.get(&key.into())).await?.as_string())
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
        settle(self.kv.put(key, text)).await.map(drop)
    }

    pub async fn delete(&self, key: &str) -> Result<(), Problem> {
        settle(self.kv.delete(key)).await.map(drop)
    }

    /// Many records by key, in as few round trips as KV allows.
    pub async fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, T>, Problem> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BULK_GET_MAX) {
            let names: Array = chunk
                .iter()
                .map(|key| JsValue::from(key.as_str()))
                .collect();
            let texts: Map = settle(self.kv.get(&names)).await?.unchecked_into();
            for key in chunk {
                if let Some(text) = texts.get(&key.into()).as_string() {
                    found.insert(key.clone(), decode(key, &text)?);
                }
            }
        }
        Ok(found)
    }

    /// The page of keys under `prefix` that `page` asks for.
    pub async fn list_keys(&self, prefix: &str, page: &PageRequest) -> Result<KeyPage, Problem> {
        let options = Object::new();
        let set =
            |name: &str, value: JsValue| Reflect::set(&options, &name.into(), &value).map(drop);
        set("prefix", prefix.into())
            .and_then(|_| set("limit", page.limit.into()))
            .and_then(|_| {
                page.cursor
                    .as_deref()
                    .map_or(Ok(()), |cursor| set("cursor", cursor.into()))
            })
            .map_err(|error| storage_failure(describe(&error)))?;
        let listed = settle(self.kv.list(&options)).await?;
        let keys: Array = field(&listed, "keys").unchecked_into();
        let next_cursor = match field(&listed, "list_complete").is_truthy() {
            true => None,
            false => field(&listed, "cursor")
                .as_string()
                .map(|cursor| seal_cursor(prefix, &cursor)),
        };
        Ok(KeyPage {
            keys: keys
                .iter()
                .filter_map(|key| field(&key, "name").as_string())
                .collect(),
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
