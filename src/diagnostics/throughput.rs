//! Download and Upload diagnostics (TR-143): HTTP GET/PUT or FTP RETR/STOR over one or more non-blocking connections, with every TR-143 timestamp, byte counts and incremental results.
//!
//! The measurement itself is pure ([`Measurement`], [`Times`]): the shell
//! feeds it byte counts and instants, and it computes the result parameters.
//! The FTP control dialogue is the transfers' own (`wire::ftp::Dialogue`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::resolve::{self, Family, Lookup, Resolution};
use super::state::{Outcome, Test, COMPLETE, ERROR_INTERNAL};
use super::{format_micros, number, source_address, Engine, WallClock};
use crate::sys;
use crate::wire::ftp::{self, Dialogue, FtpError, FtpUrl, ReplyReader, Step};

/// Connections a test may open (DownloadDiagnosticMaxConnections).
pub const MAX_CONNECTIONS: u32 = 8;
/// Incremental results kept (…MaxIncrementalResult).
pub const MAX_INCREMENTAL: usize = 100;
/// A server silent this long fails the test with Error_Timeout.
const SILENCE: Duration = Duration::from_secs(30);
/// Bytes read or written per connection per call before yielding to the loop.
const IO_BUDGET: usize = 256 * 1024;
/// Read and write chunk.
const CHUNK: usize = 64 * 1024;
/// The longest HTTP response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Test file length at most (16 GiB).
const MAX_UPLOAD: u64 = 1 << 34;

/// Download or upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

/// Where the test file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Http {
        host: String,
        port: u16,
        path: String,
        authority: String,
    },
    Ftp(FtpUrl),
}

/// Parses `http://host[:port]/path` or an `ftp://` URL.
pub fn parse_target(url: &str) -> Option<Target> {
    let url = url.trim();
    if url
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("ftp://"))
    {
        return FtpUrl::parse(url).ok().map(Target::Ftp);
    }
    if !url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        return None;
    }
    let rest = url.get(7..)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.contains([' ', '\r', '\n']) {
        return None;
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), 80),
        }
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some(Target::Http {
        host,
        port,
        path: path.to_owned(),
        authority: authority.to_owned(),
    })
}

/// The Download/Upload inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThroughputSettings {
    pub direction: Direction,
    pub url: String,
    pub connections: u32,
    /// TimeBasedTestDuration (None: transfer the whole file).
    pub duration: Option<Duration>,
    pub interval: Option<Duration>,
    pub offset: Duration,
    pub upload_length: u64,
    pub dscp: u8,
    pub priority: u8,
    pub family: Family,
    pub per_connection: bool,
    pub device: Option<String>,
}

impl ThroughputSettings {
    pub fn from_test(
        direction: Direction,
        test: &Test,
        device: Option<String>,
    ) -> ThroughputSettings {
        let seconds = |name| number(test, name, 0);
        let url = match direction {
            Direction::Download => test.input("DownloadURL"),
            Direction::Upload => test.input("UploadURL"),
        };
        ThroughputSettings {
            direction,
            url: url.to_owned(),
            connections: number(test, "NumberOfConnections", 1).min(MAX_CONNECTIONS),
            duration: (seconds("TimeBasedTestDuration") > 0)
                .then(|| Duration::from_secs(seconds("TimeBasedTestDuration").min(999).into())),
            interval: (seconds("TimeBasedTestMeasurementInterval") > 0).then(|| {
                Duration::from_secs(seconds("TimeBasedTestMeasurementInterval").min(999).into())
            }),
            offset: Duration::from_secs(seconds("TimeBasedTestMeasurementOffset").min(255).into()),
            upload_length: test
                .input("TestFileLength")
                .parse::<u64>()
                .unwrap_or(0)
                .min(MAX_UPLOAD),
            dscp: number(test, "DSCP", 0).min(63) as u8,
            priority: number(test, "EthernetPriority", 0).min(7) as u8,
            family: Family::from_protocol_version(test.input("ProtocolVersion")),
            per_connection: test.input("EnablePerConnectionResults") == "1",
            device,
        }
    }
}

/// The TR-143 times and byte counts of one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Times {
    pub tcp_open_request: Option<Instant>,
    pub tcp_open_response: Option<Instant>,
    pub rom: Option<Instant>,
    pub bom: Option<Instant>,
    pub eom: Option<Instant>,
    /// Bytes received between BOM and EOM (headers included).
    pub test_bytes: u64,
    pub received: u64,
    pub sent: u64,
}

/// One incremental result: bytes of the test moved within `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Increment {
    pub start: Instant,
    pub end: Instant,
    pub test_bytes: u64,
    pub received: u64,
    pub sent: u64,
}

