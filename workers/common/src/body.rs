//! Request bodies: content type, size, strict JSON, and typed fields.
//!
//! A body becomes a typed value here or the request is refused with the
//! precise 4xx: 415 wrong type, 413 too large, 400 not JSON (or duplicate
//! keys), 422 unknown or invalid fields.

use crate::problem::{FieldError, Problem};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The largest body any route accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Accepts `application/json`, with or without parameters such as a charset.
pub fn require_json_content_type(header: Option<&str>) -> Result<(), Problem> {
    let media_type = header.and_then(|h| h.split(';').next()).map(str::trim);
    match media_type {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(Problem::unsupported_media_type()),
    }
}

/// Parses a body that must be a JSON object whose keys are all in `allowed`.
pub fn parse_object(bytes: &[u8], allowed: &[&str]) -> Result<FieldReader, Problem> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Problem::bad_request("the body is not valid UTF-8"))?;
    let StrictValue(value) = serde_json::from_str(text)
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(Problem::unprocessable(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    };
    let unknown: Vec<FieldError> = object
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .map(|key| FieldError::new(key.as_str(), "is not a known field"))
        .collect();
    if !unknown.is_empty() {
        return Err(Problem::unprocessable(unknown));
    }
    Ok(FieldReader {
        object,
        errors: Vec::new(),
    })
}

/// Reads typed fields out of a JSON object, collecting every error so that
/// a client learns about all of them in one answer.
#[derive(Debug)]
pub struct FieldReader {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

pub type FieldParser<T> = fn(&Value) -> Result<T, String>;

impl FieldReader {
    /// A field that must be present and not null.
    pub fn required<T>(&mut self, field: &str, parse: FieldParser<T>) -> Option<T> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(field, "is required"));
                None
            }
            Some(value) => self.parse(field, value.clone(), parse),
        }
    }

    /// A field that may be absent: `None` when absent.
    pub fn optional<T>(&mut self, field: &str, parse: FieldParser<T>) -> Option<T> {
        match self.object.get(field) {
            None => None,
            Some(value) => self.parse(field, value.clone(), parse),
        }
    }

    /// A field that may be absent or null: `Some(None)` when null.
    pub fn nullable<T>(&mut self, field: &str, parse: FieldParser<T>) -> Option<Option<T>> {
        match self.object.get(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => self.parse(field, value.clone(), parse).map(Some),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.object.is_empty()
    }

    fn parse<T>(&mut self, field: &str, value: Value, parse: FieldParser<T>) -> Option<T> {
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// `Ok` with what `build` makes of the fields read, or 422 with every
    /// error collected.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Problem> {
        if !self.errors.is_empty() {
            return Err(Problem::unprocessable(self.errors));
        }
        build().ok_or_else(|| Problem::unprocessable(vec![FieldError::new("", "is incomplete")]))
    }
}

/// A string field: trimmed, `min..=max` characters, without control
/// characters (line breaks and tabs only where `multiline`).
pub fn text(value: &Value, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let Value::String(raw) = value else {
        return Err("must be a string".into());
    };
    let trimmed = raw.trim();
    let allowed_control = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if trimmed
        .chars()
        .any(|c| c.is_control() && !allowed_control(c))
    {
        return Err("must not contain control characters".into());
    }
    let length = trimmed.chars().count();
    if length < min || length > max {
        return Err(format!("must be {min} to {max} characters long"));
    }
    Ok(trimmed.to_string())
}

/// The largest integer that JSON consumers (JavaScript) read exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A whole number from 0 to 2^53 - 1. As in JSON Schema, `5.0` is the
/// whole number 5.
pub fn non_negative_integer(value: &Value) -> Result<u64, String> {
    let number = match (value.as_u64(), value.as_f64()) {
        (Some(n), _) => n as f64,
        (None, Some(x)) if x.fract() == 0.0 => x,
        (None, Some(_)) => return Err("must be a whole number".into()),
        (None, None) => return Err("must be a number".into()),
    };
    if number < 0.0 {
        Err("must not be negative".into())
    } else if number > MAX_SAFE_INTEGER as f64 {
        Err(format!("must be at most {MAX_SAFE_INTEGER}"))
    } else {
        Ok(number as u64)
    }
}

