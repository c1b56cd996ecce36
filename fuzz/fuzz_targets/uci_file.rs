//! UCI configuration files (`/etc/config/*`), and the typed `cwmp` configuration built from them.
#![no_main]
use icwmp::config::uci::UciFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = UciFile::parse("fuzz", text) {
        // What the daemon writes back must read again.
        let written = file.to_text();
        assert!(UciFile::parse("written", &written).is_ok(), "{written:?}");
    }
});
