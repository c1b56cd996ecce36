//! Benchmark: keep-alive POST round trips through the mio-driven HTTP client, and the worst
//! stall of a UDP echo socket served by the same loop while sessions run.

#[path = "../tests/support/http_server.rs"]
mod http_server;
#[path = "../tests/support/pki.rs"]
mod pki;

use std::time::{Duration, Instant};

use http_server::{Loop, Reply, TestServer, UdpPinger};
use icwmp::transport::http_client::{HttpClient, HttpConfig, HttpOutcome, Request};
use pki::TestPki;

const ROUND_TRIPS: usize = 3000;

fn round_trips_per_second(lp: &mut Loop, url: &str) -> f64 {
    let body = vec![b'x'; 1024];
    let started = Instant::now();
    for _ in 0..ROUND_TRIPS {
        match lp.run(Request::post(url, "text/xml", body.clone())) {
            HttpOutcome::Response(response) => assert_eq!(response.status, 200),
            HttpOutcome::Error(err) => panic!("{err}"),
        }
    }
    ROUND_TRIPS as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let payload = vec![0x5au8; 8 * 1024 * 1024];
    let served = payload.clone();
    let server = TestServer::start(move |request| match request.path.as_str() {
        "/big" => Reply::ok(&served),
        _ => Reply::ok(&request.body),
    });
    let config = HttpConfig {
        max_response_body: 16 * 1024 * 1024,
        ..HttpConfig::default()
    };

    let mut lp = Loop::new(HttpClient::new(config.clone()).unwrap());
    let rate = round_trips_per_second(&mut lp, &server.url("/acs"));
    println!("http keep-alive POST round trips (1 KiB echo): {rate:.0} /s");

    let pki = TestPki::generate("bench", "DNS:localhost");
    let tls_server = TestServer::start_tls(pki.server_config.clone(), |request| {
        Reply::ok(&request.body)
    });
    let mut tls_lp = Loop::new(
        HttpClient::new(HttpConfig {
            ssl_capath: Some(pki.ca_cert.clone()),
            ..config.clone()
        })
        .unwrap(),
    );
    let url = format!("https://localhost:{}/acs", tls_server.addr.port());
    let rate = round_trips_per_second(&mut tls_lp, &url);
    println!("https keep-alive POST round trips (1 KiB echo): {rate:.0} /s");

    let mut lp = Loop::new(HttpClient::new(config).unwrap());
    let udp = lp.add_udp_echo();
    let pinger = UdpPinger::start(udp);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let _ = lp.run(Request::post(
            &server.url("/acs"),
            "text/xml",
            vec![1; 4096],
        ));
    }
    let (worst, sent, answered) = pinger.finish();
    println!(
        "udp echo worst stall during POST sessions: {:.3} ms",
        worst.as_secs_f64() * 1e3
    );
    println!("udp echo pings answered during POST sessions: {answered}/{sent}");

    let pinger = UdpPinger::start(udp);
    let started = Instant::now();
    let mut downloaded = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        if let HttpOutcome::Response(response) = lp.run(Request::get(&server.url("/big"))) {
            if let icwmp::transport::http_client::ResponseBody::Memory(data) = response.body {
                downloaded += data.len();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (worst, sent, answered) = pinger.finish();
    println!(
        "http download into memory: {:.1} MB/s",
        downloaded as f64 / seconds / 1e6
    );
    println!(
        "udp echo worst stall during 8 MiB downloads: {:.3} ms",
        worst.as_secs_f64() * 1e3
    );
    println!("udp echo pings answered during downloads: {answered}/{sent}");
}
