//! HTTP authentication headers: Basic and Digest (RFC 7617, RFC 7616), client and server side.
//!
//! Pure: randomness (cnonce, server nonces) and time come in as arguments, so the
//! client (answering an ACS challenge) and the connection-request server (issuing
//! and checking challenges) are tested without sockets or clocks.

use std::fmt;
use std::time::{Duration, Instant};

use super::md5::md5;

/// Hash algorithm of a Digest challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    /// The token used in the `algorithm=` parameter.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parse an `algorithm=` token (case-insensitive); `None` for algorithms we cannot compute.
    pub fn from_name(name: &str) -> Option<DigestAlgorithm> {
        [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Md5Sess,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name))
    }

    fn is_sess(self) -> bool {
        matches!(self, DigestAlgorithm::Md5Sess | DigestAlgorithm::Sha256Sess)
    }

    fn is_sha256(self) -> bool {
        matches!(self, DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess)
    }

    /// Lower-case hex of the hash of `data`.
    fn hash_hex(self, data: &str) -> String {
        if self.is_sha256() {
            to_hex(ring::digest::digest(&ring::digest::SHA256, data.as_bytes()).as_ref())
        } else {
            to_hex(&md5(data.as_bytes()))
        }
    }
}

/// A user name and password; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A parsed `Digest` challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// The server offered `qop=auth` (we never use `auth-int`).
    pub qop_auth: bool,
    pub algorithm: DigestAlgorithm,
    /// The previous nonce expired; the credentials themselves were fine.
    pub stale: bool,
}

/// One challenge of a `WWW-Authenticate` header that we can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic { realm: String },
    Digest(DigestChallenge),
}

/// Parse every challenge of a `WWW-Authenticate` value that we can answer.
///
/// One header value may hold several challenges (`Digest ..., Basic realm="x"`);
/// unknown schemes and Digest challenges with unknown algorithms or without a
/// nonce are skipped.
pub fn parse_www_authenticate(value: &str) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    for (scheme, params) in split_challenges(value) {
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        };
        if scheme.eq_ignore_ascii_case("Basic") {
            challenges.push(Challenge::Basic {
                realm: param("realm").unwrap_or_default(),
            });
        } else if scheme.eq_ignore_ascii_case("Digest") {
            let algorithm = match param("algorithm") {
                None => Some(DigestAlgorithm::Md5),
                Some(name) => DigestAlgorithm::from_name(&name),
            };
            let (Some(algorithm), Some(nonce)) = (algorithm, param("nonce")) else {
                continue;
            };
            let qop_auth = param("qop").is_some_and(|list| {
                list.split(',')
                    .any(|qop| qop.trim().eq_ignore_ascii_case("auth"))
            });
            challenges.push(Challenge::Digest(DigestChallenge {
                realm: param("realm").unwrap_or_default(),
                nonce,
                opaque: param("opaque"),
                qop_auth,
                algorithm,
                stale: param("stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            }));
        }
    }
    challenges
}

/// The strongest challenge we can answer: Digest SHA-256, then Digest MD5, then Basic.
pub fn choose_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    let rank = |challenge: &Challenge| match challenge {
        Challenge::Digest(digest) if digest.algorithm.is_sha256() => 3,
        Challenge::Digest(_) => 2,
        Challenge::Basic { .. } => 1,
    };
    challenges.iter().max_by_key(|challenge| rank(challenge))
}

/// `Authorization` value for Basic authentication.
pub fn basic_authorization(credentials: &Credentials) -> String {
    let joined = format!("{}:{}", credentials.username, credentials.password);
    format!("Basic {}", base64_encode(joined.as_bytes()))
}

/// Client-side Digest state for one server nonce: counts `nc` across requests.
#[derive(Debug, Clone)]
pub struct DigestClient {
    challenge: DigestChallenge,
    nonce_count: u32,
}

impl DigestClient {
    pub fn new(challenge: DigestChallenge) -> DigestClient {
        DigestClient {
            challenge,
            nonce_count: 0,
        }
    }

    /// The challenge this state answers.
    pub fn challenge(&self) -> &DigestChallenge {
        &self.challenge
    }

    /// `Authorization` value for one request; every call uses the next `nc`.
    ///
    /// `uri` is the request-target as sent on the request line; `cnonce` should be
    /// fresh random text for each call.
    pub fn authorization(
        &mut self,
        credentials: &Credentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        self.nonce_count = self.nonce_count.wrapping_add(1);
        let nc = format!("{:08x}", self.nonce_count);
        let challenge = &self.challenge;
        let qop = challenge.qop_auth.then_some("auth");
        let response = digest_response(&DigestInputs {
            algorithm: challenge.algorithm,
            username: &credentials.username,
            password: &credentials.password,
            realm: &challenge.realm,
            nonce: &challenge.nonce,
            method,
            uri,
            qop,
            nc: &nc,
            cnonce,
        });
        let mut header = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}, response=\"{}\"",
            quote_escape(&credentials.username),
            quote_escape(&challenge.realm),
            quote_escape(&challenge.nonce),
            quote_escape(uri),
            challenge.algorithm.name(),
            response
        );
        if let Some(opaque) = &challenge.opaque {
            header.push_str(&format!(", opaque=\"{}\"", quote_escape(opaque)));
        }
        if qop.is_some() {
            header.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote_escape(cnonce)
            ));
        }
        header
    }
}

