//! Reads a CWMP SOAP envelope into an [`Envelope`], checking it against [`Limits`] as it goes.
//!
//! Leniency, because ACSs differ: any prefixes; comments and whitespace
//! anywhere; elements inside an RPC are matched by local name whatever their
//! namespace (some ACSs qualify them, the schema does not); array items are
//! taken from every child element whatever its name, and `arrayType` is
//! only a capacity hint; values with or without `xsi:type` (untyped reads
//! as `xsd:string`: whoever applies a value must check it against the
//! parameter's own type in any case); booleans as `true`/`false`/`1`/`0`; numbers, booleans,
//! names and times are trimmed, other strings kept verbatim. Elements that
//! only refine a request (credentials, sizes, delays, keys, optional URLs)
//! default to empty or 0 when absent; the ones that give a request its
//! meaning (names, lists, the transfer URL and file type, …) are required.

use std::borrow::Cow;

use roxmltree::{Document, NodeId, ParsingOptions};

use crate::cwmp::fault::{Fault, FaultCode, ParameterFault};
use crate::cwmp::params::{
    ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute, XsdType,
};

use super::error::{SoapError, SoapErrorKind};
use super::limits::Limits;
use super::time::DateTime;
use super::types::{
    AllQueuedTransfer, AutonomousOpResult, AutonomousTransferComplete, ChangeDuState, CwmpVersion,
    DeviceId, Download, DuOperation, DuState, DuStateChangeComplete, Envelope, Event, FaultStruct,
    FileTypeArg, Header, Inform, InstallOp, Kicked, OpResult, OptionInfo, QueuedTransfer, Rpc,
    ScheduleDownload, Status, TimeWindow, TransferComplete, TransferResponse, TransferState,
    UninstallOp, UpdateOp, Upload,
};

const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

type Node<'a, 'input> = roxmltree::Node<'a, 'input>;
type Parsed<T> = Result<T, SoapErrorKind>;

/// Parses one SOAP envelope. Errors found after the header carry its
/// `cwmp:ID` and, once the Body is reached, the RPC's element name, so that
/// the session can answer with [`SoapError::fault_code`].
pub fn parse(xml: &[u8], limits: &Limits) -> Result<Envelope, SoapError> {
    if xml.len() > limits.max_envelope_bytes {
        return Err(SoapErrorKind::TooLarge {
            size: xml.len(),
            limit: limits.max_envelope_bytes,
        }
        .into());
    }
    let text = std::str::from_utf8(xml).map_err(|_| SoapErrorKind::NotUtf8)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|error| match error {
        roxmltree::Error::DtdDetected => SoapErrorKind::Doctype,
        roxmltree::Error::NodesLimitReached => SoapErrorKind::TooManyNodes {
            limit: limits.max_nodes,
        },
        other => SoapErrorKind::Malformed(other),
    })?;
    check_depth(&document, limits.max_depth)?;

    let root = document.root_element();
    if !is_soap(root, "Envelope") {
        return Err(SoapErrorKind::NotSoapEnvelope.into());
    }
    let mut header_node = None;
    let mut body_node = None;
    for child in elements(root) {
        if is_soap(child, "Header") && header_node.is_none() {
            header_node = Some(child);
        } else if is_soap(child, "Body") {
            body_node = Some(child);
            break;
        }
    }
    let body_node = body_node.ok_or(SoapErrorKind::NotSoapEnvelope)?;
    let (header, header_version) = match header_node {
        Some(node) => header(node, limits)?,
        None => (Header::default(), None),
    };

    let mut rpcs = elements(body_node);
    let Some(rpc_node) = rpcs.next() else {
        return Ok(Envelope {
            header,
            body: None,
            cwmp_version: header_version,
        });
    };
    let method = rpc_node.tag_name().name();
    let in_context = |kind: SoapErrorKind| SoapError {
        kind,
        id: header.id.clone(),
        method: Some(method.to_owned()),
    };
    if rpcs.next().is_some() {
        return Err(in_context(SoapErrorKind::MultipleRpcs));
    }
    let (rpc, body_version) = body(rpc_node, limits).map_err(in_context)?;
    Ok(Envelope {
        cwmp_version: body_version.or(header_version),
        header,
        body: Some(rpc),
    })
}

/// Walks the elements once in document order, keeping the chain of open
/// ancestors; roxmltree itself has no nesting limit.
fn check_depth(document: &Document<'_>, max_depth: usize) -> Parsed<()> {
    let mut open: Vec<NodeId> = Vec::with_capacity(max_depth.min(64) + 1);
    for node in document
        .root()
        .descendants()
        .filter(|node| node.is_element())
    {
        let parent = node.parent().map(|parent| parent.id());
        while open.last().is_some_and(|&last| Some(last) != parent) {
            open.pop();
        }
        open.push(node.id());
        if open.len() > max_depth {
            return Err(SoapErrorKind::TooDeep { limit: max_depth });
        }
    }
    Ok(())
}

