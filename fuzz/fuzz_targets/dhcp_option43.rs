//! DHCP option 43 as udhcpc hands it over (hex).
#![no_main]
use icwmp::cwmp::dhcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dhcp::parse_option43(text);
    }
});
