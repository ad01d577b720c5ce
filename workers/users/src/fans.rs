//! Who favours a product: one `ProductFans` object per product keeps the
//! users who added it and whether the product was deleted. A user's
//! writer enlists the user before it writes a new favourite; the consumer
//! of `product.deleted` marks the product deleted and gets every fan to
//! remove it from. One object decides the order of the two, so a favourite
//! added while its product is deleted is either removed by the deletion or
//! refused — never left behind.

use common::id::ResourceId;
use common::kv::StoreError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FansRequest {
    Enlist {
        product: ResourceId,
        user: ResourceId,
    },
    ProductDeleted {
        product: ResourceId,
        version: u64,
    },
}

impl FansRequest {
    pub fn product(&self) -> &ResourceId {
        match self {
            FansRequest::Enlist { product, .. } | FansRequest::ProductDeleted { product, .. } => {
                product
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FansAnswer {
    Enlisted,
    /// The product was deleted: it cannot become a favourite.
    Gone,
    /// Everyone who favoured the deleted product.
    Fans(Vec<ResourceId>),
}

/// A product object's storage (synchronous: its calls cannot interleave
/// with another request's).
pub trait FansStore {
    fn deleted_version(&self) -> Result<Option<u64>, StoreError>;
    fn set_deleted_version(&self, version: u64) -> Result<(), StoreError>;
    fn add(&self, user: &ResourceId) -> Result<(), StoreError>;
    fn fans(&self) -> Result<Vec<ResourceId>, StoreError>;
}

pub fn handle(store: &impl FansStore, request: FansRequest) -> Result<FansAnswer, StoreError> {
    let deleted = store.deleted_version()?;
    match request {
        FansRequest::Enlist { .. } if deleted.is_some() => Ok(FansAnswer::Gone),
        FansRequest::Enlist { user, .. } => {
            store.add(&user)?;
            Ok(FansAnswer::Enlisted)
        }
        FansRequest::ProductDeleted { version, .. } => {
            if deleted.is_none_or(|known| version > known) {
                store.set_deleted_version(version)?;
            }
            store.fans().map(FansAnswer::Fans)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Memory {
        deleted: RefCell<Option<u64>>,
        fans: RefCell<Vec<ResourceId>>,
    }

    impl FansStore for Memory {
        fn deleted_version(&self) -> Result<Option<u64>, StoreError> {
            Ok(*self.deleted.borrow())
        }
        fn set_deleted_version(&self, version: u64) -> Result<(), StoreError> {
            *self.deleted.borrow_mut() = Some(version);
            Ok(())
        }
        fn add(&self, user: &ResourceId) -> Result<(), StoreError> {
            let mut fans = self.fans.borrow_mut();
            if !fans.contains(user) {
                fans.push(user.clone());
            }
            Ok(())
        }
        fn fans(&self) -> Result<Vec<ResourceId>, StoreError> {
            Ok(self.fans.borrow().clone())
        }
    }

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn enlist(user: &str) -> FansRequest {
        FansRequest::Enlist {
            product: id("101"),
            user: id(user),
        }
    }

    fn deleted(version: u64) -> FansRequest {
        FansRequest::ProductDeleted {
            product: id("101"),
            version,
        }
    }

    #[test]
    fn fans_enlisted_before_the_deletion_are_handed_to_it_and_later_ones_refused() {
        let store = Memory::default();
        assert_eq!(handle(&store, enlist("a")).unwrap(), FansAnswer::Enlisted);
        assert_eq!(handle(&store, enlist("b")).unwrap(), FansAnswer::Enlisted);
        assert_eq!(handle(&store, enlist("a")).unwrap(), FansAnswer::Enlisted);
        assert_eq!(
            handle(&store, deleted(3)).unwrap(),
            FansAnswer::Fans(vec![id("a"), id("b")])
        );
        assert_eq!(handle(&store, enlist("c")).unwrap(), FansAnswer::Gone);
    }

    #[test]
    fn a_redelivered_or_older_deletion_changes_nothing() {
        let store = Memory::default();
        handle(&store, enlist("a")).unwrap();
        handle(&store, deleted(3)).unwrap();
        assert_eq!(
            handle(&store, deleted(3)).unwrap(),
            FansAnswer::Fans(vec![id("a")])
        );
        handle(&store, deleted(2)).unwrap();
        assert_eq!(
            *store.deleted.borrow(),
            Some(3),
            "an older version does not overwrite"
        );
    }
}
