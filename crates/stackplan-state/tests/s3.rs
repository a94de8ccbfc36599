//! The S3 backend's conditional-write logic against the SDK's official
//! mock crate (`aws-smithy-mocks`): which condition each request carries
//! and what a failed condition turns into. Runs against moto come with the
//! emulator harness (`tests/harness`).

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use stackplan_core::{LockInfo, StateError, StateStore};
use stackplan_state::{S3StateStore, new_document};

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

fn store(rules: &[&Rule]) -> S3StateStore {
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules);
    S3StateStore::new(client, BUCKET, KEY)
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
        "state s3://acme-stackplan-state/milvus-demo.json was changed by another writer since it was read (its ETag is no longer \"v1\")"
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
