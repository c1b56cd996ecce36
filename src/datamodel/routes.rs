//! `Device.Routing.Router.1.IPv4Forwarding.{i}`: the uci-map's static routes (`network.route`, writable) and beside them the kernel's IPv4 routes from /proc/net/route, read only.
//!
//! The kernel routes are numbered after the highest number of a UCI route
//! and listed in /proc order; one that equals a UCI route (its target, mask
//! and gateway) is that route applied, and is not listed twice. They answer
//! StaticRoute 0; Origin is absent for them (the kernel does not say which
//! protocol installed a route).
//!
//! `IPv6Forwarding.{i}` has no UCI side here: it lists the kernel's IPv6
//! routes from /proc/net/ipv6_route, read only, numbered in /proc order.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::provider::{ApplyStatus, Provider};

/// At most this many kernel routes are listed.
const MAX_ROUTES: usize = 256;

/// The table the kernel routes join.
const TABLE: &str = "Device.Routing.Router.1.IPv4Forwarding.";
const COUNTER: &str = "Device.Routing.Router.1.IPv4ForwardingNumberOfEntries";

/// One IPv4 route of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    pub device: String,
    pub destination: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub metric: u32,
}

/// Parses /proc/net/route (addresses in host-order hex of the
/// little-endian kernel word); routes not up are skipped.
pub fn parse_proc_route(text: &str) -> Vec<KernelRoute> {
    let address = |hex: &str| {
        u32::from_str_radix(hex, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            if flags & 1 == 0 {
                return None;
            }
            Some(KernelRoute {
                device: (*f.first()?).to_owned(),
                destination: address(f.get(1)?)?,
                gateway: address(f.get(2)?)?,
                metric: f.get(6)?.parse().ok()?,
                mask: address(f.get(7)?)?,
            })
        })
        .take(MAX_ROUTES)
        .collect()
}

/// One IPv6 route of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute6 {
    pub device: String,
    pub destination: Ipv6Addr,
    pub prefix_length: u8,
    pub next_hop: Ipv6Addr,
    pub metric: u32,
}

/// Parses /proc/net/ipv6_route: routes that are up, neither the host's
/// own addresses (RTF_LOCAL), unreachable ones (RTF_REJECT) nor multicast.
pub fn parse_proc_ipv6_route(text: &str) -> Vec<KernelRoute6> {
    const RTF_UP: u32 = 0x1;
    const RTF_REJECT: u32 = 0x200;
    const RTF_LOCAL: u32 = 0x8000_0000;
    let address = |hex: &str| u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from);
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            if flags & RTF_UP == 0 || flags & (RTF_REJECT | RTF_LOCAL) != 0 {
                return None;
            }
            let destination = address(f.first()?)?;
            if destination.is_multicast() {
                return None;
            }
            Some(KernelRoute6 {
                destination,
                prefix_length: u8::from_str_radix(f.get(1)?, 16)
                    .ok()
                    .filter(|l| *l <= 128)?,
                next_hop: address(f.get(4)?)?,
                metric: u32::from_str_radix(f.get(5)?, 16).ok()?,
                device: (*f.get(9)?).to_owned(),
            })
        })
        .take(MAX_ROUTES)
        .collect()
}

/// The `Device.IP.Interface.{i}` of a kernel device (instances are ifindexes).
fn interface_of(device: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{device}/ifindex"))
        .map(|i| format!("Device.IP.Interface.{}", i.trim()))
        .unwrap_or_default()
}

/// Serves `Device.Routing.Router.1.IPv6Forwarding.{i}` from the kernel.
pub struct KernelRoutes6;

impl KernelRoutes6 {
    fn routes() -> Vec<KernelRoute6> {
        parse_proc_ipv6_route(&std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default())
    }
}

impl Provider for KernelRoutes6 {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, rest) = path.split_once(".Routing.Router.1.")?;
        if rest == "IPv6ForwardingNumberOfEntries" {
            return Some(Self::routes().len().to_string());
        }
        let (number, field) = rest.strip_prefix("IPv6Forwarding.")?.split_once('.')?;
        let number: usize = number.parse().ok()?;
        let route = Self::routes().into_iter().nth(number.checked_sub(1)?)?;
        Some(match field {
            "Enable" => "1".to_owned(),
            "Status" => "Enabled".to_owned(),
            "Alias" => format!("cpe-{number}"),
            "DestIPPrefix" => format!("{}/{}", route.destination, route.prefix_length),
            "NextHop" if route.next_hop.is_unspecified() => String::new(),
            "NextHop" => route.next_hop.to_string(),
            "Interface" => interface_of(&route.device),
            "ForwardingMetric" => i32::try_from(route.metric).ok()?.to_string(),
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if !table.ends_with(".Routing.Router.1.IPv6Forwarding.") {
            return Vec::new();
        }
        (1..=Self::routes().len() as u32).collect()
    }
}

/// The paths `KernelRoutes6` serves.
pub const IPV6_PATHS: [&str; 2] = [
    "Device.Routing.Router.{i}.IPv6Forwarding.",
    "Device.Routing.Router.{i}.IPv6ForwardingNumberOfEntries",
];

/// The uci-map's provider with the kernel routes added to its IPv4Forwarding table.
pub struct WithKernelRoutes<P: Provider> {
    inner: P,
    /// The kernel routes' numbers when last listed, for `writable`.
    listed: std::cell::RefCell<Vec<u32>>,
}

