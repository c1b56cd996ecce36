//! NSLookup: our own A and AAAA queries over UDP to the configured DNS server or the system's (`/etc/resolv.conf`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::resolve::{self, Family, Lookup, Resolution};
use super::state::{Outcome, Test, COMPLETE, ERROR_INTERNAL};
use super::{number, Engine};
use crate::wire::dns::{self, Response, RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA};

/// Where the system's resolvers are listed.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Addresses reported per result (TR-181 lists at most 10).
const MAX_ADDRESSES: usize = 10;
/// Repetitions at most.
const MAX_REPETITIONS: u32 = 100;

/// The first `nameserver` of a resolv.conf text.
pub fn first_nameserver(text: &str) -> Option<IpAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let address = words.next()?;
        // A scoped IPv6 address (fe80::1%eth0) is used without its scope.
        address.split('%').next()?.parse().ok()
    })
}

/// The NSLookup inputs, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupSettings {
    pub host_name: String,
    /// The server's name or address; empty: the system's.
    pub server: String,
    pub timeout: Duration,
    pub repetitions: u32,
    pub device: Option<String>,
}

impl LookupSettings {
    pub fn from_test(test: &Test, device: Option<String>) -> LookupSettings {
        LookupSettings {
            host_name: test.input("HostName").trim().to_owned(),
            server: test.input("DNSServer").trim().to_owned(),
            timeout: Duration::from_millis(number(test, "Timeout", 5000).into()),
            repetitions: number(test, "NumberOfRepetitions", 1).min(MAX_REPETITIONS),
            device,
        }
    }
}

/// What one repetition found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub status: &'static str,
    pub authoritative: bool,
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub response_time: Duration,
}

/// Folds the answers to the A and AAAA questions of one repetition into its result.
/// `answers` holds what arrived, with the time it took; `refused`: the server's port was closed.
pub fn attempt_of(answers: &[(Response, Duration)], refused: bool) -> Attempt {
    let mut attempt = Attempt {
        status: "Error_Timeout",
        authoritative: false,
        name: String::new(),
        addresses: Vec::new(),
        response_time: Duration::ZERO,
    };
    if answers.is_empty() {
        if refused {
            attempt.status = "Error_DNSServerNotAvailable";
        }
        return attempt;
    }
    attempt.response_time = answers.iter().map(|(_, t)| *t).min().unwrap_or_default();
    for (response, _) in answers {
        attempt.authoritative |= response.authoritative;
        if attempt.name.is_empty() && response.rcode == 0 {
            attempt.name = response.canonical_name();
        }
        for address in response.addresses() {
            if attempt.addresses.len() < MAX_ADDRESSES && !attempt.addresses.contains(&address) {
                attempt.addresses.push(address);
            }
        }
    }
    attempt.status = if !attempt.addresses.is_empty() {
        "Success"
    } else if answers
        .iter()
        .all(|(r, _)| r.rcode == 0 || r.rcode == RCODE_NXDOMAIN)
    {
        "Error_HostNameNotResolved"
    } else {
        "Error_Other"
    };
    attempt
}

/// The NSLookup result parameters.
pub fn lookup_results(attempts: &[Attempt], server: Option<IpAddr>) -> Vec<(String, String)> {
    let success = attempts.iter().filter(|a| a.status == "Success").count();
    let mut out = vec![
        ("SuccessCount".into(), success.to_string()),
        ("ResultNumberOfEntries".into(), attempts.len().to_string()),
    ];
    let server = server.map(|s| s.to_string()).unwrap_or_default();
    for (i, a) in attempts.iter().enumerate() {
        let n = i + 1;
        let answer_type = match (a.status, a.authoritative) {
            ("Success", true) => "Authoritative",
            ("Success", false) => "NonAuthoritative",
            _ => "None",
        };
        let addresses: Vec<String> = a.addresses.iter().map(IpAddr::to_string).collect();
        out.push((format!("Result.{n}.Status"), a.status.to_owned()));
        out.push((format!("Result.{n}.AnswerType"), answer_type.to_owned()));
        out.push((format!("Result.{n}.HostNameReturned"), a.name.clone()));
        out.push((format!("Result.{n}.IPAddresses"), addresses.join(",")));
        out.push((format!("Result.{n}.DNSServerIP"), server.clone()));
        out.push((
            format!("Result.{n}.ResponseTime"),
            super::ping::millis(a.response_time).to_string(),
        ));
    }
    out
}

/// The repetition in flight.
struct Pending {
    ids: [u16; 2],
    sent: Instant,
    deadline: Instant,
    answers: Vec<(Response, Duration)>,
    refused: bool,
}

