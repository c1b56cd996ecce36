//! CWMP sessions against the loopback test ACS, driven by the daemon's own ACS link in a mio loop
//! that also echoes UDP: sessions per second, RPC round trip, a 10,000-parameter GPV through a
//! session, and the worst wait of the UDP socket while all that runs (served between slices of
//! long work, as the daemon serves its reflectors).

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::cell::RefCell;
use std::net::UdpSocket as StdUdp;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use icwmp::cwmp::fault::{Fault, FaultCode};
use icwmp::cwmp::session::{Acknowledged, AcsRequestHandler};
use icwmp::datamodel::engine::DataModel;
use icwmp::slices::{self, Urgent};
use icwmp::transport::acs::{AcsLink, SessionOpening};
use icwmp::transport::http_client::HttpConfig;
use icwmp::wire::soap::{CwmpVersion, DateTime, DeviceId, Event, Inform, Rpc};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

const ACS: Token = Token(1);
const UDP: Token = Token(2);

struct Handler {
    dm: DataModel,
}

impl AcsRequestHandler for Handler {
    fn handle(&mut self, request: Rpc) -> Result<Rpc, Fault> {
        match request {
            Rpc::GetParameterValues { parameter_names } => {
                let names: Vec<&str> = parameter_names.iter().map(String::as_str).collect();
                Ok(Rpc::GetParameterValuesResponse {
                    parameter_list: self.dm.get_values(&names)?,
                })
            }
            _ => Err(Fault::new(FaultCode::MethodNotSupported)),
        }
    }
}

fn inform() -> Inform {
    Inform {
        device_id: DeviceId {
            manufacturer: "bench".into(),
            oui: "001122".into(),
            product_class: "bench".into(),
            serial_number: "1".into(),
        },
        events: vec![Event {
            event_code: "2 PERIODIC".into(),
            command_key: String::new(),
        }],
        max_envelopes: 1,
        current_time: DateTime::from_unix(0),
        retry_count: 0,
        parameter_list: Vec::new(),
    }
}

/// The UDP echo socket; also served between slices of long work, as the daemon's reflectors are.
struct Echo {
    udp: UdpSocket,
    epoch: Instant,
    worst_udp_wait: Duration,
}

impl Urgent for Echo {
    /// Echoes every waiting datagram, noting how long the oldest one waited.
    fn serve_now(&mut self) {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = self.udp.recv_from(&mut buf) {
            if let Some(sent) = buf
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
            {
                let waited = self
                    .epoch
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(sent));
                self.worst_udp_wait = self.worst_udp_wait.max(waited);
            }
            let _ = self.udp.send_to(buf.get(..n).unwrap_or(&[]), from);
        }
    }
}

/// The loop under test: the ACS link and a UDP echo socket in one Poll.
struct Loop {
    poll: Poll,
    link: AcsLink,
    echo: Rc<RefCell<Echo>>,
    handler: Handler,
}

