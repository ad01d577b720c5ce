//! Forwarding to a service with failure isolation: a timeout per call, a
//! circuit breaker per service (per isolate), and what a failed call
//! becomes (502, 503, 504).

use crate::breaker::BreakerPolicy;
use crate::routes::Upstream;
use common::deadline;
use common::problem::PROBLEM_JSON;
use common::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamPolicy {
    pub timeout_ms: u64,
    pub breaker: BreakerPolicy,
}

/// What became of a forwarded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The service answered, and its answer is passed on: any status below
    /// 500, or a 5xx problem document in which the service says itself
    /// what went wrong (its storage, or a service it depends on).
    PassedOn,
    /// A 5xx that is not a problem document: replaced by a 502.
    Garbled,
    TimedOut,
    Threw,
}

impl CallOutcome {
    pub fn of_answer(status: u16, content_type: Option<&str>) -> Self {
        let explained = content_type.is_some_and(|t| t.starts_with(PROBLEM_JSON));
        match status < 500 || explained {
            true => CallOutcome::PassedOn,
            false => CallOutcome::Garbled,
        }
    }

    /// Whether the call counts against the service's breaker: it threw,
    /// hung, or failed without saying why. A service that answers, even
    /// with a 5xx problem about a failing dependency, is working.
    pub fn is_failure(self) -> bool {
        self != CallOutcome::PassedOn
    }
}

/// The deadline a service is given for a call that starts at `now_ms`:
/// the gateway's timeout, less the margin its answer needs to come back
/// (`deadline::for_next_hop`).
pub fn deadline_header(policy: UpstreamPolicy, now_ms: u64) -> (&'static str, String) {
    let deadline = deadline::for_next_hop(now_ms + policy.timeout_ms, now_ms);
    (deadline::DEADLINE, deadline.to_string())
}

pub fn timed_out(upstream: Upstream, timeout_ms: u64) -> Problem {
    Problem::new(
        504,
        "upstream-timeout",
        "Gateway timeout",
        format!("{} did not answer within {timeout_ms} ms", upstream.name()),
    )
}

pub fn bad_gateway(upstream: Upstream, why: &str) -> Problem {
    Problem::new(
        502,
        "bad-gateway",
        "Bad gateway",
        format!("{} failed: {why}", upstream.name()),
    )
}

pub fn circuit_open(upstream: Upstream, retry_after_secs: u64) -> Problem {
    Problem::new(
        503,
        "circuit-open",
        "Service unavailable",
        format!("{} is failing; calls are paused", upstream.name()),
    )
    .with_header("Retry-After", retry_after_secs.to_string())
}

