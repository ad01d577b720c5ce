//! Unique email addresses: one `EmailClaims` object per lower-cased
//! address decides, one request at a time, which user may have it.
//!
//! A user's writer claims an address before it writes the user, then
//! confirms the claim (held) or releases it. A claim left pending (the
//! writer never came back) blocks the address for `CLAIM_TTL_MS`; after
//! that, and whenever someone else wants an address held by another user,
//! the object asks the holder's writer whether the user still has it, and
//! frees the address if not. KV's `email:<address>` entry mirrors the
//! holder (it also seeds the object the first time the address is seen).

use crate::domain::Email;
use common::id::ResourceId;
use common::kv::StoreError;
use serde::{Deserialize, Serialize};

/// How long a pending claim blocks its address before its holder is asked.
pub const CLAIM_TTL_MS: u64 = 30_000;

/// The KV key that mirrors who holds `email`.
pub fn index_key(email: &Email) -> String {
    format!("email:{email}")
}

/// Who has an address, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: ResourceId,
    /// Confirmed by the owner's writer, once the user was written.
    pub held: bool,
    pub since_ms: u64,
}

impl Claim {
    /// When the address's object must look at this claim again: at the end
    /// of its time while it is pending, never once it is held.
    pub fn alarm_at(&self, ttl_ms: u64) -> Option<u64> {
        (!self.held).then(|| self.since_ms.saturating_add(ttl_ms))
    }
}

/// What a user's writer asks of an address's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimRequest {
    Claim { email: Email, owner: ResourceId },
    Confirm { email: Email, owner: ResourceId },
    Release { email: Email, owner: ResourceId },
}

