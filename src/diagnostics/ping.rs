//! IPPing: ICMP echo requests through a raw socket, one at a time, replies matched by identifier and sequence.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::resolve::{self, Family, Lookup, Resolution};
use super::state::{Outcome, Test, COMPLETE, ERROR_INTERNAL};
use super::{number, source_address, Engine};
use crate::sys;
use crate::wire::icmp::{self, IcmpMessage};

/// Datagrams read per call, so a flood of foreign ICMP cannot hold the loop.
const MAX_READS: usize = 256;
/// Largest ICMP message read (an error quotes at most 576 bytes for IPv4, 1280 for IPv6).
const READ_BUFFER: usize = 2048;
/// Largest DataBlockSize sent (TR-181: 1..65535; bounded by the IP datagram).
pub const MAX_DATA_BLOCK: usize = 65_000;

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// An identifier for a new ICMP prober: distinct within the process and, by
/// mixing in the pid, from other pingers on the host.
fn next_identifier() -> u16 {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (std::process::id() as u16).rotate_left(5) ^ n.wrapping_mul(0x9E37)
}

/// A raw ICMP socket in the loop, reading only what answers its own identifier.
pub struct IcmpSocket {
    socket: UdpSocket,
    v6: bool,
    id: u16,
}

impl IcmpSocket {
    pub fn open(
        registry: &Registry,
        token: Token,
        v6: bool,
        dscp: u8,
        device: Option<&str>,
    ) -> io::Result<IcmpSocket> {
        let mut socket = UdpSocket::from_std(sys::raw_icmp_socket(v6)?);
        let fd = socket.as_raw_fd();
        if dscp != 0 {
            sys::set_dscp(fd, v6, dscp)?;
        }
        if let Some(device) = device {
            sys::bind_to_device(fd, device)?;
        }
        registry.register(&mut socket, token, Interest::READABLE)?;
        Ok(IcmpSocket {
            socket,
            v6,
            id: next_identifier(),
        })
    }

    /// Sends echo request `seq` with `size` bytes of data, at `hop_limit` if given.
    pub fn send(
        &mut self,
        to: IpAddr,
        seq: u16,
        size: usize,
        hop_limit: Option<u8>,
    ) -> io::Result<()> {
        if let Some(hops) = hop_limit {
            sys::set_hop_limit(self.socket.as_raw_fd(), self.v6, hops)?;
        }
        let packet = icmp::echo_request(self.v6, self.id, seq, size.min(MAX_DATA_BLOCK));
        self.socket
            .send_to(&packet, SocketAddr::new(to, 0))
            .map(|_| ())
    }

    /// The messages that arrived for this socket's identifier, with their senders.
    pub fn receive(&mut self) -> Vec<(IpAddr, IcmpMessage)> {
        let mut out = Vec::new();
        let mut buffer = [0u8; READ_BUFFER];
        for _ in 0..MAX_READS {
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) => {
                    let packet = buffer.get(..len).unwrap_or(&[]);
                    let message = if self.v6 {
                        icmp::parse_v6(packet)
                    } else {
                        icmp::parse_v4(packet)
                    };
                    let ours = match message {
                        Some(IcmpMessage::EchoReply { id, .. })
                        | Some(IcmpMessage::TimeExceeded { id, .. })
                        | Some(IcmpMessage::Unreachable { id, .. }) => id == self.id,
                        None => false,
                    };
                    if let (true, Some(message)) = (ours, message) {
                        out.push((from.ip(), message));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out
    }

    pub fn close(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.socket);
    }
}

/// The host a ping or traceroute probes: its lookup, then its address and
/// the raw socket to it.
pub struct IcmpHost {
    lookup: Option<Lookup>,
    token: Token,
    pub address: Option<IpAddr>,
    pub socket: Option<IcmpSocket>,
}

/// Where [`IcmpHost::poll`] leaves a test.
#[derive(Debug, PartialEq, Eq)]
pub enum HostStep {
    /// Resolved and opened earlier.
    Open,
    /// No answer yet: look again at this instant.
    Waiting(Instant),
    /// Resolved and opened just now: send the first probe.
    Opened,
    /// Cannot probe: finish in this state.
    Failed(&'static str),
}

impl IcmpHost {
    /// Starts resolving `host`; the socket will use `token`.
    pub fn start(host: &str, family: Family, token: Token) -> IcmpHost {
        IcmpHost {
            lookup: Some(Lookup::start(host, family)),
            token,
            address: None,
            socket: None,
        }
    }

    /// Polls the lookup; once it resolves, opens the socket (`test` names
    /// the test in the log).
    pub fn poll(
        &mut self,
        registry: &Registry,
        now: Instant,
        dscp: u8,
        device: Option<&str>,
        test: &str,
    ) -> HostStep {
        if self.lookup.is_none() {
            return HostStep::Open;
        }
        let failure = format!("{test}: cannot resolve");
        match resolve::poll(&mut self.lookup, now, &failure) {
            None => HostStep::Open,
            Some(Resolution::Waiting(at)) => HostStep::Waiting(at),
            Some(Resolution::Done(None)) => HostStep::Failed("Error_CannotResolveHostName"),
            Some(Resolution::Done(Some(address))) => {
                self.address = Some(address);
                match IcmpSocket::open(registry, self.token, address.is_ipv6(), dscp, device) {
                    Ok(socket) => {
                        self.socket = Some(socket);
                        HostStep::Opened
                    }
                    Err(e) => {
                        log::warn!("{test}: raw ICMP socket: {e}");
                        HostStep::Failed(ERROR_INTERNAL)
                    }
                }
            }
        }
    }

