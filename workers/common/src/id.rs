//! Identifiers: of resources in paths, and of requests in headers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A resource id: 1 to 64 characters of `A-Z a-z 0-9 _ -`. Only a valid one
/// can be built, so it is safe in a KV key and a URL without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceId(String);

impl ResourceId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| Self(raw.to_string()))
    }

    /// A fresh random id (a UUID v4) from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(uuid_v4(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("invalid id {raw:?}"))
    }
}

impl From<ResourceId> for String {
    fn from(id: ResourceId) -> String {
        id.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats 16 random bytes as an RFC 9562 version 4 UUID.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An incoming `X-Request-Id` is kept when it is 1 to 128 characters of
/// `A-Z a-z 0-9 . _ -`.
pub fn is_valid_request_id(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_accept_only_the_safe_alphabet() {
        assert!(ResourceId::parse("101").is_some());
        assert!(ResourceId::parse("a_B-9").is_some());
        assert!(ResourceId::parse(&"x".repeat(64)).is_some());
        for bad in ["", "a b", "a/b", "..", "%2F", "é", "a.b", &"x".repeat(65)] {
            assert!(ResourceId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn uuids_are_version_4_variant_1() {
        let uuid = uuid_v4([0xff; 16]);
        assert_eq!(uuid, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(ResourceId::parse(&uuid).is_some());
    }

    #[test]
    fn request_ids_are_bounded_and_safe() {
        assert!(is_valid_request_id("abc.DEF_123-x"));
        assert!(is_valid_request_id(&"a".repeat(128)));
        assert!(!is_valid_request_id(&"a".repeat(129)));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("a b"));
        assert!(!is_valid_request_id("a\nb"));
    }
}
