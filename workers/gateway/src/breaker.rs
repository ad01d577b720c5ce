//! A circuit breaker per service: after `threshold` consecutive failures it
//! opens and refuses calls at once; after `cooldown` it lets one trial call
//! through, and that call's outcome closes or reopens it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub threshold: u32,
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: u64,
    },
    /// A trial call is in flight; others are refused until it ends.
    Trial {
        started_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: State::Closed { failures: 0 },
        }
    }
}

/// A refused call, and the seconds after which to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_secs: u64,
}

impl Breaker {
    /// Whether a call may go out now.
    pub fn admit(&mut self, policy: BreakerPolicy, now_ms: u64) -> Result<(), Refused> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until_ms } if now_ms >= until_ms => {
                self.state = State::Trial { started_ms: now_ms };
                Ok(())
            }
            State::Open { until_ms } => Err(refused(until_ms - now_ms)),
            // A trial that never reported back (its request was cancelled)
            // must not hold the breaker open for ever.
            State::Trial { started_ms } if now_ms >= started_ms + policy.cooldown_ms => {
                self.state = State::Trial { started_ms: now_ms };
                Ok(())
            }
            State::Trial { started_ms } => Err(refused(started_ms + policy.cooldown_ms - now_ms)),
        }
    }

    pub fn record_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub fn record_failure(&mut self, policy: BreakerPolicy, now_ms: u64) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < policy.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until_ms: now_ms + policy.cooldown_ms,
            },
        };
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

fn refused(remaining_ms: u64) -> Refused {
    Refused {
        retry_after_secs: remaining_ms.div_ceil(1000).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        threshold: 3,
        cooldown_ms: 10_000,
    };

    fn tripped(now: u64) -> Breaker {
        let mut breaker = Breaker::default();
        for _ in 0..POLICY.threshold {
            breaker.admit(POLICY, now).unwrap();
            breaker.record_failure(POLICY, now);
        }
        breaker
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let mut breaker = Breaker::default();
        breaker.record_failure(POLICY, 0);
        breaker.record_failure(POLICY, 0);
        breaker.record_success();
        breaker.record_failure(POLICY, 0);
        breaker.record_failure(POLICY, 0);
        assert!(!breaker.is_open());
        assert!(tripped(0).is_open());
    }

    #[test]
    fn refuses_with_retry_after_until_the_cooldown_ends() {
        let mut breaker = tripped(1_000);
        assert_eq!(
            breaker.admit(POLICY, 1_000),
            Err(Refused {
                retry_after_secs: 10
            })
        );
        assert_eq!(
            breaker.admit(POLICY, 10_500),
            Err(Refused {
                retry_after_secs: 1
            })
        );
    }

    #[test]
    fn one_trial_then_closes_on_success() {
        let mut breaker = tripped(0);
        assert_eq!(breaker.admit(POLICY, 10_000), Ok(()));
        assert!(
            breaker.admit(POLICY, 10_001).is_err(),
            "only one trial at a time"
        );
        breaker.record_success();
        assert_eq!(breaker.admit(POLICY, 10_002), Ok(()));
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_failed_trial_reopens() {
        let mut breaker = tripped(0);
        breaker.admit(POLICY, 10_000).unwrap();
        breaker.record_failure(POLICY, 10_000);
        assert_eq!(
            breaker.admit(POLICY, 10_001),
            Err(Refused {
                retry_after_secs: 10
            })
        );
    }

    #[test]
    fn an_abandoned_trial_expires() {
        let mut breaker = tripped(0);
        breaker.admit(POLICY, 10_000).unwrap();
        assert_eq!(breaker.admit(POLICY, 20_000), Ok(()));
    }
}
