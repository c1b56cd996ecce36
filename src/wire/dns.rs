//! DNS queries and responses (RFC 1035): the A/AAAA questions NSLookup asks and the answers it reads.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record type A (an IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type CNAME (an alias).
pub const TYPE_CNAME: u16 = 5;
/// Record type AAAA (an IPv6 address).
pub const TYPE_AAAA: u16 = 28;
/// Response code NXDOMAIN: the name does not exist.
pub const RCODE_NXDOMAIN: u8 = 3;

const CLASS_IN: u16 = 1;
/// Compression pointers a name may follow before it is refused as a loop.
const MAX_POINTERS: usize = 16;
/// Longest name on the wire (RFC 1035 §3.1).
const MAX_NAME: usize = 255;

/// Why a name or a message was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The name has an empty or over-long label, or is too long altogether.
    BadName,
    /// The message ends early or its names loop.
    Malformed(&'static str),
    /// Not a response (QR bit clear).
    NotResponse,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::BadName => f.write_str("invalid host name"),
            DnsError::Malformed(what) => write!(f, "malformed DNS message: {what}"),
            DnsError::NotResponse => f.write_str("not a DNS response"),
        }
    }
}

impl std::error::Error for DnsError {}

/// What an answer record holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerData {
    Address(IpAddr),
    Alias(String),
    /// A type this client does not read.
    Other(u16),
}

/// One resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub data: AnswerData,
}

/// The parts of a response NSLookup reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    /// The AA bit: the server is an authority for the name.
    pub authoritative: bool,
    pub truncated: bool,
    pub rcode: u8,
    /// The name and type of the (first) question.
    pub question: Option<(String, u16)>,
    pub answers: Vec<Answer>,
}

impl Response {
    /// The addresses of the answer, in order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter_map(|a| match a.data {
                AnswerData::Address(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }

    /// The name the addresses belong to: the end of the CNAME chain, else the question's name.
    pub fn canonical_name(&self) -> String {
        let mut name = self
            .question
            .as_ref()
            .map(|q| q.0.clone())
            .unwrap_or_default();
        for _ in 0..self.answers.len() {
            let next = self.answers.iter().find_map(|a| match &a.data {
                AnswerData::Alias(target) if a.name.eq_ignore_ascii_case(&name) => {
                    Some(target.clone())
                }
                _ => None,
            });
            match next {
                Some(target) => name = target,
                None => break,
            }
        }
        name
    }
}

/// A recursive query (RD set) for `name` of type `qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut message = Vec::with_capacity(18 + name.len());
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    push_name(&mut message, name)?;
    message.extend_from_slice(&qtype.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(message)
}

