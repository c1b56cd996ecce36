//! Every state file the daemon reads back at start (a crash or a hand edit may leave anything).
#![no_main]
use icwmp::cwmp::cpe_requests;
use icwmp::cwmp::events::EventQueue;
use icwmp::cwmp::transfers::TransferQueue;
use icwmp::datamodel::state::DmState;
use icwmp::software::changes;
use icwmp::software::inventory::{self, Inventory};
use icwmp::software::vouchers::{DeviceIdentity, Vouchers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = EventQueue::from_bytes(data);
    let _ = TransferQueue::from_bytes(data);
    let _ = changes::jobs_from_bytes(data);
    let _ = Inventory::from_bytes(data);
    let _ = cpe_requests::request_from_bytes(data);
    let device = DeviceIdentity {
        oui: "001122".into(),
        serial_number: "SN1".into(),
    };
    let _ = Vouchers::from_bytes(data, &device);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = DmState::parse(text);
        let _ = inventory::parse_installed(text);
    }
});