/// The whole test's measurement: every connection's times plus what was counted under full loading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    pub connections: Vec<Times>,
    pub full_test_bytes: u64,
    pub full_received: u64,
    pub full_sent: u64,
    pub increments: Vec<Increment>,
    /// Interface byte counters (received, sent) at the first BOM and at the last EOM.
    pub interface_at_bom: Option<(u64, u64)>,
    pub interface_at_eom: Option<(u64, u64)>,
}

impl Measurement {
    /// Whether every connection is between its BOM and its EOM.
    pub fn fully_loaded(&self) -> bool {
        !self.connections.is_empty()
            && self
                .connections
                .iter()
                .all(|c| c.bom.is_some() && c.eom.is_none())
    }

    /// The result parameters (TR-181 names) for `direction`.
    pub fn results(
        &self,
        direction: Direction,
        clock: &WallClock,
        per_connection: bool,
        used: Option<IpAddr>,
    ) -> Vec<(String, String)> {
        let time = |t: Option<Instant>| match t {
            Some(t) => format_micros(clock.micros_at(t)),
            None => "0001-01-01T00:00:00Z".to_owned(),
        };
        let earliest =
            |f: fn(&Times) -> Option<Instant>| self.connections.iter().filter_map(f).min();
        let latest = |f: fn(&Times) -> Option<Instant>| self.connections.iter().filter_map(f).max();
        let test_bytes: u64 = self.connections.iter().map(|c| c.test_bytes).sum();
        let sent: u64 = self.connections.iter().map(|c| c.sent).sum();
        let full_start = latest(|c| c.bom);
        let full_end = earliest(|c| c.eom);
        let full_period = match (full_start, full_end) {
            (Some(s), Some(e)) => e.saturating_duration_since(s).as_micros(),
            _ => 0,
        };
        let (interface_rx, interface_tx) = match (self.interface_at_bom, self.interface_at_eom) {
            (Some((rx0, tx0)), Some((rx1, tx1))) => {
                (rx1.saturating_sub(rx0), tx1.saturating_sub(tx0))
            }
            _ => (0, 0),
        };
        let (test_name, full_test_name) = match direction {
            Direction::Download => ("TestBytesReceived", "TestBytesReceivedUnderFullLoading"),
            Direction::Upload => ("TestBytesSent", "TestBytesSentUnderFullLoading"),
        };
        let test_value = match direction {
            Direction::Download => test_bytes,
            Direction::Upload => sent,
        };
        let full_test_value = match direction {
            Direction::Download => self.full_test_bytes,
            Direction::Upload => self.full_sent,
        };
        let mut out = vec![
            (
                "IPAddressUsed".to_owned(),
                used.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("ROMTime".into(), time(earliest(|c| c.rom))),
            ("BOMTime".into(), time(earliest(|c| c.bom))),
            ("EOMTime".into(), time(latest(|c| c.eom))),
            (
                "TCPOpenRequestTime".into(),
                time(earliest(|c| c.tcp_open_request)),
            ),
            (
                "TCPOpenResponseTime".into(),
                time(earliest(|c| c.tcp_open_response)),
            ),
            (test_name.into(), test_value.to_string()),
            ("TotalBytesReceived".into(), interface_rx.to_string()),
            ("TotalBytesSent".into(), interface_tx.to_string()),
            (full_test_name.into(), full_test_value.to_string()),
            (
                "TotalBytesReceivedUnderFullLoading".into(),
                self.full_received.to_string(),
            ),
            (
                "TotalBytesSentUnderFullLoading".into(),
                self.full_sent.to_string(),
            ),
            ("PeriodOfFullLoading".into(), full_period.to_string()),
        ];
        let rows = if per_connection {
            self.connections.len()
        } else {
            0
        };
        out.push((
            "PerConnectionResultNumberOfEntries".into(),
            rows.to_string(),
        ));
        for (i, c) in self.connections.iter().take(rows).enumerate() {
            let n = i + 1;
            let value = match direction {
                Direction::Download => c.test_bytes,
                Direction::Upload => c.sent,
            };
            for (name, v) in [
                ("ROMTime", time(c.rom)),
                ("BOMTime", time(c.bom)),
                ("EOMTime", time(c.eom)),
                (test_name, value.to_string()),
                ("TotalBytesReceived", c.received.to_string()),
                ("TotalBytesSent", c.sent.to_string()),
                ("TCPOpenRequestTime", time(c.tcp_open_request)),
                ("TCPOpenResponseTime", time(c.tcp_open_response)),
            ] {
                out.push((format!("PerConnectionResult.{n}.{name}"), v));
            }
        }
        out.push((
            "IncrementalResultNumberOfEntries".into(),
            self.increments.len().to_string(),
        ));
        for (i, inc) in self.increments.iter().enumerate() {
            let n = i + 1;
            let value = match direction {
                Direction::Download => inc.test_bytes,
                Direction::Upload => inc.sent,
            };
            for (name, v) in [
                (test_name, value.to_string()),
                ("TotalBytesReceived", inc.received.to_string()),
                ("TotalBytesSent", inc.sent.to_string()),
                ("StartTime", time(Some(inc.start))),
                ("EndTime", time(Some(inc.end))),
            ] {
                out.push((format!("IncrementalResult.{n}.{name}"), v));
            }
        }
        out
    }
}

/// The status code of an HTTP response head and where the head ends, once it is complete.
pub fn parse_http_head(head: &[u8]) -> Option<(u16, usize, Option<u64>)> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(head.get(..end)?).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    });
    Some((status, end, length))
}

