//! The real `icwmpd` provisioning a device: writable tables, InformParameter, and the OpenWrt configuration behind the data model.

mod support;

use std::sync::Arc;
use std::time::Duration;

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::{Rpc, Status};
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{cli, temp_dir, write_config, TestDaemon};

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

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openwrt");
const UCI_MAP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/files/etc/icwmp/uci-map");

/// A config directory holding the fixture router's UCI packages, the
/// shipped uci-map, its lease file, and a cwmp config whose reload command
/// records each package it is run for in `reloads`.
fn fixture_device(tag: &str, acs_url: &str, cpe_extra: &str) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    for entry in std::fs::read_dir(FIXTURE).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy fixture");
    }
    let dhcp = std::fs::read_to_string(dir.join("dhcp")).expect("dhcp");
    let leases = dir.join("dhcp.leases");
    std::fs::write(
        dir.join("dhcp"),
        dhcp.replace("/tmp/dhcp.leases", &leases.display().to_string()),
    )
    .expect("dhcp");
    std::fs::copy(UCI_MAP, dir.join("uci-map")).expect("uci-map");
    let reloads = dir.join("reloads");
    let cpe = format!(
        "\toption uci_reload_command 'echo {{package}} >> {}'\n{cpe_extra}",
        reloads.display()
    );
    write_config(&dir, acs_url, "", &cpe);
    dir
}

fn gpv(names: &[&str]) -> Rpc {
    Rpc::GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    }
}

fn values_of(rpc: &Rpc) -> Vec<(String, String)> {
    match rpc {
        Rpc::GetParameterValuesResponse { parameter_list } => parameter_list
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect(),
        other => panic!("not a GPV response: {other:?}"),
    }
}

fn value<'a>(list: &'a [(String, String)], name: &str) -> &'a str {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} missing from {list:#?}"))
}

fn fault_codes(rpc: &Rpc) -> Vec<u32> {
    match rpc {
        Rpc::Fault(f) if f.parameter_faults.is_empty() => vec![f.code.code()],
        Rpc::Fault(f) => f.parameter_faults.iter().map(|p| p.code.code()).collect(),
        other => panic!("not a fault: {other:?}"),
    }
}

