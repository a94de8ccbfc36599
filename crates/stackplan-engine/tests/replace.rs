//! Replacements and failures halfway, against [`FakeCloud`], whose every
//! copy has its own generation in its id and outputs: after each apply
//! the world holds exactly the copies state names, and every dependent is
//! wired to the new copy.
//!
//! - destroy-before-create with an updated dependent;
//! - create-before-destroy (a rename) with a dependent re-pointed;
//! - an old copy whose delete fails stays in state, deposed, until a later
//!   apply deletes it;
//! - a create whose wait fails, or that made something before failing, is
//!   recorded tainted and replaced (or waited for) by the next apply;
//! - a state backend that fails: nothing new starts, what was in flight is
//!   kept, and apply goes on once a retry works, or hands back the document.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackplan_core::{
    Action, Observed, Plan, ProviderError, ProviderRegistry, ReplaceOrder, Resource, ResourceAddr,
    ResourceKind as K, StateDocument, Value,
};
use stackplan_engine::testing::{FakeCloud, FakeProvider, MemoryStateStore};
use stackplan_engine::{
    ApplyContext, ApplyReport, ApplySettings, NoApplyEvents, Op, PlanRequest, PlanSettings,
    Planner, StopFlag, apply,
};

fn addr(kind: K, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

fn msk() -> ResourceAddr {
    addr(K::MskCluster, "milvus")
}
fn bucket() -> ResourceAddr {
    addr(K::S3Bucket, "milvus")
}
fn policy() -> ResourceAddr {
    addr(K::IamPolicy, "milvus")
}
fn release() -> ResourceAddr {
    addr(K::HelmRelease, "milvus")
}
fn eks() -> ResourceAddr {
    addr(K::EksCluster, "main")
}

/// A bucket, a policy naming it, an MSK cluster and a release consuming
/// the brokers and the bucket. `subnet` is a force-new attribute of the
/// MSK cluster that is not its name (a destroy-before-create change).
fn stack(bucket_name: &str, subnet: &str) -> Vec<Resource> {
    vec![
        Resource::managed(K::S3Bucket, "milvus").attr("bucket", bucket_name),
        Resource::managed(K::IamPolicy, "milvus")
            .attr("name", "milvus-s3")
            .attr("policy", Value::reference(&bucket(), "arn")),
        Resource::managed(K::MskCluster, "milvus")
            .attr("cluster_name", "demo")
            .attr("client_subnets", Value::list([Value::string(subnet)])),
        Resource::managed(K::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr(
                "values",
                Value::map([
                    (
                        "brokers",
                        Value::reference(&msk(), "bootstrap_brokers_sasl_scram"),
                    ),
                    ("bucket", Value::reference(&bucket(), "arn")),
                ]),
            ),
    ]
}

/// Knobs that make the fake cloud fail the way AWS does halfway.
#[derive(Default, Clone)]
struct Faults {
    /// Deletes of these ids fail (a bucket that is not empty).
    undeletable: Arc<Mutex<BTreeSet<String>>>,
    /// Waits of these addresses fail after the create.
    never_ready: Arc<Mutex<BTreeSet<ResourceAddr>>>,
    /// Creates of these addresses make the resource, then fail (a key
    /// whose alias call failed).
    partial: Arc<Mutex<BTreeSet<ResourceAddr>>>,
}

fn registry(cloud: &FakeCloud, faults: &Faults) -> ProviderRegistry {
    let base = cloud.provider();
    let (create, delete) = (
        base.create_f.clone().unwrap(),
        base.delete_f.clone().unwrap(),
    );
    let (f1, f2, f3) = (faults.clone(), faults.clone(), faults.clone());
    let provider = FakeProvider {
        create_f: Some(Arc::new(move |req| {
            let made = create(req)?;
            if f1.partial.lock().unwrap().contains(req.addr) {
                return Err(
                    ProviderError::new("CreateAlias failed: AccessDenied").with_partial(made)
                );
            }
            Ok(made)
        })),
        delete_f: Some(Arc::new(move |req| {
            let id = req.prior.physical_id.clone().unwrap_or_default();
            if f2.undeletable.lock().unwrap().contains(&id) {
                return Err(ProviderError::new(format!(
                    "BucketNotEmpty: {id} is not empty"
                )));
            }
            delete(req)
        })),
        wait_f: Some(Arc::new(move |req, made: Observed| {
            if f3.never_ready.lock().unwrap().contains(req.addr) {
                return Err(ProviderError::new(
                    "ResourceNotReady: the cluster is FAILED",
                ));
            }
            Ok(made)
        })),
        ..base
    };
    ProviderRegistry::new().with(provider.into_arc())
}

async fn plan(registry: &ProviderRegistry, resources: &[Resource], state: &StateDocument) -> Plan {
    Planner::new(
        registry,
        PlanSettings {
            allow_destroy: true,
            ..PlanSettings::default()
        },
    )
    .plan(PlanRequest {
        stack: "demo",
        stack_sha256: "00",
        resources,
        state: Some(state),
    })
    .await
    .expect("plan")
}

async fn run(
    registry: &ProviderRegistry,
    plan: &Plan,
    state: &mut StateDocument,
    store: &MemoryStateStore,
) -> ApplyReport {
    let settings = ApplySettings {
        state_write_backoff: Duration::from_millis(1),
        ..ApplySettings::default()
    };
    let cx = ApplyContext {
        registry,
        store,
        settings: &settings,
        sink: &NoApplyEvents,
        events: &stackplan_core::NoEvents,
        stop: &StopFlag::new(),
    };
    apply(plan, state, &cx).await.expect("apply runs")
}

fn new_state() -> StateDocument {
    StateDocument::new("demo", "11111111-1111-4111-8111-111111111111")
}

/// Every copy live, by id.
fn live_ids(cloud: &FakeCloud, a: &ResourceAddr) -> Vec<String> {
    cloud
        .copies(a)
        .into_iter()
        .filter_map(|o| o.physical_id)
        .collect()
}

fn release_value(cloud: &FakeCloud, key: &str) -> Value {
    cloud.get(&release()).unwrap().attrs["values"]
        .get_path(key)
        .cloned()
        .unwrap()
}

/// A clean first apply of `stack("b1", "subnet-a")`.
async fn applied() -> (
    FakeCloud,
    Faults,
    ProviderRegistry,
    StateDocument,
    MemoryStateStore,
) {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let mut state = new_state();
    let store = MemoryStateStore::new();
    let p = plan(&registry, &stack("b1", "subnet-a"), &state).await;
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    (cloud, faults, registry, state, store)
}

#[tokio::test]
async fn destroy_before_create_attaches_the_updated_dependent_to_the_new_copy() {
    let (cloud, _faults, registry, mut state, store) = applied().await;
    let resources = stack("b1", "subnet-b");
    let p = plan(&registry, &resources, &state).await;
    match &p.change(&msk()).unwrap().action {
        Action::Replace { order, .. } => assert_eq!(*order, ReplaceOrder::DestroyBeforeCreate),
        other => panic!("{other:?}"),
    }
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");

    assert_eq!(live_ids(&cloud, &msk()), ["id-of-msk_cluster.milvus@2"]);
    assert_eq!(
        release_value(&cloud, "brokers"),
        Value::string("bootstrap_brokers_sasl_scram-of-msk_cluster.milvus@2"),
        "the release is wired to the new cluster, not the deleted one"
    );
    assert!(!plan(&registry, &resources, &state).await.has_changes());
}

#[tokio::test]
async fn a_rename_creates_the_new_copy_first_and_re_points_every_dependent() {
    let (cloud, _faults, registry, mut state, store) = applied().await;
    let resources = stack("b2", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    match &p.change(&bucket()).unwrap().action {
        Action::Replace { order, .. } => assert_eq!(*order, ReplaceOrder::CreateBeforeDestroy),
        other => panic!("{other:?}"),
    }
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");

    assert_eq!(live_ids(&cloud, &bucket()), ["id-of-s3_bucket.milvus@2"]);
    let new_arn = Value::string("arn-of-s3_bucket.milvus@2");
    assert_eq!(release_value(&cloud, "bucket"), new_arn);
    assert_eq!(cloud.get(&policy()).unwrap().attrs["policy"], new_arn);
    assert!(state.deposed.is_empty());
    // The old copy went only after both users moved off it.
    let writes = store.writes();
    let gone_at = writes
        .iter()
        .position(|w| {
            w.deposed.is_empty()
                && w.get(&bucket())
                    .is_some_and(|b| b.physical_id.as_deref() == Some("id-of-s3_bucket.milvus@2"))
        })
        .unwrap();
    let moved_at = writes
        .iter()
        .position(|w| {
            w.get(&policy()).is_some_and(|p| {
                p.attributes["policy"] == Value::string("arn-of-s3_bucket.milvus@2")
            })
        })
        .unwrap();
    assert!(moved_at < gone_at);
    assert!(!plan(&registry, &resources, &state).await.has_changes());
}

#[tokio::test]
async fn an_old_copy_whose_delete_fails_stays_in_state_until_a_later_apply_deletes_it() {
    let (cloud, faults, registry, mut state, store) = applied().await;
    faults
        .undeletable
        .lock()
        .unwrap()
        .insert("id-of-s3_bucket.milvus@1".into());
    let resources = stack("b2", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    let report = run(&registry, &p, &mut state, &store).await;

    assert_eq!(report.failed.len(), 1, "{report:#?}");
    assert_eq!(report.failed[0].addr, bucket());
    assert_eq!(report.failed[0].op, Op::DeleteReplaced);
    assert!(report.failed[0].message.contains("BucketNotEmpty"));
    // The new copy is current, the old one deposed: neither is lost.
    assert_eq!(
        state.get(&bucket()).unwrap().physical_id.as_deref(),
        Some("id-of-s3_bucket.milvus@2")
    );
    assert_eq!(state.deposed.len(), 1);
    assert_eq!(
        state.deposed[0].physical_id.as_deref(),
        Some("id-of-s3_bucket.milvus@1")
    );
    // And the state written to the backend says so.
    assert_eq!(store.writes().last().unwrap().deposed.len(), 1);

    // The next plan shows it, and a bucket needs --allow-destroy.
    let next = plan(&registry, &resources, &state).await;
    assert!(next.has_changes());
    assert_eq!(next.deposed.len(), 1);
    assert_eq!(next.summary().delete, 1);
    assert!(
        next.deposed[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("old copy `id-of-s3_bucket.milvus@1`")
    );
    let refused = Planner::new(&registry, PlanSettings::default())
        .plan(PlanRequest {
            stack: "demo",
            stack_sha256: "00",
            resources: &resources,
            state: Some(&state),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("--allow-destroy"), "{refused}");

    // Emptied, it goes with the next apply.
    faults.undeletable.lock().unwrap().clear();
    let report = run(&registry, &next, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(state.deposed.is_empty());
    assert_eq!(live_ids(&cloud, &bucket()), ["id-of-s3_bucket.milvus@2"]);
    assert!(!plan(&registry, &resources, &state).await.has_changes());
}

#[tokio::test]
async fn destroy_deletes_a_deposed_copy_too() {
    let (cloud, faults, registry, mut state, store) = applied().await;
    faults
        .undeletable
        .lock()
        .unwrap()
        .insert("id-of-s3_bucket.milvus@1".into());
    let p = plan(&registry, &stack("b2", "subnet-a"), &state).await;
    run(&registry, &p, &mut state, &store).await;
    faults.undeletable.lock().unwrap().clear();

    let destroy = plan(&registry, &[], &state).await;
    let report = run(&registry, &destroy, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(cloud.is_empty(), "{:?}", live_ids(&cloud, &bucket()));
    assert!(state.resources.is_empty() && state.deposed.is_empty());
}

#[tokio::test]
async fn a_create_whose_wait_fails_is_recorded_tainted_and_replaced_next_time() {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    faults.never_ready.lock().unwrap().insert(msk());
    let resources = stack("b1", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    let report = run(&registry, &p, &mut state, &store).await;

    let failure = report.failed.iter().find(|f| f.addr == msk()).unwrap();
    assert!(failure.tainted, "{failure:?}");
    let recorded = state.get(&msk()).expect("the made cluster is in state");
    assert!(recorded.tainted);
    assert_eq!(
        recorded.physical_id.as_deref(),
        Some("id-of-msk_cluster.milvus@1")
    );
    assert!(store.writes().last().unwrap().get(&msk()).unwrap().tainted);

    // The next plan replaces it (it is not still being created) ...
    faults.never_ready.lock().unwrap().clear();
    let next = plan(&registry, &resources, &state).await;
    let change = next.change(&msk()).unwrap();
    assert_eq!(change.action.name(), "replace", "{change:#?}");
    assert!(change.reason.as_deref().unwrap().contains("tainted"));
    let report = run(&registry, &next, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    // ... leaving exactly one cluster, the release wired to it.
    assert_eq!(live_ids(&cloud, &msk()), ["id-of-msk_cluster.milvus@2"]);
    assert_eq!(
        release_value(&cloud, "brokers"),
        Value::string("bootstrap_brokers_sasl_scram-of-msk_cluster.milvus@2")
    );
    assert!(!state.get(&msk()).unwrap().tainted);
    assert!(!plan(&registry, &resources, &state).await.has_changes());
}

#[tokio::test]
async fn a_tainted_resource_still_being_created_is_waited_for_not_replaced() {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    faults.never_ready.lock().unwrap().insert(msk());
    let resources = stack("b1", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    run(&registry, &p, &mut state, &store).await;
    faults.never_ready.lock().unwrap().clear();
    let mut live = cloud.get(&msk()).unwrap();
    live.outputs
        .insert("state".into(), Value::string("CREATING"));
    cloud.insert(msk(), live);

    let next = plan(&registry, &resources, &state).await;
    let change = next.change(&msk()).unwrap();
    assert_eq!(change.action, Action::Update, "{change:#?}");
    assert!(
        change
            .reason
            .as_deref()
            .unwrap()
            .contains("waiting for it again")
    );
    let report = run(&registry, &next, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(live_ids(&cloud, &msk()), ["id-of-msk_cluster.milvus@1"]);
    assert!(!state.get(&msk()).unwrap().tainted);
}

#[tokio::test]
async fn a_create_that_made_something_then_failed_is_recorded_tainted() {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    faults.partial.lock().unwrap().insert(bucket());
    let resources = stack("b1", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    let report = run(&registry, &p, &mut state, &store).await;
    let failure = report.failed.iter().find(|f| f.addr == bucket()).unwrap();
    assert!(failure.message.contains("CreateAlias failed"));
    assert!(failure.tainted);
    let recorded = state.get(&bucket()).unwrap();
    assert!(recorded.tainted);
    assert_eq!(
        recorded.physical_id.as_deref(),
        Some("id-of-s3_bucket.milvus@1")
    );
    // Destroy deletes it: nothing made is leaked.
    faults.partial.lock().unwrap().clear();
    let destroy = plan(&registry, &[], &state).await;
    let report = run(&registry, &destroy, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(cloud.is_empty());
}

#[tokio::test]
async fn a_failed_state_write_starts_nothing_new_and_apply_goes_on_once_a_retry_works() {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    // The first write after the first create fails, and so does the
    // first retry.
    store.fail_writes(2);
    let resources = stack("b1", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.state_write_retries, 2);
    assert_eq!(report.done.len(), 4);
    // What the failed write held reached the backend with the retry.
    let last = store.writes().last().unwrap().clone();
    assert_eq!(last.resources.len(), 4);
    assert!(!plan(&registry, &resources, &state).await.has_changes());
}

#[tokio::test]
async fn a_state_backend_that_never_recovers_hands_back_the_document_and_loses_no_result() {
    let cloud = FakeCloud::new();
    let faults = Faults::default();
    let registry = registry(&cloud, &faults);
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    store.fail_writes(usize::MAX);
    let resources = stack("b1", "subnet-a");
    let p = plan(&registry, &resources, &state).await;
    let report = run(&registry, &p, &mut state, &store).await;
    let failure = report.state_write.as_ref().expect("the write failure");
    assert!(failure.error.contains("unreachable"), "{failure:?}");
    // Whatever ran is in the document handed back, and nothing waiting on
    // a write started.
    let done: BTreeSet<ResourceAddr> = report.done.iter().map(|(a, _)| a.clone()).collect();
    for a in &done {
        assert!(failure.document.get(a).is_some(), "{a} lost");
    }
    assert_eq!(cloud.len(), done.len());
    assert!(
        report
            .skipped
            .iter()
            .any(|(_, _, why)| why.contains("state could not be written")),
        "{report:#?}"
    );
    assert!(!report.succeeded());
}

#[tokio::test]
async fn a_cluster_replaced_destroy_first_takes_its_blue_green_node_group_down_first() {
    // A node group is blue/green (create before destroy) on its own, but
    // not when its cluster is replaced destroy-first: it cannot outlive
    // the old cluster nor precede the new one.
    let cloud = FakeCloud::new();
    let registry = registry(&cloud, &Faults::default());
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    let ng = addr(K::EksNodegroup, "default");
    let stack = |subnet: &str| {
        vec![
            Resource::managed(K::EksCluster, "main")
                .attr("name", "demo")
                .attr("subnet_ids", Value::list([Value::string(subnet)])),
            Resource::managed(K::EksNodegroup, "default")
                .attr("cluster_name", Value::reference(&eks(), "name"))
                .attr("nodegroup_name", "default")
                .attr(
                    "instance_types",
                    Value::list([Value::string("m6i.2xlarge")]),
                ),
        ]
    };
    let p = plan(&registry, &stack("subnet-a"), &state).await;
    assert!(run(&registry, &p, &mut state, &store).await.succeeded());
    let p = plan(&registry, &stack("subnet-b"), &state).await;
    let change = p.change(&ng).unwrap();
    assert!(
        matches!(
            change.action,
            Action::Replace {
                order: ReplaceOrder::DestroyBeforeCreate,
                ..
            }
        ),
        "{change:#?}"
    );
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(live_ids(&cloud, &eks()), ["id-of-eks_cluster.main@2"]);
    assert_eq!(live_ids(&cloud, &ng), ["id-of-eks_nodegroup.default@2"]);
}

#[tokio::test]
async fn a_node_group_eks_cannot_change_in_place_is_replaced_blue_green_and_the_plan_says_so() {
    let cloud = FakeCloud::new();
    let registry = registry(&cloud, &Faults::default());
    let (mut state, store) = (new_state(), MemoryStateStore::new());
    let ng = addr(K::EksNodegroup, "default");
    let stack = |instance: &str| {
        vec![
            Resource::managed(K::EksCluster, "main").attr("name", "demo"),
            Resource::managed(K::EksNodegroup, "default")
                .attr("cluster_name", Value::reference(&eks(), "name"))
                .attr("nodegroup_name", "default")
                .attr("instance_types", Value::list([Value::string(instance)])),
        ]
    };
    let p = plan(&registry, &stack("m6i.2xlarge"), &state).await;
    assert!(run(&registry, &p, &mut state, &store).await.succeeded());
    let p = plan(&registry, &stack("m6i.4xlarge"), &state).await;
    let change = p.change(&ng).unwrap();
    match &change.action {
        Action::Replace { order, reason } => {
            assert_eq!(*order, ReplaceOrder::CreateBeforeDestroy);
            assert!(reason.contains("blue/green"), "{reason}");
            assert!(reason.contains("never have zero nodes"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let report = run(&registry, &p, &mut state, &store).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(live_ids(&cloud, &ng), ["id-of-eks_nodegroup.default@2"]);
}
