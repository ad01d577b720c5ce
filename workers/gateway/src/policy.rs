//! The gateway's settings (from `[vars]`), CORS, header hygiene, and how an
//! upstream outcome maps to an answer.

use crate::breaker::BreakerPolicy;
use crate::routes::Upstream;
use common::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub allowed_origins: Vec<String>,
    pub upstream_timeout_ms: u64,
    pub breaker: BreakerPolicy,
    pub rate_limit_period_secs: u64,
}

impl Settings {
    /// Reads the settings from variables by name, with defaults for the
    /// ones absent or invalid.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, default: u64| {
            var(name)
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Self {
            allowed_origins: var("ALLOWED_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(|origin| origin.trim().trim_end_matches('/').to_string())
                .filter(|origin| !origin.is_empty())
                .collect(),
            upstream_timeout_ms: number("UPSTREAM_TIMEOUT_MS", 3000),
            breaker: BreakerPolicy {
                threshold: number("BREAKER_THRESHOLD", 5) as u32,
                cooldown_ms: number("BREAKER_COOLDOWN_MS", 10_000),
            },
            rate_limit_period_secs: number("RATE_LIMIT_PERIOD_SECS", 60),
        }
    }

    /// The `Access-Control-Allow-Origin` value for this `Origin`, when it is
    /// allowed.
    pub fn allowed_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        self.allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed == origin)
            .then_some(origin)
    }
}

pub const CORS_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const CORS_ALLOW_HEADERS: &str =
    "Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id, traceparent";
pub const CORS_EXPOSE_HEADERS: &str = "ETag, Location, Retry-After, X-Request-Id";
pub const CORS_MAX_AGE_SECS: &str = "600";

/// Headers for an allowed origin, on every answer to it.
pub fn cors_headers(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Origin", origin.to_string()),
        (
            "Access-Control-Expose-Headers",
            CORS_EXPOSE_HEADERS.to_string(),
        ),
        ("Vary", "Origin".to_string()),
    ]
}

/// The extra headers of a preflight answer.
pub fn preflight_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "Access-Control-Allow-Methods",
            CORS_ALLOW_METHODS.to_string(),
        ),
        (
            "Access-Control-Allow-Headers",
            CORS_ALLOW_HEADERS.to_string(),
        ),
        ("Access-Control-Max-Age", CORS_MAX_AGE_SECS.to_string()),
    ]
}

pub fn is_preflight(method: &str, access_control_request_method: Option<&str>) -> bool {
    method == "OPTIONS" && access_control_request_method.is_some()
}

/// On every response the gateway sends.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
];

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// plus the caller's credentials: none of them is forwarded.
pub const NOT_FORWARDED: [&str; 10] = [
    "authorization",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Who is calling, for rate limits and the access log: the key's label
/// when a key was presented, else the client's address.
pub fn caller_id(key_label: Option<&str>, ip: Option<&str>) -> String {
    match (key_label, ip) {
        (Some(label), _) => format!("key:{label}"),
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "anonymous".to_string(),
    }
}

pub fn rate_limited(retry_after_secs: u64) -> Problem {
    Problem::new(
        429,
        "rate-limited",
        "Too many requests",
        "the rate limit for this caller is used up",
    )
    .with_header("Retry-After", retry_after_secs.to_string())
}

/// What became of a forwarded call, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Answered { status: u16 },
    TimedOut,
    Threw,
}

impl CallOutcome {
    /// A service that answers 5xx, hangs or throws is failing; 4xx are the
    /// caller's doing and count as success.
    pub fn is_failure(self) -> bool {
        !matches!(self, CallOutcome::Answered { status } if status < 500)
    }
}

pub fn timed_out(upstream: Upstream, timeout_ms: u64) -> Problem {
    Problem::new(
        504,
        "upstream-timeout",
        "Gateway timeout",
        format!("{} did not answer within {timeout_ms} ms", upstream.name()),
    )
}

pub fn bad_gateway(upstream: Upstream, why: &str) -> Problem {
    Problem::new(
        502,
        "bad-gateway",
        "Bad gateway",
        format!("{} failed: {why}", upstream.name()),
    )
}

pub fn circuit_open(upstream: Upstream, retry_after_secs: u64) -> Problem {
    Problem::new(
        503,
        "circuit-open",
        "Service unavailable",
        format!("{} is failing; calls are paused", upstream.name()),
    )
    .with_header("Retry-After", retry_after_secs.to_string())
}

/// A 5xx from a service is passed on when it is a problem document (the
/// service said what went wrong); anything else becomes a 502.
pub fn passes_through(status: u16, content_type: Option<&str>) -> bool {
    status < 500 || content_type.is_some_and(|t| t.starts_with(common::problem::PROBLEM_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_apply_when_vars_are_absent_or_invalid() {
        let s = settings(&[("UPSTREAM_TIMEOUT_MS", "soon"), ("BREAKER_THRESHOLD", "0")]);
        assert_eq!(s.upstream_timeout_ms, 3000);
        assert_eq!(
            s.breaker,
            BreakerPolicy {
                threshold: 5,
                cooldown_ms: 10_000
            }
        );
        assert!(s.allowed_origins.is_empty());
    }

    #[test]
    fn only_listed_origins_get_cors() {
        let s = settings(&[(
            "ALLOWED_ORIGINS",
            "http://localhost:3000, https://app.example/",
        )]);
        assert_eq!(
            s.allowed_origin(Some("http://localhost:3000")),
            Some("http://localhost:3000")
        );
        assert_eq!(
            s.allowed_origin(Some("https://app.example")),
            Some("https://app.example")
        );
        assert_eq!(s.allowed_origin(Some("https://evil.example")), None);
        assert_eq!(s.allowed_origin(None), None);
        assert_eq!(
            settings(&[("ALLOWED_ORIGINS", "*")]).allowed_origin(Some("x")),
            Some("x")
        );
    }

    #[test]
    fn preflight_needs_the_request_method_header() {
        assert!(is_preflight("OPTIONS", Some("POST")));
        assert!(!is_preflight("OPTIONS", None));
        assert!(!is_preflight("GET", Some("POST")));
    }

    #[test]
    fn callers_are_known_by_key_label_then_address() {
        assert_eq!(caller_id(Some("dev"), Some("1.2.3.4")), "key:dev");
        assert_eq!(caller_id(None, Some("1.2.3.4")), "ip:1.2.3.4");
        assert_eq!(caller_id(None, None), "anonymous");
    }

    #[test]
    fn failures_are_5xx_timeouts_and_throws() {
        assert!(!CallOutcome::Answered { status: 404 }.is_failure());
        assert!(CallOutcome::Answered { status: 500 }.is_failure());
        assert!(CallOutcome::TimedOut.is_failure());
        assert!(CallOutcome::Threw.is_failure());
    }

    #[test]
    fn only_problem_documents_pass_through_as_5xx() {
        assert!(passes_through(200, None));
        assert!(passes_through(503, Some("application/problem+json")));
        assert!(!passes_through(500, Some("text/plain")));
        assert!(!passes_through(500, None));
    }

    #[test]
    fn failure_problems_have_their_statuses() {
        assert_eq!(timed_out(Upstream::Users, 3000).status, 504);
        assert_eq!(bad_gateway(Upstream::Users, "threw").status, 502);
        let open = circuit_open(Upstream::Products, 4);
        assert_eq!((open.status, open.headers[0].1.as_str()), (503, "4"));
        assert_eq!(
            rate_limited(60).headers,
            vec![("Retry-After", "60".to_string())]
        );
    }
}
