//! STUN Binding messages (RFC 5389; RFC 3489 responses are read too) with TR-111's CONNECTION-REQUEST-BINDING and BINDING-CHANGE attributes.
//!
//! The CPE only sends Binding Requests and reads Binding Responses, so this
//! holds exactly that: [`BindingRequest::emit`] and [`parse_response`]. A
//! request carries the magic cookie of RFC 5389; an RFC 3489 server treats the
//! cookie as part of its 128-bit transaction id and echoes all 16 bytes, and
//! answers with MAPPED-ADDRESS instead of XOR-MAPPED-ADDRESS, which is read
//! when no XOR-MAPPED-ADDRESS is present. MESSAGE-INTEGRITY (HMAC-SHA1, keyed
//! with the STUN password as a short-term credential) is added when a user
//! name is set, and checked on responses that carry it, in the RFC 5389 form
//! or the RFC 3489 one (input zero-padded to 64 bytes). No FINGERPRINT is sent;
//! one in a response is ignored.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ring::hmac;

/// RFC 5389's magic cookie, the first 4 bytes of the 16-byte RFC 3489 transaction id.
pub const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// Message header: type, length, cookie and 96-bit transaction id.
pub const HEADER_LEN: usize = 20;
/// TR-111's value of CONNECTION-REQUEST-BINDING.
pub const CONNECTION_REQUEST_BINDING_VALUE: &[u8; 20] = b"dslforum.org/TR-111 ";
/// The longest USERNAME RFC 5389 allows (in bytes, fewer than 513).
pub const MAX_USERNAME: usize = 512;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;

const MAPPED_ADDRESS: u16 = 0x0001;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const CONNECTION_REQUEST_BINDING: u16 = 0xC001;
const BINDING_CHANGE: u16 = 0xC002;
/// HMAC-SHA1 output length.
const INTEGRITY_LEN: usize = 20;

/// One Binding Request as TR-111 sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRequest<'a> {
    /// The 96-bit transaction id (random per transaction).
    pub transaction: [u8; 12],
    /// Sent from the UDP connection-request socket: CONNECTION-REQUEST-BINDING.
    pub connection_request_binding: bool,
    /// The mapping changed since the last request: BINDING-CHANGE.
    pub binding_change: bool,
    /// STUNUsername and STUNPassword: USERNAME and MESSAGE-INTEGRITY when set.
    pub credentials: Option<(&'a str, &'a str)>,
}

fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Writes the message length (everything after the header) into the header.
fn set_length(message: &mut [u8], body_len: usize) {
    let len = u16::try_from(body_len).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(field) = message.get_mut(2..4) {
        field.copy_from_slice(&len);
    }
}

impl BindingRequest<'_> {
    /// The 16 bytes a response must echo: the cookie and the transaction id.
    pub fn echoed_id(&self) -> [u8; 16] {
        echoed_id(&self.transaction)
    }

    /// The request as bytes on the wire. A user name longer than
    /// [`MAX_USERNAME`] is cut there (configuration refuses such names).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE);
        out.extend_from_slice(&self.transaction);
        if let Some((username, _)) = self.credentials {
            let name = username.as_bytes();
            push_attribute(&mut out, USERNAME, name.get(..MAX_USERNAME).unwrap_or(name));
        }
        if self.connection_request_binding {
            push_attribute(
                &mut out,
                CONNECTION_REQUEST_BINDING,
                CONNECTION_REQUEST_BINDING_VALUE,
            );
        }
        if self.binding_change {
            push_attribute(&mut out, BINDING_CHANGE, &[]);
        }
        if let Some((_, password)) = self.credentials {
            // RFC 5389 15.4: the length counts the MESSAGE-INTEGRITY attribute itself.
            let body = out.len() - HEADER_LEN + 4 + INTEGRITY_LEN;
            set_length(&mut out, body);
            let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
            let tag = hmac::sign(&key, &out);
            push_attribute(&mut out, MESSAGE_INTEGRITY, tag.as_ref());
        }
        let body = out.len() - HEADER_LEN;
        set_length(&mut out, body);
        out
    }
}

/// The cookie followed by a 96-bit transaction id.
pub fn echoed_id(transaction: &[u8; 12]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&MAGIC_COOKIE);
    id[4..].copy_from_slice(transaction);
    id
}

/// Whether a response's MESSAGE-INTEGRITY was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The response carries none.
    Absent,
    /// It matches the key given.
    Valid,
    /// It does not match, or no key was given.
    Invalid,
}