impl<P: Provider> WithKernelRoutes<P> {
    pub fn new(inner: P) -> WithKernelRoutes<P> {
        WithKernelRoutes {
            inner,
            listed: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The kernel routes not configured in UCI, with their instance numbers.
    fn kernel(&mut self) -> Vec<(u32, KernelRoute)> {
        let uci_numbers = self.inner.instances(TABLE);
        let configured: Vec<(String, String, String)> = uci_numbers
            .iter()
            .map(|n| {
                let mut field = |name: &str| {
                    self.inner
                        .get(&format!("{TABLE}{n}.{name}"))
                        .unwrap_or_default()
                };
                (
                    field("DestIPAddress"),
                    field("DestSubnetMask"),
                    field("GatewayIPAddress"),
                )
            })
            .collect();
        let first = uci_numbers
            .iter()
            .max()
            .copied()
            .unwrap_or(0)
            .saturating_add(1);
        let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let routes: Vec<(u32, KernelRoute)> = parse_proc_route(&text)
            .into_iter()
            .filter(|r| {
                let gateway = if r.gateway.is_unspecified() {
                    String::new()
                } else {
                    r.gateway.to_string()
                };
                !configured.iter().any(|(d, m, g)| {
                    *d == r.destination.to_string() && *m == r.mask.to_string() && *g == gateway
                })
            })
            .zip(first..)
            .map(|(r, n)| (n, r))
            .collect();
        *self.listed.borrow_mut() = routes.iter().map(|(n, _)| *n).collect();
        routes
    }

    /// Whether a path lies in a kernel route as last listed.
    fn is_listed_kernel(&self, path: &str) -> bool {
        path.strip_prefix(TABLE)
            .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok())
            .is_some_and(|n| self.listed.borrow().contains(&n))
    }

    /// The instance number of a path inside the table, if a kernel route has it.
    fn kernel_instance(&mut self, path: &str) -> Option<(KernelRoute, u32, String)> {
        let (number, field) = path.strip_prefix(TABLE)?.split_once('.')?;
        let number: u32 = number.parse().ok()?;
        let route = self.kernel().into_iter().find(|(n, _)| *n == number)?.1;
        Some((route, number, field.to_owned()))
    }
}

impl<P: Provider> Provider for WithKernelRoutes<P> {
    fn get(&mut self, path: &str) -> Option<String> {
        if path == COUNTER {
            let configured = self.inner.instances(TABLE).len();
            return Some((configured + self.kernel().len()).to_string());
        }
        if !path.starts_with(TABLE) {
            return self.inner.get(path);
        }
        let Some((route, number, field)) = self.kernel_instance(path) else {
            return self.inner.get(path);
        };
        let gateway = if route.gateway.is_unspecified() {
            String::new()
        } else {
            route.gateway.to_string()
        };
        Some(match field.as_str() {
            "Enable" => "1".to_owned(),
            "Status" => "Enabled".to_owned(),
            "Alias" => format!("cpe-{number}"),
            "StaticRoute" => "0".to_owned(),
            "DestIPAddress" => route.destination.to_string(),
            "DestSubnetMask" => route.mask.to_string(),
            "GatewayIPAddress" => gateway,
            "ForwardingMetric" => route.metric.to_string(),
            // IP.Interface instances are kernel ifindexes.
            "Interface" => {
                std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", route.device))
                    .map(|i| format!("Device.IP.Interface.{}", i.trim()))
                    .unwrap_or_default()
            }
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let mut numbers = self.inner.instances(table);
        if table == TABLE {
            numbers.extend(self.kernel().into_iter().map(|(n, _)| n));
        }
        numbers
    }

    fn writable(&self, path: &str) -> bool {
        !self.is_listed_kernel(path) && self.inner.writable(path)
    }

    fn deletable(&self, instance: &str) -> bool {
        !self.is_listed_kernel(instance) && self.inner.deletable(instance)
    }

    fn creatable(&self, table: &str) -> bool {
        self.inner.creatable(table)
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        if self.kernel_instance(path).is_some() {
            return Err(FaultCode::NonWritableParameter);
        }
        self.inner.set(path, value)
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        self.inner.commit()
    }

    fn abort(&mut self) {
        self.inner.abort();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        self.inner.add_instance(table, number, alias)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        if self.kernel_instance(instance).is_some() {
            return Err(FaultCode::RequestDenied);
        }
        self.inner.delete_instance(instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_route_is_read() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t10\t00000000\t0\t0\t0\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth1\t00336433\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            bad\tzz\n";
        let routes = parse_proc_route(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].destination, Ipv4Addr::UNSPECIFIED);
        assert_eq!(routes[0].gateway, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(routes[0].metric, 10);
        assert_eq!(routes[1].destination, Ipv4Addr::new(192, 0, 2, 0));
        assert_eq!(routes[1].mask, Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(routes[1].device, "eth0");
    }

    #[test]
    fn proc_net_ipv6_route_is_read() {
        let text = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
short line
";
        let routes = parse_proc_ipv6_route(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(
            routes[0].destination,
            "fd00::".parse::<Ipv6Addr>().expect("v6")
        );
        assert_eq!((routes[0].prefix_length, routes[0].metric), (64, 256));
        assert_eq!(
            routes[1].next_hop,
            "fd00::1".parse::<Ipv6Addr>().expect("v6")
        );
        assert_eq!(routes[1].prefix_length, 0);
    }
}
