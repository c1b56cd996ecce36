//! The diagnostics' data model state and its TR-069 semantics: inputs, DiagnosticsState transitions, results, and their state file.

use crate::cwmp::fault::FaultCode;
use crate::records::{self, RecordError};
use crate::vecmap::VecMap;

/// The diagnostics this CPE runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    IpPing,
    TraceRoute,
    Download,
    Upload,
    UdpEcho,
    ServerSelection,
    NsLookup,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::IpPing,
        Kind::TraceRoute,
        Kind::Download,
        Kind::Upload,
        Kind::UdpEcho,
        Kind::ServerSelection,
        Kind::NsLookup,
    ];

    /// The name in the state file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::IpPing => "IPPing",
            Kind::TraceRoute => "TraceRoute",
            Kind::Download => "Download",
            Kind::Upload => "Upload",
            Kind::UdpEcho => "UDPEcho",
            Kind::ServerSelection => "ServerSelection",
            Kind::NsLookup => "NSLookup",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The TR-181 object (`Device.IP.Diagnostics.IPPing.`).
    pub fn tr181_object(self) -> &'static str {
        match self {
            Kind::IpPing => "Device.IP.Diagnostics.IPPing.",
            Kind::TraceRoute => "Device.IP.Diagnostics.TraceRoute.",
            Kind::Download => "Device.IP.Diagnostics.DownloadDiagnostics.",
            Kind::Upload => "Device.IP.Diagnostics.UploadDiagnostics.",
            Kind::UdpEcho => "Device.IP.Diagnostics.UDPEchoDiagnostics.",
            Kind::ServerSelection => "Device.IP.Diagnostics.ServerSelectionDiagnostics.",
            Kind::NsLookup => "Device.DNS.Diagnostics.NSLookupDiagnostics.",
        }
    }

    /// The TR-098 object, where TR-098 has one.
    pub fn tr098_object(self) -> Option<&'static str> {
        match self {
            Kind::IpPing => Some("InternetGatewayDevice.IPPingDiagnostics."),
            Kind::TraceRoute => Some("InternetGatewayDevice.TraceRouteDiagnostics."),
            Kind::Download => Some("InternetGatewayDevice.DownloadDiagnostics."),
            Kind::Upload => Some("InternetGatewayDevice.UploadDiagnostics."),
            Kind::NsLookup => Some("InternetGatewayDevice.NSLookupDiagnostics."),
            Kind::UdpEcho | Kind::ServerSelection => None,
        }
    }

    /// How icwmp names the diagnostic in its `Executing …: end session request` line.
    pub fn log_name(self) -> &'static str {
        match self {
            Kind::IpPing => "ippingdiagnostic",
            Kind::TraceRoute => "traceroutediagnostic",
            Kind::Download => "download diagnostic",
            Kind::Upload => "upload diagnostic",
            Kind::UdpEcho => "udpechodiagnostic",
            Kind::ServerSelection => "serverselectiondiagnostic",
            Kind::NsLookup => "nslookupdiagnostic",
        }
    }
}

/// `DiagnosticsState` values the state machine itself sets.
pub const NONE: &str = "None";
pub const REQUESTED: &str = "Requested";
pub const COMPLETE: &str = "Complete";
/// What a test interrupted by a restart, or failing inside the CPE, ends in.
pub const ERROR_INTERNAL: &str = "Error_Internal";

/// The name of the state parameter.
pub const STATE: &str = "DiagnosticsState";

/// One diagnostic: its inputs as the ACS set them, its state, and its results
/// (parameter names relative to the object, TR-181 spelling, tables as `RouteHops.1.Host`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Test {
    pub state: String,
    pub inputs: VecMap<String, String>,
    pub results: VecMap<String, String>,
    /// Bumped by every request and cancellation: a running engine whose
    /// generation is no longer current has been cancelled.
    pub generation: u64,
}

impl Test {
    /// An input, or "" when the ACS never set it.
    pub fn input(&self, name: &str) -> &str {
        self.inputs.get(name).map(String::as_str).unwrap_or("")
    }
}

/// What a finished engine reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The final DiagnosticsState (`Complete` or an `Error_…`).
    pub state: &'static str,
    pub results: Vec<(String, String)>,
}