#[test]
fn the_fixture_router_is_provisioned_through_uci_and_reloaded_once_per_package() {
    let requests = vec![
        gpv(&[
            "Device.WiFi.",
            "Device.DHCPv4.Server.Pool.1.",
            "Device.NAT.PortMapping.",
            "Device.NAT.PortMappingNumberOfEntries",
            "Device.Hosts.",
            "Device.Time.Client.1.Servers",
            "Device.Routing.Router.1.IPv4Forwarding.",
            "Device.PPP.Interface.",
            "Device.Users.User.",
            "Device.Bridging.Bridge.",
            "Device.Firewall.",
            "Device.DHCPv6.Server.Pool.",
            "Device.DHCPv4.Client.",
        ]),
        // Ten Wi-Fi parameters in one SPV: one wireless reload.
        spv(&[
            ("Device.WiFi.SSID.1.SSID", "Provisioned", XsdType::String),
            (
                "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
                "new passphrase 123",
                XsdType::String,
            ),
            (
                "Device.WiFi.AccessPoint.1.Security.ModeEnabled",
                "WPA3-Personal",
                XsdType::String,
            ),
            ("Device.WiFi.Radio.1.Channel", "6", XsdType::UnsignedInt),
            ("Device.WiFi.Radio.2.Enable", "0", XsdType::Boolean),
            ("Device.WiFi.SSID.3.Enable", "1", XsdType::Boolean),
            (
                "Device.WiFi.AccessPoint.3.SSIDAdvertisementEnabled",
                "1",
                XsdType::Boolean,
            ),
            (
                "Device.WiFi.AccessPoint.2.Security.ModeEnabled",
                "WPA2-Personal",
                XsdType::String,
            ),
            ("Device.WiFi.AccessPoint.1.WMMEnable", "0", XsdType::Boolean),
            (
                "Device.WiFi.AccessPoint.3.IsolationEnable",
                "1",
                XsdType::Boolean,
            ),
        ]),
        Rpc::AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "k".into(),
        },
        spv(&[
            (
                "Device.NAT.PortMapping.3.ExternalPort",
                "2222",
                XsdType::UnsignedInt,
            ),
            (
                "Device.NAT.PortMapping.3.InternalPort",
                "22",
                XsdType::UnsignedInt,
            ),
            (
                "Device.NAT.PortMapping.3.InternalClient",
                "192.168.1.20",
                XsdType::String,
            ),
            (
                "Device.NAT.PortMapping.3.Description",
                "ssh",
                XsdType::String,
            ),
            ("Device.NAT.PortMapping.3.Enable", "1", XsdType::Boolean),
        ]),
        Rpc::DeleteObject {
            object_name: "Device.NAT.PortMapping.2.".into(),
            parameter_key: "k".into(),
        },
        spv(&[(
            "Device.DHCPv4.Server.Pool.1.MinAddress",
            "192.168.1.50",
            XsdType::String,
        )]),
        spv(&[(
            "Device.Time.Client.1.Servers",
            "ntp1.example.net,ntp2.example.net",
            XsdType::String,
        )]),
        // Faults: a value outside the enumeration map, a read-only
        // parameter, a parameter this device does not have.
        spv(&[(
            "Device.WiFi.AccessPoint.1.Security.ModeEnabled",
            "WEP-64",
            XsdType::String,
        )]),
        spv(&[(
            "Device.DHCPv4.Server.Pool.1.Status",
            "Disabled",
            XsdType::String,
        )]),
        gpv(&["Device.WiFi.SSID.1.BSSID"]),
        Rpc::GetParameterNames {
            parameter_path: "Device.".into(),
            next_level: false,
        },
        Rpc::AddObject {
            object_name: "Device.DHCPv4.Server.Pool.1.StaticAddress.".into(),
            parameter_key: "k".into(),
        },
        spv(&[
            (
                "Device.DHCPv4.Server.Pool.1.StaticAddress.3.Chaddr",
                "02:00:00:00:00:30",
                XsdType::String,
            ),
            (
                "Device.DHCPv4.Server.Pool.1.StaticAddress.3.Yiaddr",
                "192.168.1.30",
                XsdType::String,
            ),
        ]),
        spv(&[(
            "Device.DHCPv4.Server.Pool.1.StaticAddress.1.Yiaddr",
            "10.0.0.1",
            XsdType::String,
        )]),
        // Loopback (ifindex 1) is configured by the static `loopback` section.
        spv(&[(
            "Device.IP.Interface.1.IPv4Address.1.SubnetMask",
            "255.255.0.0",
            XsdType::String,
        )]),
        // Not a 2.4 GHz channel; radio1 is down, so no channel in use to keep.
        spv(&[("Device.WiFi.Radio.1.Channel", "36", XsdType::UnsignedInt)]),
        spv(&[(
            "Device.WiFi.Radio.2.AutoChannelEnable",
            "0",
            XsdType::Boolean,
        )]),
    ];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(requests)],
        ..AcsOptions::default()
    });
    let dir = fixture_device("fixture181", &acs.url(), "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let reloads = dir.join("reloads");
    assert!(
        support::daemon::wait_until(WAIT, || std::fs::read_to_string(&reloads)
            .is_ok_and(|r| r.lines().count() >= 5)),
        "reloads: {:?}\n{}",
        std::fs::read_to_string(&reloads),
        daemon.log()
    );
    let responses = acs.sessions()[0].responses.clone();
    assert_eq!(responses.len(), 17, "{responses:#?}");

    let got = values_of(&responses[0]);
    assert_eq!(value(&got, "Device.WiFi.RadioNumberOfEntries"), "2");
    assert_eq!(value(&got, "Device.WiFi.SSIDNumberOfEntries"), "3");
    assert_eq!(value(&got, "Device.WiFi.Radio.1.Channel"), "1");
    assert_eq!(value(&got, "Device.WiFi.Radio.1.AutoChannelEnable"), "0");
    assert_eq!(value(&got, "Device.WiFi.Radio.2.AutoChannelEnable"), "1");
    assert!(!got.iter().any(|(n, _)| n == "Device.WiFi.Radio.2.Channel"));
    assert_eq!(
        value(&got, "Device.WiFi.Radio.2.OperatingFrequencyBand"),
        "5GHz"
    );
    assert_eq!(value(&got, "Device.WiFi.SSID.1.SSID"), "OpenWrt-Home");
    assert_eq!(
        value(&got, "Device.WiFi.SSID.2.LowerLayers"),
        "Device.WiFi.Radio.2"
    );
    assert_eq!(value(&got, "Device.WiFi.SSID.3.Enable"), "0");
    assert_eq!(
        value(&got, "Device.WiFi.AccessPoint.3.SSIDReference"),
        "Device.WiFi.SSID.3"
    );
    assert_eq!(
        value(&got, "Device.WiFi.AccessPoint.3.SSIDAdvertisementEnabled"),
        "0"
    );
    assert_eq!(
        value(&got, "Device.WiFi.AccessPoint.1.Security.ModeEnabled"),
        "WPA2-Personal"
    );
    assert_eq!(
        value(&got, "Device.WiFi.AccessPoint.2.Security.ModeEnabled"),
        "WPA3-Personal-Transition"
    );
    assert_eq!(
        value(&got, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"),
        ""
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Server.Pool.1.MinAddress"),
        "192.168.1.100"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Server.Pool.1.MaxAddress"),
        "192.168.1.249"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Server.Pool.1.SubnetMask"),
        "255.255.255.0"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Server.Pool.1.LeaseTime"),
        "43200"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Server.Pool.1.DNSServers"),
        "192.168.1.1"
    );
    let pool = "Device.DHCPv4.Server.Pool.1.";
    assert_eq!(
        value(&got, &format!("{pool}StaticAddressNumberOfEntries")),
        "2"
    );
    assert_eq!(
        value(&got, &format!("{pool}StaticAddress.2.Yiaddr")),
        "192.168.1.11"
    );
    assert_eq!(
        value(&got, &format!("{pool}StaticAddress.1.Chaddr")),
        "02:00:00:00:00:10"
    );
    assert_eq!(value(&got, &format!("{pool}ClientNumberOfEntries")), "3");
    assert!(got
        .iter()
        .any(|(n, v)| n.starts_with(&format!("{pool}Client."))
            && n.ends_with(".IPv4Address.1.LeaseTimeRemaining")
            && v == "2030-01-01T00:00:00Z"));
    assert_eq!(value(&got, "Device.NAT.PortMappingNumberOfEntries"), "2");
    assert_eq!(value(&got, "Device.NAT.PortMapping.1.ExternalPort"), "8080");
    assert_eq!(value(&got, "Device.NAT.PortMapping.1.Protocol"), "TCP");
    assert_eq!(value(&got, "Device.NAT.PortMapping.2.Enable"), "0");
    assert_eq!(value(&got, "Device.NAT.PortMapping.2.Protocol"), "UDP");
    // The three leases, and whatever this test machine's neighbour table holds.
    let hosts: usize = value(&got, "Device.Hosts.HostNumberOfEntries")
        .parse()
        .expect("count");
    assert!(hosts >= 3, "{hosts}");
    assert!(got
        .iter()
        .any(|(n, v)| n.ends_with(".PhysAddress") && v == "02:00:00:00:00:21"));
    assert!(got
        .iter()
        .any(|(n, v)| n.ends_with(".HostName") && v == "laptop"));
    assert_eq!(
        value(&got, "Device.Time.Client.1.Servers"),
        "0.openwrt.pool.ntp.org,1.openwrt.pool.ntp.org,2.openwrt.pool.ntp.org,3.openwrt.pool.ntp.org"
    );
    assert_eq!(
        value(
            &got,
            "Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress"
        ),
        "192.168.1.254"
    );
    assert_eq!(
        value(&got, "Device.PPP.Interface.1.Username"),
        "subscriber@isp.example"
    );
    assert_eq!(value(&got, "Device.PPP.Interface.1.Password"), "");
    assert_eq!(value(&got, "Device.Users.User.1.Username"), "root");
    assert_eq!(value(&got, "Device.Bridging.Bridge.1.Name"), "br-lan");
    assert_eq!(
        value(&got, "Device.Bridging.Bridge.1.PortNumberOfEntries"),
        "4"
    );
    assert_eq!(
        value(&got, "Device.Bridging.Bridge.1.Port.1.ManagementPort"),
        "1"
    );
    assert_eq!(value(&got, "Device.Bridging.Bridge.1.Port.2.Name"), "lan1");
    assert_eq!(value(&got, "Device.Firewall.Config"), "Advanced");
    assert_eq!(value(&got, "Device.DHCPv6.Server.Pool.1.Enable"), "1");
    // The WAN's dhcp section says nothing of DHCPv6: no pool.
    assert!(!got
        .iter()
        .any(|(n, _)| n.starts_with("Device.DHCPv6.Server.Pool.2.")));
    assert_eq!(value(&got, "Device.DHCPv4.Client.1.Status"), "Enabled");

    for (i, what) in [(1, "wifi"), (3, "portmapping"), (5, "pool"), (6, "ntp")] {
        assert!(
            matches!(
                responses[i],
                Rpc::SetParameterValuesResponse {
                    status: Status::Pending
                }
            ),
            "{what}: {:?}",
            responses[i]
        );
    }
    assert!(
        matches!(
            responses[2],
            Rpc::AddObjectResponse {
                instance_number: 3,
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[2]
    );
    assert!(matches!(
        responses[4],
        Rpc::DeleteObjectResponse {
            status: Status::Pending
        }
    ));
    assert_eq!(fault_codes(&responses[7]), [9007]);
    assert_eq!(fault_codes(&responses[8]), [9008]);
    assert_eq!(fault_codes(&responses[9]), [9005]);
    let Rpc::GetParameterNamesResponse { parameter_list } = &responses[10] else {
        panic!("GPN: {:?}", responses[10]);
    };
    let writable = |name: &str| {
        parameter_list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.writable)
    };
    assert_eq!(writable("Device.NAT.PortMapping."), Some(true));
    assert_eq!(writable("Device.WiFi.SSID."), Some(true));
    assert_eq!(writable("Device.PPP.Interface."), Some(false));
    assert_eq!(writable("Device.Users.User."), Some(false));
    assert_eq!(writable("Device.WiFi.SSID.1.SSID"), Some(true));
    assert_eq!(writable("Device.WiFi.SSID.1.Name"), None);
    assert_eq!(writable("Device.DHCPv4.Server.Pool.1.Status"), Some(false));
    println!(
        "GPN Device. on the fixture device: {} names",
        parameter_list.len()
    );

    assert!(
        matches!(
            responses[11],
            Rpc::AddObjectResponse {
                instance_number: 3,
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[11]
    );
    assert!(
        matches!(responses[12], Rpc::SetParameterValuesResponse { .. }),
        "{:?}",
        responses[12]
    );
    assert_eq!(fault_codes(&responses[13]), [9007]);
    assert!(
        matches!(
            responses[14],
            Rpc::SetParameterValuesResponse {
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[14]
    );
    assert_eq!(
        writable("Device.IP.Interface.1.IPv4Address.1.IPAddress"),
        Some(true)
    );
    assert_eq!(writable("Device.IP.Interface.1.Name"), Some(false));
    assert_eq!(fault_codes(&responses[15]), [9007]);
    assert_eq!(fault_codes(&responses[16]), [9001]);
    assert_eq!(
        writable("Device.WiFi.Radio.2.AutoChannelEnable"),
        Some(true)
    );
    assert_eq!(writable("Device.WiFi.Radio.1.Channel"), Some(true));

    // Each changed package was written once and its service reloaded once.
    let reloaded = std::fs::read_to_string(&reloads).expect("reloads");
    let mut packages: Vec<&str> = reloaded.lines().collect();
    packages.sort_unstable();
    assert_eq!(
        packages,
        ["dhcp", "firewall", "network", "system", "wireless"]
    );
    assert!(daemon.stop().success());
    let network = std::fs::read_to_string(dir.join("network")).expect("network");
    assert!(network.contains("option device 'lo'\n\toption proto 'static'\n\toption ipaddr '127.0.0.1'\n\toption netmask '255.255.0.0'"), "{network}");
    for package in ["wireless", "firewall", "dhcp", "system"] {
        let got = std::fs::read_to_string(dir.join(package)).expect(package);
        let expected_file = format!("{FIXTURE}-provisioned/{package}");
        let expected = std::fs::read_to_string(&expected_file).expect(&expected_file);
        let expected = expected.replace("@LEASES@", &dir.join("dhcp.leases").display().to_string());
        assert_eq!(got, expected, "{package}");
    }
}

/// netifd's `network.interface.wan status`, with a documentation-range address.
fn netifd_wan(
    method: &str,
    _args: &[(String, icwmp::wire::blobmsg::Value)],
) -> (
    icwmp::wire::ubus::UbusStatus,
    Option<support::ubus_broker::Fields>,
) {
    use icwmp::wire::blobmsg::{parse_json, Value};
    let reply = r#"{"up": true, "l3_device": "wan", "ipv4-address": [{"address": "198.51.100.7", "mask": 24}]}"#;
    match (method, parse_json(reply)) {
        ("status", Ok(Value::Table(fields))) => (icwmp::wire::ubus::UbusStatus::Ok, Some(fields)),
        _ => (icwmp::wire::ubus::UbusStatus::MethodNotFound, None),
    }
}

#[test]
fn tr098_mirror_serves_lan_and_wan_and_informs_the_external_address() {
    let igd = "InternetGatewayDevice";
    let lan = format!("{igd}.LANDevice.1.");
    let wan = format!("{igd}.WANDevice.1.WANConnectionDevice.1.");
    let requests = vec![
        gpv(&[
            &format!("{lan}LANHostConfigManagement."),
            &format!("{lan}WLANConfiguration."),
            &format!("{lan}Hosts."),
            &format!("{lan}LANEthernetInterfaceConfig.2.Name"),
            &format!("{lan}LANEthernetInterfaceNumberOfEntries"),
            &format!("{lan}LANWLANConfigurationNumberOfEntries"),
            &format!("{wan}WANPPPConnection.1.Username"),
            &format!("{wan}WANIPConnection.1.PortMapping."),
            &format!("{igd}.Layer3Forwarding.Forwarding.1.GatewayIPAddress"),
            &format!("{igd}.Time.NTPServer2"),
        ]),
        spv(&[
            (
                &format!("{lan}WLANConfiguration.1.BeaconType"),
                "WPAand11i",
                XsdType::String,
            ),
            (
                &format!("{igd}.Time.NTPServer5"),
                "ntp5.example.net",
                XsdType::String,
            ),
            // The guest network is on radio0: its channel.
            (
                &format!("{lan}WLANConfiguration.3.Channel"),
                "11",
                XsdType::UnsignedInt,
            ),
        ]),
        Rpc::AddObject {
            object_name: format!("{lan}LANHostConfigManagement.DHCPStaticAddress."),
            parameter_key: "k".into(),
        },
    ];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(requests)],
        ..AcsOptions::default()
    });
    let dir = fixture_device(
        "fixture098",
        &acs.url(),
        "\toption datamodel 'tr098'\n\toption userid 'cr'\n\toption passwd 'cr'\n",
    );
    let broker = support::ubus_broker::Broker::start(&dir.join("no-ubus.sock"));
    let signature = match icwmp::wire::blobmsg::parse_json(r#"{"status": {}}"#) {
        Ok(icwmp::wire::blobmsg::Value::Table(fields)) => fields,
        other => panic!("{other:?}"),
    };
    broker.add_fake_object(
        "network.interface.wan",
        signature,
        std::sync::Arc::new(netifd_wan),
    );
    let daemon = TestDaemon::start(&dir, &[]);
    // The bootstrap, then the value change netifd's address causes.
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let external = format!("{wan}WANIPConnection.1.ExternalIPAddress");
    let informed = sessions.iter().filter_map(|s| s.inform()).any(|i| {
        i.parameter_list
            .iter()
            .any(|p| p.name == external && p.value == "198.51.100.7")
    });
    assert!(informed, "{sessions:#?}");

    let responses = &sessions[0].responses;
    assert_values(
        &responses[0],
        &lan,
        "LANHostConfigManagement.MinAddress=192.168.1.100 \
         LANHostConfigManagement.MaxAddress=192.168.1.249 \
         LANHostConfigManagement.DHCPServerEnable=1 \
         LANHostConfigManagement.DHCPStaticAddress.2.Yiaddr=192.168.1.11 \
         LANEthernetInterfaceConfig.2.Name=lan2 \
         LANEthernetInterfaceNumberOfEntries=3 \
         LANWLANConfigurationNumberOfEntries=3 \
         WLANConfiguration.2.SSID=OpenWrt-Home-5G \
         WLANConfiguration.1.BeaconType=11i \
         WLANConfiguration.1.KeyPassphrase= \
         WLANConfiguration.1.Channel=1 \
         WLANConfiguration.1.AutoChannelEnable=0 \
         WLANConfiguration.2.AutoChannelEnable=1",
    );
    let got = values_of(&responses[0]);
    // radio1 picks its channel and iwinfo is not there to say which.
    assert!(!got
        .iter()
        .any(|(n, _)| *n == format!("{lan}WLANConfiguration.2.Channel")));
    assert!(got
        .iter()
        .any(|(n, v)| n.starts_with(&format!("{lan}Hosts.Host.")) && v == "printer"));
    assert_values(
        &responses[0],
        &wan,
        "WANPPPConnection.1.Username=subscriber@isp.example \
         WANIPConnection.1.PortMapping.1.ExternalPort=8080",
    );
    assert_values(
        &responses[0],
        igd,
        ".Layer3Forwarding.Forwarding.1.GatewayIPAddress=192.168.1.254 \
         .Time.NTPServer2=1.openwrt.pool.ntp.org",
    );
    assert!(
        matches!(
            responses[1],
            Rpc::SetParameterValuesResponse {
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[1]
    );
    assert!(
        matches!(
            responses[2],
            Rpc::AddObjectResponse {
                instance_number: 3,
                ..
            }
        ),
        "{:?}",
        responses[2]
    );
    assert!(daemon.stop().success());
    broker.stop();
    let wireless = std::fs::read_to_string(dir.join("wireless")).expect("wireless");
    assert!(
        wireless.contains("option encryption 'psk-mixed'"),
        "{wireless}"
    );
    assert!(
        wireless.contains("config wifi-device 'radio0'\n\toption type 'mac80211'\n\toption path 'platform/soc/18000000.wifi'\n\toption channel '11'\n"),
        "{wireless}"
    );
    let system = std::fs::read_to_string(dir.join("system")).expect("system");
    assert!(
        system.contains("list server '3.openwrt.pool.ntp.org'\n\tlist server 'ntp5.example.net'"),
        "{system}"
    );
}

#[test]
fn a_change_made_outside_cwmp_is_read_and_reported() {
    let spa = Rpc::SetParameterAttributes {
        parameter_list: vec![icwmp::cwmp::params::SetParameterAttribute {
            name: "Device.WiFi.SSID.1.SSID".into(),
            notification_change: true,
            notification: 2,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![spa])],
        ..AcsOptions::default()
    });
    let dir = fixture_device("outside", &acs.url(), "\toption value_check_interval '1'\n");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(
        matches!(
            acs.sessions()[0].responses.as_slice(),
            [Rpc::SetParameterAttributesResponse]
        ),
        "{:?}",
        acs.sessions()[0].responses
    );
    // The end of the session takes the new baseline; change after it.
    assert!(support::daemon::wait_until(WAIT, || daemon
        .log()
        .contains("Waiting the next session")));
    // What `uci set wireless.default_radio0.ssid=…; uci commit` does: a new file.
    let wireless = dir.join("wireless");
    let text = std::fs::read_to_string(&wireless).expect("wireless");
    let staged = dir.join("wireless.luci");
    std::fs::write(&staged, text.replace("'OpenWrt-Home'", "'Changed-In-LuCI'")).expect("write");
    std::fs::rename(&staged, &wireless).expect("rename");
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let inform = sessions[1].inform().expect("inform");
    assert_eq!(sessions[1].event_codes(), ["4 VALUE CHANGE"]);
    assert!(
        inform
            .parameter_list
            .iter()
            .any(|p| p.name == "Device.WiFi.SSID.1.SSID" && p.value == "Changed-In-LuCI"),
        "{inform:?}"
    );
    assert!(daemon.stop().success());
    // Nothing the ACS set, so nothing to reload.
    assert!(!dir.join("reloads").exists());
}

fn json_table(json: &str) -> support::ubus_broker::Fields {
    match icwmp::wire::blobmsg::parse_json(json) {
        Ok(icwmp::wire::blobmsg::Value::Table(fields)) => fields,
        other => panic!("test JSON: {other:?}"),
    }
}

type Answer = (
    icwmp::wire::ubus::UbusStatus,
    Option<support::ubus_broker::Fields>,
);

/// A test ubus broker on `dir`'s `no-ubus.sock` with fake objects.
struct FakeUbus(support::ubus_broker::Broker);

impl FakeUbus {
    fn start(dir: &std::path::Path) -> FakeUbus {
        FakeUbus(support::ubus_broker::Broker::start(
            &dir.join("no-ubus.sock"),
        ))
    }

    /// Adds object `path`, its methods' signature given as JSON.
    fn with(
        self,
        path: &str,
        signature: &str,
        handler: impl Fn(&str, &[(String, icwmp::wire::blobmsg::Value)]) -> Answer
            + Send
            + Sync
            + 'static,
    ) -> FakeUbus {
        self.0
            .add_fake_object(path, json_table(signature), Arc::new(handler));
        self
    }

    fn stop(self) {
        self.0.stop();
    }
}

/// A fake ubus method: `json` as the reply to `wanted`, MethodNotFound to any other.
fn canned(method: &str, wanted: &str, json: &str) -> Answer {
    if method == wanted {
        (icwmp::wire::ubus::UbusStatus::Ok, Some(json_table(json)))
    } else {
        (icwmp::wire::ubus::UbusStatus::MethodNotFound, None)
    }
}

/// netifd's `network.wireless status`: radio0 up with two interfaces (the
/// second an anonymous section, named as netifd names those), radio1 (channel auto) up with one.
fn netifd_wireless(method: &str, _args: &[(String, icwmp::wire::blobmsg::Value)]) -> Answer {
    canned(
        method,
        "status",
        r#"{"radio0": {"up": true, "pending": false, "autostart": true, "disabled": false,
                     "interfaces": [{"section": "default_radio0", "ifname": "phy0-ap0", "config": {"mode": "ap"}},
                                    {"section": "@wifi-iface[2]", "ifname": "phy0-ap1", "config": {"mode": "ap"}}]},
                    "radio1": {"up": true, "pending": false, "autostart": true, "disabled": false,
                     "interfaces": [{"section": "default_radio1", "ifname": "phy1-ap0", "config": {"mode": "ap"}}]}}"#,
    )
}

/// How many times the daemon asked iwinfo about phy1-ap0 (the last interface of a refresh).
static IWINFO_PHY1_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// rpcd-mod-iwinfo's `iwinfo info`: refuses a call without `device`, as its policy does.
fn iwinfo(method: &str, args: &[(String, icwmp::wire::blobmsg::Value)]) -> Answer {
    use icwmp::wire::ubus::UbusStatus;
    let device = args
        .iter()
        .find(|(k, _)| k == "device")
        .and_then(|(_, v)| v.as_str());
    match (method, device) {
        ("info", Some("phy0-ap0")) => (
            UbusStatus::Ok,
            Some(json_table(
                r#"{"phy": "phy0", "ssid": "OpenWrt-Home", "bssid": "02:AA:00:00:00:01", "country": "SE",
                    "mode": "Master", "channel": 1, "frequency": 2412, "txpower": 20, "signal": -60,
                    "noise": -95, "bitrate": 286700, "hwmodes": ["b", "g", "n", "ax"], "htmode": "HE20"}"#,
            )),
        ),
        // radio1 under `channel auto`: the channel its ACS picked.
        ("info", Some("phy1-ap0")) => {
            IWINFO_PHY1_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (
                UbusStatus::Ok,
                Some(json_table(
                    r#"{"phy": "phy1", "ssid": "OpenWrt-Home-5G", "bssid": "02:AA:00:00:00:02", "country": "SE",
                        "mode": "Master", "channel": 36, "center_chan1": 42, "frequency": 5180,
                        "frequency_offset": 0, "txpower": 20, "quality": 50, "quality_max": 70,
                        "signal": -60, "noise": -92, "bitrate": 1200900,
                        "encryption": {"enabled": true, "wpa": [3], "authentication": ["psk", "sae"], "ciphers": ["ccmp"]},
                        "htmodes": ["HT20", "HT40", "VHT20", "VHT40", "VHT80", "HE20", "HE40", "HE80"],
                        "hwmodes": ["a", "n", "ac", "ax"], "hwmodes_text": "802.11ac/ax/n", "htmode": "HE80",
                        "hardware": {"id": [5315, 30736, 5315, 30736], "name": "MediaTek MT7981"}}"#,
                )),
            )
        }
        ("info", Some(_)) => (UbusStatus::NotFound, None),
        ("info", None) => (UbusStatus::InvalidArgument, None),
        _ => (UbusStatus::MethodNotFound, None),
    }
}

