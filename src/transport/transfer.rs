//! Runs the transfer queue in the daemon's loop: one transfer at a time over HTTP(S) or FTP, then the command that applies or produces its file, never blocking the loop.
//!
//! The queue ([`TransferQueue`]) decides what is due; this shell does the
//! I/O: its own [`HttpClient`] (own token) streams a download into a file
//! in `download_dir` or PUTs an upload from one, [`FtpClient`] does RETR and
//! STOR, and shell commands (apply a firmware image or configuration, or
//! produce a configuration backup or log for an upload) are spawned and
//! polled on a short timer, with a timeout. The queue file is written
//! after every change, and — for a firmware image — before the command
//! that reboots the device runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::event::Event as MioEvent;
use mio::{Registry, Token};

use crate::config::Config;
use crate::cwmp::events::{Event, EventQueue};
use crate::cwmp::fault::FaultCode;
use crate::cwmp::transfers::{
    DownloadFileType, Finish, Reconcile, ResultStage, Scheme, Transfer, TransferError,
    TransferKind, TransferPolicy, TransferQueue, TransferResult, UploadFileType,
};
use crate::fsutil::{atomic_write, set_aside};
use crate::store::CorruptFile;
use crate::transport::ftp::{FtpClient, FtpFailure, FtpTokens};
use crate::transport::http_client::{
    BodySink, HttpClient, HttpConfig, HttpError, HttpOutcome, Method, Request, RequestBody,
    ResponseBody,
};
use crate::wire::digest::Credentials;
use crate::wire::ftp::{Direction, FtpError, FtpUrl};
use crate::wire::soap::Rpc;

/// State file of the queue, inside the state directory.
pub const QUEUE_FILE: &str = "transfers";
/// The last SoftwareVersion seen, to notice firmware flashed outside CWMP.
pub const SOFTWARE_VERSION_FILE: &str = "software_version";

/// How often a running command is checked for its exit.
const COMMAND_POLL: Duration = Duration::from_millis(100);

/// The file types a firmware image applies as; see [`TransferSettings`].
const FIRMWARE_TYPE: &str = "1 Firmware Upgrade Image";

/// The tokens transfers register sockets under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferTokens {
    pub http: Token,
    pub ftp_control: Token,
    pub ftp_data: Token,
}

/// What the configuration says about transfers (section `cpe` unless noted).
#[derive(Debug, Clone)]
pub struct TransferSettings {
    pub download_dir: PathBuf,
    pub exec_download: bool,
    /// `{file}` is replaced by the (shell-quoted) path of the image.
    pub firmware_apply_command: String,
    pub vendor_config_apply_command: String,
    /// Web content, tone, ringer and vendor (`X …`) files; `{type}` is the FileType.
    pub download_apply_command: String,
    pub config_upload_command: String,
    pub log_upload_command: String,
    pub command_timeout: Duration,
    /// HTTP(S) client settings: CA from `acs.https_ssl_capath`, timeouts from `transfer_timeout`.
    pub http: HttpConfig,
    pub idle_timeout: Duration,
}

impl TransferSettings {
    pub fn from_config(config: &Config) -> TransferSettings {
        let cpe = &config.cpe;
        let idle = Duration::from_secs(u64::from(cpe.transfer_timeout));
        let capath = &config.acs.https_ssl_capath;
        TransferSettings {
            download_dir: cpe.download_dir.clone(),
            exec_download: cpe.exec_download,
            firmware_apply_command: cpe.firmware_apply_command.clone(),
            vendor_config_apply_command: cpe.vendor_config_apply_command.clone(),
            download_apply_command: cpe.download_apply_command.clone(),
            config_upload_command: cpe.config_upload_command.clone(),
            log_upload_command: cpe.log_upload_command.clone(),
            command_timeout: Duration::from_secs(u64::from(cpe.transfer_command_timeout)),
            http: HttpConfig {
                ipv6_enable: config.acs.ipv6_enable,
                ssl_capath: (!capath.is_empty()).then(|| capath.into()),
                connect_timeout: idle,
                idle_timeout: idle,
                ..HttpConfig::default()
            },
            idle_timeout: idle,
        }
    }

