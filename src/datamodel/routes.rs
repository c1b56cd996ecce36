//! Forwarding tables: the uci-map's static routes (`network.route`, `network.route6`, writable) and beside them the kernel's routes from /proc/net/route and /proc/net/ipv6_route, read only.
//!
//! Serves TR-181 `Device.Routing.Router.1.IPv4Forwarding.{i}` and
//! `IPv6Forwarding.{i}` and TR-098 `Layer3Forwarding.Forwarding.{i}`.
//! The kernel routes are numbered after the highest number of a UCI route
//! and listed in /proc order; one that equals a UCI route (IPv4: target,
//! mask and gateway; IPv6: prefix and next hop) is that route applied, and
//! is not listed twice. They answer StaticRoute 0 where the table has it;
//! Origin is absent for them (the kernel does not say which protocol
//! installed a route).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::ModelKind;

/// At most this many kernel routes are listed.
const MAX_ROUTES: usize = 256;
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

/// A forwarding table the kernel's routes join.
struct RouteTable {
    table: &'static str,
    counter: &'static str,
    ipv6: bool,
    /// Whether its Interface parameter refers to `Device.IP.Interface.{i}`.
    tr181: bool,
}

const TR181_TABLES: [RouteTable; 2] = [
    RouteTable {
        table: "Device.Routing.Router.1.IPv4Forwarding.",
        counter: "Device.Routing.Router.1.IPv4ForwardingNumberOfEntries",
        ipv6: false,
        tr181: true,
    },
    RouteTable {
        table: "Device.Routing.Router.1.IPv6Forwarding.",
        counter: "Device.Routing.Router.1.IPv6ForwardingNumberOfEntries",
        ipv6: true,
        tr181: true,
    },
];

const TR098_TABLES: [RouteTable; 1] = [RouteTable {
    table: "InternetGatewayDevice.Layer3Forwarding.Forwarding.",
    counter: "InternetGatewayDevice.Layer3Forwarding.ForwardNumberOfEntries",
    ipv6: false,
    tr181: false,
}];

/// A kernel route of either family.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kernel {
    V4(KernelRoute),
    V6(KernelRoute6),
}

impl Kernel {
    fn routes(ipv6: bool) -> Vec<Kernel> {
        if ipv6 {
            let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
            parse_proc_ipv6_route(&text)
                .into_iter()
                .map(Kernel::V6)
                .collect()
        } else {
            let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
            parse_proc_route(&text)
                .into_iter()
                .map(Kernel::V4)
                .collect()
        }
    }

    /// The parameters that identify a route: a UCI route with the same
    /// values is this one.
    fn key_fields(&self) -> &'static [&'static str] {
        match self {
            Kernel::V4(_) => &["DestIPAddress", "DestSubnetMask", "GatewayIPAddress"],
            Kernel::V6(_) => &["DestIPPrefix", "NextHop"],
        }
    }

    /// A parameter of instance `number` of the route; `tr181` says whether
    /// the table has StaticRoute-free IPv6 fields and an IP.Interface reference.
    fn field(&self, number: u32, name: &str, tr181: bool) -> Option<String> {
        let hop = |a: IpAddr| {
            if a.is_unspecified() {
                String::new()
            } else {
                a.to_string()
            }
        };
        Some(match (self, name) {
            (_, "Enable") => "1".to_owned(),
            (_, "Status") => "Enabled".to_owned(),
            (_, "Alias") => format!("cpe-{number}"),
            (_, "Interface") if tr181 => interface_of(match self {
                Kernel::V4(r) => &r.device,
                Kernel::V6(r) => &r.device,
            }),
            (Kernel::V4(_), "StaticRoute") => "0".to_owned(),
            (Kernel::V4(r), "DestIPAddress") => r.destination.to_string(),
            (Kernel::V4(r), "DestSubnetMask") => r.mask.to_string(),
            (Kernel::V4(r), "GatewayIPAddress") => hop(IpAddr::V4(r.gateway)),
            (Kernel::V4(r), "ForwardingMetric") => i32::try_from(r.metric).ok()?.to_string(),
            (Kernel::V6(r), "DestIPPrefix") => format!("{}/{}", r.destination, r.prefix_length),
            (Kernel::V6(r), "NextHop") => hop(IpAddr::V6(r.next_hop)),
            (Kernel::V6(r), "ForwardingMetric") => i32::try_from(r.metric).ok()?.to_string(),
            _ => return None,
        })
    }
}

/// An address or prefix as the kernel route shows it (`2001:DB8::0/48` is
/// `2001:db8::/48`, an IPv6 prefix without a length is a host route), so a
/// UCI route is recognised in the kernel's table.
fn canonical(field: &str, value: &str) -> String {
    let value = value.trim();
    if field == "DestIPPrefix" {
        let (address, length) = value.split_once('/').unwrap_or((value, "128"));
        return match (address.parse::<Ipv6Addr>(), length.parse::<u8>()) {
            (Ok(a), Ok(l)) => format!("{a}/{l}"),
            _ => value.to_owned(),
        };
    }
    value
        .parse::<IpAddr>()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| value.to_owned())
}

