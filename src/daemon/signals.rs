//! Signals, read from the self-pipe: SIGHUP reloads, SIGUSR1 picks up CPE
//! requests, SIGTERM/SIGINT stop.

use std::io;

use log::{info, warn};

use super::{Daemon, Flow};

impl Daemon {
    pub(super) fn drain_signals(&mut self) {
        let mut buf = [0u8; 32];
        loop {
            match io::Read::read(&mut self.signals, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &signal in buf.iter().take(n) {
                        self.on_signal(i32::from(signal));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }

    pub(super) fn on_signal(&mut self, signal: i32) {
        match signal {
            libc::SIGHUP => self.reload(),
            libc::SIGUSR1 => self.pick_up_cpe_requests(),
            libc::SIGTERM | libc::SIGINT => {
                info!("signal {signal} received, stopping");
                self.flow = Flow::Stop;
            }
            other => warn!("unexpected signal {other}"),
        }
    }
}
