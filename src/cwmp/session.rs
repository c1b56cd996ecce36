//! The CWMP session state machine of TR-069 3.7.1.4, as pure code: envelopes in, envelopes out.
//!
//! A session starts with the Inform; after the InformResponse the CPE sends
//! its own requests (TransferComplete, GetRPCMethods, …) unless the ACS holds
//! them, then an empty POST, then answers each ACS request until the ACS
//! answers with an empty body while the CPE has nothing left to say. The
//! machine never touches a socket: the transport feeds it each HTTP response
//! and posts what it returns. What the ACS has acknowledged is reported as
//! [`Acknowledged`] so the daemon can update and persist its event queue.

use std::collections::VecDeque;
use std::fmt;

use log::info;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::wire::soap::{self, CwmpVersion, Envelope, Header, Inform, Limits, Rpc, SoapError};

/// The most envelopes one session exchanges before the CPE gives up on an
/// ACS that never ends it.
pub const MAX_EXCHANGES: u32 = 100_000;

/// The CWMP versions this CPE speaks, for `SupportedCWMPVersions`.
pub const SUPPORTED_VERSIONS: &str = "1.0,1.1,1.2,1.3,1.4";

/// Executes the ACS's requests: the data model, transfers, reboot, …
pub trait AcsRequestHandler {
    /// Answers one request with its response, or the fault to send instead.
    fn handle(&mut self, request: Rpc) -> Result<Rpc, Fault>;
}

/// Something the ACS acknowledged during the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acknowledged {
    /// The InformResponse arrived: the events of the Inform are delivered.
    Inform,
    /// The ACS answered one of the CPE's own requests.
    Request {
        request: Box<Rpc>,
        response: Box<Rpc>,
    },
}

/// What the transport should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// POST this body (empty for the empty POST).
    Post(Vec<u8>),
    /// The session is over.
    Done(Result<(), SessionError>),
}

