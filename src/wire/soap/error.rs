//! Errors of the SOAP codec and the one mapping from them to the CWMP fault the CPE answers with.

use std::fmt;

use crate::cwmp::fault::FaultCode;
use crate::quoted::Quoted;

/// What went wrong while parsing or emitting an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SoapErrorKind {
    /// The envelope is larger than `Limits::max_envelope_bytes`.
    TooLarge { size: usize, limit: usize },
    /// The bytes are not UTF-8 (CWMP envelopes are UTF-8).
    NotUtf8,
    /// A `<!DOCTYPE`: refused so that no entity is ever expanded.
    Doctype,
    /// More XML nodes than `Limits::max_nodes`.
    TooManyNodes { limit: u32 },
    /// Elements nested deeper than `Limits::max_depth`.
    TooDeep { limit: usize },
    /// Not well-formed XML (truncated, mismatched tags, bad characters, …).
    Malformed(roxmltree::Error),
    /// The root is not a SOAP 1.1 `Envelope`, or it has no `Body`.
    NotSoapEnvelope,
    /// The RPC or header element is in a namespace that is no CWMP namespace.
    WrongNamespace { namespace: String },
    /// The Body names a method this codec does not know; the method name is
    /// in [`SoapError::method`], for fault 9000 Method not supported.
    UnknownMethod,
    /// More than one element in the Body.
    MultipleRpcs,
    /// A header entry with mustUnderstand="1" that CWMP does not define.
    MustUnderstand { header: String },
    /// A required element is absent.
    Missing { element: &'static str },
    /// A string longer than its cap (characters).
    TooLong { element: &'static str, max: usize },
    /// An array or repeated element with more entries than `Limits::max_list_items`.
    TooManyItems { element: &'static str, max: usize },
    /// Text that is not a valid value for its element (number, boolean,
    /// dateTime, enumeration, or an element where text belongs).
    InvalidValue { element: &'static str },
    /// A `Value` whose `xsi:type` is no CWMP type.
    UnknownType { xsi_type: String },
    /// A fault code that TR-069 does not define.
    UnknownFaultCode { code: u32 },
    /// Emitting: a string holds a character XML 1.0 cannot carry at all
    /// (a control character other than tab/LF/CR, U+FFFE, U+FFFF).
    /// `parameter` names the parameter when the string is its value.
    UnencodableText {
        element: &'static str,
        parameter: Option<String>,
    },
}

/// A parse or emit failure, with the `cwmp:ID` and method of the message it
/// concerns when they were read before the failure, so that the session can
/// answer the right request with [`SoapError::fault_code`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoapError {
    pub kind: SoapErrorKind,
    /// The `cwmp:ID` of the envelope, if the header was read.
    pub id: Option<String>,
    /// The RPC element's local name, if the Body was reached.
    pub method: Option<String>,
}

impl SoapError {
    /// The CWMP fault that answers this error (TR-069 A.5.1): 9004 for a
    /// resource cap, 9000 for an unknown method, 9006 for an unknown value
    /// type, 9007 for a value XML cannot carry, 9003 for anything else the
    /// peer got wrong.
    pub fn fault_code(&self) -> FaultCode {
        match self.kind {
            SoapErrorKind::TooLarge { .. }
            | SoapErrorKind::TooManyNodes { .. }
            | SoapErrorKind::TooDeep { .. }
            | SoapErrorKind::TooManyItems { .. } => FaultCode::ResourcesExceeded,
            SoapErrorKind::UnknownMethod => FaultCode::MethodNotSupported,
            SoapErrorKind::UnknownType { .. } => FaultCode::InvalidParameterType,
            SoapErrorKind::UnencodableText { .. } => FaultCode::InvalidParameterValue,
            SoapErrorKind::NotUtf8
            | SoapErrorKind::Doctype
            | SoapErrorKind::Malformed(_)
            | SoapErrorKind::NotSoapEnvelope
            | SoapErrorKind::WrongNamespace { .. }
            | SoapErrorKind::MultipleRpcs
            | SoapErrorKind::MustUnderstand { .. }
            | SoapErrorKind::Missing { .. }
            | SoapErrorKind::TooLong { .. }
            | SoapErrorKind::InvalidValue { .. }
            | SoapErrorKind::UnknownFaultCode { .. } => FaultCode::InvalidArguments,
        }
    }
}

impl From<SoapErrorKind> for SoapError {
    fn from(kind: SoapErrorKind) -> SoapError {
        SoapError {
            kind,
            id: None,
            method: None,
        }
    }
}

impl fmt::Display for SoapErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapErrorKind::TooLarge { size, limit } => {
                write!(f, "envelope of {size} bytes exceeds {limit}")
            }
            SoapErrorKind::NotUtf8 => f.write_str("envelope is not UTF-8"),
            SoapErrorKind::Doctype => f.write_str("DOCTYPE is not allowed"),
            SoapErrorKind::TooManyNodes { limit } => write!(f, "more than {limit} XML nodes"),
            SoapErrorKind::TooDeep { limit } => {
                write!(f, "elements nested deeper than {limit}")
            }
            SoapErrorKind::Malformed(e) => write!(f, "malformed XML: {e}"),
            SoapErrorKind::NotSoapEnvelope => f.write_str("not a SOAP 1.1 envelope with a Body"),
            SoapErrorKind::WrongNamespace { namespace } => {
                write!(f, "namespace {} is not a CWMP namespace", Quoted(namespace))
            }
            SoapErrorKind::UnknownMethod => f.write_str("unknown method"),
            SoapErrorKind::MultipleRpcs => f.write_str("more than one element in the Body"),
            SoapErrorKind::MustUnderstand { header } => {
                write!(f, "header {header} must be understood but is unknown")
            }
            SoapErrorKind::Missing { element } => write!(f, "missing element {element}"),
            SoapErrorKind::TooLong { element, max } => {
                write!(f, "{element} longer than {max} characters")
            }
            SoapErrorKind::TooManyItems { element, max } => {
                write!(f, "{element} has more than {max} entries")
            }
            SoapErrorKind::InvalidValue { element } => write!(f, "invalid value in {element}"),
            SoapErrorKind::UnknownType { xsi_type } => {
                write!(f, "unknown value type {}", Quoted(xsi_type))
            }
            SoapErrorKind::UnknownFaultCode { code } => write!(f, "unknown fault code {code}"),
            SoapErrorKind::UnencodableText { element, parameter } => {
                write!(f, "{element} holds a character XML cannot carry")?;
                match parameter {
                    Some(name) => write!(f, " (parameter {name})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for SoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)?;
        if let Some(method) = &self.method {
            write!(f, " in {method}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " (cwmp:ID {})", Quoted(id))?;
        }
        Ok(())
    }
}

impl std::error::Error for SoapError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_method_and_id() {
        let error = SoapError {
            kind: SoapErrorKind::UnknownMethod,
            id: Some("42".to_owned()),
            method: Some("X_Frobnicate".to_owned()),
        };
        assert_eq!(
            error.to_string(),
            "unknown method in X_Frobnicate (cwmp:ID \"42\")"
        );
        assert_eq!(error.fault_code(), FaultCode::MethodNotSupported);
    }
}
