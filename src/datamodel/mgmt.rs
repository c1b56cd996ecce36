//! The ManagementServer object, backed by the cwmp configuration (`acs`, `cpe`, `lwn`, `stun` sections).

use crate::cwmp::datetime;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::SharedConfig;
use crate::datamodel::engine::INFORM_EXTRAS;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::{Schema, INSTANCE};
use crate::sys;
use crate::transport::http_client::check_url;
use crate::wire::content_coding::{self, ContentCoding};

/// How a configuration option appears as a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Text,
    /// Write-only: GetParameterValues returns an empty string (TR-069 A.3.2.2).
    Secret,
    /// Stored `1`/`0` (also read as true/on/yes/enabled).
    Flag,
    /// Stored as Unix seconds, shown as xsd:dateTime.
    Time,
    /// An ACS URL: set only to one the ACS client can use (`http(s)://host[:port]/…`).
    Url,
}

/// A ManagementServer parameter kept in the configuration.
struct Mapped {
    name: &'static str,
    section: &'static str,
    option: &'static str,
    default: &'static str,
    shape: Shape,
    writable: bool,
}

const fn m(
    name: &'static str,
    section: &'static str,
    option: &'static str,
    default: &'static str,
    shape: Shape,
    writable: bool,
) -> Mapped {
    Mapped {
        name,
        section,
        option,
        default,
        shape,
        writable,
    }
}

/// The configuration behind each parameter (UCI names of /etc/config/cwmp;
/// STUN runtime results such as NATDetected are written by the STUN client).
static MAPPED: &[Mapped] = &[
    m("EnableCWMP", "cpe", "enable", "1", Shape::Flag, true),
    m("URL", "acs", "url", "", Shape::Url, true),
    m("Username", "acs", "userid", "", Shape::Text, true),
    m("Password", "acs", "passwd", "", Shape::Secret, true),
    m(
        "PeriodicInformEnable",
        "acs",
        "periodic_inform_enable",
        "1",
        Shape::Flag,
        true,
    ),
    m(
        "PeriodicInformInterval",
        "acs",
        "periodic_inform_interval",
        "86400",
        Shape::Text,
        true,
    ),
    m(
        "PeriodicInformTime",
        "acs",
        "periodic_inform_time",
        "",
        Shape::Time,
        true,
    ),
    m(
        "ParameterKey",
        "acs",
        "ParameterKey",
        "",
        Shape::Text,
        false,
    ),
    m(
        "ConnectionRequestUsername",
        "cpe",
        "userid",
        "",
        Shape::Text,
        true,
    ),
    m(
        "ConnectionRequestPassword",
        "cpe",
        "passwd",
        "",
        Shape::Secret,
        true,
    ),
    m(
        "CWMPRetryMinimumWaitInterval",
        "acs",
        "retry_min_wait_interval",
        "5",
        Shape::Text,
        true,
    ),
    m(
        "CWMPRetryIntervalMultiplier",
        "acs",
        "retry_interval_multiplier",
        "2000",
        Shape::Text,
        true,
    ),
    m(
        "DefaultActiveNotificationThrottle",
        "acs",
        "active_notif_throttle",
        "0",
        Shape::Text,
        true,
    ),
    m(
        "InstanceMode",
        "cpe",
        "instance_mode",
        "InstanceNumber",
        Shape::Text,
        true,
    ),
    m(
        "AutoCreateInstances",
        "cpe",
        "auto_create_instances",
        "0",
        Shape::Flag,
        true,
    ),
    m(
        "UDPLightweightNotificationHost",
        "lwn",
        "hostname",
        "",
        Shape::Text,
        true,
    ),
    m(
        "UDPLightweightNotificationPort",
        "lwn",
        "port",
        "7547",
        Shape::Text,
        true,
    ),
    m(
        "LightweightNotificationTriggerInterval",
        "lwn",
        "trigger_interval",
        "0",
        Shape::Text,
        true,
    ),
    m(
        "HTTPCompression",
        "acs",
        "compression",
        "Disabled",
        Shape::Text,
        true,
    ),
    m(
        "LightweightNotificationTriggerTime",
        "lwn",
        "trigger_time",
        "",
        Shape::Time,
        true,
    ),
];

