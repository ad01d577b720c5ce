//! Authentication: writes need a bearer API key (compared in constant
//! time); reads are public, and a valid key on one names its caller.

use common::Problem;

/// Who a request comes from, once its credentials are checked: the label
/// of its API key. It names the caller in rate limits and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Key(String),
}

impl Identity {
    pub fn name(&self) -> String {
        match self {
            Identity::Key(label) => format!("key:{label}"),
        }
    }
}

/// The keys from the `API_KEYS` secret: `label:key` pairs separated by
/// commas. The label names the caller in logs and rate limits; the key
/// itself is never logged.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Vec<(String, Vec<u8>)>);

impl ApiKeys {
    pub fn parse(secret: &str) -> Self {
        let keys = secret
            .split(',')
            .filter_map(|entry| {
                let (label, key) = entry.trim().split_once(':')?;
                (!label.is_empty() && !key.is_empty())
                    .then(|| (label.to_string(), key.as_bytes().to_vec()))
            })
            .collect();
        Self(keys)
    }

    /// The label of the key the `Authorization` header presents, if any.
    /// Every configured key is compared, so the time taken does not tell
    /// which one (or how much of one) matched.
    pub fn caller(&self, authorization: Option<&str>) -> Option<&str> {
        let presented = bearer_token(authorization?)?.as_bytes();
        let mut matched = None;
        for (label, key) in &self.0 {
            if constant_time_eq(presented, key) {
                matched = Some(label.as_str());
            }
        }
        matched
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let length_differs = u8::from(a.len() != b.len());
    let longest = a.len().max(b.len());
    let difference = (0..longest).fold(length_differs, |acc, i| {
        acc | (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff))
    });
    difference == 0
}

/// Writes need a key; reads are public.
pub fn needs_key(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// `Ok` when the request may go on: a read, or a write with a valid key.
pub fn require(method: &str, identity: Option<&Identity>, presented: bool) -> Result<(), Problem> {
    match (needs_key(method), identity) {
        (true, None) => Err(unauthorized(presented)),
        _ => Ok(()),
    }
}

pub fn unauthorized(presented: bool) -> Problem {
    let detail = if presented {
        "the bearer key is not valid"
    } else {
        "writes need an Authorization: Bearer <key> header"
    };
    Problem::new(401, "unauthorized", "Unauthorized", detail)
        .with_header("WWW-Authenticate", "Bearer")
}

#[cfg(target_arch = "wasm32")]
pub use glue::identify;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{ApiKeys, Identity};
    use common::glue::env::var;
    use std::cell::OnceCell;
    use worker::Env;

    thread_local! {
        static API_KEYS: OnceCell<ApiKeys> = const { OnceCell::new() };
    }

    /// The identity an `Authorization` header proves, if it proves one.
    pub fn identify(env: &Env, authorization: Option<&str>) -> Option<Identity> {
        let authorization = authorization?;
        API_KEYS.with(|cell| {
            let keys =
                cell.get_or_init(|| ApiKeys::parse(&var(env, "API_KEYS").unwrap_or_default()));
            keys.caller(Some(authorization))
                .map(|label| Identity::Key(label.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_labelled_pairs() {
        let keys = ApiKeys::parse("dev:secret-1, ci:secret-2,broken,:nolabel,nokey:");
        assert_eq!(keys.caller(Some("Bearer secret-1")), Some("dev"));
        assert_eq!(keys.caller(Some("bearer   secret-2 ")), Some("ci"));
        assert_eq!(keys.0.len(), 2);
    }

    #[test]
    fn anything_else_is_no_caller() {
        let keys = ApiKeys::parse("dev:secret-1");
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic secret-1"),
            Some("Bearer secret-"),
            Some("Bearer secret-12"),
            Some("secret-1"),
        ] {
            assert_eq!(keys.caller(header), None, "{header:?}");
        }
        assert_eq!(ApiKeys::parse("").caller(Some("Bearer x")), None);
    }

    #[test]
    fn comparison_covers_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"\xff"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn only_writes_need_a_key_and_401_says_bearer() {
        assert!(["POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .all(|m| needs_key(m)));
        assert!(!["GET", "HEAD", "OPTIONS"].iter().any(|m| needs_key(m)));
        assert_eq!(
            unauthorized(false).headers,
            vec![("WWW-Authenticate", "Bearer".to_string())]
        );
    }

    #[test]
    fn writes_without_an_identity_are_refused() {
        let dev = Identity::Key("dev".into());
        assert_eq!(dev.name(), "key:dev");
        assert!(require("POST", Some(&dev), true).is_ok());
        assert!(require("GET", None, true).is_ok());
        assert!(require("HEAD", None, false).is_ok());
        let refused = require("DELETE", None, true).unwrap_err();
        assert_eq!(refused.status, 401);
        assert_eq!(refused.detail, "the bearer key is not valid");
    }
}
