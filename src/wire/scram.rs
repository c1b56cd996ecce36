//! SASL SCRAM-SHA-1 (RFC 5802) client messages and PLAIN (RFC 4616), pure: the nonce comes in as an argument.
//!
//! Usernames are escaped as RFC 5802 5.1 asks (`=` → `=3D`, `,` → `=2C`);
//! SASLprep is not applied, so non-ASCII passwords must already be in the
//! form the server stored (the usual case for provisioned CPE credentials).

use std::fmt;
use std::num::NonZeroU32;

use ring::{digest, hmac, pbkdf2};

use super::digest::{base64_decode, base64_encode, constant_time_eq};

/// The most PBKDF2 iterations accepted from a server: the computation runs on
/// the daemon's loop (about a millisecond per thousand on a small router).
pub const MAX_ITERATIONS: u32 = 100_000;

/// Why a server's SCRAM message was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    /// The server-first message lacks or garbles `r`, `s` or `i`.
    Malformed(&'static str),
    /// The server's nonce does not extend ours.
    NonceMismatch,
    /// Iteration count 0 or above [`MAX_ITERATIONS`].
    Iterations(u32),
    /// The server-final message carried an error or a wrong signature.
    ServerRejected(String),
    BadServerSignature,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Malformed(what) => write!(f, "SCRAM: malformed server message ({what})"),
            ScramError::NonceMismatch => write!(f, "SCRAM: server nonce does not extend ours"),
            ScramError::Iterations(n) => write!(f, "SCRAM: iteration count {n} refused"),
            ScramError::ServerRejected(e) => write!(f, "SCRAM: server error {e}"),
            ScramError::BadServerSignature => write!(f, "SCRAM: wrong server signature"),
        }
    }
}

impl std::error::Error for ScramError {}

/// The SASL PLAIN initial response: `\0username\0password`.
pub fn plain_response(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(username.len() + password.len() + 2);
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// A SCRAM-SHA-1 exchange from the client's side.
#[derive(Clone, Debug)]
pub struct ScramClient {
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// Set once the client-final message is made: the signature the server must send.
    expected_server_signature: Option<Vec<u8>>,
}

fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// The value of `key=` among the comma-separated attributes of a SCRAM message.
fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(key) && chars.next() == Some('=')).then(|| part.get(2..))?
    })
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

impl ScramClient {
    /// Starts an exchange; `nonce` must be fresh printable ASCII without `,`.
    pub fn new(username: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            password: password.to_owned(),
            client_first_bare: format!("n={},r={nonce}", escape_name(username)),
            client_nonce: nonce.to_owned(),
            expected_server_signature: None,
        }
    }

    /// The client-first message (gs2 header `n,,`: no channel binding, no authzid).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Answers the server-first message with the client-final message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<String, ScramError> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let nonce = attribute(server_first, 'r').ok_or(ScramError::Malformed("nonce"))?;
        let salt = attribute(server_first, 's')
            .and_then(base64_decode)
            .ok_or(ScramError::Malformed("salt"))?;
        let iterations: u32 = attribute(server_first, 'i')
            .and_then(|i| i.parse().ok())
            .ok_or(ScramError::Malformed("iteration count"))?;
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let rounds = NonZeroU32::new(iterations)
            .filter(|n| n.get() <= MAX_ITERATIONS)
            .ok_or(ScramError::Iterations(iterations))?;
        let mut salted = [0u8; 20];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA1,
            rounds,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha1(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac_sha1(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac_sha1(&salted, b"Server Key");
        self.expected_server_signature = Some(hmac_sha1(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", base64_encode(&proof)))
    }

    /// Checks the server-final message (`v=` signature or `e=` error).
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(error) = attribute(text, 'e') {
            return Err(ScramError::ServerRejected(error.to_owned()));
        }
        let got = attribute(text, 'v')
            .and_then(base64_decode)
            .ok_or(ScramError::Malformed("verifier"))?;
        match &self.expected_server_signature {
            Some(expected) if constant_time_eq(expected, &got) => Ok(()),
            _ => Err(ScramError::BadServerSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5802 section 5's example exchange.
    #[test]
    fn rfc5802_example() {
        let mut client = ScramClient::new("user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(
            client.client_first(),
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let server_first =
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        assert_eq!(
            client.client_final(server_first).expect("final"),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(
            client.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
            Ok(())
        );
        assert_eq!(
            client.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(ScramError::BadServerSignature)
        );
        assert_eq!(
            client.verify_server_final(b"e=invalid-proof"),
            Err(ScramError::ServerRejected("invalid-proof".into()))
        );
    }

    #[test]
    fn refuses_bad_server_first_messages() {
        let mut client = ScramClient::new("a=b,c", "pw", "abc");
        assert_eq!(client.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        assert_eq!(
            client.client_final(b"r=xyz123,s=QSXCR+Q6sek8bf92,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            client.client_final(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            client.client_final(b"r=abcd,s=QSXCR+Q6sek8bf92,i=0"),
            Err(ScramError::Iterations(0))
        );
        assert_eq!(
            client.client_final(b"r=abcd,s=QSXCR+Q6sek8bf92,i=100000000"),
            Err(ScramError::Iterations(100_000_000))
        );
        assert_eq!(
            client.client_final(b"r=abcd,s=!!,i=10"),
            Err(ScramError::Malformed("salt"))
        );
        assert!(client.client_final(b"\xff").is_err());
        assert!(client
            .verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
            .is_err());
    }

    #[test]
    fn plain_is_nul_separated() {
        assert_eq!(plain_response("u", "p"), b"\0u\0p");
    }
}
