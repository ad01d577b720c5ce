//! What users does with the events products publishes. Delivery is at
//! least once and in no promised order, so every step is idempotent: a
//! deleted product is removed from the lists of everyone who favoured it,
//! through each user's writer (ordered with that user's HTTP writes);
//! doing it again changes nothing.

use common::events::{ProductEvent, ProductEventKind};
use common::id::ResourceId;
use common::kv::StoreError;

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// An event users has no use for: acknowledged.
    Ignore(ProductEvent),
    /// A deletion: the product leaves every favourites list.
    RemoveEverywhere(ProductEvent),
    /// Not an event: straight to the dead-letter queue, never retried.
    DeadLetter(String),
}

pub fn handling(body: &str) -> Handling {
    match serde_json::from_str::<ProductEvent>(body) {
        Err(error) => Handling::DeadLetter(format!("not a product event: {error}")),
        Ok(event) => match event.kind {
            ProductEventKind::Deleted => Handling::RemoveEverywhere(event),
            ProductEventKind::Created | ProductEventKind::Updated => Handling::Ignore(event),
        },
    }
}

/// The objects a deletion goes through.
#[allow(async_fn_in_trait)]
pub trait Favourers {
    /// Marks the product deleted and answers everyone who favoured it.
    async fn product_deleted(
        &self,
        product: &ResourceId,
        version: u64,
    ) -> Result<Vec<ResourceId>, StoreError>;
    /// Removes the product from the user's list (nothing when it is not
    /// there, or the user is gone).
    async fn remove_favorite(
        &self,
        user: &ResourceId,
        product: &ResourceId,
    ) -> Result<(), StoreError>;
}

/// Removes `product` from every list that has it. An `Err` leaves the
/// message to be retried; the removals already made stay made.
pub async fn remove_everywhere(
    favourers: &impl Favourers,
    product: &ResourceId,
    version: u64,
) -> Result<usize, StoreError> {
    let fans = favourers.product_deleted(product, version).await?;
    for user in &fans {
        favourers.remove_favorite(user, product).await?;
    }
    Ok(fans.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::testing::block_on;
    use common::time::Timestamp;
    use std::cell::RefCell;
    use std::collections::HashMap;

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn event(kind: ProductEventKind) -> String {
        serde_json::to_string(&ProductEvent {
            id: "e".into(),
            kind,
            product_id: id("101"),
            version: 4,
            etag: None,
            time: Timestamp::from_millis(0),
            request_id: "r".into(),
            traceparent: None,
        })
        .unwrap()
    }

    #[test]
    fn only_deletions_change_anything_and_garbage_is_dead_lettered() {
        let Handling::RemoveEverywhere(deleted) = handling(&event(ProductEventKind::Deleted))
        else {
            panic!("a deletion is applied");
        };
        assert_eq!((deleted.product_id, deleted.version), (id("101"), 4));
        for kind in [ProductEventKind::Created, ProductEventKind::Updated] {
            assert!(matches!(handling(&event(kind)), Handling::Ignore(_)));
        }
        for garbage in ["", "{", "42", r#"{"type":"product.deleted"}"#, "\u{0}"] {
            assert!(
                matches!(handling(garbage), Handling::DeadLetter(_)),
                "{garbage:?}"
            );
        }
    }

    #[derive(Default)]
    struct Lists {
        lists: RefCell<HashMap<String, Vec<String>>>,
        fans: Vec<ResourceId>,
        failing_user: Option<ResourceId>,
    }

    impl Favourers for Lists {
        async fn product_deleted(
            &self,
            _: &ResourceId,
            _: u64,
        ) -> Result<Vec<ResourceId>, StoreError> {
            Ok(self.fans.clone())
        }
        async fn remove_favorite(
            &self,
            user: &ResourceId,
            product: &ResourceId,
        ) -> Result<(), StoreError> {
            if self.failing_user.as_ref() == Some(user) {
                return Err(StoreError("writer down".into()));
            }
            if let Some(list) = self.lists.borrow_mut().get_mut(user.as_str()) {
                list.retain(|p| p != product.as_str());
            }
            Ok(())
        }
    }

    fn lists() -> Lists {
        let mut lists = Lists::default();
        for user in ["a", "b", "c"] {
            lists
                .lists
                .borrow_mut()
                .insert(user.into(), vec!["101".into(), "102".into()]);
            lists.fans.push(id(user));
        }
        lists
    }

    #[test]
    fn a_deletion_reaches_every_fan_and_again_changes_nothing() {
        let lists = lists();
        assert_eq!(block_on(remove_everywhere(&lists, &id("101"), 4)), Ok(3));
        let after = lists.lists.borrow().clone();
        assert!(after.values().all(|list| list == &vec!["102".to_string()]));
        assert_eq!(block_on(remove_everywhere(&lists, &id("101"), 4)), Ok(3));
        assert_eq!(*lists.lists.borrow(), after);
    }

    #[test]
    fn a_fan_that_cannot_be_reached_leaves_the_message_for_a_retry() {
        let mut lists = lists();
        lists.failing_user = Some(id("b"));
        assert!(block_on(remove_everywhere(&lists, &id("101"), 4)).is_err());
        assert_eq!(lists.lists.borrow()["a"], vec!["102".to_string()]);
        lists.failing_user = None;
        assert_eq!(block_on(remove_everywhere(&lists, &id("101"), 4)), Ok(3));
        assert!(lists
            .lists
            .borrow()
            .values()
            .all(|list| list == &vec!["102".to_string()]));
    }
}
