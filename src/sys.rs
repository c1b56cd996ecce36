//! The crate's only libc calls: interface IPv4 addresses and the kernel clock's synchronisation flag.
//!
//! Everything else reads /proc and /sys through std. Each function owns the C
//! memory it touches and copies results out before freeing it.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::net::Ipv4Addr;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_an_ipv4_address() {
        let addrs = ipv4_addresses();
        assert!(addrs
            .iter()
            .any(|a| a.interface == "lo" && a.address == Ipv4Addr::LOCALHOST));
        assert!(clock_synchronized().is_some());
    }
}
