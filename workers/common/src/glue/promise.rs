//! Awaiting a JavaScript promise from Rust: the one place it happens, and
//! the timer that bounds a wait.

use super::executor::JsAwait;
use futures_util::future::{select, Either};
use js_sys::{Function, Promise};
use std::future::Future;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, millis: i32) -> JsValue;
}

/// The promise's value, or what it was rejected with.
pub fn settled(promise: Promise) -> JsAwait {
    JsAwait::new(promise)
}

/// Settles after `millis`.
pub fn sleep(millis: u64) -> JsAwait {
    let millis = i32::try_from(millis).unwrap_or(i32::MAX);
    settled(Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, millis);
    }))
}

/// `future`'s output if it comes within `millis`, else `None`.
pub async fn within<T>(millis: u64, future: impl Future<Output = T>) -> Option<T> {
    let future = std::pin::pin!(future);
    let deadline = std::pin::pin!(sleep(millis));
    match select(future, deadline).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}
