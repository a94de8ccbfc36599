//! Apply: carries out a plan, and nothing but the plan.
//!
//! The plan's changes become operations on a graph of their own, ordered
//! by the scheduler (`schedule.rs`). Every operation starts
//! as soon as the operations it waits for are done, at most `parallelism`
//! at a time, so an EKS cluster and an MSK cluster create together.
//!
//! A failed operation stops everything that waits on it; independent
//! branches finish. State is written after every operation, so a process
//! killed at any moment loses at most the operation in flight, which the
//! next refresh finds by name. A stop request (the first Ctrl-C) starts
//! nothing new and lets the operations in flight finish.
//!
//! Nothing made is ever dropped from state: the old copy of a
//! create-before-destroy replacement is deposed (kept, marked for delete)
//! before the new copy is made, and a create that made something but did
//! not finish records it tainted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use stackplan_core::{
    Action, ApplyRequest, Attrs, Change, DeleteRequest, EventSink, Observed, OutputRef, Plan,
    ProviderRegistry, ReadRequest, ReplaceOrder, ResourceAddr, ResourceState, StateDocument,
    StateStore, Value, sealed_digest,
};

use crate::EngineError;
use crate::error::chain;
use crate::refresh::provider_for;
use crate::schedule::{Node, Op, schedule};
use crate::seal::seal_attrs;

/// What apply reports as it goes; the CLI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyEvent {
    Started {
        addr: ResourceAddr,
        op: Op,
    },
    Done {
        addr: ResourceAddr,
        op: Op,
    },
    Failed {
        addr: ResourceAddr,
        op: Op,
        error: String,
    },
    /// Not started: something it waits for failed, or a stop was requested.
    Skipped {
        addr: ResourceAddr,
        op: Op,
        reason: String,
    },
    /// State written with this serial.
    StateSaved {
        serial: u64,
    },
}

/// Where apply events go. Must not block.
pub trait ApplySink: Send + Sync {
    fn event(&self, event: ApplyEvent);
}

/// An [`ApplySink`] that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApplyEvents;

impl ApplySink for NoApplyEvents {
    fn event(&self, _event: ApplyEvent) {}
}

#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// At most this many operations in flight.
    pub parallelism: usize,
    /// How often a failed state write is tried again once the operations
    /// in flight are drained, and the first pause between tries (doubled
    /// each time).
    pub state_write_retries: u32,
    pub state_write_backoff: Duration,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            parallelism: 16,
            state_write_retries: 3,
            state_write_backoff: Duration::from_secs(1),
        }
    }
}

/// Everything apply works with besides the plan and the state it updates.
#[derive(Clone, Copy)]
pub struct ApplyContext<'a> {
    pub registry: &'a ProviderRegistry,
    /// Where state is written after every operation. The caller holds the
    /// state lock.
    pub store: &'a dyn StateStore,
    pub settings: &'a ApplySettings,
    pub sink: &'a dyn ApplySink,
    pub events: &'a dyn EventSink,
    pub stop: &'a StopFlag,
}

impl std::fmt::Debug for ApplyContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyContext")
            .field("settings", self.settings)
            .finish_non_exhaustive()
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// The provider's API refused or failed; `retryable` when the same
    /// call may succeed later (throttling, a transient network error).
    Provider { retryable: bool },
    /// A value the change needs is still unknown, or the plan lacks it.
    Unresolved,
    /// The resource was made but did not become ready in time.
    Timeout,
}

/// One failed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure {
    pub addr: ResourceAddr,
    pub op: Op,
    pub cause: FailureCause,
    /// The error with its causes, on one line.
    pub message: String,
    /// What the failed create left behind is in state, tainted: the next
    /// plan waits for it again or replaces it.
    pub tainted: bool,
}

/// State could not be written even after the retries: the document as
/// apply left it, for the caller to save elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct StateWriteFailure {
    pub error: String,
    pub document: StateDocument,
}

/// How an apply ended, operation by operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub done: Vec<(ResourceAddr, Op)>,
    pub failed: Vec<OpFailure>,
    pub skipped: Vec<(ResourceAddr, Op, String)>,
    /// True when a stop request ended the run early.
    pub interrupted: bool,
    /// Failed writes of state that a retry then saved.
    pub state_write_retries: u32,
    /// Set when state could not be saved at all.
    pub state_write: Option<StateWriteFailure>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.state_write.is_none()
    }
}

