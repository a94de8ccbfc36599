//! Refresh: every resource of the stack and of state read live,
//! concurrently, at most `parallelism` reads at a time.
//!
//! A read starts at once when its identity is known from state (a physical
//! id) or from the stack (its attributes resolve from state alone). Only a
//! resource whose identity is built from another resource's output that
//! state does not know yet (a first plan) waits, for the reads of exactly
//! those producers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use stackplan_core::{
    Attrs, BoxFuture, EventSink, Observed, OutputRef, Provider, ProviderError, ProviderRegistry,
    ReadRequest, Resource, ResourceAddr, ResourceMode, ResourceState, StateDocument, Value,
};

use crate::seal::seal_attrs;
use crate::{EngineError, ResourceGraph};

/// What refresh saw: per address, the live resource or `None` (absent).
pub type LiveView = BTreeMap<ResourceAddr, Option<Observed>>;

/// The value of `r` as known from a live read, or else from state.
pub(crate) fn known_output(
    r: &OutputRef,
    live: &LiveView,
    state: Option<&StateDocument>,
) -> Option<Value> {
    if let Some(Some(obs)) = live.get(&r.addr)
        && let Some(v) = obs.outputs.get(&r.attr).or_else(|| obs.attrs.get(&r.attr))
    {
        return Some(v.clone());
    }
    let prior = state?.get(&r.addr)?;
    prior
        .outputs
        .get(&r.attr)
        .or_else(|| prior.attributes.get(&r.attr))
        .cloned()
}

pub(crate) fn resolve_attrs(attrs: &Attrs, lookup: &dyn Fn(&OutputRef) -> Option<Value>) -> Attrs {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.resolve(lookup)))
        .collect()
}

/// The provider for `kind`, or the error that names the kind.
pub(crate) fn provider_for<'r>(
    registry: &'r ProviderRegistry,
    addr: &ResourceAddr,
) -> Result<&'r Arc<dyn Provider>, EngineError> {
    registry
        .get(addr.kind)
        .ok_or_else(|| EngineError::NoProvider {
            kind: addr.kind,
            addr: addr.clone(),
        })
}

type ReadOutcome = (ResourceAddr, Result<Option<Observed>, ProviderError>);

/// Reads every resource in `resources` and in `state`.
pub(crate) async fn refresh(
    resources: &BTreeMap<ResourceAddr, &Resource>,
    graph: &ResourceGraph,
    state: Option<&StateDocument>,
    registry: &ProviderRegistry,
    parallelism: usize,
    events: &dyn EventSink,
) -> Result<LiveView, EngineError> {
    let parallelism = parallelism.max(1);
    let mut targets: BTreeSet<ResourceAddr> = resources.keys().cloned().collect();
    if let Some(s) = state {
        targets.extend(s.resources.iter().map(|r| r.addr.clone()));
    }
    // Every kind needs a provider before anything is read: a missing one
    // is an error that names the kind, never a resource silently skipped.
    for addr in &targets {
        provider_for(registry, addr)?;
    }

    let prior_of = |a: &ResourceAddr| state.and_then(|s| s.get(a));
    let empty = LiveView::new();
    // How many reads each waiting resource still waits for, and who waits
    // for each read: a completion touches only its own waiters.
    let mut waiting: BTreeMap<ResourceAddr, usize> = BTreeMap::new();
    let mut waiters: BTreeMap<ResourceAddr, Vec<ResourceAddr>> = BTreeMap::new();
    let mut ready: VecDeque<ResourceAddr> = VecDeque::new();
    for addr in &targets {
        let identity_known = match (resources.get(addr), prior_of(addr)) {
            (_, Some(p)) if p.physical_id.is_some() => true,
            (None, _) => true,
            (Some(r), _) => {
                let lookup = |o: &OutputRef| known_output(o, &empty, state);
                r.attrs.values().all(|v| v.resolve(&lookup).is_known())
            }
        };
        if identity_known {
            ready.push_back(addr.clone());
        } else {
            let deps = graph.dependencies(addr);
            if deps.is_empty() {
                ready.push_back(addr.clone());
            } else {
                waiting.insert(addr.clone(), deps.len());
                for d in deps {
                    waiters.entry(d).or_default().push(addr.clone());
                }
            }
        }
    }

    let mut live = LiveView::new();
    let mut failures: Vec<(ResourceAddr, ProviderError)> = Vec::new();
    let mut running: FuturesUnordered<BoxFuture<'_, ReadOutcome>> = FuturesUnordered::new();
    loop {
        while running.len() < parallelism {
            let Some(addr) = ready.pop_front() else { break };
            let desired = resources.get(&addr).map(|r| {
                let lookup = |o: &OutputRef| known_output(o, &live, state);
                resolve_attrs(&r.attrs, &lookup)
            });
            let mode = resources
                .get(&addr)
                .map(|r| r.mode)
                .or_else(|| prior_of(&addr).map(|p| p.mode))
                .unwrap_or(ResourceMode::Managed);
            let prior: Option<&ResourceState> = prior_of(&addr);
            let provider = provider_for(registry, &addr)?.clone();
            running.push(Box::pin(async move {
                let result = provider
                    .read(ReadRequest {
                        addr: &addr,
                        mode,
                        desired: desired.as_ref(),
                        prior,
                        events,
                    })
                    .await;
                (addr, result)
            }));
        }
        let Some((addr, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(obs) => {
                let obs = obs.map(|mut o| {
                    // Secrets read live are sealed before anything else
                    // (plan, fingerprint, renderer) can hold them.
                    o.attrs = seal_attrs(&o.attrs);
                    o.outputs = seal_attrs(&o.outputs);
                    o
                });
                live.insert(addr.clone(), obs);
            }
            Err(e) => failures.push((addr.clone(), e)),
        }
        // Dependents waiting for this read go ahead even if it failed: they
        // resolve from state what they can, and the failure is reported.
        for w in waiters.remove(&addr).unwrap_or_default() {
            if let Some(left) = waiting.get_mut(&w) {
                *left -= 1;
                if *left == 0 {
                    waiting.remove(&w);
                    ready.push_back(w);
                }
            }
        }
    }
    if !failures.is_empty() {
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(EngineError::Refresh { failures });
    }
    Ok(live)
}
