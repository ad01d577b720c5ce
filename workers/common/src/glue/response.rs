//! Replies (plain data) turned into the runtime's `Response`, each in one
//! call into the runtime.

use super::request::Inbound;
use crate::{Problem, Reply, REQUEST_ID};
use wasm_bindgen::prelude::*;
use web_sys::Response;

// Names and values travel joined by NUL, which neither may hold.
#[wasm_bindgen(inline_js = r#"
function fill(headers, fields, replace) {
  const parts = fields.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    if (replace) headers.set(parts[i], parts[i + 1]);
    else headers.append(parts[i], parts[i + 1]);
  }
}
export function respond(status, body, fields) {
  const headers = new Headers();
  fill(headers, fields, false);
  return new Response(body ?? null, { status, headers });
}
export function restamp(response, fields) {
  const answer = new Response(response.body, response);
  fill(answer.headers, fields, true);
  return answer;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn respond(status: u16, body: Option<&str>, fields: &str) -> Result<Response, JsValue>;

    #[wasm_bindgen(catch)]
    fn restamp(response: &Response, fields: &str) -> Result<Response, JsValue>;
}

/// Header fields as one string for the runtime.
fn joined(fields: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (name, value) in fields {
        if !text.is_empty() {
            text.push('\0');
        }
        text.push_str(name);
        text.push('\0');
        text.push_str(value);
    }
    text
}

/// A response of `status` with `fields` and `body`; to a HEAD request, the
/// same status and fields with the body's length and no body.
pub fn build_response(
    status: u16,
    mut fields: Vec<(&'static str, String)>,
    body: Option<&str>,
    head: bool,
) -> Result<Response, JsValue> {
    if head {
        if let Some(body) = body {
            fields.push(("Content-Length", body.len().to_string()));
        }
        return respond(status, None, &joined(&fields));
    }
    respond(status, body, &joined(&fields))
}

/// `response` as it is, with `fields` set on it.
pub fn restamped(
    response: &Response,
    fields: &[(&'static str, String)],
) -> Result<Response, JsValue> {
    restamp(response, &joined(fields))
}

impl Inbound {
    /// Renders a handler's outcome with this request's id.
    pub fn respond(&self, outcome: Result<Reply, Problem>) -> Result<Response, JsValue> {
        let mut reply = outcome
            .unwrap_or_else(|problem| Reply::problem(&problem, &self.request_id, &self.path));
        reply.headers.push((REQUEST_ID, self.request_id.clone()));
        build_response(
            reply.status,
            reply.headers,
            reply.body.as_deref(),
            self.is_head(),
        )
    }
}
