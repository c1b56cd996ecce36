//! TraceRoute: ICMP echo probes of increasing hop limit; each hop is the router whose time-exceeded answers them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use super::ping::{is_unreachable, millis, HostStep, IcmpHost};
use super::resolve::Family;
use super::state::{Outcome, Test, COMPLETE, ERROR_INTERNAL};
use super::{number, source_address, Engine};
use crate::wire::icmp::IcmpMessage;

/// The TraceRoute inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    pub host: String,
    pub family: Family,
    pub tries: u32,
    pub timeout: Duration,
    pub size: usize,
    pub dscp: u8,
    pub max_hops: u8,
    pub device: Option<String>,
}

impl TraceSettings {
    pub fn from_test(test: &Test, device: Option<String>) -> TraceSettings {
        TraceSettings {
            host: test.input("Host").to_owned(),
            family: Family::from_protocol_version(test.input("ProtocolVersion")),
            tries: number(test, "NumberOfTries", 3).min(3),
            timeout: Duration::from_millis(number(test, "Timeout", 5000).into()),
            size: number(test, "DataBlockSize", 38) as usize,
            dscp: number(test, "DSCP", 0).min(63) as u8,
            max_hops: number(test, "MaxHopCount", 30).min(64) as u8,
            device,
        }
    }
}

/// One hop of the route: who answered (last), the ICMP code, a round trip per try (`None`: no answer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hop {
    pub address: Option<IpAddr>,
    pub code: u8,
    pub rtts: Vec<Option<Duration>>,
}

/// The TraceRoute result parameters of `hops` (the last one answered for the host).
pub fn hop_results(hops: &[Hop], used: Option<IpAddr>) -> Vec<(String, String)> {
    let mut out = vec![
        ("RouteHopsNumberOfEntries".into(), hops.len().to_string()),
        (
            "IPAddressUsed".into(),
            used.map(|a| a.to_string()).unwrap_or_default(),
        ),
    ];
    let last = hops.last().map(|h| super::ping::summarize(&h.rtts).avg);
    out.push((
        "ResponseTime".into(),
        last.map(millis).unwrap_or(0).to_string(),
    ));
    for (i, hop) in hops.iter().enumerate() {
        let n = i + 1;
        let address = hop.address.map(|a| a.to_string()).unwrap_or_default();
        let rtts: Vec<String> = hop
            .rtts
            .iter()
            .map(|r| r.map(millis).unwrap_or(0).to_string())
            .collect();
        out.push((format!("RouteHops.{n}.Host"), address.clone()));
        out.push((format!("RouteHops.{n}.HostAddress"), address));
        out.push((format!("RouteHops.{n}.ErrorCode"), hop.code.to_string()));
        out.push((format!("RouteHops.{n}.RTTimes"), rtts.join(",")));
    }
    out
}

/// A trace in progress.
pub struct Trace {
    settings: TraceSettings,
    host: IcmpHost,
    hops: Vec<Hop>,
    /// The trace ends after the current hop (the host answered, or a router said unreachable).
    last_hop: Option<&'static str>,
    seq: u16,
    waiting: Option<(Instant, Instant)>,
    wake: Option<Instant>,
    outcome: Option<Outcome>,
}

impl Trace {
    pub fn start(settings: TraceSettings, token: Token, now: Instant) -> Trace {
        Trace {
            host: IcmpHost::start(&settings.host, settings.family, token),
            settings,
            hops: Vec::new(),
            last_hop: None,
            seq: 0,
            waiting: None,
            wake: Some(now),
            outcome: None,
        }
    }

    fn finish(&mut self, registry: &Registry, state: &'static str) {
        self.close(registry);
        self.waiting = None;
        self.wake = None;
        let results = if self.hops.is_empty() && state != COMPLETE {
            Vec::new()
        } else {
            hop_results(&self.hops, self.host.address.and_then(source_address))
        };
        self.outcome = Some(Outcome { state, results });
    }

