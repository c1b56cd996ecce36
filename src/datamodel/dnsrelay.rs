//! `Device.DNS.Relay.Forwarding.{i}`: the upstream servers dnsmasq forwards to, its own `server` list (writable) and the servers netifd learnt on each interface (read only).
//!
//! The static forwarders are the plain addresses of `dhcp.@dnsmasq[0]`'s
//! `server` list (`/domain/address` entries are per-domain rules, not
//! forwarders, and are left alone) and, disabled, those of
//! `cwmp_disabled_server`; `cwmp_server_numbers` (`entry=N` pairs) keeps
//! their instance numbers. An `@device` suffix is the Interface. AddObject
//! makes a disabled forwarder that is written once DNSServer is set.
//! Then, unless dnsmasq is told `noresolv`, each interface's servers from
//! the last `network.interface dump`, in interface name order, numbered
//! after the static ones.

use std::net::IpAddr;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, SharedUci, UciBackend};
use crate::datamodel::ipconfig::{device_of_path, device_path};
use crate::datamodel::path::instance_of;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::{list_entry_numbers, list_entry_pairs};

/// At most this many forwarders are listed.
const MAX_FORWARDERS: usize = 64;
/// The list of static forwarders the ACS disabled (dnsmasq does not read it).
const DISABLED_OPTION: &str = "cwmp_disabled_server";
/// The list keeping the static forwarders' instance numbers.
const NUMBERS_OPTION: &str = "cwmp_server_numbers";

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

/// The interface of a `server` entry (`addr#port@eth1` → `eth1`).
fn server_device(entry: &str) -> Option<&str> {
    entry
        .split('@')
        .nth(1)
        .map(|d| d.split('#').next().unwrap_or(d))
        .filter(|d| !d.is_empty())
}

/// An entry with another address, its port and interface kept.
fn with_address(entry: &str, address: &str) -> String {
    let rest = entry.find(['#', '@']).map_or("", |i| &entry[i..]);
    format!("{address}{rest}")
}

/// An entry with another interface (none: the system's routing decides).
fn with_device(entry: &str, device: Option<&str>) -> String {
    let base = entry.split('@').next().unwrap_or(entry);
    match device {
        Some(d) => format!("{base}@{d}"),
        None => base.to_owned(),
    }
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

/// The static forwarders as UCI holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Statics {
    section: String,
    /// The whole `server` list (per-domain rules included) and `cwmp_disabled_server`.
    servers: Vec<String>,
    disabled: Vec<String>,
    /// (instance number, entry, enabled) of each forwarder.
    numbered: Vec<(u32, String, bool)>,
}