/// netifd's `network.interface dump`: the DHCP WAN and the PPPoE link up.
fn netifd_dump(method: &str, _args: &[(String, icwmp::wire::blobmsg::Value)]) -> Answer {
    canned(
        method,
        "dump",
        r#"{"interface": [
                    {"interface": "lan", "up": true, "proto": "static", "l3_device": "br-lan",
                     "ipv4-address": [{"address": "192.168.1.1", "mask": 24}], "route": [], "dns-server": []},
                    {"interface": "wan", "up": true, "proto": "dhcp", "l3_device": "wan",
                     "ipv4-address": [{"address": "198.51.100.7", "mask": 24}],
                     "route": [{"target": "0.0.0.0", "mask": 0, "nexthop": "198.51.100.1"}],
                     "dns-server": ["198.51.100.53", "198.51.100.54"]},
                    {"interface": "wanppp", "up": true, "proto": "pppoe", "l3_device": "pppoe-wanppp",
                     "ipv4-address": [{"address": "203.0.113.9", "mask": 32}],
                     "route": [{"target": "0.0.0.0", "mask": 0, "nexthop": "203.0.113.1"}],
                     "dns-server": ["203.0.113.53"]}]}"#,
    )
}

/// How many times the daemon asked hostapd for its clients.
static HOSTAPD_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// hostapd's `get_clients` on phy0-ap0: two stations.
fn hostapd_ap0(method: &str, _args: &[(String, icwmp::wire::blobmsg::Value)]) -> Answer {
    HOSTAPD_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    canned(
        method,
        "get_clients",
        r#"{"freq": 2412, "clients": {
                    "02:00:00:00:00:20": {"auth": true, "assoc": true, "authorized": true, "signal": -48,
                        "rate": {"rx": 144400, "tx": 286700}, "bytes": {"rx": 1000, "tx": 2000}},
                    "02:00:00:00:00:21": {"auth": true, "assoc": true, "authorized": false, "signal": -71,
                        "rate": {"rx": 6000, "tx": 24000}, "bytes": {"rx": 10, "tx": 20}}}}"#,
    )
}

