//! The gateway: the one public worker. It routes to the services over
//! service bindings and owns every cross-cutting concern on the way, one
//! module per concern; `gateway.rs` composes them in the order a request
//! meets them.

pub mod access_log;
pub mod auth;
pub mod body_limit;
pub mod breaker;
pub mod cors;
pub mod docs;
pub mod headers;
pub mod health;
pub mod json;
pub mod jwk;
pub mod jwks_cache;
pub mod jwt;
pub mod rate_limit;
pub mod routes;
pub mod settings;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod gateway;
#[cfg(target_arch = "wasm32")]
pub mod web_crypto;

/// The public API's description, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");
