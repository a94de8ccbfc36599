//! The S3 backend's conditional-write logic against the SDK's official
//! mock crate (`aws-smithy-mocks`): which condition each request carries
//! and what a failed condition turns into, the encryption every write asks
//! for, the public access check, and the lock's heartbeat. Runs against
//! moto are in `s3_moto.rs`.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_sdk_s3::types::{PublicAccessBlockConfiguration, ServerSideEncryption};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use stackplan_core::{LockInfo, StateError, StateStore};
use stackplan_state::{Encryption, S3Options, S3StateStore, new_document};

const BUCKET: &str = "acme-stackplan-state";
const KEY: &str = "milvus-demo.json";
const LOCK: &str = "milvus-demo.json.lock";

fn holder() -> LockInfo {
    LockInfo {
        id: "6f1c".into(),
        operation: "apply".into(),
        who: "ops@laptop".into(),
        pid: 4242,
        created: "2026-01-02T03:04:05Z".into(),
        heartbeat: None,
    }
}

fn status(code: u16, s3_code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(code).unwrap(),
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{s3_code}</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>"
        )),
    )
}

/// The state bucket blocks all public access, as the backend requires.
fn bucket_is_private() -> Rule {
    mock!(Client::get_public_access_block).then_output(|| {
        GetPublicAccessBlockOutput::builder()
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .build()
    })
}

fn store(rules: &[&Rule]) -> S3StateStore {
    store_with(rules, S3Options::default())
}

fn store_with(rules: &[&Rule], options: S3Options) -> S3StateStore {
    let private = bucket_is_private();
    let mut all = rules.to_vec();
    all.push(&private);
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &all);
    S3StateStore::with_options(client, BUCKET, KEY, options)
}

fn lock_created() -> Rule {
    mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_none_match() == Some("*"))
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-1\"").build())
}

fn state_absent() -> Rule {
    mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()))
}

#[tokio::test]
async fn lock_is_created_only_if_absent() {
    let put = lock_created();
    let s = store(&[&put]);
    s.lock(&holder()).await.unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn lock_held_by_someone_else_names_the_holder() {
    let refused = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_none_match() == Some("*"))
        .then_http_response(|| status(412, "PreconditionFailed"));
    let read_holder = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from(serde_json::to_vec(&holder()).unwrap()))
                .build()
        });
    let s = store(&[&refused, &read_holder]);
    let err = s.lock(&holder()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "state s3://acme-stackplan-state/milvus-demo.json is locked by ops@laptop (pid 4242) for `apply` since 2026-01-02T03:04:05Z, lock id 6f1c"
    );
}

#[tokio::test]
async fn first_write_creates_the_state_only_if_nobody_did() {
    let get = state_absent();
    let put = mock!(Client::put_object)
        .match_requests(|r| {
            r.key() == Some(KEY) && r.if_none_match() == Some("*") && r.if_match().is_none()
        })
        .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
    let lock = lock_created();
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    assert_eq!(s.read().await.unwrap(), None);
    assert_eq!(s.write(&new_document("milvus-demo")).await.unwrap(), 1);
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn each_write_is_conditional_on_the_etag_of_the_previous_one() {
    let doc = new_document("milvus-demo");
    let stored = {
        let mut d = doc.clone();
        d.serial = 4;
        d.to_bytes()
    };
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"v4\"")
                .body(ByteStream::from(stored.clone()))
                .build()
        });
    let put_v5 = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v4\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"v5\"").build());
    let put_v6 = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v5\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"v6\"").build());
    let lock = lock_created();
    let s = store(&[&lock, &get, &put_v5, &put_v6]);
    s.lock(&holder()).await.unwrap();
    let mut read = s.read().await.unwrap().unwrap();
    assert_eq!(read.serial, 4);
    read.serial = s.write(&read).await.unwrap();
    assert_eq!(read.serial, 5);
    read.serial = s.write(&read).await.unwrap();
    assert_eq!(read.serial, 6);
    assert_eq!((put_v5.num_calls(), put_v6.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_concurrent_writer_is_detected_not_overwritten() {
    let doc = new_document("milvus-demo");
    let bytes = doc.to_bytes();
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"v1\"")
                .body(ByteStream::from(bytes.clone()))
                .build()
        });
    let put = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v1\""))
        .then_http_response(|| status(412, "PreconditionFailed"));
    let lock = lock_created();
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    let read = s.read().await.unwrap().unwrap();
    let err = s.write(&read).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "state s3://acme-stackplan-state/milvus-demo.json was changed by another writer since it was read (its ETag is no longer \"v1\"; it now holds serial 0)"
    );
}

