//! Files only their owner can read: state, its lock, saved plans.
//!
//! A state document names every resource a stack owns, its ids, ARNs and
//! endpoints, and a saved plan the same; neither is for other users of the
//! machine. The mode is given to `open(2)` itself, so the file never
//! exists with wider permissions, not even between a create and a chmod.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Read and write for the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Only the owner may list or enter it.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents, each created one 0700. A
/// directory that already exists keeps its mode: it is not ours to change.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

/// Replaces `path` with `bytes` atomically, as a 0600 file: written to a
/// new temp file in the same directory (created 0600 and exclusively, so
/// it neither follows a planted symlink nor reuses anyone's file), synced,
/// renamed over `path`, and the directory synced so the rename survives a
/// crash. A reader sees the old file or the new one, never a mix; the old
/// file's mode does not carry over, whatever it was.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stackplan".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename is durable only once the directory entry is.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` holding `bytes`, as a 0600 file, only if nothing is
/// there: fails with [`io::ErrorKind::AlreadyExists`] otherwise, leaving
/// what is there untouched. As [`write_private_file`], the content is
/// written to a new temp file and synced first, then appears at `path`
/// whole (a hard link, which unlike a rename never replaces a file), and
/// the directory is synced.
pub(crate) fn create_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stackplan".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    result?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_created_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_private_file(&path, b"{}").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
    }

    #[test]
    fn replacing_a_world_readable_file_leaves_an_owner_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&path, b"new").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn a_created_file_is_owner_only_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery.json");
        create_private_file(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        let err = create_private_file(&path, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn created_directories_are_owner_only_and_existing_ones_untouched() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(dir.path()), 0o755);
    }
}
