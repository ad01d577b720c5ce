//! `GET /health`: the gateway's view of each service's own health check,
//! and how far users has got with the product events (from users' own
//! `/health`, which notes it once per batch of events).

use crate::json::Json;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct ServiceHealth {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Only from a service that consumes events, once it has processed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsProgress>,
}

/// When the newest event was processed, when it happened, and the lag
/// between the two.
#[derive(Debug, Serialize, PartialEq)]
pub struct EventsProgress {
    pub processed_at: String,
    pub last_event_time: String,
    pub lag_ms: u64,
}

impl EventsProgress {
    fn from_health_body(body: &str) -> Option<Self> {
        let health = Json::parse(body.as_bytes())?;
        let events = health.get("events")?;
        Some(Self {
            processed_at: events.string("processed_at").ok()??.to_string(),
            last_event_time: events.string("last_event_time").ok()??.to_string(),
            lag_ms: events.number("lag_ms").ok()?? as u64,
        })
    }
}

impl ServiceHealth {
    /// A service is healthy when its `/health` answered 200 in time.
    pub fn from_check(result: Result<(u16, String), String>) -> Self {
        match result {
            Ok((200, body)) => Self {
                status: "ok",
                detail: None,
                events: EventsProgress::from_health_body(&body),
            },
            Ok((status, _)) => Self::error(format!("answered {status}")),
            Err(why) => Self::error(why),
        }
    }

    fn error(detail: String) -> Self {
        Self {
            status: "error",
            detail: Some(detail),
            events: None,
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
    use common::glue::env::Env;
    use common::glue::request::Inbound;

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

    fn ok(body: &str) -> Result<(u16, String), String> {
        Ok((200, body.to_string()))
    }

    #[test]
    fn healthy_only_when_both_are() {
        let healthy = Health::new(
            ServiceHealth::from_check(ok(r#"{"status":"ok"}"#)),
            ServiceHealth::from_check(ok("")),
        );
        assert_eq!((healthy.status, healthy.http_status()), ("ok", 200));
        let degraded = Health::new(
            ServiceHealth::from_check(ok("{}")),
            ServiceHealth::from_check(Err("timed out".into())),
        );
        assert_eq!((degraded.status, degraded.http_status()), ("degraded", 503));
        assert_eq!(
            degraded.services.products.detail.as_deref(),
            Some("timed out")
        );
        assert_eq!(
            ServiceHealth::from_check(Ok((500, String::new())))
                .detail
                .as_deref(),
            Some("answered 500")
        );
    }

    #[test]
    fn the_event_consumers_progress_is_passed_on_when_it_reads() {
        let body = r#"{"status":"ok","events":{"processed_at":"2026-11-27T10:00:01.000Z","last_event_time":"2026-11-27T10:00:00.250Z","lag_ms":750}}"#;
        let users = ServiceHealth::from_check(ok(body));
        assert_eq!(
            users.events,
            Some(EventsProgress {
                processed_at: "2026-11-27T10:00:01.000Z".into(),
                last_event_time: "2026-11-27T10:00:00.250Z".into(),
                lag_ms: 750,
            })
        );
        for unreadable in [
            r#"{"status":"ok","events":null}"#,
            "garbage",
            r#"{"events":{"lag_ms":"x"}}"#,
        ] {
            assert_eq!(
                ServiceHealth::from_check(ok(unreadable)).events,
                None,
                "{unreadable}"
            );
        }
        let json = serde_json::to_string(&ServiceHealth::from_check(ok("{}"))).unwrap();
        assert_eq!(json, r#"{"status":"ok"}"#);
    }
}
