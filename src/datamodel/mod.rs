//! The TR-069 data model: generated schema, paths, providers and the RPC semantics engine.

pub mod bridging;
#[cfg(feature = "bulkdata")]
pub mod bulkdata;
pub mod cli;
pub mod config;
pub mod dhcpv6;
#[cfg(feature = "diagnostics")]
pub mod diagnostics;
pub mod dnsrelay;
pub mod engine;
pub mod firewall;
pub mod host;
pub mod ipconfig;
pub mod lan;
pub mod mgmt;
pub mod netifd;
pub mod path;
pub mod provider;
#[cfg(any(feature = "twamp", feature = "udpecho"))]
pub mod reflectors;
pub mod routes;
pub mod runtime;
pub mod schema;
pub mod setup;
pub mod software;
pub mod state;
pub mod stored;
pub mod ucimap;
pub mod wifi;
#[cfg(feature = "xmpp")]
pub mod xmpp;

#[cfg(test)]
mod engine_tests;

use config::{SharedConfig, SharedUci};
use engine::{DataModel, RegisterError};
use provider::MemoryProvider;
use schema::ModelKind;

/// The file under `state_dir` that keeps the ACS's InformParameter and Location tables.
pub const STORED_TABLES_FILE: &str = "tables";

/// Serves ManagementServer.InformParameter.{i} and DeviceInfo.Location.{i}
/// (where the schema has them) from `state_dir/tables`.
fn register_stored_tables(
    dm: &mut DataModel,
    state_dir: &std::path::Path,
) -> Result<(), RegisterError> {
    let schema = dm.schema();
    let root = schema.root_name();
    let tables: Vec<String> = ["ManagementServer.InformParameter.", "DeviceInfo.Location."]
        .iter()
        .map(|t| format!("{root}.{t}"))
        .filter(|t| schema.lookup(t).is_some())
        .collect();
    let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
    let file = state_dir.join(STORED_TABLES_FILE);
    let file = state_dir.is_dir().then_some(file.as_path());
    let (stored, problem) =
        stored::StoredTables::open(schema, &refs, file, Some(mgmt::check_inform_parameter));
    if let Some(problem) = problem {
        log::error!("{problem}; the InformParameter and Location tables start empty");
    }
    let prefixes = stored.prefixes();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    dm.register(&refs, Box::new(stored))
}

/// Registers the built-in providers for the engine's root data model:
/// DeviceInfo, ManagementServer and Time for both models; Ethernet, IP and
/// DNS interfaces and SoftwareModules (from the inventory in `state_dir`) for TR-181.
pub fn register_standard_providers(
    dm: &mut DataModel,
    config: SharedConfig,
    uci: SharedUci,
    state_dir: &std::path::Path,
) -> Result<(), RegisterError> {
    let schema = dm.schema();
    let root = schema.root_name();
    let at = |suffix: &str| format!("{root}.{suffix}");
    if schema.kind() == ModelKind::Tr181 {
        let mut version = MemoryProvider::new(schema);
        version.insert("Device.RootDataModelVersion", "2.19");
        dm.register(&["Device.RootDataModelVersion"], Box::new(version))?;
    }
    dm.register(
        &[&at("DeviceInfo.")],
        Box::new(host::DeviceInfoProvider::new(config.clone())),
    )?;
    dm.register(
        &[&at("ManagementServer.")],
        Box::new(mgmt::ManagementServerProvider::new(config)),
    )?;
    dm.register(
        &[&at("Time.")],
        Box::new(host::TimeProvider::new(uci.clone())),
    )?;
    register_stored_tables(dm, state_dir)?;
    if schema.kind() == ModelKind::Tr181 {
        dm.register(
            &[
                "Device.Ethernet.Interface.",
                "Device.Ethernet.InterfaceNumberOfEntries",
            ],
            Box::new(host::EthernetProvider::default()),
        )?;
        dm.register(
            &[
                "Device.IP.Interface.",
                "Device.IP.InterfaceNumberOfEntries",
                "Device.IP.IPv4Capable",
                "Device.IP.IPv4Enable",
                "Device.IP.IPv6Capable",
                "Device.IP.IPv6Enable",
            ],
            Box::new(host::IpProvider::new(uci.clone())),
        )?;
        dm.register(&["Device.DNS.Client."], Box::new(host::DnsProvider))?;
        dm.register(
            &["Device.Hosts.Host.", "Device.Hosts.HostNumberOfEntries"],
            Box::new(lan::HostsProvider::new(uci.clone())),
        )?;
        dm.register(
            &["Device.SoftwareModules."],
            Box::new(software::SoftwareModulesProvider::new(state_dir)),
        )?;
    }
    Ok(())
}