/// The DiagnosticsState an FTP failure ends in.
fn ftp_failure(direction: Direction, error: &FtpError) -> &'static str {
    match (error, direction) {
        (FtpError::AuthFailed(_), _) => "Error_LoginFailed",
        (FtpError::BadReply(_), _) => "Error_NoPASV",
        (FtpError::NotFound(_) | FtpError::Refused(_), Direction::Upload) => "Error_NoSTOR",
        (FtpError::Incomplete(_), Direction::Upload) => "Error_NoTransferComplete",
        (FtpError::InvalidUrl(_), _) => ERROR_INTERNAL,
        _ => "Error_TransferFailed",
    }
}

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// HTTP: the request (and for uploads the body) is going out / the response coming in.
    Http,
    /// FTP: the control dialogue runs; data flows once it says so.
    Ftp,
    Done,
}

struct Connection {
    stream: TcpStream,
    /// FTP data connection and whether it is still connecting.
    data: Option<(TcpStream, bool)>,
    phase: Phase,
    out: Vec<u8>,
    head: Vec<u8>,
    /// HTTP: the response head has been read; body bytes expected (None: until close).
    body_left: Option<Option<u64>>,
    /// Upload body bytes still to send.
    upload_left: u64,
    /// The whole upload body is out.
    upload_sent: bool,
    /// Time-based upload: chunked body, ends at the deadline.
    chunked: bool,
    dialogue: Option<Dialogue>,
    replies: ReplyReader,
    data_open: bool,
    times: Times,
    last_activity: Instant,
    failure: Option<&'static str>,
}

/// A Download or Upload diagnostic in progress.
pub struct Throughput {
    settings: ThroughputSettings,
    target: Option<Target>,
    first_token: usize,
    clock: WallClock,
    lookup: Option<Lookup>,
    address: Option<IpAddr>,
    connections: Vec<Connection>,
    measurement: Measurement,
    /// Time-based test: stop here.
    stop_at: Option<Instant>,
    /// Incremental results: the current interval's start and the counters then.
    interval_start: Option<(Instant, u64, u64, u64)>,
    wake: Option<Instant>,
    outcome: Option<Outcome>,
    /// What an upload sends: one chunk of zeros, allocated once per test (a
    /// static table would cost its 64 KiB in the binary); empty for a download.
    zeros: Vec<u8>,
}

/// The interface's (received, sent) byte counters.
fn interface_counters(device: Option<&str>) -> Option<(u64, u64)> {
    let device = device?;
    let read = |what: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/class/net/{device}/statistics/{what}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("rx_bytes")?, read("tx_bytes")?))
}

impl Throughput {
    pub fn start(
        settings: ThroughputSettings,
        first_token: Token,
        now: Instant,
        clock: WallClock,
    ) -> Throughput {
        let target = parse_target(&settings.url);
        let host = match &target {
            Some(Target::Http { host, .. }) => host.clone(),
            Some(Target::Ftp(url)) => url.host.clone(),
            None => String::new(),
        };
        let zeros = match settings.direction {
            Direction::Upload => vec![0u8; CHUNK],
            Direction::Download => Vec::new(),
        };
        let mut engine = Throughput {
            lookup: target
                .is_some()
                .then(|| Lookup::start(&host, settings.family)),
            settings,
            target,
            first_token: first_token.0,
            clock,
            address: None,
            connections: Vec::new(),
            measurement: Measurement::default(),
            stop_at: None,
            interval_start: None,
            wake: Some(now),
            outcome: None,
            zeros,
        };
        if engine.target.is_none() {
            log::info!(
                "{} diagnostic: unsupported URL {}",
                match engine.settings.direction {
                    Direction::Download => "Download",
                    Direction::Upload => "Upload",
                },
                engine.settings.url
            );
            engine.outcome = Some(Outcome::error("Error_Other"));
        }
        engine
    }

    fn finish(&mut self, registry: &Registry, outcome: Outcome) {
        self.close(registry);
        self.wake = None;
        self.outcome = Some(outcome);
    }

