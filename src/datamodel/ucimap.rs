//! Declarative parameter-to-UCI mapping loaded from a text file, so a vendor adds parameters without recompiling.
//!
//! Format (`files/etc/icwmp/uci-map`), one mapping a line, `#` comments:
//! ```text
//! Device.WiFi.SSID.{i}. = wireless.@wifi-iface[{i}] where:mode=ap| add:mode=ap,device=radio0
//! Device.WiFi.SSID.{i}.SSID = wireless.@wifi-iface[{i}].ssid
//! Device.WiFi.SSID.{i}.Enable = wireless.@wifi-iface[{i}].disabled !bool default:1
//! Device.X_VENDOR_Led.Brightness = system.led.brightness
//! ```
//! The left side is a schema path (one `{i}` level at most); the right side is
//! `package.section.option` or, for a table, `package.@type[{i}].option`: the
//! table's instances are the sections of that type. A line naming the table
//! itself (`….{i}.` = `package.@type[{i}]`) may restrict its sections
//! (`where:option=value|value`, an empty alternative matching an absent
//! option) and give the options a section made by AddObject starts with
//! (`add:option=value,…`). Modifiers after the location: `bool` (UCI
//! `1/0/on/off/yes/no/true/false`), `!bool` (the inverse, for `disabled`),
//! `enum:uci=TR,…`, `list` (a UCI list, comma-separated in the model),
//! `seconds` (UCI times such as `12h`; `infinite` is -1), `dhcp-min` /
//! `dhcp-max` (a dnsmasq pool's `start`/`limit` as addresses in the
//! subnet of its `interface`), `port-min`/`port-max` and
//! `ip-address`/`ip-mask` (two parameters sharing one option: `80-90`,
//! `192.0.2.0/24`), `ip-interface`/`ip6-interface` (a
//! `network.interface` name as the `Device.IP.Interface.{i}` of its
//! device), `ipv4`/`ipv6`/`ipv6-prefix` (the form a written value must
//! have), `default:value` (when the option is absent)
//! and `ro` (never written). Each table section keeps its instance number
//! in option `cwmp_instance` and its Alias in `cwmp_alias`, so numbers stay
//! stable across deletions and restarts.

use std::fmt;
use std::net::Ipv4Addr;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, SharedUci, UciBackend};
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::ipconfig;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::{NodeKind, Schema, INSTANCE};
use crate::vecmap::VecMap;

/// The option a table's section keeps its instance number in.
pub const INSTANCE_OPTION: &str = "cwmp_instance";
/// The option a table's section keeps its Alias in.
pub const ALIAS_OPTION: &str = "cwmp_alias";

/// Where a parameter's value lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Section {
    Named(String),
    /// The table instance's section of this type.
    Typed(String),
}

/// How a UCI value becomes a parameter value and back.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Transform {
    Text,
    Bool {
        inverted: bool,
    },
    /// (UCI value, model value) pairs.
    Enum(Vec<(String, String)>),
    List,
    Seconds,
    PoolMin,
    PoolMax,
    /// The subnet mask of the pool's `interface` (read only).
    PoolMask,
    /// One DHCP option of a `dhcp_option` list (`6,192.0.2.1,192.0.2.2`),
    /// comma-separated values in the model.
    DhcpOption(u8),
    /// A section name shown as the path of its instance in a mapped table.
    Ref(String),
    /// A `network.interface` section name shown as the
    /// `Device.IP.Interface.{i}` of its kernel device (`ip6-interface`:
    /// written as the IPv6 section of that device).
    IpInterface {
        ipv6: bool,
    },
    /// The instance of the same number in another table on the same sections (read only).
    Same(String),
    /// One half of an option two parameters share (`port-min`/`port-max`
    /// on `80-90`, `ip-address`/`ip-mask` on `192.0.2.0/24`).
    Half(Joined, Half),
    /// A fixed value (read only; the location may be `-`).
    Const(String),
    /// The number of instances of a mapped table (read only; location `-`),
    /// for counters whose names do not follow `<table>NumberOfEntries`.
    Count(String),
}

/// How two parameters share one UCI option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Joined {
    /// fw4's port or range (`80`, `80-90`, `80:90`) ↔ first port and range end, -1 for none.
    PortRange,
    /// An address with an optional prefix (`192.0.2.0/24`, `192.0.2.0/255.255.255.0`)
    /// ↔ the address and TR-181's IPPrefix mask `/24`.
    Prefix,
}

/// Which of the two parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Half {
    First,
    Second,
}

impl Joined {
    /// The two parameter values of a UCI value (`None`: absent); `None` for
    /// a value they cannot express (a port list, several addresses).
    fn split(self, raw: Option<&str>) -> Option<(String, String)> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Some(match self {
                Joined::PortRange => ("-1".to_owned(), "-1".to_owned()),
                Joined::Prefix => (String::new(), String::new()),
            });
        };
        match self {
            Joined::PortRange => {
                let port = |p: &str| p.parse::<u16>().ok().map(|p| p.to_string());
                match raw.split_once(['-', ':']) {
                    Some((a, b)) => Some((port(a)?, port(b)?)),
                    None => Some((port(raw)?, "-1".to_owned())),
                }
            }
            Joined::Prefix => {
                let (address, mask) = raw.split_once('/').unwrap_or((raw, ""));
                let ip: std::net::IpAddr = address.parse().ok()?;
                let length = match mask.parse::<Ipv4Addr>() {
                    Ok(m)
                        if ip.is_ipv4()
                            && u32::from(m).leading_ones() == u32::from(m).count_ones() =>
                    {
                        Some(u32::from(m).leading_ones())
                    }
                    Ok(_) => return None,
                    Err(_) if mask.is_empty() => None,
                    Err(_) => Some(mask.parse::<u32>().ok()?),
                };
                Some((
                    address.to_owned(),
                    length.map(|l| format!("/{l}")).unwrap_or_default(),
                ))
            }
        }
    }

    /// Whether a parameter value can stand as one half.
    fn accepts(self, half: Half, value: &str) -> bool {
        match (self, half) {
            (Joined::PortRange, _) => value
                .parse::<i32>()
                .is_ok_and(|p| (-1..=65535).contains(&p)),
            (Joined::Prefix, Half::First) => {
                value.is_empty() || value.parse::<std::net::IpAddr>().is_ok()
            }
            (Joined::Prefix, Half::Second) => {
                let length = value.rsplit_once('/').map(|(_, l)| l);
                value.is_empty()
                    || length
                        .and_then(|l| l.parse::<u32>().ok())
                        .is_some_and(|l| l <= 128)
            }
        }
    }

    /// The UCI value of the two halves (`Ok(None)`: delete the option);
    /// `Err` when they do not go together (a range ending below its start,
    /// a range without a start, a mask without an address or too long for it).
    fn join(self, first: &str, second: &str) -> Result<Option<String>, ()> {
        match self {
            Joined::PortRange => {
                let (min, max): (i32, i32) = (
                    first.parse().map_err(|_| ())?,
                    second.parse().map_err(|_| ())?,
                );
                match (min, max) {
                    (-1, -1) => Ok(None),
                    (-1, _) => Err(()),
                    (_, -1) => Ok(Some(min.to_string())),
                    _ if max < min => Err(()),
                    _ if max == min => Ok(Some(min.to_string())),
                    _ => Ok(Some(format!("{min}-{max}"))),
                }
            }
            Joined::Prefix => {
                let length = second
                    .rsplit_once('/')
                    .map(|(_, l)| l)
                    .filter(|l| !l.is_empty());
                match (first.parse::<std::net::IpAddr>(), length) {
                    (Err(_), None) if first.is_empty() => Ok(None),
                    (Ok(_), None) => Ok(Some(first.to_owned())),
                    (Ok(ip), Some(l)) => {
                        let max = if ip.is_ipv4() { 32 } else { 128 };
                        match l.parse::<u32>() {
                            Ok(n) if n <= max => Ok(Some(format!("{first}/{n}"))),
                            _ => Err(()),
                        }
                    }
                    _ => Err(()),
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    package: String,
    section: Section,
    option: String,
    transform: Transform,
    default: Option<String>,
    read_only: bool,
    /// Reads as the empty string (TR-069 A.3.2.2: passwords and keys).
    secret: bool,
    /// An absent option makes the parameter absent rather than empty.
    optional: bool,
    /// Raw values that count as an absent option (`auto` for a channel).
    absent: Vec<String>,
    /// The form a written value must have (the schema's address data
    /// types are strings to it).
    check: Option<Check>,
}

/// Address forms checked before a value is written (`ipv4`, `ipv6`,
/// `ipv6-prefix` modifiers); the empty value passes (no address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Ipv4,
    Ipv6,
    Ipv6Prefix,
}

impl Check {
    fn accepts(self, value: &str) -> bool {
        if value.is_empty() {
            return true;
        }
        match self {
            Check::Ipv4 => value.parse::<Ipv4Addr>().is_ok(),
            Check::Ipv6 => value.parse::<std::net::Ipv6Addr>().is_ok(),
            Check::Ipv6Prefix => value.split_once('/').is_some_and(|(a, l)| {
                a.parse::<std::net::Ipv6Addr>().is_ok() && l.parse::<u8>().is_ok_and(|l| l <= 128)
            }),
        }
    }
}

/// The sections of one type that make a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Table {
    /// A table with exactly one instance (number 1) that holds others or
    /// named sections, such as TR-098's `LANDevice.1`.
    single: bool,
    package: String,
    section_type: String,
    /// (option, accepted values; `""` matches an absent option).
    filter: Vec<(String, Vec<String>)>,
    /// Options a section made by AddObject starts with.
    initial: Vec<(String, String)>,
    /// Sections are only read and written, never added or deleted.
    fixed: bool,
}

/// A bad line of the mapping file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uci-map line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for MapError {}

/// The parsed mapping: schema path → UCI location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UciMap {
    params: VecMap<String, Target>,
    /// Table schema path (`Device.WiFi.SSID.`) → its sections.
    tables: VecMap<String, Table>,
    /// `…NumberOfEntries` schema path → the table it counts.
    counters: VecMap<String, String>,
}