    /// Records the current probe's answer and sends the next probe (or ends).
    fn next_probe(&mut self, registry: &Registry, now: Instant) {
        let done_hop = self
            .hops
            .last()
            .is_none_or(|h| h.rtts.len() as u32 >= self.settings.tries);
        if done_hop {
            if let Some(state) = self.last_hop {
                return self.finish(registry, state);
            }
            if self.hops.len() >= usize::from(self.settings.max_hops) {
                return self.finish(registry, "Error_MaxHopCountExceeded");
            }
            self.hops.push(Hop::default());
        }
        let hop_limit = self.hops.len() as u8;
        let (Some(socket), Some(target)) = (self.host.socket.as_mut(), self.host.address) else {
            return self.finish(registry, ERROR_INTERNAL);
        };
        self.seq = self.seq.wrapping_add(1);
        match socket.send(target, self.seq, self.settings.size, Some(hop_limit)) {
            Ok(()) => {
                let deadline = now + self.settings.timeout;
                self.waiting = Some((now, deadline));
                self.wake = Some(deadline);
            }
            Err(e) if is_unreachable(&e) => self.finish(registry, "Error_NoRouteToHost"),
            Err(e) => {
                log::warn!("traceroute {target}: {e}");
                self.finish(registry, ERROR_INTERNAL);
            }
        }
    }
}

impl Engine for Trace {
    fn poll_at(&self) -> Option<Instant> {
        self.wake
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        if self.outcome.is_some() {
            return;
        }
        let device = self.settings.device.as_deref();
        match self
            .host
            .poll(registry, now, self.settings.dscp, device, "traceroute")
        {
            HostStep::Open => {}
            HostStep::Waiting(at) => {
                self.wake = Some(at);
                return;
            }
            HostStep::Opened => return self.next_probe(registry, now),
            HostStep::Failed(state) => return self.finish(registry, state),
        }
        let Some((sent, deadline)) = self.waiting else {
            return;
        };
        let messages = self.host.receive();
        let (seq, target) = (self.seq, self.host.address);
        let mut answered = None;
        for (from, message) in messages {
            let (s, code, reached) = match message {
                IcmpMessage::TimeExceeded { seq, code, .. } => (seq, code, None),
                IcmpMessage::EchoReply { seq, .. } if Some(from) == target => {
                    (seq, 0, Some(COMPLETE))
                }
                IcmpMessage::EchoReply { .. } => continue,
                IcmpMessage::Unreachable { seq, code, .. } => {
                    let state = if Some(from) == target {
                        COMPLETE
                    } else {
                        "Error_NoRouteToHost"
                    };
                    (seq, code, Some(state))
                }
            };
            if s == seq {
                answered = Some((from, code, reached));
                break;
            }
        }
        let Some(hop) = self.hops.last_mut() else {
            return self.finish(registry, ERROR_INTERNAL);
        };
        match answered {
            Some((from, code, reached)) => {
                hop.address = Some(from);
                hop.code = code;
                hop.rtts.push(Some(now.saturating_duration_since(sent)));
                if reached.is_some() {
                    self.last_hop = reached;
                }
            }
            None if now >= deadline => hop.rtts.push(None),
            None => return,
        }
        self.waiting = None;
        self.next_probe(registry, now);
    }

    fn outcome(&mut self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn close(&mut self, registry: &Registry) {
        self.host.close(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_table_lists_each_hop_with_its_round_trips() {
        let ms = Duration::from_millis;
        let hops = vec![
            Hop {
                address: Some("10.0.1.1".parse().expect("ip")),
                code: 0,
                rtts: vec![Some(ms(1)), None, Some(ms(3))],
            },
            Hop {
                address: Some("10.0.2.2".parse().expect("ip")),
                code: 0,
                rtts: vec![Some(ms(2)), Some(ms(4))],
            },
        ];
        let results: std::collections::BTreeMap<_, _> =
            hop_results(&hops, None).into_iter().collect();
        assert_eq!(results["RouteHopsNumberOfEntries"], "2");
        assert_eq!(results["RouteHops.1.HostAddress"], "10.0.1.1");
        assert_eq!(results["RouteHops.1.RTTimes"], "1,0,3");
        assert_eq!(results["RouteHops.2.Host"], "10.0.2.2");
        assert_eq!(results["ResponseTime"], "3");
        assert_eq!(results["RouteHops.2.ErrorCode"], "0");
    }
}
