//! Field types that can only hold valid values, from a request body and
//! from storage alike: bounded text, and whole numbers JSON readers read
//! exactly.

use crate::body::{non_negative_integer, text, MAX_SAFE_INTEGER};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Text of `MIN..=MAX` characters, trimmed, without control characters
/// (line breaks and tabs allowed where `MULTILINE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MIN: usize, const MAX: usize, const MULTILINE: bool>(String);

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> Text<MIN, MAX, MULTILINE> {
    /// From a body's JSON value, with the message a client reads.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        text(value, MIN, MAX, MULTILINE).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> TryFrom<String>
    for Text<MIN, MAX, MULTILINE>
{
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::from_json(&Value::String(raw))
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> From<Text<MIN, MAX, MULTILINE>>
    for String
{
    fn from(text: Text<MIN, MAX, MULTILINE>) -> String {
        text.0
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> fmt::Display
    for Text<MIN, MAX, MULTILINE>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole number from 0 to 2^53 - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Count(u64);

impl Count {
    pub fn from_json(value: &Value) -> Result<Self, String> {
        non_negative_integer(value).map(Self)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Count {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        match n <= MAX_SAFE_INTEGER {
            true => Ok(Self(n)),
            false => Err(format!("must be at most {MAX_SAFE_INTEGER}")),
        }
    }
}

impl From<Count> for u64 {
    fn from(count: Count) -> u64 {
        count.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Short = Text<1, 3, false>;

    #[test]
    fn text_is_checked_from_bodies_and_from_storage() {
        assert_eq!(
            Short::from_json(&Value::from(" ab ")).unwrap().as_str(),
            "ab"
        );
        assert!(Short::from_json(&Value::from("abcd")).is_err());
        assert!(serde_json::from_str::<Short>("\"\"").is_err());
        assert!(serde_json::from_str::<Short>("\"a\\u0000\"").is_err());
        assert!(serde_json::from_str::<Text<0, 5, true>>("\"a\\nb\"").is_ok());
        assert_eq!(
            serde_json::to_string(&Short::try_from("ab".to_string()).unwrap()).unwrap(),
            "\"ab\""
        );
    }

    #[test]
    fn counts_are_safe_integers() {
        assert_eq!(Count::from_json(&Value::from(5.0)).unwrap().get(), 5);
        assert!(serde_json::from_str::<Count>("9007199254740992").is_err());
        assert!(serde_json::from_str::<Count>("-1").is_err());
        assert_eq!(
            serde_json::from_str::<Count>("9007199254740991")
                .unwrap()
                .get(),
            MAX_SAFE_INTEGER
        );
    }
}
