//! `UserWriter`: one object per user makes that user's writes one after
//! another — the user record, its email address (through `EmailClaims`)
//! and its favourites — each checked against the committed version.

use crate::domain::{Email, User};
use crate::favorites::{Favorites, FavoritesFull};
use common::id::ResourceId;
use common::journal::{Change, Journal, JournalStorage};
use common::kv::{KeyValue, StoreError};
use common::records::Record;
use common::time::Timestamp;
use common::writes::{edit, Edit, Edited, WriteError};
use common::Reply;
use serde::{Deserialize, Serialize};

pub fn favorites_key(user: &ResourceId) -> String {
    format!("favorites:{user}")
}

/// A write to one user, as the worker sends it to the user's writer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserWrite {
    pub id: ResourceId,
    pub command: UserCommand,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserCommand {
    Edit {
        edit: Edit<User>,
    },
    /// `confirmed`: the products service said the product exists. Without
    /// it, only a product already listed is accepted.
    AddFavorite {
        product: ResourceId,
        confirmed: bool,
    },
    RemoveFavorite {
        product: ResourceId,
    },
}

/// Why a user write was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserError {
    Write(WriteError),
    EmailTaken(Email),
    /// The address's object could not say whether it is free.
    ClaimsUnavailable,
    FavoritesFull,
    /// A new favourite the products service could not confirm.
    ProductUnconfirmed,
    /// The product was deleted while it was being added.
    ProductGone(ResourceId),
    /// The product's object could not say whether it is still there.
    FansUnavailable,
}

impl From<WriteError> for UserError {
    fn from(error: WriteError) -> Self {
        UserError::Write(error)
    }
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> Self {
        UserError::Write(WriteError::Storage(error))
    }
}

/// The address objects, as a user's writer talks to them. Their failures
/// are logged where they happen.
#[allow(async_fn_in_trait)]
pub trait EmailClaims {
    /// `Ok(false)`: another user has the address.
    async fn claim(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError>;
    /// `Ok(false)`: the claim went to another user meanwhile.
    async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError>;
    async fn release(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError>;
}

/// The product objects, as a user's writer talks to them.
#[allow(async_fn_in_trait)]
pub trait ProductFans {
    /// Enlists `user` as a fan of `product`; `Ok(false)`: the product was
    /// deleted.
    async fn enlist(&self, product: &ResourceId, user: &ResourceId) -> Result<bool, StoreError>;
}

pub struct UserWriter<'a, S, K, C, F> {
    pub journal: Journal<'a, S, K>,
    pub claims: &'a C,
    pub fans: &'a F,
}

impl<S: JournalStorage, K: KeyValue, C: EmailClaims, F: ProductFans> UserWriter<'_, S, K, C, F> {
    pub async fn execute(
        &self,
        write: UserWrite,
        if_match: Option<&str>,
        now: &Timestamp,
    ) -> Result<Reply, UserError> {
        let id = &write.id;
        match write.command {
            UserCommand::Edit { edit } => self.edit(id, edit, if_match, now).await,
            UserCommand::AddFavorite { product, confirmed } => {
                self.add_favorite(id, product, confirmed).await
            }
            UserCommand::RemoveFavorite { product } => self.remove_favorite(id, &product).await,
        }
    }

    async fn edit(
        &self,
        id: &ResourceId,
        change: Edit<User>,
        if_match: Option<&str>,
        now: &Timestamp,
    ) -> Result<Reply, UserError> {
        let committed = self.journal.load(&User::COLLECTION.key(id)).await?;
        let edited = edit(committed.as_deref(), change, if_match, now)?;
        let mut changes: Vec<Change> = edited.change(id).into_iter().collect();
        if let Edited::Deleted { .. } = edited {
            self.journal.load(&favorites_key(id)).await?;
            changes.push(Change::delete(favorites_key(id)));
        }
        let before = edited.before().map(|user| &user.email);
        let after = edited.after().map(|user| &user.email);
        let taking = after.filter(|email| Some(*email) != before);
        let leaving = before.filter(|email| edited.after().is_none() || after != Some(*email));
        if let Some(email) = taking {
            match self.claims.claim(email, id).await {
                Ok(true) => {}
                Ok(false) => return Err(UserError::EmailTaken(email.clone())),
                Err(_) => return Err(UserError::ClaimsUnavailable),
            }
        }
        if changes.is_empty() {
            return Ok(edited.reply(id));
        }
        if let Err(error) = self.journal.write(&changes).await {
            if let Some(email) = taking {
                let _ = self.claims.release(email, id).await;
            }
            return Err(error.into());
        }
        // A confirmation that does not arrive is made up for by the claim's
        // alarm; a release that does not arrive, by the next claim of the
        // address (both ask this writer). A claim that went to another user
        // meanwhile (it outlived its time) undoes the write.
        if let Some(email) = taking {
            if let Ok(false) = self.claims.confirm(email, id).await {
                let key = User::COLLECTION.key(id);
                self.journal
                    .revert(&[Change {
                        key,
                        value: committed,
                    }])
                    .await?;
                return Err(UserError::EmailTaken(email.clone()));
            }
        }
        if let Some(email) = leaving {
            let _ = self.claims.release(email, id).await;
        }
        Ok(edited.reply(id))
    }

