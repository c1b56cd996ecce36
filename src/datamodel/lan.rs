//! Run-time LAN and WAN state from OpenWrt's own files: hosts from dnsmasq's leases and the kernel's neighbour table, and the WAN connection's address.
//!
//! Everything is read on demand with plain file reads (the leases file named
//! by `dhcp.@dnsmasq[0].leasefile`, `/proc/net/arp`) and from the WAN
//! address netifd reported over ubus, so a GetParameterValues never waits
//! on another process.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, SharedConfig, SharedUci};
use crate::datamodel::path::instance_of;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::ucimap::{
    assign_numbers, commit_staged_options, section_numbers, subnet, ALIAS_OPTION, INSTANCE_OPTION,
};
use crate::sys;
use crate::vecmap::VecMap;

/// dnsmasq's default lease file.
const DEFAULT_LEASE_FILE: &str = "/tmp/dhcp.leases";
/// The kernel's IPv4 neighbour table.
const ARP_TABLE: &str = "/proc/net/arp";

/// One line of dnsmasq's lease file: `<expiry> <mac> <ip> <name|*> <client-id|*>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Unix time the lease ends; 0 for an infinite lease.
    pub expiry: i64,
    pub mac: String,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
}

/// Parses a lease file; malformed lines are skipped.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let expiry = f.next()?.parse().ok()?;
            let mac = f.next()?.to_ascii_lowercase();
            let ip = f.next()?.parse().ok()?;
            let hostname = f.next().filter(|h| *h != "*").map(str::to_owned);
            Some(Lease {
                expiry,
                mac,
                ip,
                hostname,
            })
        })
        .collect()
}

/// (IP address, MAC address, interface) of the complete entries of `/proc/net/arp`.
pub fn parse_arp(text: &str) -> Vec<(Ipv4Addr, String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let ip = f.first()?.parse().ok()?;
            let flags = u32::from_str_radix(f.get(2)?.trim_start_matches("0x"), 16).ok()?;
            // ATF_COM: the entry is complete (the neighbour answered).
            if flags & 0x2 == 0 {
                return None;
            }
            Some((ip, f.get(3)?.to_ascii_lowercase(), (*f.get(5)?).to_owned()))
        })
        .collect()
}

/// A device seen on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Host {
    mac: String,
    ip: Ipv4Addr,
    hostname: String,
    /// Answering in the neighbour table now.
    active: bool,
    /// The address came from a DHCP lease.
    dhcp: bool,
    expiry: i64,
    /// The kernel interface it was seen on (the neighbour table's device).
    device: Option<String>,
}