/// Everything that goes into a Digest `response` value.
struct DigestInputs<'a> {
    algorithm: DigestAlgorithm,
    username: &'a str,
    password: &'a str,
    realm: &'a str,
    nonce: &'a str,
    method: &'a str,
    uri: &'a str,
    qop: Option<&'a str>,
    nc: &'a str,
    cnonce: &'a str,
}

/// RFC 7616 section 3.4.1 `response`, for qop=auth or the RFC 2069 form without qop.
fn digest_response(inputs: &DigestInputs<'_>) -> String {
    let algorithm = inputs.algorithm;
    let mut ha1 = algorithm.hash_hex(&format!(
        "{}:{}:{}",
        inputs.username, inputs.realm, inputs.password
    ));
    if algorithm.is_sess() {
        ha1 = algorithm.hash_hex(&format!("{ha1}:{}:{}", inputs.nonce, inputs.cnonce));
    }
    let ha2 = algorithm.hash_hex(&format!("{}:{}", inputs.method, inputs.uri));
    match inputs.qop {
        Some(qop) => algorithm.hash_hex(&format!(
            "{ha1}:{}:{}:{}:{qop}:{ha2}",
            inputs.nonce, inputs.nc, inputs.cnonce
        )),
        None => algorithm.hash_hex(&format!("{ha1}:{}:{ha2}", inputs.nonce)),
    }
}

/// Result of checking an `Authorization` header on the server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid credentials; for Digest the nonce is now used up.
    Accepted,
    /// Right credentials over an expired nonce: challenge again with `stale=true`.
    Stale,
    /// Missing, malformed, replayed or wrong credentials.
    Denied,
}

/// A nonce that authenticated a request, remembered until it expires.
#[derive(Debug, Clone, Copy)]
struct UsedNonce {
    mac: [u8; NONCE_MAC_LEN],
    issued_ms: u64,
}

/// Bytes of a server nonce: issue time (ms, big-endian), randomness, MAC of both.
const NONCE_TIME_LEN: usize = 8;
const NONCE_RANDOM_LEN: usize = 8;
const NONCE_MAC_LEN: usize = 16;
const NONCE_LEN: usize = NONCE_TIME_LEN + NONCE_RANDOM_LEN + NONCE_MAC_LEN;

/// Server-side Digest authentication: issues challenges and verifies answers.
///
/// Nonces are stateless: each carries its issue time and a MAC of it under a
/// per-server secret, so issuing one costs no memory and no flood of
/// challenges can push out the nonce a real ACS is about to answer. A nonce
/// expires after `lifetime` and authenticates one request: the nonces that
/// did are remembered (at most `max_used`) until they expire. Only successful
/// authentications fill that record; if it overflows, the oldest entry goes
/// and every nonce issued up to it counts as used (its holder gets `stale`),
/// so a captured request can never be replayed.
pub struct DigestServer {
    realm: String,
    opaque: String,
    lifetime: Duration,
    max_used: usize,
    allow_basic: bool,
    key: ring::hmac::Key,
    /// The origin of nonce times: the first instant this server saw.
    epoch: Option<Instant>,
    used: Vec<UsedNonce>,
    /// Nonces issued at or before this time (ms) count as used: the record overflowed.
    used_floor: Option<u64>,
}

impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("lifetime", &self.lifetime)
            .field("used", &self.used.len())
            .finish_non_exhaustive()
    }
}

impl DigestServer {
    /// `secret` is random bytes, fixed for this server's life: it keys the nonce MACs
    /// (and fixes the `opaque` value, which is derived from it and reveals nothing of it).
    pub fn new(
        realm: &str,
        lifetime: Duration,
        max_used: usize,
        allow_basic: bool,
        secret: [u8; 16],
    ) -> DigestServer {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let opaque_tag = ring::hmac::sign(&key, b"opaque");
        let opaque = to_hex(opaque_tag.as_ref().get(..16).unwrap_or_default());
        DigestServer {
            realm: realm.to_string(),
            opaque,
            lifetime,
            max_used: max_used.max(1),
            allow_basic,
            key,
            epoch: None,
            used: Vec::new(),
            used_floor: None,
        }
    }

    /// Milliseconds since this server's epoch.
    fn clock_ms(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn nonce_mac(&self, time_and_random: &[u8]) -> [u8; NONCE_MAC_LEN] {
        let tag = ring::hmac::sign(&self.key, time_and_random);
        let mut mac = [0u8; NONCE_MAC_LEN];
        mac.copy_from_slice(
            tag.as_ref()
                .get(..NONCE_MAC_LEN)
                .unwrap_or(&[0; NONCE_MAC_LEN]),
        );
        mac
    }

    /// The issue time and MAC of a nonce this server made, `None` for anything else.
    fn open_nonce(&self, nonce: &str) -> Option<(u64, [u8; NONCE_MAC_LEN])> {
        let bytes = from_hex::<NONCE_LEN>(nonce)?;
        let (signed, mac) = bytes.split_at(NONCE_TIME_LEN + NONCE_RANDOM_LEN);
        if !constant_time_eq(&self.nonce_mac(signed), mac) {
            return None;
        }
        let mut time = [0u8; NONCE_TIME_LEN];
        time.copy_from_slice(signed.get(..NONCE_TIME_LEN)?);
        let mut tag = [0u8; NONCE_MAC_LEN];
        tag.copy_from_slice(mac);
        Some((u64::from_be_bytes(time), tag))
    }

    /// `WWW-Authenticate` values for a 401 answer, strongest first (SHA-256, MD5, then
    /// Basic when allowed). Both Digest challenges carry one fresh nonce made from `random`.
    pub fn challenge(&mut self, random: [u8; 16], now: Instant, stale: bool) -> Vec<String> {
        let issued_ms = self.clock_ms(now);
        let mut bytes = [0u8; NONCE_LEN];
        let (signed, mac) = bytes.split_at_mut(NONCE_TIME_LEN + NONCE_RANDOM_LEN);
        let (time, rand) = signed.split_at_mut(NONCE_TIME_LEN);
        time.copy_from_slice(&issued_ms.to_be_bytes());
        rand.copy_from_slice(
            random
                .get(..NONCE_RANDOM_LEN)
                .unwrap_or(&[0; NONCE_RANDOM_LEN]),
        );
        mac.copy_from_slice(&self.nonce_mac(signed));
        let nonce = to_hex(&bytes);
        let stale_param = if stale { ", stale=true" } else { "" };
        let mut values: Vec<String> = [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
            .into_iter()
            .map(|algorithm| {
                format!(
                    "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"{}\"{stale_param}",
                    quote_escape(&self.realm),
                    algorithm.name(),
                    self.opaque
                )
            })
            .collect();
        if self.allow_basic {
            values.push(format!("Basic realm=\"{}\"", quote_escape(&self.realm)));
        }
        values
    }

    /// Check an `Authorization` header value of a request with `method` and request-target `uri`.
    pub fn verify(
        &mut self,
        authorization: &str,
        method: &str,
        uri: &str,
        expected: &Credentials,
        now: Instant,
    ) -> Verdict {
        let Some((scheme, rest)) = split_scheme(authorization) else {
            return Verdict::Denied;
        };
        if scheme.eq_ignore_ascii_case("Basic") {
            return self.verify_basic(rest, expected);
        }
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Verdict::Denied;
        }
        let params = parse_params(rest);
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        let (Some(username), Some(nonce), Some(answered_uri), Some(response)) = (
            param("username"),
            param("nonce"),
            param("uri"),
            param("response"),
        ) else {
            return Verdict::Denied;
        };
        let algorithm = match param("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(name) => match DigestAlgorithm::from_name(name) {
                Some(algorithm) => algorithm,
                None => return Verdict::Denied,
            },
        };
        // qop=auth is mandatory: without nc/cnonce a response could be replayed verbatim.
        let (Some("auth"), Some(nc_text), Some(cnonce)) =
            (param("qop"), param("nc"), param("cnonce"))
        else {
            return Verdict::Denied;
        };
        if u32::from_str_radix(nc_text, 16).is_err() {
            return Verdict::Denied;
        }
        if param("realm") != Some(self.realm.as_str())
            || param("opaque").is_some_and(|opaque| opaque != self.opaque)
            || answered_uri != uri
            || !constant_time_eq(username.as_bytes(), expected.username.as_bytes())
        {
            return Verdict::Denied;
        }
        let Some((issued_ms, mac)) = self.open_nonce(nonce) else {
            return Verdict::Denied;
        };
        let now_ms = self.clock_ms(now);
        if issued_ms > now_ms {
            return Verdict::Denied;
        }
        let wanted = digest_response(&DigestInputs {
            algorithm,
            username: &expected.username,
            password: &expected.password,
            realm: &self.realm,
            nonce,
            method,
            uri,
            qop: Some("auth"),
            nc: nc_text,
            cnonce,
        });
        if !constant_time_eq(wanted.as_bytes(), response.to_ascii_lowercase().as_bytes()) {
            return Verdict::Denied;
        }
        if self.used.iter().any(|used| used.mac == mac) {
            return Verdict::Denied;
        }
        let lifetime_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms - issued_ms >= lifetime_ms || self.used_floor.is_some_and(|f| issued_ms <= f) {
            return Verdict::Stale;
        }
        self.used
            .retain(|used| now_ms - used.issued_ms.min(now_ms) < lifetime_ms);
        if self.used.len() >= self.max_used {
            if let Some((oldest, _)) = self
                .used
                .iter()
                .enumerate()
                .min_by_key(|(_, used)| used.issued_ms)
            {
                let dropped = self.used.swap_remove(oldest);
                self.used_floor = Some(self.used_floor.unwrap_or(0).max(dropped.issued_ms));
            }
        }
        self.used.push(UsedNonce { mac, issued_ms });
        Verdict::Accepted
    }

