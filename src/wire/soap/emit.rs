//! Writes an [`Envelope`] as CWMP SOAP XML by pushing bytes into a caller's buffer.
//!
//! No XML library is used here: every element is written from static names
//! and every string goes through one escape loop. That loop escapes `&`, `<`,
//! `>` and CR (as `&#13;`, because a parser would turn a raw CR into LF) and
//! refuses the characters XML 1.0 cannot carry at all (C0 controls other than
//! tab and LF, U+FFFE, U+FFFF) with [`SoapErrorKind::UnencodableText`]: there
//! is no escape an ACS could read back, and silently altering a value would
//! report something the device does not hold. Attribute values are never
//! built from message data, so no quote escaping is needed.

use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::params::{
    ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute, XsdType,
};

use super::error::{SoapError, SoapErrorKind};
use super::time::DateTime;
use super::types::{
    AllQueuedTransfer, AutonomousOpResult, AutonomousTransferComplete, ChangeDuState, CwmpVersion,
    Download, DuOperation, DuStateChangeComplete, Envelope, Event, FaultStruct, FileTypeArg,
    Header, Inform, Kicked, OpResult, OptionInfo, QueuedTransfer, Rpc, ScheduleDownload,
    TimeWindow, TransferComplete, TransferResponse, Upload,
};

type Emitted = Result<(), SoapErrorKind>;

/// Appends `envelope` to `out` as a SOAP 1.1 envelope in `version`'s
/// namespace. On error `out` is left as it was.
///
/// The output has no indentation (whitespace inside a value is data) and
/// declares the prefixes `SOAP-ENV`, `SOAP-ENC`, `xsd`, `xsi` and `cwmp` on
/// the Envelope. Every parameter `Value` carries `xsi:type`, every array
/// `SOAP-ENC:arrayType`.
pub fn emit(envelope: &Envelope, version: CwmpVersion, out: &mut Vec<u8>) -> Result<(), SoapError> {
    let start = out.len();
    out.reserve(estimated_len(envelope.body.as_ref()));
    let mut writer = Writer { out };
    match writer.envelope(envelope, version) {
        Ok(()) => Ok(()),
        Err(kind) => {
            out.truncate(start);
            Err(SoapError {
                kind,
                id: envelope.header.id.clone(),
                method: envelope
                    .body
                    .as_ref()
                    .map(|rpc| rpc.method_name().to_owned()),
            })
        }
    }
}

/// A size guess that avoids regrowing the buffer for the large lists.
fn estimated_len(body: Option<&Rpc>) -> usize {
    const FIXED: usize = 1024;
    let values = |list: &[ParameterValue]| -> usize {
        list.iter()
            .map(|pv| pv.name.len() + pv.value.len() + 100)
            .sum()
    };
    match body {
        Some(Rpc::GetParameterValuesResponse { parameter_list })
        | Some(Rpc::SetParameterValues { parameter_list, .. }) => FIXED + values(parameter_list),
        Some(Rpc::Inform(inform)) => FIXED + values(&inform.parameter_list),
        Some(Rpc::GetParameterNamesResponse { parameter_list }) => {
            FIXED
                + parameter_list
                    .iter()
                    .map(|p| p.name.len() + 90)
                    .sum::<usize>()
        }
        Some(Rpc::GetParameterValues { parameter_names })
        | Some(Rpc::GetParameterAttributes { parameter_names }) => {
            FIXED + parameter_names.iter().map(|n| n.len() + 20).sum::<usize>()
        }
        _ => FIXED,
    }
}

/// Bytes of a string that need attention in element text: markup, CR, the
/// C0 controls XML 1.0 forbids, and 0xEF (the lead byte of U+FFFE/U+FFFF).
static TEXT_ATTENTION: [bool; 256] = text_attention_table();

const fn text_attention_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = byte != 0x09 && byte != 0x0A;
        byte += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xEF] = true;
    table
}