/// Asks the daemon for a session through its `tr069 inform` ubus method.
fn connection_request_over_ubus(client: &mut support::ubus_broker::CliClient) {
    let reply = client
        .call(
            "tr069",
            "inform",
            json_table(r#"{"event": "6 CONNECTION REQUEST"}"#),
        )
        .expect("ubus I/O");
    assert!(matches!(reply, Ok(Some(_))), "{reply:?}");
}

/// Starts the daemon on `dir` (its ubus socket `no-ubus.sock` served by a
/// test broker), waits for its first session, for it to register with ubus
/// and for each of `answered` to count a call of its run-time refresh; then
/// asks it over ubus for a session, which reads what the replies said, and
/// waits for that second session.
fn session_after_refresh(
    dir: &std::path::Path,
    acs: &TestAcs,
    answered: &[&std::sync::atomic::AtomicUsize],
) -> TestDaemon {
    let daemon = TestDaemon::start(dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let mut client =
        support::ubus_broker::CliClient::connect(&dir.join("no-ubus.sock")).expect("ubus client");
    assert!(support::daemon::wait_until(WAIT, || matches!(
        client.list("tr069"),
        Ok(Ok(found)) if !found.is_empty()
    )));
    assert!(support::daemon::wait_until(WAIT, || answered.iter().all(
        |calls| calls.load(std::sync::atomic::Ordering::SeqCst) > 0
    )));
    connection_request_over_ubus(&mut client);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    daemon
}

#[test]
fn run_time_state_comes_from_netifd_iwinfo_and_hostapd_over_ubus() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            script(Vec::new()),
            script(vec![
                gpv(&[
                    "Device.WiFi.Radio.1.Status",
                    "Device.WiFi.Radio.2.Status",
                    "Device.WiFi.Radio.1.CurrentOperatingChannelBandwidth",
                    "Device.WiFi.Radio.1.Stats.",
                    "Device.WiFi.SSID.1.",
                    "Device.WiFi.SSID.3.Status",
                    "Device.WiFi.SSID.3.Name",
                    "Device.WiFi.SSID.3.SSID",
                    "Device.DNS.Relay.",
                    "Device.WiFi.AccessPoint.1.",
                    "Device.WiFi.AccessPoint.3.AssociatedDeviceNumberOfEntries",
                    "Device.PPP.Interface.1.",
                    "Device.DHCPv4.Client.1.",
                    "Device.WiFi.Radio.2.Channel",
                    "Device.WiFi.Radio.2.AutoChannelEnable",
                ]),
                Rpc::GetParameterNames {
                    parameter_path: "Device.DNS.Relay.".into(),
                    next_level: false,
                },
            ]),
            // Automatic selection off keeps the channel it selected.
            script(vec![
                spv(&[(
                    "Device.WiFi.Radio.2.AutoChannelEnable",
                    "0",
                    XsdType::Boolean,
                )]),
                gpv(&[
                    "Device.WiFi.Radio.2.Channel",
                    "Device.WiFi.Radio.2.AutoChannelEnable",
                ]),
            ]),
        ],
        ..AcsOptions::default()
    });
    let dir = fixture_device("wifi-runtime", &acs.url(), "");
    // The guest network as an anonymous section (`@wifi-iface[2]`), as LuCI adds them.
    let wireless = std::fs::read_to_string(dir.join("wireless")).expect("wireless");
    std::fs::write(
        dir.join("wireless"),
        wireless.replace("config wifi-iface 'guest'", "config wifi-iface"),
    )
    .expect("wireless");
    let broker = FakeUbus::start(&dir)
        .with("network.wireless", r#"{"status": {}}"#, netifd_wireless)
        .with("network.interface", r#"{"dump": {}}"#, netifd_dump)
        .with("iwinfo", r#"{"info": {"device": "string"}}"#, iwinfo)
        .with("hostapd.phy0-ap0", r#"{"get_clients": {}}"#, hostapd_ap0);
    // The last calls of a refresh (iwinfo is asked before hostapd; phy1-ap0 is the last interface).
    let daemon = session_after_refresh(&dir, &acs, &[&HOSTAPD_CALLS, &IWINFO_PHY1_CALLS]);
    let got = values_of(&acs.sessions()[1].responses[0]);
    assert_eq!(value(&got, "Device.WiFi.Radio.1.Status"), "Up");
    assert_eq!(value(&got, "Device.WiFi.Radio.2.Status"), "Up");
    assert_eq!(value(&got, "Device.WiFi.Radio.2.Channel"), "36");
    assert_eq!(value(&got, "Device.WiFi.Radio.2.AutoChannelEnable"), "1");
    assert_eq!(value(&got, "Device.WiFi.SSID.1.Status"), "Up");
    assert_eq!(value(&got, "Device.WiFi.SSID.1.BSSID"), "02:aa:00:00:00:01");
    assert_eq!(value(&got, "Device.WiFi.SSID.1.Name"), "phy0-ap0");
    assert_eq!(value(&got, "Device.WiFi.SSID.1.Stats.BytesSent"), "0");
    // phy0-ap1 has no iwinfo answer: down.
    assert_eq!(value(&got, "Device.WiFi.SSID.3.Status"), "Down");
    assert_eq!(value(&got, "Device.WiFi.SSID.3.Name"), "phy0-ap1");
    assert_eq!(value(&got, "Device.WiFi.SSID.3.SSID"), "OpenWrt-Guest");
    // dnsmasq's own server (not its per-domain one), then netifd's by interface.
    let relay = "Device.DNS.Relay.";
    assert_eq!(value(&got, &format!("{relay}ForwardNumberOfEntries")), "4");
    for (i, server, kind) in [
        (1, "192.0.2.53", "Static"),
        (2, "198.51.100.53", "DHCPv4"),
        (3, "198.51.100.54", "DHCPv4"),
        (4, "203.0.113.53", "IPCP"),
    ] {
        let at = format!("{relay}Forwarding.{i}.");
        assert_eq!(value(&got, &format!("{at}DNSServer")), server);
        assert_eq!(value(&got, &format!("{at}Type")), kind);
        assert_eq!(value(&got, &format!("{at}Status")), "Enabled");
    }
    // Learnt ones are read only and cannot be deleted; the static one can.
    let names = &acs.sessions()[1].responses[1];
    assert_eq!(
        gpn_writable(names, &format!("{relay}Forwarding.1.")),
        Some(true)
    );
    assert_eq!(
        gpn_writable(names, &format!("{relay}Forwarding.2.")),
        Some(false)
    );
    assert_eq!(
        gpn_writable(names, &format!("{relay}Forwarding.2.DNSServer")),
        Some(false)
    );
    assert_eq!(
        value(&got, "Device.WiFi.Radio.1.CurrentOperatingChannelBandwidth"),
        "20MHz"
    );
    assert_eq!(value(&got, "Device.WiFi.Radio.1.Stats.Noise"), "-95");
    // No phy0-ap0 or phy0-ap1 on the test machine: nothing counted.
    assert_eq!(value(&got, "Device.WiFi.Radio.1.Stats.BytesSent"), "0");
    assert!(!got
        .iter()
        .any(|(n, _)| n == "Device.WiFi.Radio.1.Stats.PLCPErrorCount"));
    assert_eq!(value(&got, "Device.WiFi.AccessPoint.1.Status"), "Enabled");
    assert_eq!(
        value(
            &got,
            "Device.WiFi.AccessPoint.1.AssociatedDeviceNumberOfEntries"
        ),
        "2"
    );
    let ap = "Device.WiFi.AccessPoint.1.AssociatedDevice.";
    assert_eq!(
        value(&got, &format!("{ap}1.MACAddress")),
        "02:00:00:00:00:20"
    );
    assert_eq!(value(&got, &format!("{ap}1.SignalStrength")), "-48");
    assert_eq!(
        value(&got, &format!("{ap}1.LastDataDownlinkRate")),
        "286700"
    );
    assert_eq!(value(&got, &format!("{ap}1.LastDataUplinkRate")), "144400");
    assert_eq!(value(&got, &format!("{ap}2.AuthenticationState")), "0");
    assert_eq!(
        value(
            &got,
            "Device.WiFi.AccessPoint.3.AssociatedDeviceNumberOfEntries"
        ),
        "0"
    );
    // netifd's dump: the PPPoE link and the DHCP client.
    assert_eq!(
        value(&got, "Device.PPP.Interface.1.ConnectionStatus"),
        "Connected"
    );
    assert_eq!(
        value(&got, "Device.PPP.Interface.1.IPCP.LocalIPAddress"),
        "203.0.113.9"
    );
    assert_eq!(
        value(&got, "Device.PPP.Interface.1.LastConnectionError"),
        "ERROR_NONE"
    );
    assert_eq!(
        value(&got, "Device.PPP.Interface.1.IPCP.RemoteIPAddress"),
        "203.0.113.1"
    );
    assert_eq!(value(&got, "Device.DHCPv4.Client.1.DHCPStatus"), "Bound");
    assert_eq!(
        value(&got, "Device.DHCPv4.Client.1.IPAddress"),
        "198.51.100.7"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Client.1.SubnetMask"),
        "255.255.255.0"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Client.1.IPRouters"),
        "198.51.100.1"
    );
    assert_eq!(
        value(&got, "Device.DHCPv4.Client.1.DNSServers"),
        "198.51.100.53,198.51.100.54"
    );
    let mut client =
        support::ubus_broker::CliClient::connect(&dir.join("no-ubus.sock")).expect("ubus client");
    connection_request_over_ubus(&mut client);
    assert!(acs.wait_sessions(3, WAIT), "{}", daemon.log());
    let responses = acs.sessions()[2].responses.clone();
    assert_pending(&responses[0]);
    let got = values_of(&responses[1]);
    assert_eq!(value(&got, "Device.WiFi.Radio.2.Channel"), "36");
    assert_eq!(value(&got, "Device.WiFi.Radio.2.AutoChannelEnable"), "0");
    assert!(daemon.stop().success());
    broker.stop();
    let wireless = std::fs::read_to_string(dir.join("wireless")).expect("wireless");
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/wireless")).expect("fixture");
    let expected = fixture
        .replace("config wifi-iface 'guest'", "config wifi-iface")
        .replace(
            "option channel 'auto'\n\toption band '5g'",
            "option channel '36'\n\toption band '5g'",
        );
    assert_eq!(wireless, expected);
}

#[test]
fn every_table_gpn_reports_writable_on_the_fixture_accepts_add_object() {
    for (model, root) in [("tr181", "Device."), ("tr098", "InternetGatewayDevice.")] {
        let dir = fixture_device(
            &format!("writable-{model}"),
            "http://127.0.0.1:9/",
            &format!("\toption datamodel '{model}'\n"),
        );
        let names = cli(&dir, &["get_name", root, "0"]);
        let tables: Vec<(String, bool)> = names
            .lines()
            .filter_map(|line| {
                let name = line.split('"').nth(3)?;
                let writable = line.ends_with("\"writable\": \"1\" }");
                let last = name.strip_suffix('.')?.rsplit('.').next()?;
                let instance = last.bytes().all(|b| b.is_ascii_digit());
                (!instance).then(|| (name.to_owned(), writable))
            })
            .collect();
        let writable: Vec<&String> = tables.iter().filter(|(_, w)| *w).map(|(n, _)| n).collect();
        assert!(writable.len() >= 5, "{model}: {writable:?}");
        for table in &writable {
            let added = cli(&dir, &["add_object", table]);
            assert!(added.contains("\"instance\""), "{model} {table}: {added}");
        }
        // A table GPN calls read-only refuses AddObject.
        let refused = tables
            .iter()
            .find(|(n, w)| !*w && n.ends_with("Host."))
            .map(|(n, _)| n.clone())
            .expect("a read-only Hosts table");
        let answer = cli(&dir, &["add_object", &refused]);
        assert!(answer.contains("\"fault\""), "{refused}: {answer}");
    }
}

/// Runs one session of `requests` on a fixture device (its config directory
/// changed first by `prepare`) and waits for the reload command it leads
/// to: the daemon, its config directory and the CPE's responses.
fn one_session(
    tag: &str,
    requests: Vec<Rpc>,
    prepare: impl FnOnce(&std::path::Path),
) -> (TestDaemon, std::path::PathBuf, Vec<Rpc>) {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(requests)],
        ..AcsOptions::default()
    });
    let dir = fixture_device(tag, &acs.url(), "");
    prepare(&dir);
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    wait_for_reloads(&dir, &daemon);
    let responses = acs.sessions()[0].responses.clone();
    (daemon, dir, responses)
}

/// Asserts that an SPV, AddObject or DeleteObject response has Status 1
/// (the change applies when the service reloads after the session).
fn assert_pending(rpc: &Rpc) {
    let status = match rpc {
        Rpc::SetParameterValuesResponse { status }
        | Rpc::AddObjectResponse { status, .. }
        | Rpc::DeleteObjectResponse { status } => Some(*status),
        _ => None,
    };
    assert_eq!(status, Some(Status::Pending), "{rpc:?}");
}

/// Asserts the values a GetParameterValues response gives parameters under
/// `prefix`, written `Name=value` separated by spaces.
fn assert_values(rpc: &Rpc, prefix: &str, expected: &str) {
    let got = values_of(rpc);
    for pair in expected.split_whitespace() {
        let (name, v) = pair.split_once('=').expect("Name=value");
        assert_eq!(value(&got, &format!("{prefix}{name}")), v, "{prefix}{name}");
    }
}

/// Waits until the daemon on `dir` has run its reload command; the file
/// that command writes to.
fn wait_for_reloads(dir: &std::path::Path, daemon: &TestDaemon) -> std::path::PathBuf {
    let reloads = dir.join("reloads");
    assert!(
        support::daemon::wait_until(WAIT, || std::fs::read_to_string(&reloads).is_ok()),
        "{}",
        daemon.log()
    );
    reloads
}

