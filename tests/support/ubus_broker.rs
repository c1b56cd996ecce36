//! A small ubusd stand-in for integration tests (real Unix socket, one blocking thread per
//! client) and a blocking test client that plays the `ubus` CLI.
//!
//! The broker does what ubusd does for the messages icwmpd uses: HELLO with the client id,
//! ADD_OBJECT (named with a signature, or anonymous), LOOKUP, INVOKE forwarded to the owning
//! client with seq kept and peer rewritten, DATA/STATUS routed back, and the event object (id 1)
//! with "register" and "send". Objects can also be served by the broker itself ("fake" objects),
//! like netifd's `network.interface.<name>`.
//!
//! It is as strict as ubusd where ubusd is strict: object and client ids are all ≥ 2^31 (real
//! ubusd's are random u32s, half of them that large), and the event object's methods check
//! their arguments' blobmsg types on the wire with ubusd's policies (`register`: `object`
//! INT32, `pattern` STRING; `send`: `id` STRING, `data` TABLE), answering INVALID_ARGUMENT
//! otherwise. An id sent as INT64 is refused here as ubusd refuses it. And like ubusd (whose
//! uloop marks a client at EOF when its hang-up comes in the same wake-up as its data, and then
//! reads nothing more), it drops a client that hung up by the time it gets to read, unread
//! messages and all: a reply written just before closing is lost, as it is with ubusd.

#![allow(dead_code)] // Each integration test binary uses a different subset.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use icwmp::wire::blobmsg::{self, Value};
use icwmp::wire::ubus::{FrameDecoder, Message, MsgType, UbusAttr, UbusStatus, EVENT_OBJECT_ID};

/// Table members, the shape of ubus call arguments and replies.
pub type Fields = Vec<(String, Value)>;

/// How a fake object answers `(method, arguments)`.
pub type FakeHandler =
    Arc<dyn Fn(&str, &[(String, Value)]) -> (UbusStatus, Option<Fields>) + Send + Sync>;

enum Owner {
    Client(u32),
    Fake(FakeHandler),
}

struct Object {
    path: Option<String>,
    owner: Owner,
    type_id: u32,
    signature: Fields,
}

#[derive(Default)]
struct State {
    next_id: u32,
    clients: HashMap<u32, UnixStream>,
    objects: HashMap<u32, Object>,
    /// (pattern, listener object id)
    listeners: Vec<(String, u32)>,
    event_seq: u16,
    threads: Vec<JoinHandle<()>>,
}

impl State {
    fn new_id(&mut self) -> u32 {
        // ubusd reserves ids up to 1024 for system objects; its others are random u32s.
        // These are all ≥ 2^31, the ones a signed 32-bit mistake breaks.
        self.next_id = self.next_id.max(0x8000_1000) + 1;
        self.next_id
    }

    fn send(&mut self, client: u32, message: &Message) {
        if let Some(stream) = self.clients.get_mut(&client) {
            // A client that went away is cleaned up by its own thread.
            let _ = stream.write_all(&message.encode().expect("broker encodes its messages"));
        }
    }
}

