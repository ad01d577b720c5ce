//! What a handler answers, as plain data; the worker glue turns it into a
//! `Response`.

use crate::problem::Problem;
use serde::Serialize;

pub const JSON: &str = "application/json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Reply {
    /// A JSON body. Serializing our own types cannot fail; if it ever did, the
    /// answer is an honest 500 rather than a panic.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Self::raw_json(status, body),
            Err(_) => Self::raw_json(500, "{}".to_string()),
        }
    }

    /// A body that is already serialized JSON.
    pub fn raw_json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", JSON.to_string())],
            body: Some(body),
        }
    }

    /// A `201` for a new resource at `location`.
    pub fn created(mut representation: Reply, location: String) -> Self {
        representation.status = 201;
        representation.with_header("Location", location)
    }

    pub fn no_content() -> Self {
        Self::empty(204)
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn problem(problem: &Problem, request_id: &str, instance: &str) -> Self {
        let mut headers = vec![("Content-Type", crate::problem::PROBLEM_JSON.to_string())];
        headers.extend(problem.headers.iter().cloned());
        Self {
            status: problem.status,
            headers,
            body: Some(problem.to_json(request_id, instance)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_replies_are_problem_json_with_extra_headers() {
        let problem = Problem::method_not_allowed("PUT", "GET");
        let reply = Reply::problem(&problem, "id", "/health");
        assert_eq!(reply.status, 405);
        assert_eq!(
            reply.headers[0],
            ("Content-Type", "application/problem+json".to_string())
        );
        assert_eq!(reply.headers[1], ("Allow", "GET".to_string()));
    }
}