/// A request to stop starting new work, shared with a signal handler.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What an operation came back with.
struct Outcome {
    index: usize,
    /// The resolved attributes a create or update applied.
    applied: Option<Attrs>,
    result: Result<Option<Observed>, Failure>,
}

/// A failed operation, with what it made before failing, if anything.
struct Failure {
    cause: FailureCause,
    message: String,
    made: Option<Observed>,
}

impl Failure {
    fn unresolved(message: String) -> Self {
        Failure {
            cause: FailureCause::Unresolved,
            message,
            made: None,
        }
    }

    fn provider(e: stackplan_core::ProviderError) -> Self {
        let message = chain(&e);
        Failure {
            cause: FailureCause::Provider {
                retryable: e.retryable,
            },
            message,
            made: e.partial.map(|p| *p),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// The bookkeeping of one apply: which operation is where, and what the
/// report says so far.
struct Run<'a> {
    nodes: Vec<Node>,
    status: Vec<Status>,
    remaining: Vec<BTreeSet<usize>>,
    reasons: BTreeMap<usize, String>,
    report: ApplyReport,
    sink: &'a dyn ApplySink,
}

impl<'a> Run<'a> {
    fn new(nodes: Vec<Node>, sink: &'a dyn ApplySink) -> Self {
        Run {
            status: vec![Status::Waiting; nodes.len()],
            remaining: nodes.iter().map(|n| n.waits_for.clone()).collect(),
            nodes,
            reasons: BTreeMap::new(),
            report: ApplyReport::default(),
            sink,
        }
    }

    /// The waiting operations that can start, in address order.
    fn ready(&self) -> Vec<usize> {
        let mut ready: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.status[i] == Status::Waiting && self.remaining[i].is_empty())
            .collect();
        ready.sort_by(|a, b| {
            let (a, b) = (&self.nodes[*a], &self.nodes[*b]);
            (&a.addr, a.op, &a.deposed).cmp(&(&b.addr, b.op, &b.deposed))
        });
        ready
    }

    fn started(&mut self, i: usize) {
        self.status[i] = Status::Running;
        self.sink.event(ApplyEvent::Started {
            addr: self.nodes[i].addr.clone(),
            op: self.nodes[i].op,
        });
    }

    fn done(&mut self, i: usize) {
        self.status[i] = Status::Done;
        let node = &self.nodes[i];
        self.report.done.push((node.addr.clone(), node.op));
        self.sink.event(ApplyEvent::Done {
            addr: node.addr.clone(),
            op: node.op,
        });
        for r in self.remaining.iter_mut() {
            r.remove(&i);
        }
    }

    fn failed(&mut self, i: usize, failure: &Failure, tainted: bool) {
        self.status[i] = Status::Failed;
        let node = &self.nodes[i];
        let mut message = failure.message.clone();
        if tainted {
            message.push_str(" (what it made is kept in state as tainted)");
        }
        self.report.failed.push(OpFailure {
            addr: node.addr.clone(),
            op: node.op,
            cause: failure.cause.clone(),
            message: message.clone(),
            tainted,
        });
        self.sink.event(ApplyEvent::Failed {
            addr: node.addr.clone(),
            op: node.op,
            error: message,
        });
    }

    /// Marks as skipped every waiting operation that can no longer run: it
    /// waits for a failure (named as the reason), for something skipped
    /// (whose reason it inherits, so a chain names its root cause), or,
    /// when `finishing`, for anything that did not happen (`why`).
    fn skip_unreachable(&mut self, finishing: Option<&str>) {
        loop {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                if self.status[i] != Status::Waiting {
                    continue;
                }
                let waits = &self.remaining[i];
                let failed = waits.iter().find(|d| self.status[**d] == Status::Failed);
                let skipped = waits.iter().find(|d| self.status[**d] == Status::Skipped);
                let reason = match (failed, skipped, finishing) {
                    (Some(d), _, _) => format!(
                        "`{}` ({}) did not succeed",
                        self.nodes[*d].addr, self.nodes[*d].op
                    ),
                    (None, Some(d), _) => self.reasons.get(d).cloned().unwrap_or_default(),
                    (None, None, Some(why)) => why.to_string(),
                    (None, None, None) => continue,
                };
                self.status[i] = Status::Skipped;
                self.reasons.insert(i, reason.clone());
                let node = &self.nodes[i];
                self.report
                    .skipped
                    .push((node.addr.clone(), node.op, reason.clone()));
                self.sink.event(ApplyEvent::Skipped {
                    addr: node.addr.clone(),
                    op: node.op,
                    reason,
                });
                changed = true;
            }
            if !changed {
                break;
            }
        }
    }
}