    fn verify_basic(&self, encoded: &str, expected: &Credentials) -> Verdict {
        if !self.allow_basic {
            return Verdict::Denied;
        }
        let wanted = format!("{}:{}", expected.username, expected.password);
        match base64_decode(encoded.trim()) {
            Some(given) if constant_time_eq(&given, wanted.as_bytes()) => Verdict::Accepted,
            _ => Verdict::Denied,
        }
    }
}

/// Compare without an early exit on the first differing byte (timing side channel).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `N` bytes of hex (either case).
fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(*pair.first()?).to_digit(16)?;
        let low = char::from(*pair.get(1)?).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

/// Escape `\` and `"` for a quoted-string.
fn quote_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Split `Scheme rest` at the first run of whitespace.
fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let value = value.trim();
    match value.find([' ', '\t']) {
        Some(at) => Some((value.get(..at)?, value.get(at..)?.trim_start())),
        None if !value.is_empty() => Some((value, "")),
        None => None,
    }
}

/// Cursor over an auth header for the small grammar of RFC 9110 section 11.
struct AuthCursor<'a> {
    rest: &'a str,
}

impl<'a> AuthCursor<'a> {
    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn token(&mut self) -> &'a str {
        let end = self
            .rest
            .find(['=', ',', ' ', '\t', '"'])
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }

    /// A token or quoted-string value after `=`.
    fn value(&mut self) -> String {
        let Some(quoted) = self.rest.strip_prefix('"') else {
            return self.token().to_string();
        };
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = quoted.get(at + 1..).unwrap_or("");
                    return out;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                }
                _ => out.push(c),
            }
        }
        // Unterminated quote: take what is there.
        self.rest = "";
        out
    }

    /// If the next item is `name=value`, consume and return it.
    fn param(&mut self) -> Option<(String, String)> {
        let saved = self.rest;
        self.skip_separators();
        let name = self.token();
        self.skip_whitespace();
        if name.is_empty() || !self.rest.starts_with('=') {
            self.rest = saved;
            return None;
        }
        self.rest = self.rest.get(1..).unwrap_or("");
        self.skip_whitespace();
        Some((name.to_string(), self.value()))
    }
}

