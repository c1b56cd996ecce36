//! The diagnostics engines against real peers: ping and trace on loopback and over a three-hop path of network namespaces, NSLookup against a test DNS responder, UDPEcho and ServerSelection against a test echo socket, Download and Upload against the loopback HTTP server and vsftpd.

#![cfg(feature = "diagnostics")]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use icwmp::diagnostics::nslookup::{LookupSettings, NsLookup};
use icwmp::diagnostics::ping::{Ping, PingSettings};
use icwmp::diagnostics::serverselect::{SelectionSettings, ServerSelection};
use icwmp::diagnostics::state::{Outcome, Test};
use icwmp::diagnostics::throughput::{Direction, Throughput, ThroughputSettings};
use icwmp::diagnostics::trace::{Trace, TraceSettings};
use icwmp::diagnostics::udpecho::{EchoSettings, UdpEcho};
use icwmp::diagnostics::{Engine, WallClock};
use mio::{Events, Poll, Token};
use support::dns::{DnsResponder, Entry};
use support::files::{FileServer, FileServerOptions, Vsftpd};
use support::netns::{self, Lonely, Path3};

/// Runs `engine` in a loop of its own until it has an outcome.
fn run(poll: &mut Poll, engine: &mut dyn Engine) -> BTreeMap<String, String> {
    let outcome = run_outcome(poll, engine);
    let mut results: BTreeMap<String, String> = outcome.results.into_iter().collect();
    results.insert("DiagnosticsState".into(), outcome.state.into());
    results
}

fn run_outcome(poll: &mut Poll, engine: &mut dyn Engine) -> Outcome {
    let mut events = Events::with_capacity(16);
    // A bound on a broken engine, not a timing assertion.
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(outcome) = engine.outcome() {
            engine.close(poll.registry());
            return outcome;
        }
        assert!(Instant::now() < give_up, "engine never finished");
        let timeout = engine
            .poll_at()
            .map(|t| t.saturating_duration_since(Instant::now()));
        poll.poll(&mut events, timeout).expect("poll");
        engine.drive(poll.registry(), Instant::now());
    }
}

fn test_of(inputs: &[(&str, &str)]) -> Test {
    let mut test = Test::default();
    for (name, value) in inputs {
        test.inputs.insert(name.to_string(), value.to_string());
    }
    test
}

fn ping(inputs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = PingSettings::from_test(&test_of(inputs), None);
    let mut engine = Ping::start(settings, Token(0), Instant::now());
    run(&mut poll, &mut engine)
}

fn trace(inputs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = TraceSettings::from_test(&test_of(inputs), None);
    let mut engine = Trace::start(settings, Token(0), Instant::now());
    run(&mut poll, &mut engine)
}

fn number(results: &BTreeMap<String, String>, name: &str) -> u64 {
    results[name].parse().expect(name)
}

fn is_root() -> bool {
    if icwmp::sys::raw_icmp_socket(false).is_err() {
        eprintln!("skipped: raw ICMP sockets need root");
        return false;
    }
    true
}

#[test]
fn ping_loopback_v4_and_v6() {
    if !is_root() {
        return;
    }
    let results = ping(&[
        ("Host", "127.0.0.1"),
        ("NumberOfRepetitions", "4"),
        ("DataBlockSize", "1000"),
        ("DSCP", "46"),
    ]);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["SuccessCount"], "4");
    assert_eq!(results["FailureCount"], "0");
    assert_eq!(results["IPAddressUsed"], "127.0.0.1");
    let (min, avg, max) = (
        number(&results, "MinimumResponseTimeDetailed"),
        number(&results, "AverageResponseTimeDetailed"),
        number(&results, "MaximumResponseTimeDetailed"),
    );
    assert!(min <= avg && avg <= max, "{min} {avg} {max}");

    let results = ping(&[
        ("Host", "::1"),
        ("NumberOfRepetitions", "2"),
        ("ProtocolVersion", "IPv6"),
    ]);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["SuccessCount"], "2");
    assert_eq!(results["IPAddressUsed"], "::1");
}

