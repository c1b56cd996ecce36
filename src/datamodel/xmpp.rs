//! `Device.XMPP.`: connections and their servers kept in the `xmpp` UCI package, and the live status the XMPP client publishes.
//!
//! UCI layout (`/etc/config/xmpp`; icwmp's option names where it had them):
//! `config connection` sections carry `instance` (their number in
//! `Connection.{i}`) and one option per writable parameter; `config server`
//! sections carry `connection` (the parent's instance), `instance` and theirs.
//! Status, JabberID, LastChangeDate, TLSEstablished and Stats come from
//! [`XmppStatus`], which the client (`transport::xmpp`) updates.

use std::cell::RefCell;
use std::rc::Rc;

use crate::cwmp::datetime;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::UciBackend;
use crate::datamodel::provider::{ApplyStatus, Provider};

/// The UCI package.
pub const PACKAGE: &str = "xmpp";
/// Section types.
pub const CONNECTION: &str = "connection";
pub const SERVER: &str = "server";

/// A writable parameter and its UCI option, with the schema default used when the option is absent.
struct Option_ {
    name: &'static str,
    option: &'static str,
    default: &'static str,
    flag: bool,
}

const fn o(name: &'static str, option: &'static str, default: &'static str) -> Option_ {
    Option_ {
        name,
        option,
        default,
        flag: false,
    }
}

const fn flag(name: &'static str, option: &'static str) -> Option_ {
    Option_ {
        name,
        option,
        default: "0",
        flag: true,
    }
}

static CONNECTION_OPTIONS: &[Option_] = &[
    flag("Enable", "enable"),
    o("Alias", "alias", ""),
    o("Username", "username", ""),
    // Write-only: reads give "" (handled before the table is consulted).
    o("Password", "password", ""),
    o("Domain", "domain", ""),
    o("Resource", "resource", ""),
    o("ServerConnectAlgorithm", "serveralgorithm", "DNS-SRV"),
    o("KeepAliveInterval", "interval", "-1"),
    o("ServerConnectAttempts", "attempt", "16"),
    o("ServerRetryInitialInterval", "initial_retry_interval", "60"),
    o(
        "ServerRetryIntervalMultiplier",
        "retry_interval_multiplier",
        "2000",
    ),
    o("ServerRetryMaxInterval", "retry_max_interval", "30720"),
    flag("UseTLS", "usetls"),
];

static SERVER_OPTIONS: &[Option_] = &[
    flag("Enable", "enable"),
    o("Alias", "alias", ""),
    o("Priority", "priority", "0"),
    o("Weight", "weight", "-1"),
    o("ServerAddress", "server_address", ""),
    o("Port", "port", "5222"),
];

/// What the XMPP client reports about the connection it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XmppStatus {
    /// The `Connection.{i}` instance the client runs (0: none).
    pub connection: u32,
    /// One of TR-181's Status values.
    pub status: &'static str,
    pub jabber_id: String,
    /// Unix seconds of the last Status change (0: never).
    pub last_change: i64,
    pub tls_established: bool,
    pub received: u32,
    pub transmitted: u32,
    pub received_errors: u32,
    pub transmitted_errors: u32,
}

/// The status shared by the client and the provider.
pub type SharedXmppStatus = Rc<RefCell<XmppStatus>>;

fn is_true(value: &str) -> bool {
    matches!(value, "1" | "true" | "on" | "yes" | "enable" | "enabled")
}

/// The section of `section_type` whose `key` options equal `values`.
fn find_section(uci: &dyn UciBackend, section_type: &str, keys: &[(&str, u32)]) -> Option<String> {
    uci.sections(PACKAGE)
        .into_iter()
        .filter(|s| s.section_type == section_type)
        .find(|s| {
            keys.iter().all(|(key, value)| {
                uci.get(PACKAGE, &s.name, key)
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    == Some(*value)
            })
        })
        .map(|s| s.name)
}

/// The section of `Connection.{instance}`.
pub fn connection_section(uci: &dyn UciBackend, instance: u32) -> Option<String> {
    find_section(uci, CONNECTION, &[("instance", instance)])
}

