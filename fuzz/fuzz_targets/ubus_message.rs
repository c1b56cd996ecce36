//! ubus frames and blobmsg payloads from ubusd, and the JSON the `icwmp` CLI passes on.
#![no_main]
use icwmp::wire::{blobmsg, ubus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ubus::Message::decode(data);
    let _ = blobmsg::decode_fields(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = blobmsg::parse_json(text);
    }
});
