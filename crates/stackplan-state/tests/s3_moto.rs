//! The S3 backend against moto (started by the shared emulator harness,
//! `just emulators-install`): the lock object and the conditional writes
//! behave on a real S3 API as they do against the mocks in `s3.rs`, and so
//! do the encryption, the public access check and the heartbeat.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use stackplan_core::{LockInfo, StateError, StateStore};
use stackplan_state::{
    Encryption, LOCK_STALE_AFTER, S3Options, S3StateStore, heartbeat_age, new_document,
    new_lock_info, parse_rfc3339_utc, release_lock, rfc3339_utc,
};
use stackplan_testkit::{Emulators, block_public_access};

/// A new bucket, with no public access block yet.
async fn bare_bucket() -> (Client, String) {
    let emulators = Emulators::shared().expect("the emulators start (just emulators-install)");
    emulators.new_bucket("state", false).await
}

/// A state bucket as the backend requires it: all public access blocked.
async fn client_with_bucket() -> (Client, String) {
    let emulators = Emulators::shared().expect("the emulators start (just emulators-install)");
    emulators.new_bucket("state", true).await
}

fn holder(who: &str) -> LockInfo {
    LockInfo {
        who: who.into(),
        ..new_lock_info("apply")
    }
}

#[tokio::test]
async fn lock_serial_and_concurrent_writer_against_moto() {
    let (client, bucket) = client_with_bucket().await;
    let ours = S3StateStore::new(client.clone(), &bucket, "milvus-demo.json");
    let theirs = S3StateStore::new(client.clone(), &bucket, "milvus-demo.json");

    // One lock holder at a time, and the loser is told who.
    ours.lock(&holder("ops@laptop")).await.unwrap();
    match theirs.lock(&holder("ci@runner")).await.unwrap_err() {
        StateError::Locked { holder, .. } => assert_eq!(holder.who, "ops@laptop"),
        other => panic!("{other}"),
    }

    // Serials count up across writes made against the previous ETag.
    assert_eq!(ours.read().await.unwrap(), None);
    let mut doc = new_document("milvus-demo");
    doc.serial = ours.write(&doc).await.unwrap();
    doc.serial = ours.write(&doc).await.unwrap();
    assert_eq!(doc.serial, 2);
    assert_eq!(theirs.read().await.unwrap(), Some(doc.clone()));

    // Someone writes the object behind the lock: our next write is refused.
    // (Other bytes: an ETag is the content's MD5, so the same bytes would
    // rightly pass.)
    let mut other = doc.clone();
    other.serial = 7;
    client
        .put_object()
        .bucket(&bucket)
        .key("milvus-demo.json")
        .body(ByteStream::from(other.to_bytes()))
        .send()
        .await
        .unwrap();
    let err = ours.write(&doc).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");

    // `stackplan unlock` from elsewhere names the holder and releases it;
    // the old holder's unlock then leaves the new lock alone.
    let released = theirs.force_unlock().await.unwrap().unwrap();
    assert_eq!(released.who, "ops@laptop");
    theirs.lock(&holder("ci@runner")).await.unwrap();
    ours.unlock().await.unwrap();
    assert_eq!(
        theirs.lock_holder().await.unwrap().map(|h| h.who),
        Some("ci@runner".to_string())
    );
}

