//! One JSON line per request. It names the caller by key label, token
//! subject or address, never by key or token, and carries no header values
//! or bodies.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AccessLog<'a> {
    pub time: String,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration_ms: u64,
    pub service: Option<&'a str>,
    pub service_status: Option<u16>,
    pub caller: String,
}

impl AccessLog<'_> {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Prints the line: `wrangler dev` shows it; in production it goes to
    /// Workers Logs.
    #[cfg(target_arch = "wasm32")]
    pub fn write(&self) {
        common::console_log!("{}", self.to_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_field_and_no_secret() {
        let line = AccessLog {
            time: "2026-11-26T00:00:00.000Z".into(),
            request_id: "r1",
            method: "POST",
            path: "/users",
            status: 201,
            duration_ms: 3,
            service: Some("users"),
            service_status: Some(201),
            caller: "key:dev".into(),
        }
        .to_line();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        for field in [
            "time",
            "request_id",
            "method",
            "path",
            "status",
            "duration_ms",
            "service",
            "service_status",
            "caller",
        ] {
            assert!(value.get(field).is_some(), "{field}");
        }
        assert_eq!(value["caller"], "key:dev");
        assert!(!line.contains('\n'));
    }
}
