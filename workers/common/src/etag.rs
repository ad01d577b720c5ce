//! Strong ETags derived from a representation's bytes, and the matching
//! rules of `If-None-Match` and `If-Match` (RFC 9110).

use crate::{Problem, Reply};

/// A stored JSON representation answered to a GET: `200` with its ETag,
/// or `304` when the client's `If-None-Match` already has it.
pub fn representation(json: String, if_none_match: Option<&str>) -> Reply {
    let tag = etag_of(json.as_bytes());
    if if_none_match.is_some_and(|header| none_match(header, &tag)) {
        return Reply::empty(304).with_header("ETag", tag);
    }
    Reply::raw_json(200, json).with_header("ETag", tag)
}

/// A write's precondition: `412` when `If-Match` is sent and does not
/// match the current representation.
pub fn require_match(if_match_header: Option<&str>, current_json: &str) -> Result<(), Problem> {
    match if_match_header {
        Some(header) if !if_match(header, &etag_of(current_json.as_bytes())) => {
            Err(Problem::precondition_failed())
        }
        _ => Ok(()),
    }
}

/// A strong ETag: the quoted 64-bit FNV-1a hash of the representation.
pub fn etag_of(representation: &[u8]) -> String {
    format!("\"{:016x}\"", crate::fnv1a64(representation))
}

/// `If-None-Match`: weak comparison, `*` matches any current representation.
pub fn none_match(header: &str, current: &str) -> bool {
    list_contains(header, current, true)
}

/// `If-Match`: strong comparison, `*` matches any current representation.
pub fn if_match(header: &str, current: &str) -> bool {
    list_contains(header, current, false)
}

fn list_contains(header: &str, current: &str, weak: bool) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(weak_tag) => weak && weak_tag == current,
            None => tag == current,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_and_change_with_content() {
        let a = etag_of(b"{\"id\":\"1\"}");
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 18);
        assert_ne!(a, etag_of(b"{\"id\":\"2\"}"));
        assert_eq!(a, etag_of(b"{\"id\":\"1\"}"));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let tag = etag_of(b"x");
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("W/{tag}"), &tag));
        assert!(none_match(&format!("\"other\", {tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
    }

    #[test]
    fn representations_carry_their_etag_or_are_not_modified() {
        let json = "{\"id\":\"1\"}".to_string();
        let fresh = representation(json.clone(), None);
        assert_eq!(
            (fresh.status, fresh.body.as_deref()),
            (200, Some(json.as_str()))
        );
        let (_, tag) = fresh
            .headers
            .iter()
            .find(|(name, _)| *name == "ETag")
            .unwrap()
            .clone();
        let cached = representation(json.clone(), Some(&tag));
        assert_eq!((cached.status, cached.body), (304, None));
        assert_eq!(representation(json, Some("\"stale\"")).status, 200);
    }

    #[test]
    fn writes_need_a_matching_if_match_when_one_is_sent() {
        let json = "{}";
        assert!(require_match(None, json).is_ok());
        assert!(require_match(Some(&etag_of(json.as_bytes())), json).is_ok());
        assert_eq!(
            require_match(Some("\"stale\""), json).unwrap_err().status,
            412
        );
    }

    #[test]
    fn if_match_compares_strongly() {
        let tag = etag_of(b"x");
        assert!(if_match(&tag, &tag));
        assert!(if_match("*", &tag));
        assert!(!if_match(&format!("W/{tag}"), &tag));
        assert!(!if_match("\"nope\"", &tag));
    }
}
