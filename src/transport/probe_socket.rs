//! The reflectors' UDP sockets: bound on an IP interface's address, with the kernel's receive time and TTL on every datagram.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use mio::net::UdpSocket;

use crate::sys;

/// Largest datagram the reflectors answer; longer ones are dropped, so an
/// answer is never larger than this (a jumbo frame's payload).
pub const MAX_DATAGRAM: usize = 9216;

/// The address to bind for an IP interface Name: its first IPv4 address;
/// an empty name means every interface.
pub fn interface_address(interface: &str) -> Result<IpAddr, String> {
    if interface.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    sys::ipv4_addresses()
        .into_iter()
        .find(|a| a.interface == interface || a.interface.split(':').next() == Some(interface))
        .map(|a| IpAddr::V4(a.address))
        .ok_or_else(|| format!("interface '{interface}' has no IPv4 address"))
}

/// A non-blocking UDP socket on `address` that reports receive times and TTLs.
pub fn bind(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(address)?;
    sys::enable_datagram_metadata(socket.as_raw_fd(), address.is_ipv6())?;
    Ok(socket)
}

/// What one read of a probe socket gave.
pub enum Read {
    /// A datagram of at most [`MAX_DATAGRAM`] bytes is in the buffer.
    Datagram(sys::Datagram),
    /// A datagram was dropped (too long, or unreadable); keep reading.
    Dropped,
    /// Nothing more to read now.
    Empty,
}

/// Reads one datagram into `buf` (which must hold more than [`MAX_DATAGRAM`] bytes).
pub fn read(socket: &UdpSocket, buf: &mut [u8]) -> Read {
    loop {
        return match sys::recv_datagram(socket.as_raw_fd(), buf) {
            Ok(d) if d.truncated || d.len > MAX_DATAGRAM => Read::Dropped,
            Ok(d) => Read::Datagram(d),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Empty,
            // ICMP errors of earlier answers surface here: the datagram is gone, read on.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Read::Dropped,
            Err(_) => Read::Empty,
        };
    }
}
