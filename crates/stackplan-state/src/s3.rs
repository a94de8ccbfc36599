//! The S3 backend: the state document as one object, written with
//! conditional requests so that a concurrent writer is detected instead of
//! overwritten, and a lock object next to it.
//!
//! - before anything else, once per store: the bucket must block all public
//!   access (`GetPublicAccessBlock`), or nothing is read or written;
//! - read: `GetObject`, remembering the object's ETag (or its absence);
//! - write: `PutObject` with `If-Match: <ETag>` (or `If-None-Match: *` when
//!   there was no state), so S3 answers 412 if anyone wrote in between.
//!   A 412 (or 409) may also answer the SDK's retry of our own write
//!   whose first answer was lost: the object is read back, and a write
//!   whose lineage, serial and bytes are there succeeded;
//! - lock: `PutObject <key>.lock` with `If-None-Match: *`: exactly one
//!   creator wins; the loser reads the object to name the holder (and a
//!   caller that finds its own record there, written by an attempt whose
//!   answer was lost, holds the lock). While held, a background task
//!   rewrites the lock every heartbeat interval with a fresh `heartbeat`,
//!   `If-Match` on the lock's last ETag, so a renewal never recreates or
//!   overwrites a lock that was taken away; a renewal answered 412 reads
//!   the lock back, and only a record other than the one it wrote means
//!   the lock was lost;
//! - unlock: deletes the lock object, `If-Match` on the ETag of the record
//!   it just read and found to be its own; `force_unlock` (`stackplan
//!   unlock`) deletes it whoever holds it, again only the record it read.
//!
//! Every object is written with server-side encryption: SSE-KMS under the
//! stack's `kms_key_id`, else SSE-S3.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use stackplan_core::{BoxFuture, LockInfo, StateDocument, StateError, StateStore};
use tokio::task::JoinHandle;

use crate::lockinfo::{HEARTBEAT_INTERVAL, rfc3339_utc};

/// How the objects are encrypted at rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3 (`AES256`): keys S3 manages.
    #[default]
    S3Managed,
    /// SSE-KMS (`aws:kms`) under this key id, key ARN, alias or alias ARN.
    Kms { key_id: String },
}

/// What a store is configured with beyond its bucket and key.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub encryption: Encryption,
    /// How often a held lock's heartbeat is renewed ([`HEARTBEAT_INTERVAL`];
    /// tests pass milliseconds).
    pub heartbeat_interval: Duration,
    /// Connect, read and operation limits for the S3 client `connect`
    /// builds (the CLI passes the AWS provider's, so a silent endpoint
    /// cannot hold a state read for ever); `None`: the SDK's defaults.
    pub timeouts: Option<aws_config::timeout::TimeoutConfig>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            encryption: Encryption::default(),
            heartbeat_interval: HEARTBEAT_INTERVAL,
            timeouts: None,
        }
    }
}

/// What this store knows of the state object from its last request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Seen {
    #[default]
    NotRead,
    Absent,
    ETag(String),
}

#[derive(Debug, Default)]
struct Inner {
    seen: Seen,
    /// The lineage and serial of the document last read or written.
    lineage: Option<String>,
    serial: u64,
}

/// The lock this store holds.
#[derive(Debug)]
struct Held {
    /// The record as last written (its heartbeat included).
    record: LockInfo,
    /// The lock object's ETag after that write: the condition of the next.
    etag: Option<String>,
    /// Why the lock is no longer ours, once a renewal found it replaced or
    /// deleted (a `stackplan unlock --force` elsewhere).
    lost: Option<String>,
}

/// The bucket, the objects and the held lock: shared with the heartbeat
/// task, which outlives no store (it is aborted on unlock and on drop).
#[derive(Debug)]
struct Objects {
    client: Client,
    bucket: String,
    key: String,
    lock_key: String,
    encryption: Encryption,
    held: Mutex<Option<Held>>,
}

