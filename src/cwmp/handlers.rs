//! Answers the ACS's requests (TR-069 Annex A.3.2): parameter RPCs go to the data model, device operations are deferred to the session's end.
//!
//! Transfer requests go into the transfer queue, which the daemon runs
//! (and persists) after each exchange; their responses say `Pending`.
//! Reboot and FactoryReset are acknowledged in the session and carried out
//! after it ends (TR-069 A.3.2.9: the CPE completes the session first), so
//! the ACS always gets its response and the events are persisted first.

use crate::cwmp::agent::Agent;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::schedule::scheduled_inform_due;
use crate::cwmp::session::AcsRequestHandler;
use crate::cwmp::transfers::{TransferPolicy, TransferQueue};
use crate::datamodel::engine::{DataModel, SetValue};
use crate::software::manager::SoftwareManager;
use crate::wire::soap::{Rpc, Status, TransferResponse};

/// The CPE methods this agent answers, for GetRPCMethodsResponse.
pub const SUPPORTED_METHODS: &[&str] = &[
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "FactoryReset",
    "ScheduleInform",
    "ChangeDUState",
    "SetVouchers",
    "GetOptions",
    "Download",
    "ScheduleDownload",
    "Upload",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "CancelTransfer",
];

/// Work that waits for the end of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferred {
    Reboot { command_key: String },
    FactoryReset,
}

/// The handler of one session.
pub struct RequestHandler<'a> {
    pub dm: &'a mut DataModel,
    pub agent: &'a mut Agent,
    /// Wall-clock unix seconds.
    pub now: i64,
    pub deferred: &'a mut Vec<Deferred>,
    /// Parameters the ACS changed in this session (not reported back as value changes).
    pub acs_changed: bool,
    /// Deployment units, vouchers and options.
    pub software: &'a mut SoftwareManager,
    /// Accepted Download, ScheduleDownload and Upload requests.
    pub transfers: &'a mut TransferQueue,
    /// What this CPE can transfer (from the configuration).
    pub transfer_policy: TransferPolicy,
}

/// DownloadResponse/UploadResponse: the transfer runs after the session (Status 1).
fn pending_transfer() -> TransferResponse {
    TransferResponse {
        status: Status::Pending,
        ..TransferResponse::default()
    }
}

fn status(applied: bool) -> Status {
    if applied {
        Status::Applied
    } else {
        Status::Pending
    }
}

impl AcsRequestHandler for RequestHandler<'_> {
    fn handle(&mut self, request: Rpc) -> Result<Rpc, Fault> {
        match request {
            Rpc::GetRpcMethods => Ok(Rpc::GetRpcMethodsResponse {
                method_list: SUPPORTED_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            }),
            Rpc::GetParameterValues { parameter_names } => {
                let names: Vec<&str> = parameter_names.iter().map(String::as_str).collect();
                Ok(Rpc::GetParameterValuesResponse {
                    parameter_list: self.dm.get_values(&names)?,
                })
            }
            Rpc::GetParameterNames {
                parameter_path,
                next_level,
            } => Ok(Rpc::GetParameterNamesResponse {
                parameter_list: self.dm.get_names(&parameter_path, next_level)?,
            }),
            Rpc::SetParameterValues {
                parameter_list,
                parameter_key,
            } => {
                let entries: Vec<SetValue<'_>> = parameter_list
                    .iter()
                    .map(|p| SetValue {
                        name: &p.name,
                        value: &p.value,
                        xsd_type: Some(p.xsd_type),
                    })
                    .collect();
                let applied = self.dm.set_values(&entries, &parameter_key)?;
                self.acs_changed = true;
                Ok(Rpc::SetParameterValuesResponse {
                    status: status(applied.code() == 0),
                })
            }
            Rpc::GetParameterAttributes { parameter_names } => {
                let names: Vec<&str> = parameter_names.iter().map(String::as_str).collect();
                Ok(Rpc::GetParameterAttributesResponse {
                    parameter_list: self.dm.get_attributes(&names)?,
                })
            }
            Rpc::SetParameterAttributes { parameter_list } => {
                self.dm.set_attributes(&parameter_list)?;
                Ok(Rpc::SetParameterAttributesResponse)
            }
            Rpc::AddObject {
                object_name,
                parameter_key,
            } => {
                let (instance_number, applied) =
                    self.dm.add_object(&object_name, &parameter_key)?;
                self.acs_changed = true;
                Ok(Rpc::AddObjectResponse {
                    instance_number,
                    status: status(applied.code() == 0),
                })
            }
            Rpc::DeleteObject {
                object_name,
                parameter_key,
            } => {
                let applied = self.dm.delete_object(&object_name, &parameter_key)?;
                self.acs_changed = true;
                Ok(Rpc::DeleteObjectResponse {
                    status: status(applied.code() == 0),
                })
            }
            Rpc::Reboot { command_key } => {
                self.deferred.push(Deferred::Reboot { command_key });
                Ok(Rpc::RebootResponse)
            }
            Rpc::FactoryReset => {
                self.deferred.push(Deferred::FactoryReset);
                Ok(Rpc::FactoryResetResponse)
            }
            Rpc::ScheduleInform {
                delay_seconds,
                command_key,
            } => {
                let due = scheduled_inform_due(self.now, delay_seconds)?;
                self.agent.schedule_inform(due, &command_key)?;
                Ok(Rpc::ScheduleInformResponse)
            }
            Rpc::ChangeDuState(change) => {
                self.software.accept(change)?;
                Ok(Rpc::ChangeDuStateResponse)
            }
            Rpc::SetVouchers { voucher_list } => {
                self.software.set_vouchers(&voucher_list)?;
                Ok(Rpc::SetVouchersResponse)
            }
            Rpc::GetOptions { option_name } => Ok(Rpc::GetOptionsResponse {
                option_list: self.software.options(&option_name, self.now),
            }),
            Rpc::Download(request) => {
                self.transfers
                    .add_download(&request, &self.transfer_policy, self.now)?;
                Ok(Rpc::DownloadResponse(pending_transfer()))
            }
            Rpc::ScheduleDownload(request) => {
                self.transfers
                    .add_schedule_download(&request, &self.transfer_policy, self.now)?;
                Ok(Rpc::ScheduleDownloadResponse)
            }
            Rpc::Upload(request) => {
                self.transfers
                    .add_upload(&request, &self.transfer_policy, self.now)?;
                Ok(Rpc::UploadResponse(pending_transfer()))
            }
            Rpc::GetQueuedTransfers => Ok(Rpc::GetQueuedTransfersResponse {
                transfer_list: self.transfers.queued_transfers(),
            }),
            Rpc::GetAllQueuedTransfers => Ok(Rpc::GetAllQueuedTransfersResponse {
                transfer_list: self.transfers.all_queued_transfers(),
            }),
            Rpc::CancelTransfer { command_key } => {
                self.transfers.cancel(&command_key)?;
                Ok(Rpc::CancelTransferResponse)
            }
            other => Err(Fault::with_text(
                FaultCode::MethodNotSupported,
                format!("{} is not supported", other.method_name()),
            )),
        }
    }
}
