//! ICMP and ICMPv6 echo messages and the errors that quote them (time exceeded, unreachable): bytes <-> types.

/// The ICMP messages the diagnostics care about, matched to a probe by identifier and sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpMessage {
    /// An echo reply to our echo request `id`/`seq`.
    EchoReply { id: u16, seq: u16 },
    /// A router dropped our probe `id`/`seq` because its hop limit ran out.
    TimeExceeded { code: u8, id: u16, seq: u16 },
    /// Our probe `id`/`seq` could not be delivered; `code` is the ICMP code.
    Unreachable { code: u8, id: u16, seq: u16 },
}

const V4_ECHO_REPLY: u8 = 0;
const V4_UNREACHABLE: u8 = 3;
const V4_ECHO_REQUEST: u8 = 8;
const V4_TIME_EXCEEDED: u8 = 11;
const V6_UNREACHABLE: u8 = 1;
const V6_TIME_EXCEEDED: u8 = 3;
const V6_ECHO_REQUEST: u8 = 128;
const V6_ECHO_REPLY: u8 = 129;
/// IPv6 next-header number of ICMPv6.
const NEXT_HEADER_ICMPV6: u8 = 58;

/// An echo request with `payload_len` bytes of pattern data. For IPv4 the
/// checksum is filled in; for ICMPv6 the kernel computes it (RFC 3542 §3.1).
pub fn echo_request(v6: bool, id: u16, seq: u16, payload_len: usize) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload_len);
    packet.push(if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST });
    packet.push(0);
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend((0..payload_len).map(|i| (i % 251) as u8));
    if !v6 {
        let sum = checksum(&packet).to_be_bytes();
        packet[2] = sum[0];
        packet[3] = sum[1];
    }
    packet
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Parses what an IPv4 raw ICMP socket reads: the IPv4 header, then the ICMP
/// message. `None` for anything that is not an echo reply or an error quoting an echo request.
pub fn parse_v4(packet: &[u8]) -> Option<IcmpMessage> {
    let header_len = usize::from(packet.first()? & 0x0F) * 4;
    if header_len < 20 || packet.first()? >> 4 != 4 {
        return None;
    }
    let icmp = packet.get(header_len..)?;
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        V4_ECHO_REPLY => {
            let (id, seq) = id_seq(icmp)?;
            Some(IcmpMessage::EchoReply { id, seq })
        }
        V4_TIME_EXCEEDED | V4_UNREACHABLE => {
            let quoted = icmp.get(8..)?;
            let quoted_len = usize::from(quoted.first()? & 0x0F) * 4;
            // Protocol 1: the quoted datagram was an ICMP echo request of ours.
            if quoted_len < 20 || *quoted.get(9)? != 1 {
                return None;
            }
            let inner = quoted.get(quoted_len..)?;
            if *inner.first()? != V4_ECHO_REQUEST {
                return None;
            }
            let (id, seq) = id_seq(inner)?;
            Some(error_message(kind == V4_TIME_EXCEEDED, code, id, seq))
        }
        _ => None,
    }
}

/// Parses what an IPv6 raw ICMPv6 socket reads (the ICMPv6 message, no IPv6 header).
pub fn parse_v6(icmp: &[u8]) -> Option<IcmpMessage> {
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        V6_ECHO_REPLY => {
            let (id, seq) = id_seq(icmp)?;
            Some(IcmpMessage::EchoReply { id, seq })
        }
        V6_TIME_EXCEEDED | V6_UNREACHABLE => {
            // 8 bytes of error header, then the offending IPv6 header (40 bytes).
            let quoted = icmp.get(8..)?;
            if *quoted.first()? >> 4 != 6 || *quoted.get(6)? != NEXT_HEADER_ICMPV6 {
                return None;
            }
            let inner = quoted.get(40..)?;
            if *inner.first()? != V6_ECHO_REQUEST {
                return None;
            }
            let (id, seq) = id_seq(inner)?;
            Some(error_message(kind == V6_TIME_EXCEEDED, code, id, seq))
        }
        _ => None,
    }
}

