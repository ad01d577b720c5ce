//! The runtime's KV binding called directly, as the product's `JsonStore` does.

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    pub type KvNamespace;

    #[wasm_bindgen(method, catch)]
    pub fn get(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;
}

/// The KV namespace bound as `name` in `env`.
pub fn binding(env: &JsValue, name: &str) -> Result<KvNamespace, JsValue> {
    Ok(Reflect::get(env, &JsValue::from_str(name))?.unchecked_into())
}
