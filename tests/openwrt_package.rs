//! The OpenWrt package: the `.ipk` of `tools/ipk.sh` unpacked into a fake root (layout, modes, conffiles, control), its init script run through stubs of OpenWrt's `/etc/rc.common` and `procd.sh` that record the procd calls, and `openwrt/Makefile` finding its source in place and when copied.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icwmp-pkg-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The tools a test needs, or a note saying which are missing.
fn have_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("{test}: skipped, missing {}", missing.join(", "));
    }
    missing.is_empty()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The .ipk of the test build of icwmpd (stripped, so that packing it is
/// quick), built once for all tests.
fn ipk() -> &'static Path {
    static IPK: OnceLock<PathBuf> = OnceLock::new();
    IPK.get_or_init(|| {
        let dir = scratch("ipk");
        let bin = dir.join("icwmpd");
        fs::copy(env!("CARGO_BIN_EXE_icwmpd"), &bin).expect("copy icwmpd");
        let _ = Command::new("strip").arg(&bin).status();
        let ipk = dir.join("icwmp-rs_x86_64.ipk");
        run(Command::new("sh")
            .arg(project().join("tools/ipk.sh"))
            .arg(&bin)
            .arg("x86_64")
            .arg(&ipk));
        ipk
    })
}

/// Unpacks the .ipk under `dir`: the outer members into `dir/ipk`, data
/// into `dir/root`, control into `dir/control`.
fn build_and_unpack(dir: &Path) {
    let ipk = ipk();
    let outer = dir.join("ipk");
    fs::create_dir_all(&outer).expect("ipk dir");
    let members = text(&run(Command::new("tar").arg("-tzf").arg(ipk)));
    assert_eq!(
        members.lines().collect::<Vec<_>>(),
        ["./debian-binary", "./data.tar.gz", "./control.tar.gz"],
        "the members of an ipk, in ipkg-build's order"
    );
    run(Command::new("tar")
        .arg("-xzf")
        .arg(ipk)
        .arg("-C")
        .arg(&outer));
    for (name, into) in [("data.tar.gz", "root"), ("control.tar.gz", "control")] {
        let listing = text(&run(Command::new("tar")
            .arg("-tvzf")
            .arg(outer.join(name))
            .arg("--numeric-owner")));
        for line in listing.lines() {
            assert!(line.contains(" 0/0 "), "{name}: not owned by root: {line}");
        }
        fs::create_dir_all(dir.join(into)).expect("unpack dir");
        run(Command::new("tar")
            .arg("-xzpf")
            .arg(outer.join(name))
            .arg("-C")
            .arg(dir.join(into)));
    }
}

#[test]
fn ipk_has_the_layout_modes_conffiles_and_control_of_the_package() {
    if !have_tools("ipk", &["tar", "gzip", "install", "sed", "paste"]) {
        return;
    }
    let dir = scratch("layout");
    build_and_unpack(&dir);
    let outer = dir.join("ipk");
    assert_eq!(
        fs::read_to_string(outer.join("debian-binary")).expect("debian-binary"),
        "2.0\n"
    );

    let root = dir.join("root");
    for (path, want) in [
        ("usr/sbin/icwmpd", 0o755),
        ("usr/sbin/icwmp", 0o755),
        ("etc/init.d/icwmpd", 0o755),
        ("etc/udhcpc.user.d/icwmp-dhcp-acs", 0o755),
        ("etc/config/cwmp", 0o600),
        ("etc/icwmp/uci-map", 0o644),
        ("etc/icwmpd", 0o755),
    ] {
        assert_eq!(mode(&root.join(path)), want, "mode of /{path}");
    }
    assert_eq!(
        fs::read(root.join("etc/config/cwmp")).expect("cwmp"),
        fs::read(project().join("files/etc/config/cwmp")).expect("files cwmp"),
    );
    let version = text(&run(
        Command::new(root.join("usr/sbin/icwmpd")).arg("--version")
    ));
    assert!(version.starts_with("icwmpd version "), "{version}");

    let control = dir.join("control");
    let conffiles = fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        ["/etc/config/cwmp", "/etc/icwmp/uci-map", "/etc/icwmpd/"]
    );
    for conffile in conffiles.lines() {
        assert!(
            root.join(conffile.trim_start_matches('/')).exists(),
            "conffile {conffile} is not in data.tar.gz"
        );
    }
    let fields = fs::read_to_string(control.join("control")).expect("control");
    for want in [
        "Package: icwmp-rs\n",
        "Version: 0.1.0-1\n",
        "Depends: ubusd\n",
        "Conflicts: icwmp\n",
        "Provides: icwmp\n",
        "Architecture: x86_64\n",
        "License: GPL-2.0-only\n",
    ] {
        assert!(fields.contains(want), "control lacks {want:?}:\n{fields}");
    }
    assert!(fields.contains("\nDescription: TR-069/CWMP client"));
    assert_eq!(mode(&control.join("postinst")), 0o755);
    assert_eq!(mode(&control.join("prerm")), 0o755);
    let _ = fs::remove_dir_all(&dir);
}

