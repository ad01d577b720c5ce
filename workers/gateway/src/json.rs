//! A small JSON reader for JWT headers and claims, JWK sets and the
//! services' `/health` answers.
//! serde_json's deserializer (with its float parser and error formatting)
//! would add about 50 KiB gzip to the gateway; these documents need only
//! objects, arrays, strings and plain numbers.

/// A parsed JSON value. Objects keep their members in order; a name that
/// occurs twice resolves to the last one (as RFC 7519 §4 allows).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A member that is present but of another JSON type than asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// Deeper documents are refused (recursion would otherwise be the
/// attacker's to choose, and a stack overflow traps the instance).
pub const MAX_DEPTH: usize = 16;

impl Json {
    /// Parses a whole document; anything after the value but white space is
    /// an error.
    pub fn parse(bytes: &[u8]) -> Option<Json> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = reader.value(0)?;
        reader.skip_space();
        (reader.at == reader.bytes.len()).then_some(value)
    }

    /// The member `name` of an object (absent for anything else).
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Member `name` as a string: `Ok(None)` when absent or null, `Err`
    /// when it is something else.
    pub fn string(&self, name: &str) -> Result<Option<&str>, WrongType> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(WrongType),
        }
    }

    /// Member `name` as a number, in the same way.
    pub fn number(&self, name: &str) -> Result<Option<f64>, WrongType> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) => Ok(Some(*n)),
            Some(_) => Err(WrongType),
        }
    }

    /// Member `name` as an array of strings, in the same way.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<&str>>, WrongType> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Json::String(s) => Ok(s.as_str()),
                    _ => Err(WrongType),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(WrongType),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Option<Json> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Json::String),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            _ => self.number().map(Json::Number),
        }
    }

    /// Calls `item` for each element of a `[`…`]` or `{`…`}` list.
    fn list(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.at += 1;
        self.skip_space();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                byte if byte == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Json> {
        let mut items = Vec::new();
        self.list(b']', |reader| {
            items.push(reader.value(depth + 1)?);
            Some(())
        })?;
        Some(Json::Array(items))
    }

    fn object(&mut self, depth: usize) -> Option<Json> {
        let mut members = Vec::new();
        self.list(b'}', |reader| {
            reader.skip_space();
            if reader.peek()? != b'"' {
                return None;
            }
            let name = reader.string()?;
            reader.skip_space();
            (reader.next()? == b':').then_some(())?;
            members.push((name, reader.value(depth + 1)?));
            Some(())
        })?;
        Some(Json::Object(members))
    }

    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.peek()?, b'"' | b'\\' | 0..=0x1f) {
                self.at += 1;
            }
            // The input is valid UTF-8 and the stops are ASCII, so every
            // run between them is a whole string slice.
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).ok()?);
            match self.next()? {
                b'"' => return Some(out),
                b'\\' => out.push(self.escape()?),
                _ => return None,
            }
        }
    }

    fn escape(&mut self) -> Option<char> {
        Some(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xd800..0xdc00).contains(&first) {
                    (self.next()? == b'\\' && self.next()? == b'u').then_some(())?;
                    let second = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&second) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))?
                } else {
                    char::from_u32(first)?
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        (0..4).try_fold(0, |acc, _| {
            let digit = char::from(self.next()?).to_digit(16)?;
            Some(acc * 16 + digit)
        })
    }

    /// RFC 8259 numbers, finite only. The value is exact for integers up
    /// to 2^53 (every NumericDate); fractions and exponents are close
    /// enough for time comparisons.
    fn number(&mut self) -> Option<f64> {
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let mut value = match self.peek()? {
            b'0' => {
                self.at += 1;
                0.0
            }
            b'1'..=b'9' => self.digits(0.0, i32::MAX)?.0,
            _ => return None,
        };
        if self.peek() == Some(b'.') {
            self.at += 1;
            let (fraction, counted) = self.digits(0.0, 17)?;
            value += fraction / 10f64.powi(counted);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let negative_exponent = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'-' | b'+')) {
                self.at += 1;
            }
            let (exponent, _) = self.digits(0.0, 4)?;
            let exponent = exponent as i32;
            value *= 10f64.powi(if negative_exponent {
                -exponent
            } else {
                exponent
            });
        }
        let value = if negative { -value } else { value };
        value.is_finite().then_some(value)
    }

    /// Reads one or more decimal digits onto `value`, counting at most
    /// `limit` of them (the rest are read and ignored); returns the value
    /// and how many digits it took.
    fn digits(&mut self, mut value: f64, limit: i32) -> Option<(f64, i32)> {
        let start = self.at;
        let mut counted = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            if counted < limit {
                value = value * 10.0 + f64::from(digit - b'0');
                counted += 1;
            }
            self.at += 1;
        }
        (self.at > start).then_some((value, counted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Json> {
        Json::parse(text.as_bytes())
    }

    fn s(text: &str) -> Json {
        Json::String(text.to_string())
    }

    #[test]
    fn documents_parse_into_values() {
        let value = parse(
            r#" {"a": [1, -2.5, 3e2, 0, true, false, null], "b": {"c": "d"}, "e": {}, "f": []} "#,
        )
        .unwrap();
        assert_eq!(
            value.get("a"),
            Some(&Json::Array(vec![
                Json::Number(1.0),
                Json::Number(-2.5),
                Json::Number(300.0),
                Json::Number(0.0),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
            ]))
        );
        assert_eq!(value.get("b").and_then(|b| b.get("c")), Some(&s("d")));
        assert_eq!(value.get("e"), Some(&Json::Object(vec![])));
        assert_eq!(value.get("f"), Some(&Json::Array(vec![])));
        assert_eq!(value.get("zz"), None);
        assert_eq!(parse("7"), Some(Json::Number(7.0)));
    }

    #[test]
    fn numbers_are_exact_where_times_need_it() {
        for (text, expected) in [
            ("1800000000", 1_800_000_000.0),
            ("9007199254740992", 9_007_199_254_740_992.0),
            ("1800000000.5", 1_800_000_000.5),
            ("-0", 0.0),
            ("1E3", 1000.0),
            ("25e-1", 2.5),
            ("1e+2", 100.0),
        ] {
            assert_eq!(parse(text), Some(Json::Number(expected)), "{text}");
        }
        let long_fraction = format!("0.5{}", "9".repeat(400));
        assert!(matches!(parse(&long_fraction), Some(Json::Number(n)) if (n - 0.6).abs() < 1e-9));
        for bad in [
            "01", "+1", "-", "1.", ".5", "1e", "1e+", "0x10", "NaN", "1 2", "1e999", "-1e400",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(
            parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00é""#),
            Some(s("a\"b\\c/d\u{8}\u{c}\n\r\té😀é"))
        );
        for bad in [
            r#""abc"#,
            "\"a\u{1}b\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\ud83d""#,
            r#""\ud83d\u0041""#,
            r#""\ude00""#,
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(Json::parse(b"\"\xff\""), None, "not UTF-8");
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\" 1}",
            "[1 2]",
            "tru",
            "nul",
            "{} {}",
            "[1]]",
            "\"a\"x",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH + 1)).is_some());
        assert_eq!(parse(&deep(MAX_DEPTH + 2)), None);
        assert_eq!(parse(&"[".repeat(100_000)), None);
    }

    #[test]
    fn the_last_duplicate_member_wins() {
        let value = parse(r#"{"sub":"alice","sub":"mallory"}"#).unwrap();
        assert_eq!(value.string("sub"), Ok(Some("mallory")));
    }

    #[test]
    fn typed_members_tell_absent_from_wrong() {
        let value = parse(r#"{"s":"x","n":5,"z":null,"l":["a","b"],"m":["a",1]}"#).unwrap();
        assert_eq!(value.string("s"), Ok(Some("x")));
        assert_eq!(value.string("z"), Ok(None));
        assert_eq!(value.string("missing"), Ok(None));
        assert_eq!(value.string("n"), Err(WrongType));
        assert_eq!(value.number("n"), Ok(Some(5.0)));
        assert_eq!(value.number("s"), Err(WrongType));
        assert_eq!(value.strings("l"), Ok(Some(vec!["a", "b"])));
        assert_eq!(value.strings("m"), Err(WrongType));
        assert_eq!(value.strings("s"), Err(WrongType));
        assert_eq!(Json::Number(1.0).get("s"), None);
    }
}
