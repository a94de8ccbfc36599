//! Polling waiters for the long operations (EKS cluster and node group
//! `ACTIVE`, MSK `ACTIVE`, deletions), reporting progress as they go.
//!
//! Not the SDK's generated waiters: those cannot report progress, and the
//! interval and timeout here come from the stack, the same for every kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use stackplan_core::{EventSink, Phase, ProgressEvent, ResourceAddr, ResourceKind};

use crate::error::{AwsError, AwsResult};

/// How often and how long to poll.
#[derive(Debug, Clone)]
pub struct WaitConfig {
    /// Time between two polls.
    pub interval: Duration,
    /// The longest wait for a kind without an entry in `timeouts`.
    pub default_timeout: Duration,
    /// Per-kind limits (an EKS cluster takes 10 to 15 minutes, an MSK
    /// cluster 20 to 40).
    pub timeouts: BTreeMap<ResourceKind, Duration>,
}

impl Default for WaitConfig {
    fn default() -> Self {
        let mins = |m: u64| Duration::from_secs(m * 60);
        WaitConfig {
            interval: Duration::from_secs(15),
            default_timeout: mins(30),
            timeouts: BTreeMap::from([
                (ResourceKind::EksCluster, mins(40)),
                (ResourceKind::EksNodegroup, mins(30)),
                (ResourceKind::EksAddon, mins(20)),
                (ResourceKind::MskCluster, mins(90)),
            ]),
        }
    }
}

impl WaitConfig {
    /// Fast polling for emulators and tests.
    pub fn quick() -> Self {
        WaitConfig {
            interval: Duration::from_millis(200),
            default_timeout: Duration::from_secs(60),
            timeouts: BTreeMap::new(),
        }
    }

    /// The longest wait for one kind (a stack's `timeouts`).
    pub fn with_timeout(mut self, kind: ResourceKind, limit: Duration) -> Self {
        self.timeouts.insert(kind, limit);
        self
    }

    pub fn timeout(&self, kind: ResourceKind) -> Duration {
        self.timeouts
            .get(&kind)
            .copied()
            .unwrap_or(self.default_timeout)
    }
}

/// One poll's verdict.
#[derive(Debug)]
pub(crate) enum Poll<T> {
    /// Done, with what the last poll saw.
    Ready(T),
    /// Not yet; the status to report (`CREATING`).
    Pending(String),
}

/// Polls `check` until it is ready, fails, or the kind's timeout passes,
/// emitting one progress event per poll with the status and elapsed time.
pub(crate) async fn poll_until<T, F, Fut>(
    config: &WaitConfig,
    addr: &ResourceAddr,
    events: &dyn EventSink,
    what: &str,
    mut check: F,
) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Poll<T>>>,
{
    let started = Instant::now();
    let timeout = config.timeout(addr.kind);
    loop {
        match check().await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Pending(status)) => {
                let elapsed = started.elapsed();
                events.emit(ProgressEvent {
                    addr: addr.clone(),
                    phase: Phase::Waiting,
                    message: format!("{what}: status {status}, {} elapsed", human(elapsed)),
                });
                if elapsed >= timeout {
                    return Err(AwsError::Timeout {
                        addr: addr.clone(),
                        what: format!("{what} (last status {status})"),
                        elapsed_secs: elapsed.as_secs(),
                    });
                }
            }
            // The SDK has already retried throttling with backoff; a
            // transient error here is one more reason to poll again, not
            // to abandon a long operation that is still running.
            Err(e) if e.is_retryable() && started.elapsed() < timeout => {
                events.emit(ProgressEvent {
                    addr: addr.clone(),
                    phase: Phase::Waiting,
                    message: format!("{what}: transient error, polling again: {e}"),
                });
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(config.interval).await;
    }
}

/// Polls until a deleted resource is gone: `status` answers `None` once
/// it no longer exists, else its current status, shown while waiting.
pub(crate) async fn poll_until_gone<F, Fut>(
    config: &WaitConfig,
    addr: &ResourceAddr,
    events: &dyn EventSink,
    what: &str,
    mut status: F,
) -> AwsResult<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Option<String>>>,
{
    poll_until(config, addr, events, what, || {
        let next = status();
        async move {
            Ok(match next.await? {
                None => Poll::Ready(()),
                Some(s) => Poll::Pending(s),
            })
        }
    })
    .await
}