struct Shared {
    state: Mutex<State>,
    stopping: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running broker; [`Broker::stop`] kills it like `killall ubusd` would.
pub struct Broker {
    path: PathBuf,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Broker {
    /// Binds `path` (replacing a stale socket file) and starts accepting clients.
    pub fn start(path: &Path) -> Broker {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind broker socket");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || accept_loop(listener, accept_shared));
        Broker {
            path: path.to_path_buf(),
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Serves `path` from the broker itself.
    pub fn add_fake_object(&self, path: &str, signature: Fields, handler: FakeHandler) -> u32 {
        let mut state = self.shared.lock();
        let id = state.new_id();
        let type_id = state.new_id();
        state.objects.insert(
            id,
            Object {
                path: Some(path.to_string()),
                owner: Owner::Fake(handler),
                type_id,
                signature,
            },
        );
        id
    }

    /// Id of the object registered under `path`, if any.
    pub fn object_id(&self, path: &str) -> Option<u32> {
        let state = self.shared.lock();
        state
            .objects
            .iter()
            .find(|(_, o)| o.path.as_deref() == Some(path))
            .map(|(id, _)| *id)
    }

    /// True if some object listens for events matching `pattern` exactly.
    pub fn has_listener(&self, pattern: &str) -> bool {
        self.shared
            .lock()
            .listeners
            .iter()
            .any(|(p, _)| p == pattern)
    }

    /// Closes every connection and the listening socket, removing the socket file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let threads = {
            let mut state = self.shared.lock();
            for stream in state.clients.values() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            std::mem::take(&mut state.threads)
        };
        // Wake the acceptor blocked in accept().
        let _ = UnixStream::connect(&self.path);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for thread in threads {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.shutdown();
        }
    }
}

fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut state = shared.lock();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let id = state.new_id();
        let Ok(writer) = stream.try_clone() else {
            continue;
        };
        state.clients.insert(id, writer);
        state.send(id, &Message::new(MsgType::Hello, 0, id));
        let client_shared = Arc::clone(&shared);
        let handle = thread::spawn(move || client_loop(stream, id, client_shared));
        state.threads.push(handle);
    }
}

/// How long the broker is "busy elsewhere" between a client's readiness and its read, as a
/// loaded ubusd is; a client that closes right after writing has hung up by then.
const BUSY: Duration = Duration::from_millis(5);

/// Waits until `stream` is readable; false if the peer has hung up by then (ubusd's uloop
/// sets `eof` on EPOLLRDHUP, and its client callback then reads nothing more).
fn readable_and_not_hung_up(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut pollfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut pollfd, 1, -1) } < 0 {
        return false;
    }
    thread::sleep(BUSY);
    pollfd.revents = 0;
    // SAFETY: as above; a zero timeout only samples the state after the busy spell.
    if unsafe { libc::poll(&mut pollfd, 1, 0) } < 0 {
        return false;
    }
    pollfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) == 0
}

fn client_loop(mut stream: UnixStream, client: u32, shared: Arc<Shared>) {
    let mut decoder = FrameDecoder::new();
    let mut chunk = [0u8; 4096];
    'read: loop {
        if !readable_and_not_hung_up(&stream) {
            break;
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&chunk[..n]);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => match Message::decode(&frame) {
                    Ok(message) => handle(&shared, client, message, &frame),
                    Err(_) => break 'read,
                },
                Ok(None) => break,
                Err(_) => break 'read,
            }
        }
    }
    let mut state = shared.lock();
    state.clients.remove(&client);
    let owned: Vec<u32> = state
        .objects
        .iter()
        .filter(|(_, o)| matches!(o.owner, Owner::Client(c) if c == client))
        .map(|(id, _)| *id)
        .collect();
    for id in owned {
        state.objects.remove(&id);
        state.listeners.retain(|(_, listener)| *listener != id);
    }
}

fn status(seq: u16, peer: u32, code: UbusStatus) -> Message {
    Message::new(MsgType::Status, seq, peer).with(UbusAttr::Status(code.code()))
}

/// The blobmsg type (as on the wire) of each member of a frame's DATA table.
fn data_member_types(frame: &[u8]) -> Vec<(String, u8)> {
    let Some(container) = frame
        .get(8..)
        .and_then(|body| blobmsg::single_attr(body).ok())
    else {
        return Vec::new();
    };
    blobmsg::attrs(container.payload)
        .flatten()
        .filter(|attr| attr.id == 7)
        .flat_map(|data| blobmsg::attrs(data.payload).flatten())
        .filter_map(|member| Some((blobmsg::decode_attr(member).ok()?.0, member.id)))
        .collect()
}

/// ubusd's `blobmsg_parse` policy: every named member present with exactly this blobmsg type.
fn meets_policy(types: &[(String, u8)], policy: &[(&str, u8)]) -> bool {
    policy.iter().all(|(name, wanted)| {
        types
            .iter()
            .any(|(member, found)| member == name && found == wanted)
    })
}

/// blobmsg type ids (`BLOBMSG_TYPE_*`).
const TABLE: u8 = 2;
const STRING: u8 = 3;
const INT32: u8 = 5;

