//! Users: what a valid user is, and how one is created and changed. Every
//! field holds a checked value, from a request body and from storage.

use common::body::FieldReader;
use common::collection::Collection;
use common::id::ResourceId;
use common::records::Record;
use common::text::Text;
use common::time::Timestamp;
use common::writes::Resource;
use common::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub type Name = Text<1, 100, false>;

/// A user as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: ResourceId,
    pub name: Name,
    pub email: Email,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An email address, lower-cased: it is unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let address = raw.trim().to_ascii_lowercase();
        let invalid = || "must be a valid email address".to_string();
        if address.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        let (local, domain) = address.split_once('@').ok_or_else(invalid)?;
        if is_valid_local_part(local) && is_valid_domain(domain) {
            Ok(Self(address))
        } else {
            Err(invalid())
        }
    }

    fn from_json(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .ok_or_else(|| "must be a string".to_string())
            .and_then(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_local_part(local: &str) -> bool {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
    (1..=64).contains(&local.len())
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(atext))
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_level_ok = labels
        .last()
        .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    labels.len() >= 2 && labels.iter().all(label_ok) && top_level_ok
}

pub const FIELDS: &[&str] = &["name", "email"];

/// A complete set of the fields a client may write (`POST`, `PUT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDraft {
    pub name: Name,
    pub email: Email,
}

impl UserDraft {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.required("name", Name::from_json);
        let email = reader.required("email", Email::from_json);
        reader.finish(|| {
            Some(Self {
                name: name?,
                email: email?,
            })
        })
    }
}

/// Only the fields a client sent (`PATCH`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

impl UserPatch {
    pub fn parse(mut reader: FieldReader) -> Result<Self, Problem> {
        let name = reader.optional("name", Name::from_json);
        let email = reader.optional("email", Email::from_json);
        reader.finish(|| Some(Self { name, email }))
    }
}

impl User {
    pub fn create(id: ResourceId, draft: UserDraft, now: &Timestamp) -> Self {
        Self {
            id,
            name: draft.name,
            email: draft.email,
            created_at: now.clone(),
            updated_at: now.clone(),
        }
    }
}

impl Record for User {
    const COLLECTION: Collection = Collection {
        prefix: "user:",
        noun: "user",
        path: "/users",
    };
}

impl Resource for User {
    type Draft = UserDraft;
    type Patch = UserPatch;

    fn id(&self) -> &ResourceId {
        &self.id
    }

    fn apply(&mut self, patch: UserPatch) {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(email) = patch.email {
            self.email = email;
        }
    }

    fn touch(&mut self, now: &Timestamp) {
        self.updated_at = now.clone();
    }
}

impl From<UserDraft> for UserPatch {
    fn from(draft: UserDraft) -> Self {
        UserPatch {
            name: Some(draft.name),
            email: Some(draft.email),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::body::parse_object;

    fn draft(json: &str) -> Result<UserDraft, Problem> {
        UserDraft::parse(parse_object(json.as_bytes(), FIELDS)?)
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Email::parse("first.last+tag@sub.example.org").is_ok());
        for bad in [
            "",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a@b.c",
            "a..b@c.io",
            ".a@c.io",
            "a@-b.io",
            "a@b_.io",
            "a b@c.io",
            "a@b.io@c.io",
            "ä@b.io",
            "a@b.123",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@{}.io", "a".repeat(64), "b".repeat(200));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn a_draft_needs_a_name_and_an_email() {
        let ok = draft(r#"{"name":"  Ada ","email":"ADA@example.com"}"#).unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.email.as_str()),
            ("Ada", "ada@example.com")
        );
        let problem = draft(r#"{"name":""}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email"]);
    }

    #[test]
    fn clients_cannot_set_ids_or_timestamps() {
        for field in ["id", "created_at", "updated_at"] {
            let body = format!(r#"{{"name":"a","email":"a@b.io","{field}":"x"}}"#);
            assert_eq!(draft(&body).unwrap_err().status, 422);
        }
    }

    #[test]
    fn names_refuse_control_characters_and_overlength() {
        assert_eq!(
            draft(r#"{"name":"a\u0007","email":"a@b.io"}"#)
                .unwrap_err()
                .status,
            422
        );
        let long = format!(r#"{{"name":"{}","email":"a@b.io"}}"#, "é".repeat(101));
        assert_eq!(draft(&long).unwrap_err().status, 422);
        let emoji = format!(r#"{{"name":"{}","email":"a@b.io"}}"#, "👩‍🚀".repeat(10));
        assert!(draft(&emoji).is_ok());
    }

    fn t(n: u64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    fn ada() -> User {
        let id = ResourceId::parse("1").unwrap();
        User::create(
            id,
            draft(r#"{"name":"Ada","email":"ada@x.io"}"#).unwrap(),
            &t(0),
        )
    }

    #[test]
    fn patches_change_only_what_is_sent() {
        let user = ada();
        let patch =
            UserPatch::parse(parse_object(br#"{"name":"Grace"}"#, FIELDS).unwrap()).unwrap();
        let patched = user.patched(patch, &t(1));
        assert_eq!(
            (patched.name.as_str(), patched.email.as_str()),
            ("Grace", "ada@x.io")
        );
        assert_eq!(
            (patched.created_at.clone(), patched.updated_at.clone()),
            (t(0), t(1))
        );
        let empty = UserPatch::parse(parse_object(b"{}", FIELDS).unwrap()).unwrap();
        assert_eq!(user.patched(empty, &t(2)), user);
    }

    #[test]
    fn stored_users_that_break_the_rules_do_not_decode() {
        let valid = serde_json::to_value(ada()).unwrap();
        assert_eq!(
            serde_json::from_value::<User>(valid.clone()).unwrap(),
            ada()
        );
        for (field, bad) in [
            ("email", Value::from("not-an-address")),
            ("name", Value::from("")),
            ("updated_at", Value::from(5)),
        ] {
            let mut broken = valid.clone();
            broken[field] = bad;
            assert!(serde_json::from_value::<User>(broken).is_err(), "{field}");
        }
        let mut shouting = valid;
        shouting["email"] = Value::from("ADA@X.IO");
        let decoded = serde_json::from_value::<User>(shouting).unwrap();
        assert_eq!(
            decoded.email.as_str(),
            "ada@x.io",
            "an address is held lower-cased"
        );
    }
}
