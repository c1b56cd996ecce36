//! Runs the real `icwmpd` binary for integration tests: a private config directory, start, signals, bounded waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory under the system temp dir, unique per test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icwmp-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

/// Writes `dir/cwmp` for an ACS at `acs_url`; `acs_extra` and `cpe_extra`
/// are more `option` lines for those sections.
pub fn write_config(dir: &Path, acs_url: &str, acs_extra: &str, cpe_extra: &str) {
    let text = format!(
        "config cwmp 'acs'\n\toption url '{acs_url}'\n\toption periodic_inform_enable '0'\n\
         \toption retry_min_wait_interval '1'\n{acs_extra}\n\
         config cwmp 'cpe'\n\toption port '0'\n\toption log_to_console '0'\n\toption log_to_file '1'\n\
         \toption log_severity 'DEBUG'\n\toption ubus_socket '{}/no-ubus.sock'\n\
         \toption reboot_command 'touch {}/rebooted'\n\
         \toption factory_reset_command 'touch {}/factory-reset'\n{cpe_extra}\n\
         config cwmp 'lwn'\n\toption enable '0'\n",
        dir.display(),
        dir.display(),
        dir.display()
    );
    std::fs::write(dir.join("cwmp"), text).expect("write config");
}

/// A running daemon.
pub struct TestDaemon {
    child: Option<Child>,
    pub dir: PathBuf,
}

impl TestDaemon {
    /// Starts `icwmpd --config dir` with extra arguments.
    pub fn start(dir: &Path, args: &[&str]) -> TestDaemon {
        let child = Command::new(env!("CARGO_BIN_EXE_icwmpd"))
            .arg("--config")
            .arg(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start icwmpd");
        TestDaemon {
            child: Some(child),
            dir: dir.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal (`"TERM"`, `"HUP"`, `"KILL"`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM and wait: the daemon must stop cleanly.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait(Duration::from_secs(10))
            .expect("icwmpd stops within 10 s on SIGTERM")
    }

    /// SIGKILL: the daemon dies wherever it is.
    pub fn kill9(mut self) {
        self.signal("KILL");
        let _ = self.wait(Duration::from_secs(10));
    }

    /// The daemon's log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("icwmpd.log")).unwrap_or_default()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// `icwmpd --config dir -m 1 <args>`: the data model CLI of the real binary.
pub fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_icwmpd"))
        .arg("--config")
        .arg(dir)
        .arg("-m")
        .arg("1")
        .args(args)
        .output()
        .expect("run icwmpd -m");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
