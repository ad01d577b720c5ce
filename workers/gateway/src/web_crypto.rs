//! JWT verification with the runtime's Web Crypto: the JWK set fetched from
//! the provider, its keys imported with `crypto.subtle.importKey("jwk", …)`
//! and cached per isolate (`jwks_cache.rs` decides when to fetch), and the
//! signature checked with `crypto.subtle.verify`. Everything else about the
//! token is decided in `jwt.rs`.

use crate::jwk::{parse_jwks, Jwk, MAX_JWKS_BYTES};
use crate::jwks_cache::{Found, KeyCache, Plan};
use crate::jwt::{Algorithm, Identity, JwtRejection, JwtSettings, Token};
use common::glue::describe;
use common::glue::platform::now_millis;
use common::glue::promise::settled;
use common::glue::stream::declared_length;
use common::glue::{js_sys, web_sys};
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortSignal, RequestInit, Response};

/// The JWK set fetch's budget, its body included.
const JWKS_TIMEOUT_MS: u32 = 3000;

thread_local! {
    /// Per isolate; the values are `CryptoKey`s.
    static KEYS: RefCell<KeyCache<JsValue>> = RefCell::new(KeyCache::default());
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key: &Object,
        algorithm: &Object,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(
        algorithm: &Object,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_name = fetch)]
    fn global_fetch(url: &str, init: &RequestInit) -> Result<Promise, JsValue>;
}

/// Verifies a compact JWT: header, key, signature, then claims. The seam
/// for the auth concern; it logs what went wrong with the JWK set, and the
/// caller logs the rejection's reason.
pub async fn verify_bearer(token: &str, settings: &JwtSettings) -> Result<Identity, JwtRejection> {
    let token = Token::parse(token, &settings.algorithms)?;
    let key = key_for(&token, settings).await?;
    if !signature_holds(&key, &token).await {
        return Err(JwtRejection::BadSignature);
    }
    token.identity(settings, now_millis() as f64 / 1000.0)
}

/// The imported key for the token's `kid` and `alg`, fetching the JWK set
/// first when the cache policy says so. This request does its own fetch:
/// awaiting another request's would get it cancelled.
async fn key_for(token: &Token<'_>, settings: &JwtSettings) -> Result<JsValue, JwtRejection> {
    let plan = KEYS.with(|keys| keys.borrow_mut().plan(&token.kid, now_millis()));
    if plan == Plan::Fetch {
        let fetched = fetch_jwks(&settings.jwks_url).await;
        KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            match fetched {
                Ok(set) => keys.store(set, now_millis()),
                Err(why) => {
                    common::console_error!("JWK set fetch failed, cached keys kept: {why}");
                    keys.fetch_failed(now_millis());
                }
            }
        });
    }
    match KEYS.with(|keys| keys.borrow().find(&token.kid, token.alg))? {
        Found::Imported(key) => Ok(key),
        Found::Import(jwk) => {
            let key = import(&jwk, token.alg).await.map_err(|error| {
                common::console_error!(
                    "JWK {} not importable for {}: {}",
                    jwk.kid,
                    token.alg.name(),
                    describe(&error)
                );
                JwtRejection::UnusableKey
            })?;
            KEYS.with(|keys| keys.borrow_mut().remember(&jwk, token.alg, key.clone()));
            Ok(key)
        }
    }
}

async fn fetch_jwks(url: &str) -> Result<Vec<Jwk>, String> {
    let failed = |error: JsValue| describe(&error);
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(&AbortSignal::timeout_with_u32(JWKS_TIMEOUT_MS)));
    let response: Response = settled(global_fetch(url, &init).map_err(failed)?)
        .await
        .map_err(failed)?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("answered {}", response.status()));
    }
    if declared_length(&response.headers()).is_some_and(|length| length > MAX_JWKS_BYTES) {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let body = settled(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    parse_jwks(&body)
}

/// Imports the JWK's public members only, for verifying with `alg`.
async fn import(jwk: &Jwk, alg: Algorithm) -> Result<JsValue, JsValue> {
    let key = Object::new();
    for (name, value) in jwk.import_members() {
        Reflect::set(&key, &name.into(), &value.into())?;
    }
    let usages = Array::of1(&"verify".into());
    settled(import_key("jwk", &key, &algorithm(alg)?, false, &usages)?).await
}

async fn signature_holds(key: &JsValue, token: &Token<'_>) -> bool {
    let verified = async {
        // Copies: the runtime may read them after wasm memory has moved.
        let signature = Uint8Array::from(token.signature.as_slice());
        let data = Uint8Array::from(token.signing_input.as_bytes());
        settled(subtle_verify(
            &algorithm(token.alg)?,
            key,
            &signature,
            &data,
        )?)
        .await
    };
    match verified.await {
        Ok(valid) => valid.as_bool() == Some(true),
        Err(error) => {
            common::console_error!("crypto.subtle.verify threw: {}", describe(&error));
            false
        }
    }
}

/// The Web Crypto algorithm object for `alg` (see `Algorithm::web_crypto`).
fn algorithm(alg: Algorithm) -> Result<Object, JsValue> {
    let params = alg.web_crypto();
    let object = Object::new();
    Reflect::set(&object, &"name".into(), &params.name.into())?;
    if let Some(hash) = params.hash {
        Reflect::set(&object, &"hash".into(), &hash.into())?;
    }
    if let Some(curve) = params.named_curve {
        Reflect::set(&object, &"namedCurve".into(), &curve.into())?;
    }
    if let Some(salt) = params.salt_length {
        Reflect::set(&object, &"saltLength".into(), &salt.into())?;
    }
    Ok(object)
}
