//! DHCPv6 and IPv6 prefixes at run time: odhcpd's leases (`dhcp ipv6leases`) as `DHCPv6.Server.Pool.{i}.Client.{i}`, netifd's prefixes as `IP.Interface.{i}.IPv6Prefix.{i}`, and the DHCPv6 clients' interfaces.

use std::collections::BTreeMap;

use crate::cwmp::datetime::format_utc;
use crate::datamodel::config::{SharedUci, UciBackend};
use crate::datamodel::host::net_interfaces;
use crate::datamodel::ipconfig::kernel_device;
use crate::datamodel::netifd::{timed_addresses, NetState, TimedAddress};
use crate::datamodel::path::instance_below;
use crate::datamodel::provider::Provider;
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::section_numbers_where;
use crate::wire::blobmsg::Value;

/// At most this many leases are kept per device.
const MAX_LEASES: usize = 256;

/// TR-181's dateTime for an infinite lifetime.
const INFINITE: &str = "9999-12-31T23:59:59Z";

/// The `dhcp` sections the uci-map's `DHCPv6.Server.Pool` table holds (its `where:`).
pub const POOL_MODES: [&str; 4] = ["server", "relay", "hybrid", "disabled"];

/// odhcpd's leases by the device they were handed out on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dhcpv6State {
    leases: BTreeMap<String, Vec<Ipv6Lease>>,
    /// Unix time of the reply, which lifetimes count from.
    pub received_at: i64,
}

/// How odhcpd names a lease address's prefix length and lifetimes.
const ODHCPD_KEYS: [&str; 3] = ["prefix-length", "preferred-lifetime", "valid-lifetime"];

impl Dhcpv6State {
    /// Takes `dhcp ipv6leases`' reply (`{"device": {"br-lan": {"leases": [ … ]}}}`)
    /// received at unix time `now`; a failed call leaves no leases.
    pub fn on_leases(&mut self, reply: Option<&[(String, Value)]>, now: i64) {
        self.leases.clear();
        self.received_at = now;
        let devices = reply
            .and_then(|r| r.iter().find(|(k, _)| k == "device"))
            .map(|(_, v)| v);
        let Some(Value::Table(devices)) = devices else {
            return;
        };
        for (device, entry) in devices.iter().take(MAX_LEASES) {
            let leases = entry
                .get("leases")
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .iter()
                .take(MAX_LEASES)
                .map(|l| Ipv6Lease {
                    addresses: timed_addresses(l, "ipv6-addr", ODHCPD_KEYS),
                    prefixes: timed_addresses(l, "ipv6-prefix", ODHCPD_KEYS),
                })
                .collect();
            self.leases.insert(device.clone(), leases);
        }
    }

    /// The leases handed out on a device.
    pub fn leases(&self, device: &str) -> &[Ipv6Lease] {
        self.leases.get(device).map_or(&[], Vec::as_slice)
    }
}

/// One client's lease (an identity association) as odhcpd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Lease {
    /// Addresses (IA_NA).
    pub addresses: Vec<TimedAddress>,
    /// Delegated prefixes (IA_PD).
    pub prefixes: Vec<TimedAddress>,
}

/// A lifetime as TR-181's dateTime, counted from `at`.
fn until(at: i64, seconds: Option<u32>) -> String {
    match seconds {
        Some(s) => format_utc(at.saturating_add(i64::from(s))),
        None => INFINITE.to_owned(),
    }
}

/// The device a netifd interface runs on: netifd's `l3_device`, else its UCI device.
fn device_of(uci: &dyn UciBackend, net: &NetState, interface: &str) -> Option<String> {
    net.interface(interface)
        .and_then(|i| i.l3_device.clone())
        .or_else(|| kernel_device(uci, interface))
}

/// The `Device.IP.Interface.{i}` of a kernel device (instances are ifindexes).
fn ip_interface(device: &str) -> String {
    net_interfaces()
        .into_iter()
        .find(|i| i.name == device)
        .map(|i| format!("Device.IP.Interface.{}", i.ifindex))
        .unwrap_or_default()
}

/// A prefix of an interface: delegated to it (else assigned to it), and
/// the protocol of the interface.
struct DevicePrefix {
    prefix: TimedAddress,
    delegated: bool,
    proto: String,
}

/// The prefixes netifd gives the interfaces on a kernel device: each
/// interface's delegated prefixes, then its assigned ones.
fn device_prefixes(net: &NetState, device: &str) -> Vec<DevicePrefix> {
    let mut out = Vec::new();
    for (_, i) in net.interfaces() {
        if i.l3_device.as_deref() != Some(device) {
            continue;
        }
        for (list, delegated) in [(&i.delegated_prefixes, true), (&i.assigned_prefixes, false)] {
            out.extend(list.iter().map(|p| DevicePrefix {
                prefix: p.clone(),
                delegated,
                proto: i.proto.clone(),
            }));
        }
    }
    out
}

/// A prefix's length (128 for an address).
fn length(p: &TimedAddress) -> u8 {
    p.length.unwrap_or(128)
}

