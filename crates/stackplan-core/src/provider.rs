//! The contract between the engine and the crates that talk to real APIs.
//!
//! A provider serves one or more [`ResourceKind`]s. The engine calls it with
//! plain data (resolved attributes, the prior state) and gets plain data back
//! (observed attributes, outputs, a physical id), so the engine never names
//! an AWS or Kubernetes type and tests can stand in with closures.
//!
//! ```text
//!   stackplan-engine ──calls──▶ dyn Provider ◀──implements── stackplan-aws
//!          │                        ▲                        stackplan-kube
//!          └────── both depend on stackplan-core ────────────┘
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{FieldDiff, ResourceAddr, ResourceKind, ResourceMode, ResourceState, Value};

/// Attributes by name, as a provider reads or writes them.
pub type Attrs = BTreeMap<String, Value>;

/// A boxed, sendable future: keeps [`Provider`] and `StateStore` usable as
/// trait objects without a proc-macro dependency in core.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider saw of one live resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The id the API knows the resource by (an ARN, a VPC id, a namespace
    /// name). Kept in state so the next read needs nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// The managed attributes as the API reports them, in the same shape as
    /// the desired ones, so the engine can compare them after normalisation.
    #[serde(default)]
    pub attrs: Attrs,
    /// Values only the API knows (`arn`, `endpoint`, `oidc_issuer`,
    /// `bootstrap_brokers_sasl_scram`), which other resources reference.
    #[serde(default)]
    pub outputs: Attrs,
}

impl Observed {
    pub fn new(physical_id: impl Into<String>) -> Self {
        Observed {
            physical_id: Some(physical_id.into()),
            ..Observed::default()
        }
    }

    pub fn attr(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_string(), value.into());
        self
    }

    pub fn output(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.outputs.insert(name.to_string(), value.into());
        self
    }
}

/// The step of work an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reading,
    Creating,
    Updating,
    Deleting,
    /// Polling until the resource is usable (EKS `ACTIVE`, MSK `ACTIVE`).
    Waiting,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Reading => "reading",
            Phase::Creating => "creating",
            Phase::Updating => "updating",
            Phase::Deleting => "deleting",
            Phase::Waiting => "waiting",
        })
    }
}

/// One line of progress: what a provider is doing to a resource right now
/// ("status CREATING, 4m elapsed"). The CLI decides how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    pub addr: ResourceAddr,
    pub phase: Phase,
    pub message: String,
}

/// Where providers send progress. Implementations must not block: the CLI
/// forwards to a channel, tests collect into a vector.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: ProgressEvent);
}

/// An [`EventSink`] that drops everything (plans, tests that do not care).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: ProgressEvent) {}
}

/// A request to read one resource.
///
/// Identity comes from `prior.physical_id` when the resource is in state,
/// otherwise from `desired` (a name, a VPC id). `desired` is resolved as far
/// as the engine could: a value it could not know yet is [`Value::Unknown`],
/// and a read that needs it should answer `Ok(None)` (not found yet).
#[derive(Clone, Copy)]
pub struct ReadRequest<'a> {
    pub addr: &'a ResourceAddr,
    pub mode: ResourceMode,
    pub desired: Option<&'a Attrs>,
    pub prior: Option<&'a ResourceState>,
    pub events: &'a dyn EventSink,
}

/// A request to create, update or wait for one resource. `desired` is fully
/// known: apply resolves every reference before calling.
#[derive(Clone, Copy)]
pub struct ApplyRequest<'a> {
    pub addr: &'a ResourceAddr,
    pub desired: &'a Attrs,
    /// Present for update and wait; absent for create.
    pub prior: Option<&'a ResourceState>,
    /// The fields that change, with paths, for providers whose update calls
    /// are per field (EKS: version vs. logging vs. access config).
    pub field_diffs: &'a [FieldDiff],
    pub events: &'a dyn EventSink,
}

/// A request to delete one resource known from state.
#[derive(Clone, Copy)]
pub struct DeleteRequest<'a> {
    pub addr: &'a ResourceAddr,
    pub prior: &'a ResourceState,
    pub events: &'a dyn EventSink,
}

macro_rules! debug_addr {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).field("addr", &self.addr).finish_non_exhaustive()
            }
        }
    )*};
}
debug_addr!(ReadRequest, ApplyRequest, DeleteRequest);

/// Something in the stack its provider's API will refuse, found before
/// anything is read or changed (an EKS add-on name EKS does not have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub addr: ResourceAddr,
    /// The attribute at fault.
    pub attr: String,
    pub message: String,
    /// How to fix it (a did-you-mean), when there is one.
    pub hint: Option<String>,
    pub severity: Severity,
}

