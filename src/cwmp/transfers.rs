//! The file transfer queue of TR-069 A.3.2.8/A.4.1.5/A.4.1.8: accepted Download, ScheduleDownload and Upload requests, their time windows, and results until the ACS acknowledges them.
//!
//! Pure: every method takes the wall-clock time (unix seconds) as an
//! argument; the I/O shell (`transport::transfer`) asks [`TransferQueue::take_due`]
//! what to start and reports back with [`TransferQueue::finish`].
//!
//! Life of a transfer: queued (State 1) → in progress (2) → a result that
//! waits for its TransferComplete to be acknowledged (State 3 in the queue
//! lists). A firmware image's result is recorded *before* the image is
//! applied and held until the next boot ([`ResultStage::AwaitingBoot`]), so
//! the report survives the reboot the image causes. The whole queue
//! persists as versioned text ([`TransferQueue::to_bytes`]), credentials
//! included: a transfer accepted before a power cut must still be able to
//! authenticate afterwards, so the state directory must stay root-only.
//!
//! Restart rules ([`TransferQueue::after_restart`]): a transfer that was in
//! progress when the daemon died starts again from scratch (or fails with
//! 9020 when its last time window has passed); a result is never lost and,
//! because results and their events are reconciled at start
//! ([`TransferQueue::reconcile`]), never reported twice.

use std::fmt;

use crate::cwmp::events::{CompletionRpc, Event, EventCode, EventQueue};
use crate::cwmp::fault::{Fault, FaultCode};
use crate::quoted::Quoted;
use crate::records::{self, RecordError};
use crate::wire::soap::{
    AllQueuedTransfer, AutonomousTransferComplete, DateTime, Download, FaultStruct, QueuedTransfer,
    Rpc, ScheduleDownload, TransferComplete, TransferState, Upload,
};

/// The most transfers (queued, running and unreported) held at once;
/// beyond it a request gets fault 9004 (A.3.2.8: "resources exceeded").
pub const MAX_TRANSFERS: usize = 16;

/// Attempts a time window allows when its MaxRetries is -1 ("the CPE decides").
const DEFAULT_WINDOW_RETRIES: u32 = 2;

/// Seconds between attempts inside a time window.
pub const WINDOW_RETRY_DELAY: i64 = 30;

/// First line of the persisted queue; the number is the format version.
const FILE_HEADER: &str = "icwmp-transfers 1";

/// Which RPC asked for a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    Download,
    ScheduledDownload,
    Upload,
}

impl TransferKind {
    /// The `M <method>` event its TransferComplete travels with.
    pub fn event_code(self) -> EventCode {
        match self {
            TransferKind::Download => EventCode::MDownload,
            TransferKind::ScheduledDownload => EventCode::MScheduleDownload,
            TransferKind::Upload => EventCode::MUpload,
        }
    }

    pub fn is_download(self) -> bool {
        self != TransferKind::Upload
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Download => "download",
            TransferKind::ScheduledDownload => "scheduled",
            TransferKind::Upload => "upload",
        }
    }

    fn parse(text: &str) -> Option<TransferKind> {
        [
            TransferKind::Download,
            TransferKind::ScheduledDownload,
            TransferKind::Upload,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// The generic failure fault of this direction (A.5: 9010 or 9011).
    pub fn failure(self) -> FaultCode {
        if self.is_download() {
            FaultCode::DownloadFailure
        } else {
            FaultCode::UploadFailure
        }
    }
}

/// The Download FileTypes of TR-069 A.3.2.8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadFileType {
    FirmwareUpgradeImage,
    WebContent,
    VendorConfigurationFile,
    ToneFile,
    RingerFile,
    /// `X <OUI> <name>`, kept whole.
    Vendor(String),
}

impl DownloadFileType {
    /// The type of a wire string; `None` if it is not a Download FileType.
    pub fn parse(text: &str) -> Option<DownloadFileType> {
        Some(match text {
            "1 Firmware Upgrade Image" => DownloadFileType::FirmwareUpgradeImage,
            "2 Web Content" => DownloadFileType::WebContent,
            "3 Vendor Configuration File" => DownloadFileType::VendorConfigurationFile,
            "4 Tone File" => DownloadFileType::ToneFile,
            "5 Ringer File" => DownloadFileType::RingerFile,
            _ if is_vendor_type(text) => DownloadFileType::Vendor(text.to_owned()),
            _ => return None,
        })
    }
}

/// The Upload FileTypes of TR-069 A.4.1.5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadFileType {
    /// `1 Vendor Configuration File`, or `3 Vendor Configuration File <i>`.
    VendorConfigurationFile(Option<u32>),
    /// `2 Vendor Log File`, or `4 Vendor Log File <i>`.
    VendorLogFile(Option<u32>),
    Vendor(String),
}

impl UploadFileType {
    /// The type of a wire string; `None` if it is not an Upload FileType.
    pub fn parse(text: &str) -> Option<UploadFileType> {
        let instance = |rest: &str| {
            rest.parse::<u32>()
                .ok()
                .filter(|n| *n > 0 && !rest.starts_with('0'))
        };
        Some(match text {
            "1 Vendor Configuration File" => UploadFileType::VendorConfigurationFile(None),
            "2 Vendor Log File" => UploadFileType::VendorLogFile(None),
            _ if is_vendor_type(text) => UploadFileType::Vendor(text.to_owned()),
            _ => {
                if let Some(n) = text
                    .strip_prefix("3 Vendor Configuration File ")
                    .and_then(instance)
                {
                    UploadFileType::VendorConfigurationFile(Some(n))
                } else if let Some(n) = text.strip_prefix("4 Vendor Log File ").and_then(instance) {
                    UploadFileType::VendorLogFile(Some(n))
                } else {
                    return None;
                }
            }
        })
    }
}

/// `X <OUI or name> <type>` (cwmp-1-2.xsd `DownloadFileType`), at most 64 characters.
fn is_vendor_type(text: &str) -> bool {
    text.len() <= 64
        && text.strip_prefix("X ").is_some_and(|rest| {
            let mut parts = rest.splitn(2, ' ');
            let oui = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            !oui.is_empty() && !name.trim().is_empty() && !text.chars().any(char::is_control)
        })
}

/// The URL schemes transfers speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    Ftp,
}

impl Scheme {
    /// The scheme of `url`, case-insensitive; `None` for any other scheme.
    pub fn of(url: &str) -> Option<Scheme> {
        let (scheme, rest) = url.split_once("://")?;
        if rest.is_empty() {
            return None;
        }
        match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "ftp" => Some(Scheme::Ftp),
            _ => None,
        }
    }
}

