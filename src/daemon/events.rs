//! Inform events raised by the other parts (transfers, software modules, CPE
//! requests, connection requests, services), queued and persisted at once.

use std::time::Instant;

use log::{error, info, warn};

use crate::clock;
use crate::cwmp::conn_request_limit::Admission;
use crate::cwmp::events::{Event, EventCode};
use crate::software::manager::SoftwareEvent;

use super::Daemon;

impl Daemon {
    /// Drives the file transfers on readiness (`event`) or their timers;
    /// a finished transfer's events ask for a session.
    pub(super) fn drive_transfers(&mut self, event: Option<&mio::event::Event>, now: Instant) {
        let unix = clock::unix_now();
        let registry = self.poll.registry();
        let events = match event {
            Some(event) => self.transfers.handle_event(registry, event, now, unix),
            None => self
                .transfers
                .handle_timeout(registry, now, unix, !self.acs.busy()),
        };
        if events.is_empty() {
            return;
        }
        for event in events {
            if !self.agent.trigger(event) {
                error!("event queue full: a transfer event was dropped");
            }
        }
        self.persist_events(" after a transfer");
    }

    /// Queues the Inform events of software results and autonomous changes.
    pub(super) fn announce(&mut self, events: Vec<SoftwareEvent>) {
        if events.is_empty() {
            return;
        }
        for event in events {
            if !self.agent.trigger(event.event()) {
                warn!("event queue full, software event dropped");
            }
        }
        self.persist_events("");
    }

    /// Takes up Kicked/RequestDownload files the command line left (SIGUSR1, start).
    pub(super) fn pick_up_cpe_requests(&mut self) {
        for code in self.cpe_requests.pick_up() {
            if !self.agent.trigger(Event::new(code)) {
                warn!("event queue full, CPE request event dropped");
            }
        }
        self.persist_events("");
    }

    pub(super) fn on_connection_request(&mut self, source: &str) {
        let admission = self.conn_request_limit.borrow_mut().admit(clock::now());
        match admission {
            Admission::NewSession => {
                info!("Connection Request from {source}");
                if !self.agent.trigger(Event::new(EventCode::ConnectionRequest)) {
                    warn!("event queue full, connection request dropped");
                }
            }
            Admission::Folded => {
                info!("Connection Request from {source}: carried by the session already due")
            }
            Admission::Refused => {
                warn!("Connection Request from {source} refused: too many sessions requested")
            }
        }
    }

    /// Writes the event queue to the state directory; a failure is logged
    /// (`when` completes the message: "" or " after a transfer" …).
    pub(super) fn persist_events(&self, when: &str) {
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events{when}: {e}");
        }
    }

    /// Queues an event a service asked for, persisted at once.
    pub(super) fn queue_event(&mut self, event: Event) {
        if !self.agent.trigger(event) {
            warn!("event queue full, a service's event was dropped");
        }
        self.persist_events("");
    }
}