/// An error stops the plan; a warning goes with it (an existing subnet
/// that is public, or not tagged for internal load balancers: allowed,
/// but rarely meant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.addr, self.attr, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// A provider failure, with the cause chain kept for the CLI's report.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    /// True for throttling and transient network errors: the caller may try
    /// again. Plans never retry on their own; apply may.
    pub retryable: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// What a create made before it failed (a key whose alias call
    /// failed, a cluster past its wait limit): apply records it in state,
    /// marked tainted, so it is neither leaked nor created twice.
    pub partial: Option<Box<Observed>>,
}

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: false,
            source: None,
            partial: None,
        }
    }

    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ProviderError {
            message: message.into(),
            retryable: false,
            source: Some(Box::new(source)),
            partial: None,
        }
    }

    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Says that the failed create left `made` behind.
    pub fn with_partial(mut self, made: Observed) -> Self {
        self.partial = Some(Box::new(made));
        self
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;

/// Serves the kinds of one API family: read, create, update, delete and
/// wait, per kind. Every method takes plain data and returns plain data.
///
/// Object-safe on purpose (boxed futures): the engine holds providers as
/// `Arc<dyn Provider>` in a [`ProviderRegistry`].
pub trait Provider: Send + Sync {
    /// A short name for messages (`aws`, `kubernetes`, `fake`).
    fn name(&self) -> &str;

    /// The kinds this provider serves.
    fn kinds(&self) -> Vec<ResourceKind>;

    /// Reads the live resource. `Ok(None)` means it does not exist (or,
    /// for a resource whose identity is still unknown, cannot be found yet).
    fn read<'a>(&'a self, req: ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>>;

    /// Creates the resource and returns what it then looks like.
    fn create<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>>;

    /// Changes the resource in place to match `desired`.
    fn update<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>>;

    /// Deletes the resource; succeeding on one that is already gone.
    fn delete<'a>(&'a self, req: DeleteRequest<'a>) -> BoxFuture<'a, ProviderResult<()>>;

    /// Waits until the resource is usable by its dependents (EKS and MSK
    /// `ACTIVE`, a node group's nodes joined). The default is ready at once.
    fn wait<'a>(
        &'a self,
        req: ApplyRequest<'a>,
        observed: Observed,
    ) -> BoxFuture<'a, ProviderResult<Observed>> {
        let _ = req;
        Box::pin(async move { Ok(observed) })
    }

    /// Lets a provider refine the engine's diff with what only the API
    /// knows: mark a field as forcing replacement only for some changes
    /// (a downgrade), or drop a difference the API ignores. The default
    /// keeps the schema's verdict.
    fn plan_change(&self, addr: &ResourceAddr, diffs: &mut Vec<FieldDiff>) -> ProviderResult<()> {
        let _ = (addr, diffs);
        Ok(())
    }

    /// Checks the stack's resources of this provider's kinds against what
    /// only its API knows, before anything is read or changed: a rule the
    /// API enforces at create is refused at plan instead, naming the
    /// resource. `resources` are every resource of the plan this provider
    /// serves. The default finds nothing.
    fn preflight<'a>(
        &'a self,
        resources: &'a [&'a crate::Resource],
    ) -> BoxFuture<'a, ProviderResult<Vec<Finding>>> {
        let _ = resources;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The physical id state would hold for `id` as a user gives it to
    /// `import`, when the API spells the same resource another way (a
    /// role's ARN for its name, a cluster's name for its ARN). `Ok(None)`
    /// when nothing by that spelling exists. The default takes the id as
    /// given.
    fn import_id<'a>(
        &'a self,
        addr: &'a ResourceAddr,
        id: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<String>>> {
        let _ = addr;
        Box::pin(async move { Ok(Some(id.to_string())) })
    }

    /// How long apply waits at most for `wait` on this kind.
    fn wait_timeout(&self, kind: ResourceKind) -> Duration {
        let _ = kind;
        Duration::from_secs(30 * 60)
    }
}

/// What a secret source gives now, so that a plan sees a rotated password
/// (the value behind `env:NAME` or `secretsmanager:ARN` changed while the
/// stack file did not). The value stays in memory: the engine seals it
/// with the run's key before comparing.
pub trait SecretSources: Send + Sync {
    /// The value `source` gives now. `Ok(None)` when nothing can be known
    /// before apply (`generate` keeps whatever the secret holds); `Err`
    /// says why the source cannot be read here (an unset variable in a
    /// pull-request job, a plan role without `GetSecretValue`), and the
    /// plan warns that it cannot see a rotation.
    fn current<'a>(
        &'a self,
        source: &'a crate::SecretSource,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
}

/// Which provider serves which kind. A kind with no provider is an error
/// the engine reports by name, never a resource it silently skips.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_kind: BTreeMap<ResourceKind, Arc<dyn Provider>>,
    secrets: Option<Arc<dyn SecretSources>>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `provider` for every kind it lists; a later registration
    /// of the same kind wins (tests override one kind of a real provider).
    pub fn register(&mut self, provider: Arc<dyn Provider>) -> &mut Self {
        for kind in provider.kinds() {
            self.by_kind.insert(kind, provider.clone());
        }
        self
    }

    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        self.register(provider);
        self
    }

    pub fn get(&self, kind: ResourceKind) -> Option<&Arc<dyn Provider>> {
        self.by_kind.get(&kind)
    }

    /// Where plans read what secret sources give now.
    pub fn with_secret_sources(mut self, sources: Arc<dyn SecretSources>) -> Self {
        self.secrets = Some(sources);
        self
    }

    /// `None` when no provider reads secret sources: plans then compare
    /// sources only, as written in the stack.
    pub fn secret_sources(&self) -> Option<&Arc<dyn SecretSources>> {
        self.secrets.as_ref()
    }

    /// The kinds with a provider, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = ResourceKind> + '_ {
        self.by_kind.keys().copied()
    }
}

impl fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.by_kind.iter().map(|(k, p)| (k.as_str(), p.name())))
            .finish()
    }
}
