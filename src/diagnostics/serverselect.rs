//! ServerSelection: pings (ICMP or UDP echo) each host of a list in turn and names the one with the lowest average round trip.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use super::ping::{summarize, Ping, PingSettings, RttSummary};
use super::resolve::Family;
use super::state::{Outcome, Test, COMPLETE};
use super::udpecho::{EchoSettings, UdpEcho};
use super::{number, source_address, Engine, WallClock};

/// Hosts tried at most (TR-181 lists up to 10).
const MAX_HOSTS: usize = 10;
/// The RFC 862 echo port, for `UDP Echo` hosts given without a port.
const ECHO_PORT: u16 = 7;

/// A host of the list: its name and, for UDP echo, the port (`host:port`, `[v6]:port`).
pub fn split_host(entry: &str) -> (String, Option<u16>) {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            return (host.to_owned(), port.parse().ok());
        }
        return (rest.trim_end_matches(']').to_owned(), None);
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host.to_owned(), port.parse().ok()),
        _ => (entry.to_owned(), None),
    }
}

/// The ServerSelection inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionSettings {
    pub hosts: Vec<String>,
    pub udp_echo: bool,
    pub family: Family,
    pub repetitions: u32,
    pub timeout: Duration,
    pub device: Option<String>,
}

impl SelectionSettings {
    pub fn from_test(test: &Test, device: Option<String>) -> SelectionSettings {
        SelectionSettings {
            hosts: test
                .input("HostList")
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .take(MAX_HOSTS)
                .map(str::to_owned)
                .collect(),
            udp_echo: test.input("Protocol") == "UDP Echo",
            family: Family::from_protocol_version(test.input("ProtocolVersion")),
            repetitions: number(test, "NumberOfRepetitions", 3).min(100),
            timeout: Duration::from_millis(number(test, "Timeout", 1000).into()),
            device,
        }
    }
}

/// How one host did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResult {
    pub host: String,
    pub address: Option<IpAddr>,
    pub resolved: bool,
    pub summary: RttSummary,
}

/// The fastest host (lowest average among those that answered) and the results.
pub fn selection_outcome(hosts: &[HostResult]) -> Outcome {
    let fastest = hosts
        .iter()
        .filter(|h| h.summary.success > 0)
        .min_by_key(|h| h.summary.avg);
    let Some(fastest) = fastest else {
        let state = if !hosts.is_empty() && hosts.iter().all(|h| !h.resolved) {
            "Error_CannotResolveHostName"
        } else {
            "Error_Other"
        };
        return Outcome::error(state);
    };
    let used = fastest
        .address
        .and_then(source_address)
        .map(|a| a.to_string())
        .unwrap_or_default();
    Outcome {
        state: COMPLETE,
        results: vec![
            ("FastestHost".into(), fastest.host.clone()),
            (
                "MinimumResponseTime".into(),
                fastest.summary.min.as_micros().to_string(),
            ),
            (
                "AverageResponseTime".into(),
                fastest.summary.avg.as_micros().to_string(),
            ),
            (
                "MaximumResponseTime".into(),
                fastest.summary.max.as_micros().to_string(),
            ),
            ("IPAddressUsed".into(), used),
        ],
    }
}

enum Probe {
    Icmp(Ping),
    Udp(UdpEcho),
}

/// A server selection in progress: one host's probe at a time.
pub struct ServerSelection {
    settings: SelectionSettings,
    token: Token,
    clock: WallClock,
    done: Vec<HostResult>,
    probe: Option<Probe>,
    outcome: Option<Outcome>,
}

impl ServerSelection {
    pub fn start(
        settings: SelectionSettings,
        token: Token,
        now: Instant,
        clock: WallClock,
    ) -> ServerSelection {
        let mut selection = ServerSelection {
            settings,
            token,
            clock,
            done: Vec::new(),
            probe: None,
            outcome: None,
        };
        selection.next_host(now);
        selection
    }

