//! The gateway: the one public worker. It routes to the services over
//! service bindings and owns every cross-cutting concern on the way.

pub mod access_log;
pub mod auth;
pub mod breaker;
pub mod health;
pub mod policy;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod gateway;

/// The public API's description, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");