async fn lock_record(client: &Client, bucket: &str, key: &str) -> Option<LockInfo> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = out.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn state_and_lock_objects_are_encrypted_at_rest() {
    let (client, bucket) = client_with_bucket().await;

    // No key configured: SSE-S3.
    let store = S3StateStore::new(client.clone(), &bucket, "sse-s3.json");
    store.lock(&new_lock_info("apply")).await.unwrap();
    store.read().await.unwrap();
    store.write(&new_document("demo")).await.unwrap();
    for key in ["sse-s3.json", "sse-s3.json.lock"] {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
    }
    store.unlock().await.unwrap();

    // A KMS key configured: SSE-KMS under that key.
    let emulators = Emulators::shared().unwrap();
    let kms = aws_sdk_kms::Client::new(&emulators.aws_config().await);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let options = S3Options {
        encryption: Encryption::Kms {
            key_id: key_id.clone(),
        },
        ..S3Options::default()
    };
    let store = S3StateStore::with_options(client.clone(), &bucket, "sse-kms.json", options);
    store.lock(&new_lock_info("apply")).await.unwrap();
    store.read().await.unwrap();
    store.write(&new_document("demo")).await.unwrap();
    for key in ["sse-kms.json", "sse-kms.json.lock"] {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert!(
            head.ssekms_key_id().is_some_and(|k| k.ends_with(&key_id)),
            "{key}: {:?}",
            head.ssekms_key_id()
        );
    }
    store.unlock().await.unwrap();
}

#[tokio::test]
async fn a_bucket_that_does_not_block_all_public_access_is_refused() {
    let (client, bucket) = bare_bucket().await;

    let store = S3StateStore::new(client.clone(), &bucket, "demo.json");
    let err = store.lock(&new_lock_info("apply")).await.unwrap_err();
    assert!(matches!(err, StateError::PublicBucket { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "has no public access block: state must not be readable by the public. Block all public access on it, then run again:\n  aws s3api put-public-access-block \\\n    --bucket {bucket} \\\n"
        )),
        "{err}"
    );

    block_public_access(&client, &bucket, false).await;
    let store = S3StateStore::new(client.clone(), &bucket, "demo.json");
    let err = store.read().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not block all public access (RestrictPublicBuckets off)"),
        "{err}"
    );
    let objects = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(0), "nothing was written");

    // Fixed as the message says: accepted.
    block_public_access(&client, &bucket, true).await;
    let store = S3StateStore::new(client.clone(), &bucket, "demo.json");
    store.lock(&new_lock_info("apply")).await.unwrap();
    store.unlock().await.unwrap();
}

fn fast_heartbeat() -> S3Options {
    S3Options {
        heartbeat_interval: Duration::from_millis(250),
        ..S3Options::default()
    }
}

#[tokio::test]
async fn the_heartbeat_is_renewed_while_the_lock_is_held() {
    let (client, bucket) = client_with_bucket().await;
    let store = S3StateStore::with_options(client.clone(), &bucket, "demo.json", fast_heartbeat());
    store.lock(&new_lock_info("apply")).await.unwrap();
    let beat = |h: Option<LockInfo>| parse_rfc3339_utc(&h.unwrap().heartbeat.unwrap()).unwrap();
    let first = beat(lock_record(&client, &bucket, "demo.json.lock").await);
    // Heartbeats have one-second resolution: wait past the next second.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let later = lock_record(&client, &bucket, "demo.json.lock").await;
    assert!(beat(later.clone()) > first, "{later:?}");
    assert!(heartbeat_age(&later.unwrap(), SystemTime::now()).unwrap() < Duration::from_secs(2));

    // A state write under the renewed lock still works (its own ETag).
    store.read().await.unwrap();
    store.write(&new_document("demo")).await.unwrap();
    store.unlock().await.unwrap();
    assert_eq!(lock_record(&client, &bucket, "demo.json.lock").await, None);
}

#[tokio::test]
async fn a_lock_taken_away_is_not_renewed_over_the_new_holder() {
    let (client, bucket) = client_with_bucket().await;
    let ours = S3StateStore::with_options(client.clone(), &bucket, "demo.json", fast_heartbeat());
    let theirs = S3StateStore::new(client.clone(), &bucket, "demo.json");
    ours.lock(&holder("ops@laptop")).await.unwrap();
    ours.read().await.unwrap();

    theirs.force_unlock().await.unwrap();
    theirs.lock(&holder("ci@runner")).await.unwrap();
    let taken = lock_record(&client, &bucket, "demo.json.lock").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Our heartbeat found the lock replaced: it left the new record alone
    // and our writes are refused.
    assert_eq!(lock_record(&client, &bucket, "demo.json.lock").await, taken);
    let err = ours.write(&new_document("demo")).await.unwrap_err();
    assert!(matches!(err, StateError::LockLost { .. }), "{err}");
    ours.unlock().await.unwrap();
    assert_eq!(
        theirs.lock_holder().await.unwrap().map(|h| h.who),
        Some("ci@runner".to_string())
    );
}

