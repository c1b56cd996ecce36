//! TWAMP-light packets (RFC 5357 4.1.2 and 4.2.1, unauthenticated mode), NTP timestamps and the error estimate of RFC 4656 4.1.2.

/// Length of the unauthenticated Session-Sender test packet without padding.
pub const TEST_PACKET_MIN: usize = 14;
/// Length of the unauthenticated Session-Reflector test packet without padding.
pub const REFLECTOR_PACKET_MIN: usize = 41;

/// Seconds from the NTP era (1900-01-01) to the unix epoch.
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// A 64-bit NTP timestamp: seconds since 1900 and a binary fraction of a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtpTimestamp {
    pub seconds: u32,
    pub fraction: u32,
}

impl NtpTimestamp {
    /// The NTP form of a unix time (seconds and nanoseconds); seconds wrap
    /// modulo 2^32 as NTP era numbering does.
    pub fn from_unix(seconds: i64, nanos: u32) -> NtpTimestamp {
        let fraction = (u64::from(nanos.min(999_999_999)) << 32) / 1_000_000_000;
        NtpTimestamp {
            seconds: seconds.wrapping_add(NTP_UNIX_OFFSET) as u32,
            fraction: fraction as u32,
        }
    }

    /// The unix time (seconds, nanoseconds) of a timestamp in the era that started in 1900.
    pub fn to_unix(self) -> (i64, u32) {
        let nanos = (u64::from(self.fraction) * 1_000_000_000) >> 32;
        (i64::from(self.seconds) - NTP_UNIX_OFFSET, nanos as u32)
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.seconds.to_be_bytes());
        out[4..].copy_from_slice(&self.fraction.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: [u8; 8]) -> NtpTimestamp {
        let [a, b, c, d, e, f, g, h] = bytes;
        NtpTimestamp {
            seconds: u32::from_be_bytes([a, b, c, d]),
            fraction: u32::from_be_bytes([e, f, g, h]),
        }
    }
}

/// The Error Estimate field (RFC 4656 4.1.2): S bit (clock synchronised to
/// UTC), Z bit 0 (NTP format), and an error of `multiplier * 2^(scale - 32)` s.
/// The smallest encodable error not below `error_us` is chosen; the
/// multiplier is never 0, as the RFC requires.
pub fn error_estimate(synchronized: bool, error_us: u64) -> u16 {
    // The error in units of 2^-32 s, rounded up; at least one unit.
    let units = (u128::from(error_us) << 32).div_ceil(1_000_000).max(1);
    let mut scale = 0u32;
    let mut multiplier = units;
    while multiplier > 0xff && scale < 63 {
        scale += 1;
        multiplier = units.div_ceil(1u128 << scale);
    }
    let multiplier = multiplier.min(0xff) as u16;
    let s_bit = if synchronized { 0x8000 } else { 0 };
    s_bit | ((scale as u16) << 8) | multiplier
}

/// A Session-Sender test packet (RFC 5357 4.1.2, unauthenticated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestPacket {
    pub sequence: u32,
    pub timestamp: NtpTimestamp,
    pub error_estimate: u16,
    /// Length of the whole packet, padding included.
    pub len: usize,
}

/// Why a datagram is not a test packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwampError {
    /// Shorter than the 14 bytes of the unauthenticated test packet.
    Short(usize),
}

impl std::fmt::Display for TwampError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TwampError::Short(n) => write!(
                f,
                "test packet of {n} bytes, at least {TEST_PACKET_MIN} needed"
            ),
        }
    }
}

impl std::error::Error for TwampError {}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Parses the fields of a Session-Sender test packet.
pub fn parse_test_packet(bytes: &[u8]) -> Result<TestPacket, TwampError> {
    if bytes.len() < TEST_PACKET_MIN {
        return Err(TwampError::Short(bytes.len()));
    }
    Ok(TestPacket {
        sequence: u32::from_be_bytes(array(bytes, 0)),
        timestamp: NtpTimestamp::from_bytes(array(bytes, 4)),
        error_estimate: u16::from_be_bytes(array(bytes, 12)),
        len: bytes.len(),
    })
}

