//! The daemon's typed configuration, read from the UCI file `cwmp` and validated once at load.
//!
//! Every option of the seed's `acs`, `cpe` and `lwn` tables (and of `stun`) has a field here,
//! with its default in the `Default` impls below (one place). Values the
//! daemon writes back (`dhcp_url`, `ParameterKey`, …) go through
//! [`ConfigFile::update`], which re-reads the file, edits only the touched
//! statements and replaces it atomically.

/// What OpenWrt's `reload_config` does for one changed package.
pub const UCI_RELOAD_COMMAND: &str =
    r#"ubus call service event '{"type":"config.change","data":{"package":"{package}"}}'"#;

pub mod backends;
pub mod uci;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cwmp::datetime::parse_unix_or_datetime;
use crate::fsutil::atomic_write;
use uci::{shown, EditError, UciError, UciFile};

/// A secret (password) whose `Debug` output is redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The eight severities of the seed's `log_severity`, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Emerg,
    Alert,
    Critic,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Severity {
    const NAMES: [(&'static str, Severity); 8] = [
        ("EMERG", Severity::Emerg),
        ("ALERT", Severity::Alert),
        ("CRITIC", Severity::Critic),
        ("ERROR", Severity::Error),
        ("WARNING", Severity::Warning),
        ("NOTICE", Severity::Notice),
        ("INFO", Severity::Info),
        ("DEBUG", Severity::Debug),
    ];

    pub fn parse(text: &str) -> Option<Severity> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(text.trim()))
            .map(|&(_, s)| s)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|&&(_, s)| s == self)
            .map_or("INFO", |(n, _)| n)
    }
}

/// Which data model root the daemon serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataModelKind {
    Tr181,
    Tr098,
}

/// How multi-instance objects are named in responses (TR-069 A.3.2.1 / `InstanceMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceMode {
    InstanceNumber,
    InstanceAlias,
}

/// HTTP compression towards the ACS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Disabled,
    Gzip,
    Deflate,
}

/// The `acs` section: where and how to reach the ACS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcsConfig {
    pub url: String,
    pub userid: String,
    pub passwd: Secret,
    pub periodic_inform_enable: bool,
    pub periodic_inform_interval: u32,
    /// Unix time the periodic informs are aligned to; 0 when unset.
    pub periodic_inform_time: i64,
    pub parameter_key: String,
    pub dhcp_discovery: bool,
    pub compression: Compression,
    pub retry_min_wait_interval: u32,
    pub retry_interval_multiplier: u32,
    pub https_ssl_capath: String,
    pub ipv6_enable: bool,
    pub ssl_capath: String,
    /// When set, the ACS certificate is not verified (see README: the seed's
    /// wording is inverted; `1` means insecure, as the option name says).
    pub insecure_enable: bool,
    pub http_disable_100continue: bool,
    pub dhcp_url: String,
}

impl Default for AcsConfig {
    fn default() -> Self {
        AcsConfig {
            url: String::new(),
            userid: String::new(),
            passwd: Secret::default(),
            periodic_inform_enable: false,
            periodic_inform_interval: 86400,
            periodic_inform_time: 0,
            parameter_key: String::new(),
            dhcp_discovery: false,
            compression: Compression::Disabled,
            retry_min_wait_interval: 5,
            retry_interval_multiplier: 2000,
            https_ssl_capath: String::new(),
            ipv6_enable: false,
            ssl_capath: String::new(),
            insecure_enable: false,
            http_disable_100continue: false,
            dhcp_url: String::new(),
        }
    }
}

impl AcsConfig {
    /// The URL sessions go to: the configured one, else the one DHCP gave.
    pub fn effective_url(&self) -> &str {
        if self.url.is_empty() || (self.dhcp_discovery && !self.dhcp_url.is_empty()) {
            &self.dhcp_url
        } else {
            &self.url
        }
    }
}

