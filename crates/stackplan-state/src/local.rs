//! The local backend: `.stackplan/<stack>.state.json`, replaced atomically
//! (temp file in the same directory, fsync, rename, fsync of the
//! directory) and guarded by an OS file lock on `<state>.lock`, held from
//! `lock` to `unlock` (or to the process's end: the OS releases a dead
//! holder's lock, so a local lock is never stale).
//!
//! Both files and the `.stackplan` directory are the owner's only (0600,
//! 0700; see `private_file`). The lock file is opened without following a
//! symlink and must be a regular file, so a link planted at its path
//! cannot make stackplan truncate or write the file it points to.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use stackplan_core::{BoxFuture, LockInfo, StateDocument, StateError, StateStore};

use crate::private_file::{PRIVATE_FILE_MODE, create_private_dir_all, write_private_file};

/// The state of one stack in a local file.
#[derive(Debug)]
pub struct LocalStateStore {
    path: PathBuf,
    lock_path: PathBuf,
    held: Mutex<Option<File>>,
    /// (lineage, serial) of the document last read or written; `Some(None)`
    /// when it was absent, `None` before the first read.
    seen: Mutex<Option<Option<(String, u64)>>>,
}

impl LocalStateStore {
    /// The state of `stack` under `root/.stackplan/`.
    pub fn for_stack(root: &Path, stack: &str) -> Self {
        Self::at(root.join(".stackplan").join(format!("{stack}.state.json")))
    }