/// Registers a provider whose objects the schema or the UCI map may lack;
/// `what` names them in the debug line when they are not served. True when registered.
fn register_optional(
    dm: &mut DataModel,
    paths: &[&str],
    provider: Box<dyn provider::Provider>,
    what: &str,
) -> bool {
    match dm.register(paths, provider) {
        Ok(()) => true,
        Err(e) => {
            log::debug!("{what} not served: {e}");
            false
        }
    }
}

/// Registers the run-time providers of TR-098 objects whose tables the UCI
/// map serves (`LANDevice.1.Hosts.`, the WAN connection's address and
/// status); without those tables in the map there is nothing to add to.
pub fn register_tr098_runtime(dm: &mut DataModel, config: SharedConfig, uci: SharedUci) {
    if dm.schema().kind() != ModelKind::Tr098 {
        return;
    }
    let hosts = [
        "InternetGatewayDevice.LANDevice.{i}.Hosts.Host.",
        "InternetGatewayDevice.LANDevice.{i}.Hosts.HostNumberOfEntries",
    ];
    register_optional(
        dm,
        &hosts,
        Box::new(lan::HostsProvider::new(uci.clone())),
        "LANDevice hosts",
    );
    let ethernet = [
        "InternetGatewayDevice.LANDevice.{i}.LANEthernetInterfaceConfig.",
        "InternetGatewayDevice.LANDevice.{i}.LANEthernetInterfaceNumberOfEntries",
    ];
    register_optional(
        dm,
        &ethernet,
        Box::new(lan::LanEthernetProvider::new(uci.clone())),
        "LANDevice Ethernet interfaces",
    );
    let wan = "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}.";
    let wan_params = [
        format!("{wan}ExternalIPAddress"),
        format!("{wan}ConnectionStatus"),
        format!("{wan}MACAddress"),
    ];
    let refs: Vec<&str> = wan_params.iter().map(String::as_str).collect();
    register_optional(
        dm,
        &refs,
        Box::new(lan::WanProvider::new(config, uci)),
        "WAN connection state",
    );
}

/// Registers the providers that serve inside the uci-map's tables: TR-181
/// DHCPv4 pool static addresses and clients, bridge ports, firewall rule zones and order, the Wi-Fi run-time state
/// and radio channels (both models),
/// the DNS relay's forwarders, DHCPv6 leases and IPv6 prefixes,
/// and (both models) the netifd run-time state of PPP and DHCP links. The
/// run-time cache is attached to the model for the daemon to fill.
pub fn register_map_runtime(dm: &mut DataModel, uci: SharedUci) {
    let state = runtime::SharedRuntime::default();
    let mut fed = false;
    if dm.schema().kind() == ModelKind::Tr181 {
        register_optional(
            dm,
            &lan::POOL_CHILD_PATHS,
            Box::new(lan::PoolChildrenProvider::new(uci.clone())),
            "DHCPv4 pool clients and static addresses",
        );
        register_optional(
            dm,
            &bridging::PATHS,
            Box::new(bridging::BridgePortsProvider::new(
                uci.clone(),
                state.clone(),
            )),
            "bridge ports",
        );
        let provider = wifi::WifiRuntimeProvider::new(uci.clone(), state.clone());
        fed |= register_optional(
            dm,
            &wifi::RUNTIME_PATHS,
            Box::new(provider),
            "Wi-Fi run-time state",
        );
        let provider = firewall::FirewallRulesProvider::new(uci.clone(), state.clone());
        register_optional(
            dm,
            &firewall::PATHS,
            Box::new(provider),
            "firewall rule zones",
        );
        let provider = dhcpv6::Dhcpv6Provider::new(uci.clone(), state.clone());
        fed |= register_optional(
            dm,
            &dhcpv6::PATHS,
            Box::new(provider),
            "DHCPv6 leases and IPv6 prefixes",
        );
        let provider = dnsrelay::DnsRelayProvider::new(uci.clone(), state.clone());
        fed |= register_optional(
            dm,
            &dnsrelay::PATHS,
            Box::new(provider),
            "DNS relay forwarders",
        );
    }
    if dm.schema().kind() == ModelKind::Tr098 {
        let provider = wifi::WifiRuntimeProvider::new(uci.clone(), state.clone());
        fed |= register_optional(
            dm,
            &wifi::TR098_PATHS,
            Box::new(provider),
            "WLANConfiguration channels",
        );
    }
    let paths: &[&str] = match dm.schema().kind() {
        ModelKind::Tr181 => &netifd::TR181_PATHS,
        ModelKind::Tr098 => &netifd::TR098_PATHS,
    };
    let provider = netifd::NetRuntimeProvider::new(uci, state.clone());
    fed |= register_optional(dm, paths, Box::new(provider), "netifd run-time state");
    if fed {
        dm.attach_runtime(state);
    }
}
