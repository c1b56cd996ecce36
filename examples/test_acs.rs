//! The loopback test ACS as a program, for `make demo`: serves sessions on
//! 127.0.0.1:PORT and exits after the given number of completed sessions.
//!
//! Usage: test_acs <port> <sessions>

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let sessions: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let server = acs::TestAcs::start_on(
        port,
        acs::AcsOptions {
            verbose: true,
            ..Default::default()
        },
    );
    println!("ACS: listening on {}", server.url());
    if server.wait_sessions(sessions, Duration::from_secs(60)) {
        println!("ACS: {sessions} session(s) complete");
    } else {
        eprintln!("ACS: timed out waiting for {sessions} session(s)");
        std::process::exit(1);
    }
}
