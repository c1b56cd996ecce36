//! BulkData end to end: the real `icwmpd` sends reports to the loopback collector — every encoding and
//! format byte for byte, headers, Request-URI parameters, compression, Digest, retries, retention,
//! a 500 and a dead collector, PersistAcrossReboot — and the ACS configures profiles with faults for bad values.

#![cfg(feature = "bulkdata")]

mod support;

use std::path::Path;
use std::time::Duration;

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::digest::Credentials;
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::collector::{Collector, Report};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

/// Writes the BulkData settings file the daemon loads (`key value` lines).
fn write_settings(dir: &Path, lines: &[String]) {
    let state = dir.join("icwmpd");
    std::fs::create_dir_all(&state).unwrap();
    let mut text = String::from("icwmp-bulkdata 1\nEnable 1\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(state.join("bulkdata"), text).unwrap();
}

/// `key value` lines of profile `n`.
fn profile(n: u32, settings: &[(&str, &str)]) -> Vec<String> {
    let mut lines: Vec<String> = [
        ("Enable", "1"),
        ("Protocol", "HTTP"),
        ("ReportingInterval", "1"),
    ]
    .iter()
    .chain(settings)
    .map(|(k, v)| format!("Profile.{n}.{k} {v}"))
    .collect();
    lines.sort();
    lines
}

/// A daemon with no reachable ACS (BulkData needs none).
fn start_daemon(dir: &Path) -> TestDaemon {
    write_config(dir, "", "", "");
    TestDaemon::start(dir, &[])
}

fn items(report: &Report) -> usize {
    // Items are objects at the top of the Report array: count `{` at depth 2.
    let mut depth = 0;
    let mut count = 0;
    for c in report.text().chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 2 {
                    count += 1;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    count
}

#[cfg(feature = "compression")]
const REFERENCES: &[(&str, &str)] = &[
    (
        "Parameter.1.Reference",
        "Device.BulkData.MaxNumberOfProfiles",
    ),
    ("Parameter.2.Name", "Proto"),
    ("Parameter.2.Reference", "Device.BulkData.Protocols"),
    ("Parameter.3.Name", "PN"),
    ("Parameter.3.Reference", "Device.BulkData.Profile.*.Name"),
    ("Parameter.4.Reference", "Device.BulkData.Profile.2.Name"),
    ("Parameter.4.Exclude", "1"),
];

#[test]
#[cfg(feature = "compression")]
fn every_encoding_and_format_byte_for_byte() {
    let collector = Collector::start(0, None, &[]);
    let dir = temp_dir("bulkdata-formats");
    let with = |n: u32, name: &str, extra: &[(&str, &str)]| {
        let url = collector.url(&format!("/p{n}"));
        let mut settings: Vec<(&str, &str)> = REFERENCES.to_vec();
        settings.extend_from_slice(extra);
        let mut lines = profile(n, &settings);
        lines.push(format!("Profile.{n}.Name {name}"));
        lines.push(format!("Profile.{n}.HTTP.URL {url}"));
        lines
    };
    let mut lines = Vec::new();
    lines.extend(with(
        1,
        "q\"1",
        &[
            ("EncodingType", "JSON"),
            ("JSONEncoding.ReportFormat", "NameValuePair"),
            ("JSONEncoding.ReportTimestamp", "None"),
            ("HTTP.RequestURIParameter.1.Name", "proto"),
            (
                "HTTP.RequestURIParameter.1.Reference",
                "Device.BulkData.Protocols",
            ),
            (
                "HTTP.RequestURIParameter.2.Reference",
                "Device.BulkData.EncodingTypes",
            ),
        ],
    ));
    lines.extend(with(
        2,
        "p2",
        &[
            ("EncodingType", "JSON"),
            ("JSONEncoding.ReportFormat", "ObjectHierarchy"),
            ("JSONEncoding.ReportTimestamp", "None"),
            ("HTTP.Compression", "GZIP"),
        ],
    ));
    lines.extend(with(
        3,
        "a,3",
        &[
            ("EncodingType", "CSV"),
            ("CSVEncoding.ReportFormat", "ParameterPerRow"),
            ("CSVEncoding.RowTimestamp", "None"),
            ("HTTP.UseDateHeader", "0"),
        ],
    ));
    lines.extend(with(
        4,
        "p4",
        &[
            ("EncodingType", "CSV"),
            ("CSVEncoding.ReportFormat", "ParameterPerColumn"),
            ("CSVEncoding.RowTimestamp", "None"),
            ("CSVEncoding.FieldSeparator", ";"),
            ("CSVEncoding.RowSeparator", "\\r\\n"),
            ("CSVEncoding.EscapeCharacter", "'"),
            ("HTTP.Method", "PUT"),
            ("HTTP.Compression", "Deflate"),
        ],
    ));
    lines.extend(with(
        5,
        "p5",
        &[
            ("EncodingType", "JSON"),
            ("JSONEncoding.ReportFormat", "NameValuePair"),
            ("JSONEncoding.ReportTimestamp", "Unix-Epoch"),
        ],
    ));
    write_settings(&dir, &lines);
    let daemon = start_daemon(&dir);
    let first = |path: &str| {
        let reports = collector.wait_reports(path, 1, WAIT);
        reports
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no report on {path}"))
    };

    let r1 = first("/p1");
    assert_eq!(
        r1.text(),
        "{\"Report\":[{\"Device.BulkData.MaxNumberOfProfiles\":16,\"Proto\":\"HTTP\",\
         \"PN.1.Name\":\"q\\\"1\",\"PN.3.Name\":\"a,3\",\"PN.4.Name\":\"p4\",\"PN.5.Name\":\"p5\"}]}"
    );
    assert_eq!(r1.method, "POST");
    assert_eq!(
        r1.target,
        "/p1?proto=HTTP&Device.BulkData.EncodingTypes=CSV%2CJSON"
    );
    assert_eq!(r1.header("bbf-report-format"), Some("NameValuePair"));
    assert_eq!(
        r1.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let date = r1.header("date").expect("Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    assert_eq!(r1.header("content-encoding"), None);

    let r2 = first("/p2");
    assert_eq!(
        r2.text(),
        "{\"Report\":[{\"Device\":{\"BulkData\":{\"MaxNumberOfProfiles\":16}},\
         \"PN\":{\"1\":{\"Name\":\"q\\\"1\"},\"3\":{\"Name\":\"a,3\"},\"4\":{\"Name\":\"p4\"},\
         \"5\":{\"Name\":\"p5\"}},\"Proto\":\"HTTP\"}]}"
    );
    assert_eq!(r2.header("bbf-report-format"), Some("ObjectHierarchy"));
    assert_eq!(r2.header("content-encoding"), Some("gzip"));
    assert_ne!(r2.raw, r2.body);

    let r3 = first("/p3");
    assert_eq!(
        r3.text(),
        "ParameterName,ParameterValue,ParameterType\n\
         Device.BulkData.MaxNumberOfProfiles,16,int\nProto,HTTP,string\n\
         PN.1.Name,\"q\"\"1\",string\nPN.3.Name,\"a,3\",string\nPN.4.Name,p4,string\n\
         PN.5.Name,p5,string\n"
    );
    assert_eq!(r3.header("bbf-report-format"), Some("ParameterPerRow"));
    assert_eq!(r3.header("content-type"), Some("text/csv; charset=UTF-8"));
    assert_eq!(r3.header("date"), None, "UseDateHeader off");

    let r4 = first("/p4");
    assert_eq!(r4.method, "PUT");
    assert_eq!(r4.header("content-encoding"), Some("deflate"));
    assert_eq!(r4.header("bbf-report-format"), Some("ParameterPerColumn"));
    assert_eq!(
        r4.text(),
        "Device.BulkData.MaxNumberOfProfiles;Proto;PN.1.Name;PN.3.Name;PN.4.Name;PN.5.Name\r\n\
         16;HTTP;q\"1;a,3;p4;p5\r\n"
    );

    let r5 = first("/p5");
    let text = r5.text();
    let stamp: u64 = text
        .strip_prefix("{\"Report\":[{\"CollectionTime\":")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        stamp <= now_ms && stamp + 60_000 > now_ms,
        "milliseconds: {stamp}"
    );

    // Reports keep coming every interval.
    assert_eq!(collector.wait_reports("/p1", 3, WAIT).len(), 3);
    assert!(daemon.stop().success());
}

#[test]
fn failed_reports_are_retained_up_to_the_limit_with_digest() {
    let creds = Credentials {
        username: "bulk".into(),
        password: "s3cret".into(),
    };
    let collector = Collector::start(0, Some(creds), &[500, 500, 500, 500]);
    let dir = temp_dir("bulkdata-retained");
    let url = collector.url("/r");
    let mut lines = profile(
        1,
        &[
            ("EncodingType", "JSON"),
            ("JSONEncoding.ReportFormat", "NameValuePair"),
            ("JSONEncoding.ReportTimestamp", "None"),
            ("NumberOfRetainedFailedReports", "2"),
            ("Parameter.1.Reference", "Device.BulkData.Protocols"),
            ("HTTP.Username", "bulk"),
            ("HTTP.Password", "s3cret"),
        ],
    );
    lines.push(format!("Profile.1.HTTP.URL {url}"));
    write_settings(&dir, &lines);
    let daemon = start_daemon(&dir);
    let reports = collector.wait_reports("/r", 6, WAIT);
    assert!(daemon.stop().success());
    assert!(reports.len() >= 6, "{reports:?}");
    let statuses: Vec<u16> = reports.iter().map(|r| r.status).take(6).collect();
    assert_eq!(statuses, [500, 500, 500, 500, 200, 200]);
    // Each failure is retained, at most 2, and sent with the next report.
    let counts: Vec<usize> = reports.iter().map(items).take(6).collect();
    assert_eq!(counts, [1, 2, 3, 3, 3, 1]);
    let one = "{\"Device.BulkData.Protocols\":\"HTTP\"}";
    assert_eq!(
        reports[4].text(),
        format!("{{\"Report\":[{one},{one},{one}]}}")
    );
}

#[test]
fn retries_back_off_and_a_dead_collector_keeps_reports_across_a_restart() {
    let collector = Collector::start(0, None, &[500, 500]);
    // A port nobody listens on: bound, then released.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("bulkdata-retry");
    let soon = icwmp::cwmp::datetime::format_utc(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 3,
    );
    let retry_url = collector.url("/retry");
    let dead_url = format!("http://127.0.0.1:{dead_port}/dead");
    let mut lines = profile(
        1,
        &[
            ("EncodingType", "CSV"),
            ("CSVEncoding.ReportFormat", "ParameterPerRow"),
            ("CSVEncoding.RowTimestamp", "None"),
            ("ReportingInterval", "3600"),
            ("TimeReference", &soon),
            ("Parameter.1.Reference", "Device.BulkData.Protocols"),
            ("HTTP.RetryEnable", "1"),
            ("HTTP.RetryMinimumWaitInterval", "1"),
            ("HTTP.RetryIntervalMultiplier", "1000"),
        ],
    );
    lines.retain(|l| l != "Profile.1.ReportingInterval 1");
    lines.push(format!("Profile.1.HTTP.URL {retry_url}"));
    lines.extend(profile(
        2,
        &[
            ("EncodingType", "JSON"),
            ("JSONEncoding.ReportFormat", "NameValuePair"),
            ("JSONEncoding.ReportTimestamp", "None"),
            ("NumberOfRetainedFailedReports", "-1"),
            ("Parameter.1.Reference", "Device.BulkData.Protocols"),
            ("HTTP.PersistAcrossReboot", "1"),
        ],
    ));
    lines.push(format!("Profile.2.HTTP.URL {dead_url}"));
    write_settings(&dir, &lines);
    let daemon = start_daemon(&dir);

    // One report at the aligned time, failed twice, sent on the second retry.
    let retried = collector.wait_reports("/retry", 3, WAIT);
    let statuses: Vec<u16> = retried.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let expected =
        "ParameterName,ParameterValue,ParameterType\nDevice.BulkData.Protocols,HTTP,string\n";
    assert!(retried.iter().all(|r| r.text() == expected), "{retried:?}");

    // The dead collector: its reports pile up in the persisted file.
    let reports_file = dir.join("icwmpd/bulkdata_reports");
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&reports_file)
            .is_ok_and(|t| t.matches("item 2 JSON").count() >= 2)),
        "retained reports persisted"
    );
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).unwrap_or_default();
    assert!(log.contains("BulkData profile 2"), "{log}");

    // The collector comes up; after a restart the retained reports go out with the next one.
    let revived = Collector::start(dead_port, None, &[]);
    let daemon = TestDaemon::start(&dir, &[]);
    let reports = revived.wait_reports("/dead", 1, WAIT);
    assert!(daemon.stop().success());
    let first = reports.first().expect("report after restart");
    assert!(items(first) >= 3, "{}", first.text());
}

