//! The reference stack's AWS resources, expanded by `stackplan-stack` and
//! planned and applied by `stackplan-engine` with this provider, against
//! moto: a plan on an empty account creates every AWS resource, apply
//! makes them, and the plan after it is quiet for every kind.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use stackplan_core::{
    Action, BoxFuture, LockInfo, NoEvents, Provider, ProviderFamily, ProviderRegistry,
    StateDocument, StateError, StateStore,
};
use stackplan_engine::{
    ApplySettings, NoApplyEvents, PlanRequest, PlanSettings, Planner, StopFlag, apply,
};

/// State in memory: the engine writes it after every resource.
#[derive(Default)]
struct MemoryState(Mutex<Option<StateDocument>>);

impl StateStore for MemoryState {
    fn location(&self) -> String {
        "memory".into()
    }
    fn read(&self) -> BoxFuture<'_, Result<Option<StateDocument>, StateError>> {
        Box::pin(async move { Ok(self.0.lock().unwrap().clone()) })
    }
    fn write<'a>(&'a self, doc: &'a StateDocument) -> BoxFuture<'a, Result<u64, StateError>> {
        Box::pin(async move {
            let mut d = doc.clone();
            d.serial += 1;
            let serial = d.serial;
            *self.0.lock().unwrap() = Some(d);
            Ok(serial)
        })
    }
    fn lock<'a>(&'a self, _info: &'a LockInfo) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async { Ok(()) })
    }
    fn unlock(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async { Ok(()) })
    }
    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(async { Ok(None) })
    }
    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The local reference stack with names unique to this run and a
/// generated SCRAM password (setting an environment variable in a test
/// would need `unsafe`).
fn stack_text() -> String {
    let path = stackplan_testkit::repo_root().join("stacks/milvus-local.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let unique = name("ml");
    text.replace("acme-milvus-local", &format!("{unique}-bucket"))
        .replace("\"milvus-local\"", &format!("\"{unique}\""))
        .replace("env:MSK_SCRAM_PASSWORD", "generate")
}

#[tokio::test]
async fn reference_stack_aws_resources_plan_as_create_apply_and_then_plan_quiet() {
    let text = stack_text();
    let stack = stackplan_stack::parse("milvus-local.toml", &text).expect("the stack parses");
    let resources: Vec<_> = stackplan_stack::expand(&stack)
        .into_iter()
        .filter(|r| r.addr.kind.family() == ProviderFamily::Aws)
        .collect();
    assert!(resources.len() > 20, "{} AWS resources", resources.len());

    let provider: Arc<dyn Provider> = Arc::new(provider().await);
    let registry = ProviderRegistry::new().with(provider);
    let planner = Planner::new(&registry, PlanSettings::default());
    let sha = stackplan_engine::sha256_hex(text.as_bytes());
    let request = |state| PlanRequest {
        stack: &stack.name,
        stack_sha256: &sha,
        resources: &resources,
        state,
    };

    let first = planner.plan(request(None)).await.expect("the first plan");
    let not_create: Vec<String> = first
        .changes
        .iter()
        .filter(|c| c.action != Action::Create)
        .map(|c| format!("{} {}", c.addr, c.action.name()))
        .collect();
    assert!(not_create.is_empty(), "on an empty account: {not_create:?}");

    let store = MemoryState::default();
    let mut state = StateDocument::new(&stack.name, "lineage-test");
    let report = apply(
        &first,
        &registry,
        &mut state,
        &store,
        &ApplySettings::default(),
        &NoApplyEvents,
        &NoEvents,
        &StopFlag::new(),
    )
    .await
    .expect("apply runs");
    assert!(report.succeeded(), "{report:#?}");

    let second = planner
        .plan(request(Some(&state)))
        .await
        .expect("the second plan");
    let noisy: Vec<String> = second
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.has_drift())
        .map(|c| {
            format!(
                "{} {}: {:#?} drift {:#?}",
                c.addr,
                c.action.name(),
                c.field_diffs,
                c.drift
            )
        })
        .collect();
    assert!(noisy.is_empty(), "after a clean apply: {noisy:#?}");
}
