//! SetVouchers and GetOptions (TR-069 A.4.1.8–9, Annex E): vouchers kept as received, the options they carry read out of them.
//!
//! A voucher is base64 text of a signed XML document whose `Option` elements
//! name an option (`OptionIdent`), its serial number (`VSerialNum`), start
//! date, duration, mode and transferability, and optionally the device it is
//! for (`DeviceId`). What is checked here: the base64 and the XML are well
//! formed, each option has a serial number, a name and a valid start date,
//! and a `DeviceId`, when present, names this device (OUI and serial number).
//! What is NOT checked: the XML signature. Verifying it needs the ACS
//! vendor's certificates, which this CPE is not provisioned with; a voucher
//! is therefore trusted as far as the (authenticated) ACS session is. The
//! element names follow TR-069 Annex E as far as it could be recalled offline;
//! elements are matched by local name, whatever their namespace.

use std::fmt;

use crate::cwmp::datetime;
use crate::wire::soap::{DateTime, OptionInfo};

/// The most vouchers kept (one SetVouchers may carry more; older ones drop out first).
pub const MAX_VOUCHERS: usize = 64;

/// The largest voucher accepted, in base64 characters.
const MAX_VOUCHER_LEN: usize = 64 * 1024;

/// Why a voucher was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoucherError {
    Base64,
    Xml(String),
    NoOption,
    MissingField(&'static str),
    BadField(&'static str),
    OtherDevice,
    TooLarge,
}

impl fmt::Display for VoucherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoucherError::Base64 => f.write_str("voucher is not base64"),
            VoucherError::Xml(e) => write!(f, "voucher is not XML: {e}"),
            VoucherError::NoOption => f.write_str("voucher carries no Option"),
            VoucherError::MissingField(name) => write!(f, "voucher option lacks {name}"),
            VoucherError::BadField(name) => write!(f, "voucher option has a bad {name}"),
            VoucherError::OtherDevice => f.write_str("voucher is for another device"),
            VoucherError::TooLarge => f.write_str("voucher is too large"),
        }
    }
}

impl std::error::Error for VoucherError {}

/// This device, as a voucher's `DeviceId` must name it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeviceIdentity {
    pub oui: String,
    pub serial_number: String,
}

/// One option a voucher grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherOption {
    pub name: String,
    pub serial: u32,
    pub start: i64,
    /// Seconds; `None` without expiration.
    pub duration: Option<i64>,
    /// 0 disabled, 1 enabled with expiration, 2 enabled without.
    pub mode: i32,
    pub transferable: bool,
}

impl VoucherOption {
    /// The OptionStruct at `now` (unix seconds): enabled (bit 0) and set up
    /// (bit 1, nothing to set up here) while the mode allows it and it has
    /// not expired.
    pub fn info(&self, now: i64) -> OptionInfo {
        let expires = match self.mode {
            1 => self.duration.map(|d| self.start.saturating_add(d)),
            _ => None,
        };
        let enabled = match self.mode {
            1 => now >= self.start && expires.is_none_or(|e| now < e),
            2 => now >= self.start,
            _ => false,
        };
        OptionInfo {
            option_name: self.name.clone(),
            voucher_sn: self.serial,
            state: if enabled { 3 } else { 0 },
            mode: self.mode,
            start_date: DateTime::from_unix(self.start),
            expiration_date: expires.map(DateTime::from_unix),
            is_transferable: self.transferable,
        }
    }
}

fn seconds_per(unit: &str) -> Option<i64> {
    // Months and years have no fixed length; 30 and 365 days are used.
    match unit.trim().to_ascii_lowercase().as_str() {
        "seconds" | "second" | "" => Some(1),
        "minutes" | "minute" => Some(60),
        "hours" | "hour" => Some(3_600),
        "days" | "day" => Some(86_400),
        "months" | "month" => Some(30 * 86_400),
        "years" | "year" => Some(365 * 86_400),
        _ => None,
    }
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .map(|c| c.text().unwrap_or("").trim())
}

