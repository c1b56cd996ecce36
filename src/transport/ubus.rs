//! The ubus client connection: registers the `tr069` object, turns its calls into typed
//! [`Tr069Call`]s, looks up `network.interface.<name>` status and listens for interface events —
//! all driven by the daemon's mio loop without ever blocking it.
//!
//! One [`UbusClient`] owns the non-blocking Unix socket, its read/write buffers and the protocol
//! state (like rustls' `tlsclient-mio` example). The loop calls [`UbusClient::handle_event`] for
//! the client's token, [`UbusClient::handle_timeout`] when [`UbusClient::poll_at`] is due, and
//! answers each [`UbusInput::Call`] with [`UbusClient::reply`]. If ubusd is absent or goes away
//! the client reconnects with exponential back-off and registers again.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

use crate::wire::blobmsg::{field, BlobmsgType, EncodeError, Value};
use crate::wire::ubus::{
    FrameDecoder, Message, MsgType, UbusAttr, UbusStatus, DEFAULT_SOCKET_PATH, EVENT_OBJECT_ID,
};

/// Name of the object icwmpd registers.
pub const TR069_OBJECT: &str = "tr069";
/// The event netifd sends when an interface changes state.
pub const INTERFACE_EVENT: &str = "network.interface";
/// Placeholder icwmp prints for a time that does not exist (yet).
pub const NOT_AVAILABLE: &str = "N/A";

const READ_CHUNK: usize = 16 * 1024;

/// Connection settings; [`Default`] lists every default in one place.
#[derive(Clone, Debug)]
pub struct UbusConfig {
    /// ubusd's socket (UCI `cwmp.cpe.ubus_socket`).
    pub socket_path: PathBuf,
    /// How long ubusd may take to greet us or to answer one request.
    pub request_timeout: Duration,
    /// First reconnect delay; doubled after every failed attempt.
    pub reconnect_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// Bytes queued for a peer that does not read before the connection is given up.
    pub outbound_limit: usize,
}

impl Default for UbusConfig {
    fn default() -> Self {
        UbusConfig {
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            request_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            outbound_limit: 256 * 1024,
        }
    }
}

impl UbusConfig {
    /// Defaults with another socket path.
    pub fn with_socket(socket_path: impl Into<PathBuf>) -> UbusConfig {
        UbusConfig {
            socket_path: socket_path.into(),
            ..UbusConfig::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tr069 object: signature, typed calls and reply shapes (pure)
// ---------------------------------------------------------------------------------------------

/// A call on the `tr069` object, decoded and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tr069Call {
    /// `ubus call tr069 status`: report daemon and session state ([`status_reply`]).
    Status,
    /// `ubus call tr069 notify`: a parameter changed; check notifications ([`notify_reply`]).
    Notify,
    /// `ubus call tr069 inform '{"event": "..."}'`: start a session with that event (an empty
    /// or absent event leaves the choice to the daemon), or with GetRPCMethods.
    Inform {
        event: Option<String>,
        get_rpc_methods: bool,
    },
    /// `ubus call tr069 command '{"command": "reload"|"exit"}'`.
    Command(Tr069Command),
}

/// The commands `tr069 command` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tr069Command {
    Reload,
    Exit,
}

/// A call the module answers itself instead of handing it to the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum CallRejection {
    /// Reply with this status and no data (bad arguments, unknown method).
    Status(UbusStatus),
    /// Reply OK with this body (icwmp's answer to an unknown command).
    Reply(Value),
}

/// The methods of `tr069`, in the order `ubus -v list tr069` shows them.
pub const TR069_METHODS: [&str; 4] = ["notify", "command", "status", "inform"];

/// The signature registered for `tr069`: each of [`TR069_METHODS`] with its arguments' types.
pub fn tr069_signature() -> Vec<(String, Value)> {
    let arg = |name: &str, kind: BlobmsgType| (name.to_string(), Value::Int(i64::from(kind.id())));
    vec![
        ("notify".to_string(), Value::Table(vec![])),
        (
            "command".to_string(),
            Value::Table(vec![arg("command", BlobmsgType::String)]),
        ),
        ("status".to_string(), Value::Table(vec![])),
        (
            "inform".to_string(),
            Value::Table(vec![
                arg("GetRPCMethods", BlobmsgType::Int8),
                arg("event", BlobmsgType::String),
            ]),
        ),
    ]
}

/// Decodes a call on `tr069`. Arguments of the wrong type are INVALID_ARGUMENT; for
/// `GetRPCMethods` the strings "1"/"0"/"true"/"false" and integers are accepted too, because the
/// `ubus` CLI sends `'{"GetRPCMethods":"1"}'` (the seed's own example) as a string.
pub fn decode_tr069_call(
    method: &str,
    args: &[(String, Value)],
) -> Result<Tr069Call, CallRejection> {
    let invalid = CallRejection::Status(UbusStatus::InvalidArgument);
    match method {
        "notify" => Ok(Tr069Call::Notify),
        "status" => Ok(Tr069Call::Status),
        "command" => match field(args, "command") {
            Some(Value::String(command)) => match command.as_str() {
                "reload" => Ok(Tr069Call::Command(Tr069Command::Reload)),
                "exit" => Ok(Tr069Call::Command(Tr069Command::Exit)),
                other => Err(CallRejection::Reply(reply_body(
                    -1,
                    Some(&format!("{other} command is not supported")),
                ))),
            },
            _ => Err(invalid),
        },
        "inform" => {
            let get_rpc_methods = match field(args, "GetRPCMethods") {
                None => false,
                Some(Value::Bool(flag)) => *flag,
                Some(Value::Int(number)) => *number != 0,
                Some(Value::String(text)) => match text.as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(invalid),
                },
                Some(_) => return Err(invalid),
            };
            let event = match field(args, "event") {
                None => None,
                Some(Value::String(text)) if text.is_empty() => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(_) => return Err(invalid),
            };
            Ok(Tr069Call::Inform {
                event,
                get_rpc_methods,
            })
        }
        _ => Err(CallRejection::Status(UbusStatus::MethodNotFound)),
    }
}