/// Writes `state`, and says whether it worked; a failure is kept for the
/// report and retried once nothing is in flight.
async fn save(
    state: &mut StateDocument,
    cx: &ApplyContext<'_>,
    write_error: &mut Option<String>,
) -> bool {
    match cx.store.write(state).await {
        Ok(serial) => {
            state.serial = serial;
            cx.sink.event(ApplyEvent::StateSaved { serial });
            true
        }
        Err(e) => {
            *write_error = Some(chain(&e));
            false
        }
    }
}

/// Tries a failed state write again, pausing longer each time; the last
/// error when every try failed.
async fn retry_save(
    state: &mut StateDocument,
    cx: &ApplyContext<'_>,
    report: &mut ApplyReport,
    first: String,
) -> Result<(), String> {
    let mut pause = cx.settings.state_write_backoff;
    let mut last = first;
    for _ in 0..cx.settings.state_write_retries {
        tokio::time::sleep(pause).await;
        pause *= 2;
        report.state_write_retries += 1;
        let mut error = None;
        if save(state, cx, &mut error).await {
            return Ok(());
        }
        last = error.unwrap_or(last);
    }
    Err(last)
}

/// Applies `plan`, writing `state` through `cx.store` after every
/// operation.
///
/// A failed state write starts nothing new: the operations in flight are
/// drained into `state`, and the write is tried again with backoff; once
/// it works, apply goes on. If it never does, the report carries the
/// document
/// ([`ApplyReport::state_write`]) for the caller to save elsewhere.
pub async fn apply(
    plan: &Plan,
    state: &mut StateDocument,
    cx: &ApplyContext<'_>,
) -> Result<ApplyReport, EngineError> {
    let nodes = schedule(plan, state)?;
    // Check every provider before touching anything.
    for n in &nodes {
        provider_for(cx.registry, &n.addr)?;
    }
    // The change each operation carries out: its address's, or for an
    // old copy's delete, that copy's.
    let changes: BTreeMap<&ResourceAddr, &Change> =
        plan.changes.iter().map(|c| (&c.addr, c)).collect();
    let deposed: BTreeMap<(&ResourceAddr, Option<&String>), &Change> = plan
        .deposed
        .iter()
        .map(|c| ((&c.addr, c.physical_id.as_ref()), c))
        .collect();
    let change_of: Vec<&Change> = nodes
        .iter()
        .map(|n| match n.op {
            Op::DeleteDeposed => deposed[&(&n.addr, n.deposed.as_ref())],
            _ => changes[&n.addr],
        })
        .collect();

    // Outputs learnt during this run, in memory only: they may hold
    // sensitive values that state keeps sealed.
    let mut fresh: BTreeMap<ResourceAddr, Observed> = BTreeMap::new();
    let mut run = Run::new(nodes, cx.sink);
    let mut in_flight = FuturesUnordered::new();
    let parallelism = cx.settings.parallelism.max(1);
    let mut write_error: Option<String> = None;

    loop {
        if !cx.stop.requested() && write_error.is_none() {
            for i in run.ready() {
                if in_flight.len() >= parallelism {
                    break;
                }
                let node = run.nodes[i].clone();
                let change = change_of[i];
                let desired = match node.op {
                    Op::Create | Op::Update => {
                        match resolve_config(change, state, &fresh, cx.registry, cx.events).await {
                            Ok(d) => Some(d),
                            Err(e) => {
                                run.failed(i, &Failure::unresolved(e), false);
                                continue;
                            }
                        }
                    }
                    _ => None,
                };
                let prior = match node.op {
                    Op::Create if creates_first(change) => {
                        // The old copy stays in state, deposed, until its
                        // delete succeeds: written before the create, so
                        // no moment loses it.
                        if state.depose(&node.addr).is_some()
                            && !save(state, cx, &mut write_error).await
                        {
                            undepose(state, change);
                            break;
                        }
                        None
                    }
                    Op::Create => None,
                    Op::DeleteReplaced if creates_first(change) => change
                        .physical_id
                        .as_deref()
                        .and_then(|id| state.deposed(&node.addr, id))
                        .cloned(),
                    Op::DeleteDeposed => node
                        .deposed
                        .as_deref()
                        .and_then(|id| state.deposed(&node.addr, id))
                        .cloned(),
                    Op::Delete | Op::DeleteReplaced => state.get(&node.addr).cloned(),
                    Op::Update | Op::Read => state
                        .get(&node.addr)
                        .cloned()
                        .or_else(|| adopted_prior(change)),
                };
                run.started(i);
                in_flight.push(run_op(OpInputs {
                    index: i,
                    node,
                    change,
                    desired,
                    prior,
                    registry: cx.registry,
                    events: cx.events,
                }));
            }
        }
        run.skip_unreachable(None);

        let Some(outcome) = in_flight.next().await else {
            // Nothing in flight. After a failed write, try again with
            // backoff, and go on if it works.
            if let Some(error) = write_error.take() {
                match retry_save(state, cx, &mut run.report, error).await {
                    Ok(()) => continue,
                    Err(error) => {
                        run.report.state_write = Some(StateWriteFailure {
                            error,
                            document: state.clone(),
                        });
                        run.skip_unreachable(Some("not started: state could not be written"));
                    }
                }
            }
            break;
        };
        let i = outcome.index;
        let node = run.nodes[i].clone();
        let change = change_of[i];
        match outcome.result {
            Ok(observed) => {
                record(
                    state,
                    &node,
                    change,
                    outcome.applied.as_ref(),
                    observed.as_ref(),
                );
                match observed {
                    Some(o) => fresh.insert(node.addr.clone(), o),
                    None => fresh.remove(&node.addr),
                };
                if write_error.is_none() {
                    save(state, cx, &mut write_error).await;
                }
                run.done(i);
            }
            Err(failure) => {
                let state_changed = match (&failure.made, node.op) {
                    (Some(made), Op::Create) => {
                        let mut s = resource_state(change, outcome.applied.as_ref(), made);
                        s.tainted = true;
                        state.upsert(s);
                        true
                    }
                    (None, Op::Create) => {
                        // Nothing was made: the old copy is still the one.
                        undepose(state, change)
                    }
                    _ => false,
                };
                if state_changed {
                    if write_error.is_none() {
                        save(state, cx, &mut write_error).await;
                    }
                    if let Some(made) = failure.made.clone() {
                        fresh.insert(node.addr.clone(), made);
                    }
                }
                let tainted = state_changed && failure.made.is_some();
                run.failed(i, &failure, tainted);
            }
        }
    }
    run.report.interrupted = cx.stop.requested();
    let why = if run.report.interrupted {
        "stopped before it started"
    } else {
        "not started"
    };
    run.skip_unreachable(Some(why));
    Ok(run.report)
}

