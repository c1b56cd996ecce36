//! CPE-initiated Kicked (A.4.2.2) and RequestDownload (A.4.2.3): the command line drops a request file into the state directory, the daemon sends it in the next session.
//!
//! The hand-over is a directory, `<state_dir>/requests/`, plus a signal:
//! `icwmpd --kicked …` / `--request-download …` write one request file
//! atomically (`<unique>.req`) and send SIGUSR1 to the daemon whose pid is in
//! `<state_dir>/icwmpd.pid`. The daemon picks new files up on that signal and
//! at start: it renames each to `.queued` and queues its event (`5 KICKED` or
//! `9 REQUEST DOWNLOAD`). Queued requests go to the ACS in every session
//! until it answers them; the file is removed then. Renaming before queueing
//! the event means a crash in between can lose the event but never the
//! request, and never counts one request twice.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use log::{error, info, warn};

use crate::cwmp::events::EventCode;
use crate::fsutil::atomic_write;
use crate::records;
use crate::wire::soap::{FileTypeArg, Kicked, Rpc};

/// The request directory inside the state directory.
pub const REQUESTS_DIR: &str = "requests";

/// The daemon's pid file inside the state directory.
pub const PID_FILE: &str = "icwmpd.pid";

/// First line of a request file; the number is the format version.
const FILE_HEADER: &str = "icwmp-request 1";

/// The request file's text.
pub fn request_to_bytes(rpc: &Rpc) -> Option<Vec<u8>> {
    let mut text = format!("{FILE_HEADER}\n");
    match rpc {
        Rpc::Kicked(k) => records::push_line(
            &mut text,
            &["kicked", &k.command, &k.referer, &k.arg, &k.next],
        ),
        Rpc::RequestDownload {
            file_type,
            file_type_args,
        } => {
            records::push_line(&mut text, &["download", file_type]);
            for arg in file_type_args {
                records::push_line(&mut text, &["arg", &arg.name, &arg.value]);
            }
        }
        _ => return None,
    }
    Some(text.into_bytes())
}

/// Reads [`request_to_bytes`]' output.
pub fn request_from_bytes(bytes: &[u8]) -> Result<Rpc, records::RecordError> {
    let mut rpc = None;
    for (line, fields) in records::parse_lines(bytes, FILE_HEADER)? {
        let bad = records::RecordError::BadLine {
            line,
            reason: "unknown record",
        };
        match (fields.as_slice(), &mut rpc) {
            ([tag, command, referer, arg, next], None) if tag == "kicked" => {
                rpc = Some(Rpc::Kicked(Kicked {
                    command: command.clone(),
                    referer: referer.clone(),
                    arg: arg.clone(),
                    next: next.clone(),
                }))
            }
            ([tag, file_type], None) if tag == "download" => {
                rpc = Some(Rpc::RequestDownload {
                    file_type: file_type.clone(),
                    file_type_args: Vec::new(),
                })
            }
            ([tag, name, value], Some(Rpc::RequestDownload { file_type_args, .. }))
                if tag == "arg" =>
            {
                file_type_args.push(FileTypeArg {
                    name: name.clone(),
                    value: value.clone(),
                })
            }
            _ => return Err(bad),
        }
    }
    rpc.ok_or(records::RecordError::BadLine {
        line: 1,
        reason: "no request",
    })
}

/// The command-line side: writes the request and wakes the daemon. The
/// request is kept even if no daemon runs (it is sent once one starts).
pub fn submit(state_dir: &Path, rpc: &Rpc) -> io::Result<PathBuf> {
    let bytes = request_to_bytes(rpc).ok_or(io::ErrorKind::InvalidInput)?;
    let dir = state_dir.join(REQUESTS_DIR);
    crate::fsutil::create_private_dir(&dir)?;
    let unique = format!("{}-{}.req", crate::clock::unix_now(), std::process::id());
    let path = dir.join(unique);
    atomic_write(&path, &bytes)?;
    Ok(path)
}