/// What a Binding Response says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// The address and port the server saw the request come from.
    Success { mapped: SocketAddr },
    /// A Binding Error Response (e.g. 401 Unauthorized).
    Error { code: u16, reason: String },
}

/// A parsed Binding Response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingResponse {
    /// The 16 bytes after the length field (cookie and transaction id).
    pub id: [u8; 16],
    pub body: ResponseBody,
    pub integrity: Integrity,
}

/// Why bytes are not a usable Binding Response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StunError {
    /// Too short, a length that disagrees with the datagram, or top bits set.
    NotStun,
    /// A STUN message other than a Binding Response.
    NotBindingResponse(u16),
    /// An attribute runs past the end of the message.
    Truncated,
    /// An attribute's value is malformed.
    BadAttribute(u16),
    /// A comprehension-required attribute this client does not know (RFC 5389 7.3.3).
    UnknownRequired(u16),
    /// A success response without (XOR-)MAPPED-ADDRESS.
    NoMappedAddress,
}

impl fmt::Display for StunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StunError::NotStun => write!(f, "not a STUN message"),
            StunError::NotBindingResponse(t) => {
                write!(f, "STUN message type {t:#06x} is not a Binding Response")
            }
            StunError::Truncated => write!(f, "STUN attribute runs past the message"),
            StunError::BadAttribute(t) => write!(f, "malformed STUN attribute {t:#06x}"),
            StunError::UnknownRequired(t) => {
                write!(f, "unknown comprehension-required STUN attribute {t:#06x}")
            }
            StunError::NoMappedAddress => write!(f, "Binding Response without a mapped address"),
        }
    }
}

impl std::error::Error for StunError {}

