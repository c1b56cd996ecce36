//! rtnetlink address dumps (RTM_GETADDR, IPv4): the request and a strict parser of the kernel's answer into interface addresses.
//!
//! Asking for addresses only (no RTM_GETLINK dump, as getifaddrs(3) does
//! first) is cheaper on routers with many interfaces, and the link dump is
//! what qemu-user mistranslates for big-endian guests, which hung the daemon
//! under `qemu-mips-static`. Netlink fields are in host byte order.

use std::net::Ipv4Addr;

const NLMSG_HEADER: usize = 16;
const IFADDRMSG: usize = 8;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const AF_INET: u8 = libc::AF_INET as u8;
/// Longest interface name the kernel gives (IFNAMSIZ without the NUL).
const MAX_NAME: usize = 15;

/// One IPv4 address of an interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpedAddress {
    /// The address label (the interface name, or `eth0:1` for a labelled alias);
    /// empty when the kernel sent none, so the caller names it by `index`.
    pub label: String,
    pub index: u32,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
}

/// What one datagram of the dump held besides its addresses.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpProgress {
    /// More datagrams follow.
    More,
    /// The kernel's NLMSG_DONE: the dump is complete.
    Done,
    /// An error message or a malformed datagram: the dump is unusable.
    Failed,
}

