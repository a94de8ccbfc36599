//! Apply: carries out a plan, and nothing but the plan.
//!
//! The plan's changes become operations on a graph of their own (creates
//! and updates follow the dependencies, deletes run in reverse, a replace is
//! a create and a delete ordered as the plan says). Every operation starts
//! as soon as the operations it waits for are done, at most `parallelism`
//! at a time, so an EKS cluster and an MSK cluster create together.
//!
//! A failed operation stops everything that waits on it; independent
//! branches finish. State is written after every operation, so a process
//! killed at any moment loses at most the operation in flight, which the
//! next refresh finds by name. A stop request (the first Ctrl-C) starts
//! nothing new and lets the operations in flight finish.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use stackplan_core::{
    Action, ApplyRequest, Attrs, DeleteRequest, EventSink, Observed, OutputRef, Plan,
    ProviderRegistry, ReadRequest, ReplaceOrder, ResourceAddr, ResourceState, StateDocument,
    StateStore, Value, sealed_digest,
};

use crate::EngineError;
use crate::refresh::provider_for;
use crate::seal::seal_attrs;

/// One step of apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Create,
    Update,
    /// A lookup read again so its outputs reach state.
    Read,
    Delete,
    /// The old copy of a replaced resource.
    DeleteReplaced,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Read => "read",
            Op::Delete => "delete",
            Op::DeleteReplaced => "delete (replaced)",
        })
    }
}

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
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings { parallelism: 16 }
    }
}

/// How an apply ended, operation by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub done: Vec<(ResourceAddr, Op)>,
    pub failed: Vec<(ResourceAddr, Op, String)>,
    pub skipped: Vec<(ResourceAddr, Op, String)>,
    /// True when a stop request ended the run early.
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
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

#[derive(Debug, Clone)]
struct Node {
    addr: ResourceAddr,
    op: Op,
    waits_for: BTreeSet<usize>,
}

/// The operations of a plan and their order.
fn schedule(plan: &Plan, state: &StateDocument) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    // Per address: the node that makes it exist as desired, and the node
    // that removes (the old copy of) it.
    let mut ready_at: BTreeMap<&ResourceAddr, usize> = BTreeMap::new();
    let mut gone_at: BTreeMap<&ResourceAddr, usize> = BTreeMap::new();
    let mut push = |addr: &ResourceAddr, op: Op| {
        nodes.push(Node {
            addr: addr.clone(),
            op,
            waits_for: BTreeSet::new(),
        });
        nodes.len() - 1
    };
    for c in &plan.changes {
        match &c.action {
            Action::Create => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Create));
            }
            Action::Update => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Update));
            }
            Action::Read => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Read));
            }
            Action::Delete => {
                gone_at.insert(&c.addr, push(&c.addr, Op::Delete));
            }
            Action::Replace { .. } => {
                let create = push(&c.addr, Op::Create);
                let delete = push(&c.addr, Op::DeleteReplaced);
                ready_at.insert(&c.addr, create);
                gone_at.insert(&c.addr, delete);
            }
            // Found live, equal to the stack, but not in state: an apply
            // killed between the API call and the state write made it.
            // Adopt it (an update that changes nothing) so it reaches state
            // and its outputs reach what references it.
            Action::NoOp
                if c.mode == stackplan_core::ResourceMode::Managed
                    && c.physical_id.is_some()
                    && state.get(&c.addr).is_none() =>
            {
                ready_at.insert(&c.addr, push(&c.addr, Op::Update));
            }
            Action::NoOp => {}
        }
    }

    // What depended on each address when it was last applied: those must
    // let go of it before it is deleted.
    let mut state_dependents: BTreeMap<&ResourceAddr, Vec<&ResourceAddr>> = BTreeMap::new();
    for r in &state.resources {
        for d in &r.dependencies {
            state_dependents.entry(d).or_default().push(&r.addr);
        }
    }

    let mut edges: Vec<(usize, usize)> = Vec::new();
    for c in &plan.changes {
        let Some(&node) = ready_at.get(&c.addr) else {
            continue;
        };
        // Creates and updates wait for what they consume.
        for dep in &c.dependencies {
            if let Some(&d) = ready_at.get(dep) {
                edges.push((node, d));
            }
        }
        if let (Action::Replace { order, .. }, Some(&old)) = (&c.action, gone_at.get(&c.addr)) {
            match order {
                ReplaceOrder::CreateBeforeDestroy => edges.push((old, node)),
                ReplaceOrder::DestroyBeforeCreate => edges.push((node, old)),
            }
        }
    }
    for (addr, &gone) in &gone_at {
        // Deletes run in reverse: everything that used this resource is
        // deleted, replaced or updated away from it first.
        for dependent in state_dependents.get(addr).into_iter().flatten() {
            for map in [&gone_at, &ready_at] {
                if let Some(&d) = map.get(dependent)
                    && d != gone
                {
                    edges.push((gone, d));
                }
            }
        }
    }
    for (from, to) in edges {
        nodes[from].waits_for.insert(to);
    }
    // A destroy-before-create replacement deletes the old copy before its
    // dependents are updated; never let an edge make that a cycle.
    break_cycles(&mut nodes);
    nodes
}

