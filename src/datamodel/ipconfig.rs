//! Which UCI `network.interface` sections configure which kernel interface (`Device.IP.Interface.{ifindex}`), and the static IPv4 addresses they give it.

use std::net::Ipv4Addr;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, UciBackend};
use crate::datamodel::host::{ipv4_of, net_interfaces};
use crate::datamodel::lan::sysfs;
use crate::datamodel::provider::ApplyStatus;
use crate::datamodel::ucimap::assign_numbers;

/// Protocols whose layer 3 device is netifd's `<proto>-<section>` link.
const PPP_PROTOCOLS: [&str; 4] = ["pppoe", "pppoa", "pptp", "l2tp"];

/// The kernel interface a `network.interface` section brings up: its
/// `device`, or for a PPP protocol the `<proto>-<section>` link pppd creates.
pub fn kernel_device(uci: &dyn UciBackend, section: &str) -> Option<String> {
    let proto = uci.get("network", section, "proto").unwrap_or_default();
    if PPP_PROTOCOLS.contains(&proto.as_str()) {
        return Some(format!("{proto}-{section}"));
    }
    uci.get("network", section, "device")
        .filter(|d| !d.is_empty() && !d.starts_with('@'))
}

/// The `Device.IP.Interface.{i}` path of a `network.interface` section
/// (instances are kernel ifindexes); empty when its device does not exist.
pub fn ip_interface_path(uci: &dyn UciBackend, section: &str) -> String {
    kernel_device(uci, section)
        .and_then(|device| device_path(&device))
        .unwrap_or_default()
}

/// `Device.IP.Interface.{ifindex}` of a kernel device; `None` when it does not exist.
pub fn device_path(device: &str) -> Option<String> {
    sysfs(device, "ifindex").map(|i| format!("Device.IP.Interface.{i}"))
}

/// The `network.interface` sections of a kernel interface, in file order,
/// with their protocols.
pub fn sections_of_device(uci: &dyn UciBackend, device: &str) -> Vec<(String, String)> {
    uci.sections("network")
        .into_iter()
        .filter(|s| s.section_type == "interface")
        .filter(|s| kernel_device(uci, &s.name).as_deref() == Some(device))
        .map(|s| {
            let proto = uci.get("network", &s.name, "proto").unwrap_or_default();
            (s.name, proto)
        })
        .collect()
}

/// The kernel name of `Device.IP.Interface.{ifindex}`.
pub fn device_of_path(path: &str) -> Option<String> {
    let number: u32 = path
        .trim_end_matches('.')
        .strip_prefix("Device.IP.Interface.")?
        .parse()
        .ok()?;
    net_interfaces()
        .into_iter()
        .find(|i| i.ifindex == number)
        .map(|i| i.name)
}

/// The `network.interface` section a reference to `Device.IP.Interface.{i}`
/// is written as: `current` if it is on that device, else the first one
/// for the address family (`dhcpv6` or `static` for IPv6, not `dhcpv6`
/// for IPv4), else the first one.
pub fn section_for_path(
    uci: &dyn UciBackend,
    path: &str,
    current: Option<&str>,
    ipv6: bool,
) -> Option<String> {
    let device = device_of_path(path)?;
    let sections = sections_of_device(uci, &device);
    if let Some(current) = sections.iter().find(|(s, _)| Some(s.as_str()) == current) {
        return Some(current.0.clone());
    }
    let for_family = |proto: &str| {
        if ipv6 {
            proto == "dhcpv6" || proto == "static"
        } else {
            proto != "dhcpv6"
        }
    };
    sections
        .iter()
        .find(|(_, proto)| for_family(proto))
        .or_else(|| sections.first())
        .map(|(s, _)| s.clone())
}

/// The option of a static interface that keeps the instance numbers of its
/// `ipaddr` items, in item order, so that deleting one renumbers none.
pub const NUMBERS_OPTION: &str = "cwmp_ipaddr_instances";

/// An `ipaddr` item: an address with its prefix length if it has one (`192.0.2.1/24`).
pub fn parse_item(item: &str) -> Option<(Ipv4Addr, Option<u8>)> {
    let (address, prefix) = match item.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok().filter(|p| *p <= 32)?)),
        None => (item, None),
    };
    Some((address.parse().ok()?, prefix))
}

