//! BulkData and compression figures: building and encoding a 10,000-parameter report in each format, and gzip/deflate of a 10,000-parameter GetParameterValuesResponse.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::{Duration, Instant};

use icwmp::bulkdata::report::{self, CsvFormat, Encoding, ItemEncoder, JsonFormat, Timestamp};
use icwmp::wire::content_coding::{self, ContentCoding};
use icwmp::wire::soap::{emit, CwmpVersion, Envelope, Rpc};
use synthetic::{reset_peak, status_kib};

/// The fastest of at least 5 runs within `budget` (the machine is shared).
fn fastest_run<T>(budget: Duration, mut work: impl FnMut() -> T) -> Duration {
    black_box(work());
    let start = Instant::now();
    let mut fastest = Duration::MAX;
    let mut runs = 0u32;
    while runs < 5 || start.elapsed() < budget {
        let run = Instant::now();
        black_box(work());
        fastest = fastest.min(run.elapsed());
        runs += 1;
    }
    fastest
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let budget = Duration::from_secs(1);
    let mut dm = synthetic::data_model();
    let collected = dm.get_values(&["Device."]).expect("gpv");
    let count = collected.len();

    // Floor: copying every name and value into one string, the least any encoder does.
    let floor = fastest_run(budget, || {
        let mut out = String::new();
        for p in &collected {
            out.push_str(&p.name);
            out.push_str(&p.value);
        }
        out
    });
    println!(
        "bulkdata floor (copy {count} names+values): {:.2} ms",
        ms(floor)
    );

    let encodings = [
        (
            "JSON ObjectHierarchy",
            Encoding::Json {
                format: JsonFormat::ObjectHierarchy,
                timestamp: Timestamp::UnixEpoch,
            },
        ),
        (
            "JSON NameValuePair",
            Encoding::Json {
                format: JsonFormat::NameValuePair,
                timestamp: Timestamp::UnixEpoch,
            },
        ),
        (
            "CSV ParameterPerRow",
            Encoding::Csv {
                field_separator: ",".into(),
                row_separator: "\n".into(),
                escape_character: "\"".into(),
                format: CsvFormat::ParameterPerRow,
                timestamp: Timestamp::UnixEpoch,
            },
        ),
        (
            "CSV ParameterPerColumn",
            Encoding::Csv {
                field_separator: ",".into(),
                row_separator: "\n".into(),
                escape_character: "\"".into(),
                format: CsvFormat::ParameterPerColumn,
                timestamp: Timestamp::UnixEpoch,
            },
        ),
    ];
    for (label, encoding) in &encodings {
        // Build = collect from the data model + encode + assemble the body, as the collector does.
        let mut build = || {
            let values = dm.get_values(&["Device."]).expect("gpv");
            let mut encoder = ItemEncoder::new(encoding, 1_700_000_000_000);
            for p in &values {
                encoder.push(&p.name, &p.value, p.xsd_type);
            }
            report::assemble(encoding, &[encoder.finish()])
        };
        let body_len = build().len();
        reset_peak();
        let base = status_kib("VmRSS:");
        let build_time = fastest_run(budget, &mut build);
        let peak = status_kib("VmHWM:").saturating_sub(base);
        let encode_time = fastest_run(budget, || {
            let mut encoder = ItemEncoder::new(encoding, 1_700_000_000_000);
            for p in &collected {
                encoder.push(&p.name, &p.value, p.xsd_type);
            }
            report::assemble(encoding, &[encoder.finish()])
        });
        println!(
            "bulkdata {label} {count} params: build {:.2} ms, encode {:.2} ms ({:.1}x floor), {body_len} bytes, peak extra RSS {:.2} MiB",
            ms(build_time),
            ms(encode_time),
            encode_time.as_secs_f64() / floor.as_secs_f64(),
            peak as f64 / 1024.0
        );
    }

    let gpv = Envelope::new(
        "bench",
        Rpc::GetParameterValuesResponse {
            parameter_list: collected,
        },
    );
    let mut xml = Vec::new();
    emit(&gpv, CwmpVersion::V1_2, &mut xml).expect("emit");
    let copy = fastest_run(budget, || xml.clone());
    for coding in [ContentCoding::Gzip, ContentCoding::Deflate] {
        let packed = content_coding::compress(coding, &xml);
        let compress = fastest_run(budget, || content_coding::compress(coding, &xml));
        let inflate = fastest_run(budget, || {
            content_coding::decompress(coding, &packed, u64::MAX).expect("decode")
        });
        println!(
            "compression {} GPV response {count} params: {} -> {} bytes (ratio {:.1}:1), compress {:.2} ms ({:.1} MB/s, {:.0}x memcpy), decompress {:.2} ms",
            coding.token(),
            xml.len(),
            packed.len(),
            xml.len() as f64 / packed.len() as f64,
            ms(compress),
            xml.len() as f64 / compress.as_secs_f64() / 1e6,
            compress.as_secs_f64() / copy.as_secs_f64(),
            ms(inflate)
        );
    }
}
