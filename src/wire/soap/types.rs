//! The typed CWMP messages of TR-069 Annex A (Amendment 6): the envelope, its header and every RPC in both directions.

use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::params::{
    ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute,
};

use super::time::DateTime;

/// The CWMP version to speak, and the namespace it implies.
///
/// Versions 1.2, 1.3 and 1.4 share the namespace `urn:dslforum-org:cwmp-1-2`
/// (1.3 only adds the `SessionTimeout` header, 1.4 the version negotiation
/// headers); there is no `cwmp-1-3` or `cwmp-1-4` namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CwmpVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
    V1_4,
}

impl CwmpVersion {
    /// The namespace URI this version's messages are written in.
    pub const fn namespace(self) -> &'static str {
        match self {
            CwmpVersion::V1_0 => "urn:dslforum-org:cwmp-1-0",
            CwmpVersion::V1_1 => "urn:dslforum-org:cwmp-1-1",
            CwmpVersion::V1_2 | CwmpVersion::V1_3 | CwmpVersion::V1_4 => {
                "urn:dslforum-org:cwmp-1-2"
            }
        }
    }

    /// The version a namespace URI names. `cwmp-1-2` reports 1.2 (the
    /// `UseCWMPVersion` header says whether 1.3 or 1.4 is meant); the
    /// nonexistent `cwmp-1-3`/`cwmp-1-4` URNs that some ACSs write are
    /// accepted as 1.3/1.4.
    pub fn from_namespace(uri: &str) -> Option<CwmpVersion> {
        match uri.strip_prefix("urn:dslforum-org:cwmp-1-")? {
            "0" => Some(CwmpVersion::V1_0),
            "1" => Some(CwmpVersion::V1_1),
            "2" => Some(CwmpVersion::V1_2),
            "3" => Some(CwmpVersion::V1_3),
            "4" => Some(CwmpVersion::V1_4),
            _ => None,
        }
    }

    /// The version as written in `SupportedCWMPVersions`/`UseCWMPVersion` (`1.4`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CwmpVersion::V1_0 => "1.0",
            CwmpVersion::V1_1 => "1.1",
            CwmpVersion::V1_2 => "1.2",
            CwmpVersion::V1_3 => "1.3",
            CwmpVersion::V1_4 => "1.4",
        }
    }
}

/// A whole SOAP envelope: the CWMP header entries and at most one RPC.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Envelope {
    pub header: Header,
    /// `None` is an empty `<Body/>` (the ACS ending its requests, or holding).
    pub body: Option<Rpc>,
    /// The CWMP version implied by the cwmp namespace the parsed envelope used
    /// (`None` if it had no cwmp element). `emit` ignores it: it writes the
    /// version it is given.
    pub cwmp_version: Option<CwmpVersion>,
}

impl Envelope {
    /// An envelope carrying `rpc` under the `cwmp:ID` `id`.
    pub fn new(id: impl Into<String>, rpc: Rpc) -> Envelope {
        Envelope {
            header: Header {
                id: Some(id.into()),
                ..Header::default()
            },
            body: Some(rpc),
            cwmp_version: None,
        }
    }
}

/// The CWMP SOAP header entries (TR-069 A.4).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// `cwmp:ID` (mustUnderstand="1"): pairs a response with its request.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (mustUnderstand="1"), ACS to CPE only.
    pub hold_requests: Option<bool>,
    /// `cwmp:NoMoreRequests`: deprecated since CWMP 1.1 and absent from every
    /// published schema, so a message carrying it fails strict validation.
    /// Parsed for old peers; leave it `None` when sending.
    pub no_more_requests: Option<bool>,
    /// `cwmp:SessionTimeout` in seconds (CWMP 1.3+, CPE to ACS in Inform).
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions`, e.g. `1.0,1.1,1.2,1.3,1.4` (CWMP 1.4+).
    pub supported_cwmp_versions: Option<String>,
    /// `cwmp:UseCWMPVersion` (CWMP 1.4+, ACS to CPE in InformResponse).
    pub use_cwmp_version: Option<String>,
}

/// The `Status` of several responses: 0 when the change is applied, 1 when
/// it is committed but takes effect later (after a reboot, or a transfer
/// still to run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Applied,
    Pending,
}

impl Status {
    pub const fn code(self) -> u32 {
        match self {
            Status::Applied => 0,
            Status::Pending => 1,
        }
    }

    pub fn from_code(code: u32) -> Option<Status> {
        match code {
            0 => Some(Status::Applied),
            1 => Some(Status::Pending),
            _ => None,
        }
    }
}

/// `Download` (A.3.2.8), ACS to CPE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Download {
    pub command_key: String,
    /// `1 Firmware Upgrade Image`, `3 Vendor Configuration File`, `X OUI name`, …
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub file_size: u32,
    pub target_file_name: String,
    pub delay_seconds: u32,
    pub success_url: String,
    pub failure_url: String,
}

/// `DownloadResponse` and `UploadResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TransferResponse {
    pub status: Status,
    /// The unknown time when `status` is `Pending`.
    pub start_time: DateTime,
    pub complete_time: DateTime,
}