/// Why a session failed (it is then retried with back-off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The ACS answered with an HTTP status a session cannot go on with.
    HttpStatus(u16),
    /// The ACS answered the Inform or a CPE request with a fault.
    AcsFault(FaultCode, String),
    /// The ACS's message could not be read where a response was due.
    BadMessage(String),
    /// The ACS sent something the protocol does not allow at this point.
    Unexpected(&'static str),
    /// The CPE could not encode its own message.
    Encode(String),
    /// The ACS kept the session going past [`MAX_EXCHANGES`].
    TooLong,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::HttpStatus(s) => write!(f, "ACS answered HTTP {s}"),
            SessionError::AcsFault(code, text) => write!(f, "ACS fault {}: {text}", code.code()),
            SessionError::BadMessage(e) => write!(f, "unreadable ACS message: {e}"),
            SessionError::Unexpected(what) => write!(f, "unexpected ACS message: {what}"),
            SessionError::Encode(e) => write!(f, "cannot encode message: {e}"),
            SessionError::TooLong => write!(f, "session exceeded {MAX_EXCHANGES} exchanges"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Where the session stands: what the last POST carried.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Awaiting {
    InformResponse,
    /// The response to this CPE request.
    Response(Rpc),
    /// Anything: the last POST was empty or carried a response to the ACS.
    AcsMessage,
}

/// One CWMP session.
#[derive(Debug)]
pub struct Session {
    version: CwmpVersion,
    limits: Limits,
    awaiting: Awaiting,
    cpe_requests: VecDeque<Rpc>,
    /// CPE requests the negotiated version does not define: kept for a later session.
    held_back: Vec<Rpc>,
    hold_requests: bool,
    /// An empty POST was sent and no CPE request was sent since.
    cpe_done: bool,
    next_id: u32,
    exchanges: u32,
}

impl Session {
    /// Starts a session: returns the machine and the Inform to POST.
    /// `version` is the highest version the CPE offers (`amd_version`).
    pub fn start(
        inform: Inform,
        cpe_requests: Vec<Rpc>,
        version: CwmpVersion,
        session_timeout: Option<u32>,
        limits: Limits,
    ) -> (Session, Action) {
        let mut session = Session {
            version,
            limits,
            awaiting: Awaiting::InformResponse,
            cpe_requests: cpe_requests.into(),
            held_back: Vec::new(),
            hold_requests: false,
            cpe_done: false,
            next_id: 1,
            exchanges: 0,
        };
        let mut envelope = Envelope::new(session.take_id(), Rpc::Inform(inform));
        if version >= CwmpVersion::V1_3 {
            envelope.header.session_timeout = session_timeout;
        }
        if version >= CwmpVersion::V1_4 {
            envelope.header.supported_cwmp_versions = Some(SUPPORTED_VERSIONS.to_owned());
        }
        let action = session.post(&envelope);
        (session, action)
    }

    /// The version the session speaks (lowered by the ACS's InformResponse).
    pub fn version(&self) -> CwmpVersion {
        self.version
    }

    /// The CPE requests not sent (the ACS held them to the end): they wait for the next session.
    pub fn take_unsent(&mut self) -> Vec<Rpc> {
        let mut unsent: Vec<Rpc> = self.held_back.drain(..).collect();
        unsent.extend(self.cpe_requests.drain(..));
        unsent
    }

    /// Whether the ACS currently holds the CPE's requests.
    pub fn hold_requests(&self) -> bool {
        self.hold_requests
    }

    fn take_id(&mut self) -> String {
        let id = self.next_id.to_string();
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn post(&mut self, envelope: &Envelope) -> Action {
        let mut out = Vec::with_capacity(2048);
        match soap::emit(envelope, self.version, &mut out) {
            Ok(()) => Action::Post(out),
            Err(e) => Action::Done(Err(SessionError::Encode(e.to_string()))),
        }
    }

    /// The next CPE request if the ACS lets the CPE send it, else the empty POST.
    fn send_next(&mut self) -> Action {
        if !self.hold_requests {
            // A method newer than the negotiated version has no element in the
            // session's namespace (TR-069: every message uses the negotiated one).
            while self
                .cpe_requests
                .front()
                .is_some_and(|r| r.min_version() > self.version)
            {
                if let Some(request) = self.cpe_requests.pop_front() {
                    self.held_back.push(request);
                }
            }
            if let Some(request) = self.cpe_requests.pop_front() {
                let name = request.method_name();
                info!("Preparing the {name} RPC message to send to the ACS");
                self.cpe_done = false;
                let envelope = Envelope::new(self.take_id(), request.clone());
                self.awaiting = Awaiting::Response(request);
                let action = self.post(&envelope);
                if matches!(action, Action::Post(_)) {
                    info!("Send the {name} RPC message to the ACS");
                }
                return action;
            }
        }
        self.cpe_done = true;
        self.awaiting = Awaiting::AcsMessage;
        Action::Post(Vec::new())
    }

    /// Feeds the ACS's HTTP answer to the last POST; reports acknowledgements
    /// into `acks` and returns what to do next.
    pub fn on_response(
        &mut self,
        status: u16,
        body: &[u8],
        handler: &mut dyn AcsRequestHandler,
        acks: &mut Vec<Acknowledged>,
    ) -> Action {
        self.exchanges += 1;
        if self.exchanges > MAX_EXCHANGES {
            return Action::Done(Err(SessionError::TooLong));
        }
        let empty = status == 204 || body.iter().all(u8::is_ascii_whitespace);
        if status != 200 && status != 204 {
            return Action::Done(Err(SessionError::HttpStatus(status)));
        }
        if empty {
            return self.on_empty();
        }
        if self.awaiting == Awaiting::AcsMessage {
            info!("Receive request from the ACS");
        }
        let envelope = match soap::parse(body, &self.limits) {
            Ok(envelope) => envelope,
            Err(e) => return self.on_unreadable(e),
        };
        if let Some(hold) = envelope.header.hold_requests {
            self.hold_requests = hold;
        } else if !matches!(self.awaiting, Awaiting::InformResponse) {
            // TR-069 A.4.2.2: a message without HoldRequests lifts the hold.
            self.hold_requests = false;
        }
        let Some(rpc) = envelope.body else {
            return self.on_empty();
        };
        match std::mem::replace(&mut self.awaiting, Awaiting::AcsMessage) {
            Awaiting::InformResponse => match rpc {
                Rpc::InformResponse { .. } => {
                    info!("Get the InformResponse message from the ACS");
                    self.negotiate(&envelope.header, envelope.cwmp_version);
                    acks.push(Acknowledged::Inform);
                    self.send_next()
                }
                Rpc::Fault(fault) => {
                    Action::Done(Err(SessionError::AcsFault(fault.code, fault.text)))
                }
                _ => Action::Done(Err(SessionError::Unexpected("expected InformResponse"))),
            },
            Awaiting::Response(request) => match rpc {
                Rpc::Fault(fault) => {
                    Action::Done(Err(SessionError::AcsFault(fault.code, fault.text)))
                }
                response if is_response_to(&request, &response) => {
                    info!("Get the {} message from the ACS", response.method_name());
                    acks.push(Acknowledged::Request {
                        request: Box::new(request),
                        response: Box::new(response),
                    });
                    self.send_next()
                }
                _ => Action::Done(Err(SessionError::Unexpected(
                    "response does not match the request",
                ))),
            },
            Awaiting::AcsMessage => self.answer(envelope.header.id, rpc, handler),
        }
    }

    /// The ACS sent nothing: the session ends if the CPE has nothing more to say.
    fn on_empty(&mut self) -> Action {
        match self.awaiting {
            Awaiting::InformResponse => {
                Action::Done(Err(SessionError::Unexpected("empty answer to the Inform")))
            }
            Awaiting::Response(_) => Action::Done(Err(SessionError::Unexpected(
                "empty answer to a CPE request",
            ))),
            // Held requests that are still held stay queued for the next session.
            Awaiting::AcsMessage
                if self.cpe_done && (self.cpe_requests.is_empty() || self.hold_requests) =>
            {
                Action::Done(Ok(()))
            }
            Awaiting::AcsMessage => self.send_next(),
        }
    }

    /// A message the codec refused: a request gets the matching fault, a
    /// missing response ends the session.
    fn on_unreadable(&mut self, error: SoapError) -> Action {
        if self.awaiting != Awaiting::AcsMessage {
            return Action::Done(Err(SessionError::BadMessage(error.to_string())));
        }
        let fault = Fault::with_text(error.fault_code(), error.to_string());
        self.reply(error.id, Rpc::Fault(fault))
    }

    /// Answers one ACS request through the handler.
    fn answer(
        &mut self,
        id: Option<String>,
        request: Rpc,
        handler: &mut dyn AcsRequestHandler,
    ) -> Action {
        if !is_request_to_cpe(&request) {
            return Action::Done(Err(SessionError::Unexpected(
                "a message that is no request to the CPE",
            )));
        }
        // A method the negotiated version does not define is not supported in
        // this session.
        let reply = if request.min_version() > self.version {
            Rpc::Fault(Fault::new(FaultCode::MethodNotSupported))
        } else {
            handler.handle(request).unwrap_or_else(Rpc::Fault)
        };
        self.reply(id, reply)
    }

    /// Posts the answer to the ACS request with cwmp:ID `id`, written in what
    /// the negotiated version defines.
    fn reply(&mut self, id: Option<String>, reply: Rpc) -> Action {
        let reply = for_version(reply, self.version);
        let name = reply.method_name();
        info!("Preparing the {name} message");
        let envelope = Envelope::new(id.unwrap_or_default(), reply);
        let action = self.post(&envelope);
        if matches!(action, Action::Post(_)) {
            info!("Send the {name} message to the ACS");
        }
        action
    }

    /// TR-069 1.4 A.4.2.x: the ACS picks the session's version, either by the
    /// namespace of its InformResponse or by `UseCWMPVersion`.
    fn negotiate(&mut self, header: &Header, namespace_version: Option<CwmpVersion>) {
        let chosen = header
            .use_cwmp_version
            .as_deref()
            .and_then(parse_version)
            .or(namespace_version);
        if let Some(v) = chosen {
            if v < self.version || header.use_cwmp_version.is_some() {
                self.version = v.min(self.version);
            }
        }
    }
}

/// A version as `UseCWMPVersion` writes it (`1.4`).
fn parse_version(text: &str) -> Option<CwmpVersion> {
    [
        CwmpVersion::V1_0,
        CwmpVersion::V1_1,
        CwmpVersion::V1_2,
        CwmpVersion::V1_3,
        CwmpVersion::V1_4,
    ]
    .into_iter()
    .find(|v| v.as_str() == text.trim())
}

/// Whether a message is one of the requests the ACS may send the CPE (Annex A.3.2).
fn is_request_to_cpe(rpc: &Rpc) -> bool {
    matches!(
        rpc,
        Rpc::GetRpcMethods
            | Rpc::SetParameterValues { .. }
            | Rpc::GetParameterValues { .. }
            | Rpc::GetParameterNames { .. }
            | Rpc::SetParameterAttributes { .. }
            | Rpc::GetParameterAttributes { .. }
            | Rpc::AddObject { .. }
            | Rpc::DeleteObject { .. }
            | Rpc::Reboot { .. }
            | Rpc::Download(_)
            | Rpc::ScheduleDownload(_)
            | Rpc::Upload(_)
            | Rpc::FactoryReset
            | Rpc::GetQueuedTransfers
            | Rpc::GetAllQueuedTransfers
            | Rpc::CancelTransfer { .. }
            | Rpc::ScheduleInform { .. }
            | Rpc::ChangeDuState(_)
            | Rpc::SetVouchers { .. }
            | Rpc::GetOptions { .. }
    )
}

/// Adapts a reply to what the session's version defines: GetRPCMethods lists
/// only the methods of that version, and before 1.2 (whose schema takes any
/// FileType) a queued Upload is listed under the names the 1.1 schema gives
/// uploads in AllQueuedTransferStruct (`3 Vendor Configuration File`, `4
/// Vendor Log File`), other upload types being left out.
fn for_version(reply: Rpc, version: CwmpVersion) -> Rpc {
    match reply {
        Rpc::GetRpcMethodsResponse { mut method_list } => {
            method_list.retain(|m| CwmpVersion::of_method(m) <= version);
            Rpc::GetRpcMethodsResponse { method_list }
        }
        Rpc::GetAllQueuedTransfersResponse { transfer_list } if version < CwmpVersion::V1_2 => {
            let transfer_list = transfer_list
                .into_iter()
                .filter_map(|mut t| {
                    if !t.is_download {
                        t.file_type = match t.file_type.as_str() {
                            "1 Vendor Configuration File" => "3 Vendor Configuration File",
                            "2 Vendor Log File" => "4 Vendor Log File",
                            _ => return None,
                        }
                        .to_owned();
                    }
                    Some(t)
                })
                .collect();
            Rpc::GetAllQueuedTransfersResponse { transfer_list }
        }
        other => other,
    }
}

/// Whether `response` is the response message of `request`.
fn is_response_to(request: &Rpc, response: &Rpc) -> bool {
    matches!(
        (request, response),
        (Rpc::GetRpcMethods, Rpc::GetRpcMethodsResponse { .. })
            | (Rpc::TransferComplete(_), Rpc::TransferCompleteResponse)
            | (
                Rpc::AutonomousTransferComplete(_),
                Rpc::AutonomousTransferCompleteResponse
            )
            | (
                Rpc::DuStateChangeComplete(_),
                Rpc::DuStateChangeCompleteResponse
            )
            | (
                Rpc::AutonomousDuStateChangeComplete { .. },
                Rpc::AutonomousDuStateChangeCompleteResponse
            )
            | (Rpc::RequestDownload { .. }, Rpc::RequestDownloadResponse)
            | (Rpc::Kicked(_), Rpc::KickedResponse { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::params::{ParameterValue, XsdType};
    use crate::wire::soap::{DeviceId, Event, TransferComplete};

    /// Answers GPV with one value and everything else with fault 9000.
    struct Handler {
        seen: Vec<Rpc>,
    }

    impl AcsRequestHandler for Handler {
        fn handle(&mut self, request: Rpc) -> Result<Rpc, Fault> {
            self.seen.push(request.clone());
            match request {
                Rpc::GetParameterValues { parameter_names } => {
                    Ok(Rpc::GetParameterValuesResponse {
                        parameter_list: parameter_names
                            .into_iter()
                            .map(|n| ParameterValue::new(n, "v", XsdType::String))
                            .collect(),
                    })
                }
                _ => Err(Fault::new(FaultCode::MethodNotSupported)),
            }
        }
    }

    fn inform() -> Inform {
        Inform {
            device_id: DeviceId {
                manufacturer: "icwmp-rs".into(),
                oui: "001122".into(),
                product_class: "test".into(),
                serial_number: "S1".into(),
            },
            events: vec![Event {
                event_code: "1 BOOT".into(),
                command_key: String::new(),
            }],
            max_envelopes: 1,
            current_time: crate::wire::soap::DateTime::from_unix(0),
            retry_count: 0,
            parameter_list: Vec::new(),
        }
    }

    fn acs(envelope: Envelope) -> Vec<u8> {
        let mut out = Vec::new();
        soap::emit(&envelope, CwmpVersion::V1_2, &mut out).expect("ACS message encodes");
        out
    }

    fn sent(action: &Action) -> Option<Envelope> {
        match action {
            Action::Post(body) if body.is_empty() => None,
            Action::Post(body) => {
                Some(soap::parse(body, &Limits::default()).expect("CPE message parses"))
            }
            Action::Done(r) => panic!("session ended early: {r:?}"),
        }
    }

    fn start(requests: Vec<Rpc>) -> (Session, Action) {
        Session::start(
            inform(),
            requests,
            CwmpVersion::V1_4,
            Some(60),
            Limits::default(),
        )
    }

    #[test]
    fn inform_then_empty_post_then_acs_requests_then_204() {
        let (mut s, action) = start(Vec::new());
        let first = sent(&action).expect("an Inform");
        assert!(matches!(first.body, Some(Rpc::Inform(_))));
        assert_eq!(first.header.id.as_deref(), Some("1"));
        assert_eq!(first.header.session_timeout, Some(60));
        assert_eq!(
            first.header.supported_cwmp_versions.as_deref(),
            Some(SUPPORTED_VERSIONS)
        );
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let reply = acs(Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }));
        let action = s.on_response(200, &reply, &mut handler, &mut acks);
        assert_eq!(acks, [Acknowledged::Inform]);
        assert!(
            sent(&action).is_none(),
            "empty POST after the InformResponse"
        );
        let gpv = Rpc::GetParameterValues {
            parameter_names: vec!["Device.X".into()],
        };
        let action = s.on_response(
            200,
            &acs(Envelope::new("acs-7", gpv)),
            &mut handler,
            &mut acks,
        );
        let response = sent(&action).expect("a GPV response");
        assert_eq!(
            response.header.id.as_deref(),
            Some("acs-7"),
            "cwmp:ID echoed"
        );
        assert!(matches!(
            response.body,
            Some(Rpc::GetParameterValuesResponse { .. })
        ));
        // The CPE already said it has nothing more: the ACS's empty answer ends it.
        assert_eq!(
            s.on_response(204, b"", &mut handler, &mut acks),
            Action::Done(Ok(()))
        );
    }

    #[test]
    fn cpe_requests_go_first_and_are_acknowledged() {
        let tc = Rpc::TransferComplete(TransferComplete {
            command_key: "dl".into(),
            ..Default::default()
        });
        let (mut s, _) = start(vec![tc.clone()]);
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let reply = acs(Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }));
        let action = s.on_response(200, &reply, &mut handler, &mut acks);
        let request = sent(&action).expect("TransferComplete");
        assert_eq!(request.body, Some(tc.clone()));
        assert_eq!(request.header.id.as_deref(), Some("2"));
        let ack = acs(Envelope::new("2", Rpc::TransferCompleteResponse));
        let action = s.on_response(200, &ack, &mut handler, &mut acks);
        assert!(sent(&action).is_none());
        assert_eq!(
            acks.last(),
            Some(&Acknowledged::Request {
                request: Box::new(tc),
                response: Box::new(Rpc::TransferCompleteResponse)
            })
        );
        assert_eq!(
            s.on_response(204, b"", &mut handler, &mut acks),
            Action::Done(Ok(()))
        );
    }

    #[test]
    fn hold_requests_delays_cpe_requests() {
        let (mut s, _) = start(vec![Rpc::GetRpcMethods]);
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let mut held = Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 });
        held.header.hold_requests = Some(true);
        let action = s.on_response(200, &acs(held), &mut handler, &mut acks);
        assert!(
            sent(&action).is_none(),
            "held: empty POST instead of GetRPCMethods"
        );
        assert!(s.hold_requests());
        let gpv = Rpc::GetParameterValues {
            parameter_names: vec!["Device.A".into()],
        };
        let action = s.on_response(200, &acs(Envelope::new("a", gpv)), &mut handler, &mut acks);
        assert!(sent(&action).is_some());
        assert!(
            !s.hold_requests(),
            "a message without HoldRequests lifts the hold"
        );
        // The ACS has nothing more, but the CPE still has its request to send.
        let action = s.on_response(204, b"", &mut handler, &mut acks);
        assert_eq!(sent(&action).and_then(|e| e.body), Some(Rpc::GetRpcMethods));
    }

    #[test]
    fn unknown_method_and_malformed_requests_get_faults() {
        let (mut s, _) = start(Vec::new());
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let reply = acs(Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }));
        s.on_response(200, &reply, &mut handler, &mut acks);
        let unknown = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">x9</cwmp:ID></soap:Header><soap:Body><cwmp:Frobnicate/></soap:Body></soap:Envelope>"#;
        let action = s.on_response(200, unknown, &mut handler, &mut acks);
        let fault = sent(&action).expect("a fault");
        assert_eq!(fault.header.id.as_deref(), Some("x9"));
        match fault.body {
            Some(Rpc::Fault(f)) => assert_eq!(f.code, FaultCode::MethodNotSupported),
            other => panic!("expected a fault, got {other:?}"),
        }
        let action = s.on_response(200, b"<soap:Envelope", &mut handler, &mut acks);
        match sent(&action).and_then(|e| e.body) {
            Some(Rpc::Fault(f)) => assert_eq!(f.code, FaultCode::InvalidArguments),
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn failures_end_the_session() {
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let (mut s, _) = start(Vec::new());
        let fault = acs(Envelope::new(
            "1",
            Rpc::Fault(Fault::new(FaultCode::AcsRetryRequest)),
        ));
        assert!(matches!(
            s.on_response(200, &fault, &mut handler, &mut acks),
            Action::Done(Err(SessionError::AcsFault(FaultCode::AcsRetryRequest, _)))
        ));
        let (mut s, _) = start(Vec::new());
        assert_eq!(
            s.on_response(500, b"", &mut handler, &mut acks),
            Action::Done(Err(SessionError::HttpStatus(500)))
        );
        let (mut s, _) = start(Vec::new());
        assert!(matches!(
            s.on_response(204, b"", &mut handler, &mut acks),
            Action::Done(Err(_))
        ));
        assert!(acks.is_empty(), "nothing acknowledged by failed sessions");
    }

    #[test]
    fn version_follows_the_acs() {
        let mut handler = Handler { seen: Vec::new() };
        let mut acks = Vec::new();
        let (mut s, _) = start(Vec::new());
        let mut reply = Vec::new();
        soap::emit(
            &Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }),
            CwmpVersion::V1_0,
            &mut reply,
        )
        .expect("encodes");
        s.on_response(200, &reply, &mut handler, &mut acks);
        assert_eq!(s.version(), CwmpVersion::V1_0);
    }

    /// Answers GetRPCMethods and GetAllQueuedTransfers as the daemon does.
    struct Lister;

    impl AcsRequestHandler for Lister {
        fn handle(&mut self, request: Rpc) -> Result<Rpc, Fault> {
            let queued = |file_type: &str, is_download| crate::wire::soap::AllQueuedTransfer {
                command_key: "k".into(),
                state: crate::wire::soap::TransferState::NotYetStarted,
                is_download,
                file_type: file_type.into(),
                file_size: 0,
                target_file_name: String::new(),
            };
            match request {
                Rpc::GetRpcMethods => Ok(Rpc::GetRpcMethodsResponse {
                    method_list: ["GetRPCMethods", "ScheduleDownload", "GetAllQueuedTransfers"]
                        .map(str::to_owned)
                        .to_vec(),
                }),
                Rpc::GetAllQueuedTransfers => Ok(Rpc::GetAllQueuedTransfersResponse {
                    transfer_list: vec![
                        queued("1 Firmware Upgrade Image", true),
                        queued("1 Vendor Configuration File", false),
                        queued("2 Vendor Log File", false),
                        queued("3 Vendor Configuration File 2", false),
                    ],
                }),
                other => panic!("not asked: {other:?}"),
            }
        }
    }

    #[test]
    fn a_session_speaks_only_what_its_version_defines() {
        let du = Rpc::DuStateChangeComplete(crate::wire::soap::DuStateChangeComplete {
            results: Vec::new(),
            command_key: "du".into(),
        });
        let tc = Rpc::TransferComplete(TransferComplete::default());
        let (mut s, _) = Session::start(
            inform(),
            vec![du.clone(), tc],
            CwmpVersion::V1_1,
            None,
            Limits::default(),
        );
        let mut acks = Vec::new();
        let reply = acs(Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }));
        let action = s.on_response(200, &reply, &mut Lister, &mut acks);
        let first = sent(&action).expect("a CPE request");
        assert_eq!(first.cwmp_version, Some(CwmpVersion::V1_1));
        assert!(
            matches!(first.body, Some(Rpc::TransferComplete(_))),
            "DUStateChangeComplete (1.2) waits: {first:?}"
        );
        let ack = acs(Envelope::new("2", Rpc::TransferCompleteResponse));
        assert!(sent(&s.on_response(200, &ack, &mut Lister, &mut acks)).is_none());
        let ask = |s: &mut Session, rpc: Rpc| {
            let mut acks = Vec::new();
            let action = s.on_response(200, &acs(Envelope::new("a", rpc)), &mut Lister, &mut acks);
            sent(&action).and_then(|e| e.body).expect("an answer")
        };
        let cancel = Rpc::CancelTransfer {
            command_key: "k".into(),
        };
        assert!(
            matches!(ask(&mut s, cancel), Rpc::Fault(f) if f.code == FaultCode::MethodNotSupported)
        );
        assert_eq!(
            ask(&mut s, Rpc::GetRpcMethods),
            Rpc::GetRpcMethodsResponse {
                method_list: vec!["GetRPCMethods".into(), "GetAllQueuedTransfers".into()]
            }
        );
        match ask(&mut s, Rpc::GetAllQueuedTransfers) {
            Rpc::GetAllQueuedTransfersResponse { transfer_list } => {
                let types: Vec<&str> = transfer_list.iter().map(|t| t.file_type.as_str()).collect();
                assert_eq!(
                    types,
                    [
                        "1 Firmware Upgrade Image",
                        "3 Vendor Configuration File",
                        "4 Vendor Log File"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.take_unsent(), [du], "kept for a session that speaks 1.2");
    }

    #[test]
    fn arbitrary_acs_answers_never_panic() {
        let mut handler = Handler { seen: Vec::new() };
        let gpv = acs(Envelope::new(
            "x",
            Rpc::GetParameterValues {
                parameter_names: vec!["Device.A".into()],
            },
        ));
        let mut seed = 0xdead_beef_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..500 {
            let (mut s, _) = start(vec![Rpc::GetRpcMethods]);
            let mut acks = Vec::new();
            let reply = acs(Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }));
            s.on_response(200, &reply, &mut handler, &mut acks);
            for _ in 0..4 {
                let mut body = gpv.clone();
                for _ in 0..(next() % 6) {
                    let at = next() as usize % body.len();
                    body[at] = next() as u8;
                }
                let status = [200, 204, 401, 500][next() as usize % 4];
                if let Action::Done(_) = s.on_response(status, &body, &mut handler, &mut acks) {
                    break;
                }
            }
        }
    }
}
