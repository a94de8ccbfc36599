//! Recovery files: the state a run could not write to its backend, kept
//! on local disk so that no applied change is forgotten.
//!
//! When a backend write fails (the bucket unreachable, credentials
//! expired, the lock taken away), the resources the run just made exist
//! but no state records them. [`write_recovery_file`] saves that state
//! next to the user, owner-only like every state file, and `stackplan
//! state push FILE --stack STACK` later writes it to the backend, under
//! the lock, after checking that it continues the stored state.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use stackplan_core::{StateDocument, StateError};

use crate::private_file::{create_private_dir_all, create_private_file};

/// How many files one lineage and serial may have before giving up; only
/// reached when something keeps writing different documents there.
const MAX_VARIANTS: u32 = 1000;

/// The file name of `doc`'s recovery file (the first, when several
/// documents of one lineage and serial are saved):
/// `stackplan-recovery-<first 8 characters of the lineage>-<serial>.json`.
/// A character of the lineage that could not be in a file name safely
/// (anything but ASCII letters, digits, `-` and `_`) is written as `_`.
pub fn recovery_file_name(doc: &StateDocument) -> String {
    format!(
        "stackplan-recovery-{}-{}.json",
        lineage_prefix(&doc.lineage),
        doc.serial
    )
}

fn lineage_prefix(lineage: &str) -> String {
    lineage
        .chars()
        .take(8)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Saves `doc` in `dir` as a recovery file, for a run whose backend write
/// of `doc` failed, and returns the file's path (for the user: `stackplan
/// state push PATH --stack STACK`).
///
/// `doc` is written as given, its serial in the file's name
/// ([`recovery_file_name`]). Give it the serial the failed
/// [`StateStore::write`] would have stored (the last one stored plus
/// one): `stackplan state push` takes a file only when its serial is
/// greater than the stored one, so the file continues the stored state
/// and anything written to the backend since is detected.
///
/// `dir` and its missing parents are created 0700; the file is created
/// 0600 in one step and synced (the crate's private-file rules), in the
/// canonical state encoding, which holds no secret. A file is never
/// replaced: when the name is taken by the same bytes, that file is the
/// recovery file; by other bytes, the next free
/// `stackplan-recovery-<lineage>-<serial>-<n>.json` (n = 2, 3, ...) is
/// used, so two failed runs never lose each other's state.
///
/// [`StateStore::write`]: stackplan_core::StateStore::write
pub fn write_recovery_file(dir: &Path, doc: &StateDocument) -> Result<PathBuf, StateError> {
    let bytes = doc.to_bytes();
    let io = |path: &Path, action: &str, source: std::io::Error| StateError::Io {
        location: path.display().to_string(),
        action: action.to_string(),
        source,
    };
    create_private_dir_all(dir).map_err(|e| io(dir, "creating the recovery directory", e))?;
    let first = recovery_file_name(doc);
    for n in 1..=MAX_VARIANTS {
        let name = if n == 1 {
            first.clone()
        } else {
            first.replace(".json", &format!("-{n}.json"))
        };
        let path = dir.join(name);
        match create_private_file(&path, &bytes) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Read without following a symlink there: a file planted
                // at the name is passed over, never trusted.
                let same = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
                    && fs::read(&path).is_ok_and(|there| there == bytes);
                if same {
                    return Ok(path);
                }
            }
            Err(e) => return Err(io(&path, "writing the recovery file", e)),
        }
    }
    Err(io(
        &dir.join(first),
        "writing the recovery file",
        std::io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{MAX_VARIANTS} files of this lineage and serial are already there"),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn doc(lineage: &str, serial: u64) -> StateDocument {
        let mut d = StateDocument::new("milvus-demo", lineage);
        d.serial = serial;
        d
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_file_holds_the_document_owner_only_named_after_lineage_and_serial() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("recovery");
        let d = doc("3f2a9c1e-0b7d-4c55-9e2f-1a2b3c4d5e6f", 42);
        let path = write_recovery_file(&nested, &d).unwrap();
        assert_eq!(path, nested.join("stackplan-recovery-3f2a9c1e-42.json"));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&nested), 0o700);
        let back = StateDocument::from_bytes(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn the_same_document_again_is_the_same_file_and_another_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let d = doc("3f2a9c1e-0b7d", 4);
        let first = write_recovery_file(dir.path(), &d).unwrap();
        assert_eq!(write_recovery_file(dir.path(), &d).unwrap(), first);
        let mut other = d.clone();
        other.region = Some("us-west-2".into());
        let second = write_recovery_file(dir.path(), &other).unwrap();
        assert_eq!(
            second,
            dir.path().join("stackplan-recovery-3f2a9c1e-4-2.json")
        );
        // Neither replaced the other.
        let read = |p: &Path| StateDocument::from_bytes(&fs::read(p).unwrap()).unwrap();
        assert_eq!(read(&first).region, None);
        assert_eq!(read(&second).region.as_deref(), Some("us-west-2"));
    }

    #[test]
    fn a_lineage_cannot_steer_the_file_out_of_its_directory() {
        assert_eq!(
            recovery_file_name(&doc("../../etc/passwd", 1)),
            "stackplan-recovery-______et-1.json"
        );
        assert_eq!(
            recovery_file_name(&doc("ab", 7)),
            "stackplan-recovery-ab-7.json"
        );
    }

    #[test]
    fn a_symlink_at_the_name_is_passed_over_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, b"keep").unwrap();
        let d = doc("3f2a9c1e", 1);
        std::os::unix::fs::symlink(&target, dir.path().join(recovery_file_name(&d))).unwrap();
        let path = write_recovery_file(dir.path(), &d).unwrap();
        assert_eq!(
            path,
            dir.path().join("stackplan-recovery-3f2a9c1e-1-2.json")
        );
        assert_eq!(fs::read(&target).unwrap(), b"keep");
    }
}
