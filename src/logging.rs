//! The daemon's logger: the seed's line format on the console, in a size-rotated file and in syslog.
//!
//! A line reads `24-12-2019, 10:21:18 [INFO]    Start session`. The seed's
//! eight severities map onto the `log` crate's levels for filtering; what the
//! file shows is the `log` level's name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::config::{CpeConfig, Severity};
use crate::cwmp::datetime::{format_log, format_syslog};
use crate::sys::local_time;

/// Where log lines go and how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub console: bool,
    /// The log file and the size past which it is rotated to `<name>.1` (0: never).
    pub file: Option<(PathBuf, u64)>,
    pub syslog: bool,
    pub severity: Severity,
}

impl LogSettings {
    /// The settings the `cpe` section asks for.
    pub fn from_config(cpe: &CpeConfig) -> LogSettings {
        LogSettings {
            console: cpe.log_to_console,
            file: cpe
                .log_to_file
                .then(|| (cpe.log_file_name.clone(), cpe.log_max_size)),
            syslog: true,
            severity: cpe.log_severity,
        }
    }

    /// Console only, for the command-line tools.
    pub fn console(severity: Severity) -> LogSettings {
        LogSettings {
            console: true,
            file: None,
            syslog: false,
            severity,
        }
    }
}

/// The `log` filter for a seed severity.
pub fn level_filter(severity: Severity) -> LevelFilter {
    match severity {
        Severity::Emerg | Severity::Alert | Severity::Critic | Severity::Error => {
            LevelFilter::Error
        }
        Severity::Warning => LevelFilter::Warn,
        Severity::Notice | Severity::Info => LevelFilter::Info,
        Severity::Debug => LevelFilter::Debug,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

/// One log line in the seed's format, without the trailing newline.
pub fn format_line(unix_secs: i64, utc_offset: i32, level: Level, message: &str) -> String {
    let tag = format!("[{}]", level_name(level));
    format!("{} {tag:<10}{message}", format_log(unix_secs, utc_offset))
}

/// The local syslog daemon's socket (OpenWrt's logd, busybox syslogd).
const SYSLOG_SOCKET: &str = "/dev/log";

/// The `daemon` facility (RFC 3164 4.1.1), already shifted into the priority.
const FACILITY_DAEMON: u8 = 3 << 3;

fn syslog_severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One syslog datagram in the RFC 3164 format without a hostname, as the C
/// library's `syslog()` writes it: `<30>Dec 24 10:21:18 icwmpd[7762]: message`.
pub fn format_syslog_line(
    unix_secs: i64,
    utc_offset: i32,
    pid: u32,
    level: Level,
    message: &str,
) -> String {
    format!(
        "<{}>{} icwmpd[{pid}]: {message}",
        FACILITY_DAEMON | syslog_severity(level),
        format_syslog(unix_secs, utc_offset)
    )
}

/// A non-blocking datagram connection to the syslog socket. A message that
/// cannot go out at once is dropped: logging must never stall the daemon loop.
struct SyslogSocket {
    path: PathBuf,
    socket: Option<UnixDatagram>,
}

impl SyslogSocket {
    fn new(path: &Path) -> SyslogSocket {
        SyslogSocket {
            path: path.to_owned(),
            socket: None,
        }
    }

    fn connect(&self) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(&self.path)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }

    /// Sends one datagram; on a broken connection (syslogd restarted) it
    /// reconnects once and retries.
    fn send(&mut self, datagram: &[u8]) {
        for _ in 0..2 {
            let socket = match self.socket.take() {
                Some(socket) => socket,
                None => match self.connect() {
                    Ok(socket) => socket,
                    Err(_) => return,
                },
            };
            match socket.send(datagram) {
                Ok(_) => {
                    self.socket = Some(socket);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.socket = Some(socket);
                    return;
                }
                Err(_) => {}
            }
        }
    }
}

struct Sinks {
    settings: LogSettings,
    file: Option<File>,
    syslog: Option<SyslogSocket>,
}

impl Sinks {
    fn open(settings: LogSettings) -> Sinks {
        let file = settings
            .file
            .as_ref()
            .and_then(|(path, _)| open_append(path));
        let syslog = settings
            .syslog
            .then(|| SyslogSocket::new(Path::new(SYSLOG_SOCKET)));
        Sinks {
            settings,
            file,
            syslog,
        }
    }

    fn write_file(&mut self, line: &str) {
        let Some((path, max)) = &self.settings.file else {
            return;
        };
        if let Some(file) = &self.file {
            let size = file.metadata().map_or(0, |m| m.len());
            if *max > 0 && size + line.len() as u64 + 1 > *max && size > 0 {
                let mut rotated = path.clone().into_os_string();
                rotated.push(".1");
                let _ = fs::rename(path, rotated);
                self.file = open_append(path);
            }
        }
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{line}");
        }
    }

    fn write_syslog(&mut self, unix_secs: i64, utc_offset: i32, level: Level, message: &str) {
        if let Some(syslog) = &mut self.syslog {
            let line =
                format_syslog_line(unix_secs, utc_offset, std::process::id(), level, message);
            syslog.send(line.as_bytes());
        }
    }
}

fn open_append(path: &PathBuf) -> Option<File> {
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    OpenOptions::new().create(true).append(true).open(path).ok()
}

struct Logger {
    sinks: Mutex<Option<Sinks>>,
}

static LOGGER: Logger = Logger {
    sinks: Mutex::new(None),
};