/// The state object's bytes at `serial`, with its ETag, as `GetObject`
/// answers.
fn state_at(doc: &stackplan_core::StateDocument, serial: u64, etag: &str) -> GetObjectOutput {
    let mut d = doc.clone();
    d.serial = serial;
    GetObjectOutput::builder()
        .e_tag(etag)
        .body(ByteStream::from(d.to_bytes()))
        .build()
}

/// The PUT reached S3 and wrote, its answer was lost, and the SDK's retry
/// (same `If-Match`) got 412: the object read back holds this write's
/// lineage, serial and bytes, so the write succeeded, and the next one is
/// conditional on the ETag read back.
#[tokio::test]
async fn a_412_answering_the_retry_of_our_own_landed_write_is_a_success() {
    let doc = new_document("milvus-demo");
    let (v4, v5) = (doc.clone(), doc.clone());
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .sequence()
        .output(move || state_at(&v4, 4, "\"v4\""))
        .output(move || state_at(&v5, 5, "\"v5\""))
        .build();
    let retried = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v4\""))
        .then_http_response(|| status(412, "PreconditionFailed"));
    let next = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v5\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"v6\"").build());
    let lock = lock_created();
    let s = store(&[&lock, &get, &retried, &next]);
    s.lock(&holder()).await.unwrap();
    let mut read = s.read().await.unwrap().unwrap();
    read.serial = s.write(&read).await.unwrap();
    assert_eq!(read.serial, 5);
    assert_eq!(s.write(&read).await.unwrap(), 6);
    assert_eq!(
        (get.num_calls(), retried.num_calls(), next.num_calls()),
        (2, 1, 1)
    );
}

/// Another writer wrote the very serial this write was writing, with
/// other content: lineage and serial match, the bytes do not, and that is
/// a conflict.
#[tokio::test]
async fn a_412_over_the_same_serial_with_other_content_is_a_conflict() {
    let doc = new_document("milvus-demo");
    let v4 = doc.clone();
    let mut theirs = doc.clone();
    theirs.region = Some("eu-west-1".into());
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .sequence()
        .output(move || state_at(&v4, 4, "\"v4\""))
        .output(move || state_at(&theirs, 5, "\"v5-theirs\""))
        .build();
    let put = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v4\""))
        .then_http_response(|| status(412, "PreconditionFailed"));
    let lock = lock_created();
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    let read = s.read().await.unwrap().unwrap();
    let err = s.write(&read).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "its ETag is no longer \"v4\"; it now holds serial 5 with other content than this write's"
        ),
        "{err}"
    );
}

/// A 409 (a conditional write raced ours) is settled the same way: a
/// success when the object read back is this write, and never retried
/// over when it is not.
#[tokio::test]
async fn a_409_over_our_own_first_write_is_a_success() {
    let doc = new_document("milvus-demo");
    let ours = doc.clone();
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .sequence()
        .error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()))
        .output(move || state_at(&ours, 1, "\"v1\""))
        .build();
    let put = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_none_match() == Some("*"))
        .then_http_response(|| status(409, "ConditionalRequestConflict"));
    let lock = lock_created();
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    assert_eq!(s.read().await.unwrap(), None);
    assert_eq!(s.write(&doc).await.unwrap(), 1);
    assert_eq!((get.num_calls(), put.num_calls()), (2, 1));
}