/// The state of one stack in an S3 object.
#[derive(Debug)]
pub struct S3StateStore {
    objects: Arc<Objects>,
    heartbeat_interval: Duration,
    /// Set once the bucket's public access block was found complete.
    bucket_checked: tokio::sync::OnceCell<()>,
    inner: Mutex<Inner>,
    heartbeat: Mutex<Option<JoinHandle<()>>>,
}

fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// The four settings of a bucket's public access block, each of which must
/// be on; named as in the API and in `aws s3api put-public-access-block`.
const PUBLIC_ACCESS_SETTINGS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// The error code S3 answers `GetPublicAccessBlock` with (HTTP 404) when a
/// bucket has no public access block. The S3 model in botocore
/// (`data/s3/2006-03-01/service-2.json`, operation `GetPublicAccessBlock`)
/// lists no errors for it, so the SDK has no variant; the same code is
/// modelled for the account-level call in `data/s3control/2018-08-20/
/// service-2.json` (shape `NoSuchPublicAccessBlockConfiguration`,
/// `httpStatusCode` 404), and S3 and moto return it for buckets too.
const NO_PUBLIC_ACCESS_BLOCK: &str = "NoSuchPublicAccessBlockConfiguration";

impl Objects {
    fn held(&self) -> MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn lock_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.lock_key)
    }

    /// A `PutObject` of `bytes` at `key`, encrypted as configured. The
    /// encryption is asked for on every write rather than left to the
    /// bucket's default, which stackplan does not own.
    /// (`x-amz-server-side-encryption` and
    /// `x-amz-server-side-encryption-aws-kms-key-id`: botocore
    /// `data/s3/2006-03-01/service-2.json`, `PutObjectRequest` members
    /// `ServerSideEncryption` and `SSEKMSKeyId`, which takes a key id, key
    /// ARN or alias.)
    fn put(&self, key: &str, bytes: Vec<u8>) -> PutObjectFluentBuilder {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        match &self.encryption {
            Encryption::S3Managed => put.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(key_id),
        }
    }

    /// Rewrites the held lock with a new heartbeat, only if the lock
    /// object is still the one this store last wrote. Returns whether to
    /// keep renewing.
    async fn renew_heartbeat(&self) -> bool {
        let (record, etag) = match self.held().as_ref() {
            Some(Held {
                record,
                etag: Some(etag),
                lost: None,
            }) => (
                LockInfo {
                    heartbeat: Some(rfc3339_utc(SystemTime::now())),
                    ..record.clone()
                },
                etag.clone(),
            ),
            // Released, lost, or written without an ETag to renew against
            // (S3 always returns one): nothing to renew safely.
            _ => return false,
        };
        let bytes = serde_json::to_vec_pretty(&record).expect("lock info serializes");
        let put = self.put(&self.lock_key, bytes).if_match(&etag).send().await;
        let outcome = match put {
            Ok(out) => Renewal::Renewed(out.e_tag().map(str::to_string)),
            // 412: the lock object is not the one we last wrote. Either
            // someone replaced it, or it is this very renewal, taken by S3
            // on an attempt whose answer was lost and retried by the SDK
            // with the old ETag (see `settle_failed_condition`): read it.
            Err(e) if status(&e) == Some(412) => match self.read_lock().await {
                Ok(Some((now, etag))) if now == record => Renewal::Renewed(etag),
                Ok(_) => Renewal::Lost,
                // Unknown: the next beat's request settles it.
                Err(_) => Renewal::TryLater,
            },
            // 404: it is gone (an `If-Match` write on a missing key fails
            // with 404, per botocore's `PutObjectRequest` `IfMatch`
            // documentation and the S3 conditional-requests guide).
            Err(e) if status(&e) == Some(404) => Renewal::Lost,
            // A network failure, throttling, or a 409 (a concurrent
            // conditional write): try again at the next beat. The lock
            // looks stale only after several beats are missed.
            Err(_) => Renewal::TryLater,
        };
        let mut held = self.held();
        let Some(h) = held.as_mut().filter(|h| h.record.id == record.id) else {
            return false;
        };
        match outcome {
            Renewal::Renewed(etag) => {
                h.etag = etag;
                h.record = record;
                true
            }
            // Someone released it, as `stackplan unlock --force` does:
            // stop, and refuse further writes.
            Renewal::Lost => {
                h.lost = Some(format!(
                    "the lock object {} was removed or replaced by someone else, as `stackplan unlock --force` does",
                    self.lock_location()
                ));
                false
            }
            Renewal::TryLater => true,
        }
    }

    /// The lock record and its ETag, if there is a lock object.
    async fn read_lock(&self) -> Result<Option<(LockInfo, Option<String>)>, String> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .send()
            .await;
        match out {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let bytes = o.body.collect().await.map_err(|e| e.to_string())?;
                Ok(Some((
                    parse_holder(&self.lock_location(), &bytes.into_bytes()),
                    etag,
                )))
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                    || status(&e) == Some(404) =>
            {
                Ok(None)
            }
            Err(e) => Err(DisplayErrorContext(&e).to_string()),
        }
    }
}

