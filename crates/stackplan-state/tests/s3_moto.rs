//! The S3 backend against moto (started by the shared emulator harness,
//! `just emulators-install`): the lock object and the conditional writes
//! behave on a real S3 API as they do against the mocks in `s3.rs`.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use stackplan_core::{LockInfo, StateError, StateStore};
use stackplan_state::{S3StateStore, new_document, new_lock_info};
use stackplan_testkit::{Emulators, REGION, unique_name};

async fn client_with_bucket() -> (Client, String) {
    let emulators = Emulators::shared().expect("the emulators start (just emulators-install)");
    let config = emulators.aws_config().await;
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("state");
    client
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("create the state bucket");
    (client, bucket)
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