/// True for a create-before-destroy replacement: the new copy is made
/// while the old one, deposed, waits for its delete.
fn creates_first(change: &Change) -> bool {
    matches!(
        change.action,
        Action::Replace {
            order: ReplaceOrder::CreateBeforeDestroy,
            ..
        }
    )
}

/// Puts back the old copy a create-before-destroy create deposed, when
/// that create made nothing. True when there was one.
fn undepose(state: &mut StateDocument, change: &Change) -> bool {
    if !creates_first(change) || state.get(&change.addr).is_some() {
        return false;
    }
    let Some(old) = change
        .physical_id
        .as_deref()
        .and_then(|id| state.remove_deposed(&change.addr, id))
    else {
        return false;
    };
    state.upsert(old);
    true
}

/// The change's configuration with every reference resolved: from what
/// this run made or read, else as the plan resolved it (the values the
/// user reviewed), else read live again (what was unknown at plan time,
/// or sensitive: neither plan nor state holds a secret), else from state.
async fn resolve_config(
    change: &Change,
    state: &StateDocument,
    fresh: &BTreeMap<ResourceAddr, Observed>,
    registry: &ProviderRegistry,
    events: &dyn EventSink,
) -> Result<Attrs, String> {
    let config = change
        .config
        .as_ref()
        .ok_or_else(|| format!("the plan has no configuration for `{}`", change.addr))?;
    let mut reread: BTreeMap<ResourceAddr, Observed> = BTreeMap::new();
    let refs: BTreeSet<OutputRef> = config.values().flat_map(Value::refs).collect();
    for r in &refs {
        if fresh.contains_key(&r.addr)
            || reread.contains_key(&r.addr)
            || change.inputs.contains_key(&r.to_string())
        {
            continue;
        }
        let from_state = state
            .get(&r.addr)
            .and_then(|s| s.outputs.get(&r.attr).or_else(|| s.attributes.get(&r.attr)));
        if from_state.is_some_and(|v| !lacks_content(v)) {
            continue;
        }
        let prior = state.get(&r.addr);
        let provider = registry
            .get(r.addr.kind)
            .ok_or_else(|| format!("no provider for `{}`", r.addr))?;
        let observed = provider
            .read(ReadRequest {
                addr: &r.addr,
                mode: prior
                    .map(|p| p.mode)
                    .unwrap_or(stackplan_core::ResourceMode::Managed),
                desired: None,
                prior,
                events,
            })
            .await
            .map_err(|e| format!("reading `{}` for its outputs: {e}", r.addr))?;
        if let Some(o) = observed {
            reread.insert(r.addr.clone(), o);
        }
    }
    let lookup = |r: &OutputRef| -> Option<Value> {
        if let Some(o) = fresh.get(&r.addr) {
            return o
                .outputs
                .get(&r.attr)
                .or_else(|| o.attrs.get(&r.attr))
                .cloned();
        }
        if let Some(v) = change.inputs.get(&r.to_string()) {
            return Some(v.clone());
        }
        if let Some(o) = reread.get(&r.addr) {
            return o
                .outputs
                .get(&r.attr)
                .or_else(|| o.attrs.get(&r.attr))
                .cloned();
        }
        let s = state.get(&r.addr)?;
        s.outputs
            .get(&r.attr)
            .or_else(|| s.attributes.get(&r.attr))
            .cloned()
    };
    let resolved: Attrs = config
        .iter()
        .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
        .collect();
    if let Some((attr, _)) = resolved.iter().find(|(_, v)| has_unknown(v)) {
        let missing: Vec<String> = refs
            .iter()
            .filter(|r| lookup(r).is_none())
            .map(ToString::to_string)
            .collect();
        return Err(format!(
            "`{attr}` is still unknown at apply time (unresolved: {})",
            if missing.is_empty() {
                "a computed value".to_string()
            } else {
                missing.join(", ")
            }
        ));
    }
    Ok(resolved)
}

