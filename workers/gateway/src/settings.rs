//! The gateway's settings, read once per isolate from `[vars]`, with
//! defaults for the ones absent or invalid.

use crate::breaker::BreakerPolicy;
use crate::cors::CorsPolicy;
use crate::upstream::UpstreamPolicy;
use common::deadline::LONGEST_BUDGET_MS;

/// The longest a breaker stays open before its trial call.
const LONGEST_COOLDOWN_MS: u64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cors: CorsPolicy,
    pub upstream: UpstreamPolicy,
    /// `Retry-After` on a 429: the rate limit's period.
    pub rate_limit_period_secs: u64,
}

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, default: u64, most: u64| {
            var(name)
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
                .min(most)
        };
        Self {
            cors: CorsPolicy::from_list(&var("ALLOWED_ORIGINS").unwrap_or_default()),
            upstream: UpstreamPolicy {
                timeout_ms: number("UPSTREAM_TIMEOUT_MS", 3000, LONGEST_BUDGET_MS),
                breaker: BreakerPolicy {
                    threshold: number("BREAKER_THRESHOLD", 5, u32::MAX.into()) as u32,
                    cooldown_ms: number("BREAKER_COOLDOWN_MS", 10_000, LONGEST_COOLDOWN_MS),
                },
            },
            rate_limit_period_secs: number("RATE_LIMIT_PERIOD_SECS", 60, u32::MAX.into()),
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

    #[test]
    fn times_are_capped_so_that_adding_them_to_the_clock_cannot_overflow() {
        let s = settings(&[
            ("UPSTREAM_TIMEOUT_MS", "18446744073709551615"),
            ("BREAKER_COOLDOWN_MS", "18446744073709551615"),
            ("BREAKER_THRESHOLD", "99999999999"),
        ]);
        assert_eq!(s.upstream.timeout_ms, LONGEST_BUDGET_MS);
        assert_eq!(s.upstream.breaker.cooldown_ms, LONGEST_COOLDOWN_MS);
        assert_eq!(s.upstream.breaker.threshold, u32::MAX);
    }
}