/// `Upload` (A.4.1.5), ACS to CPE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Upload {
    pub command_key: String,
    /// `1 Vendor Configuration File`, `2 Vendor Log File`, `3 Vendor Configuration File 1`, …
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub delay_seconds: u32,
}

/// `ScheduleDownload` (A.4.1.8), ACS to CPE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScheduleDownload {
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub file_size: u32,
    pub target_file_name: String,
    /// One or two windows.
    pub time_window_list: Vec<TimeWindow>,
}

/// `TimeWindowStruct` of ScheduleDownload.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TimeWindow {
    /// Seconds from the start of the request.
    pub window_start: u32,
    pub window_end: u32,
    /// `1 At Any Time`, `2 Immediately`, `3 When Idle`, `4 Confirmation Needed`, `X OUI name`.
    pub window_mode: String,
    pub user_message: String,
    /// -1: the CPE decides.
    pub max_retries: i32,
}

/// `State` of a queued transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    NotYetStarted,
    InProgress,
    Completed,
}

impl TransferState {
    pub const fn code(self) -> u32 {
        match self {
            TransferState::NotYetStarted => 1,
            TransferState::InProgress => 2,
            TransferState::Completed => 3,
        }
    }

    pub fn from_code(code: u32) -> Option<TransferState> {
        match code {
            1 => Some(TransferState::NotYetStarted),
            2 => Some(TransferState::InProgress),
            3 => Some(TransferState::Completed),
            _ => None,
        }
    }
}

/// `QueuedTransferStruct` of GetQueuedTransfersResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedTransfer {
    pub command_key: String,
    pub state: TransferState,
}

/// `AllQueuedTransferStruct` of GetAllQueuedTransfersResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllQueuedTransfer {
    pub command_key: String,
    pub state: TransferState,
    pub is_download: bool,
    pub file_type: String,
    pub file_size: u32,
    pub target_file_name: String,
}

/// One operation of ChangeDUState; written with `xsi:type` naming the struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DuOperation {
    Install(InstallOp),
    Update(UpdateOp),
    Uninstall(UninstallOp),
}

/// `InstallOpStruct`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InstallOp {
    pub url: String,
    pub uuid: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub execution_env_ref: Option<String>,
}

/// `UpdateOpStruct`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpdateOp {
    pub uuid: Option<String>,
    pub version: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `UninstallOpStruct`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UninstallOp {
    pub uuid: String,
    pub version: Option<String>,
    pub execution_env_ref: Option<String>,
}

/// `ChangeDUState` (A.4.1.10), ACS to CPE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChangeDuState {
    pub operations: Vec<DuOperation>,
    pub command_key: String,
}

/// `OptionStruct` of GetOptionsResponse.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OptionInfo {
    pub option_name: String,
    pub voucher_sn: u32,
    /// Bit 0 enabled, bit 1 setup complete (0..=3).
    pub state: u32,
    /// 0 disabled, 1 enabled with expiration, 2 enabled without.
    pub mode: i32,
    pub start_date: DateTime,
    pub expiration_date: Option<DateTime>,
    pub is_transferable: bool,
}

/// `DeviceIdStruct` of Inform.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeviceId {
    pub manufacturer: String,
    /// Six upper-case hex digits.
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
}