fn is_soap(node: Node<'_, '_>, name: &str) -> bool {
    let tag = node.tag_name();
    tag.name() == name && tag.namespace() == Some(SOAP_ENV_NS)
}

fn elements<'a, 'input>(parent: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    parent.children().filter(|node| node.is_element())
}

fn header(node: Node<'_, '_>, limits: &Limits) -> Parsed<(Header, Option<CwmpVersion>)> {
    let mut header = Header::default();
    let mut version = None;
    for entry in elements(node) {
        let name = entry.tag_name().name();
        let entry_version = entry
            .tag_name()
            .namespace()
            .and_then(CwmpVersion::from_namespace);
        let Some(entry_version) = entry_version else {
            if must_understand(entry) {
                return Err(SoapErrorKind::MustUnderstand {
                    header: name.to_owned(),
                });
            }
            continue;
        };
        version.get_or_insert(entry_version);
        match name {
            "ID" => header.id = Some(string(entry, "ID", limits.text_len)?),
            "HoldRequests" => header.hold_requests = Some(boolean(entry, "HoldRequests")?),
            "NoMoreRequests" => header.no_more_requests = Some(boolean(entry, "NoMoreRequests")?),
            "SessionTimeout" => header.session_timeout = Some(unsigned(entry, "SessionTimeout")?),
            "SupportedCWMPVersions" => {
                header.supported_cwmp_versions =
                    Some(trimmed(entry, "SupportedCWMPVersions", limits.text_len)?)
            }
            "UseCWMPVersion" => {
                header.use_cwmp_version = Some(trimmed(entry, "UseCWMPVersion", limits.text_len)?)
            }
            _ if must_understand(entry) => {
                return Err(SoapErrorKind::MustUnderstand {
                    header: name.to_owned(),
                })
            }
            _ => {}
        }
    }
    Ok((header, version))
}

fn must_understand(node: Node<'_, '_>) -> bool {
    node.attributes().any(|attribute| {
        attribute.name() == "mustUnderstand"
            && attribute.namespace() == Some(SOAP_ENV_NS)
            && matches!(attribute.value().trim(), "1" | "true")
    })
}

// ---- text and scalar helpers ----

/// The character data of `node`; an element inside it is an error.
fn text<'a>(node: Node<'a, '_>, element: &'static str) -> Parsed<Cow<'a, str>> {
    let mut children = node.children();
    match (children.next(), children.next()) {
        (None, _) => return Ok(Cow::Borrowed("")),
        (Some(only), None) if only.is_text() => {
            return Ok(Cow::Borrowed(only.text().unwrap_or_default()))
        }
        _ => {}
    }
    // Mixed content: text around comments or processing instructions.
    let mut joined = String::new();
    for child in node.children() {
        if child.is_element() {
            return Err(SoapErrorKind::InvalidValue { element });
        }
        if child.is_text() {
            joined.push_str(child.text().unwrap_or_default());
        }
    }
    Ok(Cow::Owned(joined))
}

fn check_len(text: &str, element: &'static str, max: usize) -> Parsed<()> {
    // Byte length bounds character count from above: count only when needed.
    if text.len() > max && text.chars().count() > max {
        return Err(SoapErrorKind::TooLong { element, max });
    }
    Ok(())
}

fn string(node: Node<'_, '_>, element: &'static str, max: usize) -> Parsed<String> {
    let text = text(node, element)?;
    check_len(&text, element, max)?;
    Ok(text.into_owned())
}

fn trimmed(node: Node<'_, '_>, element: &'static str, max: usize) -> Parsed<String> {
    let text = text(node, element)?;
    let text = text.trim();
    check_len(text, element, max)?;
    Ok(text.to_owned())
}

fn unsigned(node: Node<'_, '_>, element: &'static str) -> Parsed<u32> {
    text(node, element)?
        .trim()
        .parse()
        .map_err(|_| SoapErrorKind::InvalidValue { element })
}

fn signed(node: Node<'_, '_>, element: &'static str) -> Parsed<i32> {
    text(node, element)?
        .trim()
        .parse()
        .map_err(|_| SoapErrorKind::InvalidValue { element })
}

fn boolean(node: Node<'_, '_>, element: &'static str) -> Parsed<bool> {
    match text(node, element)?.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(SoapErrorKind::InvalidValue { element }),
    }
}

fn time(node: Node<'_, '_>, element: &'static str) -> Parsed<DateTime> {
    DateTime::parse(text(node, element)?.trim()).ok_or(SoapErrorKind::InvalidValue { element })
}

