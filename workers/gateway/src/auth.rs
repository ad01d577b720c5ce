//! Authentication: writes need a bearer API key (compared in constant
//! time) or, when the gateway is configured for it, a JWT from the team's
//! identity provider (`jwt.rs`, verified in `web_crypto.rs`). Reads are
//! public; valid credentials on one name its caller.

use common::Problem;

/// Who a request comes from, once its credentials are checked. It names
/// the caller in rate limits and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The label of an API key.
    Key(String),
    /// The `sub` of a verified JWT.
    Subject(String),
}

impl Identity {
    pub fn name(&self) -> String {
        match self {
            Identity::Key(label) => format!("key:{label}"),
            Identity::Subject(subject) => format!("sub:{subject}"),
        }
    }
}

/// What a request's credentials prove: an identity, or why the ones it
/// presented were refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authentication {
    pub identity: Option<Identity>,
    refusal: Option<Problem>,
}

impl Authentication {
    pub fn of(identity: Identity) -> Self {
        Self {
            identity: Some(identity),
            refusal: None,
        }
    }

    pub fn refused(refusal: Problem) -> Self {
        Self {
            identity: None,
            refusal: Some(refusal),
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

/// Reads (GET, HEAD, OPTIONS) are public; every other method, known or
/// not, needs a key.
pub fn needs_key(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// `Ok` when the request may go on: a read (refused credentials make it
/// anonymous), or a write whose credentials proved an identity.
pub fn require(method: &str, authentication: &Authentication) -> Result<(), Problem> {
    if !needs_key(method) || authentication.identity.is_some() {
        return Ok(());
    }
    Err(authentication
        .refusal
        .clone()
        .unwrap_or_else(|| unauthorized(false)))
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
pub use glue::authenticate;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{unauthorized, ApiKeys, Authentication, Identity};
    use crate::jwt::{bearer_jwt, JwtRejection, JwtSettings};
    use crate::web_crypto::verify_bearer;
    use common::glue::env::var;
    use common::glue::env::Env;
    use std::cell::OnceCell;
    use std::rc::Rc;

    thread_local! {
        static API_KEYS: OnceCell<Rc<ApiKeys>> = const { OnceCell::new() };
        static JWT_SETTINGS: OnceCell<Result<Option<Rc<JwtSettings>>, String>> =
            const { OnceCell::new() };
    }

    /// What an `Authorization` header proves: an API key's label, else a
    /// verified JWT's subject. A refusal is logged with its reason (never
    /// the credential).
    pub async fn authenticate(
        env: &Env,
        authorization: Option<&str>,
        request_id: &str,
    ) -> Authentication {
        let Some(authorization) = authorization else {
            return Authentication::default();
        };
        if let Some(label) = api_keys(env).caller(Some(authorization)) {
            return Authentication::of(Identity::Key(label.to_string()));
        }
        let Some(token) = bearer_jwt(authorization) else {
            return Authentication::refused(unauthorized(true));
        };
        let verified = match jwt_settings(env) {
            Ok(None) => return Authentication::refused(unauthorized(true)),
            Ok(Some(settings)) => verify_bearer(token, &settings).await,
            Err(why) => {
                common::console_error!("JWT settings invalid: {why}");
                Err(JwtRejection::Misconfigured)
            }
        };
        match verified {
            Ok(verified) => Authentication::of(Identity::Subject(verified.subject)),
            Err(rejection) => {
                common::console_warn!(
                    "bearer token refused (request {request_id}): {}",
                    rejection.reason()
                );
                Authentication::refused(rejection.problem())
            }
        }
    }

    fn api_keys(env: &Env) -> Rc<ApiKeys> {
        API_KEYS.with(|cell| {
            cell.get_or_init(|| Rc::new(ApiKeys::parse(&var(env, "API_KEYS").unwrap_or_default())))
                .clone()
        })
    }

    fn jwt_settings(env: &Env) -> Result<Option<Rc<JwtSettings>>, String> {
        JWT_SETTINGS.with(|cell| {
            cell.get_or_init(|| {
                JwtSettings::from_vars(|name| var(env, name)).map(|settings| settings.map(Rc::new))
            })
            .clone()
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
    fn every_method_but_the_safe_ones_needs_a_key_and_401_says_bearer() {
        assert!(
            ["POST", "PUT", "PATCH", "DELETE", "PURGE", "patch", "PROPFIND"]
                .iter()
                .all(|m| needs_key(m))
        );
        assert!(!["GET", "HEAD", "OPTIONS"].iter().any(|m| needs_key(m)));
        assert_eq!(
            unauthorized(false).headers,
            vec![("WWW-Authenticate", "Bearer".to_string())]
        );
    }

    #[test]
    fn writes_without_an_identity_are_refused_with_the_refusal_of_what_was_presented() {
        let dev = Authentication::of(Identity::Key("dev".into()));
        assert_eq!(Identity::Key("dev".into()).name(), "key:dev");
        assert_eq!(Identity::Subject("ada".into()).name(), "sub:ada");
        assert!(require("POST", &dev).is_ok());
        let wrong_key = Authentication::refused(unauthorized(true));
        assert!(
            require("GET", &wrong_key).is_ok(),
            "a read goes on, anonymous"
        );
        assert!(require("HEAD", &Authentication::default()).is_ok());
        let refused = require("DELETE", &wrong_key).unwrap_err();
        assert_eq!(
            (refused.status, refused.detail.as_str()),
            (401, "the bearer key is not valid")
        );
        let missing = require("PUT", &Authentication::default()).unwrap_err();
        assert_eq!(
            missing.detail,
            "writes need an Authorization: Bearer <key> header"
        );
        let bad_token = Authentication::refused(crate::jwt::invalid_token());
        let refused = require("PATCH", &bad_token).unwrap_err();
        assert_eq!(
            refused.headers,
            vec![(
                "WWW-Authenticate",
                r#"Bearer error="invalid_token""#.to_string()
            )]
        );
    }
}