/// `@type[N]`: the N-th section of a type, for packages whose main section is anonymous.
fn is_indexed_ref(s: &str) -> bool {
    s.strip_prefix('@')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.split_once('['))
        .is_some_and(|(t, n)| is_uci_name(t) && n.parse::<u32>().is_ok())
}

fn is_uci_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `k=v,k=v` pairs.
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// UCI's boolean spellings.
fn uci_true(value: &str) -> bool {
    matches!(value, "1" | "on" | "yes" | "true" | "enabled")
}

/// A UCI time (`3600`, `45m`, `12h`, `2d`, `1w`, `infinite`) in seconds; -1 is infinite.
fn uci_seconds(value: &str) -> Option<i64> {
    if value == "infinite" {
        return Some(-1);
    }
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let n: i64 = digits.parse().ok()?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// (network address, prefix length) of an OpenWrt interface's IPv4
/// configuration: `ipaddr 'a.b.c.d/nn'` or `ipaddr` + `netmask`.
pub fn subnet(uci: &dyn UciBackend, interface: &str) -> Option<(u32, u32)> {
    let ipaddr = uci.get("network", interface, "ipaddr")?;
    let first = ipaddr.split_whitespace().next()?;
    let (addr, prefix) = match first.split_once('/') {
        Some((a, p)) => (a.parse::<Ipv4Addr>().ok()?, p.parse::<u32>().ok()?),
        None => {
            let mask: Ipv4Addr = uci.get("network", interface, "netmask")?.parse().ok()?;
            (first.parse().ok()?, u32::from(mask).leading_ones())
        }
    };
    if !(1..=30).contains(&prefix) {
        return None;
    }
    let mask = u32::MAX << (32 - prefix);
    Some((u32::from(addr) & mask, prefix))
}

/// Whether every `{i}` in `prefix` belongs to a table already declared `single`.
fn outer_tables_single(map: &UciMap, prefix: &str) -> bool {
    let body = prefix;
    let mut at = 0;
    while let Some(found) = body.get(at..).and_then(|rest| rest.find("{i}.")) {
        let table = body.get(..at + found).unwrap_or_default();
        if !map.tables.get(table).is_some_and(|t| t.single) {
            return false;
        }
        at += found + INSTANCE.len() + 1;
    }
    true
}

impl UciMap {
    /// Parses the file text, checking every path against the schema.
    pub fn parse(text: &str, schema: Schema) -> Result<UciMap, MapError> {
        let mut map = UciMap::default();
        let mut table_lines: Vec<(usize, String, Table)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| MapError {
                line: index + 1,
                reason,
            };
            let (path, right) = line
                .split_once('=')
                .map(|(p, l)| (p.trim(), l.trim()))
                .ok_or_else(|| err("expected `path = package.section.option`".into()))?;
            // One file serves both models: lines of the other one are skipped.
            let other_root = match schema.kind() {
                crate::datamodel::schema::ModelKind::Tr181 => "InternetGatewayDevice.",
                crate::datamodel::schema::ModelKind::Tr098 => "Device.",
            };
            if path.starts_with(other_root) {
                continue;
            }
            let mut words = right.split_whitespace();
            let location = words.next().unwrap_or_default();
            let modifiers: Vec<&str> = words.collect();
            let outer = path.rsplit_once("{i}.").map_or("", |(t, _)| t);
            if !outer_tables_single(&map, outer) {
                return Err(err(format!(
                    "{path}: only the innermost {{i}} may be a table of sections; declare the others `single` first"
                )));
            }
            // The instance levels that map to sections (0 or 1).
            let levels = match path.rsplit_once("{i}.") {
                Some((table, _)) if !map.tables.get(table).is_some_and(|t| t.single) => 1,
                _ => 0,
            };
            if let Some(table) = path.strip_suffix("{i}.") {
                let table = table.to_owned();
                if schema.lookup(&table).map(|t| schema.node_kind(t)) != Some(NodeKind::Table) {
                    return Err(err(format!("{table} is not a table")));
                }
                if location == "single" && modifiers.is_empty() {
                    let entry = Table {
                        single: true,
                        ..Table::default()
                    };
                    if map.tables.insert(table.clone(), entry).is_some() {
                        return Err(err(format!("{table} is mapped twice")));
                    }
                    continue;
                }
                if !outer_tables_single(&map, &table) {
                    return Err(err(format!(
                        "{table}: the tables above it must be declared `single` first"
                    )));
                }
                let (package, stype) = location
                    .split_once(".@")
                    .and_then(|(p, s)| Some((p, s.strip_suffix("[{i}]")?)))
                    .filter(|(p, s)| is_uci_name(p) && is_uci_name(s))
                    .ok_or_else(|| err(format!("{location}: expected package.@type[{{i}}]")))?;
                let mut entry = Table {
                    package: package.to_owned(),
                    section_type: stype.to_owned(),
                    ..Table::default()
                };
                for m in modifiers {
                    if let Some(list) = m.strip_prefix("where:") {
                        let (option, values) = list
                            .split_once('=')
                            .filter(|(o, _)| is_uci_name(o))
                            .ok_or_else(|| err(format!("{m}: expected where:option=value")))?;
                        let values = values.split('|').map(str::to_owned).collect();
                        entry.filter.push((option.to_owned(), values));
                    } else if m == "fixed" {
                        entry.fixed = true;
                    } else if let Some(list) = m.strip_prefix("add:") {
                        let list = pairs(list)
                            .filter(|l| l.iter().all(|(k, _)| is_uci_name(k)))
                            .ok_or_else(|| err(format!("{m}: expected add:option=value,…")))?;
                        entry.initial.extend(list);
                    } else {
                        return Err(err(format!("{m}: unknown table modifier")));
                    }
                }
                table_lines.push((index + 1, table, entry));
                continue;
            }
            if !schema.lookup(path).is_some_and(|n| schema.is_parameter(n)) {
                return Err(err(format!("{path} is not a parameter of the schema")));
            }
            let constant = modifiers.iter().find_map(|m| {
                m.strip_prefix("const:")
                    .map(|v| Transform::Const(v.to_owned()))
                    .or_else(|| {
                        m.strip_prefix("same:")
                            .map(|t| Transform::Same(t.to_owned()))
                    })
                    .or_else(|| {
                        m.strip_prefix("count:")
                            .map(|t| Transform::Count(t.to_owned()))
                    })
            });
            let mut parts = location.splitn(3, '.');
            let (package, section, option) = match (parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(s), Some(o)) => (p, s, o),
                _ if location == "-" && constant.is_some() => ("-", "-", "-"),
                _ => return Err(err(format!("{location}: expected package.section.option"))),
            };
            if let (Some(transform), "-") = (constant, location) {
                let target = Target {
                    package: String::new(),
                    section: Section::Named(String::new()),
                    option: String::new(),
                    transform,
                    default: None,
                    read_only: true,
                    secret: false,
                    optional: false,
                    absent: Vec::new(),
                    check: None,
                };
                map.params.insert(path.to_owned(), target);
                continue;
            }
            let section = match section
                .strip_prefix('@')
                .and_then(|s| s.strip_suffix("[{i}]"))
            {
                Some(stype) if levels == 1 && is_uci_name(stype) => {
                    Section::Typed(stype.to_owned())
                }
                None if levels == 0 && (is_uci_name(section) || is_indexed_ref(section)) => {
                    Section::Named(section.to_owned())
                }
                _ => {
                    return Err(err(format!(
                        "{location}: section does not match the path's instances"
                    )))
                }
            };
            if !is_uci_name(package) || !is_uci_name(option) {
                return Err(err(format!("{location}: bad UCI name")));
            }
            let mut target = Target {
                package: package.to_owned(),
                section,
                option: option.to_owned(),
                transform: Transform::Text,
                default: None,
                read_only: false,
                secret: false,
                optional: false,
                absent: Vec::new(),
                check: None,
            };
            for m in modifiers {
                let transform = match m {
                    "secret" => {
                        target.secret = true;
                        continue;
                    }
                    "optional" => {
                        target.optional = true;
                        continue;
                    }
                    "bool" => Transform::Bool { inverted: false },
                    "!bool" => Transform::Bool { inverted: true },
                    "list" => Transform::List,
                    "seconds" => Transform::Seconds,
                    "port-min" => Transform::Half(Joined::PortRange, Half::First),
                    "port-max" => Transform::Half(Joined::PortRange, Half::Second),
                    "ip-address" => Transform::Half(Joined::Prefix, Half::First),
                    "ip-mask" => Transform::Half(Joined::Prefix, Half::Second),
                    "dhcp-min" if option == "start" => Transform::PoolMin,
                    "dhcp-max" if option == "limit" => Transform::PoolMax,
                    "dhcp-mask" if option == "interface" => Transform::PoolMask,
                    "ipv4" | "ipv6" | "ipv6-prefix" => {
                        target.check = Some(match m {
                            "ipv4" => Check::Ipv4,
                            "ipv6" => Check::Ipv6,
                            _ => Check::Ipv6Prefix,
                        });
                        continue;
                    }
                    "ip-interface" => Transform::IpInterface { ipv6: false },
                    "ip6-interface" => Transform::IpInterface { ipv6: true },
                    "ro" => {
                        target.read_only = true;
                        continue;
                    }
                    _ => {
                        if let Some(value) = m.strip_prefix("default:") {
                            target.default = Some(value.to_owned());
                            continue;
                        }
                        if let Some(code) = m.strip_prefix("dhcp-option:") {
                            let code = code
                                .parse()
                                .map_err(|_| err(format!("{m}: expected a DHCP option number")))?;
                            target.transform = Transform::DhcpOption(code);
                            continue;
                        }
                        if let Some(table) = m.strip_prefix("ref:") {
                            target.transform = Transform::Ref(table.to_owned());
                            continue;
                        }
                        if let Some(table) = m.strip_prefix("same:") {
                            target.transform = Transform::Same(table.to_owned());
                            target.read_only = true;
                            continue;
                        }
                        if let Some(value) = m.strip_prefix("const:") {
                            target.transform = Transform::Const(value.to_owned());
                            target.read_only = true;
                            continue;
                        }
                        if let Some(values) = m.strip_prefix("absent:") {
                            target.absent = values.split('|').map(str::to_owned).collect();
                            continue;
                        }
                        match m.strip_prefix("enum:").and_then(pairs) {
                            Some(list) => Transform::Enum(list),
                            None => return Err(err(format!("{m}: unknown modifier"))),
                        }
                    }
                };
                target.transform = transform;
            }
            if let Section::Typed(stype) = &target.section {
                let table = path
                    .rsplit_once("{i}.")
                    .map(|(t, _)| t.to_owned())
                    .unwrap_or_default();
                if schema.lookup(&table).map(|t| schema.node_kind(t)) != Some(NodeKind::Table) {
                    return Err(err(format!("{table} is not a table")));
                }
                let entry = map.tables.get_or_insert_with(table.clone(), || Table {
                    package: package.to_owned(),
                    section_type: stype.clone(),
                    ..Table::default()
                });
                if entry.single || entry.package != package || entry.section_type != *stype {
                    return Err(err(format!("{table} is mapped to two section types")));
                }
            }
            map.params.insert(path.to_owned(), target);
        }
        for (line, table, entry) in table_lines {
            let known = map.tables.get(&table);
            if known
                .is_some_and(|k| k.package != entry.package || k.section_type != entry.section_type)
            {
                return Err(MapError {
                    line,
                    reason: format!("{table} is mapped to two section types"),
                });
            }
            map.tables.insert(table, entry);
        }
        for (path, target) in &map.params {
            if let Transform::Ref(table) | Transform::Same(table) | Transform::Count(table) =
                &target.transform
            {
                if !map.tables.contains_key(table) {
                    return Err(MapError {
                        line: 0,
                        reason: format!("{path}: {table} is not a mapped table"),
                    });
                }
            }
        }
        for table in map.tables.keys() {
            let counter = format!("{}NumberOfEntries", table.trim_end_matches('.'));
            if schema
                .lookup(&counter)
                .is_some_and(|n| schema.is_parameter(n))
            {
                map.counters.insert(counter, table.clone());
            }
        }
        Ok(map)
    }

    /// The schema prefixes to register: each table, its counter and each plain parameter.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tables.keys().cloned().collect();
        out.extend(self.counters.keys().cloned());
        out.extend(
            self.params
                .iter()
                .filter(|(_, t)| matches!(t.section, Section::Named(_)))
                .map(|(p, _)| p.clone()),
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty() && self.tables.is_empty()
    }
}