/// Decodes and checks one voucher; returns its options.
pub fn parse_voucher(
    base64: &str,
    device: &DeviceIdentity,
) -> Result<Vec<VoucherOption>, VoucherError> {
    if base64.len() > MAX_VOUCHER_LEN {
        return Err(VoucherError::TooLarge);
    }
    let compact: String = base64
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = crate::wire::digest::base64_decode(&compact).ok_or(VoucherError::Base64)?;
    let text = String::from_utf8(bytes).map_err(|_| VoucherError::Xml("not UTF-8".into()))?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 10_000,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options)
        .map_err(|e| VoucherError::Xml(e.to_string()))?;
    let mut found = Vec::new();
    for option in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "Option")
    {
        if let Some(id) = option
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "DeviceId")
        {
            let matches = |field: &str, ours: &str| {
                child_text(id, field).is_none_or(|v| v.is_empty() || v.eq_ignore_ascii_case(ours))
            };
            if !matches("OUI", &device.oui) || !matches("SerialNumber", &device.serial_number) {
                return Err(VoucherError::OtherDevice);
            }
        }
        let field =
            |name: &'static str| child_text(option, name).ok_or(VoucherError::MissingField(name));
        let serial = field("VSerialNum")?
            .parse()
            .map_err(|_| VoucherError::BadField("VSerialNum"))?;
        let name = field("OptionIdent")?;
        if name.is_empty() {
            return Err(VoucherError::BadField("OptionIdent"));
        }
        let start = datetime::parse(field("StartDate")?)
            .map_err(|_| VoucherError::BadField("StartDate"))?
            .unix_secs;
        let duration = match child_text(option, "Duration") {
            None | Some("") => None,
            Some(d) => {
                let count: i64 = d.parse().map_err(|_| VoucherError::BadField("Duration"))?;
                let unit = seconds_per(child_text(option, "DurationUnits").unwrap_or(""))
                    .ok_or(VoucherError::BadField("DurationUnits"))?;
                Some(count.saturating_mul(unit))
            }
        };
        let mode = match child_text(option, "Mode")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("disable") | Some("disabled") => 0,
            Some("enable with expiration") => 1,
            Some("enable without expiration") => 2,
            None | Some("") => {
                if duration.is_some() {
                    1
                } else {
                    2
                }
            }
            Some(_) => return Err(VoucherError::BadField("Mode")),
        };
        let transferable = match child_text(option, "Transferable") {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(_) => return Err(VoucherError::BadField("Transferable")),
        };
        found.push(VoucherOption {
            name: name.to_owned(),
            serial,
            start,
            duration,
            mode,
            transferable,
        });
    }
    if found.is_empty() {
        return Err(VoucherError::NoOption);
    }
    Ok(found)
}

/// The vouchers in force, newest last, and the options they grant.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vouchers {
    texts: Vec<String>,
    options: Vec<VoucherOption>,
}

impl Vouchers {
    /// The vouchers as received (base64).
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// SetVouchers: checks every voucher first, then keeps them all (none on
    /// any error). An option granted again replaces the earlier grant.
    pub fn add(&mut self, list: &[String], device: &DeviceIdentity) -> Result<(), VoucherError> {
        let mut parsed = Vec::with_capacity(list.len());
        for voucher in list {
            parsed.push(parse_voucher(voucher, device)?);
        }
        for (voucher, options) in list.iter().zip(parsed) {
            self.texts.push(voucher.trim().to_owned());
            for option in options {
                self.options.retain(|o| o.name != option.name);
                self.options.push(option);
            }
        }
        let excess = self.texts.len().saturating_sub(MAX_VOUCHERS);
        if excess > 0 {
            // The options must be those of the vouchers kept, as a reload would see them.
            let kept = self.texts.split_off(excess);
            *self = Vouchers::default();
            return self.add(&kept, device);
        }
        Ok(())
    }

    /// GetOptions: the named option, or all of them for an empty name. An
    /// unknown name gives an empty list.
    pub fn options(&self, name: &str, now: i64) -> Vec<OptionInfo> {
        self.options
            .iter()
            .filter(|o| name.is_empty() || o.name == name)
            .map(|o| o.info(now))
            .collect()
    }