impl Log for Logger {
    /// The daemon's own records up to the configured level; the libraries'
    /// (ureq-proto traces every HTTP state) only from WARNING up.
    fn enabled(&self, metadata: &Metadata) -> bool {
        let own = metadata.target().starts_with("icwmp");
        metadata.level() <= log::max_level() && (own || metadata.level() <= Level::Warn)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let now = crate::clock::unix_now();
        let utc_offset = local_time(now).utc_offset;
        let line = format_line(now, utc_offset, record.level(), &message);
        let Ok(mut guard) = self.sinks.lock() else {
            return;
        };
        let Some(sinks) = guard.as_mut() else {
            return;
        };
        if sinks.settings.console {
            eprintln!("{line}");
        }
        sinks.write_file(&line);
        sinks.write_syslog(now, utc_offset, record.level(), &message);
    }

    fn flush(&self) {
        if let Ok(mut guard) = self.sinks.lock() {
            if let Some(file) = guard.as_mut().and_then(|s| s.file.as_mut()) {
                let _ = file.flush();
            }
        }
    }
}

/// Installs the logger (first call) or changes where it writes (config reload).
pub fn apply(settings: LogSettings) {
    log::set_max_level(level_filter(settings.severity));
    if let Ok(mut guard) = LOGGER.sinks.lock() {
        if guard.as_ref().map(|s| &s.settings) != Some(&settings) {
            *guard = Some(Sinks::open(settings));
        }
    }
    // Fails only when already installed, which is what a reload expects.
    let _ = log::set_logger(&LOGGER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_line_format() {
        let t = 1_577_179_278; // 2019-12-24T10:21:18+01:00
        assert_eq!(
            format_line(t, 3600, Level::Info, "STARTING ICWMP with PID :7762"),
            "24-12-2019, 10:21:18 [INFO]    STARTING ICWMP with PID :7762"
        );
        assert_eq!(
            format_line(t, 3600, Level::Warn, "x"),
            "24-12-2019, 10:21:18 [WARNING] x"
        );
        assert_eq!(
            format_line(t, 3600, Level::Debug, "y"),
            "24-12-2019, 10:21:18 [DEBUG]   y"
        );
    }

    #[test]
    fn syslog_datagram_format() {
        let t = 1_577_179_278; // 2019-12-24T10:21:18+01:00
        assert_eq!(
            format_syslog_line(t, 3600, 7762, Level::Info, "Start session"),
            "<30>Dec 24 10:21:18 icwmpd[7762]: Start session"
        );
        assert_eq!(
            format_syslog_line(t, 0, 1, Level::Error, "x"),
            "<27>Dec 24 09:21:18 icwmpd[1]: x"
        );
        assert!(format_syslog_line(t, 0, 1, Level::Warn, "").starts_with("<28>"));
        assert!(format_syslog_line(t, 0, 1, Level::Trace, "").starts_with("<31>"));
    }

    #[test]
    fn syslog_socket_reconnects_and_never_blocks() {
        let dir = std::env::temp_dir().join(format!("icwmp-syslog-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("log");
        let mut syslog = SyslogSocket::new(&path);
        // No syslogd yet: the message is dropped.
        syslog.send(b"lost");
        assert!(syslog.socket.is_none());

        let receiver = UnixDatagram::bind(&path).expect("bind");
        syslog.send(b"first");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(buf.get(..n), Some(&b"first"[..]));

        // syslogd restarts: the old connection is dead, the sender reconnects.
        drop(receiver);
        fs::remove_file(&path).expect("unlink");
        let receiver = UnixDatagram::bind(&path).expect("rebind");
        syslog.send(b"second");
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(buf.get(..n), Some(&b"second"[..]));

        // Nobody reads: the queue fills and later messages are dropped
        // instead of blocking.
        for _ in 0..10_000 {
            syslog.send(&[b'x'; 512]);
        }
        receiver.set_nonblocking(true).expect("nonblocking");
        let mut received = 0;
        while receiver.recv(&mut buf).is_ok() {
            received += 1;
        }
        assert!(received > 0 && received < 10_000);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn library_records_only_from_warning_up() {
        log::set_max_level(LevelFilter::Debug);
        let record = |target: &'static str, level: Level| {
            LOGGER.enabled(&Metadata::builder().target(target).level(level).build())
        };
        assert!(record("icwmp::cwmp::session", Level::Debug));
        assert!(record("icwmpd", Level::Info));
        assert!(!record("icwmp::x", Level::Trace));
        assert!(!record("rustls::client", Level::Debug));
        assert!(record("rustls::conn", Level::Warn));
    }

    #[test]
    fn severities_filter() {
        assert_eq!(level_filter(Severity::Emerg), LevelFilter::Error);
        assert_eq!(level_filter(Severity::Warning), LevelFilter::Warn);
        assert_eq!(level_filter(Severity::Notice), LevelFilter::Info);
        assert_eq!(level_filter(Severity::Debug), LevelFilter::Debug);
    }

    #[test]
    fn file_rotates_past_max_size() {
        let dir = std::env::temp_dir().join(format!("icwmp-log-{}", std::process::id()));
        let path = dir.join("icwmpd.log");
        let settings = LogSettings {
            console: false,
            file: Some((path.clone(), 100)),
            syslog: false,
            severity: Severity::Info,
        };
        let mut sinks = Sinks::open(settings);
        for i in 0..10 {
            sinks.write_file(&format!("line {i:02} of the log, twenty-nine"));
        }
        let current = fs::read_to_string(&path).expect("log");
        let mut rotated = path.clone().into_os_string();
        rotated.push(".1");
        let old = fs::read_to_string(&rotated).expect("rotated log");
        assert!(current.len() <= 100 && old.len() <= 100);
        assert!(current.contains("line 09"));
        assert!(old.contains("line 0"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
