//! `stackplan state push FILE --stack STACK`, end to end with the real
//! binary: a recovery file written by `stackplan_state::write_recovery_file`
//! reaches the stack's backend under the lock, and a file that is not a
//! state document, of another lineage, or not newer than the stored state
//! is refused, naming the file, with the stored state left as it was; a
//! file the backend already holds is reported, and nothing written.
//! Local backend (the reference stack), and S3 on moto.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, Scratch, reference_stack, reference_with};
use stackplan_core::{
    LockInfo, ResourceAddr, ResourceKind, ResourceMode, ResourceState, StateDocument, StateStore,
    Value,
};
use stackplan_state::{LocalStateStore, new_document, new_lock_info, write_recovery_file};

/// Where the binary, run on `stack.toml` in the scratch directory, finds
/// the reference stack's local state.
const LOCATION: &str = "./.stackplan/milvus-demo.state.json";

/// Attribute values no output may show.
const CIDR: &str = "10.99.0.0/16";
const VPC_ID: &str = "vpc-0sentinel1234567";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The reference stack's local state store, in the scratch directory.
fn store(scratch: &Scratch) -> LocalStateStore {
    LocalStateStore::for_stack(scratch.path(), "milvus-demo")
}

fn vpc() -> ResourceState {
    let mut r = ResourceState::new(
        ResourceAddr::new(ResourceKind::Ec2Vpc, "main"),
        ResourceMode::Managed,
    );
    r.physical_id = Some(VPC_ID.into());
    r.attributes.insert("cidr_block".into(), Value::from(CIDR));
    r
}

fn bucket(name: &str) -> ResourceState {
    let mut r = ResourceState::new(
        ResourceAddr::new(ResourceKind::S3Bucket, name),
        ResourceMode::Managed,
    );
    r.physical_id = Some(format!("acme-{name}"));
    r
}

/// Stores `doc` as the stack's state (the way apply does: locked, then
/// written) and returns it with the serial stored.
fn stored(
    rt: &tokio::runtime::Runtime,
    store: &dyn StateStore,
    doc: &StateDocument,
) -> StateDocument {
    rt.block_on(async {
        store.lock(&new_lock_info("test")).await.unwrap();
        store.read().await.unwrap();
        let serial = store.write(doc).await.unwrap();
        store.unlock().await.unwrap();
        StateDocument {
            serial,
            ..doc.clone()
        }
    })
}

fn read(rt: &tokio::runtime::Runtime, store: &dyn StateStore) -> Option<StateDocument> {
    rt.block_on(store.read()).unwrap()
}

/// A run that applied one more resource after `state` and could not
/// write it: its recovery file, in `dir`, with the serial its write would
/// have stored, as apply saves it.
fn recovery_after(state: &StateDocument, dir: &Path) -> (StateDocument, PathBuf) {
    let mut next = state.clone();
    next.upsert(vpc());
    next.serial = state.serial + 1;
    let path = write_recovery_file(dir, &next).unwrap();
    (next, path)
}

fn push(scratch: &Scratch, file: &Path, extra: &[&str]) -> Run {
    let file = file.display().to_string();
    let mut args = vec!["state", "push", file.as_str(), "--stack", "stack.toml"];
    args.extend_from_slice(extra);
    scratch.run(&args)
}

fn show(run: &Run) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

fn assert_no_attribute_values(run: &Run) {
    for secret in [CIDR, VPC_ID] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "an attribute value was printed: {}",
            show(run)
        );
    }
}

/// `text` without whitespace and the report's frame: what is left of a
/// message however the report wrapped it (it may break lines at hyphens).
fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

fn assert_refused(run: &Run, file: &Path, message: &str, hint: &str) {
    assert_eq!(run.code, 1, "{}", show(run));
    assert!(run.stdout.is_empty(), "{}", show(run));
    let err = squash(&run.stderr);
    let file = file.display().to_string();
    assert!(
        err.contains(&squash(&file)),
        "the file is not named: {}",
        show(run)
    );
    assert!(err.contains(&squash(message)), "{}", show(run));
    assert!(err.contains(&squash(hint)), "{}", show(run));
    assert_no_attribute_values(run);
}

