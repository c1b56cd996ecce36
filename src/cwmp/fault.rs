//! CWMP fault codes of TR-069 Annex A (Tables A.5 and A.6) and the fault value a handler returns.

use std::fmt;

macro_rules! fault_codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        /// Every fault code TR-069 Annex A defines, ACS-side (8xxx) and CPE-side (9xxx).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FaultCode {
            $($name,)*
        }

        impl FaultCode {
            /// The numeric code carried in `FaultCode`.
            pub const fn code(self) -> u32 {
                match self { $(FaultCode::$name => $code,)* }
            }

            /// The standard `FaultString` for the code.
            pub const fn text(self) -> &'static str {
                match self { $(FaultCode::$name => $text,)* }
            }

            /// The code for a number, if the standard defines it.
            pub fn from_code(code: u32) -> Option<FaultCode> {
                match code { $($code => Some(FaultCode::$name),)* _ => None }
            }
        }
    };
}

fault_codes! {
    AcsMethodNotSupported = 8000, "Method not supported";
    AcsRequestDenied = 8001, "Request denied";
    AcsInternalError = 8002, "Internal error";
    AcsInvalidArguments = 8003, "Invalid arguments";
    AcsResourcesExceeded = 8004, "Resources exceeded";
    AcsRetryRequest = 8005, "Retry request";
    AcsVersionIncompatible = 8006, "ACS version incompatible";
    MethodNotSupported = 9000, "Method not supported";
    RequestDenied = 9001, "Request denied";
    InternalError = 9002, "Internal error";
    InvalidArguments = 9003, "Invalid arguments";
    ResourcesExceeded = 9004, "Resources exceeded";
    InvalidParameterName = 9005, "Invalid parameter name";
    InvalidParameterType = 9006, "Invalid parameter type";
    InvalidParameterValue = 9007, "Invalid parameter value";
    NonWritableParameter = 9008, "Attempt to set a non-writable parameter";
    NotificationRejected = 9009, "Notification request rejected";
    DownloadFailure = 9010, "Download failure";
    UploadFailure = 9011, "Upload failure";
    TransferAuthFailure = 9012, "File transfer server authentication failure";
    UnsupportedProtocol = 9013, "Unsupported protocol for file transfer";
    MulticastJoinFailure = 9014, "Download failure: unable to join multicast group";
    ServerUnreachable = 9015, "Download failure: unable to contact file server";
    FileAccessFailure = 9016, "Download failure: unable to access file";
    DownloadIncomplete = 9017, "Download failure: unable to complete download";
    FileCorrupted = 9018, "Download failure: file corrupted";
    FileAuthFailure = 9019, "Download failure: file authentication failure";
    WindowMissed = 9020, "Download failure: unable to complete download within specified time windows";
    CancelNotPermitted = 9021, "Cancelation of file transfer not permitted in current transfer state";
    InvalidUuid = 9022, "Invalid UUID format";
    UnknownExecutionEnvironment = 9023, "Unknown execution environment";
    DisabledExecutionEnvironment = 9024, "Disabled execution environment";
    DeploymentUnitMismatch = 9025, "Deployment unit to execution environment mismatch";
    DuplicateDeploymentUnit = 9026, "Duplicate deployment unit";
    SystemResourcesExceeded = 9027, "System resources exceeded";
    UnknownDeploymentUnit = 9028, "Unknown deployment unit";
    InvalidDeploymentUnitState = 9029, "Invalid deployment unit state";
    DowngradeNotPermitted = 9030, "Invalid deployment unit update: downgrade not permitted";
    VersionNotSpecified = 9031, "Invalid deployment unit update: version not specified";
    VersionExists = 9032, "Invalid deployment unit update: version already exists";
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

/// One per-parameter fault inside a SetParameterValues fault (9003).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterFault {
    pub name: String,
    pub code: FaultCode,
    pub text: String,
}

/// A fault as it travels in a `cwmp:Fault`: the code, its string and, for
/// SetParameterValues, the list of per-parameter faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    pub text: String,
    pub parameter_faults: Vec<ParameterFault>,
}

impl Fault {
    /// A fault with the standard string of its code.
    pub fn new(code: FaultCode) -> Fault {
        Fault {
            code,
            text: code.text().to_owned(),
            parameter_faults: Vec::new(),
        }
    }

    /// A fault with a more precise string than the standard one.
    pub fn with_text(code: FaultCode, text: impl Into<String>) -> Fault {
        Fault {
            code,
            text: text.into(),
            parameter_faults: Vec::new(),
        }
    }
}

impl From<FaultCode> for Fault {
    fn from(code: FaultCode) -> Fault {
        Fault::new(code)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault {}: {}", self.code.code(), self.text)
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in (8000..=8006).chain(9000..=9032) {
            let fault = FaultCode::from_code(code).expect("standard code");
            assert_eq!(fault.code(), code);
            assert!(!fault.text().is_empty());
        }
        assert_eq!(FaultCode::from_code(9033), None);
        assert_eq!(
            FaultCode::InvalidParameterName.to_string(),
            "9005 Invalid parameter name"
        );
    }
}