#[test]
fn ping_and_trace_report_unresolvable_names() {
    if !is_root() {
        return;
    }
    let results = ping(&[("Host", "no-such-host.invalid")]);
    assert_eq!(results["DiagnosticsState"], "Error_CannotResolveHostName");
    let results = trace(&[("Host", "127.0.0.1"), ("ProtocolVersion", "IPv6")]);
    assert_eq!(results["DiagnosticsState"], "Error_CannotResolveHostName");
}

#[test]
fn trace_loopback_is_one_hop() {
    if !is_root() {
        return;
    }
    let results = trace(&[("Host", "127.0.0.1"), ("NumberOfTries", "2")]);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["RouteHopsNumberOfEntries"], "1");
    assert_eq!(results["RouteHops.1.HostAddress"], "127.0.0.1");
    assert_eq!(results["RouteHops.1.RTTimes"].split(',').count(), 2);
}

/// Runs `body` on a thread inside namespace `short` of `path`.
fn inside<T: Send + 'static>(
    path: &Path3,
    short: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let name = short.to_owned();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                path.enter(&name);
                body()
            })
            .join()
            .expect("namespace thread")
    })
}

#[test]
fn three_hop_path_in_namespaces() {
    if !is_root() {
        return;
    }
    let Some(path) = Path3::create() else {
        return;
    };
    // A network no router knows: r1 answers unreachable. (First: the kernel's
    // per-peer limit on these errors shares its tokens with the time-exceeded of a trace.)
    let results = inside(&path, netns::CLIENT, || {
        ping(&[("Host", "10.201.9.9"), ("NumberOfRepetitions", "2")])
    });
    assert_eq!(
        results["DiagnosticsState"], "Error_NoRouteToHost",
        "{results:?}"
    );
    // TraceRoute names each hop of the path, the host last.
    let results = inside(&path, netns::CLIENT, || {
        trace(&[("Host", netns::HOST_ADDRESS), ("Timeout", "2000")])
    });
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    assert_eq!(results["RouteHopsNumberOfEntries"], "3");
    assert_eq!(results["RouteHops.1.HostAddress"], netns::ROUTER1);
    assert_eq!(results["RouteHops.2.HostAddress"], netns::ROUTER2);
    assert_eq!(results["RouteHops.3.HostAddress"], netns::HOST_ADDRESS);
    assert_eq!(results["RouteHops.1.ErrorCode"], "0");
    assert_eq!(results["RouteHops.2.RTTimes"].split(',').count(), 3);
    assert_eq!(results["IPAddressUsed"], "10.201.1.2");

    // The same path over IPv6: ICMPv6 time-exceeded from each router.
    let results = inside(&path, netns::CLIENT, || {
        trace(&[
            ("Host", netns::HOST_V6),
            ("ProtocolVersion", "IPv6"),
            ("Timeout", "2000"),
        ])
    });
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    assert_eq!(results["RouteHopsNumberOfEntries"], "3");
    assert_eq!(results["RouteHops.1.HostAddress"], netns::ROUTER1_V6);
    assert_eq!(results["RouteHops.2.HostAddress"], netns::ROUTER2_V6);
    assert_eq!(results["RouteHops.3.HostAddress"], netns::HOST_V6);
    let results = inside(&path, netns::CLIENT, || {
        ping(&[("Host", netns::HOST_V6), ("NumberOfRepetitions", "2")])
    });
    assert_eq!(results["SuccessCount"], "2", "{results:?}");

    // The hop limit runs out before the host: Error_MaxHopCountExceeded, with the hops seen.
    let results = inside(&path, netns::CLIENT, || {
        trace(&[
            ("Host", netns::HOST_ADDRESS),
            ("MaxHopCount", "2"),
            ("NumberOfTries", "1"),
        ])
    });
    assert_eq!(results["DiagnosticsState"], "Error_MaxHopCountExceeded");
    assert_eq!(results["RouteHopsNumberOfEntries"], "2");

    // IPPing reaches the host through both routers.
    let results = inside(&path, netns::CLIENT, || {
        ping(&[("Host", netns::HOST_ADDRESS), ("NumberOfRepetitions", "3")])
    });
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["SuccessCount"], "3");
}

