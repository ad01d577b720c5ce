//! The thin layer between the pure code and the Workers runtime: requests
//! in, replies out, bodies, clocks, randomness, timeouts and service calls.
//! Handlers take `web_sys::Request` and answer `web_sys::Response`, which
//! spares a URL parse and header copies per request.

use crate::body::{self, FieldReader, MAX_BODY_BYTES};
use crate::id::{is_valid_request_id, uuid_v4};
use crate::trace::next_hop;
use crate::{Problem, Reply, REQUEST_ID};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::js_sys::{self, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{
    AbortSignal, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response, ResponseInit,
};

pub use worker;
pub use worker::worker_sys::Fetcher as ServiceBinding;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn fill_random(buffer: &mut [u8]);
}

/// Keeps the `worker` crate's panic hook (it tells the runtime to
/// re-initialise the instance) and adds `console_error_panic_hook`'s report.
pub fn chain_panic_hook() {
    let worker_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        worker_hook(info);
    }));
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

pub fn new_uuid() -> String {
    uuid_v4(random_bytes())
}

pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// A service's whole exchange: the request read, handed to `handle`, and
/// its outcome (a reply or a problem) answered with the request's id.
pub async fn serve(
    request: Request,
    env: &worker::Env,
    handle: impl AsyncFnOnce(&Inbound, &worker::Env) -> Result<Reply, Problem>,
) -> worker::Result<Response> {
    let inbound = Inbound::new(request);
    let outcome = handle(&inbound, env).await;
    inbound.respond(outcome)
}

/// A request as a service sees it: routed on its path, answered with its id.
pub struct Inbound {
    pub request: Request,
    pub headers: Headers,
    pub method: String,
    pub url: String,
    pub path: String,
    pub query: String,
    pub request_id: String,
}

impl Inbound {
    pub fn new(request: Request) -> Self {
        let url = request.url();
        let (path, query) = crate::url::path_and_query(&url);
        let (path, query) = (path.to_string(), query.to_string());
        let headers = request.headers();
        let request_id = header(&headers, REQUEST_ID)
            .filter(|id| is_valid_request_id(id))
            .unwrap_or_else(new_uuid);
        Self {
            method: request.method(),
            url,
            path,
            query,
            request_id,
            headers,
            request,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    /// Marks a request to the next hop as part of this one: the same
    /// request id, and the trace continued with a new span.
    pub fn propagate_to(&self, next: &Headers) -> Result<(), JsValue> {
        next.set(REQUEST_ID, &self.request_id)?;
        let incoming = self.header("traceparent");
        next.set(
            "traceparent",
            &next_hop(incoming.as_deref(), random_bytes(), random_bytes()),
        )
    }

    /// The body as a JSON object with only `allowed` keys, or the 4xx that
    /// says why not.
    pub async fn json_body(&self, allowed: &[&str]) -> Result<FieldReader, Problem> {
        body::require_json_content_type(self.header("Content-Type").as_deref())?;
        let bytes = read_body(&self.request, MAX_BODY_BYTES).await?;
        body::parse_object(&bytes, allowed)
    }

    /// Renders the outcome with this request's id.
    pub fn respond(&self, outcome: Result<Reply, Problem>) -> worker::Result<Response> {
        let reply = outcome
            .unwrap_or_else(|problem| Reply::problem(&problem, &self.request_id, &self.path));
        let headers = reply_headers(&reply)?;
        headers.set(REQUEST_ID, &self.request_id)?;
        Ok(build_response(
            reply.status,
            &headers,
            reply.body.as_deref(),
        )?)
    }
}

pub fn reply_headers(reply: &Reply) -> Result<Headers, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    Ok(headers)
}

pub fn build_response(
    status: u16,
    headers: &Headers,
    body: Option<&str>,
) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    Response::new_with_opt_str_and_init(body, &init)
}