/// What `tr069 status` reports; times are already formatted (RFC 3339 with offset, or
/// [`NOT_AVAILABLE`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// When the daemon started.
    pub start_time: String,
    pub acs_url: String,
    /// "success", "failure", "running", or [`NOT_AVAILABLE`] before the first session.
    pub last_session_status: String,
    pub last_session_start: String,
    pub last_session_end: String,
    /// Earliest of the next periodic, retry and scheduled session, or [`NOT_AVAILABLE`].
    pub next_session_start: String,
    pub success_sessions: u32,
    pub failure_sessions: u32,
}

fn text(value: &str) -> Value {
    Value::String(value.to_string())
}

fn member(name: &str, value: Value) -> (String, Value) {
    (name.to_string(), value)
}

/// An object id as a blobmsg value the way libubus writes it (`blobmsg_add_u32`): INT32
/// carrying the u32's bits. Ids are often ≥ 2^31; as a plain integer they would go out as
/// INT64, which ubusd's policies (event `register`, `subscribe`) refuse.
fn object_id_value(id: u32) -> Value {
    Value::Int(i64::from(i32::from_be_bytes(id.to_be_bytes())))
}

/// `tr069 status` reply: `{"cwmp": {...}, "last_session": {...}, "next_session": {...},
/// "statistics": {...}}` as icwmp builds it.
pub fn status_reply(report: &StatusReport) -> Value {
    Value::Table(vec![
        member(
            "cwmp",
            Value::Table(vec![
                member("status", text("up")),
                member("start_time", text(&report.start_time)),
                member("acs_url", text(&report.acs_url)),
            ]),
        ),
        member(
            "last_session",
            Value::Table(vec![
                member("status", text(&report.last_session_status)),
                member("start_time", text(&report.last_session_start)),
                member("end_time", text(&report.last_session_end)),
            ]),
        ),
        member(
            "next_session",
            Value::Table(vec![
                member("status", text("waiting")),
                member("start_time", text(&report.next_session_start)),
                member("end_time", text(NOT_AVAILABLE)),
            ]),
        ),
        member(
            "statistics",
            Value::Table(vec![
                member(
                    "success_sessions",
                    Value::Int(i64::from(report.success_sessions)),
                ),
                member(
                    "failure_sessions",
                    Value::Int(i64::from(report.failure_sessions)),
                ),
                member(
                    "total_sessions",
                    Value::Int(
                        i64::from(report.success_sessions) + i64::from(report.failure_sessions),
                    ),
                ),
            ]),
        ),
    ])
}

fn reply_body(status: i64, info: Option<&str>) -> Value {
    let mut fields = vec![member("status", Value::Int(status))];
    if let Some(info) = info {
        fields.push(member("info", text(info)));
    }
    Value::Table(fields)
}

/// `tr069 notify` reply: `{"status": 1}`.
pub fn notify_reply() -> Value {
    reply_body(1, None)
}

/// `tr069 inform` reply when a session starts: `{"status": 1, "info": "Session started"}`.
pub fn inform_reply() -> Value {
    reply_body(1, Some("Session started"))
}

/// `tr069 inform` reply while a session runs (icwmp: status -1, the event is queued).
pub fn inform_queued_reply() -> Value {
    reply_body(
        -1,
        Some("Session already running, event will be sent at the end of the session"),
    )
}

/// `tr069 inform` reply for an event code the daemon does not know (icwmp's text).
pub fn inform_unknown_event_reply() -> Value {
    reply_body(-1, Some("not able to get the event code"))
}

/// `tr069 command reload` reply: `{"status": 1, "info": "icwmpd config reloaded"}`.
pub fn reload_reply() -> Value {
    reply_body(1, Some("icwmpd config reloaded"))
}

/// `tr069 command reload` reply while a session runs (the reload waits for its end).
pub fn reload_deferred_reply() -> Value {
    reply_body(1, Some("Session running, reload at the end of the session"))
}

/// `tr069 command exit` reply: `{"status": 1, "info": "icwmpd daemon stopped"}`.
pub fn exit_reply() -> Value {
    reply_body(1, Some("icwmpd daemon stopped"))
}

/// The parts of netifd's `network.interface.<name> status` reply the daemon uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub up: Option<bool>,
    /// `l3_device`, the Linux device carrying the addresses.
    pub device: Option<String>,
    /// `ipv4-address[0].address`.
    pub ipv4_address: Option<String>,
    /// `ipv6-address[0].address`.
    pub ipv6_address: Option<String>,
}

