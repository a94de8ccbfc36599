//! S3: the Milvus bucket, with versioning, default encryption, the public
//! access block, a lifecycle rule expiring noncurrent versions, and tags;
//! `force_destroy` empties it (every version and delete marker) before
//! deleting.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{Desired, as_int, differs, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::network::adopt_read;
use crate::wait::{after_create, create_or_find, progress, same_stack, until_found};
use crate::{AwsProvider, prior_id};

/// The ID of the one lifecycle rule stackplan owns on a bucket; rules
/// with other IDs are someone else's and are kept as they are.
const LIFECYCLE_RULE_ID: &str = "stackplan-expire-noncurrent-versions";

/// How many keys DeleteObjects could not delete are named in the error.
const FAILED_KEYS_SHOWN: usize = 5;

const PUBLIC_ACCESS_KEYS: [&str; 4] = [
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
];

/// An optional sub-resource the bucket has never had set.
fn unset(e: &AwsError, code: &str) -> bool {
    e.code() == Some(code)
}

fn build_err(addr: &ResourceAddr, attr: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::attribute(addr, attr, e.to_string())
}

/// The days of stackplan's noncurrent-version rule, 0 when it has none.
fn noncurrent_days(rules: &[LifecycleRule]) -> i32 {
    rules
        .iter()
        .filter(|r| r.id() == Some(LIFECYCLE_RULE_ID) && r.status() == &ExpirationStatus::Enabled)
        .find_map(|r| r.noncurrent_version_expiration()?.noncurrent_days())
        .unwrap_or(0)
}

