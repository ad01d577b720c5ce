//! Header hygiene: the security headers every answer carries (with the
//! content security policy of what it is: the API, or its reference page), and the
//! headers never forwarded to a service (hop-by-hop ones, those the
//! `Connection` header names, and the caller's credentials).

/// On every answer the gateway sends, with a `Content-Security-Policy`.
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
];

/// What an answer may load once a browser has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentPolicy {
    /// The API's answers (and the gateway's own problems): nothing.
    Api,
    /// The API reference at `/docs` and its files.
    Docs,
}

/// Nothing at all, and no framing.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Swagger UI's page loads its own script, style sheets and icon from this
/// origin, draws the `data:` SVG icons its style sheet embeds, and its "Try
/// it out" calls the API on this origin. Nothing inline, no eval, no
/// framing, no `<base>`, no form posts. (`'self'` cannot name a path; the
/// other same-origin answers are JSON with `nosniff`, which no script or
/// style sheet tag runs.)
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

impl ContentPolicy {
    pub fn header_value(self) -> &'static str {
        match self {
            ContentPolicy::Api => API_CSP,
            ContentPolicy::Docs => DOCS_CSP,
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110
/// §7.6.1), plus the caller's credentials: none of them is forwarded.
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

/// The header names a `Connection` header lists, skipping empty entries
/// and anything that is not a valid header name.
pub fn connection_options(connection: &str) -> impl Iterator<Item = &str> {
    connection
        .split(',')
        .map(str::trim)
        .filter(|name| is_header_name(name))
}

/// An RFC 9110 token: what a header name may be.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The names a forwarded request leaves out: the fixed ones, those its
/// `Connection` header lists, and the body's length when no body goes on
/// (a GET or HEAD that came with one).
pub fn not_forwarded(connection: Option<&str>, sends_body: bool) -> Vec<&str> {
    let mut names = NOT_FORWARDED.to_vec();
    names.extend(connection.into_iter().flat_map(connection_options));
    if !sends_body {
        names.push("content-length");
    }
    names
}

/// The security headers of an answer under `policy`.
pub fn security_headers(policy: ContentPolicy) -> Vec<(&'static str, String)> {
    let mut fields: Vec<(&'static str, String)> = SECURITY_HEADERS
        .iter()
        .map(|(name, value)| (*name, value.to_string()))
        .collect();
    fields.push(("Content-Security-Policy", policy.header_value().to_string()));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_lists_only_valid_names() {
        let listed: Vec<&str> =
            connection_options("keep-alive, X-Hop ,, \u{7f}bad, a b, , close").collect();
        assert_eq!(listed, ["keep-alive", "X-Hop", "close"]);
        assert_eq!(connection_options(",,,").count(), 0);
        assert_eq!(connection_options("").count(), 0);
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(is_header_name("X-Request-Id"));
        assert!(is_header_name("a!#$%&'*+-.^_`|~9"));
        for bad in ["", "a b", "a:b", "é", "a\tb", "(x)", "a/b"] {
            assert!(!is_header_name(bad), "{bad:?}");
        }
    }

    /// The directives of a policy, by name.
    fn directives(policy: &str) -> Vec<(&str, Vec<&str>)> {
        policy
            .split(';')
            .map(|directive| {
                let mut words = directive.split_whitespace();
                (words.next().unwrap_or(""), words.collect())
            })
            .collect()
    }

    #[test]
    fn api_answers_may_load_nothing() {
        assert_eq!(
            ContentPolicy::Api.header_value(),
            "default-src 'none'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn the_docs_page_may_load_only_its_own_files_and_call_its_own_api() {
        let policy = directives(ContentPolicy::Docs.header_value());
        let expected: Vec<(&str, Vec<&str>)> = vec![
            ("default-src", vec!["'none'"]),
            ("script-src", vec!["'self'"]),
            ("style-src", vec!["'self'"]),
            ("img-src", vec!["'self'", "data:"]),
            ("connect-src", vec!["'self'"]),
            ("base-uri", vec!["'none'"]),
            ("form-action", vec!["'none'"]),
            ("frame-ancestors", vec!["'none'"]),
        ];
        assert_eq!(policy, expected);
    }

    #[test]
    fn security_headers_leave_the_policy_to_the_content() {
        let names: Vec<&str> = SECURITY_HEADERS.iter().map(|(name, _)| *name).collect();
        assert!(!names.contains(&"Content-Security-Policy"));
        assert!(names.iter().all(|name| is_header_name(name)));
    }

    #[test]
    fn what_connection_lists_stays_behind_too() {
        let names = not_forwarded(Some("X-Hop, bad name("), true);
        assert!(names.contains(&"X-Hop") && names.contains(&"authorization"));
        assert!(!names.contains(&"bad name("));
        assert_eq!(not_forwarded(None, true).len(), NOT_FORWARDED.len());
    }

    #[test]
    fn a_body_left_behind_takes_its_length_with_it() {
        assert!(!not_forwarded(None, true).contains(&"content-length"));
        assert!(not_forwarded(None, false).contains(&"content-length"));
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        for name in ["authorization", "connection", "te", "upgrade", "keep-alive"] {
            assert!(NOT_FORWARDED.contains(&name), "{name}");
        }
        assert!(NOT_FORWARDED.iter().all(|name| is_header_name(name)));
    }
}