/// When the object cannot be read back, whether the write landed is
/// unknown: neither a success nor a conflict is claimed.
#[tokio::test]
async fn a_412_that_cannot_be_settled_is_a_backend_error() {
    let doc = new_document("milvus-demo");
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .sequence()
        .output(move || state_at(&doc, 4, "\"v4\""))
        .http_status(503, None)
        .build();
    let put = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY) && r.if_match() == Some("\"v4\""))
        .then_http_response(|| status(412, "PreconditionFailed"));
    let lock = lock_created();
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    let read = s.read().await.unwrap().unwrap();
    let err = s.write(&read).await.unwrap_err();
    assert!(matches!(err, StateError::Backend { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("could not be read back to tell whether an earlier attempt of this write (serial 5) landed"),
        "{err}"
    );
}

#[tokio::test]
async fn writing_without_the_lock_is_refused_before_any_request() {
    let s = store(&[]);
    let err = s.write(&new_document("milvus-demo")).await.unwrap_err();
    assert!(matches!(err, StateError::NotLocked { .. }));
}

#[tokio::test]
async fn force_unlock_shows_the_holder_and_deletes_the_lock() {
    let read_holder = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from(serde_json::to_vec(&holder()).unwrap()))
                .build()
        });
    let delete = mock!(Client::delete_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| DeleteObjectOutput::builder().build());
    let s = store(&[&read_holder, &delete]);
    assert_eq!(s.force_unlock().await.unwrap(), Some(holder()));
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn unlock_never_deletes_another_holders_lock() {
    let lock = lock_created();
    let someone_else = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from(serde_json::to_vec(&holder()).unwrap()))
                .build()
        });
    let delete = mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
    let s = store(&[&lock, &someone_else, &delete]);
    let mine = LockInfo {
        id: "mine".into(),
        ..holder()
    };
    s.lock(&mine).await.unwrap();
    s.unlock().await.unwrap();
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn state_and_lock_are_written_with_sse_s3_by_default() {
    let lock = mock!(Client::put_object)
        .match_requests(|r| {
            r.key() == Some(LOCK)
                && r.server_side_encryption() == Some(&ServerSideEncryption::Aes256)
                && r.ssekms_key_id().is_none()
        })
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-1\"").build());
    let get = state_absent();
    let put = mock!(Client::put_object)
        .match_requests(|r| {
            r.key() == Some(KEY)
                && r.server_side_encryption() == Some(&ServerSideEncryption::Aes256)
                && r.ssekms_key_id().is_none()
        })
        .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
    let s = store(&[&lock, &get, &put]);
    s.lock(&holder()).await.unwrap();
    s.read().await.unwrap();
    s.write(&new_document("milvus-demo")).await.unwrap();
    assert_eq!((lock.num_calls(), put.num_calls()), (1, 1));
}

#[tokio::test]
async fn state_and_lock_are_written_with_the_configured_kms_key() {
    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let kms = |key: &'static str| {
        mock!(Client::put_object)
            .match_requests(move |r| {
                r.key() == Some(key)
                    && r.server_side_encryption() == Some(&ServerSideEncryption::AwsKms)
                    && r.ssekms_key_id() == Some(KEY_ARN)
            })
            .then_output(|| PutObjectOutput::builder().e_tag("\"x\"").build())
    };
    let (lock, put) = (kms(LOCK), kms(KEY));
    let get = state_absent();
    let options = S3Options {
        encryption: Encryption::Kms {
            key_id: KEY_ARN.into(),
        },
        ..S3Options::default()
    };
    let s = store_with(&[&lock, &get, &put], options);
    s.lock(&holder()).await.unwrap();
    s.read().await.unwrap();
    s.write(&new_document("milvus-demo")).await.unwrap();
    assert_eq!((lock.num_calls(), put.num_calls()), (1, 1));
}

fn public_access(status_code: u16, body: &'static str) -> Rule {
    mock!(Client::get_public_access_block).then_http_response(move || {
        HttpResponse::new(
            StatusCode::try_from(status_code).unwrap(),
            SdkBody::from(body),
        )
    })
}

#[tokio::test]
async fn a_bucket_without_a_public_access_block_is_refused_with_the_fix() {
    // What S3 (and moto) answer for a bucket that never had a block.
    let none = public_access(
        404,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchPublicAccessBlockConfiguration</Code><Message>The public access block configuration was not found</Message></Error>",
    );
    let lock = lock_created();
    // `none` comes first, so it answers instead of the passing default.
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&none, &lock]);
    let s = S3StateStore::new(client, BUCKET, KEY);
    let err = s.lock(&holder()).await.unwrap_err();
    assert!(matches!(err, StateError::PublicBucket { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "state bucket acme-stackplan-state has no public access block: state must not be readable by the public. Block all public access on it, then run again:\n  aws s3api put-public-access-block \\\n    --bucket acme-stackplan-state \\\n    --public-access-block-configuration '{\"BlockPublicAcls\": true,\n      \"IgnorePublicAcls\": true, \"BlockPublicPolicy\": true,\n      \"RestrictPublicBuckets\": true}'"
    );
    assert_eq!(lock.num_calls(), 0, "nothing is written to a public bucket");
    assert!(matches!(
        s.read().await.unwrap_err(),
        StateError::PublicBucket { .. }
    ));
}

#[tokio::test]
async fn a_public_access_block_with_a_setting_off_is_refused_naming_it() {
    let partial = public_access(
        200,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
    );
    let get = state_absent();
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&partial, &get]);
    let s = S3StateStore::new(client, BUCKET, KEY);
    let err = s.read().await.unwrap_err();
    assert!(
        err.to_string().starts_with(
            "state bucket acme-stackplan-state does not block all public access (RestrictPublicBuckets off)"
        ),
        "{err}"
    );
    assert_eq!(get.num_calls(), 0, "nothing is read from a public bucket");
}