fn nslookup(inputs: &[(&str, &str)], system: Option<&str>) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = LookupSettings::from_test(&test_of(inputs), None);
    let system = system.map(|s| s.parse().expect("ip"));
    let mut engine = NsLookup::start(settings, system, Token(0), Instant::now());
    run(&mut poll, &mut engine)
}

#[test]
fn nslookup_against_a_test_responder_on_port_53() {
    let Some(ns) = Lonely::create() else {
        return;
    };
    let results = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                ns.enter();
                let table = BTreeMap::from([
                    (
                        "www.example.test".to_owned(),
                        Entry::Alias(
                            "web.example.test".into(),
                            vec![
                                "10.9.8.7".parse().expect("ip"),
                                "fd00::7".parse().expect("ip"),
                            ],
                        ),
                    ),
                    (
                        "v4.example.test".to_owned(),
                        Entry::Addresses(vec!["10.1.1.1".parse().expect("ip")]),
                    ),
                    ("slow.example.test".to_owned(), Entry::Silent),
                ]);
                let responder = DnsResponder::start("127.0.0.1:53".parse().expect("addr"), table);
                let found = nslookup(
                    &[
                        ("HostName", "www.example.test"),
                        ("DNSServer", "127.0.0.1"),
                        ("NumberOfRepetitions", "2"),
                    ],
                    None,
                );
                // An empty DNSServer means the system's resolver.
                let system = nslookup(&[("HostName", "v4.example.test")], Some("127.0.0.1"));
                let missing = nslookup(
                    &[
                        ("HostName", "nothing.example.test"),
                        ("DNSServer", "127.0.0.1"),
                    ],
                    None,
                );
                let silent = nslookup(
                    &[
                        ("HostName", "slow.example.test"),
                        ("DNSServer", "127.0.0.1"),
                        ("Timeout", "200"),
                    ],
                    None,
                );
                let queries = responder.queries();
                drop(responder);
                // Nobody on port 53 any more: the server is not available.
                let closed = nslookup(
                    &[("HostName", "v4.example.test"), ("DNSServer", "127.0.0.1")],
                    None,
                );
                let unresolved = nslookup(
                    &[
                        ("HostName", "v4.example.test"),
                        ("DNSServer", "no-such-server.invalid"),
                    ],
                    None,
                );
                (found, system, missing, silent, closed, unresolved, queries)
            })
            .join()
            .expect("namespace thread")
    });
    let (found, system, missing, silent, closed, unresolved, queries) = results;
    assert_eq!(found["DiagnosticsState"], "Complete");
    assert_eq!(found["SuccessCount"], "2");
    assert_eq!(found["ResultNumberOfEntries"], "2");
    assert_eq!(found["Result.1.Status"], "Success");
    assert_eq!(found["Result.1.AnswerType"], "Authoritative");
    assert_eq!(found["Result.1.HostNameReturned"], "web.example.test");
    assert_eq!(found["Result.1.IPAddresses"], "10.9.8.7,fd00::7");
    assert_eq!(found["Result.2.DNSServerIP"], "127.0.0.1");
    assert_eq!(system["Result.1.IPAddresses"], "10.1.1.1");
    assert_eq!(missing["DiagnosticsState"], "Complete");
    assert_eq!(missing["SuccessCount"], "0");
    assert_eq!(missing["Result.1.Status"], "Error_HostNameNotResolved");
    assert_eq!(silent["Result.1.Status"], "Error_Timeout");
    assert_eq!(closed["Result.1.Status"], "Error_DNSServerNotAvailable");
    assert_eq!(unresolved["DiagnosticsState"], "Error_DNSServerNotResolved");
    // Two repetitions of A + AAAA, then A + AAAA for each of the three other names.
    assert_eq!(queries, 10);
}