/// (instance number, section name) of every section of a table, ascending.
fn numbered(uci: &dyn UciBackend, table: &Table) -> Vec<(u32, String)> {
    let sections: Vec<_> = uci
        .sections(&table.package)
        .into_iter()
        .filter(|s| s.section_type == table.section_type)
        .filter(|s| {
            table.filter.iter().all(|(option, values)| {
                let value = uci.get(&table.package, &s.name, option).unwrap_or_default();
                values.contains(&value)
            })
        })
        .collect();
    let named = sections
        .into_iter()
        .map(|s| {
            let stored = uci
                .get(&table.package, &s.name, INSTANCE_OPTION)
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0);
            (s.name, stored)
        })
        .collect();
    assign_numbers(named)
}

/// Instance numbers for sections in file order with the number each stores
/// in `cwmp_instance` (if any): a section without one takes the lowest free
/// number. Sorted by number; a number stored twice keeps its first section.
pub fn assign_numbers(sections: Vec<(String, Option<u32>)>) -> Vec<(u32, String)> {
    let used: Vec<u32> = sections.iter().filter_map(|(_, n)| *n).collect();
    let mut next = 0;
    let mut out: Vec<(u32, String)> = sections
        .into_iter()
        .map(|(name, n)| {
            let n = n.unwrap_or_else(|| {
                next += 1;
                while used.contains(&next) {
                    next += 1;
                }
                next
            });
            (n, name)
        })
        .collect();
    out.sort();
    out.dedup_by_key(|(n, _)| *n);
    out
}

/// Instance numbers for the entries of a UCI list (a bridge's `ports`,
/// dnsmasq's `server`s), kept stable by a companion list of `entry=N`
/// pairs (`stored`, as `UciBackend::get` gives a list); an entry without
/// one takes the lowest number that is free and not `reserved`.
pub fn list_entry_numbers(
    entries: &[String],
    stored: &str,
    reserved: &[u32],
) -> Vec<(u32, String)> {
    let pairs: Vec<(&str, u32)> = stored
        .split_whitespace()
        .filter_map(|pair| {
            let (entry, n) = pair.rsplit_once('=')?;
            Some((entry, n.parse().ok().filter(|n| !reserved.contains(n))?))
        })
        .collect();
    let mut named: Vec<(String, Option<u32>)> =
        reserved.iter().map(|n| (String::new(), Some(*n))).collect();
    named.extend(entries.iter().map(|e| {
        let stored = pairs.iter().find(|(k, _)| k == e).map(|(_, n)| *n);
        (e.clone(), stored.filter(|n| *n > 0))
    }));
    assign_numbers(named)
        .into_iter()
        .filter(|(n, e)| !(e.is_empty() && reserved.contains(n)))
        .collect()
}