#[tokio::test]
async fn the_bucket_is_checked_once_per_store() {
    let private = bucket_is_private();
    let get = state_absent();
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&private, &get]);
    let s = S3StateStore::new(client, BUCKET, KEY);
    s.read().await.unwrap();
    s.read().await.unwrap();
    assert_eq!((private.num_calls(), get.num_calls()), (1, 2));
}

fn fast_heartbeat() -> S3Options {
    S3Options {
        heartbeat_interval: std::time::Duration::from_millis(20),
        ..S3Options::default()
    }
}

fn lock_body(req: &aws_sdk_s3::operation::put_object::PutObjectInput) -> LockInfo {
    let bytes = req.body().bytes().expect("an in-memory body");
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn the_lock_is_taken_with_a_heartbeat() {
    let put = mock!(Client::put_object)
        .match_requests(|r| {
            r.key() == Some(LOCK) && r.if_none_match() == Some("*") && {
                let record = lock_body(r);
                record.id == "6f1c" && record.heartbeat.is_some()
            }
        })
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-1\"").build());
    let s = store(&[&put]);
    s.lock(&holder()).await.unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn the_heartbeat_rewrites_the_lock_only_while_it_is_still_ours() {
    let lock = lock_created();
    // Each renewal is conditional on the ETag the previous write returned.
    let renew_1 = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_match() == Some("\"lock-1\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-2\"").build());
    let renew_2 = mock!(Client::put_object)
        .match_requests(|r| {
            r.key() == Some(LOCK)
                && r.if_match() == Some("\"lock-2\"")
                && r.if_none_match().is_none()
        })
        .then_http_response(|| status(412, "PreconditionFailed"));
    // Read back after the 412: another holder's record.
    let someone_else = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| {
            let theirs = LockInfo {
                id: "9a9a".into(),
                who: "ci@runner".into(),
                ..holder()
            };
            GetObjectOutput::builder()
                .e_tag("\"lock-theirs\"")
                .body(ByteStream::from(serde_json::to_vec(&theirs).unwrap()))
                .build()
        });
    let s = store_with(
        &[&lock, &renew_1, &renew_2, &someone_else],
        fast_heartbeat(),
    );
    s.lock(&holder()).await.unwrap();
    for _ in 0..100 {
        if renew_2.num_calls() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!((renew_1.num_calls(), renew_2.num_calls()), (1, 1));
    // The 412 means someone took the lock away: no more renewals, and no
    // state write under a lock that is not ours.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(renew_2.num_calls(), 1);
    let err = s.write(&new_document("milvus-demo")).await.unwrap_err();
    assert!(matches!(err, StateError::LockLost { .. }), "{err}");
}

/// The body of every lock PUT, newest last, and a `GetObject` of the lock
/// answering with the newest under `etag`: S3 after it took a PUT whose
/// answer was lost.
fn lock_as_last_put(etag: &'static str) -> (std::sync::Arc<std::sync::Mutex<Vec<u8>>>, Rule) {
    let last = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let read = last.clone();
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(move || {
            GetObjectOutput::builder()
                .e_tag(etag)
                .body(ByteStream::from(read.lock().unwrap().clone()))
                .build()
        });
    (last, get)
}

fn remember(
    last: &std::sync::Mutex<Vec<u8>>,
    r: &aws_sdk_s3::operation::put_object::PutObjectInput,
) {
    *last.lock().unwrap() = r.body().bytes().expect("an in-memory body").to_vec();
}

/// The lock PUT reached S3 and created the lock, its answer was lost, and
/// the SDK's retry got 412: the lock read back is this very record, so it
/// is ours, not "locked by" ourselves.
#[tokio::test]
async fn a_412_answering_the_retry_of_our_own_lock_takes_the_lock() {
    let (last, get) = lock_as_last_put("\"lock-1\"");
    let put = mock!(Client::put_object)
        .match_requests(move |r| {
            let matched = r.key() == Some(LOCK) && r.if_none_match() == Some("*");
            if matched {
                remember(&last, r);
            }
            matched
        })
        .then_http_response(|| status(412, "PreconditionFailed"));
    let state = state_absent();
    let write = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
    let s = store(&[&put, &get, &state, &write]);
    s.lock(&holder()).await.unwrap();
    assert_eq!(s.read().await.unwrap(), None);
    assert_eq!(s.write(&new_document("milvus-demo")).await.unwrap(), 1);
}

