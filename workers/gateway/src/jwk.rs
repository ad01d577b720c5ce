//! The provider's JWK set (RFC 7517): its public signing keys, and which
//! key may verify which token.

use crate::json::Json;
use crate::jwt::{base64url_decode, Algorithm, JwtRejection};

/// Larger JWK sets are refused (a provider publishes a handful of keys).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// RFC 7518 §3.3: RSA keys of 2048 bits or more.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One public signing key. Only the public members are kept: a private
/// member published by mistake is never passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    /// The JWK's own `alg`, as published (it may name an algorithm the
    /// gateway does not verify).
    pub alg: Option<String>,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa { n: String, e: String },
    Ec { crv: String, x: String, y: String },
    Ed25519 { x: String },
}

/// The signing keys of a JWK set document. Keys the gateway cannot use (no
/// `kid`, for encryption, of another type) are skipped; a document that is
/// not a JWK set, or leaves no usable key, is an error (and the keys
/// cached before it stay in use).
pub fn parse_jwks(body: &str) -> Result<Vec<Jwk>, String> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let set = Json::parse(body.as_bytes()).ok_or("not JSON")?;
    let Some(Json::Array(keys)) = set.get("keys") else {
        return Err("not a JWK set".to_string());
    };
    let keys: Vec<Jwk> = keys.iter().filter_map(Jwk::read).collect();
    if keys.is_empty() {
        return Err("no usable signing key".to_string());
    }
    Ok(keys)
}

impl Jwk {
    /// A key of the set, if the gateway can verify with it. A member of
    /// the wrong JSON type makes the key unusable.
    fn read(key: &Json) -> Option<Self> {
        let text = |name| key.string(name).ok();
        let owned = |name| Some(text(name)??.to_string());
        let kid = text("kid")??.to_string();
        if kid.is_empty() {
            return None;
        }
        let for_signing = text("use")?.is_none_or(|u| u == "sig")
            && key
                .strings("key_ops")
                .ok()?
                .is_none_or(|ops| ops.contains(&"verify"));
        if !for_signing {
            return None;
        }
        let material = match (text("kty")??, text("crv")?) {
            ("RSA", _) => KeyMaterial::Rsa {
                n: owned("n").filter(|n| rsa_modulus_is_large_enough(n))?,
                e: owned("e")?,
            },
            ("EC", Some(crv @ ("P-256" | "P-384"))) => KeyMaterial::Ec {
                crv: crv.to_string(),
                x: owned("x")?,
                y: owned("y")?,
            },
            ("OKP", Some("Ed25519")) => KeyMaterial::Ed25519 { x: owned("x")? },
            _ => return None,
        };
        Some(Self {
            kid,
            alg: text("alg")?.map(str::to_string),
            material,
        })
    }

    /// Whether this key may verify a token signed with `alg`: the key type
    /// (and curve) must fit the algorithm, and a JWK that names its `alg`
    /// must name exactly the token's. A JWK without `alg` is accepted for
    /// every algorithm its type fits (RFC 7517 §4.4 makes `alg` optional;
    /// an RSA key may then verify both RS* and PS*, which needs the same
    /// private key to forge, so nothing is confused).
    pub fn fits(&self, alg: Algorithm) -> bool {
        let type_fits = match (&self.material, alg) {
            (
                KeyMaterial::Rsa { .. },
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
            ) => true,
            (KeyMaterial::Ec { crv, .. }, Algorithm::ES256) => crv == "P-256",
            (KeyMaterial::Ec { crv, .. }, Algorithm::ES384) => crv == "P-384",
            (KeyMaterial::Ed25519 { .. }, Algorithm::EdDSA) => true,
            _ => false,
        };
        type_fits && self.alg.as_deref().is_none_or(|own| own == alg.name())
    }

    /// The members of the JWK handed to `crypto.subtle.importKey("jwk", …)`.
    pub fn import_members(&self) -> Vec<(&'static str, &str)> {
        match &self.material {
            KeyMaterial::Rsa { n, e } => vec![("kty", "RSA"), ("n", n), ("e", e)],
            KeyMaterial::Ec { crv, x, y } => vec![("kty", "EC"), ("crv", crv), ("x", x), ("y", y)],
            KeyMaterial::Ed25519 { x } => vec![("kty", "OKP"), ("crv", "Ed25519"), ("x", x)],
        }
    }
}

fn rsa_modulus_is_large_enough(n: &str) -> bool {
    base64url_decode(n).is_some_and(|bytes| {
        let significant = bytes.iter().skip_while(|b| **b == 0).count();
        significant >= MIN_RSA_MODULUS_BYTES
    })
}

