//! Where a request goes: to a service, or to one of the gateway's own routes.

use crate::docs;
use common::url::segments;
use common::Problem;

/// A service behind the gateway, reached over its service binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    Users,
    Products,
}

impl Upstream {
    pub const ALL: [Upstream; 2] = [Upstream::Users, Upstream::Products];

    pub fn name(self) -> &'static str {
        match self {
            Upstream::Users => "users",
            Upstream::Products => "products",
        }
    }

    /// Its place in `ALL`.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn binding(self) -> &'static str {
        match self {
            Upstream::Users => "USERS",
            Upstream::Products => "PRODUCTS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Forward(Upstream),
    Health,
    OpenApi,
    /// The API reference page, or one of its files (see `docs`).
    Docs,
}

/// `/users…` to users, `/products…` to products, the gateway's own routes
/// (the reference page at `/docs` and its files at `/docs/{file}`), and a
/// 404 for anything else.
pub fn resolve(method: &str, path: &str) -> Result<Destination, Problem> {
    let own = |destination| match method {
        "GET" | "HEAD" => Ok(destination),
        _ => Err(Problem::method_not_allowed(method, "GET, HEAD")),
    };
    match segments(path).as_slice() {
        ["users", ..] => Ok(Destination::Forward(Upstream::Users)),
        ["products", ..] => Ok(Destination::Forward(Upstream::Products)),
        ["health"] => own(Destination::Health),
        ["openapi.json"] => own(Destination::OpenApi),
        ["docs"] => own(Destination::Docs),
        ["docs", file] if docs::is_file_name(file) => own(Destination::Docs),
        _ => Err(Problem::no_route(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_prefixes_are_forwarded_whole() {
        for path in ["/users", "/users/1", "/users/1/favorites/101"] {
            assert_eq!(
                resolve("DELETE", path),
                Ok(Destination::Forward(Upstream::Users))
            );
        }
        assert_eq!(Upstream::Products.index(), 1);
        for path in ["/products", "/products/101"] {
            assert_eq!(
                resolve("GET", path),
                Ok(Destination::Forward(Upstream::Products))
            );
        }
    }

    #[test]
    fn own_routes_are_get_only() {
        assert_eq!(resolve("GET", "/health"), Ok(Destination::Health));
        assert_eq!(resolve("GET", "/openapi.json"), Ok(Destination::OpenApi));
        assert_eq!(resolve("GET", "/docs"), Ok(Destination::Docs));
        assert_eq!(resolve("HEAD", "/docs/docs.js"), Ok(Destination::Docs));
        assert_eq!(resolve("POST", "/docs").unwrap_err().status, 405);
        assert_eq!(resolve("PUT", "/docs/docs.js").unwrap_err().status, 405);
        assert_eq!(resolve("HEAD", "/health"), Ok(Destination::Health));
        let refused = resolve("POST", "/health").unwrap_err();
        assert_eq!(refused.status, 405);
        assert_eq!(refused.headers, vec![("Allow", "GET, HEAD".to_string())]);
    }

    #[test]
    fn everything_else_is_404() {
        for path in [
            "/",
            "/nowhere",
            "/usersx",
            "/health/x",
            "/openapi.json/x",
            "/Users",
            "//health",
            "/docs/",
            "/docs/..",
            "/docs/.hidden",
            "/docs/a/b.js",
            "/docs/%2e%2e%2fopenapi.json",
        ] {
            assert_eq!(resolve("GET", path).unwrap_err().status, 404, "{path}");
        }
    }
}
