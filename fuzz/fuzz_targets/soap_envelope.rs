//! SOAP envelopes from the ACS: parse, and emit again what parsed.
#![no_main]
use icwmp::wire::soap::{self, CwmpVersion, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = soap::parse(data, &Limits::default()) {
        let mut out = Vec::new();
        let _ = soap::emit(&envelope, CwmpVersion::V1_4, &mut out);
    }
});