/// The `cpe` section: the device side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpeConfig {
    pub interface: String,
    pub default_wan_interface: String,
    pub manufacturer: String,
    pub log_to_console: bool,
    pub log_to_file: bool,
    pub log_severity: Severity,
    pub log_file_name: PathBuf,
    pub log_max_size: u64,
    pub userid: String,
    pub passwd: Secret,
    pub port: u16,
    pub ubus_socket: PathBuf,
    pub provisioning_code: String,
    pub amd_version: u32,
    pub instance_mode: InstanceMode,
    /// Seconds the CPE waits for the ACS within a session (TR-069 SessionTimeout).
    pub session_timeout: u32,
    pub notification: bool,
    /// Seconds between checks of the parameters with notifications on (0: only on ubus `notify`).
    pub value_check_interval: u32,
    pub vlan_method: u32,
    pub datamodel: DataModelKind,
    pub exec_download: bool,
    /// Where persistent state (events, transfers, attributes) is kept.
    pub state_dir: PathBuf,
    /// The vendor's data model to UCI mapping (see files/etc/icwmp/uci-map).
    pub uci_map_file: PathBuf,
    /// Shell command run once per UCI package the ACS changed, after the
    /// session (`{package}` is the package name): procd's reload triggers.
    pub uci_reload_command: String,
    /// Shell command that reboots the device (after a Reboot RPC's session).
    pub reboot_command: String,
    /// Shell command that resets the device to factory defaults (FactoryReset RPC).
    pub factory_reset_command: String,
    /// ChangeDUState Install (and Update with a URL): `{url}` is replaced by the quoted URL.
    pub du_install_command: String,
    /// ChangeDUState Update without a URL: `{name}` is the quoted package name.
    pub du_update_command: String,
    /// ChangeDUState Uninstall: `{name}` is the quoted package name.
    pub du_uninstall_command: String,
    /// Prints the installed packages, one `name - version` line each.
    pub du_list_command: String,
    /// Seconds a package-manager command may run before it is killed.
    pub du_command_timeout: u32,
    /// Where downloads and upload files are staged (and kept when `exec_download` is 0).
    pub download_dir: PathBuf,
    /// Applies a `1 Firmware Upgrade Image`; `{file}` is its path. The device is expected to reboot.
    pub firmware_apply_command: String,
    /// Applies a `3 Vendor Configuration File`.
    pub vendor_config_apply_command: String,
    /// Applies any other download FileType (`{type}` is the FileType); empty: refused.
    pub download_apply_command: String,
    /// Writes the `1 Vendor Configuration File` of an Upload to `{file}`.
    pub config_upload_command: String,
    /// Writes the `2 Vendor Log File` of an Upload to `{file}`.
    pub log_upload_command: String,
    /// Seconds a transfer's server may stay silent (and a connect may take).
    pub transfer_timeout: u32,
    /// Seconds an apply or upload-preparing command may run.
    pub transfer_command_timeout: u32,
}

impl Default for CpeConfig {
    fn default() -> Self {
        CpeConfig {
            interface: String::new(),
            default_wan_interface: "wan".into(),
            manufacturer: String::new(),
            log_to_console: false,
            log_to_file: true,
            log_severity: Severity::Info,
            log_file_name: PathBuf::from("/var/log/icwmpd.log"),
            log_max_size: 102_400,
            userid: String::new(),
            passwd: Secret::default(),
            port: 7547,
            ubus_socket: PathBuf::from("/var/run/ubus.sock"),
            provisioning_code: String::new(),
            amd_version: 2,
            instance_mode: InstanceMode::InstanceNumber,
            session_timeout: 60,
            notification: true,
            value_check_interval: 60,
            vlan_method: 1,
            datamodel: DataModelKind::Tr181,
            exec_download: false,
            state_dir: PathBuf::from("/etc/icwmpd"),
            uci_map_file: PathBuf::from("/etc/icwmp/uci-map"),
            uci_reload_command: UCI_RELOAD_COMMAND.into(),
            reboot_command: "reboot".into(),
            factory_reset_command: "firstboot -y && reboot".into(),
            du_install_command: "opkg install {url}".into(),
            du_update_command: "opkg upgrade {name}".into(),
            du_uninstall_command: "opkg remove {name}".into(),
            du_list_command: "opkg list-installed".into(),
            du_command_timeout: 600,
            download_dir: PathBuf::from("/tmp/icwmpd"),
            firmware_apply_command: "sysupgrade {file}".into(),
            vendor_config_apply_command: "sysupgrade --restore-backup {file} && reload_config"
                .into(),
            download_apply_command: String::new(),
            config_upload_command: "sysupgrade --create-backup {file}".into(),
            log_upload_command: "logread > {file}".into(),
            transfer_timeout: 30,
            transfer_command_timeout: 600,
        }
    }
}