    /// The messages that arrived for the socket, if open.
    pub fn receive(&mut self) -> Vec<(IpAddr, IcmpMessage)> {
        self.socket
            .as_mut()
            .map(IcmpSocket::receive)
            .unwrap_or_default()
    }

    /// Closes the socket, if open.
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut socket) = self.socket.take() {
            socket.close(registry);
        }
    }
}

/// Whether a send error means the destination cannot be reached (rather than a fault of ours).
pub fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) | Some(libc::EADDRNOTAVAIL)
    )
}

/// Round-trip statistics over the repetitions with a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttSummary {
    pub success: u32,
    pub failure: u32,
    pub min: Duration,
    pub avg: Duration,
    pub max: Duration,
}

/// Counts and min/average/max of `rtts` (`None`: no response); all zero without a response.
pub fn summarize(rtts: &[Option<Duration>]) -> RttSummary {
    let answered: Vec<Duration> = rtts.iter().flatten().copied().collect();
    let success = answered.len() as u32;
    let total: Duration = answered.iter().sum();
    RttSummary {
        success,
        failure: rtts.len() as u32 - success,
        min: answered.iter().min().copied().unwrap_or_default(),
        avg: total.checked_div(success).unwrap_or_default(),
        max: answered.iter().max().copied().unwrap_or_default(),
    }
}

/// Whole milliseconds, rounded to the nearest.
pub fn millis(d: Duration) -> u128 {
    (d.as_micros() + 500) / 1000
}

/// The IPPing inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingSettings {
    pub host: String,
    pub family: Family,
    pub repetitions: u32,
    pub timeout: Duration,
    pub size: usize,
    pub dscp: u8,
    pub device: Option<String>,
}

impl PingSettings {
    pub fn from_test(test: &Test, device: Option<String>) -> PingSettings {
        PingSettings {
            host: test.input("Host").to_owned(),
            family: Family::from_protocol_version(test.input("ProtocolVersion")),
            repetitions: number(test, "NumberOfRepetitions", 3).min(1000),
            timeout: Duration::from_millis(number(test, "Timeout", 1000).into()),
            size: number(test, "DataBlockSize", 64) as usize,
            dscp: number(test, "DSCP", 0).min(63) as u8,
            device,
        }
    }
}

/// What a finished ping found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingReport {
    pub state: &'static str,
    pub address: Option<IpAddr>,
    pub rtts: Vec<Option<Duration>>,
}

impl PingReport {
    /// The IPPing result parameters.
    pub fn results(&self) -> Vec<(String, String)> {
        let s = summarize(&self.rtts);
        let used = self
            .address
            .and_then(source_address)
            .map(|a| a.to_string())
            .unwrap_or_default();
        vec![
            ("IPAddressUsed".into(), used),
            ("SuccessCount".into(), s.success.to_string()),
            ("FailureCount".into(), s.failure.to_string()),
            ("AverageResponseTime".into(), millis(s.avg).to_string()),
            ("MinimumResponseTime".into(), millis(s.min).to_string()),
            ("MaximumResponseTime".into(), millis(s.max).to_string()),
            (
                "AverageResponseTimeDetailed".into(),
                s.avg.as_micros().to_string(),
            ),
            (
                "MinimumResponseTimeDetailed".into(),
                s.min.as_micros().to_string(),
            ),
            (
                "MaximumResponseTimeDetailed".into(),
                s.max.as_micros().to_string(),
            ),
        ]
    }
}

/// A ping in progress.
pub struct Ping {
    settings: PingSettings,
    host: IcmpHost,
    rtts: Vec<Option<Duration>>,
    unreachable: u32,
    seq: u16,
    /// The request in flight: sent at, given up at.
    waiting: Option<(Instant, Instant)>,
    wake: Option<Instant>,
    report: Option<PingReport>,
}

impl Ping {
    pub fn start(settings: PingSettings, token: Token, now: Instant) -> Ping {
        Ping {
            host: IcmpHost::start(&settings.host, settings.family, token),
            settings,
            rtts: Vec::new(),
            unreachable: 0,
            seq: 0,
            waiting: None,
            wake: Some(now),
            report: None,
        }
    }

    /// The report, once finished.
    pub fn report(&self) -> Option<&PingReport> {
        self.report.as_ref()
    }

    fn finish(&mut self, registry: &Registry, state: &'static str) {
        self.host.close(registry);
        self.waiting = None;
        self.wake = None;
        self.report = Some(PingReport {
            state,
            address: self.host.address,
            rtts: std::mem::take(&mut self.rtts),
        });
    }