/// Extracts [`InterfaceStatus`] from a netifd status reply; missing members stay `None`.
pub fn parse_interface_status(fields: &[(String, Value)]) -> InterfaceStatus {
    let first_address = |key: &str| {
        field(fields, key)
            .and_then(Value::as_array)
            .and_then(|list| list.first())
            .and_then(|entry| entry.get("address"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    InterfaceStatus {
        up: field(fields, "up").and_then(Value::as_bool),
        device: field(fields, "l3_device")
            .and_then(Value::as_str)
            .map(str::to_string),
        ipv4_address: first_address("ipv4-address"),
        ipv6_address: first_address("ipv6-address"),
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// Something that happened on ubus, for the daemon to act on.
#[derive(Debug, PartialEq)]
pub enum UbusInput {
    /// `tr069` is registered (after every (re)connect).
    Registered,
    /// The connection is gone; a reconnect is scheduled ([`UbusClient::poll_at`]).
    Disconnected,
    /// A call on `tr069` to answer with [`UbusClient::reply`].
    Call { handle: CallHandle, call: Tr069Call },
    /// Result of [`UbusClient::request_interface_status`].
    InterfaceStatus {
        request: RequestId,
        interface: String,
        result: Result<InterfaceStatus, UbusStatus>,
    },
    /// netifd's `network.interface` event, e.g. action "ifup" for interface "wan".
    InterfaceEvent { interface: String, action: String },
    /// Result of [`UbusClient::request_call`]: the reply's table.
    CallResult {
        request: RequestId,
        object: String,
        method: String,
        result: Result<Vec<(String, Value)>, UbusStatus>,
    },
}

/// Identifies one incoming call; consumed by [`UbusClient::reply`] so a call is answered once.
#[derive(Debug, PartialEq, Eq)]
pub struct CallHandle {
    connection: u64,
    seq: u16,
    peer: u32,
    object: u32,
    no_reply: bool,
}

/// Identifies one interface status request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// Why the client could not do what was asked.
#[derive(Debug, PartialEq, Eq)]
pub enum UbusError {
    /// Not connected and registered right now.
    NotConnected,
    /// The call came over a connection that has since been replaced.
    StaleHandle,
    /// Reply data other than a table (ubus carries the members of a table).
    ReplyNotTable,
    Encode(EncodeError),
}

impl std::fmt::Display for UbusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UbusError::NotConnected => f.write_str("not connected to ubus"),
            UbusError::StaleHandle => f.write_str("the call's ubus connection is gone"),
            UbusError::ReplyNotTable => f.write_str("ubus reply data must be a table"),
            UbusError::Encode(e) => write!(f, "ubus encode: {e}"),
        }
    }
}

impl std::error::Error for UbusError {}

impl From<EncodeError> for UbusError {
    fn from(e: EncodeError) -> Self {
        UbusError::Encode(e)
    }
}

#[derive(Debug)]
enum PendingKind {
    AddTr069,
    /// Shutting down: `tr069` is removed, and ubusd's answer proves it read all we sent before.
    RemoveTr069,
    AddListener,
    RegisterEvents,
    Lookup {
        request: RequestId,
        interface: String,
    },
    InterfaceStatus {
        request: RequestId,
        interface: String,
    },
    /// A [`UbusClient::request_call`] looking up its object.
    CallLookup {
        request: RequestId,
        object: String,
        method: String,
        args: Vec<(String, Value)>,
    },
    /// A [`UbusClient::request_call`] waiting for the object's reply.
    Call {
        request: RequestId,
        object: String,
        method: String,
    },
}

impl PendingKind {
    /// The input that tells the caller a request for an interface's status or
    /// a call ended with `status` (a time-out, a lost connection); none for
    /// the client's own registrations.
    fn failed(self, status: UbusStatus) -> Option<UbusInput> {
        match self {
            PendingKind::Lookup { request, interface }
            | PendingKind::InterfaceStatus { request, interface } => {
                Some(UbusInput::InterfaceStatus {
                    request,
                    interface,
                    result: Err(status),
                })
            }
            PendingKind::CallLookup {
                request,
                object,
                method,
                ..
            }
            | PendingKind::Call {
                request,
                object,
                method,
            } => Some(UbusInput::CallResult {
                request,
                object,
                method,
                result: Err(status),
            }),
            PendingKind::AddTr069
            | PendingKind::RemoveTr069
            | PendingKind::AddListener
            | PendingKind::RegisterEvents => None,
        }
    }
}

#[derive(Debug)]
struct Pending {
    seq: u16,
    peer: u32,
    deadline: Instant,
    kind: PendingKind,
    /// OBJID from a DATA reply (ADD_OBJECT, LOOKUP).
    objid: Option<u32>,
    /// DATA from a DATA reply (INVOKE).
    data: Vec<(String, Value)>,
}

struct Connection {
    id: u64,
    stream: UnixStream,
    decoder: FrameDecoder,
    outbound: Vec<u8>,
    written: usize,
    outbound_limit: usize,
    hello_deadline: Instant,
    client_id: Option<u32>,
    tr069_id: Option<u32>,
    listener_id: Option<u32>,
    next_seq: u16,
    pending: Vec<Pending>,
    /// Set when a write failed or the peer stopped reading; torn down at the next timeout.
    broken: bool,
}

enum Link {
    /// `register` not called yet.
    Unregistered,
    /// Waiting to (re)connect.
    Idle {
        retry_at: Instant,
    },
    Connected(Box<Connection>),
}

/// The ubus client; see the module documentation for how the loop drives it.
pub struct UbusClient {
    config: UbusConfig,
    token: Token,
    link: Link,
    backoff: Duration,
    connections: u64,
    next_request: u64,
    /// Latest time the loop told us; deadline for tearing down a connection broken while
    /// replying (a call that has no `now`).
    last_now: Option<Instant>,
    /// [`UbusClient::shut_down`] was called: close once ubusd has answered, never reconnect.
    shutting_down: bool,
}

impl UbusClient {
    pub fn new(config: UbusConfig) -> UbusClient {
        let backoff = config.reconnect_min;
        UbusClient {
            config,
            token: Token(0),
            link: Link::Unregistered,
            backoff,
            connections: 0,
            next_request: 0,
            last_now: None,
            shutting_down: false,
        }
    }

    /// Makes the first connection attempt, registering the socket under `token`. If ubusd is
    /// not there yet the client keeps retrying from [`UbusClient::handle_timeout`].
    pub fn register(&mut self, registry: &Registry, token: Token, now: Instant) {
        self.token = token;
        self.last_now = Some(now);
        self.connect(registry, now);
    }

    /// True once `tr069` is registered on the current connection.
    pub fn is_registered(&self) -> bool {
        matches!(&self.link, Link::Connected(c) if c.tr069_id.is_some())
    }

    /// The next instant [`UbusClient::handle_timeout`] must run: a reconnect, the HELLO wait or
    /// the earliest request deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        match &self.link {
            Link::Unregistered => None,
            Link::Idle { retry_at } => Some(*retry_at),
            Link::Connected(connection) => {
                if connection.broken {
                    return self.last_now;
                }
                let hello = connection
                    .client_id
                    .is_none()
                    .then_some(connection.hello_deadline);
                connection
                    .pending
                    .iter()
                    .map(|p| p.deadline)
                    .chain(hello)
                    .min()
            }
        }
    }

    /// Runs what is due at `now`: reconnects, request timeouts, teardown of a broken connection.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) -> Vec<UbusInput> {
        self.last_now = Some(now);
        let mut inputs = Vec::new();
        match &mut self.link {
            Link::Unregistered => {}
            Link::Idle { retry_at } => {
                if now >= *retry_at {
                    self.connect(registry, now);
                }
            }
            Link::Connected(connection) => {
                if connection.broken {
                    self.teardown(registry, now, &mut inputs);
                } else if connection.client_id.is_none() && now >= connection.hello_deadline {
                    log::warn!("ubus: no HELLO from {}", self.config.socket_path.display());
                    self.teardown(registry, now, &mut inputs);
                } else {
                    let (expired, kept): (Vec<Pending>, Vec<Pending>) =
                        std::mem::take(&mut connection.pending)
                            .into_iter()
                            .partition(|p| now >= p.deadline);
                    connection.pending = kept;
                    let mut lost = false;
                    for request in expired {
                        match request.kind {
                            PendingKind::AddTr069 => lost = true,
                            PendingKind::RemoveTr069 => connection.broken = true,
                            PendingKind::AddListener | PendingKind::RegisterEvents => {
                                log::warn!("ubus: interface event registration timed out")
                            }
                            kind => inputs.extend(kind.failed(UbusStatus::Timeout)),
                        }
                    }
                    if lost {
                        log::warn!("ubus: registering {TR069_OBJECT} timed out");
                        self.teardown(registry, now, &mut inputs);
                    }
                }
            }
        }
        inputs
    }

    /// Handles readiness of the client's socket (the event for its token).
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &mio::event::Event,
        now: Instant,
    ) -> Vec<UbusInput> {
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        self.handle_ready(registry, readable, event.is_writable(), now)
    }

    fn handle_ready(
        &mut self,
        registry: &Registry,
        readable: bool,
        writable: bool,
        now: Instant,
    ) -> Vec<UbusInput> {
        self.last_now = Some(now);
        let mut inputs = Vec::new();
        if writable {
            if let Link::Connected(connection) = &mut self.link {
                connection.flush();
            }
        }
        if readable {
            // Edge-triggered: read until the socket says WouldBlock.
            let mut chunk = vec![0u8; READ_CHUNK];
            while self.read_once(&mut chunk, now, &mut inputs) {}
        }
        self.finish(registry, now, &mut inputs);
        inputs
    }

    /// Reads one chunk and handles the frames it completes; false when there is nothing more
    /// to read now (or the connection broke).
    fn read_once(&mut self, chunk: &mut [u8], now: Instant, inputs: &mut Vec<UbusInput>) -> bool {
        let Link::Connected(connection) = &mut self.link else {
            return false;
        };
        if connection.broken {
            return false;
        }
        match connection.stream.read(chunk) {
            Ok(0) => {
                log::info!("ubus: connection closed by ubusd");
                connection.broken = true;
                false
            }
            Ok(n) => {
                connection.decoder.push(chunk.get(..n).unwrap_or_default());
                self.process_frames(now, inputs)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) => {
                log::warn!("ubus: read failed: {e}");
                connection.broken = true;
                false
            }
        }
    }

    /// Flushes what processing queued and tears a broken connection down right away.
    fn finish(&mut self, registry: &Registry, now: Instant, inputs: &mut Vec<UbusInput>) {
        if let Link::Connected(connection) = &mut self.link {
            connection.flush();
            if connection.broken {
                self.teardown(registry, now, inputs);
            }
        }
    }

    /// Decodes and handles every complete frame; false if the stream is unusable.
    fn process_frames(&mut self, now: Instant, inputs: &mut Vec<UbusInput>) -> bool {
        loop {
            let Link::Connected(connection) = &mut self.link else {
                return false;
            };
            let frame = match connection.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    log::warn!("ubus: bad frame from ubusd: {e}");
                    connection.broken = true;
                    return false;
                }
            };
            match Message::decode(&frame) {
                Ok(message) => self.on_message(message, now, inputs),
                Err(e) => log::warn!("ubus: dropping undecodable message: {e}"),
            }
        }
    }

    fn on_message(&mut self, message: Message, now: Instant, inputs: &mut Vec<UbusInput>) {
        let Link::Connected(connection) = &mut self.link else {
            return;
        };
        match message.msg_type {
            MsgType::Hello if connection.client_id.is_none() => {
                connection.client_id = Some(message.peer);
                log::debug!("ubus: connected as client {:08x}", message.peer);
                let timeout = self.config.request_timeout;
                let add_tr069 = |seq| {
                    Message::new(MsgType::AddObject, seq, 0)
                        .with(UbusAttr::ObjPath(TR069_OBJECT.to_string()))
                        .with(UbusAttr::Signature(tr069_signature()))
                };
                connection.request(add_tr069, 0, PendingKind::AddTr069, now + timeout);
                let add_listener = |seq| Message::new(MsgType::AddObject, seq, 0);
                connection.request(add_listener, 0, PendingKind::AddListener, now + timeout);
            }
            MsgType::Data => {
                if let Some(pending) = connection.pending_for(&message) {
                    if let Some(objid) = message.objid() {
                        pending.objid = Some(objid);
                    }
                    if let Some(data) = message.data() {
                        pending.data.extend_from_slice(data);
                    }
                }
            }
            MsgType::Status => {
                let Some(index) = connection
                    .pending
                    .iter()
                    .position(|p| p.seq == message.seq && p.peer == message.peer)
                else {
                    return;
                };
                let request = connection.pending.swap_remove(index);
                let status = UbusStatus::from_code(
                    message.status().unwrap_or(UbusStatus::UnknownError.code()),
                );
                self.complete(request, status, now, inputs);
            }
            MsgType::Invoke => self.on_invoke(&message, inputs),
            _ => {}
        }
    }

    fn complete(
        &mut self,
        pending: Pending,
        status: UbusStatus,
        now: Instant,
        inputs: &mut Vec<UbusInput>,
    ) {
        let Link::Connected(connection) = &mut self.link else {
            return;
        };
        let timeout = self.config.request_timeout;
        match (pending.kind, status, pending.objid) {
            (PendingKind::AddTr069, UbusStatus::Ok, Some(id)) => {
                connection.tr069_id = Some(id);
                self.backoff = self.config.reconnect_min;
                log::info!("ubus: registered {TR069_OBJECT} as {id:08x}");
                inputs.push(UbusInput::Registered);
            }
            (PendingKind::AddTr069, status, _) => {
                log::warn!("ubus: registering {TR069_OBJECT} failed: {status}");
                connection.broken = true;
            }
            (PendingKind::RemoveTr069, _, _) => {
                log::debug!("ubus: {TR069_OBJECT} removed, closing");
                connection.broken = true;
            }
            (PendingKind::AddListener, UbusStatus::Ok, Some(id)) => {
                connection.listener_id = Some(id);
                let args = vec![
                    member("object", object_id_value(id)),
                    member("pattern", text(INTERFACE_EVENT)),
                ];
                let register = |seq| {
                    Message::new(MsgType::Invoke, seq, EVENT_OBJECT_ID)
                        .with(UbusAttr::ObjId(EVENT_OBJECT_ID))
                        .with(UbusAttr::Method("register".to_string()))
                        .with(UbusAttr::Data(args))
                };
                connection.request(
                    register,
                    EVENT_OBJECT_ID,
                    PendingKind::RegisterEvents,
                    now + timeout,
                );
            }
            (PendingKind::AddListener, status, _) | (PendingKind::RegisterEvents, status, _) => {
                if status != UbusStatus::Ok {
                    log::warn!("ubus: listening for {INTERFACE_EVENT} events failed: {status}");
                }
            }
            (PendingKind::Lookup { request, interface }, UbusStatus::Ok, Some(objid)) => {
                let invoke = |seq| {
                    Message::new(MsgType::Invoke, seq, objid)
                        .with(UbusAttr::ObjId(objid))
                        .with(UbusAttr::Method("status".to_string()))
                        .with(UbusAttr::Data(Vec::new()))
                };
                connection.request(
                    invoke,
                    objid,
                    PendingKind::InterfaceStatus { request, interface },
                    now + timeout,
                );
            }
            (PendingKind::Lookup { request, interface }, status, _) => {
                let status = if status == UbusStatus::Ok {
                    UbusStatus::NotFound
                } else {
                    status
                };
                inputs.push(UbusInput::InterfaceStatus {
                    request,
                    interface,
                    result: Err(status),
                });
            }
            (PendingKind::InterfaceStatus { request, interface }, UbusStatus::Ok, _) => {
                let result = Ok(parse_interface_status(&pending.data));
                inputs.push(UbusInput::InterfaceStatus {
                    request,
                    interface,
                    result,
                });
            }
            (PendingKind::InterfaceStatus { request, interface }, status, _) => {
                inputs.push(UbusInput::InterfaceStatus {
                    request,
                    interface,
                    result: Err(status),
                });
            }
            (
                PendingKind::CallLookup {
                    request,
                    object,
                    method,
                    args,
                },
                UbusStatus::Ok,
                Some(objid),
            ) => {
                let name = method.clone();
                let invoke = move |seq| {
                    Message::new(MsgType::Invoke, seq, objid)
                        .with(UbusAttr::ObjId(objid))
                        .with(UbusAttr::Method(name.clone()))
                        .with(UbusAttr::Data(args.clone()))
                };
                let kind = PendingKind::Call {
                    request,
                    object,
                    method,
                };
                connection.request(invoke, objid, kind, now + timeout);
            }
            (
                PendingKind::CallLookup {
                    request,
                    object,
                    method,
                    ..
                },
                status,
                _,
            ) => {
                let status = if status == UbusStatus::Ok {
                    UbusStatus::NotFound
                } else {
                    status
                };
                inputs.push(UbusInput::CallResult {
                    request,
                    object,
                    method,
                    result: Err(status),
                });
            }
            (
                PendingKind::Call {
                    request,
                    object,
                    method,
                },
                status,
                _,
            ) => {
                let result = if status == UbusStatus::Ok {
                    Ok(pending.data)
                } else {
                    Err(status)
                };
                inputs.push(UbusInput::CallResult {
                    request,
                    object,
                    method,
                    result,
                });
            }
        }
    }

    fn on_invoke(&mut self, message: &Message, inputs: &mut Vec<UbusInput>) {
        let Link::Connected(connection) = &mut self.link else {
            return;
        };
        let object = message.objid().unwrap_or(0);
        let handle = CallHandle {
            connection: connection.id,
            seq: message.seq,
            peer: message.peer,
            object,
            no_reply: message.no_reply(),
        };
        if connection.tr069_id == Some(object) {
            let Some(method) = message.method() else {
                connection.send_reply(&handle, UbusStatus::InvalidArgument, None);
                return;
            };
            let decoded = match message.data() {
                Some(args) => decode_tr069_call(method, args),
                // libubus refuses a known method without a DATA attribute.
                None if TR069_METHODS.contains(&method) => {
                    Err(CallRejection::Status(UbusStatus::InvalidArgument))
                }
                None => Err(CallRejection::Status(UbusStatus::MethodNotFound)),
            };
            match decoded {
                Ok(call) => inputs.push(UbusInput::Call { handle, call }),
                Err(CallRejection::Status(status)) => connection.send_reply(&handle, status, None),
                Err(CallRejection::Reply(body)) => {
                    connection.send_reply(&handle, UbusStatus::Ok, body.as_table())
                }
            }
        } else if connection.listener_id.is_some() && connection.listener_id == Some(object) {
            let data = message.data().unwrap_or_default();
            if message.method() == Some(INTERFACE_EVENT) {
                let member_text =
                    |key| field(data, key).and_then(Value::as_str).map(str::to_string);
                if let (Some(interface), Some(action)) =
                    (member_text("interface"), member_text("action"))
                {
                    inputs.push(UbusInput::InterfaceEvent { interface, action });
                }
            }
            connection.send_reply(&handle, UbusStatus::Ok, None);
        } else {
            connection.send_reply(&handle, UbusStatus::NotFound, None);
        }
    }

    /// Answers a call: a DATA message with the members of `data` when it is a table (nothing
    /// for [`Value::Null`]), then the final STATUS.
    pub fn reply(
        &mut self,
        handle: CallHandle,
        status: UbusStatus,
        data: Value,
    ) -> Result<(), UbusError> {
        let fields = match &data {
            Value::Table(fields) => Some(fields.as_slice()),
            Value::Null => None,
            _ => return Err(UbusError::ReplyNotTable),
        };
        let Link::Connected(connection) = &mut self.link else {
            return Err(UbusError::StaleHandle);
        };
        if connection.id != handle.connection {
            return Err(UbusError::StaleHandle);
        }
        connection.send_reply(&handle, status, fields);
        Ok(())
    }

    /// Asks netifd for `network.interface.<interface>` status (LOOKUP, then INVOKE "status");
    /// the result arrives later as [`UbusInput::InterfaceStatus`].
    pub fn request_interface_status(
        &mut self,
        interface: &str,
        now: Instant,
    ) -> Result<RequestId, UbusError> {
        self.last_now = Some(now);
        let Link::Connected(connection) = &mut self.link else {
            return Err(UbusError::NotConnected);
        };
        if connection.client_id.is_none() || connection.broken {
            return Err(UbusError::NotConnected);
        }
        let path = format!("{INTERFACE_EVENT}.{interface}");
        if path.contains('\0') {
            return Err(UbusError::Encode(EncodeError::InteriorNul));
        }
        self.next_request += 1;
        let request = RequestId(self.next_request);
        let lookup = |seq| Message::new(MsgType::Lookup, seq, 0).with(UbusAttr::ObjPath(path));
        let kind = PendingKind::Lookup {
            request,
            interface: interface.to_string(),
        };
        connection.request(lookup, 0, kind, now + self.config.request_timeout);
        Ok(request)
    }

    /// Calls `method` of the ubus object `object` with `args` (looked up
    /// first, as `ubus call` does); the reply comes back as
    /// [`UbusInput::CallResult`], or a timeout after `request_timeout`.
    pub fn request_call(
        &mut self,
        object: &str,
        method: &str,
        args: Vec<(String, Value)>,
        now: Instant,
    ) -> Result<RequestId, UbusError> {
        self.last_now = Some(now);
        let Link::Connected(connection) = &mut self.link else {
            return Err(UbusError::NotConnected);
        };
        if connection.client_id.is_none() || connection.broken {
            return Err(UbusError::NotConnected);
        }
        if object.contains('\0') || method.contains('\0') {
            return Err(UbusError::Encode(EncodeError::InteriorNul));
        }
        self.next_request += 1;
        let request = RequestId(self.next_request);
        let path = object.to_string();
        let lookup = |seq| Message::new(MsgType::Lookup, seq, 0).with(UbusAttr::ObjPath(path));
        let kind = PendingKind::CallLookup {
            request,
            object: object.to_string(),
            method: method.to_string(),
            args,
        };
        connection.request(lookup, 0, kind, now + self.config.request_timeout);
        Ok(request)
    }

    /// Closes the connection for good, without losing what was sent on it.
    ///
    /// ubusd does not read from a client whose hang-up it sees in the same wake-up as its
    /// data: a reply written just before `close` can be dropped unread, and the caller of
    /// `tr069 command exit` times out. So the client first asks ubusd to remove `tr069` and
    /// closes when that is answered (ubusd handles a client's messages in order, so
    /// everything before was read), or when the request times out.
    pub fn shut_down(&mut self, registry: &Registry, now: Instant) {
        self.shutting_down = true;
        self.last_now = Some(now);
        let timeout = self.config.request_timeout;
        match &mut self.link {
            Link::Connected(connection) if !connection.broken => {
                let Some(id) = connection.tr069_id else {
                    connection.broken = true;
                    return;
                };
                let remove =
                    |seq| Message::new(MsgType::RemoveObject, seq, 0).with(UbusAttr::ObjId(id));
                connection.request(remove, 0, PendingKind::RemoveTr069, now + timeout);
                connection.flush();
            }
            Link::Connected(_) => {}
            Link::Idle { .. } | Link::Unregistered => {
                let mut ignored = Vec::new();
                self.teardown(registry, now, &mut ignored);
            }
        }
    }

    /// True while [`UbusClient::shut_down`] waits for ubusd to take what was sent.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down && !matches!(self.link, Link::Unregistered)
    }

    fn connect(&mut self, registry: &Registry, now: Instant) {
        let path = &self.config.socket_path;
        let attempt = UnixStream::connect(path).and_then(|mut stream| {
            registry.register(
                &mut stream,
                self.token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match attempt {
            Ok(stream) => {
                self.connections += 1;
                log::debug!("ubus: connected to {}", path.display());
                self.link = Link::Connected(Box::new(Connection {
                    id: self.connections,
                    stream,
                    decoder: FrameDecoder::new(),
                    outbound: Vec::new(),
                    written: 0,
                    outbound_limit: self.config.outbound_limit,
                    hello_deadline: now + self.config.request_timeout,
                    client_id: None,
                    tr069_id: None,
                    listener_id: None,
                    next_seq: 0,
                    pending: Vec::new(),
                    broken: false,
                }));
            }
            Err(e) => {
                log::debug!("ubus: connecting to {} failed: {e}", path.display());
                self.schedule_retry(now);
            }
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        self.link = Link::Idle {
            retry_at: now + self.backoff,
        };
        self.backoff = self
            .backoff
            .saturating_mul(2)
            .min(self.config.reconnect_max);
    }

    fn teardown(&mut self, registry: &Registry, now: Instant, inputs: &mut Vec<UbusInput>) {
        if let Link::Connected(mut connection) =
            std::mem::replace(&mut self.link, Link::Unregistered)
        {
            let _ = registry.deregister(&mut connection.stream);
            for request in connection.pending {
                inputs.extend(request.kind.failed(UbusStatus::ConnectionFailed));
            }
            if !self.shutting_down {
                inputs.push(UbusInput::Disconnected);
            }
        }
        if !self.shutting_down {
            self.schedule_retry(now);
        }
    }
}

impl Connection {
    fn take_seq(&mut self) -> u16 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    /// Sends a request built for the next sequence number and tracks its reply.
    fn request(
        &mut self,
        build: impl FnOnce(u16) -> Message,
        peer: u32,
        kind: PendingKind,
        deadline: Instant,
    ) {
        let seq = self.take_seq();
        self.pending.push(Pending {
            seq,
            peer,
            deadline,
            kind,
            objid: None,
            data: Vec::new(),
        });
        self.send(&build(seq));
    }

    fn pending_for(&mut self, message: &Message) -> Option<&mut Pending> {
        self.pending
            .iter_mut()
            .find(|p| p.seq == message.seq && p.peer == message.peer)
    }

    fn send_reply(
        &mut self,
        handle: &CallHandle,
        status: UbusStatus,
        data: Option<&[(String, Value)]>,
    ) {
        if handle.no_reply {
            return;
        }
        if let Some(fields) = data {
            self.send(
                &Message::new(MsgType::Data, handle.seq, handle.peer)
                    .with(UbusAttr::ObjId(handle.object))
                    .with(UbusAttr::Data(fields.to_vec())),
            );
        }
        self.send(
            &Message::new(MsgType::Status, handle.seq, handle.peer)
                .with(UbusAttr::Status(status.code()))
                .with(UbusAttr::ObjId(handle.object)),
        );
    }

    /// Queues a frame and writes what the socket takes; a peer that lets more than the limit
    /// pile up is treated as stuck and the connection is given up.
    fn send(&mut self, message: &Message) {
        let frame = match message.encode() {
            Ok(frame) => frame,
            Err(e) => {
                log::warn!(
                    "ubus: cannot encode message type {}: {e}",
                    message.msg_type as u8
                );
                return;
            }
        };
        if self.outbound.len() - self.written + frame.len() > self.outbound_limit {
            log::warn!("ubus: peer is not reading; dropping the connection");
            self.broken = true;
            return;
        }
        self.outbound.extend_from_slice(&frame);
        self.flush();
    }

    fn flush(&mut self) {
        while self.written < self.outbound.len() && !self.broken {
            let pending = self.outbound.get(self.written..).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => self.broken = true,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("ubus: write failed: {e}");
                    self.broken = true;
                }
            }
        }
        if self.written == self.outbound.len() {
            self.outbound.clear();
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blobmsg::{self, parse_json};

    fn fields(json: &str) -> Vec<(String, Value)> {
        parse_json(json).unwrap().as_table().unwrap().to_vec()
    }

    #[test]
    fn object_ids_go_out_as_int32_whatever_their_size() {
        for id in [
            0x0000_1001_u32,
            0x7fff_ffff,
            0x8000_0000,
            0xe2b0_a0b1,
            u32::MAX,
        ] {
            let mut bytes = Vec::new();
            blobmsg::put_value(&mut bytes, "object", &object_id_value(id)).unwrap();
            // Extended attribute of blobmsg type 5 (INT32), the id's bytes as its payload.
            assert_eq!(bytes[0], 0x85, "{id:#x}");
            assert_eq!(bytes[bytes.len() - 4..], id.to_be_bytes(), "{id:#x}");
        }
    }

    #[test]
    fn signature_lists_the_methods_in_order_with_blobmsg_types() {
        let signature = tr069_signature();
        let names: Vec<&str> = signature.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, TR069_METHODS);
        assert_eq!(
            Value::Table(signature).to_json(),
            r#"{"notify":{},"command":{"command":3},"status":{},"inform":{"GetRPCMethods":7,"event":3}}"#
        );
    }

    #[test]
    fn calls_decode_to_typed_values() {
        let inform = |event: Option<&str>, get_rpc_methods| {
            Ok(Tr069Call::Inform {
                event: event.map(str::to_string),
                get_rpc_methods,
            })
        };
        let cases: Vec<(&str, &str, Result<Tr069Call, CallRejection>)> = vec![
            ("status", "{}", Ok(Tr069Call::Status)),
            ("status", r#"{"ignored": 1}"#, Ok(Tr069Call::Status)),
            ("notify", "{}", Ok(Tr069Call::Notify)),
            (
                "command",
                r#"{"command": "reload"}"#,
                Ok(Tr069Call::Command(Tr069Command::Reload)),
            ),
            (
                "command",
                r#"{"command": "exit"}"#,
                Ok(Tr069Call::Command(Tr069Command::Exit)),
            ),
            ("inform", "{}", inform(None, false)),
            ("inform", r#"{"event": ""}"#, inform(None, false)),
            (
                "inform",
                r#"{"event": "1 BOOT"}"#,
                inform(Some("1 BOOT"), false),
            ),
            ("inform", r#"{"GetRPCMethods": true}"#, inform(None, true)),
            (
                "inform",
                r#"{"GetRPCMethods": false, "event": "2 PERIODIC"}"#,
                inform(Some("2 PERIODIC"), false),
            ),
            ("inform", r#"{"GetRPCMethods": 1}"#, inform(None, true)),
            ("inform", r#"{"GetRPCMethods": "0"}"#, inform(None, false)),
            ("inform", r#"{"GetRPCMethods": "true"}"#, inform(None, true)),
        ];
        for (method, args, expected) in cases {
            assert_eq!(
                decode_tr069_call(method, &fields(args)),
                expected,
                "{method} {args}"
            );
        }
    }

    #[test]
    fn bad_calls_are_rejected_with_ubus_status_or_icwmp_reply() {
        let invalid = Err(CallRejection::Status(UbusStatus::InvalidArgument));
        let cases: Vec<(&str, &str, Result<Tr069Call, CallRejection>)> = vec![
            ("command", "{}", invalid.clone()),
            ("command", r#"{"command": true}"#, invalid.clone()),
            ("inform", r#"{"event": ["1 BOOT"]}"#, invalid.clone()),
            ("inform", r#"{"GetRPCMethods": {}}"#, invalid.clone()),
            ("inform", r#"{"GetRPCMethods": "yes"}"#, invalid.clone()),
            (
                "reboot",
                "{}",
                Err(CallRejection::Status(UbusStatus::MethodNotFound)),
            ),
            (
                "command",
                r#"{"command": "reboot"}"#,
                Err(CallRejection::Reply(
                    parse_json(r#"{"status": -1, "info": "reboot command is not supported"}"#)
                        .unwrap(),
                )),
            ),
        ];
        for (method, args, expected) in cases {
            assert_eq!(
                decode_tr069_call(method, &fields(args)),
                expected,
                "{method} {args}"
            );
        }
    }

    #[test]
    fn reply_builders_give_icwmp_shapes() {
        assert_eq!(notify_reply().to_json(), r#"{"status":1}"#);
        assert_eq!(
            inform_reply().to_json(),
            r#"{"status":1,"info":"Session started"}"#
        );
        assert_eq!(
            reload_reply().to_json(),
            r#"{"status":1,"info":"icwmpd config reloaded"}"#
        );
        assert_eq!(
            exit_reply().to_json(),
            r#"{"status":1,"info":"icwmpd daemon stopped"}"#
        );
        assert_eq!(
            inform_queued_reply().to_json(),
            r#"{"status":-1,"info":"Session already running, event will be sent at the end of the session"}"#
        );
        assert_eq!(
            inform_unknown_event_reply().to_json(),
            r#"{"status":-1,"info":"not able to get the event code"}"#
        );
        assert_eq!(
            reload_deferred_reply().to_json(),
            r#"{"status":1,"info":"Session running, reload at the end of the session"}"#
        );
        let first_boot = StatusReport {
            start_time: "2024-01-01T00:00:00Z".into(),
            acs_url: "https://acs".into(),
            last_session_status: NOT_AVAILABLE.into(),
            last_session_start: NOT_AVAILABLE.into(),
            last_session_end: NOT_AVAILABLE.into(),
            next_session_start: NOT_AVAILABLE.into(),
            success_sessions: 0,
            failure_sessions: 2,
        };
        assert_eq!(
            status_reply(&first_boot).to_json(),
            concat!(
                r#"{"cwmp":{"status":"up","start_time":"2024-01-01T00:00:00Z","acs_url":"https://acs"},"#,
                r#""last_session":{"status":"N/A","start_time":"N/A","end_time":"N/A"},"#,
                r#""next_session":{"status":"waiting","start_time":"N/A","end_time":"N/A"},"#,
                r#""statistics":{"success_sessions":0,"failure_sessions":2,"total_sessions":2}}"#
            )
        );
    }

    #[test]
    fn interface_status_takes_the_first_addresses() {
        let status = parse_interface_status(&fields(
            r#"{"up": false, "l3_device": "pppoe-wan",
                "ipv4-address": [{"address": "198.51.100.7", "mask": 32}, {"address": "198.51.100.8", "mask": 32}],
                "ipv6-address": []}"#,
        ));
        assert_eq!(
            status,
            InterfaceStatus {
                up: Some(false),
                device: Some("pppoe-wan".into()),
                ipv4_address: Some("198.51.100.7".into()),
                ipv6_address: None,
            }
        );
        assert_eq!(
            parse_interface_status(&fields(r#"{"ipv4-address": "oops"}"#)),
            InterfaceStatus::default()
        );
    }

    #[test]
    fn reconnect_back_off_doubles_from_one_second_to_a_minute() {
        let poll = mio::Poll::new().unwrap();
        let missing =
            std::env::temp_dir().join(format!("icwmp-no-ubusd-{}/ubus.sock", std::process::id()));
        let mut client = UbusClient::new(UbusConfig::with_socket(missing));
        let start = Instant::now();
        assert_eq!(client.poll_at(), None, "nothing to do before register");
        client.register(poll.registry(), Token(1), start);
        let mut now = start;
        let mut delays = Vec::new();
        for _ in 0..9 {
            let due = client.poll_at().unwrap();
            delays.push((due - now).as_secs());
            now = due;
            assert!(client.handle_timeout(poll.registry(), now).is_empty());
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(!client.is_registered());
        assert_eq!(
            client.request_interface_status("wan", now),
            Err(UbusError::NotConnected)
        );
    }
}