/// The `lwn` section: UDP lightweight notifications (TR-069 Annex M).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LwnConfig {
    pub enable: bool,
    pub hostname: String,
    pub port: u16,
    /// ManagementServer.LightweightNotificationTriggerInterval, seconds
    /// between sends of pending passive lightweight notifications (0: only
    /// with an active one).
    pub trigger_interval: u32,
    /// ManagementServer.LightweightNotificationTriggerTime, unix seconds
    /// (0 or the Unknown Time: the CPE picks the phase).
    pub trigger_time: i64,
}

/// The `stun` section: STUN and UDP connection requests (TR-111 Part 2, TR-069 Annex G).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StunConfig {
    /// ManagementServer.STUNEnable.
    pub enable: bool,
    /// STUNServerAddress; empty: the host of the ACS URL.
    pub server_address: String,
    /// STUNServerPort; 0 counts as 3478.
    pub server_port: u16,
    /// STUNUsername; when set, requests carry USERNAME and MESSAGE-INTEGRITY.
    pub username: String,
    pub password: Secret,
    /// STUNMinimumKeepAlivePeriod, seconds.
    pub min_keepalive: u32,
    /// STUNMaximumKeepAlivePeriod, seconds; -1: none.
    pub max_keepalive: i64,
    /// UDP port of the connection-request socket the bindings are made from (0: any).
    pub client_port: u16,
}

impl Default for StunConfig {
    fn default() -> Self {
        StunConfig {
            enable: false,
            server_address: String::new(),
            server_port: 3478,
            username: String::new(),
            password: Secret::default(),
            min_keepalive: 30,
            max_keepalive: -1,
            client_port: 7547,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub acs: AcsConfig,
    pub cpe: CpeConfig,
    pub lwn: LwnConfig,
    pub stun: StunConfig,
}

/// Why the configuration could not be loaded or saved.
#[derive(Debug)]
pub enum ConfigError {
    Io(PathBuf, std::io::Error),
    Syntax(UciError),
    /// An option whose value is not acceptable: file, line, section, option, why.
    Value {
        file: String,
        line: usize,
        section: String,
        option: String,
        reason: String,
    },
    Edit(EditError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            ConfigError::Syntax(e) => write!(f, "{e}"),
            ConfigError::Value {
                file,
                line,
                section,
                option,
                reason,
            } => {
                write!(f, "{file}:{line}: option {section}.{option}: {reason}")
            }
            ConfigError::Edit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<UciError> for ConfigError {
    fn from(e: UciError) -> Self {
        ConfigError::Syntax(e)
    }
}

impl From<EditError> for ConfigError {
    fn from(e: EditError) -> Self {
        ConfigError::Edit(e)
    }
}

/// Parses a UCI boolean the way OpenWrt's scripts accept them.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "enable" | "enabled" => Some(true),
        "0" | "false" | "no" | "off" | "disable" | "disabled" | "" => Some(false),
        _ => None,
    }
}

/// Reads typed options of one section, collecting the first error with its line.
struct SectionReader<'a> {
    uci: &'a UciFile,
    file: &'a str,
    section: &'static str,
}

impl SectionReader<'_> {
    fn raw(&self, option: &str) -> Option<&str> {
        self.uci.get(self.section, option)
    }

