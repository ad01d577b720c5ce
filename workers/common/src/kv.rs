//! The key-value store each service keeps its records in (Workers KV), as
//! a small interface: the runtime's namespace implements it in the glue,
//! and native tests use a fake that can fail any call.

use std::collections::HashMap;

/// A store call that failed; its cause was logged where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of keys under a prefix, and the store's cursor of the next
/// page (`None` when the listing is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

/// Single-threaded (wasm32): the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait KeyValue {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// The values of those `keys` that exist, in as few round trips as the
    /// store allows.
    async fn get_many(&self, keys: &[String]) -> Result<HashMap<String, String>, StoreError>;
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<KeyPage, StoreError>;
}
