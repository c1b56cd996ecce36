//! Data model engine throughput: GPV and GPN of `Device.` over a synthetic 10,000-parameter provider, and GPV `Device.` on the OpenWrt fixture device (real providers and the shipped uci-map).

#[path = "support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use synthetic::{reset_peak, status_kib};

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

/// The fixture router of `tests/fixtures/openwrt` with the shipped uci-map,
/// read from a copy of its UCI files.
fn fixture_device() -> (icwmp::datamodel::engine::DataModel, std::path::PathBuf) {
    use icwmp::datamodel::{config::MemoryConfig, engine, schema, state};
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("icwmp-bench-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for entry in std::fs::read_dir(format!("{root}/tests/fixtures/openwrt")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    let uci = std::rc::Rc::new(std::cell::RefCell::new(
        icwmp::config::backends::UciDir::new(&dir),
    ));
    let mut dm = engine::DataModel::new(
        schema::Schema::new(schema::ModelKind::Tr181),
        engine::Options::default(),
        state::DmState::in_memory(),
    );
    icwmp::datamodel::register_standard_providers(
        &mut dm,
        MemoryConfig::default().shared(),
        uci.clone(),
        &dir,
    )
    .expect("providers");
    let map = std::fs::read_to_string(format!("{root}/files/etc/icwmp/uci-map")).expect("map");
    icwmp::datamodel::ucimap::register_uci_map(&mut dm, &map, uci).expect("uci-map");
    (dm, dir)
}

fn main() {
    let (mut fixture, fixture_dir) = fixture_device();
    measure(
        "gpv Device. on the OpenWrt fixture device",
        20,
        || fixture.get_values(&["Device."]).expect("gpv"),
        // The host's process table comes and goes; count the rest.
        |v| {
            v.iter()
                .filter(|p| !p.name.contains(".ProcessStatus.Process."))
                .count()
        },
    );
    drop(fixture);
    let _ = std::fs::remove_dir_all(fixture_dir);

    let mut dm = synthetic::data_model();

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
