//! netifd's view of the logical interfaces (`network.interface dump`): addresses, gateways and DNS servers of the WAN links, for PPP, DHCPv4 client and TR-098 WAN connection parameters.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::datamodel::config::SharedUci;
use crate::datamodel::path::instance_below;
use crate::datamodel::provider::Provider;
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::section_numbers_where;
use crate::vecmap::VecMap;
use crate::wire::blobmsg::Value;

/// At most this many interfaces are kept from one dump.
const MAX_INTERFACES: usize = 64;

/// One logical interface as netifd reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetInterface {
    pub up: bool,
    /// First IPv4 address and its prefix length.
    pub ipv4: Option<(Ipv4Addr, u8)>,
    /// Next hop of the default route.
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<String>,
    /// The code of the last error netifd reports for it (`errors[-1].code`),
    /// for PPP the pppd exit status name `ppp.sh` gives it.
    pub error: Option<String>,
    /// Its protocol (`dhcp`, `pppoe`, `static`…) and layer 3 device.
    pub proto: String,
    pub l3_device: Option<String>,
    /// IPv6 prefixes delegated to it (`ipv6-prefix`).
    pub delegated_prefixes: Vec<TimedAddress>,
    /// IPv6 prefixes assigned to it from a delegated or ULA prefix (`ipv6-prefix-assignment`).
    pub assigned_prefixes: Vec<TimedAddress>,
}

/// An IPv6 address or prefix with the lifetimes a ubus reply gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedAddress {
    pub address: Ipv6Addr,
    /// The prefix length (absent for a single address).
    pub length: Option<u8>,
    /// Seconds left when the reply came (absent: infinite).
    pub preferred: Option<u32>,
    pub valid: Option<u32>,
}

/// At most this many addresses or prefixes are kept from one list.
const MAX_TIMED: usize = 16;

/// The entries of array `list` of a reply entry: `address`, and the members
/// `keys` names for the prefix length and the preferred and valid
/// lifetimes (seconds; -1, u32 max, is infinite).
pub fn timed_addresses(entry: &Value, list: &str, keys: [&str; 3]) -> Vec<TimedAddress> {
    let [length, preferred, valid] = keys;
    let number = |a: &Value, key: &str| a.get(key).and_then(Value::as_i64);
    let lifetime = |a: &Value, key: &str| {
        number(a, key)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v != u32::MAX)
    };
    entry
        .get(list)
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|a| {
            Some(TimedAddress {
                address: a.get("address")?.as_str()?.parse().ok()?,
                length: number(a, length)
                    .and_then(|l| u8::try_from(l).ok())
                    .filter(|l| *l <= 128),
                preferred: lifetime(a, preferred),
                valid: lifetime(a, valid),
            })
        })
        .take(MAX_TIMED)
        .collect()
}

/// How netifd names a prefix's length and lifetimes.
const NETIFD_KEYS: [&str; 3] = ["mask", "preferred", "valid"];

/// The interfaces of the last dump, by UCI section name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetState {
    interfaces: VecMap<String, NetInterface>,
}

impl NetState {
    /// Takes `network.interface dump`'s reply (`{"interface": [ … ]}`).
    pub fn on_dump(&mut self, reply: &[(String, Value)]) {
        self.interfaces.clear();
        let list = reply
            .iter()
            .find(|(k, _)| k == "interface")
            .and_then(|(_, v)| v.as_array())
            .unwrap_or(&[]);
        for entry in list.iter().take(MAX_INTERFACES) {
            let Some(name) = entry.get("interface").and_then(Value::as_str) else {
                continue;
            };
            let ipv4 = entry
                .get("ipv4-address")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|a| {
                    let address = a.get("address")?.as_str()?.parse().ok()?;
                    let mask = u8::try_from(a.get("mask")?.as_i64()?).ok()?;
                    Some((address, mask))
                });
            let gateway = entry
                .get("route")
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .iter()
                .find(|r| {
                    r.get("target").and_then(Value::as_str) == Some("0.0.0.0")
                        && r.get("mask").and_then(Value::as_i64) == Some(0)
                })
                .and_then(|r| r.get("nexthop")?.as_str()?.parse().ok());
            let dns = entry
                .get("dns-server")
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect();
            let error = entry
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.last())
                .and_then(|e| e.get("code")?.as_str().map(str::to_owned));
            self.interfaces.insert(
                name.to_owned(),
                NetInterface {
                    up: entry.get("up").and_then(Value::as_bool).unwrap_or(false),
                    ipv4,
                    gateway,
                    dns,
                    error,
                    proto: entry
                        .get("proto")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    l3_device: entry
                        .get("l3_device")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    delegated_prefixes: timed_addresses(entry, "ipv6-prefix", NETIFD_KEYS),
                    assigned_prefixes: timed_addresses(
                        entry,
                        "ipv6-prefix-assignment",
                        NETIFD_KEYS,
                    ),
                },
            );
        }
    }

    pub fn interface(&self, name: &str) -> Option<&NetInterface> {
        self.interfaces.get(name)
    }

    /// Every interface of the dump, by name.
    pub fn interfaces(&self) -> impl Iterator<Item = (&String, &NetInterface)> {
        self.interfaces.iter()
    }
}

