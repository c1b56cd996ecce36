//! Parsing and validation of TR-069 parameter paths: names, instance numbers and `[alias]` segments.

use std::fmt;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::quoted::Quoted;

/// One dot-separated segment of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// An object or parameter name.
    Name(&'a str),
    /// An instance number (1 or more).
    Number(u32),
    /// An instance alias written `[alias]` (TR-069 Alias-Based Addressing).
    Alias(&'a str),
}

/// A parsed path: its segments and whether it names an object (`…​.`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedPath<'a> {
    pub segments: Vec<Segment<'a>>,
    /// True for a partial path (ending in `.`) and for the empty path.
    pub partial: bool,
}

/// Why a path is not well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Two dots in a row, or a leading dot.
    EmptySegment,
    /// A name holding characters other than letters, digits, `_` and `-`, or not
    /// starting with a letter or `_`.
    BadName(String),
    /// An instance number of 0, with a leading zero, or too large.
    BadNumber(String),
    /// An `[alias]` that is empty, unterminated or holds `[`, `]` or `.`.
    BadAlias(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::EmptySegment => f.write_str("empty path segment"),
            PathError::BadName(s) => write!(f, "bad name segment {}", Quoted(s)),
            PathError::BadNumber(s) => write!(f, "bad instance number {}", Quoted(s)),
            PathError::BadAlias(s) => write!(f, "bad alias segment {}", Quoted(s)),
        }
    }
}

impl std::error::Error for PathError {}

impl From<PathError> for Fault {
    fn from(err: PathError) -> Fault {
        Fault::with_text(FaultCode::InvalidParameterName, err.to_string())
    }
}

/// Parses a full (`Device.Time.Enable`) or partial (`Device.Time.`) path; the
/// empty string is the partial path of the whole tree.
pub fn parse(path: &str) -> Result<ParsedPath<'_>, PathError> {
    if path.is_empty() {
        return Ok(ParsedPath {
            segments: Vec::new(),
            partial: true,
        });
    }
    let (body, partial) = match path.strip_suffix('.') {
        Some(body) => (body, true),
        None => (path, false),
    };
    let mut segments = Vec::new();
    for raw in body.split('.') {
        segments.push(parse_segment(raw)?);
    }
    Ok(ParsedPath { segments, partial })
}

fn parse_segment(raw: &str) -> Result<Segment<'_>, PathError> {
    let first = raw.bytes().next().ok_or(PathError::EmptySegment)?;
    if first == b'[' {
        let alias = raw
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .filter(|a| !a.is_empty() && !a.contains(['[', ']']))
            .ok_or_else(|| PathError::BadAlias(raw.to_owned()))?;
        return Ok(Segment::Alias(alias));
    }
    if first.is_ascii_digit() {
        return match raw.parse::<u32>() {
            Ok(n) if n > 0 && first != b'0' => Ok(Segment::Number(n)),
            _ => Err(PathError::BadNumber(raw.to_owned())),
        };
    }
    let name_ok = (first.is_ascii_alphabetic() || first == b'_')
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if name_ok {
        Ok(Segment::Name(raw))
    } else {
        Err(PathError::BadName(raw.to_owned()))
    }
}

/// The instance number of `<table>.<n>.` (`StaticAddress.3.` with table `StaticAddress` → 3).
pub fn instance_of(rest: &str, table: &str) -> Option<u32> {
    rest.strip_prefix(table)?
        .strip_prefix('.')?
        .strip_suffix('.')?
        .parse()
        .ok()
}

/// The schema path of an instance path: each instance number becomes `{i}`
/// (`Device.X.T.3.Name` → `Device.X.T.{i}.Name`).
pub fn schema_path(path: &str) -> String {
    path.split('.')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                crate::datamodel::schema::INSTANCE
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The instance number and the rest of a path below `marker`
/// (`Device.WiFi.SSID.2.BSSID` below `.SSID.` → `(2, "BSSID")`).
pub fn instance_below<'a>(path: &'a str, marker: &str) -> Option<(u32, &'a str)> {
    let (_, tail) = path.split_once(marker)?;
    let (number, rest) = tail.split_once('.')?;
    Some((number.parse().ok()?, rest))
}

/// Whether a value is an acceptable Alias (TR-069 3.6.1): not empty, starting
/// with a letter, and usable inside `[…]` in a path.
pub fn is_valid_alias(alias: &str) -> bool {
    alias
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && !alias.contains(['.', '[', ']'])
        && alias.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_partial_and_empty_paths() {
        let p = parse("Device.IP.Interface.2.Name").expect("full");
        assert!(!p.partial);
        assert_eq!(
            p.segments,
            vec![
                Segment::Name("Device"),
                Segment::Name("IP"),
                Segment::Name("Interface"),
                Segment::Number(2),
                Segment::Name("Name"),
            ]
        );
        let p = parse("Device.IP.Interface.[cpe-1].").expect("alias");
        assert!(p.partial);
        assert_eq!(p.segments.last(), Some(&Segment::Alias("cpe-1")));
        let p = parse("").expect("empty");
        assert!(p.partial && p.segments.is_empty());
        assert!(parse("X_IOPSYS_EU_Thing.a-b").is_ok());
    }

    #[test]
    fn rejects_malformed_paths_with_9005() {
        for bad in [
            "Device..Time",
            ".Device",
            "Device.IP.Interface.0.",
            "Device.IP.Interface.01.",
            "Device.IP.Interface.99999999999.",
            "Device.IP.Interface.[].",
            "Device.IP.Interface.[a.",
            "Device.Ti me",
            "Device.1abc",
            "Device.Time.Enable..",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(Fault::from(err).code, FaultCode::InvalidParameterName);
        }
    }

    #[test]
    fn alias_values() {
        assert!(is_valid_alias("cpe-1"));
        assert!(!is_valid_alias("1abc"));
        assert!(!is_valid_alias(""));
        assert!(!is_valid_alias("a.b"));
    }

    #[test]
    fn instance_numbers_below_a_table() {
        assert_eq!(instance_of("Port.3.", "Port"), Some(3));
        assert_eq!(instance_of("Port.3", "Port"), None);
        assert_eq!(instance_of("Portal.3.", "Port"), None);
        assert_eq!(instance_of("Port.x.", "Port"), None);
    }
}