#[test]
fn a_recovery_file_is_pushed_under_the_lock_and_printed_as_counts_only() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let mut doc = new_document("milvus-demo");
    doc.upsert(bucket("data"));
    let state = stored(&rt, &store, &doc);
    let (recovered, file) = recovery_after(&state, &scratch.path().join("recovery"));

    let run = push(&scratch, &file, &[]);
    assert_eq!(run.code, 0, "{}", show(&run));
    assert_eq!(
        run.stdout,
        format!(
            "pushed {} to {}: serial {}, 2 resources\n",
            file.display(),
            LOCATION,
            state.serial + 1
        )
    );
    assert_no_attribute_values(&run);
    assert_eq!(read(&rt, &store), Some(recovered));
    // The lock was taken and released.
    assert_eq!(rt.block_on(store.lock_holder()).unwrap(), None);

    // Pushed once: the same file again finds itself stored, and writes
    // nothing.
    let again = push(&scratch, &file, &[]);
    assert_eq!(again.code, 0, "{}", show(&again));
    assert_eq!(
        again.stdout,
        format!(
            "{LOCATION} already holds {}, nothing pushed: serial {}, 2 resources\n",
            file.display(),
            state.serial + 1
        )
    );
    assert_eq!(read(&rt, &store).unwrap().serial, state.serial + 1);

    // Another document at the stored serial is not newer.
    let mut other = state.clone();
    other.upsert(bucket("logs"));
    other.serial = state.serial + 1;
    let other_file = write_recovery_file(&scratch.path().join("recovery"), &other).unwrap();
    let refused = push(&scratch, &other_file, &[]);
    assert_refused(
        &refused,
        &other_file,
        &format!(
            "has serial {}, not greater than serial {}",
            state.serial + 1,
            state.serial + 1
        ),
        "was written since this file was saved",
    );
}

#[test]
fn a_file_that_is_not_a_state_document_is_refused_naming_it() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let state = stored(&rt, &store, &new_document("milvus-demo"));
    for (name, text) in [
        ("plan.json", "{\"changes\": []}"),
        ("notes.txt", "not json at all"),
        ("future.json", "{\"format_version\": 99}"),
    ] {
        let file = scratch.path().join(name);
        std::fs::write(&file, text).unwrap();
        let run = push(&scratch, &file, &[]);
        assert_refused(
            &run,
            &file,
            "is not a state document",
            "stackplan-recovery-*.json",
        );
    }
    let missing = scratch.path().join("missing.json");
    let run = push(&scratch, &missing, &[]);
    assert_refused(&run, &missing, "cannot read", "recovery file");
    assert_eq!(read(&rt, &store), Some(state));
}

#[test]
fn a_file_of_another_lineage_is_refused_even_with_force() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let state = stored(&rt, &store, &new_document("milvus-demo"));
    let mut other = new_document("milvus-demo");
    other.serial = state.serial + 5;
    let dir = scratch.path().join("recovery");
    let file = write_recovery_file(&dir, &other).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let run = push(&scratch, &file, extra);
        assert_refused(
            &run,
            &file,
            &format!(
                "is of lineage {}, but the state at {} is of lineage {}",
                other.lineage, LOCATION, state.lineage
            ),
            "check the file and `--stack`",
        );
    }
    assert_eq!(read(&rt, &store), Some(state));
}

#[test]
fn an_older_file_is_refused_unless_forced_and_then_continues_the_serials() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let state = stored(&rt, &store, &new_document("milvus-demo"));
    let (_, file) = recovery_after(&state, &scratch.path().join("recovery"));
    // Written since the recovery file was saved: serial 2, then 3.
    let mut later = state.clone();
    later.upsert(bucket("logs"));
    let later = stored(&rt, &store, &later);
    let later = stored(&rt, &store, &later);

    let run = push(&scratch, &file, &[]);
    assert_refused(
        &run,
        &file,
        &format!(
            "has serial {}, not greater than serial {}",
            state.serial + 1,
            later.serial
        ),
        "--force",
    );
    assert_eq!(read(&rt, &store), Some(later.clone()));

    let forced = push(&scratch, &file, &["--force"]);
    assert_eq!(forced.code, 0, "{}", show(&forced));
    assert!(
        forced
            .stdout
            .contains(&format!("serial {}, 1 resource\n", later.serial + 1)),
        "{}",
        show(&forced)
    );
    let now = read(&rt, &store).unwrap();
    assert_eq!(now.serial, later.serial + 1);
    assert_eq!(now.resources, vec![vpc()]);
}