/// The prefix length of a contiguous subnet mask (`255.255.255.0` is 24).
pub fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The subnet mask of a prefix length.
pub fn prefix_mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// The IPv4 addresses a static `network.interface` configures, as netifd
/// reads them: `ipaddr` items (an option or a list), each with its own
/// prefix length or else `netmask` (else /32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticAddresses {
    /// (instance number, `ipaddr` item) in item order.
    pub items: Vec<(u32, String)>,
    /// `netmask`'s prefix length, for items without one.
    pub netmask: Option<u8>,
}

impl StaticAddresses {
    /// From the section's `ipaddr` (items joined by spaces), `netmask` and stored numbers.
    pub fn parse(ipaddr: &str, netmask: Option<&str>, numbers: Option<&str>) -> StaticAddresses {
        let stored: Vec<Option<u32>> = numbers
            .unwrap_or_default()
            .split_whitespace()
            .map(|n| n.parse().ok().filter(|n| *n > 0))
            .collect();
        let texts: Vec<&str> = ipaddr.split_whitespace().collect();
        let named = texts
            .iter()
            .enumerate()
            .map(|(i, _)| (i.to_string(), stored.get(i).copied().flatten()))
            .collect();
        let mut numbered: Vec<(usize, u32)> = assign_numbers(named)
            .into_iter()
            .filter_map(|(n, i)| Some((i.parse().ok()?, n)))
            .collect();
        numbered.sort_unstable();
        StaticAddresses {
            items: numbered
                .into_iter()
                .filter_map(|(i, n)| Some((n, (*texts.get(i)?).to_owned())))
                .collect(),
            netmask: netmask.and_then(|m| m.parse().ok()).and_then(mask_prefix),
        }
    }

    fn item(&self, number: u32) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, t)| t.as_str())
    }

    fn item_mut(&mut self, number: u32) -> Option<&mut String> {
        self.items
            .iter_mut()
            .find(|(n, _)| *n == number)
            .map(|(_, t)| t)
    }

    /// The address and prefix length of instance `number`.
    pub fn address(&self, number: u32) -> Option<(Ipv4Addr, u8)> {
        let (address, prefix) = parse_item(self.item(number)?)?;
        Some((address, prefix.or(self.netmask).unwrap_or(32)))
    }

    pub fn numbers(&self) -> Vec<u32> {
        self.items.iter().map(|(n, _)| *n).collect()
    }

    /// Replaces an address, keeping how its prefix length is given.
    pub fn set_address(&mut self, number: u32, address: Ipv4Addr) -> bool {
        let Some(item) = self.item_mut(number) else {
            return false;
        };
        *item = match item.split_once('/') {
            Some((_, prefix)) => format!("{address}/{prefix}"),
            None => address.to_string(),
        };
        true
    }

    /// Sets an address's prefix length: in the item if it has one; in
    /// `netmask` if no other item uses that; else as the item's own.
    pub fn set_prefix(&mut self, number: u32, prefix: u8) -> bool {
        let shares_netmask = self
            .items
            .iter()
            .filter(|(n, t)| *n != number && !t.contains('/'))
            .count()
            > 0;
        let Some(item) = self.item_mut(number) else {
            return false;
        };
        let address = item.split('/').next().unwrap_or_default().to_owned();
        if item.contains('/') || shares_netmask {
            *item = format!("{address}/{prefix}");
        } else {
            self.netmask = Some(prefix);
        }
        true
    }

    /// Appends an address (with its own prefix length when it has one).
    pub fn push(&mut self, number: u32, address: Ipv4Addr, prefix: Option<u8>) {
        let item = match prefix {
            Some(p) => format!("{address}/{p}"),
            None => address.to_string(),
        };
        self.items.push((number, item));
    }

    pub fn remove(&mut self, number: u32) -> bool {
        let before = self.items.len();
        self.items.retain(|(n, _)| *n != number);
        self.items.len() != before
    }

    /// The `ipaddr` items to write.
    pub fn ipaddr(&self) -> Vec<&str> {
        self.items.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// The numbers option's value.
    pub fn numbers_text(&self) -> String {
        let numbers: Vec<String> = self.numbers().iter().map(u32::to_string).collect();
        numbers.join(" ")
    }
}

/// One row of an interface's `IPv4Address` table.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ipv4Row {
    /// An `ipaddr` item (none when UCI holds no valid address there).
    Configured(Option<(Ipv4Addr, u8)>),
    /// Made by AddObject, waiting for its IPAddress (with its prefix length if set).
    Pending(Option<u8>),
    /// An address of the kernel interface UCI does not configure, and its AddressingType.
    Kernel(Ipv4Addr, Ipv4Addr, &'static str),
}

