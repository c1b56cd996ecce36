//! The one module that calls libc directly: signal delivery into the poll loop, local time, interface addresses, clock state, free disk space, datagrams with their kernel receive time and TTL, raw ICMP sockets and IP header options.
//!
//! Everything else in the crate is `unsafe`-free; each function here keeps its
//! unsafe block to the single libc call it wraps.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::wire::rtnetlink;
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

/// Most addresses read from one dump: far more than any router has.
const MAX_ADDRESSES: usize = 4096;

/// The IPv4 addresses of all interfaces, in kernel order, from an rtnetlink
/// address dump (`wire::rtnetlink`); empty when the kernel cannot be asked.
pub fn ipv4_addresses() -> Vec<InterfaceAddress> {
    let mut dumped = Vec::new();
    if let Err(e) = dump_ipv4_addresses(&mut dumped) {
        log::warn!("reading interface addresses: {e}");
        return Vec::new();
    }
    dumped
        .into_iter()
        .map(|entry| InterfaceAddress {
            interface: if entry.label.is_empty() {
                interface_name(entry.index).unwrap_or_default()
            } else {
                entry.label
            },
            address: entry.address,
            netmask: rtnetlink::netmask(entry.prefix_len),
        })
        .collect()
}

/// Sends the RTM_GETADDR dump request on a fresh netlink socket and reads
/// the answer until NLMSG_DONE; each wait is bounded by a receive timeout
/// and the whole by a count of datagrams.
fn dump_ipv4_addresses(out: &mut Vec<rtnetlink::DumpedAddress>) -> io::Result<()> {
    // SAFETY: plain socket(2); the descriptor is owned by `socket` below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: setsockopt reads a timeval of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let seq = std::process::id();
    let request = rtnetlink::addr_dump_request(seq);
    // SAFETY: send(2) reads request.len() bytes of the request.
    if unsafe {
        libc::send(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let mut buffer = vec![0u8; 32 * 1024];
    for _ in 0..MAX_ADDRESSES {
        // SAFETY: recv(2) writes at most buffer.len() bytes into buffer.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if n <= 0 {
            return Err(if n == 0 {
                io::ErrorKind::UnexpectedEof.into()
            } else {
                io::Error::last_os_error()
            });
        }
        let datagram = buffer.get(..n as usize).unwrap_or_default();
        match rtnetlink::parse_addr_dump(datagram, seq, out, MAX_ADDRESSES) {
            rtnetlink::DumpProgress::More => {}
            rtnetlink::DumpProgress::Done => return Ok(()),
            rtnetlink::DumpProgress::Failed => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the kernel's address dump failed",
                ))
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "the kernel's address dump did not end",
    ))
}

/// The name of the interface with index `index` (if_indextoname(3)).
fn interface_name(index: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes, NUL-terminated.
    let named = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if named.is_null() {
        return None;
    }
    // SAFETY: on success name holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether the kernel clock is synchronised (adjtimex(2) state other than
/// TIME_ERROR); `None` if the call fails.
pub fn clock_synchronized() -> Option<bool> {
    clock_state().map(|s| s.synchronized)
}

/// The kernel clock's synchronisation state and estimated error (adjtimex(2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockState {
    /// Not in TIME_ERROR state (an NTP daemon disciplines the clock).
    pub synchronized: bool,
    /// The kernel's estimated error in microseconds.
    pub error_us: u64,
}

/// The clock's state; `None` if adjtimex fails.
pub fn clock_state() -> Option<ClockState> {
    // SAFETY: an all-zero timex with modes 0 only reads the kernel state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: tx is a valid, exclusively borrowed timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    let synchronized = state != libc::TIME_ERROR;
    let error = if synchronized {
        tx.esterror
    } else {
        tx.maxerror
    };
    Some(ClockState {
        synchronized,
        error_us: u64::try_from(error).unwrap_or(0),
    })
}

/// One datagram read by [`recv_datagram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (the rest is lost).
    pub truncated: bool,
    pub from: SocketAddr,
    /// The kernel's receive time (SO_TIMESTAMPNS) as unix seconds and nanoseconds.
    pub received: Option<(i64, u32)>,
    /// The IPv4 TTL or IPv6 hop limit the datagram arrived with.
    pub ttl: Option<u8>,
}

fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: value lives across the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to attach the receive time and the TTL (hop limit) to
/// every datagram of a UDP socket, for [`recv_datagram`].
pub fn enable_datagram_metadata(fd: RawFd, ipv6: bool) -> io::Result<()> {
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    if ipv6 {
        set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
    }
}

