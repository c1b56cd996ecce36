//! What anyone may send the TWAMP reflector and the UDP echo server.
#![no_main]
use icwmp::wire::{twamp, udp_echo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = twamp::parse_test_packet(data);
    let _ = twamp::parse_reflector_packet(data);
    let _ = udp_echo::parse_echo_plus(data);
});