/// Serves `Device.Hosts.` (TR-181) or `InternetGatewayDevice.LANDevice.1.Hosts.`
/// (TR-098). Instance numbers follow the MAC address for the life of the
/// process: a host keeps its number while it stays known.
pub struct HostsProvider {
    uci: SharedUci,
    arp_table: PathBuf,
    numbers: VecMap<String, u32>,
    next: u32,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl HostsProvider {
    pub fn new(uci: SharedUci) -> HostsProvider {
        HostsProvider::with_arp_table(uci, Path::new(ARP_TABLE))
    }

    /// A provider reading another neighbour table (tests).
    pub fn with_arp_table(uci: SharedUci, arp_table: &Path) -> HostsProvider {
        HostsProvider {
            uci,
            arp_table: arp_table.to_path_buf(),
            numbers: VecMap::new(),
            next: 0,
        }
    }

    fn lease_file(&self) -> PathBuf {
        let uci = self.uci.borrow();
        let file = uci.get("dhcp", "@dnsmasq[0]", "leasefile");
        PathBuf::from(file.unwrap_or_else(|| DEFAULT_LEASE_FILE.to_owned()))
    }

    /// The hosts now known, by instance number.
    fn hosts(&mut self) -> VecMap<u32, Host> {
        let leases = std::fs::read_to_string(self.lease_file())
            .map(|t| parse_leases(&t))
            .unwrap_or_default();
        let arp = std::fs::read_to_string(&self.arp_table)
            .map(|t| parse_arp(&t))
            .unwrap_or_default();
        let mut by_mac: VecMap<String, Host> = VecMap::new();
        for lease in leases {
            let seen = arp
                .iter()
                .find(|(ip, mac, _)| *ip == lease.ip && *mac == lease.mac);
            let active = seen.is_some();
            let device = seen.map(|(_, _, d)| d.clone());
            by_mac.insert(
                lease.mac.clone(),
                Host {
                    mac: lease.mac,
                    ip: lease.ip,
                    hostname: lease.hostname.unwrap_or_default(),
                    active,
                    dhcp: true,
                    expiry: lease.expiry,
                    device,
                },
            );
        }
        for (ip, mac, device) in arp {
            by_mac.get_or_insert_with(mac.clone(), || Host {
                mac,
                ip,
                hostname: String::new(),
                active: true,
                dhcp: false,
                expiry: 0,
                device: Some(device),
            });
        }
        self.numbers.retain(|mac, _| by_mac.contains_key(mac));
        let mut out = VecMap::new();
        for (mac, host) in by_mac {
            let number = match self.numbers.get(&mac) {
                Some(n) => *n,
                None => {
                    self.next = self.next.saturating_add(1);
                    self.numbers.insert(mac, self.next);
                    self.next
                }
            };
            out.insert(number, host);
        }
        out
    }
}

impl Provider for HostsProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, rest) = path.split_once(".Hosts.")?;
        if rest == "HostNumberOfEntries" {
            return Some(self.hosts().len().to_string());
        }
        let (number, field) = rest.strip_prefix("Host.")?.split_once('.')?;
        let number: u32 = number.parse().ok()?;
        let hosts = self.hosts();
        let host = hosts.get(&number)?;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        Some(match field {
            "Alias" => format!("cpe-{number}"),
            "PhysAddress" | "MACAddress" => host.mac.clone(),
            "IPAddress" => host.ip.to_string(),
            "HostName" => host.hostname.clone(),
            "Active" => flag(host.active),
            "AddressSource" => if host.dhcp { "DHCP" } else { "Static" }.to_owned(),
            "LeaseTimeRemaining" => match (host.dhcp, host.expiry) {
                (false, _) => "0".to_owned(),
                (true, 0) => "-1".to_owned(),
                (true, expiry) => (expiry - now()).max(0).to_string(),
            },
            "InterfaceType" => "Ethernet".to_owned(),
            // IP.Interface instances are kernel ifindexes.
            "Layer3Interface" => host
                .device
                .as_ref()
                .and_then(|d| std::fs::read_to_string(format!("/sys/class/net/{d}/ifindex")).ok())
                .map(|i| format!("Device.IP.Interface.{}", i.trim()))
                .unwrap_or_default(),
            "IPv4AddressNumberOfEntries" => "1".to_owned(),
            "IPv6AddressNumberOfEntries" => "0".to_owned(),
            "IPv4Address.1.IPAddress" => host.ip.to_string(),
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".Hosts.Host.") {
            return self.hosts().into_keys().collect();
        }
        if table.ends_with(".IPv4Address.") {
            let known = table
                .split_once(".Hosts.Host.")
                .and_then(|(_, r)| r.split('.').next()?.parse::<u32>().ok())
                .is_some_and(|n| self.hosts().contains_key(&n));
            return if known { vec![1] } else { Vec::new() };
        }
        Vec::new()
    }
}

/// The option binding a static address made by AddObject to its pool
/// (until it has an address in the pool's subnet).
const POOL_OPTION: &str = "cwmp_pool";

/// Serves `Device.DHCPv4.Server.Pool.{i}.StaticAddress.{i}` (the `dhcp.host`
/// sections whose address lies in the pool's subnet, writable, AddObject and
/// DeleteObject) and `Pool.{i}.Client.{i}` (the pool's dnsmasq leases).
/// Pools are numbered as the uci-map numbers `dhcp.dhcp` sections.
pub struct PoolChildrenProvider {
    uci: SharedUci,
    hosts: HostsProvider,
    staged: Vec<(String, &'static str, String)>,
}

/// `Device.DHCPv4.Server.Pool.` + (pool number, rest).
fn pool_rest(path: &str) -> Option<(u32, &str)> {
    let (_, tail) = path.split_once(".DHCPv4.Server.Pool.")?;
    let (n, rest) = tail.split_once('.')?;
    Some((n.parse().ok()?, rest))
}

impl PoolChildrenProvider {
    pub fn new(uci: SharedUci) -> PoolChildrenProvider {
        PoolChildrenProvider {
            hosts: HostsProvider::new(uci.clone()),
            uci,
            staged: Vec::new(),
        }
    }

    /// The pool's section and (network, prefix length).
    fn pool(&self, number: u32) -> Option<(String, (u32, u32))> {
        let uci = self.uci.borrow();
        let section = section_numbers(&*uci, "dhcp", "dhcp")
            .into_iter()
            .find(|(n, _)| *n == number)?
            .1;
        let interface = uci.get("dhcp", &section, "interface")?;
        let net = subnet(&*uci, &interface)?;
        Some((section, net))
    }