fn mask_of(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// TR-181 `PPP.Interface.{i}.LastConnectionError` for the error code
/// netifd holds for a PPP link (the names of pppd's exit statuses).
pub fn ppp_connection_error(code: Option<&str>) -> &'static str {
    match code {
        None => "ERROR_NONE",
        Some("PEER_AUTH_FAILED" | "AUTH_TOPEER_FAILED" | "CNID_AUTH_FAILED") => {
            "ERROR_AUTHENTICATION_FAILURE"
        }
        Some("USER_REQUEST") => "ERROR_USER_DISCONNECT",
        Some("IDLE_TIMEOUT") => "ERROR_IDLE_DISCONNECT",
        Some("CONNECT_TIME" | "TRAFFIC_LIMIT") => "ERROR_FORCED_DISCONNECT",
        Some("PEER_DEAD") => "ERROR_ISP_TIME_OUT",
        Some("HANGUP") => "ERROR_ISP_DISCONNECT",
        Some("CONNECT_FAILED") => "ERROR_NO_CARRIER",
        Some("NEGOTIATION_FAILED") => "ERROR_IP_CONFIGURATION",
        Some(_) => "ERROR_UNKNOWN",
    }
}

/// Serves the run-time parameters of PPP interfaces, DHCPv4 clients and
/// TR-098's WANPPPConnection from the last dump; the instances are the
/// uci-map's (`network.interface` sections of those protocols).
pub struct NetRuntimeProvider {
    uci: SharedUci,
    state: SharedRuntime,
}

/// The PPP protocols of the uci-map's PPP tables.
const PPP_PROTOCOLS: [&str; 4] = ["pppoe", "pppoa", "pptp", "l2tp"];

impl NetRuntimeProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> NetRuntimeProvider {
        NetRuntimeProvider { uci, state }
    }

    fn interface(&self, protocols: &[&str], number: u32) -> Option<NetInterface> {
        let section = {
            let uci = self.uci.borrow();
            section_numbers_where(&*uci, "network", "interface", "proto", protocols)
                .into_iter()
                .find(|(n, _)| *n == number)?
                .1
        };
        Some(
            self.state
                .borrow()
                .net
                .interface(&section)
                .cloned()
                .unwrap_or_default(),
        )
    }
}

