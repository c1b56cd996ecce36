//! Wi-Fi run-time state: a cache the daemon fills from ubus replies (netifd's `network.wireless status`, `iwinfo info`, `hostapd.<ifname> get_clients`), and the provider serving it.
//!
//! GetParameterValues never waits for ubus: it reads the last replies
//! (refreshed when ubus registers, before each session and at each value
//! check) and the interface counters in /sys. The instances are the
//! `wifi-device` / `wifi-iface` sections in the numbering the uci-map gives
//! them, so `Device.WiFi.SSID.2.BSSID` is the BSSID of the same section as
//! `Device.WiFi.SSID.2.SSID`.

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::SharedUci;
use crate::datamodel::path::instance_below;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::{commit_staged_options, section_numbers};
use crate::vecmap::VecMap;
use crate::wire::blobmsg::Value;

/// At most this many interfaces are followed (each costs two ubus calls per refresh).
pub const MAX_INTERFACES: usize = 32;

/// One station associated with an access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    pub mac: String,
    /// dBm.
    pub signal: i64,
    /// kbit/s, AP → station and station → AP.
    pub downlink_rate: i64,
    pub uplink_rate: i64,
    pub authorized: bool,
}

/// What the last ubus replies said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WifiState {
    /// `wifi-device` section → radio up.
    radios: VecMap<String, bool>,
    /// `wifi-iface` section → kernel interface name. netifd names an
    /// anonymous section `@wifi-iface[N]` (N-th of its type, from 0).
    ifnames: VecMap<String, String>,
    /// `wifi-device` section → its kernel interfaces.
    radio_ifnames: VecMap<String, Vec<String>>,
    /// Interface → noise floor (dBm) and channel bandwidth (`htmode`) from `iwinfo info`.
    noise: VecMap<String, i64>,
    htmodes: VecMap<String, String>,
    /// Interface → BSSID from `iwinfo info`.
    bssids: VecMap<String, String>,
    /// Interface → the channel in use, from `iwinfo info`.
    channels: VecMap<String, i64>,
    /// Interface → stations from `hostapd.<ifname> get_clients`.
    stations: VecMap<String, Vec<Station>>,
}

impl WifiState {
    /// Takes netifd's `network.wireless status` reply; returns the
    /// interfaces to ask `iwinfo` and `hostapd` about.
    pub fn on_wireless_status(&mut self, reply: &[(String, Value)]) -> Vec<String> {
        self.radios.clear();
        self.ifnames.clear();
        self.radio_ifnames.clear();
        for (radio, status) in reply {
            self.radios.insert(
                radio.clone(),
                status.get("up").and_then(Value::as_bool).unwrap_or(false),
            );
            let interfaces = status.get("interfaces").and_then(Value::as_array);
            for iface in interfaces.unwrap_or(&[]) {
                let section = iface.get("section").and_then(Value::as_str);
                let ifname = iface.get("ifname").and_then(Value::as_str);
                if let (Some(section), Some(ifname)) = (section, ifname) {
                    if self.ifnames.len() < MAX_INTERFACES {
                        self.ifnames.insert(section.to_owned(), ifname.to_owned());
                        self.radio_ifnames
                            .get_or_insert_with(radio.clone(), Vec::new)
                            .push(ifname.to_owned());
                    }
                }
            }
        }
        let live: Vec<String> = self.ifnames.values().cloned().collect();
        self.bssids.retain(|i, _| live.contains(i));
        self.stations.retain(|i, _| live.contains(i));
        self.noise.retain(|i, _| live.contains(i));
        self.htmodes.retain(|i, _| live.contains(i));
        self.channels.retain(|i, _| live.contains(i));
        live
    }

