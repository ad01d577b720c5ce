//! JWT bearer tokens from the team's identity provider: the settings, the
//! compact token, its header and claims, and why a token is refused. Pure
//! Rust; the signature itself is checked by the runtime's Web Crypto
//! (`web_crypto.rs`), with keys from the provider's JWK set (`jwk.rs`,
//! cached by the policy in `jwks_cache.rs`).

use crate::json::{Json, WrongType};
use common::Problem;

/// The asymmetric algorithms the gateway verifies. HMAC (`HS*`) and `none`
/// are never accepted: with a public key set, either one lets anybody mint
/// tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The Web Crypto algorithm parameters for one JWS algorithm, used for both
/// `importKey` and `verify` (each ignores the members it does not need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebCryptoAlgorithm {
    pub name: &'static str,
    pub hash: Option<&'static str>,
    pub named_curve: Option<&'static str>,
    pub salt_length: Option<u32>,
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JOSE `alg` names, if it is one the gateway verifies.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    pub fn web_crypto(self) -> WebCryptoAlgorithm {
        let rsa = |name, hash, salt_length| WebCryptoAlgorithm {
            name,
            hash: Some(hash),
            named_curve: None,
            salt_length,
        };
        let ecdsa = |hash, curve| WebCryptoAlgorithm {
            name: "ECDSA",
            hash: Some(hash),
            named_curve: Some(curve),
            salt_length: None,
        };
        match self {
            Algorithm::RS256 => rsa("RSASSA-PKCS1-v1_5", "SHA-256", None),
            Algorithm::RS384 => rsa("RSASSA-PKCS1-v1_5", "SHA-384", None),
            Algorithm::RS512 => rsa("RSASSA-PKCS1-v1_5", "SHA-512", None),
            // RFC 7518 §3.5: the salt is as long as the hash.
            Algorithm::PS256 => rsa("RSA-PSS", "SHA-256", Some(32)),
            Algorithm::PS384 => rsa("RSA-PSS", "SHA-384", Some(48)),
            Algorithm::PS512 => rsa("RSA-PSS", "SHA-512", Some(64)),
            Algorithm::ES256 => ecdsa("SHA-256", "P-256"),
            Algorithm::ES384 => ecdsa("SHA-384", "P-384"),
            Algorithm::EdDSA => WebCryptoAlgorithm {
                name: "Ed25519",
                hash: None,
                named_curve: None,
                salt_length: None,
            },
        }
    }

    /// The signature's exact length, where the algorithm fixes it (ECDSA's
    /// JWS form is r‖s, which is also what Web Crypto takes).
    fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::ES256 | Algorithm::EdDSA => Some(64),
            Algorithm::ES384 => Some(96),
            _ => None,
        }
    }
}

/// The JWT settings from the gateway's vars. JWT is off unless `JWKS_URL`
/// is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// Where the provider publishes its JWK set (https).
    pub jwks_url: String,
    /// The `iss` every token must carry, when set.
    pub issuer: Option<String>,
    /// An audience every token's `aud` must name, when set.
    pub audience: Option<String>,
    /// The allow-list of `alg`s; RS256 when `JWT_ALGORITHMS` is not set.
    pub algorithms: Vec<Algorithm>,
    /// How far `exp`, `nbf` and `iat` may be off, for clock skew.
    pub leeway_secs: u64,
}

pub const DEFAULT_LEEWAY_SECS: u64 = 60;
pub const MAX_LEEWAY_SECS: u64 = 300;

impl JwtSettings {
    /// `Ok(None)`: JWT is off. `Err`: the vars are contradictory or unsafe
    /// (an unknown or symmetric algorithm, a JWKS URL that is not https),
    /// and every JWT is refused until they are fixed.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let set = |name: &str| {
            var(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let Some(jwks_url) = set("JWKS_URL") else {
            return Ok(None);
        };
        if !jwks_url.starts_with("https://") {
            return Err("JWKS_URL must be an https:// URL".to_string());
        }
        let algorithms = match set("JWT_ALGORITHMS") {
            None => vec![Algorithm::RS256],
            Some(list) => parse_algorithms(&list)?,
        };
        let leeway_secs = match set("JWT_LEEWAY_SECS") {
            None => DEFAULT_LEEWAY_SECS,
            Some(value) => value
                .parse::<u64>()
                .map_err(|_| "JWT_LEEWAY_SECS must be a whole number of seconds".to_string())?
                .min(MAX_LEEWAY_SECS),
        };
        Ok(Some(Self {
            jwks_url,
            issuer: set("JWT_ISSUER"),
            audience: set("JWT_AUDIENCE"),
            algorithms,
            leeway_secs,
        }))
    }
}

fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, String> {
    let mut algorithms = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            format!("JWT_ALGORITHMS: {name} is not one of RS256/384/512, PS256/384/512, ES256/384, EdDSA")
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err("JWT_ALGORITHMS names no algorithm".to_string());
    }
    Ok(algorithms)
}

/// Why a token was refused. The caller only ever learns that the token is
/// not valid (see `problem`); the log gets the `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRejection {
    /// Not three base64url parts, or a part that is not the JSON it should be.
    Malformed,
    /// `alg` is missing, `none`, symmetric, unknown or not in the allow-list.
    AlgorithmNotAllowed,
    /// A `typ` that is not a JWT access token, or `crit` extensions.
    UnsupportedHeader,
    MissingKid,
    /// No key with this `kid` in the provider's set (after the refetch the
    /// cache policy allows).
    UnknownKid,
    /// The key with this `kid` is for another algorithm or key type.
    KeyMismatch,
    /// The runtime would not import the key.
    UnusableKey,
    /// The JWK set could not be fetched and no keys are cached.
    KeysUnavailable,
    BadSignature,
    MissingExpiry,
    Expired,
    NotYetValid,
    IssuedInFuture,
    WrongIssuer,
    WrongAudience,
    /// No `sub`, or one too long to name a caller.
    MissingSubject,
    /// The JWT settings are invalid (logged with each token refused for it).
    Misconfigured,
}

impl JwtRejection {
    /// The precise reason, for the log only.
    pub fn reason(self) -> &'static str {
        match self {
            JwtRejection::Malformed => "malformed token",
            JwtRejection::AlgorithmNotAllowed => "alg not allowed",
            JwtRejection::UnsupportedHeader => "unsupported typ or crit header",
            JwtRejection::MissingKid => "no kid in the header",
            JwtRejection::UnknownKid => "kid not in the JWK set",
            JwtRejection::KeyMismatch => "the JWK does not fit the token's alg",
            JwtRejection::UnusableKey => "the JWK could not be imported",
            JwtRejection::KeysUnavailable => "JWK set unavailable and no keys cached",
            JwtRejection::BadSignature => "bad signature",
            JwtRejection::MissingExpiry => "no exp claim",
            JwtRejection::Expired => "expired",
            JwtRejection::NotYetValid => "nbf in the future",
            JwtRejection::IssuedInFuture => "iat in the future",
            JwtRejection::WrongIssuer => "iss does not match",
            JwtRejection::WrongAudience => "aud does not match",
            JwtRejection::MissingSubject => "no usable sub claim",
            JwtRejection::Misconfigured => "JWT settings invalid",
        }
    }

    /// The answer: the same for every reason, so that it does not tell an
    /// attacker which check a forged token failed (RFC 6750 §3.1).
    pub fn problem(self) -> Problem {
        invalid_token()
    }
}

pub fn invalid_token() -> Problem {
    Problem::new(
        401,
        "unauthorized",
        "Unauthorized",
        "the bearer token is not valid",
    )
    .with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#)
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
}

/// Longer tokens are refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// A `sub` longer than this does not name a caller in logs and limits.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Whether a bearer credential has the shape of a compact JWS (three
/// base64url parts, the last possibly empty as in unsigned tokens): only
/// such credentials are tried as JWTs.
pub fn looks_like_jwt(credential: &str) -> bool {
    let parts: Vec<&str> = credential.split('.').collect();
    credential.len() <= MAX_TOKEN_LEN
        && parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && credential
            .bytes()
            .all(|b| b == b'.' || base64url_value(b).is_some())
}

/// The JWT an `Authorization: Bearer …` header carries, if its credential
/// has a JWT's shape.
pub fn bearer_jwt(authorization: &str) -> Option<&str> {
    let (scheme, credential) = authorization.trim().split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && looks_like_jwt(credential)).then_some(credential)
}

/// A compact token, parsed and checked as far as it can be without the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub alg: Algorithm,
    pub kid: String,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    claims: Claims,
}

