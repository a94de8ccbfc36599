//! The S3 backend: the state document as one object, written with
//! conditional requests so that a concurrent writer is detected instead of
//! overwritten, and a lock object next to it.
//!
//! - read: `GetObject`, remembering the object's ETag (or its absence);
//! - write: `PutObject` with `If-Match: <ETag>` (or `If-None-Match: *` when
//!   there was no state), so S3 answers 412 if anyone wrote in between;
//! - lock: `PutObject <key>.lock` with `If-None-Match: *`: exactly one
//!   creator wins; the loser reads the object to name the holder;
//! - unlock: deletes the lock object after checking it is still ours;
//!   `force_unlock` (`stackplan unlock`) deletes it whoever holds it.

use std::sync::{Mutex, MutexGuard};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use stackplan_core::{BoxFuture, LockInfo, StateDocument, StateError, StateStore};

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
    /// The lock id this store holds, if any.
    lock_id: Option<String>,
}

/// The state of one stack in an S3 object.
#[derive(Debug)]
pub struct S3StateStore {
    client: Client,
    bucket: String,
    key: String,
    lock_key: String,
    inner: Mutex<Inner>,
}

fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl S3StateStore {
    pub fn new(client: Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        let key = key.into();
        S3StateStore {
            client,
            bucket: bucket.into(),
            lock_key: format!("{key}.lock"),
            key,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A store on a client from the standard AWS configuration chain
    /// (profile, SSO, environment, `AWS_ENDPOINT_URL`), in `region`.
    pub async fn connect(region: &str, bucket: &str, key: &str) -> Self {
        let config = aws_config::from_env()
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            // Path-style addressing works with every endpoint, moto included.
            .force_path_style(true)
            .build();
        Self::new(Client::from_conf(s3), bucket, key)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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

    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match out {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let bytes = o.body.collect().await.map_err(|e| StateError::Backend {
                    location: self.location(),
                    message: format!("reading s3://{}/{key}", self.bucket),
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
            Err(e) => Err(self.backend(&format!("GetObject s3://{}/{key}", self.bucket), e)),
        }
    }

    async fn read_now(&self) -> Result<Option<StateDocument>, StateError> {
        let got = self.get(&self.key).await?;
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

    async fn write_now(&self, doc: &StateDocument) -> Result<u64, StateError> {
        if self.inner().lock_id.is_none() {
            return Err(StateError::NotLocked {
                location: self.location(),
            });
        }
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
        self.put_conditional(stored.to_bytes()).await?;
        let mut inner = self.inner();
        inner.lineage = Some(doc.lineage.clone());
        inner.serial = serial;
        Ok(serial)
    }

    /// Writes the state object only if it is still what this store last
    /// saw; remembers the new ETag for the next write.
    async fn put_conditional(&self, bytes: Vec<u8>) -> Result<(), StateError> {
        let seen = self.inner().seen.clone();
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
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
            // 412: the condition failed; 409: a conditional write raced ours.
            Err(e) if matches!(status(&e), Some(412 | 409)) => Err(StateError::Conflict {
                location: self.location(),
                detail: match seen {
                    Seen::ETag(etag) => format!("its ETag is no longer {etag}"),
                    _ => "it was created by someone else".to_string(),
                },
            }),
            Err(e) => Err(self.backend(&format!("PutObject {}", self.location()), e)),
        }
    }

    async fn holder_now(&self) -> Result<Option<LockInfo>, StateError> {
        match self.get(&self.lock_key).await? {
            None => Ok(None),
            Some((bytes, _)) => Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                LockInfo {
                    id: "unreadable".into(),
                    operation: "unknown".into(),
                    who: format!(
                        "unknown (s3://{}/{} is not a lock record)",
                        self.bucket, self.lock_key
                    ),
                    pid: 0,
                    created: "unknown".into(),
                }
            }))),
        }
    }

    async fn lock_now(&self, info: &LockInfo) -> Result<(), StateError> {
        if self.inner().lock_id.is_some() {
            return Ok(());
        }
        let record = serde_json::to_vec_pretty(info).expect("lock info serializes");
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(record))
            .send()
            .await;
        match put {
            Ok(_) => {
                self.inner().lock_id = Some(info.id.clone());
                Ok(())
            }
            Err(e) if matches!(status(&e), Some(412 | 409)) => {
                Err(match self.holder_now().await? {
                    Some(holder) => StateError::Locked {
                        location: self.location(),
                        holder: Box::new(holder),
                    },
                    // Released between our attempt and our look: say so
                    // rather than retry behind the caller's back.
                    None => StateError::LockedUnknown {
                        location: self.location(),
                    },
                })
            }
            Err(e) => Err(self.backend(
                &format!("PutObject s3://{}/{}", self.bucket, self.lock_key),
                e,
            )),
        }
    }

    async fn delete_lock(&self) -> Result<(), StateError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .send()
            .await
            .map_err(|e| {
                self.backend(
                    &format!("DeleteObject s3://{}/{}", self.bucket, self.lock_key),
                    e,
                )
            })?;
        Ok(())
    }

    async fn unlock_now(&self) -> Result<(), StateError> {
        let Some(ours) = self.inner().lock_id.clone() else {
            return Ok(());
        };
        match self.holder_now().await? {
            Some(h) if h.id == ours => self.delete_lock().await?,
            // Someone force-unlocked and maybe re-locked: never delete
            // another holder's lock on the way out.
            _ => {}
        }
        self.inner().lock_id = None;
        Ok(())
    }

    async fn force_unlock_now(&self) -> Result<Option<LockInfo>, StateError> {
        let holder = self.holder_now().await?;
        if holder.is_some() {
            self.delete_lock().await?;
        }
        Ok(holder)
    }
}

impl StateStore for S3StateStore {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
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