/// The reflector's own fields of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reflection {
    pub sequence: u32,
    pub transmit: NtpTimestamp,
    pub error_estimate: u16,
    pub receive: NtpTimestamp,
    /// TTL (hop limit) of the sender's packet; 255 when the kernel did not say.
    pub sender_ttl: u8,
}

/// Writes the Session-Reflector packet (RFC 5357 4.2.1) answering `sender`
/// into `out`: the reflector's fields, the sender's sequence number,
/// timestamp and error estimate, its TTL, and zero padding up to the
/// sender's length (at least the 41 bytes of the layout).
pub fn emit_reflector_packet(sender: &TestPacket, reflection: &Reflection, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&reflection.sequence.to_be_bytes());
    out.extend_from_slice(&reflection.transmit.to_bytes());
    out.extend_from_slice(&reflection.error_estimate.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&reflection.receive.to_bytes());
    out.extend_from_slice(&sender.sequence.to_be_bytes());
    out.extend_from_slice(&sender.timestamp.to_bytes());
    out.extend_from_slice(&sender.error_estimate.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.push(reflection.sender_ttl);
    out.resize(sender.len.max(REFLECTOR_PACKET_MIN), 0);
}

/// The fields of a Session-Reflector packet (for tests and senders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReflectorPacket {
    pub reflection: Reflection,
    pub sender: TestPacket,
}

/// Parses a Session-Reflector packet; `sender.len` is the packet's length.
pub fn parse_reflector_packet(bytes: &[u8]) -> Result<ReflectorPacket, TwampError> {
    if bytes.len() < REFLECTOR_PACKET_MIN {
        return Err(TwampError::Short(bytes.len()));
    }
    Ok(ReflectorPacket {
        reflection: Reflection {
            sequence: u32::from_be_bytes(array(bytes, 0)),
            transmit: NtpTimestamp::from_bytes(array(bytes, 4)),
            error_estimate: u16::from_be_bytes(array(bytes, 12)),
            receive: NtpTimestamp::from_bytes(array(bytes, 16)),
            sender_ttl: bytes.get(40).copied().unwrap_or(0),
        },
        sender: TestPacket {
            sequence: u32::from_be_bytes(array(bytes, 24)),
            timestamp: NtpTimestamp::from_bytes(array(bytes, 28)),
            error_estimate: u16::from_be_bytes(array(bytes, 36)),
            len: bytes.len(),
        },
    })
}