/// The `Device.IP.Interface.{i}` of a kernel device (instances are ifindexes).
fn interface_of(device: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{device}/ifindex"))
        .map(|i| format!("Device.IP.Interface.{}", i.trim()))
        .unwrap_or_default()
}

/// The uci-map's provider with the kernel routes added to its forwarding tables.
pub struct WithKernelRoutes<P: Provider> {
    inner: P,
    tables: &'static [RouteTable],
    /// Each table's kernel route numbers when last listed, for `writable`.
    listed: std::cell::RefCell<BTreeMap<&'static str, Vec<u32>>>,
}

impl<P: Provider> WithKernelRoutes<P> {
    pub fn new(inner: P, kind: ModelKind) -> WithKernelRoutes<P> {
        WithKernelRoutes {
            inner,
            tables: match kind {
                ModelKind::Tr181 => &TR181_TABLES,
                ModelKind::Tr098 => &TR098_TABLES,
            },
            listed: std::cell::RefCell::new(BTreeMap::new()),
        }
    }

    /// The table a path lies in (the table itself, an instance or a parameter).
    fn table_of(&self, path: &str) -> Option<&'static RouteTable> {
        self.tables.iter().find(|t| path.starts_with(t.table))
    }

    /// The kernel routes of a table not configured in UCI, with their instance numbers.
    fn kernel(&mut self, table: &'static RouteTable) -> Vec<(u32, Kernel)> {
        let uci_numbers = self.inner.instances(table.table);
        let routes = Kernel::routes(table.ipv6);
        let Some(fields) = routes.first().map(Kernel::key_fields) else {
            self.listed.borrow_mut().insert(table.table, Vec::new());
            return Vec::new();
        };
        let configured: Vec<Vec<String>> = uci_numbers
            .iter()
            .map(|n| {
                fields
                    .iter()
                    .map(|f| {
                        let value = self.inner.get(&format!("{}{n}.{f}", table.table));
                        canonical(f, &value.unwrap_or_default())
                    })
                    .collect()
            })
            .collect();
        let first = uci_numbers
            .iter()
            .max()
            .copied()
            .unwrap_or(0)
            .saturating_add(1);
        let routes: Vec<(u32, Kernel)> = routes
            .into_iter()
            .filter(|r| {
                let key: Vec<String> = fields
                    .iter()
                    .map(|f| r.field(0, f, table.tr181).unwrap_or_default())
                    .collect();
                !configured.contains(&key)
            })
            .zip(first..)
            .map(|(r, n)| (n, r))
            .collect();
        self.listed
            .borrow_mut()
            .insert(table.table, routes.iter().map(|(n, _)| *n).collect());
        routes
    }

    /// Whether a path lies in a kernel route as last listed.
    fn is_listed_kernel(&self, path: &str) -> bool {
        let Some(table) = self.table_of(path) else {
            return false;
        };
        path.strip_prefix(table.table)
            .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok())
            .is_some_and(|n| {
                self.listed
                    .borrow()
                    .get(table.table)
                    .is_some_and(|l| l.contains(&n))
            })
    }

    /// The kernel route a path lies in, its instance number and the parameter name.
    fn kernel_instance(&mut self, path: &str) -> Option<(Kernel, u32, String, bool)> {
        let table = self.table_of(path)?;
        let (number, field) = path.strip_prefix(table.table)?.split_once('.')?;
        let number: u32 = number.parse().ok()?;
        let route = self
            .kernel(table)
            .into_iter()
            .find(|(n, _)| *n == number)?
            .1;
        Some((route, number, field.to_owned(), table.tr181))
    }
}

impl<P: Provider> Provider for WithKernelRoutes<P> {
    fn get(&mut self, path: &str) -> Option<String> {
        if let Some(table) = self.tables.iter().find(|t| t.counter == path) {
            let configured = self.inner.instances(table.table).len();
            return Some((configured + self.kernel(table).len()).to_string());
        }
        match self.kernel_instance(path) {
            Some((route, number, field, tr181)) => route.field(number, &field, tr181),
            None => self.inner.get(path),
        }
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let mut numbers = self.inner.instances(table);
        if let Some(t) = self.tables.iter().find(|t| t.table == table) {
            numbers.extend(self.kernel(t).into_iter().map(|(n, _)| n));
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
    fn uci_values_compare_as_the_kernel_writes_them() {
        assert_eq!(
            canonical("DestIPPrefix", "2001:DB8:0::0/48"),
            "2001:db8::/48"
        );
        assert_eq!(canonical("DestIPPrefix", "2001:db8::1"), "2001:db8::1/128");
        assert_eq!(canonical("NextHop", "FE80::0001"), "fe80::1");
        assert_eq!(canonical("GatewayIPAddress", ""), "");
        assert_eq!(canonical("DestIPPrefix", "junk"), "junk");
    }

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
