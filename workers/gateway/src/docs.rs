//! The API reference at `/docs`: Swagger UI over `/openapi.json`. Its files
//! are the gateway's static assets (wrangler `[assets]`, built by
//! scripts/docs-assets.mjs), read through the ASSETS binding by the gateway
//! itself, so that every concern of the pipeline applies to them too.

use common::Problem;

/// The binding the static assets are read through.
pub const ASSETS: &str = "ASSETS";

/// The page itself; its files sit beside it, under `/docs/`.
pub const PAGE: &str = "/docs";

/// A file name under `/docs/`: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot (no `..`, no hidden files).
pub fn is_file_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

/// Where a `/docs` path's file is in the assets: the page is its folder's
/// `index.html`, and a file is at its own path.
pub fn asset_path(path: &str) -> &str {
    match path {
        PAGE => "/docs/index.html",
        file => file,
    }
}

/// What the assets' answer becomes: a file they do not have is the
/// gateway's own 404, like any path it has no route for.
pub fn accept(status: u16, path: &str) -> Result<(), Problem> {
    match status {
        404 => Err(Problem::no_route(path)),
        _ => Ok(()),
    }
}

#[cfg(target_arch = "wasm32")]
pub use glue::fetch;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::{accept, asset_path, ASSETS};
    use crate::headers::not_forwarded;
    use common::glue::env::Env;
    use common::glue::request::Inbound;
    use common::glue::service::{call_service, service, CallFailure, Outgoing};
    use common::Problem;
    use wasm_bindgen::JsValue;
    use web_sys::Response;

    /// The `/docs` file the request names, from the static assets, within
    /// the timeout. Conditional headers go along, so a cached file is a 304.
    pub async fn fetch(env: &Env, inbound: &Inbound, timeout_ms: u64) -> Result<Response, Problem> {
        let assets = service(env, ASSETS)?;
        let url = format!("https://assets{}", asset_path(&inbound.path));
        let connection = inbound.header("Connection");
        let outgoing = Outgoing {
            url: &url,
            method: &inbound.method,
            from: Some(&inbound.headers),
            drop: not_forwarded(connection.as_deref(), false),
            set: inbound.next_hop(),
            body: JsValue::UNDEFINED,
        };
        match call_service(&assets, &outgoing, timeout_ms).await {
            Ok(response) => accept(response.status(), &inbound.path).map(|()| response),
            Err(CallFailure::TimedOut) => Err(unavailable("timed out")),
            Err(CallFailure::Threw(why)) => Err(unavailable(&why)),
        }
    }

    fn unavailable(why: &str) -> Problem {
        common::console_error!("the static assets failed: {why}");
        Problem::unavailable("the API reference is unavailable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain_names() {
        for name in [
            "swagger-ui-bundle.js",
            "docs.css",
            "favicon-32x32.png",
            "a",
            "LICENSE",
        ] {
            assert!(is_file_name(name), "{name}");
        }
        let long = "a".repeat(65);
        for name in [
            "",
            ".",
            "..",
            ".env",
            "a/b",
            "a%2fb",
            "a b",
            "é.js",
            long.as_str(),
        ] {
            assert!(!is_file_name(name), "{name:?}");
        }
    }

    #[test]
    fn the_page_is_its_folders_index() {
        assert_eq!(asset_path("/docs"), "/docs/index.html");
        assert_eq!(asset_path("/docs/docs.js"), "/docs/docs.js");
    }

    #[test]
    fn a_file_the_assets_lack_is_no_route() {
        let missing = accept(404, "/docs/nothing.js").unwrap_err();
        assert_eq!(missing.status, 404);
        assert!(missing.detail.contains("/docs/nothing.js"));
        for status in [200, 304] {
            assert_eq!(accept(status, "/docs"), Ok(()));
        }
    }
}