fn handle(shared: &Shared, client: u32, message: Message, frame: &[u8]) {
    let mut state = shared.lock();
    let (seq, peer) = (message.seq, message.peer);
    match message.msg_type {
        MsgType::AddObject => {
            let path = message.objpath().map(str::to_string);
            if path
                .as_ref()
                .is_some_and(|p| state.objects.values().any(|o| o.path.as_ref() == Some(p)))
            {
                state.send(client, &status(seq, peer, UbusStatus::InvalidArgument));
                return;
            }
            let id = state.new_id();
            let signature = message.signature().map(<[_]>::to_vec);
            let type_id = if signature.is_some() {
                state.new_id()
            } else {
                0
            };
            state.objects.insert(
                id,
                Object {
                    path,
                    owner: Owner::Client(client),
                    type_id,
                    signature: signature.clone().unwrap_or_default(),
                },
            );
            let mut reply = Message::new(MsgType::Data, seq, peer).with(UbusAttr::ObjId(id));
            if signature.is_some() {
                reply = reply.with(UbusAttr::ObjType(type_id));
            }
            state.send(client, &reply);
            state.send(client, &status(seq, peer, UbusStatus::Ok));
        }
        MsgType::RemoveObject => {
            let code = match message.objid() {
                Some(id) if matches!(state.objects.get(&id), Some(o) if matches!(o.owner, Owner::Client(c) if c == client)) =>
                {
                    state.objects.remove(&id);
                    state.listeners.retain(|(_, listener)| *listener != id);
                    state.send(
                        client,
                        &Message::new(MsgType::Data, seq, peer).with(UbusAttr::ObjId(id)),
                    );
                    UbusStatus::Ok
                }
                Some(_) => UbusStatus::NotFound,
                None => UbusStatus::InvalidArgument,
            };
            state.send(client, &status(seq, peer, code));
        }
        MsgType::Lookup => {
            let wanted = message.objpath().unwrap_or("*").to_string();
            let matches: Vec<Message> = state
                .objects
                .iter()
                .filter_map(|(id, o)| {
                    let path = o.path.as_ref()?;
                    let hit = match wanted.strip_suffix('*') {
                        Some(prefix) => path.starts_with(prefix),
                        None => *path == wanted,
                    };
                    hit.then(|| {
                        Message::new(MsgType::Data, seq, peer)
                            .with(UbusAttr::ObjPath(path.clone()))
                            .with(UbusAttr::ObjId(*id))
                            .with(UbusAttr::ObjType(o.type_id))
                            .with(UbusAttr::Signature(o.signature.clone()))
                    })
                })
                .collect();
            let code = if matches.is_empty() {
                UbusStatus::NotFound
            } else {
                UbusStatus::Ok
            };
            for reply in &matches {
                state.send(client, reply);
            }
            state.send(client, &status(seq, peer, code));
        }
        MsgType::Invoke => invoke(&mut state, client, message, frame),
        MsgType::Data | MsgType::Status => {
            // A reply from an object owner: check ownership, route to the caller (header peer),
            // and show the caller the object id as peer.
            let Some(objid) = message.objid() else { return };
            let owned = matches!(state.objects.get(&objid), Some(o) if matches!(o.owner, Owner::Client(c) if c == client));
            if owned {
                let caller = message.peer;
                let mut forwarded = message;
                forwarded.peer = objid;
                state.send(caller, &forwarded);
            }
        }
        _ => state.send(client, &status(seq, peer, UbusStatus::InvalidCommand)),
    }
}

