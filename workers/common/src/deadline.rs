//! Deadlines across hops: the gateway gives a service until its own
//! timeout runs out (less a margin for the answer to come back), and each
//! service passes what is left on to the objects and services it calls.
//! A callee that cannot answer in time gives up before its caller does, so
//! its caller hears why instead of timing out.

/// The header that carries a deadline, in milliseconds since the epoch.
pub const DEADLINE: &str = "X-Deadline";

/// A request's budget when its caller set no deadline (under the
/// gateway's 3 s).
pub const DEFAULT_BUDGET_MS: u64 = 2_500;

/// What each hop keeps for its answer to travel back: at most this, and
/// never more than a fifth of what is left (a 300 ms budget still leaves
/// its callees time to work).
pub const HOP_MARGIN_MS: u64 = 250;

/// The longest a deadline may be from a request's arrival, however far
/// its caller set it.
pub const LONGEST_BUDGET_MS: u64 = 30_000;

/// The deadline of a request that arrived at `started_ms` with `header`.
pub fn of_request(header: Option<&str>, started_ms: u64) -> u64 {
    header
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|deadline| deadline.clamp(started_ms, started_ms + LONGEST_BUDGET_MS))
        .unwrap_or(started_ms + DEFAULT_BUDGET_MS)
}

/// The deadline to give a callee called at `now_ms`.
pub fn for_next_hop(deadline_ms: u64, now_ms: u64) -> u64 {
    let left = deadline_ms.saturating_sub(now_ms);
    deadline_ms - HOP_MARGIN_MS.min(left / 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_taken_within_bounds_or_defaulted() {
        assert_eq!(of_request(Some("1500"), 1000), 1500);
        assert_eq!(of_request(None, 1000), 1000 + DEFAULT_BUDGET_MS);
        assert_eq!(of_request(Some("soon"), 1000), 1000 + DEFAULT_BUDGET_MS);
        assert_eq!(
            of_request(Some("10"), 1000),
            1000,
            "already past: no time at all"
        );
        assert_eq!(of_request(Some("99999999"), 1000), 1000 + LONGEST_BUDGET_MS);
    }

    #[test]
    fn each_hop_keeps_a_margin() {
        assert_eq!(for_next_hop(13_000, 10_000), 13_000 - HOP_MARGIN_MS);
    }

    #[test]
    fn a_short_budget_keeps_a_fifth_for_the_answer() {
        assert_eq!(for_next_hop(10_300, 10_000), 10_240);
        assert_eq!(for_next_hop(10_240, 10_000), 10_192);
    }

    #[test]
    fn a_past_deadline_stays_past() {
        assert_eq!(for_next_hop(9_000, 10_000), 9_000);
    }
}
