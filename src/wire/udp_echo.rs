//! The UDPEchoPlus header of TR-143 Appendix A.1.2: five 32-bit fields at the start of the UDP payload.

/// Length of the UDPEchoPlus header.
pub const ECHO_PLUS_HEADER: usize = 20;

/// The UDPEchoPlus header fields (network byte order on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoPlusHeader {
    /// The client's sequence number, echoed unchanged.
    pub test_gen_sn: u32,
    /// The server's sequence number, incremented for each Echo Plus answer.
    pub test_resp_sn: u32,
    /// When the server received the packet, in microseconds (modulo 2^32).
    pub test_resp_recv_time_stamp: u32,
    /// When the server sent the answer, in microseconds (modulo 2^32).
    pub test_resp_reply_time_stamp: u32,
    /// How many answers the server failed to send so far.
    pub test_resp_reply_failure_count: u32,
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Parses the header at the start of a payload; `None` when the payload is
/// too short to hold one (it is then answered as a plain echo).
pub fn parse_echo_plus(payload: &[u8]) -> Option<EchoPlusHeader> {
    Some(EchoPlusHeader {
        test_gen_sn: word(payload, 0)?,
        test_resp_sn: word(payload, 4)?,
        test_resp_recv_time_stamp: word(payload, 8)?,
        test_resp_reply_time_stamp: word(payload, 12)?,
        test_resp_reply_failure_count: word(payload, 16)?,
    })
}

/// Writes `header` over the first 20 bytes of `payload`; false (and nothing
/// written) when the payload is shorter than the header.
pub fn write_echo_plus(header: &EchoPlusHeader, payload: &mut [u8]) -> bool {
    let Some(slot) = payload.get_mut(..ECHO_PLUS_HEADER) else {
        return false;
    };
    let fields = [
        header.test_gen_sn,
        header.test_resp_sn,
        header.test_resp_recv_time_stamp,
        header.test_resp_reply_time_stamp,
        header.test_resp_reply_failure_count,
    ];
    for (chunk, field) in slot.chunks_exact_mut(4).zip(fields) {
        chunk.copy_from_slice(&field.to_be_bytes());
    }
    true
}

/// A wall-clock time as the header's microsecond counter.
pub fn micros32(unix_seconds: i64, nanos: u32) -> u32 {
    (unix_seconds as u64)
        .wrapping_mul(1_000_000)
        .wrapping_add(u64::from(nanos / 1_000)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_in_network_order() {
        let header = EchoPlusHeader {
            test_gen_sn: 0x0102_0304,
            test_resp_sn: 5,
            test_resp_recv_time_stamp: 0xdead_beef,
            test_resp_reply_time_stamp: 0xdead_bf00,
            test_resp_reply_failure_count: 2,
        };
        let mut payload = vec![0xaa; 24];
        assert!(write_echo_plus(&header, &mut payload));
        assert_eq!(
            payload,
            [
                1, 2, 3, 4, 0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbf, 0x00, 0, 0, 0, 2,
                0xaa, 0xaa, 0xaa, 0xaa
            ]
        );
        assert_eq!(parse_echo_plus(&payload), Some(header));
    }

    #[test]
    fn short_payloads_have_no_header() {
        assert_eq!(parse_echo_plus(&[0; 19]), None);
        let mut short = [7u8; 19];
        assert!(!write_echo_plus(&EchoPlusHeader::default(), &mut short));
        assert_eq!(short, [7u8; 19]);
        assert!(parse_echo_plus(&[0; 20]).is_some());
    }

    #[test]
    fn microseconds_wrap_at_32_bits() {
        assert_eq!(micros32(0, 1_999), 1);
        assert_eq!(micros32(4295, 0), (4_295_000_000u64 % (1 << 32)) as u32);
    }
}