/// OpenWrt's /etc/rc.common reduced to what a procd service uses: it sources
/// procd.sh and the init script, then runs the action as rc.common does.
const RC_COMMON: &str = r#"#!/bin/sh
initscript=$1
action=$2
name=$(basename "$initscript")
. "$IPKG_INSTROOT/lib/functions/procd.sh"
. "$initscript"
[ "$USE_PROCD" = 1 ] || { echo "rc.common stub: $name is not a procd service" >&2; exit 1; }
start() {
	procd_open_service "$name"
	start_service
	if type service_triggers >/dev/null 2>&1; then
		procd_open_trigger
		service_triggers
		procd_close_trigger
	fi
	procd_close_service
}
case "$action" in
start) start ;;
stop) procd_kill "$name" ;;
restart) procd_kill "$name"; start ;;
reload)
	if type reload_service >/dev/null 2>&1; then reload_service; else start; fi ;;
enable)
	mkdir -p "$IPKG_INSTROOT/etc/rc.d"
	ln -sf "../init.d/$name" "$IPKG_INSTROOT/etc/rc.d/S$START$name"
	ln -sf "../init.d/$name" "$IPKG_INSTROOT/etc/rc.d/K$STOP$name" ;;
disable) rm -f "$IPKG_INSTROOT/etc/rc.d/S"*"$name" "$IPKG_INSTROOT/etc/rc.d/K"*"$name" ;;
*) echo "rc.common stub: unknown action $action" >&2; exit 1 ;;
esac
"#;

