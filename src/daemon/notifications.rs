//! Value changes: the periodic check, the notified values kept across restarts,
//! and lightweight notifications (TR-069 Annex M).

use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::cwmp::notified_values::NotifiedValues;
use crate::cwmp::schedule::lightweight_trigger_after;
use crate::datamodel::engine::ValueChanges;

use super::{Daemon, DaemonTimer};

impl Daemon {
    /// Arms the periodic value-change check (`cpe.notification`, `cpe.value_check_interval`).
    pub(super) fn arm_value_check(&mut self, now: Instant) {
        let interval = self.config.cpe.value_check_interval;
        if self.config.cpe.notification && interval > 0 {
            self.timers.set(
                DaemonTimer::ValueCheck,
                now + Duration::from_secs(u64::from(interval)),
            );
        } else {
            self.timers.cancel(DaemonTimer::ValueCheck);
        }
    }

    /// Arms the trigger of passive lightweight notifications
    /// (`lwn.trigger_interval`, `lwn.trigger_time`).
    pub(super) fn arm_lightweight_trigger(&mut self, now: Instant, unix: i64) {
        let lwn = &self.config.lwn;
        let next = lightweight_trigger_after(lwn.trigger_interval, lwn.trigger_time, unix)
            .filter(|_| lwn.enable);
        match next {
            Some(at) => {
                let wait = u64::try_from(at.saturating_sub(unix)).unwrap_or(0);
                self.timers.set(
                    DaemonTimer::LightweightTrigger,
                    now + Duration::from_secs(wait),
                );
            }
            None => self.timers.cancel(DaemonTimer::LightweightTrigger),
        }
    }

    pub(super) fn check_value_changes(&mut self, unix: i64) {
        if !self.config.cpe.notification {
            return;
        }
        let changes = self.dm.check_changes();
        let found = !changes.is_empty();
        self.on_value_changes(changes, unix);
        if found || self.dm.take_baseline_changed() {
            self.persist_notified_values();
        }
    }

    /// Writes the notification baseline and the changes not yet reported,
    /// after the event queue that holds their `4 VALUE CHANGE`.
    pub(super) fn persist_notified_values(&mut self) {
        self.dm.take_baseline_changed();
        self.persist_events("");
        let record = NotifiedValues {
            baseline: self.dm.notification_baseline().clone(),
            pending: self.changed_values.clone(),
        };
        if let Err(e) = self.store.save_notified_values(&record) {
            error!("cannot persist notified values: {e}");
        }
    }

    /// Queues what a check found: Inform events and values, lightweight notifications.
    pub(super) fn on_value_changes(&mut self, changes: ValueChanges, unix: i64) {
        if !changes.passive.is_empty() {
            self.agent.passive_value_changed();
        }
        if !changes.active.is_empty() {
            self.agent.value_changed(unix);
        }
        for changed in changes.passive.into_iter().chain(changes.active) {
            self.changed_values.retain(|p| p.name != changed.name);
            self.changed_values.push(changed);
        }
        for changed in changes
            .lightweight_passive
            .into_iter()
            .chain(changes.lightweight_active.iter().cloned())
        {
            self.lwn_pending.retain(|p| p.name != changed.name);
            self.lwn_pending.push(changed);
        }
        if !changes.lightweight_active.is_empty() {
            self.send_lightweight_notification(unix);
        }
    }

    /// Sends the pending lightweight changes to `lwn.hostname:lwn.port` (TR-069 Annex M).
    pub(super) fn send_lightweight_notification(&mut self, unix: i64) {
        let lwn = &self.config.lwn;
        if !lwn.enable || lwn.hostname.is_empty() || lwn.port == 0 {
            return;
        }
        let id = self.dm.device_id();
        let cnonce = crate::transport::random16()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .unwrap_or_default();
        let header = crate::wire::lwn::Header {
            timestamp: unix,
            username: &self.config.acs.userid,
            cnonce: &cnonce,
            oui: &id.oui,
            product_class: &id.product_class,
            serial_number: &id.serial_number,
        };
        let datagram = match crate::wire::lwn::emit(&header, &self.lwn_pending) {
            Ok(d) => d,
            Err(e) => {
                error!("lightweight notification not sent: {e}");
                return;
            }
        };
        // Name resolution here blocks like the ACS client's (see http_client::resolve).
        let sent = std::net::ToSocketAddrs::to_socket_addrs(&(lwn.hostname.as_str(), lwn.port))
            .ok()
            .and_then(|mut addrs| addrs.next())
            .and_then(|addr| {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = std::net::UdpSocket::bind(local).ok()?;
                socket.set_nonblocking(true).ok()?;
                socket.send_to(&datagram, addr).ok()
            });
        match sent {
            Some(_) => {
                info!(
                    "Lightweight notification sent to {}:{} ({} parameters)",
                    lwn.hostname,
                    lwn.port,
                    self.lwn_pending.len()
                );
                self.lwn_pending.clear();
            }
            None => warn!(
                "lightweight notification to {}:{} failed",
                lwn.hostname, lwn.port
            ),
        }
    }
}