impl Outcome {
    pub fn error(state: &'static str) -> Outcome {
        Outcome {
            state,
            results: Vec::new(),
        }
    }
}

/// Every diagnostic's state, shared by the data model provider and the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Board {
    tests: VecMap<Kind, Test>,
}

const HEADER: &str = "icwmpd-diagnostics 1";

impl Board {
    pub fn test(&self, kind: Kind) -> Option<&Test> {
        self.tests.get(&kind)
    }

    /// The value of a parameter of `kind` (relative name), if the board holds one.
    pub fn value(&self, kind: Kind, name: &str) -> Option<&str> {
        let test = self.tests.get(&kind)?;
        if name == STATE {
            return Some(if test.state.is_empty() {
                NONE
            } else {
                &test.state
            });
        }
        test.inputs
            .get(name)
            .or_else(|| test.results.get(name))
            .map(String::as_str)
    }

    /// Checks a value the ACS writes into `DiagnosticsState`: only
    /// `Requested` and `Canceled` may be written.
    pub fn check_state_write(value: &str) -> Result<(), FaultCode> {
        match value {
            REQUESTED | "Canceled" => Ok(()),
            _ => Err(FaultCode::InvalidParameterValue),
        }
    }

    /// Applies one SetParameterValues' writes to `kind` (TR-181's rules):
    /// `DiagnosticsState=Requested` (re)starts the test at the session's end;
    /// writing any input, or `Canceled`, without it cancels a pending or
    /// running test and leaves the state `None`. Results go with either.
    pub fn apply(&mut self, kind: Kind, writes: &[(String, String)]) {
        let test = self.tests.get_or_insert_with(kind, Test::default);
        let mut requested = false;
        for (name, value) in writes {
            if name == STATE {
                requested = value == REQUESTED;
            } else {
                test.inputs.insert(name.clone(), value.clone());
            }
        }
        test.generation += 1;
        test.results.clear();
        test.state = if requested { REQUESTED } else { NONE }.to_owned();
    }

    /// The tests waiting to run, with their generations.
    pub fn requested(&self) -> Vec<(Kind, u64)> {
        self.tests
            .iter()
            .filter(|(_, t)| t.state == REQUESTED)
            .map(|(k, t)| (*k, t.generation))
            .collect()
    }

    /// Whether generation `generation` of `kind` is still the one wanted.
    pub fn is_current(&self, kind: Kind, generation: u64) -> bool {
        self.tests
            .get(&kind)
            .is_some_and(|t| t.state == REQUESTED && t.generation == generation)
    }

    /// Records a finished test; `false` (and nothing changes) if it was cancelled meanwhile.
    pub fn finish(&mut self, kind: Kind, generation: u64, outcome: Outcome) -> bool {
        if !self.is_current(kind, generation) {
            return false;
        }
        if let Some(test) = self.tests.get_mut(&kind) {
            test.state = outcome.state.to_owned();
            test.results = outcome.results.into_iter().collect();
        }
        true
    }

    /// After a restart: tests that were requested or running cannot be
    /// resumed, so they end in `Error_Internal`. Returns whether any did (the
    /// ACS then gets its `8 DIAGNOSTICS COMPLETE`).
    pub fn fail_interrupted(&mut self) -> bool {
        let mut any = false;
        for test in self.tests.values_mut() {
            if test.state == REQUESTED {
                test.state = ERROR_INTERNAL.to_owned();
                test.results.clear();
                any = true;
            }
        }
        any
    }