/// A staged SetParameterValues change: (section, instance, new address or prefix length).
type Change = (String, u32, Result<Ipv4Addr, u8>);

/// `Device.IP.Interface.{i}.IPv4Address.{i}`: on an interface a static
/// `network.interface` configures, its `ipaddr` items (writable; AddObject
/// and DeleteObject add and remove items), then the kernel's other
/// addresses read only; elsewhere the kernel's addresses, read only, with
/// the AddressingType of the protocol that configures the device.
#[derive(Default)]
pub struct Ipv4AddressTable {
    staged: Vec<Change>,
    /// Instances AddObject made, by section: they join `ipaddr` when given an IPAddress.
    pending: Vec<(String, u32, Option<u8>)>,
}

/// The static `network.interface` section of a kernel interface.
pub fn static_section(uci: &dyn UciBackend, device: &str) -> Option<String> {
    sections_of_device(uci, device)
        .into_iter()
        .find(|(_, proto)| proto == "static")
        .map(|(s, _)| s)
}

fn load(uci: &dyn UciBackend, section: &str) -> StaticAddresses {
    StaticAddresses::parse(
        &uci.get("network", section, "ipaddr").unwrap_or_default(),
        uci.get("network", section, "netmask").as_deref(),
        uci.get("network", section, NUMBERS_OPTION).as_deref(),
    )
}

/// Writes what changed between two address sets of a section (the numbers
/// too when rows were added or removed).
fn store(
    uci: &mut dyn UciBackend,
    section: &str,
    before: &StaticAddresses,
    after: &StaticAddresses,
) -> Result<(), String> {
    let items = after.ipaddr();
    if items != before.ipaddr() {
        match items.as_slice() {
            [] => uci.delete_option("network", section, "ipaddr")?,
            [one] if !one.contains('/') => uci.set("network", section, "ipaddr", one)?,
            _ => uci.set_list("network", section, "ipaddr", &items)?,
        }
    }
    if let (Some(p), true) = (after.netmask, after.netmask != before.netmask) {
        uci.set("network", section, "netmask", &prefix_mask(p).to_string())?;
    }
    if after.numbers() != before.numbers() {
        uci.set("network", section, NUMBERS_OPTION, &after.numbers_text())?;
    }
    Ok(())
}

/// The AddressingType of a kernel address on a device no static section configures.
fn addressing_type(uci: &dyn UciBackend, device: &str, address: Ipv4Addr) -> &'static str {
    if address.is_link_local() {
        return "AutoIP";
    }
    let protos: Vec<String> = sections_of_device(uci, device)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if protos.iter().any(|p| p == "dhcp") {
        "DHCP"
    } else if protos.iter().any(|p| PPP_PROTOCOLS.contains(&p.as_str())) {
        "IPCP"
    } else {
        "Static"
    }
}

impl Ipv4AddressTable {
    /// The rows of kernel interface `device`, ascending by instance number.
    fn rows(&self, uci: &dyn UciBackend, device: &str) -> Vec<(u32, Ipv4Row)> {
        let kernel = ipv4_of(device);
        let Some(section) = static_section(uci, device) else {
            return (1..)
                .zip(kernel)
                .map(|(k, a)| {
                    let kind = addressing_type(uci, device, a.address);
                    (k, Ipv4Row::Kernel(a.address, a.netmask, kind))
                })
                .collect();
        };
        let configured = load(uci, &section);
        let mut rows: Vec<(u32, Ipv4Row)> = configured
            .numbers()
            .into_iter()
            .map(|k| (k, Ipv4Row::Configured(configured.address(k))))
            .collect();
        rows.extend(
            self.pending
                .iter()
                .filter(|(s, ..)| *s == section)
                .map(|(_, k, p)| (*k, Ipv4Row::Pending(*p))),
        );
        let next = rows.iter().map(|(k, _)| *k).max().unwrap_or(0) + 1;
        let ours: Vec<Ipv4Addr> = rows
            .iter()
            .filter_map(|(_, r)| match r {
                Ipv4Row::Configured(Some((a, _))) => Some(*a),
                _ => None,
            })
            .collect();
        rows.extend(
            (next..).zip(
                kernel
                    .into_iter()
                    .filter(|a| !ours.contains(&a.address))
                    .map(|a| Ipv4Row::Kernel(a.address, a.netmask, "Static")),
            ),
        );
        rows.sort_unstable_by_key(|(k, _)| *k); // instance numbers are unique
        rows
    }