fn invoke(state: &mut State, client: u32, message: Message, frame: &[u8]) {
    let (seq, peer) = (message.seq, message.peer);
    let (Some(objid), Some(method)) = (message.objid(), message.method().map(str::to_string))
    else {
        state.send(client, &status(seq, peer, UbusStatus::InvalidArgument));
        return;
    };
    let args: Fields = message.data().map(<[_]>::to_vec).unwrap_or_default();
    if objid == EVENT_OBJECT_ID {
        let policy: &[(&str, u8)] = match method.as_str() {
            "register" => &[("object", INT32), ("pattern", STRING)],
            "send" => &[("id", STRING), ("data", TABLE)],
            _ => &[],
        };
        let code = if meets_policy(&data_member_types(frame), policy) {
            event_object(state, client, &method, &args)
        } else {
            UbusStatus::InvalidArgument
        };
        state.send(client, &status(seq, peer, code));
        return;
    }
    let owner = match state.objects.get(&objid) {
        None => {
            state.send(client, &status(seq, peer, UbusStatus::NotFound));
            return;
        }
        Some(Object {
            owner: Owner::Fake(handler),
            ..
        }) => Err(Arc::clone(handler)),
        Some(Object {
            owner: Owner::Client(owner),
            ..
        }) => Ok(*owner),
    };
    match owner {
        Ok(owner) => {
            let mut forwarded = Message::new(MsgType::Invoke, seq, client)
                .with(UbusAttr::ObjId(objid))
                .with(UbusAttr::Method(method));
            if let Some(data) = message.data() {
                forwarded = forwarded.with(UbusAttr::Data(data.to_vec()));
            }
            state.send(owner, &forwarded);
        }
        Err(handler) => {
            let (code, data) = handler(&method, &args);
            if let Some(data) = data {
                let reply = Message::new(MsgType::Data, seq, objid)
                    .with(UbusAttr::ObjId(objid))
                    .with(UbusAttr::Data(data));
                state.send(client, &reply);
            }
            let done = Message::new(MsgType::Status, seq, objid)
                .with(UbusAttr::Status(code.code()))
                .with(UbusAttr::ObjId(objid));
            state.send(client, &done);
        }
    }
}

fn event_object(
    state: &mut State,
    client: u32,
    method: &str,
    args: &[(String, Value)],
) -> UbusStatus {
    let get = |key: &str| args.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    match method {
        "register" => {
            let (Some(Value::Int(object)), Some(Value::String(pattern))) =
                (get("object"), get("pattern"))
            else {
                return UbusStatus::InvalidArgument;
            };
            // INT32 on the wire, carrying the u32 id's bits.
            let Ok(object) = i32::try_from(*object).map(|id| u32::from_be_bytes(id.to_be_bytes()))
            else {
                return UbusStatus::InvalidArgument;
            };
            match state.objects.get(&object) {
                Some(Object {
                    owner: Owner::Client(owner),
                    ..
                }) if *owner == client => {
                    state.listeners.push((pattern.clone(), object));
                    UbusStatus::Ok
                }
                Some(_) => UbusStatus::PermissionDenied,
                None => UbusStatus::NotFound,
            }
        }
        "send" => {
            let (Some(Value::String(id)), Some(Value::Table(data))) = (get("id"), get("data"))
            else {
                return UbusStatus::InvalidArgument;
            };
            deliver_event(state, Some(client), id, data);
            UbusStatus::Ok
        }
        _ => UbusStatus::InvalidCommand,
    }
}

fn deliver_event(state: &mut State, sender: Option<u32>, id: &str, data: &[(String, Value)]) {
    let targets: Vec<(u32, u32)> = state
        .listeners
        .iter()
        .filter(|(pattern, _)| match pattern.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => pattern == id,
        })
        .filter_map(|(_, listener)| match state.objects.get(listener) {
            Some(Object {
                owner: Owner::Client(owner),
                ..
            }) if Some(*owner) != sender => Some((*owner, *listener)),
            _ => None,
        })
        .collect();
    for (owner, listener) in targets {
        state.event_seq = state.event_seq.wrapping_add(1);
        let message = Message::new(MsgType::Invoke, state.event_seq, 0)
            .with(UbusAttr::ObjId(listener))
            .with(UbusAttr::Method(id.to_string()))
            .with(UbusAttr::Data(data.to_vec()));
        state.send(owner, &message);
    }
}

/// One object as `ubus -v list` sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedObject {
    pub path: String,
    pub id: u32,
    pub signature: Fields,
}