/// What one heartbeat renewal came to.
enum Renewal {
    /// Written (or found written by an earlier attempt): the new ETag.
    Renewed(Option<String>),
    /// The lock object is someone else's, or gone.
    Lost,
    /// Not known yet: try again at the next beat.
    TryLater,
}

/// A lock record, or a placeholder naming `lock_location` when the object
/// is not one.
fn parse_holder(lock_location: &str, bytes: &[u8]) -> LockInfo {
    serde_json::from_slice(bytes).unwrap_or_else(|_| LockInfo {
        id: "unreadable".into(),
        operation: "unknown".into(),
        who: format!("unknown ({lock_location} is not a lock record)"),
        pid: 0,
        created: "unknown".into(),
        heartbeat: None,
    })
}

impl S3StateStore {
    pub fn new(client: Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self::with_options(client, bucket, key, S3Options::default())
    }

    pub fn with_options(
        client: Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
        options: S3Options,
    ) -> Self {
        let key = key.into();
        S3StateStore {
            objects: Arc::new(Objects {
                client,
                bucket: bucket.into(),
                lock_key: format!("{key}.lock"),
                key,
                encryption: options.encryption,
                held: Mutex::new(None),
            }),
            heartbeat_interval: options.heartbeat_interval,
            bucket_checked: tokio::sync::OnceCell::new(),
            inner: Mutex::new(Inner::default()),
            heartbeat: Mutex::new(None),
        }
    }