/// Whether `outer` contains `inner`.
fn contains(outer: &TimedAddress, inner: &TimedAddress) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(length(outer)))
        .unwrap_or(0);
    length(outer) <= length(inner)
        && u128::from(outer.address) & mask == u128::from(inner.address) & mask
}

/// Item `n` (from 1) of a list.
fn nth<T>(list: &[T], n: u32) -> Option<&T> {
    list.get(usize::try_from(n).ok()?.checked_sub(1)?)
}

/// Serves the DHCPv6 pools' clients, the DHCPv6 clients' interfaces and
/// the IPv6 prefixes of IP interfaces, from the run-time cache.
pub struct Dhcpv6Provider {
    uci: SharedUci,
    state: SharedRuntime,
}

impl Dhcpv6Provider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> Dhcpv6Provider {
        Dhcpv6Provider { uci, state }
    }

    /// The leases of pool `number` (the `dhcp` section's interface's device).
    fn pool_leases(&self, number: u32) -> Vec<Ipv6Lease> {
        let uci = self.uci.borrow();
        let Some((_, section)) =
            section_numbers_where(&*uci, "dhcp", "dhcp", "dhcpv6", &POOL_MODES)
                .into_iter()
                .find(|(n, _)| *n == number)
        else {
            return Vec::new();
        };
        let Some(interface) = uci.get("dhcp", &section, "interface") else {
            return Vec::new();
        };
        let state = self.state.borrow();
        device_of(&*uci, &state.net, &interface)
            .map(|d| state.dhcpv6.leases(&d).to_vec())
            .unwrap_or_default()
    }

    /// The kernel name of `Device.IP.Interface.{number}`.
    fn kernel_name(number: u32) -> Option<String> {
        net_interfaces()
            .into_iter()
            .find(|i| i.ifindex == number)
            .map(|i| i.name)
    }

    fn pool_client(&self, pool: u32, rest: &str) -> Option<String> {
        if rest == "ClientNumberOfEntries" {
            return Some(self.pool_leases(pool).len().to_string());
        }
        let (client, field) = instance_below(rest, "Client.")?;
        let leases = self.pool_leases(pool);
        let lease = nth(&leases, client)?;
        let at = self.state.borrow().dhcpv6.received_at;
        Some(match field {
            "Alias" => format!("cpe-{client}"),
            "Active" => "1".to_owned(),
            "IPv6AddressNumberOfEntries" => lease.addresses.len().to_string(),
            "IPv6PrefixNumberOfEntries" => lease.prefixes.len().to_string(),
            _ => {
                let (list, marker) = if field.starts_with("IPv6Address.") {
                    (&lease.addresses, "IPv6Address.")
                } else {
                    (&lease.prefixes, "IPv6Prefix.")
                };
                let (k, name) = instance_below(field, marker)?;
                let entry = nth(list, k)?;
                match name {
                    "IPAddress" if entry.length.is_none() => entry.address.to_string(),
                    "Prefix" => format!("{}/{}", entry.address, entry.length?),
                    "PreferredLifetime" => until(at, entry.preferred),
                    "ValidLifetime" => until(at, entry.valid),
                    _ => return None,
                }
            }
        })
    }

    fn prefix(&self, interface: u32, rest: &str) -> Option<String> {
        let device = Self::kernel_name(interface)?;
        let state = self.state.borrow();
        let prefixes = device_prefixes(&state.net, &device);
        if rest == "IPv6PrefixNumberOfEntries" {
            return Some(prefixes.len().to_string());
        }
        let (k, field) = instance_below(rest, "IPv6Prefix.")?;
        let DevicePrefix {
            prefix,
            delegated,
            proto,
        } = nth(&prefixes, k)?;
        let at = state.net_at;
        Some(match field {
            "Enable" => "1".to_owned(),
            "Status" => "Enabled".to_owned(),
            "PrefixStatus" => match (prefix.preferred, prefix.valid) {
                (_, Some(0)) => "Invalid",
                (Some(0), _) => "Deprecated",
                _ => "Preferred",
            }
            .to_owned(),
            "Alias" => format!("cpe-{k}"),
            "Prefix" => format!("{}/{}", prefix.address, length(prefix)),
            "Origin" => match (delegated, proto.as_str()) {
                (false, _) => "Child",
                (true, "static") => "Static",
                (true, _) => "PrefixDelegation",
            }
            .to_owned(),
            "StaticType" => "Inapplicable".to_owned(),
            // A prefix assigned from a delegated one names it.
            "ParentPrefix" if *delegated => String::new(),
            "ParentPrefix" => state
                .net
                .interfaces()
                .filter_map(|(_, i)| i.l3_device.as_deref())
                .find_map(|d| {
                    let index = device_prefixes(&state.net, d)
                        .iter()
                        .position(|p| p.delegated && contains(&p.prefix, prefix))?;
                    Some(format!("{}.IPv6Prefix.{}", ip_interface(d), index + 1))
                })
                .unwrap_or_default(),
            "PreferredLifetime" => until(at, prefix.preferred),
            "ValidLifetime" => until(at, prefix.valid),
            _ => return None,
        })
    }
}

