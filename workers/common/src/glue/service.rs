//! Calls to another worker over a service binding, bounded in time.

use super::describe;
use super::env::binding;
use super::env::Env;
use super::promise::{settled, within};
use crate::Problem;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Headers, Response};

#[wasm_bindgen]
extern "C" {
    /// A service binding, or a Durable Object's stub: anything with `fetch`.
    pub type ServiceBinding;
}

// One call into the runtime per outgoing request: the headers are edited
// and the request sent on the JS side (each runtime call from Rust costs a
// crossing). Names and values travel joined by NUL, which neither may hold.
#[wasm_bindgen(inline_js = r#"
export function send(binding, url, method, from, drop, set, body, timeoutMs) {
  const headers = new Headers(from ?? undefined);
  if (drop) for (const name of drop.split("\0")) headers.delete(name);
  if (set) {
    const parts = set.split("\0");
    for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
  }
  const init = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined && body !== null) init.body = body;
  return binding.fetch(url, init);
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = send)]
    #[allow(clippy::too_many_arguments)]
    fn send_request(
        binding: &ServiceBinding,
        url: &str,
        method: &str,
        from: Option<&Headers>,
        drop: &str,
        set: &str,
        body: &JsValue,
        timeout_ms: u32,
    ) -> Result<Promise, JsValue>;
}

/// A request to another worker, described in Rust and handed to the runtime
/// in one call.
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub method: &'a str,
    /// The headers to start from (a caller's), if any.
    pub from: Option<&'a Headers>,
    /// Names left out of `from`.
    pub drop: Vec<&'a str>,
    /// Headers set on top.
    pub set: Vec<(&'static str, String)>,
    pub body: JsValue,
}

impl<'a> Outgoing<'a> {
    /// A GET of `url` with just `set`.
    pub fn get(url: &'a str, set: Vec<(&'static str, String)>) -> Self {
        Self {
            url,
            method: "GET",
            from: None,
            drop: Vec::new(),
            set,
            body: JsValue::UNDEFINED,
        }
    }
}

fn joined<'s>(parts: impl Iterator<Item = &'s str>) -> String {
    parts.collect::<Vec<_>>().join("\0")
}

/// Why a call to another worker gave no (usable) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    TimedOut,
    Threw(String),
}

/// The service binding called `name`.
pub fn service(env: &Env, name: &str) -> Result<ServiceBinding, Problem> {
    binding(env, name)
        .map(JsCast::unchecked_into)
        .ok_or_else(|| Problem::unavailable(format!("the {name} binding is missing")))
}

/// Sends a request over a service binding. The runtime aborts the call once
/// `timeout_millis` have passed without an answer.
pub async fn call_service(
    binding: &ServiceBinding,
    outgoing: &Outgoing<'_>,
    timeout_millis: u64,
) -> Result<Response, CallFailure> {
    let threw = |e: JsValue| CallFailure::Threw(describe(&e));
    let drop = joined(outgoing.drop.iter().copied());
    let set = joined(
        outgoing
            .set
            .iter()
            .flat_map(|(name, value)| [*name, value.as_str()]),
    );
    let promise = send_request(
        binding,
        outgoing.url,
        outgoing.method,
        outgoing.from,
        &drop,
        &set,
        &outgoing.body,
        clamp(timeout_millis),
    )
    .map_err(threw)?;
    match settled(promise).await {
        Ok(response) => Ok(response.unchecked_into()),
        Err(error) if is_timeout(&error) => Err(CallFailure::TimedOut),
        Err(error) => Err(threw(error)),
    }
}

/// A call's whole exchange, the response body included, within
/// `timeout_millis`: its status and body text.
pub async fn call_service_for_text(
    binding: &ServiceBinding,
    outgoing: &Outgoing<'_>,
    timeout_millis: u64,
) -> Result<(u16, String), CallFailure> {
    let started = js_sys::Date::now();
    let response = call_service(binding, outgoing, timeout_millis).await?;
    let spent = (js_sys::Date::now() - started).max(0.0) as u64;
    let remaining = timeout_millis.saturating_sub(spent);
    let text = response
        .text()
        .map_err(|e| CallFailure::Threw(describe(&e)))?;
    match within(remaining, settled(text)).await {
        Some(Ok(text)) => text
            .as_string()
            .map(|text| (response.status(), text))
            .ok_or_else(|| CallFailure::Threw("the body is not text".into())),
        Some(Err(error)) if is_timeout(&error) => Err(CallFailure::TimedOut),
        Some(Err(error)) => Err(CallFailure::Threw(describe(&error))),
        None => Err(CallFailure::TimedOut),
    }
}

fn clamp(millis: u64) -> u32 {
    u32::try_from(millis)
        .unwrap_or(u32::MAX)
        .min(i32::MAX as u32)
}

fn is_timeout(error: &JsValue) -> bool {
    Reflect::get(error, &"name".into())
        .ok()
        .and_then(|name| name.as_string())
        .is_some_and(|name| name == "TimeoutError" || name == "AbortError")
}
