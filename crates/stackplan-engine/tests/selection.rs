//! `--target`, `--exclude` and `--replace`: a plan limited to part of the
//! stack takes a target's dependencies along and an exclusion's
//! dependents out, says it is partial, and is applied as planned.

use stackplan_core::{
    Action, Plan, ProviderRegistry, Resource, ResourceAddr, ResourceKind as K, Selection,
    StateDocument, Value,
};
use stackplan_engine::testing::{FakeCloud, MemoryStateStore, apply_ok};
use stackplan_engine::{EngineError, PlanRequest, PlanSettings, Planner};

fn addr(kind: K, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}
fn role() -> ResourceAddr {
    addr(K::IamRole, "cluster")
}
fn cluster() -> ResourceAddr {
    addr(K::EksCluster, "main")
}
fn bucket() -> ResourceAddr {
    addr(K::S3Bucket, "milvus")
}
fn release() -> ResourceAddr {
    addr(K::HelmRelease, "milvus")
}

/// A role, a cluster using it, a bucket, a release using both.
fn stack(version: &str, versioning: bool) -> Vec<Resource> {
    vec![
        Resource::managed(K::IamRole, "cluster").attr("name", "demo-cluster"),
        Resource::managed(K::EksCluster, "main")
            .attr("name", "demo")
            .attr("version", version)
            .attr("role_arn", Value::reference(&role(), "arn")),
        Resource::managed(K::S3Bucket, "milvus")
            .attr("bucket", "acme-milvus")
            .attr("versioning", versioning),
        Resource::managed(K::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr(
                "values",
                Value::map([
                    ("bucket", Value::reference(&bucket(), "bucket")),
                    ("cluster", Value::reference(&cluster(), "endpoint")),
                ]),
            ),
    ]
}

async fn plan(
    registry: &ProviderRegistry,
    resources: &[Resource],
    state: Option<&StateDocument>,
    selection: Selection,
) -> Result<Plan, EngineError> {
    Planner::new(
        registry,
        PlanSettings {
            allow_destroy: true,
            selection,
            ..PlanSettings::default()
        },
    )
    .plan(PlanRequest {
        stack: "demo",
        stack_sha256: "00",
        resources,
        state,
    })
    .await
}

fn addrs(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .filter(|c| c.action.is_change())
        .map(|c| c.addr.to_string())
        .collect()
}

#[tokio::test]
async fn a_target_takes_what_it_depends_on_along_and_nothing_else() {
    let cloud = FakeCloud::new();
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let selection = Selection {
        targets: vec![cluster()],
        ..Selection::default()
    };
    let p = plan(&registry, &stack("1.30", true), None, selection)
        .await
        .unwrap();
    assert_eq!(addrs(&p), ["iam_role.cluster", "eks_cluster.main"]);
    assert!(
        p.options
            .selection
            .describe()
            .unwrap()
            .contains("only `eks_cluster.main`"),
        "{:?}",
        p.options.selection
    );
    // Applied as planned: only those two exist, and a full plan then
    // creates the rest.
    let (mut state, store) = (StateDocument::new("demo", "l"), MemoryStateStore::new());
    apply_ok(&p, &registry, &mut state, &store).await;
    assert_eq!(cloud.len(), 2);
    let full = plan(
        &registry,
        &stack("1.30", true),
        Some(&state),
        Selection::default(),
    )
    .await
    .unwrap();
    assert_eq!(addrs(&full), ["s3_bucket.milvus", "helm_release.milvus"]);
}

#[tokio::test]
async fn an_exclusion_takes_what_depends_on_it_out() {
    let cloud = FakeCloud::new();
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let resources = stack("1.30", true);
    let p = plan(&registry, &resources, None, Selection::default())
        .await
        .unwrap();
    let (mut state, store) = (StateDocument::new("demo", "l"), MemoryStateStore::new());
    apply_ok(&p, &registry, &mut state, &store).await;

    // The cluster and the bucket change; the cluster is excluded, so the
    // release that uses it is too. The bucket's change stays.
    let changed = stack("1.31", false);
    let selection = Selection {
        excludes: vec![cluster()],
        ..Selection::default()
    };
    let p = plan(&registry, &changed, Some(&state), selection)
        .await
        .unwrap();
    assert_eq!(addrs(&p), ["s3_bucket.milvus"]);
    assert!(p.change(&release()).is_none());
    let described = p.options.selection.describe().unwrap();
    assert!(
        described.contains("without `eks_cluster.main`"),
        "{described}"
    );
}

#[tokio::test]
async fn replace_forces_a_replacement_of_what_would_not_change() {
    let cloud = FakeCloud::new();
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let resources = stack("1.30", true);
    let p = plan(&registry, &resources, None, Selection::default())
        .await
        .unwrap();
    let (mut state, store) = (StateDocument::new("demo", "l"), MemoryStateStore::new());
    apply_ok(&p, &registry, &mut state, &store).await;

    let selection = Selection {
        replace: vec![cluster()],
        ..Selection::default()
    };
    let p = plan(&registry, &resources, Some(&state), selection)
        .await
        .unwrap();
    let change = p.change(&cluster()).unwrap();
    assert!(
        matches!(change.action, Action::Replace { .. }),
        "{change:#?}"
    );
    assert!(change.reason.as_deref().unwrap().contains("--replace"));
    // Its consumer learns the new endpoint in the same apply.
    assert_eq!(p.change(&release()).unwrap().action, Action::Update);
    assert!(p.options.selection.describe().is_none(), "not partial");
    apply_ok(&p, &registry, &mut state, &store).await;
    assert_eq!(
        cloud
            .copies(&cluster())
            .into_iter()
            .filter_map(|o| o.physical_id)
            .collect::<Vec<_>>(),
        ["id-of-eks_cluster.main@2"]
    );
}

#[tokio::test]
async fn an_address_in_neither_stack_nor_state_is_refused_with_the_closest_one() {
    let cloud = FakeCloud::new();
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let selection = Selection {
        targets: vec![addr(K::EksCluster, "mian")],
        ..Selection::default()
    };
    let err = plan(&registry, &stack("1.30", true), None, selection)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "--target `eks_cluster.mian` names nothing in the stack or its state; did you mean `eks_cluster.main`?"
    );
}

