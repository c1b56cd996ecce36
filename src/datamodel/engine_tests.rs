//! Scenario tests of the engine's RPC semantics over in-memory providers.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::params::{SetParameterAttribute, XsdType};
use crate::datamodel::engine::{DataModel, InstanceMode, Options, SetValue};
use crate::datamodel::provider::{ApplyStatus, MemoryProvider, Provider};
use crate::datamodel::schema::{ModelKind, Schema};
use crate::datamodel::state::DmState;

/// A provider the test keeps a handle on after giving it to the engine.
#[derive(Clone)]
struct Shared(Rc<RefCell<MemoryProvider>>);

impl Provider for Shared {
    fn get(&mut self, path: &str) -> Option<String> {
        self.0.borrow_mut().get(path)
    }
    fn instances(&mut self, table: &str) -> Vec<u32> {
        self.0.borrow_mut().instances(table)
    }
    fn writable(&self, path: &str) -> bool {
        self.0.borrow().writable(path)
    }
    fn creatable(&self, table: &str) -> bool {
        self.0.borrow().creatable(table)
    }
    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        self.0.borrow_mut().set(path, value)
    }
    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        self.0.borrow_mut().commit()
    }
    fn abort(&mut self) {
        self.0.borrow_mut().abort()
    }
    fn add_instance(&mut self, t: &str, n: u32, a: Option<&str>) -> Result<ApplyStatus, FaultCode> {
        self.0.borrow_mut().add_instance(t, n, a)
    }
    fn delete_instance(&mut self, i: &str) -> Result<ApplyStatus, FaultCode> {
        self.0.borrow_mut().delete_instance(i)
    }
}

fn schema() -> Schema {
    Schema::new(ModelKind::Tr181)
}

fn device_provider() -> Shared {
    let mut p = MemoryProvider::new(schema());
    for (k, v) in [
        ("Device.DeviceInfo.Manufacturer", "iopsys"),
        ("Device.DeviceInfo.ManufacturerOUI", "201F31"),
        ("Device.DeviceInfo.ModelName", "DG400PRIMEA"),
        ("Device.DeviceInfo.ProductClass", "DG400PRIME"),
        ("Device.DeviceInfo.SerialNumber", "J814001008"),
        ("Device.DeviceInfo.HardwareVersion", "DG400PRIMEA"),
        ("Device.DeviceInfo.SoftwareVersion", "4.4.0"),
        ("Device.DeviceInfo.ProvisioningCode", ""),
        ("Device.ManagementServer.ParameterKey", ""),
        ("Device.ManagementServer.PeriodicInformInterval", "600"),
        ("Device.ManagementServer.PeriodicInformEnable", "1"),
        (
            "Device.ManagementServer.ConnectionRequestURL",
            "http://192.0.2.1:7547/",
        ),
        ("Device.ManagementServer.AliasBasedAddressing", "false"),
        ("Device.Time.Enable", "1"),
        ("Device.Time.Status", "Synchronized"),
        ("Device.ManagementServer.URL", "http://acs.example/"),
        ("Device.Time.LocalTimeZone", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ] {
        p.insert(k, v);
    }
    p.lock("Device.ManagementServer.PeriodicInformEnable");
    Shared(Rc::new(RefCell::new(p)))
}

fn model_with(state: DmState, options: Options) -> (DataModel, Shared, Shared) {
    let device = device_provider();
    let ip = Shared(Rc::new(RefCell::new(MemoryProvider::new(schema()))));
    let mut dm = DataModel::new(schema(), options, state);
    dm.register(
        &[
            "Device.DeviceInfo.",
            "Device.ManagementServer.",
            "Device.Time.",
        ],
        Box::new(device.clone()),
    )
    .expect("register device");
    dm.register(&["Device.IP.Interface."], Box::new(ip.clone()))
        .expect("register ip");
    (dm, device, ip)
}

fn model() -> (DataModel, Shared, Shared) {
    model_with(DmState::in_memory(), Options::default())
}

fn names(infos: &[crate::cwmp::params::ParameterInfo]) -> Vec<String> {
    infos.iter().map(|i| i.name.clone()).collect()
}

fn code(result: Result<impl std::fmt::Debug, Fault>) -> u32 {
    result.expect_err("a fault").code.code()
}

fn temp_state(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icwmp-dm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("datamodel.state")
}

#[test]
fn gpv_partial_full_and_9005() {
    let (mut dm, _, _) = model();
    let values = dm.get_values(&["Device.Time."]).expect("gpv");
    let time: Vec<_> = values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        time,
        [
            "Device.Time.Enable",
            "Device.Time.Status",
            "Device.Time.LocalTimeZone"
        ]
    );
    assert_eq!(values[0].xsd_type, XsdType::Boolean);
    let one = dm
        .get_values(&["Device.DeviceInfo.SerialNumber"])
        .expect("one");
    assert_eq!(one[0].value, "J814001008");
    for bad in [
        "Device.Time.NoSuch",
        "Device.Time.CurrentLocalTime",
        "Device.DSL.",
        "Device.Time",
        "Device.Time.Enable.",
        "InternetGatewayDevice.",
        "Device..Time",
    ] {
        assert_eq!(code(dm.get_values(&[bad])), 9005, "{bad}");
    }
    assert!(dm.get_values(&[""]).expect("all").len() > 15);
}