/// The claims the gateway checks; a claim of the wrong JSON type makes
/// the token malformed.
#[derive(Debug, Clone, PartialEq)]
struct Claims {
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Json>,
}

impl Claims {
    fn read(json: &Json) -> Result<Self, WrongType> {
        let text = |name| Ok::<_, WrongType>(json.string(name)?.map(str::to_string));
        Ok(Self {
            exp: json.number("exp")?,
            nbf: json.number("nbf")?,
            iat: json.number("iat")?,
            iss: text("iss")?,
            sub: text("sub")?,
            aud: json.get("aud").cloned(),
        })
    }
}

impl<'a> Token<'a> {
    /// Parses the compact form and checks the header: `alg` in `allowed`,
    /// `kid` present, no `crit`, and a `typ` (if any) that says JWT.
    pub fn parse(compact: &'a str, allowed: &[Algorithm]) -> Result<Self, JwtRejection> {
        if !looks_like_jwt(compact) {
            return Err(JwtRejection::Malformed);
        }
        let (signing_input, signature) = compact
            .rsplit_once('.')
            .filter(|(_, signature)| !signature.is_empty())
            .ok_or(JwtRejection::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(JwtRejection::Malformed)?;
        let malformed = |_: WrongType| JwtRejection::Malformed;
        let header = decode_object(header)?;
        let (alg, kid, typ) = (
            header.string("alg").map_err(malformed)?,
            header.string("kid").map_err(malformed)?,
            header.string("typ").map_err(malformed)?,
        );
        let claims = Claims::read(&decode_object(payload)?).map_err(malformed)?;
        let alg = alg
            .and_then(Algorithm::from_name)
            .filter(|alg| allowed.contains(alg))
            .ok_or(JwtRejection::AlgorithmNotAllowed)?;
        if header.get("crit").is_some() || !typ.is_none_or(is_jwt_type) {
            return Err(JwtRejection::UnsupportedHeader);
        }
        let kid = kid
            .filter(|kid| !kid.is_empty())
            .ok_or(JwtRejection::MissingKid)?
            .to_string();
        let signature = base64url_decode(signature).ok_or(JwtRejection::Malformed)?;
        if alg
            .signature_len()
            .is_some_and(|len| len != signature.len())
        {
            return Err(JwtRejection::BadSignature);
        }
        Ok(Self {
            alg,
            kid,
            signing_input,
            signature,
            claims,
        })
    }

    /// Checks the claims at `now_secs` (after the signature has been
    /// verified): `exp` required, `nbf` and `iat` when present, all within
    /// the leeway; `iss` and `aud` when configured; `sub` names the caller.
    pub fn identity(
        &self,
        settings: &JwtSettings,
        now_secs: f64,
    ) -> Result<Identity, JwtRejection> {
        let claims = &self.claims;
        let leeway = settings.leeway_secs as f64;
        let exp = claims.exp.ok_or(JwtRejection::MissingExpiry)?;
        if now_secs >= exp + leeway {
            return Err(JwtRejection::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now_secs + leeway < nbf) {
            return Err(JwtRejection::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat > now_secs + leeway) {
            return Err(JwtRejection::IssuedInFuture);
        }
        if let Some(issuer) = &settings.issuer {
            if claims.iss.as_ref() != Some(issuer) {
                return Err(JwtRejection::WrongIssuer);
            }
        }
        if let Some(audience) = &settings.audience {
            if !names_audience(claims.aud.as_ref(), audience) {
                return Err(JwtRejection::WrongAudience);
            }
        }
        let subject = claims
            .sub
            .clone()
            .filter(|sub| !sub.is_empty() && sub.len() <= MAX_SUBJECT_LEN)
            .ok_or(JwtRejection::MissingSubject)?;
        Ok(Identity { subject })
    }
}

/// `JWT`, or RFC 9068's `at+jwt`, with or without `application/`.
fn is_jwt_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ == "jwt" || typ == "at+jwt"
}

/// `aud` is one string or an array of strings (RFC 7519 §4.1.3).
fn names_audience(aud: Option<&Json>, audience: &str) -> bool {
    match aud {
        Some(Json::String(one)) => one == audience,
        Some(Json::Array(many)) => many
            .iter()
            .any(|a| matches!(a, Json::String(one) if one == audience)),
        _ => false,
    }
}

/// A base64url part that must be a JSON object.
fn decode_object(part: &str) -> Result<Json, JwtRejection> {
    base64url_decode(part)
        .and_then(|bytes| Json::parse(&bytes))
        .filter(|json| matches!(json, Json::Object(_)))
        .ok_or(JwtRejection::Malformed)
}

fn base64url_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Unpadded base64url (RFC 7515 §2), strictly: no padding, no other
/// alphabet, and unused trailing bits zero, so each byte string has exactly
/// one encoding.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 6) | u32::from(base64url_value(byte)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    (buffer == 0).then_some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn base64url_encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Option<JwtSettings>, String> {
        JwtSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn configured(vars: &[(&str, &str)]) -> JwtSettings {
        let mut all = vec![("JWKS_URL", "https://idp.example/jwks.json")];
        all.extend_from_slice(vars);
        settings(&all).unwrap().unwrap()
    }

    fn token(header: &str, claims: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            base64url_encode(header.as_bytes()),
            base64url_encode(claims.as_bytes()),
            base64url_encode(signature)
        )
    }