#[test]
fn the_acs_configures_a_profile_and_bad_values_get_faults() {
    let collector = Collector::start(0, None, &[]);
    let url = collector.url("/acs-made");
    let string = |name: &str, value: &str| {
        ParameterValue::new(format!("Device.BulkData.{name}"), value, XsdType::String)
    };
    let requests = vec![
        Rpc::AddObject {
            object_name: "Device.BulkData.Profile.".into(),
            parameter_key: "k1".into(),
        },
        Rpc::AddObject {
            object_name: "Device.BulkData.Profile.1.Parameter.".into(),
            parameter_key: "k2".into(),
        },
        Rpc::SetParameterValues {
            parameter_list: vec![string("Profile.1.EncodingType", "XML")],
            parameter_key: "bad".into(),
        },
        Rpc::SetParameterValues {
            parameter_list: vec![ParameterValue::new(
                "Device.BulkData.Profile.1.ReportingInterval",
                "0",
                XsdType::UnsignedInt,
            )],
            parameter_key: "bad".into(),
        },
        Rpc::SetParameterValues {
            parameter_list: vec![
                ParameterValue::new("Device.BulkData.Enable", "1", XsdType::Boolean),
                ParameterValue::new("Device.BulkData.Profile.1.Enable", "1", XsdType::Boolean),
                string("Profile.1.Protocol", "HTTP"),
                string("Profile.1.EncodingType", "JSON"),
                ParameterValue::new(
                    "Device.BulkData.Profile.1.ReportingInterval",
                    "1",
                    XsdType::UnsignedInt,
                ),
                string("Profile.1.JSONEncoding.ReportFormat", "NameValuePair"),
                string("Profile.1.JSONEncoding.ReportTimestamp", "None"),
                string("Profile.1.HTTP.URL", &url),
                string(
                    "Profile.1.Parameter.1.Reference",
                    "Device.BulkData.Protocols",
                ),
            ],
            parameter_key: "good".into(),
        },
        Rpc::GetParameterValues {
            parameter_names: vec![
                "Device.BulkData.ProfileNumberOfEntries".into(),
                "Device.BulkData.Profile.1.ParameterNumberOfEntries".into(),
                "Device.BulkData.Profile.1.HTTP.CompressionsSupported".into(),
                "Device.BulkData.Status".into(),
            ],
        },
    ];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![SessionScript {
            requests,
            ..SessionScript::default()
        }],
        ..AcsOptions::default()
    });
    let dir = temp_dir("bulkdata-acs");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "session");
    let responses = acs.sessions()[0].responses.clone();
    assert!(
        matches!(
            responses[0],
            Rpc::AddObjectResponse {
                instance_number: 1,
                ..
            }
        ),
        "{responses:?}"
    );
    assert!(matches!(
        responses[1],
        Rpc::AddObjectResponse {
            instance_number: 1,
            ..
        }
    ));
    for bad in &responses[2..4] {
        let text = format!("{bad:?}");
        assert!(
            matches!(bad, Rpc::Fault(_)) && text.contains("InvalidParameterValue"),
            "{text}"
        );
    }
    assert!(matches!(
        responses[4],
        Rpc::SetParameterValuesResponse { .. }
    ));
    let Rpc::GetParameterValuesResponse { parameter_list } = &responses[5] else {
        panic!("{responses:?}");
    };
    let values: Vec<&str> = parameter_list.iter().map(|p| p.value.as_str()).collect();
    let compressions = if cfg!(feature = "compression") {
        "GZIP,Deflate"
    } else {
        ""
    };
    assert_eq!(values, ["1", "1", compressions, "Enabled"]);
    let reports = collector.wait_reports("/acs-made", 1, WAIT);
    assert_eq!(
        reports.first().map(Report::text).as_deref(),
        Some("{\"Report\":[{\"Device.BulkData.Protocols\":\"HTTP\"}]}")
    );
    assert!(daemon.stop().success());

    // The profile survives a restart.
    let seen = collector.reports().len();
    let daemon = TestDaemon::start(&dir, &[]);
    assert_eq!(
        collector.wait_reports("/acs-made", seen + 1, WAIT).len(),
        seen + 1
    );
    assert!(daemon.stop().success());
}

