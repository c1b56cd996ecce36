//! Providers with real values from the Linux host: DeviceInfo, Time, Ethernet and IP interfaces, DNS servers.
//!
//! They read /proc, /sys, /etc and the UCI configuration on every `get`, so
//! values are always current; nothing is cached except the CPU sample that
//! CPUUsage is measured against.

use std::fs;
use std::net::Ipv6Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cwmp::datetime;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{ConfigStore, SharedConfig, SharedUci};
use crate::datamodel::ipconfig::{static_section, Ipv4AddressTable};
use crate::datamodel::path::instance_below;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::sys;

fn read(path: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The value of `KEY=value` / `KEY='value'` / `KEY="value"` in a shell-style file.
fn shell_var(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix('=')?;
        let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The string value of `"key": "…"` following `"object"` in a small JSON file
/// such as /etc/board.json (`"model": { "id": …, "name": … }`).
fn json_field(path: &str, object: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let start = text.find(&format!("\"{object}\""))?;
    let rest = text.get(start..)?;
    let end = rest.find('}').unwrap_or(rest.len());
    let body = rest.get(..end)?;
    let at = body.find(&format!("\"{key}\""))?;
    let after = body.get(at + key.len() + 2..)?;
    let value = after.split('"').nth(1)?;
    (!value.is_empty()).then(|| value.to_owned())
}

fn first_of(candidates: &[Option<String>], fallback: &str) -> String {
    candidates
        .iter()
        .flatten()
        .next()
        .cloned()
        .unwrap_or_else(|| fallback.to_owned())
}

/// The MAC address of the first non-loopback interface with one.
fn first_mac() -> Option<String> {
    // In ifindex order, as net_interfaces() returns them.
    net_interfaces()
        .iter()
        .filter(|n| n.name != "lo")
        .filter_map(|n| read(&format!("/sys/class/net/{}/address", n.name)))
        .find(|mac| mac != "00:00:00:00:00:00")
}

/// Device identity: configured values first (`cpe.manufacturer` …), then what
/// the platform says (OpenWrt board files, DMI, os-release, machine-id, MAC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub model_name: String,
    pub serial_number: String,
    pub hardware_version: String,
    pub software_version: String,
}

impl DeviceIdentity {
    pub fn detect(config: &dyn ConfigStore) -> DeviceIdentity {
        let cfg = |o: &str| config.get("cpe", o).filter(|v| !v.is_empty());
        let dmi = |f: &str| read(&format!("/sys/class/dmi/id/{f}"));
        let mac = first_mac();
        let oui_from_mac = mac
            .as_ref()
            .map(|m| m.replace(':', "").to_uppercase())
            .and_then(|m| m.get(..6).map(str::to_owned));
        let serial_from_mac = mac.as_ref().map(|m| m.replace(':', "").to_uppercase());
        let machine_id = read("/etc/machine-id").and_then(|id| id.get(..16).map(str::to_uppercase));
        let board_name = read("/tmp/sysinfo/board_name");
        let board_model =
            read("/tmp/sysinfo/model").or_else(|| json_field("/etc/board.json", "model", "name"));
        let openwrt_version = shell_var("/etc/openwrt_release", "DISTRIB_RELEASE").map(|release| {
            match shell_var("/etc/openwrt_release", "DISTRIB_REVISION") {
                Some(rev) => format!("{release}-{rev}"),
                None => release,
            }
        });
        DeviceIdentity {
            manufacturer: first_of(
                &[
                    cfg("manufacturer"),
                    dmi("sys_vendor"),
                    shell_var("/etc/openwrt_release", "DISTRIB_ID"),
                    shell_var("/etc/os-release", "NAME"),
                ],
                "Unknown",
            ),
            oui: first_of(&[cfg("manufacturer_oui"), oui_from_mac], "000000"),
            product_class: first_of(
                &[
                    cfg("product_class"),
                    board_name.clone(),
                    dmi("product_name"),
                ],
                "Generic",
            ),
            model_name: first_of(
                &[cfg("model_name"), board_model, dmi("product_name")],
                std::env::consts::ARCH,
            ),
            serial_number: first_of(
                &[
                    cfg("serial_number"),
                    dmi("product_serial"),
                    machine_id,
                    serial_from_mac,
                ],
                "0",
            ),
            hardware_version: first_of(
                &[cfg("hardware_version"), dmi("product_version"), board_name],
                std::env::consts::ARCH,
            ),
            software_version: first_of(
                &[
                    cfg("software_version"),
                    openwrt_version,
                    shell_var("/etc/os-release", "VERSION_ID"),
                    read("/proc/sys/kernel/osrelease"),
                ],
                env!("CARGO_PKG_VERSION"),
            ),
        }
    }
}

/// `/proc/stat` totals: (busy, total) jiffies.
fn cpu_sample() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn meminfo_kib(key: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()
            .map(str::to_owned)
    })
}