/// What this CPE can do with transfers, derived from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferPolicy {
    /// `exec_download`: downloads are applied; otherwise every Download
    /// FileType is accepted and the file is only stored.
    pub execute_downloads: bool,
    /// Whether a command is configured for each download FileType.
    pub firmware: bool,
    pub vendor_config: bool,
    /// Web content, tone and ringer files and vendor types.
    pub other_downloads: bool,
    /// Whether a command produces each upload FileType.
    pub config_upload: bool,
    pub log_upload: bool,
}

impl TransferPolicy {
    fn accepts_download(&self, file_type: &DownloadFileType) -> bool {
        !self.execute_downloads
            || match file_type {
                DownloadFileType::FirmwareUpgradeImage => self.firmware,
                DownloadFileType::VendorConfigurationFile => self.vendor_config,
                _ => self.other_downloads,
            }
    }

    fn accepts_upload(&self, file_type: &UploadFileType) -> bool {
        match file_type {
            UploadFileType::VendorConfigurationFile(None) => self.config_upload,
            UploadFileType::VendorLogFile(None) => self.log_upload,
            _ => false,
        }
    }
}

/// `WindowMode` of a ScheduleDownload time window (A.4.1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowMode {
    AtAnyTime,
    Immediately,
    /// Started only while no CWMP session is running: the one sign of
    /// activity this agent can observe without a user interface.
    WhenIdle,
}

impl WindowMode {
    /// The mode of a wire string. `4 Confirmation Needed` needs a user
    /// interface this CPE does not have, and vendor modes are unknown: both
    /// are refused (`None`), which the caller reports as fault 9003.
    pub fn parse(text: &str) -> Option<WindowMode> {
        match text {
            "1 At Any Time" => Some(WindowMode::AtAnyTime),
            "2 Immediately" => Some(WindowMode::Immediately),
            "3 When Idle" => Some(WindowMode::WhenIdle),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            WindowMode::AtAnyTime => 1,
            WindowMode::Immediately => 2,
            WindowMode::WhenIdle => 3,
        }
    }

    fn from_code(code: u8) -> Option<WindowMode> {
        match code {
            1 => Some(WindowMode::AtAnyTime),
            2 => Some(WindowMode::Immediately),
            3 => Some(WindowMode::WhenIdle),
            _ => None,
        }
    }
}

/// When a transfer may start: `[start, end]` in unix seconds, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    /// `i64::MAX` for a Download's or Upload's open-ended "after DelaySeconds".
    pub end: i64,
    pub mode: WindowMode,
    /// Attempts allowed in this window after the first.
    pub retries: u32,
}

impl Window {
    /// The single window of a Download or Upload: any time from DelaySeconds after `now`.
    fn after_delay(now: i64, delay_seconds: u32) -> Window {
        Window {
            start: now.saturating_add(i64::from(delay_seconds)),
            end: i64::MAX,
            mode: WindowMode::AtAnyTime,
            retries: 0,
        }
    }
}

/// Where a queued transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Queued,
    InProgress,
}

/// One accepted transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Unique in this queue; names the transfer's temporary file.
    pub id: u64,
    pub kind: TransferKind,
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    /// 0: unknown.
    pub file_size: u32,
    pub target_file_name: String,
    /// Chronological and non-overlapping; one open window for Download and Upload.
    pub windows: Vec<Window>,
    /// No attempt before this time (a retry's delay).
    pub not_before: i64,
    pub phase: Phase,
    /// When the current attempt started.
    pub started_at: Option<i64>,
    /// Failed attempts so far.
    pub failures: u32,
}

/// Whether a result can be reported yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultStage {
    /// Its TransferComplete goes in the next session.
    Reportable,
    /// A firmware image is being applied; the report waits for the boot.
    AwaitingBoot,
}

/// A finished transfer waiting for the ACS to acknowledge its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferResult {
    pub id: u64,
    pub kind: TransferKind,
    /// `None`: the CPE started it on its own (AutonomousTransferComplete).
    pub command_key: Option<String>,
    pub fault: Option<FaultCode>,
    pub fault_text: String,
    /// 0: unknown time.
    pub start_time: i64,
    pub complete_time: i64,
    pub stage: ResultStage,
    pub file_type: String,
    pub file_size: u32,
    pub target_file_name: String,
    /// The autonomous transfer's URL (empty when unknown).
    pub url: String,
}

impl TransferResult {
    fn date(secs: i64) -> DateTime {
        if secs <= 0 {
            DateTime::unknown()
        } else {
            DateTime::from_unix(secs)
        }
    }

    fn fault_struct(&self) -> FaultStruct {
        FaultStruct {
            code: self.fault,
            text: if self.fault.is_some() {
                self.fault_text.clone()
            } else {
                String::new()
            },
        }
    }

    /// The report the ACS gets: TransferComplete or AutonomousTransferComplete.
    pub fn report(&self) -> Rpc {
        match &self.command_key {
            Some(key) => Rpc::TransferComplete(TransferComplete {
                command_key: key.clone(),
                fault: self.fault_struct(),
                start_time: Self::date(self.start_time),
                complete_time: Self::date(self.complete_time),
            }),
            None => Rpc::AutonomousTransferComplete(AutonomousTransferComplete {
                announce_url: String::new(),
                transfer_url: self.url.clone(),
                is_download: self.kind.is_download(),
                file_type: self.file_type.clone(),
                file_size: self.file_size,
                target_file_name: self.target_file_name.clone(),
                fault: self.fault_struct(),
                start_time: Self::date(self.start_time),
                complete_time: Self::date(self.complete_time),
            }),
        }
    }

    /// The event announcing the report.
    pub fn event(&self) -> Event {
        match &self.command_key {
            Some(key) => Event::with_key(self.kind.event_code(), key),
            None => Event::new(EventCode::AutonomousTransferComplete),
        }
    }
}

/// How a transfer attempt ended, as the shell reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    Success,
    /// Success; the file is a firmware image about to be applied, report after the boot.
    SuccessAfterBoot,
    Failed(FaultCode, String),
}

/// What [`TransferQueue::take_due`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Start this transfer now (it is marked in progress).
    pub start: Option<Transfer>,
    /// Events of transfers that failed because their windows passed.
    pub events: Vec<Event>,
}

/// What the start of the daemon must do to the event queue so that every
/// reportable result has exactly its event and no event lacks a result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconcile {
    pub add: Vec<Event>,
    /// Acknowledge these away: events whose result is gone.
    pub drop: Vec<(CompletionRpc, String)>,
}

/// Persisted queue file errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferError {
    BadHeader,
    BadLine { line: usize, reason: &'static str },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::BadHeader => {
                write!(f, "transfer queue file has no '{FILE_HEADER}' header")
            }
            TransferError::BadLine { line, reason } => {
                write!(f, "transfer queue file line {line}: {reason}")
            }
        }
    }
}

impl std::error::Error for TransferError {}