/// True when something in `v` is still unknown. Secret sources are not
/// unknown: the provider reads them.
/// True when `v` holds a sensitive value whose content state never kept
/// (or only this run's digest of it): the producer must be read again.
fn lacks_content(v: &Value) -> bool {
    match v {
        Value::Sensitive(inner) => sealed_digest(v).is_some() || has_unknown(inner),
        Value::List(items) => items.iter().any(lacks_content),
        Value::Map(m) => m.values().any(lacks_content),
        _ => false,
    }
}

fn has_unknown(v: &Value) -> bool {
    match v {
        Value::Unknown | Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) => true,
        Value::List(items) => items.iter().any(has_unknown),
        Value::Map(m) => m.values().any(has_unknown),
        Value::Sensitive(inner) => has_unknown(inner),
        _ => false,
    }
}

/// What one operation runs with.
struct OpInputs<'a> {
    index: usize,
    node: Node,
    change: &'a Change,
    /// For a create or update: the configuration, resolved.
    desired: Option<Attrs>,
    /// What state holds of the object the operation acts on.
    prior: Option<ResourceState>,
    registry: &'a ProviderRegistry,
    events: &'a dyn EventSink,
}

async fn run_op(inputs: OpInputs<'_>) -> Outcome {
    let OpInputs {
        index,
        node,
        change,
        desired,
        prior,
        registry,
        events,
    } = inputs;
    let applied = desired.clone();
    let result = async {
        let provider = registry
            .get(node.addr.kind)
            .ok_or_else(|| Failure::unresolved(format!("no provider for `{}`", node.addr.kind)))?;
        match node.op {
            Op::Create | Op::Update => {
                let desired = desired.expect("resolved before starting");
                let req = ApplyRequest {
                    addr: &node.addr,
                    desired: &desired,
                    prior: if node.op == Op::Update {
                        prior.as_ref()
                    } else {
                        None
                    },
                    field_diffs: &change.field_diffs,
                    events,
                };
                let observed = match (node.op, &prior) {
                    // A create that did not finish, planned to be waited
                    // for again: nothing to call, only the wait.
                    (Op::Update, Some(p)) if p.tainted && change.field_diffs.is_empty() => {
                        Observed {
                            physical_id: p.physical_id.clone(),
                            attrs: p.attributes.clone(),
                            outputs: p.outputs.clone(),
                        }
                    }
                    (Op::Create, _) => provider.create(req).await.map_err(Failure::provider)?,
                    _ => provider.update(req).await.map_err(Failure::provider)?,
                };
                let timeout = provider.wait_timeout(node.addr.kind);
                let made = observed.clone();
                match tokio::time::timeout(timeout, provider.wait(req, observed)).await {
                    Ok(Ok(o)) => Ok(Some(o)),
                    Ok(Err(e)) => {
                        let mut f = Failure::provider(e);
                        f.made.get_or_insert(made);
                        Err(f)
                    }
                    Err(_) => Err(Failure {
                        cause: FailureCause::Timeout,
                        message: format!("not ready after {}s", timeout.as_secs()),
                        made: Some(made),
                    }),
                }
            }
            Op::Read => provider
                .read(ReadRequest {
                    addr: &node.addr,
                    mode: change.mode,
                    desired: change.after.as_ref(),
                    prior: prior.as_ref(),
                    events,
                })
                .await
                .map_err(Failure::provider)?
                .ok_or_else(|| Failure::unresolved(format!("`{}` does not exist", node.addr)))
                .map(Some),
            Op::Delete | Op::DeleteReplaced | Op::DeleteDeposed => {
                let Some(prior) = prior.as_ref() else {
                    return Ok(None);
                };
                provider
                    .delete(DeleteRequest {
                        addr: &node.addr,
                        prior,
                        events,
                    })
                    .await
                    .map_err(Failure::provider)?;
                Ok(None)
            }
        }
    }
    .await;
    Outcome {
        index,
        applied,
        result,
    }
}