#[test]
fn with_no_stored_state_only_the_stacks_own_state_is_pushed() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let dir = scratch.path().join("recovery");
    let mut other = new_document("milvus-other");
    other.upsert(vpc());
    let file = write_recovery_file(&dir, &other).unwrap();
    let run = push(&scratch, &file, &[]);
    assert_refused(
        &run,
        &file,
        "is the state of stack `milvus-other`, not of `milvus-demo`",
        "check the file and `--stack`",
    );
    assert_eq!(read(&rt, &store), None);

    let mut ours = new_document("milvus-demo");
    ours.upsert(vpc());
    let file = write_recovery_file(&dir, &ours).unwrap();
    let run = push(&scratch, &file, &[]);
    assert_eq!(run.code, 0, "{}", show(&run));
    assert!(
        run.stdout.contains("serial 1, 1 resource\n"),
        "{}",
        show(&run)
    );
    assert_eq!(read(&rt, &store).unwrap().resources, vec![vpc()]);
}

#[test]
fn a_held_lock_refuses_the_push_and_leaves_the_state() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = store(&scratch);
    let rt = rt();
    let state = stored(&rt, &store, &new_document("milvus-demo"));
    let (_, file) = recovery_after(&state, &scratch.path().join("recovery"));
    let holder = LockInfo {
        who: "ops@laptop".into(),
        ..new_lock_info("apply")
    };
    rt.block_on(store.lock(&holder)).unwrap();
    let run = push(&scratch, &file, &[]);
    assert_eq!(run.code, 1, "{}", show(&run));
    assert!(
        run.stderr.contains("is locked by ops@laptop"),
        "{}",
        show(&run)
    );
    rt.block_on(store.unlock()).unwrap();
    assert_eq!(read(&rt, &store), Some(state));
}

/// The same push against the S3 backend on moto: the stack's `[state]`
/// names a bucket, the binary runs with the emulators' AWS environment.
#[test]
fn a_recovery_file_is_pushed_to_s3_and_an_older_one_refused() {
    use stackplan_state::S3StateStore;
    use stackplan_testkit::Emulators;

    let emulators = Emulators::shared().expect("the emulators start (just emulators-install)");
    let key = "milvus-demo.json";
    let rt = rt();
    let (client, state_bucket) = rt.block_on(emulators.new_bucket("state", true));
    let store = S3StateStore::new(client, &state_bucket, key);
    let scratch = Scratch::with_stack(&reference_with(&[(
        "backend = \"local\"",
        &format!("backend = \"s3\"\nbucket = \"{state_bucket}\"\nkey = \"{key}\""),
    )]));
    let state = stored(&rt, &store, &new_document("milvus-demo"));
    let (recovered, file) = recovery_after(&state, &scratch.path().join("recovery"));
    let file_arg = file.display().to_string();
    let run = |file: &Path| {
        let mut command = emulators.command(env!("CARGO_BIN_EXE_stackplan"));
        command
            .args(["state", "push"])
            .arg(file)
            .args(["--stack", "stack.toml"])
            .current_dir(scratch.path())
            .env("NO_COLOR", "1");
        let out = command.output().expect("run stackplan");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    let pushed = run(&file);
    assert_eq!(pushed.code, 0, "{}", show(&pushed));
    assert_eq!(
        pushed.stdout,
        format!(
            "pushed {file_arg} to s3://{state_bucket}/{key}: serial {}, 1 resource\n",
            state.serial + 1
        )
    );
    assert_no_attribute_values(&pushed);
    assert_eq!(read(&rt, &store), Some(recovered.clone()));
    assert_eq!(rt.block_on(store.lock_holder()).unwrap(), None);

    let again = run(&file);
    assert_eq!(again.code, 0, "{}", show(&again));
    assert!(again.stdout.contains("nothing pushed"), "{}", show(&again));

    // An older file: refused.
    let mut older = state.clone();
    older.upsert(bucket("logs"));
    let older_file = write_recovery_file(&scratch.path().join("older"), &older).unwrap();
    let refused = run(&older_file);
    assert_refused(&refused, &older_file, "not greater than serial", "--force");
    assert_eq!(read(&rt, &store), Some(recovered));
}