    /// What the handlers may accept.
    pub fn policy(&self) -> TransferPolicy {
        TransferPolicy {
            execute_downloads: self.exec_download,
            firmware: !self.firmware_apply_command.is_empty(),
            vendor_config: !self.vendor_config_apply_command.is_empty(),
            other_downloads: !self.download_apply_command.is_empty(),
            config_upload: !self.config_upload_command.is_empty(),
            log_upload: !self.log_upload_command.is_empty(),
        }
    }
}

/// Quotes `text` for `/bin/sh` (single quotes; `'` as `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A command line from a template: `{file}` and `{type}` substituted, quoted.
pub fn command_line(template: &str, file: &Path, file_type: &str) -> String {
    template
        .replace("{file}", &shell_quote(&file.to_string_lossy()))
        .replace("{type}", &shell_quote(file_type))
}

/// A name for a kept download: TargetFileName's last component when it is
/// a plain name, otherwise `download-<id>`.
fn kept_name(target: &str, id: u64) -> String {
    let name = target.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." || name.starts_with('.') {
        format!("download-{id}")
    } else {
        name.to_owned()
    }
}

/// A running shell command with its deadline.
struct Running {
    child: Child,
    deadline: Instant,
    /// When to look for its exit next.
    next_check: Instant,
}

impl Running {
    fn spawn(line: &str, timeout: Duration, now: Instant) -> io::Result<Running> {
        info!("transfer: running '{line}'");
        let child = Command::new("/bin/sh").arg("-c").arg(line).spawn()?;
        Ok(Running {
            child,
            deadline: now + timeout,
            next_check: now + COMMAND_POLL,
        })
    }

    /// `Some(Ok(()))` on exit 0, `Some(Err(why))` on failure or timeout, `None` while running.
    fn poll(&mut self, now: Instant) -> Option<Result<(), String>> {
        if now < self.next_check {
            return None;
        }
        self.next_check = now + COMMAND_POLL;
        match self.child.try_wait() {
            Ok(Some(status)) if status.success() => Some(Ok(())),
            Ok(Some(status)) => Some(Err(format!("command failed ({status})"))),
            Ok(None) if now >= self.deadline => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Some(Err("command timed out".into()))
            }
            Ok(None) => None,
            Err(e) => Some(Err(format!("command lost: {e}"))),
        }
    }
}

/// What the active transfer is doing.
enum Work {
    /// An upload's file is being produced.
    Preparing(Running),
    Http,
    Ftp(Box<FtpClient>),
    /// The downloaded file is being applied; `firmware`: its result already
    /// waits for the boot.
    Applying {
        run: Running,
        firmware: bool,
    },
}

struct Active {
    transfer: Transfer,
    file: PathBuf,
    work: Work,
}

/// The transfer queue and the I/O that carries it out.
pub struct Transfers {
    queue: TransferQueue,
    path: PathBuf,
    version_path: PathBuf,
    saved: Vec<u8>,
    settings: TransferSettings,
    tokens: TransferTokens,
    http: HttpClient,
    active: Option<Active>,
    /// The queue held a firmware result waiting for this boot.
    firmware_via_cwmp: bool,
}

fn corrupt(path: &Path, reason: String, moved: bool) -> CorruptFile {
    CorruptFile {
        path: path.to_path_buf(),
        moved_to: moved.then(|| {
            let mut p = path.as_os_str().to_os_string();
            p.push(".corrupt");
            PathBuf::from(p)
        }),
        reason,
    }
}

