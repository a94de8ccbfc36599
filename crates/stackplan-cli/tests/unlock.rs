//! `stackplan unlock` on an S3 state lock, through the binary against moto:
//! a live holder (fresh heartbeat) is named and kept unless `--force`, a
//! dead one (stale heartbeat) is released, and a public bucket is refused
//! with the command that fixes it.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use stackplan_core::LockInfo;
use stackplan_testkit::{Emulators, REGION};

/// An error report with miette's line wrapping and gutters taken out, so
/// a message reads as one line whatever the width.
fn flat(report: &str) -> String {
    report
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const KEY: &str = "milvus-demo.json";
const LOCK: &str = "milvus-demo.json.lock";

struct S3State {
    emulators: &'static Emulators,
    client: Client,
    bucket: String,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl S3State {
    /// A bucket in moto (with a public access block when `private`) and
    /// the reference stack keeping its state there.
    fn new(private: bool) -> S3State {
        let emulators = Emulators::shared().expect("the emulators start");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, bucket) = rt.block_on(emulators.new_bucket("state", private));
        let stack = common::reference_with(&[(
            "backend = \"local\"            # .stackplan/milvus-demo.state.json",
            &format!(
                "backend = \"s3\"\nbucket = \"{bucket}\"\nkey = \"{KEY}\"\nregion = \"{REGION}\""
            ),
        )]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.toml"), stack).unwrap();
        S3State {
            emulators,
            client,
            bucket,
            dir,
            rt,
        }
    }

    /// A lock left by ops@laptop, its last heartbeat `age` ago.
    fn plant_lock(&self, age: Duration) -> LockInfo {
        let holder = LockInfo {
            id: "6f1c".into(),
            operation: "apply".into(),
            who: "ops@laptop".into(),
            pid: 4242,
            created: "2026-01-02T03:04:05Z".into(),
            heartbeat: Some(stackplan_state::rfc3339_utc(SystemTime::now() - age)),
        };
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(LOCK)
                    .body(ByteStream::from(serde_json::to_vec(&holder).unwrap()))
                    .send(),
            )
            .unwrap();
        holder
    }

    fn lock_exists(&self) -> bool {
        self.rt
            .block_on(
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(LOCK)
                    .send(),
            )
            .is_ok()
    }

    fn unlock(&self, extra: &[&str]) -> common::Run {
        let out = self
            .emulators
            .command(env!("CARGO_BIN_EXE_stackplan"))
            .args(["unlock", "stack.toml"])
            .args(extra)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run stackplan");
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[test]
fn unlock_keeps_a_lock_whose_heartbeat_is_fresh_and_names_its_holder() {
    let s3 = S3State::new(true);
    let holder = s3.plant_lock(Duration::from_secs(5));
    let run = s3.unlock(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let beat = holder.heartbeat.as_deref().unwrap();
    for part in [
        "is locked by ops@laptop (pid 4242) for `apply` since 2026-01-02T03:04:05Z, lock id 6f1c",
        &format!("last heartbeat {beat}"),
        "the holder is alive",
        "stackplan unlock STACK --force",
    ] {
        assert!(
            flat(&run.stderr).contains(part),
            "{part:?} in {}",
            run.stderr
        );
    }
    assert!(s3.lock_exists());
}

#[test]
fn unlock_force_releases_a_lock_whose_heartbeat_is_fresh() {
    let s3 = S3State::new(true);
    s3.plant_lock(Duration::from_secs(5));
    let run = s3.unlock(&["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "released the lock on s3://{}/{KEY}, held by ops@laptop (pid 4242) for `apply`",
            s3.bucket
        )),
        "{}",
        run.stdout
    );
    assert!(!s3.lock_exists());
}

#[test]
fn unlock_releases_a_lock_whose_heartbeat_is_stale_without_force() {
    let s3 = S3State::new(true);
    s3.plant_lock(Duration::from_secs(600));
    let run = s3.unlock(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("held by ops@laptop"), "{}", run.stdout);
    assert!(!s3.lock_exists());
}

#[test]
fn unlock_refuses_a_bucket_without_a_public_access_block_and_says_how_to_fix_it() {
    let s3 = S3State::new(false);
    s3.plant_lock(Duration::from_secs(600));
    let run = s3.unlock(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // The command as it is typed, each of its lines whole.
    let command = format!(
        "  aws s3api put-public-access-block \\\n    --bucket {} \\\n    --public-access-block-configuration '{{\"BlockPublicAcls\": true,\n      \"IgnorePublicAcls\": true, \"BlockPublicPolicy\": true,\n      \"RestrictPublicBuckets\": true}}'",
        s3.bucket
    );
    for line in command.lines() {
        assert!(
            run.stderr.lines().any(|l| l.ends_with(line)),
            "{line:?} in {}",
            run.stderr
        );
    }
    assert!(s3.lock_exists());
}