#[test]
fn gpn_next_level_table() {
    let (mut dm, _, _) = model();
    let top = dm.get_names("", true).expect("top");
    assert_eq!(names(&top), ["Device."]);
    assert!(!top[0].writable);
    let all = names(&dm.get_names("", false).expect("all"));
    assert_eq!(all.first().map(String::as_str), Some("Device."));
    assert!(all.contains(&"Device.Time.Enable".to_owned()));
    assert!(all.contains(&"Device.IP.".to_owned()));
    assert!(all.contains(&"Device.IP.Interface.".to_owned()));

    let level = dm.get_names("Device.Time.", true).expect("next level");
    // Empty tables of a served subtree exist (Time.Client., Time.Server.).
    assert_eq!(
        names(&level),
        [
            "Device.Time.Enable",
            "Device.Time.Status",
            "Device.Time.LocalTimeZone",
            "Device.Time.Client.",
            "Device.Time.Server."
        ]
    );
    assert!(!names(&level).contains(&"Device.Time.".to_owned()));
    let sub = dm.get_names("Device.Time.", false).expect("subtree");
    assert_eq!(sub[0].name, "Device.Time.");
    assert_eq!(sub.len(), 6);

    let param = dm.get_names("Device.Time.Enable", false).expect("param");
    assert_eq!(names(&param), ["Device.Time.Enable"]);
    assert!(param[0].writable);
    assert_eq!(code(dm.get_names("Device.Time.Enable", true)), 9003);
    assert_eq!(code(dm.get_names("Device.Nope.", true)), 9005);

    let level = dm.get_names("Device.", true).expect("device level");
    let level_names = names(&level);
    assert!(level_names.contains(&"Device.DeviceInfo.".to_owned()));
    assert!(!level_names
        .iter()
        .any(|n| n.starts_with("Device.DeviceInfo.S")));

    let serial = dm
        .get_names("Device.DeviceInfo.SerialNumber", false)
        .expect("serial");
    assert!(!serial[0].writable);
    let locked = dm
        .get_names("Device.ManagementServer.PeriodicInformEnable", false)
        .expect("locked");
    assert!(!locked[0].writable, "provider refuses writes");
    let table = dm.get_names("Device.IP.Interface.", false).expect("table");
    assert!(table[0].writable, "IP.Interface is createable");
}