impl Provider for NetRuntimeProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let address = |i: &NetInterface| i.ipv4.map_or_else(String::new, |(a, _)| a.to_string());
        let connected = |i: &NetInterface| {
            if i.up && i.ipv4.is_some() {
                "Connected"
            } else {
                "Disconnected"
            }
            .to_owned()
        };
        if let Some((n, field)) = instance_below(path, ".PPP.Interface.") {
            let i = self.interface(&PPP_PROTOCOLS, n)?;
            return Some(match field {
                "Status" => if i.up { "Up" } else { "Down" }.to_owned(),
                "ConnectionStatus" => connected(&i),
                "IPCP.LocalIPAddress" => address(&i),
                "IPCP.RemoteIPAddress" => i.gateway.map_or_else(String::new, |g| g.to_string()),
                "IPCP.DNSServers" => i.dns.join(","),
                "LastConnectionError" => ppp_connection_error(i.error.as_deref()).to_owned(),
                _ => return None,
            });
        }
        if let Some((n, field)) = instance_below(path, ".DHCPv4.Client.") {
            let i = self.interface(&["dhcp"], n)?;
            return Some(match field {
                "DHCPStatus" => if i.ipv4.is_some() { "Bound" } else { "Init" }.to_owned(),
                "IPAddress" => address(&i),
                "SubnetMask" => i
                    .ipv4
                    .map_or_else(String::new, |(_, p)| mask_of(p).to_string()),
                "IPRouters" => i.gateway.map_or_else(String::new, |g| g.to_string()),
                "DNSServers" => i.dns.join(","),
                _ => return None,
            });
        }
        let (n, field) = instance_below(path, ".WANPPPConnection.")?;
        let i = self.interface(&["pppoe"], n)?;
        Some(match field {
            "ConnectionStatus" => connected(&i),
            "ExternalIPAddress" => address(&i),
            "DNSServers" => i.dns.join(","),
            "RemoteIPAddress" => i.gateway.map_or_else(String::new, |g| g.to_string()),
            _ => return None,
        })
    }
}

/// The paths `NetRuntimeProvider` serves in TR-181, inside the uci-map's tables.
pub const TR181_PATHS: [&str; 11] = [
    "Device.PPP.Interface.{i}.Status",
    "Device.PPP.Interface.{i}.LastConnectionError",
    "Device.PPP.Interface.{i}.ConnectionStatus",
    "Device.PPP.Interface.{i}.IPCP.LocalIPAddress",
    "Device.PPP.Interface.{i}.IPCP.RemoteIPAddress",
    "Device.PPP.Interface.{i}.IPCP.DNSServers",
    "Device.DHCPv4.Client.{i}.DHCPStatus",
    "Device.DHCPv4.Client.{i}.IPAddress",
    "Device.DHCPv4.Client.{i}.SubnetMask",
    "Device.DHCPv4.Client.{i}.IPRouters",
    "Device.DHCPv4.Client.{i}.DNSServers",
];

/// The paths it serves in TR-098.
pub const TR098_PATHS: [&str; 4] = [
    "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANPPPConnection.{i}.ConnectionStatus",
    "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANPPPConnection.{i}.ExternalIPAddress",
    "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANPPPConnection.{i}.DNSServers",
    "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANPPPConnection.{i}.RemoteIPAddress",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blobmsg::parse_json;

    #[test]
    fn dump_is_read() {
        let Ok(Value::Table(reply)) = parse_json(
            r#"{"interface": [
                {"interface": "wan", "up": true, "proto": "dhcp",
                 "ipv4-address": [{"address": "198.51.100.7", "mask": 24}],
                 "route": [{"target": "0.0.0.0", "mask": 0, "nexthop": "198.51.100.1"}],
                 "dns-server": ["198.51.100.53"]},
                {"interface": "wanppp", "up": false,
                 "errors": [{"subsystem": "pppoe", "code": "PEER_DEAD"},
                            {"subsystem": "pppoe", "code": "AUTH_TOPEER_FAILED"}]},
                {"up": true}]}"#,
        ) else {
            panic!("test JSON");
        };
        let mut state = NetState::default();
        state.on_dump(&reply);
        let wan = state.interface("wan").expect("wan");
        assert_eq!(wan.ipv4, Some((Ipv4Addr::new(198, 51, 100, 7), 24)));
        assert_eq!(wan.gateway, Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(wan.dns, ["198.51.100.53"]);
        let ppp = state.interface("wanppp").expect("ppp");
        assert!(!ppp.up);
        assert_eq!(
            ppp_connection_error(ppp.error.as_deref()),
            "ERROR_AUTHENTICATION_FAILURE"
        );
        assert_eq!(ppp_connection_error(wan.error.as_deref()), "ERROR_NONE");
        assert_eq!(ppp_connection_error(Some("LOOPBACK")), "ERROR_UNKNOWN");
        assert_eq!(state.interfaces.len(), 2);
        assert_eq!(mask_of(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(mask_of(0), Ipv4Addr::UNSPECIFIED);
    }
}
