//! STUN Binding responses from the STUN server (or anyone who can reach the port).
#![no_main]
use icwmp::wire::stun;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stun::parse_response(data, Some(b"password".as_slice()));
    let _ = stun::parse_response(data, None);
});