    /// The user's favourites, or 404 when there is no such user.
    async fn favorites(&self, id: &ResourceId) -> Result<Favorites, UserError> {
        if self
            .journal
            .load(&User::COLLECTION.key(id))
            .await?
            .is_none()
        {
            return Err(WriteError::NotFound.into());
        }
        match self.journal.load(&favorites_key(id)).await? {
            None => Ok(Favorites::default()),
            Some(json) => serde_json::from_str(&json).map_err(|_| WriteError::Unreadable.into()),
        }
    }

    async fn add_favorite(
        &self,
        id: &ResourceId,
        product: ResourceId,
        confirmed: bool,
    ) -> Result<Reply, UserError> {
        let mut favorites = self.favorites(id).await?;
        if favorites.contains(&product) {
            return Ok(Reply::no_content());
        }
        if !confirmed {
            return Err(UserError::ProductUnconfirmed);
        }
        favorites
            .add(product.clone())
            .map_err(|FavoritesFull| UserError::FavoritesFull)?;
        match self.fans.enlist(&product, id).await {
            Ok(true) => {}
            Ok(false) => return Err(UserError::ProductGone(product)),
            Err(_) => return Err(UserError::FansUnavailable),
        }
        self.save_favorites(id, &favorites).await
    }

    async fn remove_favorite(
        &self,
        id: &ResourceId,
        product: &ResourceId,
    ) -> Result<Reply, UserError> {
        let mut favorites = self.favorites(id).await?;
        if !favorites.remove(product) {
            return Ok(Reply::no_content());
        }
        self.save_favorites(id, &favorites).await
    }

    async fn save_favorites(
        &self,
        id: &ResourceId,
        favorites: &Favorites,
    ) -> Result<Reply, UserError> {
        let json = serde_json::to_string(favorites).map_err(|_| WriteError::Unreadable)?;
        self.journal
            .write(&[Change::put(favorites_key(id), json)])
            .await?;
        Ok(Reply::no_content())
    }
}