    /// The persisted form: one voucher per line (base64 has no newlines once trimmed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = String::from("icwmp-vouchers 1\n");
        for voucher in &self.texts {
            let compact: String = voucher
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            text.push_str(&compact);
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Reads [`to_bytes`](Self::to_bytes)' output, checking each voucher again.
    pub fn from_bytes(bytes: &[u8], device: &DeviceIdentity) -> Result<Vouchers, VoucherError> {
        let text = std::str::from_utf8(bytes).map_err(|_| VoucherError::Base64)?;
        let mut lines = text.lines();
        if lines.next() != Some("icwmp-vouchers 1") {
            return Err(VoucherError::Xml("unknown vouchers file header".into()));
        }
        let list: Vec<String> = lines.filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let mut vouchers = Vouchers::default();
        vouchers.add(&list, device)?;
        Ok(vouchers)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Base64 of `text` (test helper, also used by the manager's tests).
    pub(crate) fn encode(text: &str) -> String {
        crate::wire::digest::base64_encode(text.as_bytes())
    }

    pub(crate) fn voucher(serial: u32, name: &str, extra: &str) -> String {
        encode(&format!(
            "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><Object>\
             <Option xmlns=\"urn:broadband-forum-org:cwmp:voucher-1-0\">\
             <VSerialNum>{serial}</VSerialNum><OptionIdent>{name}</OptionIdent>\
             <StartDate>2024-01-01T00:00:00Z</StartDate>{extra}</Option></Object></Signature>"
        ))
    }

    fn device() -> DeviceIdentity {
        DeviceIdentity {
            oui: "A0B1C2".into(),
            serial_number: "SN1".into(),
        }
    }

    #[test]
    fn options_come_out_of_vouchers() {
        let mut vouchers = Vouchers::default();
        let timed = voucher(
            7,
            "Gold",
            "<Duration>2</Duration><DurationUnits>Days</DurationUnits>\
             <Mode>Enable with expiration</Mode><Transferable>1</Transferable>\
             <DeviceId><OUI>a0b1c2</OUI><SerialNumber>SN1</SerialNumber></DeviceId>",
        );
        let forever = voucher(8, "Silver", "");
        vouchers.add(&[timed, forever], &device()).expect("valid");
        let start = 1_704_067_200; // 2024-01-01
        let all = vouchers.options("", start + 10);
        assert_eq!(all.len(), 2);
        let gold = &vouchers.options("Gold", start + 10)[0];
        assert_eq!((gold.voucher_sn, gold.state, gold.mode), (7, 3, 1));
        assert!(gold.is_transferable);
        assert_eq!(
            gold.expiration_date.as_ref().map(DateTime::as_str),
            Some("2024-01-03T00:00:00Z")
        );
        assert_eq!(vouchers.options("Gold", start + 3 * 86_400)[0].state, 0);
        let silver = &vouchers.options("Silver", start)[0];
        assert_eq!(
            (silver.mode, silver.state, silver.expiration_date.clone()),
            (2, 3, None)
        );
        assert!(vouchers.options("Bronze", start).is_empty());
        let back = Vouchers::from_bytes(&vouchers.to_bytes(), &device()).expect("reload");
        assert_eq!(back, vouchers);
    }

    #[test]
    fn bad_vouchers_are_refused_and_nothing_is_kept() {
        let mut vouchers = Vouchers::default();
        let other = voucher(1, "X", "<DeviceId><OUI>FFFFFF</OUI></DeviceId>");
        let good = voucher(2, "Y", "");
        assert_eq!(
            vouchers.add(&[good.clone(), other], &device()),
            Err(VoucherError::OtherDevice)
        );
        assert!(vouchers.texts().is_empty());
        assert_eq!(
            vouchers.add(&["!!".into()], &device()),
            Err(VoucherError::Base64)
        );
        assert!(matches!(
            vouchers.add(&[encode("<a>")], &device()),
            Err(VoucherError::Xml(_))
        ));
        assert_eq!(
            vouchers.add(&[encode("<a/>")], &device()),
            Err(VoucherError::NoOption)
        );
        let no_serial = encode("<Option><OptionIdent>Z</OptionIdent></Option>");
        assert_eq!(
            vouchers.add(&[no_serial], &device()),
            Err(VoucherError::MissingField("VSerialNum"))
        );
        assert!(vouchers.add(&[good], &device()).is_ok());
    }
}