/// procd.sh's functions, each recording its call in $IPKG_INSTROOT/procd.log.
const PROCD_SH: &str = r#"record() { echo "$*" >> "$IPKG_INSTROOT/procd.log"; }
procd_open_service() { record procd_open_service "$@"; }
procd_close_service() { record procd_close_service "$@"; }
procd_open_instance() { record procd_open_instance "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_open_trigger() { record procd_open_trigger "$@"; }
procd_close_trigger() { record procd_close_trigger "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
procd_send_signal() { record procd_send_signal "$@"; }
procd_kill() { record procd_kill "$@"; }
"#;

/// The ubus CLI: records the call, and answers as $UBUS_EXIT says.
const UBUS: &str = r#"#!/bin/sh
echo "ubus $*" >> "$IPKG_INSTROOT/procd.log"
exit "${UBUS_EXIT:-0}"
"#;

fn write_exec(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    fs::write(path, body).expect("write stub");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs `/etc/init.d/icwmpd <action>` of the fake root and returns the calls it made.
fn init_script(root: &Path, action: &str, ubus_exit: &str) -> Vec<String> {
    let log = root.join("procd.log");
    let _ = fs::remove_file(&log);
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("sh")
        .arg(root.join("etc/rc.common"))
        .arg(root.join("etc/init.d/icwmpd"))
        .arg(action)
        .env("IPKG_INSTROOT", root)
        .env("UBUS_EXIT", ubus_exit)
        .env("PATH", path));
    fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn init_script_starts_reloads_and_stops_through_procd() {
    if !have_tools("init script", &["tar", "gzip", "install", "sed", "paste"]) {
        return;
    }
    let dir = scratch("procd");
    build_and_unpack(&dir);
    let root = dir.join("root");
    write_exec(&root.join("etc/rc.common"), RC_COMMON);
    write_exec(&root.join("lib/functions/procd.sh"), PROCD_SH);
    write_exec(&root.join("bin/ubus"), UBUS);

    // postinst into an image root: enable (rc.d links), no start.
    run(Command::new("sh")
        .arg(dir.join("control/postinst"))
        .env("IPKG_INSTROOT", &root));
    // START=99: after ubusd (procd starts it before rc.d) and network (S20).
    for link in ["etc/rc.d/S99icwmpd", "etc/rc.d/K10icwmpd"] {
        let target = fs::read_link(root.join(link)).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(target, Path::new("../init.d/icwmpd"));
    }
    assert!(
        !root.join("procd.log").exists(),
        "postinst started the service in an image root"
    );

    let started = init_script(&root, "start", "0");
    assert_eq!(
        started,
        [
            "procd_open_service icwmpd",
            "procd_open_instance icwmpd",
            "procd_set_param command /usr/sbin/icwmpd",
            "procd_set_param respawn 3600 5 0",
            "procd_set_param stdout 1",
            "procd_set_param stderr 1",
            "procd_close_instance",
            "procd_open_trigger",
            "procd_add_reload_trigger cwmp",
            "procd_close_trigger",
            "procd_close_service",
        ]
    );
    // The command procd runs is the binary the package installed.
    assert_eq!(mode(&root.join("usr/sbin/icwmpd")), 0o755);

    assert_eq!(
        init_script(&root, "reload", "0"),
        [r#"ubus call tr069 command {"command":"reload"}"#]
    );
    assert_eq!(
        init_script(&root, "reload", "1"),
        [
            r#"ubus call tr069 command {"command":"reload"}"#,
            "procd_send_signal icwmpd icwmpd HUP"
        ],
        "without the tr069 object, reload falls back to SIGHUP"
    );
    assert_eq!(init_script(&root, "stop", "0"), ["procd_kill icwmpd"]);

    // prerm in an image root: disable, no stop.
    run(Command::new("sh")
        .arg(dir.join("control/prerm"))
        .env("IPKG_INSTROOT", &root));
    assert!(!root.join("etc/rc.d/S99icwmpd").exists());
    assert!(!root.join("etc/rc.d/K10icwmpd").exists());
    let _ = fs::remove_dir_all(&dir);
}

/// An empty stand-in of an OpenWrt buildroot under `dir`: the files
/// openwrt/Makefile includes, empty.
fn stub_buildroot(dir: &Path) -> PathBuf {
    let topdir = dir.join("buildroot");
    for stub in [
        "rules.mk",
        "include/package.mk",
        "feeds/packages/lang/rust/rust-package.mk",
    ] {
        let path = topdir.join(stub);
        fs::create_dir_all(path.parent().expect("parent")).expect("stub dir");
        fs::write(&path, "").expect("stub");
    }
    topdir
}

/// `make` of the Makefile in `package_dir` against the stub buildroot
/// `topdir`, with `args`, printing `expression`.
fn makefile_print(package_dir: &Path, topdir: &Path, args: &[String], expression: &str) -> Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(package_dir)
        .arg(format!("TOPDIR={}", topdir.display()))
        .arg(format!("INCLUDE_DIR={}/include", topdir.display()))
        .args(args)
        .arg(format!("--eval=print: ; @echo {expression}"))
        .arg("print")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("run make")
}

/// Where openwrt/Makefile in `package_dir` takes the source from.
fn makefile_source(package_dir: &Path, topdir: &Path) -> Output {
    makefile_print(package_dir, topdir, &[], "$(ICWMP_RS_SRC)")
}

#[test]
fn openwrt_makefile_finds_its_source_in_place_and_when_copied() {
    if !have_tools("openwrt makefile", &["make"]) {
        return;
    }
    let dir = scratch("makefile");
    let topdir = stub_buildroot(&dir);

    let in_place = makefile_source(&project().join("openwrt"), &topdir);
    assert!(in_place.status.success(), "{in_place:?}");
    assert_eq!(
        text(&in_place).trim(),
        project()
            .canonicalize()
            .expect("project")
            .display()
            .to_string()
    );

    // Copied alone into package/: its parent is the buildroot's package/, not a source tree.
    let bare = topdir.join("package/icwmp-rs");
    fs::create_dir_all(&bare).expect("package dir");
    fs::copy(project().join("openwrt/Makefile"), bare.join("Makefile")).expect("copy");
    let refused = makefile_source(&bare, &topdir);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no source"),
        "{refused:?}"
    );

    // The folder `make openwrt-package` writes, copied into a feed.
    let packed = topdir.join("feeds/cwmp/net/icwmp-rs");
    run(Command::new("sh")
        .arg(project().join("tools/openwrt-package.sh"))
        .arg(&packed));
    let found = makefile_source(&packed, &topdir);
    assert!(found.status.success(), "{found:?}");
    assert_eq!(
        text(&found).trim(),
        packed.join("src").display().to_string()
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "benches",
        "files/etc/init.d/icwmpd",
    ] {
        assert!(
            packed.join("src").join(file).exists(),
            "packed source lacks {file}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

/// `make` of openwrt/Makefile (in place, stub buildroot) printing
/// RUST_PKG_FEATURES with the given package configuration.
fn makefile_features(topdir: &Path, config: &[&str]) -> String {
    let config: Vec<String> = config.iter().map(|c| format!("{c}=y")).collect();
    let output = makefile_print(
        &project().join("openwrt"),
        topdir,
        &config,
        "'$(RUST_PKG_FEATURES)|$(PKG_CONFIG_DEPENDS)'",
    );
    assert!(output.status.success(), "{output:?}");
    text(&output).trim().to_owned()
}

#[test]
fn openwrt_makefile_builds_the_services_the_package_config_chooses() {
    if !have_tools("openwrt makefile", &["make"]) {
        return;
    }
    let dir = scratch("makefile-features");
    let topdir = stub_buildroot(&dir);
    // Every default feature of Cargo.toml has its config option, in the same order.
    let cargo = fs::read_to_string(project().join("Cargo.toml")).expect("Cargo.toml");
    let defaults: Vec<&str> = cargo
        .lines()
        .find_map(|l| l.strip_prefix("default = ["))
        .expect("default features")
        .trim_end_matches(']')
        .split(',')
        .map(|f| f.trim().trim_matches('"'))
        .collect();
    let configs: Vec<String> = defaults
        .iter()
        .map(|f| format!("CONFIG_ICWMP_RS_{}", f.to_uppercase()))
        .collect();
    let all: Vec<&str> = configs.iter().map(String::as_str).collect();
    assert_eq!(
        makefile_features(&topdir, &all),
        format!("{}|{}", defaults.join(" "), configs.join(" "))
    );
    let (features, _) = makefile_features(
        &topdir,
        &["CONFIG_ICWMP_RS_STUN", "CONFIG_ICWMP_RS_BULKDATA"],
    )
    .split_once('|')
    .map(|(f, d)| (f.to_owned(), d.to_owned()))
    .expect("two fields");
    assert_eq!(features, "stun bulkdata");
    // None chosen: the minimal set (the Makefile adds --no-default-features).
    assert!(makefile_features(&topdir, &[]).starts_with('|'));
    let makefile = fs::read_to_string(project().join("openwrt/Makefile")).expect("Makefile");
    assert!(makefile.contains("Build/Compile=$(call Build/Compile/Cargo,,--no-default-features)"));
    let _ = fs::remove_dir_all(&dir);
}