/// Reads one datagram of a non-blocking UDP socket with recvmsg(2), with
/// the metadata [`enable_datagram_metadata`] asked for.
pub fn recv_datagram(fd: RawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    // Room for a timespec and an int control message, 8-byte aligned.
    let mut control = [0u64; 16];
    // SAFETY: zeroed sockaddr_storage and msghdr are valid.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in msg refers to a live buffer of the stated length.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = sockaddr_to_std(&name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram from an unknown address family",
        )
    })?;
    let mut received = None;
    let mut ttl = None;
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR stay within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points to a complete header inside the control buffer.
        let header = unsafe { std::ptr::read_unaligned(cmsg) };
        // SAFETY: the data of a header the kernel wrote follows it.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        match (header.cmsg_level, header.cmsg_type) {
            (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS) => {
                // SAFETY: SCM_TIMESTAMPNS carries a timespec.
                let ts = unsafe { std::ptr::read_unaligned(data as *const libc::timespec) };
                received = Some((ts.tv_sec as i64, ts.tv_nsec as u32));
            }
            (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                // SAFETY: IP_TTL and IPV6_HOPLIMIT carry an int.
                let value = unsafe { std::ptr::read_unaligned(data as *const libc::c_int) };
                ttl = u8::try_from(value).ok();
            }
            _ => {}
        }
        // SAFETY: as above, the next header or null.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Datagram {
        len: usize::try_from(n).unwrap_or(0).min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        from,
        received,
        ttl,
    })
}

fn sockaddr_to_std(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: an AF_INET sockaddr_storage holds a sockaddr_in.
            let sin = unsafe {
                std::ptr::read_unaligned(
                    (name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                )
            };
            Some(SocketAddr::from((
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 sockaddr_storage holds a sockaddr_in6.
            let sin6 = unsafe {
                std::ptr::read_unaligned(
                    (name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>(),
                )
            };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
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

/// A non-blocking raw ICMP (`v6`: ICMPv6) socket, as a `std` UDP socket so
/// that mio can register it and `send_to`/`recv_from` work on it. Needs root
/// (CAP_NET_RAW). An IPv4 raw socket reads whole datagrams (IPv4 header
/// first); an ICMPv6 one reads the ICMPv6 message only.
pub fn raw_icmp_socket(v6: bool) -> io::Result<std::net::UdpSocket> {
    use std::os::fd::FromRawFd;
    let (domain, protocol) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    // SAFETY: socket() takes plain integers; the fd it returns is owned below.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    Ok(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
}

/// Sets the unicast hop limit (IPv4 TTL) of the packets `fd` sends.
pub fn set_hop_limit(fd: RawFd, v6: bool, hops: u8) -> io::Result<()> {
    if v6 {
        set_int_option(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            libc::c_int::from(hops),
        )
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_TTL, libc::c_int::from(hops))
    }
}

/// Marks the packets `fd` sends with `dscp` (the upper six bits of the IPv4
/// TOS byte or the IPv6 traffic class).
pub fn set_dscp(fd: RawFd, v6: bool, dscp: u8) -> io::Result<()> {
    let class = libc::c_int::from(dscp & 0x3F) << 2;
    if v6 {
        set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, class)
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_TOS, class)
    }
}

/// Sets the 802.1p priority (SO_PRIORITY, 0–7) of the packets `fd` sends.
pub fn set_priority(fd: RawFd, priority: u8) -> io::Result<()> {
    set_int_option(
        fd,
        libc::SOL_SOCKET,
        libc::SO_PRIORITY,
        libc::c_int::from(priority.min(7)),
    )
}

/// Sends `fd`'s packets out of the interface named `device` only (SO_BINDTODEVICE).
pub fn bind_to_device(fd: RawFd, device: &str) -> io::Result<()> {
    let name = device.as_bytes();
    // SAFETY: the name buffer is valid for its length for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
        assert!(addrs.iter().any(|a| a.interface == "lo"
            && a.address == Ipv4Addr::LOCALHOST
            && a.netmask == Ipv4Addr::new(255, 0, 0, 0)));
        assert!(clock_synchronized().is_some());
    }

    #[test]
    fn datagrams_carry_receive_time_and_ttl() {
        use std::os::fd::AsRawFd;
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver.set_nonblocking(true).expect("nonblocking");
        enable_datagram_metadata(receiver.as_raw_fd(), false).expect("metadata");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind sender");
        sender.set_ttl(200).expect("ttl");
        sender
            .send_to(b"hello world", receiver.local_addr().expect("addr"))
            .expect("send");
        let mut buf = [0u8; 5];
        let got = loop {
            match recv_datagram(receiver.as_raw_fd(), &mut buf) {
                Ok(d) => break d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got.len, 5);
        assert!(got.truncated);
        assert_eq!(&buf, b"hello");
        assert_eq!(got.from, sender.local_addr().expect("sender addr"));
        assert_eq!(got.ttl, Some(200));
        let (secs, nanos) = got.received.expect("kernel timestamp");
        assert!(secs > 1_600_000_000 && nanos < 1_000_000_000);
        assert!(clock_state().is_some());
    }

    #[test]
    fn raw_icmp_socket_takes_hop_limit_and_dscp() {
        use std::os::fd::AsRawFd;
        let Ok(socket) = raw_icmp_socket(false) else {
            eprintln!("skipped: no raw socket (not root)");
            return;
        };
        let fd = socket.as_raw_fd();
        set_hop_limit(fd, false, 3).expect("ttl");
        set_dscp(fd, false, 46).expect("tos");
        set_priority(fd, 5).expect("priority");
        assert_eq!(socket.ttl().expect("read ttl"), 3);
    }

    #[test]
    fn temp_dir_has_free_space() {
        assert!(free_space(&std::env::temp_dir()).expect("statvfs") > 0);
        assert!(free_space(std::path::Path::new("/no/such/dir")).is_err());
    }
}
