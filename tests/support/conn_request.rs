//! A Digest-authenticated HTTP connection request to the real daemon, as an ACS makes it, and the port it is made to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};

use super::acs::TestAcs;

/// Reads a response head byte by byte, at most 16 KiB: its status and text;
/// `None` when the connection ends or times out first.
pub fn read_head(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 16_384 {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some((text.split(' ').nth(1)?.parse().ok()?, text))
}

/// GET, the challenge, GET with Digest credentials: the challenge's status
/// and the final one (0 when no answer came).
pub fn digest_connection_request(port: u16, user: &str, password: &str) -> (u16, u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .expect("write");
    let (challenge_status, head) = read_head(&mut stream).expect("challenge");
    let challenge = head
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .flat_map(parse_www_authenticate)
        .find_map(|c| match c {
            Challenge::Digest(d) => Some(d),
            Challenge::Basic { .. } => None,
        })
        .expect("a Digest challenge");
    let creds = Credentials {
        username: user.into(),
        password: password.into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/", "c0ffee");
    stream
        .write_all(
            format!("GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n").as_bytes(),
        )
        .expect("write");
    let status = read_head(&mut stream).map_or(0, |(status, _)| status);
    (challenge_status, status)
}

/// The connection-request port from the ConnectionRequestURL of the first session's Inform.
pub fn port_of_first_inform(acs: &TestAcs) -> u16 {
    let url = acs.sessions()[0]
        .inform()
        .and_then(|i| {
            i.parameter_list
                .iter()
                .find(|p| p.name == "Device.ManagementServer.ConnectionRequestURL")
        })
        .map(|p| p.value.clone())
        .expect("ConnectionRequestURL in the Inform");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("a port in ConnectionRequestURL");
    assert_ne!(port, 0, "the URL names the bound port: {url}");
    port
}
