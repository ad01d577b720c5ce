//! The environment a worker or object is given: bindings, variables and
//! secrets, read as they are.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The `env` of a handler or a Durable Object.
    #[derive(Clone)]
    pub type Env;
}

/// The binding called `name`, if the environment has one.
pub fn binding(env: &Env, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(env, &name.into())
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A `[vars]` value or a secret, as text.
pub fn var(env: &Env, name: &str) -> Option<String> {
    binding(env, name).and_then(|value| value.as_string())
}