/// The STUN and UDP connection-request parameters (the `stun` feature).
#[cfg(feature = "stun")]
static STUN_MAPPED: &[Mapped] = &[
    m(
        "UDPConnectionRequestAddress",
        "stun",
        "udp_connection_request_address",
        "",
        Shape::Text,
        false,
    ),
    m("STUNEnable", "stun", "enable", "0", Shape::Flag, true),
    m(
        "STUNServerAddress",
        "stun",
        "server_address",
        "",
        Shape::Text,
        true,
    ),
    m(
        "STUNServerPort",
        "stun",
        "server_port",
        "3478",
        Shape::Text,
        true,
    ),
    m("STUNUsername", "stun", "username", "", Shape::Text, true),
    m("STUNPassword", "stun", "password", "", Shape::Secret, true),
    m(
        "STUNMaximumKeepAlivePeriod",
        "stun",
        "max_keepalive",
        "-1",
        Shape::Text,
        true,
    ),
    m(
        "STUNMinimumKeepAlivePeriod",
        "stun",
        "min_keepalive",
        "30",
        Shape::Text,
        true,
    ),
    m(
        "NATDetected",
        "stun",
        "nat_detected",
        "0",
        Shape::Flag,
        false,
    ),
];

/// The XMPP connection-request parameters (the `xmpp` feature).
#[cfg(feature = "xmpp")]
static XMPP_MAPPED: &[Mapped] = &[
    m(
        "ConnReqJabberID",
        "xmpp",
        "jabber_id",
        "",
        Shape::Text,
        false,
    ),
    m(
        "ConnReqXMPPConnection",
        "xmpp",
        "connection",
        "",
        Shape::Text,
        true,
    ),
    m(
        "ConnReqAllowedJabberIDs",
        "xmpp",
        "allowed_jid",
        "",
        Shape::Text,
        true,
    ),
];

/// The tables of this build.
static TABLES: &[&[Mapped]] = &[
    MAPPED,
    #[cfg(feature = "stun")]
    STUN_MAPPED,
    #[cfg(feature = "xmpp")]
    XMPP_MAPPED,
];

/// Serves `<root>.ManagementServer.` from the shared configuration.
pub struct ManagementServerProvider {
    config: SharedConfig,
    staged: Vec<(&'static Mapped, String)>,
}

impl ManagementServerProvider {
    pub fn new(config: SharedConfig) -> ManagementServerProvider {
        ManagementServerProvider {
            config,
            staged: Vec::new(),
        }
    }

    fn option(&self, section: &str, option: &str) -> Option<String> {
        self.config.borrow().get(section, option)
    }

    /// `http://<address>:<port>/`: the WAN address the daemon learned from
    /// netifd (`cpe.connection_request_host`, a run-time value), else the IPv4
    /// address of `cpe.interface`, else the first non-loopback one, else loopback.
    pub fn connection_request_url(&self) -> String {
        let port = self
            .option("cpe", "port")
            .filter(|p| p.parse::<u16>().is_ok())
            .unwrap_or_else(|| "7547".to_owned());
        if let Some(host) = self.option("cpe", "connection_request_host") {
            return format!("http://{host}:{port}/");
        }
        let wanted = self.option("cpe", "interface").unwrap_or_default();
        let addrs = sys::ipv4_addresses();
        let pick = addrs
            .iter()
            .find(|a| !wanted.is_empty() && a.interface == wanted)
            .or_else(|| addrs.iter().find(|a| !a.address.is_loopback()))
            .map(|a| a.address.to_string())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        format!("http://{pick}:{port}/")
    }

