//! The users service's Durable Objects, wired to the runtime: one module
//! each, and the clients the objects use to talk to one another.

mod clients;
pub mod email_claims;
pub mod product_fans;
pub mod user_writer;

pub use clients::FansClient;

/// The internal URL on which a user's writer answers whether the user has
/// an address.
pub const HAS_EMAIL: &str = "https://object/has-email";
/// The internal URL of an address object's requests.
pub const CLAIM: &str = "https://object/claim";
/// The internal URL of a product object's requests.
pub const FANS: &str = "https://object/fans";
/// The internal URL of a write a user's writer makes for the service
/// itself (the queue consumer's removals).
pub const WRITE: &str = "https://object/write";