/// Fields of /proc/<pid>/stat after the command (state is field 3).
fn process_stat(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.get(text.rfind(')')? + 1..)?;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn process_value(pid: u32, field: &str) -> Option<String> {
    match field {
        "PID" => Some(pid.to_string()),
        "Alias" => Some(format!("cpe-{pid}")),
        "Command" => read(&format!("/proc/{pid}/comm")),
        "Size" => {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let size = status.lines().find_map(|l| {
                l.strip_prefix("VmSize:")?
                    .split_whitespace()
                    .next()
                    .map(str::to_owned)
            });
            Some(size.unwrap_or_else(|| "0".to_owned()))
        }
        "Priority" => {
            // stat field 18 is the kernel priority; TR-181 wants 0..99.
            let prio: i64 = process_stat(pid)?.get(15)?.parse().ok()?;
            Some(prio.clamp(0, 99).to_string())
        }
        "CPUTime" => {
            let stat = process_stat(pid)?;
            let ticks: u64 =
                stat.get(11)?.parse::<u64>().ok()? + stat.get(12)?.parse::<u64>().ok()?;
            // USER_HZ is 100 on every Linux ABI OpenWrt runs on.
            Some((ticks * 10).to_string())
        }
        "State" => Some(
            match process_stat(pid)?.first()?.as_str() {
                "R" => "Running",
                "S" | "I" => "Sleeping",
                "D" => "Uninterruptible",
                "Z" | "X" => "Zombie",
                "T" | "t" => "Stopped",
                _ => "Idle",
            }
            .to_owned(),
        ),
        _ => None,
    }
}

fn pids() -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// The kernel's thermal zones with a readable temperature, in zone order.
fn thermal_zones() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/sys/class/thermal") else {
        return Vec::new();
    };
    let mut zones: Vec<(u32, String)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let n = name.strip_prefix("thermal_zone")?.parse().ok()?;
            read(&format!("/sys/class/thermal/{name}/temp"))?;
            Some((n, name))
        })
        .collect();
    zones.sort();
    zones.into_iter().map(|(_, name)| name).collect()
}

/// TemperatureSensor.{n} fields from the n-th thermal zone (millidegrees → °C).
fn sensor_value(n: u32, field: &str) -> Option<String> {
    let zone = thermal_zones()
        .into_iter()
        .nth((n as usize).checked_sub(1)?)?;
    let base = format!("/sys/class/thermal/{zone}");
    Some(match field {
        "Alias" => format!("cpe-{n}"),
        "Enable" => "1".to_owned(),
        "Status" => "Enabled".to_owned(),
        "Name" => read(&format!("{base}/type")).unwrap_or(zone),
        "Value" => {
            let milli: i64 = read(&format!("{base}/temp"))?.parse().ok()?;
            (milli / 1000).to_string()
        }
        "LastUpdate" => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
            datetime::format_utc(i64::try_from(now).ok()?)
        }
        _ => return None,
    })
}

/// Serves `<root>.DeviceInfo.`.
pub struct DeviceInfoProvider {
    config: SharedConfig,
    identity: DeviceIdentity,
    last_cpu: Option<(u64, u64)>,
    staged_code: Option<String>,
}