/// The Writable flag a GetParameterNames response gives a name.
fn gpn_writable(rpc: &Rpc, name: &str) -> Option<bool> {
    let Rpc::GetParameterNamesResponse { parameter_list } = rpc else {
        panic!("GPN: {rpc:?}");
    };
    parameter_list
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.writable)
}

/// A zone added to the fixture's firewall for the tests of rule interfaces.
const LOCAL_ZONE: &str = "\nconfig zone\n\toption name 'local'\n\tlist network 'loopback'\n";

#[test]
fn firewall_rules_are_a_chain_the_acs_adds_to_and_deletes_from() {
    let chain = "Device.Firewall.Chain.1.";
    let lo = std::fs::read_to_string("/sys/class/net/lo/ifindex").expect("lo");
    let lo = lo.trim();
    let requests = vec![
        gpv(&["Device.Firewall."]),
        Rpc::AddObject {
            object_name: format!("{chain}Rule."),
            parameter_key: "k".into(),
        },
        spv(&[
            (
                &format!("{chain}Rule.2.Description"),
                "Allow-SSH",
                XsdType::String,
            ),
            (&format!("{chain}Rule.2.Target"), "Accept", XsdType::String),
            (&format!("{chain}Rule.2.Protocol"), "6", XsdType::Int),
            (&format!("{chain}Rule.2.IPVersion"), "-1", XsdType::Int),
            (&format!("{chain}Rule.2.Enable"), "1", XsdType::Boolean),
            (&format!("{chain}Rule.2.DestPort"), "22", XsdType::Int),
            (
                &format!("{chain}Rule.2.DestPortRangeMax"),
                "23",
                XsdType::Int,
            ),
            (
                &format!("{chain}Rule.2.SourceIP"),
                "192.0.2.0",
                XsdType::String,
            ),
            (&format!("{chain}Rule.2.SourceMask"), "/24", XsdType::String),
            (
                &format!("{chain}Rule.2.SourceInterface"),
                &format!("Device.IP.Interface.{lo}"),
                XsdType::String,
            ),
            (
                &format!("{chain}Rule.2.DestAllInterfaces"),
                "1",
                XsdType::Boolean,
            ),
        ]),
        Rpc::DeleteObject {
            object_name: format!("{chain}Rule.1."),
            parameter_key: "k".into(),
        },
        // No UCI protocol for 300, no fw4 target for Return, Chain.1 is fixed.
        spv(&[(&format!("{chain}Rule.2.Protocol"), "300", XsdType::Int)]),
        spv(&[(&format!("{chain}Rule.2.Target"), "Return", XsdType::String)]),
        spv(&[(&format!("{chain}Name"), "other", XsdType::String)]),
        // A range that ends below its start; no zone holds that interface;
        // Order is the place in the file.
        spv(&[(
            &format!("{chain}Rule.2.DestPortRangeMax"),
            "10",
            XsdType::Int,
        )]),
        spv(&[(
            &format!("{chain}Rule.2.SourceInterface"),
            "Device.IP.Interface.99999",
            XsdType::String,
        )]),
        spv(&[(&format!("{chain}Rule.2.Order"), "1", XsdType::UnsignedInt)]),
        Rpc::GetParameterNames {
            parameter_path: "Device.Firewall.".into(),
            next_level: false,
        },
        gpv(&["Device.Firewall.Chain.1."]),
    ];
    let (daemon, dir, responses) = one_session("firewall-rules", requests, |dir| {
        // A zone of the loopback network, whose device this machine has.
        let firewall = std::fs::read_to_string(dir.join("firewall")).expect("firewall");
        std::fs::write(dir.join("firewall"), format!("{firewall}{LOCAL_ZONE}")).expect("firewall");
    });
    let reloads = dir.join("reloads");
    assert_eq!(responses.len(), 12, "{responses:#?}");
    let got = values_of(&responses[0]);
    assert_eq!(
        value(&got, "Device.Firewall.AdvancedLevel"),
        "Device.Firewall.Level.1"
    );
    assert_eq!(
        value(&got, "Device.Firewall.Level.1.Chain"),
        "Device.Firewall.Chain.1"
    );
    assert_eq!(
        value(&got, "Device.Firewall.Level.1.DefaultPolicy"),
        "Reject"
    );
    assert_eq!(value(&got, &format!("{chain}RuleNumberOfEntries")), "1");
    assert_eq!(
        value(&got, &format!("{chain}Rule.1.Description")),
        "Allow-DHCP-Renew"
    );
    assert_eq!(value(&got, &format!("{chain}Rule.1.Target")), "Accept");
    assert_eq!(value(&got, &format!("{chain}Rule.1.Protocol")), "17");
    assert_eq!(value(&got, &format!("{chain}Rule.1.IPVersion")), "4");
    // The wan zone's networks have no device on this machine: no interfaces.
    let dhcp_renew = "Order=1 DestPort=68 DestPortRangeMax=-1 SourcePort=-1 SourceIP= SourceMask= \
        SourceAllInterfaces=0 SourceInterface= DestInterface= Log=0";
    assert_values(&responses[0], &format!("{chain}Rule.1."), dhcp_renew);
    assert!(
        matches!(
            responses[1],
            Rpc::AddObjectResponse {
                instance_number: 2,
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[1]
    );
    assert_pending(&responses[2]);
    assert!(matches!(
        responses[3],
        Rpc::DeleteObjectResponse {
            status: Status::Pending
        }
    ));
    assert_eq!(fault_codes(&responses[4]), [9007]);
    assert_eq!(fault_codes(&responses[5]), [9007]);
    assert_eq!(fault_codes(&responses[6]), [9008]);
    assert_eq!(fault_codes(&responses[7]), [9007]);
    assert_eq!(fault_codes(&responses[8]), [9007]);
    assert_eq!(fault_codes(&responses[9]), [9008]);
    let writable = |name: &str| gpn_writable(&responses[10], name);
    assert_eq!(
        writable(&format!("{chain}Rule.2.SourceInterface")),
        Some(true)
    );
    assert_eq!(
        writable(&format!("{chain}Rule.2.DestPortRangeMax")),
        Some(true)
    );
    assert_eq!(writable(&format!("{chain}Rule.2.Order")), Some(false));
    assert_eq!(writable("Device.Firewall.Chain."), Some(false));
    assert_eq!(writable("Device.Firewall.Chain.1.Rule."), Some(true));
    assert_eq!(
        writable("Device.Firewall.Chain.1.Rule.2.Target"),
        Some(true)
    );
    assert_eq!(
        writable("Device.Firewall.Chain.1.Rule.2.Status"),
        Some(false)
    );
    assert_eq!(
        writable("Device.Firewall.Level.1.DefaultPolicy"),
        Some(true)
    );
    let after = values_of(&responses[11]);
    let ssh = format!(
        "Order=1 DestPort=22 DestPortRangeMax=23 SourceIP=192.0.2.0 SourceMask=/24 \
         SourceInterface=Device.IP.Interface.{lo} DestAllInterfaces=1 DestInterface="
    );
    assert_values(&responses[11], &format!("{chain}Rule.2."), &ssh);
    assert_eq!(value(&after, &format!("{chain}RuleNumberOfEntries")), "1");
    assert_eq!(
        value(&after, &format!("{chain}Rule.2.Description")),
        "Allow-SSH"
    );
    assert_eq!(value(&after, &format!("{chain}Rule.2.Status")), "Enabled");
    assert!(!after
        .iter()
        .any(|(n, _)| n.starts_with(&format!("{chain}Rule.1."))));

    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(&reloads).expect("reloads"),
        "firewall\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/firewall")).expect("fixture");
    let old_rule = "config rule\n\toption name 'Allow-DHCP-Renew'\n\toption src 'wan'\n\
        \toption proto 'udp'\n\toption dest_port '68'\n\toption target 'ACCEPT'\n\
        \toption family 'ipv4'\n\n";
    assert!(fixture.contains(old_rule));
    let expected = format!(
        "{}\nconfig rule\n\toption target 'ACCEPT'\n\toption enabled '1'\n\toption proto 'tcp'\n\
         \toption cwmp_instance '2'\n\toption cwmp_alias 'cpe-2'\n\toption name 'Allow-SSH'\n\
         \toption family 'any'\n\toption dest_port '22-23'\n\toption src_ip '192.0.2.0/24'\n\
         \toption src 'local'\n\toption dest '*'\n",
        // The blank line before the deleted section stays.
        fixture.replace(old_rule, "\n") + LOCAL_ZONE
    );
    let got = std::fs::read_to_string(dir.join("firewall")).expect("firewall");
    assert_eq!(got, expected);
}

#[test]
fn dhcpv6_pools_say_and_switch_what_odhcpd_hands_out() {
    let pool = "Device.DHCPv6.Server.Pool.1.";
    let requests = vec![
        gpv(&[pool]),
        spv(&[(&format!("{pool}IAPDEnable"), "0", XsdType::Boolean)]),
        gpv(&[&format!("{pool}IAPDEnable")]),
    ];
    let (daemon, dir, responses) = one_session("dhcpv6-pool", requests, |_| ());
    let reloads = dir.join("reloads");
    let got = values_of(&responses[0]);
    assert_eq!(value(&got, &format!("{pool}Enable")), "1");
    assert_eq!(value(&got, &format!("{pool}IANAEnable")), "1");
    assert_eq!(value(&got, &format!("{pool}IAPDEnable")), "1");
    assert!(
        matches!(
            responses[1],
            Rpc::SetParameterValuesResponse {
                status: Status::Pending
            }
        ),
        "{:?}",
        responses[1]
    );
    assert_eq!(
        value(&values_of(&responses[2]), &format!("{pool}IAPDEnable")),
        "0"
    );
    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(&reloads).expect("reloads"),
        "dhcp\n"
    );
    let dhcp = std::fs::read_to_string(dir.join("dhcp")).expect("dhcp");
    assert!(
        dhcp.contains("\tlist dhcp_option '6,192.168.1.1'\n\toption dhcpv6_pd '0'\n"),
        "{dhcp}"
    );
}

/// Whether the CLI's output has a line giving `parameter` this `value` or `writable` flag.
fn cli_says(output: &str, parameter: &str, key: &str, value: &str) -> bool {
    let line = format!("\"parameter\": \"{parameter}\", \"{key}\": \"{value}\"");
    output.lines().any(|l| l.contains(&line))
}

/// Runs `ip` with arguments; false when it fails.
fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    /// None where namespaces cannot be made (not root, no `ip`).
    fn create(tag: &str) -> Option<Netns> {
        let name = format!("icwmp-{tag}-{}", std::process::id());
        ip(&["netns", "add", &name]).then_some(Netns(name))
    }

    /// Runs `ip` inside it.
    fn ip(&self, args: &[&str]) -> bool {
        let mut all = vec!["netns", "exec", self.0.as_str(), "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs the data model CLI of the real binary inside it.
    fn cli(&self, dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_icwmpd")])
            .arg("--config")
            .arg(dir)
            .args(["-m", "1"])
            .args(args)
            .output()
            .expect("run icwmpd -m in the namespace");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A kernel interface's ifindex there.
    fn ifindex(&self, device: &str) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0, "cat"])
            .arg(format!("/sys/class/net/{device}/ifindex"))
            .output()
            .expect("read ifindex");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.0]);
    }
}

