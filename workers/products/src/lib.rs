//! The products service: the catalogue, in the `PRODUCTS_KV` namespace
//! that only this worker binds. Reads are served from KV; every write goes
//! through the product's writer object (`ProductWriter`), which orders the
//! writes to one product and keeps its committed version.

pub mod domain;
pub mod events;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod objects;

/// The binding of the writer objects' namespace.
pub const WRITERS: &str = "PRODUCT_WRITERS";
/// The queue products publishes its events on.
pub const EVENTS: &str = "PRODUCT_EVENTS";