/// Appends `text` escaped for element content; `Err` if it holds a
/// character XML 1.0 cannot carry (nothing is appended past the last good byte).
pub(crate) fn push_escaped(out: &mut Vec<u8>, text: &str) -> Result<(), ()> {
    let bytes = text.as_bytes();
    let mut copied = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if !TEXT_ATTENTION[usize::from(byte)] {
            continue;
        }
        let replacement: &[u8] = match byte {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            0xEF => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(0xBF), Some(0xBE | 0xBF)) => return Err(()),
                _ => continue,
            },
            _ => return Err(()),
        };
        out.extend_from_slice(bytes.get(copied..at).unwrap_or_default());
        out.extend_from_slice(replacement);
        copied = at + 1;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    Ok(())
}

fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut used = 0;
    for slot in digits.iter_mut().rev() {
        // value % 10 < 10, so the cast cannot truncate.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
        used += 1;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(digits.len() - used..).unwrap_or_default());
}

/// The `xsi:type` written for a value. `xsd:base64`, which many CPEs write,
/// names no XML Schema type and fails validation; base64 is the SOAP
/// encoding's `SOAP-ENC:base64`, the type the CWMP schema itself uses for
/// vouchers. Parsers (ours included) match the local name, so this reads
/// back as base64 everywhere.
fn wire_type_name(xsd_type: XsdType) -> &'static str {
    match xsd_type {
        XsdType::Base64 => "SOAP-ENC:base64",
        other => other.qualified(),
    }
}