/// How long a call is retried while AWS propagates something just made:
/// two minutes, terraform-provider-aws's propagation timeout for IAM and
/// for a new S3 bucket (`bucketCreatedTimeout`).
const IAM_PROPAGATION: Duration = Duration::from_secs(120);

/// Reads a resource just created until AWS can see it, and returns what
/// the read found (S3 and EC2 are eventually consistent: a bucket, VPC or
/// subnet made a moment ago can answer NotFound), for at most two minutes.
pub(crate) async fn until_found<T, F, Fut>(
    config: &WaitConfig,
    addr: &ResourceAddr,
    events: &dyn EventSink,
    what: &str,
    mut read: F,
) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = read().await? {
            return Ok(found);
        }
        let elapsed = started.elapsed();
        if elapsed >= IAM_PROPAGATION {
            return Err(AwsError::Timeout {
                addr: addr.clone(),
                what: format!("{what} to become visible"),
                elapsed_secs: elapsed.as_secs(),
            });
        }
        events.emit(ProgressEvent {
            addr: addr.clone(),
            phase: Phase::Waiting,
            message: format!("{what} is not visible yet, trying again"),
        });
        tokio::time::sleep(config.interval.max(Duration::from_millis(100))).await;
    }
}

/// Calls `call` again while AWS refuses a role it cannot see yet (IAM is
/// eventually consistent: a role made a second ago may be refused by EKS
/// or MSK), for at most two minutes; any other outcome is returned.
pub(crate) async fn retry_while_iam_propagates<T, F, Fut>(
    config: &WaitConfig,
    addr: &ResourceAddr,
    events: &dyn EventSink,
    mut call: F,
) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<T>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Err(e) if e.is_iam_propagation() && started.elapsed() < IAM_PROPAGATION => {
                events.emit(ProgressEvent {
                    addr: addr.clone(),
                    phase: Phase::Waiting,
                    message: format!("IAM has not propagated yet, trying again: {e}"),
                });
                tokio::time::sleep(config.interval.max(Duration::from_millis(100))).await;
            }
            other => return other,
        }
    }
}

/// How many times a create is tried before its error is returned.
const CREATE_ATTEMPTS: u32 = 6;

/// The pause before looking for what a failed create attempt made, then
/// trying again: 0.5 s, doubling, at most 8 s. Also what lets an
/// eventually consistent describe catch up with a create that did happen.
fn create_backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(1).min(4)))
}

/// Runs a create whose answer may be lost after AWS acted, without ever
/// making two.
///
/// `create` is a call AWS makes no idempotency promise for (no client
/// token: CreateVpc, AllocateAddress, CreateKey, ...). It must be sent
/// with the SDK's retries off (`AwsProvider::*_once`), since an SDK retry
/// after a lost answer would make a second resource; or it has a name AWS
/// keeps unique (IAM, S3, MSK), so that a retry answers one of `conflicts`
/// (`EntityAlreadyExists`) rather than duplicating. After a retryable
/// failure, or one of `conflicts`, `find` looks for the resource; it must
/// answer only one that is this stack's (its tags say so, or it lives in
/// this stack's VPC under this stack's name). Found: that is the result.
/// Not found: a conflict is returned as it is (another owner's), a
/// retryable failure is tried again, at most `CREATE_ATTEMPTS` times.
///
/// terraform-provider-aws does the same for its creates without a token:
/// it retries only errors that prove nothing was made, and on a timeout
/// reads the resource back before trying again (`tfresource.RetryWhen`
/// wrapping `CreateVpc`, `CreateInternetGateway`; `aws_kms_key`'s
/// `findKeyByID` after `CreateKey`).
pub(crate) async fn create_or_find<T, C, CF, F, FF>(
    addr: &ResourceAddr,
    events: &dyn EventSink,
    operation: &str,
    conflicts: &[&str],
    mut create: C,
    mut find: F,
) -> AwsResult<T>
where
    C: FnMut() -> CF,
    CF: Future<Output = AwsResult<T>>,
    F: FnMut() -> FF,
    FF: Future<Output = AwsResult<Option<T>>>,
{
    let mut attempt = 1;
    loop {
        let err = match create().await {
            Ok(made) => return Ok(made),
            Err(e) => e,
        };
        let conflict = err.code().is_some_and(|c| conflicts.contains(&c));
        if !(conflict || err.is_retryable() && attempt < CREATE_ATTEMPTS) {
            return Err(err);
        }
        events.emit(ProgressEvent {
            addr: addr.clone(),
            phase: Phase::Creating,
            message: format!(
                "{operation} failed ({}); looking for what it may have made",
                err.code().unwrap_or("error")
            ),
        });
        if !conflict {
            tokio::time::sleep(create_backoff(attempt)).await;
        }
        if let Some(found) = find().await? {
            events.emit(ProgressEvent {
                addr: addr.clone(),
                phase: Phase::Creating,
                message: format!("{operation} had made it: taking it over"),
            });
            return Ok(found);
        }
        if conflict {
            return Err(err);
        }
        attempt += 1;
    }
}