    fn error(&self, option: &str, reason: String) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_owned(),
            line: self.uci.line_of(self.section, option),
            section: self.section.to_owned(),
            option: option.to_owned(),
            reason,
        }
    }

    fn string(&self, option: &str, target: &mut String) {
        if let Some(v) = self.raw(option) {
            *target = v.to_owned();
        }
    }

    fn path(&self, option: &str, target: &mut PathBuf) {
        if let Some(v) = self.raw(option).filter(|v| !v.is_empty()) {
            *target = PathBuf::from(v);
        }
    }

    fn secret(&self, option: &str, target: &mut Secret) {
        if let Some(v) = self.raw(option) {
            *target = Secret(v.to_owned());
        }
    }

    fn boolean(&self, option: &str, target: &mut bool) -> Result<(), ConfigError> {
        if let Some(v) = self.raw(option) {
            *target = parse_bool(v)
                .ok_or_else(|| self.error(option, format!("{} is not a boolean", shown(v))))?;
        }
        Ok(())
    }

    /// An integer option within `min..=max`; an empty value keeps the default.
    fn number<T: TryFrom<i64>>(
        &self,
        option: &str,
        min: i64,
        max: i64,
        target: &mut T,
    ) -> Result<(), ConfigError> {
        let Some(v) = self.raw(option).map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let n: i64 = v
            .parse()
            .map_err(|_| self.error(option, format!("{} is not a number", shown(v))))?;
        if n < min || n > max {
            return Err(self.error(option, format!("{n} is outside {min}..{max}")));
        }
        *target = T::try_from(n).map_err(|_| self.error(option, format!("{n} is out of range")))?;
        Ok(())
    }

    fn choice<T: Copy>(
        &self,
        option: &str,
        choices: &[(&str, T)],
        target: &mut T,
    ) -> Result<(), ConfigError> {
        let Some(v) = self.raw(option).map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        *target = choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v))
            .map(|&(_, value)| value)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.error(
                    option,
                    format!("{} is not one of {}", shown(v), names.join(", ")),
                )
            })?;
        Ok(())
    }
}

impl Config {
    /// Builds the typed configuration from a parsed file; `file` names it in errors.
    /// `base_dir` (the `--config` directory) moves the default state and log
    /// locations under it, so the daemon runs without root.
    pub fn from_uci(
        uci: &UciFile,
        file: &str,
        base_dir: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(dir) = base_dir {
            config.cpe.state_dir = dir.join("icwmpd");
            config.cpe.log_file_name = dir.join("icwmpd.log");
            config.cpe.download_dir = dir.join("downloads");
            config.cpe.uci_map_file = dir.join("uci-map");
        }
        let acs = SectionReader {
            uci,
            file,
            section: "acs",
        };
        let a = &mut config.acs;
        acs.string("url", &mut a.url);
        if !a.url.is_empty() && crate::transport::http_client::check_url(&a.url).is_err() {
            let reason = format!("{} is not an http:// or https:// URL", shown(&a.url));
            return Err(acs.error("url", reason));
        }
        acs.string("userid", &mut a.userid);
        acs.secret("passwd", &mut a.passwd);
        acs.boolean("periodic_inform_enable", &mut a.periodic_inform_enable)?;
        acs.number(
            "periodic_inform_interval",
            1,
            u32::MAX.into(),
            &mut a.periodic_inform_interval,
        )?;
        if let Some(v) = acs
            .raw("periodic_inform_time")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            a.periodic_inform_time = parse_unix_or_datetime(v).ok_or_else(|| {
                let reason = format!("{} is neither unix seconds nor a dateTime", shown(v));
                acs.error("periodic_inform_time", reason)
            })?;
        }
        acs.string("ParameterKey", &mut a.parameter_key);
        acs.boolean("dhcp_discovery", &mut a.dhcp_discovery)?;
        let compression = [
            ("disabled", Compression::Disabled),
            ("0", Compression::Disabled),
            ("none", Compression::Disabled),
            ("gzip", Compression::Gzip),
            ("1", Compression::Gzip),
            ("deflate", Compression::Deflate),
        ];
        acs.choice("compression", &compression, &mut a.compression)?;
        acs.number(
            "retry_min_wait_interval",
            1,
            65535,
            &mut a.retry_min_wait_interval,
        )?;
        acs.number(
            "retry_interval_multiplier",
            1000,
            65535,
            &mut a.retry_interval_multiplier,
        )?;
        acs.string("https_ssl_capath", &mut a.https_ssl_capath);
        acs.boolean("ipv6_enable", &mut a.ipv6_enable)?;
        acs.string("ssl_capath", &mut a.ssl_capath);
        acs.boolean("insecure_enable", &mut a.insecure_enable)?;
        acs.boolean("http_disable_100continue", &mut a.http_disable_100continue)?;
        acs.string("dhcp_url", &mut a.dhcp_url);

