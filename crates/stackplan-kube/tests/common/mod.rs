//! What the integration tests share: the provider pointed at the harness's
//! apiserver, and a plan/apply loop over the real engine planner, so "a
//! clean apply then plan shows nothing" is checked with the engine's own
//! diff rather than a re-implementation of it.

#![allow(dead_code)]

use std::sync::Arc;

use stackplan_core::{
    ApplyRequest, Change, DeleteRequest, NoEvents, Observed, Plan, ProviderRegistry, Resource,
    ResourceState, StateDocument,
};
use stackplan_engine::seal::seal_attrs;
use stackplan_engine::{PlanRequest, PlanSettings, Planner};
use stackplan_kube::{KubeProvider, KubeTarget};
use stackplan_testkit::Emulators;

pub const STACK: &str = "kube-tests";

pub fn emulators() -> &'static Emulators {
    Emulators::shared().expect("the emulators start (run `just emulators-install` once)")
}

/// The provider on the harness's kubeconfig with `helm`.
pub fn provider_with_helm(helm: &std::path::Path) -> Arc<KubeProvider> {
    let e = emulators();
    let kubeconfig = e.kubeconfig().to_str().expect("utf-8 path");
    Arc::new(KubeProvider::new(KubeTarget::kubeconfig(Some(kubeconfig), None)).with_helm(helm))
}

pub fn provider() -> Arc<KubeProvider> {
    provider_with_helm(emulators().helm())
}

pub async fn kube_client() -> kube::Client {
    emulators().kube_client().await.expect("kube client")
}

/// A plan of `resources` against `state`, by the engine.
pub async fn plan(
    provider: &Arc<KubeProvider>,
    resources: &[Resource],
    state: &StateDocument,
) -> Plan {
    let registry = ProviderRegistry::new().with(provider.clone());
    Planner::new(&registry, PlanSettings::default())
        .plan(PlanRequest {
            stack: STACK,
            stack_sha256: "test",
            resources,
            state: Some(state),
        })
        .await
        .expect("plan")
}

pub fn change<'p>(plan: &'p Plan, r: &Resource) -> &'p Change {
    plan.change(&r.addr)
        .unwrap_or_else(|| panic!("{} is in the plan", r.addr))
}

/// Records an apply the way apply does: the desired attributes and the
/// API's outputs, sealed.
pub fn record(state: &mut StateDocument, r: &Resource, observed: &Observed) {
    let mut s = ResourceState::new(r.addr.clone(), r.mode);
    s.physical_id = observed.physical_id.clone();
    s.attributes = seal_attrs(&r.attrs);
    s.outputs = seal_attrs(&observed.outputs);
    s.dependencies = r.dependencies();
    state.upsert(s);
}

pub async fn create(provider: &KubeProvider, r: &Resource) -> Observed {
    use stackplan_core::Provider;
    provider
        .create(ApplyRequest {
            addr: &r.addr,
            desired: &r.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_or_else(|e| panic!("create {}: {e:?}", r.addr))
}

pub async fn update(provider: &KubeProvider, r: &Resource, state: &StateDocument) -> Observed {
    use stackplan_core::Provider;
    provider
        .update(ApplyRequest {
            addr: &r.addr,
            desired: &r.attrs,
            prior: state.get(&r.addr),
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_or_else(|e| panic!("update {}: {e:?}", r.addr))
}

pub async fn delete(provider: &KubeProvider, r: &Resource, state: &StateDocument) {
    use stackplan_core::Provider;
    provider
        .delete(DeleteRequest {
            addr: &r.addr,
            prior: state.get(&r.addr).expect("in state"),
            events: &NoEvents,
        })
        .await
        .unwrap_or_else(|e| panic!("delete {}: {e:?}", r.addr));
}

/// Every change's action name, by address, for assertion messages.
pub fn actions(plan: &Plan) -> Vec<(String, &'static str)> {
    plan.changes
        .iter()
        .map(|c| (c.addr.to_string(), c.action.name()))
        .collect()
}