/// The same for a heartbeat renewal: its 412 answers the retry of a
/// renewal S3 took, so the lock is still ours, and the next renewal is
/// conditional on the ETag read back.
#[tokio::test]
async fn a_412_answering_the_retry_of_our_own_renewal_keeps_the_lock() {
    let lock = lock_created();
    let (last, get) = lock_as_last_put("\"lock-2\"");
    let renew_1 = mock!(Client::put_object)
        .match_requests(move |r| {
            let matched = r.key() == Some(LOCK) && r.if_match() == Some("\"lock-1\"");
            if matched {
                remember(&last, r);
            }
            matched
        })
        .then_http_response(|| status(412, "PreconditionFailed"));
    let renew_2 = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_match() == Some("\"lock-2\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-3\"").build());
    let renew_more = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_match() == Some("\"lock-3\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-3\"").build());
    let state = state_absent();
    let write = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
    let s = store_with(
        &[&lock, &get, &renew_1, &renew_2, &renew_more, &state, &write],
        fast_heartbeat(),
    );
    s.lock(&holder()).await.unwrap();
    for _ in 0..100 {
        if renew_2.num_calls() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(renew_1.num_calls(), 1);
    assert!(renew_2.num_calls() >= 1);
    assert_eq!(s.read().await.unwrap(), None);
    assert_eq!(s.write(&new_document("milvus-demo")).await.unwrap(), 1);
}

#[tokio::test]
async fn unlock_stops_the_heartbeat_and_deletes_only_the_record_it_read() {
    let lock = lock_created();
    let renew = mock!(Client::put_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_match().is_some())
        .then_output(|| PutObjectOutput::builder().e_tag("\"lock-n\"").build());
    let mine = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(|| {
            GetObjectOutput::builder()
                .e_tag("\"lock-7\"")
                .body(ByteStream::from(serde_json::to_vec(&holder()).unwrap()))
                .build()
        });
    let delete = mock!(Client::delete_object)
        .match_requests(|r| r.key() == Some(LOCK) && r.if_match() == Some("\"lock-7\""))
        .then_output(|| DeleteObjectOutput::builder().build());
    let s = store_with(&[&lock, &renew, &mine, &delete], fast_heartbeat());
    s.lock(&holder()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    s.unlock().await.unwrap();
    assert_eq!(delete.num_calls(), 1);
    let renewals = renew.num_calls();
    assert!(renewals >= 1, "the heartbeat ran while locked");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(renew.num_calls(), renewals, "and stopped at unlock");
}

#[tokio::test]
async fn release_refuses_a_fresh_heartbeat_unless_forced() {
    let fresh = LockInfo {
        heartbeat: Some(stackplan_state::rfc3339_utc(std::time::SystemTime::now())),
        ..holder()
    };
    let record = serde_json::to_vec(&fresh).unwrap();
    let read_holder = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(LOCK))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(record.clone()))
                .build()
        });
    let delete = mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
    let s = store(&[&read_holder, &delete]);
    let stale_after = stackplan_state::LOCK_STALE_AFTER;

    let err = stackplan_state::release_lock(&s, false, stale_after)
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LockAlive { .. }), "{err}");
    let text = err.to_string();
    for part in [
        "ops@laptop (pid 4242) for `apply` since 2026-01-02T03:04:05Z",
        ", last heartbeat ",
        "stale only after 90s",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert_eq!(delete.num_calls(), 0);

    let released = stackplan_state::release_lock(&s, true, stale_after)
        .await
        .unwrap();
    assert_eq!(released, Some(fresh));
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn a_state_object_listing_a_resource_twice_is_refused_when_read() {
    // A bad merge uploaded by hand: the same address twice.
    let body = format!(
        r#"{{"format_version": {}, "lineage": "l", "serial": 3, "stack": "milvus-demo",
        "resources": [
          {{"addr": "s3_bucket.data", "kind": "s3_bucket", "mode": "managed", "physical_id": "a"}},
          {{"addr": "s3_bucket.data", "kind": "s3_bucket", "mode": "managed", "physical_id": "b"}}
        ]}}"#,
        stackplan_core::STATE_FORMAT_VERSION
    );
    let get = mock!(Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"v3\"")
                .body(ByteStream::from(body.clone().into_bytes()))
                .build()
        });
    let s = store(&[&get]);
    let err = s.read().await.unwrap_err();
    assert!(
        matches!(&err, StateError::DuplicateResource { addr } if addr == "s3_bucket.data"),
        "{err}"
    );
}