#[test]
fn spv_is_all_or_nothing_and_sets_parameter_key() {
    let (mut dm, device, _) = model();
    let entries = [
        SetValue {
            name: "Device.ManagementServer.URL",
            value: "http://a.example/",
            xsd_type: None,
        },
        SetValue {
            name: "Device.Time.Enable",
            value: "false",
            xsd_type: Some(XsdType::Boolean),
        },
        SetValue {
            name: "Device.ManagementServer.PeriodicInformInterval",
            value: "0",
            xsd_type: None,
        },
        SetValue {
            name: "Device.Time.LocalTimeZone",
            value: "UTC",
            xsd_type: Some(XsdType::Int),
        },
        SetValue {
            name: "Device.DeviceInfo.SerialNumber",
            value: "x",
            xsd_type: None,
        },
        SetValue {
            name: "Device.Time.Bogus",
            value: "x",
            xsd_type: None,
        },
        SetValue {
            name: "Device.ManagementServer.PeriodicInformEnable",
            value: "0",
            xsd_type: None,
        },
    ];
    let fault = dm.set_values(&entries, "key1").expect_err("one bad value");
    assert_eq!(fault.code, FaultCode::InvalidArguments);
    let faults: Vec<_> = fault
        .parameter_faults
        .iter()
        .map(|f| (f.name.as_str(), f.code.code()))
        .collect();
    assert_eq!(
        faults,
        [
            ("Device.ManagementServer.PeriodicInformInterval", 9007),
            ("Device.Time.LocalTimeZone", 9006),
            ("Device.DeviceInfo.SerialNumber", 9008),
            ("Device.Time.Bogus", 9005),
            ("Device.ManagementServer.PeriodicInformEnable", 9008),
        ]
    );
    let p = device.0.borrow();
    assert_eq!(
        p.value("Device.ManagementServer.URL"),
        Some("http://acs.example/")
    );
    assert_eq!(p.value("Device.Time.Enable"), Some("1"));
    assert_eq!(p.value("Device.ManagementServer.ParameterKey"), Some(""));
    drop(p);

    let status = dm.set_values(&entries[..2], "key2").expect("good values");
    assert_eq!(status, ApplyStatus::Applied);
    let p = device.0.borrow();
    assert_eq!(
        p.value("Device.ManagementServer.URL"),
        Some("http://a.example/")
    );
    assert_eq!(p.value("Device.Time.Enable"), Some("0"));
    assert_eq!(
        p.value("Device.ManagementServer.ParameterKey"),
        Some("key2")
    );
    drop(p);

    let dup = [entries[0], entries[0]];
    let fault = dm.set_values(&dup, "k").expect_err("duplicate");
    assert_eq!(fault.parameter_faults[0].code, FaultCode::InvalidArguments);
}

#[test]
fn instance_numbers_survive_delete_add_and_restart() {
    let file = temp_state("instances");
    let (state, _) = (DmState::load(&file).expect("fresh"), ());
    let (mut dm, _, ip) = model_with(state, Options::default());
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        1
    );
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        2
    );
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        3
    );
    dm.delete_object("Device.IP.Interface.3.", "k")
        .expect("delete");
    assert_eq!(code(dm.delete_object("Device.IP.Interface.3.", "k")), 9005);
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        4
    );
    dm.delete_object("Device.IP.Interface.4.", "k")
        .expect("delete");
    let kept = ip.0.borrow_mut().instances("Device.IP.Interface.");
    assert_eq!(kept, [1, 2]);
    drop(dm);

    // Restart: a new engine over the same state file, the instances the
    // backend kept, and still no reuse of 3 or 4.
    let (mut dm, _, ip2) = model_with(DmState::load(&file).expect("reload"), Options::default());
    for n in kept {
        ip2.0
            .borrow_mut()
            .add_instance("Device.IP.Interface.", n, Some(&format!("cpe-{n}")))
            .expect("restore");
    }
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        5
    );
    assert_eq!(code(dm.add_object("Device.Time.", "k")), 9005);
    assert_eq!(code(dm.add_object("Device.IP.Interface.1.", "k")), 9005);
    assert_eq!(code(dm.add_object("Device.IP.Interface", "k")), 9005);
    assert_eq!(code(dm.delete_object("Device.Time.", "k")), 9005);
    let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn not_createable_table_is_9003() {
    let mut dm = DataModel::new(schema(), Options::default(), DmState::in_memory());
    let p = MemoryProvider::new(schema());
    dm.register(&["Device.DeviceInfo."], Box::new(p))
        .expect("register");
    // DeviceInfo.ProcessStatus.Process.{i} is readOnly in TR-181.
    assert!(dm.get_names("Device.DeviceInfo.", false).is_ok());
    let mut p = MemoryProvider::new(schema());
    p.insert("Device.DeviceInfo.ProcessStatus.Process.1.PID", "1");
    dm.register(&["Device.DeviceInfo."], Box::new(p))
        .expect("register");
    assert_eq!(
        code(dm.add_object("Device.DeviceInfo.ProcessStatus.Process.", "k")),
        9003
    );
    assert_eq!(
        code(dm.delete_object("Device.DeviceInfo.ProcessStatus.Process.1.", "k")),
        9003
    );
}