        let cpe = SectionReader {
            uci,
            file,
            section: "cpe",
        };
        let c = &mut config.cpe;
        cpe.string("interface", &mut c.interface);
        cpe.string("default_wan_interface", &mut c.default_wan_interface);
        cpe.string("manufacturer", &mut c.manufacturer);
        cpe.boolean("log_to_console", &mut c.log_to_console)?;
        cpe.boolean("log_to_file", &mut c.log_to_file)?;
        if let Some(v) = cpe.raw("log_severity").filter(|v| !v.is_empty()) {
            c.log_severity = Severity::parse(v).ok_or_else(|| {
                cpe.error("log_severity", format!("{} is not one of EMERG, ALERT, CRITIC, ERROR, WARNING, NOTICE, INFO, DEBUG", shown(v)))
            })?;
        }
        cpe.path("log_file_name", &mut c.log_file_name);
        cpe.number("log_max_size", 0, i64::MAX, &mut c.log_max_size)?;
        cpe.string("userid", &mut c.userid);
        cpe.secret("passwd", &mut c.passwd);
        cpe.number("port", 0, 65535, &mut c.port)?;
        cpe.path("ubus_socket", &mut c.ubus_socket);
        cpe.string("provisioning_code", &mut c.provisioning_code);
        cpe.number("amd_version", 1, 6, &mut c.amd_version)?;
        let modes = [
            ("InstanceNumber", InstanceMode::InstanceNumber),
            ("InstanceAlias", InstanceMode::InstanceAlias),
        ];
        cpe.choice("instance_mode", &modes, &mut c.instance_mode)?;
        cpe.number("session_timeout", 1, 86400, &mut c.session_timeout)?;
        cpe.boolean("notification", &mut c.notification)?;
        cpe.number(
            "value_check_interval",
            0,
            86400,
            &mut c.value_check_interval,
        )?;
        cpe.number("vlan_method", 1, 2, &mut c.vlan_method)?;
        let models = [
            ("tr181", DataModelKind::Tr181),
            ("tr098", DataModelKind::Tr098),
        ];
        cpe.choice("datamodel", &models, &mut c.datamodel)?;
        cpe.boolean("exec_download", &mut c.exec_download)?;
        cpe.path("state_dir", &mut c.state_dir);
        cpe.path("uci_map_file", &mut c.uci_map_file);
        cpe.string("uci_reload_command", &mut c.uci_reload_command);
        cpe.string("reboot_command", &mut c.reboot_command);
        cpe.string("factory_reset_command", &mut c.factory_reset_command);
        cpe.string("du_install_command", &mut c.du_install_command);
        cpe.string("du_update_command", &mut c.du_update_command);
        cpe.string("du_uninstall_command", &mut c.du_uninstall_command);
        cpe.string("du_list_command", &mut c.du_list_command);
        cpe.number("du_command_timeout", 1, 86400, &mut c.du_command_timeout)?;
        cpe.path("download_dir", &mut c.download_dir);
        cpe.string("firmware_apply_command", &mut c.firmware_apply_command);
        cpe.string(
            "vendor_config_apply_command",
            &mut c.vendor_config_apply_command,
        );
        cpe.string("download_apply_command", &mut c.download_apply_command);
        cpe.string("config_upload_command", &mut c.config_upload_command);
        cpe.string("log_upload_command", &mut c.log_upload_command);
        cpe.number("transfer_timeout", 1, 86400, &mut c.transfer_timeout)?;
        cpe.number(
            "transfer_command_timeout",
            1,
            86400,
            &mut c.transfer_command_timeout,
        )?;

        let lwn = SectionReader {
            uci,
            file,
            section: "lwn",
        };
        let l = &mut config.lwn;
        lwn.boolean("enable", &mut l.enable)?;
        lwn.string("hostname", &mut l.hostname);
        lwn.number("port", 0, 65535, &mut l.port)?;
        lwn.number(
            "trigger_interval",
            0,
            u32::MAX.into(),
            &mut l.trigger_interval,
        )?;
        if let Some(v) = lwn
            .raw("trigger_time")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            l.trigger_time = parse_unix_or_datetime(v).ok_or_else(|| {
                let reason = format!("{} is neither unix seconds nor a dateTime", shown(v));
                lwn.error("trigger_time", reason)
            })?;
        }

        #[cfg(feature = "stun")]
        read_stun(
            &SectionReader {
                uci,
                file,
                section: "stun",
            },
            &mut config.stun,
        )?;
        Ok(config)
    }
}