#[test]
fn kernel_routes_are_listed_read_only_beside_the_uci_routes() {
    // A namespace whose routing table the test writes: a connected
    // network, a route through a gateway, and the fixture's UCI route applied.
    let Some(ns) = Netns::create("routes") else {
        eprintln!("skipped: cannot create a network namespace");
        return;
    };
    let inside = |args: &[&str]| ns.ip(args);
    let ready = inside(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        && inside(&["addr", "add", "192.0.2.1/24", "dev", "v0"])
        && inside(&["addr", "add", "192.168.1.1/24", "dev", "v0"])
        && inside(&["link", "set", "v1", "up"])
        && inside(&["link", "set", "v0", "up"])
        && inside(&[
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            "192.0.2.254",
            "metric",
            "7",
        ])
        && inside(&["route", "add", "10.10.0.0/16", "via", "192.168.1.254"])
        && inside(&["-6", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad"])
        && inside(&[
            "-6",
            "route",
            "add",
            "2001:db8:1::/48",
            "via",
            "2001:db8::fe",
        ]);
    assert!(ready, "cannot set up the namespace's routes");
    let dir = fixture_device("kernel-routes", "http://127.0.0.1:9/", "");
    let dir098 = fixture_device(
        "kernel-routes-098",
        "http://127.0.0.1:9/",
        "\toption datamodel 'tr098'\n",
    );
    let run_in = |dir: &std::path::Path, args: &[&str]| ns.cli(dir, args);
    let run = |args: &[&str]| run_in(&dir, args);
    let l3 = "InternetGatewayDevice.Layer3Forwarding.";
    let values098 = run_in(&dir098, &["get_value", l3]);
    let names098 = run_in(&dir098, &["get_name", l3, "0"]);
    let deleted098 = run_in(&dir098, &["delete_object", &format!("{l3}Forwarding.2.")]);
    let table = "Device.Routing.Router.1.IPv4Forwarding.";
    let values = run(&["get_value", table]);
    let values6 = run(&["get_value", "Device.Routing.Router.1.IPv6Forwarding."]);
    let names = run(&["get_name", "Device.Routing.Router.1.", "0"]);
    let set = run(&["set_value", &format!("{table}2.ForwardingMetric"), "1"]);
    let deleted = run(&["delete_object", &format!("{table}3.")]);
    let count = run(&[
        "get_value",
        "Device.Routing.Router.1.IPv4ForwardingNumberOfEntries",
    ]);
    drop(ns);
    let has = |text: &str, line: &str| text.lines().any(|l| l.contains(line));
    let value = |name: &str, v: &str| cli_says(&values, &format!("{table}{name}"), "value", v);
    // 1: the UCI route (the kernel's copy of it is not listed again); then
    // the kernel's in /proc order: two connected networks and the gateway route.
    assert!(value("1.StaticRoute", "1"), "{values}");
    assert!(value("1.DestIPAddress", "10.10.0.0"), "{values}");
    assert!(value("1.Origin", "Static"), "{values}");
    assert_eq!(values.matches("\"value\": \"10.10.0.0\"").count(), 1);
    let via = (2..=4)
        .find(|n| value(&format!("{n}.DestIPAddress"), "198.51.100.0"))
        .unwrap_or_else(|| panic!("no gateway route: {values}"));
    assert!(value(&format!("{via}.StaticRoute"), "0"), "{values}");
    assert!(
        value(&format!("{via}.GatewayIPAddress"), "192.0.2.254"),
        "{values}"
    );
    assert!(
        value(&format!("{via}.DestSubnetMask"), "255.255.255.0"),
        "{values}"
    );
    assert!(value(&format!("{via}.ForwardingMetric"), "7"), "{values}");
    assert!(!has(&values, &format!("{table}{via}.Origin")), "{values}");
    let connected = if via == 2 { 3 } else { 2 };
    assert!(
        value(&format!("{connected}.GatewayIPAddress"), ""),
        "{values}"
    );
    assert!(has(&count, "\"value\": \"4\""), "{count}");
    let writable = |name: &str, w: &str| cli_says(&names, &format!("{table}{name}"), "writable", w);
    assert!(writable("", "1"), "{names}");
    assert!(writable("1.", "1"), "{names}");
    assert!(writable("1.GatewayIPAddress", "1"), "{names}");
    assert!(writable("2.", "0"), "{names}");
    assert!(writable("2.GatewayIPAddress", "0"), "{names}");
    assert!(has(&set, "9008"), "{set}");
    // IPv6: the kernel's routes, read only.
    let route6 = values6
        .lines()
        .find(|l| l.contains("\"value\": \"2001:db8:1::/48\""))
        .and_then(|l| l.split("IPv6Forwarding.").nth(1)?.split('.').next())
        .unwrap_or_else(|| panic!("no 2001:db8:1::/48: {values6}"))
        .to_owned();
    assert!(
        has(
            &values6,
            &format!("IPv6Forwarding.{route6}.NextHop\", \"value\": \"2001:db8::fe\"")
        ),
        "{values6}"
    );
    // Beside the fixture's UCI route6, which AddObject adds to.
    let table6 = "Device.Routing.Router.1.IPv6Forwarding.";
    assert!(cli_says(&names, table6, "writable", "1"), "{names}");
    let kernel6 = format!("{table6}{route6}.");
    assert!(cli_says(&names, &kernel6, "writable", "0"), "{names}");
    assert!(route6 != "1", "{values6}");
    assert!(has(&deleted, "\"fault\""), "{deleted}");
    // TR-098 lists the same kernel routes after the UCI one, read only.
    let expected098 = [
        ("ForwardNumberOfEntries".to_owned(), "4"),
        ("Forwarding.1.StaticRoute".to_owned(), "1"),
        (format!("Forwarding.{via}.GatewayIPAddress"), "192.0.2.254"),
        (format!("Forwarding.{via}.StaticRoute"), "0"),
    ];
    for (name, v) in &expected098 {
        let name = format!("{l3}{name}");
        assert!(cli_says(&values098, &name, "value", v), "{values098}");
    }
    let no_interface = format!("Forwarding.{via}.Interface");
    assert!(!has(&values098, &no_interface), "{values098}");
    let writable098 =
        |name: &str, w: &str| cli_says(&names098, &format!("{l3}{name}"), "writable", w);
    assert!(writable098("Forwarding.", "1"), "{names098}");
    assert!(writable098("Forwarding.1.", "1"), "{names098}");
    assert!(writable098("Forwarding.2.", "0"), "{names098}");
    assert!(writable098("Forwarding.2.Enable", "0"), "{names098}");
    assert!(has(&deleted098, "\"fault\""), "{deleted098}");
    // Nothing was written.
    let network = std::fs::read_to_string(dir.join("network")).expect("network");
    assert_eq!(
        network,
        std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture")
    );
}

#[test]
fn uci_ipv6_routes_are_added_set_and_deleted() {
    let table = "Device.Routing.Router.1.IPv6Forwarding.";
    // AddObject numbers after every instance, the host's kernel routes too.
    let probe = fixture_device("route6-probe", "http://127.0.0.1:9/", "");
    let names = cli(&probe, &["get_name", table, "1"]);
    let n = names
        .lines()
        .filter_map(|l| {
            l.split(table)
                .nth(1)?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap_or(0)
        + 1;
    let requests = vec![
        gpv(&[&format!("{table}1.")]),
        Rpc::AddObject {
            object_name: table.into(),
            parameter_key: "k".into(),
        },
        spv(&[
            (
                &format!("{table}{n}.DestIPPrefix"),
                "2001:db8:200::/56",
                XsdType::String,
            ),
            (&format!("{table}{n}.NextHop"), "fe80::1", XsdType::String),
            // Loopback (ifindex 1) is the fixture's static `loopback` section.
            (
                &format!("{table}{n}.Interface"),
                "Device.IP.Interface.1",
                XsdType::String,
            ),
            (&format!("{table}{n}.ForwardingMetric"), "5", XsdType::Int),
            (&format!("{table}{n}.Enable"), "1", XsdType::Boolean),
        ]),
        spv(&[(
            &format!("{table}{n}.DestIPPrefix"),
            "2001:db8::/129",
            XsdType::String,
        )]),
        spv(&[(&format!("{table}{n}.Origin"), "Static", XsdType::String)]),
        spv(&[(
            &format!("{table}{n}.Interface"),
            "Device.IP.Interface.99999",
            XsdType::String,
        )]),
        Rpc::DeleteObject {
            object_name: format!("{table}1."),
            parameter_key: "k".into(),
        },
        gpv(&[&format!("{table}{n}.")]),
        Rpc::GetParameterNames {
            parameter_path: table.into(),
            next_level: false,
        },
    ];
    let (daemon, dir, responses) = one_session("route6", requests, |_| ());
    let reloads = dir.join("reloads");
    assert_eq!(responses.len(), 9, "{responses:#?}");
    let uci_route = "DestIPPrefix=2001:db8:100::/48 NextHop=2001:db8::1 Origin=Static Enable=1 \
        Status=Enabled ForwardingMetric=0";
    assert_values(&responses[0], &format!("{table}1."), uci_route);
    assert_pending(&responses[1]);
    assert!(
        matches!(responses[1], Rpc::AddObjectResponse { instance_number, .. } if instance_number == n),
        "{:?}",
        responses[1]
    );
    assert_pending(&responses[2]);
    assert_eq!(fault_codes(&responses[3]), [9007]);
    assert_eq!(fault_codes(&responses[4]), [9008]);
    assert_eq!(fault_codes(&responses[5]), [9007]);
    assert_pending(&responses[6]);
    let added = "DestIPPrefix=2001:db8:200::/56 NextHop=fe80::1 Interface=Device.IP.Interface.1 \
        ForwardingMetric=5 Status=Enabled";
    assert_values(&responses[7], &format!("{table}{n}."), added);
    let writable = |name: &str| gpn_writable(&responses[8], name);
    assert_eq!(writable(table), Some(true));
    assert_eq!(writable(&format!("{table}{n}.")), Some(true));
    assert_eq!(writable(&format!("{table}{n}.NextHop")), Some(true));
    assert_eq!(writable(&format!("{table}{n}.Origin")), Some(false));
    assert!(writable(&format!("{table}1.")).is_none());

    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(&reloads).expect("reloads"),
        "network\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture");
    let old_route =
        "\nconfig route6\n\toption interface 'wan6'\n\toption target '2001:db8:100::/48'\n\
        \toption gateway '2001:db8::1'\n";
    assert!(fixture.ends_with(old_route));
    let expected = format!(
        "{}\nconfig route6\n\toption interface 'loopback'\n\toption target '2001:db8:200::/56'\n\
         \toption disabled '0'\n\toption cwmp_instance '{n}'\n\toption cwmp_alias 'cpe-{n}'\n\
         \toption gateway 'fe80::1'\n\toption metric '5'\n",
        fixture.replace(old_route, "\n")
    );
    let got = std::fs::read_to_string(dir.join("network")).expect("network");
    assert_eq!(got, expected);
}

#[test]
fn static_ipv4_addresses_are_added_and_deleted_in_uci() {
    // Loopback (ifindex 1) is configured by the fixture's static `loopback` section.
    let table = "Device.IP.Interface.1.IPv4Address.";
    let add = || Rpc::AddObject {
        object_name: table.into(),
        parameter_key: "k".into(),
    };
    let requests = vec![
        gpv(&[table]),
        add(),
        gpv(&[&format!("{table}2.")]),
        spv(&[
            (&format!("{table}2.IPAddress"), "127.0.0.2", XsdType::String),
            (
                &format!("{table}2.SubnetMask"),
                "255.255.255.0",
                XsdType::String,
            ),
        ]),
        add(),
        spv(&[(&format!("{table}3.IPAddress"), "127.0.0.3", XsdType::String)]),
        Rpc::DeleteObject {
            object_name: format!("{table}2."),
            parameter_key: "k".into(),
        },
        spv(&[(
            &format!("{table}1.SubnetMask"),
            "255.0.255.0",
            XsdType::String,
        )]),
        spv(&[(&format!("{table}1.AddressingType"), "DHCP", XsdType::String)]),
        Rpc::GetParameterNames {
            parameter_path: table.into(),
            next_level: false,
        },
        gpv(&[table]),
    ];
    let configured =
        "IPAddress=127.0.0.1 SubnetMask=255.0.0.0 AddressingType=Static Status=Enabled";
    let (daemon, dir, responses) = one_session("ipv4-addresses", requests, |_| ());
    assert_eq!(responses.len(), 11, "{responses:#?}");
    assert_values(&responses[0], &format!("{table}1."), configured);
    // An added address is not configured until it has an address.
    assert!(
        matches!(
            responses[1],
            Rpc::AddObjectResponse {
                instance_number: 2,
                status: Status::Applied
            }
        ),
        "{:?}",
        responses[1]
    );
    let waiting = "IPAddress= Status=Error_Misconfigured";
    assert_values(&responses[2], &format!("{table}2."), waiting);
    assert_pending(&responses[3]);
    assert_pending(&responses[5]);
    assert_pending(&responses[6]);
    assert_eq!(fault_codes(&responses[7]), [9007]);
    assert_eq!(fault_codes(&responses[8]), [9008]);
    let writable = |name: &str| gpn_writable(&responses[9], name);
    assert_eq!(writable(table), Some(true));
    assert_eq!(writable(&format!("{table}3.")), Some(true));
    assert_eq!(writable(&format!("{table}3.IPAddress")), Some(true));
    assert_eq!(writable(&format!("{table}3.AddressingType")), Some(false));
    assert_eq!(writable(&format!("{table}3.Enable")), Some(false));
    let third = "IPAddress=127.0.0.3 SubnetMask=255.0.0.0";
    assert_values(&responses[10], &format!("{table}3."), third);
    assert_values(&responses[10], &format!("{table}1."), configured);
    assert!(!values_of(&responses[10])
        .iter()
        .any(|(n, _)| n.starts_with(&format!("{table}2."))));

    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(dir.join("reloads")).expect("reloads"),
        "network\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture");
    let expected = fixture.replace(
        "\toption ipaddr '127.0.0.1'\n\toption netmask '255.0.0.0'\n",
        // The UCI writer puts a list that replaces an option at the section's end.
        "\toption netmask '255.0.0.0'\n\toption cwmp_ipaddr_instances '1 3'\n\
         \tlist ipaddr '127.0.0.1'\n\tlist ipaddr '127.0.0.3'\n",
    );
    assert_ne!(expected, fixture);
    let got = std::fs::read_to_string(dir.join("network")).expect("network");
    assert_eq!(got, expected);
}

#[test]
fn ipv4_addresses_of_dhcp_and_static_devices_say_what_configures_them() {
    // The fixture's devices in a namespace: the LAN bridge (static, with
    // an address UCI does not know) and the DHCP WAN.
    let Some(ns) = Netns::create("ipv4") else {
        eprintln!("skipped: cannot create a network namespace");
        return;
    };
    let ready = ns.ip(&[
        "link", "add", "br-lan", "type", "veth", "peer", "name", "wan",
    ]) && ns.ip(&["addr", "add", "192.168.1.1/24", "dev", "br-lan"])
        && ns.ip(&["addr", "add", "192.168.1.250/24", "dev", "br-lan"])
        && ns.ip(&["addr", "add", "198.51.100.7/24", "dev", "wan"]);
    assert!(ready, "cannot set up the namespace's devices");
    let lan = format!("Device.IP.Interface.{}.IPv4Address.", ns.ifindex("br-lan"));
    let wan = format!("Device.IP.Interface.{}.IPv4Address.", ns.ifindex("wan"));
    let dir = fixture_device("ipv4-netns", "http://127.0.0.1:9/", "");
    let values = ns.cli(&dir, &["get_value", &lan]) + &ns.cli(&dir, &["get_value", &wan]);
    let names = ns.cli(&dir, &["get_name", &lan, "0"]) + &ns.cli(&dir, &["get_name", &wan, "0"]);
    let refused = [
        ns.cli(&dir, &["add_object", &wan]),
        ns.cli(&dir, &["delete_object", &format!("{lan}2.")]),
        ns.cli(
            &dir,
            &["set_value", &format!("{wan}1.IPAddress"), "198.51.100.8"],
        ),
    ];
    let added = ns.cli(&dir, &["add_object", &lan]);
    drop(ns);
    for (name, v) in [
        (format!("{lan}1.IPAddress"), "192.168.1.1"),
        (format!("{lan}1.AddressingType"), "Static"),
        (format!("{lan}2.IPAddress"), "192.168.1.250"),
        (format!("{wan}1.IPAddress"), "198.51.100.7"),
        (format!("{wan}1.SubnetMask"), "255.255.255.0"),
        (format!("{wan}1.AddressingType"), "DHCP"),
    ] {
        assert!(cli_says(&values, &name, "value", v), "{name}: {values}");
    }
    for (name, w) in [
        (lan.clone(), "1"),
        (format!("{lan}1."), "1"),
        (format!("{lan}1.IPAddress"), "1"),
        (format!("{lan}2."), "0"),
        (format!("{lan}2.IPAddress"), "0"),
        (wan.clone(), "0"),
        (format!("{wan}1.IPAddress"), "0"),
    ] {
        assert!(cli_says(&names, &name, "writable", w), "{name}: {names}");
    }
    // The engine refuses AddObject and DeleteObject where GPN says so (9003).
    for (answer, code) in refused.iter().zip(["9003", "9003", "9008"]) {
        assert!(answer.contains(code), "{answer}");
    }
    assert!(added.contains("\"instance\": \"3\""), "{added}");
    // Nothing was written: the added address has none yet.
    let network = std::fs::read_to_string(dir.join("network")).expect("network");
    assert_eq!(
        network,
        std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture")
    );
}

/// (ifindex, name) of an interface `Device.Ethernet.Interface.` lists on this
/// machine: the first Ethernet one, else loopback (which stands in then).
fn an_ethernet_interface() -> (u32, String) {
    let read = |name: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    let mut found: Vec<(u32, String)> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| read(name, "type") == "1")
        .filter_map(|name| Some((read(&name, "ifindex").parse().ok()?, name)))
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .unwrap_or_else(|| (read("lo", "ifindex").parse().expect("lo"), "lo".to_owned()))
}

#[test]
fn bridge_ports_are_added_to_and_removed_from_the_ports_list() {
    let (ifindex, device) = an_ethernet_interface();
    let bridge = "Device.Bridging.Bridge.1.";
    let requests = vec![
        Rpc::DeleteObject {
            object_name: format!("{bridge}Port.3."),
            parameter_key: "k".into(),
        },
        Rpc::AddObject {
            object_name: format!("{bridge}Port."),
            parameter_key: "k".into(),
        },
        gpv(&[&format!("{bridge}Port.5.")]),
        spv(&[(
            &format!("{bridge}Port.5.LowerLayers"),
            &format!("Device.Ethernet.Interface.{ifindex}"),
            XsdType::String,
        )]),
        // No such SSID; the management port is the bridge itself.
        spv(&[(
            &format!("{bridge}Port.5.LowerLayers"),
            "Device.WiFi.SSID.9",
            XsdType::String,
        )]),
        spv(&[(
            &format!("{bridge}Port.1.LowerLayers"),
            &format!("Device.Ethernet.Interface.{ifindex}"),
            XsdType::String,
        )]),
        Rpc::DeleteObject {
            object_name: format!("{bridge}Port.1."),
            parameter_key: "k".into(),
        },
        Rpc::GetParameterNames {
            parameter_path: bridge.into(),
            next_level: false,
        },
        gpv(&[bridge]),
    ];
    let (daemon, dir, responses) = one_session("bridge-ports", requests, |_| ());
    let reloads = dir.join("reloads");
    assert_eq!(responses.len(), 9, "{responses:#?}");
    assert_pending(&responses[0]);
    // Nothing is written until the new port names its device.
    assert!(
        matches!(
            responses[1],
            Rpc::AddObjectResponse {
                instance_number: 5,
                status: Status::Applied
            }
        ),
        "{:?}",
        responses[1]
    );
    let pending = values_of(&responses[2]);
    assert_eq!(value(&pending, &format!("{bridge}Port.5.Name")), "");
    assert_eq!(
        value(&pending, &format!("{bridge}Port.5.Status")),
        "NotPresent"
    );
    assert_pending(&responses[3]);
    assert_eq!(fault_codes(&responses[4]), [9007]);
    assert_eq!(fault_codes(&responses[5]), [9008]);
    assert_eq!(fault_codes(&responses[6]), [9003]);
    let writable = |name: &str| gpn_writable(&responses[7], name);
    assert_eq!(writable(&format!("{bridge}Port.")), Some(true));
    assert_eq!(writable(&format!("{bridge}Port.1.")), Some(false));
    assert_eq!(writable(&format!("{bridge}Port.4.")), Some(true));
    assert_eq!(
        writable(&format!("{bridge}Port.1.LowerLayers")),
        Some(false)
    );
    assert_eq!(writable(&format!("{bridge}Port.4.LowerLayers")), Some(true));
    assert_eq!(writable(&format!("{bridge}Port.4.Name")), Some(false));
    let got = values_of(&responses[8]);
    assert_eq!(value(&got, &format!("{bridge}PortNumberOfEntries")), "4");
    assert_eq!(value(&got, &format!("{bridge}Port.2.Name")), "lan1");
    // lan3 keeps its number though lan2 before it is gone.
    assert_eq!(value(&got, &format!("{bridge}Port.4.Name")), "lan3");
    assert_eq!(value(&got, &format!("{bridge}Port.5.Name")), device);
    assert_eq!(
        value(&got, &format!("{bridge}Port.5.LowerLayers")),
        format!("Device.Ethernet.Interface.{ifindex}")
    );
    assert_eq!(
        value(&got, &format!("{bridge}Port.1.LowerLayers")),
        format!("{bridge}Port.2,{bridge}Port.4,{bridge}Port.5")
    );
    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(&reloads).expect("reloads"),
        "network\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture");
    let expected = fixture.replace(
        "\tlist ports 'lan1'\n\tlist ports 'lan2'\n\tlist ports 'lan3'\n",
        &format!(
            "\tlist ports 'lan1'\n\tlist ports 'lan3'\n\tlist ports '{device}'\n\
             \tlist cwmp_ports 'lan1=2'\n\tlist cwmp_ports 'lan3=4'\n\tlist cwmp_ports '{device}=5'\n"
        ),
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("network")).expect("network"),
        expected
    );
}