impl DeviceInfoProvider {
    pub fn new(config: SharedConfig) -> DeviceInfoProvider {
        let identity = DeviceIdentity::detect(&*config.borrow());
        DeviceInfoProvider {
            config,
            identity,
            last_cpu: cpu_sample(),
            staged_code: None,
        }
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// CPU use in percent since the previous call (since boot the first time).
    fn cpu_usage(&mut self) -> Option<String> {
        let now = cpu_sample()?;
        let (busy0, total0) = self.last_cpu.unwrap_or((0, 0));
        self.last_cpu = Some(now);
        let (busy, total) = (now.0.saturating_sub(busy0), now.1.saturating_sub(total0));
        let (busy, total) = if total == 0 { now } else { (busy, total) };
        Some((busy * 100).checked_div(total).unwrap_or(0).to_string())
    }
}

impl Provider for DeviceInfoProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, name) = path.split_once(".DeviceInfo.")?;
        let id = &self.identity;
        Some(match name {
            "Manufacturer" => id.manufacturer.clone(),
            "ManufacturerOUI" => id.oui.clone(),
            "ProductClass" => id.product_class.clone(),
            "ModelName" => id.model_name.clone(),
            "SerialNumber" => id.serial_number.clone(),
            "HardwareVersion" => id.hardware_version.clone(),
            "SoftwareVersion" => id.software_version.clone(),
            "SpecVersion" => "1.0".to_owned(),
            "ProvisioningCode" => self
                .config
                .borrow()
                .get("cpe", "provisioning_code")
                .unwrap_or_default(),
            "HostName" => read("/proc/sys/kernel/hostname").unwrap_or_default(),
            "UpTime" => read("/proc/uptime")?.split(['.', ' ']).next()?.to_owned(),
            "MemoryStatus.Total" => meminfo_kib("MemTotal")?,
            "MemoryStatus.Free" => {
                meminfo_kib("MemAvailable").or_else(|| meminfo_kib("MemFree"))?
            }
            "ProcessStatus.CPUUsage" => self.cpu_usage()?,
            "ProcessStatus.ProcessNumberOfEntries" => pids().len().to_string(),
            "TemperatureStatus.TemperatureSensorNumberOfEntries" => {
                thermal_zones().len().to_string()
            }
            _ => {
                if let Some((n, field)) =
                    instance_below(path, ".TemperatureStatus.TemperatureSensor.")
                {
                    return sensor_value(n, field);
                }
                let (pid, field) = instance_below(path, ".ProcessStatus.Process.")?;
                return process_value(pid, field);
            }
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".ProcessStatus.Process.") {
            pids()
        } else if table.ends_with(".TemperatureStatus.TemperatureSensor.") {
            (1..=thermal_zones().len() as u32).collect()
        } else {
            Vec::new()
        }
    }

    fn writable(&self, path: &str) -> bool {
        path.ends_with(".DeviceInfo.ProvisioningCode")
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        if !self.writable(path) {
            return Err(FaultCode::NonWritableParameter);
        }
        self.staged_code = Some(value.to_owned());
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        if let Some(code) = self.staged_code.take() {
            let mut config = self.config.borrow_mut();
            let result = config
                .set("cpe", "provisioning_code", &code)
                .and_then(|()| config.commit());
            result.map_err(|e| Fault::with_text(FaultCode::InternalError, e))?;
        }
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.staged_code = None;
    }
}

/// Seconds east of UTC of a POSIX TZ string's standard time (`CET-1CEST,…`
/// is +3600); daylight-saving rules are not applied.
pub fn posix_tz_offset(tz: &str) -> i64 {
    let rest = match tz.strip_prefix('<') {
        Some(quoted) => quoted.split_once('>').map(|(_, r)| r).unwrap_or(""),
        None => tz.trim_start_matches(|c: char| c.is_ascii_alphabetic()),
    };
    let (sign, rest) = match rest.as_bytes().first() {
        Some(b'-') => (1, rest.get(1..).unwrap_or("")),
        Some(b'+') => (-1, rest.get(1..).unwrap_or("")),
        _ => (-1, rest),
    };
    let spec: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    let mut parts = spec.split(':').map(|p| p.parse::<i64>().unwrap_or(0));
    let hours = parts.next().unwrap_or(0);
    let minutes = parts.next().unwrap_or(0);
    sign * (hours * 3600 + minutes * 60)
}

/// Serves `<root>.Time.` from the `system` UCI package (`ntp` timeserver
/// section, `system` section's `timezone`) and the kernel clock.
pub struct TimeProvider {
    uci: SharedUci,
    staged: Vec<(String, String, String)>,
    /// The NTP server list as staged by Client.1.Servers or NTPServer1..5.
    staged_servers: Option<Vec<String>>,
}

impl TimeProvider {
    pub fn new(uci: SharedUci) -> TimeProvider {
        TimeProvider {
            uci,
            staged: Vec::new(),
            staged_servers: None,
        }
    }

    fn system_section(&self) -> Option<String> {
        self.uci
            .borrow()
            .sections("system")
            .into_iter()
            .find(|s| s.section_type == "system")
            .map(|s| s.name)
    }

    fn ntp_section(&self) -> Option<String> {
        self.uci
            .borrow()
            .sections("system")
            .into_iter()
            .find(|s| s.section_type == "timeserver")
            .map(|s| s.name)
    }

    fn enabled(&self) -> bool {
        let Some(ntp) = self.ntp_section() else {
            return false;
        };
        self.uci
            .borrow()
            .get("system", &ntp, "enabled")
            .is_none_or(|v| v != "0")
    }

    fn servers(&self) -> Vec<String> {
        let Some(ntp) = self.ntp_section() else {
            return Vec::new();
        };
        let list = self
            .uci
            .borrow()
            .get("system", &ntp, "server")
            .unwrap_or_default();
        list.split_whitespace().map(str::to_owned).collect()
    }

    /// TZ environment, /etc/TZ, UCI system.timezone, /etc/timezone.
    pub fn time_zone(&self) -> String {
        let uci_tz = self
            .system_section()
            .and_then(|s| self.uci.borrow().get("system", &s, "timezone"));
        std::env::var("TZ")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| read("/etc/TZ"))
            .or(uci_tz)
            .or_else(|| read("/etc/timezone"))
            .unwrap_or_else(|| "UTC0".to_owned())
    }

    fn status(&self) -> &'static str {
        if !self.enabled() {
            return "Disabled";
        }
        match sys::clock_synchronized() {
            Some(true) => "Synchronized",
            Some(false) => "Unsynchronized",
            None => "Error",
        }
    }
}