/// The key for `kid` that may verify `alg`, among `keys`.
pub fn select<'a>(
    keys: impl IntoIterator<Item = &'a Jwk>,
    kid: &str,
    alg: Algorithm,
) -> Result<&'a Jwk, JwtRejection> {
    let mut kid_known = false;
    for key in keys.into_iter().filter(|key| key.kid == kid) {
        kid_known = true;
        if key.fits(alg) {
            return Ok(key);
        }
    }
    Err(match kid_known {
        true => JwtRejection::KeyMismatch,
        false => JwtRejection::UnknownKid,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jwt::tests::base64url_encode;

    pub fn rsa_n() -> String {
        base64url_encode(&[0xc5; 256])
    }

    pub fn rsa_key(kid: &str, alg: Option<&str>) -> Jwk {
        Jwk {
            kid: kid.to_string(),
            alg: alg.map(str::to_string),
            material: KeyMaterial::Rsa {
                n: rsa_n(),
                e: "AQAB".to_string(),
            },
        }
    }

    fn ec_key(kid: &str, crv: &str) -> Jwk {
        Jwk {
            kid: kid.to_string(),
            alg: None,
            material: KeyMaterial::Ec {
                crv: crv.to_string(),
                x: "eA".to_string(),
                y: "eQ".to_string(),
            },
        }
    }

    fn ed_key(kid: &str) -> Jwk {
        Jwk {
            kid: kid.to_string(),
            alg: Some("EdDSA".to_string()),
            material: KeyMaterial::Ed25519 {
                x: "eA".to_string(),
            },
        }
    }

    #[test]
    fn a_provider_set_keeps_its_signing_keys() {
        let n = rsa_n();
        let body = format!(
            r#"{{"keys":[
            {{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"{n}","e":"AQAB","d":"private!"}},
            {{"kty":"EC","kid":"e1","crv":"P-256","x":"eA","y":"eQ","key_ops":["verify"]}},
            {{"kty":"OKP","kid":"o1","crv":"Ed25519","x":"eA","alg":"EdDSA"}},
            {{"kty":"RSA","kid":"enc","use":"enc","n":"{n}","e":"AQAB"}},
            {{"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":"{n}","e":"AQAB"}},
            {{"kty":"RSA","n":"{n}","e":"AQAB"}},
            {{"kty":"RSA","kid":"small","n":"{}","e":"AQAB"}},
            {{"kty":"EC","kid":"p521","crv":"P-521","x":"eA","y":"eQ"}},
            {{"kty":"EC","kid":"noy","crv":"P-256","x":"eA"}},
            {{"kty":"OKP","kid":"x25519","crv":"X25519","x":"eA"}},
            {{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}},
            {{"kid":"nokty"}},
            "junk"
            ]}}"#,
            base64url_encode(&[0xc5; 128])
        );
        let keys = parse_jwks(&body).unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["r1", "e1", "o1"]);
        assert_eq!(keys[0], rsa_key("r1", Some("RS256")));
        assert_eq!(
            keys[0].import_members(),
            vec![("kty", "RSA"), ("n", n.as_str()), ("e", "AQAB")]
        );
        assert_eq!(
            keys[2].import_members(),
            vec![("kty", "OKP"), ("crv", "Ed25519"), ("x", "eA")]
        );
    }

    #[test]
    fn documents_that_are_not_usable_sets_are_errors() {
        for body in [
            "",
            "[]",
            r#"{"keys":{}}"#,
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","kid":"h","k":"eA"}]}"#,
        ] {
            assert!(parse_jwks(body).is_err(), "{body}");
        }
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        assert!(parse_jwks(&huge).is_err());
    }

    #[test]
    fn a_key_fits_its_type_and_its_own_alg() {
        let rs256 = rsa_key("r", Some("RS256"));
        assert!(rs256.fits(Algorithm::RS256));
        assert!(!rs256.fits(Algorithm::RS384));
        assert!(!rs256.fits(Algorithm::PS256));
        let any_rsa = rsa_key("r", None);
        assert!(any_rsa.fits(Algorithm::RS512) && any_rsa.fits(Algorithm::PS256));
        assert!(!any_rsa.fits(Algorithm::ES256) && !any_rsa.fits(Algorithm::EdDSA));
        assert!(ec_key("e", "P-256").fits(Algorithm::ES256));
        assert!(!ec_key("e", "P-256").fits(Algorithm::ES384));
        assert!(ec_key("e", "P-384").fits(Algorithm::ES384));
        assert!(ed_key("o").fits(Algorithm::EdDSA));
        assert!(!ed_key("o").fits(Algorithm::ES256));
        let odd = rsa_key("r", Some("RSA-OAEP"));
        assert!(Algorithm::ALL.iter().all(|alg| !odd.fits(*alg)));
    }

    #[test]
    fn selection_tells_unknown_kid_from_mismatch() {
        let keys = vec![
            rsa_key("a", Some("RS256")),
            ec_key("b", "P-256"),
            rsa_key("b", Some("PS256")),
        ];
        assert_eq!(select(&keys, "a", Algorithm::RS256), Ok(&keys[0]));
        assert_eq!(select(&keys, "b", Algorithm::PS256), Ok(&keys[2]));
        assert_eq!(select(&keys, "b", Algorithm::ES256), Ok(&keys[1]));
        assert_eq!(
            select(&keys, "a", Algorithm::PS256),
            Err(JwtRejection::KeyMismatch)
        );
        assert_eq!(
            select(&keys, "z", Algorithm::RS256),
            Err(JwtRejection::UnknownKid)
        );
        assert_eq!(
            select(&[], "a", Algorithm::RS256),
            Err(JwtRejection::UnknownKid)
        );
    }
}
