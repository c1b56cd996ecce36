//! The daemon's single-threaded mio loop: tokens, dispatch to components, and the earliest deadline.
//!
//! Every component (ACS session, connection-request server, ubus, and later
//! STUN, XMPP, TWAMP, UDP echo, BulkData) is a state machine that owns its
//! sockets, registers them under its tokens, handles their readiness and says
//! when it next needs to run (`poll_at`). The loop sleeps exactly until the
//! earliest of those deadlines and the daemon's own timers: idle means no
//! wake-ups at all.

use std::io;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::unix::pipe;
use mio::{Events, Interest, Poll};

use crate::clock;
use crate::config::{Config, ConfigFile};
use crate::logging::{self, LogSettings};
use crate::sys;

/// Every token of the loop, in one place. Components that own many sockets
/// get a range starting at their base.
pub mod tokens {
    use mio::Token;

    /// The signal self-pipe.
    pub const SIGNAL: Token = Token(0);
}

/// How the daemon was started (the CLI's daemon flags).
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// `-b`: start with a `1 BOOT` session.
    pub boot_event: bool,
    /// `-g`: ask the ACS for its RPC methods in the first session.
    pub get_rpc_methods: bool,
}

/// What the loop should do after handling a batch of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The running daemon.
pub struct Daemon {
    poll: Poll,
    config_file: ConfigFile,
    config: Config,
    options: DaemonOptions,
    signals: pipe::Receiver,
    /// Kept open: the signal handler writes into it.
    _signal_sender: pipe::Sender,
    flow: Flow,
}

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Config(crate::config::ConfigError),
    Io(&'static str, io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "configuration: {e}"),
            StartError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Daemon {
    /// Loads the configuration, sets up logging and signals, and registers the components.
    pub fn start(config_file: ConfigFile, options: DaemonOptions) -> Result<Daemon, StartError> {
        let config = config_file.load().map_err(StartError::Config)?;
        logging::apply(LogSettings::from_config(&config.cpe));
        let poll = Poll::new().map_err(|e| StartError::Io("poll", e))?;
        let (sender, mut signals) = pipe::new().map_err(|e| StartError::Io("signal pipe", e))?;
        sys::route_signals_to_pipe(
            std::os::fd::AsRawFd::as_raw_fd(&sender),
            &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP],
        )
        .map_err(|e| StartError::Io("signal handlers", e))?;
        poll.registry()
            .register(&mut signals, tokens::SIGNAL, Interest::READABLE)
            .map_err(|e| StartError::Io("signal pipe", e))?;
        info!("STARTING ICWMP with PID :{}", std::process::id());
        Ok(Daemon {
            poll,
            config_file,
            config,
            options,
            signals,
            _signal_sender: sender,
            flow: Flow::Continue,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The flags the daemon was started with.
    pub fn options(&self) -> &DaemonOptions {
        &self.options
    }

    /// Runs until SIGTERM/SIGINT or an `exit` command.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        while self.flow == Flow::Continue {
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(clock::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout.map(round_up_to_ms)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = clock::now();
            for event in events.iter() {
                match event.token() {
                    tokens::SIGNAL => self.drain_signals(),
                    other => warn!("event for unknown token {}", other.0),
                }
            }
            self.run_due(now);
        }
        info!("icwmpd stopped");
        Ok(())
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        None
    }

    fn run_due(&mut self, _now: Instant) {}

    fn drain_signals(&mut self) {
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

    fn on_signal(&mut self, signal: i32) {
        match signal {
            libc::SIGHUP => self.reload(),
            libc::SIGTERM | libc::SIGINT => {
                info!("signal {signal} received, stopping");
                self.flow = Flow::Stop;
            }
            other => warn!("unexpected signal {other}"),
        }
    }

    /// Re-reads the configuration file. A file that no longer parses is
    /// reported and the running configuration kept, so nothing is lost.
    pub fn reload(&mut self) {
        match self.config_file.load() {
            Ok(config) => {
                logging::apply(LogSettings::from_config(&config.cpe));
                self.config = config;
                info!("icwmpd config reloaded");
            }
            Err(e) => error!("config reload failed, keeping the running configuration: {e}"),
        }
    }

    /// Asks the loop to stop after the current batch.
    pub fn stop(&mut self) {
        self.flow = Flow::Stop;
    }
}

/// mio rounds sub-millisecond timeouts down to 0, which would spin; wait at least until the deadline.
fn round_up_to_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(
            round_up_to_ms(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
    }
}
