//! Data model engine throughput: GPV and GPN of `Device.` over a synthetic 10,000-parameter provider.

use std::fs;
use std::time::Instant;

use icwmp::datamodel::engine::{DataModel, Options};
use icwmp::datamodel::provider::Provider;
use icwmp::datamodel::schema::{ModelKind, Schema};
use icwmp::datamodel::state::DmState;

const INSTANCES: u32 = 1_000;
const TABLE: &str = "Device.Hosts.Host.";

/// 1,000 Host instances with 10 computed parameters each.
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

fn status_kib(field: &str) -> u64 {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
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

/// Resets VmHWM to the current RSS so each run's peak is its own.
fn reset_peak() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn measure<T>(label: &str, rounds: u32, mut run: impl FnMut() -> T, count: impl Fn(&T) -> usize) {
    // Warm-up, so allocator arenas from setup are not counted as extra.
    let warm = run();
    let items = count(&warm);
    drop(warm);
    reset_peak();
    let base = status_kib("VmRSS:");
    let start = Instant::now();
    for _ in 0..rounds {
        let result = run();
        assert_eq!(count(&result), items);
    }
    let per_run = start.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
    let peak = status_kib("VmHWM:").saturating_sub(base);
    println!("{label}: {items} items, {per_run:.2} ms/run");
    println!("{label} peak extra RSS: {:.2} MiB", peak as f64 / 1024.0);
}

fn main() {
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

    measure(
        "gpv Device.",
        20,
        || dm.get_values(&["Device."]).expect("gpv"),
        |v| v.len(),
    );
    measure(
        "gpn Device. false",
        20,
        || dm.get_names("Device.", false).expect("gpn"),
        |v| v.len(),
    );
}
