//! `xsd:dateTime` text as CWMP carries it: validated on the way in, built from Unix seconds on the way out.

use std::fmt;

/// A validated `xsd:dateTime` lexical value (`2024-05-01T12:00:00Z`,
/// `2024-05-01T14:00:00.5+02:00`, or without a zone).
///
/// The text is kept as received so that a round trip is exact; CWMP only
/// ever copies these values, it never computes with the ACS's clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DateTime(String);

/// TR-069's "unknown time" (A.2.1): the first instant of year 1, UTC.
pub const UNKNOWN_TIME: &str = "0001-01-01T00:00:00Z";

impl DateTime {
    /// Checks `text` against the `xsd:dateTime` lexical form; `None` if it is not one.
    pub fn parse(text: &str) -> Option<DateTime> {
        if is_xsd_date_time(text) {
            Some(DateTime(text.to_owned()))
        } else {
            None
        }
    }

    /// The unknown time `0001-01-01T00:00:00Z`.
    pub fn unknown() -> DateTime {
        DateTime(UNKNOWN_TIME.to_owned())
    }

    /// Whether this is the unknown time.
    pub fn is_unknown(&self) -> bool {
        self.0 == UNKNOWN_TIME
    }

    /// The UTC time `secs` seconds after the Unix epoch (negative is before it),
    /// written as `YYYY-MM-DDThh:mm:ssZ`.
    pub fn from_unix(secs: i64) -> DateTime {
        DateTime(crate::cwmp::datetime::format_utc(secs))
    }

    /// The text as written on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DateTime {
    fn default() -> DateTime {
        DateTime::unknown()
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `-?YYYY+-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?` with the field ranges XML
/// Schema 1.0 allows (year 0000 is not a year there; `24:00:00` is).
fn is_xsd_date_time(text: &str) -> bool {
    let mut rest = text.as_bytes();
    if let Some((b'-', tail)) = rest.split_first() {
        rest = tail;
    }
    let year_digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if year_digits < 4 || (year_digits > 4 && rest.first() == Some(&b'0')) {
        return false;
    }
    let (year, tail) = rest.split_at(year_digits);
    if year.iter().all(|&b| b == b'0') {
        return false;
    }
    let Some((month, day, hour, minute, second, tail)) = date_and_clock(tail) else {
        return false;
    };
    let fields_ok = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && minute <= 59
        && second <= 59
        && (hour <= 23 || (hour == 24 && minute == 0 && second == 0));
    if !fields_ok {
        return false;
    }
    let tail = match tail.split_first() {
        Some((b'.', fraction)) => {
            let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            fraction.get(digits..).unwrap_or_default()
        }
        _ => tail,
    };
    match tail {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            match (two_digits(*h1, *h2), two_digits(*m1, *m2)) {
                (Some(h), Some(m)) => m <= 59 && (h <= 13 || (h == 14 && m == 0)),
                _ => false,
            }
        }
        _ => false,
    }
}

type ClockFields<'a> = (u8, u8, u8, u8, u8, &'a [u8]);

/// Parses `-MM-DDThh:mm:ss` and returns its fields and what follows.
fn date_and_clock(text: &[u8]) -> Option<ClockFields<'_>> {
    match text {
        [b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1, s2, tail @ ..] => {
            Some((
                two_digits(*mo1, *mo2)?,
                two_digits(*d1, *d2)?,
                two_digits(*h1, *h2)?,
                two_digits(*mi1, *mi2)?,
                two_digits(*s1, *s2)?,
                tail,
            ))
        }
        _ => None,
    }
}

fn two_digits(tens: u8, ones: u8) -> Option<u8> {
    if tens.is_ascii_digit() && ones.is_ascii_digit() {
        Some((tens - b'0') * 10 + (ones - b'0'))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_xsd_forms() {
        for text in [
            UNKNOWN_TIME,
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.123456+02:00",
            "2024-12-31T24:00:00-14:00",
            "-0044-03-15T12:00:00Z",
            "12024-05-01T12:00:00Z",
        ] {
            assert!(DateTime::parse(text).is_some(), "{text}");
        }
    }

    #[test]
    fn rejects_non_xsd_forms() {
        for text in [
            "",
            "0000-01-01T00:00:00Z",
            "2024-13-01T12:00:00Z",
            "2024-05-00T12:00:00Z",
            "2024-05-01 12:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T24:00:01Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+15:00",
            "2024-05-01T12:00:00+0200",
            "02024-05-01T12:00:00Z",
            "24-05-01T12:00:00Z",
            "2024-05-01T12:00:00Zjunk",
        ] {
            assert!(DateTime::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn from_unix_is_utc_calendar() {
        assert_eq!(DateTime::from_unix(0).as_str(), "1970-01-01T00:00:00Z");
        assert_eq!(
            DateTime::from_unix(1_709_210_096).as_str(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(DateTime::from_unix(-1).as_str(), "1969-12-31T23:59:59Z");
        assert!(DateTime::from_unix(-62_135_596_800).is_unknown());
        assert!(DateTime::default().is_unknown());
    }
}