    /// A store on a client from the standard AWS configuration chain
    /// (profile, SSO, environment, `AWS_ENDPOINT_URL`), in `region`.
    pub async fn connect(region: &str, bucket: &str, key: &str, options: S3Options) -> Self {
        let mut loader = aws_config::from_env().region(aws_config::Region::new(region.to_string()));
        if let Some(t) = options.timeouts.clone() {
            loader = loader.timeout_config(t);
        }
        let config = loader.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            // Path-style addressing works with every endpoint, moto included.
            .force_path_style(true)
            .build();
        Self::with_options(Client::from_conf(s3), bucket, key, options)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn heartbeat_task(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.heartbeat.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn client(&self) -> &Client {
        &self.objects.client
    }

    fn bucket(&self) -> &str {
        &self.objects.bucket
    }

    fn backend<E>(&self, what: &str, e: SdkError<E>) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StateError::Backend {
            location: self.location(),
            message: format!("{what}: {}", DisplayErrorContext(&e)),
            source: Some(Box::new(e)),
        }
    }

    /// Refuses a bucket that does not block all public access, once per
    /// store, before the first request that reads or writes an object.
    async fn ensure_private_bucket(&self) -> Result<(), StateError> {
        self.bucket_checked
            .get_or_try_init(|| self.check_public_access_block())
            .await
            .map(|_| ())
    }

    /// The bucket-level block only: the account's settings may also apply
    /// (S3 uses the most restrictive combination, per the
    /// `GetPublicAccessBlock` documentation), but a state bucket should
    /// not depend on an account setting someone else can change.
    async fn check_public_access_block(&self) -> Result<(), StateError> {
        let public = |problem: String| StateError::PublicBucket {
            bucket: self.bucket().to_string(),
            problem,
        };
        let out = self
            .client()
            .get_public_access_block()
            .bucket(self.bucket())
            .send()
            .await;
        match out {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let settings = [
                    c.and_then(|c| c.block_public_acls()),
                    c.and_then(|c| c.ignore_public_acls()),
                    c.and_then(|c| c.block_public_policy()),
                    c.and_then(|c| c.restrict_public_buckets()),
                ];
                let off: Vec<&str> = PUBLIC_ACCESS_SETTINGS
                    .iter()
                    .zip(settings)
                    .filter(|(_, on)| *on != Some(true))
                    .map(|(name, _)| *name)
                    .collect();
                if off.is_empty() {
                    Ok(())
                } else {
                    Err(public(format!(
                        "does not block all public access ({} off)",
                        off.join(", ")
                    )))
                }
            }
            Err(e) if e.code() == Some(NO_PUBLIC_ACCESS_BLOCK) => {
                Err(public("has no public access block".to_string()))
            }
            Err(e) => {
                // Reading the block needs `s3:GetBucketPublicAccessBlock`
                // (the `GetPublicAccessBlock` API reference).
                let what = format!(
                    "GetPublicAccessBlock s3://{} (stackplan needs s3:GetBucketPublicAccessBlock on the state bucket to check that it is not public)",
                    self.bucket()
                );
                Err(self.backend(&what, e))
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        let out = self
            .client()
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await;
        match out {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let bytes = o.body.collect().await.map_err(|e| StateError::Backend {
                    location: self.location(),
                    message: format!("reading s3://{}/{key}", self.bucket()),
                    source: Some(Box::new(e)),
                })?;
                Ok(Some((bytes.into_bytes().to_vec(), etag)))
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                    || status(&e) == Some(404) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.backend(&format!("GetObject s3://{}/{key}", self.bucket()), e)),
        }
    }

    async fn read_now(&self) -> Result<Option<StateDocument>, StateError> {
        self.ensure_private_bucket().await?;
        let got = self.get(&self.objects.key).await?;
        let (doc, seen) = match got {
            None => (None, Seen::Absent),
            Some((bytes, etag)) => {
                let doc = StateDocument::from_bytes(&bytes)?;
                let seen = etag.map(Seen::ETag).unwrap_or(Seen::NotRead);
                (Some(doc), seen)
            }
        };
        let mut inner = self.inner();
        inner.seen = seen;
        inner.lineage = doc.as_ref().map(|d| d.lineage.clone());
        inner.serial = doc.as_ref().map(|d| d.serial).unwrap_or(0);
        drop(inner);
        Ok(doc)
    }

    /// Refuses a write unless this store holds the lock and no heartbeat
    /// found it taken away.
    fn check_lock_held(&self) -> Result<(), StateError> {
        match self.objects.held().as_ref() {
            None => Err(StateError::NotLocked {
                location: self.location(),
            }),
            Some(Held {
                lost: Some(detail), ..
            }) => Err(StateError::LockLost {
                location: self.location(),
                detail: detail.clone(),
            }),
            Some(_) => Ok(()),
        }
    }

    async fn write_now(&self, doc: &StateDocument) -> Result<u64, StateError> {
        self.check_lock_held()?;
        // The write is conditional on the object being what this store last
        // saw, so a write by anyone since then is detected, not overwritten.
        if self.inner().seen == Seen::NotRead {
            self.read_now().await?;
        }
        let (lineage, last_serial) = {
            let inner = self.inner();
            (inner.lineage.clone(), inner.serial)
        };
        if let Some(lineage) = lineage
            && lineage != doc.lineage
        {
            return Err(StateError::LineageMismatch {
                expected: lineage,
                found: doc.lineage.clone(),
            });
        }
        let serial = last_serial.max(doc.serial) + 1;
        let mut stored = doc.clone();
        stored.serial = serial;
        self.put_conditional(&stored).await?;
        let mut inner = self.inner();
        inner.lineage = Some(doc.lineage.clone());
        inner.serial = serial;
        Ok(serial)
    }

    /// Writes the state object only if it is still what this store last
    /// saw; remembers the new ETag for the next write.
    async fn put_conditional(&self, stored: &StateDocument) -> Result<(), StateError> {
        let bytes = stored.to_bytes();
        let seen = self.inner().seen.clone();
        let mut put = self.objects.put(&self.objects.key, bytes.clone());
        put = match &seen {
            Seen::ETag(etag) => put.if_match(etag),
            Seen::Absent => put.if_none_match("*"),
            Seen::NotRead => {
                return Err(StateError::Conflict {
                    location: self.location(),
                    detail: "the state was not read before writing (no ETag to write against)"
                        .into(),
                });
            }
        };
        match put.send().await {
            Ok(out) => {
                self.inner().seen = out
                    .e_tag()
                    .map(|e| Seen::ETag(e.to_string()))
                    .unwrap_or(Seen::NotRead);
                Ok(())
            }
            Err(e) if matches!(status(&e), Some(412 | 409)) => {
                let code = status(&e).unwrap_or_default();
                self.settle_failed_condition(stored, &bytes, &seen, code, e)
                    .await
            }
            Err(e) => Err(self.backend(&format!("PutObject {}", self.location()), e)),
        }
    }

    /// A conditional `PutObject` of `stored` (its canonical `bytes`) failed
    /// with `code`: tells a write of ours that landed from another
    /// writer's, by reading the object back.
    ///
    /// The rules (S3 User Guide, "How to prevent object overwrites with
    /// conditional writes", `userguide/conditional-writes.html`; botocore
    /// `data/s3/2006-03-01/service-2.json`, `PutObjectRequest` members
    /// `IfMatch` and `IfNoneMatch`): with `If-Match: <ETag>` S3 writes only
    /// if the object's ETag is that one, with `If-None-Match: *` only if
    /// there is no object, and otherwise answers `412 Precondition Failed`
    /// without writing; a conflicting concurrent operation gets `409
    /// ConditionalRequestConflict`, after which the guide says to fetch
    /// the ETag and retry.
    ///
    /// Neither answer proves that someone else wrote. The SDK retries a
    /// request whose answer was lost (a timeout, a reset connection) with
    /// the same headers: when the first attempt reached S3 and wrote, the
    /// retry's condition names the ETag before our own write (or no
    /// object), and fails. So the object is read again (S3 reads are
    /// strongly consistent after a write): if it holds this write's
    /// lineage and serial and exactly its bytes, it is ours and the write
    /// succeeded; anything else is another writer, reported as a conflict
    /// and never retried over (retrying with the new ETag, as the guide
    /// suggests for a 409, would overwrite that writer's state).
    async fn settle_failed_condition<E>(
        &self,
        stored: &StateDocument,
        bytes: &[u8],
        seen: &Seen,
        code: u16,
        put_error: SdkError<E>,
    ) -> Result<(), StateError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let now = match self.get(&self.objects.key).await {
            Ok(now) => now,
            Err(read_error) => {
                // Whether our write landed is unknown: neither a success
                // nor a conflict may be claimed.
                return Err(StateError::Backend {
                    location: self.location(),
                    message: format!(
                        "PutObject answered {code} and the object could not be read back to tell whether an earlier attempt of this write (serial {}) landed ({})",
                        stored.serial,
                        DisplayErrorContext(&put_error)
                    ),
                    source: Some(Box::new(read_error)),
                });
            }
        };
        let found = now
            .as_ref()
            .map(|(b, _)| StateDocument::from_bytes(b).map(|d| (d.lineage, d.serial)));
        if let Some((now_bytes, etag)) = &now
            && let Some(Ok((lineage, serial))) = &found
            && *lineage == stored.lineage
            && *serial == stored.serial
            && now_bytes.as_slice() == bytes
        {
            // Our own write, whose answer was lost: the next write is
            // conditional on its ETag.
            self.inner().seen = etag.clone().map(Seen::ETag).unwrap_or(Seen::NotRead);
            return Ok(());
        }
        let before = match seen {
            Seen::ETag(etag) => format!("its ETag is no longer {etag}"),
            _ => "it was created by someone else".to_string(),
        };
        let holds = match &found {
            None => "it is now deleted".to_string(),
            Some(Err(_)) => "it now holds no readable state document".to_string(),
            Some(Ok((lineage, serial))) if *lineage != stored.lineage => {
                format!("it now holds lineage {lineage}, serial {serial}")
            }
            Some(Ok((_, serial))) if *serial == stored.serial => {
                format!("it now holds serial {serial} with other content than this write's")
            }
            Some(Ok((_, serial))) => format!("it now holds serial {serial}"),
        };
        Err(StateError::Conflict {
            location: self.location(),
            detail: format!("{before}; {holds}"),
        })
    }

