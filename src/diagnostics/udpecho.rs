//! UDPEcho: numbered datagrams (the TR-143 UDP Echo Plus layout) to an RFC 862 echo server, each matched to its echo.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::ping::summarize;
use super::resolve::{self, Family, Lookup, Resolution};
use super::state::{Outcome, Test, COMPLETE, ERROR_INTERNAL};
use super::{format_micros, number, source_address, Engine, WallClock};
use crate::sys;
use crate::vecmap::VecMap;

/// Bytes of the UDP Echo Plus header: TestGenSN, TestRespSN, TestRespRecvTimeStamp,
/// TestRespReplyTimeStamp, TestRespReplyFailureCount (32 bits each).
pub const ECHO_PLUS_HEADER: usize = 20;
/// Packets per test at most.
const MAX_REPETITIONS: u32 = 10_000;
/// Largest datagram sent.
const MAX_DATAGRAM: usize = 65_507;
/// Individual packet results kept (`UDPEchoDiagnosticsMaxResults`).
pub const MAX_RESULTS: usize = 100;

/// A datagram of `size` bytes (at least the Echo Plus header) carrying `sequence`.
pub fn echo_packet(sequence: u32, size: usize) -> Vec<u8> {
    let mut packet = vec![0u8; size.clamp(ECHO_PLUS_HEADER, MAX_DATAGRAM)];
    packet[..4].copy_from_slice(&sequence.to_be_bytes());
    packet
}

/// The Echo Plus fields of a returned datagram: (TestGenSN, TestRespSN,
/// RecvTimeStamp, ReplyTimeStamp, ReplyFailureCount). A plain RFC 862 echo
/// returns our zeros.
pub fn parse_echo(packet: &[u8]) -> Option<[u32; 5]> {
    let header = packet.get(..ECHO_PLUS_HEADER)?;
    let mut fields = [0u32; 5];
    for (field, chunk) in fields.iter_mut().zip(header.chunks_exact(4)) {
        *field = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(fields)
}

/// The UDPEcho inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoSettings {
    pub host: String,
    pub port: u16,
    pub family: Family,
    pub repetitions: u32,
    pub timeout: Duration,
    pub size: usize,
    pub dscp: u8,
    pub interval: Duration,
    pub individual_results: bool,
    pub device: Option<String>,
}

impl EchoSettings {
    pub fn from_test(test: &Test, device: Option<String>) -> EchoSettings {
        EchoSettings {
            host: test.input("Host").to_owned(),
            port: number(test, "Port", 7).min(65535) as u16,
            family: Family::from_protocol_version(test.input("ProtocolVersion")),
            repetitions: number(test, "NumberOfRepetitions", 1).min(MAX_REPETITIONS),
            timeout: Duration::from_millis(number(test, "Timeout", 5000).into()),
            size: number(test, "DataBlockSize", 24) as usize,
            dscp: number(test, "DSCP", 0).min(63) as u8,
            interval: Duration::from_millis(number(test, "InterTransmissionTime", 1000).into()),
            individual_results: test.input("EnableIndividualPacketResults") == "1",
            device,
        }
    }
}

/// One datagram's fate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PacketResult {
    pub sent: Option<Instant>,
    pub received: Option<Instant>,
    /// The Echo Plus fields of the echo.
    pub echo: [u32; 5],
}

impl PacketResult {
    pub fn rtt(&self) -> Option<Duration> {
        Some(self.received?.saturating_duration_since(self.sent?))
    }
}

/// What a finished UDP echo test found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoReport {
    pub state: &'static str,
    pub address: Option<IpAddr>,
    pub packets: Vec<PacketResult>,
}

impl EchoReport {
    pub fn rtts(&self) -> Vec<Option<Duration>> {
        self.packets.iter().map(PacketResult::rtt).collect()
    }

