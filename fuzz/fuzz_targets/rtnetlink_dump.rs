//! Datagrams of an rtnetlink address dump (the kernel's answer, or qemu-user's translation of it).
#![no_main]
use icwmp::wire::rtnetlink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = rtnetlink::parse_addr_dump(data, 1, &mut out, 64);
    assert!(out.len() <= 64);
});