    /// The lock record and its ETag, if there is a lock.
    async fn lock_record(&self) -> Result<Option<(LockInfo, Option<String>)>, StateError> {
        self.ensure_private_bucket().await?;
        Ok(self
            .get(&self.objects.lock_key)
            .await?
            .map(|(bytes, etag)| (parse_holder(&self.objects.lock_location(), &bytes), etag)))
    }

    async fn holder_now(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.lock_record().await?.map(|(holder, _)| holder))
    }

    async fn lock_now(&self, info: &LockInfo) -> Result<(), StateError> {
        // Held and not lost: already ours. Lost: try to take it anew.
        if matches!(self.objects.held().as_ref(), Some(h) if h.lost.is_none()) {
            return Ok(());
        }
        self.stop_heartbeat().await;
        self.ensure_private_bucket().await?;
        let record = LockInfo {
            heartbeat: Some(rfc3339_utc(SystemTime::now())),
            ..info.clone()
        };
        let bytes = serde_json::to_vec_pretty(&record).expect("lock info serializes");
        let put = self
            .objects
            .put(&self.objects.lock_key, bytes)
            .if_none_match("*")
            .send()
            .await;
        match put {
            Ok(out) => {
                *self.objects.held() = Some(Held {
                    record,
                    etag: out.e_tag().map(str::to_string),
                    lost: None,
                });
                self.start_heartbeat();
                Ok(())
            }
            Err(e) if matches!(status(&e), Some(412 | 409)) => {
                // The lock object exists. It may be this very record: S3
                // took an attempt whose answer was lost, and the SDK's
                // retry found the object there (see
                // `settle_failed_condition`). The record holds a fresh
                // lock id, so only this call can have written it.
                match self.lock_record().await? {
                    Some((holder, etag)) if holder == record => {
                        *self.objects.held() = Some(Held {
                            record,
                            etag,
                            lost: None,
                        });
                        self.start_heartbeat();
                        Ok(())
                    }
                    Some((holder, _)) => Err(StateError::Locked {
                        location: self.location(),
                        holder: Box::new(holder),
                    }),
                    // Released between our attempt and our look: say so
                    // rather than retry behind the caller's back.
                    None => Err(StateError::LockedUnknown {
                        location: self.location(),
                    }),
                }
            }
            Err(e) => Err(self.backend(&format!("PutObject {}", self.objects.lock_location()), e)),
        }
    }

    /// Renews the heartbeat until unlock (or drop) for as long as the lock
    /// is ours. Without a tokio runtime there is nothing to run it on; the
    /// lock then looks stale after a while, which `unlock` reports.
    fn start_heartbeat(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let objects = Arc::clone(&self.objects);
        let interval = self.heartbeat_interval;
        let task = runtime.spawn(async move {
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            // After a slow renewal, beat once, not a burst of catch-ups.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if !objects.renew_heartbeat().await {
                    return;
                }
            }
        });
        if let Some(old) = self.heartbeat_task().replace(task) {
            old.abort();
        }
    }

    async fn stop_heartbeat(&self) {
        let task = self.heartbeat_task().take();
        if let Some(task) = task {
            task.abort();
            // Wait until it is gone, so no renewal starts after this.
            let _ = task.await;
        }
    }

    /// Deletes the lock object only if it is still the record read with
    /// `etag` (`If-Match` on `DeleteObject`, which S3 supports for general
    /// purpose buckets: botocore `data/s3/2006-03-01/service-2.json`,
    /// operation `DeleteObject`). Returns `false` when it changed meanwhile.
    async fn delete_lock(&self, etag: Option<&str>) -> Result<bool, StateError> {
        let mut delete = self
            .client()
            .delete_object()
            .bucket(self.bucket())
            .key(&self.objects.lock_key);
        if let Some(etag) = etag {
            delete = delete.if_match(etag);
        }
        match delete.send().await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(412) => Ok(false),
            // Already gone: what deleting was for.
            Err(e) if status(&e) == Some(404) => Ok(true),
            Err(e) => {
                Err(self.backend(&format!("DeleteObject {}", self.objects.lock_location()), e))
            }
        }
    }

    async fn unlock_now(&self) -> Result<(), StateError> {
        self.stop_heartbeat().await;
        let Some(held) = self.objects.held().take() else {
            return Ok(());
        };
        if held.lost.is_some() {
            // Someone else's lock now, or none: nothing of ours to delete.
            return Ok(());
        }
        // A renewal cut short by `stop_heartbeat` may still land and change
        // the ETag once; read again then.
        for _ in 0..3 {
            match self.lock_record().await? {
                Some((holder, etag)) if holder.id == held.record.id => {
                    if self.delete_lock(etag.as_deref()).await? {
                        return Ok(());
                    }
                }
                // Someone force-unlocked and maybe re-locked: never delete
                // another holder's lock on the way out.
                _ => return Ok(()),
            }
        }
        Err(StateError::Conflict {
            location: self.objects.lock_location(),
            detail: "the lock object kept changing while it was being released".into(),
        })
    }

    async fn force_unlock_now(&self) -> Result<Option<LockInfo>, StateError> {
        // Delete exactly the record shown to the user; if it changed in
        // between (its holder beat again), show and delete the new one.
        for _ in 0..3 {
            let Some((holder, etag)) = self.lock_record().await? else {
                return Ok(None);
            };
            if self.delete_lock(etag.as_deref()).await? {
                return Ok(Some(holder));
            }
        }
        Err(StateError::Conflict {
            location: self.objects.lock_location(),
            detail: "the lock object kept changing while it was being released".into(),
        })
    }
}

impl Drop for S3StateStore {
    fn drop(&mut self) {
        // A store dropped while locked (a failed run) stops beating, so the
        // lock it leaves goes stale and `stackplan unlock` can release it.
        if let Some(task) = self.heartbeat_task().take() {
            task.abort();
        }
    }
}

impl StateStore for S3StateStore {
    fn location(&self) -> String {
        self.objects.location()
    }

    fn read(&self) -> BoxFuture<'_, Result<Option<StateDocument>, StateError>> {
        Box::pin(self.read_now())
    }

    fn write<'a>(&'a self, doc: &'a StateDocument) -> BoxFuture<'a, Result<u64, StateError>> {
        Box::pin(self.write_now(doc))
    }

    fn lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(self.lock_now(info))
    }

    fn unlock(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(self.unlock_now())
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(self.holder_now())
    }

    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(self.force_unlock_now())
    }
}
