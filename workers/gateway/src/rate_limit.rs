//! Rate limiting with the Workers Rate Limiting binding: every request
//! counts against its client address, refused ones included; a request
//! whose credentials proved an identity (a key's label, or a token's
//! `sub`) counts against that identity as well.

use common::Problem;

/// The limiter's key for a client address (`CF-Connecting-IP`).
pub fn address_key(ip: Option<&str>) -> String {
    match ip {
        Some(ip) => format!("ip:{ip}"),
        None => "anonymous".to_string(),
    }
}

pub fn rate_limited(retry_after_secs: u64) -> Problem {
    Problem::new(
        429,
        "rate-limited",
        "Too many requests",
        "the rate limit for this caller is used up",
    )
    .with_header("Retry-After", retry_after_secs.to_string())
}

#[cfg(target_arch = "wasm32")]
pub use glue::admit;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::rate_limited;
    use common::glue::describe;
    use common::glue::env::binding;
    use common::glue::env::Env;
    use common::glue::promise::settled;
    use common::Problem;
    use js_sys::{Object, Promise, Reflect};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    #[wasm_bindgen]
    extern "C" {
        /// The Workers Rate Limiting binding.
        type RateLimit;

        #[wasm_bindgen(method, catch, js_name = limit)]
        fn limit_call(this: &RateLimit, options: &Object) -> Result<Promise, JsValue>;
    }

    /// `Ok` while `key` is within its limit. A limiter that is missing or
    /// fails lets the request through: rate limiting protects the
    /// services, it must not take them down.
    pub async fn admit(env: &Env, key: &str, retry_after_secs: u64) -> Result<(), Problem> {
        let Some(limiter) = binding(env, "RATE_LIMITER") else {
            return Ok(());
        };
        match within_limit(&limiter.unchecked_into(), key).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(rate_limited(retry_after_secs)),
            Err(error) => {
                common::console_error!(
                    "rate limiter failed, request let through: {}",
                    describe(&error)
                );
                Ok(())
            }
        }
    }

    async fn within_limit(limiter: &RateLimit, key: &str) -> Result<bool, JsValue> {
        let options = Object::new();
        Reflect::set(&options, &"key".into(), &key.into())?;
        let outcome = settled(limiter.limit_call(&options)?).await?;
        Ok(Reflect::get(&outcome, &"success".into())?.is_truthy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keys_of_their_own() {
        assert_eq!(address_key(Some("192.0.2.1")), "ip:192.0.2.1");
        assert_eq!(address_key(None), "anonymous");
    }

    #[test]
    fn a_429_says_when_to_retry() {
        let problem = rate_limited(60);
        assert_eq!(problem.status, 429);
        assert_eq!(problem.headers, vec![("Retry-After", "60".to_string())]);
    }
}
