//! The ACS settings a DHCP server hands out in vendor-specific option 43 (TR-069 3.1).
//!
//! The option is either the ACS URL itself or encapsulated sub-options:
//! 1 the URL, 2 ProvisioningCode, 3 CWMPRetryMinimumWaitInterval,
//! 4 CWMPRetryIntervalMultiplier. udhcpc passes it to its hooks as hex (`opt43`).

use std::fmt;

/// What option 43 carried.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpAcsOptions {
    pub url: Option<String>,
    pub provisioning_code: Option<String>,
    pub retry_min_wait_interval: Option<u32>,
    pub retry_interval_multiplier: Option<u32>,
}

/// Why option 43 could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhcpOptionError {
    NotHex,
    /// A sub-option runs past the end of the option.
    Truncated,
    NotText,
    NotNumber(u8),
    /// Nothing the CWMP client can use.
    Empty,
}

impl fmt::Display for DhcpOptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhcpOptionError::NotHex => f.write_str("option 43 is not hex"),
            DhcpOptionError::Truncated => f.write_str("option 43 sub-option runs past its end"),
            DhcpOptionError::NotText => f.write_str("option 43 text is not UTF-8"),
            DhcpOptionError::NotNumber(code) => {
                write!(f, "option 43 sub-option {code} is not a number")
            }
            DhcpOptionError::Empty => f.write_str("option 43 carries no ACS setting"),
        }
    }
}

impl std::error::Error for DhcpOptionError {}

fn decode_hex(hex: &str) -> Result<Vec<u8>, DhcpOptionError> {
    let hex: String = hex
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != ':')
        .collect();
    if hex.len() % 2 != 0 {
        return Err(DhcpOptionError::NotHex);
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or(DhcpOptionError::NotHex)
        })
        .collect()
}

fn text(bytes: &[u8]) -> Result<String, DhcpOptionError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DhcpOptionError::NotText)?;
    Ok(text.trim_end_matches('\0').trim().to_owned())
}

/// Sub-options, if `bytes` reads as a well-formed list of them.
fn sub_options(bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while let Some((&code, tail)) = rest.split_first() {
        if code == 255 {
            break;
        }
        if code == 0 {
            rest = tail;
            continue;
        }
        let (&len, tail) = tail.split_first()?;
        let value = tail.get(..usize::from(len))?;
        out.push((code, value));
        rest = tail.get(usize::from(len)..)?;
    }
    Some(out)
}

/// Reads option 43 as udhcpc passes it (hex).
pub fn parse_option43(hex: &str) -> Result<DhcpAcsOptions, DhcpOptionError> {
    let bytes = decode_hex(hex)?;
    let mut options = DhcpAcsOptions::default();
    let encapsulated = bytes.first().is_some_and(|c| (1..=4).contains(c)) && bytes.len() >= 2;
    match sub_options(&bytes).filter(|_| encapsulated) {
        Some(list) => {
            for (code, value) in list {
                let number = || {
                    text(value)?
                        .parse::<u32>()
                        .map_err(|_| DhcpOptionError::NotNumber(code))
                };
                match code {
                    1 => options.url = Some(text(value)?),
                    2 => options.provisioning_code = Some(text(value)?),
                    3 => options.retry_min_wait_interval = Some(number()?),
                    4 => options.retry_interval_multiplier = Some(number()?),
                    _ => {}
                }
            }
        }
        None if encapsulated => return Err(DhcpOptionError::Truncated),
        None => options.url = Some(text(&bytes)?),
    }
    if options.url.as_deref().is_some_and(str::is_empty) {
        options.url = None;
    }
    if options == DhcpAcsOptions::default() {
        return Err(DhcpOptionError::Empty);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn encapsulated_sub_options() {
        let mut raw = vec![1, 20];
        raw.extend_from_slice(b"http://acs.test:7547");
        raw.extend_from_slice(&[2, 3]);
        raw.extend_from_slice(b"abc");
        raw.extend_from_slice(&[3, 2]);
        raw.extend_from_slice(b"10");
        raw.extend_from_slice(&[4, 4]);
        raw.extend_from_slice(b"2500");
        raw.push(255);
        let options = parse_option43(&hex(&raw)).expect("parses");
        assert_eq!(options.url.as_deref(), Some("http://acs.test:7547"));
        assert_eq!(options.provisioning_code.as_deref(), Some("abc"));
        assert_eq!(options.retry_min_wait_interval, Some(10));
        assert_eq!(options.retry_interval_multiplier, Some(2500));
    }

    #[test]
    fn a_bare_url_and_errors() {
        let options = parse_option43(&hex(b"https://acs.example/cwmp")).expect("plain URL");
        assert_eq!(options.url.as_deref(), Some("https://acs.example/cwmp"));
        assert_eq!(parse_option43("zz"), Err(DhcpOptionError::NotHex));
        assert_eq!(
            parse_option43(&hex(&[1, 30, b'h'])),
            Err(DhcpOptionError::Truncated)
        );
        assert_eq!(
            parse_option43(&hex(&[3, 1, b'x'])),
            Err(DhcpOptionError::NotNumber(3))
        );
        assert_eq!(parse_option43(""), Err(DhcpOptionError::Empty));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_u32;
        for _ in 0..3000 {
            let raw: Vec<u8> = (0..seed % 40)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 7) as u8
                })
                .collect();
            let _ = parse_option43(&hex(&raw));
        }
    }
}