/// The companion list that keeps `numbered`'s instance numbers.
pub fn list_entry_pairs(numbered: &[(u32, String)]) -> Vec<String> {
    numbered.iter().map(|(n, e)| format!("{e}={n}")).collect()
}

/// The instance numbers the map gives the sections of one type (without a
/// `where:` filter): for run-time providers that serve parameters of a mapped table.
pub fn section_numbers(
    uci: &dyn UciBackend,
    package: &str,
    section_type: &str,
) -> Vec<(u32, String)> {
    let table = Table {
        package: package.to_owned(),
        section_type: section_type.to_owned(),
        ..Table::default()
    };
    numbered(uci, &table)
}

/// As `section_numbers`, for a table with `where:option=values`.
pub fn section_numbers_where(
    uci: &dyn UciBackend,
    package: &str,
    section_type: &str,
    option: &str,
    values: &[&str],
) -> Vec<(u32, String)> {
    let table = Table {
        package: package.to_owned(),
        section_type: section_type.to_owned(),
        filter: vec![(
            option.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        )],
        ..Table::default()
    };
    numbered(uci, &table)
}

/// One change staged by SetParameterValues.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Write {
    Set(String),
    List(Vec<String>),
    /// One half of a joined option.
    Half(Joined, Half, String),
    PoolMin(u32),
    PoolMax(u32),
}

