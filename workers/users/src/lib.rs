//! The users service: users, their unique emails, and their favourite
//! products, in the `USERS_KV` namespace that only this worker binds.

pub mod domain;
pub mod favorites;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod handlers;

/// KV keys, namespaced by record kind.
pub mod keys {
    use common::collection::Collection;
    use common::id::ResourceId;

    pub const USERS: Collection = Collection {
        prefix: "user:",
        noun: "user",
    };

    /// Maps a lower-cased address to the id of the user who has it.
    pub fn email(address: &str) -> String {
        format!("email:{address}")
    }

    pub fn favorites(user_id: &ResourceId) -> String {
        format!("favorites:{user_id}")
    }
}
