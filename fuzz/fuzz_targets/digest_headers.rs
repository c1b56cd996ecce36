//! `WWW-Authenticate` from the ACS and `Authorization` from connection-request clients.
#![no_main]
use std::time::{Duration, Instant};

use icwmp::wire::digest::{self, Credentials, DigestServer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let challenges = digest::parse_www_authenticate(text);
    let _ = digest::choose_challenge(&challenges);
    let mut server = DigestServer::new("realm", Duration::from_secs(300), 4, true, [1; 16]);
    let now = Instant::now();
    let _ = server.challenge([2; 16], now, false);
    let expected = Credentials {
        username: "cpe".into(),
        password: "secret".into(),
    };
    let _ = server.verify(text, "GET", "/", &expected, now);
});
