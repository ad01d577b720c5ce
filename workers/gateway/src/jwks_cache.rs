//! When to fetch the provider's JWK set: a policy over times, kept per
//! isolate. `K` is the runtime's imported key (a `CryptoKey` on wasm32),
//! kept beside its JWK so that each key is imported once per algorithm.
//!
//! - Keys are fresh for `KEY_TTL_MS` after a successful fetch; a request
//!   that needs a stale key refreshes the set, and meanwhile (and if that
//!   fails) the old keys stay in use.
//! - An unknown `kid` refetches the set, at most once per
//!   `REFETCH_INTERVAL_MS`: a rotated key is picked up without a restart,
//!   and tokens with made-up kids cannot make the gateway hammer the
//!   provider. Stale-key refreshes count against the same interval.
//! - Until a first fetch succeeds, every request that needs a key fetches
//!   (concurrent first requests each do their own: the runtime cancels a
//!   request that awaits another request's fetch), except within
//!   `REFETCH_INTERVAL_MS` after a failure.
//! - The interval is stamped when a refetch starts, so requests that arrive
//!   while it is in flight use the keys there are instead of fetching too.

use crate::jwk::{select, Jwk};
use crate::jwt::{Algorithm, JwtRejection};

pub const KEY_TTL_MS: u64 = 10 * 60 * 1000;
pub const REFETCH_INTERVAL_MS: u64 = 30 * 1000;

/// What a request does before it looks its key up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Fetch the set (and `store` it or report `fetch_failed`), then look up.
    Fetch,
    /// Look up among the cached keys.
    UseCached,
}

/// The result of a lookup: a key imported before, or a JWK to import (and
/// then `remember`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<K> {
    Imported(K),
    Import(Jwk),
}

#[derive(Debug)]
struct Entry<K> {
    jwk: Jwk,
    imported: Vec<(Algorithm, K)>,
}

#[derive(Debug)]
pub struct KeyCache<K> {
    entries: Vec<Entry<K>>,
    loaded_at: Option<u64>,
    refetch_started_at: Option<u64>,
    failed_at: Option<u64>,
}

impl<K> Default for KeyCache<K> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            loaded_at: None,
            refetch_started_at: None,
            failed_at: None,
        }
    }
}

impl<K: Clone> KeyCache<K> {
    /// Decides whether the request for `kid` fetches first. A refetch is
    /// stamped here, before the fetch starts.
    pub fn plan(&mut self, kid: &str, now: u64) -> Plan {
        let Some(loaded_at) = self.loaded_at else {
            return match within_interval(self.failed_at, now) {
                true => Plan::UseCached,
                false => Plan::Fetch,
            };
        };
        let known = self.entries.iter().any(|entry| entry.jwk.kid == kid);
        let stale = now.saturating_sub(loaded_at) >= KEY_TTL_MS;
        if (known && !stale) || within_interval(self.refetch_started_at, now) {
            return Plan::UseCached;
        }
        self.refetch_started_at = Some(now);
        Plan::Fetch
    }

    /// A fetched set replaces the cached one; keys that did not change keep
    /// their imported forms.
    pub fn store(&mut self, keys: Vec<Jwk>, now: u64) {
        let mut previous = std::mem::take(&mut self.entries);
        self.entries = keys
            .into_iter()
            .map(|jwk| {
                let imported = previous
                    .iter_mut()
                    .find(|entry| entry.jwk == jwk)
                    .map(|entry| std::mem::take(&mut entry.imported))
                    .unwrap_or_default();
                Entry { jwk, imported }
            })
            .collect();
        self.loaded_at = Some(now);
        self.failed_at = None;
    }

    /// A failed fetch keeps whatever keys there are.
    pub fn fetch_failed(&mut self, now: u64) {
        self.failed_at = Some(now);
    }

    /// The key for `kid` that may verify `alg`, stale or not.
    pub fn find(&self, kid: &str, alg: Algorithm) -> Result<Found<K>, JwtRejection> {
        if self.loaded_at.is_none() {
            return Err(JwtRejection::KeysUnavailable);
        }
        let jwk = select(self.entries.iter().map(|entry| &entry.jwk), kid, alg)?;
        let imported = self
            .entries
            .iter()
            .find(|entry| std::ptr::eq(&entry.jwk, jwk))
            .and_then(|entry| entry.imported.iter().find(|(a, _)| *a == alg));
        match imported {
            Some((_, key)) => Ok(Found::Imported(key.clone())),
            None => Ok(Found::Import(jwk.clone())),
        }
    }

    /// Keeps the imported form of `jwk` for `alg`, if the set still holds
    /// that key (another request may have replaced the set meanwhile).
    pub fn remember(&mut self, jwk: &Jwk, alg: Algorithm, key: K) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.jwk == *jwk) {
            if !entry.imported.iter().any(|(a, _)| *a == alg) {
                entry.imported.push((alg, key));
            }
        }
    }
}