impl Provider for Dhcpv6Provider {
    fn get(&mut self, path: &str) -> Option<String> {
        if let Some((pool, rest)) = instance_below(path, ".DHCPv6.Server.Pool.") {
            return self.pool_client(pool, rest);
        }
        if let Some((client, "Interface")) = instance_below(path, ".DHCPv6.Client.") {
            let uci = self.uci.borrow();
            let (_, section) =
                section_numbers_where(&*uci, "network", "interface", "proto", &["dhcpv6"])
                    .into_iter()
                    .find(|(n, _)| *n == client)?;
            let device = device_of(&*uci, &self.state.borrow().net, &section);
            return Some(device.map(|d| ip_interface(&d)).unwrap_or_default());
        }
        let (interface, rest) = instance_below(path, ".IP.Interface.")?;
        self.prefix(interface, rest)
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let count = if let Some((pool, rest)) = instance_below(table, ".DHCPv6.Server.Pool.") {
            let leases = self.pool_leases(pool);
            match instance_below(rest, "Client.") {
                None => leases.len(),
                Some((client, "IPv6Address.")) => {
                    nth(&leases, client).map_or(0, |l| l.addresses.len())
                }
                Some((client, "IPv6Prefix.")) => {
                    nth(&leases, client).map_or(0, |l| l.prefixes.len())
                }
                Some(_) => 0,
            }
        } else if let Some((interface, "IPv6Prefix.")) = instance_below(table, ".IP.Interface.") {
            Self::kernel_name(interface)
                .map_or(0, |d| device_prefixes(&self.state.borrow().net, &d).len())
        } else {
            0
        };
        (1..=count as u32).collect()
    }
}

/// The paths `Dhcpv6Provider` serves (inside the uci-map's DHCPv6 tables and IpProvider's interfaces).
pub const PATHS: [&str; 5] = [
    "Device.DHCPv6.Server.Pool.{i}.Client.",
    "Device.DHCPv6.Server.Pool.{i}.ClientNumberOfEntries",
    "Device.DHCPv6.Client.{i}.Interface",
    "Device.IP.Interface.{i}.IPv6Prefix.",
    "Device.IP.Interface.{i}.IPv6PrefixNumberOfEntries",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blobmsg::parse_json;
    use std::net::Ipv6Addr;

    #[test]
    fn odhcpd_leases_are_read() {
        let Ok(Value::Table(reply)) = parse_json(
            r#"{"device": {"br-lan": {"leases": [
                {"duid": "00010001aabbccdd020000000020", "iaid": 1, "hostname": "laptop",
                 "accept-reconf": false, "assigned": 4660, "flags": ["bound"],
                 "ipv6-addr": [{"address": "fd12:3456:789a::1234", "preferred-lifetime": 3600,
                                "valid-lifetime": -1}], "valid": 7200},
                {"duid": "0003000102000000002a", "iaid": 2, "hostname": "", "assigned": 1,
                 "flags": ["bound"], "ipv6-prefix": [{"address": "2001:db8:abcd:20::",
                 "preferred-lifetime": 0, "valid-lifetime": 60, "prefix-length": 62}], "valid": 60},
                {"duid": "00"}]}}}"#,
        ) else {
            panic!("test JSON");
        };
        let mut state = Dhcpv6State::default();
        state.on_leases(Some(&reply), 1_700_000_000);
        let leases = state.leases("br-lan");
        assert_eq!(leases.len(), 3);
        let address = &leases[0].addresses[0];
        assert_eq!(
            address.address,
            "fd12:3456:789a::1234".parse::<Ipv6Addr>().expect("v6")
        );
        assert_eq!(
            (address.length, address.preferred, address.valid),
            (None, Some(3600), None)
        );
        assert_eq!(leases[1].prefixes[0].length, Some(62));
        assert!(leases[2].addresses.is_empty() && leases[2].prefixes.is_empty());
        assert!(state.leases("eth9").is_empty());
        assert_eq!(until(0, Some(60)), "1970-01-01T00:01:00Z");
        assert_eq!(until(0, None), INFINITE);
        state.on_leases(None, 1);
        assert!(state.leases("br-lan").is_empty());
    }

    #[test]
    fn a_prefix_contains_its_assignments() {
        let prefix = |a: &str, length| TimedAddress {
            address: a.parse().expect("v6"),
            length: Some(length),
            preferred: None,
            valid: None,
        };
        let delegated = prefix("2001:db8:abcd::", 48);
        assert!(contains(&delegated, &prefix("2001:db8:abcd:10::", 60)));
        assert!(!contains(&delegated, &prefix("2001:db8:abce::", 60)));
        assert!(!contains(&delegated, &prefix("2001:db8::", 32)));
        assert!(contains(&prefix("::", 0), &delegated));
    }
}
