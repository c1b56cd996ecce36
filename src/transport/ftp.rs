//! Non-blocking FTP client for one file transfer: drives the pure [`Dialogue`] over a mio control socket and a passive data socket.
//!
//! RETR streams the data connection into a file, STOR streams a file into
//! it; memory stays bounded by one chunk. Work per call is bounded by
//! [`READ_BUDGET`]: when more is ready, `poll_at()` asks to be run again at
//! once so other sockets of the loop are served in between. Only host name
//! resolution blocks (as in the HTTP client).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::transport::http_client::READ_BUDGET;
use crate::wire::ftp::{Dialogue, Direction, FtpError, FtpUrl, ReplyReader, Step};

const CHUNK: usize = 16 * 1024;

/// Why an FTP transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtpFailure {
    /// No control connection could be made (resolution, refusal, timeout).
    Unreachable(String),
    /// The server's replies said no.
    Server(FtpError),
    /// The connection broke or fell silent after the login began.
    Broken(String),
    /// The local file could not be read or written.
    LocalFile(String),
}

impl std::fmt::Display for FtpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FtpFailure::Unreachable(e) => write!(f, "FTP server unreachable: {e}"),
            FtpFailure::Server(e) => write!(f, "{e}"),
            FtpFailure::Broken(e) => write!(f, "FTP connection broken: {e}"),
            FtpFailure::LocalFile(e) => write!(f, "local file: {e}"),
        }
    }
}

impl std::error::Error for FtpFailure {}

/// The tokens an FTP transfer registers its sockets under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtpTokens {
    pub control: Token,
    pub data: Token,
}

/// One FTP transfer in progress.
pub struct FtpClient {
    tokens: FtpTokens,
    direction: Direction,
    control: TcpStream,
    control_up: bool,
    /// Whether any reply arrived (a silent failure before it means unreachable).
    greeted: bool,
    peer: IpAddr,
    data: Option<TcpStream>,
    reader: ReplyReader,
    dialogue: Dialogue,
    out: Vec<u8>,
    file: File,
    /// STOR: bytes read from the file and not yet sent.
    pending: Vec<u8>,
    pending_pos: usize,
    file_done: bool,
    data_allowed: bool,
    data_done: bool,
    bytes: u64,
    idle: Duration,
    deadline: Instant,
    run_again: Option<Instant>,
}

