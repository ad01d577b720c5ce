//! An incoming request as a worker sees it: routed on its path, answered
//! with its id, and marked onwards with that id and its trace.

use super::platform::{new_uuid, now_millis, random_bytes};
use super::stream::read_body;
use crate::body::{self, FieldReader, MAX_BODY_BYTES};
use crate::deadline::{self, DEADLINE};
use crate::id::is_valid_request_id;
use crate::trace::next_hop;
use crate::{Problem, REQUEST_ID};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Request};

pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

pub struct Inbound {
    pub request: Request,
    pub headers: Headers,
    pub method: String,
    pub url: String,
    pub path: String,
    pub query: String,
    pub request_id: String,
    /// When the request arrived (ms since the epoch).
    pub started_ms: u64,
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
            started_ms: now_millis(),
        }
    }

    /// A request of the worker's own making (an object's alarm, a queue
    /// message): a GET of `url`, with the id and trace of what caused it
    /// when known, else a fresh id.
    pub fn internal(
        url: &str,
        request_id: Option<&str>,
        traceparent: Option<&str>,
    ) -> Result<Self, JsValue> {
        let request = Request::new_with_str(url)?;
        let headers = request.headers();
        if let Some(id) = request_id {
            headers.set(REQUEST_ID, id)?;
        }
        if let Some(traceparent) = traceparent {
            headers.set("traceparent", traceparent)?;
        }
        Ok(Self::new(request))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    /// HEAD is answered as GET without the body.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// The method to route on: HEAD routes as GET.
    pub fn routing_method(&self) -> &str {
        if self.is_head() {
            "GET"
        } else {
            &self.method
        }
    }

    /// When this request's caller stops waiting: the `X-Deadline` it was
    /// given (within bounds), else `deadline::DEFAULT_BUDGET_MS` after it
    /// arrived. Only services read it; the gateway sets it for them.
    pub fn deadline_ms(&self) -> u64 {
        deadline::of_request(self.header(DEADLINE).as_deref(), self.started_ms)
    }

    /// What is left of the request's time.
    pub fn remaining_ms(&self) -> u64 {
        self.deadline_ms().saturating_sub(now_millis())
    }

    /// What a call to the next hop may take: until the deadline it is
    /// given, so that some time is left after it.
    pub fn hop_budget_ms(&self) -> u64 {
        let now = now_millis();
        deadline::for_next_hop(self.deadline_ms(), now).saturating_sub(now)
    }

    /// The deadline to give the next hop: this one's, less the time the
    /// answer needs to come back.
    pub fn next_deadline(&self) -> (&'static str, String) {
        (
            DEADLINE,
            deadline::for_next_hop(self.deadline_ms(), now_millis()).to_string(),
        )
    }

    /// The headers that mark a request to the next hop as part of this
    /// one: the same request id, and the trace continued with a new span.
    pub fn next_hop(&self) -> Vec<(&'static str, String)> {
        let incoming = self.header("traceparent");
        let random: [u8; 24] = random_bytes();
        let (trace, span) = random.split_at(16);
        let traceparent = next_hop(
            incoming.as_deref(),
            trace.try_into().unwrap_or_default(),
            span.try_into().unwrap_or_default(),
        );
        vec![
            (REQUEST_ID, self.request_id.clone()),
            ("traceparent", traceparent),
        ]
    }

    /// The body as a JSON object with only `allowed` keys, or the 4xx that
    /// says why not.
    pub async fn json_body(&self, allowed: &[&str]) -> Result<FieldReader, Problem> {
        body::require_json_content_type(self.header("Content-Type").as_deref())?;
        let bytes = read_body(&self.request, MAX_BODY_BYTES).await?;
        body::parse_object(&bytes, allowed)
    }
}
