//! Cloudflare Queues: a producer binding, and the batch a consumer gets.
//! Messages are JSON text.

use super::describe;
use super::env::binding;
use super::env::Env;
use super::promise::settled;
use crate::kv::StoreError;
use js_sys::{Array, Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    type QueueBinding;

    #[wasm_bindgen(method, catch)]
    fn send(this: &QueueBinding, body: &JsValue, options: &Object) -> Result<Promise, JsValue>;

    /// What a consumer's `queue` handler receives.
    pub type MessageBatch;

    #[wasm_bindgen(method, getter)]
    fn messages(this: &MessageBatch) -> Array;

    pub type Message;

    #[wasm_bindgen(method, getter)]
    pub fn id(this: &Message) -> String;

    /// The body as it was sent.
    #[wasm_bindgen(method, getter)]
    pub fn body(this: &Message) -> JsValue;

    #[wasm_bindgen(method, getter)]
    pub fn attempts(this: &Message) -> f64;

    #[wasm_bindgen(method)]
    pub fn ack(this: &Message);

    #[wasm_bindgen(method, js_name = retry)]
    fn retry_with(this: &Message, options: &Object);
}

impl MessageBatch {
    pub fn each(&self) -> Vec<Message> {
        self.messages().iter().map(JsCast::unchecked_into).collect()
    }
}

impl Message {
    /// The body as text: a string as it is, anything else as JSON.
    pub fn text(&self) -> String {
        let body = self.body();
        body.as_string().unwrap_or_else(|| {
            JSON::stringify(&body)
                .ok()
                .and_then(|text| text.as_string())
                .unwrap_or_default()
        })
    }

    /// Asks for the message again after `delay_secs`.
    pub fn retry(&self, delay_secs: u32) {
        let options = Object::new();
        let _ = Reflect::set(&options, &"delaySeconds".into(), &delay_secs.into());
        self.retry_with(&options);
    }
}

/// Sends `body` (text, or any value a queue carries, sent as it is: bytes
/// stay bytes) on the queue bound as `name`.
pub async fn publish(env: &Env, name: &str, body: &JsValue) -> Result<(), StoreError> {
    let failed = |error: String| {
        let cause = format!("sending on {name} failed: {error}");
        crate::console_error!("{cause}");
        StoreError(cause)
    };
    let queue: QueueBinding = binding(env, name)
        .ok_or_else(|| failed("the binding is missing".into()))?
        .unchecked_into();
    let options = Object::new();
    let content_type = if body.is_string() { "text" } else { "v8" };
    let _ = Reflect::set(&options, &"contentType".into(), &content_type.into());
    let sent = queue
        .send(body, &options)
        .map_err(|e| failed(describe(&e)))?;
    settled(sent)
        .await
        .map(drop)
        .map_err(|e| failed(describe(&e)))
}