/// A tiny RFC 862 echo server on 127.0.0.1 for the tests.
struct Echo {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Echo {
    /// Echoes every datagram except those numbered in `drop` (1-based order of arrival).
    fn start(drop: &'static [usize]) -> Echo {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind echo");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            let mut seen = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((len, from)) = socket.recv_from(&mut buffer) {
                    seen += 1;
                    if !drop.contains(&seen) {
                        let _ = socket.send_to(&buffer[..len], from);
                    }
                }
            }
            seen
        });
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .expect("thread")
            .join()
            .expect("echo thread")
    }
}

fn udp_echo(inputs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = EchoSettings::from_test(&test_of(inputs), None);
    let now = Instant::now();
    let clock = WallClock::new(now, icwmp::clock::unix_micros());
    let mut engine = UdpEcho::start(settings, Token(0), now, clock);
    run(&mut poll, &mut engine)
}

fn server_selection(inputs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = SelectionSettings::from_test(&test_of(inputs), None);
    let now = Instant::now();
    let clock = WallClock::new(now, icwmp::clock::unix_micros());
    let mut engine = ServerSelection::start(settings, Token(0), now, clock);
    run(&mut poll, &mut engine)
}

#[test]
fn udp_echo_counts_echoes_and_losses() {
    let echo = Echo::start(&[2]);
    let port = echo.addr.port().to_string();
    let results = udp_echo(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "4"),
        ("InterTransmissionTime", "10"),
        ("Timeout", "300"),
        ("DataBlockSize", "100"),
        ("EnableIndividualPacketResults", "1"),
    ]);
    assert_eq!(echo.finish(), 4);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["SuccessCount"], "3");
    assert_eq!(results["FailureCount"], "1");
    assert_eq!(results["IPAddressUsed"], "127.0.0.1");
    assert_eq!(results["IndividualPacketResultNumberOfEntries"], "4");
    assert_eq!(results["IndividualPacketResult.2.PacketSuccess"], "0");
    assert_eq!(results["IndividualPacketResult.3.PacketSuccess"], "1");
    assert_eq!(results["IndividualPacketResult.3.TestGenSN"], "3");
    // Times are ordered: each packet is received after it was sent, and sent after the one before.
    let t = |n: usize, name: &str| results[&format!("IndividualPacketResult.{n}.{name}")].clone();
    assert!(t(1, "PacketSendTime") <= t(1, "PacketReceiveTime"));
    assert!(t(1, "PacketSendTime") < t(3, "PacketSendTime"));
    let (min, avg, max) = (
        number(&results, "MinimumResponseTime"),
        number(&results, "AverageResponseTime"),
        number(&results, "MaximumResponseTime"),
    );
    assert!(min <= avg && avg <= max);

    // Nobody listening: every datagram is lost, the test still completes.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    drop(silent);
    let results = udp_echo(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "2"),
        ("InterTransmissionTime", "5"),
        ("Timeout", "200"),
    ]);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert_eq!(results["SuccessCount"], "0");
    assert_eq!(results["FailureCount"], "2");
    let results = udp_echo(&[("Host", "no-such-host.invalid")]);
    assert_eq!(results["DiagnosticsState"], "Error_CannotResolveHostName");
}

