//! Awaiting a JavaScript promise from Rust: the one place it happens.

use super::executor::JsAwait;
use js_sys::Promise;

/// The promise's value, or what it was rejected with.
pub fn settled(promise: Promise) -> JsAwait {
    JsAwait::new(promise)
}