/// A blocking client that plays the `ubus` CLI (`ubus call`, `ubus -v list`, `ubus send`).
pub struct CliClient {
    stream: UnixStream,
    decoder: FrameDecoder,
    seq: u16,
    pub client_id: u32,
}

impl CliClient {
    /// Connects and reads the HELLO; reads give up after 10 s so a broken test cannot hang.
    pub fn connect(path: &Path) -> io::Result<CliClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut cli = CliClient {
            stream,
            decoder: FrameDecoder::new(),
            seq: 0,
            client_id: 0,
        };
        let hello = cli.next_message()?;
        assert_eq!(hello.msg_type, MsgType::Hello);
        cli.client_id = hello.peer;
        Ok(cli)
    }

    fn next_message(&mut self) -> io::Result<Message> {
        loop {
            if let Some(frame) = self
                .decoder
                .next_frame()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                return Message::decode(&frame)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.decoder.push(&chunk[..n]);
        }
    }

    /// Sends a request and collects its DATA replies until the STATUS.
    fn request(
        &mut self,
        build: impl FnOnce(u16) -> Message,
    ) -> io::Result<(Vec<Message>, UbusStatus)> {
        self.seq = self.seq.wrapping_add(1);
        let request = build(self.seq);
        self.stream
            .write_all(&request.encode().expect("CLI encodes its requests"))?;
        let mut data = Vec::new();
        loop {
            let message = self.next_message()?;
            if message.seq != request.seq {
                continue;
            }
            match message.msg_type {
                MsgType::Data => data.push(message),
                MsgType::Status => {
                    let code = UbusStatus::from_code(
                        message.status().unwrap_or(UbusStatus::UnknownError.code()),
                    );
                    return Ok((data, code));
                }
                _ => {}
            }
        }
    }

    /// `ubus -v list <path>`.
    pub fn list(&mut self, path: &str) -> io::Result<Result<Vec<ListedObject>, UbusStatus>> {
        let (data, code) = self.request(|seq| {
            Message::new(MsgType::Lookup, seq, 0).with(UbusAttr::ObjPath(path.to_string()))
        })?;
        if code != UbusStatus::Ok {
            return Ok(Err(code));
        }
        Ok(Ok(data
            .iter()
            .map(|m| ListedObject {
                path: m.objpath().unwrap_or_default().to_string(),
                id: m.objid().unwrap_or_default(),
                signature: m.signature().map(<[_]>::to_vec).unwrap_or_default(),
            })
            .collect()))
    }

    /// `ubus call <object> <method> <args>`: Ok(Some(reply)) if the object sent data.
    pub fn call(
        &mut self,
        object: &str,
        method: &str,
        args: Fields,
    ) -> io::Result<Result<Option<Value>, UbusStatus>> {
        let id = match self.list(object)? {
            Ok(found) => match found.first() {
                Some(listed) => listed.id,
                None => return Ok(Err(UbusStatus::NotFound)),
            },
            Err(code) => return Ok(Err(code)),
        };
        let (data, code) = self.request(|seq| {
            Message::new(MsgType::Invoke, seq, id)
                .with(UbusAttr::ObjId(id))
                .with(UbusAttr::Method(method.to_string()))
                .with(UbusAttr::Data(args))
        })?;
        if code != UbusStatus::Ok {
            return Ok(Err(code));
        }
        Ok(Ok(data
            .iter()
            .find_map(|m| m.data())
            .map(|fields| Value::Table(fields.to_vec()))))
    }

    /// `ubus send <id> <data>`.
    pub fn send_event(&mut self, id: &str, data: Fields) -> io::Result<UbusStatus> {
        let args = vec![
            ("id".to_string(), Value::String(id.to_string())),
            ("data".to_string(), Value::Table(data)),
        ];
        let (_, code) = self.request(|seq| {
            Message::new(MsgType::Invoke, seq, EVENT_OBJECT_ID)
                .with(UbusAttr::ObjId(EVENT_OBJECT_ID))
                .with(UbusAttr::Method("send".to_string()))
                .with(UbusAttr::Data(args))
        })?;
        Ok(code)
    }
}