    /// The pool's static hosts: (instance number, section), ascending.
    fn static_hosts(&self, pool: u32) -> Vec<(u32, String)> {
        let Some((section, (network, prefix))) = self.pool(pool) else {
            return Vec::new();
        };
        let uci = self.uci.borrow();
        let members = uci
            .sections("dhcp")
            .into_iter()
            .filter(|s| s.section_type == "host")
            .filter(|s| match uci.get("dhcp", &s.name, POOL_OPTION) {
                Some(bound) => bound == section,
                None => uci
                    .get("dhcp", &s.name, "ip")
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                    .is_some_and(|ip| in_subnet(ip, network, prefix)),
            })
            .map(|s| {
                let stored = uci
                    .get("dhcp", &s.name, INSTANCE_OPTION)
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0);
                (s.name, stored)
            })
            .collect();
        assign_numbers(members)
    }

    fn static_section(&self, pool: u32, number: u32) -> Option<String> {
        self.static_hosts(pool)
            .into_iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| s)
    }

    /// The pool's leases: (instance number, lease), numbered like hosts.
    fn clients(&mut self, pool: u32) -> Vec<(u32, Host)> {
        let Some((_, (network, prefix))) = self.pool(pool) else {
            return Vec::new();
        };
        self.hosts
            .hosts()
            .into_iter()
            .filter(|(_, h)| h.dhcp && in_subnet(h.ip, network, prefix))
            .collect()
    }

    /// Stores every member's computed number, so adding or deleting one does not renumber the others.
    fn materialize(&self, pool: u32) -> Result<(), String> {
        let members = self.static_hosts(pool);
        let mut uci = self.uci.borrow_mut();
        for (n, section) in members {
            if uci.get("dhcp", &section, INSTANCE_OPTION).is_none() {
                uci.set("dhcp", &section, INSTANCE_OPTION, &n.to_string())?;
            }
        }
        Ok(())
    }
}

fn in_subnet(ip: Ipv4Addr, network: u32, prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == network
}

