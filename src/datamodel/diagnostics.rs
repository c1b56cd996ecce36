//! The provider of `Device.IP.Diagnostics.`, `Device.DNS.Diagnostics.` and TR-098's diagnostics objects, over the diagnostics service's shared board.

use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::params::XsdType;
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::path::schema_path;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::{ModelKind, Schema, INSTANCE};
use crate::diagnostics::state::{Board, Kind, COMPLETE, STATE};
use crate::diagnostics::throughput::{MAX_CONNECTIONS, MAX_INCREMENTAL};
use crate::diagnostics::udpecho::MAX_RESULTS;
use crate::diagnostics::SharedBoard;

/// TR-098 spellings of result parameters that TR-181 renamed (relative names, instance numbers as `{i}`).
const TR098_NAMES: &[(&str, &str)] = &[
    ("RouteHops.{i}.HopHost", "RouteHops.{i}.Host"),
    ("RouteHops.{i}.HopHostAddress", "RouteHops.{i}.HostAddress"),
    ("RouteHops.{i}.HopErrorCode", "RouteHops.{i}.ErrorCode"),
    ("RouteHops.{i}.HopRTTimes", "RouteHops.{i}.RTTimes"),
];

/// The `*Supported` flags of `Device.IP.Diagnostics.` and the diagnostic each stands for
/// (every one runs, over IPv4 and IPv6; IP layer capacity is not implemented).
const SUPPORTED_FLAGS: &[(&str, Option<Kind>)] = &[
    ("IPv4PingSupported", Some(Kind::IpPing)),
    ("IPv6PingSupported", Some(Kind::IpPing)),
    ("IPv4TraceRouteSupported", Some(Kind::TraceRoute)),
    ("IPv6TraceRouteSupported", Some(Kind::TraceRoute)),
    ("IPv4DownloadDiagnosticsSupported", Some(Kind::Download)),
    ("IPv6DownloadDiagnosticsSupported", Some(Kind::Download)),
    ("IPv4UploadDiagnosticsSupported", Some(Kind::Upload)),
    ("IPv6UploadDiagnosticsSupported", Some(Kind::Upload)),
    ("IPv4UDPEchoDiagnosticsSupported", Some(Kind::UdpEcho)),
    ("IPv6UDPEchoDiagnosticsSupported", Some(Kind::UdpEcho)),
    ("IPLayerCapacitySupported", None),
    (
        "IPv4ServerSelectionDiagnosticsSupported",
        Some(Kind::ServerSelection),
    ),
    (
        "IPv6ServerSelectionDiagnosticsSupported",
        Some(Kind::ServerSelection),
    ),
];

const FLAGS_OBJECT: &str = "Device.IP.Diagnostics.";

/// Registers the diagnostics objects of the model `dm` serves.
pub fn register(dm: &mut DataModel, shared: SharedBoard) -> Result<(), RegisterError> {
    let schema = dm.schema();
    let provider = DiagnosticsProvider {
        schema,
        shared,
        staged: Vec::new(),
    };
    let mut prefixes: Vec<String> = Vec::new();
    for kind in Kind::ALL {
        if let Some(object) = provider.object(kind) {
            prefixes.push(object.to_owned());
        }
    }
    if schema.kind() == ModelKind::Tr181 {
        prefixes.extend(
            SUPPORTED_FLAGS
                .iter()
                .map(|(f, _)| format!("{FLAGS_OBJECT}{f}")),
        );
    }
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    dm.register(&prefixes, Box::new(provider))
}

/// Serves every diagnostic's inputs, state and results from the board.
pub struct DiagnosticsProvider {
    schema: Schema,
    shared: SharedBoard,
    staged: Vec<(Kind, String, String)>,
}

impl DiagnosticsProvider {
    fn object(&self, kind: Kind) -> Option<&'static str> {
        match self.schema.kind() {
            ModelKind::Tr181 => Some(kind.tr181_object()),
            ModelKind::Tr098 => kind.tr098_object(),
        }
    }

    /// The diagnostic a path belongs to and its name relative to the object (TR-181 spelling).
    fn locate(&self, path: &str) -> Option<(Kind, String)> {
        Kind::ALL.into_iter().find_map(|kind| {
            let relative = path.strip_prefix(self.object(kind)?)?;
            Some((kind, self.tr181_name(relative)))
        })
    }

    fn tr181_name(&self, relative: &str) -> String {
        if self.schema.kind() != ModelKind::Tr098 {
            return relative.to_owned();
        }
        let generic = schema_path(relative);
        for (old, new) in TR098_NAMES {
            if generic == *old {
                // Put the instance number back: RouteHops.<n>.Hop… keeps its n.
                let number = relative.split('.').nth(1).unwrap_or("");
                return new.replace(INSTANCE, number);
            }
        }
        relative.to_owned()
    }

    /// The value of a parameter nobody set: the schema's default or its type's zero.
    fn default_value(&self, path: &str) -> Option<String> {
        let node = self.schema.lookup(&schema_path(path))?;
        if !self.schema.is_parameter(node) {
            return None;
        }
        if let Some(value) = self.schema.constraints(node).default_value() {
            return Some(value.to_owned());
        }
        if self.schema.is_list(node) {
            return Some(String::new());
        }
        Some(
            match self.schema.xsd_type(node) {
                XsdType::Int | XsdType::UnsignedInt | XsdType::Long | XsdType::UnsignedLong => "0",
                XsdType::Boolean => "0",
                XsdType::DateTime => "0001-01-01T00:00:00Z",
                _ => "",
            }
            .to_owned(),
        )
    }

    /// The state as this model spells it (TR-098's transfers say `Completed`).
    fn model_state(&self, path: &str, state: &str) -> String {
        let known = self
            .schema
            .lookup(path)
            .map(|node| {
                self.schema
                    .constraints(node)
                    .enumeration()
                    .any(|v| v == state)
            })
            .unwrap_or(true);
        if !known && state == COMPLETE {
            return "Completed".to_owned();
        }
        state.to_owned()
    }
}