/// TR-390 MaximumTTL: a packet is reflected when a sender starting at TTL
/// 255 (RFC 5357 4.1.2) reached us in fewer than `maximum_ttl` hops, i.e.
/// a packet sent with TTL `maximum_ttl` could have arrived. An unknown TTL passes.
pub fn ttl_allowed(ttl: Option<u8>, maximum_ttl: u8) -> bool {
    match ttl {
        None => true,
        Some(ttl) => u16::from(ttl) + u16::from(maximum_ttl) > 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamps_convert_both_ways() {
        let t = NtpTimestamp::from_unix(0, 500_000_000);
        assert_eq!(t.seconds, 2_208_988_800);
        assert_eq!(t.fraction, 0x8000_0000);
        assert_eq!(t.to_bytes(), [0x83, 0xaa, 0x7e, 0x80, 0x80, 0, 0, 0]);
        assert_eq!(NtpTimestamp::from_bytes(t.to_bytes()), t);
        assert_eq!(t.to_unix(), (0, 500_000_000));
        let (secs, nanos) = NtpTimestamp::from_unix(1_700_000_000, 123_456_789).to_unix();
        assert_eq!(secs, 1_700_000_000);
        assert!(nanos.abs_diff(123_456_789) <= 1);
    }

    #[test]
    fn error_estimates_encode_sync_scale_and_multiplier() {
        // 1 µs = 4295 units of 2^-32 s: scale 5 gives 135 (× 32 = 4320 ≥ 4295).
        assert_eq!(error_estimate(true, 1), 0x8000 | (5 << 8) | 135);
        assert_eq!(error_estimate(false, 1) & 0x8000, 0);
        // Zero error still has a non-zero multiplier.
        assert_eq!(error_estimate(true, 0), 0x8001);
        // A huge error saturates instead of wrapping.
        let huge = error_estimate(false, u64::MAX);
        assert!(huge & 0xff != 0);
        // The encoded error is never below the asked one.
        for us in [3u64, 999, 16_000, 500_000, 16_000_000] {
            let e = error_estimate(true, us);
            let scale = u32::from((e >> 8) & 0x3f);
            let mult = u128::from(e & 0xff);
            assert!(
                (mult << scale) >= (u128::from(us) << 32) / 1_000_000,
                "{us}"
            );
        }
    }

    #[test]
    fn test_packets_parse_and_short_ones_are_refused() {
        let mut bytes = vec![0, 0, 0, 7, 0xe9, 0, 0, 1, 0x40, 0, 0, 0, 0x80, 0x01];
        let packet = parse_test_packet(&bytes).expect("parse");
        assert_eq!(packet.sequence, 7);
        assert_eq!(packet.timestamp.seconds, 0xe900_0001);
        assert_eq!(packet.timestamp.fraction, 0x4000_0000);
        assert_eq!(packet.error_estimate, 0x8001);
        assert_eq!(packet.len, 14);
        bytes.pop();
        assert_eq!(parse_test_packet(&bytes), Err(TwampError::Short(13)));
    }

    #[test]
    fn reflector_packets_follow_rfc_5357_4_2_1() {
        let sender = TestPacket {
            sequence: 0x0102_0304,
            timestamp: NtpTimestamp {
                seconds: 0x1111_1111,
                fraction: 0x2222_2222,
            },
            error_estimate: 0x8001,
            len: 60,
        };
        let reflection = Reflection {
            sequence: 9,
            transmit: NtpTimestamp {
                seconds: 0x3333_3333,
                fraction: 0x4444_4444,
            },
            error_estimate: 0x0a0b,
            receive: NtpTimestamp {
                seconds: 0x5555_5555,
                fraction: 0x6666_6666,
            },
            sender_ttl: 254,
        };
        let mut out = Vec::new();
        emit_reflector_packet(&sender, &reflection, &mut out);
        let mut expected = vec![0, 0, 0, 9];
        expected.extend([0x33; 4]);
        expected.extend([0x44; 4]);
        expected.extend([0x0a, 0x0b, 0, 0]);
        expected.extend([0x55; 4]);
        expected.extend([0x66; 4]);
        expected.extend([1, 2, 3, 4]);
        expected.extend([0x11; 4]);
        expected.extend([0x22; 4]);
        expected.extend([0x80, 0x01, 0, 0, 254]);
        expected.resize(60, 0);
        assert_eq!(out, expected);
        let parsed = parse_reflector_packet(&out).expect("parse");
        assert_eq!(parsed.reflection, reflection);
        assert_eq!(parsed.sender, sender);
        // A short sender packet still gets the whole reflector layout.
        let short = TestPacket { len: 14, ..sender };
        emit_reflector_packet(&short, &reflection, &mut out);
        assert_eq!(out.len(), REFLECTOR_PACKET_MIN);
        assert_eq!(
            parse_reflector_packet(&out[..40]),
            Err(TwampError::Short(40))
        );
    }

    #[test]
    fn maximum_ttl_counts_hops_from_255() {
        assert!(ttl_allowed(Some(255), 1));
        assert!(!ttl_allowed(Some(254), 1));
        assert!(ttl_allowed(Some(254), 2));
        assert!(ttl_allowed(Some(1), 255));
        assert!(!ttl_allowed(Some(0), 255));
        assert!(ttl_allowed(None, 1));
    }
}
