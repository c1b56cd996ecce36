//! The Cargo features of the build, seen from outside the real `icwmpd`: a service the build leaves out has no parameters in the data model, SupportedConnReqMethods names only what is built in, and settings of a left-out service are ignored with one log line. Passes in every feature set (`cargo test --no-default-features` too).

mod support;

use std::time::Duration;

use support::daemon::{cli, temp_dir, wait_until, write_config, TestDaemon};

#[test]
fn the_data_model_has_the_parameters_of_the_services_built_in_only() {
    let dir = temp_dir("features-model");
    write_config(&dir, "http://127.0.0.1:9/", "", "");
    let names = cli(&dir, &["get_name", "Device.", "0"]);
    assert!(names.contains("\"Device.ManagementServer.URL\""), "{names}");
    let listed = |name: &str| names.contains(&format!("\"{name}\""));
    for (feature, built_in, name) in [
        (
            "stun",
            cfg!(feature = "stun"),
            "Device.ManagementServer.STUNEnable",
        ),
        (
            "stun",
            cfg!(feature = "stun"),
            "Device.ManagementServer.UDPConnectionRequestAddress",
        ),
        (
            "xmpp",
            cfg!(feature = "xmpp"),
            "Device.ManagementServer.ConnReqJabberID",
        ),
        ("bulkdata", cfg!(feature = "bulkdata"), "Device.BulkData."),
        (
            "udpecho",
            cfg!(feature = "udpecho"),
            "Device.IP.Diagnostics.UDPEchoConfig.",
        ),
    ] {
        assert_eq!(listed(name), built_in, "{name} with feature {feature}");
    }
    // GPV of a left-out parameter is an unknown name, as for any other.
    let stun = cli(&dir, &["get_value", "Device.ManagementServer.STUNEnable"]);
    let expected = if cfg!(feature = "stun") {
        "\"value\""
    } else {
        "\"fault\": 9005"
    };
    assert!(stun.contains(expected), "{stun}");

    let methods = cli(
        &dir,
        &[
            "get_value",
            "Device.ManagementServer.SupportedConnReqMethods",
        ],
    );
    let mut expected = vec!["HTTP"];
    if cfg!(feature = "stun") {
        expected.push("STUN");
    }
    if cfg!(feature = "xmpp") {
        expected.push("XMPP");
    }
    assert!(
        methods.contains(&format!("\"value\": \"{}\"", expected.join(","))),
        "{methods}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_of_a_service_left_out_are_ignored_with_one_log_line() {
    let dir = temp_dir("features-log");
    write_config(
        &dir,
        "http://127.0.0.1:9/",
        "\toption compression 'gzip'\n",
        "",
    );
    let mut cwmp = std::fs::read_to_string(dir.join("cwmp")).expect("cwmp");
    cwmp.push_str(
        "\nconfig cwmp 'stun'\n\toption enable '1'\n\toption server_address '127.0.0.1'\n",
    );
    std::fs::write(dir.join("cwmp"), cwmp).expect("cwmp");
    std::fs::write(
        dir.join("twamp"),
        "config twamp_reflector\n\toption enable '0'\n",
    )
    .expect("twamp");
    std::fs::write(
        dir.join("udpechoserver"),
        "config udpechoserver 'udpechoserver'\n\toption enable '0'\n",
    )
    .expect("udpechoserver");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(Duration::from_secs(20), || daemon
            .log()
            .contains("Waiting the next session")),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    for (built_in, line) in [
        (cfg!(feature = "stun"), "STUN is not in this build"),
        (cfg!(feature = "twamp"), "TWAMP is not in this build"),
        (
            cfg!(feature = "udpecho"),
            "UDP echo server is not in this build",
        ),
        (
            cfg!(feature = "compression"),
            "HTTP compression is not in this build",
        ),
    ] {
        let count = log.matches(line).count();
        assert_eq!(count, usize::from(!built_in), "{line}: {log}");
    }
    daemon.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