fn error_message(time_exceeded: bool, code: u8, id: u16, seq: u16) -> IcmpMessage {
    if time_exceeded {
        IcmpMessage::TimeExceeded { code, id, seq }
    } else {
        IcmpMessage::Unreachable { code, id, seq }
    }
}

fn id_seq(echo: &[u8]) -> Option<(u16, u16)> {
    let id = u16::from_be_bytes([*echo.get(4)?, *echo.get(5)?]);
    let seq = u16::from_be_bytes([*echo.get(6)?, *echo.get(7)?]);
    Some((id, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_header(protocol: u8, payload_len: usize) -> Vec<u8> {
        let total = (20 + payload_len) as u16;
        let mut h = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h
    }

    #[test]
    fn echo_request_has_a_valid_checksum() {
        let request = echo_request(false, 0x1234, 7, 56);
        assert_eq!(request.len(), 64);
        assert_eq!(&request[..2], &[8, 0]);
        assert_eq!(
            checksum(&request),
            0,
            "a packet with its checksum sums to zero"
        );
        let v6 = echo_request(true, 1, 2, 3);
        assert_eq!(&v6[..8], &[128, 0, 0, 0, 0, 1, 0, 2]);
        assert_eq!(checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn parses_v4_echo_reply_and_quoted_errors() {
        let mut reply = echo_request(false, 9, 3, 8);
        reply[0] = 0;
        let mut packet = ipv4_header(1, reply.len());
        packet.extend_from_slice(&reply);
        assert_eq!(
            parse_v4(&packet),
            Some(IcmpMessage::EchoReply { id: 9, seq: 3 })
        );

        let probe = echo_request(false, 9, 4, 8);
        let mut quoted = ipv4_header(1, probe.len());
        quoted.extend_from_slice(&probe[..8]);
        for (kind, code, expected) in [
            (
                11,
                0,
                IcmpMessage::TimeExceeded {
                    code: 0,
                    id: 9,
                    seq: 4,
                },
            ),
            (
                3,
                1,
                IcmpMessage::Unreachable {
                    code: 1,
                    id: 9,
                    seq: 4,
                },
            ),
        ] {
            let mut error = vec![kind, code, 0, 0, 0, 0, 0, 0];
            error.extend_from_slice(&quoted);
            let mut packet = ipv4_header(1, error.len());
            packet.extend_from_slice(&error);
            assert_eq!(parse_v4(&packet), Some(expected));
        }
        // Our own request looped back, truncated or foreign packets are ignored.
        let mut own = ipv4_header(1, probe.len());
        own.extend_from_slice(&probe);
        assert_eq!(parse_v4(&own), None);
        assert_eq!(parse_v4(&own[..22]), None);
        assert_eq!(parse_v4(&[]), None);
        assert_eq!(parse_v4(&[0x41; 30]), None);
    }

    #[test]
    fn parses_v6_echo_reply_and_quoted_errors() {
        let mut reply = echo_request(true, 5, 6, 4);
        reply[0] = 129;
        assert_eq!(
            parse_v6(&reply),
            Some(IcmpMessage::EchoReply { id: 5, seq: 6 })
        );
        let mut error = vec![3, 0, 0, 0, 0, 0, 0, 0];
        let mut header = vec![0u8; 40];
        header[0] = 0x60;
        header[6] = 58;
        error.extend_from_slice(&header);
        error.extend_from_slice(&echo_request(true, 5, 7, 0));
        assert_eq!(
            parse_v6(&error),
            Some(IcmpMessage::TimeExceeded {
                code: 0,
                id: 5,
                seq: 7
            })
        );
        assert_eq!(parse_v6(&error[..20]), None);
        assert_eq!(parse_v6(&echo_request(true, 5, 6, 4)), None);
    }
}
