//! The local backend: atomic writes, serials, the OS lock and its holder,
//! and no secret in any file it writes.

use std::path::Path;

use stackplan_core::{
    LockInfo, ResourceAddr, ResourceKind, ResourceMode, ResourceState, StateDocument, StateError,
    StateStore, Value,
};
use stackplan_state::{LocalStateStore, new_document, new_lock_info};

fn lock_info(op: &str) -> LockInfo {
    LockInfo {
        operation: op.into(),
        who: "ci@runner-7".into(),
        ..new_lock_info(op)
    }
}

fn doc_with_secret(secret: &str) -> StateDocument {
    let mut doc = new_document("demo");
    let mut r = ResourceState::new(
        ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram"),
        ResourceMode::Managed,
    );
    r.attributes
        .insert("password".into(), Value::Sensitive(Box::new(secret.into())));
    r.attributes.insert(
        "nested".into(),
        Value::map([(
            "inner",
            Value::list([Value::Sensitive(Box::new(secret.into()))]),
        )]),
    );
    r.outputs
        .insert("token".into(), Value::Sensitive(Box::new(secret.into())));
    doc.upsert(r);
    doc
}

#[tokio::test]
async fn writing_needs_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    let err = store.write(&new_document("demo")).await.unwrap_err();
    assert!(matches!(err, StateError::NotLocked { .. }), "{err}");
}

#[tokio::test]
async fn every_write_increments_the_serial_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    assert_eq!(store.read().await.unwrap(), None);
    store.lock(&lock_info("apply")).await.unwrap();
    let mut doc = new_document("demo");
    doc.serial = store.write(&doc).await.unwrap();
    assert_eq!(doc.serial, 1);
    doc.serial = store.write(&doc).await.unwrap();
    assert_eq!(doc.serial, 2);
    let back = store.read().await.unwrap().unwrap();
    assert_eq!(back, doc);
    assert_eq!(
        store.path(),
        dir.path().join(".stackplan/demo.state.json").as_path()
    );
    // Only the state and its lock file: no temp file left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join(".stackplan"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["demo.state.json", "demo.state.json.lock"]);
}

#[tokio::test]
async fn second_locker_is_refused_and_told_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalStateStore::for_stack(dir.path(), "demo");
    let second = LocalStateStore::for_stack(dir.path(), "demo");
    first.lock(&lock_info("apply")).await.unwrap();

    let err = second.lock(&lock_info("apply")).await.unwrap_err();
    match &err {
        StateError::Locked { holder, .. } => {
            assert_eq!(holder.who, "ci@runner-7");
            assert_eq!(holder.operation, "apply");
            assert_eq!(holder.pid, std::process::id());
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        second.lock_holder().await.unwrap().map(|h| h.operation),
        Some("apply".to_string())
    );
    // A live OS lock cannot be forced away; it names the holder.
    assert!(matches!(
        second.force_unlock().await.unwrap_err(),
        StateError::Locked { .. }
    ));

    first.unlock().await.unwrap();
    assert_eq!(second.lock_holder().await.unwrap(), None);
    second.lock(&lock_info("destroy")).await.unwrap();
}

#[tokio::test]
async fn a_write_made_behind_the_lock_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    store.lock(&lock_info("apply")).await.unwrap();
    let mut doc = new_document("demo");
    doc.serial = store.write(&doc).await.unwrap();

    // Someone edits the file without the lock.
    let mut theirs = doc.clone();
    theirs.serial = 7;
    std::fs::write(store.path(), theirs.to_bytes()).unwrap();

    let err = store.write(&doc).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "state {} was changed by another writer since it was read (its serial is 7 but was 1 when read)",
            store.path().display()
        )
    );
}

#[tokio::test]
async fn state_of_another_lineage_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    store.lock(&lock_info("apply")).await.unwrap();
    store.write(&new_document("demo")).await.unwrap();
    let err = store.write(&new_document("demo")).await.unwrap_err();
    assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
}

fn grep_tree(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(grep_tree(&path, needle));
        } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(needle) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test]
async fn no_file_the_backend_writes_contains_the_secret() {
    const SECRET: &str = "correct-horse-battery-staple";
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    store.lock(&lock_info("apply")).await.unwrap();
    store.write(&doc_with_secret(SECRET)).await.unwrap();
    assert!(grep_tree(dir.path(), "$sensitive").len() == 1);
    assert_eq!(grep_tree(dir.path(), SECRET), Vec::<String>::new());
    store.unlock().await.unwrap();
    assert_eq!(grep_tree(dir.path(), SECRET), Vec::<String>::new());
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn state_lock_and_directory_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    store.lock(&lock_info("apply")).await.unwrap();
    store.write(&new_document("demo")).await.unwrap();
    let state_dir = dir.path().join(".stackplan");
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&state_dir.join("demo.state.json.lock")), 0o600);
}

#[tokio::test]
async fn replacing_a_world_readable_state_file_leaves_it_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.state.json");
    let doc = new_document("demo");
    std::fs::write(&path, doc.to_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = LocalStateStore::at(path.clone());
    store.lock(&lock_info("apply")).await.unwrap();
    store.read().await.unwrap();
    store.write(&doc).await.unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn a_symlink_planted_as_the_lock_file_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious content\n").unwrap();
    std::fs::create_dir(dir.path().join(".stackplan")).unwrap();
    let lock_path = dir.path().join(".stackplan/demo.state.json.lock");
    std::os::unix::fs::symlink(&victim, &lock_path).unwrap();

    let store = LocalStateStore::for_stack(dir.path(), "demo");
    let err = store.lock(&lock_info("apply")).await.unwrap_err();
    assert!(matches!(err, StateError::UnsafeLockFile { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "state lock {} is a symbolic link, not a regular file: stackplan does not follow or write through it; remove it if you did not make it",
            lock_path.display()
        )
    );
    // `unlock` and the holder probe refuse it the same way.
    assert!(matches!(
        store.force_unlock().await.unwrap_err(),
        StateError::UnsafeLockFile { .. }
    ));
    assert!(matches!(
        store.lock_holder().await.unwrap_err(),
        StateError::UnsafeLockFile { .. }
    ));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious content\n"
    );
}

#[tokio::test]
async fn a_fifo_planted_as_the_lock_file_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".stackplan")).unwrap();
    let lock_path = dir.path().join(".stackplan/demo.state.json.lock");
    let made = std::process::Command::new("mkfifo")
        .arg(&lock_path)
        .status()
        .unwrap();
    assert!(made.success());

    let store = LocalStateStore::for_stack(dir.path(), "demo");
    let err = store.lock(&lock_info("apply")).await.unwrap_err();
    match &err {
        StateError::UnsafeLockFile { path, found } => {
            assert_eq!(path, &lock_path.display().to_string());
            assert_eq!(found, "a FIFO");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_state_file_listing_a_resource_twice_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::for_stack(dir.path(), "demo");
    store.lock(&lock_info("apply")).await.unwrap();
    store.write(&doc_with_secret("x")).await.unwrap();
    // A merge that kept both sides' entry for the same resource.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
    let twin = json["resources"][0].clone();
    json["resources"].as_array_mut().unwrap().push(twin);
    std::fs::write(store.path(), serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let err = store.read().await.unwrap_err();
    assert!(
        matches!(&err, StateError::DuplicateResource { addr } if addr == "secretsmanager_secret.msk_scram"),
        "{err}"
    );
}