impl Loop {
    /// Runs one session to its end; false (and a note on stderr) if it failed or took over 20 s.
    fn session(&mut self, url: &str) -> bool {
        let opening = SessionOpening {
            url: url.to_owned(),
            inform: inform(),
            cpe_requests: Vec::new(),
            version: CwmpVersion::V1_2,
            session_timeout: 30,
        };
        if self
            .link
            .start(self.poll.registry(), opening, Instant::now())
            .is_err()
        {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Events::with_capacity(64);
        let mut acks: Vec<Acknowledged> = Vec::new();
        while Instant::now() < deadline {
            let timeout = self
                .link
                .poll_at()
                .map(|t| t.saturating_duration_since(Instant::now()));
            let timeout = timeout
                .unwrap_or(Duration::from_millis(100))
                .min(Duration::from_millis(100));
            if self.poll.poll(&mut events, Some(timeout)).is_err() {
                return false;
            }
            let now = Instant::now();
            let mut ended = None;
            for event in events.iter() {
                match event.token() {
                    ACS => {
                        ended = ended.or(self.link.handle_event(
                            self.poll.registry(),
                            event,
                            now,
                            &mut self.handler,
                            &mut acks,
                        ))
                    }
                    UDP => self.echo(),
                    _ => {}
                }
            }
            if ended.is_none() && self.link.poll_at().is_some_and(|t| t <= Instant::now()) {
                ended = self.link.handle_timeout(
                    self.poll.registry(),
                    Instant::now(),
                    &mut self.handler,
                    &mut acks,
                );
            }
            if let Some(result) = ended {
                if let Err(e) = &result {
                    eprintln!("session failed: {e}");
                }
                return result.is_ok();
            }
        }
        eprintln!("session still running after 20 s");
        false
    }

    fn echo(&mut self) {
        self.echo.borrow_mut().serve_now();
    }
}

fn main() {
    let gpv_10k = acs::SessionScript {
        requests: vec![Rpc::GetParameterValues {
            parameter_names: vec![synthetic::TABLE.into()],
        }],
        ..Default::default()
    };
    let one_param = Rpc::GetParameterValues {
        parameter_names: vec!["Device.Hosts.Host.1.PhysAddress".into()],
    };
    let rpcs = acs::SessionScript {
        requests: vec![one_param; 1000],
        ..Default::default()
    };
    const EMPTY_SESSIONS: usize = 300;
    let mut scripts = vec![acs::SessionScript::default(); EMPTY_SESSIONS];
    scripts.push(rpcs);
    scripts.push(gpv_10k);
    let server = acs::TestAcs::start(acs::AcsOptions {
        sessions: scripts,
        parse_limit: Some(64 * 1024),
        ..Default::default()
    });
    let url = server.url();

    let poll = Poll::new().expect("poll");
    let mut udp = UdpSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("udp");
    poll.registry()
        .register(&mut udp, UDP, Interest::READABLE)
        .expect("register udp");
    let udp_addr = udp.local_addr().expect("udp addr");
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = StdUdp::bind("127.0.0.1:0").expect("pinger");
            while !stop.load(Ordering::Relaxed) {
                let sent = epoch.elapsed().as_nanos() as u64;
                let _ = socket.send_to(&sent.to_le_bytes(), udp_addr);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let link = AcsLink::new(HttpConfig::default(), ACS).expect("link");
    let echo = Rc::new(RefCell::new(Echo {
        udp,
        epoch,
        worst_udp_wait: Duration::ZERO,
    }));
    slices::install(vec![echo.clone()]);
    let mut lp = Loop {
        poll,
        link,
        echo,
        handler: Handler {
            dm: synthetic::data_model(),
        },
    };

    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..EMPTY_SESSIONS {
        ok += usize::from(lp.session(&url));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sessions Inform->204 on loopback: {:.0} sessions/s ({ok}/{EMPTY_SESSIONS} ok)",
        ok as f64 / secs
    );

    let start = Instant::now();
    let ok = lp.session(&url);
    let per_rpc = start.elapsed().as_secs_f64() * 1000.0 / 1000.0;
    println!(
        "RPC round trip (GPV of 1 parameter, 1000 in one session): {per_rpc:.3} ms (goal 1 ms){}",
        if ok { "" } else { " FAILED" }
    );

    synthetic::reset_peak();
    let base = synthetic::status_kib("VmRSS:");
    let start = Instant::now();
    let ok = lp.session(&url);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let extra = synthetic::status_kib("VmHWM:").saturating_sub(base) as f64 / 1024.0;
    println!(
        "session with GPV of 10,000 parameters: {ms:.1} ms, peak extra RSS {extra:.2} MiB (the test ACS does not parse it){}",
        if ok { "" } else { " FAILED" }
    );
    println!(
        "worst UDP echo wait during the sessions: {:.2} ms",
        lp.echo.borrow().worst_udp_wait.as_secs_f64() * 1000.0
    );
    stop.store(true, Ordering::Relaxed);
    let _ = pinger.join();
}
