//! HTTP compression: the codec against gzip(1) and Python's zlib, the HTTP client's
//! Content-Encoding / Accept-Encoding and size limits, and a whole CWMP session compressed both ways.

#![cfg(feature = "compression")]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use icwmp::cwmp::params::ParameterValue;
use icwmp::transport::http_client::{
    BodySink, HttpClient, HttpConfig, HttpError, HttpOutcome, Request, ResponseBody,
};
use icwmp::wire::content_coding::{self, ContentCoding, Encoder};
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, write_config, TestDaemon};
use support::http_server::{Loop, Reply, TestServer};

fn sample() -> Vec<u8> {
    (0..5_000u32)
        .flat_map(|i| {
            format!("<Name>Device.X.{i}.Value</Name><Value>{}</Value>\n", i * 3).into_bytes()
        })
        .collect()
}

/// Runs `program args` with `input` on stdin; `None` when the program is missing.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    assert!(output.status.success(), "{program} failed");
    Some(output.stdout)
}

#[test]
fn codec_interoperates_with_gzip_and_zlib() {
    let data = sample();
    let ours = content_coding::compress(ContentCoding::Gzip, &data);
    match pipe("gzip", &["-dc"], &ours) {
        Some(plain) => assert_eq!(plain, data, "gzip(1) reads our gzip"),
        None => eprintln!("skipped: gzip(1) not installed"),
    }
    if let Some(theirs) = pipe("gzip", &["-c", "-9", "-n"], &data) {
        let plain = content_coding::decompress(ContentCoding::Gzip, &theirs, 1 << 20).unwrap();
        assert_eq!(plain, data, "we read gzip(1)'s output");
    }
    let zlib = content_coding::compress(ContentCoding::Deflate, &data);
    let script =
        "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))";
    match pipe("python3", &["-c", script], &zlib) {
        Some(plain) => assert_eq!(plain, data, "zlib reads our deflate"),
        None => eprintln!("skipped: python3 not installed"),
    }
}

fn compressing_client() -> Loop {
    Loop::new(
        HttpClient::new(HttpConfig {
            compression: Some(ContentCoding::Gzip),
            max_response_body: 1 << 20,
            ..HttpConfig::default()
        })
        .unwrap(),
    )
}

#[test]
fn requests_are_compressed_and_responses_decoded() {
    let data = sample();
    let answer = data.clone();
    let server = TestServer::start(move |request| {
        // The server sees a gzip body that decodes to what the client sent.
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(request.header("accept-encoding"), Some("gzip, deflate"));
        let plain = content_coding::decompress(ContentCoding::Gzip, &request.body, 1 << 20)
            .expect("request body decodes");
        assert_eq!(plain.len(), answer.len());
        Reply::ok(&content_coding::compress(ContentCoding::Deflate, &answer))
            .with_header("Content-Encoding", "deflate")
    });
    let mut lp = compressing_client();
    let outcome = lp.run(Request::post(&server.url("/acs"), "text/xml", data.clone()));
    let HttpOutcome::Response(response) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(response.body, ResponseBody::Memory(data.clone()));
    let sent = &server.recorded()[0];
    assert!(sent.body.len() < data.len() / 4, "sent compressed");
    assert_eq!(
        sent.header("content-length"),
        Some(sent.body.len().to_string().as_str())
    );
}

#[test]
fn plain_client_sends_identity_and_still_decodes() {
    let server = TestServer::start(|request| {
        assert_eq!(request.header("content-encoding"), None);
        assert_eq!(request.header("accept-encoding"), None);
        Reply::ok(&content_coding::compress(
            ContentCoding::Gzip,
            b"file contents",
        ))
        .with_header("Content-Encoding", "gzip")
    });
    let mut lp = Loop::new(HttpClient::new(HttpConfig::default()).unwrap());
    let dir = temp_dir("compressed-download");
    let path = dir.join("file");
    let mut request = Request::get(&server.url("/file"));
    request.sink = BodySink::File(path.clone());
    let HttpOutcome::Response(response) = lp.run(request) else {
        panic!("no response");
    };
    assert!(matches!(response.body, ResponseBody::File { len: 13, .. }));
    assert_eq!(std::fs::read(&path).unwrap(), b"file contents");
}

#[test]
fn zip_bomb_corrupt_and_unknown_codings_are_refused() {
    // 64 MiB of zeros in about 64 KiB of gzip, against a 1 MiB cap.
    let mut bomb = Vec::new();
    let mut encoder = Encoder::new(ContentCoding::Gzip);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        encoder.write(&zeros, &mut bomb);
    }
    encoder.finish(&mut bomb);
    let mut corrupt = content_coding::compress(ContentCoding::Gzip, &sample());
    let at = corrupt.len() - 6;
    corrupt[at] ^= 0x55;
    let truncated = content_coding::compress(ContentCoding::Gzip, &sample())[..500].to_vec();
    type Expected = fn(&HttpError) -> bool;
    let cases: Vec<(Vec<u8>, &str, Expected)> = vec![
        (bomb, "gzip", |e| *e == HttpError::ResponseTooLarge),
        (corrupt, "gzip", |e| matches!(e, HttpError::Coding(_))),
        (truncated, "gzip", |e| matches!(e, HttpError::Coding(_))),
        (b"data".to_vec(), "br", |e| {
            matches!(e, HttpError::Coding(_))
        }),
    ];
    for (body, coding, expected) in cases {
        let server =
            TestServer::start(move |_| Reply::ok(&body).with_header("Content-Encoding", coding));
        let mut lp = compressing_client();
        match lp.run(Request::get(&server.url("/acs"))) {
            HttpOutcome::Error(err) => assert!(expected(&err), "{coding}: {err:?}"),
            HttpOutcome::Response(r) => panic!("{coding}: accepted a {} response", r.status),
        }
    }
}

#[test]
fn cwmp_session_compressed_both_ways() {
    for (option, token) in [("GZIP", "gzip"), ("Deflate", "deflate")] {
        let acs = TestAcs::start(AcsOptions {
            sessions: vec![SessionScript {
                requests: vec![Rpc::GetParameterValues {
                    parameter_names: vec!["Device.DeviceInfo.".into()],
                }],
                ..SessionScript::default()
            }],
            ..AcsOptions::default()
        });
        let dir = temp_dir(&format!("compression-{token}"));
        write_config(
            &dir,
            &acs.url(),
            &format!("\toption compression '{option}'\n"),
            "",
        );
        let daemon = TestDaemon::start(&dir, &[]);
        assert!(acs.wait_sessions(1, Duration::from_secs(20)), "session");
        let session = &acs.sessions()[0];
        // The Inform and the GetParameterValuesResponse came compressed and parsed.
        for post in session.posts.iter().filter(|p| !p.body.is_empty()) {
            let header = |name: &str| {
                post.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(header("content-encoding"), Some(token), "{option}");
            assert_eq!(header("accept-encoding"), Some("gzip, deflate"));
            assert!(post.envelope.is_some(), "decoded and parsed");
        }
        // The ACS answered compressed (its GetParameterValues reached the CPE).
        assert!(session.inform().is_some());
        let Some(Rpc::GetParameterValuesResponse { parameter_list }) = session.responses.first()
        else {
            panic!(
                "{option}: no GetParameterValuesResponse: {:?}",
                session.responses
            );
        };
        assert!(parameter_list
            .iter()
            .any(|p: &ParameterValue| p.name == "Device.DeviceInfo.SoftwareVersion"));
        assert!(daemon.stop().success());
    }
}
