//! Products: what a valid product is, and how one is created and changed.

use common::body::{non_negative_integer, text, FieldReader};
use common::id::ResourceId;
use common::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A product as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ResourceId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub price: Price,
    pub stock: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub amount: u64,
    pub currency: String,
}

impl Price {
    fn from_json(value: &Value) -> Result<Self, String> {
        let Value::Object(object) = value else {
            return Err("must be an object with amount and currency".into());
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| !matches!(key.as_str(), "amount" | "currency"))
        {
            return Err(format!("has an unknown field {unknown:?}"));
        }
        let amount = object.get("amount").ok_or("amount is required")?;
        let amount = non_negative_integer(amount).map_err(|e| format!("amount {e}"))?;
        let currency = object
            .get("currency")
            .and_then(Value::as_str)
            .ok_or("currency is required, as a string")?;
        let is_code = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
        if !is_code {
            return Err("currency must be three upper-case letters (ISO 4217)".into());
        }
        Ok(Self {
            amount,
            currency: currency.to_string(),
        })
    }
}

fn name(value: &Value) -> Result<String, String> {
    text(value, 1, 200, false)
}

fn description(value: &Value) -> Result<String, String> {
    text(value, 0, 2000, true)
}

pub const FIELDS: &[&str] = &["name", "description", "price", "stock"];

/// Every field a client may write (`POST`, `PUT`); `description` optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    name: String,
    description: Option<String>,
    price: Price,
    stock: u64,
}

impl ProductDraft {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.required("name", name);
        let description = reader.nullable("description", description).flatten();
        let price = reader.required("price", Price::from_json);
        let stock = reader.required("stock", non_negative_integer);
        reader.finish(|| {
            Some(Self {
                name: name?,
                description,
                price: price?,
                stock: stock?,
            })
        })
    }
}

/// Only the fields a client sent (`PATCH`); a `null` description clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPatch {
    name: Option<String>,
    description: Option<Option<String>>,
    price: Option<Price>,
    stock: Option<u64>,
}

impl ProductPatch {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.optional("name", name);
        let description = reader.nullable("description", description);
        let price = reader.optional("price", Price::from_json);
        let stock = reader.optional("stock", non_negative_integer);
        reader.finish(|| {
            Some(Self {
                name,
                description,
                price,
                stock,
            })
        })
    }
}

impl Product {
    pub fn create(id: ResourceId, draft: ProductDraft, now: &str) -> Self {
        Self {
            id,
            name: draft.name,
            description: draft.description,
            price: draft.price,
            stock: draft.stock,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    pub fn replaced(&self, draft: ProductDraft, now: &str) -> Self {
        let patch = ProductPatch {
            name: Some(draft.name),
            description: Some(draft.description),
            price: Some(draft.price),
            stock: Some(draft.stock),
        };
        self.patched(patch, now)
    }

    /// The product with the patch applied; unchanged (same `updated_at`)
    /// when the patch changes nothing.
    pub fn patched(&self, patch: ProductPatch, now: &str) -> Self {
        let mut next = self.clone();
        next.name = patch.name.unwrap_or(next.name);
        next.description = patch.description.unwrap_or(next.description);
        next.price = patch.price.unwrap_or(next.price);
        next.stock = patch.stock.unwrap_or(next.stock);
        if next != *self {
            next.updated_at = now.to_string();
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::body::parse_object;

    fn draft(json: &str) -> Result<ProductDraft, Problem> {
        ProductDraft::parse(parse_object(json.as_bytes(), FIELDS)?)
    }

    fn error_fields(json: &str) -> Vec<String> {
        draft(json)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    const LAPTOP: &str =
        r#"{"name":"Laptop","price":{"amount":129900,"currency":"EUR"},"stock":5}"#;

    #[test]
    fn a_complete_draft_parses() {
        let product = Product::create(
            ResourceId::parse("101").unwrap(),
            draft(LAPTOP).unwrap(),
            "t",
        );
        assert_eq!(
            product.price,
            Price {
                amount: 129_900,
                currency: "EUR".into()
            }
        );
        assert_eq!(product.description, None);
        let json = serde_json::to_value(&product).unwrap();
        assert!(json.get("description").is_none());
    }

    #[test]
    fn prices_are_whole_minor_units_in_a_currency_code() {
        for price in [
            r#"{"amount":-1,"currency":"EUR"}"#,
            r#"{"amount":1.5,"currency":"EUR"}"#,
            r#"{"amount":9007199254740992,"currency":"EUR"}"#,
            r#"{"amount":1,"currency":"eur"}"#,
            r#"{"amount":1,"currency":"EURO"}"#,
            r#"{"amount":1}"#,
            r#"{"amount":1,"currency":"EUR","x":1}"#,
            "12",
        ] {
            let body = format!(r#"{{"name":"a","price":{price},"stock":0}}"#);
            assert_eq!(error_fields(&body), ["price"], "{price}");
        }
    }

    #[test]
    fn stock_and_name_are_checked() {
        assert_eq!(
            error_fields(r#"{"name":"","price":{"amount":1,"currency":"EUR"},"stock":-2}"#),
            ["name", "stock"]
        );
        let long = format!(
            r#"{{"name":"{}","price":{{"amount":1,"currency":"EUR"}},"stock":1}}"#,
            "n".repeat(201)
        );
        assert_eq!(error_fields(&long), ["name"]);
        let long = format!(
            r#"{{"name":"n","description":"{}","price":{{"amount":1,"currency":"EUR"}},"stock":1}}"#,
            "d".repeat(2001)
        );
        assert_eq!(error_fields(&long), ["description"]);
    }

    #[test]
    fn patches_change_only_what_is_sent_and_null_clears_the_description() {
        let with_description = LAPTOP.replace("\"stock\"", "\"description\":\"fast\",\"stock\"");
        let product = Product::create(
            ResourceId::parse("1").unwrap(),
            draft(&with_description).unwrap(),
            "t0",
        );
        let patch = ProductPatch::parse(
            parse_object(br#"{"stock":7,"description":null}"#, FIELDS).unwrap(),
        )
        .unwrap();
        let patched = product.patched(patch, "t1");
        assert_eq!(
            (
                patched.stock,
                patched.description.as_deref(),
                patched.name.as_str()
            ),
            (7, None, "Laptop")
        );
        assert_eq!(patched.updated_at, "t1");
        let noop = ProductPatch::parse(parse_object(br#"{"stock":5}"#, FIELDS).unwrap()).unwrap();
        assert_eq!(product.patched(noop, "t2"), product);
    }
}