impl ClaimRequest {
    pub fn email(&self) -> &Email {
        match self {
            ClaimRequest::Claim { email, .. }
            | ClaimRequest::Confirm { email, .. }
            | ClaimRequest::Release { email, .. } => email,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimAnswer {
    Granted,
    Taken,
    Done,
}

/// An address object's storage. `load` is `None` while the object has not
/// seen its address yet, `Some(None)` when the address is free.
#[allow(async_fn_in_trait)]
pub trait ClaimStore {
    fn load(&self) -> Result<Option<Option<Claim>>, StoreError>;
    fn save(&self, claim: Option<&Claim>) -> Result<(), StoreError>;
    /// KV's mirror: who holds the address there (seeded data has one).
    async fn indexed_owner(&self, email: &Email) -> Result<Option<ResourceId>, StoreError>;
    async fn set_index(&self, email: &Email, owner: Option<&ResourceId>) -> Result<(), StoreError>;
}

/// Asks a user's writer whether that user has an address now.
#[allow(async_fn_in_trait)]
pub trait Holders {
    async fn has_email(&self, owner: &ResourceId, email: &Email) -> Result<bool, StoreError>;
}

pub struct Claims<'a, S, H> {
    pub store: &'a S,
    pub holders: &'a H,
    pub ttl_ms: u64,
}

impl<S: ClaimStore, H: Holders> Claims<'_, S, H> {
    pub async fn handle(
        &self,
        request: ClaimRequest,
        now_ms: u64,
    ) -> Result<ClaimAnswer, StoreError> {
        match request {
            ClaimRequest::Claim { email, owner } => self.claim(&email, owner, now_ms).await,
            ClaimRequest::Confirm { email, owner } => self.confirm(&email, &owner).await,
            ClaimRequest::Release { email, owner } => self.release(&email, &owner).await,
        }
    }

    async fn current(&self, email: &Email) -> Result<Option<Claim>, StoreError> {
        if let Some(known) = self.store.load()? {
            return Ok(known);
        }
        let seeded = self.store.indexed_owner(email).await?.map(|owner| Claim {
            owner,
            held: true,
            since_ms: 0,
        });
        self.store.save(seeded.as_ref())?;
        Ok(seeded)
    }

    async fn claim(
        &self,
        email: &Email,
        owner: ResourceId,
        now_ms: u64,
    ) -> Result<ClaimAnswer, StoreError> {
        let pending = Claim {
            owner: owner.clone(),
            held: false,
            since_ms: now_ms,
        };
        match self.current(email).await? {
            Some(claim) if claim.owner == owner && claim.held => return Ok(ClaimAnswer::Granted),
            Some(claim) if claim.owner == owner => {}
            Some(claim) if self.is_fresh(&claim, now_ms) => return Ok(ClaimAnswer::Taken),
            Some(claim) if self.holders.has_email(&claim.owner, email).await? => {
                self.hold(email, claim).await?;
                return Ok(ClaimAnswer::Taken);
            }
            _ => {}
        }
        self.store.save(Some(&pending))?;
        Ok(ClaimAnswer::Granted)
    }

    async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<ClaimAnswer, StoreError> {
        match self.current(email).await? {
            Some(claim) if claim.owner == *owner => {
                self.hold(email, claim).await?;
                Ok(ClaimAnswer::Done)
            }
            _ => Ok(ClaimAnswer::Taken),
        }
    }

    async fn release(&self, email: &Email, owner: &ResourceId) -> Result<ClaimAnswer, StoreError> {
        if let Some(claim) = self.current(email).await? {
            if claim.owner == *owner {
                self.store.save(None)?;
                if claim.held {
                    self.store.set_index(email, None).await?;
                }
            }
        }
        Ok(ClaimAnswer::Done)
    }

    /// The alarm: a claim still pending after its time is kept when its
    /// owner has the address, else the address is freed. `Some(at)` asks
    /// for another alarm at `at`.
    pub async fn expire(&self, email: &Email, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let Some(claim) = self.current(email).await? else {
            return Ok(None);
        };
        if claim.held {
            return Ok(None);
        }
        if self.is_fresh(&claim, now_ms) {
            return Ok(claim.alarm_at(self.ttl_ms));
        }
        match self.holders.has_email(&claim.owner, email).await {
            Ok(true) => self.hold(email, claim).await.map(|_| None),
            Ok(false) => self.store.save(None).map(|_| None),
            Err(_) => Ok(Some(now_ms + self.ttl_ms)),
        }
    }

    fn is_fresh(&self, claim: &Claim, now_ms: u64) -> bool {
        !claim.held && now_ms < claim.since_ms.saturating_add(self.ttl_ms)
    }

    async fn hold(&self, email: &Email, claim: Claim) -> Result<(), StoreError> {
        let held = Claim {
            held: true,
            ..claim
        };
        self.store.save(Some(&held))?;
        self.store.set_index(email, Some(&held.owner)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::testing::block_on;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[test]
    fn only_a_pending_claim_wants_an_alarm() {
        let owner = ResourceId::parse("7").unwrap();
        let pending = Claim {
            owner,
            held: false,
            since_ms: 1_000,
        };
        assert_eq!(pending.alarm_at(30_000), Some(31_000));
        let held = Claim {
            held: true,
            ..pending
        };
        assert_eq!(held.alarm_at(30_000), None);
    }

    #[derive(Default)]
    struct Store {
        claim: RefCell<Option<Option<Claim>>>,
        index: RefCell<HashMap<String, ResourceId>>,
        fail_index: RefCell<bool>,
    }

    impl ClaimStore for Store {
        fn load(&self) -> Result<Option<Option<Claim>>, StoreError> {
            Ok(self.claim.borrow().clone())
        }
        fn save(&self, claim: Option<&Claim>) -> Result<(), StoreError> {
            *self.claim.borrow_mut() = Some(claim.cloned());
            Ok(())
        }
        async fn indexed_owner(&self, email: &Email) -> Result<Option<ResourceId>, StoreError> {
            Ok(self.index.borrow().get(email.as_str()).cloned())
        }
        async fn set_index(
            &self,
            email: &Email,
            owner: Option<&ResourceId>,
        ) -> Result<(), StoreError> {
            if *self.fail_index.borrow() {
                return Err(StoreError("index down".into()));
            }
            let mut index = self.index.borrow_mut();
            match owner {
                Some(owner) => index.insert(email.to_string(), owner.clone()),
                None => index.remove(email.as_str()),
            };
            Ok(())
        }
    }

    /// Which users have which address, as their writers would say.
    #[derive(Default)]
    struct Users {
        emails: RefCell<HashMap<String, String>>,
        unreachable: RefCell<bool>,
        asked: RefCell<usize>,
    }

    impl Holders for Users {
        async fn has_email(&self, owner: &ResourceId, email: &Email) -> Result<bool, StoreError> {
            *self.asked.borrow_mut() += 1;
            if *self.unreachable.borrow() {
                return Err(StoreError("writer unreachable".into()));
            }
            Ok(
                self.emails.borrow().get(owner.as_str()).map(String::as_str)
                    == Some(email.as_str()),
            )
        }
    }

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn claim(owner: &str) -> ClaimRequest {
        ClaimRequest::Claim {
            email: email(),
            owner: id(owner),
        }
    }

    fn confirm(owner: &str) -> ClaimRequest {
        ClaimRequest::Confirm {
            email: email(),
            owner: id(owner),
        }
    }

    fn release(owner: &str) -> ClaimRequest {
        ClaimRequest::Release {
            email: email(),
            owner: id(owner),
        }
    }

    const TTL: u64 = 1000;

    fn run<T>(
        store: &Store,
        users: &Users,
        f: impl AsyncFnOnce(&Claims<'_, Store, Users>) -> T,
    ) -> T {
        let claims = Claims {
            store,
            holders: users,
            ttl_ms: TTL,
        };
        block_on(f(&claims))
    }

    #[test]
    fn the_first_claim_wins_and_the_rest_are_refused_while_it_is_fresh() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            assert_eq!(c.handle(claim("a"), 0).await.unwrap(), ClaimAnswer::Granted);
            assert_eq!(
                c.handle(claim("a"), 1).await.unwrap(),
                ClaimAnswer::Granted,
                "again, same owner"
            );
            for other in ["b", "c", "d"] {
                assert_eq!(
                    c.handle(claim(other), 10).await.unwrap(),
                    ClaimAnswer::Taken
                );
            }
        });
        assert_eq!(*users.asked.borrow(), 0, "a fresh claim needs nobody asked");
    }

    #[test]
    fn a_confirmed_claim_is_mirrored_in_kv_and_kept_while_its_owner_has_the_address() {
        let (store, users) = (Store::default(), Users::default());
        users
            .emails
            .borrow_mut()
            .insert("a".into(), email().to_string());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            assert_eq!(c.handle(confirm("a"), 1).await.unwrap(), ClaimAnswer::Done);
            assert_eq!(
                c.handle(claim("b"), 5000).await.unwrap(),
                ClaimAnswer::Taken
            );
        });
        assert_eq!(store.index.borrow().get("ada@example.com"), Some(&id("a")));
    }

    #[test]
    fn an_address_whose_holder_moved_on_is_free_again() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            c.handle(confirm("a"), 1).await.unwrap();
            // a changed address, and its release never arrived.
            assert_eq!(c.handle(claim("b"), 2).await.unwrap(), ClaimAnswer::Granted);
            assert_eq!(c.handle(claim("a"), 3).await.unwrap(), ClaimAnswer::Taken);
        });
    }

    #[test]
    fn release_frees_only_the_owners_claim() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            c.handle(confirm("a"), 0).await.unwrap();
            c.handle(release("b"), 1).await.unwrap();
            assert_eq!(
                store.load().unwrap().flatten().map(|c| c.owner),
                Some(id("a"))
            );
            c.handle(release("a"), 2).await.unwrap();
            assert_eq!(c.handle(claim("b"), 3).await.unwrap(), ClaimAnswer::Granted);
        });
        assert!(store.index.borrow().is_empty());
    }

    #[test]
    fn a_seeded_address_is_known_from_kv() {
        let (store, users) = (Store::default(), Users::default());
        store
            .index
            .borrow_mut()
            .insert("ada@example.com".into(), id("1"));
        users
            .emails
            .borrow_mut()
            .insert("1".into(), email().to_string());
        run(&store, &users, async |c| {
            assert_eq!(c.handle(claim("2"), 0).await.unwrap(), ClaimAnswer::Taken);
        });
    }

    #[test]
    fn the_alarm_frees_a_pending_claim_whose_owner_never_wrote_the_user() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            assert_eq!(
                c.expire(&email(), 10).await.unwrap(),
                Some(TTL),
                "too early: again at the TTL"
            );
            assert_eq!(c.expire(&email(), TTL).await.unwrap(), None);
            assert_eq!(
                c.handle(claim("b"), TTL + 1).await.unwrap(),
                ClaimAnswer::Granted
            );
        });
    }

    #[test]
    fn the_same_owner_claiming_again_starts_its_pending_claim_afresh() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            let retried = 5 * TTL;
            assert_eq!(
                c.handle(claim("a"), retried).await.unwrap(),
                ClaimAnswer::Granted
            );
            assert_eq!(
                c.expire(&email(), retried + 1).await.unwrap(),
                Some(retried + TTL),
                "the retry's claim is fresh: the alarm waits for it"
            );
        });
    }

    #[test]
    fn the_alarm_keeps_a_pending_claim_whose_owner_has_the_address() {
        let (store, users) = (Store::default(), Users::default());
        users
            .emails
            .borrow_mut()
            .insert("a".into(), email().to_string());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            assert_eq!(c.expire(&email(), TTL).await.unwrap(), None);
            assert_eq!(
                c.handle(claim("b"), TTL * 5).await.unwrap(),
                ClaimAnswer::Taken
            );
        });
        assert!(store.load().unwrap().flatten().unwrap().held);
    }

    #[test]
    fn an_unreachable_owner_keeps_the_claim_and_asks_again_later() {
        let (store, users) = (Store::default(), Users::default());
        *users.unreachable.borrow_mut() = true;
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            assert_eq!(c.expire(&email(), TTL).await.unwrap(), Some(2 * TTL));
            assert!(
                c.handle(claim("b"), TTL).await.is_err(),
                "unknown: the claimer gets a 503"
            );
        });
        assert_eq!(store.load().unwrap().flatten().unwrap().owner, id("a"));
    }

    #[test]
    fn a_failed_mirror_write_fails_the_confirmation_but_keeps_the_hold() {
        let (store, users) = (Store::default(), Users::default());
        run(&store, &users, async |c| {
            c.handle(claim("a"), 0).await.unwrap();
            *store.fail_index.borrow_mut() = true;
            assert!(c.handle(confirm("a"), 1).await.is_err());
        });
        assert!(store.load().unwrap().flatten().unwrap().held);
    }
}
