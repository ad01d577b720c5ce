//! `GET /health`: the gateway's view of each service's own health check.

use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct ServiceHealth {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ServiceHealth {
    /// A service is healthy when its `/health` answered 200 in time.
    pub fn from_check(result: Result<u16, String>) -> Self {
        match result {
            Ok(200) => Self {
                status: "ok",
                detail: None,
            },
            Ok(status) => Self {
                status: "error",
                detail: Some(format!("answered {status}")),
            },
            Err(why) => Self {
                status: "error",
                detail: Some(why),
            },
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Health {
    pub status: &'static str,
    pub services: Services,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Services {
    pub users: ServiceHealth,
    pub products: ServiceHealth,
}

impl Health {
    pub fn new(users: ServiceHealth, products: ServiceHealth) -> Self {
        let all_ok = users.status == "ok" && products.status == "ok";
        Self {
            status: if all_ok { "ok" } else { "degraded" },
            services: Services { users, products },
        }
    }

    pub fn http_status(&self) -> u16 {
        if self.status == "ok" {
            200
        } else {
            503
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use glue::check_services;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{Health, ServiceHealth};
    use crate::routes::Upstream;
    use crate::upstream;
    use common::glue::request::Inbound;
    use worker::Env;

    /// Asks every service's `/health` at once, each within the timeout.
    pub async fn check_services(env: &Env, inbound: &Inbound, timeout_ms: u64) -> Health {
        let check = |service| upstream::get(env, service, "/health", inbound, timeout_ms);
        let (users, products) =
            futures_util::join!(check(Upstream::Users), check(Upstream::Products));
        Health::new(
            ServiceHealth::from_check(users),
            ServiceHealth::from_check(products),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_only_when_both_are() {
        let ok = Health::new(
            ServiceHealth::from_check(Ok(200)),
            ServiceHealth::from_check(Ok(200)),
        );
        assert_eq!((ok.status, ok.http_status()), ("ok", 200));
        let degraded = Health::new(
            ServiceHealth::from_check(Ok(200)),
            ServiceHealth::from_check(Err("timed out".into())),
        );
        assert_eq!((degraded.status, degraded.http_status()), ("degraded", 503));
        assert_eq!(
            degraded.services.products.detail.as_deref(),
            Some("timed out")
        );
        assert_eq!(
            ServiceHealth::from_check(Ok(500)).detail.as_deref(),
            Some("answered 500")
        );
    }
}