impl Provider for TimeProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, name) = path.split_once(".Time.")?;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        Some(match name {
            "Enable" => flag(self.enabled()),
            "Status" => self.status().to_owned(),
            "LocalTimeZone" => self.time_zone(),
            "CurrentLocalTime" => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                let now = i64::try_from(now).ok()?;
                datetime::format_with_offset(now, posix_tz_offset(&self.time_zone()) as i32)
            }
            "ClientNumberOfEntries" => flag(self.ntp_section().is_some()),
            "ServerNumberOfEntries" => "0".to_owned(),
            "Client.1.Enable" => flag(self.enabled()),
            "Client.1.Status" => if self.enabled() {
                "Enabled"
            } else {
                "Disabled"
            }
            .to_owned(),
            "Client.1.Alias" => "cpe-1".to_owned(),
            "Client.1.Mode" => "Unicast".to_owned(),
            "Client.1.Servers" => self.servers().join(","),
            _ => {
                // TR-098's NTPServer1..5.
                let n: usize = name.strip_prefix("NTPServer")?.parse().ok()?;
                if !(1..=5).contains(&n) {
                    return None;
                }
                self.servers().get(n - 1).cloned().unwrap_or_default()
            }
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".Time.Client.") && self.ntp_section().is_some() {
            vec![1]
        } else {
            Vec::new()
        }
    }

    fn writable(&self, path: &str) -> bool {
        path.ends_with(".Time.Enable")
            || path.ends_with(".Time.LocalTimeZone")
            || path.ends_with(".Time.Client.1.Servers")
            || ntp_server_index(path).is_some()
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let whole = path.ends_with(".Time.Client.1.Servers");
        if whole || ntp_server_index(path).is_some() {
            if self.ntp_section().is_none() {
                return Err(FaultCode::RequestDenied);
            }
            let mut servers = match self.staged_servers.take() {
                Some(list) => list,
                None => self.servers(),
            };
            if let Some(i) = ntp_server_index(path) {
                if servers.len() <= i {
                    servers.resize(i + 1, String::new());
                }
                if let Some(slot) = servers.get_mut(i) {
                    *slot = value.trim().to_owned();
                }
            } else {
                servers = value
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
            }
            self.staged_servers = Some(servers);
            return Ok(());
        }
        let (section, option) = if path.ends_with(".Time.Enable") {
            (self.ntp_section(), "enabled")
        } else if path.ends_with(".Time.LocalTimeZone") {
            (self.system_section(), "timezone")
        } else {
            return Err(FaultCode::NonWritableParameter);
        };
        let section = section.ok_or(FaultCode::InternalError)?;
        self.staged
            .push((section, option.to_owned(), value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let servers = self.staged_servers.take();
        if staged.is_empty() && servers.is_none() {
            return Ok(ApplyStatus::Applied);
        }
        let ntp = self.ntp_section();
        let mut uci = self.uci.borrow_mut();
        let denied = |e: String| Fault::with_text(FaultCode::RequestDenied, e);
        let mut result = Ok(());
        for (section, option, value) in staged {
            result = result.and_then(|()| uci.set("system", &section, &option, &value));
        }
        if let (Some(servers), Some(ntp)) = (servers, ntp) {
            let list: Vec<&str> = servers
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            result = result.and_then(|()| uci.set_list("system", &ntp, "server", &list));
        }
        if let Err(e) = result {
            uci.revert("system");
            return Err(denied(e));
        }
        if let Err(e) = uci.commit("system") {
            uci.revert("system");
            return Err(denied(e));
        }
        // The NTP client and the time zone are reloaded by the system service.
        Ok(ApplyStatus::Pending)
    }

    fn abort(&mut self) {
        self.staged.clear();
        self.staged_servers = None;
    }
}

/// The list index of TR-098's `Time.NTPServer1`..`5`.
fn ntp_server_index(path: &str) -> Option<usize> {
    let (_, name) = path.split_once(".Time.NTPServer")?;
    let n: usize = name.parse().ok()?;
    (1..=5).contains(&n).then(|| n - 1)
}

/// A network interface of /sys/class/net.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetInterface {
    pub name: String,
    pub ifindex: u32,
    /// ARPHRD type: 1 Ethernet, 772 loopback.
    pub link_type: u32,
}

/// Every interface of /sys/class/net.
pub fn net_interfaces() -> Vec<NetInterface> {
    let Ok(dir) = fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<NetInterface> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let ifindex = read(&format!("/sys/class/net/{name}/ifindex"))?
                .parse()
                .ok()?;
            let link_type = read(&format!("/sys/class/net/{name}/type"))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            Some(NetInterface {
                name,
                ifindex,
                link_type,
            })
        })
        .collect();
    // Unstable sorting does: an ifindex is unique.
    out.sort_unstable_by_key(|i| i.ifindex);
    out
}

