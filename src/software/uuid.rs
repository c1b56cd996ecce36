//! RFC 4122 UUIDs of deployment units: format checks and name-based (v5, SHA-1) generation.
//!
//! TR-181 wants a DU's UUID to stay the same across its versions (Annex C.1)
//! and to be a v5 UUID. An opkg package is identified by its name alone, so
//! the UUID this CPE derives for a DU the ACS did not name is the v5 UUID of
//! `opkg:<package name>` in RFC 4122's URL namespace: stable across versions
//! and across devices. Annex C.2's exact name/namespace recipe (which mixes in
//! the DU's vendor) could not be checked offline and is not claimed.

use std::fmt;

/// RFC 4122 Appendix C's URL namespace, `6ba7b811-9dad-11d1-80b4-00c04fd430c8`.
const URL_NAMESPACE: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// A UUID's 16 bytes, written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Parses the 36-character hyphenated form (either case); `None` if it is not one.
    pub fn parse(text: &str) -> Option<Uuid> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return None;
                }
                continue;
            }
            let value = char::from(b).to_digit(16)? as u8;
            let slot = out.get_mut(nibbles / 2)?;
            *slot = (*slot << 4) | value;
            nibbles += 1;
        }
        Some(Uuid(out))
    }

    /// The name-based SHA-1 (version 5) UUID of `name` in `namespace`.
    pub fn v5(namespace: &Uuid, name: &str) -> Uuid {
        let mut input = Vec::with_capacity(16 + name.len());
        input.extend_from_slice(&namespace.0);
        input.extend_from_slice(name.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        let mut bytes = [0u8; 16];
        for (slot, byte) in bytes.iter_mut().zip(digest.as_ref()) {
            *slot = *byte;
        }
        Uuid(Self::stamp(bytes, 5))
    }

    /// The UUID this CPE gives the deployment unit of package `name` (see the module note).
    pub fn for_package(name: &str) -> Uuid {
        Uuid::v5(&Uuid(URL_NAMESPACE), &format!("opkg:{name}"))
    }

    fn stamp(mut bytes: [u8; 16], version: u8) -> [u8; 16] {
        bytes[6] = (bytes[6] & 0x0f) | (version << 4);
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        bytes
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v5_matches_a_known_value() {
        // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
        let dns = Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").expect("dns namespace");
        assert_eq!(
            Uuid::v5(&dns, "python.org").to_string(),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
    }

    #[test]
    fn package_uuids_are_stable_v5() {
        let a = Uuid::for_package("tcpdump");
        assert_eq!(a, Uuid::for_package("tcpdump"));
        assert_ne!(a, Uuid::for_package("curl"));
        let text = a.to_string();
        assert_eq!(text.as_bytes()[14], b'5');
        assert_eq!(Uuid::parse(&text), Some(a));
    }

    #[test]
    fn malformed_uuids_are_refused() {
        for bad in [
            "",
            "not-a-uuid",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c",
            "6ba7b810x9dad-11d1-80b4-00c04fd430c8",
            "6ba7b810-9dad-11d1-80b4-00c04fd430cg",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8a",
        ] {
            assert_eq!(Uuid::parse(bad), None, "{bad}");
        }
        assert!(Uuid::parse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8").is_some());
    }
}