/// Sends `signal` to the daemon named by the pid file (SIGUSR1: pick up
/// request files; SIGHUP: reload the configuration).
pub fn signal_daemon(state_dir: &Path, signal: libc::c_int) -> io::Result<()> {
    let text = crate::fsutil::read_text(&state_dir.join(PID_FILE))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // A stale pid may belong to another program now, which the signal would kill.
    let name = fs::read_to_string(format!("/proc/{pid}/comm"))?;
    if name.trim() != "icwmpd" {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("process {pid} is not icwmpd (stale pid file)"),
        ));
    }
    crate::sys::send_signal(pid, signal)
}

/// Records the running daemon's pid for [`signal_daemon`].
pub fn write_pid(state_dir: &Path) -> io::Result<()> {
    atomic_write(
        &state_dir.join(PID_FILE),
        format!("{}\n", std::process::id()).as_bytes(),
    )
}

/// The daemon side: the requests picked up and not yet answered.
#[derive(Debug)]
pub struct CpeRequests {
    dir: PathBuf,
    queued: Vec<(PathBuf, Rpc)>,
}

impl CpeRequests {
    /// Loads the requests queued before a restart (their events are in the
    /// persisted event queue already).
    pub fn open(state_dir: &Path) -> CpeRequests {
        let mut requests = CpeRequests {
            dir: state_dir.join(REQUESTS_DIR),
            queued: Vec::new(),
        };
        for path in requests.files("queued") {
            if let Some(rpc) = read_request(&path) {
                requests.queued.push((path, rpc));
            }
        }
        requests
    }

    fn files(&self, extension: &str) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = match fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == extension))
                .collect(),
            Err(_) => Vec::new(),
        };
        paths.sort();
        paths
    }

    /// Takes up new request files; returns the event of each, to queue.
    pub fn pick_up(&mut self) -> Vec<EventCode> {
        let mut codes = Vec::new();
        for path in self.files("req") {
            let Some(rpc) = read_request(&path) else {
                continue;
            };
            let queued = path.with_extension("queued");
            if let Err(e) = fs::rename(&path, &queued) {
                error!("{}: cannot queue: {e}", path.display());
                continue;
            }
            info!("CPE request queued: {}", rpc.method_name());
            codes.push(match rpc {
                Rpc::Kicked(_) => EventCode::Kicked,
                _ => EventCode::RequestDownload,
            });
            self.queued.push((queued, rpc));
        }
        codes
    }

    /// The requests for the next session, oldest first.
    pub fn pending(&self) -> Vec<Rpc> {
        self.queued.iter().map(|(_, rpc)| rpc.clone()).collect()
    }

    /// The ACS answered `request`: its file goes.
    pub fn acknowledged(&mut self, request: &Rpc) {
        if let Some(index) = self.queued.iter().position(|(_, rpc)| rpc == request) {
            let (path, _) = self.queued.remove(index);
            if let Err(e) = fs::remove_file(&path) {
                warn!("{}: {e}", path.display());
            }
        }
    }
}

/// A request file's RPC; a corrupt one is set aside and reported.
fn read_request(path: &Path) -> Option<Rpc> {
    let bytes = crate::fsutil::read_file(path).ok()?;
    match request_from_bytes(&bytes) {
        Ok(rpc) => Some(rpc),
        Err(e) => {
            error!("{}: {e}; set aside", path.display());
            let _ = crate::fsutil::set_aside(path);
            None
        }
    }
}

/// `icwmpd --kicked …` / `--request-download …`: queues `rpc` for the
/// daemon of `config_file` and wakes it. Returns what to tell the user.
pub fn run_request_cli(
    config_file: &crate::config::ConfigFile,
    rpc: &Rpc,
) -> Result<String, String> {
    let config = config_file
        .load()
        .map_err(|e| format!("configuration: {e}"))?;
    let state_dir = &config.cpe.state_dir;
    let path = submit(state_dir, rpc).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    Ok(match signal_daemon(state_dir, libc::SIGUSR1) {
        Ok(()) => format!("{} queued ({})", rpc.method_name(), path.display()),
        Err(e) => format!(
            "{} queued ({}); no running daemon woken ({e}): it goes out when icwmpd starts",
            rpc.method_name(),
            path.display()
        ),
    })
}