#[tokio::test]
async fn unlock_refuses_a_live_holder_unless_forced_and_releases_a_stale_one() {
    let (client, bucket) = client_with_bucket().await;
    let running =
        S3StateStore::with_options(client.clone(), &bucket, "demo.json", fast_heartbeat());
    let other = S3StateStore::new(client.clone(), &bucket, "demo.json");
    running.lock(&holder("ops@laptop")).await.unwrap();

    let err = release_lock(&other, false, LOCK_STALE_AFTER)
        .await
        .unwrap_err();
    match &err {
        StateError::LockAlive { holder, .. } => {
            assert_eq!(holder.who, "ops@laptop");
            assert!(holder.heartbeat.is_some());
        }
        other => panic!("{other}"),
    }
    assert!(
        lock_record(&client, &bucket, "demo.json.lock")
            .await
            .is_some()
    );
    let released = release_lock(&other, true, LOCK_STALE_AFTER).await.unwrap();
    assert_eq!(released.map(|h| h.who), Some("ops@laptop".to_string()));
    assert_eq!(lock_record(&client, &bucket, "demo.json.lock").await, None);
    drop(running);

    // A run that died ten minutes ago: its heartbeat is stale, no --force
    // needed.
    let dead = LockInfo {
        heartbeat: Some(rfc3339_utc(SystemTime::now() - Duration::from_secs(600))),
        ..holder("ci@runner")
    };
    client
        .put_object()
        .bucket(&bucket)
        .key("demo.json.lock")
        .body(ByteStream::from(serde_json::to_vec(&dead).unwrap()))
        .send()
        .await
        .unwrap();
    let released = release_lock(&other, false, LOCK_STALE_AFTER).await.unwrap();
    assert_eq!(released, Some(dead));
    assert_eq!(lock_record(&client, &bucket, "demo.json.lock").await, None);
}

/// What the store's next write of `doc` puts: `doc` at `serial`, in the
/// canonical encoding every backend writes.
fn bytes_at(doc: &stackplan_core::StateDocument, serial: u64) -> Vec<u8> {
    let mut d = doc.clone();
    d.serial = serial;
    d.to_bytes()
}

/// A PUT that reached S3 and wrote, whose answer was lost, and which the
/// SDK sent again with the same condition: the test makes the first
/// attempt itself (the store's bytes, the store's condition), and the
/// store's own request is the retry. Moto answers it 412; the object read
/// back is this write, so the write succeeded, both for the first write
/// (`If-None-Match: *`) and for a later one (`If-Match`), and the write
/// after it is conditional on the ETag read back.
#[tokio::test]
async fn a_write_whose_answer_was_lost_is_recognised_as_ours_against_moto() {
    let (client, bucket) = client_with_bucket().await;
    let key = "milvus-demo.json";
    let store = S3StateStore::new(client.clone(), &bucket, key);
    store.lock(&holder("ops@laptop")).await.unwrap();
    assert_eq!(store.read().await.unwrap(), None);
    let mut doc = new_document("milvus-demo");

    // First write: the lost attempt created the object.
    client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .if_none_match("*")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(bytes_at(&doc, 1)))
        .send()
        .await
        .expect("the first attempt lands");
    doc.serial = store
        .write(&doc)
        .await
        .expect("our own write, not a conflict");
    assert_eq!(doc.serial, 1);

    // A later write: the lost attempt replaced the ETag the store holds.
    let etag = client
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    doc.region = Some("us-west-2".into());
    client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .if_match(&etag)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(bytes_at(&doc, 2)))
        .send()
        .await
        .expect("the first attempt lands");
    doc.serial = store
        .write(&doc)
        .await
        .expect("our own write, not a conflict");
    assert_eq!(doc.serial, 2);

    // The store carries on from the ETag it read back.
    doc.serial = store.write(&doc).await.unwrap();
    assert_eq!(doc.serial, 3);
    let stored = stackplan_core::StateDocument::from_bytes(
        &client
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes(),
    )
    .unwrap();
    assert_eq!(stored, doc);
    store.unlock().await.unwrap();
}

