//! Which UCI `network.interface` sections configure which kernel interface (`Device.IP.Interface.{ifindex}`).

use crate::datamodel::config::UciBackend;
use crate::datamodel::host::net_interfaces;

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
    let Some(device) = kernel_device(uci, section) else {
        return String::new();
    };
    std::fs::read_to_string(format!("/sys/class/net/{device}/ifindex"))
        .map(|i| format!("Device.IP.Interface.{}", i.trim()))
        .unwrap_or_default()
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
