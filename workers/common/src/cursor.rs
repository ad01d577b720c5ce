//! List cursors handed to clients: the store's own cursor and a keyed MAC
//! (SipHash-2-4 under a secret key) over it and the listing it belongs to.
//! A cursor this service did not hand out, one for another listing, or one
//! cut short, does not open: the client gets a 400, not a silent page.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

/// The MAC's key, derived from the service's `CURSOR_SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    pub fn from_secret(secret: &str) -> Self {
        let half = |domain: u64| {
            let mut hasher = SipHasher24::new_with_keys(domain, !domain);
            hasher.write(secret.as_bytes());
            hasher.finish()
        };
        Self {
            k0: half(0x6375_7273_6f72_2d30),
            k1: half(0x6375_7273_6f72_2d31),
        }
    }

    fn mac(&self, scope: &str, store_cursor: &str) -> String {
        let mut hasher = SipHasher24::new_with_keys(self.k0, self.k1);
        hasher.write(scope.as_bytes());
        hasher.write_u8(0);
        hasher.write(store_cursor.as_bytes());
        format!("{:016x}", hasher.finish())
    }

    /// The cursor handed out for the store's `store_cursor` in `scope` (the
    /// listing's key prefix).
    pub fn seal(&self, scope: &str, store_cursor: &str) -> String {
        format!("{store_cursor}.{}", self.mac(scope, store_cursor))
    }

    /// The store's cursor inside `sealed`, if this key sealed it for `scope`.
    pub fn open(&self, scope: &str, sealed: &str) -> Option<String> {
        let (store_cursor, mac) = sealed.rsplit_once('.')?;
        let expected = self.mac(scope, store_cursor);
        let matches = mac.len() == expected.len()
            && mac
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        (!store_cursor.is_empty() && matches).then(|| store_cursor.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::from_secret("test-secret")
    }

    #[test]
    fn cursors_open_only_sealed_by_the_same_key_for_the_same_listing() {
        let sealed = key().seal("user:", "dXNlcjox");
        assert_eq!(key().open("user:", &sealed).as_deref(), Some("dXNlcjox"));
        assert_eq!(key().open("product:", &sealed), None);
        assert_eq!(CursorKey::from_secret("other").open("user:", &sealed), None);
        assert_eq!(key().open("user:", &sealed[..sealed.len() - 1]), None);
        for garbage in [
            "",
            ".",
            "garbage",
            "AAAA",
            "a.b",
            &sealed[sealed.len() - 17..],
        ] {
            assert_eq!(key().open("user:", garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_cursor_forged_without_the_secret_is_refused() {
        // What a reader of the code could compute: the old unkeyed check.
        let bound = format!("user:\0{}", "dXNlcjox");
        let forged = format!("dXNlcjox.{:016x}", crate::fnv1a64(bound.as_bytes()));
        assert_eq!(key().open("user:", &forged), None);
        let unkeyed = CursorKey::from_secret("").seal("user:", "dXNlcjox");
        assert_eq!(key().open("user:", &unkeyed), None);
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", key()), "CursorKey(..)");
    }
}
