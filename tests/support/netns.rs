//! Network namespaces joined by veth pairs for the diagnostics tests: a client three routed hops from a host, entered per thread with setns(2).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// `c` — `r1` — `r2` — `h`: the client 10.201.1.2 routes through r1
/// (10.201.1.1 / 10.201.2.1) and r2 (10.201.2.2 / 10.201.3.1) to the host
/// 10.201.3.2; over IPv6 the same through fd01:1::/64, fd01:2::/64 and
/// fd01:3::/64. Deleted on drop.
pub struct Path3 {
    prefix: String,
}

pub const CLIENT: &str = "c";
pub const HOST: &str = "h";
pub const ROUTER1: &str = "10.201.1.1";
pub const ROUTER2: &str = "10.201.2.2";
pub const HOST_ADDRESS: &str = "10.201.3.2";
pub const ROUTER1_V6: &str = "fd01:1::1";
pub const ROUTER2_V6: &str = "fd01:2::2";
pub const HOST_V6: &str = "fd01:3::2";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Path3 {
    /// Builds the path, or `None` (with a note) where namespaces cannot be made.
    pub fn create() -> Option<Path3> {
        let prefix = format!(
            "icwmp{}-{}-",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path3 { prefix };
        let n = |s: &str| path.name(s);
        for ns in ["c", "r1", "r2", "h"] {
            if !ip(&["netns", "add", &n(ns)]) {
                eprintln!("skipped: cannot create network namespaces (ip netns add; needs root)");
                return None;
            }
            ip(&["-n", &n(ns), "link", "set", "lo", "up"]);
        }
        let links = [
            ("c", "v0", "10.201.1.2/24", "r1", "v1", "10.201.1.1/24"),
            ("r1", "v2", "10.201.2.1/24", "r2", "v3", "10.201.2.2/24"),
            ("r2", "v4", "10.201.3.1/24", "h", "v5", "10.201.3.2/24"),
        ];
        for (a, va, aa, b, vb, ab) in links {
            let ok = ip(&[
                "-n",
                &n(a),
                "link",
                "add",
                va,
                "type",
                "veth",
                "peer",
                "name",
                vb,
                "netns",
                &n(b),
            ]) && ip(&["-n", &n(a), "addr", "add", aa, "dev", va])
                && ip(&["-n", &n(b), "addr", "add", ab, "dev", vb])
                && ip(&["-n", &n(a), "link", "set", va, "up"])
                && ip(&["-n", &n(b), "link", "set", vb, "up"]);
            if !ok {
                eprintln!("skipped: cannot create veth pairs between namespaces");
                return None;
            }
        }
        let routes = [
            ("c", "default", "10.201.1.1"),
            ("r1", "10.201.3.0/24", "10.201.2.2"),
            ("r2", "10.201.1.0/24", "10.201.2.1"),
            ("h", "default", "10.201.3.1"),
            ("c", "default", "fd01:1::1"),
            ("r1", "fd01:3::/64", "fd01:2::2"),
            ("r2", "fd01:1::/64", "fd01:2::1"),
            ("h", "default", "fd01:3::1"),
        ];
        for (ns, to, via) in routes {
            if !ip(&["-n", &n(ns), "route", "add", to, "via", via]) {
                eprintln!("skipped: cannot add routes in the namespaces");
                return None;
            }
        }
        for router in ["r1", "r2"] {
            // Forward, and answer every probe: no ICMP rate limit in the test path.
            for setting in [
                "net.ipv4.ip_forward=1",
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.icmp.ratelimit=0",
            ] {
                let ok = Command::new("ip")
                    .args(["netns", "exec", &n(router), "sysctl", "-qw", setting])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    eprintln!("skipped: cannot set {setting} in a namespace");
                    return None;
                }
            }
        }
        Some(path)
    }

    /// The full name of namespace `short` (`c`, `r1`, `r2`, `h`).
    pub fn name(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// Moves the calling thread into namespace `short`; threads it starts follow.
    pub fn enter(&self, short: &str) {
        let file = File::open(format!("/var/run/netns/{}", self.name(short))).expect("netns file");
        // SAFETY: setns on a valid namespace fd changes only this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Path3 {
    fn drop(&mut self) {
        for ns in ["c", "r1", "r2", "h"] {
            ip(&["netns", "del", &self.name(ns)]);
        }
    }
}

/// A namespace of its own with only loopback up (for servers that need port 53 etc.).
pub struct Lonely {
    name: String,
}

impl Lonely {
    pub fn create() -> Option<Lonely> {
        let name = format!(
            "icwmp{}-{}-lo",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if !ip(&["netns", "add", &name]) {
            eprintln!("skipped: cannot create network namespaces (ip netns add; needs root)");
            return None;
        }
        let lonely = Lonely { name };
        ip(&["-n", &lonely.name, "link", "set", "lo", "up"]);
        Some(lonely)
    }

    pub fn enter(&self) {
        let file = File::open(format!("/var/run/netns/{}", self.name)).expect("netns file");
        // SAFETY: as in Path3::enter.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Lonely {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.name]);
    }
}
