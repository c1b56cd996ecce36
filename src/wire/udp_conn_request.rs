//! UDP connection requests (TR-069 Annex G, TR-111 Part 2 6.2): parse the HTTP-over-UDP GET and decide whether it is authentic and fresh.
//!
//! The message is one datagram holding an HTTP/1.1 GET whose Request-URI is
//! `http://host:port?ts=…&id=…&un=…&cn=…&sig=…`. It is authentic when `un` is
//! the connection-request user name and `sig` is the hex HMAC-SHA1, keyed with
//! the connection-request password, of `ts`, `id`, `un` and `cn` concatenated.
//! It is fresh when `ts` is not older than the last accepted one and `id` was
//! not seen among the recent accepted ones (the ACS repeats a request with the
//! same `id` because UDP may lose it). [`UdpRequestGuard`] remembers that.

use std::collections::VecDeque;
use std::fmt;

use ring::hmac;

use crate::records::{self, RecordError};

/// Longest datagram read as a request (a request line with its five values fits easily).
pub const MAX_DATAGRAM: usize = 2048;
/// How many accepted `id`s are remembered to refuse their repetitions.
const RECENT_IDS: usize = 16;
/// First line of the guard's state file.
const FILE_HEADER: &str = "icwmpd udp-conn-requests 1";

/// The values of one UDP connection request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpConnRequest {
    /// Seconds since the epoch.
    pub ts: u64,
    /// `ts` as the ACS wrote it (what it signed).
    pub ts_text: String,
    pub id: String,
    pub un: String,
    pub cn: String,
    /// The 20 bytes of the signature.
    pub sig: [u8; 20],
}

/// Why a datagram is not honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpRequestError {
    /// Not an HTTP/1.1 GET with the five query values.
    Malformed(&'static str),
    /// `un` is not the connection-request user name (or none is configured).
    WrongUser,
    BadSignature,
    /// `ts` is older than the last accepted request's.
    Stale {
        ts: u64,
        last: u64,
    },
    /// An `id` already accepted: a repetition or a replay.
    Replay,
}

impl fmt::Display for UdpRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpRequestError::Malformed(why) => write!(f, "malformed: {why}"),
            UdpRequestError::WrongUser => write!(f, "unknown user name"),
            UdpRequestError::BadSignature => write!(f, "wrong signature"),
            UdpRequestError::Stale { ts, last } => {
                write!(f, "stale timestamp {ts} (last accepted {last})")
            }
            UdpRequestError::Replay => write!(f, "id already seen (repetition or replay)"),
        }
    }
}

impl std::error::Error for UdpRequestError {}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_sig(text: &str) -> Option<[u8; 20]> {
    let bytes = text.as_bytes();
    if bytes.len() != 40 {
        return None;
    }
    let mut sig = [0u8; 20];
    for (i, out) in sig.iter_mut().enumerate() {
        let hi = hex_value(*bytes.get(2 * i)?)?;
        let lo = hex_value(*bytes.get(2 * i + 1)?)?;
        *out = hi << 4 | lo;
    }
    Some(sig)
}

/// Parses a datagram. Only the request line matters; headers, if any, are not read.
pub fn parse(datagram: &[u8]) -> Result<UdpConnRequest, UdpRequestError> {
    use UdpRequestError::Malformed;
    if datagram.len() > MAX_DATAGRAM {
        return Err(Malformed("longer than a connection request"));
    }
    let line_end = datagram
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(datagram.len());
    let line = std::str::from_utf8(datagram.get(..line_end).unwrap_or(&[]))
        .map_err(|_| Malformed("request line is not text"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed("not an HTTP request line"));
    };
    if method != "GET" {
        return Err(Malformed("not a GET"));
    }
    if version != "HTTP/1.1" {
        return Err(Malformed("not HTTP/1.1"));
    }
    let scheme = uri.get(..7).filter(|s| s.eq_ignore_ascii_case("http://"));
    if scheme.is_none() {
        return Err(Malformed("Request-URI is not an absolute http URI"));
    }
    let (_, query) = uri
        .split_once('?')
        .ok_or(Malformed("Request-URI has no query"))?;
    let (mut ts, mut id, mut un, mut cn, mut sig) = (None, None, None, None, None);
    for pair in query.split('&') {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = records::unescape(raw).ok_or(Malformed("bad %-escape in the query"))?;
        let slot = match name {
            "ts" => &mut ts,
            "id" => &mut id,
            "un" => &mut un,
            "cn" => &mut cn,
            "sig" => &mut sig,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Malformed("a query value appears twice"));
        }
    }
    let (Some(ts), Some(id), Some(un), Some(cn), Some(sig)) = (ts, id, un, cn, sig) else {
        return Err(Malformed("ts, id, un, cn or sig missing"));
    };
    Ok(UdpConnRequest {
        ts: ts.parse().map_err(|_| Malformed("ts is not a number"))?,
        ts_text: ts,
        id,
        un,
        cn,
        sig: parse_sig(&sig).ok_or(Malformed("sig is not 40 hex digits"))?,
    })
}