#[test]
fn dns_relay_forwarders_are_written_to_dnsmasqs_server_list() {
    let lo = std::fs::read_to_string("/sys/class/net/lo/ifindex").expect("lo");
    let lo = lo.trim();
    let relay = "Device.DNS.Relay.";
    let add = || Rpc::AddObject {
        object_name: format!("{relay}Forwarding."),
        parameter_key: "k".into(),
    };
    let requests = vec![
        add(),
        spv(&[
            (
                &format!("{relay}Forwarding.2.Enable"),
                "1",
                XsdType::Boolean,
            ),
            (
                &format!("{relay}Forwarding.2.DNSServer"),
                "198.51.100.99",
                XsdType::String,
            ),
            (
                &format!("{relay}Forwarding.2.Interface"),
                &format!("Device.IP.Interface.{lo}"),
                XsdType::String,
            ),
        ]),
        // The first one disabled: out of dnsmasq's list, kept beside it.
        spv(&[(
            &format!("{relay}Forwarding.1.Enable"),
            "0",
            XsdType::Boolean,
        )]),
        spv(&[(
            &format!("{relay}Forwarding.1.DNSServer"),
            "dns.example",
            XsdType::String,
        )]),
        // One added and deleted before it had a server: nothing written.
        add(),
        Rpc::DeleteObject {
            object_name: format!("{relay}Forwarding.3."),
            parameter_key: "k".into(),
        },
        Rpc::GetParameterNames {
            parameter_path: relay.into(),
            next_level: false,
        },
        gpv(&[relay]),
    ];
    let (daemon, dir, responses) = one_session("dns-relay", requests, |_| ());
    assert_eq!(responses.len(), 8, "{responses:#?}");
    assert!(
        matches!(
            responses[0],
            Rpc::AddObjectResponse {
                instance_number: 2,
                status: Status::Applied
            }
        ),
        "{:?}",
        responses[0]
    );
    assert_pending(&responses[1]);
    assert_pending(&responses[2]);
    assert_eq!(fault_codes(&responses[3]), [9007]);
    assert!(matches!(
        responses[5],
        Rpc::DeleteObjectResponse {
            status: Status::Applied
        }
    ));
    let writable = |name: &str| gpn_writable(&responses[6], name);
    assert_eq!(writable(&format!("{relay}Forwarding.")), Some(true));
    assert_eq!(
        writable(&format!("{relay}Forwarding.1.DNSServer")),
        Some(true)
    );
    assert_eq!(writable(&format!("{relay}Forwarding.1.Type")), Some(false));
    let forwarders = format!(
        "ForwardNumberOfEntries=2 \
         Forwarding.1.DNSServer=192.0.2.53 Forwarding.1.Enable=0 Forwarding.1.Status=Disabled \
         Forwarding.1.Type=Static Forwarding.1.Interface= \
         Forwarding.2.DNSServer=198.51.100.99 Forwarding.2.Enable=1 Forwarding.2.Status=Enabled \
         Forwarding.2.Type=Static Forwarding.2.Interface=Device.IP.Interface.{lo}"
    );
    assert_values(&responses[7], relay, &forwarders);
    assert!(daemon.stop().success());
    assert_eq!(
        std::fs::read_to_string(dir.join("reloads")).expect("reloads"),
        "dhcp\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/dhcp")).expect("fixture");
    let leases = dir.join("dhcp.leases").display().to_string();
    let expected = fixture.replace("/tmp/dhcp.leases", &leases).replace(
        "\tlist server '192.0.2.53'\n\tlist server '/example.test/192.0.2.54'\n",
        "\tlist server '/example.test/192.0.2.54'\n\tlist server '198.51.100.99@lo'\n\
         \tlist cwmp_disabled_server '192.0.2.53'\n\
         \tlist cwmp_server_numbers '192.0.2.53=1'\n\tlist cwmp_server_numbers '198.51.100.99@lo=2'\n",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("dhcp")).expect("dhcp"),
        expected
    );
}