    fn computed(&self, name: &str) -> Option<String> {
        Some(match name {
            "ConnectionRequestURL" => self.connection_request_url(),
            "AliasBasedAddressing" => {
                let amendment = self
                    .option("cpe", "amd_version")
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(2);
                flag(amendment >= 5)
            }
            "SupportedConnReqMethods" => supported_conn_req_methods(),
            "HTTPCompressionSupported" => content_coding::SUPPORTED_NAMES.to_owned(),
            "LightweightNotificationProtocolsSupported" => "UDP".to_owned(),
            "LightweightNotificationProtocolsUsed" => {
                let on = self.option("lwn", "enable").is_some_and(|v| is_true(&v));
                if on { "UDP" } else { "" }.to_owned()
            }
            "ManageableDeviceNumberOfEntries"
            | "EmbeddedDeviceNumberOfEntries"
            | "VirtualDeviceNumberOfEntries" => "0".to_owned(),
            _ => return None,
        })
    }
}

/// HTTP, and STUN (UDP) and XMPP where this build has them.
fn supported_conn_req_methods() -> String {
    let mut methods = String::from("HTTP");
    if cfg!(feature = "stun") {
        methods.push_str(",STUN");
    }
    if cfg!(feature = "xmpp") {
        methods.push_str(",XMPP");
    }
    methods
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

fn is_true(value: &str) -> bool {
    matches!(value, "1" | "true" | "on" | "yes" | "enable" | "enabled")
}

fn find(name: &str) -> Option<&'static Mapped> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|p| p.name == name)
}

fn param_name(path: &str) -> Option<&str> {
    path.split_once(".ManagementServer.").map(|(_, name)| name)
}

impl Provider for ManagementServerProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let name = param_name(path)?;
        let Some(mapped) = find(name) else {
            return self.computed(name);
        };
        let stored = self.option(mapped.section, mapped.option);
        let value = stored.as_deref().unwrap_or(mapped.default);
        Some(match mapped.shape {
            Shape::Text | Shape::Url => value.to_owned(),
            Shape::Secret => String::new(),
            Shape::Flag => flag(is_true(value)),
            // The configuration holds unix seconds (as icwmp writes them) or a dateTime.
            Shape::Time => match datetime::configured_time(value) {
                Some(secs) => datetime::format_utc(secs),
                None => datetime::UNKNOWN_TIME_TEXT.to_owned(),
            },
        })
    }

    fn writable(&self, path: &str) -> bool {
        param_name(path).and_then(find).is_some_and(|p| p.writable)
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let mapped = param_name(path)
            .and_then(find)
            .ok_or(FaultCode::NonWritableParameter)?;
        if mapped.name == "HTTPCompression"
            && value != "Disabled"
            && ContentCoding::from_name(value).is_none()
        {
            return Err(FaultCode::InvalidParameterValue);
        }
        let stored = match mapped.shape {
            Shape::Time => datetime::parse(value)
                .ok()
                .map(|t| t.unix_secs)
                .map(|s| s.max(0).to_string())
                .ok_or(FaultCode::InvalidParameterValue)?,
            Shape::Flag => flag(is_true(value)),
            // Empty is allowed: the URL learned by DHCP applies then.
            Shape::Url if !value.is_empty() && check_url(value).is_err() => {
                return Err(FaultCode::InvalidParameterValue)
            }
            Shape::Text | Shape::Secret | Shape::Url => value.to_owned(),
        };
        self.staged.push((mapped, stored));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut config = self.config.borrow_mut();
        for (mapped, value) in staged {
            config
                .set(mapped.section, mapped.option, &value)
                .map_err(|e| Fault::with_text(FaultCode::InternalError, e))?;
        }
        config
            .commit()
            .map_err(|e| Fault::with_text(FaultCode::InternalError, e))?;
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }
}

