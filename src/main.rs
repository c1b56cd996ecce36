//! `icwmpd`: the CWMP daemon and its command-line tools (data model CLI, WEP key generator).

use std::path::PathBuf;
use std::process::ExitCode;

use icwmp::cli::{run_data_model_cli, wep_keys, Commands, DmCli};
use icwmp::config::ConfigFile;
use icwmp::daemon::{Daemon, DaemonOptions};
use icwmp::datamodel::cli::CliOptions;

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
     --kicked <command> <referer> <arg> <next>       Have the running daemon send Kicked (5 KICKED) to the ACS
     --request-download <FileType> [name=value ...]  Have the running daemon send RequestDownload (9 REQUEST DOWNLOAD)
     --dhcp-option43 <hex>                           Store the ACS settings of DHCP option 43 and have the daemon reload
";

/// The options without a value (short, long name), as in USAGE.
const FLAGS: [(&str, &str); 12] = [
    ("b", "boot-event"),
    ("g", "get-rpc-methods"),
    ("c", "command-input"),
    ("a", "alias-based-addressing"),
    ("N", "instance-mode-number"),
    ("A", "instance-mode-alias"),
    ("U", "upnp"),
    ("t", "time-tracking"),
    ("E", "evaluating-test"),
    ("h", "help"),
    ("v", "version"),
    ("", "kicked"),
];

/// The options taking a value (short, long name, value name), as in USAGE.
const VALUED: [(&str, &str, &str); 8] = [
    ("m", "shell-cli", "RPC"),
    ("M", "amendment", "VERSION"),
    ("u", "user-acl", "ACL"),
    ("f", "file", "PATH"),
    ("w", "wep", "STRENGTH"),
    ("", "config", "DIR"),
    ("", "request-download", "FILETYPE"),
    ("", "dhcp-option43", "HEX"),
];

fn options() -> getopts::Options {
    let mut opts = getopts::Options::new();
    // Everything after the first free word (the data model command, the
    // Kicked arguments) is taken as it is: `set_value Device.X -5` sets -5.
    opts.parsing_style(getopts::ParsingStyle::StopAtFirstFree);
    for (short, long) in FLAGS {
        opts.optflag(short, long, "");
    }
    for (short, long, hint) in VALUED {
        opts.optopt(short, long, "", hint);
    }
    opts
}

fn main() -> ExitCode {
    let args = match icwmp::cli::utf8_arguments(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::from(2);
        }
    };
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
    if let Some(hex) = matches.opt_str("dhcp-option43") {
        return match icwmp::cwmp::cpe_requests::run_dhcp_option43_cli(&config_file, &hex) {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("icwmpd: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cpe_request = if matches.opt_present("kicked") {
        Some(icwmp::cwmp::cpe_requests::kicked_of(&matches.free))
    } else {
        matches.opt_str("request-download").map(|file_type| {
            icwmp::cwmp::cpe_requests::request_download_of(&file_type, &matches.free)
        })
    };
    if let Some(rpc) = cpe_request {
        let queued =
            rpc.and_then(|rpc| icwmp::cwmp::cpe_requests::run_request_cli(&config_file, &rpc));
        return match queued {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("icwmpd: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(strength) = matches.opt_str("w") {
        return generate_wep_keys(&strength, &matches.free);
    }
    if matches.opt_present("U") {
        eprintln!("icwmpd: UPnP data model paths (-U) are not supported by this build");
        return ExitCode::from(2);
    }
    let commands = if let Some(first) = matches.opt_str("m") {
        // `-m 1 get_value Device.Time.`: the command follows the option's value;
        // `-m get_value Device.Time.` is accepted too.
        let mut words = matches.free.clone();
        if first.parse::<u32>().is_err() {
            words.insert(0, first);
        }
        Some(Commands::Single(words))
    } else if matches.opt_present("c") {
        Some(Commands::Stdin)
    } else {
        matches.opt_str("f").map(Commands::File)
    };
    if let Some(commands) = commands {
        return data_model_cli(&config_file, commands, &matches);
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

fn data_model_cli(
    config_file: &ConfigFile,
    commands: Commands,
    matches: &getopts::Matches,
) -> ExitCode {
    if matches!(&commands, Commands::Single(words) if words.is_empty()) {
        eprintln!(
            "icwmpd: -m needs a data model command:\n{}",
            icwmp::cli::data_model_usage()
        );
        return ExitCode::from(2);
    }
    let options = match CliOptions::new(
        matches.opt_present("a"),
        matches.opt_present("A") && !matches.opt_present("N"),
        matches.opt_str("M").as_deref(),
        matches.opt_str("u").as_deref(),
    ) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = DmCli {
        commands,
        options,
        time_tracking: matches.opt_present("t"),
        evaluating: matches.opt_present("E"),
    };
    let stdout = std::io::stdout();
    match run_data_model_cli(config_file, &cli, &mut stdout.lock()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate_wep_keys(strength: &str, free: &[String]) -> ExitCode {
    let Some(passphrase) = free.first() else {
        eprintln!("icwmpd: -w needs <strength> <passphrase>");
        return ExitCode::from(2);
    };
    match wep_keys(strength, passphrase) {
        Ok(keys) => {
            for key in keys {
                println!("{key}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("icwmpd: {e}");
            ExitCode::from(2)
        }
    }
}