/// How many times the daemon asked odhcpd for its leases.
static ODHCPD_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// odhcpd's reply to `dhcp ipv6leases`: an address lease and a delegated prefix on
/// the LAN. The test host has no br-lan, so in this dump and in
/// `netifd_dump_ipv6` the LAN (and wan6) run on loopback.
const ODHCPD_IPV6LEASES: &str = r#"{"device": {"lo": {"leases": [
                    {"duid": "00010001aabbccdd020000000020", "iaid": 1, "hostname": "laptop",
                     "accept-reconf": false, "assigned": 4660, "flags": ["bound"],
                     "ipv6-addr": [{"address": "2001:db8:abcd:10::1234", "preferred-lifetime": 3600,
                                    "valid-lifetime": -1}], "valid": -1},
                    {"duid": "0003000102000000002a", "iaid": 7, "hostname": "", "accept-reconf": false,
                     "assigned": 2, "flags": ["bound"],
                     "ipv6-prefix": [{"address": "2001:db8:abcd:18::", "preferred-lifetime": 1800,
                                      "valid-lifetime": 3600, "prefix-length": 62}], "valid": 3600}]}}}"#;

/// netifd's reply to `network.interface dump` with IPv6: wan6 holds the delegated
/// prefix and assigns a /60 of it to the LAN, which also has a ULA /64.
const NETIFD_DUMP_IPV6: &str = r#"{"interface": [
                    {"interface": "lan", "up": true, "proto": "static", "l3_device": "lo",
                     "ipv4-address": [{"address": "192.168.1.1", "mask": 24}], "ipv6-address": [],
                     "ipv6-prefix": [],
                     "ipv6-prefix-assignment": [
                        {"address": "2001:db8:abcd:10::", "mask": 60, "preferred": 1800, "valid": 3600,
                         "local-address": {"address": "2001:db8:abcd:10::1", "mask": 60}},
                        {"address": "fd12:3456:789a::", "mask": 64,
                         "local-address": {"address": "fd12:3456:789a::1", "mask": 64}}],
                     "route": [], "dns-server": []},
                    {"interface": "wan6", "up": true, "proto": "dhcpv6", "l3_device": "lo",
                     "ipv6-address": [{"address": "2001:db8:ffff::2", "mask": 64}],
                     "ipv6-prefix": [{"address": "2001:db8:abcd::", "mask": 48, "preferred": 1800,
                                      "valid": 3600, "class": "wan6",
                                      "assigned": {"lan": {"address": "2001:db8:abcd:10::", "mask": 60}}}],
                     "ipv6-prefix-assignment": [], "route": [], "dns-server": []}]}"#;

#[test]
fn dhcpv6_clients_leases_and_prefixes_come_from_odhcp6c_odhcpd_and_netifd() {
    let client = "Device.DHCPv6.Client.1.";
    let pool = "Device.DHCPv6.Server.Pool.1.";
    let prefixes = "Device.IP.Interface.1.IPv6Prefix.";
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            script(Vec::new()),
            script(vec![
                gpv(&[
                    client,
                    pool,
                    prefixes,
                    "Device.DHCPv6.ClientNumberOfEntries",
                ]),
                spv(&[(&format!("{client}RequestPrefixes"), "0", XsdType::Boolean)]),
                spv(&[(
                    &format!("{client}Interface"),
                    "Device.IP.Interface.1",
                    XsdType::String,
                )]),
                Rpc::GetParameterNames {
                    parameter_path: "Device.DHCPv6.".into(),
                    next_level: false,
                },
            ]),
        ],
        ..AcsOptions::default()
    });
    let dir = fixture_device("dhcpv6-runtime", &acs.url(), "");
    let counted_odhcpd = |method: &str, _: &[(String, icwmp::wire::blobmsg::Value)]| {
        ODHCPD_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        canned(method, "ipv6leases", ODHCPD_IPV6LEASES)
    };
    let broker = FakeUbus::start(&dir)
        .with(
            "network.interface",
            r#"{"dump": {}}"#,
            |method: &str, _: &_| canned(method, "dump", NETIFD_DUMP_IPV6),
        )
        .with(
            "dhcp",
            r#"{"ipv4leases": {}, "ipv6leases": {}}"#,
            counted_odhcpd,
        );
    let daemon = session_after_refresh(&dir, &acs, &[&ODHCPD_CALLS]);
    let reloads = wait_for_reloads(&dir, &daemon);
    let responses = acs.sessions()[1].responses.clone();
    assert_eq!(responses.len(), 4, "{responses:#?}");
    let wan6 = "Enable=1 Status=Enabled RequestAddresses=1 RequestPrefixes=1 \
        Interface=Device.IP.Interface.1";
    assert_values(&responses[0], client, wan6);
    let leases = "Enable=1 ClientNumberOfEntries=2 Client.1.Active=1 \
        Client.1.IPv6AddressNumberOfEntries=1 \
        Client.1.IPv6Address.1.IPAddress=2001:db8:abcd:10::1234 \
        Client.1.IPv6Address.1.ValidLifetime=9999-12-31T23:59:59Z \
        Client.2.IPv6PrefixNumberOfEntries=1 Client.2.IPv6Prefix.1.Prefix=2001:db8:abcd:18::/62";
    assert_values(&responses[0], pool, leases);
    // lan's assignments first (the ULA one has no parent), then wan6's delegated prefix.
    let lan_and_wan6 = "1.Prefix=2001:db8:abcd:10::/60 1.Origin=Child \
        1.ParentPrefix=Device.IP.Interface.1.IPv6Prefix.3 1.PrefixStatus=Preferred \
        2.Prefix=fd12:3456:789a::/64 2.ParentPrefix= 2.ValidLifetime=9999-12-31T23:59:59Z \
        3.Prefix=2001:db8:abcd::/48 3.Origin=PrefixDelegation 3.StaticType=Inapplicable";
    assert_values(&responses[0], prefixes, lan_and_wan6);
    let got = values_of(&responses[0]);
    assert_eq!(value(&got, "Device.DHCPv6.ClientNumberOfEntries"), "1");
    let preferred = value(
        &got,
        &format!("{pool}Client.1.IPv6Address.1.PreferredLifetime"),
    );
    assert!(
        preferred.ends_with('Z') && preferred != "9999-12-31T23:59:59Z",
        "{preferred}"
    );
    assert_pending(&responses[1]);
    assert_eq!(fault_codes(&responses[2]), [9008]);
    let writable = |name: &str| gpn_writable(&responses[3], name);
    assert_eq!(writable("Device.DHCPv6.Client."), Some(false));
    assert_eq!(writable(&format!("{client}RequestPrefixes")), Some(true));
    assert_eq!(writable(&format!("{pool}Client.")), Some(false));
    assert_eq!(
        writable(&format!("{pool}Client.1.IPv6Address.")),
        Some(false)
    );

    assert!(daemon.stop().success());
    broker.stop();
    assert_eq!(
        std::fs::read_to_string(&reloads).expect("reloads"),
        "network\n"
    );
    let fixture = std::fs::read_to_string(format!("{FIXTURE}/network")).expect("fixture");
    let wan6_section = "config interface 'wan6'\n\toption device 'wan'\n\toption proto 'dhcpv6'\n";
    assert!(fixture.contains(wan6_section));
    let expected = fixture.replace(
        wan6_section,
        &format!("{wan6_section}\toption reqprefix 'no'\n"),
    );
    let got = std::fs::read_to_string(dir.join("network")).expect("network");
    assert_eq!(got, expected);
}