/// The `stun` section (read only by builds with the `stun` feature; others ignore it).
#[cfg(feature = "stun")]
fn read_stun(stun: &SectionReader, st: &mut StunConfig) -> Result<(), ConfigError> {
    stun.boolean("enable", &mut st.enable)?;
    stun.string("server_address", &mut st.server_address);
    stun.number("server_port", 0, 65535, &mut st.server_port)?;
    stun.string("username", &mut st.username);
    if st.username.len() > crate::wire::stun::MAX_USERNAME {
        return Err(stun.error("username", "longer than 512 bytes".into()));
    }
    stun.secret("password", &mut st.password);
    stun.number(
        "min_keepalive",
        0,
        i64::from(u32::MAX),
        &mut st.min_keepalive,
    )?;
    stun.number(
        "max_keepalive",
        -1,
        i64::from(i32::MAX),
        &mut st.max_keepalive,
    )?;
    stun.number("client_port", 0, 65535, &mut st.client_port)?;
    Ok(())
}

/// The configuration file on disk: load, and write back single values.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// The `--config` directory, if one was given.
    pub base_dir: Option<PathBuf>,
}

impl ConfigFile {
    /// The file `cwmp` in `dir` (`/etc/config` by default, or `--config DIR`).
    pub fn in_dir(dir: Option<&Path>) -> ConfigFile {
        let path = dir.unwrap_or(Path::new("/etc/config")).join("cwmp");
        ConfigFile {
            path,
            base_dir: dir.map(Path::to_path_buf),
        }
    }

    fn read(&self) -> Result<UciFile, ConfigError> {
        let text = crate::fsutil::read_text(&self.path)
            .map_err(|e| ConfigError::Io(self.path.clone(), e))?;
        Ok(UciFile::parse(&self.path.display().to_string(), &text)?)
    }