/// The signature of a request's values under `password` (what the ACS computes).
pub fn signature(ts: &str, id: &str, un: &str, cn: &str, password: &str) -> [u8; 20] {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    for part in [ts, id, un, cn] {
        context.update(part.as_bytes());
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// What has been accepted so far: the newest `ts` and the recent `id`s.
#[derive(Debug, Default)]
pub struct UdpRequestGuard {
    last_ts: Option<u64>,
    recent_ids: VecDeque<String>,
}

impl UdpRequestGuard {
    /// Parses and checks one datagram against the connection-request
    /// credentials; an accepted request is remembered.
    pub fn accept(
        &mut self,
        datagram: &[u8],
        username: &str,
        password: &str,
    ) -> Result<UdpConnRequest, UdpRequestError> {
        let request = parse(datagram)?;
        if username.is_empty() || request.un != username {
            return Err(UdpRequestError::WrongUser);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
        let message = [
            request.ts_text.as_bytes(),
            request.id.as_bytes(),
            request.un.as_bytes(),
            request.cn.as_bytes(),
        ]
        .concat();
        if hmac::verify(&key, &message, &request.sig).is_err() {
            return Err(UdpRequestError::BadSignature);
        }
        if let Some(last) = self.last_ts.filter(|last| request.ts < *last) {
            return Err(UdpRequestError::Stale {
                ts: request.ts,
                last,
            });
        }
        if self.recent_ids.contains(&request.id) {
            return Err(UdpRequestError::Replay);
        }
        self.last_ts = Some(request.ts);
        if self.recent_ids.len() == RECENT_IDS {
            self.recent_ids.pop_front();
        }
        self.recent_ids.push_back(request.id.clone());
        Ok(request)
    }

    /// The guard as a state file (kept so replays stay refused after a restart):
    /// a line with the newest `ts`, then one line per remembered `id`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{FILE_HEADER}\n");
        if let Some(ts) = self.last_ts {
            records::push_line(&mut out, &[&ts.to_string()]);
            for id in &self.recent_ids {
                records::push_line(&mut out, &[id]);
            }
        }
        out.into_bytes()
    }

    /// Reads [`UdpRequestGuard::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<UdpRequestGuard, RecordError> {
        let lines = records::parse_lines(bytes, FILE_HEADER)?;
        let mut guard = UdpRequestGuard::default();
        for (line, fields) in lines {
            let [field] = fields.as_slice() else {
                return Err(RecordError::BadLine {
                    line,
                    reason: "expected one field",
                });
            };
            if guard.last_ts.is_none() {
                guard.last_ts = Some(field.parse().map_err(|_| RecordError::BadLine {
                    line,
                    reason: "bad timestamp",
                })?);
            } else if guard.recent_ids.len() < RECENT_IDS {
                guard.recent_ids.push_back(field.clone());
            }
        }
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mutate::for_each_mutation;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn request(ts: u64, id: &str, un: &str, password: &str) -> Vec<u8> {
        let cn = "XTGRWIPC6D3IPXS3";
        let sig = signature(&ts.to_string(), id, un, cn, password);
        format!(
            "GET http://10.1.1.1:8080?ts={ts}&id={id}&un={un}&cn={cn}&sig={} HTTP/1.1\r\nHost: 10.1.1.1:8080\r\n\r\n",
            hex(&sig)
        )
        .into_bytes()
    }

    #[test]
    fn parses_the_annex_g_example_form() {
        let bytes = b"GET http://10.1.1.1:8080?ts=1120673700&id=1234&un=CPE57689&cn=XTGRWIPC6D3IPXS3&sig=3545F7B5820D76A3DF45A3A509DA8D8C38F13512 HTTP/1.1\r\nHost: 10.1.1.1:8080\r\n\r\n";
        let parsed = parse(bytes).expect("parses");
        assert_eq!(parsed.ts, 1_120_673_700);
        assert_eq!(parsed.id, "1234");
        assert_eq!(parsed.un, "CPE57689");
        assert_eq!(parsed.cn, "XTGRWIPC6D3IPXS3");
        assert_eq!(hex(&parsed.sig), "3545F7B5820D76A3DF45A3A509DA8D8C38F13512");
    }

    #[test]
    fn signature_is_hmac_sha1_of_the_four_values() {
        // HMAC-SHA1(key "pw", "1000" "7" "user" "cn"), computed independently with openssl.
        assert_eq!(
            hex(&signature("1000", "7", "user", "cn", "pw")).to_lowercase(),
            "2430c415be933416e797d15e28d470e35e692dc2"
        );
    }

    #[test]
    fn accepts_a_signed_request_once_and_refuses_stale_ones() {
        let mut guard = UdpRequestGuard::default();
        let good = request(1000, "7", "user", "pw");
        assert!(guard.accept(&good, "user", "pw").is_ok());
        assert_eq!(
            guard.accept(&good, "user", "pw"),
            Err(UdpRequestError::Replay)
        );
        assert_eq!(
            guard.accept(&request(999, "8", "user", "pw"), "user", "pw"),
            Err(UdpRequestError::Stale {
                ts: 999,
                last: 1000
            })
        );
        // Same second, new id: a new request.
        assert!(guard
            .accept(&request(1000, "9", "user", "pw"), "user", "pw")
            .is_ok());
        // Lower-case hex is accepted too.
        let upper = hex(&signature("1001", "10", "user", "XTGRWIPC6D3IPXS3", "pw"));
        let lower = String::from_utf8(request(1001, "10", "user", "pw"))
            .unwrap()
            .replace(&upper, &upper.to_lowercase());
        assert!(guard.accept(lower.as_bytes(), "user", "pw").is_ok());
    }

    #[test]
    fn refuses_wrong_user_signature_and_garbage() {
        let mut guard = UdpRequestGuard::default();
        assert_eq!(
            guard.accept(&request(1, "1", "other", "pw"), "user", "pw"),
            Err(UdpRequestError::WrongUser)
        );
        assert_eq!(
            guard.accept(&request(1, "1", "user", "guess"), "user", "pw"),
            Err(UdpRequestError::BadSignature)
        );
        assert_eq!(
            guard.accept(&request(1, "1", "user", "pw"), "", ""),
            Err(UdpRequestError::WrongUser)
        );
        // The signature covers ts as written: one over "1" does not sign "01".
        let padded = String::from_utf8(request(1, "1", "user", "pw"))
            .unwrap()
            .replace("ts=1&", "ts=01&");
        assert_eq!(
            guard.accept(padded.as_bytes(), "user", "pw"),
            Err(UdpRequestError::BadSignature)
        );
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"POST http://a?ts=1&id=1&un=u&cn=c&sig=00 HTTP/1.1",
            b"GET http://a?ts=1&id=1&un=u&cn=c HTTP/1.1",
            b"GET /?ts=1&id=1&un=u&cn=c&sig=00 HTTP/1.1",
            b"GET http://a?ts=x&id=1&un=u&cn=c&sig=0000000000000000000000000000000000000000 HTTP/1.1",
            b"GET http://a?ts=1&id=1&un=u&cn=c&sig=00 HTTP/1.0",
            b"GET http://a?ts=1&ts=2&id=1&un=u&cn=c&sig=00 HTTP/1.1",
        ] {
            assert!(
                matches!(
                    guard.accept(bad, "u", "pw"),
                    Err(UdpRequestError::Malformed(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn remembers_a_bounded_number_of_ids() {
        let mut guard = UdpRequestGuard::default();
        for i in 0..100 {
            assert!(guard
                .accept(&request(5, &i.to_string(), "u", "p"), "u", "p")
                .is_ok());
        }
        assert_eq!(guard.recent_ids.len(), RECENT_IDS);
    }

    #[test]
    fn the_guard_survives_a_restart_through_its_file() {
        let mut guard = UdpRequestGuard::default();
        assert_eq!(
            UdpRequestGuard::from_bytes(&guard.to_bytes())
                .unwrap()
                .to_bytes(),
            guard.to_bytes()
        );
        let first = request(1000, "a\tb", "u", "p");
        guard.accept(&first, "u", "p").unwrap();
        guard
            .accept(&request(1001, "c", "u", "p"), "u", "p")
            .unwrap();
        let mut restored = UdpRequestGuard::from_bytes(&guard.to_bytes()).unwrap();
        assert_eq!(
            restored.accept(&first, "u", "p"),
            Err(UdpRequestError::Stale {
                ts: 1000,
                last: 1001
            })
        );
        assert_eq!(
            restored.accept(&request(1001, "c", "u", "p"), "u", "p"),
            Err(UdpRequestError::Replay)
        );
        assert!(UdpRequestGuard::from_bytes(b"other\n").is_err());
        assert!(UdpRequestGuard::from_bytes(b"icwmpd udp-conn-requests 1\nx\n").is_err());
    }

    #[test]
    fn mutated_requests_never_panic() {
        let base = request(1000, "7", "user", "pw");
        let mut guard = UdpRequestGuard::default();
        for_each_mutation(&base, 0x1234_5678, 20_000, |bytes| {
            let _ = guard.accept(bytes, "user", "pw");
        });
    }
}
