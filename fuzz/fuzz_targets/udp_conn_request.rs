//! UDP connection requests (TR-111 6.2) and the persisted record of accepted ones.
#![no_main]
use icwmp::wire::udp_conn_request::{self, UdpRequestGuard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = udp_conn_request::parse(data);
    let _ = UdpRequestGuard::from_bytes(data);
});
