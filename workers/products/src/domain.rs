//! Products: what a valid product is, and how one is created and changed.
//! Every field holds a checked value, from a request body and from storage.

use common::body::FieldReader;
use common::collection::Collection;
use common::id::ResourceId;
use common::records::Record;
use common::text::{Count, Text};
use common::time::Timestamp;
use common::writes::Resource;
use common::Problem;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub type ProductName = Text<1, 200, false>;
pub type Description = Text<0, 2000, true>;

/// A product as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ResourceId,
    pub name: ProductName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    pub price: Price,
    pub stock: Count,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub amount: Count,
    pub currency: Currency,
}

/// Three upper-case letters (ISO 4217).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        match code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            true => Ok(Self(code)),
            false => Err("currency must be three upper-case letters (ISO 4217)".into()),
        }
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
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
        let amount = Count::from_json(amount).map_err(|e| format!("amount {e}"))?;
        let currency = object
            .get("currency")
            .and_then(Value::as_str)
            .ok_or("currency is required, as a string")?;
        Ok(Self {
            amount,
            currency: Currency::try_from(currency.to_string())?,
        })
    }
}

pub const FIELDS: &[&str] = &["name", "description", "price", "stock"];

/// Every field a client may write (`POST`, `PUT`); `description` optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDraft {
    name: ProductName,
    description: Option<Description>,
    price: Price,
    stock: Count,
}

impl ProductDraft {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.required("name", ProductName::from_json);
        let description = reader
            .nullable("description", Description::from_json)
            .flatten();
        let price = reader.required("price", Price::from_json);
        let stock = reader.required("stock", Count::from_json);
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<ProductName>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    description: Option<Option<Description>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stock: Option<Count>,
}

/// A field that is present: `null` is `Some(None)`, absent (the default)
/// is `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ProductPatch {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.optional("name", ProductName::from_json);
        let description = reader.nullable("description", Description::from_json);
        let price = reader.optional("price", Price::from_json);
        let stock = reader.optional("stock", Count::from_json);
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
    pub fn create(id: ResourceId, draft: ProductDraft, now: &Timestamp) -> Self {
        Self {
            id,
            name: draft.name,
            description: draft.description,
            price: draft.price,
            stock: draft.stock,
            created_at: now.clone(),
            updated_at: now.clone(),
        }
    }
}

impl Record for Product {
    const COLLECTION: Collection = Collection {
        prefix: "product:",
        noun: "product",
        path: "/products",
    };
}

impl Resource for Product {
    type Draft = ProductDraft;
    type Patch = ProductPatch;

    fn id(&self) -> &ResourceId {
        &self.id
    }

    fn apply(&mut self, patch: ProductPatch) {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(description) = patch.description {
            self.description = description;
        }
        if let Some(price) = patch.price {
            self.price = price;
        }
        if let Some(stock) = patch.stock {
            self.stock = stock;
        }
    }

    fn touch(&mut self, now: &Timestamp) {
        self.updated_at = now.clone();
    }
}

impl From<ProductDraft> for ProductPatch {
    fn from(draft: ProductDraft) -> Self {
        ProductPatch {
            name: Some(draft.name),
            description: Some(draft.description),
            price: Some(draft.price),
            stock: Some(draft.stock),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::body::parse_object;

    fn draft(json: &str) -> Result<ProductDraft, Problem> {
        ProductDraft::parse(parse_object(json.as_bytes(), FIELDS)?)
    }

    fn patch(json: &str) -> ProductPatch {
        ProductPatch::parse(parse_object(json.as_bytes(), FIELDS).unwrap()).unwrap()
    }

    fn error_fields(json: &str) -> Vec<String> {
        draft(json)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn t(n: u64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    const LAPTOP: &str =
        r#"{"name":"Laptop","price":{"amount":129900,"currency":"EUR"},"stock":5}"#;

    #[test]
    fn a_complete_draft_parses_and_stores_without_an_absent_description() {
        let product = Product::create(
            ResourceId::parse("101").unwrap(),
            draft(LAPTOP).unwrap(),
            &t(0),
        );
        assert_eq!(product.price.amount.get(), 129_900);
        assert_eq!(product.description, None);
        let json = serde_json::to_value(&product).unwrap();
        assert!(json.get("description").is_none());
        let stored = serde_json::to_string(&product).unwrap();
        assert_eq!(serde_json::from_str::<Product>(&stored).unwrap(), product);
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
    fn stored_products_that_break_the_rules_do_not_decode() {
        let valid = serde_json::to_value(Product::create(
            ResourceId::parse("1").unwrap(),
            draft(LAPTOP).unwrap(),
            &t(0),
        ))
        .unwrap();
        for (field, bad) in [
            ("name", Value::from("")),
            ("stock", Value::from(-1)),
            ("price", serde_json::json!({"amount": 1, "currency": "eur"})),
            ("created_at", Value::from("yesterday")),
            ("id", Value::from("a/b")),
        ] {
            let mut broken = valid.clone();
            broken[field] = bad;
            assert!(
                serde_json::from_value::<Product>(broken).is_err(),
                "{field}"
            );
        }
    }

    #[test]
    fn patches_change_only_what_is_sent_and_null_clears_the_description() {
        let with_description = LAPTOP.replace("\"stock\"", "\"description\":\"fast\",\"stock\"");
        let product = Product::create(
            ResourceId::parse("1").unwrap(),
            draft(&with_description).unwrap(),
            &t(0),
        );
        let patched = product.patched(patch(r#"{"stock":7,"description":null}"#), &t(1));
        assert_eq!(patched.stock.get(), 7);
        assert_eq!(patched.description, None);
        assert_eq!(patched.name.as_str(), "Laptop");
        assert_eq!(patched.updated_at, t(1));
        assert_eq!(product.patched(patch(r#"{"stock":5}"#), &t(2)), product);
    }

    #[test]
    fn patches_keep_absent_apart_from_null_on_the_way_to_the_writer() {
        for json in [
            r#"{"description":null}"#,
            r#"{"stock":3}"#,
            r#"{"description":"x"}"#,
        ] {
            let sent = patch(json);
            let wire = serde_json::to_string(&sent).unwrap();
            assert_eq!(
                serde_json::from_str::<ProductPatch>(&wire).unwrap(),
                sent,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_string(&patch(r#"{"description":null}"#)).unwrap(),
            r#"{"description":null}"#
        );
    }
}