fn status(node: Node<'_, '_>, element: &'static str) -> Parsed<Status> {
    Status::from_code(unsigned(node, element)?).ok_or(SoapErrorKind::InvalidValue { element })
}

/// A fault code as it appears in a cwmp:Fault.
fn fault_code(node: Node<'_, '_>, element: &'static str) -> Parsed<FaultCode> {
    let code = unsigned(node, element)?;
    FaultCode::from_code(code).ok_or(SoapErrorKind::UnknownFaultCode { code })
}

// ---- child access ----

/// The fields of one struct element, found by local name.
#[derive(Clone, Copy)]
struct Fields<'a, 'input> {
    node: Node<'a, 'input>,
}

impl<'a, 'input> Fields<'a, 'input> {
    fn of(node: Node<'a, 'input>) -> Self {
        Fields { node }
    }

    fn get(self, name: &str) -> Option<Node<'a, 'input>> {
        self.node
            .children()
            .find(|child| child.is_element() && child.tag_name().name() == name)
    }

    fn required(self, name: &'static str) -> Parsed<Node<'a, 'input>> {
        self.get(name)
            .ok_or(SoapErrorKind::Missing { element: name })
    }

    fn string(self, name: &'static str, max: usize) -> Parsed<String> {
        string(self.required(name)?, name, max)
    }

    /// An element that may be absent: empty then.
    fn string_or_empty(self, name: &'static str, max: usize) -> Parsed<String> {
        self.get(name)
            .map_or(Ok(String::new()), |node| string(node, name, max))
    }

    fn optional_string(self, name: &'static str, max: usize) -> Parsed<Option<String>> {
        self.get(name)
            .map(|node| string(node, name, max))
            .transpose()
    }

    fn optional_trimmed(self, name: &'static str, max: usize) -> Parsed<Option<String>> {
        self.get(name)
            .map(|node| trimmed(node, name, max))
            .transpose()
    }

    fn name(self, name: &'static str, max: usize) -> Parsed<String> {
        trimmed(self.required(name)?, name, max)
    }

    fn unsigned(self, name: &'static str) -> Parsed<u32> {
        unsigned(self.required(name)?, name)
    }

    fn unsigned_or_zero(self, name: &'static str) -> Parsed<u32> {
        self.get(name).map_or(Ok(0), |node| unsigned(node, name))
    }

    fn signed(self, name: &'static str) -> Parsed<i32> {
        signed(self.required(name)?, name)
    }

    fn boolean(self, name: &'static str) -> Parsed<bool> {
        boolean(self.required(name)?, name)
    }

    fn time(self, name: &'static str) -> Parsed<DateTime> {
        time(self.required(name)?, name)
    }

    fn status(self) -> Parsed<Status> {
        status(self.required("Status")?, "Status")
    }
}

/// The entries of the array element `name` of `fields`, each read by `item`.
fn list<'a, 'input, T>(
    fields: Fields<'a, 'input>,
    name: &'static str,
    limits: &Limits,
    item: fn(Fields<'a, 'input>, &Limits) -> Parsed<T>,
) -> Parsed<Vec<T>> {
    let array = fields.required(name)?;
    let mut entries = Vec::with_capacity(array_size_hint(array).min(limits.max_list_items));
    for entry in elements(array) {
        if entries.len() == limits.max_list_items {
            return Err(SoapErrorKind::TooManyItems {
                element: name,
                max: limits.max_list_items,
            });
        }
        entries.push(item(Fields::of(entry), limits)?);
    }
    Ok(entries)
}

/// `N` from `arrayType="cwmp:ParameterValueStruct[N]"`, or 0; only a
/// capacity hint, so a lying peer cannot make it allocate much.
fn array_size_hint(array: Node<'_, '_>) -> usize {
    const MOST_PREALLOCATED: usize = 16_384;
    array
        .attributes()
        .find(|attribute| attribute.name() == "arrayType")
        .and_then(|attribute| {
            let value = attribute.value();
            let open = value.rfind('[')?;
            value
                .get(open + 1..value.len().checked_sub(1)?)?
                .parse()
                .ok()
        })
        .map_or(0, |size: usize| size.min(MOST_PREALLOCATED))
}

fn string_list(
    fields: Fields<'_, '_>,
    name: &'static str,
    limits: &Limits,
    max: usize,
) -> Parsed<Vec<String>> {
    let array = fields.required(name)?;
    let mut entries = Vec::with_capacity(array_size_hint(array).min(limits.max_list_items));
    for entry in elements(array) {
        if entries.len() == limits.max_list_items {
            return Err(SoapErrorKind::TooManyItems {
                element: name,
                max: limits.max_list_items,
            });
        }
        entries.push(trimmed(entry, name, max)?);
    }
    Ok(entries)
}

// ---- the body ----

