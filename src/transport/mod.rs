//! Network transports driven from the daemon's mio loop: ACS HTTP client, connection-request server, STUN, ubus, file transfers, TWAMP and UDP echo reflectors.

pub mod acs;
pub mod conn_request;
mod cookie_jar;
pub mod ftp;
pub mod http_client;
#[cfg(any(feature = "twamp", feature = "udpecho"))]
mod probe_socket;
#[cfg(feature = "stun")]
pub mod stun;
pub mod tls;
pub mod transfer;
#[cfg(feature = "twamp")]
pub mod twamp;
pub mod ubus;
#[cfg(feature = "udpecho")]
pub mod udp_echo;
#[cfg(feature = "xmpp")]
pub mod xmpp;

pub use cookie_jar::CookieJar;

/// 16 random bytes from the OS (cnonces, server nonces); `None` if the OS has no randomness.
pub(crate) fn random16() -> Option<[u8; 16]> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes)
}