/// Appends `name` as uncompressed labels.
pub fn push_name(out: &mut Vec<u8>, name: &str) -> Result<(), DnsError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() + 2 > MAX_NAME {
        return Err(DnsError::BadName);
    }
    for label in name.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| DnsError::BadName)?;
        if len == 0 || len > 63 {
            return Err(DnsError::BadName);
        }
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// Parses a response: header, the first question, and the answer section.
pub fn parse_response(message: &[u8]) -> Result<Response, DnsError> {
    let header = message
        .get(..12)
        .ok_or(DnsError::Malformed("short header"))?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if flags & 0x8000 == 0 {
        return Err(DnsError::NotResponse);
    }
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let (questions, answers) = (count(4), count(6));
    let mut at = 12;
    let mut question = None;
    for _ in 0..questions {
        let (name, next) = read_name(message, at)?;
        let qtype = read_u16(message, next)?;
        at = next + 4;
        question.get_or_insert((name, qtype));
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        let (name, next) = read_name(message, at)?;
        let rtype = read_u16(message, next)?;
        let length = usize::from(read_u16(message, next + 8)?);
        let start = next + 10;
        let data = message
            .get(start..start + length)
            .ok_or(DnsError::Malformed("record data past the end"))?;
        let data = match (rtype, data.len()) {
            (TYPE_A, 4) => AnswerData::Address(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (TYPE_AAAA, 16) => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(data);
                AnswerData::Address(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            (TYPE_A | TYPE_AAAA, _) => return Err(DnsError::Malformed("address length")),
            (TYPE_CNAME, _) => AnswerData::Alias(read_name(message, start)?.0),
            (other, _) => AnswerData::Other(other),
        };
        records.push(Answer { name, data });
        at = start + length;
    }
    Ok(Response {
        id,
        authoritative: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        rcode: (flags & 0x000F) as u8,
        question,
        answers: records,
    })
}

fn read_u16(message: &[u8], at: usize) -> Result<u16, DnsError> {
    match message.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(DnsError::Malformed("field past the end")),
    }
}

/// Reads a possibly compressed name at `at`; returns it (dotted, no final dot)
/// and the offset after it in the message.
fn read_name(message: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *message
            .get(at)
            .ok_or(DnsError::Malformed("name past the end"))?;
        match len {
            0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let low = *message.get(at + 1).ok_or(DnsError::Malformed("pointer"))?;
                end.get_or_insert(at + 2);
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DnsError::Malformed("name pointer loop"));
                }
                at = usize::from(l & 0x3F) << 8 | usize::from(low);
            }
            l if l & 0xC0 != 0 => return Err(DnsError::Malformed("label type")),
            l => {
                let label = message
                    .get(at + 1..at + 1 + usize::from(l))
                    .ok_or(DnsError::Malformed("label past the end"))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                if name.len() > MAX_NAME {
                    return Err(DnsError::Malformed("name too long"));
                }
                at += 1 + usize::from(l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `query` with a CNAME then an A record, both names compressed.
    fn sample_response() -> Vec<u8> {
        let mut message = query(0xBEEF, "www.example.test", TYPE_A).expect("query");
        message[2] = 0x85; // QR, AA, RD
        message[3] = 0x80; // RA
        message[7] = 2; // two answers
                        // www.example.test CNAME web.example.test (pointer to offset 12 = the question name)
        message.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3]);
        message.extend_from_slice(b"web");
        message.extend_from_slice(&[0xC0, 16]); // "example.test" inside the question
        let alias_at = message.len() - 6;
        message.extend_from_slice(&[0xC0, alias_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        message.extend_from_slice(&[192, 0, 2, 7]);
        message
    }

    #[test]
    fn query_bytes_are_rfc1035() {
        let q = query(0x1234, "a.bc.", TYPE_AAAA).expect("query");
        assert_eq!(
            q,
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 28, 0, 1]
        );
        assert_eq!(query(1, "", TYPE_A), Err(DnsError::BadName));
        assert_eq!(query(1, "a..b", TYPE_A), Err(DnsError::BadName));
        assert_eq!(query(1, &"x".repeat(64), TYPE_A), Err(DnsError::BadName));
    }

    #[test]
    fn parses_compressed_answers() {
        let response = parse_response(&sample_response()).expect("parse");
        assert_eq!(response.id, 0xBEEF);
        assert!(response.authoritative);
        assert_eq!(response.rcode, 0);
        assert_eq!(response.question, Some(("www.example.test".into(), TYPE_A)));
        assert_eq!(
            response.addresses(),
            vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]
        );
        assert_eq!(response.canonical_name(), "web.example.test");
    }

    #[test]
    fn refuses_truncated_looping_and_non_responses() {
        let full = sample_response();
        for cut in 0..full.len() {
            assert!(parse_response(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut looping = full.clone();
        let at = looping.len() - 16;
        looping[at] = 0xC0;
        looping[at + 1] = at as u8;
        assert!(parse_response(&looping).is_err());
        let q = query(1, "a", TYPE_A).expect("query");
        assert_eq!(parse_response(&q), Err(DnsError::NotResponse));
    }
}