/// The RPC of the Body and the CWMP version its namespace implies.
fn body(node: Node<'_, '_>, limits: &Limits) -> Parsed<(Rpc, Option<CwmpVersion>)> {
    if is_soap(node, "Fault") {
        return soap_fault(node, limits);
    }
    let namespace = node.tag_name().namespace().unwrap_or_default();
    let version =
        CwmpVersion::from_namespace(namespace).ok_or_else(|| SoapErrorKind::WrongNamespace {
            namespace: namespace.to_owned(),
        })?;
    Ok((rpc(node, limits)?, Some(version)))
}

fn rpc(node: Node<'_, '_>, limits: &Limits) -> Parsed<Rpc> {
    let fields = Fields::of(node);
    let name_len = limits.parameter_name_len;
    let rpc = match node.tag_name().name() {
        "GetRPCMethods" => Rpc::GetRpcMethods,
        "GetRPCMethodsResponse" => Rpc::GetRpcMethodsResponse {
            method_list: string_list(fields, "MethodList", limits, limits.text_len)?,
        },
        "SetParameterValues" => Rpc::SetParameterValues {
            parameter_list: list(fields, "ParameterList", limits, parameter_value)?,
            parameter_key: fields.string_or_empty("ParameterKey", limits.parameter_key_len)?,
        },
        "SetParameterValuesResponse" => Rpc::SetParameterValuesResponse {
            status: fields.status()?,
        },
        "GetParameterValues" => Rpc::GetParameterValues {
            parameter_names: string_list(fields, "ParameterNames", limits, name_len)?,
        },
        "GetParameterValuesResponse" => Rpc::GetParameterValuesResponse {
            parameter_list: list(fields, "ParameterList", limits, parameter_value)?,
        },
        "GetParameterNames" => Rpc::GetParameterNames {
            parameter_path: fields.name("ParameterPath", name_len)?,
            next_level: fields.boolean("NextLevel")?,
        },
        "GetParameterNamesResponse" => Rpc::GetParameterNamesResponse {
            parameter_list: list(fields, "ParameterList", limits, parameter_info)?,
        },
        "SetParameterAttributes" => Rpc::SetParameterAttributes {
            parameter_list: list(fields, "ParameterList", limits, set_parameter_attribute)?,
        },
        "SetParameterAttributesResponse" => Rpc::SetParameterAttributesResponse,
        "GetParameterAttributes" => Rpc::GetParameterAttributes {
            parameter_names: string_list(fields, "ParameterNames", limits, name_len)?,
        },
        "GetParameterAttributesResponse" => Rpc::GetParameterAttributesResponse {
            parameter_list: list(fields, "ParameterList", limits, parameter_attribute)?,
        },
        "AddObject" => Rpc::AddObject {
            object_name: fields.name("ObjectName", name_len)?,
            parameter_key: fields.string_or_empty("ParameterKey", limits.parameter_key_len)?,
        },
        "AddObjectResponse" => Rpc::AddObjectResponse {
            instance_number: fields.unsigned("InstanceNumber")?,
            status: fields.status()?,
        },
        "DeleteObject" => Rpc::DeleteObject {
            object_name: fields.name("ObjectName", name_len)?,
            parameter_key: fields.string_or_empty("ParameterKey", limits.parameter_key_len)?,
        },
        "DeleteObjectResponse" => Rpc::DeleteObjectResponse {
            status: fields.status()?,
        },
        "Reboot" => Rpc::Reboot {
            command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        },
        "RebootResponse" => Rpc::RebootResponse,
        "Download" => Rpc::Download(download(fields, limits)?),
        "DownloadResponse" => Rpc::DownloadResponse(transfer_response(fields)?),
        "ScheduleDownload" => Rpc::ScheduleDownload(schedule_download(fields, limits)?),
        "ScheduleDownloadResponse" => Rpc::ScheduleDownloadResponse,
        "Upload" => Rpc::Upload(upload(fields, limits)?),
        "UploadResponse" => Rpc::UploadResponse(transfer_response(fields)?),
        "FactoryReset" => Rpc::FactoryReset,
        "FactoryResetResponse" => Rpc::FactoryResetResponse,
        "GetQueuedTransfers" => Rpc::GetQueuedTransfers,
        "GetQueuedTransfersResponse" => Rpc::GetQueuedTransfersResponse {
            transfer_list: list(fields, "TransferList", limits, queued_transfer)?,
        },
        "GetAllQueuedTransfers" => Rpc::GetAllQueuedTransfers,
        "GetAllQueuedTransfersResponse" => Rpc::GetAllQueuedTransfersResponse {
            transfer_list: list(fields, "TransferList", limits, all_queued_transfer)?,
        },
        "CancelTransfer" => Rpc::CancelTransfer {
            command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        },
        "CancelTransferResponse" => Rpc::CancelTransferResponse,
        "ScheduleInform" => Rpc::ScheduleInform {
            delay_seconds: fields.unsigned("DelaySeconds")?,
            command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        },
        "ScheduleInformResponse" => Rpc::ScheduleInformResponse,
        "ChangeDUState" => Rpc::ChangeDuState(change_du_state(fields, limits)?),
        "ChangeDUStateResponse" => Rpc::ChangeDuStateResponse,
        "SetVouchers" => Rpc::SetVouchers {
            voucher_list: string_list(fields, "VoucherList", limits, limits.text_len)?,
        },
        "SetVouchersResponse" => Rpc::SetVouchersResponse,
        "GetOptions" => Rpc::GetOptions {
            option_name: fields.string_or_empty("OptionName", limits.text_len)?,
        },
        "GetOptionsResponse" => Rpc::GetOptionsResponse {
            option_list: list(fields, "OptionList", limits, option_info)?,
        },
        "Inform" => Rpc::Inform(inform(fields, limits)?),
        "InformResponse" => Rpc::InformResponse {
            max_envelopes: fields.unsigned_or_zero("MaxEnvelopes")?,
        },
        "TransferComplete" => Rpc::TransferComplete(TransferComplete {
            command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
            fault: fault_struct(fields.required("FaultStruct")?, limits)?,
            start_time: fields.time("StartTime")?,
            complete_time: fields.time("CompleteTime")?,
        }),
        "TransferCompleteResponse" => Rpc::TransferCompleteResponse,
        "AutonomousTransferComplete" => {
            Rpc::AutonomousTransferComplete(autonomous_transfer_complete(fields, limits)?)
        }
        "AutonomousTransferCompleteResponse" => Rpc::AutonomousTransferCompleteResponse,
        "DUStateChangeComplete" => Rpc::DuStateChangeComplete(DuStateChangeComplete {
            results: repeated(fields, "Results", limits, op_result)?,
            command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        }),
        "DUStateChangeCompleteResponse" => Rpc::DuStateChangeCompleteResponse,
        "AutonomousDUStateChangeComplete" => Rpc::AutonomousDuStateChangeComplete {
            results: repeated(fields, "Results", limits, autonomous_op_result)?,
        },
        "AutonomousDUStateChangeCompleteResponse" => Rpc::AutonomousDuStateChangeCompleteResponse,
        "RequestDownload" => Rpc::RequestDownload {
            file_type: fields.string("FileType", limits.file_type_len)?,
            file_type_args: match fields.get("FileTypeArg") {
                Some(_) => list(fields, "FileTypeArg", limits, file_type_arg)?,
                None => Vec::new(),
            },
        },
        "RequestDownloadResponse" => Rpc::RequestDownloadResponse,
        "Kicked" => Rpc::Kicked(Kicked {
            command: fields.string_or_empty("Command", limits.text_len)?,
            referer: fields.string_or_empty("Referer", limits.text_len)?,
            arg: fields.string_or_empty("Arg", limits.text_len)?,
            next: fields.string_or_empty("Next", limits.long_url_len)?,
        }),
        "KickedResponse" => Rpc::KickedResponse {
            next_url: fields.string_or_empty("NextURL", limits.long_url_len)?,
        },
        _ => return Err(SoapErrorKind::UnknownMethod),
    };
    Ok(rpc)
}