    /// Takes `iwinfo info {"device": ifname}`'s reply (`None`: the call failed).
    pub fn on_iwinfo(&mut self, ifname: &str, reply: Option<&[(String, Value)]>) {
        let bssid = reply.and_then(|fields| {
            fields
                .iter()
                .find(|(k, _)| k == "bssid")
                .and_then(|(_, v)| v.as_str())
                .map(str::to_ascii_lowercase)
        });
        match bssid {
            Some(b) => self.bssids.insert(ifname.to_owned(), b),
            None => self.bssids.remove(ifname),
        };
        let field = |name: &str| {
            reply.and_then(|fields| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v))
        };
        match field("noise").and_then(Value::as_i64) {
            Some(n) => self.noise.insert(ifname.to_owned(), n),
            None => self.noise.remove(ifname),
        };
        match field("channel").and_then(Value::as_i64).filter(|c| *c > 0) {
            Some(c) => self.channels.insert(ifname.to_owned(), c),
            None => self.channels.remove(ifname),
        };
        match field("htmode").and_then(Value::as_str) {
            Some(h) => self.htmodes.insert(ifname.to_owned(), h.to_owned()),
            None => self.htmodes.remove(ifname),
        };
    }

    /// Takes `hostapd.<ifname> get_clients`'s reply (`None`: the call failed).
    pub fn on_clients(&mut self, ifname: &str, reply: Option<&[(String, Value)]>) {
        let clients = reply
            .and_then(|fields| fields.iter().find(|(k, _)| k == "clients"))
            .and_then(|(_, v)| v.as_table());
        let Some(clients) = clients else {
            self.stations.remove(ifname);
            return;
        };
        let rate = |c: &Value, dir: &str| {
            c.get("rate")
                .and_then(|r| r.get(dir))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let stations = clients
            .iter()
            .map(|(mac, c)| Station {
                mac: mac.to_ascii_lowercase(),
                signal: c.get("signal").and_then(Value::as_i64).unwrap_or(0),
                downlink_rate: rate(c, "tx"),
                uplink_rate: rate(c, "rx"),
                authorized: c
                    .get("authorized")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect();
        self.stations.insert(ifname.to_owned(), stations);
    }
}

/// A radio's `channel` as an SPV asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ChannelWrite {
    /// `Channel` written: this channel, and automatic selection off.
    Fixed(u32),
    /// `AutoChannelEnable` true: `channel 'auto'`.
    Auto,
    /// `AutoChannelEnable` false: the channel in use stays, fixed.
    Keep(u32),
}

/// Whether `channel` is a channel of an OpenWrt `band` (`2g`, `5g`, `6g`, `60g`).
fn channel_in_band(band: Option<&str>, channel: u32) -> bool {
    match band {
        Some("2g") => (1..=14).contains(&channel),
        Some("5g") => (32..=177).contains(&channel),
        Some("6g") => (1..=233).contains(&channel),
        Some("60g") => (1..=6).contains(&channel),
        _ => (1..=255).contains(&channel),
    }
}

/// The kernel interface of SSID `number` (a `wifi-iface` section): netifd
/// reports a named section by its name, an anonymous one as `@wifi-iface[N]`.
pub fn ssid_ifname(uci: &SharedUci, state: &SharedRuntime, number: u32) -> Option<String> {
    let uci = uci.borrow();
    let section = section_numbers(&*uci, "wireless", "wifi-iface")
        .into_iter()
        .find(|(n, _)| *n == number)?
        .1;
    let state = state.borrow();
    if let Some(ifname) = state.wifi.ifnames.get(&section) {
        return Some(ifname.clone());
    }
    let index = uci
        .sections("wireless")
        .iter()
        .filter(|s| s.section_type == "wifi-iface")
        .position(|s| s.name == section)?;
    state
        .wifi
        .ifnames
        .get(&format!("@wifi-iface[{index}]"))
        .cloned()
}

/// The SSID instance whose kernel interface is `ifname`, if it is one.
pub fn ssid_of_ifname(uci: &SharedUci, state: &SharedRuntime, ifname: &str) -> Option<u32> {
    let numbers: Vec<u32> = section_numbers(&*uci.borrow(), "wireless", "wifi-iface")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    numbers
        .into_iter()
        .find(|n| ssid_ifname(uci, state, *n).as_deref() == Some(ifname))
}

/// Serves the run-time parameters of `Device.WiFi.` the uci-map cannot,
/// and the channel of a radio (TR-181 `Radio.{i}`, TR-098 `WLANConfiguration.{i}`).
pub struct WifiRuntimeProvider {
    uci: SharedUci,
    state: SharedRuntime,
    /// (`wifi-device` section, change) staged by SetParameterValues.
    staged: Vec<(String, ChannelWrite)>,
}

fn counter(ifname: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/{file}"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(|_| "0".to_owned())
}

impl WifiRuntimeProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> WifiRuntimeProvider {
        WifiRuntimeProvider {
            uci,
            state,
            staged: Vec::new(),
        }
    }

    /// The `wifi-device` section a Channel or AutoChannelEnable path is
    /// about: the radio itself (TR-181), or the radio of a `wifi-iface` (TR-098).
    fn channel_radio(&self, path: &str) -> Option<(String, &'static str)> {
        let field = |f: &str| match f {
            "Channel" => Some("Channel"),
            "AutoChannelEnable" => Some("AutoChannelEnable"),
            _ => None,
        };
        if let Some((n, f)) = instance_below(path, ".WiFi.Radio.") {
            return Some((self.section("wifi-device", n)?, field(f)?));
        }
        let (n, f) = instance_below(path, ".WLANConfiguration.")?;
        let f = field(f)?;
        let iface = self.section("wifi-iface", n)?;
        let radio = self.uci.borrow().get("wireless", &iface, "device")?;
        Some((radio, f))
    }

    /// Whether the radio picks its channel itself (`channel 'auto'` or none).
    fn auto_channel(&self, radio: &str) -> bool {
        let channel = self.uci.borrow().get("wireless", radio, "channel");
        channel.is_none_or(|c| c == "auto")
    }

    /// The channel a radio uses: its fixed `channel`, else the one iwinfo
    /// reports on one of its interfaces (none while it is down).
    fn channel_in_use(&self, radio: &str) -> Option<u32> {
        if !self.auto_channel(radio) {
            return self
                .uci
                .borrow()
                .get("wireless", radio, "channel")?
                .parse()
                .ok();
        }
        let state = self.state.borrow();
        let ifnames = state.wifi.radio_ifnames.get(radio)?;
        ifnames
            .iter()
            .find_map(|i| state.wifi.channels.get(i))
            .and_then(|c| u32::try_from(*c).ok())
    }

    fn section(&self, section_type: &str, number: u32) -> Option<String> {
        let uci = self.uci.borrow();
        section_numbers(&*uci, "wireless", section_type)
            .into_iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| s)
    }

    fn ifname(&self, number: u32) -> Option<String> {
        ssid_ifname(&self.uci, &self.state, number)
    }

    fn stations(&self, number: u32) -> Vec<Station> {
        let Some(ifname) = self.ifname(number) else {
            return Vec::new();
        };
        self.state
            .borrow()
            .wifi
            .stations
            .get(&ifname)
            .cloned()
            .unwrap_or_default()
    }
}

