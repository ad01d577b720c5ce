//! The runtime's KV namespace behind the `KeyValue` interface, called
//! directly (one call per operation, where the `worker` crate's wrapper
//! looks up five methods per request). Values are JSON text written with
//! `serde_json`, never through serde-wasm-bindgen, which mangles maps and
//! large integers.

use super::describe;
use super::env::binding;
use super::env::Env;
use super::promise::settled;
use crate::kv::{KeyPage, KeyValue, StoreError};
use crate::Problem;
use js_sys::{Array, Map, Object, Promise, Reflect};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// KV's limit on keys read in one bulk get.
const BULK_GET_MAX: usize = 100;

#[wasm_bindgen]
extern "C" {
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

pub struct KvStore {
    kv: KvNamespace,
}

impl KvStore {
    pub fn open(env: &Env, name: &str) -> Result<Self, Problem> {
        let kv = binding(env, name)
            .ok_or_else(|| Problem::unavailable(format!("the {name} binding is missing")))?;
        Ok(Self {
            kv: kv.unchecked_into(),
        })
    }
}

/// Awaits a KV operation; a failure is logged here, where its cause is
/// known, and becomes a `StoreError`.
async fn settle(what: &str, operation: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    let failed = |error: JsValue| {
        let cause = format!("KV {what} failed: {}", describe(&error));
        crate::console_error!("{cause}");
        StoreError(cause)
    };
    settled(operation.map_err(failed)?).await.map_err(failed)
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

impl KeyValue for KvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(settle("get", self.kv.get(&key.into())).await?.as_string())
    }

    async fn get_many(&self, keys: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BULK_GET_MAX) {
            let names: Array = chunk
                .iter()
                .map(|key| JsValue::from(key.as_str()))
                .collect();
            let texts: Map = settle("bulk get", self.kv.get(&names))
                .await?
                .unchecked_into();
            for key in chunk {
                if let Some(text) = texts.get(&key.into()).as_string() {
                    found.insert(key.clone(), text);
                }
            }
        }
        Ok(found)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        settle("put", self.kv.put(key, value)).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        settle("delete", self.kv.delete(key)).await.map(drop)
    }

    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<KeyPage, StoreError> {
        let options = Object::new();
        let set =
            |name: &str, value: JsValue| Reflect::set(&options, &name.into(), &value).map(drop);
        set("prefix", prefix.into())
            .and_then(|_| set("limit", limit.into()))
            .and_then(|_| cursor.map_or(Ok(()), |cursor| set("cursor", cursor.into())))
            .map_err(|error| StoreError(describe(&error)))?;
        let listed = settle("list", self.kv.list(&options)).await?;
        let keys: Array = field(&listed, "keys").unchecked_into();
        let cursor = match field(&listed, "list_complete").is_truthy() {
            true => None,
            false => field(&listed, "cursor").as_string(),
        };
        Ok(KeyPage {
            keys: keys
                .iter()
                .filter_map(|key| field(&key, "name").as_string())
                .collect(),
            cursor,
        })
    }
}