/// `EventStruct` of Inform.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Event {
    /// `0 BOOTSTRAP`, `M Download`, …
    pub event_code: String,
    pub command_key: String,
}

/// `Inform` (A.3.3.1), CPE to ACS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Inform {
    pub device_id: DeviceId,
    pub events: Vec<Event>,
    pub max_envelopes: u32,
    pub current_time: DateTime,
    pub retry_count: u32,
    pub parameter_list: Vec<ParameterValue>,
}

/// `FaultStruct` of the transfer-complete messages and `Fault` of a
/// deployment unit result: `code: None` is FaultCode 0, success.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FaultStruct {
    pub code: Option<FaultCode>,
    pub text: String,
}

/// `TransferComplete` (A.3.3.2), CPE to ACS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TransferComplete {
    pub command_key: String,
    pub fault: FaultStruct,
    pub start_time: DateTime,
    pub complete_time: DateTime,
}

/// `AutonomousTransferComplete` (A.3.3.3), CPE to ACS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutonomousTransferComplete {
    pub announce_url: String,
    pub transfer_url: String,
    pub is_download: bool,
    pub file_type: String,
    pub file_size: u32,
    pub target_file_name: String,
    pub fault: FaultStruct,
    pub start_time: DateTime,
    pub complete_time: DateTime,
}

/// `CurrentState` of a deployment unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DuState {
    #[default]
    Installed,
    Uninstalled,
    Failed,
}

impl DuState {
    pub const fn as_str(self) -> &'static str {
        match self {
            DuState::Installed => "Installed",
            DuState::Uninstalled => "Uninstalled",
            DuState::Failed => "Failed",
        }
    }

    pub fn from_name(name: &str) -> Option<DuState> {
        match name {
            "Installed" => Some(DuState::Installed),
            "Uninstalled" => Some(DuState::Uninstalled),
            "Failed" => Some(DuState::Failed),
            _ => None,
        }
    }
}

/// `OpResultStruct` of DUStateChangeComplete.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OpResult {
    pub uuid: String,
    pub deployment_unit_ref: String,
    pub version: String,
    pub current_state: DuState,
    pub resolved: bool,
    /// Comma-separated references to the execution units.
    pub execution_unit_ref_list: String,
    pub start_time: DateTime,
    pub complete_time: DateTime,
    pub fault: FaultStruct,
}

/// `AutonOpResultStruct` of AutonomousDUStateChangeComplete.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutonomousOpResult {
    pub result: OpResult,
    /// `Install`, `Update`, `Uninstall` or a vendor operation.
    pub operation_performed: String,
}

/// `DUStateChangeComplete` (A.4.2.1), CPE to ACS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DuStateChangeComplete {
    pub results: Vec<OpResult>,
    pub command_key: String,
}

/// `ArgStruct` of RequestDownload.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileTypeArg {
    pub name: String,
    pub value: String,
}

/// `Kicked` (A.4.2.2), CPE to ACS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Kicked {
    pub command: String,
    pub referer: String,
    pub arg: String,
    pub next: String,
}