/// The rules TR-181 sets for ManagementServer.InformParameter.{i} beyond
/// the schema: ParameterName names a parameter or object of the model, with
/// `*` only in place of instance numbers, and never a forced Inform
/// parameter; EventList never holds `4 VALUE CHANGE`. Both refusals are 9007.
pub fn check_inform_parameter(schema: Schema, path: &str, value: &str) -> Result<(), FaultCode> {
    if path.ends_with(".EventList") {
        if value.split(',').any(|e| e.trim() == "4 VALUE CHANGE") {
            return Err(FaultCode::InvalidParameterValue);
        }
        return Ok(());
    }
    if !path.ends_with(".ParameterName") || value.is_empty() {
        return Ok(());
    }
    let pattern: Vec<&str> = value
        .split('.')
        .map(|s| {
            if s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
                INSTANCE
            } else {
                s
            }
        })
        .collect();
    let pattern = pattern.join(".");
    let node = schema
        .lookup(&pattern)
        .ok_or(FaultCode::InvalidParameterValue)?;
    let is_param = schema.is_parameter(node);
    if is_param == value.ends_with('.') || value.contains("..") {
        return Err(FaultCode::InvalidParameterValue);
    }
    let root = schema.root_name();
    let extra = INFORM_EXTRAS
        .iter()
        .any(|e| value.strip_prefix(root).and_then(|v| v.strip_prefix('.')) == Some(*e));
    if is_param && (schema.forced_inform(node) || extra) {
        return Err(FaultCode::InvalidParameterValue);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::MemoryConfig;

    #[test]
    fn maps_options_hides_secrets_and_commits_together() {
        let config = MemoryConfig::with(&[
            ("acs", "url", "http://acs.example:7547"),
            ("acs", "passwd", "secret"),
            ("acs", "periodic_inform_time", "1700000000"),
            ("cpe", "port", "7548"),
            ("cpe", "interface", "lo"),
        ])
        .shared();
        let mut p = ManagementServerProvider::new(config.clone());
        let get = |p: &mut ManagementServerProvider, n: &str| {
            p.get(&format!("Device.ManagementServer.{n}"))
        };
        assert_eq!(
            get(&mut p, "URL").as_deref(),
            Some("http://acs.example:7547")
        );
        assert_eq!(get(&mut p, "Password").as_deref(), Some(""));
        assert_eq!(get(&mut p, "PeriodicInformEnable").as_deref(), Some("1"));
        assert_eq!(
            get(&mut p, "PeriodicInformTime").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            get(&mut p, "ConnectionRequestURL").as_deref(),
            Some("http://127.0.0.1:7548/")
        );
        assert_eq!(get(&mut p, "NoSuchThing"), None);
        assert!(!p.writable("Device.ManagementServer.ParameterKey"));
        p.set("Device.ManagementServer.PeriodicInformInterval", "60")
            .expect("stage");
        p.set(
            "Device.ManagementServer.PeriodicInformTime",
            "1970-01-01T00:01:00Z",
        )
        .expect("stage");
        assert_eq!(config.borrow().get("acs", "periodic_inform_interval"), None);
        p.commit().expect("commit");
        let c = config.borrow();
        assert_eq!(
            c.get("acs", "periodic_inform_interval").as_deref(),
            Some("60")
        );
        assert_eq!(c.get("acs", "periodic_inform_time").as_deref(), Some("60"));
    }

    #[test]
    fn compression_and_connection_request_methods_follow_the_build() {
        let config = MemoryConfig::with(&[]).shared();
        let mut p = ManagementServerProvider::new(config.clone());
        let get = |p: &mut ManagementServerProvider, n: &str| {
            p.get(&format!("Device.ManagementServer.{n}"))
        };
        assert_eq!(get(&mut p, "HTTPCompression").as_deref(), Some("Disabled"));
        let compression = cfg!(feature = "compression");
        assert_eq!(
            get(&mut p, "HTTPCompressionSupported").as_deref(),
            Some(if compression { "GZIP,Deflate" } else { "" })
        );
        assert_eq!(
            p.set("Device.ManagementServer.HTTPCompression", "Compress"),
            Err(FaultCode::InvalidParameterValue)
        );
        let gzip = p.set("Device.ManagementServer.HTTPCompression", "GZIP");
        if compression {
            gzip.expect("stage");
            p.commit().expect("commit");
            assert_eq!(
                config.borrow().get("acs", "compression").as_deref(),
                Some("GZIP")
            );
        } else {
            assert_eq!(gzip, Err(FaultCode::InvalidParameterValue));
        }

        let methods = get(&mut p, "SupportedConnReqMethods").unwrap_or_default();
        let (stun, xmpp) = (cfg!(feature = "stun"), cfg!(feature = "xmpp"));
        let expected = match (stun, xmpp) {
            (true, true) => "HTTP,STUN,XMPP",
            (true, false) => "HTTP,STUN",
            (false, true) => "HTTP,XMPP",
            (false, false) => "HTTP",
        };
        assert_eq!(methods, expected);
        // A service left out of the build leaves its parameters out too.
        assert_eq!(get(&mut p, "STUNEnable").is_some(), stun);
        assert_eq!(get(&mut p, "UDPConnectionRequestAddress").is_some(), stun);
        assert_eq!(get(&mut p, "ConnReqJabberID").is_some(), xmpp);
    }

    #[test]
    fn the_acs_url_must_be_usable() {
        let config = MemoryConfig::with(&[("acs", "url", "http://acs/")]).shared();
        let mut p = ManagementServerProvider::new(config);
        for bad in ["http://acs/\nx", "gopher://[::1", "acs"] {
            assert_eq!(
                p.set("Device.ManagementServer.URL", bad),
                Err(FaultCode::InvalidParameterValue),
                "{bad:?}"
            );
        }
        p.set("Device.ManagementServer.URL", "https://[::1]:7547/acs")
            .expect("a good URL");
        p.set("Device.ManagementServer.URL", "")
            .expect("empty: DHCP's URL");
    }

    #[test]
    fn a_configured_datetime_is_shown_as_it_is() {
        let config =
            MemoryConfig::with(&[("acs", "periodic_inform_time", "2024-01-01T00:00:00Z")]).shared();
        let mut p = ManagementServerProvider::new(config);
        assert_eq!(
            p.get("Device.ManagementServer.PeriodicInformTime")
                .as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
    }
}