/// Ethernet interfaces (link type 1); loopback only when there is none.
fn ethernet_interfaces() -> Vec<NetInterface> {
    let all = net_interfaces();
    let ether: Vec<NetInterface> = all.iter().filter(|i| i.link_type == 1).cloned().collect();
    if ether.is_empty() {
        all.into_iter().filter(|i| i.name == "lo").collect()
    } else {
        ether
    }
}

/// The kernel name of `Device.Ethernet.Interface.{ifindex}`.
pub fn ethernet_ifname(ifindex: u32) -> Option<String> {
    by_index(&ethernet_interfaces(), ifindex).map(|i| i.name.clone())
}

/// Kernel interfaces by ifindex, remembered between reads: an entry is
/// used only while `/sys/class/net/<name>/ifindex` still says the same
/// number (one small read instead of a directory scan per parameter).
#[derive(Debug, Default)]
pub struct InterfaceCache {
    known: crate::vecmap::VecMap<u32, NetInterface>,
}

impl InterfaceCache {
    pub fn get(&mut self, number: u32) -> Option<NetInterface> {
        if let Some(iface) = self.known.get(&number) {
            let still = read(&format!("/sys/class/net/{}/ifindex", iface.name))
                .and_then(|i| i.parse::<u32>().ok())
                == Some(number);
            if still {
                return Some(iface.clone());
            }
        }
        self.known = net_interfaces()
            .into_iter()
            .map(|i| (i.ifindex, i))
            .collect();
        self.known.get(&number).cloned()
    }
}

fn by_index(list: &[NetInterface], number: u32) -> Option<&NetInterface> {
    list.iter().find(|i| i.ifindex == number)
}

fn sysfs(name: &str, file: &str) -> Option<String> {
    read(&format!("/sys/class/net/{name}/{file}"))
}

fn link_up(name: &str) -> bool {
    sysfs(name, "flags")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & 1 != 0)
}

fn link_status(name: &str) -> String {
    match sysfs(name, "operstate").as_deref() {
        Some("up") => "Up",
        Some("down") => "Down",
        Some("dormant") => "Dormant",
        Some("notpresent") => "NotPresent",
        Some("lowerlayerdown") => "LowerLayerDown",
        Some("testing") => "Testing",
        _ if link_up(name) => "Up",
        _ => "Unknown",
    }
    .to_owned()
}

/// Interface counters shared by Ethernet and IP `Stats.` objects.
fn stat(name: &str, param: &str) -> Option<String> {
    let file = match param {
        "BytesSent" => "tx_bytes",
        "BytesReceived" => "rx_bytes",
        "PacketsSent" => "tx_packets",
        "PacketsReceived" => "rx_packets",
        "ErrorsSent" => "tx_errors",
        "ErrorsReceived" => "rx_errors",
        "DiscardPacketsSent" => "tx_dropped",
        "DiscardPacketsReceived" => "rx_dropped",
        "MulticastPacketsReceived" => "multicast",
        _ => return None,
    };
    Some(
        read(&format!("/sys/class/net/{name}/statistics/{file}")).unwrap_or_else(|| "0".to_owned()),
    )
}

fn common_interface(iface: &NetInterface, n: u32, field: &str) -> Option<String> {
    let name = iface.name.as_str();
    Some(match field {
        "Enable" => if link_up(name) { "1" } else { "0" }.to_owned(),
        "Status" => link_status(name),
        "Alias" => format!("cpe-{n}"),
        "Name" => name.to_owned(),
        "LowerLayers" => String::new(),
        _ => stat(name, field.strip_prefix("Stats.")?)?,
    })
}

/// Serves `Device.Ethernet.` from /sys/class/net; instance numbers are ifindexes.
#[derive(Debug, Default)]
pub struct EthernetProvider {
    cache: InterfaceCache,
}

impl Provider for EthernetProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        if path.ends_with(".Ethernet.InterfaceNumberOfEntries") {
            return Some(ethernet_interfaces().len().to_string());
        }
        let (n, field) = instance_below(path, ".Ethernet.Interface.")?;
        let iface = match self.cache.get(n) {
            Some(i) if i.link_type == 1 => i,
            // Loopback stands in only when there is no Ethernet interface.
            _ => by_index(&ethernet_interfaces(), n)?.clone(),
        };
        let iface = &iface;
        let name = iface.name.as_str();
        Some(match field {
            "MACAddress" => sysfs(name, "address").unwrap_or_default(),
            "MaxBitRate" | "CurrentBitRate" => {
                let speed = sysfs(name, "speed")
                    .and_then(|s| s.parse::<i64>().ok())
                    .filter(|s| *s > 0);
                match (field, speed) {
                    (_, Some(s)) => s.to_string(),
                    ("MaxBitRate", None) => "-1".to_owned(),
                    _ => "0".to_owned(),
                }
            }
            "DuplexMode" => match sysfs(name, "duplex").as_deref() {
                Some("full") => "Full",
                Some("half") => "Half",
                _ => "Auto",
            }
            .to_owned(),
            _ => common_interface(iface, n, field)?,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".Ethernet.Interface.") {
            ethernet_interfaces().iter().map(|i| i.ifindex).collect()
        } else {
            Vec::new()
        }
    }
}

