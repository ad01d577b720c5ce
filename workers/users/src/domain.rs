//! Users: what a valid user is, and how one is created and changed.

use common::body::{text, FieldReader};
use common::id::ResourceId;
use common::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: ResourceId,
    pub name: String,
    pub email: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    fn from_json(value: &Value) -> Result<Self, String> {
        text(value, 1, 100, false).map(Self)
    }
}

/// An email address, lower-cased: it is unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPatch {
    pub name: Option<Name>,
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
    pub fn create(id: ResourceId, draft: UserDraft, now: &str) -> Self {
        Self {
            id,
            name: draft.name.0,
            email: draft.email.0,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    pub fn replaced(&self, draft: UserDraft, now: &str) -> Self {
        self.patched(
            UserPatch {
                name: Some(draft.name),
                email: Some(draft.email),
            },
            now,
        )
    }

    /// The user with the patch applied; unchanged (same `updated_at`) when
    /// the patch changes nothing.
    pub fn patched(&self, patch: UserPatch, now: &str) -> Self {
        let mut next = self.clone();
        if let Some(name) = patch.name {
            next.name = name.0;
        }
        if let Some(email) = patch.email {
            next.email = email.0;
        }
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
            (ok.name.0.as_str(), ok.email.as_str()),
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

    #[test]
    fn patches_change_only_what_is_sent() {
        let id = ResourceId::parse("1").unwrap();
        let user = User::create(
            id,
            draft(r#"{"name":"Ada","email":"ada@x.io"}"#).unwrap(),
            "t0",
        );
        let patch =
            UserPatch::parse(parse_object(br#"{"name":"Grace"}"#, FIELDS).unwrap()).unwrap();
        let patched = user.patched(patch, "t1");
        assert_eq!(
            (patched.name.as_str(), patched.email.as_str()),
            ("Grace", "ada@x.io")
        );
        assert_eq!(
            (patched.created_at.as_str(), patched.updated_at.as_str()),
            ("t0", "t1")
        );
        let empty = UserPatch::parse(parse_object(b"{}", FIELDS).unwrap()).unwrap();
        assert_eq!(user.patched(empty, "t2"), user);
    }
}