impl Statics {
    fn read(uci: &dyn UciBackend, reserved: &[u32]) -> Option<Statics> {
        let section = uci
            .sections("dhcp")
            .into_iter()
            .find(|s| s.section_type == "dnsmasq")?
            .name;
        let list = |option: &str| -> Vec<String> {
            uci.get("dhcp", &section, option)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let servers = list("server");
        let disabled = list(DISABLED_OPTION);
        let plain: Vec<(String, bool)> = servers
            .iter()
            .map(|e| (e.clone(), true))
            .chain(disabled.iter().map(|e| (e.clone(), false)))
            .filter(|(e, _)| server_address(e).is_some())
            .take(MAX_FORWARDERS)
            .collect();
        let entries: Vec<String> = plain.iter().map(|(e, _)| e.clone()).collect();
        let stored = uci
            .get("dhcp", &section, NUMBERS_OPTION)
            .unwrap_or_default();
        let numbered = list_entry_numbers(&entries, &stored, reserved)
            .into_iter()
            .filter_map(|(n, e)| {
                let enabled = plain.iter().find(|(p, _)| *p == e)?.1;
                Some((n, e, enabled))
            })
            .collect();
        Some(Statics {
            section,
            servers,
            disabled,
            numbered,
        })
    }

    fn find(&self, number: u32) -> Option<(String, bool)> {
        self.numbered
            .iter()
            .find(|(n, ..)| *n == number)
            .map(|(_, e, on)| (e.clone(), *on))
    }

    /// Takes forwarder `number` out of its list.
    fn remove(&mut self, number: u32) {
        let Some((entry, enabled)) = self.find(number) else {
            return;
        };
        let list = if enabled {
            &mut self.servers
        } else {
            &mut self.disabled
        };
        if let Some(i) = list.iter().position(|e| *e == entry) {
            list.remove(i);
        }
        self.numbered.retain(|(n, ..)| *n != number);
    }

    /// Puts forwarder `number` in place of the one of that number (or last).
    fn put(&mut self, number: u32, entry: String, enabled: bool) {
        let same_place = self.find(number).filter(|(_, on)| *on == enabled);
        match same_place {
            Some((old, _)) => {
                let list = if enabled {
                    &mut self.servers
                } else {
                    &mut self.disabled
                };
                if let Some(slot) = list.iter_mut().find(|e| **e == old) {
                    slot.clone_from(&entry);
                }
                self.numbered.retain(|(n, ..)| *n != number);
            }
            None => {
                self.remove(number);
                if enabled {
                    self.servers.push(entry.clone());
                } else {
                    self.disabled.push(entry.clone());
                }
            }
        }
        self.numbered.push((number, entry, enabled));
    }

    fn write(&self, uci: &mut dyn UciBackend) -> Result<(), String> {
        let mut numbered: Vec<(u32, String)> = self
            .numbered
            .iter()
            .map(|(n, e, _)| (*n, e.clone()))
            .collect();
        numbered.sort();
        let pairs = list_entry_pairs(&numbered);
        for (option, values) in [
            ("server", self.servers.clone()),
            (DISABLED_OPTION, self.disabled.clone()),
            (NUMBERS_OPTION, pairs),
        ] {
            if values.is_empty() {
                uci.delete_option("dhcp", &self.section, option)?;
            } else {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                uci.set_list("dhcp", &self.section, option, &values)?;
            }
        }
        Ok(())
    }
}

/// A forwarder AddObject made, not written until it has a DNSServer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    number: u32,
    enabled: bool,
    device: Option<String>,
}

/// One change SetParameterValues staged on a static forwarder.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Server(String),
    Enable(bool),
    Device(Option<String>),
}

/// A row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Row {
    Static { entry: String, enabled: bool },
    Pending(Pending),
    Learnt(Forwarder),
}

pub struct DnsRelayProvider {
    uci: SharedUci,
    state: SharedRuntime,
    pending: Vec<Pending>,
    staged: Vec<(u32, Change)>,
}

/// (instance number, field) of a path below `.Forwarding.`.
fn forwarding_field(path: &str) -> Option<(u32, &str)> {
    let (_, tail) = path.split_once(".DNS.Relay.Forwarding.")?;
    let (n, field) = tail.split_once('.')?;
    Some((n.parse().ok()?, field))
}

/// `Device.IP.Interface.{ifindex}` of a kernel device ("" when it has none).
fn interface_path(device: Option<&str>) -> String {
    device.and_then(device_path).unwrap_or_default()
}

impl DnsRelayProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> DnsRelayProvider {
        DnsRelayProvider {
            uci,
            state,
            pending: Vec::new(),
            staged: Vec::new(),
        }
    }

    fn statics(&self) -> Option<Statics> {
        let reserved: Vec<u32> = self.pending.iter().map(|p| p.number).collect();
        Statics::read(&*self.uci.borrow(), &reserved)
    }

    /// The servers netifd learnt, unless dnsmasq is told `noresolv`.
    fn learnt(&self) -> Vec<Forwarder> {
        let noresolv = {
            let uci = self.uci.borrow();
            let dnsmasq = uci
                .sections("dhcp")
                .into_iter()
                .find(|s| s.section_type == "dnsmasq");
            dnsmasq
                .and_then(|s| uci.get("dhcp", &s.name, "noresolv"))
                .is_some_and(|v| matches!(v.as_str(), "1" | "on" | "yes" | "true"))
        };
        if noresolv {
            return Vec::new();
        }
        let state = self.state.borrow();
        let mut list = Vec::new();
        for (_, interface) in state.net.interfaces() {
            for server in interface.dns.iter().filter_map(|d| d.parse().ok()) {
                list.push(Forwarder {
                    server,
                    kind: kind_of(&interface.proto),
                    device: interface.l3_device.clone(),
                });
            }
        }
        list.truncate(MAX_FORWARDERS);
        list
    }

    /// Every row by number: the static forwarders, those AddObject made,
    /// then the learnt ones after the highest number of those.
    fn rows(&self) -> Vec<(u32, Row)> {
        let mut rows: Vec<(u32, Row)> = self
            .statics()
            .map(|s| s.numbered)
            .unwrap_or_default()
            .into_iter()
            .map(|(n, entry, enabled)| (n, Row::Static { entry, enabled }))
            .collect();
        rows.extend(
            self.pending
                .iter()
                .map(|p| (p.number, Row::Pending(p.clone()))),
        );
        rows.sort_unstable_by_key(|(n, _)| *n); // instance numbers are unique
        let mut next = rows.last().map_or(0, |(n, _)| *n);
        for forwarder in self.learnt() {
            next += 1;
            rows.push((next, Row::Learnt(forwarder)));
        }
        rows
    }

    fn row(&self, number: u32) -> Option<Row> {
        self.rows()
            .into_iter()
            .find(|(n, _)| *n == number)
            .map(|(_, r)| r)
    }
}