/// Writes options staged as (section, option, value) to one UCI package and
/// commits it; on any failure reverts the package and denies the request.
/// Nothing staged applies at once; otherwise the change waits for the
/// package's service to reload after the session.
pub fn commit_staged_options(
    uci: &SharedUci,
    package: &str,
    staged: &[(String, &'static str, String)],
) -> Result<ApplyStatus, Fault> {
    if staged.is_empty() {
        return Ok(ApplyStatus::Applied);
    }
    let mut uci = uci.borrow_mut();
    let mut result = Ok(());
    for (section, option, value) in staged {
        result = result.and_then(|()| uci.set(package, section, option, value));
    }
    commit_or_revert(&mut *uci, package, result)?;
    Ok(ApplyStatus::Pending)
}

/// The halves SetParameterValues gave of one option two parameters share.
struct JoinedWrite {
    package: String,
    section: String,
    option: String,
    joined: Joined,
    first: Option<String>,
    second: Option<String>,
}

/// Serves the mapped parameters from a `UciBackend`.
pub struct UciMapProvider {
    map: UciMap,
    uci: SharedUci,
    /// (package, section, option, change).
    staged: Vec<(String, String, String, Write)>,
}

/// A concrete path split into its schema pattern and its instance number.
fn pattern_of(path: &str) -> (String, Option<u32>) {
    let mut number = None;
    let pattern = path
        .split('.')
        .map(|s| match s.parse::<u32>() {
            Ok(n) if !s.is_empty() => {
                number = Some(n);
                INSTANCE
            }
            _ => s,
        })
        .collect::<Vec<_>>()
        .join(".");
    (pattern, number)
}

impl UciMapProvider {
    pub fn new(map: UciMap, uci: SharedUci) -> UciMapProvider {
        UciMapProvider {
            map,
            uci,
            staged: Vec::new(),
        }
    }

    /// (instance number, section name) of every section of a table.
    fn numbered_sections(&self, table: &Table) -> Vec<(u32, String)> {
        numbered(&*self.uci.borrow(), table)
    }

    /// Stores the computed instance number in every section lacking one, so
    /// that adding or deleting a section does not renumber the others.
    fn materialize(&self, table: &Table) -> Result<(), FaultCode> {
        let numbered = self.numbered_sections(table);
        let mut uci = self.uci.borrow_mut();
        for (n, section) in numbered {
            if uci.get(&table.package, &section, INSTANCE_OPTION).is_none() {
                uci.set(&table.package, &section, INSTANCE_OPTION, &n.to_string())
                    .map_err(|_| FaultCode::RequestDenied)?;
            }
        }
        Ok(())
    }

    fn table_of_pattern(&self, pattern: &str) -> Option<&Table> {
        let table = pattern.rsplit_once("{i}.").map(|(t, _)| t)?;
        self.map.tables.get(table)
    }

    fn section_of(&self, pattern: &str, target: &Target, number: Option<u32>) -> Option<String> {
        match &target.section {
            Section::Named(name) => Some(name.clone()),
            Section::Typed(_) => {
                let number = number?;
                let table = self.table_of_pattern(pattern)?;
                self.numbered_sections(table)
                    .into_iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, s)| s)
            }
        }
    }

    fn table_entry(&self, table: &str) -> Option<Table> {
        let (pattern, _) = pattern_of(table);
        self.map.tables.get(&pattern).cloned()
    }

    /// The pool's (first, last) address from `start`/`limit` and its interface's subnet.
    fn pool_range(&self, package: &str, section: &str) -> Option<(u32, u32, u32, u32)> {
        let uci = self.uci.borrow();
        let interface = uci.get(package, section, "interface")?;
        let (network, prefix) = subnet(&*uci, &interface)?;
        let start: u32 = uci
            .get(package, section, "start")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let limit: u32 = uci
            .get(package, section, "limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(150);
        let first = network.checked_add(start)?;
        let last = first.checked_add(limit.max(1) - 1)?;
        Some((first, last, network, prefix))
    }

    /// Writes options two parameters share, each half the ACS did not set
    /// staying as it is.
    fn write_halves(&self, halves: &[JoinedWrite]) -> Result<(), Fault> {
        let mut uci = self.uci.borrow_mut();
        for write in halves {
            let JoinedWrite {
                package,
                section,
                option,
                joined,
                first,
                second,
            } = write;
            let current = uci.get(package, section, option);
            // A value the halves cannot express (a port list) is replaced whole.
            let (old_first, old_second) = joined
                .split(current.as_deref())
                .or_else(|| joined.split(None))
                .unwrap_or_default();
            let first = first.as_deref().unwrap_or(&old_first);
            let second = second.as_deref().unwrap_or(&old_second);
            let joined = joined.join(first, second).map_err(|()| {
                Fault::with_text(
                    FaultCode::InvalidParameterValue,
                    format!(
                        "{package}.{section}.{option}: '{first}' and '{second}' do not go together"
                    ),
                )
            })?;
            match joined {
                Some(value) => uci.set(package, section, option, &value),
                None => uci.delete_option(package, section, option),
            }
            .map_err(|e| Fault::with_text(FaultCode::RequestDenied, e))?;
        }
        Ok(())
    }

    /// The instance number of a section in a mapped table.
    fn number_in(&self, table: &str, section: &str) -> Option<u32> {
        let table = self.map.tables.get(table)?;
        self.numbered_sections(table)
            .into_iter()
            .find(|(_, s)| s == section)
            .map(|(n, _)| n)
    }

    fn read(&self, pattern: &str, target: &Target, number: Option<u32>) -> Option<String> {
        match &target.transform {
            Transform::Const(value) => return Some(value.clone()),
            Transform::Same(table) => return Some(format!("{table}{}", number?)),
            Transform::Count(table) => {
                let table = self.map.tables.get(table)?;
                if table.single {
                    return Some("1".to_owned());
                }
                return Some(self.numbered_sections(table).len().to_string());
            }
            _ => {}
        }
        let section = self.section_of(pattern, target, number)?;
        let raw = self
            .uci
            .borrow()
            .get(&target.package, &section, &target.option)
            .filter(|v| !target.absent.contains(v));
        if target.secret {
            return Some(String::new());
        }
        if raw.is_none() && target.optional {
            return None;
        }
        let value = match (&target.transform, raw) {
            (Transform::PoolMask, _) => {
                let (.., prefix) = self.pool_range(&target.package, &section)?;
                return Some(Ipv4Addr::from(u32::MAX << (32 - prefix)).to_string());
            }
            (Transform::DhcpOption(code), raw) => {
                let prefix = format!("{code},");
                let found = raw.unwrap_or_default();
                let item = found.split_whitespace().find(|i| i.starts_with(&prefix));
                return Some(
                    item.and_then(|i| i.get(prefix.len()..))
                        .map(str::to_owned)
                        .or_else(|| target.default.clone())
                        .unwrap_or_default(),
                );
            }
            (Transform::IpInterface { .. }, Some(name)) => {
                return Some(ipconfig::ip_interface_path(&*self.uci.borrow(), &name));
            }
            (Transform::Ref(table), Some(name)) => {
                return Some(
                    self.number_in(table, &name)
                        .map(|n| format!("{table}{n}"))
                        .unwrap_or_default(),
                );
            }
            (Transform::Half(joined, half), raw) => {
                let (first, second) = joined.split(raw.as_deref())?;
                return Some(if *half == Half::First { first } else { second });
            }
            (Transform::PoolMin | Transform::PoolMax, _) => {
                let (first, last, ..) = self.pool_range(&target.package, &section)?;
                let address = if target.transform == Transform::PoolMin {
                    first
                } else {
                    last
                };
                return Some(Ipv4Addr::from(address).to_string());
            }
            (_, None) => return Some(target.default.clone().unwrap_or_default()),
            (_, Some(raw)) => raw,
        };
        Some(match &target.transform {
            Transform::Bool { inverted } => if uci_true(&value) != *inverted {
                "1"
            } else {
                "0"
            }
            .to_owned(),
            // A UCI value the enumeration has no pair for (and no `*`)
            // has no TR value: the parameter is absent rather than wrong.
            Transform::Enum(list) => list
                .iter()
                .find(|(u, _)| *u == value)
                .or_else(|| list.iter().find(|(u, _)| u == "*"))
                .map(|(_, m)| m.clone())?,
            Transform::List => value.split_whitespace().collect::<Vec<_>>().join(","),
            Transform::Seconds => uci_seconds(&value).map_or(value, |s| s.to_string()),
            _ => value,
        })
    }
}

impl Provider for UciMapProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (pattern, number) = pattern_of(path);
        if let Some(target) = self.map.params.get(&pattern) {
            return self.read(&pattern, target, number);
        }
        if let Some(table) = self.map.counters.get(&pattern) {
            let table = self.map.tables.get(table)?;
            if table.single {
                return Some("1".to_owned());
            }
            return Some(self.numbered_sections(table).len().to_string());
        }
        // An unmapped Alias of a mapped table lives in the section itself.
        let table = pattern.strip_suffix("{i}.Alias")?;
        let table = self.map.tables.get(table)?;
        let number = number?;
        if table.single {
            return Some(format!("cpe-{number}"));
        }
        let section = self
            .numbered_sections(table)
            .into_iter()
            .find(|(n, _)| *n == number)?
            .1;
        let alias = self
            .uci
            .borrow()
            .get(&table.package, &section, ALIAS_OPTION);
        Some(alias.unwrap_or_else(|| format!("cpe-{number}")))
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        match self.table_entry(table) {
            Some(table) if table.single => vec![1],
            Some(table) => self
                .numbered_sections(&table)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            None => Vec::new(),
        }
    }

    fn writable(&self, path: &str) -> bool {
        let (pattern, _) = pattern_of(path);
        match self.map.params.get(&pattern) {
            Some(target) => !target.read_only,
            None => pattern
                .strip_suffix("{i}.Alias")
                .and_then(|t| self.map.tables.get(t))
                .is_some_and(|t| !t.single),
        }
    }

    fn creatable(&self, table: &str) -> bool {
        self.table_entry(table)
            .is_some_and(|t| !t.single && !t.fixed)
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (pattern, number) = pattern_of(path);
        let Some(target) = self.map.params.get(&pattern) else {
            let table = pattern
                .strip_suffix("{i}.Alias")
                .and_then(|t| self.map.tables.get(t))
                .filter(|t| !t.single)
                .ok_or(FaultCode::NonWritableParameter)?;
            let section = number
                .and_then(|n| {
                    self.numbered_sections(table)
                        .into_iter()
                        .find(|(m, _)| *m == n)
                })
                .ok_or(FaultCode::InvalidParameterName)?
                .1;
            let package = table.package.clone();
            self.staged.push((
                package,
                section,
                ALIAS_OPTION.to_owned(),
                Write::Set(value.to_owned()),
            ));
            return Ok(());
        };
        if target.read_only {
            return Err(FaultCode::NonWritableParameter);
        }
        if target.check.is_some_and(|c| !c.accepts(value)) {
            return Err(FaultCode::InvalidParameterValue);
        }
        let section = self
            .section_of(&pattern, target, number)
            .ok_or(FaultCode::InvalidParameterName)?;
        let write = match &target.transform {
            Transform::Text => Write::Set(value.to_owned()),
            Transform::Bool { inverted } => Write::Set(
                if (value == "1") != *inverted {
                    "1"
                } else {
                    "0"
                }
                .to_owned(),
            ),
            Transform::Enum(list) => list
                .iter()
                .find(|(u, m)| m == value && u != "*")
                .map(|(u, _)| Write::Set(u.clone()))
                .ok_or(FaultCode::InvalidParameterValue)?,
            Transform::List => Write::List(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Transform::Seconds => match value.parse::<i64>() {
                Ok(-1) => Write::Set("infinite".to_owned()),
                Ok(n) if n >= 0 => Write::Set(n.to_string()),
                _ => return Err(FaultCode::InvalidParameterValue),
            },
            Transform::Half(joined, half) => {
                if !joined.accepts(*half, value) {
                    return Err(FaultCode::InvalidParameterValue);
                }
                Write::Half(*joined, *half, value.to_owned())
            }
            Transform::PoolMask
            | Transform::Same(_)
            | Transform::Const(_)
            | Transform::Count(_) => return Err(FaultCode::NonWritableParameter),
            Transform::DhcpOption(code) => {
                let prefix = format!("{code},");
                let current = self
                    .uci
                    .borrow()
                    .get(&target.package, &section, &target.option)
                    .unwrap_or_default();
                let mut items: Vec<String> = current
                    .split_whitespace()
                    .filter(|i| !i.starts_with(&prefix))
                    .map(str::to_owned)
                    .collect();
                let values: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect();
                if !values.is_empty() {
                    items.push(format!("{code},{}", values.join(",")));
                }
                Write::List(items)
            }
            Transform::IpInterface { ipv6 } => {
                let uci = self.uci.borrow();
                let current = uci.get(&target.package, &section, &target.option);
                let name = ipconfig::section_for_path(&*uci, value, current.as_deref(), *ipv6)
                    .ok_or(FaultCode::InvalidParameterValue)?;
                Write::Set(name)
            }
            Transform::Ref(table) => {
                let number = value
                    .strip_prefix(table.as_str())
                    .and_then(|n| n.trim_end_matches('.').parse::<u32>().ok());
                let entry = self.map.tables.get(table);
                let name = match (number, entry) {
                    (Some(n), Some(entry)) => self
                        .numbered_sections(entry)
                        .into_iter()
                        .find(|(m, _)| *m == n)
                        .map(|(_, s)| s),
                    _ => None,
                };
                // Only named sections can be referred to from another section.
                match name.filter(|n| !n.starts_with('@')) {
                    Some(name) => Write::Set(name),
                    None => return Err(FaultCode::InvalidParameterValue),
                }
            }
            Transform::PoolMin | Transform::PoolMax => {
                let address: Ipv4Addr = value
                    .parse()
                    .map_err(|_| FaultCode::InvalidParameterValue)?;
                let (_, _, network, prefix) = self
                    .pool_range(&target.package, &section)
                    .ok_or(FaultCode::InvalidParameterValue)?;
                let address = u32::from(address);
                let broadcast = network | (u32::MAX >> prefix);
                if address <= network || address >= broadcast {
                    return Err(FaultCode::InvalidParameterValue);
                }
                if target.transform == Transform::PoolMin {
                    Write::PoolMin(address)
                } else {
                    Write::PoolMax(address)
                }
            }
        };
        let (package, option) = (target.package.clone(), target.option.clone());
        self.staged.push((package, section, option, write));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut packages: Vec<String> = Vec::new();
        let mut pools: Vec<(String, String, Option<u32>, Option<u32>)> = Vec::new();
        let mut halves: Vec<JoinedWrite> = Vec::new();
        let mut result: Result<(), Fault> = Ok(());
        let denied = |e: String| Fault::with_text(FaultCode::RequestDenied, e);
        for (package, section, option, write) in staged {
            if !packages.contains(&package) {
                packages.push(package.clone());
            }
            let mut uci = self.uci.borrow_mut();
            let done = match write {
                Write::Set(value) => uci.set(&package, &section, &option, &value),
                Write::List(items) => {
                    let items: Vec<&str> = items.iter().map(String::as_str).collect();
                    uci.set_list(&package, &section, &option, &items)
                }
                Write::Half(joined, half, value) => {
                    let at = halves.iter().position(|w| {
                        w.package == package && w.section == section && w.option == option
                    });
                    let entry = match at {
                        Some(i) => halves.get_mut(i),
                        None => {
                            halves.push(JoinedWrite {
                                package: package.clone(),
                                section: section.clone(),
                                option: option.clone(),
                                joined,
                                first: None,
                                second: None,
                            });
                            halves.last_mut()
                        }
                    };
                    if let Some(entry) = entry {
                        match half {
                            Half::First => entry.first = Some(value),
                            Half::Second => entry.second = Some(value),
                        }
                    }
                    Ok(())
                }
                Write::PoolMin(a) | Write::PoolMax(a) => {
                    let min = matches!(write, Write::PoolMin(_));
                    let at = pools
                        .iter()
                        .position(|(p, s, ..)| *p == package && *s == section);
                    let entry = match at {
                        Some(i) => pools.get_mut(i),
                        None => {
                            pools.push((package.clone(), section.clone(), None, None));
                            pools.last_mut()
                        }
                    };
                    if let Some(entry) = entry {
                        if min {
                            entry.2 = Some(a);
                        } else {
                            entry.3 = Some(a);
                        }
                    }
                    Ok(())
                }
            };
            if let Err(e) = done {
                result = Err(denied(format!("{package}.{section}.{option}: {e}")));
                break;
            }
        }
        if result.is_ok() {
            result = self.write_halves(&halves);
        }
        if result.is_ok() {
            for (package, section, min, max) in &pools {
                let Some((first, last, network, _)) = self.pool_range(package, section) else {
                    result = Err(denied(format!("{package}.{section}: no subnet")));
                    break;
                };
                let (min, max) = (min.unwrap_or(first), max.unwrap_or(last));
                if min > max {
                    result = Err(Fault::with_text(
                        FaultCode::InvalidParameterValue,
                        "MinAddress is above MaxAddress",
                    ));
                    break;
                }
                let mut uci = self.uci.borrow_mut();
                let start = (min - network).to_string();
                let limit = (max - min + 1).to_string();
                if let Err(e) = uci
                    .set(package, section, "start", &start)
                    .and_then(|()| uci.set(package, section, "limit", &limit))
                {
                    result = Err(denied(e));
                    break;
                }
            }
        }
        let mut uci = self.uci.borrow_mut();
        if let Err(fault) = result {
            for package in &packages {
                uci.revert(package);
            }
            return Err(fault);
        }
        for (i, package) in packages.iter().enumerate() {
            if let Err(e) = uci.commit(package) {
                for rest in packages.get(i..).unwrap_or(&[]) {
                    uci.revert(rest);
                }
                return Err(denied(e));
            }
        }
        Ok(ApplyStatus::after_writing(!packages.is_empty()))
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
        let table = self
            .table_entry(table)
            .ok_or(FaultCode::InvalidParameterName)?;
        self.materialize(&table)?;
        let mut uci = self.uci.borrow_mut();
        let package = table.package.as_str();
        let result = uci
            .add_section(package, &table.section_type)
            .and_then(|section| {
                for (option, value) in &table.initial {
                    uci.set(package, &section, option, value)?;
                }
                uci.set(package, &section, INSTANCE_OPTION, &number.to_string())?;
                if let Some(alias) = alias {
                    uci.set(package, &section, ALIAS_OPTION, alias)?;
                }
                Ok(())
            });
        commit_or_revert(&mut *uci, package, result).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let body = instance.strip_suffix('.').unwrap_or(instance);
        let (table, number) = body
            .rsplit_once('.')
            .ok_or(FaultCode::InvalidParameterName)?;
        let number: u32 = number
            .parse()
            .map_err(|_| FaultCode::InvalidParameterName)?;
        let table = self
            .table_entry(&format!("{table}."))
            .ok_or(FaultCode::InvalidParameterName)?;
        self.materialize(&table)?;
        let section = self
            .numbered_sections(&table)
            .into_iter()
            .find(|(n, _)| *n == number)
            .ok_or(FaultCode::InvalidParameterName)?
            .1;
        let mut uci = self.uci.borrow_mut();
        let package = table.package.as_str();
        let deleted = uci.delete_section(package, &section);
        commit_or_revert(&mut *uci, package, deleted).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }
}

