//! The products service: the catalogue, in the `PRODUCTS_KV` namespace
//! that only this worker binds.

pub mod domain;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod handlers;

/// KV keys, namespaced by record kind.
pub mod keys {
    use common::collection::Collection;

    pub const PRODUCTS: Collection = Collection {
        prefix: "product:",
        noun: "product",
    };
}

/// `GET /products?ids=`: the products found, in the order asked, and the
/// ids not found.
#[derive(Debug, serde::Serialize)]
pub struct Batch<T> {
    pub items: Vec<T>,
    pub missing: Vec<common::id::ResourceId>,
}
