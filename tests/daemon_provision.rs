//! The real `icwmpd` provisioning a device: writable tables, InformParameter, and the OpenWrt configuration behind the data model.

mod support;

use std::time::Duration;

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

fn script(requests: Vec<Rpc>) -> SessionScript {
    SessionScript {
        requests,
        ..SessionScript::default()
    }
}

fn spv(pairs: &[(&str, &str, XsdType)]) -> Rpc {
    Rpc::SetParameterValues {
        parameter_list: pairs
            .iter()
            .map(|(n, v, t)| ParameterValue::new(*n, *v, *t))
            .collect(),
        parameter_key: "k".into(),
    }
}

#[test]
fn inform_parameters_the_acs_adds_are_in_the_next_inform_and_stored() {
    let first = script(vec![
        Rpc::GetParameterNames {
            parameter_path: "Device.".into(),
            next_level: false,
        },
        Rpc::AddObject {
            object_name: "Device.ManagementServer.InformParameter.".into(),
            parameter_key: "k".into(),
        },
        spv(&[
            (
                "Device.ManagementServer.InformParameter.1.ParameterName",
                "Device.Time.Status",
                XsdType::String,
            ),
            (
                "Device.ManagementServer.InformParameter.1.Enable",
                "1",
                XsdType::Boolean,
            ),
        ]),
        Rpc::AddObject {
            object_name: "Device.DeviceInfo.Location.".into(),
            parameter_key: "k".into(),
        },
        Rpc::ScheduleInform {
            delay_seconds: 1,
            command_key: "again".into(),
        },
    ]);
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![first],
        ..AcsOptions::default()
    });
    let dir = temp_dir("inform-parameter");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let responses = &sessions[0].responses;
    let Rpc::GetParameterNamesResponse { parameter_list } = &responses[0] else {
        panic!("GPN: {:?}", responses[0]);
    };
    let writable = |name: &str| {
        parameter_list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.writable)
    };
    assert_eq!(
        writable("Device.ManagementServer.InformParameter."),
        Some(true)
    );
    assert_eq!(writable("Device.DeviceInfo.Location."), Some(true));
    assert_eq!(writable("Device.IP.Interface."), Some(false));
    assert_eq!(writable("Device.DNS.Client.Server."), Some(false));
    assert!(
        matches!(
            responses[1],
            Rpc::AddObjectResponse {
                instance_number: 1,
                ..
            }
        ),
        "{:?}",
        responses[1]
    );
    assert!(matches!(
        responses[2],
        Rpc::SetParameterValuesResponse { .. }
    ));
    assert!(matches!(responses[3], Rpc::AddObjectResponse { .. }));
    let inform = sessions[1].inform().expect("second Inform");
    assert!(
        inform
            .parameter_list
            .iter()
            .any(|p| p.name == "Device.Time.Status"),
        "{:?}",
        inform.parameter_list
    );
    assert!(daemon.stop().success());
    let stored = std::fs::read_to_string(dir.join("icwmpd").join("tables")).expect("tables file");
    assert!(
        stored.contains("Device.DeviceInfo.Location.1.Source"),
        "{stored}"
    );
    assert!(stored.contains("InformParameter.1.ParameterName\tDevice.Time.Status"));
}
