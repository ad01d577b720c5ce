//! A user's favourite products: the list's rules, and how it is expanded
//! with what the products service answers (or fails to).

use common::id::ResourceId;
use common::records::Batch;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const MAX_FAVORITES: usize = 100;

/// Product ids in the order they were added, without repeats, at most
/// `MAX_FAVORITES`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<ResourceId>", into = "Vec<ResourceId>")]
pub struct Favorites(Vec<ResourceId>);

/// A user's favourites are full: adding one more is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FavoritesFull;

impl TryFrom<Vec<ResourceId>> for Favorites {
    type Error = String;
    fn try_from(ids: Vec<ResourceId>) -> Result<Self, String> {
        let mut favorites = Favorites::default();
        for id in ids {
            match favorites.add(id) {
                Ok(true) => {}
                Ok(false) => return Err("a favourite is listed twice".into()),
                Err(FavoritesFull) => return Err("more favourites than allowed".into()),
            }
        }
        Ok(favorites)
    }
}

impl From<Favorites> for Vec<ResourceId> {
    fn from(favorites: Favorites) -> Self {
        favorites.0
    }
}

impl Favorites {
    pub fn contains(&self, product_id: &ResourceId) -> bool {
        self.0.contains(product_id)
    }

    /// Adds a product; `false` when it was already there (adding is idempotent).
    pub fn add(&mut self, product_id: ResourceId) -> Result<bool, FavoritesFull> {
        if self.contains(&product_id) {
            return Ok(false);
        }
        if self.0.len() >= MAX_FAVORITES {
            return Err(FavoritesFull);
        }
        self.0.push(product_id);
        Ok(true)
    }

    /// Removes a product; `false` when it was not there.
    pub fn remove(&mut self, product_id: &ResourceId) -> bool {
        let before = self.0.len();
        self.0.retain(|id| id != product_id);
        self.0.len() != before
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The path and query of the one batch read that expands them all.
    pub fn batch_path(&self) -> String {
        let ids: Vec<&str> = self.0.iter().map(ResourceId::as_str).collect();
        format!("/products?ids={}", ids.join(","))
    }
}

/// What the products service's answer to `GET /products/:id` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductCheck {
    Exists,
    Absent,
    /// No usable answer: an error, or a 200 that is not that product.
    Unknown,
}

impl ProductCheck {
    pub fn from_answer(status: u16, body: &str, product_id: &ResourceId) -> Self {
        let names_product = || {
            serde_json::from_str::<Value>(body)
                .ok()
                .is_some_and(|product| {
                    product.get("id").and_then(Value::as_str) == Some(product_id.as_str())
                })
        };
        match status {
            200 if names_product() => Self::Exists,
            404 => Self::Absent,
            _ => Self::Unknown,
        }
    }
}

/// `GET /users/:id/favorites`.
#[derive(Debug, Serialize, PartialEq)]
pub struct FavoritesView {
    pub user_id: ResourceId,
    pub items: Vec<Value>,
    pub missing: Vec<ResourceId>,
    pub degraded: bool,
}

impl FavoritesView {
    /// Expands the favourites with the products service's batch answer, or,
    /// when there is none usable, lists bare ids and says it is degraded.
    pub fn new(user_id: ResourceId, favorites: &Favorites, batch_body: Option<&str>) -> Self {
        match batch_body.and_then(products_by_id) {
            Some(mut products) => {
                let (found, missing): (Vec<_>, Vec<_>) = favorites
                    .0
                    .iter()
                    .partition(|id| products.contains_key(id.as_str()));
                Self {
                    user_id,
                    items: found
                        .iter()
                        .filter_map(|id| products.remove(id.as_str()))
                        .collect(),
                    missing: missing.into_iter().cloned().collect(),
                    degraded: false,
                }
            }
            None => Self {
                user_id,
                items: favorites
                    .0
                    .iter()
                    .map(|id| Value::Object(id_only(id)))
                    .collect(),
                missing: Vec::new(),
                degraded: !favorites.is_empty(),
            },
        }
    }
}

fn id_only(id: &ResourceId) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), Value::String(id.to_string()));
    object
}

