//! The S3 bucket against moto.

mod common;

use common::*;
use stackplan_core::{ResourceKind as K, Value};

fn public_access_block(all: bool) -> Value {
    Value::map([
        ("block_public_acls", Value::Bool(all)),
        ("block_public_policy", Value::Bool(all)),
        ("ignore_public_acls", Value::Bool(all)),
        ("restrict_public_buckets", Value::Bool(all)),
    ])
}

#[tokio::test]
async fn bucket_reads_back_as_applied_updates_in_place_and_force_destroy_empties_it() {
    let p = provider().await;
    let a = addr(K::S3Bucket, "milvus");
    let bucket = name("milvus");
    let desired = attrs([
        ("bucket", Value::string(&bucket)),
        ("versioning", true.into()),
        ("sse_algorithm", "AES256".into()),
        ("public_access_block", public_access_block(true)),
        ("force_destroy", true.into()),
        (
            "tags",
            tags([("Name", &bucket), ("stackplan:stack", "demo")]),
        ),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(
        created.outputs["arn"],
        Value::string(format!("arn:aws:s3:::{bucket}"))
    );
    assert_eq!(created.outputs["bucket"], Value::string(&bucket));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    // force_destroy is stackplan's, not S3's: never reported, never diffed.
    assert_no_diff(K::S3Bucket, &desired, &live, &["force_destroy"]);

    let changed = change(&desired, "versioning", false.into());
    let changed = change(&changed, "tags", tags([("team", "search")]));
    let diffs = plan_diffs(K::S3Bucket, &changed, &live, &["force_destroy"]);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::S3Bucket, &changed, &updated, &["force_destroy"]);
    assert!(
        plan_diffs(
            K::S3Bucket,
            &change(&changed, "bucket", "other".into()),
            &updated,
            &["force_destroy"]
        )[0]
        .force_new
    );

    // Objects in it: force_destroy removes them (all versions) first.
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    for key in ["milvus/a", "milvus/b", "milvus/a"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}
