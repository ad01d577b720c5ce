//! Header hygiene: the security headers every answer carries, and the
//! headers never forwarded to a service (hop-by-hop ones, those the
//! `Connection` header names, and the caller's credentials).

/// On every answer the gateway sends.
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

/// The names a forwarded request leaves out: the fixed ones and those
/// its `Connection` header lists.
pub fn not_forwarded(connection: Option<&str>) -> Vec<&str> {
    let mut names = NOT_FORWARDED.to_vec();
    names.extend(connection.into_iter().flat_map(connection_options));
    names
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

    #[test]
    fn what_connection_lists_stays_behind_too() {
        let names = not_forwarded(Some("X-Hop, bad name("));
        assert!(names.contains(&"X-Hop") && names.contains(&"authorization"));
        assert!(!names.contains(&"bad name("));
        assert_eq!(not_forwarded(None).len(), NOT_FORWARDED.len());
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        for name in ["authorization", "connection", "te", "upgrade", "keep-alive"] {
            assert!(NOT_FORWARDED.contains(&name), "{name}");
        }
        assert!(NOT_FORWARDED.iter().all(|name| is_header_name(name)));
    }
}