#[test]
fn alias_addressing_and_instance_alias_mode() {
    let options = Options {
        alias_based_addressing: true,
        ..Options::default()
    };
    let (mut dm, _, _) = model_with(DmState::in_memory(), options);
    assert_eq!(
        dm.add_object("Device.IP.Interface.", "k").expect("add").0,
        1
    );
    assert_eq!(
        dm.add_object("Device.IP.Interface.[wan].", "k")
            .expect("add")
            .0,
        2
    );
    assert_eq!(code(dm.add_object("Device.IP.Interface.[wan].", "k")), 9007);
    assert_eq!(code(dm.add_object("Device.IP.Interface.[9x].", "k")), 9007);
    let alias = dm
        .get_values(&["Device.IP.Interface.1.Alias"])
        .expect("alias");
    assert_eq!(alias[0].value, "cpe-1");
    let by_alias = dm
        .get_values(&["Device.IP.Interface.[wan].Alias"])
        .expect("by alias");
    // InstanceNumber mode answers with numbers even for alias-addressed requests.
    assert_eq!(by_alias[0].name, "Device.IP.Interface.2.Alias");
    assert_eq!(by_alias[0].value, "wan");
    assert_eq!(
        code(dm.get_values(&["Device.IP.Interface.[lan].Alias"])),
        9005
    );

    let taken = [SetValue {
        name: "Device.IP.Interface.1.Alias",
        value: "wan",
        xsd_type: None,
    }];
    let fault = dm.set_values(&taken, "k").expect_err("alias taken");
    assert_eq!(
        fault.parameter_faults[0].code,
        FaultCode::InvalidParameterValue
    );
    let rename = [SetValue {
        name: "Device.IP.Interface.[cpe-1].Alias",
        value: "lan",
        xsd_type: None,
    }];
    dm.set_values(&rename, "k").expect("rename");

    dm.set_options(Options {
        instance_mode: InstanceMode::InstanceAlias,
        ..options
    });
    let names = names(&dm.get_names("Device.IP.Interface.", true).expect("gpn"));
    assert_eq!(
        names,
        ["Device.IP.Interface.[lan].", "Device.IP.Interface.[wan]."]
    );
    let values = dm.get_values(&["Device.IP.Interface.2."]).expect("gpv");
    assert!(values
        .iter()
        .all(|v| v.name.starts_with("Device.IP.Interface.[wan].")));
    dm.delete_object("Device.IP.Interface.[wan].", "k")
        .expect("delete by alias");

    dm.set_options(Options::default());
    assert_eq!(
        code(dm.get_values(&["Device.IP.Interface.[lan].Alias"])),
        9005
    );
}

fn spa(name: &str, notification: u8) -> SetParameterAttribute {
    SetParameterAttribute {
        name: name.to_owned(),
        notification_change: true,
        notification,
        access_list_change: false,
        access_list: Vec::new(),
    }
}