    /// The instance numbers of a device's table.
    pub fn instances(&self, uci: &dyn UciBackend, device: &str) -> Vec<u32> {
        self.rows(uci, device).into_iter().map(|(k, _)| k).collect()
    }

    /// A parameter of instance `number` (`IPAddress`…), or the table's size for `NumberOfEntries`.
    pub fn get(&self, uci: &dyn UciBackend, device: &str, field: &str) -> Option<String> {
        let rows = self.rows(uci, device);
        if field == "IPv4AddressNumberOfEntries" {
            return Some(rows.len().to_string());
        }
        let (number, name) = field.strip_prefix("IPv4Address.")?.split_once('.')?;
        let number: u32 = number.parse().ok()?;
        let row = &rows.iter().find(|(k, _)| *k == number)?.1;
        let (address, mask, kind) = match row {
            Ipv4Row::Configured(Some((a, p))) => {
                (a.to_string(), prefix_mask(*p).to_string(), "Static")
            }
            Ipv4Row::Configured(None) => (String::new(), String::new(), "Static"),
            Ipv4Row::Pending(p) => (
                String::new(),
                p.map(|p| prefix_mask(p).to_string()).unwrap_or_default(),
                "Static",
            ),
            Ipv4Row::Kernel(a, m, kind) => (a.to_string(), m.to_string(), *kind),
        };
        let usable = matches!(row, Ipv4Row::Configured(Some(_)) | Ipv4Row::Kernel(..));
        Some(match name {
            "Enable" => "1".to_owned(),
            "Status" if usable => "Enabled".to_owned(),
            "Status" => "Error_Misconfigured".to_owned(),
            "Alias" => format!("cpe-{number}"),
            "IPAddress" => address,
            "SubnetMask" => mask,
            "AddressingType" => kind.to_owned(),
            _ => return None,
        })
    }

    /// The static section of `device` if instance `number` is one of its
    /// configured or pending addresses (the rows ACS changes reach).
    fn configurable(&self, uci: &dyn UciBackend, device: &str, number: u32) -> Option<String> {
        let section = static_section(uci, device)?;
        let known = load(uci, &section).numbers().contains(&number)
            || self
                .pending
                .iter()
                .any(|(s, k, _)| *s == section && *k == number);
        known.then_some(section)
    }

    /// Whether `field` (`IPv4Address.3.IPAddress`) can be set.
    pub fn writable(&self, uci: &dyn UciBackend, device: &str, field: &str) -> bool {
        Self::address_field(field).is_some_and(|(k, _)| self.configurable(uci, device, k).is_some())
    }

    /// Whether instance `number` can be deleted.
    pub fn deletable(&self, uci: &dyn UciBackend, device: &str, number: u32) -> bool {
        self.configurable(uci, device, number).is_some()
    }

    /// `(instance, parameter)` of a writable address parameter.
    fn address_field(field: &str) -> Option<(u32, &str)> {
        let (k, name) = field.strip_prefix("IPv4Address.")?.split_once('.')?;
        matches!(name, "IPAddress" | "SubnetMask").then_some((k.parse().ok()?, name))
    }

    pub fn set(
        &mut self,
        uci: &dyn UciBackend,
        device: &str,
        field: &str,
        value: &str,
    ) -> Result<(), FaultCode> {
        let (number, name) = Self::address_field(field).ok_or(FaultCode::NonWritableParameter)?;
        let section = self
            .configurable(uci, device, number)
            .ok_or(FaultCode::NonWritableParameter)?;
        let address: Ipv4Addr = value
            .parse()
            .map_err(|_| FaultCode::InvalidParameterValue)?;
        let change = if name == "IPAddress" {
            Ok(address)
        } else {
            Err(mask_prefix(address).ok_or(FaultCode::InvalidParameterValue)?)
        };
        self.staged.push((section, number, change));
        Ok(())
    }

