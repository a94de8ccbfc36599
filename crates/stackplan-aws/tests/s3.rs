//! The S3 bucket against moto.

mod common;

use common::*;
use stackplan_core::{Provider, ResourceKind as K, Value};

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
    let s3 = stackplan_testkit::Emulators::shared()
        .unwrap()
        .s3_client()
        .await;
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

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// Milvus's compaction leaves superseded segments behind as noncurrent
/// versions: stackplan's lifecycle rule expires them
/// (PutBucketLifecycleConfiguration, `NoncurrentVersionExpiration`), and
/// changing it keeps the rules someone else put on the bucket.
#[tokio::test]
async fn noncurrent_versions_expire_by_stackplans_rule_and_other_rules_are_kept() {
    let p = provider().await;
    let a = addr(K::S3Bucket, "milvus");
    let bucket = name("lifecycle");
    let desired = attrs([
        ("bucket", Value::string(&bucket)),
        ("versioning", true.into()),
        ("noncurrent_version_expiration_days", Value::Int(30)),
        ("force_destroy", true.into()),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    assert_no_diff(K::S3Bucket, &desired, &created, &["force_destroy"]);

    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let s3 = s3_client(&config);
    let rules = |out: aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput| {
        out.rules()
            .iter()
            .map(|r| {
                (
                    r.id().unwrap_or_default().to_string(),
                    r.noncurrent_version_expiration()
                        .and_then(|n| n.noncurrent_days())
                        .or_else(|| r.expiration().and_then(|e| e.days())),
                )
            })
            .collect::<Vec<_>>()
    };
    let live = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rules(live.clone()),
        [("stackplan-expire-noncurrent-versions".to_string(), Some(30))]
    );

    // Someone adds a rule of their own; stackplan's days change to 7.
    let mut all = live.rules().to_vec();
    all.push(
        aws_sdk_s3::types::LifecycleRule::builder()
            .id("tmp-cleanup")
            .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
            .filter(
                aws_sdk_s3::types::LifecycleRuleFilter::builder()
                    .prefix("tmp/")
                    .build(),
            )
            .expiration(
                aws_sdk_s3::types::LifecycleExpiration::builder()
                    .days(1)
                    .build(),
            )
            .build()
            .unwrap(),
    );
    s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .set_rules(Some(all))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let seven = change(
        &desired,
        "noncurrent_version_expiration_days",
        Value::Int(7),
    );
    let live = read(&p, &a, Some(&seven), Some(&state)).await.unwrap();
    let diffs = plan_diffs(K::S3Bucket, &seven, &live, &["force_destroy"]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    let updated = update(&p, &a, &seven, &state, &diffs).await.unwrap();
    assert_no_diff(K::S3Bucket, &seven, &updated, &["force_destroy"]);
    let after = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let mut after = rules(after);
    after.sort();
    assert_eq!(
        after,
        [
            ("stackplan-expire-noncurrent-versions".to_string(), Some(7)),
            ("tmp-cleanup".to_string(), Some(1)),
        ]
    );
    delete(&p, &a, &state).await;
}

/// DeleteObjects answers 200 with per-key errors for versions it may not
/// delete (here an object-lock legal hold): force_destroy stops and names
/// them instead of listing the same versions forever.
#[tokio::test]
async fn force_destroy_stops_naming_the_versions_s3_refused_to_delete() {
    let p = provider().await;
    let a = addr(K::S3Bucket, "milvus");
    let bucket = name("locked");
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let s3 = s3_client(&config);
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("milvus/held")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let desired = attrs([
        ("bucket", Value::string(&bucket)),
        ("force_destroy", true.into()),
    ]);
    let live = read(&p, &a, Some(&desired), None).await.unwrap();
    let state = state_of(&a, &desired, &live);
    let err = p
        .delete(stackplan_core::DeleteRequest {
            addr: &a,
            prior: &state,
            events: &stackplan_core::NoEvents,
        })
        .await
        .unwrap_err();
    let msg = chain(&err);
    assert!(
        msg.contains("could not delete 1 object version(s): milvus/held (AccessDenied"),
        "{msg}"
    );
    // The bucket is still there; lift the hold and clean up.
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_some());
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("milvus/held")
        .set_version_id(put.version_id().map(str::to_string))
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    delete(&p, &a, &state).await;
}