impl FtpClient {
    /// Connects to the server of `url` for a RETR into `file` or a STOR from
    /// it. `user`/`password` override the URL's; both empty means anonymous.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        registry: &Registry,
        tokens: FtpTokens,
        url: &FtpUrl,
        user: &str,
        password: &str,
        direction: Direction,
        file_path: &Path,
        expected_size: u64,
        idle: Duration,
        now: Instant,
    ) -> Result<FtpClient, FtpFailure> {
        let file = match direction {
            Direction::Retrieve => File::create(file_path),
            Direction::Store => File::open(file_path),
        }
        .map_err(|e| FtpFailure::LocalFile(format!("{}: {e}", file_path.display())))?;
        let addr = resolve(&url.host, url.port)?;
        let mut control =
            TcpStream::connect(addr).map_err(|e| FtpFailure::Unreachable(e.to_string()))?;
        registry
            .register(
                &mut control,
                tokens.control,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| FtpFailure::Unreachable(e.to_string()))?;
        let (user, password) = if user.is_empty() {
            (
                url.user.as_deref().unwrap_or(""),
                url.password.as_deref().unwrap_or(""),
            )
        } else {
            (user, password)
        };
        Ok(FtpClient {
            tokens,
            direction,
            control,
            control_up: false,
            greeted: false,
            peer: addr.ip(),
            data: None,
            reader: ReplyReader::new(),
            dialogue: Dialogue::new(
                direction,
                &url.path,
                user,
                password,
                expected_size,
                addr.is_ipv6(),
            ),
            out: Vec::new(),
            file,
            pending: Vec::new(),
            pending_pos: 0,
            file_done: false,
            data_allowed: false,
            data_done: false,
            bytes: 0,
            idle,
            deadline: now + idle,
            run_again: None,
        })
    }

    /// Whether `token` belongs to this transfer.
    pub fn owns(&self, token: Token) -> bool {
        token == self.tokens.control || token == self.tokens.data
    }

    /// When [`FtpClient::handle_timeout`] must run.
    pub fn poll_at(&self) -> Instant {
        self.run_again.unwrap_or(self.deadline)
    }

    /// Socket readiness: returns the byte count when the transfer is done, or its failure.
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &Event,
        now: Instant,
    ) -> Option<Result<u64, FtpFailure>> {
        if !self.owns(event.token()) {
            return None;
        }
        self.drive(registry, now)
    }

    /// The idle deadline or pending work.
    pub fn handle_timeout(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Option<Result<u64, FtpFailure>> {
        if self.run_again.is_some_and(|t| t <= now) {
            return self.drive(registry, now);
        }
        if now >= self.deadline {
            let what = "no progress before the idle timeout".to_owned();
            return Some(Err(if self.greeted {
                FtpFailure::Broken(what)
            } else {
                FtpFailure::Unreachable(what)
            }));
        }
        None
    }

    /// Deregisters and closes both sockets.
    pub fn close(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.control);
        if let Some(mut data) = self.data.take() {
            let _ = registry.deregister(&mut data);
        }
    }

    fn drive(&mut self, registry: &Registry, now: Instant) -> Option<Result<u64, FtpFailure>> {
        self.run_again = None;
        match self.step(registry, now) {
            Ok(true) => Some(Ok(self.bytes)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn broken(&self, e: impl std::fmt::Display) -> FtpFailure {
        if self.greeted {
            FtpFailure::Broken(e.to_string())
        } else {
            FtpFailure::Unreachable(e.to_string())
        }
    }

    /// One round of work; `Ok(true)` when the transfer is complete.
    fn step(&mut self, registry: &Registry, now: Instant) -> Result<bool, FtpFailure> {
        if !self.control_up {
            if let Ok(Some(e)) | Err(e) = self.control.take_error() {
                return Err(FtpFailure::Unreachable(e.to_string()));
            }
            match self.control.peer_addr() {
                Ok(_) => self.control_up = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(FtpFailure::Unreachable(e.to_string())),
            }
        }
        self.flush_control()?;
        let mut buf = [0u8; 2048];
        loop {
            match self.control.read(&mut buf) {
                Ok(0) => {
                    if self.dialogue.finished() && self.data_done {
                        break;
                    }
                    return Err(self.broken("the server closed the control connection"));
                }
                Ok(n) => {
                    self.greeted = true;
                    self.deadline = now + self.idle;
                    let replies = self
                        .reader
                        .push(buf.get(..n).unwrap_or_default())
                        .map_err(FtpFailure::Server)?;
                    for reply in replies {
                        for step in self.dialogue.on_reply(&reply) {
                            self.apply(registry, step)?;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.broken(e)),
            }
        }
        self.flush_control()?;
        self.move_data(registry, now)?;
        if self.dialogue.finished() && self.data_done {
            self.out.extend_from_slice(&Step::command_bytes("QUIT"));
            let _ = self.flush_control();
            if let Some(size) = self.dialogue.server_size {
                if size != self.bytes {
                    return Err(FtpFailure::Server(FtpError::Incomplete(format!(
                        "received {} of {size} bytes",
                        self.bytes
                    ))));
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn apply(&mut self, registry: &Registry, step: Step) -> Result<(), FtpFailure> {
        match step {
            Step::Send(command) => self.out.extend_from_slice(&Step::command_bytes(&command)),
            Step::OpenData(port) => {
                let mut data = TcpStream::connect(SocketAddr::new(self.peer, port))
                    .map_err(|e| self.broken(e))?;
                let interest = match self.direction {
                    Direction::Retrieve => Interest::READABLE,
                    Direction::Store => Interest::WRITABLE,
                };
                registry
                    .register(&mut data, self.tokens.data, interest)
                    .map_err(|e| self.broken(e))?;
                self.data = Some(data);
            }
            Step::StartData => self.data_allowed = true,
            Step::ServerDone => {}
            Step::Fail(e) => return Err(FtpFailure::Server(e)),
        }
        Ok(())
    }

    fn flush_control(&mut self) -> Result<(), FtpFailure> {
        while !self.out.is_empty() {
            match self.control.write(&self.out) {
                Ok(0) => return Err(self.broken("control connection closed")),
                Ok(n) => {
                    self.out.drain(..n.min(self.out.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.broken(e)),
            }
        }
        Ok(())
    }

    fn move_data(&mut self, registry: &Registry, now: Instant) -> Result<(), FtpFailure> {
        if self.data_done {
            return Ok(());
        }
        let Some(data) = self.data.as_mut() else {
            return Ok(());
        };
        let mut budget = READ_BUDGET;
        match self.direction {
            Direction::Retrieve => {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    if budget == 0 {
                        self.run_again = Some(now);
                        return Ok(());
                    }
                    crate::slices::pause_point();
                    match data.read(&mut buf) {
                        Ok(0) => {
                            self.data_done = true;
                            break;
                        }
                        Ok(n) => {
                            budget = budget.saturating_sub(n);
                            self.bytes += n as u64;
                            self.deadline = now + self.idle;
                            self.file
                                .write_all(buf.get(..n).unwrap_or_default())
                                .map_err(|e| FtpFailure::LocalFile(e.to_string()))?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FtpFailure::Broken(e.to_string())),
                    }
                }
                self.file
                    .sync_all()
                    .map_err(|e| FtpFailure::LocalFile(e.to_string()))?;
            }
            Direction::Store => {
                if !self.data_allowed {
                    return Ok(());
                }
                loop {
                    if self.pending_pos >= self.pending.len() {
                        if self.file_done {
                            break;
                        }
                        self.pending.resize(CHUNK, 0);
                        self.pending_pos = 0;
                        let n = self
                            .file
                            .read(&mut self.pending)
                            .map_err(|e| FtpFailure::LocalFile(e.to_string()))?;
                        self.pending.truncate(n);
                        if n == 0 {
                            self.file_done = true;
                            break;
                        }
                    }
                    if budget == 0 {
                        self.run_again = Some(now);
                        return Ok(());
                    }
                    crate::slices::pause_point();
                    let chunk = self.pending.get(self.pending_pos..).unwrap_or_default();
                    match data.write(chunk) {
                        Ok(n) => {
                            self.pending_pos += n;
                            self.bytes += n as u64;
                            budget = budget.saturating_sub(n.max(1));
                            self.deadline = now + self.idle;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FtpFailure::Broken(e.to_string())),
                    }
                }
                // Closing the data connection is how STOR says "end of file".
                if let Some(mut data) = self.data.take() {
                    let _ = data.flush();
                    let _ = registry.deregister(&mut data);
                }
                self.data_done = true;
            }
        }
        Ok(())
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, FtpFailure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FtpFailure::Unreachable(format!("{host}: {e}")))?
        .collect();
    addrs.sort_by_key(SocketAddr::is_ipv6);
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| FtpFailure::Unreachable(format!("{host}: no address")))
}
