//! The apply walker against the engine's fake cloud: order, parallelism,
//! failures, state saved after every operation, stop requests, deletes in
//! reverse, replacements, and convergence on a second run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackplan_core::{
    ApplyRequest, BoxFuture, DeleteRequest, NoEvents, Observed, Plan, Provider, ProviderError,
    ProviderRegistry, ProviderResult, ReadRequest, Resource, ResourceAddr, ResourceKind,
    ResourceMode, StateDocument, Value,
};
use stackplan_engine::testing::{FakeCloud, MemoryStateStore};
use stackplan_engine::{
    ApplyContext, ApplyEvent, ApplySettings, ApplySink, Op, PlanRequest, PlanSettings, Planner,
    StopFlag, apply,
};

/// Records apply events in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<ApplyEvent>>);

impl ApplySink for Recorder {
    fn event(&self, e: ApplyEvent) {
        self.0.lock().unwrap().push(e);
    }
}

impl Recorder {
    fn started(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                ApplyEvent::Started { addr, op } => Some(format!("{op} {addr}")),
                _ => None,
            })
            .collect()
    }
}

/// Wraps a provider: creates take a per-kind time and may fail, and every
/// create and delete is logged with when it started and ended.
struct Timed {
    inner: Arc<dyn Provider>,
    delays: BTreeMap<ResourceKind, Duration>,
    fail: Mutex<Vec<ResourceAddr>>,
    log: Mutex<Vec<(String, Instant, Instant)>>,
}

impl Timed {
    fn new(inner: Arc<dyn Provider>) -> Self {
        Timed {
            inner,
            delays: BTreeMap::new(),
            fail: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        }
    }
    fn span(&self, what: &str) -> (Instant, Instant) {
        let log = self.log.lock().unwrap();
        let (_, a, b) = log
            .iter()
            .find(|(w, _, _)| w == what)
            .unwrap_or_else(|| panic!("{what} never ran"));
        (*a, *b)
    }
    fn order(&self) -> Vec<String> {
        let mut log = self.log.lock().unwrap().clone();
        log.sort_by_key(|(_, start, _)| *start);
        log.into_iter().map(|(w, _, _)| w).collect()
    }
}

impl Provider for Timed {
    fn name(&self) -> &str {
        "timed"
    }
    fn kinds(&self) -> Vec<ResourceKind> {
        ResourceKind::ALL.to_vec()
    }
    fn read<'a>(&'a self, req: ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        self.inner.read(req)
    }
    fn create<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move {
            let start = Instant::now();
            if let Some(d) = self.delays.get(&req.addr.kind) {
                tokio::time::sleep(*d).await;
            }
            if self.fail.lock().unwrap().contains(req.addr) {
                return Err(ProviderError::new("AccessDeniedException: not allowed"));
            }
            let out = self.inner.create(req).await;
            self.log
                .lock()
                .unwrap()
                .push((format!("create {}", req.addr), start, Instant::now()));
            out
        })
    }
    fn update<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        self.inner.update(req)
    }
    fn delete<'a>(&'a self, req: DeleteRequest<'a>) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let start = Instant::now();
            let id = req.prior.physical_id.clone().unwrap_or_default();
            let out = self.inner.delete(req).await;
            self.log.lock().unwrap().push((
                format!("delete {} {id}", req.addr),
                start,
                Instant::now(),
            ));
            out
        })
    }
}

