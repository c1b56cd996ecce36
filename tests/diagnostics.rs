//! The diagnostics engines against real peers: ping and trace on loopback and over a three-hop path of network namespaces, NSLookup against a test DNS responder, UDPEcho and ServerSelection against a test echo socket.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use icwmp::diagnostics::nslookup::{LookupSettings, NsLookup};
use icwmp::diagnostics::ping::{Ping, PingSettings};
use icwmp::diagnostics::serverselect::{SelectionSettings, ServerSelection};
use icwmp::diagnostics::state::{Outcome, Test};
use icwmp::diagnostics::trace::{Trace, TraceSettings};
use icwmp::diagnostics::udpecho::{EchoSettings, UdpEcho};
use icwmp::diagnostics::{Engine, WallClock};
use mio::{Events, Poll, Token};
use support::dns::{DnsResponder, Entry};
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
    let settings = LookupSettings::from_test(&test_of(inputs));
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
