//! Debian's coturn as the STUN server of the tests: started on a free loopback UDP port with `tests/coturn.conf`, stopped on drop.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use icwmp::wire::stun::{parse_response, BindingRequest, ResponseBody};

/// A running `turnserver --stun-only` on 127.0.0.1.
pub struct Coturn {
    child: Child,
    pub port: u16,
}

/// Whether `turnserver` is on the PATH.
fn installed() -> bool {
    Command::new("turnserver")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Asks the server at `port` for a binding once; true if it answered.
fn answers(port: u16) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let request = BindingRequest {
        transaction: [7; 12],
        connection_request_binding: false,
        binding_change: false,
        credentials: None,
    };
    if socket
        .send_to(&request.emit(), ("127.0.0.1", port))
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 512];
    match socket.recv(&mut buf) {
        Ok(n) => matches!(
            parse_response(&buf[..n], None).map(|r| r.body),
            Ok(ResponseBody::Success { .. })
        ),
        Err(_) => false,
    }
}

impl Coturn {
    /// Starts coturn with its files under `dir`; `None` (with a note on
    /// stderr) when coturn is not installed.
    pub fn start(dir: &Path) -> Option<Coturn> {
        if !installed() {
            eprintln!("skipped: turnserver is missing (apt-get install coturn)");
            return None;
        }
        // The free port picked may be taken again before coturn binds it: try a few.
        for _ in 0..5 {
            if let Some(coturn) = Self::start_once(dir) {
                return Some(coturn);
            }
        }
        panic!(
            "coturn did not start; see {}",
            dir.join("turnserver.log").display()
        );
    }

    fn start_once(dir: &Path) -> Option<Coturn> {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coturn.conf");
        let log = std::fs::File::create(dir.join("turnserver.log")).expect("coturn log");
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(config)
            .args(["--listening-ip", "127.0.0.1", "--listening-port"])
            .arg(port.to_string())
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .arg("--db")
            .arg(dir.join("turndb"))
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if answers(port) {
                return Some(coturn);
            }
        }
        None
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