/// Another writer (one that went around the lock, as after `unlock
/// --force`) wrote the very serial this write is writing, with other
/// content: a conflict, reported as before, and the other write is kept.
#[tokio::test]
async fn another_writer_at_the_same_serial_is_a_conflict_against_moto() {
    let (client, bucket) = client_with_bucket().await;
    let key = "milvus-demo.json";
    let store = S3StateStore::new(client.clone(), &bucket, key);
    store.lock(&holder("ops@laptop")).await.unwrap();
    assert_eq!(store.read().await.unwrap(), None);
    let mut doc = new_document("milvus-demo");
    doc.serial = store.write(&doc).await.unwrap();

    let mut theirs = doc.clone();
    theirs.region = Some("eu-west-1".into());
    let theirs_bytes = bytes_at(&theirs, 2);
    client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(ByteStream::from(theirs_bytes.clone()))
        .send()
        .await
        .unwrap();

    let err = store.write(&doc).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("it now holds serial 2 with other content than this write's"),
        "{err}"
    );
    let kept = client
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(kept.as_ref(), theirs_bytes.as_slice());
    store.unlock().await.unwrap();
}

/// Loses the answer of the next `armed` PUTs of one object that S3 took:
/// the PUT reaches moto and writes, and the SDK is told the attempt timed
/// out, so its own retry sends the same request, with the same condition.
#[derive(Debug)]
struct LoseStateAnswers {
    /// `/<bucket>/<key>` of that object (the state object, or its lock).
    path: String,
    armed: std::sync::Arc<std::sync::atomic::AtomicU32>,
    lost: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

/// Whether the current attempt is a PUT of the object whose answers are
/// lost.
#[derive(Debug, Clone)]
struct StatePut(bool);

impl aws_smithy_types::config_bag::Storable for StatePut {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_s3::config::Intercept for LoseStateAnswers {
    fn name(&self) -> &'static str {
        "LoseStateAnswers"
    }

    /// The request is gone once sent: note here whether it is a PUT of
    /// that object.
    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let r = ctx.request();
        let state_put = r.method() == "PUT"
            && r.uri()
                .split('?')
                .next()
                .unwrap_or("")
                .ends_with(&self.path);
        cfg.interceptor_state().store_put(StatePut(state_put));
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut aws_sdk_s3::config::interceptors::FinalizerInterceptorContextMut<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use std::sync::atomic::Ordering;
        let state_put = cfg.load::<StatePut>().is_some_and(|p| p.0);
        let taken = ctx.response().is_some_and(|r| r.status().is_success());
        if state_put
            && taken
            && self
                .armed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            && let Some(result) = ctx.output_or_error_mut()
        {
            *result = Err(
                aws_smithy_runtime_api::client::orchestrator::OrchestratorError::timeout(
                    "the answer was lost on its way back (test)".into(),
                ),
            );
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// The lost answer as it happens: the SDK itself retries a PUT that S3
/// took, with the condition of the first attempt, and S3 answers 412. The
/// store reads its own write back and carries on, for the first write
/// (`If-None-Match: *`) and for a later one (`If-Match`).
#[tokio::test]
async fn the_sdks_retry_of_a_write_s3_took_is_a_success_against_moto() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let (plain, bucket) = client_with_bucket().await;
    let key = "milvus-demo.json";
    let armed = Arc::new(AtomicU32::new(0));
    let lost = Arc::new(AtomicU32::new(0));
    let emulators = Emulators::shared().expect("the emulators start");
    let config = emulators.aws_config().await;
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .interceptor(LoseStateAnswers {
                path: format!("/{bucket}/{key}"),
                armed: armed.clone(),
                lost: lost.clone(),
            })
            .build(),
    );
    let store = S3StateStore::new(client, &bucket, key);
    store.lock(&holder("ops@laptop")).await.unwrap();
    assert_eq!(store.read().await.unwrap(), None);
    let mut doc = new_document("milvus-demo");