/// The queue: transfers in arrival order, then unacknowledged results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferQueue {
    transfers: Vec<Transfer>,
    results: Vec<TransferResult>,
    next_id: u64,
}

fn invalid(text: impl Into<String>) -> Fault {
    Fault::with_text(FaultCode::InvalidArguments, text)
}

/// The fault for a URL this CPE cannot fetch (A.3.2.8: 9013).
fn check_url(url: &str) -> Result<(), Fault> {
    if url.is_empty() {
        return Err(invalid("empty URL"));
    }
    if Scheme::of(url).is_none() {
        return Err(Fault::with_text(
            FaultCode::UnsupportedProtocol,
            format!("unsupported URL scheme in {url}"),
        ));
    }
    Ok(())
}

/// Where a queued transfer stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Readiness {
    StartNow,
    /// Look again at this time.
    At(i64),
    /// Waiting for the CPE to become idle (until the window ends).
    Idle(i64),
    /// Every window has passed.
    Missed,
}

fn readiness(transfer: &Transfer, now: i64, idle: bool) -> Readiness {
    for window in &transfer.windows {
        if now > window.end {
            continue;
        }
        let from = window.start.max(transfer.not_before);
        if from > window.end {
            continue;
        }
        if now < from {
            return Readiness::At(from);
        }
        if window.mode == WindowMode::WhenIdle && !idle {
            return Readiness::Idle(window.end.saturating_add(1));
        }
        return Readiness::StartNow;
    }
    Readiness::Missed
}

impl TransferQueue {
    pub fn new() -> TransferQueue {
        TransferQueue::default()
    }

    /// Queued and running transfers, in arrival order.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// Results not yet acknowledged.
    pub fn results(&self) -> &[TransferResult] {
        &self.results
    }

