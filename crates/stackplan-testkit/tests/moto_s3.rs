//! The harness's S3 extension (tests/harness/moto_ext/s3.py): CreateBucket
//! applies the tags of its CreateBucketConfiguration in the same request,
//! as S3 does (the S3 model's `CreateBucketConfiguration.Tags`), where
//! moto alone drops them.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag};
use stackplan_testkit::{Emulators, unique_name};

#[tokio::test]
async fn create_bucket_applies_the_tags_of_its_configuration() {
    let emulators = Emulators::shared().expect("emulators (run `just emulators-install` once)");
    let s3 = emulators.s3_client().await;
    let bucket = unique_name("tagged").to_lowercase();
    let tag = Tag::builder()
        .key("stackplan:stack")
        .value("milvus-local")
        .build()
        .unwrap();
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::UsWest2)
                .tags(tag.clone())
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket");
    let tags = s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketTagging");
    assert_eq!(tags.tag_set(), [tag]);
}