impl Provider for DnsRelayProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        if path.ends_with(".DNS.Relay.ForwardNumberOfEntries") {
            return Some(self.rows().len().to_string());
        }
        let (number, field) = forwarding_field(path)?;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        let status = |on: bool| if on { "Enabled" } else { "Disabled" }.to_owned();
        let (enabled, server, kind, device) = match self.row(number)? {
            Row::Static { entry, enabled } => (
                enabled,
                server_address(&entry)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                "Static",
                server_device(&entry).map(str::to_owned),
            ),
            // Not in effect until it has a server.
            Row::Pending(p) => (false, String::new(), "Static", p.device),
            Row::Learnt(f) => (true, f.server.to_string(), f.kind, f.device),
        };
        Some(match field {
            "Enable" => match self.pending.iter().find(|p| p.number == number) {
                Some(p) => flag(p.enabled),
                None => flag(enabled),
            },
            "Status" => status(enabled),
            "Alias" => format!("cpe-{number}"),
            "DNSServer" => server,
            "Type" => kind.to_owned(),
            "Interface" => interface_path(device.as_deref()),
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if !table.ends_with(".DNS.Relay.Forwarding.") {
            return Vec::new();
        }
        self.rows().into_iter().map(|(n, _)| n).collect()
    }

    fn writable(&self, path: &str) -> bool {
        match forwarding_field(path) {
            Some((n, "Enable" | "DNSServer" | "Interface")) => {
                !matches!(self.row(n), Some(Row::Learnt(_)) | None)
            }
            _ => false,
        }
    }

    fn creatable(&self, table: &str) -> bool {
        table.ends_with(".DNS.Relay.Forwarding.") && self.statics().is_some()
    }

    fn deletable(&self, instance: &str) -> bool {
        let number = instance
            .split_once(".DNS.Relay.")
            .and_then(|(_, rest)| instance_of(rest, "Forwarding"));
        !matches!(number.and_then(|n| self.row(n)), Some(Row::Learnt(_)))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (number, field) = forwarding_field(path).ok_or(FaultCode::NonWritableParameter)?;
        if !self.writable(path) {
            return Err(FaultCode::NonWritableParameter);
        }
        let change = match field {
            "DNSServer" => {
                let address: IpAddr = value
                    .parse()
                    .map_err(|_| FaultCode::InvalidParameterValue)?;
                Change::Server(address.to_string())
            }
            "Enable" => Change::Enable(value == "1"),
            _ if value.is_empty() => Change::Device(None),
            _ => {
                let device = device_of_path(value).ok_or(FaultCode::InvalidParameterValue)?;
                Change::Device(Some(device))
            }
        };
        self.staged.push((number, change));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        if staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        let denied = |e: String| Fault::with_text(FaultCode::RequestDenied, e);
        let mut statics = self
            .statics()
            .ok_or_else(|| denied("dnsmasq has no section".to_owned()))?;
        let mut pending = self.pending.clone();
        let mut written = false;
        for (number, change) in staged {
            if let Some(at) = pending.iter().position(|p| p.number == number) {
                let Some(p) = pending.get_mut(at) else {
                    continue;
                };
                match change {
                    Change::Enable(on) => p.enabled = on,
                    Change::Device(device) => p.device = device,
                    Change::Server(address) => {
                        let entry = with_device(&address, p.device.as_deref());
                        statics.put(number, entry, p.enabled);
                        pending.remove(at);
                        written = true;
                    }
                }
                continue;
            }
            let Some((entry, enabled)) = statics.find(number) else {
                return Err(denied(format!("forwarder {number} is gone")));
            };
            let (entry, enabled) = match change {
                Change::Server(address) => (with_address(&entry, &address), enabled),
                Change::Enable(on) => (entry, on),
                Change::Device(device) => (with_device(&entry, device.as_deref()), enabled),
            };
            statics.put(number, entry, enabled);
            written = true;
        }
        if written {
            let mut uci = self.uci.borrow_mut();
            let written = statics.write(&mut *uci);
            commit_or_revert(&mut *uci, "dhcp", written)?;
        }
        self.pending = pending;
        Ok(ApplyStatus::after_writing(written))
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        _alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        if !self.creatable(table) {
            return Err(FaultCode::RequestDenied);
        }
        if self.pending.len() >= MAX_FORWARDERS {
            return Err(FaultCode::ResourcesExceeded);
        }
        // TR-181: a new forwarder starts disabled; nothing to write yet.
        self.pending.push(Pending {
            number,
            enabled: false,
            device: None,
        });
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let number = instance
            .split_once(".DNS.Relay.")
            .and_then(|(_, rest)| instance_of(rest, "Forwarding"))
            .ok_or(FaultCode::InvalidParameterName)?;
        if let Some(at) = self.pending.iter().position(|p| p.number == number) {
            self.pending.remove(at);
            return Ok(ApplyStatus::Applied);
        }
        let mut statics = self.statics().ok_or(FaultCode::InvalidParameterName)?;
        if statics.find(number).is_none() {
            return Err(FaultCode::InvalidParameterName);
        }
        statics.remove(number);
        let mut uci = self.uci.borrow_mut();
        let written = statics.write(&mut *uci);
        commit_or_revert(&mut *uci, "dhcp", written).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
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

    #[test]
    fn server_entries_keep_their_port_and_interface() {
        assert_eq!(server_device("192.0.2.53#5353@eth1"), Some("eth1"));
        assert_eq!(server_device("192.0.2.53"), None);
        assert_eq!(
            with_address("192.0.2.53#5353@eth1", "192.0.2.1"),
            "192.0.2.1#5353@eth1"
        );
        assert_eq!(with_device("192.0.2.53#5353@eth1", None), "192.0.2.53#5353");
        assert_eq!(with_device("192.0.2.53", Some("wan")), "192.0.2.53@wan");
    }

    #[test]
    fn forwarders_move_between_the_lists_and_keep_their_numbers() {
        use crate::datamodel::config::MemoryUci;
        let mut uci = MemoryUci::default();
        uci.add("dhcp", "dnsmasq", "", &[]);
        let uci = uci.shared();
        let section = uci.borrow().sections("dhcp")[0].name.clone();
        uci.borrow_mut()
            .set_list(
                "dhcp",
                &section,
                "server",
                &["/test/192.0.2.9", "192.0.2.1", "192.0.2.2"],
            )
            .expect("servers");
        let read = || Statics::read(&*uci.borrow(), &[]).expect("dnsmasq");
        let mut statics = read();
        assert_eq!(
            statics.numbered,
            [(1, "192.0.2.1".into(), true), (2, "192.0.2.2".into(), true)]
        );
        statics.put(1, "192.0.2.1".into(), false);
        statics.remove(2);
        statics.put(3, "192.0.2.3@wan".into(), true);
        statics.write(&mut *uci.borrow_mut()).expect("write");
        let get = |o: &str| uci.borrow().get("dhcp", &section, o);
        assert_eq!(
            get("server").as_deref(),
            Some("/test/192.0.2.9 192.0.2.3@wan")
        );
        assert_eq!(get(DISABLED_OPTION).as_deref(), Some("192.0.2.1"));
        assert_eq!(
            get(NUMBERS_OPTION).as_deref(),
            Some("192.0.2.1=1 192.0.2.3@wan=3")
        );
        assert_eq!(read().find(3), Some(("192.0.2.3@wan".into(), true)));
        assert_eq!(read().find(1), Some(("192.0.2.1".into(), false)));
    }
}
