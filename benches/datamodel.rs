//! Data model engine throughput: GPV and GPN of `Device.` over a synthetic 10,000-parameter provider.

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

fn main() {
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