fn fault_kind(code: FaultCode) -> &'static str {
    // TR-069 Table A.5/A.6: the peer's mistakes are Client faults, the rest Server.
    match code {
        FaultCode::AcsInvalidArguments
        | FaultCode::InvalidArguments
        | FaultCode::InvalidParameterName
        | FaultCode::InvalidParameterType
        | FaultCode::InvalidParameterValue
        | FaultCode::NonWritableParameter
        | FaultCode::CancelNotPermitted
        | FaultCode::InvalidUuid
        | FaultCode::UnknownExecutionEnvironment
        | FaultCode::DisabledExecutionEnvironment
        | FaultCode::DeploymentUnitMismatch
        | FaultCode::DuplicateDeploymentUnit
        | FaultCode::UnknownDeploymentUnit
        | FaultCode::InvalidDeploymentUnitState
        | FaultCode::DowngradeNotPermitted
        | FaultCode::VersionNotSpecified
        | FaultCode::VersionExists => "Client",
        _ => "Server",
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn raw(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    fn open(&mut self, name: &str) {
        self.out.push(b'<');
        self.raw(name);
        self.out.push(b'>');
    }

    fn close(&mut self, name: &str) {
        self.out.extend_from_slice(b"</");
        self.raw(name);
        self.out.push(b'>');
    }

    fn escaped(&mut self, element: &'static str, text: &str) -> Emitted {
        push_escaped(self.out, text).map_err(|()| SoapErrorKind::UnencodableText {
            element,
            parameter: None,
        })
    }

    fn string(&mut self, name: &'static str, text: &str) -> Emitted {
        self.open(name);
        self.escaped(name, text)?;
        self.close(name);
        Ok(())
    }

    fn optional_string(&mut self, name: &'static str, text: Option<&str>) -> Emitted {
        match text {
            Some(text) => self.string(name, text),
            None => Ok(()),
        }
    }

    fn unsigned(&mut self, name: &str, value: u64) {
        self.open(name);
        push_u64(self.out, value);
        self.close(name);
    }

    fn signed(&mut self, name: &str, value: i64) {
        self.open(name);
        if value < 0 {
            self.out.push(b'-');
        }
        push_u64(self.out, value.unsigned_abs());
        self.close(name);
    }

    fn boolean(&mut self, name: &str, value: bool) {
        self.open(name);
        self.raw(if value { "true" } else { "false" });
        self.close(name);
    }

    fn time(&mut self, name: &str, value: &DateTime) {
        // A DateTime is validated on construction: it needs no escaping.
        self.open(name);
        self.raw(value.as_str());
        self.close(name);
    }

    fn array_open(&mut self, name: &str, item_type: &str, count: usize) {
        self.out.push(b'<');
        self.raw(name);
        self.raw(" SOAP-ENC:arrayType=\"");
        self.raw(item_type);
        self.out.push(b'[');
        push_u64(self.out, count as u64);
        self.raw("]\">");
    }

    fn string_array(&mut self, name: &'static str, items: &[String]) -> Emitted {
        self.array_open(name, "xsd:string", items.len());
        for item in items {
            self.string("string", item)?;
        }
        self.close(name);
        Ok(())
    }

    fn envelope(&mut self, envelope: &Envelope, version: CwmpVersion) -> Emitted {
        self.raw(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<SOAP-ENV:Envelope",
            " xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"",
            " xmlns:SOAP-ENC=\"http://schemas.xmlsoap.org/soap/encoding/\"",
            " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"",
            " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
            " xmlns:cwmp=\""
        ));
        self.raw(version.namespace());
        self.raw("\">");
        self.header(&envelope.header)?;
        match &envelope.body {
            None => self.raw("<SOAP-ENV:Body/>"),
            Some(rpc) => {
                self.raw("<SOAP-ENV:Body>");
                self.rpc(rpc)?;
                self.raw("</SOAP-ENV:Body>");
            }
        }
        self.raw("</SOAP-ENV:Envelope>");
        Ok(())
    }

    fn header(&mut self, header: &Header) -> Emitted {
        if *header == Header::default() {
            return Ok(());
        }
        self.raw("<SOAP-ENV:Header>");
        if let Some(id) = &header.id {
            self.raw("<cwmp:ID SOAP-ENV:mustUnderstand=\"1\">");
            self.escaped("ID", id)?;
            self.raw("</cwmp:ID>");
        }
        if let Some(hold) = header.hold_requests {
            self.raw("<cwmp:HoldRequests SOAP-ENV:mustUnderstand=\"1\">");
            self.raw(if hold { "true" } else { "false" });
            self.raw("</cwmp:HoldRequests>");
        }
        if let Some(no_more) = header.no_more_requests {
            self.boolean("cwmp:NoMoreRequests", no_more);
        }
        if let Some(timeout) = header.session_timeout {
            self.unsigned("cwmp:SessionTimeout", u64::from(timeout));
        }
        if let Some(versions) = &header.supported_cwmp_versions {
            self.raw("<cwmp:SupportedCWMPVersions>");
            self.escaped("SupportedCWMPVersions", versions)?;
            self.raw("</cwmp:SupportedCWMPVersions>");
        }
        if let Some(use_version) = &header.use_cwmp_version {
            self.raw("<cwmp:UseCWMPVersion SOAP-ENV:mustUnderstand=\"1\">");
            self.escaped("UseCWMPVersion", use_version)?;
            self.raw("</cwmp:UseCWMPVersion>");
        }
        self.raw("</SOAP-ENV:Header>");
        Ok(())
    }

    /// `<cwmp:Name>`; the RPC element is the only qualified element in a body.
    fn rpc_open(&mut self, rpc: &Rpc) {
        self.raw("<cwmp:");
        self.raw(rpc.method_name());
        self.out.push(b'>');
    }

    fn rpc_close(&mut self, rpc: &Rpc) {
        self.raw("</cwmp:");
        self.raw(rpc.method_name());
        self.out.push(b'>');
    }

    fn rpc(&mut self, rpc: &Rpc) -> Emitted {
        if let Rpc::Fault(fault) = rpc {
            return self.fault(fault);
        }
        self.rpc_open(rpc);
        self.rpc_content(rpc)?;
        self.rpc_close(rpc);
        Ok(())
    }

    fn rpc_content(&mut self, rpc: &Rpc) -> Emitted {
        match rpc {
            Rpc::GetRpcMethods
            | Rpc::SetParameterAttributesResponse
            | Rpc::RebootResponse
            | Rpc::ScheduleDownloadResponse
            | Rpc::FactoryReset
            | Rpc::FactoryResetResponse
            | Rpc::GetQueuedTransfers
            | Rpc::GetAllQueuedTransfers
            | Rpc::CancelTransferResponse
            | Rpc::ScheduleInformResponse
            | Rpc::ChangeDuStateResponse
            | Rpc::SetVouchersResponse
            | Rpc::TransferCompleteResponse
            | Rpc::AutonomousTransferCompleteResponse
            | Rpc::DuStateChangeCompleteResponse
            | Rpc::AutonomousDuStateChangeCompleteResponse
            | Rpc::RequestDownloadResponse
            | Rpc::Fault(_) => Ok(()),
            Rpc::GetRpcMethodsResponse { method_list } => {
                self.string_array("MethodList", method_list)
            }
            Rpc::SetParameterValues {
                parameter_list,
                parameter_key,
            } => {
                self.parameter_values(parameter_list)?;
                self.string("ParameterKey", parameter_key)
            }
            Rpc::SetParameterValuesResponse { status } | Rpc::DeleteObjectResponse { status } => {
                self.unsigned("Status", u64::from(status.code()));
                Ok(())
            }
            Rpc::GetParameterValues { parameter_names }
            | Rpc::GetParameterAttributes { parameter_names } => {
                self.string_array("ParameterNames", parameter_names)
            }
            Rpc::GetParameterValuesResponse { parameter_list } => {
                self.parameter_values(parameter_list)
            }
            Rpc::GetParameterNames {
                parameter_path,
                next_level,
            } => {
                self.string("ParameterPath", parameter_path)?;
                self.boolean("NextLevel", *next_level);
                Ok(())
            }
            Rpc::GetParameterNamesResponse { parameter_list } => {
                self.parameter_infos(parameter_list)
            }
            Rpc::SetParameterAttributes { parameter_list } => {
                self.set_parameter_attributes(parameter_list)
            }
            Rpc::GetParameterAttributesResponse { parameter_list } => {
                self.parameter_attributes(parameter_list)
            }
            Rpc::AddObject {
                object_name,
                parameter_key,
            }
            | Rpc::DeleteObject {
                object_name,
                parameter_key,
            } => {
                self.string("ObjectName", object_name)?;
                self.string("ParameterKey", parameter_key)
            }
            Rpc::AddObjectResponse {
                instance_number,
                status,
            } => {
                self.unsigned("InstanceNumber", u64::from(*instance_number));
                self.unsigned("Status", u64::from(status.code()));
                Ok(())
            }
            Rpc::Reboot { command_key } | Rpc::CancelTransfer { command_key } => {
                self.string("CommandKey", command_key)
            }
            Rpc::Download(download) => self.download(download),
            Rpc::DownloadResponse(response) | Rpc::UploadResponse(response) => {
                self.transfer_response(response);
                Ok(())
            }
            Rpc::ScheduleDownload(schedule) => self.schedule_download(schedule),
            Rpc::Upload(upload) => self.upload(upload),
            Rpc::GetQueuedTransfersResponse { transfer_list } => {
                self.queued_transfers(transfer_list)
            }
            Rpc::GetAllQueuedTransfersResponse { transfer_list } => {
                self.all_queued_transfers(transfer_list)
            }
            Rpc::ScheduleInform {
                delay_seconds,
                command_key,
            } => {
                self.unsigned("DelaySeconds", u64::from(*delay_seconds));
                self.string("CommandKey", command_key)
            }
            Rpc::ChangeDuState(change) => self.change_du_state(change),
            Rpc::SetVouchers { voucher_list } => {
                self.array_open("VoucherList", "SOAP-ENC:base64", voucher_list.len());
                for voucher in voucher_list {
                    self.string("base64", voucher)?;
                }
                self.close("VoucherList");
                Ok(())
            }
            Rpc::GetOptions { option_name } => self.string("OptionName", option_name),
            Rpc::GetOptionsResponse { option_list } => self.options(option_list),
            Rpc::Inform(inform) => self.inform(inform),
            Rpc::InformResponse { max_envelopes } => {
                self.unsigned("MaxEnvelopes", u64::from(*max_envelopes));
                Ok(())
            }
            Rpc::TransferComplete(complete) => self.transfer_complete(complete),
            Rpc::AutonomousTransferComplete(complete) => {
                self.autonomous_transfer_complete(complete)
            }
            Rpc::DuStateChangeComplete(complete) => self.du_state_change_complete(complete),
            Rpc::AutonomousDuStateChangeComplete { results } => {
                for result in results {
                    self.autonomous_op_result(result)?;
                }
                Ok(())
            }
            Rpc::RequestDownload {
                file_type,
                file_type_args,
            } => self.request_download(file_type, file_type_args),
            Rpc::Kicked(kicked) => self.kicked(kicked),
            Rpc::KickedResponse { next_url } => self.string("NextURL", next_url),
        }
    }

    fn parameter_values(&mut self, list: &[ParameterValue]) -> Emitted {
        self.array_open("ParameterList", "cwmp:ParameterValueStruct", list.len());
        for pv in list {
            // Encoding is pure; the pause point only lets the reflectors answer between parameters.
            crate::slices::pause_point();
            self.raw("<ParameterValueStruct><Name>");
            self.escaped("Name", &pv.name)?;
            self.raw("</Name><Value xsi:type=\"");
            self.raw(wire_type_name(pv.xsd_type));
            self.raw("\">");
            push_escaped(self.out, &pv.value).map_err(|()| SoapErrorKind::UnencodableText {
                element: "Value",
                parameter: Some(pv.name.clone()),
            })?;
            self.raw("</Value></ParameterValueStruct>");
        }
        self.close("ParameterList");
        Ok(())
    }

    fn parameter_infos(&mut self, list: &[ParameterInfo]) -> Emitted {
        self.array_open("ParameterList", "cwmp:ParameterInfoStruct", list.len());
        for info in list {
            crate::slices::pause_point();
            self.raw("<ParameterInfoStruct><Name>");
            self.escaped("Name", &info.name)?;
            self.raw("</Name>");
            self.boolean("Writable", info.writable);
            self.raw("</ParameterInfoStruct>");
        }
        self.close("ParameterList");
        Ok(())
    }

    fn set_parameter_attributes(&mut self, list: &[SetParameterAttribute]) -> Emitted {
        self.array_open(
            "ParameterList",
            "cwmp:SetParameterAttributesStruct",
            list.len(),
        );
        for attribute in list {
            self.open("SetParameterAttributesStruct");
            self.string("Name", &attribute.name)?;
            self.boolean("NotificationChange", attribute.notification_change);
            self.unsigned("Notification", u64::from(attribute.notification));
            self.boolean("AccessListChange", attribute.access_list_change);
            self.string_array("AccessList", &attribute.access_list)?;
            self.close("SetParameterAttributesStruct");
        }
        self.close("ParameterList");
        Ok(())
    }

    fn parameter_attributes(&mut self, list: &[ParameterAttribute]) -> Emitted {
        self.array_open("ParameterList", "cwmp:ParameterAttributeStruct", list.len());
        for attribute in list {
            self.open("ParameterAttributeStruct");
            self.string("Name", &attribute.name)?;
            self.unsigned("Notification", u64::from(attribute.notification));
            self.string_array("AccessList", &attribute.access_list)?;
            self.close("ParameterAttributeStruct");
        }
        self.close("ParameterList");
        Ok(())
    }

    fn download(&mut self, download: &Download) -> Emitted {
        self.string("CommandKey", &download.command_key)?;
        self.string("FileType", &download.file_type)?;
        self.string("URL", &download.url)?;
        self.string("Username", &download.username)?;
        self.string("Password", &download.password)?;
        self.unsigned("FileSize", u64::from(download.file_size));
        self.string("TargetFileName", &download.target_file_name)?;
        self.unsigned("DelaySeconds", u64::from(download.delay_seconds));
        self.string("SuccessURL", &download.success_url)?;
        self.string("FailureURL", &download.failure_url)
    }

    fn transfer_response(&mut self, response: &TransferResponse) {
        self.unsigned("Status", u64::from(response.status.code()));
        self.time("StartTime", &response.start_time);
        self.time("CompleteTime", &response.complete_time);
    }

    fn schedule_download(&mut self, schedule: &ScheduleDownload) -> Emitted {
        self.string("CommandKey", &schedule.command_key)?;
        self.string("FileType", &schedule.file_type)?;
        self.string("URL", &schedule.url)?;
        self.string("Username", &schedule.username)?;
        self.string("Password", &schedule.password)?;
        self.unsigned("FileSize", u64::from(schedule.file_size));
        self.string("TargetFileName", &schedule.target_file_name)?;
        let windows = &schedule.time_window_list;
        self.array_open("TimeWindowList", "cwmp:TimeWindowStruct", windows.len());
        for window in windows {
            self.time_window(window)?;
        }
        self.close("TimeWindowList");
        Ok(())
    }

    fn time_window(&mut self, window: &TimeWindow) -> Emitted {
        self.open("TimeWindowStruct");
        self.unsigned("WindowStart", u64::from(window.window_start));
        self.unsigned("WindowEnd", u64::from(window.window_end));
        self.string("WindowMode", &window.window_mode)?;
        self.string("UserMessage", &window.user_message)?;
        self.signed("MaxRetries", i64::from(window.max_retries));
        self.close("TimeWindowStruct");
        Ok(())
    }

    fn upload(&mut self, upload: &Upload) -> Emitted {
        self.string("CommandKey", &upload.command_key)?;
        self.string("FileType", &upload.file_type)?;
        self.string("URL", &upload.url)?;
        self.string("Username", &upload.username)?;
        self.string("Password", &upload.password)?;
        self.unsigned("DelaySeconds", u64::from(upload.delay_seconds));
        Ok(())
    }

    fn queued_transfers(&mut self, list: &[QueuedTransfer]) -> Emitted {
        self.array_open("TransferList", "cwmp:QueuedTransferStruct", list.len());
        for transfer in list {
            self.open("QueuedTransferStruct");
            self.string("CommandKey", &transfer.command_key)?;
            self.unsigned("State", u64::from(transfer.state.code()));
            self.close("QueuedTransferStruct");
        }
        self.close("TransferList");
        Ok(())
    }

    fn all_queued_transfers(&mut self, list: &[AllQueuedTransfer]) -> Emitted {
        self.array_open("TransferList", "cwmp:AllQueuedTransferStruct", list.len());
        for transfer in list {
            self.open("AllQueuedTransferStruct");
            self.string("CommandKey", &transfer.command_key)?;
            self.unsigned("State", u64::from(transfer.state.code()));
            self.boolean("IsDownload", transfer.is_download);
            self.string("FileType", &transfer.file_type)?;
            self.unsigned("FileSize", u64::from(transfer.file_size));
            self.string("TargetFileName", &transfer.target_file_name)?;
            self.close("AllQueuedTransferStruct");
        }
        self.close("TransferList");
        Ok(())
    }

    fn change_du_state(&mut self, change: &ChangeDuState) -> Emitted {
        for operation in &change.operations {
            // OperationStruct is abstract: xsi:type names the concrete struct.
            self.raw("<Operations xsi:type=\"cwmp:");
            match operation {
                DuOperation::Install(op) => {
                    self.raw("InstallOpStruct\">");
                    self.string("URL", &op.url)?;
                    self.optional_string("UUID", op.uuid.as_deref())?;
                    self.optional_string("Username", op.username.as_deref())?;
                    self.optional_string("Password", op.password.as_deref())?;
                    self.optional_string("ExecutionEnvRef", op.execution_env_ref.as_deref())?;
                }
                DuOperation::Update(op) => {
                    self.raw("UpdateOpStruct\">");
                    self.optional_string("UUID", op.uuid.as_deref())?;
                    self.optional_string("Version", op.version.as_deref())?;
                    self.optional_string("URL", op.url.as_deref())?;
                    self.optional_string("Username", op.username.as_deref())?;
                    self.optional_string("Password", op.password.as_deref())?;
                }
                DuOperation::Uninstall(op) => {
                    self.raw("UninstallOpStruct\">");
                    self.string("UUID", &op.uuid)?;
                    self.optional_string("Version", op.version.as_deref())?;
                    self.optional_string("ExecutionEnvRef", op.execution_env_ref.as_deref())?;
                }
            }
            self.close("Operations");
        }
        self.string("CommandKey", &change.command_key)
    }

    fn options(&mut self, list: &[OptionInfo]) -> Emitted {
        self.array_open("OptionList", "cwmp:OptionStruct", list.len());
        for option in list {
            self.open("OptionStruct");
            self.string("OptionName", &option.option_name)?;
            self.unsigned("VoucherSN", u64::from(option.voucher_sn));
            self.unsigned("State", u64::from(option.state));
            self.signed("Mode", i64::from(option.mode));
            self.time("StartDate", &option.start_date);
            if let Some(expiration) = &option.expiration_date {
                self.time("ExpirationDate", expiration);
            }
            self.unsigned("IsTransferable", u64::from(option.is_transferable));
            self.close("OptionStruct");
        }
        self.close("OptionList");
        Ok(())
    }

    fn inform(&mut self, inform: &Inform) -> Emitted {
        let device = &inform.device_id;
        self.open("DeviceId");
        self.string("Manufacturer", &device.manufacturer)?;
        self.string("OUI", &device.oui)?;
        self.string("ProductClass", &device.product_class)?;
        self.string("SerialNumber", &device.serial_number)?;
        self.close("DeviceId");
        self.array_open("Event", "cwmp:EventStruct", inform.events.len());
        for Event {
            event_code,
            command_key,
        } in &inform.events
        {
            self.open("EventStruct");
            self.string("EventCode", event_code)?;
            self.string("CommandKey", command_key)?;
            self.close("EventStruct");
        }
        self.close("Event");
        self.unsigned("MaxEnvelopes", u64::from(inform.max_envelopes));
        self.time("CurrentTime", &inform.current_time);
        self.unsigned("RetryCount", u64::from(inform.retry_count));
        self.parameter_values(&inform.parameter_list)
    }

    fn fault_struct(&mut self, name: &str, fault: &FaultStruct) -> Emitted {
        self.open(name);
        self.unsigned(
            "FaultCode",
            fault.code.map_or(0, |code| u64::from(code.code())),
        );
        self.string("FaultString", &fault.text)?;
        self.close(name);
        Ok(())
    }

    fn transfer_complete(&mut self, complete: &TransferComplete) -> Emitted {
        self.string("CommandKey", &complete.command_key)?;
        self.fault_struct("FaultStruct", &complete.fault)?;
        self.time("StartTime", &complete.start_time);
        self.time("CompleteTime", &complete.complete_time);
        Ok(())
    }

    fn autonomous_transfer_complete(&mut self, complete: &AutonomousTransferComplete) -> Emitted {
        self.string("AnnounceURL", &complete.announce_url)?;
        self.string("TransferURL", &complete.transfer_url)?;
        self.boolean("IsDownload", complete.is_download);
        self.string("FileType", &complete.file_type)?;
        self.unsigned("FileSize", u64::from(complete.file_size));
        self.string("TargetFileName", &complete.target_file_name)?;
        self.fault_struct("FaultStruct", &complete.fault)?;
        self.time("StartTime", &complete.start_time);
        self.time("CompleteTime", &complete.complete_time);
        Ok(())
    }

    fn op_result_fields(&mut self, result: &OpResult) -> Emitted {
        self.string("UUID", &result.uuid)?;
        self.string("DeploymentUnitRef", &result.deployment_unit_ref)?;
        self.string("Version", &result.version)?;
        self.string("CurrentState", result.current_state.as_str())?;
        self.boolean("Resolved", result.resolved);
        self.string("ExecutionUnitRefList", &result.execution_unit_ref_list)?;
        self.time("StartTime", &result.start_time);
        self.time("CompleteTime", &result.complete_time);
        self.fault_struct("Fault", &result.fault)
    }

    fn du_state_change_complete(&mut self, complete: &DuStateChangeComplete) -> Emitted {
        for result in &complete.results {
            self.open("Results");
            self.op_result_fields(result)?;
            self.close("Results");
        }
        self.string("CommandKey", &complete.command_key)
    }

    fn autonomous_op_result(&mut self, result: &AutonomousOpResult) -> Emitted {
        self.open("Results");
        self.op_result_fields(&result.result)?;
        self.string("OperationPerformed", &result.operation_performed)?;
        self.close("Results");
        Ok(())
    }

    fn request_download(&mut self, file_type: &str, args: &[FileTypeArg]) -> Emitted {
        self.string("FileType", file_type)?;
        self.array_open("FileTypeArg", "cwmp:ArgStruct", args.len());
        for arg in args {
            self.open("ArgStruct");
            self.string("Name", &arg.name)?;
            self.string("Value", &arg.value)?;
            self.close("ArgStruct");
        }
        self.close("FileTypeArg");
        Ok(())
    }

    fn kicked(&mut self, kicked: &Kicked) -> Emitted {
        self.string("Command", &kicked.command)?;
        self.string("Referer", &kicked.referer)?;
        self.string("Arg", &kicked.arg)?;
        self.string("Next", &kicked.next)
    }

    /// A SOAP 1.1 Fault whose detail is the `cwmp:Fault` (TR-069 A.5).
    fn fault(&mut self, fault: &Fault) -> Emitted {
        self.raw("<SOAP-ENV:Fault><faultcode>");
        self.raw(fault_kind(fault.code));
        self.raw("</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault>");
        self.unsigned("FaultCode", u64::from(fault.code.code()));
        self.string("FaultString", &fault.text)?;
        for parameter in &fault.parameter_faults {
            self.open("SetParameterValuesFault");
            self.string("ParameterName", &parameter.name)?;
            self.unsigned("FaultCode", u64::from(parameter.code.code()));
            self.string("FaultString", &parameter.text)?;
            self.close("SetParameterValuesFault");
        }
        self.raw("</cwmp:Fault></detail></SOAP-ENV:Fault>");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> Result<String, ()> {
        let mut out = Vec::new();
        push_escaped(&mut out, text)?;
        String::from_utf8(out).map_err(|_| ())
    }

    #[test]
    fn escapes_markup_and_keeps_quotes() {
        assert_eq!(escaped("a&b<c>\"d'").as_deref(), Ok("a&amp;b&lt;c&gt;\"d'"));
        assert_eq!(escaped("plain").as_deref(), Ok("plain"));
        assert_eq!(escaped("").as_deref(), Ok(""));
        assert_eq!(escaped("tab\tlf\ncr\r").as_deref(), Ok("tab\tlf\ncr&#13;"));
        assert_eq!(escaped("ï¿½ é 中").as_deref(), Ok("ï¿½ é 中"));
        assert_eq!(
            escaped("\u{FFFD}\u{EFFF}").as_deref(),
            Ok("\u{FFFD}\u{EFFF}")
        );
    }

    #[test]
    fn refuses_what_xml_cannot_carry() {
        for text in [
            "nul\0",
            "bell\u{7}",
            "esc\u{1b}[0m",
            "\u{FFFE}",
            "x\u{FFFF}",
        ] {
            assert_eq!(escaped(text), Err(()), "{text:?}");
        }
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }

    #[test]
    fn unencodable_value_names_parameter_and_leaves_buffer() {
        let envelope = Envelope::new(
            "7",
            Rpc::GetParameterValuesResponse {
                parameter_list: vec![ParameterValue::new(
                    "Device.DeviceInfo.Description",
                    "bad\u{1}",
                    XsdType::String,
                )],
            },
        );
        let mut out = b"keep".to_vec();
        let error = emit(&envelope, CwmpVersion::V1_0, &mut out).unwrap_err();
        assert_eq!(out, b"keep");
        assert_eq!(error.fault_code(), FaultCode::InvalidParameterValue);
        assert_eq!(
            error.kind,
            SoapErrorKind::UnencodableText {
                element: "Value",
                parameter: Some("Device.DeviceInfo.Description".to_owned()),
            }
        );
        assert_eq!(error.id.as_deref(), Some("7"));
    }
}