fn addr(kind: ResourceKind, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

/// A slice of the reference deployment: a VPC, the EKS and MSK clusters
/// on it (independent of each other), and a release consuming both.
fn stack() -> Vec<Resource> {
    let vpc = addr(ResourceKind::Ec2Vpc, "main");
    let eks = addr(ResourceKind::EksCluster, "main");
    let msk = addr(ResourceKind::MskCluster, "milvus");
    vec![
        Resource::managed(ResourceKind::Ec2Vpc, "main").attr("cidr_block", "10.0.0.0/16"),
        Resource::managed(ResourceKind::EksCluster, "main")
            .attr("name", "demo")
            .attr("subnet_ids", Value::list([Value::reference(&vpc, "id")])),
        Resource::managed(ResourceKind::MskCluster, "milvus")
            .attr("cluster_name", "demo")
            .attr(
                "client_subnets",
                Value::list([Value::reference(&vpc, "id")]),
            ),
        Resource::managed(ResourceKind::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr(
                "values",
                Value::map([
                    (
                        "brokers",
                        Value::reference(&msk, "bootstrap_brokers_sasl_scram"),
                    ),
                    ("cluster", Value::reference(&eks, "arn")),
                ]),
            ),
    ]
}

async fn plan_for(
    registry: &ProviderRegistry,
    resources: &[Resource],
    state: Option<&StateDocument>,
) -> Plan {
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
        state,
    })
    .await
    .expect("plan")
}

struct World {
    cloud: FakeCloud,
    timed: Arc<Timed>,
    registry: ProviderRegistry,
}

fn world(delays: &[(ResourceKind, u64)]) -> World {
    let cloud = FakeCloud::new();
    let mut timed = Timed::new(cloud.provider().into_arc());
    for (k, ms) in delays {
        timed.delays.insert(*k, Duration::from_millis(*ms));
    }
    let timed = Arc::new(timed);
    let registry = ProviderRegistry::new().with(timed.clone());
    World {
        cloud,
        timed,
        registry,
    }
}

async fn run(
    w: &World,
    plan: &Plan,
    state: &mut StateDocument,
    store: &MemoryStateStore,
    parallelism: usize,
    stop: &StopFlag,
) -> (stackplan_engine::ApplyReport, Recorder) {
    let rec = Recorder::default();
    let settings = ApplySettings {
        parallelism,
        ..ApplySettings::default()
    };
    let cx = ApplyContext {
        registry: &w.registry,
        store,
        settings: &settings,
        sink: &rec,
        events: &NoEvents,
        stop,
    };
    let report = apply(plan, state, &cx).await.expect("apply");
    (report, rec)
}

fn empty_state() -> StateDocument {
    StateDocument::new("demo", "11111111-1111-4111-8111-111111111111")
}

#[tokio::test]
async fn clean_apply_then_plan_shows_no_change() {
    let w = world(&[]);
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.done.len(), 4);
    assert_eq!(w.cloud.len(), 4);
    // The release got the outputs its producers reported at create time.
    let release = w
        .cloud
        .get(&addr(ResourceKind::HelmRelease, "milvus"))
        .unwrap();
    assert_eq!(
        release.attrs["values"].get_path("brokers"),
        Some(&Value::string(
            "bootstrap_brokers_sasl_scram-of-msk_cluster.milvus@1"
        ))
    );
    let again = plan_for(&w.registry, &resources, Some(&state)).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
}