    /// The UDPEchoDiagnostics result parameters; packet times through `clock`.
    pub fn results(&self, individual: bool, clock: &WallClock) -> Vec<(String, String)> {
        let s = summarize(&self.rtts());
        let used = self
            .address
            .and_then(source_address)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut out = vec![
            ("IPAddressUsed".into(), used),
            ("SuccessCount".into(), s.success.to_string()),
            ("FailureCount".into(), s.failure.to_string()),
            ("AverageResponseTime".into(), s.avg.as_micros().to_string()),
            ("MinimumResponseTime".into(), s.min.as_micros().to_string()),
            ("MaximumResponseTime".into(), s.max.as_micros().to_string()),
        ];
        let rows = if individual {
            self.packets.len().min(MAX_RESULTS)
        } else {
            0
        };
        out.push((
            "IndividualPacketResultNumberOfEntries".into(),
            rows.to_string(),
        ));
        for (i, p) in self.packets.iter().take(rows).enumerate() {
            let n = i + 1;
            let time = |t: Option<Instant>| {
                t.map(|t| format_micros(clock.micros_at(t)))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
            };
            let row = [
                (
                    "PacketSuccess",
                    if p.received.is_some() { "1" } else { "0" }.to_owned(),
                ),
                ("PacketSendTime", time(p.sent)),
                ("PacketReceiveTime", time(p.received)),
                ("TestGenSN", (i as u32 + 1).to_string()),
                ("TestRespSN", p.echo[1].to_string()),
                ("TestRespRcvTimeStamp", p.echo[2].to_string()),
                ("TestRespReplyTimeStamp", p.echo[3].to_string()),
                ("TestRespReplyFailureCount", p.echo[4].to_string()),
            ];
            for (name, value) in row {
                out.push((format!("IndividualPacketResult.{n}.{name}"), value));
            }
        }
        out
    }
}

/// A UDP echo test in progress.
pub struct UdpEcho {
    settings: EchoSettings,
    token: Token,
    clock: WallClock,
    lookup: Option<Lookup>,
    socket: Option<UdpSocket>,
    address: Option<IpAddr>,
    packets: Vec<PacketResult>,
    /// Sequence numbers (1-based) awaiting their echo, with their deadlines.
    in_flight: VecMap<u32, Instant>,
    next_send: Instant,
    report: Option<EchoReport>,
}

impl UdpEcho {
    pub fn start(settings: EchoSettings, token: Token, now: Instant, clock: WallClock) -> UdpEcho {
        let lookup = Lookup::start(&settings.host, settings.family);
        UdpEcho {
            settings,
            token,
            clock,
            lookup: Some(lookup),
            socket: None,
            address: None,
            packets: Vec::new(),
            in_flight: VecMap::new(),
            next_send: now,
            report: None,
        }
    }

    pub fn report(&self) -> Option<&EchoReport> {
        self.report.as_ref()
    }

    fn finish(&mut self, registry: &Registry, state: &'static str) {
        self.close(registry);
        self.in_flight.clear();
        self.report = Some(EchoReport {
            state,
            address: self.address,
            packets: std::mem::take(&mut self.packets),
        });
    }

    fn open(&mut self, registry: &Registry, to: IpAddr) -> io::Result<()> {
        let bind = if to.is_ipv6() {
            SocketAddr::new(IpAddr::from([0u16; 8]), 0)
        } else {
            SocketAddr::new(IpAddr::from([0u8; 4]), 0)
        };
        let mut socket = UdpSocket::bind(bind)?;
        let fd = socket.as_raw_fd();
        if self.settings.dscp != 0 {
            sys::set_dscp(fd, to.is_ipv6(), self.settings.dscp)?;
        }
        if let Some(device) = self.settings.device.as_deref() {
            sys::bind_to_device(fd, device)?;
        }
        socket.connect(SocketAddr::new(to, self.settings.port))?;
        registry.register(&mut socket, self.token, Interest::READABLE)?;
        self.socket = Some(socket);
        Ok(())
    }

