//! The users service: users, their unique emails, and their favourite
//! products, in the `USERS_KV` namespace that only this worker binds.
//! Reads are served from KV; every write to a user goes through that
//! user's writer object (`UserWriter`), and every email address has an
//! object of its own (`EmailClaims`) that decides who may have it.

pub mod consumer;
pub mod domain;
pub mod emails;
pub mod fans;
pub mod favorites;
pub mod problems;
pub mod routes;
pub mod writer;

#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod objects;
#[cfg(target_arch = "wasm32")]
mod subscription;

/// The bindings of the objects' namespaces.
pub const WRITERS: &str = "USER_WRITERS";
pub const EMAIL_CLAIMS: &str = "EMAIL_CLAIMS";
pub const PRODUCT_FANS: &str = "PRODUCT_FANS";
/// Where messages that are not product events go at once.
pub const DEAD_LETTERS: &str = "DEAD_LETTERS";