/// The state entry of what a create or update made.
fn resource_state(change: &Change, applied: Option<&Attrs>, o: &Observed) -> ResourceState {
    let mut s = ResourceState::new(change.addr.clone(), change.mode);
    s.physical_id = o.physical_id.clone();
    s.attributes = seal_attrs(applied.unwrap_or(&o.attrs));
    s.outputs = seal_attrs(&o.outputs);
    s.dependencies = change.dependencies.iter().cloned().collect();
    s
}

/// Writes what an operation did into the state document: the attributes
/// it applied (for a read, what it saw) and the outputs. Sensitive values
/// are sealed; secret sources are kept as sources.
fn record(
    state: &mut StateDocument,
    node: &Node,
    change: &Change,
    applied: Option<&Attrs>,
    observed: Option<&Observed>,
) {
    match (node.op, observed) {
        (Op::Delete, _) => {
            state.remove(&node.addr);
        }
        (Op::DeleteReplaced, _) if creates_first(change) => {
            if let Some(id) = change.physical_id.as_deref() {
                state.remove_deposed(&node.addr, id);
            }
        }
        (Op::DeleteReplaced, _) => {
            // Destroy before create: the address is empty until the new
            // copy is made.
            state.remove(&node.addr);
        }
        (Op::DeleteDeposed, _) => {
            if let Some(id) = node.deposed.as_deref() {
                state.remove_deposed(&node.addr, id);
            }
        }
        (_, Some(o)) => state.upsert(resource_state(change, applied, o)),
        (_, None) => {}
    }
}
/// What an update of a resource found live but not in state works on: the
/// id the plan saw, and nothing stackplan applied before.
fn adopted_prior(change: &Change) -> Option<ResourceState> {
    let id = change.physical_id.clone()?;
    let mut prior = ResourceState::new(change.addr.clone(), change.mode);
    prior.physical_id = Some(id);
    Some(prior)
}