    fn receive(&mut self, now: Instant) {
        let Some(socket) = self.socket.as_ref() else {
            return;
        };
        let mut buffer = vec![0u8; self.settings.size.clamp(ECHO_PLUS_HEADER, MAX_DATAGRAM) + 1];
        for _ in 0..256 {
            match socket.recv(&mut buffer) {
                Ok(len) => {
                    let Some(fields) = parse_echo(buffer.get(..len).unwrap_or(&[])) else {
                        continue;
                    };
                    let sequence = fields[0];
                    if self.in_flight.remove(&sequence).is_some() {
                        if let Some(packet) = self.packets.get_mut(sequence as usize - 1) {
                            packet.received = Some(now);
                            packet.echo = fields;
                        }
                    }
                }
                // An ICMP port unreachable: that datagram is lost, the others may still come back.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn send_due(&mut self, registry: &Registry, now: Instant) {
        while (self.packets.len() as u32) < self.settings.repetitions && now >= self.next_send {
            let sequence = self.packets.len() as u32 + 1;
            let Some(socket) = self.socket.as_ref() else {
                return self.finish(registry, ERROR_INTERNAL);
            };
            let packet = echo_packet(sequence, self.settings.size);
            match socket.send(&packet) {
                Ok(_) => {
                    self.in_flight.insert(sequence, now + self.settings.timeout);
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // The refusal of an earlier datagram: this one is counted lost.
                }
                Err(e) => log::info!("udpecho: {e}"),
            }
            self.packets.push(PacketResult {
                sent: Some(now),
                ..PacketResult::default()
            });
            self.next_send += self.settings.interval;
        }
    }
}

impl Engine for UdpEcho {
    fn poll_at(&self) -> Option<Instant> {
        if self.report.is_some() {
            return None;
        }
        if self.lookup.is_some() {
            return Some(self.next_send);
        }
        let sending = (self.packets.len() as u32) < self.settings.repetitions;
        let next = sending.then_some(self.next_send);
        [next, self.in_flight.values().min().copied()]
            .into_iter()
            .flatten()
            .min()
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        if self.report.is_some() {
            return;
        }
        match resolve::poll(&mut self.lookup, now, "udpecho: cannot resolve") {
            None => {}
            Some(Resolution::Waiting(at)) => {
                self.next_send = at;
                return;
            }
            Some(Resolution::Done(None)) => {
                return self.finish(registry, "Error_CannotResolveHostName");
            }
            Some(Resolution::Done(Some(address))) => {
                self.address = Some(address);
                if let Err(e) = self.open(registry, address) {
                    log::warn!("udpecho: socket to {address}: {e}");
                    return self.finish(registry, ERROR_INTERNAL);
                }
                self.next_send = now;
            }
        }
        self.receive(now);
        self.in_flight.retain(|_, deadline| *deadline > now);
        self.send_due(registry, now);
        if self.report.is_none()
            && self.in_flight.is_empty()
            && self.packets.len() as u32 >= self.settings.repetitions
        {
            self.finish(registry, COMPLETE);
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        let report = self.report.as_ref()?;
        let results = if report.state == COMPLETE {
            report.results(self.settings.individual_results, &self.clock)
        } else {
            Vec::new()
        };
        Some(Outcome {
            state: report.state,
            results,
        })
    }

    fn close(&mut self, registry: &Registry) {
        if let Some(mut socket) = self.socket.take() {
            let _ = registry.deregister(&mut socket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_carry_their_sequence_number() {
        let packet = echo_packet(0x01020304, 8);
        assert_eq!(packet.len(), ECHO_PLUS_HEADER);
        assert_eq!(parse_echo(&packet), Some([0x01020304, 0, 0, 0, 0]));
        assert_eq!(echo_packet(1, 100).len(), 100);
        assert_eq!(parse_echo(&packet[..19]), None);
    }

    #[test]
    fn report_counts_and_lists_packets() {
        let t0 = Instant::now();
        let clock = WallClock::new(t0, 1_700_000_000_000_000);
        let ms = Duration::from_millis;
        let report = EchoReport {
            state: COMPLETE,
            address: None,
            packets: vec![
                PacketResult {
                    sent: Some(t0),
                    received: Some(t0 + ms(2)),
                    echo: [1, 0, 0, 0, 0],
                },
                PacketResult {
                    sent: Some(t0 + ms(10)),
                    received: None,
                    echo: [0; 5],
                },
            ],
        };
        let results: std::collections::BTreeMap<_, _> =
            report.results(true, &clock).into_iter().collect();
        assert_eq!(results["SuccessCount"], "1");
        assert_eq!(results["FailureCount"], "1");
        assert_eq!(results["AverageResponseTime"], "2000");
        assert_eq!(results["IndividualPacketResultNumberOfEntries"], "2");
        assert_eq!(
            results["IndividualPacketResult.1.PacketSendTime"],
            "2023-11-14T22:13:20.000000Z"
        );
        assert_eq!(
            results["IndividualPacketResult.1.PacketReceiveTime"],
            "2023-11-14T22:13:20.002000Z"
        );
        assert_eq!(results["IndividualPacketResult.2.PacketSuccess"], "0");
        assert_eq!(results["IndividualPacketResult.2.TestGenSN"], "2");
        let plain: std::collections::BTreeMap<_, _> =
            report.results(false, &clock).into_iter().collect();
        assert_eq!(plain["IndividualPacketResultNumberOfEntries"], "0");
    }
}
