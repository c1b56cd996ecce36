//! Replies the diagnostics read from the network: ICMP, DNS, UDP echo, HTTP heads, and the ACS's URLs.
#![no_main]
use icwmp::diagnostics::{throughput, udpecho};
use icwmp::wire::{dns, icmp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = icmp::parse_v4(data);
    let _ = icmp::parse_v6(data);
    let _ = dns::parse_response(data);
    let _ = udpecho::parse_echo(data);
    let _ = throughput::parse_http_head(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = throughput::parse_target(text);
    }
});