/// The RTM_GETADDR dump request for IPv4 addresses with sequence number `seq`.
pub fn addr_dump_request(seq: u32) -> [u8; NLMSG_HEADER + IFADDRMSG] {
    let mut out = [0u8; NLMSG_HEADER + IFADDRMSG];
    out[0..4].copy_from_slice(&((NLMSG_HEADER + IFADDRMSG) as u32).to_ne_bytes());
    out[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    out[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    out[NLMSG_HEADER] = AF_INET;
    out
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Parses one datagram of the dump answering sequence number `seq`, appending
/// its IPv4 addresses to `out` (at most `limit` in all). Messages of other
/// sequence numbers (another request's late answer) are skipped.
pub fn parse_addr_dump(
    datagram: &[u8],
    seq: u32,
    out: &mut Vec<DumpedAddress>,
    limit: usize,
) -> DumpProgress {
    let mut rest = datagram;
    while !rest.is_empty() {
        let (Some(len), Some(kind), Some(msg_seq)) =
            (u32_at(rest, 0), u16_at(rest, 4), u32_at(rest, 8))
        else {
            return DumpProgress::Failed;
        };
        let len = len as usize;
        if len < NLMSG_HEADER || len > rest.len() {
            return DumpProgress::Failed;
        }
        let message = &rest[..len];
        rest = rest.get(align4(len)..).unwrap_or_default();
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => return DumpProgress::Done,
            NLMSG_ERROR => return DumpProgress::Failed,
            RTM_NEWADDR => {
                let Some(address) = parse_new_addr(&message[NLMSG_HEADER..]) else {
                    return DumpProgress::Failed;
                };
                if let Some(address) = address {
                    if out.len() < limit {
                        out.push(address);
                    }
                }
            }
            _ => {}
        }
    }
    DumpProgress::More
}

/// One RTM_NEWADDR body: `None` when malformed, `Some(None)` for an address
/// that is not IPv4 or has none.
fn parse_new_addr(body: &[u8]) -> Option<Option<DumpedAddress>> {
    let header = body.get(..IFADDRMSG)?;
    let (family, prefix_len) = (header[0], header[1]);
    let index = u32_at(header, 4)?;
    let (mut local, mut peer, mut label) = (None, None, String::new());
    let mut attrs = &body[IFADDRMSG..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)?;
        if len < 4 || len > attrs.len() {
            return None;
        }
        let payload = &attrs[4..len];
        match kind {
            IFA_LOCAL => local = ipv4(payload),
            IFA_ADDRESS => peer = ipv4(payload),
            IFA_LABEL => {
                let name = payload.split(|&b| b == 0).next().unwrap_or_default();
                if name.len() <= MAX_NAME {
                    label = String::from_utf8_lossy(name).into_owned();
                }
            }
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or_default();
    }
    if family != AF_INET || prefix_len > 32 {
        return Some(None);
    }
    // As getifaddrs(3): the local address, or the only one given; on a
    // point-to-point link IFA_ADDRESS is the peer's.
    Some(local.or(peer).map(|address| DumpedAddress {
        label,
        index,
        address,
        prefix_len,
    }))
}

fn ipv4(payload: &[u8]) -> Option<Ipv4Addr> {
    let octets: [u8; 4] = payload.try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

/// The netmask of a prefix length of at most 32.
pub fn netmask(prefix_len: u8) -> Ipv4Addr {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(align4(out.len()), 0);
        out
    }

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HEADER + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&2u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(body);
        out.resize(align4(out.len()), 0);
        out
    }

    fn new_addr(family: u8, prefix: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![family, prefix, 0, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        for a in attrs {
            body.extend_from_slice(a);
        }
        body
    }

    #[test]
    fn request_asks_for_an_ipv4_address_dump() {
        let request = addr_dump_request(7);
        assert_eq!(u32_at(&request, 0), Some(24));
        assert_eq!(u16_at(&request, 4), Some(RTM_GETADDR));
        assert_eq!(u16_at(&request, 6), Some(0x301));
        assert_eq!(u32_at(&request, 8), Some(7));
        assert_eq!(request[16], 2);
    }

    #[test]
    fn addresses_labels_and_done_are_read() {
        let mut datagram = message(
            RTM_NEWADDR,
            9,
            &new_addr(
                2,
                8,
                1,
                &[
                    attr(IFA_ADDRESS, &[127, 0, 0, 1]),
                    attr(IFA_LOCAL, &[127, 0, 0, 1]),
                    attr(IFA_LABEL, b"lo\0"),
                ],
            ),
        );
        datagram.extend(message(
            RTM_NEWADDR,
            9,
            &new_addr(
                2,
                32,
                5,
                &[
                    attr(IFA_ADDRESS, &[10, 64, 0, 1]),
                    attr(IFA_LOCAL, &[100, 64, 3, 9]),
                    attr(IFA_LABEL, b"pppoe-wan\0"),
                ],
            ),
        ));
        let mut out = Vec::new();
        assert_eq!(
            parse_addr_dump(&datagram, 9, &mut out, 64),
            DumpProgress::More
        );
        assert_eq!(
            out,
            vec![
                DumpedAddress {
                    label: "lo".into(),
                    index: 1,
                    address: Ipv4Addr::LOCALHOST,
                    prefix_len: 8
                },
                DumpedAddress {
                    label: "pppoe-wan".into(),
                    index: 5,
                    address: Ipv4Addr::new(100, 64, 3, 9),
                    prefix_len: 32
                },
            ]
        );
        assert_eq!(
            parse_addr_dump(&message(NLMSG_DONE, 9, &[0; 4]), 9, &mut out, 64),
            DumpProgress::Done
        );
    }

    #[test]
    fn other_sequences_and_families_are_skipped_and_the_limit_holds() {
        let v4 = new_addr(2, 24, 3, &[attr(IFA_ADDRESS, &[192, 0, 2, 1])]);
        let v6 = new_addr(10, 64, 3, &[attr(IFA_ADDRESS, &[0xfe; 16])]);
        let mut datagram = message(RTM_NEWADDR, 1, &v4);
        datagram.extend(message(RTM_NEWADDR, 2, &v6));
        datagram.extend(message(RTM_NEWADDR, 2, &v4));
        datagram.extend(message(RTM_NEWADDR, 2, &v4));
        let mut out = Vec::new();
        assert_eq!(
            parse_addr_dump(&datagram, 2, &mut out, 1),
            DumpProgress::More
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].label, "");
        assert_eq!(out[0].address, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(netmask(out[0].prefix_len), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn errors_and_malformed_datagrams_fail_without_panicking() {
        let mut out = Vec::new();
        assert_eq!(
            parse_addr_dump(&message(NLMSG_ERROR, 4, &[0; 20]), 4, &mut out, 8),
            DumpProgress::Failed
        );
        let good = message(
            RTM_NEWADDR,
            4,
            &new_addr(2, 24, 3, &[attr(IFA_LOCAL, &[192, 0, 2, 1])]),
        );
        for cut in 0..good.len() {
            let _ = parse_addr_dump(&good[..cut], 4, &mut out, 8);
        }
        let mut zero_attr = good.clone();
        zero_attr[NLMSG_HEADER + IFADDRMSG..NLMSG_HEADER + IFADDRMSG + 2]
            .copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(
            parse_addr_dump(&zero_attr, 4, &mut out, 8),
            DumpProgress::Failed
        );
        let mut long = good;
        long[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(parse_addr_dump(&long, 4, &mut out, 8), DumpProgress::Failed);
    }
}