    const NOW: f64 = 1_800_000_000.0;

    fn claims_token(claims: &str) -> String {
        token(r#"{"alg":"RS256","kid":"k1"}"#, claims, &[1; 256])
    }

    fn identity(claims: &str, settings: &JwtSettings) -> Result<Identity, JwtRejection> {
        let compact = claims_token(claims);
        Token::parse(&compact, &settings.algorithms)?.identity(settings, NOW)
    }

    #[test]
    fn base64url_round_trips_and_is_strict() {
        for length in 0..40 {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64url_decode(&base64url_encode(&bytes)), Some(bytes));
        }
        assert_eq!(base64url_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        for bad in ["aGk=", "aGk+", "aGk/", "a", "aGl", "aGk ", "é"] {
            assert_eq!(base64url_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn jwt_is_off_without_a_jwks_url() {
        assert_eq!(settings(&[]), Ok(None));
        assert_eq!(settings(&[("JWKS_URL", "  ")]), Ok(None));
        assert_eq!(settings(&[("JWT_ISSUER", "https://idp.example")]), Ok(None));
    }

    #[test]
    fn settings_have_safe_defaults() {
        let s = configured(&[]);
        assert_eq!(s.jwks_url, "https://idp.example/jwks.json");
        assert_eq!(s.algorithms, vec![Algorithm::RS256]);
        assert_eq!(s.leeway_secs, 60);
        assert_eq!((s.issuer, s.audience), (None, None));
        let s = configured(&[
            ("JWT_ALGORITHMS", " ES256, EdDSA,ES256 ,PS512"),
            ("JWT_LEEWAY_SECS", "5000"),
            ("JWT_ISSUER", "https://idp.example/"),
            ("JWT_AUDIENCE", "api"),
        ]);
        assert_eq!(
            s.algorithms,
            vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS512]
        );
        assert_eq!(s.leeway_secs, MAX_LEEWAY_SECS);
        assert_eq!(s.issuer.as_deref(), Some("https://idp.example/"));
        assert_eq!(s.audience.as_deref(), Some("api"));
    }

    #[test]
    fn unsafe_settings_are_errors() {
        let url = ("JWKS_URL", "https://idp.example/jwks.json");
        for vars in [
            vec![("JWKS_URL", "http://idp.example/jwks.json")],
            vec![url, ("JWT_ALGORITHMS", "RS256,HS256")],
            vec![url, ("JWT_ALGORITHMS", "none")],
            vec![url, ("JWT_ALGORITHMS", "ES512")],
            vec![url, ("JWT_ALGORITHMS", ",")],
            vec![url, ("JWT_LEEWAY_SECS", "-1")],
        ] {
            assert!(settings(&vars).is_err(), "{vars:?}");
        }
    }

    #[test]
    fn web_crypto_parameters_follow_rfc_7518() {
        let p = Algorithm::PS384.web_crypto();
        assert_eq!(
            (p.name, p.hash, p.salt_length),
            ("RSA-PSS", Some("SHA-384"), Some(48))
        );
        let e = Algorithm::ES384.web_crypto();
        assert_eq!(
            (e.name, e.hash, e.named_curve),
            ("ECDSA", Some("SHA-384"), Some("P-384"))
        );
        assert_eq!(Algorithm::RS512.web_crypto().name, "RSASSA-PKCS1-v1_5");
        assert_eq!(Algorithm::EdDSA.web_crypto().name, "Ed25519");
        assert_eq!(Algorithm::EdDSA.web_crypto().hash, None);
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn only_jwt_shaped_credentials_are_tried() {
        assert!(looks_like_jwt(&claims_token("{}")));
        assert!(
            looks_like_jwt("a.b."),
            "unsigned tokens are tried, and refused"
        );
        for not in [
            "dev-key", "a.b", "a..c", ".b.c", "a.b.c.d", "a.b.c=", "a b.c.d",
        ] {
            assert!(!looks_like_jwt(not), "{not}");
        }
        assert!(!looks_like_jwt(&"a.b.".repeat(3000)));
        let jwt = claims_token("{}");
        assert_eq!(bearer_jwt(&format!("Bearer {jwt}")), Some(jwt.as_str()));
        assert_eq!(bearer_jwt(&format!(" bearer  {jwt} ")), Some(jwt.as_str()));
        assert_eq!(bearer_jwt(&format!("Basic {jwt}")), None);
        assert_eq!(bearer_jwt("Bearer dev-key"), None);
        assert_eq!(bearer_jwt(&jwt), None);
    }

    #[test]
    fn a_good_header_parses() {
        let compact = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT","jku":"https://evil.example"}"#,
            r#"{"sub":"alice","exp":1}"#,
            &[7; 64],
        );
        let parsed = Token::parse(&compact, &[Algorithm::ES256]).unwrap();
        assert_eq!((parsed.alg, parsed.kid.as_str()), (Algorithm::ES256, "k1"));
        assert_eq!(parsed.signature, vec![7; 64]);
        assert_eq!(
            parsed.signing_input,
            &compact[..compact.rfind('.').unwrap()]
        );
        for typ in ["jwt", "at+jwt", "application/at+JWT"] {
            let header = format!(r#"{{"alg":"ES256","kid":"k1","typ":"{typ}"}}"#);
            assert!(Token::parse(&token(&header, "{}", &[7; 64]), &[Algorithm::ES256]).is_ok());
        }
    }

    #[test]
    fn header_checks_refuse_algorithm_confusion() {
        let allowed = [Algorithm::RS256, Algorithm::ES256];
        let refuse = |header: &str, signature: &[u8]| {
            Token::parse(&token(header, "{}", signature), &allowed).unwrap_err()
        };
        use JwtRejection::*;
        for (header, why) in [
            (r#"{"alg":"HS256","kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"alg":"none","kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"alg":"None","kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"alg":"RS512","kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"alg":"rs256","kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"kid":"k1"}"#, AlgorithmNotAllowed),
            (r#"{"alg":"RS256"}"#, MissingKid),
            (r#"{"alg":"RS256","kid":""}"#, MissingKid),
            (
                r#"{"alg":"RS256","kid":"k1","crit":["b64"]}"#,
                UnsupportedHeader,
            ),
            (
                r#"{"alg":"RS256","kid":"k1","typ":"dpop+jwt"}"#,
                UnsupportedHeader,
            ),
            (r#"{"alg":["RS256"],"kid":"k1"}"#, Malformed),
            (r#"{"alg":"RS256","kid":7}"#, Malformed),
            (r#"not json"#, Malformed),
        ] {
            assert_eq!(refuse(header, &[1; 256]), why, "{header}");
        }
        assert_eq!(
            refuse(r#"{"alg":"ES256","kid":"k1"}"#, &[1; 63]),
            BadSignature
        );
        // Unsigned tokens (empty signature) are refused before anything else.
        let unsigned = format!(
            "{}.{}.",
            base64url_encode(br#"{"alg":"none","kid":"k1"}"#),
            base64url_encode(b"{}")
        );
        assert_eq!(Token::parse(&unsigned, &allowed), Err(Malformed));
        let padded = claims_token("{}") + "=";
        assert_eq!(Token::parse(&padded, &allowed), Err(Malformed));
    }

    #[test]
    fn claims_must_be_json_with_the_right_types() {
        let s = configured(&[]);
        for claims in [r#"{"exp":"soon"}"#, r#"{"sub":7}"#, "[]", "nope"] {
            assert_eq!(
                identity(claims, &s),
                Err(JwtRejection::Malformed),
                "{claims}"
            );
        }
    }

    #[test]
    fn a_current_token_names_its_subject() {
        let s = configured(&[]);
        let claims = format!(
            r#"{{"sub":"alice","exp":{},"iat":{NOW},"nbf":{NOW}}}"#,
            NOW + 60.0
        );
        assert_eq!(
            identity(&claims, &s),
            Ok(Identity {
                subject: "alice".to_string()
            })
        );
    }

    #[test]
    fn time_claims_honour_the_leeway() {
        let s = configured(&[("JWT_LEEWAY_SECS", "60")]);
        let with = |extra: &str| identity(&format!(r#"{{"sub":"a",{extra}}}"#), &s);
        use JwtRejection::*;
        assert_eq!(with(r#""iat":1"#), Err(MissingExpiry));
        assert!(with(&format!(r#""exp":{}"#, NOW - 59.0)).is_ok());
        assert_eq!(with(&format!(r#""exp":{}"#, NOW - 60.0)), Err(Expired));
        assert_eq!(with(&format!(r#""exp":{}"#, NOW - 3600.0)), Err(Expired));
        let exp = NOW + 600.0;
        assert!(with(&format!(r#""exp":{exp},"nbf":{}"#, NOW + 60.0)).is_ok());
        assert_eq!(
            with(&format!(r#""exp":{exp},"nbf":{}"#, NOW + 61.0)),
            Err(NotYetValid)
        );
        assert!(with(&format!(r#""exp":{exp},"iat":{}"#, NOW + 60.0)).is_ok());
        assert_eq!(
            with(&format!(r#""exp":{exp},"iat":{}"#, NOW + 61.0)),
            Err(IssuedInFuture)
        );
        let strict = configured(&[("JWT_LEEWAY_SECS", "0")]);
        let claims = format!(r#"{{"sub":"a","exp":{NOW}}}"#);
        assert_eq!(identity(&claims, &strict), Err(Expired));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let exp = NOW + 60.0;
        let open = configured(&[]);
        let claims = format!(r#"{{"sub":"a","exp":{exp},"iss":"other","aud":"other"}}"#);
        assert!(identity(&claims, &open).is_ok());
        let s = configured(&[("JWT_ISSUER", "https://idp"), ("JWT_AUDIENCE", "api")]);
        let with =
            |iss: &str, aud: &str| identity(&format!(r#"{{"sub":"a","exp":{exp}{iss}{aud}}}"#), &s);
        let iss = r#","iss":"https://idp""#;
        use JwtRejection::*;
        assert!(with(iss, r#","aud":"api""#).is_ok());
        assert!(with(iss, r#","aud":["web","api"]"#).is_ok());
        assert_eq!(with(iss, r#","aud":["web"]"#), Err(WrongAudience));
        assert_eq!(with(iss, r#","aud":"API""#), Err(WrongAudience));
        assert_eq!(with(iss, r#","aud":{"api":1}"#), Err(WrongAudience));
        assert_eq!(with(iss, ""), Err(WrongAudience));
        assert_eq!(
            with(r#","iss":"https://idp/""#, r#","aud":"api""#),
            Err(WrongIssuer)
        );
        assert_eq!(with("", r#","aud":"api""#), Err(WrongIssuer));
    }

    #[test]
    fn the_subject_must_name_someone() {
        let s = configured(&[]);
        let exp = NOW + 60.0;
        for sub in [String::new(), "x".repeat(MAX_SUBJECT_LEN + 1)] {
            let claims = format!(r#"{{"sub":"{sub}","exp":{exp}}}"#);
            assert_eq!(identity(&claims, &s), Err(JwtRejection::MissingSubject));
        }
        let claims = format!(r#"{{"exp":{exp}}}"#);
        assert_eq!(identity(&claims, &s), Err(JwtRejection::MissingSubject));
    }

    #[test]
    fn every_rejection_answers_the_same_401() {
        let first = JwtRejection::Expired.problem();
        assert_eq!(first.status, 401);
        assert_eq!(
            first.headers,
            vec![(
                "WWW-Authenticate",
                r#"Bearer error="invalid_token""#.to_string()
            )]
        );
        for why in [JwtRejection::BadSignature, JwtRejection::KeysUnavailable] {
            assert_eq!(why.problem(), first);
            assert!(!first.detail.contains(why.reason()));
        }
    }
}