/// IPv6 addresses of /proc/net/if_inet6 for one interface: (address, IFA_F_* flags).
fn ipv6_addresses(name: &str) -> Vec<(Ipv6Addr, u32)> {
    let text = fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(5) != Some(&name) {
                return None;
            }
            let addr = u128::from_str_radix(f.first()?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(4)?, 16).ok()?;
            Some((Ipv6Addr::from(addr), flags))
        })
        .collect()
}

/// The IPv4 addresses of one kernel interface (and its `name:label` aliases).
pub fn ipv4_of(name: &str) -> Vec<sys::InterfaceAddress> {
    sys::ipv4_addresses()
        .into_iter()
        .filter(|a| a.interface == name || a.interface.split(':').next() == Some(name))
        .collect()
}

/// Serves `Device.IP.Interface.` (every kernel interface, numbered by
/// ifindex) with its IPv4 and IPv6 addresses; the IPv4 addresses of an
/// interface a static `network.interface` section configures are that
/// section's `ipaddr` items, writable (see `ipconfig::Ipv4AddressTable`).
pub struct IpProvider {
    uci: SharedUci,
    ipv4: Ipv4AddressTable,
    cache: InterfaceCache,
}

impl IpProvider {
    pub fn new(uci: SharedUci) -> IpProvider {
        IpProvider {
            uci,
            ipv4: Ipv4AddressTable::default(),
            cache: InterfaceCache::default(),
        }
    }

    /// The kernel name of interface `n` and the rest of a path inside it.
    fn device(path: &str) -> Option<(String, &str)> {
        let (n, rest) = instance_below(path, ".IP.Interface.")?;
        let list = net_interfaces();
        Some((by_index(&list, n)?.name.clone(), rest))
    }
}

impl Provider for IpProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        if path.ends_with(".IP.InterfaceNumberOfEntries") {
            return Some(net_interfaces().len().to_string());
        }
        if path.ends_with(".IP.IPv4Capable") || path.ends_with(".IP.IPv4Enable") {
            return Some(flag(true));
        }
        if path.ends_with(".IP.IPv6Capable") || path.ends_with(".IP.IPv6Enable") {
            return Some(flag(fs::metadata("/proc/net/if_inet6").is_ok()));
        }
        let (n, field) = instance_below(path, ".IP.Interface.")?;
        let iface = self.cache.get(n)?;
        let iface = &iface;
        let name = iface.name.as_str();
        let loopback = iface.link_type == 772;
        if field.starts_with("IPv4Address") {
            return self.ipv4.get(&*self.uci.borrow(), name, field);
        }
        if let Some((k, f)) = field.strip_prefix("IPv6Address.").and_then(|r| {
            let (k, f) = r.split_once('.')?;
            Some((k.parse::<usize>().ok()?, f))
        }) {
            let (addr, flags) = *ipv6_addresses(name).get(k.checked_sub(1)?)?;
            let link_local = addr
                .segments()
                .first()
                .is_some_and(|s| s & 0xffc0 == 0xfe80);
            return Some(match f {
                "Enable" => flag(true),
                "Status" => "Enabled".to_owned(),
                // IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_TENTATIVE.
                "IPAddressStatus" => if flags & 0x08 != 0 {
                    "Duplicate"
                } else if flags & 0x20 != 0 {
                    "Deprecated"
                } else if flags & 0x40 != 0 {
                    "Tentative"
                } else {
                    "Preferred"
                }
                .to_owned(),
                "Alias" => format!("cpe-{k}"),
                "IPAddress" => addr.to_string(),
                "Origin" => if link_local {
                    "AutoConfigured"
                } else {
                    "Static"
                }
                .to_owned(),
                "Anycast" => flag(false),
                _ => return None,
            });
        }
        Some(match field {
            "IPv4Enable" => flag(true),
            "IPv6Enable" => flag(!ipv6_addresses(name).is_empty()),
            "Type" => if loopback { "Loopback" } else { "Normal" }.to_owned(),
            "Loopback" => flag(loopback),
            "IPv6AddressNumberOfEntries" => ipv6_addresses(name).len().to_string(),
            "LowerLayers" if iface.link_type == 1 => format!("Device.Ethernet.Interface.{n}"),
            _ => common_interface(iface, n, field)?,
        })
    }

    fn writable(&self, path: &str) -> bool {
        // Only static addresses are writable: no interface lookup for the rest.
        let address = path.ends_with(".IPAddress") || path.ends_with(".SubnetMask");
        address
            && Self::device(path).is_some_and(|(device, field)| {
                self.ipv4.writable(&*self.uci.borrow(), &device, field)
            })
    }

    fn creatable(&self, table: &str) -> bool {
        Self::device(table).is_some_and(|(device, rest)| {
            rest == "IPv4Address." && static_section(&*self.uci.borrow(), &device).is_some()
        })
    }

    fn deletable(&self, instance: &str) -> bool {
        Self::device(instance).is_some_and(|(device, rest)| {
            ipv4_instance(rest)
                .is_some_and(|k| self.ipv4.deletable(&*self.uci.borrow(), &device, k))
        })
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (device, field) = Self::device(path).ok_or(FaultCode::NonWritableParameter)?;
        self.ipv4.set(&*self.uci.borrow(), &device, field, value)
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        self.ipv4.commit(&mut *self.uci.borrow_mut())
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        _alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        match Self::device(table) {
            Some((device, "IPv4Address.")) => self.ipv4.add(&*self.uci.borrow(), &device, number),
            _ => Err(FaultCode::RequestDenied),
        }
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let (device, rest) = Self::device(instance).ok_or(FaultCode::InvalidParameterName)?;
        let number = ipv4_instance(rest).ok_or(FaultCode::RequestDenied)?;
        self.ipv4
            .delete(&mut *self.uci.borrow_mut(), &device, number)
    }

    fn abort(&mut self) {
        self.ipv4.abort();
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".IP.Interface.") {
            return net_interfaces().iter().map(|i| i.ifindex).collect();
        }
        let Some((n, rest)) = instance_below(table, ".IP.Interface.") else {
            return Vec::new();
        };
        let list = net_interfaces();
        let Some(iface) = by_index(&list, n) else {
            return Vec::new();
        };
        match rest {
            "IPv4Address." => self.ipv4.instances(&*self.uci.borrow(), &iface.name),
            "IPv6Address." => (1..=ipv6_addresses(&iface.name).len() as u32).collect(),
            _ => Vec::new(),
        }
    }
}

