//! The TR-069 data model: generated schema, paths, providers and the RPC semantics engine.

pub mod cli;
pub mod config;
pub mod engine;
pub mod host;
pub mod mgmt;
pub mod path;
pub mod provider;
pub mod schema;
pub mod setup;
pub mod software;
pub mod state;
pub mod ucimap;
pub mod xmpp;

#[cfg(test)]
mod engine_tests;

use config::{SharedConfig, SharedUci};
use engine::{DataModel, RegisterError};
use provider::MemoryProvider;
use schema::ModelKind;

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
    dm.register(&[&at("Time.")], Box::new(host::TimeProvider::new(uci)))?;
    if schema.kind() == ModelKind::Tr181 {
        dm.register(
            &[
                "Device.Ethernet.Interface.",
                "Device.Ethernet.InterfaceNumberOfEntries",
            ],
            Box::new(host::EthernetProvider),
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
            Box::new(host::IpProvider),
        )?;
        dm.register(&["Device.DNS.Client."], Box::new(host::DnsProvider))?;
        dm.register(
            &["Device.SoftwareModules."],
            Box::new(software::SoftwareModulesProvider::new(state_dir)),
        )?;
    }
    Ok(())
}