/// Every child element called `name` (a sequence written without an array wrapper).
fn repeated<'a, 'input, T>(
    fields: Fields<'a, 'input>,
    name: &'static str,
    limits: &Limits,
    item: fn(Fields<'a, 'input>, &Limits) -> Parsed<T>,
) -> Parsed<Vec<T>> {
    let mut entries = Vec::new();
    for entry in elements(fields.node).filter(|entry| entry.tag_name().name() == name) {
        if entries.len() == limits.max_list_items {
            return Err(SoapErrorKind::TooManyItems {
                element: name,
                max: limits.max_list_items,
            });
        }
        entries.push(item(Fields::of(entry), limits)?);
    }
    if entries.is_empty() {
        return Err(SoapErrorKind::Missing { element: name });
    }
    Ok(entries)
}

fn parameter_value(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<ParameterValue> {
    // The hot path of large messages: one pass over the children.
    let (mut name_node, mut value_node) = (None, None);
    for child in elements(fields.node) {
        match child.tag_name().name() {
            "Name" if name_node.is_none() => name_node = Some(child),
            "Value" if value_node.is_none() => value_node = Some(child),
            _ => {}
        }
    }
    let name_node = name_node.ok_or(SoapErrorKind::Missing { element: "Name" })?;
    let value_node = value_node.ok_or(SoapErrorKind::Missing { element: "Value" })?;
    let xsi_type = value_node.attributes().find(|attribute| {
        attribute.name() == "type" && attribute.namespace().is_none_or(|ns| ns == XSI_NS)
    });
    let xsd_type = match xsi_type {
        None => XsdType::String,
        Some(attribute) => {
            XsdType::from_name(attribute.value()).ok_or_else(|| SoapErrorKind::UnknownType {
                xsi_type: attribute.value().to_owned(),
            })?
        }
    };
    Ok(ParameterValue {
        name: trimmed(name_node, "Name", limits.parameter_name_len)?,
        value: string(value_node, "Value", limits.value_len)?,
        xsd_type,
    })
}

fn parameter_info(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<ParameterInfo> {
    Ok(ParameterInfo {
        name: fields.name("Name", limits.parameter_name_len)?,
        writable: fields.boolean("Writable")?,
    })
}

fn notification(fields: Fields<'_, '_>) -> Parsed<u8> {
    let value = fields.unsigned("Notification")?;
    match u8::try_from(value) {
        Ok(level) if level <= 6 => Ok(level),
        _ => Err(SoapErrorKind::InvalidValue {
            element: "Notification",
        }),
    }
}

fn access_list(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<Vec<String>> {
    match fields.get("AccessList") {
        Some(_) => string_list(fields, "AccessList", limits, limits.text_len),
        None => Ok(Vec::new()),
    }
}

fn set_parameter_attribute(
    fields: Fields<'_, '_>,
    limits: &Limits,
) -> Parsed<SetParameterAttribute> {
    Ok(SetParameterAttribute {
        name: fields.name("Name", limits.parameter_name_len)?,
        notification_change: fields.boolean("NotificationChange")?,
        notification: notification(fields)?,
        access_list_change: fields.boolean("AccessListChange")?,
        access_list: access_list(fields, limits)?,
    })
}

fn parameter_attribute(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<ParameterAttribute> {
    Ok(ParameterAttribute {
        name: fields.name("Name", limits.parameter_name_len)?,
        notification: notification(fields)?,
        access_list: access_list(fields, limits)?,
    })
}

fn download(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<Download> {
    Ok(Download {
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        file_type: fields.string("FileType", limits.file_type_len)?,
        url: fields.string("URL", limits.url_len)?,
        username: fields.string_or_empty("Username", limits.credential_len)?,
        password: fields.string_or_empty("Password", limits.credential_len)?,
        file_size: fields.unsigned_or_zero("FileSize")?,
        target_file_name: fields.string_or_empty("TargetFileName", limits.target_file_name_len)?,
        delay_seconds: fields.unsigned_or_zero("DelaySeconds")?,
        success_url: fields.string_or_empty("SuccessURL", limits.url_len)?,
        failure_url: fields.string_or_empty("FailureURL", limits.url_len)?,
    })
}

fn transfer_response(fields: Fields<'_, '_>) -> Parsed<TransferResponse> {
    Ok(TransferResponse {
        status: fields.status()?,
        start_time: fields.time("StartTime")?,
        complete_time: fields.time("CompleteTime")?,
    })
}

fn schedule_download(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<ScheduleDownload> {
    Ok(ScheduleDownload {
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        file_type: fields.string("FileType", limits.file_type_len)?,
        url: fields.string("URL", limits.url_len)?,
        username: fields.string_or_empty("Username", limits.credential_len)?,
        password: fields.string_or_empty("Password", limits.credential_len)?,
        file_size: fields.unsigned_or_zero("FileSize")?,
        target_file_name: fields.string_or_empty("TargetFileName", limits.target_file_name_len)?,
        time_window_list: list(fields, "TimeWindowList", limits, time_window)?,
    })
}

fn time_window(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<TimeWindow> {
    Ok(TimeWindow {
        window_start: fields.unsigned("WindowStart")?,
        window_end: fields.unsigned("WindowEnd")?,
        window_mode: fields.name("WindowMode", limits.text_len)?,
        user_message: fields.string_or_empty("UserMessage", limits.text_len)?,
        max_retries: match fields.get("MaxRetries") {
            Some(node) => signed(node, "MaxRetries")?,
            None => -1,
        },
    })
}

fn upload(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<Upload> {
    Ok(Upload {
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        file_type: fields.string("FileType", limits.file_type_len)?,
        url: fields.string("URL", limits.url_len)?,
        username: fields.string_or_empty("Username", limits.credential_len)?,
        password: fields.string_or_empty("Password", limits.credential_len)?,
        delay_seconds: fields.unsigned_or_zero("DelaySeconds")?,
    })
}

fn transfer_state(fields: Fields<'_, '_>) -> Parsed<TransferState> {
    TransferState::from_code(fields.unsigned("State")?)
        .ok_or(SoapErrorKind::InvalidValue { element: "State" })
}

fn queued_transfer(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<QueuedTransfer> {
    Ok(QueuedTransfer {
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        state: transfer_state(fields)?,
    })
}

fn all_queued_transfer(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<AllQueuedTransfer> {
    Ok(AllQueuedTransfer {
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
        state: transfer_state(fields)?,
        is_download: fields.boolean("IsDownload")?,
        file_type: fields.string("FileType", limits.file_type_len)?,
        file_size: fields.unsigned_or_zero("FileSize")?,
        target_file_name: fields.string_or_empty("TargetFileName", limits.target_file_name_len)?,
    })
}

fn change_du_state(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<ChangeDuState> {
    Ok(ChangeDuState {
        operations: repeated(fields, "Operations", limits, du_operation)?,
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
    })
}

fn du_operation(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<DuOperation> {
    // OperationStruct is abstract: only xsi:type says which operation this is.
    let op_type = fields
        .node
        .attributes()
        .find(|attribute| attribute.name() == "type" && attribute.namespace() == Some(XSI_NS))
        .map(|attribute| attribute.value().rsplit(':').next().unwrap_or_default());
    let url_len = limits.long_url_len;
    let credential_len = limits.credential_len;
    match op_type {
        Some("InstallOpStruct") => Ok(DuOperation::Install(InstallOp {
            url: fields.string("URL", url_len)?,
            uuid: fields.optional_trimmed("UUID", limits.text_len)?,
            username: fields.optional_string("Username", credential_len)?,
            password: fields.optional_string("Password", credential_len)?,
            execution_env_ref: fields.optional_trimmed("ExecutionEnvRef", limits.text_len)?,
        })),
        Some("UpdateOpStruct") => Ok(DuOperation::Update(UpdateOp {
            uuid: fields.optional_trimmed("UUID", limits.text_len)?,
            version: fields.optional_string("Version", limits.text_len)?,
            url: fields.optional_string("URL", url_len)?,
            username: fields.optional_string("Username", credential_len)?,
            password: fields.optional_string("Password", credential_len)?,
        })),
        Some("UninstallOpStruct") => Ok(DuOperation::Uninstall(UninstallOp {
            uuid: fields.name("UUID", limits.text_len)?,
            version: fields.optional_string("Version", limits.text_len)?,
            execution_env_ref: fields.optional_trimmed("ExecutionEnvRef", limits.text_len)?,
        })),
        _ => Err(SoapErrorKind::InvalidValue {
            element: "Operations",
        }),
    }
}

fn option_info(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<OptionInfo> {
    Ok(OptionInfo {
        option_name: fields.string("OptionName", limits.text_len)?,
        voucher_sn: fields.unsigned("VoucherSN")?,
        state: fields.unsigned("State")?,
        mode: fields.signed("Mode")?,
        start_date: fields.time("StartDate")?,
        expiration_date: fields
            .get("ExpirationDate")
            .map(|node| time(node, "ExpirationDate"))
            .transpose()?,
        is_transferable: fields.boolean("IsTransferable")?,
    })
}

fn inform(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<Inform> {
    let device = Fields::of(fields.required("DeviceId")?);
    Ok(Inform {
        device_id: DeviceId {
            manufacturer: device.string("Manufacturer", limits.text_len)?,
            oui: device.name("OUI", limits.text_len)?,
            product_class: device.string_or_empty("ProductClass", limits.text_len)?,
            serial_number: device.string("SerialNumber", limits.text_len)?,
        },
        events: list(fields, "Event", limits, event)?,
        max_envelopes: fields.unsigned("MaxEnvelopes")?,
        current_time: fields.time("CurrentTime")?,
        retry_count: fields.unsigned("RetryCount")?,
        parameter_list: list(fields, "ParameterList", limits, parameter_value)?,
    })
}

fn event(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<Event> {
    Ok(Event {
        event_code: fields.name("EventCode", limits.text_len)?,
        command_key: fields.string_or_empty("CommandKey", limits.command_key_len)?,
    })
}

fn fault_struct(node: Node<'_, '_>, limits: &Limits) -> Parsed<FaultStruct> {
    let fields = Fields::of(node);
    let code = match fields.unsigned("FaultCode")? {
        0 => None,
        code => Some(FaultCode::from_code(code).ok_or(SoapErrorKind::UnknownFaultCode { code })?),
    };
    Ok(FaultStruct {
        code,
        text: fields.string_or_empty("FaultString", limits.text_len)?,
    })
}

fn autonomous_transfer_complete(
    fields: Fields<'_, '_>,
    limits: &Limits,
) -> Parsed<AutonomousTransferComplete> {
    Ok(AutonomousTransferComplete {
        announce_url: fields.string_or_empty("AnnounceURL", limits.long_url_len)?,
        transfer_url: fields.string("TransferURL", limits.long_url_len)?,
        is_download: fields.boolean("IsDownload")?,
        file_type: fields.string("FileType", limits.file_type_len)?,
        file_size: fields.unsigned_or_zero("FileSize")?,
        target_file_name: fields.string_or_empty("TargetFileName", limits.target_file_name_len)?,
        fault: fault_struct(fields.required("FaultStruct")?, limits)?,
        start_time: fields.time("StartTime")?,
        complete_time: fields.time("CompleteTime")?,
    })
}

fn op_result(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<OpResult> {
    Ok(OpResult {
        uuid: fields.name("UUID", limits.text_len)?,
        deployment_unit_ref: fields.string_or_empty("DeploymentUnitRef", limits.text_len)?,
        version: fields.string_or_empty("Version", limits.text_len)?,
        current_state: DuState::from_name(
            text(fields.required("CurrentState")?, "CurrentState")?.trim(),
        )
        .ok_or(SoapErrorKind::InvalidValue {
            element: "CurrentState",
        })?,
        resolved: fields.boolean("Resolved")?,
        execution_unit_ref_list: fields.string_or_empty("ExecutionUnitRefList", limits.text_len)?,
        start_time: fields.time("StartTime")?,
        complete_time: fields.time("CompleteTime")?,
        fault: fault_struct(fields.required("Fault")?, limits)?,
    })
}

fn autonomous_op_result(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<AutonomousOpResult> {
    Ok(AutonomousOpResult {
        result: op_result(fields, limits)?,
        operation_performed: fields.name("OperationPerformed", limits.text_len)?,
    })
}

fn file_type_arg(fields: Fields<'_, '_>, limits: &Limits) -> Parsed<FileTypeArg> {
    Ok(FileTypeArg {
        name: fields.string("Name", limits.text_len)?,
        value: fields.string_or_empty("Value", limits.text_len)?,
    })
}

/// A SOAP Fault: the CWMP fault is in `detail/cwmp:Fault`, whose namespace
/// gives the version; `faultcode`/`faultstring` add nothing to it.
fn soap_fault(node: Node<'_, '_>, limits: &Limits) -> Parsed<(Rpc, Option<CwmpVersion>)> {
    let detail = Fields::of(node).required("detail")?;
    let cwmp_fault = Fields::of(detail).required("Fault")?;
    let version = cwmp_fault
        .tag_name()
        .namespace()
        .and_then(CwmpVersion::from_namespace);
    let fields = Fields::of(cwmp_fault);
    let code = fault_code(fields.required("FaultCode")?, "FaultCode")?;
    let text = match fields.get("FaultString") {
        Some(node) => string(node, "FaultString", limits.text_len)?,
        None => code.text().to_owned(),
    };
    let mut parameter_faults = Vec::new();
    for entry in elements(cwmp_fault).filter(|e| e.tag_name().name() == "SetParameterValuesFault") {
        if parameter_faults.len() == limits.max_list_items {
            return Err(SoapErrorKind::TooManyItems {
                element: "SetParameterValuesFault",
                max: limits.max_list_items,
            });
        }
        let entry = Fields::of(entry);
        let code = fault_code(entry.required("FaultCode")?, "FaultCode")?;
        parameter_faults.push(ParameterFault {
            name: entry.name("ParameterName", limits.parameter_name_len)?,
            code,
            text: match entry.get("FaultString") {
                Some(node) => string(node, "FaultString", limits.text_len)?,
                None => code.text().to_owned(),
            },
        });
    }
    let fault = Fault {
        code,
        text,
        parameter_faults,
    };
    Ok((Rpc::Fault(fault), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(xml: &str) -> usize {
        let document = Document::parse(xml).expect("test XML");
        array_size_hint(document.root_element())
    }

    #[test]
    fn array_size_hint_reads_and_caps_array_type() {
        let enc = r#"xmlns:e="http://schemas.xmlsoap.org/soap/encoding/""#;
        assert_eq!(
            hint(&format!(r#"<a {enc} e:arrayType="xsd:string[3]"/>"#)),
            3
        );
        assert_eq!(
            hint(&format!(r#"<a {enc} e:arrayType="x[999999999]"/>"#)),
            16_384
        );
        assert_eq!(hint(&format!(r#"<a {enc} e:arrayType="x[]"/>"#)), 0);
        assert_eq!(hint(&format!(r#"<a {enc} e:arrayType="]"/>"#)), 0);
        assert_eq!(hint("<a/>"), 0);
    }

    #[test]
    fn depth_counts_elements_only() {
        let document = Document::parse("<a>text<b><!-- c --><c/>tail</b><d/></a>").expect("XML");
        assert_eq!(check_depth(&document, 3), Ok(()));
        assert_eq!(
            check_depth(&document, 2),
            Err(SoapErrorKind::TooDeep { limit: 2 })
        );
    }
}