#[tokio::test]
async fn state_is_saved_after_every_operation() {
    let w = world(&[]);
    let plan = plan_for(&w.registry, &stack(), None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    let writes = store.writes();
    assert_eq!(writes.len(), 4, "one write per resource");
    let sizes: Vec<usize> = writes.iter().map(|d| d.resources.len()).collect();
    assert_eq!(sizes, [1, 2, 3, 4]);
    let serials: Vec<u64> = writes.iter().map(|d| d.serial).collect();
    assert_eq!(serials, [1, 2, 3, 4]);
}

#[tokio::test]
async fn independent_clusters_create_at_the_same_time() {
    let w = world(&[
        (ResourceKind::EksCluster, 150),
        (ResourceKind::MskCluster, 150),
    ]);
    let plan = plan_for(&w.registry, &stack(), None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let started = Instant::now();
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded());
    let (eks_start, eks_end) = w.timed.span("create eks_cluster.main");
    let (msk_start, msk_end) = w.timed.span("create msk_cluster.milvus");
    assert!(
        eks_start < msk_end && msk_start < eks_end,
        "the two clusters did not overlap"
    );
    // Both depend on the VPC; the release waits for both.
    let (vpc_start, vpc_end) = w.timed.span("create ec2_vpc.main");
    assert!(vpc_end <= eks_start && vpc_end <= msk_start && vpc_start <= eks_start);
    let (release_start, _) = w.timed.span("create helm_release.milvus");
    assert!(release_start >= eks_end && release_start >= msk_end);
    // Wall time is the critical path (150 ms), not the sum (300 ms).
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn parallelism_one_runs_operations_one_at_a_time() {
    let w = world(&[
        (ResourceKind::EksCluster, 40),
        (ResourceKind::MskCluster, 40),
    ]);
    let plan = plan_for(&w.registry, &stack(), None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    run(&w, &plan, &mut state, &store, 1, &StopFlag::new()).await;
    let (eks_start, eks_end) = w.timed.span("create eks_cluster.main");
    let (msk_start, msk_end) = w.timed.span("create msk_cluster.milvus");
    assert!(
        eks_end <= msk_start || msk_end <= eks_start,
        "overlapped with parallelism 1"
    );
}

#[tokio::test]
async fn failure_skips_dependents_and_lets_independent_branches_finish() {
    let w = world(&[]);
    w.timed
        .fail
        .lock()
        .unwrap()
        .push(addr(ResourceKind::MskCluster, "milvus"));
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let (report, rec) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;

    let done: Vec<String> = report.done.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(done, ["ec2_vpc.main", "eks_cluster.main"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].addr.to_string(), "msk_cluster.milvus");
    assert!(
        report.failed[0].message.contains("AccessDeniedException"),
        "{:?}",
        report.failed
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0.to_string(), "helm_release.milvus");
    assert_eq!(
        report.skipped[0].2,
        "`msk_cluster.milvus` (create) did not succeed"
    );
    assert!(
        !rec.started()
            .contains(&"create helm_release.milvus".to_string())
    );
    // What was done is in state.
    assert_eq!(state.resources.len(), 2);

    // The cause goes away; a second apply converges.
    w.timed.fail.lock().unwrap().clear();
    let plan = plan_for(&w.registry, &resources, Some(&state)).await;
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let done: Vec<String> = report.done.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(done, ["msk_cluster.milvus", "helm_release.milvus"]);
    assert!(
        !plan_for(&w.registry, &resources, Some(&state))
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn stop_request_starts_nothing_new_but_finishes_work_in_flight() {
    let w = world(&[(ResourceKind::Ec2Vpc, 50)]);
    let plan = plan_for(&w.registry, &stack(), None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let stop = StopFlag::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        stopper.request();
    });
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &stop).await;
    assert!(report.interrupted);
    let done: Vec<String> = report.done.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(done, ["ec2_vpc.main"], "the VPC in flight finished");
    assert_eq!(report.skipped.len(), 3);
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, _, why)| why == "stopped before it started")
    );
    assert_eq!(state.resources.len(), 1, "state holds the finished VPC");
}