type Params = Vec<(String, String)>;

/// `name=value` pairs of one challenge or credentials value.
fn parse_params(text: &str) -> Params {
    let mut cursor = AuthCursor { rest: text };
    let mut params = Vec::new();
    while let Some(param) = cursor.param() {
        params.push(param);
    }
    params
}

/// Split a `WWW-Authenticate` value into its challenges.
fn split_challenges(value: &str) -> Vec<(String, Params)> {
    let mut cursor = AuthCursor { rest: value };
    let mut challenges = Vec::new();
    loop {
        cursor.skip_separators();
        let scheme = cursor.token();
        if scheme.is_empty() {
            // Stray character we do not understand: skip it so the loop advances.
            let mut chars = cursor.rest.chars();
            if chars.next().is_none() {
                break;
            }
            cursor.rest = chars.as_str();
            continue;
        }
        let mut params = Vec::new();
        cursor.skip_whitespace();
        if !cursor.rest.starts_with('=') {
            while let Some(param) = cursor.param() {
                params.push(param);
            }
        } else {
            // token68 (or a param without scheme): skip to the next comma.
            let end = cursor.rest.find(',').unwrap_or(cursor.rest.len());
            cursor.rest = cursor.rest.get(end..).unwrap_or("");
            continue;
        }
        challenges.push((scheme.to_string(), params));
    }
    challenges
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64 with padding (HTTP Basic credentials; vouchers in tests).
pub fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let b0 = group.first().copied().unwrap_or(0);
        let b1 = group.get(1).copied().unwrap_or(0);
        let b2 = group.get(2).copied().unwrap_or(0);
        let triple = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                let index = ((triple >> shift) & 0x3f) as usize;
                out.push(char::from(BASE64_ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut accumulator = 0u32;
    let mut bits = 0u32;
    for byte in trimmed.bytes() {
        let value = BASE64_ALPHABET.iter().position(|&c| c == byte)? as u32;
        accumulator = (accumulator << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((accumulator >> bits) as u8);
            accumulator &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, pass: &str) -> Credentials {
        Credentials {
            username: user.to_string(),
            password: pass.to_string(),
        }
    }

    /// RFC 7616 section 3.9.1 example, MD5 and SHA-256 variants.
    #[test]
    fn rfc7616_example_responses() {
        for (algorithm, expected) in [
            (DigestAlgorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                DigestAlgorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let response = digest_response(&DigestInputs {
                algorithm,
                username: "Mufasa",
                password: "Circle of Life",
                realm: "http-auth@example.org",
                nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                method: "GET",
                uri: "/dir/index.html",
                qop: Some("auth"),
                nc: "00000001",
                cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            });
            assert_eq!(response, expected, "{algorithm:?}");
        }
    }

    #[test]
    fn parses_multiple_challenges_in_one_value() {
        let parsed = parse_www_authenticate(
            "Digest realm=\"a, b\", qop=\"auth,auth-int\", algorithm=SHA-256, nonce=\"n1\", opaque=\"o\", stale=TRUE, Basic realm=\"r\", Newauth token68==",
        );
        assert_eq!(
            parsed,
            vec![
                Challenge::Digest(DigestChallenge {
                    realm: "a, b".into(),
                    nonce: "n1".into(),
                    opaque: Some("o".into()),
                    qop_auth: true,
                    algorithm: DigestAlgorithm::Sha256,
                    stale: true,
                }),
                Challenge::Basic { realm: "r".into() },
            ]
        );
        assert!(matches!(
            choose_challenge(&parsed),
            Some(Challenge::Digest(_))
        ));
    }

    #[test]
    fn skips_unknown_algorithms_and_garbage() {
        assert!(
            parse_www_authenticate("Digest realm=x, nonce=y, algorithm=SHA-512-256").is_empty()
        );
        assert!(parse_www_authenticate("Digest realm=x").is_empty());
        assert!(parse_www_authenticate("\"=,,==\"\"").is_empty());
        assert!(parse_www_authenticate("").is_empty());
    }

    #[test]
    fn basic_header_matches_rfc7617_example() {
        assert_eq!(
            basic_authorization(&creds("Aladdin", "open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            base64_decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").as_deref(),
            Some(&b"Aladdin:open sesame"[..])
        );
        for len in 0..8 {
            let data: Vec<u8> = (0..len).map(|i| i as u8 * 37).collect();
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data));
        }
    }

    #[test]
    fn client_counts_nc_per_nonce() {
        let mut client = DigestClient::new(DigestChallenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: None,
            qop_auth: true,
            algorithm: DigestAlgorithm::Md5,
            stale: false,
        });
        let first = client.authorization(&creds("u", "p"), "POST", "/acs", "c1");
        let second = client.authorization(&creds("u", "p"), "POST", "/acs", "c2");
        assert!(first.contains("nc=00000001"), "{first}");
        assert!(second.contains("nc=00000002"), "{second}");
    }

    fn server() -> DigestServer {
        DigestServer::new("cwmp", Duration::from_secs(60), 4, false, [7; 16])
    }

    fn answer_challenge(values: &[String], pick: usize, password: &str) -> String {
        let parsed = parse_www_authenticate(&values[pick]);
        let Some(Challenge::Digest(challenge)) = parsed.into_iter().next() else {
            panic!("no digest challenge in {values:?}");
        };
        DigestClient::new(challenge).authorization(&creds("cpe", password), "GET", "/", "cn")
    }

    #[test]
    fn server_accepts_md5_and_sha256_once() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        for pick in [0, 1] {
            let mut server = server();
            let challenge = server.challenge([1; 16], now, false);
            let header = answer_challenge(&challenge, pick, "secret");
            assert_eq!(
                server.verify(&header, "GET", "/", &expected, now),
                Verdict::Accepted
            );
            // The same header again is a replay.
            assert_eq!(
                server.verify(&header, "GET", "/", &expected, now),
                Verdict::Denied
            );
        }
    }

    #[test]
    fn server_denies_wrong_password_path_and_unknown_nonce() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = server();
        let challenge = server.challenge([2; 16], now, false);
        let wrong = answer_challenge(&challenge, 0, "guess");
        assert_eq!(
            server.verify(&wrong, "GET", "/", &expected, now),
            Verdict::Denied
        );
        let right = answer_challenge(&challenge, 0, "secret");
        assert_eq!(
            server.verify(&right, "GET", "/other", &expected, now),
            Verdict::Denied
        );
        // Another server (another secret) does not know this nonce.
        let mut other = DigestServer::new("cwmp", Duration::from_secs(60), 4, false, [8; 16]);
        assert_eq!(
            other.verify(&right, "GET", "/", &expected, now),
            Verdict::Denied
        );
        assert_eq!(
            server.verify("Basic Y3BlOnNlY3JldA==", "GET", "/", &expected, now),
            Verdict::Denied
        );
        assert_eq!(
            server.verify("", "GET", "/", &expected, now),
            Verdict::Denied
        );
        assert_eq!(
            server.verify(&right, "GET", "/", &expected, now),
            Verdict::Accepted
        );
    }

    #[test]
    fn server_reports_expired_nonce_as_stale() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = server();
        let challenge = server.challenge([3; 16], now, false);
        let header = answer_challenge(&challenge, 1, "secret");
        let later = now + Duration::from_secs(61);
        assert_eq!(
            server.verify(&header, "GET", "/", &expected, later),
            Verdict::Stale
        );
        assert!(server.challenge([4; 16], later, true)[0].contains("stale=true"));
    }

    #[test]
    fn server_basic_only_when_allowed() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = DigestServer::new("cwmp", Duration::from_secs(60), 4, true, [7; 16]);
        assert!(server
            .challenge([5; 16], now, false)
            .iter()
            .any(|v| v.starts_with("Basic")));
        let basic = basic_authorization(&expected);
        assert_eq!(
            server.verify(&basic, "GET", "/", &expected, now),
            Verdict::Accepted
        );
        let wrong = basic_authorization(&creds("cpe", "nope"));
        assert_eq!(
            server.verify(&wrong, "GET", "/", &expected, now),
            Verdict::Denied
        );
    }

    #[test]
    fn a_flood_of_challenges_evicts_no_nonce() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = server();
        let first = server.challenge([10; 16], now, false);
        for i in 0..10_000u32 {
            let mut random = [0u8; 16];
            random[..4].copy_from_slice(&i.to_be_bytes());
            server.challenge(random, now, false);
        }
        let header = answer_challenge(&first, 0, "secret");
        assert_eq!(
            server.verify(&header, "GET", "/", &expected, now),
            Verdict::Accepted
        );
    }

    #[test]
    fn forged_and_future_nonces_are_denied() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = server();
        let challenge = server.challenge([11; 16], now, false);
        let header = answer_challenge(&challenge, 0, "secret");
        // One flipped nonce digit breaks its MAC.
        let start = header.find("nonce=\"").unwrap() + 7;
        let mut forged = header.clone().into_bytes();
        forged[start] = if forged[start] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            server.verify(&forged, "GET", "/", &expected, now),
            Verdict::Denied
        );
        // A nonce issued "later" by another server's clock is not accepted now.
        let mut later_server = server_at_later_epoch(now);
        let from_future = later_server.challenge([12; 16], now + Duration::from_secs(30), false);
        let mut fresh = server_at_later_epoch(now);
        let header = answer_challenge(&from_future, 0, "secret");
        assert_eq!(
            fresh.verify(&header, "GET", "/", &expected, now),
            Verdict::Denied
        );
    }

    fn server_at_later_epoch(epoch: Instant) -> DigestServer {
        let mut server = server();
        server.clock_ms(epoch);
        server
    }

    #[test]
    fn an_overflowing_used_record_never_allows_a_replay() {
        let now = Instant::now();
        let expected = creds("cpe", "secret");
        let mut server = server();
        let mut accepted = Vec::new();
        for i in 0..6u8 {
            let at = now + Duration::from_millis(u64::from(i));
            let challenge = server.challenge([30 + i; 16], at, false);
            let header = answer_challenge(&challenge, 1, "secret");
            assert_eq!(
                server.verify(&header, "GET", "/", &expected, at),
                Verdict::Accepted
            );
            accepted.push(header);
        }
        // The record holds 4: the two oldest fell out, and answer stale, not accepted.
        let at = now + Duration::from_millis(10);
        for header in &accepted[..2] {
            assert_eq!(
                server.verify(header, "GET", "/", &expected, at),
                Verdict::Stale
            );
        }
        for header in &accepted[2..] {
            assert_eq!(
                server.verify(header, "GET", "/", &expected, at),
                Verdict::Denied
            );
        }
    }

    #[test]
    fn arbitrary_headers_never_panic() {
        let alphabet = b"Digest Basic realm=\"nonce,qop=auth-int algorithm=SHA-256-sess stale=true opaque\\ \t";
        let mut seed = 0x1234_5678_u32;
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(seed % 96) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                text.push(alphabet[seed as usize % alphabet.len()] as char);
            }
            for challenge in parse_www_authenticate(&text) {
                if let Challenge::Digest(digest) = challenge {
                    let creds = Credentials {
                        username: "u".into(),
                        password: "p".into(),
                    };
                    let _ = DigestClient::new(digest).authorization(&creds, "POST", "/", "c");
                }
            }
        }
    }
}