    fn open_socket(
        &self,
        registry: &Registry,
        to: SocketAddr,
        token: Token,
    ) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(to)?;
        let fd = stream.as_raw_fd();
        if self.settings.dscp != 0 {
            sys::set_dscp(fd, to.is_ipv6(), self.settings.dscp)?;
        }
        if self.settings.priority != 0 {
            sys::set_priority(fd, self.settings.priority)?;
        }
        if let Some(device) = self.settings.device.as_deref() {
            sys::bind_to_device(fd, device)?;
        }
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(stream)
    }

    fn connect_all(
        &mut self,
        registry: &Registry,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), &'static str> {
        let port = match &self.target {
            Some(Target::Http { port, .. }) => *port,
            Some(Target::Ftp(url)) => url.port,
            None => return Err(ERROR_INTERNAL),
        };
        for i in 0..self.settings.connections as usize {
            let token = Token(self.first_token + 2 * i);
            let stream = self
                .open_socket(registry, SocketAddr::new(address, port), token)
                .map_err(|e| {
                    log::info!("diagnostic connect to {address}: {e}");
                    "Error_InitConnectionFailed"
                })?;
            let http = matches!(self.target, Some(Target::Http { .. }));
            let mut times = Times::default();
            if http {
                times.tcp_open_request = Some(now);
            }
            let dialogue = match &self.target {
                Some(Target::Ftp(url)) => Some(Dialogue::new(
                    match self.settings.direction {
                        Direction::Download => ftp::Direction::Retrieve,
                        Direction::Upload => ftp::Direction::Store,
                    },
                    &url.path,
                    url.user.as_deref().unwrap_or(""),
                    url.password.as_deref().unwrap_or(""),
                    0,
                    address.is_ipv6(),
                )),
                _ => None,
            };
            self.connections.push(Connection {
                stream,
                data: None,
                phase: Phase::Connecting,
                out: Vec::new(),
                head: Vec::new(),
                body_left: None,
                upload_left: self.settings.upload_length,
                upload_sent: false,
                chunked: self.settings.direction == Direction::Upload
                    && self.settings.duration.is_some(),
                dialogue,
                replies: ReplyReader::new(),
                data_open: false,
                times,
                last_activity: now,
                failure: None,
            });
        }
        Ok(())
    }

    fn request_bytes(&self, chunked: bool) -> Vec<u8> {
        let Some(Target::Http {
            path, authority, ..
        }) = &self.target
        else {
            return Vec::new();
        };
        match self.settings.direction {
            Direction::Download => format!(
                "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: icwmpd\r\nConnection: close\r\n\r\n"
            ),
            Direction::Upload if chunked => format!(
                "PUT {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: icwmpd\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ),
            Direction::Upload => format!(
                "PUT {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: icwmpd\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                self.settings.upload_length
            ),
        }
        .into_bytes()
    }

    /// Drives every connection as far as its sockets allow; `more` is set when a budget ran out.
    fn pump(&mut self, registry: &Registry, now: Instant, more: &mut bool) {
        let stopping = self.stop_at.is_some_and(|t| now >= t);
        let control_peer = self.address;
        for index in 0..self.connections.len() {
            let request = match self.connections.get(index) {
                Some(c) if c.phase == Phase::Connecting => self.request_bytes(c.chunked),
                _ => Vec::new(),
            };
            let fully_loaded = self.measurement.fully_loaded();
            let Some(c) = self.connections.get_mut(index) else {
                continue;
            };
            if c.phase == Phase::Done {
                continue;
            }
            let mut counted = (0u64, 0u64, 0u64);
            let turn = Turn {
                registry,
                now,
                stopping,
                control_peer,
                first_token: self.first_token,
                settings: &self.settings,
                zeros: &self.zeros,
            };
            let result = drive_connection(c, index, &request, turn, &mut counted, more);
            if fully_loaded {
                self.measurement.full_test_bytes += counted.0;
                self.measurement.full_received += counted.1;
                self.measurement.full_sent += counted.2;
            }
            if let Err(state) = result {
                if let Some(c) = self.connections.get_mut(index) {
                    c.failure = Some(state);
                    c.phase = Phase::Done;
                }
            }
        }
    }

    fn counters(&self) -> (u64, u64, u64) {
        self.connections.iter().fold((0, 0, 0), |acc, c| {
            (
                acc.0 + c.times.test_bytes,
                acc.1 + c.times.received,
                acc.2 + c.times.sent,
            )
        })
    }

    /// Incremental results and the stop of a time-based test, once BOM is known.
    fn account(&mut self, now: Instant) {
        let first_bom = self.connections.iter().filter_map(|c| c.times.bom).min();
        let Some(bom) = first_bom else { return };
        if self.measurement.interface_at_bom.is_none() {
            self.measurement.interface_at_bom = interface_counters(self.settings.device.as_deref());
        }
        if let Some(duration) = self.settings.duration {
            self.stop_at.get_or_insert(bom + duration);
        }
        let Some(interval) = self
            .settings
            .interval
            .filter(|_| self.settings.duration.is_some())
        else {
            return;
        };
        let (test, received, sent) = self.counters();
        let start = bom + self.settings.offset;
        if self.interval_start.is_none() && now >= start {
            self.interval_start = Some((start, test, received, sent));
        }
        while let Some((from, t0, r0, s0)) = self.interval_start {
            let end = from + interval;
            let stop = self.stop_at.unwrap_or(end);
            let cut = end.min(stop);
            if now < cut || self.measurement.increments.len() >= MAX_INCREMENTAL {
                break;
            }
            self.measurement.increments.push(Increment {
                start: from,
                end: cut,
                test_bytes: test - t0,
                received: received - r0,
                sent: sent - s0,
            });
            self.interval_start = (cut < stop).then_some((cut, test, received, sent));
        }
    }

    fn next_wake(&self, now: Instant) -> Option<Instant> {
        let silence = self
            .connections
            .iter()
            .filter(|c| c.phase != Phase::Done)
            .map(|c| c.last_activity + SILENCE)
            .min();
        let interval = self
            .interval_start
            .and_then(|(from, ..)| Some(from + self.settings.interval?));
        let offset_start = match (self.interval_start, self.settings.interval) {
            (None, Some(_)) => self
                .connections
                .iter()
                .filter_map(|c| c.times.bom)
                .min()
                .map(|b| b + self.settings.offset),
            _ => None,
        };
        [silence, interval, offset_start, self.stop_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// What every connection needs to know during one turn of the loop.
#[derive(Clone, Copy)]
struct Turn<'a> {
    registry: &'a Registry,
    now: Instant,
    /// A time-based test's time is up.
    stopping: bool,
    /// The server's address (FTP data connections go to it).
    control_peer: Option<IpAddr>,
    first_token: usize,
    settings: &'a ThroughputSettings,
    /// The zeros an upload sends.
    zeros: &'a [u8],
}

/// Reads or writes one connection until it would block (within budget). Counts
/// (test bytes, received, sent) moved into `counted`.
fn drive_connection(
    c: &mut Connection,
    index: usize,
    request: &[u8],
    turn: Turn,
    counted: &mut (u64, u64, u64),
    more: &mut bool,
) -> Result<(), &'static str> {
    let (now, stopping, direction) = (turn.now, turn.stopping, turn.settings.direction);
    if c.phase == Phase::Connecting {
        match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => {
                log::info!("diagnostic connection: {e}");
                return Err("Error_InitConnectionFailed");
            }
            Ok(None) => {}
        }
        match c.stream.peer_addr() {
            Ok(_) => {
                c.last_activity = now;
                if c.dialogue.is_some() {
                    c.phase = Phase::Ftp;
                } else {
                    c.times.tcp_open_response = Some(now);
                    c.out.extend_from_slice(request);
                    c.times.rom = Some(now);
                    c.phase = Phase::Http;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(_) => return Err("Error_InitConnectionFailed"),
        }
    }
    let mut buffer = vec![0u8; CHUNK];
    // Control/request bytes first.
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(0) => return Err("Error_NoResponse"),
            Ok(n) => {
                c.out.drain(..n);
                counted.2 += n as u64;
                c.times.sent += n as u64;
                c.last_activity = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(failure_of(direction, c.times.bom.is_some())),
        }
    }
    match c.phase {
        Phase::Http => {
            // Upload body, once the head is out.
            if direction == Direction::Upload && c.out.is_empty() && !c.upload_sent {
                upload_body(c, stopping, now, turn.zeros, counted, more)?;
            }
            let mut budget = IO_BUDGET;
            loop {
                if budget == 0 {
                    *more = true;
                    break;
                }
                match c.stream.read(&mut buffer) {
                    Ok(0) => {
                        // The server closed: the end of a body without length, or a failure.
                        return match c.body_left {
                            Some(None) => {
                                c.times.eom = Some(now);
                                c.phase = Phase::Done;
                                Ok(())
                            }
                            _ if c.head.is_empty() => Err("Error_NoResponse"),
                            _ => Err(failure_of(direction, true)),
                        };
                    }
                    Ok(n) => {
                        budget = budget.saturating_sub(n);
                        c.last_activity = now;
                        c.times.received += n as u64;
                        counted.1 += n as u64;
                        let bytes = buffer.get(..n).unwrap_or(&[]);
                        if direction == Direction::Download {
                            c.times.bom.get_or_insert(now);
                            c.times.test_bytes += n as u64;
                            counted.0 += n as u64;
                        }
                        let body = match c.body_left {
                            Some(_) => n as u64,
                            None => {
                                c.head.extend_from_slice(bytes);
                                let Some((status, end, length)) = parse_http_head(&c.head) else {
                                    if c.head.len() > MAX_HEAD {
                                        return Err(failure_of(direction, true));
                                    }
                                    continue;
                                };
                                if !(200..300).contains(&status) {
                                    log::info!("diagnostic: HTTP status {status}");
                                    return Err(failure_of(direction, true));
                                }
                                if direction == Direction::Upload {
                                    c.times.eom = Some(now);
                                    c.phase = Phase::Done;
                                    return Ok(());
                                }
                                c.body_left = Some(length);
                                (c.head.len() - end) as u64
                            }
                        };
                        if let Some(Some(left)) = c.body_left.as_mut() {
                            *left = left.saturating_sub(body);
                            if *left == 0 {
                                c.times.eom = Some(now);
                                c.phase = Phase::Done;
                                return Ok(());
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(failure_of(direction, c.times.bom.is_some())),
                }
            }
            if stopping && direction == Direction::Download {
                c.times.eom = Some(now);
                c.phase = Phase::Done;
            }
            Ok(())
        }
        Phase::Ftp => drive_ftp(c, index, turn, counted, more, &mut buffer),
        Phase::Connecting | Phase::Done => Ok(()),
    }
}

/// Sends the upload body (fixed length, or chunked until the time is up) as far as the socket takes it.
fn upload_body(
    c: &mut Connection,
    stopping: bool,
    now: Instant,
    zeros: &[u8],
    counted: &mut (u64, u64, u64),
    more: &mut bool,
) -> Result<(), &'static str> {
    let mut budget = IO_BUDGET;
    loop {
        if budget == 0 {
            *more = true;
            return Ok(());
        }
        let chunk: Vec<u8>;
        let piece: &[u8] = if c.chunked {
            if stopping {
                chunk = b"0\r\n\r\n".to_vec();
            } else {
                let mut framed = format!("{:x}\r\n", zeros.len()).into_bytes();
                framed.extend_from_slice(zeros);
                framed.extend_from_slice(b"\r\n");
                chunk = framed;
            }
            &chunk
        } else {
            if c.upload_left == 0 {
                // Everything sent: wait for the server's answer.
                c.upload_sent = true;
                return Ok(());
            }
            let len = (c.upload_left.min(CHUNK as u64)) as usize;
            zeros.get(..len).unwrap_or(&[])
        };
        match c.stream.write(piece) {
            Ok(0) => return Err("Error_NoTransferComplete"),
            Ok(n) => {
                c.times.bom.get_or_insert(now);
                budget = budget.saturating_sub(n);
                c.times.sent += n as u64;
                counted.2 += n as u64;
                c.last_activity = now;
                if c.chunked {
                    // Keep a partial frame for the next write.
                    if n < piece.len() {
                        c.out.extend_from_slice(piece.get(n..).unwrap_or(&[]));
                    }
                    if stopping {
                        c.upload_sent = true;
                        return Ok(());
                    }
                    if n < piece.len() {
                        return Ok(());
                    }
                } else {
                    c.upload_left -= n as u64;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err("Error_NoTransferComplete"),
        }
    }
}

fn failure_of(direction: Direction, started: bool) -> &'static str {
    match (direction, started) {
        (Direction::Download, true) => "Error_TransferFailed",
        (Direction::Upload, true) => "Error_NoTransferComplete",
        (_, false) => "Error_NoResponse",
    }
}

fn drive_ftp(
    c: &mut Connection,
    index: usize,
    turn: Turn,
    counted: &mut (u64, u64, u64),
    more: &mut bool,
    buffer: &mut [u8],
) -> Result<(), &'static str> {
    let Turn {
        registry,
        now,
        stopping,
        control_peer,
        first_token,
        settings,
        zeros,
    } = turn;
    let direction = settings.direction;
    // Control replies.
    loop {
        match c.stream.read(buffer) {
            Ok(0) => {
                if c.dialogue.as_ref().is_some_and(Dialogue::finished)
                    || (stopping && c.times.eom.is_some())
                {
                    c.phase = Phase::Done;
                    return Ok(());
                }
                return Err(failure_of(direction, c.times.bom.is_some()));
            }
            Ok(n) => {
                c.last_activity = now;
                c.times.received += n as u64;
                counted.1 += n as u64;
                let replies = c
                    .replies
                    .push(buffer.get(..n).unwrap_or(&[]))
                    .map_err(|e| ftp_failure(direction, &e))?;
                for reply in replies {
                    let steps = match c.dialogue.as_mut() {
                        Some(d) => d.on_reply(&reply),
                        None => Vec::new(),
                    };
                    for step in steps {
                        match step {
                            Step::Send(command) => {
                                if command.starts_with("RETR ") || command.starts_with("STOR ") {
                                    c.times.rom = Some(now);
                                }
                                c.out.extend_from_slice(&Step::command_bytes(&command));
                            }
                            Step::OpenData(port) => {
                                let peer = control_peer.ok_or(ERROR_INTERNAL)?;
                                let mut stream = TcpStream::connect(SocketAddr::new(peer, port))
                                    .map_err(|_| "Error_NoPASV")?;
                                let fd = stream.as_raw_fd();
                                if settings.dscp != 0 {
                                    let _ = sys::set_dscp(fd, peer.is_ipv6(), settings.dscp);
                                }
                                registry
                                    .register(
                                        &mut stream,
                                        Token(first_token + 2 * index + 1),
                                        Interest::READABLE | Interest::WRITABLE,
                                    )
                                    .map_err(|_| ERROR_INTERNAL)?;
                                c.times.tcp_open_request = Some(now);
                                c.data = Some((stream, true));
                            }
                            Step::StartData => c.data_open = true,
                            Step::ServerDone => {
                                if direction == Direction::Upload {
                                    c.times.eom = Some(now);
                                }
                                if c.data.is_none() {
                                    c.phase = Phase::Done;
                                    return Ok(());
                                }
                            }
                            Step::Fail(e) => {
                                if stopping && c.times.eom.is_some() {
                                    // The server complains about the transfer we cut short.
                                    c.phase = Phase::Done;
                                    return Ok(());
                                }
                                log::info!("diagnostic FTP: {e}");
                                return Err(ftp_failure(direction, &e));
                            }
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(failure_of(direction, c.times.bom.is_some())),
        }
    }
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(n) if n > 0 => {
                c.out.drain(..n);
            }
            Ok(_) => return Err(failure_of(direction, false)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(failure_of(direction, false)),
        }
    }
    // The data connection.
    let Some((data, connecting)) = c.data.as_mut() else {
        return Ok(());
    };
    if *connecting {
        match data.peer_addr() {
            Ok(_) => {
                *connecting = false;
                c.times.tcp_open_response = Some(now);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                if let Ok(Some(_)) = data.take_error() {
                    return Err("Error_NoPASV");
                }
                return Ok(());
            }
            Err(_) => return Err("Error_NoPASV"),
        }
    }
    let mut budget = IO_BUDGET;
    match direction {
        Direction::Download => loop {
            if stopping {
                c.times.eom = Some(now);
                if let Some((mut data, _)) = c.data.take() {
                    let _ = registry.deregister(&mut data);
                }
                c.phase = Phase::Done;
                return Ok(());
            }
            if budget == 0 {
                *more = true;
                return Ok(());
            }
            match data.read(buffer) {
                Ok(0) => {
                    c.times.eom = Some(now);
                    if let Some((mut data, _)) = c.data.take() {
                        let _ = registry.deregister(&mut data);
                    }
                    if c.dialogue.as_ref().is_some_and(Dialogue::finished) {
                        c.phase = Phase::Done;
                    }
                    return Ok(());
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    c.last_activity = now;
                    c.times.bom.get_or_insert(now);
                    c.times.test_bytes += n as u64;
                    c.times.received += n as u64;
                    counted.0 += n as u64;
                    counted.1 += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err("Error_TransferFailed"),
            }
        },
        Direction::Upload => {
            if !c.data_open {
                return Ok(());
            }
            loop {
                let done = if settings.duration.is_some() {
                    stopping
                } else {
                    c.upload_left == 0
                };
                if done {
                    // Closing the data connection ends the file; 226 follows on the control connection.
                    if let Some((mut data, _)) = c.data.take() {
                        let _ = registry.deregister(&mut data);
                    }
                    if c.dialogue.as_ref().is_some_and(Dialogue::finished) {
                        c.phase = Phase::Done;
                    }
                    return Ok(());
                }
                if budget == 0 {
                    *more = true;
                    return Ok(());
                }
                let len = if settings.duration.is_some() {
                    CHUNK
                } else {
                    c.upload_left.min(CHUNK as u64) as usize
                };
                match data.write(zeros.get(..len).unwrap_or(&[])) {
                    Ok(0) => return Err("Error_NoTransferComplete"),
                    Ok(n) => {
                        budget = budget.saturating_sub(n);
                        c.last_activity = now;
                        c.times.bom.get_or_insert(now);
                        c.times.sent += n as u64;
                        counted.2 += n as u64;
                        c.upload_left = c.upload_left.saturating_sub(n as u64);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err("Error_NoTransferComplete"),
                }
            }
        }
    }
}

impl Engine for Throughput {
    fn poll_at(&self) -> Option<Instant> {
        self.wake
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        if self.outcome.is_some() {
            return;
        }
        match resolve::poll(&mut self.lookup, now, "transfer diagnostic: cannot resolve") {
            None => {}
            Some(Resolution::Waiting(at)) => {
                self.wake = Some(at);
                return;
            }
            Some(Resolution::Done(None)) => {
                return self.finish(registry, Outcome::error("Error_CannotResolveHostName"));
            }
            Some(Resolution::Done(Some(address))) => {
                self.address = Some(address);
                if let Err(state) = self.connect_all(registry, address, now) {
                    return self.finish(registry, Outcome::error(state));
                }
            }
        }
        let mut more = false;
        self.pump(registry, now, &mut more);
        self.account(now);
        if self.stop_at.is_some_and(|t| now >= t) {
            // The time is up: one more pump closes every connection at this instant.
            self.pump(registry, now, &mut more);
        }
        if let Some(state) = self.connections.iter().find_map(|c| c.failure) {
            return self.finish(registry, Outcome::error(state));
        }
        if self.connections.iter().all(|c| c.phase == Phase::Done) {
            self.measurement.connections =
                self.connections.iter().map(|c| c.times.clone()).collect();
            self.measurement.interface_at_eom = interface_counters(self.settings.device.as_deref());
            let used = self.address.and_then(source_address);
            let results = self.measurement.results(
                self.settings.direction,
                &self.clock,
                self.settings.per_connection,
                used,
            );
            return self.finish(
                registry,
                Outcome {
                    state: COMPLETE,
                    results,
                },
            );
        }
        if self
            .connections
            .iter()
            .any(|c| c.phase != Phase::Done && now >= c.last_activity + SILENCE)
        {
            return self.finish(registry, Outcome::error("Error_Timeout"));
        }
        // Keep the live measurement for the full-loading counters of the next turn.
        self.measurement.connections = self.connections.iter().map(|c| c.times.clone()).collect();
        self.wake = if more { Some(now) } else { self.next_wake(now) };
    }

    fn outcome(&mut self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn close(&mut self, registry: &Registry) {
        for mut c in self.connections.drain(..) {
            let _ = registry.deregister(&mut c.stream);
            if let Some((mut data, _)) = c.data.take() {
                let _ = registry.deregister(&mut data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_both_transports() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080/f?x=1"),
            Some(Target::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/f?x=1".into(),
                authority: "127.0.0.1:8080".into()
            })
        );
        assert_eq!(
            parse_target("HTTP://[::1]/"),
            Some(Target::Http {
                host: "::1".into(),
                port: 80,
                path: "/".into(),
                authority: "[::1]".into()
            })
        );
        assert!(
            matches!(parse_target("ftp://u:p@h:2121/a/b"), Some(Target::Ftp(url)) if url.port == 2121 && url.path == "a/b")
        );
        assert_eq!(parse_target("https://h/"), None);
        assert_eq!(parse_target("http://u@h/"), None);
        assert_eq!(parse_target("http://:80/"), None);
    }

    #[test]
    fn http_heads() {
        assert_eq!(
            parse_http_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody"),
            Some((200, 39, Some(12)))
        );
        assert_eq!(
            parse_http_head(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Some((404, 26, None))
        );
        assert_eq!(parse_http_head(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn measurement_of_two_connections() {
        let t0 = Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        let clock = WallClock::new(t0, 1_000_000_000_000_000);
        let m = Measurement {
            connections: vec![
                Times {
                    tcp_open_request: at(0),
                    tcp_open_response: at(1),
                    rom: at(1),
                    bom: at(3),
                    eom: at(50),
                    test_bytes: 1000,
                    received: 1000,
                    sent: 90,
                },
                Times {
                    tcp_open_request: at(0),
                    tcp_open_response: at(2),
                    rom: at(2),
                    bom: at(5),
                    eom: at(40),
                    test_bytes: 800,
                    received: 800,
                    sent: 90,
                },
            ],
            full_test_bytes: 1500,
            full_received: 1500,
            full_sent: 0,
            increments: vec![Increment {
                start: t0,
                end: t0 + Duration::from_secs(1),
                test_bytes: 7,
                received: 7,
                sent: 1,
            }],
            interface_at_bom: Some((100, 10)),
            interface_at_eom: Some((2100, 210)),
        };
        let results: std::collections::BTreeMap<_, _> = m
            .results(Direction::Download, &clock, true, None)
            .into_iter()
            .collect();
        assert_eq!(results["ROMTime"], "2001-09-09T01:46:40.001000Z");
        assert_eq!(results["BOMTime"], "2001-09-09T01:46:40.003000Z");
        assert_eq!(results["EOMTime"], "2001-09-09T01:46:40.050000Z");
        assert_eq!(
            results["TCPOpenResponseTime"],
            "2001-09-09T01:46:40.001000Z"
        );
        assert_eq!(results["TestBytesReceived"], "1800");
        assert_eq!(results["TotalBytesReceived"], "2000");
        assert_eq!(results["TotalBytesSent"], "200");
        assert_eq!(results["PeriodOfFullLoading"], "35000");
        assert_eq!(results["TestBytesReceivedUnderFullLoading"], "1500");
        assert_eq!(results["PerConnectionResultNumberOfEntries"], "2");
        assert_eq!(results["PerConnectionResult.2.TestBytesReceived"], "800");
        assert_eq!(results["IncrementalResultNumberOfEntries"], "1");
        assert_eq!(
            results["IncrementalResult.1.EndTime"],
            "2001-09-09T01:46:41.000000Z"
        );
        let up: std::collections::BTreeMap<_, _> = m
            .results(Direction::Upload, &clock, false, None)
            .into_iter()
            .collect();
        assert_eq!(up["TestBytesSent"], "180");
        assert_eq!(up["PerConnectionResultNumberOfEntries"], "0");
        assert!(!up.contains_key("TestBytesReceived"));
    }
}