/// `--dhcp-option43 <hex>` (from the udhcpc hook): stores what DHCP option 43
/// carried in the configuration (`acs.dhcp_url`, `cpe.provisioning_code`,
/// the retry parameters) and has the running daemon reload it.
pub fn run_dhcp_option43_cli(
    config_file: &crate::config::ConfigFile,
    hex: &str,
) -> Result<String, String> {
    let options = crate::cwmp::dhcp::parse_option43(hex).map_err(|e| e.to_string())?;
    let mut settings = Vec::new();
    if let Some(url) = &options.url {
        if crate::transport::http_client::check_url(url).is_err() {
            let url = crate::config::uci::shown(url);
            return Err(format!("DHCP option 43 names no usable ACS URL: {url}"));
        }
        settings.push(("acs", "dhcp_url", url.clone()));
    }
    if let Some(code) = &options.provisioning_code {
        settings.push(("cpe", "provisioning_code", code.clone()));
    }
    if let Some(wait) = options.retry_min_wait_interval {
        settings.push(("acs", "retry_min_wait_interval", wait.to_string()));
    }
    if let Some(multiplier) = options.retry_interval_multiplier {
        settings.push(("acs", "retry_interval_multiplier", multiplier.to_string()));
    }
    for (section, option, value) in &settings {
        config_file
            .set(section, option, value)
            .map_err(|e| e.to_string())?;
    }
    let config = config_file
        .load()
        .map_err(|e| format!("configuration: {e}"))?;
    let names: Vec<String> = settings
        .iter()
        .map(|(s, o, v)| format!("{s}.{o}={v}"))
        .collect();
    Ok(match signal_daemon(&config.cpe.state_dir, libc::SIGHUP) {
        Ok(()) => format!("set {}; icwmpd reloads", names.join(" ")),
        Err(e) => format!("set {}; no running daemon reloaded ({e})", names.join(" ")),
    })
}

/// The `--kicked` arguments: command, referer, arg, next.
pub fn kicked_of(args: &[String]) -> Result<Rpc, String> {
    match args {
        [command, referer, arg, next] => Ok(Rpc::Kicked(Kicked {
            command: command.clone(),
            referer: referer.clone(),
            arg: arg.clone(),
            next: next.clone(),
        })),
        _ => Err("--kicked needs <command> <referer> <arg> <next>".into()),
    }
}

/// The `--request-download` arguments: the FileType, then `name=value` pairs.
pub fn request_download_of(file_type: &str, args: &[String]) -> Result<Rpc, String> {
    if file_type.is_empty() {
        return Err("--request-download needs a FileType".into());
    }
    let file_type_args = args
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(name, value)| FileTypeArg {
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
                .ok_or_else(|| format!("'{a}' is not name=value"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Rpc::RequestDownload {
        file_type: file_type.to_owned(),
        file_type_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_are_picked_up_once() {
        let kicked = kicked_of(&[
            "buy".into(),
            "http://r/".into(),
            "a\tb".into(),
            "http://n/".into(),
        ])
        .expect("kicked");
        let download =
            request_download_of("1 Firmware Upgrade Image", &["v=2".into(), "x=".into()])
                .expect("download");
        for rpc in [&kicked, &download] {
            let bytes = request_to_bytes(rpc).expect("bytes");
            assert_eq!(request_from_bytes(&bytes).as_ref(), Ok(rpc));
        }
        assert!(request_download_of("3 Vendor Configuration File", &["novalue".into()]).is_err());
        assert!(kicked_of(&["x".into()]).is_err());
        assert!(request_to_bytes(&Rpc::GetRpcMethods).is_none());

        let dir = std::env::temp_dir().join(format!("icwmp-cpe-requests-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        submit(&dir, &kicked).expect("submit");
        let mut requests = CpeRequests::open(&dir);
        assert!(requests.pending().is_empty());
        assert_eq!(requests.pick_up(), [EventCode::Kicked]);
        assert!(requests.pick_up().is_empty());
        assert_eq!(requests.pending(), std::slice::from_ref(&kicked));
        // A restart finds it queued, without a second event.
        let mut reopened = CpeRequests::open(&dir);
        assert!(reopened.pick_up().is_empty());
        assert_eq!(reopened.pending(), std::slice::from_ref(&kicked));
        reopened.acknowledged(&kicked);
        assert!(CpeRequests::open(&dir).pending().is_empty());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