/// Whether a datagram looks like STUN (both top bits of the type are zero and
/// it is at least a header long). HTTP-over-UDP connection requests start with
/// a letter, so the two share one socket.
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram.first().is_some_and(|b| b & 0xC0 == 0)
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads an address attribute value; `xor` is the 16-byte id for XOR-MAPPED-ADDRESS.
fn read_address(kind: u16, value: &[u8], xor: Option<&[u8; 16]>) -> Result<SocketAddr, StunError> {
    let bad = || StunError::BadAttribute(kind);
    let family = *value.get(1).ok_or_else(bad)?;
    let mut port = be16(value, 2).ok_or_else(bad)?;
    let mask = xor.copied().unwrap_or([0; 16]);
    if xor.is_some() {
        port ^= u16::from_be_bytes([mask[0], mask[1]]);
    }
    let ip = match (family, value.len()) {
        (1, 8) => {
            let mut octets = [0u8; 4];
            for (i, octet) in octets.iter_mut().enumerate() {
                *octet = value.get(4 + i).copied().ok_or_else(bad)? ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        (2, 20) => {
            let mut octets = [0u8; 16];
            for (i, octet) in octets.iter_mut().enumerate() {
                *octet = value.get(4 + i).copied().ok_or_else(bad)? ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err(bad()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Attributes a 3489 or 5389 server may send that need no action here
/// (RESPONSE-ADDRESS … REFLECTED-FROM of RFC 3489).
fn known_ignorable(kind: u16) -> bool {
    (0x0002..=0x000B).contains(&kind) || kind >= 0x8000
}

/// Checks MESSAGE-INTEGRITY at `mi_at` (the attribute's offset) against `key`,
/// in the RFC 5389 form, then the RFC 3489 one.
fn check_integrity(message: &[u8], mi_at: usize, key: Option<&[u8]>) -> Integrity {
    let (Some(key), Some(covered), Some(tag)) = (
        key,
        message.get(..mi_at),
        message.get(mi_at + 4..mi_at + 4 + INTEGRITY_LEN),
    ) else {
        return Integrity::Invalid;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mut input = covered.to_vec();
    set_length(&mut input, mi_at - HEADER_LEN + 4 + INTEGRITY_LEN);
    if hmac::verify(&key, &input, tag).is_ok() {
        return Integrity::Valid;
    }
    let mut padded = covered.to_vec();
    padded.resize(covered.len().div_ceil(64) * 64, 0);
    if hmac::verify(&key, &padded, tag).is_ok() {
        return Integrity::Valid;
    }
    Integrity::Invalid
}

/// Parses a Binding Response (success or error). `key` checks its
/// MESSAGE-INTEGRITY, if it has one.
pub fn parse_response(datagram: &[u8], key: Option<&[u8]>) -> Result<BindingResponse, StunError> {
    if !is_stun(datagram) {
        return Err(StunError::NotStun);
    }
    let kind = be16(datagram, 0).ok_or(StunError::NotStun)?;
    let length = usize::from(be16(datagram, 2).ok_or(StunError::NotStun)?);
    if HEADER_LEN + length != datagram.len() || length % 4 != 0 {
        return Err(StunError::NotStun);
    }
    if kind != BINDING_SUCCESS && kind != BINDING_ERROR {
        return Err(StunError::NotBindingResponse(kind));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(datagram.get(4..HEADER_LEN).ok_or(StunError::NotStun)?);
    let with_cookie = id.get(..4) == Some(&MAGIC_COOKIE[..]);

    let mut xor_mapped = None;
    let mut mapped = None;
    let mut error = None;
    let mut integrity = Integrity::Absent;
    let mut at = HEADER_LEN;
    // Each turn consumes at least 4 bytes of a message of at most 64 KiB.
    while at < datagram.len() {
        let attr = be16(datagram, at).ok_or(StunError::Truncated)?;
        let len = usize::from(be16(datagram, at + 2).ok_or(StunError::Truncated)?);
        let value = datagram
            .get(at + 4..at + 4 + len)
            .ok_or(StunError::Truncated)?;
        if integrity != Integrity::Absent {
            // RFC 5389 15.4: only FINGERPRINT may follow MESSAGE-INTEGRITY; the rest is ignored.
            break;
        }
        match attr {
            XOR_MAPPED_ADDRESS if with_cookie => {
                xor_mapped = Some(read_address(attr, value, Some(&id))?)
            }
            XOR_MAPPED_ADDRESS => {}
            MAPPED_ADDRESS => mapped = Some(read_address(attr, value, None)?),
            ERROR_CODE => {
                let class = u16::from(*value.get(2).ok_or(StunError::BadAttribute(attr))? & 7);
                let number = u16::from(*value.get(3).ok_or(StunError::BadAttribute(attr))?);
                let reason = String::from_utf8_lossy(value.get(4..).unwrap_or(&[]))
                    .chars()
                    .take(128)
                    .collect();
                error = Some((class * 100 + number, reason));
            }
            MESSAGE_INTEGRITY if len == INTEGRITY_LEN => {
                integrity = check_integrity(datagram, at, key);
            }
            MESSAGE_INTEGRITY => return Err(StunError::BadAttribute(attr)),
            other if known_ignorable(other) => {}
            other => return Err(StunError::UnknownRequired(other)),
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    let body = if kind == BINDING_ERROR {
        let (code, reason) = error.ok_or(StunError::BadAttribute(ERROR_CODE))?;
        ResponseBody::Error { code, reason }
    } else {
        ResponseBody::Success {
            mapped: xor_mapped.or(mapped).ok_or(StunError::NoMappedAddress)?,
        }
    };
    Ok(BindingResponse {
        id,
        body,
        integrity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mutate::for_each_mutation;

    /// RFC 5769 2.2, "Sample IPv4 Response" (password `VOkJxbRl1RmTxUk/WvJxBt`).
    const RFC5769_IPV4_RESPONSE: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    #[test]
    fn reads_the_rfc5769_ipv4_response_and_checks_its_integrity() {
        let response = parse_response(
            &RFC5769_IPV4_RESPONSE,
            Some(b"VOkJxbRl1RmTxUk/WvJxBt".as_slice()),
        )
        .expect("parses");
        assert_eq!(
            response.body,
            ResponseBody::Success {
                mapped: "192.0.2.1:32853".parse().unwrap()
            }
        );
        assert_eq!(response.integrity, Integrity::Valid);
        assert_eq!(&response.id[4..], &RFC5769_IPV4_RESPONSE[8..20]);
        let wrong = parse_response(&RFC5769_IPV4_RESPONSE, Some(b"guess".as_slice())).unwrap();
        assert_eq!(wrong.integrity, Integrity::Invalid);
    }

    #[test]
    fn emits_tr111_requests_byte_for_byte() {
        let request = BindingRequest {
            transaction: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            connection_request_binding: true,
            binding_change: true,
            credentials: None,
        };
        let mut expected = vec![0x00, 0x01, 0x00, 0x1C, 0x21, 0x12, 0xA4, 0x42];
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        expected.extend_from_slice(&[0xC0, 0x01, 0x00, 0x14]);
        expected.extend_from_slice(b"dslforum.org/TR-111 ");
        expected.extend_from_slice(&[0xC0, 0x02, 0x00, 0x00]);
        assert_eq!(request.emit(), expected);
    }

    #[test]
    fn signs_requests_with_the_password() {
        let request = BindingRequest {
            transaction: [9; 12],
            connection_request_binding: true,
            binding_change: false,
            credentials: Some(("cpe", "pw")),
        };
        let bytes = request.emit();
        // Header, USERNAME (3 bytes padded to 4), CRB, MESSAGE-INTEGRITY last.
        assert_eq!(bytes.len(), 20 + 8 + 24 + 24);
        assert_eq!(&bytes[2..4], &[0x00, 56]);
        assert_eq!(
            &bytes[20..28],
            &[0x00, 0x06, 0x00, 0x03, b'c', b'p', b'e', 0]
        );
        assert_eq!(&bytes[52..56], &[0x00, 0x08, 0x00, 0x14]);
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"pw");
        assert!(hmac::verify(&key, &bytes[..52], &bytes[56..]).is_ok());
    }

    /// A success response as an RFC 3489 server sends it: 16-byte id, MAPPED-ADDRESS.
    fn rfc3489_response(id: [u8; 16]) -> Vec<u8> {
        let mut out = vec![0x01, 0x01, 0x00, 0x0C];
        out.extend_from_slice(&id);
        out.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1F, 0x90, 10, 0, 0, 7]);
        out
    }

    #[test]
    fn reads_rfc3489_mapped_address_and_xor_mapped_ipv6() {
        let id = [7u8; 16];
        let response = parse_response(&rfc3489_response(id), None).unwrap();
        assert_eq!(response.id, id);
        assert_eq!(
            response.body,
            ResponseBody::Success {
                mapped: "10.0.0.7:8080".parse().unwrap()
            }
        );
        assert_eq!(response.integrity, Integrity::Absent);

        let tx = [0xAAu8; 12];
        let full = echoed_id(&tx);
        let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut value = vec![0, 2];
        value.extend_from_slice(&(4000u16 ^ 0x2112).to_be_bytes());
        value.extend(ip.octets().iter().zip(full.iter()).map(|(a, b)| a ^ b));
        let mut message = vec![0x01, 0x01, 0x00, 24];
        message.extend_from_slice(&full);
        message.extend_from_slice(&[0x00, 0x20, 0x00, 20]);
        message.extend_from_slice(&value);
        let response = parse_response(&message, None).unwrap();
        assert_eq!(
            response.body,
            ResponseBody::Success {
                mapped: SocketAddr::new(IpAddr::V6(ip), 4000)
            }
        );
    }

    #[test]
    fn reads_error_responses() {
        let mut message = vec![0x01, 0x11, 0x00, 20];
        message.extend_from_slice(&echoed_id(&[1; 12]));
        message.extend_from_slice(&[0x00, 0x09, 0x00, 16, 0, 0, 4, 1]);
        message.extend_from_slice(b"Unauthorized");
        let response = parse_response(&message, None).unwrap();
        assert_eq!(
            response.body,
            ResponseBody::Error {
                code: 401,
                reason: "Unauthorized".into()
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_usable_response() {
        assert_eq!(
            parse_response(b"GET http://x", None),
            Err(StunError::NotStun)
        );
        let mut request = BindingRequest {
            transaction: [0; 12],
            connection_request_binding: false,
            binding_change: false,
            credentials: None,
        }
        .emit();
        assert_eq!(
            parse_response(&request, None),
            Err(StunError::NotBindingResponse(1))
        );
        request[0] = 0x01;
        assert_eq!(
            parse_response(&request, None),
            Err(StunError::NoMappedAddress)
        );
        let mut unknown = rfc3489_response([0; 16]);
        unknown[3] = 0x10;
        unknown.extend_from_slice(&[0x00, 0x33, 0x00, 0x00]);
        assert_eq!(
            parse_response(&unknown, None),
            Err(StunError::UnknownRequired(0x33))
        );
        let mut truncated = rfc3489_response([0; 16]);
        truncated[23] = 0x40;
        assert_eq!(parse_response(&truncated, None), Err(StunError::Truncated));
        let mut long = rfc3489_response([0; 16]);
        long.push(0);
        assert_eq!(parse_response(&long, None), Err(StunError::NotStun));
    }

    #[test]
    fn mutated_responses_never_panic() {
        for_each_mutation(&RFC5769_IPV4_RESPONSE, 0x2545_f491, 20_000, |bytes| {
            let _ = parse_response(bytes, Some(b"k".as_slice()));
        });
    }
}
