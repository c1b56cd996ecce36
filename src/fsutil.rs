//! Atomic file replacement: the one way the daemon persists anything.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` so that a crash at any point leaves either
/// the old file or the new one, never a mix: write a temporary file beside it,
/// fsync it, rename it over the target, then fsync the directory.
pub fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
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
}
