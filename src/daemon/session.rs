//! The ACS session: its opening (the Inform and the CPE's own requests), driving
//! it, the acknowledgements and its end.

use std::time::Instant;

use log::{error, info};

use crate::clock;
use crate::cwmp::agent::SessionResult;
use crate::cwmp::events::{CompletionRpc, EventCode};
use crate::cwmp::handlers::RequestHandler;
use crate::cwmp::session::Acknowledged;
use crate::redact;
use crate::store::names;
use crate::transport::acs::SessionOpening;
use crate::wire::soap::{self, CwmpVersion, DateTime, Rpc};

use super::Daemon;

/// The highest CWMP version an amendment speaks (`cpe.amd_version`).
pub(super) fn version_of_amendment(amendment: u32) -> CwmpVersion {
    match amendment {
        0 | 1 => CwmpVersion::V1_0,
        2 => CwmpVersion::V1_1,
        3 => CwmpVersion::V1_2,
        4 => CwmpVersion::V1_3,
        _ => CwmpVersion::V1_4,
    }
}

/// A random u32 for the retry back-off (0 if the OS has no randomness).
pub(super) fn random_u32() -> u32 {
    crate::transport::random16().map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Daemon {
    pub(super) fn start_session(&mut self, now: Instant, unix: i64) {
        let url = self.config.acs.effective_url().to_owned();
        info!("Start session");
        info!("ACS url: {}", redact::url(&url));
        let events = self.agent.begin_session(unix);
        self.conn_request_limit.borrow_mut().session_started();
        self.persist_events(" before the session");
        self.refresh_runtime();
        info!("Preparing the Inform RPC message to send to the ACS");
        let codes: Vec<&str> = events.iter().map(|e| e.code.as_str()).collect();
        let mut parameter_list = self.dm.inform_parameters_for(&codes);
        // They stay pending until the ACS acknowledges this Inform.
        self.inform_changes = self.changed_values.clone();
        for changed in &self.changed_values {
            if !parameter_list.iter().any(|p| p.name == changed.name) {
                parameter_list.push(changed.clone());
            }
        }
        let id = self.dm.device_id();
        let inform = soap::Inform {
            device_id: soap::DeviceId {
                manufacturer: id.manufacturer,
                oui: id.oui,
                product_class: id.product_class,
                serial_number: id.serial_number,
            },
            events: events
                .iter()
                .map(|e| soap::Event {
                    event_code: e.code.as_str().to_owned(),
                    command_key: e.command_key.clone(),
                })
                .collect(),
            max_envelopes: 1,
            current_time: DateTime::from_unix(unix),
            retry_count: self.agent.retry_count(),
            parameter_list,
        };
        let mut cpe_requests = Vec::new();
        if self.agent.take_rpc_methods_request() {
            cpe_requests.push(Rpc::GetRpcMethods);
        }
        cpe_requests.extend(self.software.cpe_requests());
        cpe_requests.extend(self.cpe_requests.pending());
        cpe_requests.extend(self.transfers.reports());
        let opening = SessionOpening {
            url: url.clone(),
            inform,
            cpe_requests,
            version: version_of_amendment(self.config.cpe.amd_version),
            session_timeout: self.config.cpe.session_timeout,
        };
        self.session_url = url;
        if let Err(e) = self.acs.start(self.poll.registry(), opening, now) {
            self.end_session(Err(e.to_string()), unix);
        }
    }

    /// Drives the ACS link on readiness (`event`) or its timer.
    pub(super) fn drive_acs(&mut self, event: Option<&mio::event::Event>, now: Instant) {
        let unix = clock::unix_now();
        let mut acks = Vec::new();
        let transfer_policy = self.transfers.policy();
        let mut handler = RequestHandler {
            dm: &mut self.dm,
            agent: &mut self.agent,
            now: unix,
            deferred: &mut self.deferred,
            acs_changed: false,
            software: &mut self.software,
            transfers: self.transfers.queue_mut(),
            transfer_policy,
        };
        let registry = self.poll.registry();
        let ended = match event {
            Some(event) => self
                .acs
                .handle_event(registry, event, now, &mut handler, &mut acks),
            None => self
                .acs
                .handle_timeout(registry, now, &mut handler, &mut acks),
        };
        // Accepted transfer requests and ScheduleInforms are persisted at once,
        // and so are values and notifications the ACS set (the new baseline).
        self.transfers.save();
        self.persist_schedule();
        if self.dm.take_baseline_changed() {
            self.persist_notified_values();
        }
        for ack in acks {
            self.acknowledged(ack);
        }
        if let Some(result) = ended {
            self.end_session(result.map_err(|e| e.to_string()), clock::unix_now());
        }
    }

    /// Writes the pending ScheduleInforms when they changed; the events a due
    /// one queued are written first, so a crash in between repeats it rather
    /// than losing it.
    pub(super) fn persist_schedule(&mut self) {
        if !self.agent.take_schedule_changed() {
            return;
        }
        self.persist_events("");
        if let Err(e) = self
            .store
            .save_scheduled_informs(self.agent.scheduled_informs())
        {
            error!("cannot persist scheduled informs: {e}");
        }
    }

    pub(super) fn acknowledged(&mut self, ack: Acknowledged) {
        match ack {
            Acknowledged::Inform => {
                let delivered = self.agent.on_inform_acknowledged();
                let reported = std::mem::take(&mut self.inform_changes);
                self.changed_values.retain(|p| !reported.contains(p));
                self.persist_notified_values();
                if delivered.iter().any(|e| e.code == EventCode::Bootstrap) {
                    if let Err(e) = self
                        .store
                        .write(names::BOOTSTRAP_URL, self.session_url.as_bytes())
                    {
                        error!("cannot record the bootstrapped ACS: {e}");
                    }
                }
            }
            Acknowledged::Request { request, .. } => {
                let owed = self.software.acknowledged(&request);
                self.cpe_requests.acknowledged(&request);
                self.transfers.acknowledged(&request);
                let completed = match *request {
                    Rpc::TransferComplete(tc) => {
                        Some((CompletionRpc::TransferComplete, tc.command_key))
                    }
                    Rpc::AutonomousTransferComplete(_) => {
                        Some((CompletionRpc::AutonomousTransferComplete, String::new()))
                    }
                    Rpc::DuStateChangeComplete(du) => {
                        Some((CompletionRpc::DuStateChangeComplete, du.command_key))
                    }
                    Rpc::AutonomousDuStateChangeComplete { .. } => Some((
                        CompletionRpc::AutonomousDuStateChangeComplete,
                        String::new(),
                    )),
                    Rpc::RequestDownload { .. } => {
                        Some((CompletionRpc::RequestDownload, String::new()))
                    }
                    Rpc::Kicked(_) => Some((CompletionRpc::Kicked, String::new())),
                    _ => None,
                };
                if let Some((rpc, key)) = completed {
                    self.agent.on_rpc_acknowledged(rpc, &key);
                }
                self.announce(owed);
            }
        }
        self.persist_events(" after an acknowledgement");
    }

    pub(super) fn end_session(&mut self, result: Result<(), String>, unix: i64) {
        for request in self.acs.take_unsent() {
            if request == Rpc::GetRpcMethods {
                self.agent.request_rpc_methods();
            }
        }
        match result {
            Ok(()) => {
                self.agent.end_session(SessionResult::Success, unix, 0);
                info!("End session");
            }
            Err(e) => {
                info!("RPC Failed");
                error!("CWMP session error: {e}");
                info!("End session");
                let wait = self
                    .agent
                    .end_session(SessionResult::Failure, unix, random_u32());
                if let Some(wait) = wait {
                    info!(
                        "Retry session, retry count = {}, retry in {wait}s",
                        self.agent.retry_count()
                    );
                }
            }
        }
        self.persist_events(" after the session");
        // Values the ACS set became the baseline as it set them; what else
        // changed during the session (outside CWMP) is a change to report.
        self.check_value_changes(unix);
        if self.cwmp_store.borrow_mut().take_changed() {
            info!("Config reload: end session request");
            self.reload();
        }
        for package in self.dm.take_changed_packages() {
            info!("Applying the changes of UCI package {package}");
            let command = self
                .config
                .cpe
                .uci_reload_command
                .replace("{package}", &package);
            self.spawn_shell(&command);
        }
        for work in std::mem::take(&mut self.deferred) {
            self.run_deferred(work);
        }
        // Packages changed outside CWMP show up against the recorded inventory.
        self.software.refresh();
        for index in 0..self.services.len() {
            self.serve(index, &mut |service, cx| service.session_ended(cx));
        }
        info!("Waiting the next session");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amendments_map_to_versions() {
        assert_eq!(version_of_amendment(1), CwmpVersion::V1_0);
        assert_eq!(version_of_amendment(2), CwmpVersion::V1_1);
        assert_eq!(version_of_amendment(6), CwmpVersion::V1_4);
    }
}
