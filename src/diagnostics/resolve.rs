//! Host names of diagnostics resolved off the loop: literals at once, names on a short-lived worker thread whose answer is polled.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often an engine looks for the worker's answer.
pub const LOOKUP_POLL: Duration = Duration::from_millis(5);

/// Which address family a test may use (`ProtocolVersion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    /// `Any`, `IPv4` or `IPv6`; anything else counts as `Any`.
    pub fn from_protocol_version(value: &str) -> Family {
        match value {
            "IPv4" => Family::V4,
            "IPv6" => Family::V6,
            _ => Family::Any,
        }
    }

    /// `addresses` this family may use, IPv4 first.
    pub fn filter(self, mut addresses: Vec<IpAddr>) -> Vec<IpAddr> {
        addresses.retain(|a| match self {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        });
        addresses.sort_by_key(IpAddr::is_ipv6);
        addresses.dedup();
        addresses
    }
}

type Answer = Result<Vec<IpAddr>, String>;

/// A name being resolved.
pub struct Lookup {
    answer: Arc<Mutex<Option<Answer>>>,
}

impl Lookup {
    /// Starts resolving `host` (an address literal answers at once).
    pub fn start(host: &str, family: Family) -> Lookup {
        let answer = Arc::new(Mutex::new(None));
        let host = host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Lookup::answered(Err("empty host name".into()));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Lookup::answered(usable(family, vec![ip], &host));
        }
        let slot = answer.clone();
        let spawned = std::thread::Builder::new()
            .name("icwmpd-dns".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let result = match (host.as_str(), 0u16).to_socket_addrs() {
                    Ok(addrs) => usable(family, addrs.map(|a| a.ip()).collect(), &host),
                    Err(e) => Err(format!("{host}: {e}")),
                };
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(result);
                }
            });
        match spawned {
            Ok(_) => Lookup { answer },
            Err(e) => Lookup::answered(Err(format!("cannot start the resolver: {e}"))),
        }
    }

    fn answered(answer: Answer) -> Lookup {
        Lookup {
            answer: Arc::new(Mutex::new(Some(answer))),
        }
    }

    /// The usable addresses (IPv4 first), once known.
    pub fn take(&mut self) -> Option<Answer> {
        self.answer.lock().ok()?.take()
    }
}

/// Where a diagnostic's host-name lookup stands after [`poll`].
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// No answer yet: look again at this instant.
    Waiting(Instant),
    /// Answered (the lookup is dropped): the preferred address, or `None`
    /// when there is none to use.
    Done(Option<IpAddr>),
}

/// Polls the lookup in `slot`, if one is pending; an error is logged at
/// info level as `{failure} {error}`.
pub fn poll(slot: &mut Option<Lookup>, now: Instant, failure: &str) -> Option<Resolution> {
    let Some(answer) = slot.as_mut()?.take() else {
        return Some(Resolution::Waiting(now + LOOKUP_POLL));
    };
    *slot = None;
    Some(Resolution::Done(match answer {
        Ok(addresses) => addresses.first().copied(),
        Err(e) => {
            log::info!("{failure} {e}");
            None
        }
    }))
}

fn usable(family: Family, addresses: Vec<IpAddr>, host: &str) -> Answer {
    let addresses = family.filter(addresses);
    if addresses.is_empty() {
        Err(format!("{host}: no usable address"))
    } else {
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_answer_at_once_and_family_filters() {
        let mut lookup = Lookup::start("127.0.0.1", Family::Any);
        assert_eq!(
            lookup.take(),
            Some(Ok(vec!["127.0.0.1".parse().expect("ip")]))
        );
        assert!(Lookup::start("::1", Family::V4)
            .take()
            .is_some_and(|a| a.is_err()));
        assert!(Lookup::start("[::1]", Family::V6)
            .take()
            .is_some_and(|a| a.is_ok()));
        assert!(Lookup::start("", Family::Any)
            .take()
            .is_some_and(|a| a.is_err()));
        let mixed = vec!["::1".parse().expect("v6"), "10.0.0.1".parse().expect("v4")];
        assert_eq!(
            Family::Any.filter(mixed)[0],
            "10.0.0.1".parse::<IpAddr>().expect("v4")
        );
        assert_eq!(Family::from_protocol_version("IPv6"), Family::V6);
    }

    #[test]
    fn poll_hands_over_the_first_address_and_drops_the_lookup() {
        let now = Instant::now();
        assert_eq!(poll(&mut None, now, "test:"), None);
        let mut slot = Some(Lookup::start("127.0.0.1", Family::Any));
        assert_eq!(
            poll(&mut slot, now, "test:"),
            Some(Resolution::Done(Some("127.0.0.1".parse().expect("ip"))))
        );
        assert!(slot.is_none());
        let mut failed = Some(Lookup::start("::1", Family::V4));
        assert_eq!(
            poll(&mut failed, now, "test:"),
            Some(Resolution::Done(None))
        );
        assert!(failed.is_none());
        let mut pending = Some(Lookup {
            answer: Arc::new(Mutex::new(None)),
        });
        assert_eq!(
            poll(&mut pending, now, "test:"),
            Some(Resolution::Waiting(now + LOOKUP_POLL))
        );
        assert!(pending.is_some());
    }
}