    fn take_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn check_room(&self) -> Result<(), Fault> {
        if self.transfers.len() + self.results.len() >= MAX_TRANSFERS {
            return Err(Fault::with_text(
                FaultCode::ResourcesExceeded,
                format!("at most {MAX_TRANSFERS} transfers can be queued"),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: TransferKind,
        command_key: &str,
        file_type: &str,
        url: &str,
        username: &str,
        password: &str,
        file_size: u32,
        target_file_name: &str,
        windows: Vec<Window>,
    ) {
        let id = self.take_id();
        self.transfers.push(Transfer {
            id,
            kind,
            command_key: command_key.to_owned(),
            file_type: file_type.to_owned(),
            url: url.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            file_size,
            target_file_name: target_file_name.to_owned(),
            windows,
            not_before: 0,
            phase: Phase::Queued,
            started_at: None,
            failures: 0,
        });
    }

    fn check_download_type(file_type: &str, policy: &TransferPolicy) -> Result<(), Fault> {
        let parsed = DownloadFileType::parse(file_type)
            .ok_or_else(|| invalid(format!("unknown FileType {}", Quoted(file_type))))?;
        if !policy.accepts_download(&parsed) {
            return Err(Fault::with_text(
                FaultCode::DownloadFailure,
                format!(
                    "FileType {} is not supported by this CPE",
                    Quoted(file_type)
                ),
            ));
        }
        Ok(())
    }

    /// Accepts a Download (A.3.2.8): it starts DelaySeconds after `now`.
    pub fn add_download(
        &mut self,
        request: &Download,
        policy: &TransferPolicy,
        now: i64,
    ) -> Result<(), Fault> {
        Self::check_download_type(&request.file_type, policy)?;
        check_url(&request.url)?;
        self.check_room()?;
        let window = Window::after_delay(now, request.delay_seconds);
        self.push(
            TransferKind::Download,
            &request.command_key,
            &request.file_type,
            &request.url,
            &request.username,
            &request.password,
            request.file_size,
            &request.target_file_name,
            vec![window],
        );
        Ok(())
    }

    /// Accepts an Upload (A.4.1.5): it starts DelaySeconds after `now`.
    pub fn add_upload(
        &mut self,
        request: &Upload,
        policy: &TransferPolicy,
        now: i64,
    ) -> Result<(), Fault> {
        let parsed = UploadFileType::parse(&request.file_type)
            .ok_or_else(|| invalid(format!("unknown FileType {}", Quoted(&request.file_type))))?;
        if !policy.accepts_upload(&parsed) {
            return Err(Fault::with_text(
                FaultCode::UploadFailure,
                format!(
                    "FileType {} is not supported by this CPE",
                    Quoted(&request.file_type)
                ),
            ));
        }
        check_url(&request.url)?;
        self.check_room()?;
        let window = Window::after_delay(now, request.delay_seconds);
        self.push(
            TransferKind::Upload,
            &request.command_key,
            &request.file_type,
            &request.url,
            &request.username,
            &request.password,
            0,
            "",
            vec![window],
        );
        Ok(())
    }

    /// Accepts a ScheduleDownload (A.4.1.8). Its TimeWindowList must hold
    /// one or two windows, each with WindowEnd ≥ WindowStart, in
    /// chronological order and not overlapping, in a mode this CPE
    /// supports; anything else is fault 9003.
    pub fn add_schedule_download(
        &mut self,
        request: &ScheduleDownload,
        policy: &TransferPolicy,
        now: i64,
    ) -> Result<(), Fault> {
        Self::check_download_type(&request.file_type, policy)?;
        check_url(&request.url)?;
        if request.time_window_list.is_empty() || request.time_window_list.len() > 2 {
            return Err(invalid("TimeWindowList must hold one or two windows"));
        }
        let mut windows = Vec::with_capacity(2);
        for w in &request.time_window_list {
            if w.window_end < w.window_start {
                return Err(invalid("WindowEnd is before WindowStart"));
            }
            let mode = WindowMode::parse(&w.window_mode).ok_or_else(|| {
                invalid(format!(
                    "WindowMode {} is not supported",
                    Quoted(&w.window_mode)
                ))
            })?;
            if w.max_retries < -1 {
                return Err(invalid("MaxRetries below -1"));
            }
            let retries = u32::try_from(w.max_retries).unwrap_or(DEFAULT_WINDOW_RETRIES);
            windows.push(Window {
                start: now.saturating_add(i64::from(w.window_start)),
                end: now.saturating_add(i64::from(w.window_end)),
                mode,
                retries,
            });
        }
        if let [first, second] = windows.as_slice() {
            if second.start <= first.end {
                return Err(invalid(
                    "time windows must be chronological and must not overlap",
                ));
            }
        }
        self.check_room()?;
        self.push(
            TransferKind::ScheduledDownload,
            &request.command_key,
            &request.file_type,
            &request.url,
            &request.username,
            &request.password,
            request.file_size,
            &request.target_file_name,
            windows,
        );
        Ok(())
    }

    /// CancelTransfer (A.4.1.9): removes the not-yet-started transfers with
    /// this CommandKey. Fault 9021 when such a transfer is already in
    /// progress or completed, 9003 when none has this CommandKey.
    pub fn cancel(&mut self, command_key: &str) -> Result<(), Fault> {
        let running = self
            .transfers
            .iter()
            .any(|t| t.command_key == command_key && t.phase == Phase::InProgress);
        let completed = self
            .results
            .iter()
            .any(|r| r.command_key.as_deref() == Some(command_key));
        if running || completed {
            return Err(FaultCode::CancelNotPermitted.into());
        }
        let before = self.transfers.len();
        self.transfers.retain(|t| t.command_key != command_key);
        if self.transfers.len() == before {
            return Err(invalid(format!(
                "no transfer has CommandKey {}",
                Quoted(command_key)
            )));
        }
        Ok(())
    }

    /// The ACS's downloads for GetQueuedTransfers (A.4.1.3), results not yet
    /// acknowledged included as State 3.
    pub fn queued_transfers(&self) -> Vec<QueuedTransfer> {
        self.all_queued_transfers()
            .into_iter()
            .filter(|t| t.is_download)
            .map(|t| QueuedTransfer {
                command_key: t.command_key,
                state: t.state,
            })
            .collect()
    }

    /// Every ACS-requested transfer for GetAllQueuedTransfers (A.4.1.7).
    pub fn all_queued_transfers(&self) -> Vec<AllQueuedTransfer> {
        let running = self.transfers.iter().map(|t| AllQueuedTransfer {
            command_key: t.command_key.clone(),
            state: match t.phase {
                Phase::Queued => TransferState::NotYetStarted,
                Phase::InProgress => TransferState::InProgress,
            },
            is_download: t.kind.is_download(),
            file_type: t.file_type.clone(),
            file_size: t.file_size,
            target_file_name: t.target_file_name.clone(),
        });
        let done = self.results.iter().filter_map(|r| {
            Some(AllQueuedTransfer {
                command_key: r.command_key.clone()?,
                state: TransferState::Completed,
                is_download: r.kind.is_download(),
                file_type: r.file_type.clone(),
                file_size: r.file_size,
                target_file_name: r.target_file_name.clone(),
            })
        });
        running.chain(done).collect()
    }

    /// The transfer in progress, if any.
    pub fn in_progress(&self) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.phase == Phase::InProgress)
    }

    /// When [`TransferQueue::take_due`] must next run (unix seconds).
    /// `idle`: no CWMP session is running.
    pub fn poll_at(&self, now: i64, idle: bool) -> Option<i64> {
        let busy = self.in_progress().is_some();
        self.transfers
            .iter()
            .filter(|t| t.phase == Phase::Queued)
            .filter_map(|t| match readiness(t, now, idle) {
                Readiness::StartNow if busy => None,
                Readiness::StartNow | Readiness::Missed => Some(now),
                Readiness::At(at) | Readiness::Idle(at) => Some(at),
            })
            .min()
    }

    /// Fails the transfers whose windows have all passed (9020) and, when
    /// none is running, marks the first startable one in progress.
    pub fn take_due(&mut self, now: i64, idle: bool) -> Due {
        let mut due = Due::default();
        let missed: Vec<u64> = self
            .transfers
            .iter()
            .filter(|t| t.phase == Phase::Queued && readiness(t, now, idle) == Readiness::Missed)
            .map(|t| t.id)
            .collect();
        for id in missed {
            let fault = Finish::Failed(
                FaultCode::WindowMissed,
                "no time window left to start the download in".into(),
            );
            due.events.extend(self.finish(id, fault, now));
        }
        if self.in_progress().is_some() {
            return due;
        }
        if let Some(transfer) = self
            .transfers
            .iter_mut()
            .find(|t| t.phase == Phase::Queued && readiness(t, now, idle) == Readiness::StartNow)
        {
            transfer.phase = Phase::InProgress;
            transfer.started_at = Some(now);
            due.start = Some(transfer.clone());
        }
        due
    }

    /// Records how transfer `id` ended. A failure inside a time window that
    /// allows more attempts puts it back in the queue; otherwise it becomes
    /// a result and the event to trigger is returned (none while a firmware
    /// result waits for the boot).
    pub fn finish(&mut self, id: u64, finish: Finish, now: i64) -> Option<Event> {
        let index = self.transfers.iter().position(|t| t.id == id)?;
        if let Finish::Failed(..) = finish {
            let transfer = self.transfers.get_mut(index)?;
            let window = transfer
                .windows
                .iter()
                .find(|w| w.start <= now && now <= w.end)
                .copied();
            if let Some(window) = window {
                if transfer.failures < window.retries
                    && transfer.kind == TransferKind::ScheduledDownload
                {
                    transfer.failures += 1;
                    transfer.phase = Phase::Queued;
                    transfer.started_at = None;
                    transfer.not_before = now.saturating_add(WINDOW_RETRY_DELAY);
                    return None;
                }
            }
        }
        let transfer = self.transfers.remove(index);
        let (fault, fault_text, stage) = match finish {
            Finish::Success => (None, String::new(), ResultStage::Reportable),
            Finish::SuccessAfterBoot => (None, String::new(), ResultStage::AwaitingBoot),
            Finish::Failed(code, text) => (Some(code), text, ResultStage::Reportable),
        };
        let result = TransferResult {
            id: transfer.id,
            kind: transfer.kind,
            command_key: Some(transfer.command_key),
            fault,
            fault_text,
            start_time: transfer.started_at.unwrap_or(now),
            complete_time: now,
            stage,
            file_type: transfer.file_type,
            file_size: transfer.file_size,
            target_file_name: transfer.target_file_name,
            url: String::new(),
        };
        let event = (stage == ResultStage::Reportable).then(|| result.event());
        self.results.push(result);
        event
    }

    /// Applying the firmware image of transfer result `id` failed without a
    /// reboot: the result becomes a reportable 9010. Returns its event.
    pub fn firmware_failed(&mut self, id: u64, text: String, now: i64) -> Option<Event> {
        let result = self
            .results
            .iter_mut()
            .find(|r| r.id == id && r.stage == ResultStage::AwaitingBoot)?;
        result.stage = ResultStage::Reportable;
        result.fault = Some(FaultCode::DownloadFailure);
        result.fault_text = text;
        result.complete_time = now;
        Some(result.event())
    }

    /// Records a transfer the CPE made on its own (AutonomousTransferComplete). Returns its event.
    pub fn add_autonomous(&mut self, mut result: TransferResult) -> Event {
        result.id = self.take_id();
        result.command_key = None;
        result.stage = ResultStage::Reportable;
        let event = result.event();
        // A full queue drops the oldest autonomous report rather than the ACS's own.
        if self.transfers.len() + self.results.len() >= MAX_TRANSFERS {
            if let Some(i) = self.results.iter().position(|r| r.command_key.is_none()) {
                self.results.remove(i);
            }
        }
        self.results.push(result);
        event
    }

    /// The daemon restarted. A transfer that was in progress starts again
    /// from scratch, or fails with 9020 when no time window is left. A
    /// firmware result waiting for the boot is reported: as a success if
    /// the system did boot, as 9010 if only the daemon restarted.
    pub fn after_restart(&mut self, now: i64, system_boot: bool) {
        let mut missed = Vec::new();
        for transfer in &mut self.transfers {
            if transfer.phase == Phase::InProgress {
                transfer.phase = Phase::Queued;
                transfer.started_at = None;
                if readiness(transfer, now, true) == Readiness::Missed {
                    missed.push(transfer.id);
                }
            }
        }
        for id in missed {
            self.finish(
                id,
                Finish::Failed(
                    FaultCode::WindowMissed,
                    "interrupted, and no time window left to restart in".into(),
                ),
                now,
            );
        }
        for result in &mut self.results {
            if result.stage == ResultStage::AwaitingBoot {
                result.stage = ResultStage::Reportable;
                if system_boot {
                    result.complete_time = now;
                } else {
                    result.fault = Some(FaultCode::DownloadFailure);
                    result.fault_text = "the device did not reboot into the new firmware".into();
                }
            }
        }
    }

    /// Drops everything the previous ACS asked for (its URL changed; the
    /// new ACS bootstraps and never heard of these transfers).
    pub fn forget_acs_requests(&mut self) {
        self.transfers.retain(|t| t.phase == Phase::InProgress);
        self.results.retain(|r| r.command_key.is_none());
    }

    /// The reports for the next session, in completion order.
    pub fn reports(&self) -> Vec<Rpc> {
        self.results
            .iter()
            .filter(|r| r.stage == ResultStage::Reportable)
            .map(TransferResult::report)
            .collect()
    }

    /// The ACS acknowledged a report: its result is removed. Returns whether one matched.
    pub fn acknowledge(&mut self, report: &Rpc) -> bool {
        let position = match report {
            Rpc::TransferComplete(tc) => self.results.iter().position(|r| {
                r.stage == ResultStage::Reportable
                    && r.command_key.as_deref() == Some(tc.command_key.as_str())
            }),
            Rpc::AutonomousTransferComplete(_) => self
                .results
                .iter()
                .position(|r| r.stage == ResultStage::Reportable && r.command_key.is_none()),
            _ => None,
        };
        position.map(|i| self.results.remove(i)).is_some()
    }

    /// Compares the reportable results with the queued events (both
    /// persisted, in two files): every result needs its `M` event (or one
    /// `10 AUTONOMOUS TRANSFER COMPLETE`), and a transfer event without a
    /// result (its acknowledgement was persisted here but not there) must go.
    pub fn reconcile(&self, events: &EventQueue) -> Reconcile {
        let mut plan = Reconcile::default();
        let transfer_codes = [
            EventCode::MDownload,
            EventCode::MScheduleDownload,
            EventCode::MUpload,
        ];
        let queued: Vec<&Event> = events.events().collect();
        let mut unmatched: Vec<&Event> = queued
            .iter()
            .copied()
            .filter(|e| transfer_codes.contains(&e.code))
            .collect();
        for result in self
            .results
            .iter()
            .filter(|r| r.stage == ResultStage::Reportable && r.command_key.is_some())
        {
            let event = result.event();
            match unmatched.iter().position(|e| **e == event) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => plan.add.push(event),
            }
        }
        for orphan in unmatched {
            plan.drop
                .push((CompletionRpc::TransferComplete, orphan.command_key.clone()));
        }
        let autonomous = self
            .results
            .iter()
            .any(|r| r.stage == ResultStage::Reportable && r.command_key.is_none());
        let has_event = queued
            .iter()
            .any(|e| e.code == EventCode::AutonomousTransferComplete);
        if autonomous && !has_event {
            plan.add
                .push(Event::new(EventCode::AutonomousTransferComplete));
        } else if !autonomous && has_event {
            plan.drop
                .push((CompletionRpc::AutonomousTransferComplete, String::new()));
        }
        plan
    }

