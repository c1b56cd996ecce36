//! A synthetic data model for the benchmarks: 1,000 `Device.Hosts.Host.{i}` instances × 10 computed parameters.

use icwmp::datamodel::engine::{DataModel, Options};
use icwmp::datamodel::provider::Provider;
use icwmp::datamodel::schema::{ModelKind, Schema};
use icwmp::datamodel::state::DmState;

pub const INSTANCES: u32 = 1_000;
pub const TABLE: &str = "Device.Hosts.Host.";

struct Synthetic {
    names: Vec<&'static str>,
}

impl Provider for Synthetic {
    fn get(&mut self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(TABLE)?;
        let (number, name) = rest.split_once('.')?;
        let number: u32 = number.parse().ok()?;
        let column = self.names.iter().position(|n| *n == name)?;
        Some(format!("value-{number}-{column}"))
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table == TABLE {
            (1..=INSTANCES).collect()
        } else {
            Vec::new()
        }
    }
}

/// A TR-181 engine whose only provider serves the 10,000 synthetic parameters.
pub fn data_model() -> DataModel {
    let schema = Schema::new(ModelKind::Tr181);
    let template = schema.lookup("Device.Hosts.Host.{i}.").expect("Host table");
    let names: Vec<&'static str> = schema
        .children(template)
        .filter(|c| schema.is_parameter(*c))
        .map(|c| schema.name(c))
        .take(10)
        .collect();
    assert_eq!(names.len(), 10);
    let mut dm = DataModel::new(schema, Options::default(), DmState::in_memory());
    dm.register(&[TABLE], Box::new(Synthetic { names }))
        .expect("register");
    dm
}

/// A field of /proc/self/status in KiB.
pub fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS so each measurement's peak is its own.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
