//! The body limit: a body over 64 KiB is refused with 413 before anything
//! is forwarded, whether or not `Content-Length` is sent; and what a
//! refused request's unread body may still cost.

pub use common::body::MAX_BODY_BYTES;

/// How a request's body goes on to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// GET and HEAD carry none.
    None,
    /// A declared length within the limit: streamed through untouched.
    Stream,
    /// No declared length (or one over the limit): read up to the limit,
    /// then sent on as bytes or refused.
    Read,
}

pub fn plan(method: &str, declared_length: Option<usize>) -> BodyPlan {
    match (method, declared_length) {
        ("GET" | "HEAD", _) => BodyPlan::None,
        (_, Some(length)) if length <= MAX_BODY_BYTES => BodyPlan::Stream,
        _ => BodyPlan::Read,
    }
}

/// Whether a refusal first reads and drops the unread body (bounded), so
/// that a client still sending gets the answer instead of a reset, and its
/// connection stays open for the next request. A 429 drains only a body
/// declared within the limit (it is already there, or nearly): a caller over
/// its limit gets no more work done for it than that.
pub fn drains_before_refusing(status: u16, declared_length: Option<usize>) -> bool {
    status != 429 || declared_length.is_some_and(|length| length <= MAX_BODY_BYTES)
}

#[cfg(target_arch = "wasm32")]
pub use glue::{discard_unread, outbound_body};

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{plan, BodyPlan, MAX_BODY_BYTES};
    use common::glue::request::Inbound;
    use common::glue::stream::{declared_length, discard_unread_body, read_body};
    use common::Problem;
    use js_sys::Uint8Array;
    use wasm_bindgen::JsValue;

    /// The body to forward, or 413.
    pub async fn outbound_body(inbound: &Inbound) -> Result<Option<JsValue>, Problem> {
        match plan(&inbound.method, declared_length(&inbound.headers)) {
            BodyPlan::None => Ok(None),
            BodyPlan::Stream => Ok(inbound.request.body().map(JsValue::from)),
            BodyPlan::Read => {
                let bytes = read_body(&inbound.request, MAX_BODY_BYTES).await?;
                Ok((!bytes.is_empty()).then(|| Uint8Array::from(bytes.as_slice()).into()))
            }
        }
    }

    /// Drops what is left of a refused request's body, when
    /// `drains_before_refusing` says so.
    pub async fn discard_unread(inbound: &Inbound, status: u16) {
        if super::drains_before_refusing(status, declared_length(&inbound.headers)) {
            discard_unread_body(&inbound.request).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stream_when_their_length_is_known_and_fits() {
        assert_eq!(plan("GET", Some(10)), BodyPlan::None);
        assert_eq!(plan("HEAD", None), BodyPlan::None);
        assert_eq!(plan("POST", Some(MAX_BODY_BYTES)), BodyPlan::Stream);
        assert_eq!(plan("PUT", Some(MAX_BODY_BYTES + 1)), BodyPlan::Read);
        assert_eq!(plan("PATCH", None), BodyPlan::Read);
    }

    #[test]
    fn rate_limited_refusals_drain_only_a_small_declared_body() {
        assert!(drains_before_refusing(401, None));
        assert!(drains_before_refusing(413, Some(10 << 20)));
        assert!(drains_before_refusing(429, Some(12)));
        assert!(!drains_before_refusing(429, Some(MAX_BODY_BYTES + 1)));
        assert!(!drains_before_refusing(429, None));
    }
}
