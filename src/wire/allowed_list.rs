//! Source filters of the reflectors: TR-181 IPAllowedList (addresses and CIDR prefixes) and PortAllowedList (ports and ranges).

use std::net::IpAddr;

/// One IPAllowedList entry: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPrefix {
    pub address: IpAddr,
    pub bits: u8,
}

impl IpPrefix {
    /// `1.2.3.4`, `1.2.0.0/22`, `2001:db8::/64`.
    pub fn parse(text: &str) -> Option<IpPrefix> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let address: IpAddr = addr.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => b.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (bits <= max).then_some(IpPrefix { address, bits })
    }

    /// Whether `ip` lies in the prefix (an IPv4-mapped IPv6 source counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One PortAllowedList entry: `N` or `A-B`, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn parse(text: &str) -> Option<PortRange> {
        let number = |t: &str| -> Option<u16> {
            (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(text)?;
                (n, n)
            }
        };
        (first <= last).then_some(PortRange { first, last })
    }
}

/// The filters of one reflector; empty lists allow everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedSources {
    pub addresses: Vec<IpPrefix>,
    pub ports: Vec<PortRange>,
}

/// A list entry that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEntry(pub String);

impl std::fmt::Display for BadEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid allowed-list entry '{}'", self.0)
    }
}

impl std::error::Error for BadEntry {}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

impl AllowedSources {
    /// Parses the comma-separated TR-181 lists (UCI lists joined with spaces work too).
    pub fn parse(ip_list: &str, port_list: &str) -> Result<AllowedSources, BadEntry> {
        let addresses = entries(ip_list)
            .map(|e| IpPrefix::parse(e).ok_or_else(|| BadEntry(e.to_owned())))
            .collect::<Result<_, _>>()?;
        let ports = entries(port_list)
            .map(|e| PortRange::parse(e).ok_or_else(|| BadEntry(e.to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(AllowedSources { addresses, ports })
    }

    /// Whether a packet from `ip`:`port` may be answered.
    pub fn allows(&self, ip: IpAddr, port: u16) -> bool {
        let ip_ok = self.addresses.is_empty() || self.addresses.iter().any(|p| p.contains(ip));
        let port_ok =
            self.ports.is_empty() || self.ports.iter().any(|r| r.first <= port && port <= r.last);
        ip_ok && port_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn prefixes_match_as_tr181_describes() {
        let net = IpPrefix::parse("1.2.0.0/22").expect("prefix");
        assert!(net.contains(ip("1.2.3.255")));
        assert!(!net.contains(ip("1.2.4.0")));
        assert!(net.contains(ip("::ffff:1.2.1.1")));
        let host = IpPrefix::parse("1.2.3.4").expect("host");
        assert!(host.contains(ip("1.2.3.4")) && !host.contains(ip("1.2.3.5")));
        let any = IpPrefix::parse("0.0.0.0/0").expect("any");
        assert!(any.contains(ip("9.9.9.9")) && !any.contains(ip("::1")));
        let v6 = IpPrefix::parse("2001:edff:fe6a:f76::/64").expect("v6");
        assert!(v6.contains(ip("2001:edff:fe6a:f76:ffff:ffff:ffff:ffff")));
        assert!(!v6.contains(ip("2001:edff:fe6a:f77::")));
        for bad in [
            "1.2.3.4/33",
            "::/129",
            "1.2.3/8",
            "1.2.3.4/",
            "1.2.3.4/+1",
            "host",
        ] {
            assert_eq!(IpPrefix::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn port_ranges_are_inclusive() {
        assert_eq!(
            PortRange::parse("2-40"),
            Some(PortRange { first: 2, last: 40 })
        );
        assert_eq!(PortRange::parse("3"), Some(PortRange { first: 3, last: 3 }));
        for bad in ["40-2", "-1", "1-", "65536", "a", "1-2-3"] {
            assert_eq!(PortRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_lists_allow_everything_and_bad_entries_are_named() {
        let all = AllowedSources::parse("", "").expect("empty");
        assert!(all.allows(ip("203.0.113.9"), 1));
        let some = AllowedSources::parse("127.0.0.1,10.0.0.0/8", "2000-3000, 5000").expect("lists");
        assert!(some.allows(ip("10.1.2.3"), 2500));
        assert!(some.allows(ip("127.0.0.1"), 5000));
        assert!(!some.allows(ip("127.0.0.2"), 5000));
        assert!(!some.allows(ip("10.1.2.3"), 4000));
        assert_eq!(
            AllowedSources::parse("127.0.0.1,nope", ""),
            Err(BadEntry("nope".into()))
        );
        assert_eq!(
            AllowedSources::parse("", "1-x"),
            Err(BadEntry("1-x".into()))
        );
    }
}
