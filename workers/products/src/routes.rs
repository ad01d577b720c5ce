//! Which handler a method and path go to: a pure decision, tested natively.

use common::id::ResourceId;
use common::url::{query_param, segments};
use common::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    ListProducts,
    BatchGet(Vec<ResourceId>),
    CreateProduct,
    GetProduct(ResourceId),
    ReplaceProduct(ResourceId),
    PatchProduct(ResourceId),
    DeleteProduct(ResourceId),
}

/// The most ids one batch read may ask for. HEAD is routed as GET by the
/// caller.
pub const MAX_BATCH: usize = 100;

pub fn resolve(method: &str, path: &str, query: &str) -> Result<Route, Problem> {
    let not_allowed = |allow: &str| Problem::method_not_allowed(method, allow);
    match segments(path).as_slice() {
        ["health"] => match method {
            "GET" => Ok(Route::Health),
            _ => Err(not_allowed("GET, HEAD")),
        },
        ["products"] => match method {
            "GET" => match query_param(query, "ids")? {
                Some(_) if has_page_params(query)? => Err(Problem::bad_request(
                    "ids reads a batch; it does not combine with limit or cursor",
                )),
                Some(ids) => batch_ids(&ids).map(Route::BatchGet),
                None => Ok(Route::ListProducts),
            },
            "POST" => Ok(Route::CreateProduct),
            _ => Err(not_allowed("GET, HEAD, POST")),
        },
        ["products", id] => {
            let id = ResourceId::parse(id).ok_or_else(|| Problem::invalid_id("a product id"))?;
            match method {
                "GET" => Ok(Route::GetProduct(id)),
                "PUT" => Ok(Route::ReplaceProduct(id)),
                "PATCH" => Ok(Route::PatchProduct(id)),
                "DELETE" => Ok(Route::DeleteProduct(id)),
                _ => Err(not_allowed("GET, HEAD, PUT, PATCH, DELETE")),
            }
        }
        _ => Err(Problem::no_route(path)),
    }
}

fn has_page_params(query: &str) -> Result<bool, Problem> {
    Ok(query_param(query, "limit")?.is_some() || query_param(query, "cursor")?.is_some())
}

/// `ids=101,102`: 1 to 100 valid ids, repeats dropped, order kept.
pub fn batch_ids(raw: &str) -> Result<Vec<ResourceId>, Problem> {
    let mut ids: Vec<ResourceId> = Vec::new();
    for part in raw.split(',') {
        let id = ResourceId::parse(part).ok_or_else(|| Problem::invalid_id("every id in ids"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() > MAX_BATCH {
            return Err(Problem::bad_request(format!(
                "ids lists at most {MAX_BATCH} ids"
            )));
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    #[test]
    fn every_route_resolves() {
        assert_eq!(resolve("GET", "/health", ""), Ok(Route::Health));
        assert_eq!(
            resolve("GET", "/products", "limit=5"),
            Ok(Route::ListProducts)
        );
        assert_eq!(
            resolve("GET", "/products", "ids=101,102"),
            Ok(Route::BatchGet(vec![id("101"), id("102")]))
        );
        assert_eq!(resolve("POST", "/products", ""), Ok(Route::CreateProduct));
        assert_eq!(
            resolve("GET", "/products/101", ""),
            Ok(Route::GetProduct(id("101")))
        );
        assert_eq!(
            resolve("PUT", "/products/101", ""),
            Ok(Route::ReplaceProduct(id("101")))
        );
        assert_eq!(
            resolve("PATCH", "/products/101", ""),
            Ok(Route::PatchProduct(id("101")))
        );
        assert_eq!(
            resolve("DELETE", "/products/101", ""),
            Ok(Route::DeleteProduct(id("101")))
        );
    }

    #[test]
    fn batches_are_bounded_valid_and_deduplicated() {
        assert_eq!(
            batch_ids("102,101,102").unwrap(),
            vec![id("102"), id("101")]
        );
        let hundred: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        assert_eq!(batch_ids(&hundred.join(",")).unwrap().len(), 100);
        let too_many: Vec<String> = (0..101).map(|n| n.to_string()).collect();
        assert_eq!(batch_ids(&too_many.join(",")).unwrap_err().status, 400);
        for bad in ["", "101,", "1 01", "a/b"] {
            assert_eq!(batch_ids(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn a_batch_does_not_page() {
        for query in ["ids=101&limit=5", "ids=101&cursor=x", "limit=0&ids=101"] {
            assert_eq!(
                resolve("GET", "/products", query).unwrap_err().status,
                400,
                "{query}"
            );
        }
    }

    #[test]
    fn errors_are_400_404_405() {
        assert_eq!(
            resolve("GET", "/products/..%2F", "").unwrap_err().status,
            400
        );
        assert_eq!(resolve("GET", "/products/1/x", "").unwrap_err().status, 404);
        assert_eq!(resolve("PATCH", "/products", "").unwrap_err().status, 405);
    }
}
