//! The services this build leaves out (Cargo features): their settings are ignored, with one log line each when present.

use std::path::Path;

use crate::config::backends::CwmpStore;
use crate::config::{Compression, Config};
use crate::datamodel::config::ConfigStore;

/// A service a Cargo feature adds: whether this build has it, whether its
/// settings are present, and the line that says they are ignored.
type Service<'a> = (bool, &'a dyn Fn() -> bool, &'static str);

/// Logs one line for each service this build leaves out whose settings are
/// present: the `stun` or `xmpp` section of `cwmp`, a `twamp`, `udpechoserver`
/// or `xmpp` package in `uci_dir`, BulkData profiles in the state directory,
/// `acs.compression`. Those settings are ignored.
pub(super) fn log_ignored_settings(config: &Config, cwmp: &CwmpStore, uci_dir: &Path) {
    let package = |name: &str| uci_dir.join(name).exists();
    let services: [Service; 6] = [
        (
            cfg!(feature = "stun"),
            &|| {
                cwmp.get("stun", "enable")
                    .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "on" | "yes"))
            },
            "STUN is not in this build (feature `stun`): the `stun` section of cwmp is ignored",
        ),
        (
            cfg!(feature = "xmpp"),
            &|| package("xmpp") || cwmp.get("xmpp", "connection").is_some(),
            "XMPP is not in this build (feature `xmpp`): the `xmpp` package and section are ignored",
        ),
        (
            cfg!(feature = "twamp"),
            &|| package("twamp"),
            "TWAMP is not in this build (feature `twamp`): the `twamp` package is ignored",
        ),
        (
            cfg!(feature = "udpecho"),
            &|| package("udpechoserver"),
            "the UDP echo server is not in this build (feature `udpecho`): the `udpechoserver` package is ignored",
        ),
        (
            cfg!(feature = "bulkdata"),
            &|| config.cpe.state_dir.join("bulkdata").exists(),
            "BulkData is not in this build (feature `bulkdata`): its stored profiles are ignored",
        ),
        (
            cfg!(feature = "compression"),
            &|| config.acs.compression != Compression::Disabled,
            "HTTP compression is not in this build (feature `compression`): acs.compression is ignored, requests go uncompressed",
        ),
    ];
    for (built_in, present, line) in services {
        if !built_in && present() {
            log::warn!("{line}");
        }
    }
}