impl Provider for PoolChildrenProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (pool, rest) = pool_rest(path)?;
        match rest {
            "StaticAddressNumberOfEntries" => {
                return Some(self.static_hosts(pool).len().to_string())
            }
            "ClientNumberOfEntries" => return Some(self.clients(pool).len().to_string()),
            _ => {}
        }
        if let Some((n, field)) = rest
            .strip_prefix("StaticAddress.")
            .and_then(|r| r.split_once('.'))
        {
            let n: u32 = n.parse().ok()?;
            let section = self.static_section(pool, n)?;
            let uci = self.uci.borrow();
            let option = |o: &str| uci.get("dhcp", &section, o);
            return Some(match field {
                "Enable" => "1".to_owned(),
                "Alias" => option(ALIAS_OPTION).unwrap_or_else(|| format!("cpe-{n}")),
                "Chaddr" => option("mac")
                    .and_then(|m| m.split_whitespace().next().map(str::to_ascii_lowercase))
                    .unwrap_or_default(),
                "Yiaddr" => option("ip").unwrap_or_default(),
                _ => return None,
            });
        }
        let (n, field) = rest.strip_prefix("Client.")?.split_once('.')?;
        let n: u32 = n.parse().ok()?;
        let clients = self.clients(pool);
        let host = &clients.iter().find(|(m, _)| *m == n)?.1;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        Some(match field {
            "Alias" => format!("cpe-{n}"),
            "Chaddr" => host.mac.clone(),
            "Active" => flag(host.active),
            "IPv4AddressNumberOfEntries" => "1".to_owned(),
            "OptionNumberOfEntries" => "0".to_owned(),
            "IPv4Address.1.IPAddress" => host.ip.to_string(),
            "IPv4Address.1.LeaseTimeRemaining" => {
                if host.expiry == 0 {
                    "9999-12-31T23:59:59Z".to_owned()
                } else {
                    crate::cwmp::datetime::format_utc(host.expiry)
                }
            }
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let Some((pool, rest)) = pool_rest(table) else {
            return Vec::new();
        };
        match rest {
            "StaticAddress." => self
                .static_hosts(pool)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            "Client." => self.clients(pool).into_iter().map(|(n, _)| n).collect(),
            _ => {
                let known = rest
                    .strip_prefix("Client.")
                    .and_then(|r| r.strip_suffix(".IPv4Address."))
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| self.clients(pool).iter().any(|(m, _)| *m == n));
                if known {
                    vec![1]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn writable(&self, path: &str) -> bool {
        path.ends_with(".Chaddr") || path.ends_with(".Yiaddr") || path.ends_with(".Alias")
    }

    fn creatable(&self, table: &str) -> bool {
        // Only a pool with a subnet can hold static addresses.
        table.ends_with(".StaticAddress.")
            && pool_rest(table).is_some_and(|(pool, _)| self.pool(pool).is_some())
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (pool, rest) = pool_rest(path).ok_or(FaultCode::InvalidParameterName)?;
        let (n, field) = rest
            .strip_prefix("StaticAddress.")
            .and_then(|r| r.split_once('.'))
            .ok_or(FaultCode::NonWritableParameter)?;
        let n: u32 = n.parse().map_err(|_| FaultCode::InvalidParameterName)?;
        let section = self
            .static_section(pool, n)
            .ok_or(FaultCode::InvalidParameterName)?;
        let option = match field {
            "Chaddr" => "mac",
            "Yiaddr" => {
                let (_, (network, prefix)) =
                    self.pool(pool).ok_or(FaultCode::InvalidParameterValue)?;
                let ip: Ipv4Addr = value
                    .parse()
                    .map_err(|_| FaultCode::InvalidParameterValue)?;
                if !in_subnet(ip, network, prefix) {
                    return Err(FaultCode::InvalidParameterValue);
                }
                "ip"
            }
            "Alias" => ALIAS_OPTION,
            _ => return Err(FaultCode::NonWritableParameter),
        };
        self.staged.push((section, option, value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        commit_staged_options(&self.uci, "dhcp", &staged)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let (pool, _) = pool_rest(table).ok_or(FaultCode::InvalidParameterName)?;
        let (section, _) = self.pool(pool).ok_or(FaultCode::InvalidParameterName)?;
        let result = self.materialize(pool).and_then(|()| {
            let mut uci = self.uci.borrow_mut();
            let host = uci.add_section("dhcp", "host")?;
            uci.set("dhcp", &host, POOL_OPTION, &section)?;
            uci.set("dhcp", &host, INSTANCE_OPTION, &number.to_string())?;
            if let Some(alias) = alias {
                uci.set("dhcp", &host, ALIAS_OPTION, alias)?;
            }
            Ok(())
        });
        commit_or_revert(&mut *self.uci.borrow_mut(), "dhcp", result).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let (pool, rest) = pool_rest(instance).ok_or(FaultCode::InvalidParameterName)?;
        let n = instance_of(rest, "StaticAddress").ok_or(FaultCode::InvalidParameterName)?;
        let result = self.materialize(pool).and_then(|()| {
            let section = self
                .static_section(pool, n)
                .ok_or_else(|| "no such static address".to_owned())?;
            let mut uci = self.uci.borrow_mut();
            uci.delete_section("dhcp", &section)
        });
        commit_or_revert(&mut *self.uci.borrow_mut(), "dhcp", result).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }
}

/// The paths `PoolChildrenProvider` serves, inside the uci-map's pool table.
pub const POOL_CHILD_PATHS: [&str; 4] = [
    "Device.DHCPv4.Server.Pool.{i}.StaticAddress.",
    "Device.DHCPv4.Server.Pool.{i}.StaticAddressNumberOfEntries",
    "Device.DHCPv4.Server.Pool.{i}.Client.",
    "Device.DHCPv4.Server.Pool.{i}.ClientNumberOfEntries",
];

/// Serves TR-098's `LANDevice.1.LANEthernetInterfaceConfig.{i}`: the ports of
/// the LAN bridge (`ports` of the `network.device` named by
/// `network.lan.device`, or that device alone), with link state and counters
/// from /sys/class/net.
pub struct LanEthernetProvider {
    uci: SharedUci,
}

/// A file of /sys/class/net/<ifname>/, trimmed.
pub(crate) fn sysfs(ifname: &str, file: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/{file}")).ok()?;
    Some(text.trim().to_owned())
}

impl LanEthernetProvider {
    pub fn new(uci: SharedUci) -> LanEthernetProvider {
        LanEthernetProvider { uci }
    }

    fn ports(&self) -> Vec<String> {
        let uci = self.uci.borrow();
        let Some(device) = uci.get("network", "lan", "device") else {
            return Vec::new();
        };
        let bridge = uci
            .sections("network")
            .into_iter()
            .filter(|s| s.section_type == "device")
            .find(|s| uci.get("network", &s.name, "name").as_deref() == Some(device.as_str()));
        let ports = bridge.and_then(|b| uci.get("network", &b.name, "ports"));
        match ports {
            Some(list) => list.split_whitespace().map(str::to_owned).collect(),
            None => vec![device],
        }
    }
}

impl Provider for LanEthernetProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        if path.ends_with(".LANEthernetInterfaceNumberOfEntries") {
            return Some(self.ports().len().to_string());
        }
        let (_, tail) = path.split_once(".LANEthernetInterfaceConfig.")?;
        let (n, field) = tail.split_once('.')?;
        let n: usize = n.parse().ok()?;
        let port = self.ports().into_iter().nth(n.checked_sub(1)?)?;
        let up = sysfs(&port, "operstate").as_deref() == Some("up");
        Some(match field {
            "Enable" => "1".to_owned(),
            "Status" => if up { "Up" } else { "NoLink" }.to_owned(),
            "Name" => port,
            "MACAddress" => sysfs(&port, "address").unwrap_or_default(),
            "MaxBitRate" => match sysfs(&port, "speed").as_deref() {
                Some(s @ ("10" | "100" | "1000" | "10000")) => s.to_owned(),
                _ => "Auto".to_owned(),
            },
            "DuplexMode" => match sysfs(&port, "duplex").as_deref() {
                Some("full") => "Full",
                Some("half") => "Half",
                _ => "Auto",
            }
            .to_owned(),
            _ => {
                let file = match field.strip_prefix("Stats.")? {
                    "BytesSent" => "tx_bytes",
                    "BytesReceived" => "rx_bytes",
                    "PacketsSent" => "tx_packets",
                    "PacketsReceived" => "rx_packets",
                    _ => return None,
                };
                sysfs(&port, &format!("statistics/{file}")).unwrap_or_else(|| "0".to_owned())
            }
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".LANEthernetInterfaceConfig.") {
            (1..=self.ports().len() as u32).collect()
        } else {
            Vec::new()
        }
    }
}

/// Serves the run-time state of TR-098's default WAN connection
/// (`WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.`): the address
/// netifd reported for the WAN interface, else the IPv4 address of the
/// device `network.wan.device` names.
pub struct WanProvider {
    config: SharedConfig,
    uci: SharedUci,
}

impl WanProvider {
    pub fn new(config: SharedConfig, uci: SharedUci) -> WanProvider {
        WanProvider { config, uci }
    }

    fn address(&self) -> Option<Ipv4Addr> {
        let reported = self
            .config
            .borrow()
            .get("cpe", "connection_request_host")
            .and_then(|h| h.parse().ok());
        if reported.is_some() {
            return reported;
        }
        let device = self.uci.borrow().get("network", "wan", "device")?;
        sys::ipv4_addresses()
            .into_iter()
            .find(|a| a.interface == device)
            .map(|a| a.address)
    }
}

impl Provider for WanProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, field) = path.rsplit_once('.')?;
        let address = self.address();
        Some(match field {
            "ExternalIPAddress" => address.map_or_else(String::new, |a| a.to_string()),
            "MACAddress" => {
                let device = self.uci.borrow().get("network", "wan", "device")?;
                sysfs(&device, "address")?
            }
            "ConnectionStatus" => if address.is_some() {
                "Connected"
            } else {
                "Disconnected"
            }
            .to_owned(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_and_neighbours_parse() {
        let leases = parse_leases(
            "1893456000 02:00:00:00:00:10 192.168.1.10 printer 01:02\nbad line\n0 02:00:00:00:00:AA 192.168.1.5 * *\n",
        );
        assert_eq!(leases.len(), 2);
        assert_eq!(leases[0].hostname.as_deref(), Some("printer"));
        assert_eq!(leases[1].mac, "02:00:00:00:00:aa");
        assert_eq!(leases[1].hostname, None);
        let arp = parse_arp(
            "IP address       HW type     Flags       HW address            Mask     Device\n\
             192.168.1.10     0x1         0x2         02:00:00:00:00:10     *        br-lan\n\
             192.168.1.99     0x1         0x0         00:00:00:00:00:00     *        br-lan\n",
        );
        assert_eq!(
            arp,
            [(
                Ipv4Addr::new(192, 168, 1, 10),
                "02:00:00:00:00:10".to_owned(),
                "br-lan".to_owned()
            )]
        );
    }
}