    /// The state file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!("{HEADER}\n");
        for (kind, test) in &self.tests {
            records::push_line(&mut text, &[kind.name(), "s", STATE, &test.state]);
            for (name, value) in &test.inputs {
                records::push_line(&mut text, &[kind.name(), "i", name, value]);
            }
            for (name, value) in &test.results {
                records::push_line(&mut text, &[kind.name(), "r", name, value]);
            }
        }
        text.into_bytes()
    }

    /// Reads a state file written by [`Board::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Board, RecordError> {
        let mut board = Board::default();
        for (line, fields) in records::parse_lines(bytes, HEADER)? {
            let bad = |reason| RecordError::BadLine { line, reason };
            let [kind, section, name, value] = fields.as_slice() else {
                return Err(bad("expected 4 fields"));
            };
            let kind = Kind::from_name(kind).ok_or(bad("unknown diagnostic"))?;
            let test = board.tests.get_or_insert_with(kind, Test::default);
            match section.as_str() {
                "s" => test.state = value.clone(),
                "i" => {
                    test.inputs.insert(name.clone(), value.clone());
                }
                "r" => {
                    test.results.insert(name.clone(), value.clone());
                }
                _ => return Err(bad("unknown section")),
            }
        }
        Ok(board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn request_then_finish_then_input_change() {
        let mut board = Board::default();
        assert_eq!(board.value(Kind::IpPing, STATE), None);
        board.apply(
            Kind::IpPing,
            &writes(&[("Host", "127.0.0.1"), (STATE, REQUESTED)]),
        );
        let [(kind, generation)] = board.requested()[..] else {
            panic!("one requested test expected");
        };
        assert_eq!(kind, Kind::IpPing);
        let outcome = Outcome {
            state: COMPLETE,
            results: vec![("SuccessCount".into(), "3".into())],
        };
        assert!(board.finish(kind, generation, outcome.clone()));
        assert_eq!(board.value(Kind::IpPing, STATE), Some(COMPLETE));
        assert_eq!(board.value(Kind::IpPing, "SuccessCount"), Some("3"));
        assert!(board.requested().is_empty());
        // A later input write makes the results indeterminate: state None, results gone.
        board.apply(Kind::IpPing, &writes(&[("Timeout", "500")]));
        assert_eq!(board.value(Kind::IpPing, STATE), Some(NONE));
        assert_eq!(board.value(Kind::IpPing, "SuccessCount"), None);
        assert_eq!(board.value(Kind::IpPing, "Host"), Some("127.0.0.1"));
        assert!(!board.finish(kind, generation, outcome));
    }

    #[test]
    fn writing_an_input_while_running_cancels() {
        let mut board = Board::default();
        board.apply(Kind::TraceRoute, &writes(&[(STATE, REQUESTED)]));
        let generation = board.requested()[0].1;
        board.apply(Kind::TraceRoute, &writes(&[("MaxHopCount", "5")]));
        assert!(!board.is_current(Kind::TraceRoute, generation));
        assert_eq!(board.value(Kind::TraceRoute, STATE), Some(NONE));
        assert!(!board.finish(Kind::TraceRoute, generation, Outcome::error(COMPLETE)));
        // Canceled is accepted and reads back as None.
        assert_eq!(Board::check_state_write("Canceled"), Ok(()));
        assert_eq!(
            Board::check_state_write("Complete"),
            Err(FaultCode::InvalidParameterValue)
        );
        board.apply(Kind::TraceRoute, &writes(&[(STATE, REQUESTED)]));
        board.apply(Kind::TraceRoute, &writes(&[(STATE, "Canceled")]));
        assert_eq!(board.value(Kind::TraceRoute, STATE), Some(NONE));
    }

    #[test]
    fn survives_the_state_file_and_fails_interrupted_tests() {
        let mut board = Board::default();
        board.apply(
            Kind::NsLookup,
            &writes(&[("HostName", "a\tb%"), (STATE, REQUESTED)]),
        );
        board.apply(Kind::IpPing, &writes(&[(STATE, REQUESTED)]));
        let generation = board.requested()[0].1;
        board.finish(
            Kind::IpPing,
            generation,
            Outcome {
                state: COMPLETE,
                results: vec![("MinimumResponseTime".into(), "1".into())],
            },
        );
        let mut read = Board::from_bytes(&board.to_bytes()).expect("read back");
        assert_eq!(read.value(Kind::NsLookup, "HostName"), Some("a\tb%"));
        assert_eq!(read.value(Kind::IpPing, "MinimumResponseTime"), Some("1"));
        assert!(read.fail_interrupted());
        assert_eq!(read.value(Kind::NsLookup, STATE), Some(ERROR_INTERNAL));
        assert_eq!(read.value(Kind::IpPing, STATE), Some(COMPLETE));
        assert!(!read.fail_interrupted());
        assert!(Board::from_bytes(b"icwmpd-diagnostics 1\nX\ts\ta\tb\n").is_err());
        assert!(Board::from_bytes(b"other\n").is_err());
    }
}