    armed.store(1, Ordering::SeqCst);
    doc.serial = store
        .write(&doc)
        .await
        .expect("our own write, not a conflict");
    assert_eq!((doc.serial, lost.load(Ordering::SeqCst)), (1, 1));

    armed.store(1, Ordering::SeqCst);
    doc.region = Some("us-west-2".into());
    doc.serial = store
        .write(&doc)
        .await
        .expect("our own write, not a conflict");
    assert_eq!((doc.serial, lost.load(Ordering::SeqCst)), (2, 2));

    doc.serial = store.write(&doc).await.unwrap();
    assert_eq!(doc.serial, 3);
    let stored = plain
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        stackplan_core::StateDocument::from_bytes(&stored).unwrap(),
        doc
    );
    store.unlock().await.unwrap();
}

/// The lock's lost answers, as the SDK retries them: the lock PUT that
/// created the lock, and heartbeat renewals S3 took. The store finds its
/// own record each time, so it holds the lock, renews it, and writes state
/// under it, instead of reporting itself as the holder or the lock as lost.
#[tokio::test]
async fn the_sdks_retry_of_a_lock_write_s3_took_keeps_the_lock_against_moto() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let (_, bucket) = client_with_bucket().await;
    let key = "milvus-demo.json";
    let armed = Arc::new(AtomicU32::new(1));
    let lost = Arc::new(AtomicU32::new(0));
    let emulators = Emulators::shared().expect("the emulators start");
    let config = emulators.aws_config().await;
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .interceptor(LoseStateAnswers {
                path: format!("/{bucket}/{key}.lock"),
                armed: armed.clone(),
                lost: lost.clone(),
            })
            .build(),
    );
    // Over a second: heartbeats are to the second, and a renewal in the
    // same second as the last writes the same bytes, the same ETag, so
    // the retry's stale condition would still hold.
    let options = S3Options {
        heartbeat_interval: Duration::from_millis(1100),
        ..S3Options::default()
    };
    let store = S3StateStore::with_options(client, &bucket, key, options);
    let me = holder("ops@laptop");
    store.lock(&me).await.expect("our own lock, not held by us");
    assert_eq!(lost.load(Ordering::SeqCst), 1);
    assert_eq!(store.lock_holder().await.unwrap().unwrap().id, me.id);

    // Two renewals whose answers are lost, then one more that is not.
    armed.store(2, Ordering::SeqCst);
    let renewed_after = store.lock_holder().await.unwrap().unwrap().heartbeat;
    for _ in 0..150 {
        if lost.load(Ordering::SeqCst) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lost.load(Ordering::SeqCst), 3);
    // Heartbeats are to the second: wait for one in a later second.
    let mut now = store.lock_holder().await.unwrap().unwrap();
    for _ in 0..50 {
        if now.heartbeat != renewed_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = store.lock_holder().await.unwrap().unwrap();
    }
    assert_eq!(now.id, me.id);
    assert_ne!(now.heartbeat, renewed_after, "the heartbeat stopped");

    assert_eq!(store.read().await.unwrap(), None);
    let doc = new_document("milvus-demo");
    assert_eq!(store.write(&doc).await.expect("the lock is still ours"), 1);
    store.unlock().await.unwrap();
    assert_eq!(store.lock_holder().await.unwrap(), None);
}
