//! The event each committed change of a product publishes.

use crate::domain::Product;
use common::etag::etag_of;
use common::events::{ProductEvent, ProductEventKind};
use common::id::ResourceId;
use common::time::Timestamp;
use common::writes::Edited;

/// The first wait before the outbox is tried again, doubled up to the
/// longest while the queue stays away.
pub const RESEND_FIRST_MS: u64 = 1_000;
pub const RESEND_LONGEST_MS: u64 = 60_000;

/// The wait after `wait_ms` when the queue refused the outbox again.
pub fn next_resend_wait(wait_ms: u64) -> u64 {
    wait_ms.saturating_mul(2).min(RESEND_LONGEST_MS)
}

/// What an event says about the write that caused it.
#[derive(Debug, Clone)]
pub struct Cause {
    pub event_id: String,
    pub time: Timestamp,
    pub request_id: String,
    pub traceparent: Option<String>,
}

/// The event of an edit of product `id`, as recorded in the writer's
/// outbox (its version is set when it is sent). None when nothing changed.
pub fn event_of(edited: &Edited<Product>, id: &ResourceId, cause: Cause) -> Option<String> {
    let (kind, etag) = match edited {
        Edited::Unchanged { .. } => return None,
        Edited::Created { json, .. } => (ProductEventKind::Created, Some(etag_of(json.as_bytes()))),
        Edited::Updated { json, .. } => (ProductEventKind::Updated, Some(etag_of(json.as_bytes()))),
        Edited::Deleted { .. } => (ProductEventKind::Deleted, None),
    };
    let event = ProductEvent {
        id: cause.event_id,
        kind,
        product_id: id.clone(),
        version: 0,
        etag,
        time: cause.time,
        request_id: cause.request_id,
        traceparent: cause.traceparent,
    };
    serde_json::to_string(&event).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProductDraft;
    use common::body::parse_object;
    use common::journal::{Journal, JournalStorage};
    use common::testing::{block_on, MemoryJournal, MemoryKv};
    use common::writes::{write_one, Edit};

    #[test]
    fn the_outbox_waits_1_s_then_twice_as_long_each_time_up_to_a_minute() {
        let waits: Vec<u64> =
            std::iter::successors(Some(RESEND_FIRST_MS), |&w| Some(next_resend_wait(w)))
                .take(9)
                .collect();
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
    }

    fn cause(n: u64) -> Cause {
        Cause {
            event_id: format!("e{n}"),
            time: Timestamp::from_millis(n),
            request_id: format!("r{n}"),
            traceparent: None,
        }
    }

    fn laptop() -> Product {
        let body = br#"{"name":"Laptop","price":{"amount":1,"currency":"EUR"},"stock":1}"#;
        let draft =
            ProductDraft::parse(parse_object(body, crate::domain::FIELDS).unwrap()).unwrap();
        Product::create(
            ResourceId::parse("101").unwrap(),
            draft,
            &Timestamp::from_millis(0),
        )
    }

    fn kinds(storage: &MemoryJournal) -> Vec<(String, Option<String>)> {
        storage
            .outbox()
            .unwrap()
            .into_iter()
            .map(|(_, json)| {
                let event: ProductEvent = serde_json::from_str(&json).unwrap();
                (
                    serde_json::to_value(event.kind)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                    event.etag,
                )
            })
            .collect()
    }

    #[test]
    fn every_committed_change_has_its_event_and_nothing_else_has_one() {
        let (storage, kv) = (MemoryJournal::default(), MemoryKv::default());
        let journal = Journal::new(&storage, &kv);
        let id = laptop().id;
        let write = |edit: Edit<Product>, n: u64| {
            block_on(write_one(
                &journal,
                &id,
                edit,
                None,
                &Timestamp::from_millis(n),
                |edited| event_of(edited, &id, cause(n)).into_iter().collect(),
            ))
        };
        write(Edit::Create { record: laptop() }, 1).unwrap();
        let stored = etag_of(kv.value("product:101").unwrap().as_bytes());
        assert_eq!(
            kinds(&storage)[0].1.as_deref(),
            Some(stored.as_str()),
            "the ETag stored"
        );
        let same = serde_json::from_value(serde_json::json!({})).unwrap();
        write(Edit::Patch { patch: same }, 2).unwrap();
        kv.fail_next("put");
        let stock = |n: u64| serde_json::from_value(serde_json::json!({"stock": n})).unwrap();
        assert!(write(Edit::Patch { patch: stock(5) }, 3).is_err());
        write(Edit::Patch { patch: stock(6) }, 4).unwrap();
        write(Edit::Delete, 5).unwrap();
        let recorded = kinds(&storage);
        let names: Vec<&str> = recorded.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(
            names,
            ["product.created", "product.updated", "product.deleted"]
        );
        assert_eq!(recorded[2].1, None, "a deleted product has no ETag");
    }
}