#[test]
fn attributes_forced_partial_and_persisted() {
    let file = temp_state("attrs");
    let (mut dm, _, _) = model_with(DmState::load(&file).expect("fresh"), Options::default());
    let forced = dm
        .get_attributes(&["Device.DeviceInfo.SoftwareVersion"])
        .expect("gpa");
    assert_eq!(forced[0].notification, 2);
    assert_eq!(
        code(dm.set_attributes(&[spa("Device.DeviceInfo.SoftwareVersion", 0)])),
        9009
    );
    assert_eq!(
        code(dm.set_attributes(&[spa("Device.DeviceInfo.", 1)])),
        9009
    );
    dm.set_attributes(&[spa("Device.DeviceInfo.SoftwareVersion", 2)])
        .expect("2 is fine");
    let url = "Device.ManagementServer.ConnectionRequestURL";
    assert_eq!(dm.get_attributes(&[url]).expect("gpa")[0].notification, 2);
    dm.set_attributes(&[spa(url, 0)])
        .expect("forceDefaultEnabled may be turned off");
    assert_eq!(
        code(dm.set_attributes(&[spa("Device.Time.Enable", 7)])),
        9003
    );
    assert_eq!(code(dm.set_attributes(&[spa("Device.Time.Nope", 1)])), 9005);

    let mut subscriber = spa("Device.Time.", 1);
    subscriber.access_list_change = true;
    subscriber.access_list = vec!["Subscriber".to_owned()];
    dm.set_attributes(&[subscriber.clone()]).expect("partial");
    subscriber.access_list = vec!["Admin".to_owned()];
    assert_eq!(code(dm.set_attributes(&[subscriber])), 9003);
    drop(dm);

    let (mut dm, _, _) = model_with(DmState::load(&file).expect("reload"), Options::default());
    let attrs = dm.get_attributes(&["Device.Time."]).expect("gpa");
    assert_eq!(attrs.len(), 3);
    assert!(attrs
        .iter()
        .all(|a| a.notification == 1 && a.access_list == ["Subscriber"]));
    assert_eq!(dm.get_attributes(&[url]).expect("gpa")[0].notification, 0);
    let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn value_changes_skip_acs_sets() {
    let (mut dm, device, _) = model();
    dm.set_attributes(&[
        spa("Device.ManagementServer.URL", 2),
        spa("Device.Time.Status", 1),
    ])
    .expect("spa");
    assert!(dm.check_changes().is_empty());
    device
        .0
        .borrow_mut()
        .insert("Device.ManagementServer.URL", "http://changed.example/");
    device.0.borrow_mut().insert("Device.Time.Status", "Error");
    device
        .0
        .borrow_mut()
        .insert("Device.DeviceInfo.SoftwareVersion", "5.0");
    let changes = dm.check_changes();
    let active: Vec<_> = changes.active.iter().map(|v| v.name.as_str()).collect();
    // SoftwareVersion is forceEnabled: active without any SPA.
    assert_eq!(
        active,
        [
            "Device.DeviceInfo.SoftwareVersion",
            "Device.ManagementServer.URL"
        ]
    );
    assert_eq!(changes.passive[0].name, "Device.Time.Status");
    assert!(dm.check_changes().is_empty());
    device
        .0
        .borrow_mut()
        .insert("Device.DeviceInfo.SoftwareVersion", "5.1");
    assert_eq!(
        dm.check_changes().active[0].name,
        "Device.DeviceInfo.SoftwareVersion"
    );

    let set = [SetValue {
        name: "Device.ManagementServer.URL",
        value: "http://acs2.example/",
        xsd_type: None,
    }];
    dm.set_values(&set, "k").expect("spv");
    assert!(
        dm.check_changes().is_empty(),
        "ACS changes are not reported back"
    );
}

#[test]
fn a_restored_baseline_reports_what_changed_meanwhile() {
    let (mut dm, device, _) = model();
    dm.set_attributes(&[spa("Device.Time.Status", 1)])
        .expect("spa");
    assert!(dm.take_baseline_changed(), "a new notification is recorded");
    // The first check records the parameters notified by default too.
    assert!(dm.check_changes().is_empty());
    dm.take_baseline_changed();
    assert!(dm.check_changes().is_empty());
    assert!(!dm.take_baseline_changed(), "nothing moved");
    let saved = dm.notification_baseline().clone();
    // The daemon restarts; the value changed while it was down.
    let (mut after, device_after, _) = model();
    drop(device);
    after
        .set_attributes(&[spa("Device.Time.Status", 1)])
        .expect("spa");
    after.restore_notification_baseline(saved);
    device_after
        .0
        .borrow_mut()
        .insert("Device.Time.Status", "Error");
    let changes = after.check_changes();
    assert_eq!(changes.passive[0].name, "Device.Time.Status");
    assert!(after.take_baseline_changed());
}

#[test]
fn inform_parameters_follow_icwmp_list() {
    let (mut dm, _, _) = model();
    let names: Vec<_> = dm.inform_parameters().into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        [
            "Device.DeviceInfo.HardwareVersion",
            "Device.DeviceInfo.Manufacturer",
            "Device.DeviceInfo.ManufacturerOUI",
            "Device.DeviceInfo.ModelName",
            "Device.DeviceInfo.ProductClass",
            "Device.DeviceInfo.ProvisioningCode",
            "Device.DeviceInfo.SerialNumber",
            "Device.DeviceInfo.SoftwareVersion",
            "Device.ManagementServer.AliasBasedAddressing",
            "Device.ManagementServer.ConnectionRequestURL",
            "Device.ManagementServer.ParameterKey",
        ]
    );
    let id = dm.device_id();
    assert_eq!(id.oui, "201F31");
    assert_eq!(id.serial_number, "J814001008");
}