/// One CWMP message: the content of the SOAP Body. Requests and responses
/// of both directions, and the SOAP Fault carrying a `cwmp:Fault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rpc {
    GetRpcMethods,
    GetRpcMethodsResponse {
        method_list: Vec<String>,
    },
    SetParameterValues {
        parameter_list: Vec<ParameterValue>,
        parameter_key: String,
    },
    SetParameterValuesResponse {
        status: Status,
    },
    GetParameterValues {
        parameter_names: Vec<String>,
    },
    GetParameterValuesResponse {
        parameter_list: Vec<ParameterValue>,
    },
    GetParameterNames {
        parameter_path: String,
        next_level: bool,
    },
    GetParameterNamesResponse {
        parameter_list: Vec<ParameterInfo>,
    },
    SetParameterAttributes {
        parameter_list: Vec<SetParameterAttribute>,
    },
    SetParameterAttributesResponse,
    GetParameterAttributes {
        parameter_names: Vec<String>,
    },
    GetParameterAttributesResponse {
        parameter_list: Vec<ParameterAttribute>,
    },
    AddObject {
        object_name: String,
        parameter_key: String,
    },
    AddObjectResponse {
        instance_number: u32,
        status: Status,
    },
    DeleteObject {
        object_name: String,
        parameter_key: String,
    },
    DeleteObjectResponse {
        status: Status,
    },
    Reboot {
        command_key: String,
    },
    RebootResponse,
    Download(Download),
    DownloadResponse(TransferResponse),
    ScheduleDownload(ScheduleDownload),
    ScheduleDownloadResponse,
    Upload(Upload),
    UploadResponse(TransferResponse),
    FactoryReset,
    FactoryResetResponse,
    GetQueuedTransfers,
    GetQueuedTransfersResponse {
        transfer_list: Vec<QueuedTransfer>,
    },
    GetAllQueuedTransfers,
    GetAllQueuedTransfersResponse {
        transfer_list: Vec<AllQueuedTransfer>,
    },
    CancelTransfer {
        command_key: String,
    },
    CancelTransferResponse,
    ScheduleInform {
        delay_seconds: u32,
        command_key: String,
    },
    ScheduleInformResponse,
    ChangeDuState(ChangeDuState),
    ChangeDuStateResponse,
    /// Each voucher is base64 text, kept as received.
    SetVouchers {
        voucher_list: Vec<String>,
    },
    SetVouchersResponse,
    GetOptions {
        option_name: String,
    },
    GetOptionsResponse {
        option_list: Vec<OptionInfo>,
    },
    Inform(Inform),
    InformResponse {
        max_envelopes: u32,
    },
    TransferComplete(TransferComplete),
    TransferCompleteResponse,
    AutonomousTransferComplete(AutonomousTransferComplete),
    AutonomousTransferCompleteResponse,
    DuStateChangeComplete(DuStateChangeComplete),
    DuStateChangeCompleteResponse,
    AutonomousDuStateChangeComplete {
        results: Vec<AutonomousOpResult>,
    },
    AutonomousDuStateChangeCompleteResponse,
    RequestDownload {
        file_type: String,
        file_type_args: Vec<FileTypeArg>,
    },
    RequestDownloadResponse,
    Kicked(Kicked),
    KickedResponse {
        next_url: String,
    },
    Fault(Fault),
}