    fn send_next(&mut self, registry: &Registry, now: Instant) {
        loop {
            if self.rtts.len() as u32 >= self.settings.repetitions {
                let state = if self.unreachable >= self.settings.repetitions {
                    "Error_NoRouteToHost"
                } else {
                    COMPLETE
                };
                return self.finish(registry, state);
            }
            let (Some(socket), Some(address)) = (self.host.socket.as_mut(), self.host.address)
            else {
                return self.finish(registry, ERROR_INTERNAL);
            };
            self.seq = self.seq.wrapping_add(1);
            match socket.send(address, self.seq, self.settings.size, None) {
                Ok(()) => {
                    let deadline = now + self.settings.timeout;
                    self.waiting = Some((now, deadline));
                    self.wake = Some(deadline);
                    return;
                }
                Err(e) if is_unreachable(&e) => {
                    self.unreachable += 1;
                    self.rtts.push(None);
                }
                Err(e) => {
                    log::warn!("ping {address}: {e}");
                    return self.finish(registry, ERROR_INTERNAL);
                }
            }
        }
    }
}

impl Engine for Ping {
    fn poll_at(&self) -> Option<Instant> {
        self.wake
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        if self.report.is_some() {
            return;
        }
        let device = self.settings.device.as_deref();
        match self
            .host
            .poll(registry, now, self.settings.dscp, device, "ping")
        {
            HostStep::Open => {}
            HostStep::Waiting(at) => {
                self.wake = Some(at);
                return;
            }
            HostStep::Opened => return self.send_next(registry, now),
            HostStep::Failed(state) => return self.finish(registry, state),
        }
        let Some((sent, deadline)) = self.waiting else {
            return;
        };
        let messages = self.host.receive();
        let seq = self.seq;
        for (from, message) in messages {
            match message {
                IcmpMessage::EchoReply { seq: s, .. }
                    if s == seq && Some(from) == self.host.address =>
                {
                    self.rtts.push(Some(now.saturating_duration_since(sent)));
                    self.waiting = None;
                    break;
                }
                IcmpMessage::Unreachable { seq: s, .. } if s == seq => {
                    self.unreachable += 1;
                    self.rtts.push(None);
                    self.waiting = None;
                    break;
                }
                _ => {}
            }
        }
        if self.waiting.is_some() && now >= deadline {
            self.rtts.push(None);
            self.waiting = None;
        }
        if self.waiting.is_none() {
            self.send_next(registry, now);
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        let report = self.report.as_ref()?;
        Some(Outcome {
            state: report.state,
            results: if report.state == COMPLETE {
                report.results()
            } else {
                Vec::new()
            },
        })
    }

    fn close(&mut self, registry: &Registry) {
        self.host.close(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_that_does_not_resolve_fails_once_then_stays_quiet() {
        let poll = mio::Poll::new().expect("poll");
        let now = Instant::now();
        let mut host = IcmpHost::start("", Family::Any, Token(0));
        assert_eq!(
            host.poll(poll.registry(), now, 0, None, "ping"),
            HostStep::Failed("Error_CannotResolveHostName")
        );
        assert!(host.address.is_none() && host.socket.is_none());
        assert_eq!(
            host.poll(poll.registry(), now, 0, None, "ping"),
            HostStep::Open
        );
    }

    #[test]
    fn summary_of_round_trips() {
        let ms = Duration::from_millis;
        let s = summarize(&[
            Some(ms(2)),
            None,
            Some(ms(4)),
            Some(Duration::from_micros(2_600)),
        ]);
        assert_eq!((s.success, s.failure), (3, 1));
        assert_eq!(s.min, ms(2));
        assert_eq!(s.max, ms(4));
        assert_eq!(s.avg.as_micros(), 2_866);
        assert_eq!(millis(s.avg), 3);
        assert_eq!(
            summarize(&[None, None]),
            RttSummary {
                failure: 2,
                ..RttSummary::default()
            }
        );
        assert_eq!(summarize(&[]), RttSummary::default());
    }

    #[test]
    fn settings_take_defaults_for_unset_inputs() {
        let mut test = Test::default();
        test.inputs.insert("Host".into(), "example.test".into());
        test.inputs.insert("Timeout".into(), "250".into());
        let s = PingSettings::from_test(&test, None);
        assert_eq!(s.repetitions, 3);
        assert_eq!(s.timeout, Duration::from_millis(250));
        assert_eq!(s.size, 64);
        assert_eq!(s.family, Family::Any);
    }

    #[test]
    fn report_gives_every_result_parameter() {
        let report = PingReport {
            state: COMPLETE,
            address: None,
            rtts: vec![Some(Duration::from_micros(1_499)), None],
        };
        let results: std::collections::BTreeMap<_, _> = report.results().into_iter().collect();
        assert_eq!(results["SuccessCount"], "1");
        assert_eq!(results["FailureCount"], "1");
        assert_eq!(results["AverageResponseTime"], "1");
        assert_eq!(results["MaximumResponseTimeDetailed"], "1499");
        assert_eq!(results["IPAddressUsed"], "");
    }
}
