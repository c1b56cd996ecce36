//! Atomic file replacement and the state directory's hygiene: the one way the daemon persists anything.
//!
//! State files hold credentials (transfer passwords, the rewritten UCI
//! `cwmp` with both passwords), so a new file is created 0600, a replaced
//! file keeps the mode it had, directories this module creates are 0700, and
//! the temporary files a crash leaves behind are removed at the next start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a file this module creates (owner read/write only).
pub const FILE_MODE: u32 = 0o600;
/// The mode of a directory this module creates, and of the state directory.
pub const DIR_MODE: u32 = 0o700;

/// The largest state or configuration file read; a bigger one is not ours.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a state or configuration file whole. Only a regular file is read:
/// a FIFO or device put in its place is refused at once (opening is
/// non-blocking, so a FIFO without writer cannot hang the start), and so is
/// a file over [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_file`] for a text file (UTF-8).
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates (or truncates) a file only its owner can read (0600).
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Replaces `path` with `contents` so that a crash at any point leaves either
/// the old file or the new one, never a mix: write a temporary file beside it,
/// fsync it, rename it over the target, then fsync the directory. The new
/// file keeps the permission bits of the one it replaces; a file that did not
/// exist is created 0600.
pub fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let mode = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => FILE_MODE,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}{TMP_SUFFIX}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        // The temporary file is private from its first byte; the umask cannot widen it.
        let mut file = create_private_file(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename is durable only once the directory entry is on disk.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// How [`atomic_write`] names its temporary files: `<name>.<pid>.tmp`.
const TMP_SUFFIX: &str = ".tmp";

/// Whether `name` is a temporary file of [`atomic_write`] (`<name>.<pid>.tmp`)
/// whose writer is gone (`alive` says whether a process id still runs).
fn is_orphan_tmp(name: &str, alive: impl Fn(u32) -> bool) -> bool {
    let Some(stem) = name.strip_suffix(TMP_SUFFIX) else {
        return false;
    };
    let Some((base, pid)) = stem.rsplit_once('.') else {
        return false;
    };
    match pid.parse::<u32>() {
        Ok(pid) => !base.is_empty() && pid != std::process::id() && !alive(pid),
        Err(_) => false,
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporary files that writers killed mid-write left in `dir`
/// (and, with `subdirs`, in its subdirectories one level down): they may hold
/// credentials, and nothing reads them. Returns the paths removed.
pub fn remove_orphan_tmp_files(dir: &Path, subdirs: bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if subdirs && depth == 0 {
                    dirs.push((path, depth + 1));
                }
            } else if kind.is_file()
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| is_orphan_tmp(name, process_alive))
                && fs::remove_file(&path).is_ok()
            {
                removed.push(path);
            }
        }
    }
    removed
}

/// Makes `dir` the private state directory: created 0700, or narrowed to 0700
/// if it was wider (an older version created it 0755).
pub fn secure_state_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o7777;
    if mode != DIR_MODE {
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Moves a file that could not be parsed out of the way (`name.corrupt`) so
/// that it is kept for inspection instead of being silently overwritten.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let mut aside = path.as_os_str().to_os_string();
    aside.push(".corrupt");
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside)?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_sets_aside() {
        let dir = std::env::temp_dir().join(format!("icwmp-fsutil-{}", std::process::id()));
        let file = dir.join("sub").join("state");
        atomic_write(&file, b"one").expect("first write");
        atomic_write(&file, b"two").expect("second write");
        assert_eq!(fs::read(&file).expect("read"), b"two");
        let aside = set_aside(&file).expect("set aside");
        assert!(!file.exists());
        assert_eq!(fs::read(&aside).expect("read aside"), b"two");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    #[test]
    fn new_files_are_private_and_replaced_files_keep_their_mode() {
        let dir = std::env::temp_dir().join(format!("icwmp-fsutil-mode-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let file = dir.join("state").join("transfers");
        atomic_write(&file, b"password").expect("write");
        assert_eq!(mode_of(&file), 0o600);
        assert_eq!(mode_of(&dir.join("state")), 0o700);
        let config = dir.join("cwmp");
        fs::write(&config, b"old").expect("write config");
        for mode in [0o600, 0o640] {
            fs::set_permissions(&config, fs::Permissions::from_mode(mode)).expect("chmod");
            atomic_write(&config, b"new").expect("rewrite");
            assert_eq!(mode_of(&config), mode);
        }
        fs::set_permissions(dir.join("state"), fs::Permissions::from_mode(0o755)).expect("chmod");
        secure_state_dir(&dir.join("state")).expect("secure");
        assert_eq!(mode_of(&dir.join("state")), 0o700);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("icwmp-fsutil-read-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("events");
        fs::write(&file, b"text").expect("write");
        assert_eq!(read_text(&file).expect("read"), "text");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        // Without a writer, a blocking open would never return.
        let err = read_file(&fifo).expect_err("a FIFO is refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(read_file(&dir).is_err(), "a directory is refused");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn orphan_temporary_files_are_recognised() {
        let dead = |_| false;
        assert!(is_orphan_tmp("transfers.1234.tmp", dead));
        assert!(is_orphan_tmp("cwmp.7.tmp", dead));
        assert!(
            !is_orphan_tmp("transfers.1234.tmp", |_| true),
            "its writer runs"
        );
        let own = format!("events.{}.tmp", std::process::id());
        assert!(!is_orphan_tmp(&own, dead));
        for name in ["events", "x.tmp", ".5.tmp", "a.b.tmp", "a.5.tmp.corrupt"] {
            assert!(!is_orphan_tmp(name, dead), "{name}");
        }
    }

    #[test]
    fn orphan_temporary_files_are_removed() {
        let dir = std::env::temp_dir().join(format!("icwmp-fsutil-tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("requests")).expect("dirs");
        // A pid above the kernel's maximum (2^22) never runs.
        let orphans = [
            dir.join("transfers.9999999.tmp"),
            dir.join("requests/r1.9999998.tmp"),
        ];
        for path in &orphans {
            fs::write(path, b"secret").expect("orphan");
        }
        fs::write(dir.join("events"), b"kept").expect("state");
        assert_eq!(
            remove_orphan_tmp_files(&dir, false),
            [dir.join("transfers.9999999.tmp")]
        );
        fs::write(&orphans[0], b"secret").expect("orphan again");
        let mut removed = remove_orphan_tmp_files(&dir, true);
        removed.sort();
        let mut expected = orphans.to_vec();
        expected.sort();
        assert_eq!(removed, expected);
        assert!(dir.join("events").exists());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