/// The keys a DeleteObjects call left, named with their error codes.
fn undeleted(addr: &ResourceAddr, bucket: &str, errors: &[aws_sdk_s3::types::Error]) -> AwsError {
    let named: Vec<String> = errors
        .iter()
        .take(FAILED_KEYS_SHOWN)
        .map(|e| {
            format!(
                "{} ({}: {})",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("unknown"),
                e.message().unwrap_or("")
            )
        })
        .collect();
    let more = errors.len().saturating_sub(FAILED_KEYS_SHOWN);
    AwsError::attribute(
        addr,
        "force_destroy",
        format!(
            "emptying bucket `{bucket}`: DeleteObjects could not delete {} object version(s): {}{}",
            errors.len(),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    )
}

impl AwsProvider {
    async fn bucket_observe(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
    ) -> AwsResult<Option<Observed>> {
        let exists = absent_if_not_found(
            self.s3
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "HeadBucket", e)),
        )?;
        let Some(head) = exists else { return Ok(None) };
        // The four settings are independent reads of one bucket; asking at
        // once makes a bucket's refresh two round trips, not five.
        let (versioning, (sse, kms_key), public_access_block, tags, rules) = tokio::try_join!(
            self.bucket_versioning(addr, bucket),
            self.bucket_encryption(addr, bucket),
            self.bucket_public_access_block(addr, bucket),
            self.bucket_tags(addr, bucket),
            self.bucket_lifecycle_rules(addr, bucket),
        )?;
        let region = head
            .bucket_region()
            .map(str::to_string)
            .unwrap_or_else(|| self.region.clone());
        let mut o = Observed::new(bucket)
            .attr("bucket", bucket)
            .attr("versioning", versioning)
            .attr("sse_algorithm", sse)
            .attr("public_access_block", public_access_block)
            .attr(
                "noncurrent_version_expiration_days",
                i64::from(noncurrent_days(&rules)),
            )
            .attr("tags", tags)
            .output("bucket", bucket)
            .output("arn", format!("arn:{}:s3:::{bucket}", self.partition()))
            .output("region", region.as_str())
            .output(
                "bucket_regional_domain_name",
                format!("{bucket}.s3.{region}.amazonaws.com"),
            );
        if let Some(k) = kms_key {
            o = o.attr("kms_key_id", k);
        }
        Ok(Some(o))
    }

    /// The bucket's lifecycle rules; none when it has no configuration
    /// (`NoSuchLifecycleConfiguration`).
    async fn bucket_lifecycle_rules(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
    ) -> AwsResult<Vec<LifecycleRule>> {
        match self
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetBucketLifecycleConfiguration", e))
        {
            Ok(out) => Ok(out.rules().to_vec()),
            Err(e) if unset(&e, "NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Sets stackplan's rule to expire noncurrent versions after `days`
    /// (none for 0), keeping every other rule: PutBucketLifecycleConfiguration
    /// replaces the whole configuration, so it is read, changed, written.
    async fn bucket_put_lifecycle(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
        days: i64,
    ) -> AwsResult<()> {
        let mut rules: Vec<LifecycleRule> = self
            .bucket_lifecycle_rules(addr, bucket)
            .await?
            .into_iter()
            .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID))
            .collect();
        if days > 0 {
            let days = i32::try_from(days)
                .map_err(|e| build_err(addr, "noncurrent_version_expiration_days", e))?;
            rules.push(
                LifecycleRule::builder()
                    .id(LIFECYCLE_RULE_ID)
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix("").build())
                    .noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(days)
                            .build(),
                    )
                    .build()
                    .map_err(|e| build_err(addr, "noncurrent_version_expiration_days", e))?,
            );
        }
        if rules.is_empty() {
            self.s3
                .delete_bucket_lifecycle()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DeleteBucketLifecycle", e))?;
            return Ok(());
        }
        self.s3
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .map_err(|e| build_err(addr, "noncurrent_version_expiration_days", e))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "PutBucketLifecycleConfiguration", e))?;
        Ok(())
    }

    async fn bucket_versioning(&self, addr: &ResourceAddr, bucket: &str) -> AwsResult<bool> {
        let out = self
            .s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetBucketVersioning", e))?;
        Ok(out.status() == Some(&BucketVersioningStatus::Enabled))
    }

    /// The default encryption algorithm and, for SSE-KMS, its key.
    async fn bucket_encryption(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
    ) -> AwsResult<(String, Option<String>)> {
        match self
            .s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetBucketEncryption", e))
        {
            Ok(out) => {
                let default = out
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default());
                Ok((
                    default
                        .map(|d| d.sse_algorithm().as_str().to_string())
                        .unwrap_or_else(|| "AES256".to_string()),
                    default
                        .and_then(|d| d.kms_master_key_id())
                        .map(str::to_string),
                ))
            }
            // S3 encrypts with SSE-S3 when nothing is configured.
            Err(e) if unset(&e, "ServerSideEncryptionConfigurationNotFoundError") => {
                Ok(("AES256".to_string(), None))
            }
            Err(e) => Err(e),
        }
    }

    async fn bucket_public_access_block(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
    ) -> AwsResult<Value> {
        let pab = match self
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetPublicAccessBlock", e))
        {
            Ok(out) => out.public_access_block_configuration().cloned(),
            Err(e) if unset(&e, "NoSuchPublicAccessBlockConfiguration") => None,
            Err(e) => return Err(e),
        };
        let pab = pab.unwrap_or_else(|| PublicAccessBlockConfiguration::builder().build());
        Ok(Value::map([
            (
                "block_public_acls",
                Value::Bool(pab.block_public_acls().unwrap_or(false)),
            ),
            (
                "block_public_policy",
                Value::Bool(pab.block_public_policy().unwrap_or(false)),
            ),
            (
                "ignore_public_acls",
                Value::Bool(pab.ignore_public_acls().unwrap_or(false)),
            ),
            (
                "restrict_public_buckets",
                Value::Bool(pab.restrict_public_buckets().unwrap_or(false)),
            ),
        ]))
    }

    async fn bucket_tags(&self, addr: &ResourceAddr, bucket: &str) -> AwsResult<Value> {
        match self
            .s3
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetBucketTagging", e))
        {
            Ok(out) => Ok(tags_value(
                out.tag_set().iter().map(|t| (t.key(), t.value())),
            )),
            Err(e) if unset(&e, "NoSuchTagSet") => Ok(Value::Map(BTreeMap::new())),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn bucket_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let bucket = prior_id(req.prior).or_else(|| {
            req.desired
                .and_then(|d| d.get("bucket"))
                .and_then(Value::as_str)
        });
        match bucket {
            Some(b) => self.bucket_observe(req.addr, b).await,
            None => Ok(None),
        }
    }

    async fn bucket_put_versioning(
        &self,
        addr: &ResourceAddr,
        bucket: &str,
        on: bool,
    ) -> AwsResult<()> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        self.s3
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "PutBucketVersioning", e))?;
        Ok(())
    }

    async fn bucket_put_encryption(&self, d: &Desired<'_>, bucket: &str) -> AwsResult<()> {
        let addr = d.addr;
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(
                d.opt_str("sse_algorithm")?.unwrap_or("AES256"),
            ))
            .set_kms_master_key_id(d.opt_str("kms_key_id")?.map(str::to_string))
            .build()
            .map_err(|e| build_err(addr, "sse_algorithm", e))?;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(|e| build_err(addr, "sse_algorithm", e))?;
        self.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "PutBucketEncryption", e))?;
        Ok(())
    }

    async fn bucket_put_public_access_block(
        &self,
        d: &Desired<'_>,
        bucket: &str,
        block: &Attrs,
    ) -> AwsResult<()> {
        let flag = |k: &str| match block.get(k) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(true),
            Some(_) => Err(AwsError::attribute(
                d.addr,
                &format!("public_access_block.{k}"),
                "expected a boolean",
            )),
        };
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(flag(PUBLIC_ACCESS_KEYS[0])?)
            .block_public_policy(flag(PUBLIC_ACCESS_KEYS[1])?)
            .ignore_public_acls(flag(PUBLIC_ACCESS_KEYS[2])?)
            .restrict_public_buckets(flag(PUBLIC_ACCESS_KEYS[3])?)
            .build();
        self.s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| AwsError::api(d.addr, "PutPublicAccessBlock", e))?;
        Ok(())
    }

    async fn bucket_put_tags(&self, d: &Desired<'_>, bucket: &str) -> AwsResult<()> {
        let tags = d.str_map("tags")?;
        if tags.is_empty() {
            self.s3
                .delete_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| AwsError::api(d.addr, "DeleteBucketTagging", e))?;
            return Ok(());
        }
        let set = tag_set(d)?;
        self.s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(|e| build_err(d.addr, "tags", e))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::api(d.addr, "PutBucketTagging", e))?;
        Ok(())
    }

    pub(crate) async fn bucket_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let bucket = d.str("bucket")?;
        progress(req.events, req.addr, Phase::Creating, "CreateBucket");
        // us-east-1 is the one region that refuses its own name as a
        // location constraint.
        let location = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.as_str()));
        // The tags go with CreateBucket (CreateBucketConfiguration.Tags in
        // the S3 model), so the bucket never exists without its
        // `stackplan:stack` tag: an apply killed right after the create
        // leaves a bucket the next plan knows as this stack's.
        let tags = tag_set(&d)?;
        let config = (location.is_some() || !tags.is_empty()).then(|| {
            CreateBucketConfiguration::builder()
                .set_location_constraint(location)
                .set_tags((!tags.is_empty()).then_some(tags))
                .build()
        });
        let (config, tag_map) = (&config, &d.str_map("tags")?);
        // Bucket names are global and CreateBucket has no token: an SDK
        // retry of a bucket made but whose answer was lost answers
        // BucketAlreadyOwnedByYou (botocore S3 model 1.44.8: "The bucket
        // you tried to create already exists, and you own it"; us-east-1
        // answers 200 instead). It is taken over when its tags, given in
        // the same call, name this stack; terraform-provider-aws's
        // aws_s3_bucket retries CreateBucket only on errors that made
        // nothing, and reads the bucket back after.
        create_or_find(
            req.addr,
            req.events,
            "CreateBucket",
            &["BucketAlreadyOwnedByYou"],
            || async move {
                self.s3
                    .create_bucket()
                    .bucket(bucket)
                    .set_create_bucket_configuration(config.clone())
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| AwsError::api(req.addr, "CreateBucket", e))
            },
            || async move {
                let found = self.bucket_read(adopt_read(&req)).await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tag_map))
                    .map(drop))
            },
        )
        .await?;
        after_create(
            bucket,
            || self.bucket_configure_new(&req, &d, bucket),
            || self.bucket_observe(req.addr, bucket),
        )
        .await
    }

    /// What a new bucket is given after CreateBucket.
    async fn bucket_configure_new(
        &self,
        req: &ApplyRequest<'_>,
        d: &Desired<'_>,
        bucket: &str,
    ) -> AwsResult<Observed> {
        // A new bucket can answer NoSuchBucket for a moment; the settings
        // below would fail on it, so first wait until HeadBucket sees it
        // (as terraform-provider-aws does after CreateBucket).
        until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new bucket",
            || async {
                absent_if_not_found(
                    self.s3
                        .head_bucket()
                        .bucket(bucket)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "HeadBucket", e)),
                )
            },
        )
        .await?;
        // Public access first: the bucket is never open, not even briefly.
        if let Some(block) = d.opt_map("public_access_block")? {
            self.bucket_put_public_access_block(d, bucket, block)
                .await?;
        }
        if d.bool_or("versioning", false)? {
            self.bucket_put_versioning(req.addr, bucket, true).await?;
        }
        if d.get("sse_algorithm").is_some() || d.get("kms_key_id").is_some() {
            self.bucket_put_encryption(d, bucket).await?;
        }
        if let Some(days) = d.get("noncurrent_version_expiration_days").and_then(as_int)
            && days > 0
        {
            self.bucket_put_lifecycle(req.addr, bucket, days).await?;
        }
        self.bucket_observe(req.addr, bucket)
            .await?
            .ok_or_else(|| vanished(req.addr, "HeadBucket", bucket))
    }

    pub(crate) async fn bucket_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let bucket = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .bucket_observe(req.addr, &bucket)
            .await?
            .ok_or_else(|| vanished(req.addr, "HeadBucket", &bucket))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "public_access_block")
            && let Some(block) = d.opt_map("public_access_block")?
        {
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "PutPublicAccessBlock",
            );
            self.bucket_put_public_access_block(&d, &bucket, block)
                .await?;
        }
        if differs(kind, &live.attrs, req.desired, "versioning") {
            progress(req.events, req.addr, Phase::Updating, "PutBucketVersioning");
            self.bucket_put_versioning(req.addr, &bucket, d.bool_or("versioning", false)?)
                .await?;
        }
        if differs(kind, &live.attrs, req.desired, "sse_algorithm")
            || differs(kind, &live.attrs, req.desired, "kms_key_id")
        {
            progress(req.events, req.addr, Phase::Updating, "PutBucketEncryption");
            self.bucket_put_encryption(&d, &bucket).await?;
        }
        if differs(
            kind,
            &live.attrs,
            req.desired,
            "noncurrent_version_expiration_days",
        ) {
            let days = d
                .get("noncurrent_version_expiration_days")
                .and_then(as_int)
                .unwrap_or(0);
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "PutBucketLifecycleConfiguration",
            );
            self.bucket_put_lifecycle(req.addr, &bucket, days).await?;
        }
        if differs(kind, &live.attrs, req.desired, "tags") {
            progress(req.events, req.addr, Phase::Updating, "PutBucketTagging");
            self.bucket_put_tags(&d, &bucket).await?;
        }
        self.bucket_observe(req.addr, &bucket)
            .await?
            .ok_or_else(|| vanished(req.addr, "HeadBucket", &bucket))
    }

    /// Deletes every object version and delete marker, 1000 at a time.
    async fn bucket_empty(&self, addr: &ResourceAddr, bucket: &str) -> AwsResult<usize> {
        let mut deleted = 0;
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(bucket)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "ListObjectVersions", e))?;
            let ids: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
                .filter_map(|(key, version)| {
                    ObjectIdentifier::builder()
                        .set_key(key.map(str::to_string))
                        .set_version_id(version.map(str::to_string))
                        .build()
                        .ok()
                })
                .collect();
            if ids.is_empty() {
                return Ok(deleted);
            }
            deleted += ids.len();
            let batch = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| build_err(addr, "force_destroy", e))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(bucket)
                .delete(batch)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DeleteObjects", e))?;
            // DeleteObjects answers 200 and lists, per key, what it could
            // not delete (AccessDenied, a legal hold): those keys would be
            // listed again forever, so stop and name them.
            if !out.errors().is_empty() {
                return Err(undeleted(addr, bucket, out.errors()));
            }
        }
    }

    pub(crate) async fn bucket_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(bucket) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let force = matches!(
            req.prior.attributes.get("force_destroy"),
            Some(Value::Bool(true))
        ) || req.prior.attributes.get("force_destroy").and_then(as_int) == Some(1);
        if force {
            progress(
                req.events,
                req.addr,
                Phase::Deleting,
                "emptying the bucket (force_destroy)",
            );
            match self.bucket_empty(req.addr, bucket).await {
                Ok(n) => progress(
                    req.events,
                    req.addr,
                    Phase::Deleting,
                    format!("deleted {n} object versions"),
                ),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        progress(req.events, req.addr, Phase::Deleting, "DeleteBucket");
        absent_if_not_found(
            self.s3
                .delete_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteBucket", e)),
        )?;
        Ok(())
    }
}

/// The stack's tags for the bucket as S3's tag set (empty when none).
fn tag_set(d: &Desired<'_>) -> AwsResult<Vec<Tag>> {
    let tags = match d.get("tags") {
        Some(_) => d.str_map("tags")?,
        None => Default::default(),
    };
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_err(d.addr, "tags", e))
        })
        .collect()
}