#[test]
fn server_selection_picks_the_host_that_answers() {
    let echo = Echo::start(&[]);
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let hosts = format!(
        "no-such-host.invalid,127.0.0.1:{},127.0.0.1:{}",
        silent.local_addr().expect("addr").port(),
        echo.addr.port()
    );
    let results = server_selection(&[
        ("HostList", &hosts),
        ("Protocol", "UDP Echo"),
        ("NumberOfRepetitions", "2"),
        ("Timeout", "200"),
    ]);
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    assert_eq!(
        results["FastestHost"],
        format!("127.0.0.1:{}", echo.addr.port())
    );
    assert!(number(&results, "MinimumResponseTime") <= number(&results, "MaximumResponseTime"));
    assert_eq!(echo.finish(), 2);

    let results = server_selection(&[("HostList", "no-such-host.invalid")]);
    assert_eq!(results["DiagnosticsState"], "Error_CannotResolveHostName");
    if !is_root() {
        return;
    }
    let results = server_selection(&[
        ("HostList", "::1, 127.0.0.1"),
        ("Protocol", "ICMP"),
        ("NumberOfRepetitions", "2"),
    ]);
    assert_eq!(results["DiagnosticsState"], "Complete");
    assert!(
        ["::1", "127.0.0.1"].contains(&results["FastestHost"].as_str()),
        "{results:?}"
    );
}

fn transfer(direction: Direction, inputs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut poll = Poll::new().expect("poll");
    let settings = ThroughputSettings::from_test(direction, &test_of(inputs), None);
    let now = Instant::now();
    let clock = WallClock::new(now, icwmp::clock::unix_micros());
    let mut engine = Throughput::start(settings, Token(0), now, clock);
    run(&mut poll, &mut engine)
}

/// The TR-143 times are ordered: TCP open request ≤ response ≤ ROM ≤ BOM ≤ EOM (same format, so text order is time order).
fn assert_times_ordered(results: &BTreeMap<String, String>, prefix: &str) {
    let names = [
        "TCPOpenRequestTime",
        "TCPOpenResponseTime",
        "ROMTime",
        "BOMTime",
        "EOMTime",
    ];
    let times: Vec<&String> = names
        .iter()
        .map(|n| &results[&format!("{prefix}{n}")])
        .collect();
    for pair in times.windows(2) {
        assert!(pair[0] <= pair[1], "{prefix}: {times:?}");
    }
    assert!(
        times[0].starts_with("20") && times[0].ends_with('Z') && times[0].len() == 27,
        "{times:?}"
    );
}