    /// The versioned text form: a header, `next <id>`, one `T` line per
    /// transfer and one `R` line per result; tab-separated escaped fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        out.push_str(FILE_HEADER);
        out.push('\n');
        records::push_line(&mut out, &["next", &self.next_id.to_string()]);
        for t in &self.transfers {
            let windows: Vec<String> = t
                .windows
                .iter()
                .map(|w| format!("{},{},{},{}", w.start, w.end, w.mode.code(), w.retries))
                .collect();
            let fields = [
                "T".to_owned(),
                t.id.to_string(),
                t.kind.as_str().to_owned(),
                if t.phase == Phase::InProgress {
                    "running"
                } else {
                    "queued"
                }
                .to_owned(),
                t.command_key.clone(),
                t.file_type.clone(),
                t.url.clone(),
                t.username.clone(),
                t.password.clone(),
                t.file_size.to_string(),
                t.target_file_name.clone(),
                windows.join(";"),
                t.not_before.to_string(),
                t.started_at.unwrap_or(0).to_string(),
                t.failures.to_string(),
            ];
            records::push_line(&mut out, &fields.each_ref().map(String::as_str));
        }
        for r in &self.results {
            let fields = [
                "R".to_owned(),
                r.id.to_string(),
                r.kind.as_str().to_owned(),
                match r.stage {
                    ResultStage::Reportable => "report",
                    ResultStage::AwaitingBoot => "boot",
                }
                .to_owned(),
                match &r.command_key {
                    Some(key) => format!("k{key}"),
                    None => "-".to_owned(),
                },
                r.fault.map_or(0, FaultCode::code).to_string(),
                r.fault_text.clone(),
                r.start_time.to_string(),
                r.complete_time.to_string(),
                r.file_type.clone(),
                r.file_size.to_string(),
                r.target_file_name.clone(),
                r.url.clone(),
            ];
            records::push_line(&mut out, &fields.each_ref().map(String::as_str));
        }
        out.into_bytes()
    }

    /// Reads [`TransferQueue::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<TransferQueue, TransferError> {
        let lines = records::parse_lines(bytes, FILE_HEADER).map_err(|e| match e {
            RecordError::BadHeader => TransferError::BadHeader,
            RecordError::BadLine { line, reason } => TransferError::BadLine { line, reason },
        })?;
        let mut queue = TransferQueue::new();
        for (line_no, fields) in &lines {
            let bad = |reason| TransferError::BadLine {
                line: *line_no,
                reason,
            };
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let field = |n: usize| fields.get(n).copied().ok_or(bad("missing field"));
            let text = |n: usize| field(n).map(str::to_owned);
            let number =
                |n: usize| field(n).and_then(|f| f.parse::<i64>().map_err(|_| bad("bad number")));
            let kind =
                |n: usize| field(n).and_then(|f| TransferKind::parse(f).ok_or(bad("unknown kind")));
            match fields.first().copied() {
                Some("next") => {
                    queue.next_id = field(1)?.parse().map_err(|_| bad("bad id"))?;
                }
                Some("T") if fields.len() == 15 => {
                    let phase = match field(3)? {
                        "queued" => Phase::Queued,
                        "running" => Phase::InProgress,
                        _ => return Err(bad("unknown phase")),
                    };
                    let started = number(13)?;
                    queue.transfers.push(Transfer {
                        id: number(1)?.try_into().map_err(|_| bad("bad id"))?,
                        kind: kind(2)?,
                        phase,
                        command_key: text(4)?,
                        file_type: text(5)?,
                        url: text(6)?,
                        username: text(7)?,
                        password: text(8)?,
                        file_size: number(9)?.try_into().map_err(|_| bad("bad size"))?,
                        target_file_name: text(10)?,
                        windows: parse_windows(field(11)?).ok_or(bad("bad windows"))?,
                        not_before: number(12)?,
                        started_at: (started != 0).then_some(started),
                        failures: number(14)?.try_into().map_err(|_| bad("bad count"))?,
                    });
                }
                Some("R") if fields.len() == 13 => {
                    let stage = match field(3)? {
                        "report" => ResultStage::Reportable,
                        "boot" => ResultStage::AwaitingBoot,
                        _ => return Err(bad("unknown stage")),
                    };
                    let command_key = match field(4)? {
                        "-" => None,
                        key => Some(
                            key.strip_prefix('k')
                                .ok_or(bad("bad CommandKey"))?
                                .to_owned(),
                        ),
                    };
                    let code = u32::try_from(number(5)?).map_err(|_| bad("bad fault"))?;
                    let fault = match code {
                        0 => None,
                        c => Some(FaultCode::from_code(c).ok_or(bad("unknown fault code"))?),
                    };
                    queue.results.push(TransferResult {
                        id: number(1)?.try_into().map_err(|_| bad("bad id"))?,
                        kind: kind(2)?,
                        stage,
                        command_key,
                        fault,
                        fault_text: text(6)?,
                        start_time: number(7)?,
                        complete_time: number(8)?,
                        file_type: text(9)?,
                        file_size: number(10)?.try_into().map_err(|_| bad("bad size"))?,
                        target_file_name: text(11)?,
                        url: text(12)?,
                    });
                }
                _ => return Err(bad("unknown record")),
            }
        }
        let max_id = queue
            .transfers
            .iter()
            .map(|t| t.id)
            .chain(queue.results.iter().map(|r| r.id))
            .max()
            .unwrap_or(0);
        queue.next_id = queue.next_id.max(max_id);
        Ok(queue)
    }
}