    /// Applies the staged changes to UCI; a pending instance given an
    /// address becomes an `ipaddr` item.
    pub fn commit(&mut self, uci: &mut dyn UciBackend) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut pending = self.pending.clone();
        let mut sections: Vec<(String, StaticAddresses, StaticAddresses)> = Vec::new();
        for (section, number, change) in staged {
            let at = match sections.iter().position(|(s, ..)| *s == section) {
                Some(at) => at,
                None => {
                    let loaded = load(uci, &section);
                    sections.push((section.clone(), loaded.clone(), loaded));
                    sections.len() - 1
                }
            };
            let Some((_, _, addresses)) = sections.get_mut(at) else {
                continue;
            };
            let waiting = pending
                .iter()
                .position(|(s, k, _)| *s == section && *k == number);
            match (change, waiting) {
                (Ok(a), Some(i)) => {
                    let (.., prefix) = pending.remove(i);
                    addresses.push(number, a, prefix);
                }
                (Err(p), Some(i)) => {
                    if let Some(entry) = pending.get_mut(i) {
                        entry.2 = Some(p);
                    }
                }
                (Ok(a), None) => {
                    addresses.set_address(number, a);
                }
                (Err(p), None) => {
                    addresses.set_prefix(number, p);
                }
            }
        }
        let changed: Vec<&(String, StaticAddresses, StaticAddresses)> =
            sections.iter().filter(|(_, b, a)| a != b).collect();
        if !changed.is_empty() {
            let result = changed
                .iter()
                .try_for_each(|(s, before, after)| store(uci, s, before, after));
            commit_or_revert(uci, "network", result)?;
        }
        self.pending = pending;
        // netifd applies the addresses when the network service reloads after the session.
        Ok(if changed.is_empty() {
            ApplyStatus::Applied
        } else {
            ApplyStatus::Pending
        })
    }

    pub fn abort(&mut self) {
        self.staged.clear();
    }

    /// AddObject: a row without an address, written to UCI once it has one.
    pub fn add(
        &mut self,
        uci: &dyn UciBackend,
        device: &str,
        number: u32,
    ) -> Result<ApplyStatus, FaultCode> {
        let section = static_section(uci, device).ok_or(FaultCode::RequestDenied)?;
        self.pending.push((section, number, None));
        Ok(ApplyStatus::Applied)
    }

    pub fn delete(
        &mut self,
        uci: &mut dyn UciBackend,
        device: &str,
        number: u32,
    ) -> Result<ApplyStatus, FaultCode> {
        // The kernel's own addresses are not deleted.
        let section = self
            .configurable(uci, device, number)
            .ok_or(FaultCode::RequestDenied)?;
        let before = self.pending.len();
        self.pending
            .retain(|(s, k, _)| !(*s == section && *k == number));
        if self.pending.len() != before {
            return Ok(ApplyStatus::Applied);
        }
        let loaded = load(uci, &section);
        let mut after = loaded.clone();
        after.remove(number);
        let result = store(uci, &section, &loaded, &after);
        commit_or_revert(uci, "network", result).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_items_parse() {
        assert_eq!(mask_prefix("255.255.255.0".parse().expect("ip")), Some(24));
        assert_eq!(mask_prefix("0.0.0.0".parse().expect("ip")), Some(0));
        assert_eq!(mask_prefix("255.0.255.0".parse().expect("ip")), None);
        assert_eq!(prefix_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_mask(16), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(
            parse_item("192.0.2.1/24"),
            Some((Ipv4Addr::new(192, 0, 2, 1), Some(24)))
        );
        assert_eq!(parse_item("192.0.2.1/33"), None);
        assert_eq!(parse_item("bad"), None);
    }

    #[test]
    fn static_addresses_keep_their_numbers_and_forms() {
        let mut a = StaticAddresses::parse(
            "192.0.2.1 198.51.100.1/24 203.0.113.1",
            Some("255.255.255.0"),
            Some("1 5"),
        );
        assert_eq!(a.numbers(), [1, 5, 2]);
        assert_eq!(a.address(2), Some((Ipv4Addr::new(203, 0, 113, 1), 24)));
        // Two items use netmask: a new prefix goes into the item itself.
        assert!(a.set_prefix(1, 16));
        assert_eq!(a.netmask, Some(24));
        assert!(a.set_address(5, Ipv4Addr::new(198, 51, 100, 9)));
        assert!(a.remove(2));
        a.push(3, Ipv4Addr::new(10, 0, 0, 1), None);
        assert_eq!(a.ipaddr(), ["192.0.2.1/16", "198.51.100.9/24", "10.0.0.1"]);
        assert_eq!(a.numbers_text(), "1 5 3");
        // The only item without a prefix length changes netmask.
        let mut single = StaticAddresses::parse("127.0.0.1", Some("255.0.0.0"), None);
        assert!(single.set_prefix(1, 16));
        assert_eq!(
            (single.ipaddr(), single.netmask),
            (vec!["127.0.0.1"], Some(16))
        );
        assert!(!single.set_prefix(2, 8));
        assert_eq!(
            StaticAddresses::parse("192.0.2.1", None, None).address(1),
            Some((Ipv4Addr::new(192, 0, 2, 1), 32))
        );
    }
}