#[test]
fn http_download_and_upload_over_several_connections() {
    let server = FileServer::start(FileServerOptions::default());
    let size = 1 << 20;
    server.add("/test.bin", vec![7u8; size]);
    let results = transfer(
        Direction::Download,
        &[
            ("DownloadURL", &server.url("/test.bin")),
            ("NumberOfConnections", "3"),
            ("EnablePerConnectionResults", "1"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
    let per_connection = (size + head.len()) as u64;
    assert_eq!(number(&results, "TestBytesReceived"), 3 * per_connection);
    assert_eq!(results["PerConnectionResultNumberOfEntries"], "3");
    for n in 1..=3 {
        assert_eq!(
            number(
                &results,
                &format!("PerConnectionResult.{n}.TestBytesReceived")
            ),
            per_connection
        );
        assert_times_ordered(&results, &format!("PerConnectionResult.{n}."));
    }
    assert_times_ordered(&results, "");
    assert_eq!(results["IPAddressUsed"], "127.0.0.1");
    // No Interface given: the interface counters cannot be read (TR-181 says 0).
    assert_eq!(results["TotalBytesReceived"], "0");
    assert_eq!(server.gets().len(), 3);

    let results = transfer(
        Direction::Upload,
        &[
            ("UploadURL", &server.url("/up.bin")),
            ("TestFileLength", "300000"),
            ("NumberOfConnections", "2"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    let puts = server.puts();
    assert_eq!(puts.len(), 2);
    assert!(puts
        .iter()
        .all(|(path, body)| path == "/up.bin" && body.len() == 300_000));
    let sent = number(&results, "TestBytesSent");
    assert!((600_000..601_000).contains(&sent), "{sent}");
    assert_times_ordered(&results, "");
}

#[test]
fn time_based_download_and_upload_stop_on_time_with_incremental_results() {
    // 64 KiB every 20 ms: far more than two seconds' worth of file.
    let server = FileServer::start(FileServerOptions {
        throttle: Some((64 * 1024, Duration::from_millis(20), 10)),
        ..FileServerOptions::default()
    });
    server.add("/big.bin", vec![1u8; 64 << 20]);
    let results = transfer(
        Direction::Download,
        &[
            ("DownloadURL", &server.url("/big.bin")),
            ("TimeBasedTestDuration", "2"),
            ("TimeBasedTestMeasurementInterval", "1"),
            ("NumberOfConnections", "2"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    assert_eq!(results["IncrementalResultNumberOfEntries"], "2");
    let total = number(&results, "TestBytesReceived");
    let increments = number(&results, "IncrementalResult.1.TestBytesReceived")
        + number(&results, "IncrementalResult.2.TestBytesReceived");
    assert!(
        increments <= total && total < 64 << 20,
        "{increments} {total}"
    );
    assert!(results["IncrementalResult.1.EndTime"] <= results["IncrementalResult.2.StartTime"]);
    assert!(number(&results, "PeriodOfFullLoading") > 0);
    assert!(number(&results, "TestBytesReceivedUnderFullLoading") <= total);
    assert_times_ordered(&results, "");

    let results = transfer(
        Direction::Upload,
        &[
            ("UploadURL", &server.url("/timed.bin")),
            ("TimeBasedTestDuration", "1"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    let puts = server.puts();
    assert_eq!(puts.len(), 1, "a chunked PUT ended by its last chunk");
    assert!(number(&results, "TestBytesSent") >= puts[0].1.len() as u64);
}

#[test]
fn transfer_errors() {
    let server = FileServer::start(FileServerOptions::default());
    let results = transfer(
        Direction::Download,
        &[("DownloadURL", &server.url("/missing"))],
    );
    assert_eq!(results["DiagnosticsState"], "Error_TransferFailed");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/x", closed.local_addr().expect("addr"));
    drop(closed);
    let results = transfer(Direction::Download, &[("DownloadURL", &url)]);
    assert_eq!(results["DiagnosticsState"], "Error_InitConnectionFailed");
    let results = transfer(
        Direction::Upload,
        &[("UploadURL", &url), ("TestFileLength", "10")],
    );
    assert_eq!(results["DiagnosticsState"], "Error_InitConnectionFailed");
    let results = transfer(
        Direction::Download,
        &[("DownloadURL", "http://no-such-host.invalid/x")],
    );
    assert_eq!(results["DiagnosticsState"], "Error_CannotResolveHostName");
}

#[test]
fn ftp_download_and_upload_against_vsftpd() {
    let dir = support::daemon::temp_dir("diag-ftp");
    let Some(ftpd) = Vsftpd::start(&dir) else {
        return;
    };
    std::fs::write(ftpd.root.join("file.bin"), vec![3u8; 500_000]).expect("ftp file");
    let results = transfer(
        Direction::Download,
        &[
            ("DownloadURL", &ftpd.url("/file.bin")),
            ("NumberOfConnections", "2"),
            ("EnablePerConnectionResults", "1"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    // FTP counts the data connection's bytes: the file, on each connection.
    assert_eq!(number(&results, "TestBytesReceived"), 1_000_000);
    assert_times_ordered(&results, "PerConnectionResult.1.");
    assert_times_ordered(&results, "");

    let results = transfer(
        Direction::Upload,
        &[
            ("UploadURL", &ftpd.url("/upload/up.bin")),
            ("TestFileLength", "250000"),
        ],
    );
    assert_eq!(results["DiagnosticsState"], "Complete", "{results:?}");
    let stored = std::fs::metadata(ftpd.root.join("upload/up.bin")).expect("uploaded file");
    assert_eq!(stored.len(), 250_000);
    assert_eq!(number(&results, "TestBytesSent"), 250_000);
    assert_times_ordered(&results, "");

    let results = transfer(
        Direction::Download,
        &[("DownloadURL", &ftpd.url("/missing.bin"))],
    );
    assert_eq!(results["DiagnosticsState"], "Error_TransferFailed");
}
