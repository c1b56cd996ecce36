//! `Device.DNS.Relay.Forwarding.{i}`: the upstream servers dnsmasq forwards to, its own `server` list and the servers netifd learnt on each interface.
//!
//! Read only: the static servers come first (`dhcp.@dnsmasq[0].server`,
//! plain addresses only; `/domain/address` entries are per-domain rules, not
//! forwarders), then, unless dnsmasq is told `noresolv`, each interface's
//! servers from the last `network.interface dump`, in interface name order.

use std::net::IpAddr;

use crate::datamodel::config::SharedUci;
use crate::datamodel::provider::Provider;
use crate::datamodel::runtime::SharedRuntime;

/// At most this many forwarders are listed.
const MAX_FORWARDERS: usize = 64;

/// One forwarder: its address, TR-181 `Type`, and the kernel device it was learnt on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Forwarder {
    server: IpAddr,
    kind: &'static str,
    device: Option<String>,
}

/// The address of a dnsmasq `server` entry (`addr`, `addr#port`,
/// `addr@interface`); `None` for per-domain rules and anything else.
fn server_address(entry: &str) -> Option<IpAddr> {
    if entry.starts_with('/') {
        return None;
    }
    let address = entry.split(['#', '@']).next()?;
    address.parse().ok()
}

/// TR-181 `Forwarding.{i}.Type` for the protocol that learnt a server.
fn kind_of(proto: &str) -> &'static str {
    match proto {
        "dhcp" => "DHCPv4",
        "dhcpv6" => "DHCPv6",
        "pppoe" | "pppoa" | "pptp" | "l2tp" | "ppp" => "IPCP",
        _ => "Static",
    }
}

pub struct DnsRelayProvider {
    uci: SharedUci,
    state: SharedRuntime,
}

impl DnsRelayProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> DnsRelayProvider {
        DnsRelayProvider { uci, state }
    }

    fn forwarders(&self) -> Vec<Forwarder> {
        let uci = self.uci.borrow();
        let dnsmasq = uci
            .sections("dhcp")
            .into_iter()
            .find(|s| s.section_type == "dnsmasq");
        let option = |name: &str| {
            dnsmasq
                .as_ref()
                .and_then(|s| uci.get("dhcp", &s.name, name))
        };
        let mut list: Vec<Forwarder> = option("server")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(server_address)
            .map(|server| Forwarder {
                server,
                kind: "Static",
                device: None,
            })
            .collect();
        let noresolv =
            option("noresolv").is_some_and(|v| matches!(v.as_str(), "1" | "on" | "yes" | "true"));
        if !noresolv {
            let state = self.state.borrow();
            for (_, interface) in state.net.interfaces() {
                for server in interface.dns.iter().filter_map(|d| d.parse().ok()) {
                    list.push(Forwarder {
                        server,
                        kind: kind_of(&interface.proto),
                        device: interface.l3_device.clone(),
                    });
                }
            }
        }
        list.truncate(MAX_FORWARDERS);
        list
    }
}

impl Provider for DnsRelayProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, rest) = path.split_once(".DNS.Relay.")?;
        let list = self.forwarders();
        if rest == "ForwardNumberOfEntries" {
            return Some(list.len().to_string());
        }
        let (number, field) = rest.strip_prefix("Forwarding.")?.split_once('.')?;
        let number: usize = number.parse().ok()?;
        let forwarder = list.get(number.checked_sub(1)?)?;
        Some(match field {
            "Enable" => "1".to_owned(),
            "Status" => "Enabled".to_owned(),
            "Alias" => format!("cpe-{number}"),
            "DNSServer" => forwarder.server.to_string(),
            "Type" => forwarder.kind.to_owned(),
            // IP.Interface instances are kernel ifindexes.
            "Interface" => forwarder
                .device
                .as_ref()
                .and_then(|d| std::fs::read_to_string(format!("/sys/class/net/{d}/ifindex")).ok())
                .map(|i| format!("Device.IP.Interface.{}", i.trim()))
                .unwrap_or_default(),
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if !table.ends_with(".DNS.Relay.Forwarding.") {
            return Vec::new();
        }
        (1..=self.forwarders().len() as u32).collect()
    }
}

/// The paths the provider serves.
pub const PATHS: [&str; 2] = [
    "Device.DNS.Relay.Forwarding.",
    "Device.DNS.Relay.ForwardNumberOfEntries",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsmasq_server_entries_are_read() {
        assert_eq!(server_address("192.0.2.53"), "192.0.2.53".parse().ok());
        assert_eq!(server_address("192.0.2.53#5353"), "192.0.2.53".parse().ok());
        assert_eq!(
            server_address("2001:db8::53@wan"),
            "2001:db8::53".parse().ok()
        );
        assert_eq!(server_address("/example.test/192.0.2.54"), None);
        assert_eq!(server_address("not-an-address"), None);
        assert_eq!(kind_of("pppoe"), "IPCP");
        assert_eq!(kind_of("dhcp"), "DHCPv4");
    }
}