#[test]
fn udp_connection_request_address_is_informed_and_forced_active() {
    let (mut dm, device, _) = model();
    let address = "Device.ManagementServer.UDPConnectionRequestAddress";
    let nat = "Device.ManagementServer.NATDetected";
    device.0.borrow_mut().insert(address, "");
    device.0.borrow_mut().insert(nat, "0");
    let names: Vec<_> = dm.inform_parameters().into_iter().map(|v| v.name).collect();
    assert!(names.iter().any(|n| n == address) && names.iter().any(|n| n == nat));
    assert_eq!(code(dm.set_attributes(&[spa(address, 0)])), 9009);
    assert_eq!(code(dm.set_attributes(&[spa(nat, 1)])), 9009);
    assert!(dm.check_changes().is_empty());
    device.0.borrow_mut().insert(address, "198.51.100.7:40000");
    device.0.borrow_mut().insert(nat, "1");
    let active: Vec<_> = dm
        .check_changes()
        .active
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(active, [address, nat]);
}

#[test]
fn gpv_answers_a_repeated_name_once() {
    let (mut dm, _, _) = model();
    let once = dm.get_values(&["Device.DeviceInfo."]).expect("once");
    let names = vec!["Device.DeviceInfo."; 300];
    let repeated = dm.get_values(&names).expect("repeated");
    assert_eq!(repeated, once);
    let attrs = dm
        .get_attributes(&["Device.DeviceInfo.", "Device.DeviceInfo."])
        .expect("attributes");
    assert_eq!(attrs.len(), once.len());
}

/// Serves a `Device.Hosts.Host.` table of `instances` rows, computed on demand.
struct Hosts {
    instances: u32,
}

impl Provider for Hosts {
    fn get(&mut self, path: &str) -> Option<String> {
        path.starts_with("Device.Hosts.Host.")
            .then(|| "x".to_owned())
    }
    fn instances(&mut self, table: &str) -> Vec<u32> {
        if table == "Device.Hosts.Host." {
            (1..=self.instances).collect()
        } else {
            Vec::new()
        }
    }
}

#[test]
fn responses_past_the_limit_are_9004() {
    use crate::datamodel::engine::MAX_RESPONSE_ENTRIES;
    let hosts = |instances: u32| {
        let mut dm = DataModel::new(schema(), Options::default(), DmState::in_memory());
        dm.register(&["Device.Hosts."], Box::new(Hosts { instances }))
            .expect("register");
        dm
    };
    let per_row = hosts(1)
        .get_values(&["Device.Hosts.Host.1."])
        .expect("one row")
        .len();
    let rows = u32::try_from(MAX_RESPONSE_ENTRIES / per_row + 1).expect("rows");
    let mut dm = hosts(rows);
    assert_eq!(code(dm.get_values(&["Device.Hosts.Host."])), 9004);
    assert_eq!(code(dm.get_names("Device.Hosts.", false)), 9004);
    assert_eq!(code(dm.get_attributes(&["Device.Hosts.Host."])), 9004);
    // One row under the limit is answered.
    let one = dm.get_values(&["Device.Hosts.Host.1."]).expect("one row");
    assert_eq!(one.len(), per_row);
}

#[test]
fn setting_a_notification_again_keeps_a_change_not_yet_reported() {
    let (mut dm, device, _) = model();
    dm.set_attributes(&[spa("Device.ManagementServer.URL", 2)])
        .expect("spa");
    assert!(dm.check_changes().is_empty());
    device
        .0
        .borrow_mut()
        .insert("Device.ManagementServer.URL", "http://changed.example/");
    // The ACS sets the same notification again before the next check.
    dm.set_attributes(&[spa("Device.ManagementServer.URL", 2)])
        .expect("spa");
    let changes = dm.check_changes();
    let active: Vec<_> = changes.active.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(active, ["Device.ManagementServer.URL"]);
    // Switched off and on again: the value of the moment is the new baseline.
    dm.set_attributes(&[spa("Device.ManagementServer.URL", 0)])
        .expect("spa");
    device
        .0
        .borrow_mut()
        .insert("Device.ManagementServer.URL", "http://unwatched.example/");
    dm.set_attributes(&[spa("Device.ManagementServer.URL", 2)])
        .expect("spa");
    assert!(dm.check_changes().is_empty());
}