#[test]
#[cfg(feature = "compression")]
fn a_report_of_the_whole_model_goes_out_compressed_in_slices() {
    let collector = Collector::start(0, None, &[]);
    let dir = temp_dir("bulkdata-whole");
    let mut lines = profile(
        1,
        &[
            ("EncodingType", "CSV"),
            ("CSVEncoding.ReportFormat", "ParameterPerRow"),
            ("CSVEncoding.RowTimestamp", "ISO-8601"),
            ("Parameter.1.Reference", "Device."),
            ("HTTP.Compression", "GZIP"),
        ],
    );
    lines.push(format!("Profile.1.HTTP.URL {}", collector.url("/whole")));
    write_settings(&dir, &lines);
    let daemon = start_daemon(&dir);
    let reports = collector.wait_reports("/whole", 1, WAIT);
    assert!(daemon.stop().success());
    let report = reports.first().expect("report");
    let text = report.text();
    assert!(
        text.starts_with("ReportTimestamp,ParameterName,ParameterValue,ParameterType\n"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(rows.len() > 500, "{} rows", rows.len());
    let stamped = rows
        .iter()
        .filter(|r| r.len() > 22 && r.as_bytes()[20] == b',')
        .count();
    assert!(stamped > 500, "{stamped} rows start with an ISO-8601 stamp");
    assert!(text.contains(",Device.BulkData.Protocols,HTTP,string\n"));
    assert!(text.contains(",Device.DeviceInfo.UpTime,"));
    assert!(report.raw.len() * 4 < report.body.len(), "compressed");
}
