//! The reference stack's AWS resources as the stack tests plan them: the
//! local stack made unique to the run, expanded with the chart its
//! controller policy comes from, planned and destroyed through the engine.

use stackplan_core::{Action, ProviderRegistry, Resource, ResourceMode, StateDocument};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_engine::{PlanRequest, PlanSettings, Planner};

pub fn request<'a>(
    stack: &'a str,
    sha: &'a str,
    resources: &'a [Resource],
    state: Option<&'a StateDocument>,
) -> PlanRequest<'a> {
    PlanRequest {
        stack,
        stack_sha256: sha,
        resources,
        state,
    }
}

/// `stacks/milvus-local.toml` with names unique to this run, a generated
/// SCRAM password (setting an environment variable in a test would need
/// `unsafe`) and the given region.
pub fn local_stack_text(region: &str) -> String {
    let path = stackplan_testkit::repo_root().join("stacks/milvus-local.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let unique = super::name("ml");
    text.replace("acme-milvus-local", &format!("{unique}-bucket"))
        .replace("\"milvus-local\"", &format!("\"{unique}\""))
        .replace("env:MSK_SCRAM_PASSWORD", "generate")
        .replace("region = \"us-west-2\"", &format!("region = \"{region}\""))
}

/// The controller chart the stack installs (its fixture, a local path),
/// read from its files: its version chooses the IAM policy the controller
/// role gets. The AWS resources need nothing else from the charts.
pub fn controller_chart() -> stackplan_stack::Charts {
    let dir = stackplan_testkit::fixture_chart("aws-load-balancer-controller");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    stackplan_stack::Charts {
        milvus: None,
        load_balancer_controller: Some(
            stackplan_stack::ChartProfile::parse(
                "fixture",
                &read("Chart.yaml"),
                &read("values.yaml"),
            )
            .unwrap(),
        ),
    }
}

/// Plans the stack without resources, checks that it deletes every
/// managed one and nothing else, applies it, and returns what state keeps
/// (the lookups, which are only read; the CLI's destroy forgets them).
pub async fn destroy_all(
    registry: &ProviderRegistry,
    req: PlanRequest<'_>,
    state: &mut StateDocument,
    store: &MemoryStateStore,
) -> Vec<String> {
    let destroyer = Planner::new(
        registry,
        PlanSettings {
            allow_destroy: true,
            ..PlanSettings::default()
        },
    );
    let destroy = destroyer
        .plan(PlanRequest {
            resources: &[],
            state: Some(state),
            ..req
        })
        .await
        .expect("the destroy plan");
    assert!(
        destroy.changes.iter().all(|c| c.action == Action::Delete),
        "{:#?}",
        destroy.summary()
    );
    let managed = req
        .resources
        .iter()
        .filter(|r| r.mode == ResourceMode::Managed)
        .count();
    assert_eq!(destroy.changes.len(), managed);
    apply_ok(&destroy, registry, state, store).await;
    state.resources.iter().map(|r| r.addr.to_string()).collect()
}