/// The instance number of `IPv4Address.{i}.`.
fn ipv4_instance(rest: &str) -> Option<u32> {
    rest.strip_prefix("IPv4Address.")?
        .strip_suffix('.')?
        .parse()
        .ok()
}

/// The nameservers of /etc/resolv.conf; on OpenWrt, where that names only
/// the local resolver, the upstream ones of resolv.conf.auto.
pub fn dns_servers() -> Vec<String> {
    let parse = |path: &str| -> Vec<String> {
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let servers = parse("/etc/resolv.conf");
    let only_local = servers.iter().all(|s| s.starts_with("127.") || s == "::1");
    if only_local {
        let upstream = parse("/tmp/resolv.conf.d/resolv.conf.auto");
        if !upstream.is_empty() {
            return upstream;
        }
    }
    servers
}

/// Serves `Device.DNS.Client.` from the resolver configuration.
pub struct DnsProvider;

impl Provider for DnsProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, name) = path.split_once(".DNS.Client.")?;
        Some(match name {
            "Enable" => "1".to_owned(),
            "Status" => "Enabled".to_owned(),
            "ServerNumberOfEntries" => dns_servers().len().to_string(),
            _ => {
                let (n, field) = instance_below(path, ".DNS.Client.Server.")?;
                let server = dns_servers()
                    .into_iter()
                    .nth((n as usize).checked_sub(1)?)?;
                match field {
                    "Enable" => "1".to_owned(),
                    "Status" => "Enabled".to_owned(),
                    "Alias" => format!("cpe-{n}"),
                    "DNSServer" => server,
                    "Type" => "Static".to_owned(),
                    "Interface" => String::new(),
                    _ => return None,
                }
            }
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table.ends_with(".DNS.Client.Server.") {
            (1..=dns_servers().len() as u32).collect()
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_offsets() {
        assert_eq!(posix_tz_offset("CET-1CEST,M3.5.0,M10.5.0/3"), 3600);
        assert_eq!(posix_tz_offset("EST5EDT"), -5 * 3600);
        assert_eq!(posix_tz_offset("UTC0"), 0);
        assert_eq!(posix_tz_offset("<+0530>-5:30"), 5 * 3600 + 1800);
        assert_eq!(posix_tz_offset("Europe/Stockholm"), 0);
    }
}

#[cfg(test)]
mod host_model_tests {
    use crate::datamodel::config::{MemoryConfig, MemoryUci};
    use crate::datamodel::engine::{DataModel, Options};
    use crate::datamodel::register_standard_providers;
    use crate::datamodel::schema::{ModelKind, Schema};
    use crate::datamodel::state::DmState;

    fn host_model(kind: ModelKind) -> DataModel {
        let mut uci = MemoryUci::default();
        uci.add(
            "system",
            "system",
            "",
            &[("timezone", "CET-1CEST,M3.5.0,M10.5.0/3")],
        );
        uci.add(
            "system",
            "timeserver",
            "ntp",
            &[
                ("enabled", "1"),
                ("server", "0.pool.example 1.pool.example"),
            ],
        );
        let config =
            MemoryConfig::with(&[("cpe", "manufacturer", "iopsys"), ("cpe", "port", "7547")]);
        let mut dm = DataModel::new(Schema::new(kind), Options::default(), DmState::in_memory());
        register_standard_providers(
            &mut dm,
            config.shared(),
            uci.shared(),
            std::path::Path::new("/nonexistent"),
        )
        .expect("register");
        dm
    }

    fn value(dm: &mut DataModel, path: &str) -> String {
        dm.get_values(&[path]).expect(path).remove(0).value
    }

    #[test]
    fn real_host_values_tr181() {
        let mut dm = host_model(ModelKind::Tr181);
        let uptime: u64 = value(&mut dm, "Device.DeviceInfo.UpTime")
            .parse()
            .expect("uptime");
        assert!(uptime > 0);
        assert_eq!(value(&mut dm, "Device.DeviceInfo.Manufacturer"), "iopsys");
        let total: u64 = value(&mut dm, "Device.DeviceInfo.MemoryStatus.Total")
            .parse()
            .expect("mem");
        assert!(total > 0);
        let cpu: u64 = value(&mut dm, "Device.DeviceInfo.ProcessStatus.CPUUsage")
            .parse()
            .expect("cpu");
        assert!(cpu <= 100);
        let own = std::process::id();
        let command = value(
            &mut dm,
            &format!("Device.DeviceInfo.ProcessStatus.Process.{own}.Command"),
        );
        assert!(!command.is_empty());
        let eth = dm
            .get_names("Device.Ethernet.Interface.", true)
            .expect("ethernet");
        assert!(
            !eth.is_empty(),
            "at least one Ethernet (or loopback) interface"
        );
        let ip = dm.get_values(&["Device.IP.Interface."]).expect("ip");
        assert!(ip
            .iter()
            .any(|v| v.name.ends_with(".IPv4Address.1.IPAddress") && v.value == "127.0.0.1"));
        assert!(ip.iter().any(|v| v.name.ends_with(".Stats.BytesReceived")));
        assert_eq!(
            value(&mut dm, "Device.Time.Client.1.Servers"),
            "0.pool.example,1.pool.example"
        );
        let now = value(&mut dm, "Device.Time.CurrentLocalTime");
        assert!(now.ends_with("+01:00"), "{now}");
        assert!(
            value(&mut dm, "Device.ManagementServer.ConnectionRequestURL").starts_with("http://")
        );
        dm.get_values(&["Device.DNS.Client."]).expect("dns");
        let inform: Vec<_> = dm.inform_parameters().into_iter().map(|v| v.name).collect();
        assert_eq!(
            inform.first().map(String::as_str),
            Some("Device.DeviceInfo.HardwareVersion")
        );
        assert!(inform.contains(&"Device.RootDataModelVersion".to_owned()));
        assert!(!dm.device_id().serial_number.is_empty());
    }

    #[test]
    fn tr098_exposes_the_same_providers() {
        let mut dm = host_model(ModelKind::Tr098);
        assert_eq!(
            value(&mut dm, "InternetGatewayDevice.DeviceInfo.Manufacturer"),
            "iopsys"
        );
        assert_eq!(
            value(&mut dm, "InternetGatewayDevice.DeviceInfo.SpecVersion"),
            "1.0"
        );
        assert_eq!(
            value(&mut dm, "InternetGatewayDevice.Time.NTPServer2"),
            "1.pool.example"
        );
        assert_eq!(value(&mut dm, "InternetGatewayDevice.Time.NTPServer3"), "");
        let ms = dm
            .get_values(&["InternetGatewayDevice.ManagementServer."])
            .expect("ms");
        assert!(ms
            .iter()
            .any(|v| v.name == "InternetGatewayDevice.ManagementServer.PeriodicInformInterval"));
        let inform: Vec<_> = dm.inform_parameters().into_iter().map(|v| v.name).collect();
        assert!(inform.contains(&"InternetGatewayDevice.DeviceInfo.SpecVersion".to_owned()));
        assert!(inform
            .contains(&"InternetGatewayDevice.ManagementServer.ConnectionRequestURL".to_owned()));
        assert_eq!(
            dm.get_values(&["Device."]).map_err(|f| f.code.code()),
            Err(9005)
        );
    }
}