/// Whether `live` tags (an observed `tags` map) name the same stack as
/// the desired ones: a resource found under a conflicting name is taken
/// over only then.
pub(crate) fn same_stack(
    live: Option<&stackplan_core::Value>,
    desired: &BTreeMap<String, String>,
) -> bool {
    let Some(stack) = desired.get(OWNER_TAG) else {
        return false;
    };
    live.and_then(stackplan_core::Value::as_map)
        .and_then(|t| t.get(OWNER_TAG))
        .and_then(stackplan_core::Value::as_str)
        == Some(stack.as_str())
}

/// The tag that says which stack a resource is (core's ownership tag).
pub(crate) const OWNER_TAG: &str = "stackplan:stack";

/// Runs what a create does after the resource exists (attach, alias,
/// configure): a failure there returns the error with what was made
/// (`AwsError::Partial`), read with `observe` or, if that fails too,
/// its id alone.
pub(crate) async fn after_create<T, R, RF, O, OF>(id: &str, rest: R, observe: O) -> AwsResult<T>
where
    R: FnOnce() -> RF,
    RF: Future<Output = AwsResult<T>>,
    O: FnOnce() -> OF,
    OF: Future<Output = AwsResult<Option<stackplan_core::Observed>>>,
{
    match rest().await {
        Ok(v) => Ok(v),
        Err(e) => {
            let made = match observe().await {
                Ok(Some(o)) => o,
                _ => stackplan_core::Observed::new(id),
            };
            Err(e.after_making(made))
        }
    }
}