/// Fixed capabilities of a diagnostic (relative TR-181 names).
fn capability(kind: Kind, name: &str) -> Option<String> {
    let value = match (kind, name) {
        (Kind::Download, "DownloadTransports") | (Kind::Upload, "UploadTransports") => {
            "HTTP,FTP".to_owned()
        }
        (Kind::Download, "DownloadDiagnosticMaxConnections")
        | (Kind::Upload, "UploadDiagnosticsMaxConnections") => MAX_CONNECTIONS.to_string(),
        (Kind::Download, "DownloadDiagnosticsMaxIncrementalResult")
        | (Kind::Upload, "UploadDiagnosticsMaxIncrementalResult") => MAX_INCREMENTAL.to_string(),
        (Kind::UdpEcho, "UDPEchoDiagnosticsMaxResults") => MAX_RESULTS.to_string(),
        _ => return None,
    };
    Some(value)
}

impl Provider for DiagnosticsProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        if let Some(flag) = path.strip_prefix(FLAGS_OBJECT) {
            if let Some((_, kind)) = SUPPORTED_FLAGS.iter().find(|(f, _)| *f == flag) {
                let on = kind.is_some();
                return Some(if on { "1" } else { "0" }.to_owned());
            }
        }
        let (kind, name) = self.locate(path)?;
        if let Some(value) = capability(kind, &name) {
            return Some(value);
        }
        let shared = self.shared.borrow();
        match shared.board.value(kind, &name) {
            Some(value) if name == STATE => Some(self.model_state(path, value)),
            Some(value) => Some(value.to_owned()),
            None if name == STATE => Some("None".to_owned()),
            None => {
                drop(shared);
                self.default_value(path)
            }
        }
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let Some((kind, name)) = self.locate(table) else {
            return Vec::new();
        };
        let shared = self.shared.borrow();
        let Some(test) = shared.board.test(kind) else {
            return Vec::new();
        };
        let mut numbers: Vec<u32> = test
            .results
            .keys()
            .filter_map(|k| k.strip_prefix(name.as_str()))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    fn writable(&self, path: &str) -> bool {
        self.locate(path)
            .is_some_and(|(_, name)| !name.contains('.'))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (kind, name) = self.locate(path).ok_or(FaultCode::InvalidParameterName)?;
        if name.contains('.') || capability(kind, &name).is_some() {
            return Err(FaultCode::NonWritableParameter);
        }
        if name == STATE {
            Board::check_state_write(value)?;
        }
        let connections =
            matches!(kind, Kind::Download | Kind::Upload) && name == "NumberOfConnections";
        if connections && value.parse::<u32>().map_or(true, |n| n > MAX_CONNECTIONS) {
            return Err(FaultCode::InvalidParameterValue);
        }
        self.staged.push((kind, name, value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut shared = self.shared.borrow_mut();
        for kind in Kind::ALL {
            let writes: Vec<(String, String)> = staged
                .iter()
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, n, v)| (n.clone(), v.clone()))
                .collect();
            if !writes.is_empty() {
                shared.board.apply(kind, &writes);
            }
        }
        shared.save();
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::engine::{Options, SetValue};
    use crate::datamodel::state::DmState;
    use crate::diagnostics::state::{Outcome, REQUESTED};
    use crate::diagnostics::Shared;

    fn model(kind: ModelKind, tag: &str) -> (DataModel, SharedBoard, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("icwmp-diag-provider-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (shared, interrupted) = Shared::open(&dir);
        assert!(!interrupted);
        let mut dm = DataModel::new(Schema::new(kind), Options::default(), DmState::in_memory());
        register(&mut dm, shared.clone()).expect("register");
        (dm, shared, dir)
    }

    fn get(dm: &mut DataModel, name: &str) -> String {
        let values = dm.get_values(&[name]).expect("GPV");
        values.into_iter().next().expect("one value").value
    }

    fn set(dm: &mut DataModel, pairs: &[(&str, &str)]) -> Result<(), Vec<FaultCode>> {
        let entries: Vec<SetValue> = pairs
            .iter()
            .map(|(name, value)| SetValue {
                name,
                value,
                xsd_type: None,
            })
            .collect();
        dm.set_values(&entries, "")
            .map(|_| ())
            .map_err(|f| f.parameter_faults.iter().map(|p| p.code).collect())
    }

    #[test]
    fn tr181_inputs_states_defaults_and_capabilities() {
        let (mut dm, shared, dir) = model(ModelKind::Tr181, "181");
        assert_eq!(
            get(&mut dm, "Device.IP.Diagnostics.IPPing.DiagnosticsState"),
            "None"
        );
        assert_eq!(get(&mut dm, "Device.IP.Diagnostics.IPPing.Timeout"), "0");
        assert_eq!(
            get(&mut dm, "Device.IP.Diagnostics.UDPEchoDiagnostics.Port"),
            "7"
        );
        assert_eq!(
            get(&mut dm, "Device.IP.Diagnostics.DownloadDiagnostics.BOMTime"),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            get(
                &mut dm,
                "Device.IP.Diagnostics.DownloadDiagnostics.DownloadTransports"
            ),
            "HTTP,FTP"
        );
        assert_eq!(
            get(&mut dm, "Device.IP.Diagnostics.IPv6TraceRouteSupported"),
            "1"
        );
        assert_eq!(
            get(&mut dm, "Device.IP.Diagnostics.IPLayerCapacitySupported"),
            "0"
        );

        let state = "Device.IP.Diagnostics.IPPing.DiagnosticsState";
        assert_eq!(
            set(&mut dm, &[(state, "Complete")]),
            Err(vec![FaultCode::InvalidParameterValue])
        );
        let connections = "Device.IP.Diagnostics.DownloadDiagnostics.NumberOfConnections";
        assert_eq!(
            set(&mut dm, &[(connections, "9")]),
            Err(vec![FaultCode::InvalidParameterValue])
        );
        set(&mut dm, &[(connections, "8")]).expect("8 connections");
        set(
            &mut dm,
            &[
                ("Device.IP.Diagnostics.IPPing.Host", "127.0.0.1"),
                (state, REQUESTED),
            ],
        )
        .expect("SPV");
        assert_eq!(get(&mut dm, state), "Requested");
        let requested = shared.borrow().board.requested();
        assert_eq!(requested.len(), 1);

        // A finished trace shows its hop table.
        set(
            &mut dm,
            &[(
                "Device.IP.Diagnostics.TraceRoute.DiagnosticsState",
                REQUESTED,
            )],
        )
        .expect("SPV");
        let generation = shared
            .borrow()
            .board
            .requested()
            .iter()
            .find(|(k, _)| *k == Kind::TraceRoute)
            .expect("trace")
            .1;
        let outcome = Outcome {
            state: COMPLETE,
            results: vec![
                ("RouteHopsNumberOfEntries".into(), "2".into()),
                ("RouteHops.1.Host".into(), "10.0.0.1".into()),
                ("RouteHops.2.Host".into(), "10.0.0.2".into()),
            ],
        };
        assert!(shared
            .borrow_mut()
            .board
            .finish(Kind::TraceRoute, generation, outcome));
        let hops = dm
            .get_values(&["Device.IP.Diagnostics.TraceRoute.RouteHops."])
            .expect("GPV");
        let hosts: Vec<_> = hops
            .iter()
            .filter(|p| p.name.ends_with(".Host"))
            .map(|p| p.value.as_str())
            .collect();
        assert_eq!(hosts, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            get(
                &mut dm,
                "Device.IP.Diagnostics.TraceRoute.RouteHops.2.RTTimes"
            ),
            ""
        );
        // Results are read-only.
        assert!(set(
            &mut dm,
            &[("Device.IP.Diagnostics.IPPing.SuccessCount", "1")]
        )
        .is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tr098_names_and_completed() {
        let (mut dm, shared, dir) = model(ModelKind::Tr098, "098");
        let base = "InternetGatewayDevice.";
        set(
            &mut dm,
            &[
                (
                    &format!("{base}TraceRouteDiagnostics.DiagnosticsState"),
                    REQUESTED,
                ),
                (
                    &format!("{base}DownloadDiagnostics.DiagnosticsState"),
                    REQUESTED,
                ),
            ],
        )
        .expect("SPV");
        let requested = shared.borrow().board.requested();
        for (kind, generation) in requested {
            let results = match kind {
                Kind::TraceRoute => vec![("RouteHops.1.HostAddress".into(), "10.0.0.9".into())],
                _ => Vec::new(),
            };
            assert!(shared.borrow_mut().board.finish(
                kind,
                generation,
                Outcome {
                    state: COMPLETE,
                    results
                }
            ));
        }
        assert_eq!(
            get(
                &mut dm,
                &format!("{base}TraceRouteDiagnostics.RouteHops.1.HopHostAddress")
            ),
            "10.0.0.9"
        );
        assert_eq!(
            get(
                &mut dm,
                &format!("{base}TraceRouteDiagnostics.DiagnosticsState")
            ),
            "Complete"
        );
        assert_eq!(
            get(
                &mut dm,
                &format!("{base}DownloadDiagnostics.DiagnosticsState")
            ),
            "Completed"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