/// Loads the persisted queue; a corrupt file is set aside and reported.
fn load_queue(path: &Path) -> (TransferQueue, Option<CorruptFile>) {
    match crate::fsutil::read_file(path) {
        Ok(bytes) => match TransferQueue::from_bytes(&bytes) {
            Ok(queue) => (queue, None),
            Err(e @ (TransferError::BadHeader | TransferError::BadLine { .. })) => {
                let moved = set_aside(path).is_ok();
                (
                    TransferQueue::new(),
                    Some(corrupt(path, e.to_string(), moved)),
                )
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => (TransferQueue::new(), None),
        Err(e) => (
            TransferQueue::new(),
            Some(corrupt(path, e.to_string(), false)),
        ),
    }
}

impl Transfers {
    /// Loads the queue from `state_dir` and applies the restart rules
    /// (`system_boot`: the system, not only the daemon, has started).
    pub fn open(
        settings: TransferSettings,
        tokens: TransferTokens,
        state_dir: &Path,
        system_boot: bool,
        now: i64,
    ) -> Result<(Transfers, Option<CorruptFile>), HttpError> {
        let path = state_dir.join(QUEUE_FILE);
        let (mut queue, corrupt) = load_queue(&path);
        let firmware_via_cwmp = queue
            .results()
            .iter()
            .any(|r| r.stage == ResultStage::AwaitingBoot);
        queue.after_restart(now, system_boot);
        let http = HttpClient::new(settings.http.clone())?;
        let mut transfers = Transfers {
            queue,
            path,
            version_path: state_dir.join(SOFTWARE_VERSION_FILE),
            saved: Vec::new(),
            settings,
            tokens,
            http,
            active: None,
            firmware_via_cwmp,
        };
        transfers.save();
        Ok((transfers, corrupt))
    }

    /// Applies new settings (config reload); a running transfer keeps the old ones.
    pub fn reconfigure(&mut self, settings: TransferSettings) {
        if self.active.is_none() {
            match HttpClient::new(settings.http.clone()) {
                Ok(http) => self.http = http,
                Err(e) => error!("transfer HTTP settings rejected: {e}"),
            }
        }
        self.settings = settings;
    }

    /// What the handlers may accept.
    pub fn policy(&self) -> TransferPolicy {
        self.settings.policy()
    }

    /// The queue, for the request handlers; call [`Transfers::save`] after.
    pub fn queue_mut(&mut self) -> &mut TransferQueue {
        &mut self.queue
    }

    pub fn queue(&self) -> &TransferQueue {
        &self.queue
    }

    /// Persists the queue if it changed since the last write.
    pub fn save(&mut self) {
        let bytes = self.queue.to_bytes();
        if bytes == self.saved {
            return;
        }
        match atomic_write(&self.path, &bytes) {
            Ok(()) => self.saved = bytes,
            Err(e) => error!("cannot persist the transfer queue: {e}"),
        }
    }

    /// The reports for the next session's CPE requests.
    pub fn reports(&self) -> Vec<Rpc> {
        self.queue.reports()
    }

    /// The ACS acknowledged a TransferComplete or AutonomousTransferComplete.
    pub fn acknowledged(&mut self, report: &Rpc) {
        if self.queue.acknowledge(report) {
            self.save();
        }
    }

    /// What the event queue needs so results and events agree (call at start).
    pub fn reconcile(&self, events: &EventQueue) -> Reconcile {
        self.queue.reconcile(events)
    }

    /// The ACS URL changed: forget the old ACS's transfers.
    pub fn forget_acs_requests(&mut self) {
        self.queue.forget_acs_requests();
        self.save();
    }

    /// Notices a firmware image applied outside CWMP: at a system boot, a
    /// SoftwareVersion different from the one recorded before, with no
    /// firmware Download of the ACS behind it, is reported as an
    /// AutonomousTransferComplete (times and URL unknown). Returns its event.
    pub fn note_software_version(&mut self, version: &str, system_boot: bool) -> Option<Event> {
        let previous = crate::fsutil::read_text(&self.version_path)
            .ok()
            .map(|v| v.trim().to_owned());
        if previous.as_deref() != Some(version) {
            if let Err(e) = atomic_write(&self.version_path, version.as_bytes()) {
                error!("cannot record the software version: {e}");
            }
        }
        let changed = previous.is_some_and(|p| p != version);
        if !(changed && system_boot && !self.firmware_via_cwmp) {
            return None;
        }
        info!("firmware changed outside CWMP (now {version}): AutonomousTransferComplete");
        let event = self.queue.add_autonomous(TransferResult {
            id: 0,
            kind: TransferKind::Download,
            command_key: None,
            fault: None,
            fault_text: String::new(),
            start_time: 0,
            complete_time: 0,
            stage: ResultStage::Reportable,
            file_type: FIRMWARE_TYPE.into(),
            file_size: 0,
            target_file_name: String::new(),
            url: String::new(),
        });
        self.save();
        Some(event)
    }

    /// Whether `token` is one of the transfer sockets.
    pub fn owns(&self, token: Token) -> bool {
        token == self.tokens.http
            || token == self.tokens.ftp_control
            || token == self.tokens.ftp_data
    }

    /// The next instant the loop must call [`Transfers::handle_timeout`].
    /// `idle`: no CWMP session is running.
    pub fn poll_at(&self, now: Instant, unix: i64, idle: bool) -> Option<Instant> {
        let io = match self.active.as_ref().map(|a| &a.work) {
            Some(Work::Http) => self.http.poll_at(),
            Some(Work::Ftp(ftp)) => Some(ftp.poll_at()),
            Some(Work::Preparing(run)) | Some(Work::Applying { run, .. }) => Some(run.next_check),
            None => None,
        };
        let queue = self
            .queue
            .poll_at(unix, idle && self.active.is_none())
            .map(|at| {
                now + Duration::from_secs(u64::try_from(at.saturating_sub(unix)).unwrap_or(0))
            });
        [io, queue].into_iter().flatten().min()
    }

    /// Readiness of a transfer socket. Returns events to trigger.
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &MioEvent,
        now: Instant,
        unix: i64,
    ) -> Vec<Event> {
        let outcome = match self.active.as_mut().map(|a| &mut a.work) {
            Some(Work::Http) => self
                .http
                .handle_event(registry, event, now)
                .map(IoOutcome::Http),
            Some(Work::Ftp(ftp)) => ftp.handle_event(registry, event, now).map(IoOutcome::Ftp),
            _ => None,
        };
        let mut events = Vec::new();
        if let Some(outcome) = outcome {
            self.on_io_done(registry, outcome, now, unix, &mut events);
        }
        events
    }

    /// Timers: I/O deadlines, command polling, and starting due transfers.
    /// Returns events to trigger.
    pub fn handle_timeout(
        &mut self,
        registry: &Registry,
        now: Instant,
        unix: i64,
        idle: bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let outcome = match self.active.as_mut().map(|a| &mut a.work) {
            Some(Work::Http) => self.http.handle_timeout(registry, now).map(IoOutcome::Http),
            Some(Work::Ftp(ftp)) => ftp.handle_timeout(registry, now).map(IoOutcome::Ftp),
            Some(Work::Preparing(run)) => run.poll(now).map(IoOutcome::Prepared),
            Some(Work::Applying { run, .. }) => run.poll(now).map(IoOutcome::Applied),
            None => None,
        };
        if let Some(outcome) = outcome {
            self.on_io_done(registry, outcome, now, unix, &mut events);
        }
        if self.active.is_none() {
            let due = self.queue.take_due(unix, idle);
            events.extend(due.events);
            if let Some(transfer) = due.start {
                self.save();
                self.begin(registry, transfer, now, unix, &mut events);
            }
            self.save();
        }
        events
    }

    fn finish(&mut self, id: u64, finish: Finish, unix: i64, events: &mut Vec<Event>) {
        match &finish {
            Finish::Failed(code, text) => {
                warn!("transfer {id} failed: {} {text}", code.code());
            }
            _ => info!("transfer {id} succeeded"),
        }
        events.extend(self.queue.finish(id, finish, unix));
        self.save();
    }

    fn fail_active(&mut self, code: FaultCode, text: String, unix: i64, events: &mut Vec<Event>) {
        if let Some(active) = self.active.take() {
            let _ = fs::remove_file(&active.file);
            self.finish(active.transfer.id, Finish::Failed(code, text), unix, events);
        }
    }

    /// Starts transfer `t` (already marked in progress).
    fn begin(
        &mut self,
        registry: &Registry,
        transfer: Transfer,
        now: Instant,
        unix: i64,
        events: &mut Vec<Event>,
    ) {
        // icwmp's words, with the URL's credentials masked.
        info!(
            "Launch {} file {}",
            if transfer.kind.is_download() {
                "download"
            } else {
                "upload"
            },
            crate::redact::url(&transfer.url)
        );
        debug!(
            "transfer {}: {} ({})",
            transfer.id,
            transfer.kind.as_str(),
            transfer.file_type
        );
        let failure = transfer.kind.failure();
        if let Err(e) = fs::create_dir_all(&self.settings.download_dir) {
            self.active = Some(Active {
                file: PathBuf::new(),
                transfer,
                work: Work::Http,
            });
            return self.fail_active(failure, format!("download directory: {e}"), unix, events);
        }
        let file = self
            .settings
            .download_dir
            .join(format!("transfer-{}.part", transfer.id));
        let kind = transfer.kind;
        let file_type = transfer.file_type.clone();
        self.active = Some(Active {
            transfer,
            file: file.clone(),
            work: Work::Http,
        });
        if kind == TransferKind::Upload {
            let template = match UploadFileType::parse(&file_type) {
                Some(UploadFileType::VendorConfigurationFile(None)) => {
                    self.settings.config_upload_command.clone()
                }
                Some(UploadFileType::VendorLogFile(None)) => {
                    self.settings.log_upload_command.clone()
                }
                _ => String::new(),
            };
            if template.is_empty() {
                return self.fail_active(failure, "unsupported FileType".into(), unix, events);
            }
            let line = command_line(&template, &file, &file_type);
            match Running::spawn(&line, self.settings.command_timeout, now) {
                Ok(run) => {
                    if let Some(active) = self.active.as_mut() {
                        active.work = Work::Preparing(run);
                    }
                }
                Err(e) => {
                    self.fail_active(failure, format!("cannot run '{line}': {e}"), unix, events)
                }
            }
            return;
        }
        let size = self
            .active
            .as_ref()
            .map_or(0, |a| u64::from(a.transfer.file_size));
        if size > 0 {
            match crate::sys::free_space(&self.settings.download_dir) {
                Ok(free) if free < size => {
                    return self.fail_active(
                        FaultCode::DownloadFailure,
                        format!("insufficient space: {size} bytes needed, {free} free"),
                        unix,
                        events,
                    );
                }
                Ok(_) => {}
                Err(e) => warn!("cannot check free space: {e}"),
            }
        }
        self.start_io(registry, now, unix, events);
    }

    /// Starts the network part of the active transfer.
    fn start_io(&mut self, registry: &Registry, now: Instant, unix: i64, events: &mut Vec<Event>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let t = &active.transfer;
        let download = t.kind.is_download();
        let failure = t.kind.failure();
        let result = match Scheme::of(&t.url) {
            None => Err((
                FaultCode::UnsupportedProtocol,
                format!("unsupported URL {}", t.url),
            )),
            Some(Scheme::Ftp) => match FtpUrl::parse(&t.url) {
                Err(e) => Err((FaultCode::UnsupportedProtocol, e.to_string())),
                Ok(url) => {
                    let tokens = FtpTokens {
                        control: self.tokens.ftp_control,
                        data: self.tokens.ftp_data,
                    };
                    let direction = if download {
                        Direction::Retrieve
                    } else {
                        Direction::Store
                    };
                    FtpClient::start(
                        registry,
                        tokens,
                        &url,
                        &t.username,
                        &t.password,
                        direction,
                        &active.file,
                        u64::from(t.file_size),
                        self.settings.idle_timeout,
                        now,
                    )
                    .map(|ftp| active.work = Work::Ftp(Box::new(ftp)))
                    .map_err(|e| ftp_fault(&e, t.kind))
                }
            },
            Some(Scheme::Http | Scheme::Https) => {
                self.http
                    .set_credentials((!t.username.is_empty()).then(|| Credentials {
                        username: t.username.clone(),
                        password: t.password.clone(),
                    }));
                let request = Request {
                    method: if download { Method::Get } else { Method::Put },
                    url: t.url.clone(),
                    headers: Vec::new(),
                    body: if download {
                        RequestBody::Empty
                    } else {
                        RequestBody::File(active.file.clone())
                    },
                    content_type: (!download).then(|| "application/octet-stream".to_owned()),
                    sink: if download {
                        BodySink::File(active.file.clone())
                    } else {
                        BodySink::Memory
                    },
                };
                active.work = Work::Http;
                self.http
                    .start(registry, self.tokens.http, request, now)
                    .map_err(|e| http_fault(&e, t.kind))
            }
        };
        if let Err((code, text)) = result {
            let code = if code == FaultCode::DownloadFailure {
                failure
            } else {
                code
            };
            self.fail_active(code, text, unix, events);
        }
    }

    fn on_io_done(
        &mut self,
        registry: &Registry,
        outcome: IoOutcome,
        now: Instant,
        unix: i64,
        events: &mut Vec<Event>,
    ) {
        let Some((kind, id)) = self
            .active
            .as_ref()
            .map(|a| (a.transfer.kind, a.transfer.id))
        else {
            return;
        };
        // The network part's verdict: the byte count on success.
        let transferred: Result<u64, (FaultCode, String)> = match outcome {
            IoOutcome::Http(HttpOutcome::Error(e)) => {
                self.http.close(registry);
                Err(http_fault(&e, kind))
            }
            IoOutcome::Http(HttpOutcome::Response(response)) => {
                self.http.close(registry);
                let len = match response.body {
                    ResponseBody::File { len, .. } => len,
                    ResponseBody::Memory(_) => 0,
                };
                match response.status {
                    200..=299 => Ok(len),
                    401 | 407 => Err((
                        FaultCode::TransferAuthFailure,
                        format!("HTTP {}", response.status),
                    )),
                    403 | 404 | 410 if kind.is_download() => Err((
                        FaultCode::FileAccessFailure,
                        format!("HTTP {}", response.status),
                    )),
                    status => Err((kind.failure(), format!("HTTP {status}"))),
                }
            }
            IoOutcome::Ftp(result) => {
                if let Some(active) = self.active.as_mut() {
                    if let Work::Ftp(ftp) = std::mem::replace(&mut active.work, Work::Http) {
                        ftp.close(registry);
                    }
                }
                result.map_err(|e| ftp_fault(&e, kind))
            }
            IoOutcome::Prepared(result) => {
                match result {
                    Ok(()) => self.start_io(registry, now, unix, events),
                    Err(e) => self.fail_active(
                        FaultCode::UploadFailure,
                        format!("cannot produce the file: {e}"),
                        unix,
                        events,
                    ),
                }
                return;
            }
            IoOutcome::Applied(result) => {
                let Some(Active { file, work, .. }) = self.active.take() else {
                    return;
                };
                let firmware = matches!(work, Work::Applying { firmware: true, .. });
                match (result, firmware) {
                    // The device is about to reboot into the image; the report waits for the boot.
                    (Ok(()), true) => info!("firmware image applied, waiting for the reboot"),
                    (Err(e), true) => {
                        let _ = fs::remove_file(&file);
                        events.extend(self.queue.firmware_failed(
                            id,
                            format!("applying the firmware image: {e}"),
                            unix,
                        ));
                        self.save();
                    }
                    (Ok(()), false) => {
                        let _ = fs::remove_file(&file);
                        self.finish(id, Finish::Success, unix, events);
                    }
                    (Err(e), false) => {
                        let _ = fs::remove_file(&file);
                        self.finish(
                            id,
                            Finish::Failed(
                                FaultCode::DownloadFailure,
                                format!("applying the file: {e}"),
                            ),
                            unix,
                            events,
                        );
                    }
                }
                return;
            }
        };
        match transferred {
            Err((code, text)) => self.fail_active(code, text, unix, events),
            Ok(len) => self.transferred(len, now, unix, events),
        }
    }

    /// The network part succeeded with `len` bytes.
    fn transferred(&mut self, len: u64, now: Instant, unix: i64, events: &mut Vec<Event>) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        let t = active.transfer.clone();
        let file = active.file.clone();
        if !t.kind.is_download() {
            self.active = None;
            let _ = fs::remove_file(&file);
            return self.finish(t.id, Finish::Success, unix, events);
        }
        if t.file_size != 0 && len != u64::from(t.file_size) {
            return self.fail_active(
                FaultCode::FileCorrupted,
                format!("received {len} bytes, FileSize is {}", t.file_size),
                unix,
                events,
            );
        }
        if !self.settings.exec_download {
            self.active = None;
            let kept = self
                .settings
                .download_dir
                .join(kept_name(&t.target_file_name, t.id));
            if let Err(e) = fs::rename(&file, &kept) {
                let _ = fs::remove_file(&file);
                return self.finish(
                    t.id,
                    Finish::Failed(FaultCode::DownloadFailure, format!("keeping the file: {e}")),
                    unix,
                    events,
                );
            }
            info!(
                "transfer {}: kept as {} (exec_download is off)",
                t.id,
                kept.display()
            );
            return self.finish(t.id, Finish::Success, unix, events);
        }
        let (template, firmware) = match DownloadFileType::parse(&t.file_type) {
            Some(DownloadFileType::FirmwareUpgradeImage) => {
                (self.settings.firmware_apply_command.clone(), true)
            }
            Some(DownloadFileType::VendorConfigurationFile) => {
                (self.settings.vendor_config_apply_command.clone(), false)
            }
            _ => (self.settings.download_apply_command.clone(), false),
        };
        if template.is_empty() {
            return self.fail_active(
                FaultCode::DownloadFailure,
                "unsupported FileType".into(),
                unix,
                events,
            );
        }
        if firmware {
            // Persisted before the image runs: the reboot it causes must not lose the report.
            self.finish(t.id, Finish::SuccessAfterBoot, unix, events);
        }
        let line = command_line(&template, &file, &t.file_type);
        match Running::spawn(&line, self.settings.command_timeout, now) {
            Ok(run) => {
                if let Some(active) = self.active.as_mut() {
                    active.work = Work::Applying { run, firmware };
                }
            }
            Err(e) => {
                self.active = None;
                let _ = fs::remove_file(&file);
                let text = format!("cannot run '{line}': {e}");
                if firmware {
                    events.extend(self.queue.firmware_failed(t.id, text, unix));
                    self.save();
                } else {
                    self.finish(
                        t.id,
                        Finish::Failed(FaultCode::DownloadFailure, text),
                        unix,
                        events,
                    );
                }
            }
        }
    }
}

