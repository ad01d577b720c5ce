//! W3C Trace Context: each hop forwards the trace with a span id of its own.

use crate::hex;

/// A parsed `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    flags: String,
}

impl TraceParent {
    /// Accepts `00-<32 hex>-<16 hex>-<2 hex>` with non-zero ids.
    pub fn parse(header: &str) -> Option<Self> {
        let parts: Vec<&str> = header.trim().split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return None;
        };
        let is_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let is_zero = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = *version == "00"
            && is_hex(trace_id, 32)
            && !is_zero(trace_id)
            && is_hex(parent_id, 16)
            && !is_zero(parent_id)
            && is_hex(flags, 2);
        valid.then(|| Self {
            trace_id: trace_id.to_string(),
            flags: flags.to_string(),
        })
    }

    /// A new trace, sampled, from 16 random bytes.
    pub fn start(random: [u8; 16]) -> Self {
        let mut trace_id = random;
        trace_id[0] |= 1;
        Self {
            trace_id: hex(&trace_id),
            flags: "01".to_string(),
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The header for the next hop, with this hop's span id.
    pub fn child_header(&self, span_random: [u8; 8]) -> String {
        let mut span_id = span_random;
        span_id[0] |= 1;
        format!("00-{}-{}-{}", self.trace_id, hex(&span_id), self.flags)
    }
}

/// The `traceparent` to send onwards: the incoming trace continued, or a
/// new one, with a new span id either way.
pub fn next_hop(incoming: Option<&str>, trace_random: [u8; 16], span_random: [u8; 8]) -> String {
    incoming
        .and_then(TraceParent::parse)
        .unwrap_or_else(|| TraceParent::start(trace_random))
        .child_header(span_random)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let next = next_hop(Some(VALID), [0; 16], [0xab; 8]);
        assert_eq!(
            next,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-abababababababab-01"
        );
    }

    #[test]
    fn starts_a_trace_when_absent_or_invalid() {
        for incoming in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        ] {
            let next = next_hop(incoming, [0x22; 16], [0x10; 8]);
            assert_eq!(
                next,
                "00-23222222222222222222222222222222-1110101010101010-01"
            );
            assert!(TraceParent::parse(&next).is_some());
        }
    }
}