    /// Reads and validates the whole configuration.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let uci = self.read()?;
        Config::from_uci(
            &uci,
            &self.path.display().to_string(),
            self.base_dir.as_deref(),
        )
    }

    /// Applies `edit` to the file as it is on disk now and replaces it atomically,
    /// keeping every other statement (comments included) as it was.
    pub fn update(
        &self,
        edit: impl FnOnce(&mut UciFile) -> Result<(), EditError>,
    ) -> Result<(), ConfigError> {
        let mut uci = self.read()?;
        edit(&mut uci)?;
        atomic_write(&self.path, uci.to_text().as_bytes())
            .map_err(|e| ConfigError::Io(self.path.clone(), e))
    }

    /// Sets one option (creating the section `cwmp '<section>'` if needed).
    pub fn set(&self, section: &str, option: &str, value: &str) -> Result<(), ConfigError> {
        self.update(|uci| {
            if !uci.has_section(section) {
                uci.add_section("cwmp", Some(section))?;
            }
            uci.set(section, option, value).map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let uci = UciFile::parse("cwmp", text)?;
        Config::from_uci(&uci, "cwmp", None)
    }

    #[test]
    fn defaults_when_empty() {
        let config = load("").expect("empty config");
        assert_eq!(config, Config::default());
        assert_eq!(config.cpe.port, 7547);
        assert_eq!(config.acs.retry_min_wait_interval, 5);
        assert_eq!(config.acs.retry_interval_multiplier, 2000);
        assert_eq!(
            config.cpe.log_file_name,
            PathBuf::from("/var/log/icwmpd.log")
        );
        assert_eq!(config.cpe.log_max_size, 102_400);
        assert_eq!(config.cpe.amd_version, 2);
    }

    #[test]
    #[cfg(feature = "stun")]
    fn stun_section_loads_and_checks_its_values() {
        let config = load(
            "config cwmp 'stun'\n\toption enable '1'\n\toption server_address 'stun.example'\n\
             \toption server_port '19302'\n\toption username 'u'\n\toption password 'p'\n\
             \toption min_keepalive '20'\n\toption max_keepalive '600'\n\toption client_port '0'\n",
        )
        .expect("stun section");
        let stun = &config.stun;
        assert!(stun.enable);
        assert_eq!(stun.server_address, "stun.example");
        assert_eq!(
            (stun.server_port, stun.min_keepalive, stun.max_keepalive),
            (19302, 20, 600)
        );
        assert_eq!((stun.username.as_str(), stun.password.as_str()), ("u", "p"));
        assert_eq!(stun.client_port, 0);
        assert_eq!(Config::default().stun.max_keepalive, -1);
        let err = load("config cwmp 'stun'\n\toption max_keepalive '-2'\n").unwrap_err();
        assert!(err.to_string().contains("stun.max_keepalive"), "{err}");
    }

    #[test]
    fn seed_example_loads() {
        let text =
            "config cwmp 'acs'\n\toption userid 'iopsys'\n\toption dhcp_discovery 'enable'\n\
            \toption compression 'Disabled'\n\toption retry_min_wait_interval '5'\n\
            \toption retry_interval_multiplier '2000'\n\nconfig cwmp 'cpe'\n\
            \toption interface 'eth0.1'\n\toption default_wan_interface 'wan'\n\
            \toption userid 'iopsys'\n\toption vlan_method '1'\n\toption datamodel 'tr181'\n\
            \toption exec_download '0'\n\t\nconfig cwmp 'lwn'\n\toption enable '1'\n\
            \toption hostname ''\n\toption port ''\n";
        let config = load(text).expect("seed config");
        assert!(config.acs.dhcp_discovery);
        assert_eq!(config.acs.compression, Compression::Disabled);
        assert_eq!(config.cpe.interface, "eth0.1");
        assert_eq!(config.cpe.datamodel, DataModelKind::Tr181);
        assert!(config.lwn.enable);
        assert_eq!(config.lwn.port, 0);
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = load("config cwmp acs\n\toption url gopher://[::1\n").expect_err("bad URL");
        assert_eq!(
            err.to_string(),
            "cwmp:2: option acs.url: 'gopher://[::1' is not an http:// or https:// URL"
        );
        let err = load(
            "config cwmp acs\n\toption url http://x/\n\toption periodic_inform_enable maybe\n",
        )
        .expect_err("bad boolean");
        assert_eq!(
            err.to_string(),
            "cwmp:3: option acs.periodic_inform_enable: 'maybe' is not a boolean"
        );
        let err = load("config cwmp cpe\n\toption port 70000\n").expect_err("bad port");
        assert!(err
            .to_string()
            .starts_with("cwmp:2: option cpe.port: 70000 is outside"));
        let config =
            load("config cwmp acs\n\toption periodic_inform_time '2024-01-01T00:00:00Z'\n")
                .expect("dateTime reference");
        assert_eq!(config.acs.periodic_inform_time, 1_704_067_200);
        let err = load("config cwmp cpe\n\toption datamodel tr999\n").expect_err("bad model");
        assert!(err
            .to_string()
            .contains("'tr999' is not one of tr181, tr098"));
        let err = load("config cwmp cpe\n\toption log_severity LOUD\n").expect_err("bad level");
        assert!(err.to_string().contains("cwmp:2: option cpe.log_severity"));
    }

    #[test]
    fn passwords_are_redacted() {
        let config = load("config cwmp acs\n\toption passwd hunter2\n").expect("config");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(config.acs.passwd.as_str(), "hunter2");
    }

    #[test]
    fn base_dir_moves_state_and_log() {
        let uci = UciFile::parse("cwmp", "").expect("empty");
        let config = Config::from_uci(&uci, "cwmp", Some(Path::new("/tmp/x"))).expect("config");
        assert_eq!(config.cpe.state_dir, PathBuf::from("/tmp/x/icwmpd"));
        assert_eq!(config.cpe.log_file_name, PathBuf::from("/tmp/x/icwmpd.log"));
    }

    #[test]
    fn file_set_keeps_comments() {
        let dir = std::env::temp_dir().join(format!("icwmp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = ConfigFile::in_dir(Some(&dir));
        std::fs::write(
            &file.path,
            "# keep me\nconfig cwmp 'acs'\n\toption url 'http://a/'\n",
        )
        .expect("write");
        file.set("acs", "ParameterKey", "key 1").expect("set");
        file.set("cpe", "port", "7548").expect("set in new section");
        let text = std::fs::read_to_string(&file.path).expect("read");
        assert!(text.starts_with("# keep me\nconfig cwmp 'acs'\n\toption url 'http://a/'\n"));
        let config = file.load().expect("load");
        assert_eq!(config.acs.parameter_key, "key 1");
        assert_eq!(config.cpe.port, 7548);
        std::fs::write(&file.path, "config cwmp acs\n\toption url 'open\n").expect("write bad");
        let err = file.load().expect_err("syntax error");
        assert!(
            err.to_string()
                .contains("cwmp:2: unterminated single quote"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