/// Instance numbers, ascending, of the sections of `section_type` (servers of `parent`).
fn instance_numbers(uci: &dyn UciBackend, section_type: &str, parent: Option<u32>) -> Vec<u32> {
    let mut numbers: Vec<u32> = uci
        .sections(PACKAGE)
        .into_iter()
        .filter(|s| s.section_type == section_type)
        .filter(|s| {
            parent.is_none_or(|p| {
                uci.get(PACKAGE, &s.name, "connection")
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    == Some(p)
            })
        })
        .filter_map(|s| uci.get(PACKAGE, &s.name, "instance")?.trim().parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// The server sections of `Connection.{connection}`, by instance number.
pub fn server_sections(uci: &dyn UciBackend, connection: u32) -> Vec<String> {
    instance_numbers(uci, SERVER, Some(connection))
        .into_iter()
        .filter_map(|i| find_section(uci, SERVER, &[("connection", connection), ("instance", i)]))
        .collect()
}

/// A connection option's value, or its schema default (`Enable`, `Username`, … by parameter name).
pub fn connection_value(uci: &dyn UciBackend, section: &str, name: &str) -> String {
    value_of(uci, section, CONNECTION_OPTIONS, name)
}

/// A server option's value, or its schema default.
pub fn server_value(uci: &dyn UciBackend, section: &str, name: &str) -> String {
    value_of(uci, section, SERVER_OPTIONS, name)
}

fn value_of(uci: &dyn UciBackend, section: &str, table: &[Option_], name: &str) -> String {
    let Some(spec) = table.iter().find(|o| o.name == name) else {
        return String::new();
    };
    let value = uci
        .get(PACKAGE, section, spec.option)
        .unwrap_or_else(|| spec.default.to_owned());
    if spec.flag {
        if is_true(&value) { "1" } else { "0" }.to_owned()
    } else {
        value
    }
}

/// Where a path points inside `Device.XMPP.`.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Top(&'a str),
    Connection(u32, &'a str),
    Stats(u32, &'a str),
    Server(u32, u32, &'a str),
}

fn target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("Device.XMPP.")?;
    let Some(rest) = rest.strip_prefix("Connection.") else {
        return Some(Target::Top(rest));
    };
    let (number, rest) = rest.split_once('.')?;
    let connection = number.parse().ok()?;
    if let Some(stats) = rest.strip_prefix("Stats.") {
        return Some(Target::Stats(connection, stats));
    }
    if let Some(server) = rest.strip_prefix("Server.") {
        let (number, name) = server.split_once('.')?;
        return Some(Target::Server(connection, number.parse().ok()?, name));
    }
    Some(Target::Connection(connection, rest))
}

/// The connection whose `Server.` table `table` is.
fn server_table(table: &str) -> Option<u32> {
    table
        .strip_prefix("Device.XMPP.Connection.")?
        .strip_suffix(".Server.")?
        .parse()
        .ok()
}

/// Serves `Device.XMPP.` (TR-181 only).
pub struct XmppProvider {
    uci: Rc<RefCell<dyn UciBackend>>,
    status: SharedXmppStatus,
    staged: Vec<(String, String)>,
}

impl XmppProvider {
    pub fn new(uci: Rc<RefCell<dyn UciBackend>>, status: SharedXmppStatus) -> XmppProvider {
        XmppProvider {
            uci,
            status,
            staged: Vec::new(),
        }
    }

    fn connection_get(&self, instance: u32, name: &str) -> Option<String> {
        let uci = self.uci.borrow();
        let section = connection_section(&*uci, instance)?;
        let status = self.status.borrow();
        let live = status.connection == instance;
        Some(match name {
            "Password" => String::new(),
            "JabberID" if live => status.jabber_id.clone(),
            "JabberID" => String::new(),
            "Status" => {
                if live {
                    status.status.to_owned()
                } else if is_true(&connection_value(&*uci, &section, "Enable")) {
                    // Enabled but not the one ManagementServer.ConnReqXMPPConnection names.
                    "Dormant".to_owned()
                } else {
                    "Disabled".to_owned()
                }
            }
            "LastChangeDate" => match status.last_change {
                t if live && t > 0 => datetime::format_utc(t),
                _ => datetime::UNKNOWN_TIME_TEXT.to_owned(),
            },
            "TLSEstablished" => if live && status.tls_established {
                "1"
            } else {
                "0"
            }
            .to_owned(),
            "ServerNumberOfEntries" => server_sections(&*uci, instance).len().to_string(),
            _ if CONNECTION_OPTIONS.iter().any(|o| o.name == name) => {
                connection_value(&*uci, &section, name)
            }
            _ => return None,
        })
    }

    fn stats_get(&self, instance: u32, name: &str) -> Option<String> {
        connection_section(&*self.uci.borrow(), instance)?;
        let status = self.status.borrow();
        let live = status.connection == instance;
        let value = match name {
            "ReceivedMessages" => status.received,
            "TransmittedMessages" => status.transmitted,
            "ReceivedErrorMessages" => status.received_errors,
            "TransmittedErrorMessages" => status.transmitted_errors,
            _ => return None,
        };
        Some(if live { value } else { 0 }.to_string())
    }

    fn server_section(&self, connection: u32, instance: u32) -> Option<String> {
        find_section(
            &*self.uci.borrow(),
            SERVER,
            &[("connection", connection), ("instance", instance)],
        )
    }

    /// The section and option a writable path maps to.
    fn writable_option(&self, path: &str) -> Option<(String, &'static str)> {
        match target(path)? {
            Target::Connection(c, name) => {
                let spec = CONNECTION_OPTIONS.iter().find(|o| o.name == name)?;
                Some((connection_section(&*self.uci.borrow(), c)?, spec.option))
            }
            Target::Server(c, s, name) => {
                let spec = SERVER_OPTIONS.iter().find(|o| o.name == name)?;
                Some((self.server_section(c, s)?, spec.option))
            }
            _ => None,
        }
    }
}

impl Provider for XmppProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        match target(path)? {
            Target::Top("ConnectionNumberOfEntries") => Some(
                instance_numbers(&*self.uci.borrow(), CONNECTION, None)
                    .len()
                    .to_string(),
            ),
            Target::Top("SupportedServerConnectAlgorithms") => Some("DNS,ServerTable".to_owned()),
            Target::Top(_) => None,
            Target::Connection(c, name) => self.connection_get(c, name),
            Target::Stats(c, name) => self.stats_get(c, name),
            Target::Server(c, s, name) => {
                let section = self.server_section(c, s)?;
                SERVER_OPTIONS
                    .iter()
                    .any(|o| o.name == name)
                    .then(|| server_value(&*self.uci.borrow(), &section, name))
            }
        }
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let uci = self.uci.borrow();
        if table == "Device.XMPP.Connection." {
            return instance_numbers(&*uci, CONNECTION, None);
        }
        match server_table(table) {
            Some(c) => instance_numbers(&*uci, SERVER, Some(c)),
            None => Vec::new(),
        }
    }

    fn writable(&self, path: &str) -> bool {
        self.writable_option(path).is_some()
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        if self.writable_option(path).is_none() {
            return Err(FaultCode::NonWritableParameter);
        }
        self.staged.push((path.to_owned(), value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let internal = |e: String| Fault::with_text(FaultCode::InternalError, e);
        for (path, value) in staged {
            let (section, option) = self
                .writable_option(&path)
                .ok_or_else(|| internal(format!("{path} vanished")))?;
            self.uci
                .borrow_mut()
                .set(PACKAGE, &section, option, &value)
                .map_err(internal)?;
        }
        self.uci.borrow_mut().commit(PACKAGE).map_err(internal)?;
        // The client picks the change up when the session ends.
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    /// Connections, and Servers of a connection that exists, are UCI sections of `xmpp`.
    fn creatable(&self, table: &str) -> bool {
        table == "Device.XMPP.Connection."
            || server_table(table)
                .is_some_and(|c| connection_section(&*self.uci.borrow(), c).is_some())
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let (section_type, parent) = if table == "Device.XMPP.Connection." {
            (CONNECTION, None)
        } else {
            match server_table(table) {
                Some(c) => (SERVER, Some(c)),
                None => return Err(FaultCode::RequestDenied),
            }
        };
        let mut uci = self.uci.borrow_mut();
        if let Some(parent) = parent {
            connection_section(&*uci, parent).ok_or(FaultCode::InvalidParameterName)?;
        }
        let failed = |_| FaultCode::InternalError;
        let section = uci.add_section(PACKAGE, section_type).map_err(failed)?;
        uci.set(PACKAGE, &section, "instance", &number.to_string())
            .map_err(failed)?;
        if let Some(parent) = parent {
            uci.set(PACKAGE, &section, "connection", &parent.to_string())
                .map_err(failed)?;
        }
        if let Some(alias) = alias {
            uci.set(PACKAGE, &section, "alias", alias).map_err(failed)?;
        }
        uci.commit(PACKAGE).map_err(failed)?;
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let path = format!("{instance}x");
        let mut uci = self.uci.borrow_mut();
        let failed = |_| FaultCode::InternalError;
        let sections = match target(&path) {
            Some(Target::Connection(c, "x")) => {
                let mut all = server_sections(&*uci, c);
                all.extend(connection_section(&*uci, c));
                all
            }
            Some(Target::Server(c, s, "x")) => {
                find_section(&*uci, SERVER, &[("connection", c), ("instance", s)])
                    .into_iter()
                    .collect()
            }
            _ => return Err(FaultCode::InvalidParameterName),
        };
        if sections.is_empty() {
            return Err(FaultCode::InvalidParameterName);
        }
        // Delete from the last position so positional names (`@server[2]`) of the rest stay valid.
        let position = |s: &String| {
            s.rsplit('[')
                .next()
                .and_then(|n| n.trim_end_matches(']').parse::<usize>().ok())
                .unwrap_or(0)
        };
        let mut sections = sections;
        sections.sort_by_key(|s| std::cmp::Reverse(position(s)));
        for section in &sections {
            uci.delete_section(PACKAGE, section).map_err(failed)?;
        }
        uci.commit(PACKAGE).map_err(failed)?;
        Ok(ApplyStatus::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::MemoryUci;

    fn provider() -> (XmppProvider, SharedXmppStatus) {
        let mut uci = MemoryUci::default();
        uci.add(
            PACKAGE,
            CONNECTION,
            "",
            &[
                ("instance", "1"),
                ("enable", "1"),
                ("username", "cpe"),
                ("password", "pw"),
            ],
        );
        uci.add(
            PACKAGE,
            SERVER,
            "",
            &[
                ("connection", "1"),
                ("instance", "2"),
                ("server_address", "x"),
            ],
        );
        let status = SharedXmppStatus::default();
        (XmppProvider::new(uci.shared(), status.clone()), status)
    }

    #[test]
    fn serves_uci_values_defaults_and_live_status() {
        let (mut p, status) = provider();
        let get = |p: &mut XmppProvider, path: &str| p.get(path);
        assert_eq!(
            get(&mut p, "Device.XMPP.ConnectionNumberOfEntries").as_deref(),
            Some("1")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Username").as_deref(),
            Some("cpe")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Password").as_deref(),
            Some("")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.ServerRetryMaxInterval").as_deref(),
            Some("30720")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Status").as_deref(),
            Some("Dormant")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Server.2.Port").as_deref(),
            Some("5222")
        );
        assert_eq!(get(&mut p, "Device.XMPP.Connection.1.Server.1.Port"), None);
        assert_eq!(get(&mut p, "Device.XMPP.Connection.2.Username"), None);
        assert_eq!(p.instances("Device.XMPP.Connection.1.Server."), vec![2]);
        *status.borrow_mut() = XmppStatus {
            connection: 1,
            status: "Enabled",
            jabber_id: "cpe@localhost/r".into(),
            last_change: 60,
            tls_established: true,
            received: 3,
            ..XmppStatus::default()
        };
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Status").as_deref(),
            Some("Enabled")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.JabberID").as_deref(),
            Some("cpe@localhost/r")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.LastChangeDate").as_deref(),
            Some("1970-01-01T00:01:00Z")
        );
        assert_eq!(
            get(&mut p, "Device.XMPP.Connection.1.Stats.ReceivedMessages").as_deref(),
            Some("3")
        );
    }

    #[test]
    fn sets_adds_and_deletes_through_uci() {
        let (mut p, _) = provider();
        assert!(p.writable("Device.XMPP.Connection.1.Domain"));
        assert!(!p.writable("Device.XMPP.Connection.1.JabberID"));
        p.set("Device.XMPP.Connection.1.Domain", "localhost")
            .expect("set");
        assert_eq!(
            p.get("Device.XMPP.Connection.1.Domain").as_deref(),
            Some("")
        );
        p.commit().expect("commit");
        assert_eq!(
            p.get("Device.XMPP.Connection.1.Domain").as_deref(),
            Some("localhost")
        );
        p.add_instance("Device.XMPP.Connection.1.Server.", 3, Some("cpe-3"))
            .expect("add server");
        assert_eq!(p.instances("Device.XMPP.Connection.1.Server."), vec![2, 3]);
        assert_eq!(
            p.get("Device.XMPP.Connection.1.Server.3.Alias").as_deref(),
            Some("cpe-3")
        );
        assert_eq!(
            p.add_instance("Device.XMPP.Connection.9.Server.", 1, None),
            Err(FaultCode::InvalidParameterName)
        );
        p.delete_instance("Device.XMPP.Connection.1.")
            .expect("delete");
        assert!(p.instances("Device.XMPP.Connection.").is_empty());
        assert!(p.instances("Device.XMPP.Connection.1.Server.").is_empty());
    }
}