impl Rpc {
    /// The element name of the message (`GetParameterValues`, `InformResponse`,
    /// `Fault` for a SOAP fault).
    pub const fn method_name(&self) -> &'static str {
        match self {
            Rpc::GetRpcMethods => "GetRPCMethods",
            Rpc::GetRpcMethodsResponse { .. } => "GetRPCMethodsResponse",
            Rpc::SetParameterValues { .. } => "SetParameterValues",
            Rpc::SetParameterValuesResponse { .. } => "SetParameterValuesResponse",
            Rpc::GetParameterValues { .. } => "GetParameterValues",
            Rpc::GetParameterValuesResponse { .. } => "GetParameterValuesResponse",
            Rpc::GetParameterNames { .. } => "GetParameterNames",
            Rpc::GetParameterNamesResponse { .. } => "GetParameterNamesResponse",
            Rpc::SetParameterAttributes { .. } => "SetParameterAttributes",
            Rpc::SetParameterAttributesResponse => "SetParameterAttributesResponse",
            Rpc::GetParameterAttributes { .. } => "GetParameterAttributes",
            Rpc::GetParameterAttributesResponse { .. } => "GetParameterAttributesResponse",
            Rpc::AddObject { .. } => "AddObject",
            Rpc::AddObjectResponse { .. } => "AddObjectResponse",
            Rpc::DeleteObject { .. } => "DeleteObject",
            Rpc::DeleteObjectResponse { .. } => "DeleteObjectResponse",
            Rpc::Reboot { .. } => "Reboot",
            Rpc::RebootResponse => "RebootResponse",
            Rpc::Download(_) => "Download",
            Rpc::DownloadResponse(_) => "DownloadResponse",
            Rpc::ScheduleDownload(_) => "ScheduleDownload",
            Rpc::ScheduleDownloadResponse => "ScheduleDownloadResponse",
            Rpc::Upload(_) => "Upload",
            Rpc::UploadResponse(_) => "UploadResponse",
            Rpc::FactoryReset => "FactoryReset",
            Rpc::FactoryResetResponse => "FactoryResetResponse",
            Rpc::GetQueuedTransfers => "GetQueuedTransfers",
            Rpc::GetQueuedTransfersResponse { .. } => "GetQueuedTransfersResponse",
            Rpc::GetAllQueuedTransfers => "GetAllQueuedTransfers",
            Rpc::GetAllQueuedTransfersResponse { .. } => "GetAllQueuedTransfersResponse",
            Rpc::CancelTransfer { .. } => "CancelTransfer",
            Rpc::CancelTransferResponse => "CancelTransferResponse",
            Rpc::ScheduleInform { .. } => "ScheduleInform",
            Rpc::ScheduleInformResponse => "ScheduleInformResponse",
            Rpc::ChangeDuState(_) => "ChangeDUState",
            Rpc::ChangeDuStateResponse => "ChangeDUStateResponse",
            Rpc::SetVouchers { .. } => "SetVouchers",
            Rpc::SetVouchersResponse => "SetVouchersResponse",
            Rpc::GetOptions { .. } => "GetOptions",
            Rpc::GetOptionsResponse { .. } => "GetOptionsResponse",
            Rpc::Inform(_) => "Inform",
            Rpc::InformResponse { .. } => "InformResponse",
            Rpc::TransferComplete(_) => "TransferComplete",
            Rpc::TransferCompleteResponse => "TransferCompleteResponse",
            Rpc::AutonomousTransferComplete(_) => "AutonomousTransferComplete",
            Rpc::AutonomousTransferCompleteResponse => "AutonomousTransferCompleteResponse",
            Rpc::DuStateChangeComplete(_) => "DUStateChangeComplete",
            Rpc::DuStateChangeCompleteResponse => "DUStateChangeCompleteResponse",
            Rpc::AutonomousDuStateChangeComplete { .. } => "AutonomousDUStateChangeComplete",
            Rpc::AutonomousDuStateChangeCompleteResponse => {
                "AutonomousDUStateChangeCompleteResponse"
            }
            Rpc::RequestDownload { .. } => "RequestDownload",
            Rpc::RequestDownloadResponse => "RequestDownloadResponse",
            Rpc::Kicked(_) => "Kicked",
            Rpc::KickedResponse { .. } => "KickedResponse",
            Rpc::Fault(_) => "Fault",
        }
    }

    /// The oldest CWMP version whose schema defines this message; emitting
    /// it in an older namespace produces an element that peer cannot know.
    pub const fn min_version(&self) -> CwmpVersion {
        match self {
            Rpc::GetAllQueuedTransfers
            | Rpc::GetAllQueuedTransfersResponse { .. }
            | Rpc::AutonomousTransferComplete(_)
            | Rpc::AutonomousTransferCompleteResponse => CwmpVersion::V1_1,
            Rpc::ScheduleDownload(_)
            | Rpc::ScheduleDownloadResponse
            | Rpc::CancelTransfer { .. }
            | Rpc::CancelTransferResponse
            | Rpc::ChangeDuState(_)
            | Rpc::ChangeDuStateResponse
            | Rpc::DuStateChangeComplete(_)
            | Rpc::DuStateChangeCompleteResponse
            | Rpc::AutonomousDuStateChangeComplete { .. }
            | Rpc::AutonomousDuStateChangeCompleteResponse => CwmpVersion::V1_2,
            _ => CwmpVersion::V1_0,
        }
    }
}

impl CwmpVersion {
    /// The first version whose schema defines the method named `name` (as
    /// GetRPCMethodsResponse lists it); the names [`Rpc::min_version`] dates.
    pub fn of_method(name: &str) -> CwmpVersion {
        match name {
            "GetAllQueuedTransfers" | "AutonomousTransferComplete" => CwmpVersion::V1_1,
            "ScheduleDownload"
            | "CancelTransfer"
            | "ChangeDUState"
            | "DUStateChangeComplete"
            | "AutonomousDUStateChangeComplete" => CwmpVersion::V1_2,
            _ => CwmpVersion::V1_0,
        }
    }
}