/// The /sys statistics file of a TR-181 Wi-Fi `Stats.` counter.
fn counter_file(stat: &str) -> Option<&'static str> {
    Some(match stat {
        "BytesSent" => "tx_bytes",
        "BytesReceived" => "rx_bytes",
        "PacketsSent" => "tx_packets",
        "PacketsReceived" => "rx_packets",
        "ErrorsSent" => "tx_errors",
        "ErrorsReceived" => "rx_errors",
        "DiscardPacketsSent" => "tx_dropped",
        "DiscardPacketsReceived" => "rx_dropped",
        _ => return None,
    })
}

/// TR-181 `CurrentOperatingChannelBandwidth` of an iwinfo `htmode` (`HE80` → `80MHz`).
fn bandwidth(htmode: &str) -> Option<&'static str> {
    let width = htmode.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    Some(match width {
        "20" => "20MHz",
        "40" => "40MHz",
        "80" => "80MHz",
        "160" => "160MHz",
        "80+80" => "80+80MHz",
        "320" => "320MHz-1",
        _ => return None,
    })
}

impl Provider for WifiRuntimeProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        if let Some((radio, field)) = self.channel_radio(path) {
            self.uci
                .borrow()
                .sections("wireless")
                .iter()
                .find(|s| s.name == radio)?;
            return match field {
                "Channel" => self.channel_in_use(&radio).map(|c| c.to_string()),
                _ => Some(if self.auto_channel(&radio) { "1" } else { "0" }.to_owned()),
            };
        }
        if let Some((n, field)) = instance_below(path, ".WiFi.Radio.") {
            let section = self.section("wifi-device", n)?;
            let state = self.state.borrow();
            let up = state.wifi.radios.get(&section).copied();
            let ifnames = state
                .wifi
                .radio_ifnames
                .get(&section)
                .cloned()
                .unwrap_or_default();
            return match field {
                "Status" => Some(if up == Some(true) { "Up" } else { "Down" }.to_owned()),
                "CurrentOperatingChannelBandwidth" => {
                    let htmode = ifnames.iter().find_map(|i| state.wifi.htmodes.get(i))?;
                    bandwidth(htmode).map(str::to_owned)
                }
                "Stats.Noise" => ifnames
                    .iter()
                    .find_map(|i| state.wifi.noise.get(i))
                    .map(i64::to_string),
                _ => {
                    // The radio's traffic: the sum over its interfaces.
                    let file = counter_file(field.strip_prefix("Stats.")?)?;
                    let total = ifnames
                        .iter()
                        .filter_map(|i| counter(i, file).parse::<u64>().ok())
                        .fold(0u64, u64::saturating_add);
                    Some(total.to_string())
                }
            };
        }
        if let Some((n, field)) = instance_below(path, ".WiFi.SSID.") {
            let ifname = self.ifname(n);
            let bssid = ifname
                .as_ref()
                .and_then(|i| self.state.borrow().wifi.bssids.get(i).cloned());
            return match field {
                "Status" => Some(if bssid.is_some() { "Up" } else { "Down" }.to_owned()),
                "Name" => ifname,
                "BSSID" | "MACAddress" => bssid,
                _ => {
                    let file = counter_file(field.strip_prefix("Stats.")?)?;
                    Some(counter(&ifname?, file))
                }
            };
        }
        let (n, field) = instance_below(path, ".WiFi.AccessPoint.")?;
        if field == "Status" {
            let up = self
                .ifname(n)
                .is_some_and(|i| self.state.borrow().wifi.bssids.contains_key(&i));
            return Some(if up { "Enabled" } else { "Disabled" }.to_owned());
        }
        if field == "AssociatedDeviceNumberOfEntries" {
            return Some(self.stations(n).len().to_string());
        }
        let (k, field) = instance_below(path, ".AssociatedDevice.")?;
        let station = self
            .stations(n)
            .into_iter()
            .nth((k as usize).checked_sub(1)?)?;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        Some(match field {
            "MACAddress" => station.mac,
            "SignalStrength" => station.signal.to_string(),
            "LastDataDownlinkRate" => station.downlink_rate.clamp(1000, 9_600_000).to_string(),
            "LastDataUplinkRate" => station.uplink_rate.clamp(1000, 9_600_000).to_string(),
            "AuthenticationState" => flag(station.authorized),
            "Active" => flag(true),
            _ => return None,
        })
    }

    fn writable(&self, path: &str) -> bool {
        self.channel_radio(path).is_some()
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (radio, field) = self
            .channel_radio(path)
            .ok_or(FaultCode::NonWritableParameter)?;
        let write = match (field, value) {
            ("Channel", _) => {
                let channel: u32 = value
                    .parse()
                    .map_err(|_| FaultCode::InvalidParameterValue)?;
                let band = self.uci.borrow().get("wireless", &radio, "band");
                if !channel_in_band(band.as_deref(), channel) {
                    return Err(FaultCode::InvalidParameterValue);
                }
                ChannelWrite::Fixed(channel)
            }
            (_, "1") => ChannelWrite::Auto,
            // Automatic selection off: the channel it selected stays; a
            // radio that is down has none to keep.
            _ => ChannelWrite::Keep(
                self.channel_in_use(&radio)
                    .ok_or(FaultCode::RequestDenied)?,
            ),
        };
        self.staged.push((radio, write));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut options: Vec<(String, &'static str, String)> = Vec::new();
        for (radio, _) in &staged {
            if options.iter().any(|(r, ..)| r == radio) {
                continue;
            }
            let writes: Vec<&ChannelWrite> = staged
                .iter()
                .filter(|(r, _)| r == radio)
                .map(|(_, w)| w)
                .collect();
            // Writing Channel turns automatic selection off, whatever else is asked.
            let fixed = writes.iter().rev().find_map(|w| match w {
                ChannelWrite::Fixed(c) => Some(c.to_string()),
                _ => None,
            });
            let value = fixed.or_else(|| match writes.last() {
                Some(ChannelWrite::Auto) => Some("auto".to_owned()),
                Some(ChannelWrite::Keep(c) | ChannelWrite::Fixed(c)) => Some(c.to_string()),
                None => None,
            });
            if let Some(value) = value {
                options.push((radio.clone(), "channel", value));
            }
        }
        commit_staged_options(&self.uci, "wireless", &options)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        match instance_below(table, ".WiFi.AccessPoint.") {
            Some((n, "AssociatedDevice.")) => (1..=self.stations(n).len() as u32).collect(),
            _ => Vec::new(),
        }
    }
}

