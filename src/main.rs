//! `icwmpd`: the CWMP daemon and its command-line tools (data model CLI, WEP key generator).

use std::path::PathBuf;
use std::process::ExitCode;

use icwmp::config::ConfigFile;
use icwmp::daemon::{Daemon, DaemonOptions};

/// The seed's `--help` text, plus `--config`.
const USAGE: &str = "\
Usage: icwmpd [OPTIONS]
 -b, --boot-event                                    (CWMP daemon) Start CWMP with BOOT event
 -g, --get-rpc-methods                               (CWMP daemon) Start CWMP with GetRPCMethods request to ACS
 -c, --command-input                                 (DataModel CLI) Execute data model rpc(s) with commands input
 -m, --shell-cli <data model rpc>                    (DataModel CLI) Execute data model RPC command directly from shell.
 -a, --alias-based-addressing                        (DataModel CLI) Alias based addressing supported
 -N, --instance-mode-number                          (DataModel CLI) Instance mode is Number (Enabled by default)
 -A, --instance-mode-alias                           (DataModel CLI) Instance mode is Alias
 -M, --amendment <amendment version>                 (DataModel CLI) Amendment version (Default amendment version is 2)
 -U, --upnp                                          (DataModel CLI) Use UPNP data model paths
 -u, --user-acl <public|basic|xxxadmin|superadmin>   (DataModel CLI) user access level. Default: superadmin
 -t, --time-tracking                                 (DataModel CLI) Tracking time of RPC commands
 -E, --evaluating-test                               (DataModel CLI) Evaluating test format
 -f, --file <file path>                              (DataModel CLI) Execute data model rpc(s) from file
 -w, --wep <strength> <passphrase>                   (WEP KEY GEN) Generate wep keys
 -h, --help                                          Display this help text
 -v, --version                                       Display the version
     --config <dir>                                  Read <dir>/cwmp instead of /etc/config/cwmp; keep state and log under <dir>
";

fn options() -> getopts::Options {
    let mut opts = getopts::Options::new();
    opts.optflag("b", "boot-event", "")
        .optflag("g", "get-rpc-methods", "")
        .optflag("c", "command-input", "")
        .optopt("m", "shell-cli", "", "RPC")
        .optflag("a", "alias-based-addressing", "")
        .optflag("N", "instance-mode-number", "")
        .optflag("A", "instance-mode-alias", "")
        .optopt("M", "amendment", "", "VERSION")
        .optflag("U", "upnp", "")
        .optopt("u", "user-acl", "", "ACL")
        .optflag("t", "time-tracking", "")
        .optflag("E", "evaluating-test", "")
        .optopt("f", "file", "", "PATH")
        .optopt("w", "wep", "", "STRENGTH")
        .optflag("h", "help", "")
        .optflag("v", "version", "")
        .optopt("", "config", "", "DIR");
    opts
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match options().parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if matches.opt_present("v") {
        println!("icwmpd version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config_dir = matches.opt_str("config").map(PathBuf::from);
    let config_file = ConfigFile::in_dir(config_dir.as_deref());
    if !matches.free.is_empty() {
        eprintln!("icwmpd: unexpected argument '{}'", matches.free.join(" "));
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let options = DaemonOptions {
        boot_event: matches.opt_present("b"),
        get_rpc_methods: matches.opt_present("g"),
    };
    let mut daemon = match Daemon::start(config_file, options) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    match daemon.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("poll loop failed: {e}");
            eprintln!("icwmpd: {e}");
            ExitCode::FAILURE
        }
    }
}
