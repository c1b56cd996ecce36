//! The command-line tools of `icwmpd` besides the daemon: the data model CLI (`-m`, `-c`, `-f`) and the WEP key generator (`-w`).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Instant;

use crate::config::backends::CwmpStore;
use crate::config::ConfigFile;
use crate::datamodel::cli::{run_command, split_words, CliError, CliOptions, COMMANDS};
use crate::datamodel::setup;
use crate::store::{names, Store};
use crate::wire::md5::md5;

/// Where the data model commands come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commands {
    /// One command from the command line (`-m`).
    Single(Vec<String>),
    /// One command per line on standard input (`-c`).
    Stdin,
    /// One command per line in a file (`-f`).
    File(String),
}

/// How the data model CLI runs.
#[derive(Clone, Debug)]
pub struct DmCli {
    pub commands: Commands,
    pub options: CliOptions,
    /// `-t`: print the time each command took (on standard error).
    pub time_tracking: bool,
    /// `-E`: echo each command before its output, and a pass/fail count at the end.
    pub evaluating: bool,
}

/// Runs the data model CLI against the configuration in `config_file`;
/// returns the process exit code (0 when no command faulted).
pub fn run_data_model_cli(
    config_file: &ConfigFile,
    cli: &DmCli,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let config = config_file
        .load()
        .map_err(|e| format!("configuration: {e}"))?;
    let store = Store::open(&config.cpe.state_dir).map_err(|e| format!("state directory: {e}"))?;
    let cwmp_store = Rc::new(RefCell::new(CwmpStore::new(config_file.clone())));
    let uci_dir = config_file
        .path
        .parent()
        .unwrap_or(std::path::Path::new("/etc/config"));
    let mut options = cli.options;
    if cli.options.engine == crate::datamodel::engine::Options::default() {
        options.engine.instance_mode = setup::options_of(&config).instance_mode;
    }
    // Run-time figures (Status, counters) belong to the daemon; this process shows its configuration.
    let (mut dm, _) = setup::open(
        &config,
        options.engine,
        &store.path(names::DATAMODEL),
        cwmp_store,
        uci_dir,
    )?;
    let lines: Vec<Vec<String>> = match &cli.commands {
        Commands::Single(words) => vec![words.clone()],
        Commands::Stdin => {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("standard input: {e}"))?;
            script_lines(&text)?
        }
        Commands::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            script_lines(&text)?
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for words in &lines {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        if cli.evaluating {
            writeln!(out, "> {}", words.join(" ")).map_err(|e| e.to_string())?;
        }
        let started = Instant::now();
        let ok = match run_command(&mut dm, &options, &args, out) {
            Ok(ok) => ok,
            Err(CliError::Usage(text)) => {
                eprintln!("icwmpd: {text}");
                false
            }
            // A closed pipe (`| head`) is the reader's choice, not an error.
            Err(CliError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Ok(i32::from(failed > 0))
            }
            Err(CliError::Io(e)) => return Err(e.to_string()),
        };
        if cli.time_tracking {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            eprintln!("time: {} took {ms:.3} ms", args.first().unwrap_or(&""));
        }
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if cli.evaluating {
        writeln!(out, "{passed} passed, {failed} failed").map_err(|e| e.to_string())?;
    }
    Ok(i32::from(failed > 0))
}

/// The commands of a script: non-empty lines that are not `#` comments.
fn script_lines(text: &str) -> Result<Vec<Vec<String>>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| split_words(l).map_err(|e| format!("{e}")))
        .collect()
}

/// The command line as text: every argument must be UTF-8 (parameter paths,
/// values and options are text); the first that is not is named in the error.
pub fn utf8_arguments(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Vec<String>, String> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|bad| {
                format!(
                    "argument {} is not valid UTF-8: {}",
                    i + 1,
                    crate::quoted::Quoted(&bad.to_string_lossy())
                )
            })
        })
        .collect()
}

/// The usage text of the data model commands.
pub fn data_model_usage() -> &'static str {
    COMMANDS
}

/// WEP keys from a passphrase, as router UIs generate them: strength 64
/// gives four 40-bit keys (the Neesus Datacom generator), 128 one 104-bit
/// key (MD5 of the passphrase repeated to 64 bytes). Keys are hex.
pub fn wep_keys(strength: &str, passphrase: &str) -> Result<Vec<String>, String> {
    if passphrase.is_empty() {
        return Err("the passphrase is empty".into());
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>();
    match strength {
        "64" | "40" => {
            let mut seed = [0u8; 4];
            for (i, byte) in passphrase.bytes().enumerate() {
                seed[i % 4] ^= byte;
            }
            let mut state = u32::from_le_bytes(seed);
            let keys = (0..4)
                .map(|_| {
                    let key: Vec<u8> = (0..5)
                        .map(|_| {
                            state = state.wrapping_mul(0x343fd).wrapping_add(0x269ec3);
                            (state >> 16) as u8
                        })
                        .collect();
                    hex(&key)
                })
                .collect();
            Ok(keys)
        }
        "128" | "104" => {
            let repeated: Vec<u8> = passphrase.bytes().cycle().take(64).collect();
            let digest = md5(&repeated);
            Ok(vec![hex(digest.get(..13).unwrap_or(&digest))])
        }
        other => Err(format!("unsupported WEP strength '{other}' (64 or 128)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wep_keys_match_the_common_generators() {
        // Expected values computed independently (Python: hashlib.md5 and the
        // Neesus Datacom generator written out by hand) for passphrase "test".
        let keys = wep_keys("64", "test").expect("64-bit keys");
        assert_eq!(
            keys,
            ["1B9DDA483D", "941E4148D0", "91B3CDF063", "E38D0086C9"]
        );
        let key128 = wep_keys("128", "test").expect("128-bit key");
        assert_eq!(key128, ["9FDF3BFDFB10AFEB0925EF9605"]);
        assert!(wep_keys("256", "test").is_err());
        assert!(wep_keys("64", "").is_err());
    }

    #[test]
    fn non_utf8_arguments_are_named() {
        use std::os::unix::ffi::OsStringExt;
        let good = utf8_arguments(["-m".into(), "get".into()]).expect("text");
        assert_eq!(good, ["-m", "get"]);
        let bad = std::ffi::OsString::from_vec(vec![b'a', 0xff, b'b']);
        let e = utf8_arguments(["-m".into(), bad]).expect_err("refused");
        assert_eq!(e, "argument 2 is not valid UTF-8: \"a\u{fffd}b\"");
    }

    #[test]
    fn scripts_skip_comments_and_blank_lines() {
        let lines = script_lines("# c\n\nget_value Device.Time.\nset_value \"Device.X\" \"a b\"\n")
            .expect("lines");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], ["set_value", "Device.X", "a b"]);
    }
}