#[cfg(target_arch = "wasm32")]
pub use glue::{forward, get, Forwarded};

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::*;
    use crate::breaker::Breaker;
    use common::glue::env::Env;
    use common::glue::platform::now_millis;
    use common::glue::request::{header, Inbound};
    use common::glue::service::{
        call_service, call_service_for_text, service, CallFailure, Outgoing,
    };
    use std::cell::RefCell;
    use web_sys::Response;

    thread_local! {
        /// Per isolate: each isolate learns about a failing service on its own.
        static BREAKERS: RefCell<[Breaker; Upstream::ALL.len()]> =
            RefCell::new([Breaker::default(); Upstream::ALL.len()]);
    }

    fn with_breaker<T>(upstream: Upstream, f: impl FnOnce(&mut Breaker) -> T) -> T {
        BREAKERS.with(|breakers| f(&mut breakers.borrow_mut()[upstream.index()]))
    }

    /// What a forwarded call gave: the service's status, if it answered,
    /// and its answer or the problem that replaces it.
    pub struct Forwarded {
        pub service_status: Option<u16>,
        pub answer: Result<Response, Problem>,
    }

    /// Sends `outgoing` to `upstream` through its breaker, within the
    /// timeout.
    pub async fn forward(
        env: &Env,
        upstream: Upstream,
        outgoing: &Outgoing<'_>,
        policy: UpstreamPolicy,
    ) -> Forwarded {
        let answer = call(env, upstream, outgoing, policy).await;
        Forwarded {
            service_status: match &answer {
                Ok(response) => Some(response.status()),
                Err(_) => None,
            },
            answer: answer.and_then(|response| accept(upstream, response)),
        }
    }

    async fn call(
        env: &Env,
        upstream: Upstream,
        outgoing: &Outgoing<'_>,
        policy: UpstreamPolicy,
    ) -> Result<Response, Problem> {
        let binding = service(env, upstream.binding())?;
        with_breaker(upstream, |breaker| {
            breaker.admit(policy.breaker, now_millis())
        })
        .map_err(|refused| circuit_open(upstream, refused.retry_after_secs))?;
        let result = call_service(&binding, outgoing, policy.timeout_ms).await;
        let outcome = match &result {
            Ok(response) => outcome_of(response),
            Err(CallFailure::TimedOut) => CallOutcome::TimedOut,
            Err(CallFailure::Threw(_)) => CallOutcome::Threw,
        };
        with_breaker(upstream, |breaker| match outcome.is_failure() {
            true => breaker.record_failure(policy.breaker, now_millis()),
            false => breaker.record_success(),
        });
        match result {
            Ok(response) => Ok(response),
            Err(CallFailure::TimedOut) => Err(timed_out(upstream, policy.timeout_ms)),
            Err(CallFailure::Threw(why)) => {
                common::console_error!("{} threw: {why}", upstream.name());
                Err(bad_gateway(upstream, "the call threw"))
            }
        }
    }

    /// Reads `Content-Type` only when the status calls for it.
    fn outcome_of(response: &Response) -> CallOutcome {
        let status = response.status();
        match status < 500 {
            true => CallOutcome::PassedOn,
            false => CallOutcome::of_answer(
                status,
                header(&response.headers(), "Content-Type").as_deref(),
            ),
        }
    }

    /// The service's answer as it is passed on, or a 502 for a 5xx that
    /// is not a problem document.
    fn accept(upstream: Upstream, response: Response) -> Result<Response, Problem> {
        match outcome_of(&response) {
            CallOutcome::Garbled => Err(bad_gateway(
                upstream,
                &format!("answered {}", response.status()),
            )),
            _ => Ok(response),
        }
    }

    /// A GET of `path` on `upstream` with only the request id and trace,
    /// outside the breaker (for health checks): its status and body, the
    /// whole within the timeout, or why there are none.
    pub async fn get(
        env: &Env,
        upstream: Upstream,
        path: &str,
        inbound: &Inbound,
        timeout_ms: u64,
    ) -> Result<(u16, String), String> {
        let binding = service(env, upstream.binding()).map_err(|p| p.detail)?;
        let url = format!("https://{}{path}", upstream.name());
        let outgoing = Outgoing::get(&url, inbound.next_hop());
        match call_service_for_text(&binding, &outgoing, timeout_ms).await {
            Ok(answer) => Ok(answer),
            Err(CallFailure::TimedOut) => Err("timed out".to_string()),
            Err(CallFailure::Threw(why)) => Err(format!("threw: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_pass_on_unless_a_5xx_says_nothing() {
        let problem = Some("application/problem+json");
        assert_eq!(CallOutcome::of_answer(200, None), CallOutcome::PassedOn);
        assert_eq!(
            CallOutcome::of_answer(404, Some("text/plain")),
            CallOutcome::PassedOn
        );
        assert_eq!(CallOutcome::of_answer(503, problem), CallOutcome::PassedOn);
        assert_eq!(
            CallOutcome::of_answer(500, Some("text/plain")),
            CallOutcome::Garbled
        );
        assert_eq!(CallOutcome::of_answer(502, None), CallOutcome::Garbled);
    }

    #[test]
    fn failures_are_throws_timeouts_and_unexplained_5xx() {
        assert!(!CallOutcome::PassedOn.is_failure());
        assert!(CallOutcome::Garbled.is_failure());
        assert!(CallOutcome::TimedOut.is_failure());
        assert!(CallOutcome::Threw.is_failure());
    }

    #[test]
    fn a_service_gets_until_the_gateway_stops_waiting_less_a_margin() {
        let policy = UpstreamPolicy {
            timeout_ms: 3000,
            breaker: BreakerPolicy {
                threshold: 5,
                cooldown_ms: 10_000,
            },
        };
        let (name, value) = deadline_header(policy, 1_000);
        assert_eq!(name, "X-Deadline");
        assert_eq!(value, (4_000 - deadline::HOP_MARGIN_MS).to_string());
    }

    #[test]
    fn failure_problems_have_their_statuses() {
        assert_eq!(timed_out(Upstream::Users, 3000).status, 504);
        assert_eq!(bad_gateway(Upstream::Users, "threw").status, 502);
        let open = circuit_open(Upstream::Products, 4);
        assert_eq!((open.status, open.headers[0].1.as_str()), (503, "4"));
    }
}