    fn next_host(&mut self, now: Instant) {
        let Some(entry) = self.settings.hosts.get(self.done.len()) else {
            self.probe = None;
            self.outcome = Some(selection_outcome(&self.done));
            return;
        };
        let (host, port) = split_host(entry);
        let device = self.settings.device.clone();
        self.probe = Some(if self.settings.udp_echo {
            let settings = EchoSettings {
                host,
                port: port.unwrap_or(ECHO_PORT),
                family: self.settings.family,
                repetitions: self.settings.repetitions,
                timeout: self.settings.timeout,
                size: 24,
                dscp: 0,
                interval: Duration::ZERO,
                individual_results: false,
                device,
            };
            Probe::Udp(UdpEcho::start(settings, self.token, now, self.clock))
        } else {
            let settings = PingSettings {
                host,
                family: self.settings.family,
                repetitions: self.settings.repetitions,
                timeout: self.settings.timeout,
                size: 24,
                dscp: 0,
                device,
            };
            Probe::Icmp(Ping::start(settings, self.token, now))
        });
    }

    fn engine(&mut self) -> Option<&mut dyn Engine> {
        match self.probe.as_mut()? {
            Probe::Icmp(ping) => Some(ping),
            Probe::Udp(echo) => Some(echo),
        }
    }
}

impl Engine for ServerSelection {
    fn poll_at(&self) -> Option<Instant> {
        match self.probe.as_ref()? {
            Probe::Icmp(ping) => ping.poll_at(),
            Probe::Udp(echo) => echo.poll_at(),
        }
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        // Hosts that finish at once (unresolvable) move on within this call.
        for _ in 0..=MAX_HOSTS {
            let Some(engine) = self.engine() else {
                return;
            };
            engine.drive(registry, now);
            let finished = match self.probe.as_ref() {
                Some(Probe::Icmp(ping)) => {
                    ping.report().map(|r| (r.state, r.address, r.rtts.clone()))
                }
                Some(Probe::Udp(echo)) => echo.report().map(|r| (r.state, r.address, r.rtts())),
                None => None,
            };
            let Some((state, address, rtts)) = finished else {
                return;
            };
            if let Some(engine) = self.engine() {
                engine.close(registry);
            }
            let index = self.done.len();
            let host = self.settings.hosts.get(index).cloned().unwrap_or_default();
            self.done.push(HostResult {
                host,
                address,
                resolved: state != "Error_CannotResolveHostName",
                summary: summarize(&rtts),
            });
            self.next_host(now);
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn close(&mut self, registry: &Registry) {
        if let Some(engine) = self.engine() {
            engine.close(registry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_entries_with_and_without_ports() {
        assert_eq!(split_host(" a.test "), ("a.test".into(), None));
        assert_eq!(split_host("a.test:7007"), ("a.test".into(), Some(7007)));
        assert_eq!(split_host("[::1]:9"), ("::1".into(), Some(9)));
        assert_eq!(split_host("::1"), ("::1".into(), None));
        assert_eq!(split_host("[fd00::1]"), ("fd00::1".into(), None));
    }

    #[test]
    fn fastest_host_by_average() {
        let ms = Duration::from_millis;
        let result = |host: &str, rtts: &[Option<Duration>], resolved| HostResult {
            host: host.into(),
            address: None,
            resolved,
            summary: summarize(rtts),
        };
        let outcome = selection_outcome(&[
            result("slow", &[Some(ms(1)), Some(ms(9))], true),
            result("fast", &[Some(ms(3)), Some(ms(4)), None], true),
            result("dead", &[None, None], true),
        ]);
        assert_eq!(outcome.state, COMPLETE);
        let results: std::collections::BTreeMap<_, _> = outcome.results.into_iter().collect();
        assert_eq!(results["FastestHost"], "fast");
        assert_eq!(results["AverageResponseTime"], "3500");
        assert_eq!(results["MinimumResponseTime"], "3000");
        assert_eq!(
            selection_outcome(&[result("x", &[], false)]).state,
            "Error_CannotResolveHostName"
        );
        assert_eq!(
            selection_outcome(&[result("x", &[None], true)]).state,
            "Error_Other"
        );
    }
}