/// How the active transfer's current step ended.
enum IoOutcome {
    Http(HttpOutcome),
    Ftp(Result<u64, FtpFailure>),
    Prepared(Result<(), String>),
    Applied(Result<(), String>),
}

/// The single mapping of HTTP client errors to transfer faults.
fn http_fault(e: &HttpError, kind: TransferKind) -> (FaultCode, String) {
    let code = match e {
        HttpError::Dns(_) | HttpError::Connect(_) | HttpError::Tls(_) => {
            FaultCode::ServerUnreachable
        }
        HttpError::Timeout("connecting") => FaultCode::ServerUnreachable,
        HttpError::AuthFailed => FaultCode::TransferAuthFailure,
        HttpError::InvalidUrl(_) => FaultCode::UnsupportedProtocol,
        HttpError::Timeout(_) | HttpError::Io(_) | HttpError::Protocol(_) if kind.is_download() => {
            FaultCode::DownloadIncomplete
        }
        _ => kind.failure(),
    };
    (code, e.to_string())
}

/// The single mapping of FTP failures to transfer faults.
fn ftp_fault(e: &FtpFailure, kind: TransferKind) -> (FaultCode, String) {
    let code = match e {
        FtpFailure::Unreachable(_) => FaultCode::ServerUnreachable,
        FtpFailure::Server(FtpError::AuthFailed(_)) => FaultCode::TransferAuthFailure,
        FtpFailure::Server(FtpError::NotFound(_)) => FaultCode::FileAccessFailure,
        FtpFailure::Server(FtpError::SizeMismatch { .. }) => FaultCode::FileCorrupted,
        FtpFailure::Server(FtpError::InvalidUrl(_)) => FaultCode::UnsupportedProtocol,
        FtpFailure::Server(FtpError::Incomplete(_)) | FtpFailure::Broken(_)
            if kind.is_download() =>
        {
            FaultCode::DownloadIncomplete
        }
        _ => kind.failure(),
    };
    (code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_their_arguments() {
        assert_eq!(
            command_line(
                "sysupgrade {file}",
                Path::new("/tmp/a b'c"),
                "1 Firmware Upgrade Image"
            ),
            "sysupgrade '/tmp/a b'\\''c'"
        );
        assert_eq!(
            command_line("handle {type} {file}", Path::new("/f"), "X 00256D A"),
            "handle 'X 00256D A' '/f'"
        );
    }

    #[test]
    fn kept_names_stay_in_the_directory() {
        assert_eq!(kept_name("fw.bin", 3), "fw.bin");
        assert_eq!(kept_name("../../etc/passwd", 3), "passwd");
        assert_eq!(kept_name("dir/", 3), "download-3");
        assert_eq!(kept_name("..", 3), "download-3");
        assert_eq!(kept_name(".hidden", 3), "download-3");
        assert_eq!(kept_name("", 4), "download-4");
    }

    #[test]
    fn errors_map_to_transfer_faults() {
        let d = TransferKind::Download;
        let u = TransferKind::Upload;
        assert_eq!(
            http_fault(&HttpError::Connect("refused".into()), d).0,
            FaultCode::ServerUnreachable
        );
        assert_eq!(
            http_fault(&HttpError::AuthFailed, u).0,
            FaultCode::TransferAuthFailure
        );
        assert_eq!(
            http_fault(&HttpError::Io("reset".into()), d).0,
            FaultCode::DownloadIncomplete
        );
        assert_eq!(
            http_fault(&HttpError::Io("reset".into()), u).0,
            FaultCode::UploadFailure
        );
        assert_eq!(
            ftp_fault(&FtpFailure::Server(FtpError::NotFound("550".into())), d).0,
            FaultCode::FileAccessFailure
        );
        assert_eq!(
            ftp_fault(
                &FtpFailure::Server(FtpError::SizeMismatch {
                    expected: 1,
                    actual: 2
                }),
                d
            )
            .0,
            FaultCode::FileCorrupted
        );
        assert_eq!(
            ftp_fault(&FtpFailure::Broken("x".into()), u).0,
            FaultCode::UploadFailure
        );
    }
}
