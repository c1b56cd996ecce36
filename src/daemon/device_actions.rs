//! Commands run after the session (Reboot, FactoryReset, UCI reloads) and the
//! reaping of their processes.

use std::process::Command;
use std::time::Instant;

use log::{error, info, warn};

use crate::clock;
use crate::cwmp::handlers::Deferred;
use crate::store::names;

use super::{Daemon, DaemonTimer, REAP_INTERVAL};

impl Daemon {
    pub(super) fn run_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::Reboot { command_key } => {
                if let Err(e) = self.store.write(names::REBOOT_KEY, command_key.as_bytes()) {
                    error!("cannot record the Reboot before rebooting: {e}");
                    return;
                }
                info!("Executing Reboot: end session request");
                let command = self.config.cpe.reboot_command.clone();
                self.spawn_shell(&command);
            }
            Deferred::FactoryReset => {
                info!("Executing factory reset: end session request");
                // Everything the daemon remembers goes: the next start is a first start (0 BOOTSTRAP).
                if let Err(e) = self.store.clear() {
                    error!("factory reset: cannot clear the state directory: {e}");
                }
                let command = self.config.cpe.factory_reset_command.clone();
                self.spawn_shell(&command);
            }
        }
    }

    pub(super) fn spawn_shell(&mut self, command: &str) {
        match Command::new("/bin/sh").arg("-c").arg(command).spawn() {
            Ok(child) => {
                self.children.push(child);
                self.timers
                    .set(DaemonTimer::ReapChildren, clock::now() + REAP_INTERVAL);
            }
            Err(e) => error!("cannot run '{command}': {e}"),
        }
    }

    pub(super) fn reap_children(&mut self, now: Instant) {
        self.children.retain_mut(|child| match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    warn!("command exited with {status}");
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
        if !self.children.is_empty() {
            self.timers
                .set(DaemonTimer::ReapChildren, now + REAP_INTERVAL);
        }
    }
}