/// An NSLookup in progress.
pub struct NsLookup {
    settings: LookupSettings,
    token: Token,
    lookup: Option<Lookup>,
    server: Option<IpAddr>,
    socket: Option<UdpSocket>,
    attempts: Vec<Attempt>,
    pending: Option<Pending>,
    next_id: u16,
    wake: Option<Instant>,
    outcome: Option<Outcome>,
}

impl NsLookup {
    /// Starts a lookup; `system_server` is the resolver to use when DNSServer is empty.
    pub fn start(
        settings: LookupSettings,
        system_server: Option<IpAddr>,
        token: Token,
        now: Instant,
    ) -> NsLookup {
        let mut engine = NsLookup {
            lookup: None,
            server: None,
            socket: None,
            attempts: Vec::new(),
            pending: None,
            // Only used if the system RNG fails.
            next_id: std::process::id() as u16,
            wake: Some(now),
            outcome: None,
            token,
            settings,
        };
        if engine.settings.server.is_empty() {
            engine.server = system_server;
            if system_server.is_none() {
                engine.outcome = Some(Outcome::error("Error_DNSServerNotResolved"));
            }
        } else {
            engine.lookup = Some(Lookup::start(&engine.settings.server, Family::Any));
        }
        engine
    }

    fn finish(&mut self, registry: &Registry, outcome: Outcome) {
        self.close(registry);
        self.wake = None;
        self.pending = None;
        self.outcome = Some(outcome);
    }

    fn open(&mut self, registry: &Registry, server: IpAddr) -> io::Result<()> {
        let bind: SocketAddr = if server.is_ipv6() {
            SocketAddr::new(IpAddr::from([0u16; 8]), 0)
        } else {
            SocketAddr::new(IpAddr::from([0u8; 4]), 0)
        };
        let mut socket = UdpSocket::bind(bind)?;
        if let Some(device) = self.settings.device.as_deref() {
            crate::sys::bind_to_device(socket.as_raw_fd(), device)?;
        }
        socket.connect(SocketAddr::new(server, 53))?;
        registry.register(&mut socket, self.token, Interest::READABLE)?;
        self.socket = Some(socket);
        Ok(())
    }

    fn send_next(&mut self, registry: &Registry, now: Instant) {
        if self.attempts.len() as u32 >= self.settings.repetitions {
            let results = lookup_results(&self.attempts, self.server);
            return self.finish(
                registry,
                Outcome {
                    state: COMPLETE,
                    results,
                },
            );
        }
        let Some(socket) = self.socket.as_ref() else {
            return self.finish(registry, Outcome::error(ERROR_INTERNAL));
        };
        let mut ids = [0u16; 2];
        let mut refused = false;
        let mut first_id = 0;
        for (slot, qtype) in ids.iter_mut().zip([TYPE_A, TYPE_AAAA]) {
            // A fresh random id per query, so an off-path spoofer has to guess it.
            self.next_id = self.next_id.wrapping_add(1);
            let id = crate::transport::random16()
                .map_or(self.next_id, |b| u16::from_le_bytes([b[0], b[1]]));
            *slot = if qtype == TYPE_AAAA && id == first_id {
                id ^ 1
            } else {
                id
            };
            first_id = *slot;
            let query = match dns::query(*slot, &self.settings.host_name, qtype) {
                Ok(query) => query,
                Err(_) => {
                    // An invalid name cannot resolve: every repetition says so.
                    let attempt = attempt_of(&[], false);
                    self.attempts.push(Attempt {
                        status: "Error_HostNameNotResolved",
                        ..attempt
                    });
                    return self.send_next(registry, now);
                }
            };
            match socket.send(&query) {
                // The port-unreachable of an earlier query surfaces here.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused = true,
                Err(e) => log::warn!("nslookup: {e}"),
                Ok(_) => {}
            }
        }
        let deadline = now + self.settings.timeout;
        self.pending = Some(Pending {
            ids,
            sent: now,
            deadline,
            answers: Vec::new(),
            refused,
        });
        self.wake = Some(deadline);
    }

