//! Which handler a method and path go to: a pure decision, tested natively.

use common::id::ResourceId;
use common::url::segments;
use common::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    ListUsers,
    CreateUser,
    GetUser(ResourceId),
    ReplaceUser(ResourceId),
    PatchUser(ResourceId),
    DeleteUser(ResourceId),
    ListFavorites(ResourceId),
    AddFavorite(ResourceId, ResourceId),
    RemoveFavorite(ResourceId, ResourceId),
}

pub fn resolve(method: &str, path: &str) -> Result<Route, Problem> {
    let not_allowed = |allow: &str| Problem::method_not_allowed(method, allow);
    match segments(path).as_slice() {
        ["health"] => match method {
            "GET" => Ok(Route::Health),
            _ => Err(not_allowed("GET, HEAD")),
        },
        ["users"] => match method {
            "GET" => Ok(Route::ListUsers),
            "POST" => Ok(Route::CreateUser),
            _ => Err(not_allowed("GET, HEAD, POST")),
        },
        ["users", id] => {
            let id = user_id(id)?;
            match method {
                "GET" => Ok(Route::GetUser(id)),
                "PUT" => Ok(Route::ReplaceUser(id)),
                "PATCH" => Ok(Route::PatchUser(id)),
                "DELETE" => Ok(Route::DeleteUser(id)),
                _ => Err(not_allowed("GET, HEAD, PUT, PATCH, DELETE")),
            }
        }
        ["users", id, "favorites"] => {
            let id = user_id(id)?;
            match method {
                "GET" => Ok(Route::ListFavorites(id)),
                _ => Err(not_allowed("GET, HEAD")),
            }
        }
        ["users", id, "favorites", product_id] => {
            let id = user_id(id)?;
            let product_id =
                ResourceId::parse(product_id).ok_or_else(|| Problem::invalid_id("a product id"))?;
            match method {
                "PUT" => Ok(Route::AddFavorite(id, product_id)),
                "DELETE" => Ok(Route::RemoveFavorite(id, product_id)),
                _ => Err(not_allowed("PUT, DELETE")),
            }
        }
        _ => Err(Problem::no_route(path)),
    }
}

fn user_id(raw: &str) -> Result<ResourceId, Problem> {
    ResourceId::parse(raw).ok_or_else(|| Problem::invalid_id("a user id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    #[test]
    fn every_route_resolves() {
        assert_eq!(resolve("GET", "/health"), Ok(Route::Health));
        assert_eq!(resolve("GET", "/users"), Ok(Route::ListUsers));
        assert_eq!(resolve("POST", "/users"), Ok(Route::CreateUser));
        assert_eq!(resolve("GET", "/users/1"), Ok(Route::GetUser(id("1"))));
        assert_eq!(resolve("PUT", "/users/1"), Ok(Route::ReplaceUser(id("1"))));
        assert_eq!(resolve("PATCH", "/users/1"), Ok(Route::PatchUser(id("1"))));
        assert_eq!(
            resolve("DELETE", "/users/1"),
            Ok(Route::DeleteUser(id("1")))
        );
        assert_eq!(
            resolve("GET", "/users/1/favorites"),
            Ok(Route::ListFavorites(id("1")))
        );
        assert_eq!(
            resolve("PUT", "/users/1/favorites/101"),
            Ok(Route::AddFavorite(id("1"), id("101")))
        );
        assert_eq!(
            resolve("DELETE", "/users/1/favorites/101"),
            Ok(Route::RemoveFavorite(id("1"), id("101")))
        );
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        let problem = resolve("DELETE", "/users").unwrap_err();
        assert_eq!(problem.status, 405);
        assert_eq!(
            problem.headers,
            vec![("Allow", "GET, HEAD, POST".to_string())]
        );
        assert_eq!(resolve("POST", "/users/1").unwrap_err().status, 405);
        assert_eq!(resolve("BREW", "/health").unwrap_err().status, 405);
    }

    #[test]
    fn malformed_ids_are_400_and_unknown_paths_404() {
        assert_eq!(resolve("GET", "/users/a%2Fb").unwrap_err().status, 400);
        assert_eq!(
            resolve("GET", &format!("/users/{}", "x".repeat(65)))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            resolve("PUT", "/users/1/favorites/..").unwrap_err().status,
            400
        );
        assert_eq!(resolve("GET", "/users/").unwrap_err().status, 400);
        assert_eq!(resolve("GET", "/nowhere").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/users/1/2/3/4").unwrap_err().status, 404);
    }
}