fn within_interval(stamp: Option<u64>, now: u64) -> bool {
    stamp.is_some_and(|at| now.saturating_sub(at) < REFETCH_INTERVAL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::tests::rsa_key;

    const T0: u64 = 1_000_000;
    const RS: Algorithm = Algorithm::RS256;

    fn loaded(kids: &[&str]) -> KeyCache<u32> {
        let mut cache = KeyCache::default();
        assert_eq!(cache.plan(kids[0], T0), Plan::Fetch);
        cache.store(set(kids), T0);
        cache
    }

    fn set(kids: &[&str]) -> Vec<Jwk> {
        kids.iter().map(|kid| rsa_key(kid, Some("RS256"))).collect()
    }

    #[test]
    fn every_first_request_fetches_until_one_succeeds() {
        let mut cache = KeyCache::<u32>::default();
        assert_eq!(cache.plan("a", T0), Plan::Fetch);
        assert_eq!(
            cache.plan("a", T0 + 1),
            Plan::Fetch,
            "no shared in-flight fetch"
        );
        assert_eq!(cache.find("a", RS), Err(JwtRejection::KeysUnavailable));
        cache.store(set(&["a"]), T0 + 5);
        assert_eq!(cache.plan("a", T0 + 6), Plan::UseCached);
        assert_eq!(
            cache.find("a", RS),
            Ok(Found::Import(rsa_key("a", Some("RS256"))))
        );
    }

    #[test]
    fn with_no_keys_a_failure_holds_fetches_off_for_the_interval() {
        let mut cache = KeyCache::<u32>::default();
        assert_eq!(cache.plan("a", T0), Plan::Fetch);
        cache.fetch_failed(T0 + 100);
        let soon = T0 + 100 + REFETCH_INTERVAL_MS - 1;
        assert_eq!(cache.plan("a", soon), Plan::UseCached);
        assert_eq!(cache.find("a", RS), Err(JwtRejection::KeysUnavailable));
        assert_eq!(cache.plan("a", soon + 1), Plan::Fetch);
    }

    #[test]
    fn imported_keys_are_reused() {
        let mut cache = loaded(&["a"]);
        let Ok(Found::Import(jwk)) = cache.find("a", RS) else {
            panic!("first lookup imports")
        };
        cache.remember(&jwk, RS, 7);
        cache.remember(&jwk, RS, 8);
        assert_eq!(cache.find("a", RS), Ok(Found::Imported(7)));
        assert_eq!(
            cache.find("a", Algorithm::PS256),
            Err(JwtRejection::KeyMismatch)
        );
    }

    #[test]
    fn an_unknown_kid_refetches_at_most_once_per_interval() {
        let mut cache = loaded(&["a"]);
        assert_eq!(
            cache.plan("new", T0 + 1),
            Plan::Fetch,
            "right after the first load"
        );
        cache.store(set(&["a"]), T0 + 2);
        for late in [T0 + 2, T0 + 1 + REFETCH_INTERVAL_MS - 1] {
            assert_eq!(cache.plan("new", late), Plan::UseCached);
            assert_eq!(cache.find("new", RS), Err(JwtRejection::UnknownKid));
        }
        assert_eq!(
            cache.plan("a", T0 + 3),
            Plan::UseCached,
            "known kids unaffected"
        );
        assert_eq!(cache.plan("new", T0 + 1 + REFETCH_INTERVAL_MS), Plan::Fetch);
    }

    #[test]
    fn requests_during_a_refetch_use_the_keys_there_are() {
        let mut cache = loaded(&["a"]);
        assert_eq!(cache.plan("b", T0 + 10), Plan::Fetch);
        assert_eq!(cache.plan("b", T0 + 11), Plan::UseCached);
        assert_eq!(cache.plan("c", T0 + 12), Plan::UseCached);
    }

    #[test]
    fn a_rotated_key_is_picked_up_and_unchanged_keys_stay_imported() {
        let mut cache = loaded(&["old", "kept"]);
        let Ok(Found::Import(kept)) = cache.find("kept", RS) else {
            panic!("import")
        };
        cache.remember(&kept, RS, 1);
        assert_eq!(cache.plan("new", T0 + 1000), Plan::Fetch);
        cache.store(set(&["kept", "new"]), T0 + 1100);
        assert!(matches!(cache.find("new", RS), Ok(Found::Import(_))));
        assert_eq!(cache.find("kept", RS), Ok(Found::Imported(1)));
        assert_eq!(cache.find("old", RS), Err(JwtRejection::UnknownKid));
    }

    #[test]
    fn a_key_replaced_meanwhile_is_not_remembered() {
        let mut cache = loaded(&["a"]);
        let Ok(Found::Import(jwk)) = cache.find("a", RS) else {
            panic!("import")
        };
        cache.store(vec![rsa_key("a", None)], T0 + 1);
        cache.remember(&jwk, RS, 9);
        assert!(matches!(cache.find("a", RS), Ok(Found::Import(_))));
    }

    #[test]
    fn stale_keys_are_refreshed_once_and_kept_when_that_fails() {
        let mut cache = loaded(&["a"]);
        let stale = T0 + KEY_TTL_MS;
        assert_eq!(cache.plan("a", stale - 1), Plan::UseCached);
        assert_eq!(cache.plan("a", stale), Plan::Fetch);
        assert_eq!(
            cache.plan("a", stale + 1),
            Plan::UseCached,
            "one refresh at a time"
        );
        cache.fetch_failed(stale + 50);
        assert_eq!(cache.plan("a", stale + 60), Plan::UseCached);
        assert!(cache.find("a", RS).is_ok(), "old keys stay after a failure");
        assert_eq!(cache.plan("a", stale + REFETCH_INTERVAL_MS), Plan::Fetch);
        cache.store(set(&["a"]), stale + REFETCH_INTERVAL_MS + 5);
        assert_eq!(
            cache.plan("a", stale + REFETCH_INTERVAL_MS + 6),
            Plan::UseCached
        );
    }

    #[test]
    fn a_clock_that_goes_back_does_not_fetch_or_panic() {
        let mut cache = loaded(&["a"]);
        assert_eq!(cache.plan("a", T0 - 5000), Plan::UseCached);
        assert_eq!(cache.plan("z", T0 - 5000), Plan::Fetch);
        assert_eq!(cache.plan("z", T0 - 6000), Plan::UseCached);
    }
}
