//! RFC 9457 problem details: every error any worker answers with.

use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A failure that becomes a 4xx or 5xx answer. Built without the request's
/// id and path, which are added when it is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers: `Allow`, `Retry-After`, `WWW-Authenticate`.
    pub headers: Vec<(&'static str, String)>,
}

impl Problem {
    pub fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad-request", "Bad request", detail)
    }

    pub fn invalid_id(what: &str) -> Self {
        Self::bad_request(format!(
            "{what} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"
        ))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    pub fn no_route(path: &str) -> Self {
        Self::not_found(format!("no route matches {path}"))
    }

    pub fn method_not_allowed(method: &str, allow: &str) -> Self {
        Self::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("{method} is not allowed here; allowed: {allow}"),
        )
        .with_header("Allow", allow)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, "conflict", "Conflict", detail)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            412,
            "precondition-failed",
            "Precondition failed",
            "If-Match does not match the current ETag",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload-too-large",
            "Payload too large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be application/json",
        )
    }

    pub fn unprocessable(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            422,
            "validation",
            "Validation failed",
            "the body has invalid fields; see errors",
        );
        problem.errors = errors;
        problem
    }

    /// This service's own storage or bindings could not do their part.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, "unavailable", "Service unavailable", detail)
    }

    /// A write refused for now, with nothing written: 503 with
    /// `Retry-After: 1`, so the client tries again shortly.
    pub fn write_refused_for_now(detail: impl Into<String>) -> Self {
        Self::unavailable(detail).with_header("Retry-After", "1")
    }

    /// Another service this one depends on could not do its part: this
    /// service works, and says so with its own problem document.
    pub fn dependency_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            503,
            "dependency-unavailable",
            "Dependency unavailable",
            detail,
        )
    }

    /// Renders the body, with the request's id and the path it concerned.
    pub fn to_json(&self, request_id: &str, instance: &str) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            type_: String,
            title: &'a str,
            status: u16,
            detail: &'a str,
            instance: &'a str,
            request_id: &'a str,
            #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
            errors: &'a [FieldError],
        }
        let body = Body {
            type_: format!("/problems/{}", self.slug),
            title: self.title,
            status: self.status,
            detail: &self.detail,
            instance,
            request_id,
            errors: &self.errors,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_rfc9457_member_and_the_request_id() {
        let json = Problem::not_found("user 7 does not exist").to_json("req-1", "/users/7");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["type"], "/problems/not-found");
        assert_eq!(value["title"], "Not found");
        assert_eq!(value["status"], 404);
        assert_eq!(value["detail"], "user 7 does not exist");
        assert_eq!(value["instance"], "/users/7");
        assert_eq!(value["request_id"], "req-1");
        assert!(value.get("errors").is_none());
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let problem = Problem::unprocessable(vec![FieldError::new("email", "is required")]);
        let value: serde_json::Value =
            serde_json::from_str(&problem.to_json("r", "/users")).unwrap();
        assert_eq!(value["status"], 422);
        assert_eq!(value["errors"][0]["field"], "email");
        assert_eq!(value["errors"][0]["message"], "is required");
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let problem = Problem::method_not_allowed("TRACE", "GET, POST");
        assert_eq!(problem.status, 405);
        assert_eq!(problem.headers, vec![("Allow", "GET, POST".to_string())]);
    }
}