    fn receive(&mut self, now: Instant) {
        let (Some(socket), Some(pending)) = (self.socket.as_ref(), self.pending.as_mut()) else {
            return;
        };
        let mut buffer = [0u8; 1500];
        for _ in 0..64 {
            match socket.recv(&mut buffer) {
                Ok(len) => {
                    let Ok(response) = dns::parse_response(buffer.get(..len).unwrap_or(&[])) else {
                        continue;
                    };
                    let index = pending.ids.iter().position(|id| *id == response.id);
                    let fresh = index.is_some()
                        && !pending.answers.iter().any(|(r, _)| r.id == response.id);
                    if fresh {
                        pending
                            .answers
                            .push((response, now.saturating_duration_since(pending.sent)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => pending.refused = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

impl Engine for NsLookup {
    fn poll_at(&self) -> Option<Instant> {
        self.wake
    }

    fn drive(&mut self, registry: &Registry, now: Instant) {
        if self.outcome.is_some() {
            return;
        }
        match resolve::poll(&mut self.lookup, now, "nslookup: DNS server") {
            None => {}
            Some(Resolution::Waiting(at)) => {
                self.wake = Some(at);
                return;
            }
            // No server: finished below with Error_DNSServerNotResolved.
            Some(Resolution::Done(server)) => self.server = server,
        }
        if self.socket.is_none() {
            let Some(server) = self.server else {
                return self.finish(registry, Outcome::error("Error_DNSServerNotResolved"));
            };
            if let Err(e) = self.open(registry, server) {
                log::warn!("nslookup: socket to {server}: {e}");
                return self.finish(registry, Outcome::error(ERROR_INTERNAL));
            }
            return self.send_next(registry, now);
        }
        self.receive(now);
        let Some(pending) = self.pending.as_ref() else {
            return;
        };
        let complete = pending.answers.len() == pending.ids.len();
        if complete || pending.refused || now >= pending.deadline {
            let attempt = attempt_of(&pending.answers, pending.refused);
            self.attempts.push(attempt);
            self.pending = None;
            self.send_next(registry, now);
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        self.outcome.clone()
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
    use crate::wire::dns::{Answer, AnswerData};

    fn response(id: u16, rcode: u8, aa: bool, addresses: &[&str]) -> Response {
        Response {
            id,
            authoritative: aa,
            truncated: false,
            rcode,
            question: Some(("h.test".into(), TYPE_A)),
            answers: addresses
                .iter()
                .map(|a| Answer {
                    name: "h.test".into(),
                    data: AnswerData::Address(a.parse().expect("ip")),
                })
                .collect(),
        }
    }

    #[test]
    fn nameserver_of_resolv_conf() {
        let text = "# generated\nsearch lan\nnameserver fe80::1%eth0\nnameserver 10.0.0.1\n";
        assert_eq!(first_nameserver(text), Some("fe80::1".parse().expect("ip")));
        assert_eq!(first_nameserver("nameserver bogus\n"), None);
        assert_eq!(first_nameserver(""), None);
    }

    #[test]
    fn attempts_fold_both_answers() {
        let ms = Duration::from_millis;
        let a = attempt_of(
            &[
                (response(1, 0, true, &["10.0.0.5"]), ms(3)),
                (response(2, 0, true, &["::5"]), ms(2)),
            ],
            false,
        );
        assert_eq!(a.status, "Success");
        assert_eq!(a.addresses.len(), 2);
        assert_eq!(a.response_time, ms(2));
        assert_eq!(a.name, "h.test");
        let nx = attempt_of(&[(response(1, RCODE_NXDOMAIN, false, &[]), ms(1))], false);
        assert_eq!(nx.status, "Error_HostNameNotResolved");
        let failed = attempt_of(&[(response(1, 2, false, &[]), ms(1))], false);
        assert_eq!(failed.status, "Error_Other");
        assert_eq!(attempt_of(&[], false).status, "Error_Timeout");
        assert_eq!(attempt_of(&[], true).status, "Error_DNSServerNotAvailable");
    }

    #[test]
    fn results_number_each_attempt() {
        let ok = attempt_of(
            &[(
                response(1, 0, false, &["10.0.0.5", "10.0.0.6"]),
                Duration::from_millis(4),
            )],
            false,
        );
        let results: std::collections::BTreeMap<_, _> = lookup_results(
            &[ok, attempt_of(&[], false)],
            Some("127.0.0.1".parse().expect("ip")),
        )
        .into_iter()
        .collect();
        assert_eq!(results["SuccessCount"], "1");
        assert_eq!(results["ResultNumberOfEntries"], "2");
        assert_eq!(results["Result.1.IPAddresses"], "10.0.0.5,10.0.0.6");
        assert_eq!(results["Result.1.AnswerType"], "NonAuthoritative");
        assert_eq!(results["Result.1.ResponseTime"], "4");
        assert_eq!(results["Result.2.Status"], "Error_Timeout");
        assert_eq!(results["Result.2.AnswerType"], "None");
        assert_eq!(results["Result.2.DNSServerIP"], "127.0.0.1");
    }
}