/// Parses a mapping file's text and registers its provider.
pub fn register_uci_map(
    dm: &mut DataModel,
    text: &str,
    uci: SharedUci,
) -> Result<(), Box<dyn std::error::Error>> {
    let map = UciMap::parse(text, dm.schema())?;
    if map.is_empty() {
        return Ok(());
    }
    let prefixes = map.prefixes();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let provider = UciMapProvider::new(map, uci);
    let kind = dm.schema().kind();
    let provider = crate::datamodel::routes::WithKernelRoutes::new(provider, kind);
    dm.register(&refs, Box::new(provider))
        .map_err(|e: RegisterError| Box::new(e) as Box<dyn std::error::Error>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::MemoryUci;
    use crate::datamodel::engine::{Options, SetValue};
    use crate::datamodel::schema::ModelKind;
    use crate::datamodel::state::DmState;

    const MAP: &str = "\
# SSIDs of the wireless package
Device.WiFi.SSID.{i}.SSID = wireless.@wifi-iface[{i}].ssid
Device.WiFi.SSID.{i}.Enable = wireless.@wifi-iface[{i}].enabled
Device.Users.User.{i}.Username = users.@user[{i}].name
";

    fn setup() -> (DataModel, SharedUci) {
        let mut uci = MemoryUci::default();
        uci.add("wireless", "wifi-device", "radio0", &[("channel", "1")]);
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("ssid", "home"), ("enabled", "1")],
        );
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("ssid", "guest"), ("enabled", "0")],
        );
        let uci = uci.shared();
        let schema = Schema::new(ModelKind::Tr181);
        let mut dm = DataModel::new(schema, Options::default(), DmState::in_memory());
        register_uci_map(&mut dm, MAP, uci.clone()).expect("map");
        (dm, uci)
    }

    #[test]
    fn rejects_bad_lines() {
        let schema = Schema::new(ModelKind::Tr181);
        for (text, line) in [
            ("Device.Nope = a.b.c", 1),
            ("\nDevice.WiFi.SSID.{i}.SSID = wireless.main.ssid", 2),
            ("Device.Time.Enable = system.@timeserver[{i}].enabled", 1),
            ("Device.Time.Enable system.ntp.enabled", 1),
            ("Device.Time.Enable = system.ntp", 1),
            ("Device.Time. = system.ntp.enabled", 1),
        ] {
            assert_eq!(
                UciMap::parse(text, schema).map_err(|e| e.line),
                Err(line),
                "{text}"
            );
        }
    }

    #[test]
    fn reads_writes_adds_and_deletes_through_uci() {
        let (mut dm, uci) = setup();
        let values = dm.get_values(&["Device.WiFi.SSID."]).expect("gpv");
        let pairs: Vec<_> = values
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("Device.WiFi.SSID.1.Enable", "1"),
                ("Device.WiFi.SSID.1.Alias", "cpe-1"),
                ("Device.WiFi.SSID.1.SSID", "home"),
                ("Device.WiFi.SSID.2.Enable", "0"),
                ("Device.WiFi.SSID.2.Alias", "cpe-2"),
                ("Device.WiFi.SSID.2.SSID", "guest"),
            ]
        );
        // Schema validation happens before UCI is touched: SSID is string(32).
        let long = "x".repeat(33);
        let bad = [SetValue {
            name: "Device.WiFi.SSID.2.SSID",
            value: &long,
            xsd_type: None,
        }];
        assert!(dm.set_values(&bad, "k").is_err());
        let good = [
            SetValue {
                name: "Device.WiFi.SSID.2.SSID",
                value: "visitors",
                xsd_type: None,
            },
            SetValue {
                name: "Device.WiFi.SSID.2.Enable",
                value: "true",
                xsd_type: None,
            },
        ];
        assert_eq!(dm.set_values(&good, "k").expect("spv").code(), 1);
        let sections = uci.borrow().sections("wireless");
        let guest = &sections[2].name;
        assert_eq!(
            uci.borrow().get("wireless", guest, "ssid").as_deref(),
            Some("visitors")
        );
        assert_eq!(
            uci.borrow().get("wireless", guest, "enabled").as_deref(),
            Some("1")
        );

        let (n, _) = dm.add_object("Device.WiFi.SSID.", "k").expect("add");
        assert_eq!(n, 3);
        dm.delete_object("Device.WiFi.SSID.1.", "k")
            .expect("delete");
        let names: Vec<_> = dm
            .get_names("Device.WiFi.SSID.", true)
            .expect("gpn")
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["Device.WiFi.SSID.2.", "Device.WiFi.SSID.3."]);
        let alias = dm.get_values(&["Device.WiFi.SSID.3.Alias"]).expect("alias");
        assert_eq!(alias[0].value, "cpe-3");
        assert_eq!(
            dm.get_values(&["Device.WiFi.SSID.3.SSID"]).expect("ssid")[0].value,
            ""
        );
        assert_eq!(
            dm.get_values(&["Device.WiFi.Radio."])
                .map_err(|f| f.code.code()),
            Err(9005)
        );
    }

    const OPENWRT_MAP: &str = "\
Device.WiFi.SSID.{i}. = wireless.@wifi-iface[{i}] where:mode=ap| add:mode=ap,device=radio0
Device.WiFi.SSID.{i}.SSID = wireless.@wifi-iface[{i}].ssid
Device.WiFi.SSID.{i}.Enable = wireless.@wifi-iface[{i}].disabled !bool default:1
Device.WiFi.AccessPoint.{i}. = wireless.@wifi-iface[{i}] where:mode=ap|
Device.WiFi.AccessPoint.{i}.Security.ModeEnabled = wireless.@wifi-iface[{i}].encryption enum:none=None,psk2=WPA2-Personal,sae=WPA3-Personal default:None
Device.DHCPv4.Server.Pool.{i}.MinAddress = dhcp.@dhcp[{i}].start dhcp-min
Device.DHCPv4.Server.Pool.{i}.MaxAddress = dhcp.@dhcp[{i}].limit dhcp-max
Device.DHCPv4.Server.Pool.{i}.LeaseTime = dhcp.@dhcp[{i}].leasetime seconds default:43200
Device.DHCPv4.Server.Pool.{i}.DNSServers = dhcp.@dhcp[{i}].dns list
Device.DHCPv4.Server.Pool.{i}.Status = dhcp.@dhcp[{i}].ignore enum:0=Enabled,1=Disabled default:Enabled ro
";

    fn openwrt() -> (DataModel, SharedUci) {
        let mut uci = MemoryUci::default();
        uci.add(
            "network",
            "interface",
            "lan",
            &[("ipaddr", "192.168.1.1"), ("netmask", "255.255.255.0")],
        );
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("mode", "ap"), ("ssid", "home"), ("encryption", "psk2")],
        );
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("mode", "sta"), ("ssid", "uplink")],
        );
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("ssid", "guest"), ("disabled", "1")],
        );
        uci.add(
            "dhcp",
            "dhcp",
            "lan",
            &[
                ("interface", "lan"),
                ("start", "100"),
                ("limit", "150"),
                ("leasetime", "12h"),
                ("dns", "192.0.2.53 192.0.2.54"),
            ],
        );
        let uci = uci.shared();
        let mut dm = DataModel::new(
            Schema::new(ModelKind::Tr181),
            Options::default(),
            DmState::in_memory(),
        );
        register_uci_map(&mut dm, OPENWRT_MAP, uci.clone()).expect("map");
        (dm, uci)
    }

    fn values(dm: &mut DataModel, path: &str) -> Vec<(String, String)> {
        dm.get_values(&[path])
            .expect(path)
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect()
    }

    fn spv(dm: &mut DataModel, pairs: &[(&str, &str)]) -> Result<u8, Vec<u32>> {
        let entries: Vec<SetValue> = pairs
            .iter()
            .map(|(name, value)| SetValue {
                name,
                value,
                xsd_type: None,
            })
            .collect();
        dm.set_values(&entries, "k").map(|s| s.code()).map_err(|f| {
            if f.parameter_faults.is_empty() {
                vec![f.code.code()]
            } else {
                f.parameter_faults.iter().map(|p| p.code.code()).collect()
            }
        })
    }

    #[test]
    fn an_enumeration_value_without_a_pair_is_absent() {
        let (mut dm, uci) = openwrt();
        let guest = uci.borrow().sections("wireless")[2].name.clone();
        uci.borrow_mut()
            .set("wireless", &guest, "encryption", "psk2+tkip")
            .expect("set");
        let path = "Device.WiFi.AccessPoint.2.Security.ModeEnabled";
        assert_eq!(
            dm.get_values(&[path]).map_err(|f| f.code.code()).err(),
            Some(9005)
        );
        assert_eq!(
            values(&mut dm, "Device.WiFi.AccessPoint.1.Security.ModeEnabled")[0].1,
            "WPA2-Personal"
        );
    }

    #[test]
    fn value_transforms_filters_and_counters() {
        let (mut dm, uci) = openwrt();
        let ssids = values(&mut dm, "Device.WiFi.SSID.");
        let get = |list: &[(String, String)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        };
        // The station interface is filtered out; `disabled` absent is Enable 1.
        assert_eq!(
            get(&ssids, "Device.WiFi.SSID.1.Enable").as_deref(),
            Some("1")
        );
        assert_eq!(
            get(&ssids, "Device.WiFi.SSID.2.SSID").as_deref(),
            Some("guest")
        );
        assert_eq!(
            get(&ssids, "Device.WiFi.SSID.2.Enable").as_deref(),
            Some("0")
        );
        assert_eq!(
            ssids.iter().filter(|(n, _)| n.ends_with(".SSID")).count(),
            2
        );
        assert_eq!(values(&mut dm, "Device.WiFi.SSIDNumberOfEntries")[0].1, "2");
        assert_eq!(
            values(&mut dm, "Device.WiFi.AccessPoint.2.Security.ModeEnabled")[0].1,
            "None"
        );
        assert_eq!(
            values(&mut dm, "Device.WiFi.AccessPoint.1.Security.ModeEnabled")[0].1,
            "WPA2-Personal"
        );
        let pool = values(&mut dm, "Device.DHCPv4.Server.Pool.1.");
        assert_eq!(
            get(&pool, "Device.DHCPv4.Server.Pool.1.MinAddress").as_deref(),
            Some("192.168.1.100")
        );
        assert_eq!(
            get(&pool, "Device.DHCPv4.Server.Pool.1.MaxAddress").as_deref(),
            Some("192.168.1.249")
        );
        assert_eq!(
            get(&pool, "Device.DHCPv4.Server.Pool.1.LeaseTime").as_deref(),
            Some("43200")
        );
        assert_eq!(
            get(&pool, "Device.DHCPv4.Server.Pool.1.DNSServers").as_deref(),
            Some("192.0.2.53,192.0.2.54")
        );
        assert_eq!(
            get(&pool, "Device.DHCPv4.Server.Pool.1.Status").as_deref(),
            Some("Enabled")
        );

        // Writes go back through the transforms, all in one commit.
        assert_eq!(
            spv(
                &mut dm,
                &[
                    ("Device.WiFi.SSID.2.Enable", "true"),
                    (
                        "Device.WiFi.AccessPoint.2.Security.ModeEnabled",
                        "WPA3-Personal"
                    ),
                    ("Device.DHCPv4.Server.Pool.1.MinAddress", "192.168.1.10"),
                    ("Device.DHCPv4.Server.Pool.1.MaxAddress", "192.168.1.19"),
                    ("Device.DHCPv4.Server.Pool.1.LeaseTime", "-1"),
                    (
                        "Device.DHCPv4.Server.Pool.1.DNSServers",
                        "192.0.2.1, 192.0.2.2"
                    ),
                ]
            ),
            Ok(1)
        );
        let u = uci.borrow();
        let guest = "cfg000003";
        assert_eq!(u.get("wireless", guest, "disabled").as_deref(), Some("0"));
        assert_eq!(
            u.get("wireless", guest, "encryption").as_deref(),
            Some("sae")
        );
        assert_eq!(u.get("dhcp", "lan", "start").as_deref(), Some("10"));
        assert_eq!(u.get("dhcp", "lan", "limit").as_deref(), Some("10"));
        assert_eq!(
            u.get("dhcp", "lan", "leasetime").as_deref(),
            Some("infinite")
        );
        assert_eq!(
            u.get("dhcp", "lan", "dns").as_deref(),
            Some("192.0.2.1 192.0.2.2")
        );
        drop(u);

        // Refusals: a value the enumeration map lacks and an address outside
        // the subnet are 9007, a read-only mapping 9008, and nothing is written.
        assert_eq!(
            spv(
                &mut dm,
                &[("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WEP-64")]
            ),
            Err(vec![9007])
        );
        assert_eq!(
            spv(
                &mut dm,
                &[("Device.DHCPv4.Server.Pool.1.MinAddress", "10.0.0.5")]
            ),
            Err(vec![9007])
        );
        assert_eq!(
            spv(
                &mut dm,
                &[("Device.DHCPv4.Server.Pool.1.Status", "Disabled")]
            ),
            Err(vec![9008])
        );
        assert_eq!(
            spv(
                &mut dm,
                &[("Device.DHCPv4.Server.Pool.1.MinAddress", "192.168.1.30")]
            ),
            Err(vec![9007])
        );
        assert_eq!(
            uci.borrow().get("dhcp", "lan", "start").as_deref(),
            Some("10")
        );

        // AddObject gives the new section its initial options, so it is in the table.
        let (n, _) = dm.add_object("Device.WiFi.SSID.", "k").expect("add");
        assert_eq!(n, 3);
        let sections = uci.borrow().sections("wireless");
        let added = sections.last().expect("added").name.clone();
        assert_eq!(
            uci.borrow().get("wireless", &added, "device").as_deref(),
            Some("radio0")
        );
        assert_eq!(
            values(&mut dm, "Device.WiFi.AccessPoint.3.Security.ModeEnabled")[0].1,
            "None"
        );
    }

    #[test]
    fn list_entries_keep_their_numbers() {
        let entries = |list: &[&str]| list.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>();
        let numbered = list_entry_numbers(&entries(&["lan1", "lan2", "lan3"]), "", &[1]);
        assert_eq!(
            numbered,
            [(2, "lan1".into()), (3, "lan2".into()), (4, "lan3".into())]
        );
        let stored = list_entry_pairs(&numbered).join(" ");
        assert_eq!(stored, "lan1=2 lan2=3 lan3=4");
        // lan2 removed, lan4 added elsewhere: lan3 keeps 4, lan4 takes 3; a
        // stored pair naming the reserved number is ignored.
        let numbered = list_entry_numbers(
            &entries(&["lan4", "lan1", "lan3"]),
            &format!("{stored} lan4=1"),
            &[1],
        );
        assert_eq!(
            numbered,
            [(2, "lan1".into()), (3, "lan4".into()), (4, "lan3".into())]
        );
    }

    #[test]
    fn two_parameters_share_a_port_range_or_a_prefix() {
        let ports = Joined::PortRange;
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(ports.split(None), pair("-1", "-1"));
        assert_eq!(ports.split(Some("68")), pair("68", "-1"));
        assert_eq!(ports.split(Some("1000-2000")), pair("1000", "2000"));
        assert_eq!(ports.split(Some("1000:2000")), pair("1000", "2000"));
        assert_eq!(ports.split(Some("22 80")), None);
        assert_eq!(ports.join("22", "-1"), Ok(Some("22".to_owned())));
        assert_eq!(ports.join("22", "30"), Ok(Some("22-30".to_owned())));
        assert_eq!(ports.join("-1", "-1"), Ok(None));
        assert_eq!(ports.join("30", "22"), Err(()));
        assert_eq!(ports.join("-1", "22"), Err(()));
        assert!(!ports.accepts(Half::First, "65536"));
        let prefix = Joined::Prefix;
        assert_eq!(prefix.split(Some("192.0.2.0/24")), pair("192.0.2.0", "/24"));
        assert_eq!(
            prefix.split(Some("192.0.2.0/255.255.255.0")),
            pair("192.0.2.0", "/24")
        );
        assert_eq!(prefix.split(Some("192.0.2.9")), pair("192.0.2.9", ""));
        assert_eq!(
            prefix.split(Some("2001:db8::/32")),
            pair("2001:db8::", "/32")
        );
        assert_eq!(prefix.split(Some("192.0.2.0/255.0.255.0")), None);
        assert_eq!(prefix.split(Some("192.0.2.1 192.0.2.2")), None);
        assert_eq!(
            prefix.join("192.0.2.0", "/24"),
            Ok(Some("192.0.2.0/24".to_owned()))
        );
        // The address part of an IPPrefix mask is ignored.
        assert_eq!(
            prefix.join("192.0.2.0", "10.0.0.0/16"),
            Ok(Some("192.0.2.0/16".to_owned()))
        );
        assert_eq!(prefix.join("", ""), Ok(None));
        assert_eq!(prefix.join("", "/24"), Err(()));
        assert_eq!(prefix.join("192.0.2.0", "/33"), Err(()));
        assert!(prefix.accepts(Half::Second, "/64"));
        assert!(!prefix.accepts(Half::Second, "24"));
        assert!(!prefix.accepts(Half::First, "host.example"));
    }

    #[test]
    fn address_checks_take_only_their_form() {
        assert!(Check::Ipv4.accepts("192.0.2.1") && Check::Ipv4.accepts(""));
        assert!(!Check::Ipv4.accepts("192.0.2.256") && !Check::Ipv4.accepts("2001:db8::1"));
        assert!(Check::Ipv6.accepts("fe80::1") && !Check::Ipv6.accepts("fe80::1/64"));
        assert!(Check::Ipv6Prefix.accepts("2001:db8::/32"));
        for bad in ["2001:db8::", "2001:db8::/129", "192.0.2.0/24", "x/8"] {
            assert!(!Check::Ipv6Prefix.accepts(bad), "{bad}");
        }
    }

    #[test]
    fn uci_times_parse() {
        for (text, seconds) in [
            ("3600", Some(3600)),
            ("45m", Some(2700)),
            ("12h", Some(43200)),
            ("2d", Some(172_800)),
            ("infinite", Some(-1)),
            ("12x", None),
            ("", None),
        ] {
            assert_eq!(uci_seconds(text), seconds, "{text}");
        }
    }

    #[test]
    fn the_shipped_map_parses_for_both_models() {
        let text = include_str!("../../files/etc/icwmp/uci-map");
        for kind in [ModelKind::Tr181, ModelKind::Tr098] {
            let map = UciMap::parse(text, Schema::new(kind));
            assert!(
                map.as_ref().is_ok_and(|m| !m.is_empty()),
                "{kind:?}: {map:?}"
            );
            let mut dm =
                DataModel::new(Schema::new(kind), Options::default(), DmState::in_memory());
            register_uci_map(&mut dm, text, MemoryUci::default().shared()).expect("register");
        }
    }

    /// A backend whose files cannot be written (a full or read-only flash).
    struct UnwritableUci(MemoryUci);

    impl UciBackend for UnwritableUci {
        fn sections(&self, package: &str) -> Vec<crate::datamodel::config::UciSection> {
            self.0.sections(package)
        }
        fn get(&self, package: &str, section: &str, option: &str) -> Option<String> {
            self.0.get(package, section, option)
        }
        fn set(&mut self, p: &str, s: &str, o: &str, v: &str) -> Result<(), String> {
            self.0.set(p, s, o, v)
        }
        fn set_list(&mut self, p: &str, s: &str, o: &str, v: &[&str]) -> Result<(), String> {
            self.0.set_list(p, s, o, v)
        }
        fn delete_option(&mut self, p: &str, s: &str, o: &str) -> Result<(), String> {
            self.0.delete_option(p, s, o)
        }
        fn add_section(&mut self, p: &str, t: &str) -> Result<String, String> {
            self.0.add_section(p, t)
        }
        fn delete_section(&mut self, p: &str, s: &str) -> Result<(), String> {
            self.0.delete_section(p, s)
        }
        fn commit(&mut self, package: &str) -> Result<(), String> {
            Err(format!("/etc/config/{package}: No space left on device"))
        }
        fn revert(&mut self, _package: &str) {}
        fn take_committed(&mut self) -> Vec<String> {
            Vec::new()
        }
    }

    #[test]
    fn a_failed_uci_write_is_9001_and_nothing_is_reloaded() {
        let mut uci = MemoryUci::default();
        uci.add("wireless", "wifi-iface", "", &[("ssid", "home")]);
        let uci: SharedUci = std::rc::Rc::new(std::cell::RefCell::new(UnwritableUci(uci)));
        let mut dm = DataModel::new(
            Schema::new(ModelKind::Tr181),
            Options::default(),
            DmState::in_memory(),
        );
        dm.attach_uci(uci.clone());
        register_uci_map(&mut dm, MAP, uci).expect("map");
        assert_eq!(
            spv(&mut dm, &[("Device.WiFi.SSID.1.SSID", "other")]),
            Err(vec![9001])
        );
        assert_eq!(
            dm.add_object("Device.WiFi.SSID.", "k")
                .map_err(|f| f.code.code()),
            Err(9001)
        );
        assert!(dm.take_changed_packages().is_empty());
    }
}
