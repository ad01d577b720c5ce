//! CORS: which origins get `Access-Control-*` headers, the preflight the
//! gateway answers itself, and `Vary: Origin` on every answer whose CORS
//! headers depend on the origin.

pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id, traceparent";
pub const EXPOSE_HEADERS: &str = "ETag, Location, Retry-After, X-Request-Id";
pub const MAX_AGE_SECS: &str = "600";

/// The origins from `ALLOWED_ORIGINS` (comma-separated; `*` allows any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

impl CorsPolicy {
    pub fn from_list(list: &str) -> Self {
        let origins = list
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_string())
            .filter(|origin| !origin.is_empty())
            .collect();
        Self { origins }
    }

    /// Whether any origin may get CORS headers: then every answer's CORS
    /// headers depend on the request's `Origin`.
    pub fn is_enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// The `Access-Control-Allow-Origin` value for this `Origin`, when it is
    /// allowed.
    pub fn allowed_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        self.origins
            .iter()
            .any(|allowed| allowed == "*" || allowed == origin)
            .then_some(origin)
    }

    /// The CORS headers of an answer to `origin`: none for an origin not
    /// allowed; a preflight's answer also says what may be sent.
    pub fn headers(&self, origin: Option<&str>, preflight: bool) -> Vec<(&'static str, String)> {
        let Some(origin) = self.allowed_origin(origin) else {
            return Vec::new();
        };
        let mut headers = vec![
            ("Access-Control-Allow-Origin", origin.to_string()),
            ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()),
        ];
        if preflight {
            headers.extend([
                ("Access-Control-Allow-Methods", ALLOW_METHODS.to_string()),
                ("Access-Control-Allow-Headers", ALLOW_HEADERS.to_string()),
                ("Access-Control-Max-Age", MAX_AGE_SECS.to_string()),
            ]);
        }
        headers
    }
}

pub fn is_preflight(method: &str, access_control_request_method: Option<&str>) -> bool {
    method == "OPTIONS" && access_control_request_method.is_some()
}

/// The `Vary` value with `Origin` appended to what a service sent, or
/// `None` when it already varies on `Origin` (or on everything).
pub fn vary_with_origin(existing: Option<&str>) -> Option<String> {
    let existing = existing.map(str::trim).filter(|value| !value.is_empty());
    let Some(existing) = existing else {
        return Some("Origin".to_string());
    };
    let covered = existing
        .split(',')
        .map(str::trim)
        .any(|token| token == "*" || token.eq_ignore_ascii_case("origin"));
    (!covered).then(|| format!("{existing}, Origin"))
}

/// Every CORS header of an answer, `Vary` included (appended to what the
/// service sent, `existing_vary`).
pub fn answer_headers(
    policy: &CorsPolicy,
    origin: Option<&str>,
    preflight: bool,
    existing_vary: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut headers = policy.headers(origin, preflight);
    if policy.is_enabled() {
        if let Some(vary) = vary_with_origin(existing_vary) {
            headers.push(("Vary", vary));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_get_cors() {
        let policy = CorsPolicy::from_list("http://localhost:3000, https://app.example/");
        assert_eq!(
            policy.allowed_origin(Some("http://localhost:3000")),
            Some("http://localhost:3000")
        );
        assert_eq!(
            policy.allowed_origin(Some("https://app.example")),
            Some("https://app.example")
        );
        assert_eq!(policy.allowed_origin(Some("https://evil.example")), None);
        assert_eq!(policy.allowed_origin(None), None);
        assert_eq!(
            CorsPolicy::from_list("*").allowed_origin(Some("x")),
            Some("x")
        );
        assert!(!CorsPolicy::from_list(" , ").is_enabled());
    }

    #[test]
    fn answers_carry_origin_and_exposed_headers_and_preflights_say_more() {
        let policy = CorsPolicy::from_list("http://a.example");
        fn names(headers: Vec<(&'static str, String)>) -> Vec<&'static str> {
            headers.into_iter().map(|(name, _)| name).collect()
        }
        assert_eq!(
            names(policy.headers(Some("http://a.example"), false)),
            [
                "Access-Control-Allow-Origin",
                "Access-Control-Expose-Headers"
            ]
        );
        assert_eq!(policy.headers(Some("http://a.example"), true).len(), 5);
        assert!(policy.headers(Some("http://b.example"), true).is_empty());
        assert!(policy.headers(None, false).is_empty());
        assert!(ALLOW_METHODS.contains("HEAD"));
    }

    #[test]
    fn preflight_needs_the_request_method_header() {
        assert!(is_preflight("OPTIONS", Some("POST")));
        assert!(!is_preflight("OPTIONS", None));
        assert!(!is_preflight("GET", Some("POST")));
    }

    #[test]
    fn every_answer_varies_on_origin_when_cors_is_on() {
        let on = CorsPolicy::from_list("http://a.example");
        let vary = |headers: Vec<(&'static str, String)>| {
            headers
                .into_iter()
                .find(|(name, _)| *name == "Vary")
                .map(|(_, v)| v)
        };
        assert_eq!(
            vary(answer_headers(&on, None, false, None)).as_deref(),
            Some("Origin")
        );
        assert_eq!(
            vary(answer_headers(
                &on,
                Some("http://b.example"),
                false,
                Some("Accept")
            ))
            .as_deref(),
            Some("Accept, Origin")
        );
        assert_eq!(vary(answer_headers(&on, None, false, Some("origin"))), None);
        assert!(answer_headers(&CorsPolicy::default(), Some("x"), true, None).is_empty());
    }

    #[test]
    fn vary_is_appended_not_replaced() {
        assert_eq!(vary_with_origin(None).as_deref(), Some("Origin"));
        assert_eq!(vary_with_origin(Some(" ")).as_deref(), Some("Origin"));
        assert_eq!(
            vary_with_origin(Some("Accept-Encoding")).as_deref(),
            Some("Accept-Encoding, Origin")
        );
        assert_eq!(vary_with_origin(Some("accept, origin")), None);
        assert_eq!(vary_with_origin(Some("*")), None);
    }
}
