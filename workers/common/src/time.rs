//! RFC 3339 timestamps from the runtime's clock, without a date library.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant as stored and answered: `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(String);

impl Timestamp {
    pub fn from_millis(epoch_millis: u64) -> Self {
        Self(rfc3339_utc(epoch_millis))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
        };
        let shape = bytes.len() >= 20
            && digits(0..4)
            && bytes[4] == b'-'
            && digits(5..7)
            && bytes[7] == b'-'
            && digits(8..10)
            && bytes[10] == b'T'
            && digits(11..13)
            && bytes[13] == b':'
            && digits(14..16)
            && bytes[16] == b':'
            && digits(17..19)
            && raw.ends_with('Z');
        if !shape {
            return None;
        }
        let fraction = &bytes[19..bytes.len() - 1];
        let fraction_ok = match fraction.split_first() {
            None => true,
            Some((b'.', digits)) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            Some(_) => false,
        };
        fraction_ok.then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the Unix epoch (fractions past milliseconds are
    /// dropped).
    pub fn millis(&self) -> u64 {
        let b = self.0.as_bytes();
        let number = |from: usize, to: usize| -> u64 {
            b[from..to]
                .iter()
                .fold(0, |n, d| n * 10 + u64::from(d - b'0'))
        };
        let (year, month, day) = (
            number(0, 4) as i64,
            number(5, 7) as u32,
            number(8, 10) as u32,
        );
        let days = days_from_civil(year, month, day);
        let seconds =
            days as u64 * 86_400 + number(11, 13) * 3600 + number(14, 16) * 60 + number(17, 19);
        let fraction: String = self.0[19..self.0.len() - 1]
            .chars()
            .skip(1)
            .chain("000".chars())
            .take(3)
            .collect();
        seconds * 1000 + fraction.parse::<u64>().unwrap_or(0)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("invalid timestamp {raw:?}"))
    }
}

impl From<Timestamp> for String {
    fn from(timestamp: Timestamp) -> String {
        timestamp.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_utc(epoch_millis: u64) -> String {
    let millis = epoch_millis % 1000;
    let secs = epoch_millis / 1000;
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        for good in [
            "2026-11-26T05:34:56.789Z",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.5Z",
        ] {
            assert!(Timestamp::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26T05:34:56",
            "2026-11-26T05:34:56.Z",
            "2026-11-26 05:34:56Z",
            "x026-11-26T05:34:56Z",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            Timestamp::from_millis(0).as_str(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_795_671_296_789), "2026-11-26T05:34:56.789Z");
    }
}