/// A JSON value that refuses objects with the same key twice: which of
/// the two a parser keeps is not something a client should have to guess.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["name", "count"];

    fn status_of(body: &str) -> u16 {
        parse_object(body.as_bytes(), FIELDS)
            .map(|_| 200)
            .unwrap_or_else(|p| p.status)
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(require_json_content_type(Some("application/json")).is_ok());
        assert!(require_json_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        for bad in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some(""),
        ] {
            assert_eq!(require_json_content_type(bad).unwrap_err().status, 415);
        }
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in ["", "{", "{\"name\": }", "nul", "{\"name\":\"a\",}", "[1,]"] {
            assert_eq!(status_of(body), 400, "{body:?}");
        }
        assert_eq!(
            parse_object(b"{\"name\":\"\xff\"}", FIELDS)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn duplicate_keys_are_400_even_when_nested() {
        assert_eq!(status_of(r#"{"name":"a","name":"b"}"#), 400);
        assert_eq!(status_of(r#"{"name":{"x":1,"x":2}}"#), 400);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{{\"name\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(status_of(&deep), 400);
    }

    #[test]
    fn non_objects_and_unknown_fields_are_422() {
        assert_eq!(status_of("[]"), 422);
        assert_eq!(status_of("\"name\""), 422);
        let problem = parse_object(br#"{"name":"a","id":"x"}"#, FIELDS).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.errors,
            vec![FieldError::new("id", "is not a known field")]
        );
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = format!("{{\"name\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(status_of(&big), 413);
    }

    #[test]
    fn the_reader_collects_every_field_error() {
        let mut reader = parse_object(br#"{"count":-1}"#, FIELDS).unwrap();
        let name = reader.required("name", |v| text(v, 1, 10, false));
        let count = reader.required("count", non_negative_integer);
        let problem = reader.finish(|| Some((name?, count?))).unwrap_err();
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "count"]);
    }

    #[test]
    fn nullable_fields_tell_absent_from_null() {
        let mut reader = parse_object(br#"{"name":null}"#, FIELDS).unwrap();
        assert_eq!(
            reader.nullable("name", |v| text(v, 1, 10, false)),
            Some(None)
        );
        assert_eq!(reader.nullable("count", non_negative_integer), None);
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        let s = |v: &str| Value::String(v.into());
        assert_eq!(text(&s("  Ada  "), 1, 5, false), Ok("Ada".into()));
        assert!(text(&s("   "), 1, 5, false).is_err());
        assert!(text(&s("abcdef"), 1, 5, false).is_err());
        assert_eq!(text(&s("🦀🦀🦀🦀🦀"), 1, 5, false), Ok("🦀🦀🦀🦀🦀".into()));
        assert!(text(&s("a\u{0}b"), 1, 5, false).is_err());
        assert!(text(&s("a\nb"), 1, 5, false).is_err());
        assert!(text(&s("a\nb"), 1, 5, true).is_ok());
        assert!(text(&Value::from(5), 1, 5, false).is_err());
    }

    #[test]
    fn integers_are_whole_non_negative_and_safe() {
        assert_eq!(non_negative_integer(&Value::from(0)), Ok(0));
        assert_eq!(
            non_negative_integer(&Value::from(MAX_SAFE_INTEGER)),
            Ok(MAX_SAFE_INTEGER)
        );
        assert!(non_negative_integer(&Value::from(MAX_SAFE_INTEGER + 1)).is_err());
        assert!(non_negative_integer(&Value::from(-1)).is_err());
        assert!(non_negative_integer(&Value::from(1.5)).is_err());
        assert!(non_negative_integer(&Value::from("1")).is_err());
        assert_eq!(non_negative_integer(&Value::from(5.0)), Ok(5));
        assert!(non_negative_integer(&Value::from(9_007_199_254_740_992.0)).is_err());
        let negative_zero: StrictValue = serde_json::from_str("-0").unwrap();
        assert_eq!(non_negative_integer(&negative_zero.0), Ok(0));
    }
}
