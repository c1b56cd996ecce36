//! UDP lightweight notifications of TR-069 Annex M: the `Notification` datagram of `urn:broadband-forum-org:cwmp:lwnotif-1-0`.

use std::fmt;

use crate::cwmp::params::ParameterValue;
use crate::wire::soap::push_escaped;

/// The namespace of the message.
pub const NAMESPACE: &str = "urn:broadband-forum-org:cwmp:lwnotif-1-0";

/// Everything one notification carries besides the parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Unix seconds when the message was made (`TS`).
    pub timestamp: i64,
    /// ManagementServer.Username (`UN`).
    pub username: &'a str,
    /// A random string of the CPE's (`CN`).
    pub cnonce: &'a str,
    pub oui: &'a str,
    pub product_class: &'a str,
    pub serial_number: &'a str,
}

/// Why a notification could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LwnError {
    /// The schema needs at least one `Param`.
    NoParameters,
    /// A text holds a character XML cannot carry; names the parameter or field.
    Unencodable(String),
    /// The message would not fit one UDP datagram.
    TooLarge(usize),
}

impl fmt::Display for LwnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LwnError::NoParameters => f.write_str("a lightweight notification needs a parameter"),
            LwnError::Unencodable(what) => write!(f, "{what} cannot be written in XML"),
            LwnError::TooLarge(n) => write!(f, "notification of {n} bytes exceeds one datagram"),
        }
    }
}

impl std::error::Error for LwnError {}

/// The largest datagram sent (the IPv4 UDP payload limit).
pub const MAX_DATAGRAM: usize = 65_507;

fn element(out: &mut Vec<u8>, name: &str, text: &str, what: &str) -> Result<(), LwnError> {
    out.extend_from_slice(format!("<lwn:{name}>").as_bytes());
    push_escaped(out, text).map_err(|()| LwnError::Unencodable(what.to_owned()))?;
    out.extend_from_slice(format!("</lwn:{name}>").as_bytes());
    Ok(())
}

/// The datagram for `params`.
pub fn emit(header: &Header<'_>, params: &[ParameterValue]) -> Result<Vec<u8>, LwnError> {
    if params.is_empty() {
        return Err(LwnError::NoParameters);
    }
    let mut out = Vec::with_capacity(512 + params.len() * 96);
    out.extend_from_slice(format!("<lwn:Notification xmlns:lwn=\"{NAMESPACE}\">").as_bytes());
    element(&mut out, "TS", &header.timestamp.to_string(), "TS")?;
    element(&mut out, "UN", header.username, "UN")?;
    element(&mut out, "CN", header.cnonce, "CN")?;
    element(&mut out, "OUI", header.oui, "OUI")?;
    element(
        &mut out,
        "ProductClass",
        header.product_class,
        "ProductClass",
    )?;
    element(
        &mut out,
        "SerialNumber",
        header.serial_number,
        "SerialNumber",
    )?;
    for p in params {
        out.extend_from_slice(b"<lwn:Param>");
        element(&mut out, "Name", &p.name, &p.name)?;
        element(&mut out, "Value", &p.value, &p.name)?;
        out.extend_from_slice(b"</lwn:Param>");
    }
    out.extend_from_slice(b"</lwn:Notification>");
    if out.len() > MAX_DATAGRAM {
        return Err(LwnError::TooLarge(out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::params::XsdType;

    fn header() -> Header<'static> {
        Header {
            timestamp: 1_700_000_000,
            username: "cpe&user",
            cnonce: "0a1b2c",
            oui: "001122",
            product_class: "Router",
            serial_number: "SN1",
        }
    }

    #[test]
    fn writes_the_schema_layout_with_escaping() {
        let params = [ParameterValue::new("Device.X", "a<b", XsdType::String)];
        let text = String::from_utf8(emit(&header(), &params).expect("emits")).expect("utf-8");
        assert_eq!(
            text,
            "<lwn:Notification xmlns:lwn=\"urn:broadband-forum-org:cwmp:lwnotif-1-0\"><lwn:TS>1700000000</lwn:TS>\
             <lwn:UN>cpe&amp;user</lwn:UN><lwn:CN>0a1b2c</lwn:CN><lwn:OUI>001122</lwn:OUI>\
             <lwn:ProductClass>Router</lwn:ProductClass><lwn:SerialNumber>SN1</lwn:SerialNumber>\
             <lwn:Param><lwn:Name>Device.X</lwn:Name><lwn:Value>a&lt;b</lwn:Value></lwn:Param></lwn:Notification>"
        );
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        assert_eq!(emit(&header(), &[]), Err(LwnError::NoParameters));
        let bad = [ParameterValue::new("Device.Y", "\u{1}", XsdType::String)];
        assert_eq!(
            emit(&header(), &bad),
            Err(LwnError::Unencodable("Device.Y".into()))
        );
        let big = vec![ParameterValue::new("Device.Z", "v".repeat(1000), XsdType::String); 70];
        assert!(matches!(emit(&header(), &big), Err(LwnError::TooLarge(_))));
    }
}
