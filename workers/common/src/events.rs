//! The events products publishes on its queue and users consumes: one
//! schema for both sides (documented in `events.schema.json`).

use crate::id::ResourceId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductEventKind {
    #[serde(rename = "product.created")]
    Created,
    #[serde(rename = "product.updated")]
    Updated,
    #[serde(rename = "product.deleted")]
    Deleted,
}

/// A committed change to one product. Fields a newer producer adds are
/// ignored, so that a rolling deploy does not dead-letter its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductEvent {
    /// Unique per event (a UUID): what a consumer deduplicates on.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ProductEventKind,
    pub product_id: ResourceId,
    /// Increases with every committed change of the product: an event with
    /// a lower version than one already applied is older.
    pub version: u64,
    /// The product's ETag after the change (`None` once deleted).
    pub etag: Option<String>,
    /// When the change was committed.
    pub time: Timestamp,
    /// The request and trace of the write that caused it.
    pub request_id: String,
    pub traceparent: Option<String>,
}

impl ProductEvent {
    /// The event as recorded in the outbox gets its version when it is
    /// sent: the outbox's sequence number, which only grows.
    pub fn versioned(recorded: &str, version: u64) -> Option<String> {
        let mut event: ProductEvent = serde_json::from_str(recorded).ok()?;
        event.version = version;
        serde_json::to_string(&event).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ProductEvent {
        ProductEvent {
            id: "e1".into(),
            kind: ProductEventKind::Deleted,
            product_id: ResourceId::parse("101").unwrap(),
            version: 0,
            etag: None,
            time: Timestamp::from_millis(0),
            request_id: "r1".into(),
            traceparent: None,
        }
    }

    #[test]
    fn events_travel_as_documented_json() {
        let json = serde_json::to_value(event()).unwrap();
        assert_eq!(json["type"], "product.deleted");
        assert_eq!(json["product_id"], "101");
        for member in ["id", "version", "etag", "time", "request_id", "traceparent"] {
            assert!(json.get(member).is_some(), "{member}");
        }
    }

    #[test]
    fn the_version_is_set_when_sent() {
        let recorded = serde_json::to_string(&event()).unwrap();
        let sent: ProductEvent =
            serde_json::from_str(&ProductEvent::versioned(&recorded, 7).unwrap()).unwrap();
        assert_eq!(sent.version, 7);
        assert_eq!(ProductEvent::versioned("not json", 7), None);
    }

    #[test]
    fn what_is_not_an_event_does_not_parse() {
        for bad in ["{}", r#"{"type":"product.exploded"}"#, r#"[1,2]"#] {
            assert!(serde_json::from_str::<ProductEvent>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_field_a_newer_producer_adds_is_ignored() {
        let mut newer = serde_json::to_value(event()).unwrap();
        newer["surprise"] = true.into();
        assert_eq!(
            serde_json::from_value::<ProductEvent>(newer).unwrap(),
            event()
        );
    }
}
