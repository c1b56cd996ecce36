//! Parameter structures of TR-069 Annex A shared by the SOAP codec and the data model.

use std::fmt;

/// The XML Schema types a CWMP parameter value can carry (`xsi:type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum XsdType {
    #[default]
    String,
    Int,
    UnsignedInt,
    Long,
    UnsignedLong,
    Boolean,
    DateTime,
    Base64,
    HexBinary,
}

impl XsdType {
    const ALL: [XsdType; 9] = [
        XsdType::String,
        XsdType::Int,
        XsdType::UnsignedInt,
        XsdType::Long,
        XsdType::UnsignedLong,
        XsdType::Boolean,
        XsdType::DateTime,
        XsdType::Base64,
        XsdType::HexBinary,
    ];

    /// The local name of the type in the `xsd` namespace.
    pub const fn local_name(self) -> &'static str {
        match self {
            XsdType::String => "string",
            XsdType::Int => "int",
            XsdType::UnsignedInt => "unsignedInt",
            XsdType::Long => "long",
            XsdType::UnsignedLong => "unsignedLong",
            XsdType::Boolean => "boolean",
            XsdType::DateTime => "dateTime",
            XsdType::Base64 => "base64",
            XsdType::HexBinary => "hexBinary",
        }
    }

    /// The qualified name as written in `xsi:type` and in the CLI output (`xsd:string`).
    pub const fn qualified(self) -> &'static str {
        match self {
            XsdType::String => "xsd:string",
            XsdType::Int => "xsd:int",
            XsdType::UnsignedInt => "xsd:unsignedInt",
            XsdType::Long => "xsd:long",
            XsdType::UnsignedLong => "xsd:unsignedLong",
            XsdType::Boolean => "xsd:boolean",
            XsdType::DateTime => "xsd:dateTime",
            XsdType::Base64 => "xsd:base64",
            XsdType::HexBinary => "xsd:hexBinary",
        }
    }

    /// Parses a type name with or without a prefix (`xsd:int`, `int`); the
    /// prefix itself is not checked because ACSs choose their own.
    pub fn from_name(name: &str) -> Option<XsdType> {
        let local = name.rsplit(':').next().unwrap_or(name);
        let local = if local == "base64Binary" {
            "base64"
        } else {
            local
        };
        XsdType::ALL.into_iter().find(|t| t.local_name() == local)
    }
}

impl fmt::Display for XsdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.qualified())
    }
}

/// `ParameterValueStruct`: a parameter's full name, its value and its type.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ParameterValue {
    pub name: String,
    pub value: String,
    pub xsd_type: XsdType,
}

impl ParameterValue {
    pub fn new(name: impl Into<String>, value: impl Into<String>, xsd_type: XsdType) -> Self {
        ParameterValue {
            name: name.into(),
            value: value.into(),
            xsd_type,
        }
    }
}

/// `ParameterInfoStruct` of GetParameterNamesResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterInfo {
    pub name: String,
    pub writable: bool,
}

/// Notification setting of a parameter (TR-069 A.3.2.4): 0 off, 1 passive,
/// 2 active, 3 passive lightweight, 4 passive + passive lightweight,
/// 5 active lightweight, 6 passive + active lightweight.
pub type Notification = u8;

/// `ParameterAttributeStruct` of GetParameterAttributesResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterAttribute {
    pub name: String,
    pub notification: Notification,
    pub access_list: Vec<String>,
}

/// `SetParameterAttributesStruct` of SetParameterAttributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetParameterAttribute {
    pub name: String,
    pub notification_change: bool,
    pub notification: Notification,
    pub access_list_change: bool,
    pub access_list: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(
            XsdType::from_name("xsd:unsignedInt"),
            Some(XsdType::UnsignedInt)
        );
        assert_eq!(XsdType::from_name("xs:boolean"), Some(XsdType::Boolean));
        assert_eq!(XsdType::from_name("dateTime"), Some(XsdType::DateTime));
        assert_eq!(
            XsdType::from_name("xsd:base64Binary"),
            Some(XsdType::Base64)
        );
        assert_eq!(XsdType::from_name("xsd:float"), None);
        assert_eq!(XsdType::Long.to_string(), "xsd:long");
    }
}