/// Reads a request's whole body, refusing one longer than `limit` bytes:
/// at once when its declared length says so, else as soon as it passes the
/// limit.
pub async fn read_body(request: &Request, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_long = declared_length(&request.headers()).is_some_and(|length| length > limit);
    let Some(stream) = request.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    if too_long {
        drain(&reader, 0).await;
        return Err(Problem::payload_too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&reader).await? {
        let start = bytes.len();
        let length = chunk.length() as usize;
        if start + length > limit {
            drain(&reader, start + length).await;
            return Err(Problem::payload_too_large(limit));
        }
        bytes.resize(start + length, 0);
        chunk.copy_to(&mut bytes[start..]);
    }
    Ok(bytes)
}

/// Reads and drops a body nobody read, so that a client still sending it
/// gets the answer (say a 401) instead of a reset connection.
pub async fn discard_unread_body(request: &Request) {
    if let Some(stream) = request.body().filter(|stream| !stream.locked()) {
        drain(&stream.get_reader().unchecked_into(), 0).await;
    }
}

/// How much of a refused body is still read and dropped, so that a client
/// that is still sending gets the 413 instead of a reset connection.
const DRAIN_MAX_BYTES: usize = 8 * 1024 * 1024;

async fn drain(reader: &ReadableStreamDefaultReader, mut seen: usize) {
    while seen < DRAIN_MAX_BYTES {
        match next_chunk(reader).await {
            Ok(Some(chunk)) => seen += chunk.length() as usize,
            _ => return,
        }
    }
    let _ = reader.cancel();
}

async fn next_chunk(reader: &ReadableStreamDefaultReader) -> Result<Option<Uint8Array>, Problem> {
    let unreadable = |_| Problem::bad_request("the body could not be read");
    let chunk = JsFuture::from(reader.read()).await.map_err(unreadable)?;
    if Reflect::get(&chunk, &"done".into())
        .map_err(unreadable)?
        .is_truthy()
    {
        return Ok(None);
    }
    let value = Reflect::get(&chunk, &"value".into()).map_err(unreadable)?;
    Ok(Some(value.unchecked_into()))
}

pub fn declared_length(headers: &Headers) -> Option<usize> {
    header(headers, "Content-Length").and_then(|length| length.trim().parse().ok())
}

/// Why a call to another worker gave no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    TimedOut,
    Threw(String),
}

/// Sends a request over a service binding. The runtime aborts the call, its
/// response body included, once `timeout_millis` have passed.
pub async fn call_service(
    binding: &ServiceBinding,
    url: &str,
    init: &RequestInit,
    timeout_millis: u64,
) -> Result<Response, CallFailure> {
    let threw = |e: JsValue| CallFailure::Threw(describe(&e));
    let timeout = u32::try_from(timeout_millis).unwrap_or(u32::MAX);
    init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout)));
    let request = Request::new_with_str_and_init(url, init).map_err(threw)?;
    let promise: Promise = binding.fetch(&request).map_err(threw)?;
    match JsFuture::from(promise).await {
        Ok(response) => Ok(response.unchecked_into()),
        Err(error) if is_timeout(&error) => Err(CallFailure::TimedOut),
        Err(error) => Err(threw(error)),
    }
}

fn is_timeout(error: &JsValue) -> bool {
    Reflect::get(error, &"name".into())
        .ok()
        .and_then(|name| name.as_string())
        .is_some_and(|name| name == "TimeoutError")
}

/// The service binding called `name`.
pub fn service(env: &worker::Env, name: &str) -> Result<ServiceBinding, Problem> {
    binding(env, name)
        .map(JsCast::unchecked_into)
        .ok_or_else(|| Problem::unavailable(format!("the {name} binding is missing")))
}

/// The binding called `name`, taken from the environment as it is (the
/// `worker` crate's typed accessors check its constructor on every call).
pub fn binding(env: &worker::Env, name: &str) -> Option<JsValue> {
    Reflect::get(env, &name.into())
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A response body as text; `None` when it cannot be read (or the call's
/// timeout aborts it).
pub async fn response_text(response: &Response) -> Option<String> {
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}

pub fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

/// A storage failure: the client learns the operation did not happen.
pub fn storage_failure(error: impl std::fmt::Display) -> Problem {
    worker::console_error!("storage failure: {error}");
    Problem::unavailable("storage is unavailable; nothing was changed")
}
