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

#[cfg(target_arch = "wasm32")]
pub use glue::{outbound_headers, stamp_security_headers};

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{connection_options, NOT_FORWARDED, SECURITY_HEADERS};
    use common::glue::request::Inbound;
    use wasm_bindgen::JsValue;
    use web_sys::Headers;

    /// The headers a service gets: the caller's, without the ones never
    /// forwarded, with the request id and a new trace span.
    pub fn outbound_headers(inbound: &Inbound) -> Result<Headers, JsValue> {
        let headers = Headers::new_with_headers(&inbound.headers)?;
        if let Some(connection) = inbound.header("Connection") {
            for name in connection_options(&connection) {
                headers.delete(name)?;
            }
        }
        for name in NOT_FORWARDED {
            headers.delete(name)?;
        }
        inbound.propagate_to(&headers)?;
        Ok(headers)
    }

    pub fn stamp_security_headers(headers: &Headers) -> Result<(), JsValue> {
        for (name, value) in SECURITY_HEADERS {
            headers.set(name, value)?;
        }
        Ok(())
    }
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
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        for name in ["authorization", "connection", "te", "upgrade", "keep-alive"] {
            assert!(NOT_FORWARDED.contains(&name), "{name}");
        }
        assert!(NOT_FORWARDED.iter().all(|name| is_header_name(name)));
    }
}
