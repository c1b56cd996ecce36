//! Connection-request heads on port 7547, each answered by the server's pure decision.
#![no_main]
use std::time::Instant;

use icwmp::cwmp::conn_request_limit::ConnRequestLimit;
use icwmp::transport::conn_request::{ConnRequestConfig, CrAuthority};
use icwmp::wire::digest::Credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = ConnRequestConfig {
        credentials: Credentials {
            username: "cpe".into(),
            password: "secret".into(),
        },
        ..ConnRequestConfig::default()
    };
    let mut authority = CrAuthority::new(&config, [7; 16]);
    let limit = ConnRequestLimit::default();
    let now = Instant::now();
    // Each NUL-separated piece is one head on the same server, so nonce state carries over.
    for head in data.split(|&b| b == 0).take(8) {
        let reply = authority.decide(head, now, [9; 16], &limit);
        let _ = reply.render();
    }
});
