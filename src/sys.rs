//! The one module that calls libc directly: signal delivery into the poll loop, local time, interface addresses, clock state, free disk space.
//!
//! Everything else in the crate is `unsafe`-free; each function here keeps its
//! unsafe block to the single libc call it wraps.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Write end of the self-pipe the signal handler reports into (-1: none).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // Only async-signal-safe calls here: save errno, write one byte, restore errno.
        // SAFETY: __errno_location returns this thread's errno slot; write() on a
        // non-blocking pipe with a one-byte stack buffer is async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            let byte = signal as u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Routes `signals` to a byte (the signal number) written on `pipe_fd`, which
/// must be the non-blocking write end of a pipe the poll loop reads.
pub fn route_signals_to_pipe(pipe_fd: RawFd, signals: &[libc::c_int]) -> io::Result<()> {
    SIGNAL_PIPE.store(pipe_fd, Ordering::Relaxed);
    for &signal in signals {
        // SAFETY: a zeroed sigaction is valid; we set a plain handler with
        // SA_RESTART and an empty mask, and pass valid pointers.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Broken-down local time of a unix timestamp, with the zone's offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Seconds east of UTC.
    pub utc_offset: i32,
}

/// The local time of `unix` seconds, per the process's TZ setting.
pub fn local_time(unix: i64) -> LocalTime {
    // musl 1.2 made time_t 64-bit everywhere; the libc crate flags the alias until it follows.
    #[allow(deprecated)]
    let t = unix as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we own; a zeroed tm is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            utc_offset: 0,
        };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        utc_offset: tm.tm_gmtoff as i32,
    }
}

/// An IPv4 address configured on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: Ipv4Addr,
    pub netmask: Ipv4Addr,
}

/// The IPv4 addresses of all interfaces (getifaddrs(3)), in kernel order.
pub fn ipv4_addresses() -> Vec<InterfaceAddress> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor is a node of the list getifaddrs returned, still alive.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr of its family.
        let family = unsafe { (*entry.ifa_addr).sa_family };
        if i32::from(family) != libc::AF_INET {
            continue;
        }
        // SAFETY: for AF_INET the address is a sockaddr_in.
        let address = unsafe { sockaddr_v4(entry.ifa_addr) };
        let netmask = if entry.ifa_netmask.is_null() {
            Ipv4Addr::UNSPECIFIED
        } else {
            // SAFETY: the netmask of an AF_INET entry is a sockaddr_in too.
            unsafe { sockaddr_v4(entry.ifa_netmask) }
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(entry.ifa_name) };
        out.push(InterfaceAddress {
            interface: name.to_string_lossy().into_owned(),
            address,
            netmask,
        });
    }
    // SAFETY: head came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// Reads an IPv4 address out of a `sockaddr` known to be `AF_INET`.
unsafe fn sockaddr_v4(addr: *const libc::sockaddr) -> Ipv4Addr {
    // SAFETY: the caller guarantees addr points to a sockaddr_in; read_unaligned
    // avoids assuming the C allocation's alignment.
    let sin = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in) };
    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))
}

/// Whether the kernel clock is synchronised (adjtimex(2) state other than
/// TIME_ERROR); `None` if the call fails.
pub fn clock_synchronized() -> Option<bool> {
    // SAFETY: an all-zero timex with modes 0 only reads the kernel state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: tx is a valid, exclusively borrowed timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        None
    } else {
        Some(state != libc::TIME_ERROR)
    }
}

/// Sends `signal` to process `pid` (kill(2)).
pub fn send_signal(pid: i32, signal: libc::c_int) -> io::Result<()> {
    if pid <= 0 {
        // kill(0, …) and kill(-1, …) address process groups: never wanted here.
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes an unprivileged process may still write in the file system holding `path` (statvfs(3)).
// The block counts are 32-bit on some OpenWrt targets, hence the conversions.
#[allow(clippy::useless_conversion)]
pub fn free_space(path: &std::path::Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: a zeroed statvfs is valid; statvfs only writes into it and reads the NUL-terminated path.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_sane() {
        let t = local_time(0);
        assert!(t.year == 1970 || t.year == 1969);
        assert!(t.utc_offset.abs() <= 14 * 3600);
        let later = local_time(1_577_180_478); // 2019-12-24T09:41:18Z
        assert_eq!(later.year, 2019);
        assert_eq!(later.month, 12);
    }

    #[test]
    fn loopback_has_an_ipv4_address() {
        let addrs = ipv4_addresses();
        assert!(addrs
            .iter()
            .any(|a| a.interface == "lo" && a.address == Ipv4Addr::LOCALHOST));
        assert!(clock_synchronized().is_some());
    }

    #[test]
    fn temp_dir_has_free_space() {
        assert!(free_space(&std::env::temp_dir()).expect("statvfs") > 0);
        assert!(free_space(std::path::Path::new("/no/such/dir")).is_err());
    }
}
