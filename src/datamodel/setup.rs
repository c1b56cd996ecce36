//! Builds the data model the configuration asks for: schema root, persisted state, standard providers and the vendor's UCI mapping file.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use log::{error, warn};

use crate::config::backends::{CwmpStore, UciDir};
use crate::config::{Config, DataModelKind, InstanceMode};
use crate::datamodel::engine::{self, DataModel};
use crate::datamodel::schema::{ModelKind, Schema};

/// The engine options the configuration implies.
pub fn options_of(config: &Config) -> engine::Options {
    engine::Options {
        alias_based_addressing: false,
        instance_mode: match config.cpe.instance_mode {
            InstanceMode::InstanceNumber => engine::InstanceMode::InstanceNumber,
            InstanceMode::InstanceAlias => engine::InstanceMode::InstanceAlias,
        },
        amendment: config.cpe.amd_version,
    }
}

/// What the data model shares with the daemon's services.
pub struct ServiceShares {
    /// The BulkData settings the collector reads (TR-181 only).
    #[cfg(feature = "bulkdata")]
    pub bulkdata: Option<Rc<RefCell<crate::bulkdata::profile::BulkStore>>>,
    /// The reflectors' run-time state (Status, counters), filled by the daemon.
    #[cfg(any(feature = "twamp", feature = "udpecho"))]
    pub reflectors: crate::datamodel::reflectors::SharedReflectorState,
}

/// Opens the data model: state from `state_file` (a corrupt one is set aside
/// and logged), providers reading `cwmp` through `cwmp_store` and other UCI
/// packages from `uci_dir`, the UCI mapping file if there is one, and the
/// providers of the BulkData and reflector settings (where this build has them).
pub fn open(
    config: &Config,
    options: engine::Options,
    state_file: &Path,
    cwmp_store: Rc<RefCell<CwmpStore>>,
    uci_dir: &Path,
) -> Result<(DataModel, ServiceShares), String> {
    let kind = match config.cpe.datamodel {
        DataModelKind::Tr181 => ModelKind::Tr181,
        DataModelKind::Tr098 => ModelKind::Tr098,
    };
    let (mut dm, corrupt) = DataModel::open(Schema::new(kind), options, state_file);
    if let Some(e) = corrupt {
        error!("data model state unreadable, set aside and started empty: {e}");
    }
    let uci = Rc::new(RefCell::new(UciDir::new(uci_dir)));
    dm.attach_uci(uci.clone());
    super::register_standard_providers(
        &mut dm,
        cwmp_store.clone(),
        uci.clone(),
        &config.cpe.state_dir,
    )
    .map_err(|e| format!("data model providers: {e}"))?;
    match crate::fsutil::read_text(&config.cpe.uci_map_file) {
        Ok(text) => super::ucimap::register_uci_map(&mut dm, &text, uci.clone())
            .map_err(|e| format!("{}: {e}", config.cpe.uci_map_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!("{}: {e}", config.cpe.uci_map_file.display()),
    }
    super::register_tr098_runtime(&mut dm, cwmp_store, uci.clone());
    super::register_map_runtime(&mut dm, uci);
    #[cfg(feature = "bulkdata")]
    let bulkdata = super::bulkdata::register(&mut dm, &config.cpe.state_dir)
        .map_err(|e| format!("BulkData provider: {e}"))?;
    #[cfg(any(feature = "twamp", feature = "udpecho"))]
    let reflectors = super::reflectors::register(&mut dm, uci_dir)
        .map_err(|e| format!("data model providers: {e}"))?;
    Ok((
        dm,
        ServiceShares {
            #[cfg(feature = "bulkdata")]
            bulkdata,
            #[cfg(any(feature = "twamp", feature = "udpecho"))]
            reflectors,
        },
    ))
}