    /// The state at exactly `path`.
    pub fn at(path: PathBuf) -> Self {
        let mut lock = path.clone().into_os_string();
        lock.push(".lock");
        LocalStateStore {
            lock_path: PathBuf::from(lock),
            path,
            held: Mutex::new(None),
            seen: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn held(&self) -> MutexGuard<'_, Option<File>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn io(&self, action: &str, source: std::io::Error) -> StateError {
        StateError::Io {
            location: self.location(),
            action: action.to_string(),
            source,
        }
    }

    fn seen(&self) -> MutexGuard<'_, Option<Option<(String, u64)>>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn load(&self) -> Result<Option<StateDocument>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => StateDocument::from_bytes(&bytes).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", e)),
        }
    }

    fn read_now(&self) -> Result<Option<StateDocument>, StateError> {
        let doc = self.load()?;
        *self.seen() = Some(doc.as_ref().map(|d| (d.lineage.clone(), d.serial)));
        Ok(doc)
    }

    fn write_now(&self, doc: &StateDocument) -> Result<u64, StateError> {
        if self.held().is_none() {
            return Err(StateError::NotLocked {
                location: self.location(),
            });
        }
        let current = self.load()?;
        let now = current.as_ref().map(|d| (d.lineage.clone(), d.serial));
        if let Some(seen) = self.seen().clone()
            && seen != now
        {
            // Written by someone who did not take the lock (or took it after
            // a forced unlock) since this store read it.
            return Err(StateError::Conflict {
                location: self.location(),
                detail: format!(
                    "its serial is {} but was {} when read",
                    now.map(|n| n.1.to_string())
                        .unwrap_or_else(|| "absent".into()),
                    seen.map(|n| n.1.to_string())
                        .unwrap_or_else(|| "absent".into()),
                ),
            });
        }
        if let Some(cur) = &current
            && cur.lineage != doc.lineage
        {
            return Err(StateError::LineageMismatch {
                expected: cur.lineage.clone(),
                found: doc.lineage.clone(),
            });
        }
        let serial = current.map(|c| c.serial).unwrap_or(0).max(doc.serial) + 1;
        let mut stored = doc.clone();
        stored.serial = serial;
        let bytes = stored.to_bytes();

        self.create_dir()?;
        write_private_file(&self.path, &bytes).map_err(|e| self.io("writing", e))?;
        *self.seen() = Some(Some((doc.lineage.clone(), serial)));
        Ok(serial)
    }

    /// Whether anything is at the lock path, a dangling symlink included
    /// (`Path::exists` follows it and says no; opening it must refuse).
    fn lock_exists(&self) -> bool {
        fs::symlink_metadata(&self.lock_path).is_ok()
    }

    fn create_dir(&self) -> Result<(), StateError> {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                create_private_dir_all(dir).map_err(|e| self.io("creating its directory", e))
            }
            _ => Ok(()),
        }
    }

    fn unsafe_lock_file(&self, found: &str) -> StateError {
        StateError::UnsafeLockFile {
            path: self.lock_path.display().to_string(),
            found: found.to_string(),
        }
    }

    /// Opens (or creates, 0600) the lock file: never through a symlink,
    /// never truncating on open, and only if it is a regular file.
    fn open_lock_file(&self) -> Result<File, StateError> {
        self.create_dir()?;
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE_MODE)
            // O_NOFOLLOW: a symlink at the lock path fails the open (ELOOP)
            // instead of being followed to a file stackplan would then
            // truncate and overwrite. O_NONBLOCK: a FIFO planted there
            // opens at once instead of hanging until a writer appears; it
            // changes nothing for a regular file.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&self.lock_path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(self.unsafe_lock_file("a symbolic link"));
            }
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                return Err(self.unsafe_lock_file("a directory"));
            }
            Err(e) => return Err(self.io("opening the lock file", e)),
        };
        // Judged on what was opened, not on the path, so nothing can be
        // swapped in between the check and the use.
        let meta = file
            .metadata()
            .map_err(|e| self.io("inspecting the lock file", e))?;
        let kind = meta.file_type();
        if !kind.is_file() {
            use std::os::unix::fs::FileTypeExt;
            let found = if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else {
                "a special file"
            };
            return Err(self.unsafe_lock_file(found));
        }
        // A second name for the same inode would let the lock record
        // overwrite a file that lives elsewhere.
        if meta.nlink() > 1 {
            return Err(self.unsafe_lock_file("a hard link to another file"));
        }
        // A lock file left by an older stackplan may be world-readable;
        // tightening it through the open descriptor (fchmod) races with
        // nothing. Not ours to change if another user owns it.
        if meta.mode() & 0o077 != 0 {
            let _ = file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE_MODE));
        }
        Ok(file)
    }

    fn recorded_holder(file: &mut File) -> Option<LockInfo> {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn lock_now(&self, info: &LockInfo) -> Result<(), StateError> {
        let mut held = self.held();
        if held.is_some() {
            return Ok(());
        }
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(match Self::recorded_holder(&mut file) {
                    Some(holder) => StateError::Locked {
                        location: self.location(),
                        holder: Box::new(holder),
                    },
                    None => StateError::LockedUnknown {
                        location: self.location(),
                    },
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(self.io("locking", e)),
        }
        let record = serde_json::to_vec_pretty(info).expect("lock info serializes");
        let written = (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&record)?;
            file.sync_all()
        })();
        written.map_err(|e| self.io("recording the lock holder", e))?;
        *held = Some(file);
        Ok(())
    }

    fn unlock_now(&self) -> Result<(), StateError> {
        let Some(file) = self.held().take() else {
            return Ok(());
        };
        // The file stays: unlinking a lock file lets two processes lock two
        // different inodes under the same name.
        file.set_len(0)
            .map_err(|e| self.io("clearing the lock", e))?;
        file.unlock().map_err(|e| self.io("unlocking", e))
    }

    fn holder_now(&self) -> Result<Option<LockInfo>, StateError> {
        if !self.lock_exists() {
            return Ok(None);
        }
        let mut file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                file.unlock().map_err(|e| self.io("unlocking", e))?;
                Ok(None)
            }
            Err(fs::TryLockError::WouldBlock) => Ok(Some(
                Self::recorded_holder(&mut file).unwrap_or_else(|| LockInfo {
                    id: "unknown".into(),
                    operation: "unknown".into(),
                    who: "another process".into(),
                    pid: 0,
                    created: "unknown".into(),
                    heartbeat: None,
                }),
            )),
            Err(fs::TryLockError::Error(e)) => Err(self.io("probing the lock", e)),
        }
    }

    fn force_unlock_now(&self) -> Result<Option<LockInfo>, StateError> {
        // An OS lock cannot be taken from a live process, and a dead one's
        // is already gone: report a live holder, clear a leftover record.
        if let Some(holder) = self.holder_now()? {
            return Err(StateError::Locked {
                location: format!(
                    "{} (an OS lock held by a running process: stop it instead)",
                    self.location()
                ),
                holder: Box::new(holder),
            });
        }
        if !self.lock_exists() {
            return Ok(None);
        }
        let mut file = self.open_lock_file()?;
        let leftover = Self::recorded_holder(&mut file);
        file.set_len(0)
            .map_err(|e| self.io("clearing the lock", e))?;
        Ok(leftover)
    }
}

impl StateStore for LocalStateStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn read(&self) -> BoxFuture<'_, Result<Option<StateDocument>, StateError>> {
        let r = self.read_now();
        Box::pin(async move { r })
    }

    fn write<'a>(&'a self, doc: &'a StateDocument) -> BoxFuture<'a, Result<u64, StateError>> {
        let r = self.write_now(doc);
        Box::pin(async move { r })
    }

    fn lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<(), StateError>> {
        let r = self.lock_now(info);
        Box::pin(async move { r })
    }

    fn unlock(&self) -> BoxFuture<'_, Result<(), StateError>> {
        let r = self.unlock_now();
        Box::pin(async move { r })
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        let r = self.holder_now();
        Box::pin(async move { r })
    }

    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        let r = self.force_unlock_now();
        Box::pin(async move { r })
    }
}
