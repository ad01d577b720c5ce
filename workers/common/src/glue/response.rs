//! Replies (plain data) turned into the runtime's `Response`.

use super::request::Inbound;
use crate::{Problem, Reply, REQUEST_ID};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

pub fn reply_headers(reply: &Reply) -> Result<Headers, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    Ok(headers)
}

/// A response with `body`, or, to a HEAD request, the same status and
/// headers with the body's length and no body.
pub fn build_response(
    status: u16,
    headers: &Headers,
    body: Option<&str>,
    head: bool,
) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    if head {
        if let Some(body) = body {
            headers.set("Content-Length", &body.len().to_string())?;
        }
        return Response::new_with_opt_str_and_init(None, &init);
    }
    Response::new_with_opt_str_and_init(body, &init)
}

impl Inbound {
    /// Renders a handler's outcome with this request's id.
    pub fn respond(&self, outcome: Result<Reply, Problem>) -> Result<Response, JsValue> {
        let reply = outcome
            .unwrap_or_else(|problem| Reply::problem(&problem, &self.request_id, &self.path));
        let headers = reply_headers(&reply)?;
        headers.set(REQUEST_ID, &self.request_id)?;
        build_response(
            reply.status,
            &headers,
            reply.body.as_deref(),
            self.is_head(),
        )
    }
}
