//! Bindings, variables and secrets, read from the environment as they are
//! (the `worker` crate's typed accessors check a constructor on every call).

use wasm_bindgen::JsValue;
use worker::js_sys::Reflect;
use worker::Env;

/// The binding called `name`, if the environment has one.
pub fn binding(env: &Env, name: &str) -> Option<JsValue> {
    Reflect::get(env, &name.into())
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A `[vars]` value or a secret, as text.
pub fn var(env: &Env, name: &str) -> Option<String> {
    binding(env, name).and_then(|value| value.as_string())
}