fn parse_windows(text: &str) -> Option<Vec<Window>> {
    text.split(';')
        .map(|w| {
            let mut parts = w.split(',');
            let start = parts.next()?.parse().ok()?;
            let end = parts.next()?.parse().ok()?;
            let mode = WindowMode::from_code(parts.next()?.parse().ok()?)?;
            let retries = parts.next()?.parse().ok()?;
            parts.next().is_none().then_some(Window {
                start,
                end,
                mode,
                retries,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::soap::TimeWindow;

    const NOW: i64 = 1_700_000_000;

    fn policy() -> TransferPolicy {
        TransferPolicy {
            execute_downloads: true,
            firmware: true,
            vendor_config: true,
            other_downloads: false,
            config_upload: true,
            log_upload: true,
        }
    }

    fn download(key: &str, delay: u32) -> Download {
        Download {
            command_key: key.into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://127.0.0.1/fw.bin".into(),
            username: "u\tser".into(),
            password: "p\\w\n".into(),
            file_size: 42,
            target_file_name: "fw.bin".into(),
            delay_seconds: delay,
            ..Download::default()
        }
    }

    fn window(start: u32, end: u32, mode: &str, retries: i32) -> TimeWindow {
        TimeWindow {
            window_start: start,
            window_end: end,
            window_mode: mode.into(),
            user_message: String::new(),
            max_retries: retries,
        }
    }

    fn scheduled(key: &str, windows: Vec<TimeWindow>) -> ScheduleDownload {
        ScheduleDownload {
            command_key: key.into(),
            file_type: "3 Vendor Configuration File".into(),
            url: "ftp://127.0.0.1/cfg".into(),
            time_window_list: windows,
            ..ScheduleDownload::default()
        }
    }

    fn fault_of(result: Result<(), Fault>) -> u32 {
        result.err().map_or(0, |f| f.code.code())
    }

    #[test]
    fn file_types_and_schemes_parse() {
        assert_eq!(
            DownloadFileType::parse("1 Firmware Upgrade Image"),
            Some(DownloadFileType::FirmwareUpgradeImage)
        );
        assert!(matches!(
            DownloadFileType::parse("X 00256D Bootloader"),
            Some(DownloadFileType::Vendor(_))
        ));
        assert_eq!(DownloadFileType::parse("6 Something"), None);
        assert_eq!(
            UploadFileType::parse("3 Vendor Configuration File 2"),
            Some(UploadFileType::VendorConfigurationFile(Some(2)))
        );
        assert_eq!(UploadFileType::parse("4 Vendor Log File 0"), None);
        assert_eq!(Scheme::of("HTTPS://h/x"), Some(Scheme::Https));
        assert_eq!(Scheme::of("tftp://h/x"), None);
        assert_eq!(Scheme::of("ftp://"), None);
    }

    #[test]
    fn download_waits_for_its_delay_then_runs_alone() {
        let mut q = TransferQueue::new();
        q.add_download(&download("a", 10), &policy(), NOW)
            .expect("accepted");
        q.add_download(&download("b", 0), &policy(), NOW)
            .expect("accepted");
        assert_eq!(q.poll_at(NOW, true), Some(NOW));
        let due = q.take_due(NOW, true);
        let started = due.start.expect("b starts");
        assert_eq!(started.command_key, "b");
        // One at a time: a is due at NOW+10 but waits for b.
        assert_eq!(q.poll_at(NOW + 20, true), None);
        assert!(q.take_due(NOW + 20, true).start.is_none());
        let event = q.finish(started.id, Finish::Success, NOW + 30);
        assert_eq!(event, Some(Event::with_key(EventCode::MDownload, "b")));
        assert_eq!(q.poll_at(NOW + 30, true), Some(NOW + 30));
        assert_eq!(
            q.take_due(NOW + 30, true).start.map(|t| t.command_key),
            Some("a".into())
        );
        let reports = q.reports();
        let Some(Rpc::TransferComplete(tc)) = reports.first() else {
            panic!("{reports:?}")
        };
        assert_eq!(tc.command_key, "b");
        assert_eq!(tc.fault.code, None);
        assert_eq!(tc.start_time, DateTime::from_unix(NOW));
        assert_eq!(tc.complete_time, DateTime::from_unix(NOW + 30));
        assert!(q.acknowledge(&reports[0]));
        assert!(!q.acknowledge(&reports[0]));
        assert!(q.reports().is_empty());
    }

    #[test]
    fn requests_are_validated() {
        let mut q = TransferQueue::new();
        let mut bad_scheme = download("a", 0);
        bad_scheme.url = "tftp://host/f".into();
        assert_eq!(fault_of(q.add_download(&bad_scheme, &policy(), NOW)), 9013);
        let mut web = download("a", 0);
        web.file_type = "2 Web Content".into();
        assert_eq!(fault_of(q.add_download(&web, &policy(), NOW)), 9010);
        let store_only = TransferPolicy {
            execute_downloads: false,
            ..policy()
        };
        assert_eq!(fault_of(q.add_download(&web, &store_only, NOW)), 0);
        let mut unknown = download("a", 0);
        unknown.file_type = "7 Nonsense".into();
        assert_eq!(fault_of(q.add_download(&unknown, &policy(), NOW)), 9003);
        let upload = Upload {
            command_key: "u".into(),
            file_type: "2 Vendor Log File".into(),
            url: "http://127.0.0.1/put".into(),
            ..Upload::default()
        };
        assert_eq!(fault_of(q.add_upload(&upload, &policy(), NOW)), 0);
        let indexed = Upload {
            file_type: "4 Vendor Log File 1".into(),
            ..upload.clone()
        };
        assert_eq!(fault_of(q.add_upload(&indexed, &policy(), NOW)), 9011);
        while q.transfers().len() < MAX_TRANSFERS {
            q.add_download(&download("x", 0), &policy(), NOW)
                .expect("room");
        }
        assert_eq!(
            fault_of(q.add_download(&download("y", 0), &policy(), NOW)),
            9004
        );
    }

    #[test]
    fn time_windows_are_validated() {
        let mut q = TransferQueue::new();
        let cases = [
            (vec![], 9003),
            (vec![window(10, 5, "1 At Any Time", -1)], 9003),
            (vec![window(0, 10, "4 Confirmation Needed", -1)], 9003),
            (vec![window(0, 10, "X 00256D Mode", -1)], 9003),
            (vec![window(0, 10, "1 At Any Time", -2)], 9003),
            (
                vec![
                    window(0, 10, "1 At Any Time", 0),
                    window(5, 20, "2 Immediately", 0),
                ],
                9003,
            ),
            (
                vec![
                    window(20, 30, "1 At Any Time", 0),
                    window(0, 10, "2 Immediately", 0),
                ],
                9003,
            ),
            (
                vec![
                    window(0, 1, "1 At Any Time", 0),
                    window(2, 3, "1 At Any Time", 0),
                    window(4, 5, "1 At Any Time", 0),
                ],
                9003,
            ),
            (
                vec![
                    window(0, 10, "1 At Any Time", 0),
                    window(11, 20, "3 When Idle", 1),
                ],
                0,
            ),
        ];
        for (windows, code) in cases {
            let request = scheduled("s", windows.clone());
            assert_eq!(
                fault_of(q.add_schedule_download(&request, &policy(), NOW)),
                code,
                "{windows:?}"
            );
        }
    }

    #[test]
    fn windows_decide_when_a_scheduled_download_starts() {
        let mut q = TransferQueue::new();
        let request = scheduled(
            "s",
            vec![
                window(100, 200, "3 When Idle", 0),
                window(300, 400, "2 Immediately", 0),
            ],
        );
        q.add_schedule_download(&request, &policy(), NOW)
            .expect("accepted");
        assert_eq!(q.poll_at(NOW, true), Some(NOW + 100));
        assert!(q.take_due(NOW + 50, true).start.is_none());
        // In the idle window while a session runs: wait for the window's end at most.
        assert_eq!(q.poll_at(NOW + 150, false), Some(NOW + 201));
        assert!(q.take_due(NOW + 150, false).start.is_none());
        // The first window passed busy: the second one.
        assert_eq!(q.poll_at(NOW + 201, false), Some(NOW + 300));
        let started = q.take_due(NOW + 300, false).start.expect("second window");
        assert_eq!(started.kind, TransferKind::ScheduledDownload);
        let event = q.finish(started.id, Finish::Success, NOW + 310);
        assert_eq!(
            event,
            Some(Event::with_key(EventCode::MScheduleDownload, "s"))
        );
    }

    #[test]
    fn missed_windows_fail_with_9020_and_retries_stay_inside_a_window() {
        let mut q = TransferQueue::new();
        q.add_schedule_download(
            &scheduled("late", vec![window(0, 10, "1 At Any Time", 0)]),
            &policy(),
            NOW,
        )
        .expect("accepted");
        q.add_schedule_download(
            &scheduled("retry", vec![window(0, 1000, "1 At Any Time", 1)]),
            &policy(),
            NOW,
        )
        .expect("accepted");
        let due = q.take_due(NOW + 11, true);
        assert_eq!(
            due.events,
            [Event::with_key(EventCode::MScheduleDownload, "late")]
        );
        let started = due.start.expect("retry starts");
        assert_eq!(
            q.finish(
                started.id,
                Finish::Failed(FaultCode::ServerUnreachable, "down".into()),
                NOW + 12
            ),
            None,
            "one retry left"
        );
        assert_eq!(
            q.poll_at(NOW + 12, true),
            Some(NOW + 12 + WINDOW_RETRY_DELAY)
        );
        let again = q
            .take_due(NOW + 12 + WINDOW_RETRY_DELAY, true)
            .start
            .expect("retried");
        assert!(q
            .finish(
                again.id,
                Finish::Failed(FaultCode::ServerUnreachable, "down".into()),
                NOW + 50
            )
            .is_some());
        let codes: Vec<Option<u32>> = q
            .reports()
            .iter()
            .map(|r| match r {
                Rpc::TransferComplete(tc) => tc.fault.code.map(|c| c.code()),
                _ => None,
            })
            .collect();
        assert_eq!(codes, [Some(9020), Some(9015)]);
    }

    #[test]
    fn cancel_removes_only_what_has_not_started() {
        let mut q = TransferQueue::new();
        q.add_download(&download("a", 0), &policy(), NOW)
            .expect("accepted");
        q.add_download(&download("b", 60), &policy(), NOW)
            .expect("accepted");
        let started = q.take_due(NOW, true).start.expect("a starts");
        assert_eq!(fault_of(q.cancel("a")), 9021);
        assert_eq!(fault_of(q.cancel("nope")), 9003);
        assert_eq!(
            q.queued_transfers(),
            [
                QueuedTransfer {
                    command_key: "a".into(),
                    state: TransferState::InProgress
                },
                QueuedTransfer {
                    command_key: "b".into(),
                    state: TransferState::NotYetStarted
                },
            ]
        );
        assert_eq!(fault_of(q.cancel("b")), 0);
        q.finish(started.id, Finish::Success, NOW + 1);
        assert_eq!(fault_of(q.cancel("a")), 9021, "completed");
        let all = q.all_queued_transfers();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, TransferState::Completed);
        assert!(all[0].is_download);
        assert_eq!(all[0].file_size, 42);
    }

    #[test]
    fn uploads_are_listed_only_in_all_queued_transfers() {
        let mut q = TransferQueue::new();
        let upload = Upload {
            command_key: "up".into(),
            file_type: "1 Vendor Configuration File".into(),
            url: "ftp://127.0.0.1/x".into(),
            ..Upload::default()
        };
        q.add_upload(&upload, &policy(), NOW).expect("accepted");
        assert!(q.queued_transfers().is_empty());
        let all = q.all_queued_transfers();
        assert_eq!(all.len(), 1);
        assert!(!all[0].is_download);
    }

    #[test]
    fn persistence_round_trips_and_restart_rules_apply() {
        let mut q = TransferQueue::new();
        q.add_download(&download("run", 0), &policy(), NOW)
            .expect("accepted");
        q.add_schedule_download(
            &scheduled("sched", vec![window(0, 5, "1 At Any Time", 0)]),
            &policy(),
            NOW,
        )
        .expect("accepted");
        q.add_download(&download("fw", 0), &policy(), NOW)
            .expect("accepted");
        let first = q.take_due(NOW, true).start.expect("run starts");
        q.finish(first.id, Finish::Success, NOW + 1);
        let second = q.take_due(NOW + 1, true).start.expect("sched starts");
        let bytes = q.to_bytes();
        let loaded = TransferQueue::from_bytes(&bytes).expect("reads back");
        assert_eq!(loaded, q);

        // Crash while "sched" runs; restart after its window: 9020, reported once.
        let mut restarted = loaded.clone();
        restarted.after_restart(NOW + 100, false);
        assert!(restarted.in_progress().is_none());
        assert!(restarted.transfers().iter().all(|t| t.id != second.id));
        assert_eq!(restarted.reports().len(), 2);
        // Restart inside the window: it starts again from scratch.
        let mut inside = loaded;
        inside.after_restart(NOW + 2, false);
        assert_eq!(
            inside.take_due(NOW + 2, true).start.map(|t| t.id),
            Some(second.id)
        );

        // A firmware result waits for the boot.
        let mut q = inside;
        q.finish(second.id, Finish::Success, NOW + 3);
        let fw = q.take_due(NOW + 3, true).start.expect("fw starts");
        assert_eq!(q.finish(fw.id, Finish::SuccessAfterBoot, NOW + 4), None);
        assert_eq!(q.reports().len(), 2);
        let mut booted = TransferQueue::from_bytes(&q.to_bytes()).expect("reads back");
        booted.after_restart(NOW + 90, true);
        assert_eq!(booted.reports().len(), 3);
        let mut not_booted = q.clone();
        not_booted.after_restart(NOW + 90, false);
        let last = not_booted.reports().pop();
        assert!(
            matches!(last, Some(Rpc::TransferComplete(tc)) if tc.fault.code == Some(FaultCode::DownloadFailure))
        );
        let mut failed = q;
        assert!(failed
            .firmware_failed(fw.id, "exit 1".into(), NOW + 5)
            .is_some());
        assert_eq!(failed.reports().len(), 3);
    }

    #[test]
    fn corrupt_files_are_typed_errors() {
        assert_eq!(
            TransferQueue::from_bytes(b"garbage"),
            Err(TransferError::BadHeader)
        );
        assert_eq!(
            TransferQueue::from_bytes(&[0xff, 0xfe]),
            Err(TransferError::BadHeader)
        );
        let bad = format!("{FILE_HEADER}\nT\t1\tdownload\n");
        assert!(matches!(
            TransferQueue::from_bytes(bad.as_bytes()),
            Err(TransferError::BadLine { line: 2, .. })
        ));
        let mut q = TransferQueue::new();
        q.add_download(&download("a", 0), &policy(), NOW)
            .expect("accepted");
        let text = String::from_utf8(q.to_bytes()).expect("utf8");
        for cut in 0..text.len() {
            // Any truncation either reads back or is refused, never panics.
            let _ = TransferQueue::from_bytes(text.get(..cut).unwrap_or_default().as_bytes());
        }
        assert!(
            text.contains("u%09ser"),
            "the tab in the user name is escaped: {text}"
        );
        let bad_escape = text.replace("u%09ser", "u%G9ser");
        assert!(TransferQueue::from_bytes(bad_escape.as_bytes()).is_err());
    }

    #[test]
    fn reconcile_matches_results_and_events() {
        let mut q = TransferQueue::new();
        q.add_download(&download("a", 0), &policy(), NOW)
            .expect("accepted");
        let started = q.take_due(NOW, true).start.expect("starts");
        let event = q.finish(started.id, Finish::Success, NOW).expect("event");
        let mut events = EventQueue::new();
        // The result was persisted, the event was not.
        assert_eq!(q.reconcile(&events).add, std::slice::from_ref(&event));
        events.add(event);
        assert_eq!(q.reconcile(&events), Reconcile::default());
        // The acknowledgement was persisted for the result only.
        let reports = q.reports();
        q.acknowledge(&reports[0]);
        let plan = q.reconcile(&events);
        assert_eq!(
            plan.drop,
            [(CompletionRpc::TransferComplete, "a".to_owned())]
        );
        let auto = q.add_autonomous(TransferResult {
            id: 0,
            kind: TransferKind::Download,
            command_key: None,
            fault: None,
            fault_text: String::new(),
            start_time: 0,
            complete_time: NOW,
            stage: ResultStage::Reportable,
            file_type: "1 Firmware Upgrade Image".into(),
            file_size: 0,
            target_file_name: String::new(),
            url: String::new(),
        });
        assert_eq!(auto, Event::new(EventCode::AutonomousTransferComplete));
        let plan = q.reconcile(&EventQueue::new());
        assert_eq!(plan.add, [auto]);
        let reports = q.reports();
        assert!(
            matches!(&reports[0], Rpc::AutonomousTransferComplete(a) if a.is_download && a.start_time.is_unknown())
        );
        assert!(q.acknowledge(&reports[0]));
        q.forget_acs_requests();
        assert!(q.results().is_empty());
    }
}
