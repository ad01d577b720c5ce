//! The gateway's settings, read once per isolate from `[vars]`, with
//! defaults for the ones absent or invalid.

use crate::breaker::BreakerPolicy;
use crate::cors::CorsPolicy;
use crate::upstream::UpstreamPolicy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cors: CorsPolicy,
    pub upstream: UpstreamPolicy,
    /// `Retry-After` on a 429: the rate limit's period.
    pub rate_limit_period_secs: u64,
}

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, default: u64| {
            var(name)
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Self {
            cors: CorsPolicy::from_list(&var("ALLOWED_ORIGINS").unwrap_or_default()),
            upstream: UpstreamPolicy {
                timeout_ms: number("UPSTREAM_TIMEOUT_MS", 3000),
                breaker: BreakerPolicy {
                    threshold: u32::try_from(number("BREAKER_THRESHOLD", 5)).unwrap_or(u32::MAX),
                    cooldown_ms: number("BREAKER_COOLDOWN_MS", 10_000),
                },
            },
            rate_limit_period_secs: number("RATE_LIMIT_PERIOD_SECS", 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_apply_when_vars_are_absent_or_invalid() {
        let s = settings(&[("UPSTREAM_TIMEOUT_MS", "soon"), ("BREAKER_THRESHOLD", "0")]);
        assert_eq!(s.upstream.timeout_ms, 3000);
        assert_eq!(
            s.upstream.breaker,
            BreakerPolicy {
                threshold: 5,
                cooldown_ms: 10_000
            }
        );
        assert_eq!(s.rate_limit_period_secs, 60);
        assert!(!s.cors.is_enabled());
    }

    #[test]
    fn vars_override_the_defaults() {
        let s = settings(&[
            ("UPSTREAM_TIMEOUT_MS", " 300 "),
            ("BREAKER_THRESHOLD", "3"),
            ("BREAKER_COOLDOWN_MS", "500"),
            ("RATE_LIMIT_PERIOD_SECS", "10"),
            ("ALLOWED_ORIGINS", "http://localhost:3000"),
        ]);
        assert_eq!(s.upstream.timeout_ms, 300);
        assert_eq!(s.upstream.breaker.threshold, 3);
        assert_eq!(s.upstream.breaker.cooldown_ms, 500);
        assert_eq!(s.rate_limit_period_secs, 10);
        assert!(s.cors.is_enabled());
    }
}