/// Drops the edges that close a cycle (only possible through a
/// destroy-before-create replacement of something its dependents still
/// use), keeping the order of everything else.
fn break_cycles(nodes: &mut [Node]) {
    let n = nodes.len();
    let mut state = vec![0u8; n];
    fn visit(i: usize, nodes: &mut [Node], state: &mut [u8]) {
        state[i] = 1;
        let deps: Vec<usize> = nodes[i].waits_for.iter().copied().collect();
        for d in deps {
            match state[d] {
                0 => visit(d, nodes, state),
                1 => {
                    nodes[i].waits_for.remove(&d);
                }
                _ => {}
            }
        }
        state[i] = 2;
    }
    for i in 0..n {
        if state[i] == 0 {
            visit(i, nodes, &mut state);
        }
    }
}

struct Outcome {
    index: usize,
    /// The resolved attributes a create or update applied.
    applied: Option<Attrs>,
    result: Result<Option<Observed>, String>,
}

/// Applies `plan` against `registry`, writing `state` to `store` after
/// every operation. The caller holds the state lock.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    plan: &Plan,
    registry: &ProviderRegistry,
    state: &mut StateDocument,
    store: &dyn StateStore,
    settings: &ApplySettings,
    sink: &dyn ApplySink,
    events: &dyn EventSink,
    stop: &StopFlag,
) -> Result<ApplyReport, EngineError> {
    let nodes = schedule(plan, state);
    // Deletes act on what state held before this run: a create-before-
    // destroy replacement overwrites the address before its old copy goes.
    let before = state.clone();
    // Check every provider before touching anything.
    for n in &nodes {
        provider_for(registry, &n.addr)?;
    }
    let changes: BTreeMap<&ResourceAddr, &stackplan_core::Change> =
        plan.changes.iter().map(|c| (&c.addr, c)).collect();

    // Outputs learnt during this run, in memory only: they may hold
    // sensitive values that state keeps sealed.
    let mut fresh: BTreeMap<ResourceAddr, Observed> = BTreeMap::new();
    let mut report = ApplyReport::default();
    let mut remaining: Vec<BTreeSet<usize>> = nodes.iter().map(|n| n.waits_for.clone()).collect();
    let mut status = vec![Status::Waiting; nodes.len()];
    let mut in_flight = FuturesUnordered::new();
    let parallelism = settings.parallelism.max(1);

    loop {
        // Start everything that is ready, in address order.
        if !stop.requested() {
            let mut ready: Vec<usize> = (0..nodes.len())
                .filter(|&i| status[i] == Status::Waiting && remaining[i].is_empty())
                .collect();
            ready.sort_by(|a, b| {
                (&nodes[*a].addr, nodes[*a].op).cmp(&(&nodes[*b].addr, nodes[*b].op))
            });
            for i in ready {
                if in_flight.len() >= parallelism {
                    break;
                }
                let node = &nodes[i];
                let change = changes[&node.addr];
                let desired = match node.op {
                    Op::Create | Op::Update => {
                        match resolve_config(change, state, &fresh, registry, events).await {
                            Ok(d) => Some(d),
                            Err(e) => {
                                status[i] = Status::Failed;
                                report.failed.push((node.addr.clone(), node.op, e.clone()));
                                sink.event(ApplyEvent::Failed {
                                    addr: node.addr.clone(),
                                    op: node.op,
                                    error: e,
                                });
                                continue;
                            }
                        }
                    }
                    _ => None,
                };
                status[i] = Status::Running;
                sink.event(ApplyEvent::Started {
                    addr: node.addr.clone(),
                    op: node.op,
                });
                let prior = match node.op {
                    Op::Delete | Op::DeleteReplaced => before.get(&node.addr).cloned(),
                    _ => state
                        .get(&node.addr)
                        .cloned()
                        .or_else(|| adopted_prior(change)),
                };
                in_flight.push(run_op(
                    i,
                    node.clone(),
                    change,
                    desired,
                    prior,
                    registry,
                    events,
                ));
            }
        }
        skip_unreachable(
            &nodes,
            &mut status,
            &remaining,
            &mut report,
            sink,
            stop.requested(),
        );

        let Some(outcome) = in_flight.next().await else {
            break;
        };
        let node = &nodes[outcome.index];
        match outcome.result {
            Ok(observed) => {
                record(
                    state,
                    plan,
                    node,
                    outcome.applied.as_ref(),
                    observed.as_ref(),
                );
                if let Some(o) = observed {
                    fresh.insert(node.addr.clone(), o);
                } else {
                    fresh.remove(&node.addr);
                }
                let serial = store.write(state).await.map_err(EngineError::State)?;
                state.serial = serial;
                sink.event(ApplyEvent::StateSaved { serial });
                status[outcome.index] = Status::Done;
                report.done.push((node.addr.clone(), node.op));
                sink.event(ApplyEvent::Done {
                    addr: node.addr.clone(),
                    op: node.op,
                });
                for r in remaining.iter_mut() {
                    r.remove(&outcome.index);
                }
            }
            Err(e) => {
                status[outcome.index] = Status::Failed;
                report.failed.push((node.addr.clone(), node.op, e.clone()));
                sink.event(ApplyEvent::Failed {
                    addr: node.addr.clone(),
                    op: node.op,
                    error: e,
                });
            }
        }
    }
    report.interrupted = stop.requested();
    skip_unreachable(&nodes, &mut status, &remaining, &mut report, sink, true);
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Marks as skipped every waiting operation that can no longer run: it
/// waits for a failure (named as the reason), for something skipped (whose
/// reason it inherits, so a chain names its root cause), or, at the end,
/// for anything that did not happen.
fn skip_unreachable(
    nodes: &[Node],
    status: &mut [Status],
    remaining: &[BTreeSet<usize>],
    report: &mut ApplyReport,
    sink: &dyn ApplySink,
    finishing: bool,
) {
    let mut reasons: BTreeMap<usize, String> = report
        .skipped
        .iter()
        .filter_map(|(a, op, why)| {
            nodes
                .iter()
                .position(|n| &n.addr == a && n.op == *op)
                .map(|i| (i, why.clone()))
        })
        .collect();
    loop {
        let mut changed = false;
        for i in 0..nodes.len() {
            if status[i] != Status::Waiting {
                continue;
            }
            let failed = remaining[i].iter().find(|d| status[**d] == Status::Failed);
            let skipped = remaining[i].iter().find(|d| status[**d] == Status::Skipped);
            let reason = match (failed, skipped, finishing) {
                (Some(d), _, _) => {
                    format!("`{}` ({}) did not succeed", nodes[*d].addr, nodes[*d].op)
                }
                (None, Some(d), _) => reasons.get(d).cloned().unwrap_or_default(),
                (None, None, true) => "stopped before it started".to_string(),
                (None, None, false) => continue,
            };
            status[i] = Status::Skipped;
            reasons.insert(i, reason.clone());
            report
                .skipped
                .push((nodes[i].addr.clone(), nodes[i].op, reason.clone()));
            sink.event(ApplyEvent::Skipped {
                addr: nodes[i].addr.clone(),
                op: nodes[i].op,
                reason,
            });
            changed = true;
        }
        if !changed {
            break;
        }
    }
}

/// The change's configuration with every reference resolved: from what
/// this run created, else from state. A sensitive output is read live
/// again, since state never holds the value itself.
async fn resolve_config(
    change: &stackplan_core::Change,
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
        if fresh.contains_key(&r.addr) || reread.contains_key(&r.addr) {
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
        let live = fresh.get(&r.addr).or_else(|| reread.get(&r.addr));
        if let Some(o) = live {
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

async fn run_op<'a>(
    index: usize,
    node: Node,
    change: &'a stackplan_core::Change,
    desired: Option<Attrs>,
    prior: Option<ResourceState>,
    registry: &'a ProviderRegistry,
    events: &'a dyn EventSink,
) -> Outcome {
    let applied = desired.clone();
    let result = async {
        let provider = registry
            .get(node.addr.kind)
            .ok_or_else(|| format!("no provider for `{}`", node.addr.kind))?;
        let err = |e: stackplan_core::ProviderError| {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        };
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
                let observed = if node.op == Op::Create {
                    provider.create(req).await.map_err(err)?
                } else {
                    provider.update(req).await.map_err(err)?
                };
                let timeout = provider.wait_timeout(node.addr.kind);
                let waited = with_timeout(timeout, provider.wait(req, observed)).await;
                match waited {
                    Some(r) => r.map(Some).map_err(err),
                    None => Err(format!("not ready after {}s", timeout.as_secs())),
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
                .map_err(err)?
                .ok_or_else(|| format!("`{}` does not exist", node.addr))
                .map(Some),
            Op::Delete | Op::DeleteReplaced => {
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
                    .map_err(err)?;
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

/// What an update of a resource found live but not in state works on: the
/// id the plan saw, and nothing stackplan applied before.
fn adopted_prior(change: &stackplan_core::Change) -> Option<ResourceState> {
    let id = change.physical_id.clone()?;
    let mut prior = ResourceState::new(change.addr.clone(), change.mode);
    prior.physical_id = Some(id);
    Some(prior)
}

async fn with_timeout<T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(d, f).await.ok()
}

/// Writes what an operation did into the state document: the attributes
/// it applied (for a read, what it saw) and the outputs. Sensitive values
/// are sealed; secret sources are kept as sources.
fn record(
    state: &mut StateDocument,
    plan: &Plan,
    node: &Node,
    applied: Option<&Attrs>,
    observed: Option<&Observed>,
) {
    let change = plan.change(&node.addr);
    match (node.op, observed) {
        (Op::Delete, _) => {
            state.remove(&node.addr);
        }
        (Op::DeleteReplaced, _) => {
            // The new copy, if already created, keeps the address; only a
            // destroy-before-create leaves nothing behind for a moment.
            if matches!(
                change.map(|c| &c.action),
                Some(Action::Replace {
                    order: ReplaceOrder::DestroyBeforeCreate,
                    ..
                })
            ) {
                state.remove(&node.addr);
            }
        }
        (_, Some(o)) => {
            let mode = change
                .map(|c| c.mode)
                .unwrap_or(stackplan_core::ResourceMode::Managed);
            let mut s = ResourceState::new(node.addr.clone(), mode);
            s.physical_id = o.physical_id.clone();
            s.attributes = seal_attrs(applied.unwrap_or(&o.attrs));
            s.outputs = seal_attrs(&o.outputs);
            s.dependencies = change
                .map(|c| c.dependencies.iter().cloned().collect())
                .unwrap_or_default();
            state.upsert(s);
        }
        (_, None) => {}
    }
}