/// The paths the provider serves, inside the uci-map's WiFi tables.
pub const RUNTIME_PATHS: [&str; 13] = [
    "Device.WiFi.Radio.{i}.Channel",
    "Device.WiFi.Radio.{i}.AutoChannelEnable",
    "Device.WiFi.Radio.{i}.Status",
    "Device.WiFi.Radio.{i}.CurrentOperatingChannelBandwidth",
    "Device.WiFi.Radio.{i}.Stats.",
    "Device.WiFi.SSID.{i}.Status",
    "Device.WiFi.SSID.{i}.Name",
    "Device.WiFi.SSID.{i}.BSSID",
    "Device.WiFi.SSID.{i}.MACAddress",
    "Device.WiFi.SSID.{i}.Stats.",
    "Device.WiFi.AccessPoint.{i}.Status",
    "Device.WiFi.AccessPoint.{i}.AssociatedDeviceNumberOfEntries",
    "Device.WiFi.AccessPoint.{i}.AssociatedDevice.",
];

/// The TR-098 paths the provider serves, inside the uci-map's WLANConfiguration table.
pub const TR098_PATHS: [&str; 2] = [
    "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.Channel",
    "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.AutoChannelEnable",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blobmsg::parse_json;

    fn table(json: &str) -> Vec<(String, Value)> {
        match parse_json(json) {
            Ok(Value::Table(fields)) => fields,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replies_fill_the_cache() {
        let mut state = WifiState::default();
        let ifnames = state.on_wireless_status(&table(
            r#"{"radio0": {"up": true, "interfaces": [{"section": "default_radio0", "ifname": "phy0-ap0"}]},
                "radio1": {"up": false, "interfaces": []}}"#,
        ));
        assert_eq!(ifnames, ["phy0-ap0"]);
        state.on_iwinfo(
            "phy0-ap0",
            Some(&table(
                r#"{"bssid": "02:AA:00:00:00:01", "channel": 1, "noise": -95, "htmode": "HE20"}"#,
            )),
        );
        assert_eq!(state.noise.get("phy0-ap0"), Some(&-95));
        assert_eq!(state.radio_ifnames.get("radio0").unwrap(), &["phy0-ap0"]);
        assert_eq!(bandwidth("HE20"), Some("20MHz"));
        assert_eq!(bandwidth("VHT80+80"), Some("80+80MHz"));
        assert_eq!(bandwidth("NOHT"), None);
        state.on_clients(
            "phy0-ap0",
            Some(&table(
                r#"{"freq": 2412, "clients": {"02:00:00:00:00:20": {"authorized": true, "signal": -48, "rate": {"rx": 144400, "tx": 286700}}}}"#,
            )),
        );
        assert_eq!(state.radios.get("radio1"), Some(&false));
        assert_eq!(
            state.bssids.get("phy0-ap0").map(String::as_str),
            Some("02:aa:00:00:00:01")
        );
        let station = &state.stations.get("phy0-ap0").unwrap()[0];
        assert_eq!(
            (station.signal, station.downlink_rate, station.uplink_rate),
            (-48, 286_700, 144_400)
        );
        state.on_iwinfo("phy0-ap0", None);
        assert!(state.bssids.is_empty());
        state.on_wireless_status(&table("{}"));
        assert!(state.stations.is_empty());
    }

    #[test]
    fn the_channel_in_use_under_auto_comes_from_iwinfo_and_writes_fix_it() {
        use crate::datamodel::config::MemoryUci;
        let mut uci = MemoryUci::default();
        uci.add(
            "wireless",
            "wifi-device",
            "radio0",
            &[("channel", "auto"), ("band", "5g")],
        );
        uci.add("wireless", "wifi-iface", "ap", &[("device", "radio0")]);
        let uci = uci.shared();
        let state = SharedRuntime::default();
        let mut provider = WifiRuntimeProvider::new(uci.clone(), state.clone());
        let radio = "Device.WiFi.Radio.1.";
        let get = |p: &mut WifiRuntimeProvider, f: &str| p.get(&format!("{radio}{f}"));
        let channel = || uci.borrow().get("wireless", "radio0", "channel");
        assert_eq!(
            get(&mut provider, "AutoChannelEnable").as_deref(),
            Some("1")
        );
        // Down: no channel in use, none to keep.
        assert_eq!(get(&mut provider, "Channel"), None);
        assert_eq!(
            provider.set(&format!("{radio}AutoChannelEnable"), "0"),
            Err(FaultCode::RequestDenied)
        );
        state.borrow_mut().wifi.on_wireless_status(&table(
            r#"{"radio0": {"up": true, "interfaces": [{"section": "ap", "ifname": "phy1-ap0"}]}}"#,
        ));
        state.borrow_mut().wifi.on_iwinfo(
            "phy1-ap0",
            Some(&table(r#"{"channel": 36, "htmode": "HE80"}"#)),
        );
        assert_eq!(get(&mut provider, "Channel").as_deref(), Some("36"));
        let wlan = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel";
        assert_eq!(provider.get(wlan).as_deref(), Some("36"));
        // Out of the 5 GHz band.
        assert_eq!(
            provider.set(&format!("{radio}Channel"), "6"),
            Err(FaultCode::InvalidParameterValue)
        );
        provider
            .set(&format!("{radio}AutoChannelEnable"), "0")
            .expect("keep");
        provider.commit().expect("commit");
        assert_eq!(channel().as_deref(), Some("36"));
        assert_eq!(
            get(&mut provider, "AutoChannelEnable").as_deref(),
            Some("0")
        );
        // Channel written beside AutoChannelEnable true: the channel wins.
        provider
            .set(&format!("{radio}Channel"), "44")
            .expect("channel");
        provider
            .set(&format!("{radio}AutoChannelEnable"), "1")
            .expect("auto");
        provider.commit().expect("commit");
        assert_eq!(channel().as_deref(), Some("44"));
        provider.set(wlan, "40").expect("TR-098 channel");
        provider
            .set(&format!("{radio}AutoChannelEnable"), "1")
            .expect("auto");
        provider.abort();
        provider
            .set(&format!("{radio}AutoChannelEnable"), "1")
            .expect("auto");
        provider.commit().expect("commit");
        assert_eq!(channel().as_deref(), Some("auto"));
    }
}
