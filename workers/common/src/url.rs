//! The parts of a request URL the workers route on, and query parameters.

use crate::cursor::CursorKey;
use crate::problem::Problem;
use std::borrow::Cow;

/// Splits an absolute URL into its path and its query (without `?`).
pub fn path_and_query(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let from_path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let without_fragment = from_path.split('#').next().unwrap_or(from_path);
    match without_fragment.split_once('?') {
        Some((path, query)) => (path, query),
        None => (without_fragment, ""),
    }
}

/// The path's segments after the leading `/`, e.g. `["users", "1"]`.
pub fn segments(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

/// The decoded value of the first query parameter called `name`.
pub fn query_param<'a>(query: &'a str, name: &str) -> Result<Option<Cow<'a, str>>, Problem> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key)? == name {
            return percent_decode(value).map(Some);
        }
    }
    Ok(None)
}

/// Decodes `%XX` escapes and `+` as a space; refuses invalid escapes and
/// invalid UTF-8.
pub fn percent_decode(raw: &str) -> Result<Cow<'_, str>, Problem> {
    if !raw.contains(['%', '+']) {
        return Ok(Cow::Borrowed(raw));
    }
    let invalid = || Problem::bad_request("the query string has an invalid percent-encoding");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(invalid)?;
                let hex = std::str::from_utf8(hex).map_err(|_| invalid())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| invalid())
}

/// A page of a listing: `?limit=1..=100&cursor=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// Reads `limit` and `cursor`; `scope` is what the listing lists (its
    /// key prefix), which the cursor must have been sealed for with `key`.
    pub fn from_query(query: &str, scope: &str, key: &CursorKey) -> Result<Self, Problem> {
        let limit = match query_param(query, "limit")? {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "limit must be a whole number from 1 to {}",
                        Self::MAX_LIMIT
                    ))
                })?,
        };
        let cursor = match query_param(query, "cursor")? {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(key.open(scope, &c).ok_or_else(|| {
                Problem::bad_request("cursor is not one this service handed out")
            })?),
        };
        Ok(Self { limit, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_query() {
        assert_eq!(
            path_and_query("http://h/users/1?x=1#f"),
            ("/users/1", "x=1")
        );
        assert_eq!(path_and_query("https://h:8787/users"), ("/users", ""));
        assert_eq!(path_and_query("http://h"), ("/", ""));
        assert_eq!(path_and_query("http://h/?a"), ("/", "a"));
    }

    #[test]
    fn segments_skip_the_leading_slash_only() {
        assert_eq!(segments("/users/1"), ["users", "1"]);
        assert_eq!(segments("/"), Vec::<&str>::new());
        assert_eq!(segments("/users/"), ["users", ""]);
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("a=1&ids=101%2C102", "ids").unwrap().as_deref(),
            Some("101,102")
        );
        assert_eq!(query_param("a=x+y", "a").unwrap().as_deref(), Some("x y"));
        assert_eq!(query_param("a", "a").unwrap().as_deref(), Some(""));
        assert_eq!(query_param("", "a").unwrap(), None);
        assert_eq!(query_param("a=%zz", "a").unwrap_err().status, 400);
        assert_eq!(query_param("a=%ff", "a").unwrap_err().status, 400);
        assert_eq!(query_param("a=%4", "a").unwrap_err().status, 400);
    }

    fn key() -> CursorKey {
        CursorKey::from_secret("test")
    }

    #[test]
    fn pages_default_and_bound_the_limit() {
        let default = PageRequest::from_query("", "user:", &key()).unwrap();
        assert_eq!(
            default,
            PageRequest {
                limit: 20,
                cursor: None
            }
        );
        let sealed = key().seal("user:", "kv-cursor");
        let page = PageRequest::from_query(&format!("limit=100&cursor={sealed}"), "user:", &key())
            .unwrap();
        assert_eq!(
            (page.limit, page.cursor.as_deref()),
            (100, Some("kv-cursor"))
        );
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "limit=-1",
            "limit=",
            "cursor=abc",
            "cursor=a%20b",
        ] {
            assert_eq!(
                PageRequest::from_query(bad, "user:", &key())
                    .unwrap_err()
                    .status,
                400,
                "{bad}"
            );
        }
    }
}