impl crate::AwsProvider {
    /// The EC2 client with the SDK's retries off, for creates without a
    /// client token (`create_or_find` retries them after a lookup).
    pub(crate) fn ec2_once(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            self.ec2
                .config()
                .to_builder()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    /// The IAM client with the SDK's retries off (CreatePolicyVersion:
    /// no token, and no name to conflict on).
    pub(crate) fn iam_once(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            self.iam
                .config()
                .to_builder()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    /// The KMS client with the SDK's retries off (CreateKey has no token).
    pub(crate) fn kms_once(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            self.kms
                .config()
                .to_builder()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        )
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Reports a step of work that is not a wait.
pub(crate) fn progress(
    events: &dyn EventSink,
    addr: &ResourceAddr,
    phase: Phase,
    message: impl Into<String>,
) {
    events.emit(ProgressEvent {
        addr: addr.clone(),
        phase,
        message: message.into(),
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<ProgressEvent>>);

    impl EventSink for Collect {
        fn emit(&self, event: ProgressEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[tokio::test]
    async fn waiter_reports_each_pending_status_then_returns_the_ready_value() {
        let addr = ResourceAddr::new(ResourceKind::EksCluster, "main");
        let sink = Collect::default();
        let mut n = 0;
        let v = poll_until(&WaitConfig::quick(), &addr, &sink, "cluster ACTIVE", || {
            n += 1;
            let n = n;
            async move {
                Ok(if n < 3 {
                    Poll::Pending("CREATING".to_string())
                } else {
                    Poll::Ready(n)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
        let events = sink.0.lock().unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            events[0]
                .message
                .starts_with("cluster ACTIVE: status CREATING")
        );
        assert_eq!(events[0].phase, Phase::Waiting);
    }

    fn api_error(code: &str, retryable: bool) -> AwsError {
        AwsError::Api {
            addr: ResourceAddr::new(ResourceKind::Ec2Vpc, "main"),
            operation: "CreateVpc",
            code: code.to_string(),
            message: "injected".to_string(),
            retryable,
            source: "injected".into(),
        }
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_found_and_not_made_again() {
        let addr = ResourceAddr::new(ResourceKind::Ec2Vpc, "main");
        let creates = Mutex::new(0);
        let made = create_or_find(
            &addr,
            &stackplan_core::NoEvents,
            "CreateVpc",
            &[],
            || async {
                *creates.lock().unwrap() += 1;
                Err::<String, _>(api_error("InternalError", true))
            },
            || async { Ok(Some("vpc-1".to_string())) },
        )
        .await
        .unwrap();
        assert_eq!(made, "vpc-1");
        assert_eq!(*creates.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_create_that_made_nothing_is_tried_again_after_the_lookup() {
        let addr = ResourceAddr::new(ResourceKind::Ec2Vpc, "main");
        let calls = Mutex::new(Vec::new());
        let made = create_or_find(
            &addr,
            &stackplan_core::NoEvents,
            "CreateVpc",
            &[],
            || async {
                let mut calls = calls.lock().unwrap();
                calls.push("create");
                if calls.len() == 1 {
                    Err(api_error("RequestLimitExceeded", true))
                } else {
                    Ok("vpc-2".to_string())
                }
            },
            || async {
                calls.lock().unwrap().push("find");
                Ok(None)
            },
        )
        .await
        .unwrap();
        assert_eq!(made, "vpc-2");
        assert_eq!(*calls.lock().unwrap(), ["create", "find", "create"]);
    }

    #[tokio::test]
    async fn a_name_conflict_with_nothing_of_this_stack_behind_it_stays_an_error() {
        let addr = ResourceAddr::new(ResourceKind::IamRole, "nodes");
        let err = create_or_find(
            &addr,
            &stackplan_core::NoEvents,
            "CreateRole",
            &["EntityAlreadyExists"],
            || async { Err::<(), _>(api_error("EntityAlreadyExists", false)) },
            || async { Ok(None) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Some("EntityAlreadyExists"));
    }

    #[test]
    fn only_a_resource_tagged_with_the_same_stack_is_the_stacks() {
        let desired = BTreeMap::from([(OWNER_TAG.to_string(), "a".to_string())]);
        let live = |stack: &str| {
            stackplan_core::Value::Map(
                [(OWNER_TAG.to_string(), stackplan_core::Value::string(stack))]
                    .into_iter()
                    .collect(),
            )
        };
        assert!(same_stack(Some(&live("a")), &desired));
        assert!(!same_stack(Some(&live("b")), &desired));
        assert!(!same_stack(None, &desired));
        assert!(!same_stack(Some(&live("a")), &BTreeMap::new()));
    }

    #[tokio::test]
    async fn waiter_times_out_with_the_last_status() {
        let addr = ResourceAddr::new(ResourceKind::MskCluster, "milvus");
        let config = WaitConfig {
            interval: Duration::from_millis(10),
            default_timeout: Duration::from_millis(30),
            timeouts: BTreeMap::new(),
        };
        let err = poll_until(
            &config,
            &addr,
            &stackplan_core::NoEvents,
            "cluster ACTIVE",
            || async { Ok(Poll::<()>::Pending("CREATING".into())) },
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("msk_cluster.milvus: timed out after"),
            "{text}"
        );
        assert!(text.contains("last status CREATING"), "{text}");
    }
}