/// Whether a stored user record (committed, or that of a write in
/// progress) has `email`: what a user's writer answers an address object
/// that asks, without waiting for the write (which may itself be waiting
/// on that object).
pub fn has_email(committed_user: Option<&str>, email: &Email) -> bool {
    committed_user
        .and_then(|json| serde_json::from_str::<User>(json).ok())
        .is_some_and(|user| user.email == *email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserDraft;
    use common::testing::{block_on, MemoryJournal, MemoryKv};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Address objects in memory: who holds what, and what was asked.
    #[derive(Default)]
    struct Addresses {
        holders: RefCell<HashMap<String, (ResourceId, bool)>>,
        calls: RefCell<Vec<String>>,
        down: RefCell<bool>,
    }

    impl Addresses {
        fn holder(&self, email: &str) -> Option<(ResourceId, bool)> {
            self.holders.borrow().get(email).cloned()
        }

        fn log(&self, what: &str, email: &Email) -> Result<(), StoreError> {
            self.calls.borrow_mut().push(format!("{what} {email}"));
            match *self.down.borrow() {
                true => Err(StoreError("claims down".into())),
                false => Ok(()),
            }
        }
    }

    impl EmailClaims for Addresses {
        async fn claim(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
            self.log("claim", email)?;
            let mut holders = self.holders.borrow_mut();
            match holders.get(email.as_str()) {
                Some((holder, _)) if holder != owner => Ok(false),
                _ => {
                    holders.insert(email.to_string(), (owner.clone(), false));
                    Ok(true)
                }
            }
        }

        async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
            self.log("confirm", email)?;
            let mut holders = self.holders.borrow_mut();
            if holders
                .get(email.as_str())
                .is_some_and(|(holder, _)| holder != owner)
            {
                return Ok(false);
            }
            holders.insert(email.to_string(), (owner.clone(), true));
            Ok(true)
        }

        async fn release(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError> {
            self.log("release", email)?;
            let mut holders = self.holders.borrow_mut();
            if holders
                .get(email.as_str())
                .is_some_and(|(holder, _)| holder == owner)
            {
                holders.remove(email.as_str());
            }
            Ok(())
        }
    }

    /// Product objects in memory: fans per product, deleted products.
    #[derive(Default)]
    struct Products {
        fans: RefCell<HashMap<String, Vec<ResourceId>>>,
        deleted: RefCell<Vec<String>>,
        down: RefCell<bool>,
    }

    impl ProductFans for Products {
        async fn enlist(
            &self,
            product: &ResourceId,
            user: &ResourceId,
        ) -> Result<bool, StoreError> {
            if *self.down.borrow() {
                return Err(StoreError("fans down".into()));
            }
            if self.deleted.borrow().iter().any(|p| p == product.as_str()) {
                return Ok(false);
            }
            self.fans
                .borrow_mut()
                .entry(product.to_string())
                .or_default()
                .push(user.clone());
            Ok(true)
        }
    }

    struct World {
        storage: MemoryJournal,
        kv: MemoryKv,
        addresses: Addresses,
        products: Products,
    }

    impl World {
        fn new() -> Self {
            Self {
                storage: MemoryJournal::default(),
                kv: MemoryKv::default(),
                addresses: Addresses::default(),
                products: Products::default(),
            }
        }

        fn run(
            &self,
            id: &str,
            command: UserCommand,
            if_match: Option<&str>,
        ) -> Result<Reply, UserError> {
            let writer = UserWriter {
                journal: Journal::new(&self.storage, &self.kv),
                claims: &self.addresses,
                fans: &self.products,
            };
            let write = UserWrite {
                id: ResourceId::parse(id).unwrap(),
                command,
            };
            block_on(writer.execute(write, if_match, &Timestamp::from_millis(1)))
        }

        fn user(&self, id: &str) -> Option<User> {
            self.kv
                .value(&format!("user:{id}"))
                .map(|json| serde_json::from_str(&json).unwrap())
        }

        fn favorites(&self, id: &str) -> Option<Vec<String>> {
            self.kv
                .value(&format!("favorites:{id}"))
                .map(|json| serde_json::from_str(&json).unwrap())
        }
    }

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn draft(email: &str) -> UserDraft {
        UserDraft {
            name: "Ada".to_string().try_into().unwrap(),
            email: Email::parse(email).unwrap(),
        }
    }

    fn create(raw_id: &str, email: &str) -> UserCommand {
        let record = User::create(id(raw_id), draft(email), &Timestamp::from_millis(0));
        UserCommand::Edit {
            edit: Edit::Create { record },
        }
    }

    fn replace(email: &str) -> UserCommand {
        UserCommand::Edit {
            edit: Edit::Replace {
                draft: draft(email),
            },
        }
    }

    fn add(product: &str) -> UserCommand {
        UserCommand::AddFavorite {
            product: id(product),
            confirmed: true,
        }
    }

    #[test]
    fn a_create_claims_writes_then_confirms_the_address() {
        let world = World::new();
        assert_eq!(
            world.run("1", create("1", "a@x.io"), None).unwrap().status,
            201
        );
        assert_eq!(world.user("1").unwrap().email.as_str(), "a@x.io");
        assert_eq!(world.addresses.holder("a@x.io"), Some((id("1"), true)));
        assert_eq!(
            *world.addresses.calls.borrow(),
            ["claim a@x.io", "confirm a@x.io"]
        );
    }

    #[test]
    fn an_address_someone_else_has_is_a_conflict_and_nothing_is_written() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        let taken = world.run("2", create("2", "a@x.io"), None).unwrap_err();
        assert_eq!(
            taken,
            UserError::EmailTaken(Email::parse("a@x.io").unwrap())
        );
        assert_eq!(world.user("2"), None);
        world.run("2", create("2", "b@x.io"), None).unwrap();
        assert!(matches!(
            world.run("2", replace("a@x.io"), None),
            Err(UserError::EmailTaken(_))
        ));
        assert_eq!(world.user("2").unwrap().email.as_str(), "b@x.io");
    }

    #[test]
    fn a_create_kv_refuses_releases_its_claim() {
        let world = World::new();
        world.kv.fail_next("put");
        assert!(matches!(
            world.run("1", create("1", "a@x.io"), None),
            Err(UserError::Write(WriteError::Storage(_)))
        ));
        assert_eq!(world.user("1"), None);
        assert_eq!(
            world.addresses.holder("a@x.io"),
            None,
            "the claim was released"
        );
    }

    /// Address objects that give a claim away while its write is under way;
    /// with `undo_refused_by`, that KV also refuses the write's undo.
    #[derive(Default)]
    struct Fickle<'a> {
        addresses: Addresses,
        undo_refused_by: Option<&'a MemoryKv>,
    }

    impl EmailClaims for Fickle<'_> {
        async fn claim(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
            let granted = self.addresses.claim(email, owner).await?;
            let thief = ResourceId::parse("thief").unwrap();
            self.addresses
                .holders
                .borrow_mut()
                .insert(email.to_string(), (thief, false));
            Ok(granted)
        }
        async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
            if let Some(kv) = self.undo_refused_by {
                kv.fail_next("put");
            }
            self.addresses.confirm(email, owner).await
        }
        async fn release(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError> {
            self.addresses.release(email, owner).await
        }
    }

    #[test]
    fn a_claim_lost_during_the_write_undoes_it() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        let fickle = Fickle::default();
        let run = |user: &str, command| {
            let writer = UserWriter {
                journal: Journal::new(&world.storage, &world.kv),
                claims: &fickle,
                fans: &world.products,
            };
            let write = UserWrite {
                id: id(user),
                command,
            };
            block_on(writer.execute(write, None, &Timestamp::from_millis(2)))
        };
        let taken = Err(UserError::EmailTaken(Email::parse("b@x.io").unwrap()));
        assert_eq!(run("1", replace("b@x.io")), taken);
        assert_eq!(
            world.user("1").unwrap().email.as_str(),
            "a@x.io",
            "the change is undone"
        );
        let taken = Err(UserError::EmailTaken(Email::parse("c@x.io").unwrap()));
        assert_eq!(run("2", create("2", "c@x.io")), taken);
        assert_eq!(world.user("2"), None, "the create is undone");
    }

    #[test]
    fn an_undo_kv_refuses_still_holds_and_reaches_kv_with_the_next_request() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        let claims = Fickle {
            undo_refused_by: Some(&world.kv),
            ..Fickle::default()
        };
        let writer = UserWriter {
            journal: Journal::new(&world.storage, &world.kv),
            claims: &claims,
            fans: &world.products,
        };
        let write = UserWrite {
            id: id("1"),
            command: replace("b@x.io"),
        };
        let answer = block_on(writer.execute(write, None, &Timestamp::from_millis(2)));
        assert_eq!(
            answer,
            Err(UserError::EmailTaken(Email::parse("b@x.io").unwrap()))
        );
        assert_eq!(
            world.user("1").unwrap().email.as_str(),
            "b@x.io",
            "KV refused the undo"
        );
        world
            .run(
                "1",
                UserCommand::RemoveFavorite { product: id("101") },
                None,
            )
            .unwrap();
        assert_eq!(
            world.user("1").unwrap().email.as_str(),
            "a@x.io",
            "the next request put the undo into KV"
        );
    }

    #[test]
    fn claims_that_cannot_answer_fail_the_write_before_anything_is_written() {
        let world = World::new();
        *world.addresses.down.borrow_mut() = true;
        assert_eq!(
            world.run("1", create("1", "a@x.io"), None).unwrap_err(),
            UserError::ClaimsUnavailable
        );
        assert!(world.kv.writes().is_empty());
    }

    #[test]
    fn changing_the_address_claims_the_new_one_before_releasing_the_old() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.addresses.calls.borrow_mut().clear();
        assert_eq!(world.run("1", replace("b@x.io"), None).unwrap().status, 200);
        assert_eq!(
            *world.addresses.calls.borrow(),
            ["claim b@x.io", "confirm b@x.io", "release a@x.io"]
        );
        assert_eq!(world.addresses.holder("a@x.io"), None);
        world.addresses.calls.borrow_mut().clear();
        world.run("1", replace("b@x.io"), None).unwrap();
        assert!(
            world.addresses.calls.borrow().is_empty(),
            "keeping the address touches no claim"
        );
    }

    #[test]
    fn an_address_change_kv_refuses_keeps_the_old_address_and_frees_the_new() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.kv.fail_next("put");
        assert!(world.run("1", replace("b@x.io"), None).is_err());
        assert_eq!(world.user("1").unwrap().email.as_str(), "a@x.io");
        assert_eq!(world.addresses.holder("a@x.io"), Some((id("1"), true)));
        assert_eq!(world.addresses.holder("b@x.io"), None);
    }

    #[test]
    fn if_match_is_checked_against_the_committed_version() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        let reply = world.run("1", replace("b@x.io"), None).unwrap();
        let etag = reply
            .headers
            .iter()
            .find(|(n, _)| *n == "ETag")
            .unwrap()
            .1
            .clone();
        let stale = world
            .run("1", replace("c@x.io"), Some("\"0000000000000000\""))
            .unwrap_err();
        assert_eq!(stale, UserError::Write(WriteError::PreconditionFailed));
        assert_eq!(
            world
                .run("1", replace("c@x.io"), Some(&etag))
                .unwrap()
                .status,
            200
        );
    }

    #[test]
    fn deleting_a_user_deletes_its_favourites_and_frees_its_address() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        let reply = world
            .run("1", UserCommand::Edit { edit: Edit::Delete }, None)
            .unwrap();
        assert_eq!(reply.status, 204);
        assert_eq!((world.user("1"), world.favorites("1")), (None, None));
        assert_eq!(world.addresses.holder("a@x.io"), None);
        assert_eq!(
            world.run("1", add("102"), None).unwrap_err(),
            UserError::Write(WriteError::NotFound)
        );
    }

    #[test]
    fn a_delete_kv_refuses_halfway_is_undone_whole() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        world.kv.fail_on("delete", "favorites:1");
        assert!(world
            .run("1", UserCommand::Edit { edit: Edit::Delete }, None)
            .is_err());
        assert!(world.user("1").is_some(), "the user record is back");
        assert_eq!(world.favorites("1"), Some(vec!["101".to_string()]));
        assert_eq!(world.addresses.holder("a@x.io"), Some((id("1"), true)));
    }

    #[test]
    fn favourites_are_kept_in_order_idempotent_and_bounded() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        for product in ["101", "102", "101"] {
            assert_eq!(world.run("1", add(product), None).unwrap().status, 204);
        }
        assert_eq!(world.favorites("1"), Some(vec!["101".into(), "102".into()]));
        for n in 2..crate::favorites::MAX_FAVORITES {
            world.run("1", add(&format!("p{n}")), None).unwrap();
        }
        assert_eq!(
            world.run("1", add("one-more"), None).unwrap_err(),
            UserError::FavoritesFull
        );
        assert_eq!(world.run("1", add("101"), None).unwrap().status, 204);
        let remove = |product: &str| UserCommand::RemoveFavorite {
            product: id(product),
        };
        world.run("1", remove("101"), None).unwrap();
        world.run("1", remove("101"), None).unwrap();
        assert_eq!(
            world.favorites("1").unwrap().len(),
            crate::favorites::MAX_FAVORITES - 1
        );
    }

    #[test]
    fn an_unconfirmed_favourite_is_accepted_only_when_already_listed() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        let unconfirmed = |product: &str| UserCommand::AddFavorite {
            product: id(product),
            confirmed: false,
        };
        assert_eq!(
            world.run("1", unconfirmed("101"), None).unwrap().status,
            204
        );
        assert_eq!(
            world.run("1", unconfirmed("102"), None).unwrap_err(),
            UserError::ProductUnconfirmed
        );
        assert_eq!(world.favorites("1"), Some(vec!["101".to_string()]));
    }

    #[test]
    fn a_new_favourite_enlists_its_user_and_a_deleted_product_is_refused() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        assert_eq!(
            world.products.fans.borrow()["101"],
            vec![id("1")],
            "enlisted once, when added"
        );
        world.products.deleted.borrow_mut().push("102".into());
        assert_eq!(
            world.run("1", add("102"), None).unwrap_err(),
            UserError::ProductGone(id("102"))
        );
        *world.products.down.borrow_mut() = true;
        assert_eq!(
            world.run("1", add("103"), None).unwrap_err(),
            UserError::FansUnavailable
        );
        assert_eq!(world.favorites("1"), Some(vec!["101".to_string()]));
    }

    #[test]
    fn a_favourite_kv_refuses_is_not_kept() {
        let world = World::new();
        world.run("1", create("1", "a@x.io"), None).unwrap();
        world.run("1", add("101"), None).unwrap();
        world.kv.fail_next("put");
        assert!(world.run("1", add("102"), None).is_err());
        assert_eq!(world.favorites("1"), Some(vec!["101".to_string()]));
        world.run("1", add("103"), None).unwrap();
        assert_eq!(
            world.favorites("1"),
            Some(vec!["101".to_string(), "103".to_string()])
        );
    }

    #[test]
    fn the_address_question_is_answered_from_the_committed_record() {
        let user = User::create(id("1"), draft("a@x.io"), &Timestamp::from_millis(0));
        let json = serde_json::to_string(&user).unwrap();
        assert!(has_email(Some(&json), &Email::parse("A@x.io").unwrap()));
        assert!(!has_email(Some(&json), &Email::parse("b@x.io").unwrap()));
        assert!(!has_email(None, &Email::parse("a@x.io").unwrap()));
    }
}