#[tokio::test]
async fn deletes_run_in_reverse_dependency_order() {
    let w = world(&[]);
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;

    let destroy = plan_for(&w.registry, &[], Some(&state)).await;
    assert!(destroy.changes.iter().all(|c| c.action.name() == "delete"));
    let (report, _) = run(&w, &destroy, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert!(w.cloud.is_empty());
    assert!(state.resources.is_empty());
    let order = w.timed.order();
    let deletes: Vec<&String> = order.iter().filter(|o| o.starts_with("delete")).collect();
    let pos = |p: &str| deletes.iter().position(|d| d.starts_with(p)).unwrap();
    assert!(pos("delete helm_release.milvus") < pos("delete eks_cluster.main"));
    assert!(pos("delete helm_release.milvus") < pos("delete msk_cluster.milvus"));
    assert!(pos("delete eks_cluster.main") < pos("delete ec2_vpc.main"));
    assert!(pos("delete msk_cluster.milvus") < pos("delete ec2_vpc.main"));
}

#[tokio::test]
async fn replacement_deletes_the_old_copy_by_its_old_id() {
    let w = world(&[]);
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;

    // The EKS cluster's name forces replacement (schema: force-new).
    let mut changed = resources.clone();
    changed[1] = changed[1].clone().attr("name", "demo-2");
    let replan = plan_for(&w.registry, &changed, Some(&state)).await;
    let eks = replan
        .change(&addr(ResourceKind::EksCluster, "main"))
        .unwrap();
    assert_eq!(eks.action.name(), "replace", "{eks:#?}");
    let (report, _) = run(&w, &replan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert!(
        report
            .done
            .iter()
            .any(|(a, op)| a.kind == ResourceKind::EksCluster && *op == Op::DeleteReplaced)
    );
    assert!(
        w.timed
            .order()
            .contains(&"delete eks_cluster.main id-of-eks_cluster.main@1".to_string())
    );
    // Exactly the new copy is live, and state names it.
    let eks_addr = addr(ResourceKind::EksCluster, "main");
    let live: Vec<Option<String>> = w
        .cloud
        .copies(&eks_addr)
        .into_iter()
        .map(|o| o.physical_id)
        .collect();
    assert_eq!(live, [Some("id-of-eks_cluster.main@2".to_string())]);
    assert_eq!(
        state.get(&eks_addr).unwrap().physical_id.as_deref(),
        Some("id-of-eks_cluster.main@2")
    );
    assert_eq!(
        state
            .get(&addr(ResourceKind::EksCluster, "main"))
            .unwrap()
            .attributes["name"],
        Value::string("demo-2")
    );
}

#[tokio::test]
async fn lookups_are_read_into_state_and_never_changed() {
    let w = world(&[]);
    let vpc = addr(ResourceKind::Ec2Vpc, "main");
    w.cloud.insert(
        vpc.clone(),
        Observed::new("vpc-0123")
            .attr("id", "vpc-0123")
            .output("id", "vpc-0123"),
    );
    let resources = vec![
        Resource::new(vpc.clone(), ResourceMode::Lookup).attr("id", "vpc-0123"),
        Resource::managed(ResourceKind::EksCluster, "main")
            .attr("name", "demo")
            .attr("subnet_ids", Value::list([Value::reference(&vpc, "id")])),
    ];
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert!(report.done.contains(&(vpc.clone(), Op::Read)));
    let cluster = w
        .cloud
        .get(&addr(ResourceKind::EksCluster, "main"))
        .unwrap();
    assert_eq!(
        cluster.attrs["subnet_ids"],
        Value::list([Value::string("vpc-0123")])
    );
    assert!(
        !plan_for(&w.registry, &resources, Some(&state))
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn consumer_of_a_secret_plans_clean_after_apply() {
    // The secret is configured by source (env:...) and outputs the value
    // it produced; the release consumes that output. After a clean apply
    // the release must not show its password as changed.
    let cloud = FakeCloud::new();
    let inner = cloud.provider();
    let secret_out = |o: Observed| Observed {
        outputs: [(
            "password".to_string(),
            Value::Sensitive(Box::new("pw-from-env".into())),
        )]
        .into(),
        ..o
    };
    let (c, r) = (cloud.clone(), cloud.clone());
    let provider = inner
        .clone()
        .create(move |req| {
            let mut o = Observed::new(format!("id-of-{}", req.addr));
            o.attrs = req.desired.clone();
            if req.addr.kind == ResourceKind::SecretsmanagerSecret {
                o = secret_out(o);
            }
            c.insert(req.addr.clone(), o.clone());
            Ok(o)
        })
        .read(move |req| Ok(r.get(req.addr)));
    let registry = ProviderRegistry::new().with(provider.into_arc());
    let secret = addr(ResourceKind::SecretsmanagerSecret, "msk_scram");
    let resources = vec![
        Resource::managed(ResourceKind::SecretsmanagerSecret, "msk_scram")
            .attr("name", "AmazonMSK_demo")
            .attr(
                "password",
                Value::Secret(stackplan_core::SecretSource::Env("PW".into())),
            ),
        Resource::managed(ResourceKind::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr(
                "values",
                Value::map([(
                    "password",
                    Value::Sensitive(Box::new(Value::reference(&secret, "password"))),
                )]),
            ),
    ];
    let plan = plan_for(&registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let rec = Recorder::default();
    let cx = ApplyContext {
        registry: &registry,
        store: &store,
        settings: &ApplySettings::default(),
        sink: &rec,
        events: &NoEvents,
        stop: &StopFlag::new(),
    };
    let report = apply(&plan, &mut state, &cx).await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    let release = cloud
        .get(&addr(ResourceKind::HelmRelease, "milvus"))
        .unwrap();
    assert_eq!(
        release.attrs["values"].get_path("password"),
        Some(&Value::Sensitive(Box::new("pw-from-env".into()))),
        "the release got the produced value, wrapped once"
    );
    let again = plan_for(&registry, &resources, Some(&state)).await;
    assert!(
        !again.has_changes(),
        "{:#?}",
        again
            .changes
            .iter()
            .filter(|c| c.action.is_change())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn configuration_change_reaches_its_cluster_in_the_same_apply() {
    // An MSK configuration change makes a new revision; the cluster that
    // references `latest_revision` must move to it in the same apply.
    let cloud = FakeCloud::new();
    let (c, u, r) = (cloud.clone(), cloud.clone(), cloud.clone());
    let revision = |o: &mut Observed, n: i64| {
        o.outputs.insert("latest_revision".into(), Value::Int(n));
        o.outputs.insert("arn".into(), Value::string("arn:config"));
    };
    let provider = cloud
        .provider()
        .create(move |req| {
            let mut o = Observed::new(format!("id-of-{}", req.addr));
            o.attrs = req.desired.clone();
            if req.addr.kind == ResourceKind::MskConfiguration {
                revision(&mut o, 1);
            }
            c.insert(req.addr.clone(), o.clone());
            Ok(o)
        })
        .update(move |req| {
            let mut o = u.get(req.addr).expect("exists");
            o.attrs = req.desired.clone();
            if req.addr.kind == ResourceKind::MskConfiguration {
                let n = match o.outputs.get("latest_revision") {
                    Some(Value::Int(n)) => *n,
                    _ => 0,
                };
                revision(&mut o, n + 1);
            }
            u.insert(req.addr.clone(), o.clone());
            Ok(o)
        })
        .read(move |req| Ok(r.get(req.addr)));
    let registry = ProviderRegistry::new().with(provider.into_arc());
    let config = addr(ResourceKind::MskConfiguration, "milvus");
    let stack = |max_bytes: &str| {
        vec![
            Resource::managed(ResourceKind::MskConfiguration, "milvus")
                .attr("name", "demo")
                .attr(
                    "server_properties",
                    Value::map([("message.max.bytes", Value::string(max_bytes))]),
                ),
            Resource::managed(ResourceKind::MskCluster, "milvus")
                .attr("cluster_name", "demo")
                .attr(
                    "configuration",
                    Value::map([
                        ("arn", Value::reference(&config, "arn")),
                        ("revision", Value::reference(&config, "latest_revision")),
                    ]),
                ),
        ]
    };
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let w = World {
        cloud: cloud.clone(),
        timed: Arc::new(Timed::new(FakeCloud::new().provider().into_arc())),
        registry,
    };
    let plan = plan_for(&w.registry, &stack("1000"), None).await;
    run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;

    let changed = plan_for(&w.registry, &stack("2000"), Some(&state)).await;
    let cluster = changed
        .change(&addr(ResourceKind::MskCluster, "milvus"))
        .unwrap();
    assert_eq!(cluster.action.name(), "update", "{cluster:#?}");
    let (report, _) = run(&w, &changed, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let live = cloud
        .get(&addr(ResourceKind::MskCluster, "milvus"))
        .unwrap();
    assert_eq!(
        live.attrs["configuration"].get_path("revision"),
        Some(&Value::Int(2))
    );
    assert!(
        !plan_for(&w.registry, &stack("2000"), Some(&state))
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn a_resource_created_but_never_recorded_is_adopted_and_feeds_its_dependents() {
    let w = world(&[]);
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    // Back to an apply killed right after the VPC's create call, before
    // state was written: the VPC is live, nothing else, state is empty.
    let vpc = addr(ResourceKind::Ec2Vpc, "main");
    for (kind, name) in [
        (ResourceKind::EksCluster, "main"),
        (ResourceKind::MskCluster, "milvus"),
        (ResourceKind::HelmRelease, "milvus"),
    ] {
        w.cloud.remove(&addr(kind, name));
    }
    let mut state = empty_state();
    // The fake cloud tags nothing: a VPC without this stack's
    // `stackplan:stack` tag could be anyone's, so the plan names it and
    // takes it over only with --adopt. (A tagged one is taken back
    // without asking: see the planner's tests.)
    let refused = Planner::new(&w.registry, PlanSettings::default())
        .plan(PlanRequest {
            stack: "demo",
            stack_sha256: "00",
            resources: &resources,
            state: Some(&state),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("`ec2_vpc.main` (id-of-ec2_vpc.main@1)"),
        "{refused}"
    );
    let plan = Planner::new(
        &w.registry,
        PlanSettings {
            allow_destroy: true,
            adopt: true,
            ..PlanSettings::default()
        },
    )
    .plan(PlanRequest {
        stack: "demo",
        stack_sha256: "00",
        resources: &resources,
        state: Some(&state),
    })
    .await
    .expect("plan with --adopt");
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(w.cloud.len(), 4);
    assert_eq!(
        state.get(&vpc).and_then(|s| s.physical_id.as_deref()),
        Some("id-of-ec2_vpc.main@1"),
        "the adopted VPC is recorded"
    );
    let again = plan_for(&w.registry, &resources, Some(&state)).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
}

#[tokio::test]
async fn apply_uses_the_values_the_plan_resolved_not_older_ones_from_state() {
    // A producer's output changed outside stackplan (brokers moved, a
    // configuration revised in the console): the plan resolves it from
    // live and shows the consumer's update; apply must give the consumer
    // that value, not the one state recorded, or it never converges.
    let w = world(&[]);
    let resources = stack();
    let plan = plan_for(&w.registry, &resources, None).await;
    let (mut state, store) = (empty_state(), MemoryStateStore::new());
    run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    let msk = addr(ResourceKind::MskCluster, "milvus");
    let mut live = w.cloud.get(&msk).unwrap();
    live.outputs.insert(
        "bootstrap_brokers_sasl_scram".into(),
        Value::string("b-9.moved:9096"),
    );
    w.cloud.insert(msk.clone(), live);

    let plan = plan_for(&w.registry, &resources, Some(&state)).await;
    let release = addr(ResourceKind::HelmRelease, "milvus");
    let change = plan.change(&release).unwrap();
    assert_eq!(change.action, stackplan_core::Action::Update);
    assert_eq!(
        change.inputs["msk_cluster.milvus.bootstrap_brokers_sasl_scram"],
        Value::string("b-9.moved:9096")
    );
    let (report, _) = run(&w, &plan, &mut state, &store, 16, &StopFlag::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        w.cloud.get(&release).unwrap().attrs["values"].get_path("brokers"),
        Some(&Value::string("b-9.moved:9096"))
    );
    let again = plan_for(&w.registry, &resources, Some(&state)).await;
    assert!(
        again.change(&release).unwrap().action == stackplan_core::Action::NoOp,
        "{:#?}",
        again.change(&release)
    );
}