#[tokio::test]
async fn an_ignored_field_is_never_changed_nor_drift_and_an_update_keeps_its_live_value() {
    // desired_size under an autoscaler: it moves every hour; min and max
    // stay the stack's.
    let cloud = FakeCloud::new();
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let ng = addr(K::EksNodegroup, "workers");
    let stack = |min: i64| {
        let mut r = Resource::managed(K::EksNodegroup, "workers")
            .attr("nodegroup_name", "workers")
            .attr(
                "scaling",
                Value::map([
                    ("desired_size", Value::Int(2)),
                    ("min_size", Value::Int(min)),
                    ("max_size", Value::Int(10)),
                ]),
            );
        r.ignore = vec!["scaling.desired_size".into()];
        vec![r]
    };
    let p = plan(&registry, &stack(2), None, Selection::default())
        .await
        .unwrap();
    assert_eq!(p.ignored, ["eks_nodegroup.workers: scaling.desired_size"]);
    let (mut state, store) = (StateDocument::new("demo", "l"), MemoryStateStore::new());
    apply_ok(&p, &registry, &mut state, &store).await;

    let mut scaled = cloud.get(&ng).unwrap();
    scaled
        .attrs
        .get_mut("scaling")
        .unwrap()
        .set_path("desired_size", Value::Int(7));
    cloud.insert(ng.clone(), scaled);
    let p = plan(&registry, &stack(2), Some(&state), Selection::default())
        .await
        .unwrap();
    assert!(!p.has_changes(), "{:#?}", p.changes);
    assert!(!p.has_drift(), "{:#?}", p.changes);

    let p = plan(&registry, &stack(3), Some(&state), Selection::default())
        .await
        .unwrap();
    let change = p.change(&ng).unwrap();
    let paths: Vec<&str> = change.field_diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["scaling.min_size"]);
    apply_ok(&p, &registry, &mut state, &store).await;
    let live = cloud.get(&ng).unwrap();
    assert_eq!(
        live.attrs["scaling"].get_path("desired_size"),
        Some(&Value::Int(7)),
        "the autoscaler's count is kept"
    );
    assert_eq!(
        live.attrs["scaling"].get_path("min_size"),
        Some(&Value::Int(3))
    );
}
