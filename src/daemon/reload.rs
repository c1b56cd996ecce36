//! Reload: re-reads the configuration and hands it to every component
//! (SIGHUP, the ubus `reload` command, a session that changed it).

use log::{error, info};

use crate::clock;
use crate::cwmp::events::{Event, EventCode};
use crate::datamodel::setup;
use crate::logging::{self, LogSettings};
use crate::transport::acs::AcsLink;
use crate::transport::transfer::TransferSettings;

use super::startup::{http_config_of, periodic_of, retry_policy_of, software_settings_of};
use super::{tokens, Daemon};

impl Daemon {
    /// Re-reads the configuration file. A file that no longer parses is
    /// reported and the running configuration kept, so nothing is lost.
    pub fn reload(&mut self) {
        let config = match self.config_file.load() {
            Ok(config) => config,
            Err(e) => {
                error!("config reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        logging::apply(LogSettings::from_config(&config.cpe));
        let unix = clock::unix_now();
        if config.acs.effective_url() != self.config.acs.effective_url() {
            // TR-069 3.2.1: a new ACS gets a BOOTSTRAP.
            self.agent.forget_acs_requests();
            self.transfers.forget_acs_requests();
            self.agent.trigger(Event::new(EventCode::Bootstrap));
        }
        self.agent
            .reconfigure(periodic_of(&config), retry_policy_of(&config), unix);
        self.dm.set_options(setup::options_of(&config));
        self.software.set_settings(software_settings_of(&config));
        self.cwmp_store.borrow_mut().refresh();
        self.transfers
            .reconfigure(TransferSettings::from_config(&config));
        if !self.acs.busy() {
            match AcsLink::new(http_config_of(&config), tokens::ACS) {
                Ok(link) => self.acs = link,
                Err(e) => error!("ACS client settings rejected, keeping the previous ones: {e}"),
            }
        }
        self.config = config;
        self.configure_services();
        self.arm_value_check(clock::now());
        self.arm_lightweight_trigger(clock::now(), unix);
        self.persist_events("");
        info!("icwmpd config reloaded");
    }
}