/// The products of a batch answer by id, or `None` when the answer is not
/// of that shape.
fn products_by_id(body: &str) -> Option<HashMap<String, Value>> {
    let batch: Batch<Value> = serde_json::from_str(body).ok()?;
    batch
        .items
        .into_iter()
        .map(|item| Some((item.get("id")?.as_str()?.to_string(), item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ResourceId {
        ResourceId::parse(raw).unwrap()
    }

    fn favorites(ids: &[&str]) -> Favorites {
        let mut list = Favorites::default();
        for raw in ids {
            list.add(id(raw)).unwrap();
        }
        list
    }

    #[test]
    fn adding_is_idempotent_and_bounded() {
        let mut list = favorites(&["101"]);
        assert_eq!(list.add(id("101")), Ok(false));
        assert_eq!(list.0.len(), 1);
        for n in 1..MAX_FAVORITES {
            list.add(id(&n.to_string())).unwrap();
        }
        assert_eq!(list.add(id("one-too-many")), Err(FavoritesFull));
        assert_eq!(list.add(id("101")), Ok(false));
    }

    #[test]
    fn stored_lists_hold_the_same_rules() {
        assert_eq!(
            serde_json::from_str::<Favorites>(r#"["101","102"]"#).unwrap(),
            favorites(&["101", "102"])
        );
        assert!(serde_json::from_str::<Favorites>(r#"["101","101"]"#).is_err());
        assert!(serde_json::from_str::<Favorites>(r#"["a/b"]"#).is_err());
        let too_many: Vec<String> = (0..=MAX_FAVORITES).map(|n| n.to_string()).collect();
        assert!(
            serde_json::from_str::<Favorites>(&serde_json::to_string(&too_many).unwrap()).is_err()
        );
    }

    #[test]
    fn removing_is_idempotent() {
        let mut list = favorites(&["101", "102"]);
        assert!(list.remove(&id("101")));
        assert!(!list.remove(&id("101")));
        assert_eq!(list, favorites(&["102"]));
    }

    #[test]
    fn one_batch_path_for_all() {
        assert_eq!(
            favorites(&["102", "101"]).batch_path(),
            "/products?ids=102,101"
        );
    }

    #[test]
    fn expansion_keeps_the_order_added_and_lists_the_missing() {
        let list = favorites(&["102", "gone", "101"]);
        let body = r#"{"items":[{"id":"101","name":"Laptop"},{"id":"102","name":"Mouse"}],"missing":["gone"]}"#;
        let view = FavoritesView::new(id("1"), &list, Some(body));
        let names: Vec<&str> = view
            .items
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Mouse", "Laptop"]);
        assert_eq!(view.missing, vec![id("gone")]);
        assert!(!view.degraded);
    }

    #[test]
    fn garbage_or_no_answer_degrades_to_bare_ids() {
        let list = favorites(&["101", "102"]);
        for body in [
            None,
            Some("not json"),
            Some("{\"items\":3}"),
            Some("{\"items\":[{\"no\":1}],\"missing\":[]}"),
        ] {
            let view = FavoritesView::new(id("1"), &list, body);
            assert!(view.degraded, "{body:?}");
            assert_eq!(
                view.items,
                vec![
                    serde_json::json!({"id":"101"}),
                    serde_json::json!({"id":"102"})
                ]
            );
            assert!(view.missing.is_empty());
        }
    }

    #[test]
    fn only_the_product_itself_confirms_it() {
        let laptop = id("101");
        assert_eq!(
            ProductCheck::from_answer(200, r#"{"id":"101","name":"Laptop"}"#, &laptop),
            ProductCheck::Exists
        );
        assert_eq!(
            ProductCheck::from_answer(404, "", &laptop),
            ProductCheck::Absent
        );
        for (status, body) in [
            (200, "{not json"),
            (200, r#"{"id":"102"}"#),
            (200, "[]"),
            (500, "{}"),
            (503, ""),
        ] {
            assert_eq!(
                ProductCheck::from_answer(status, body, &laptop),
                ProductCheck::Unknown,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn no_favourites_is_never_degraded() {
        let view = FavoritesView::new(id("1"), &Favorites::default(), None);
        assert!(!view.degraded && view.items.is_empty());
    }
}
