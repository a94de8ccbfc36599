//! The planner against closure-built fake providers: every action, drift
//! apart from config changes, unknown propagation, deletes, guards,
//! concurrency of refresh, determinism and saved-plan checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stackplan_core::{
    Action, Observed, Plan, ProviderError, ProviderRegistry, ReplaceOrder, Resource, ResourceAddr,
    ResourceKind as K, ResourceMode, SecretSource, StateDocument, Value,
};
use stackplan_engine::testing::{FakeCloud, FakeProvider};
use stackplan_engine::{
    EngineError, Op, PlanRequest, PlanSettings, Planner, check_saved_changes, check_saved_plan,
    schedule,
};

const STACK: &str = "demo";
const STACK_HASH: &str = "0000";

fn addr(kind: K, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

fn vpc() -> ResourceAddr {
    addr(K::Ec2Vpc, "main")
}
fn role() -> ResourceAddr {
    addr(K::IamRole, "eks_cluster")
}
fn cluster() -> ResourceAddr {
    addr(K::EksCluster, "main")
}
fn bucket() -> ResourceAddr {
    addr(K::S3Bucket, "milvus")
}
fn policy() -> ResourceAddr {
    addr(K::IamPolicy, "milvus_s3")
}
fn release() -> ResourceAddr {
    addr(K::HelmRelease, "milvus")
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// A small stack shaped like the Milvus one: a looked-up VPC, a role, a
/// cluster consuming the role's ARN, a bucket, a policy built from the
/// bucket's ARN and a Helm release consuming the cluster and the bucket.
fn stack() -> Vec<Resource> {
    let mut lookup = Resource::new(vpc(), ResourceMode::Lookup);
    lookup.attrs.insert("id".into(), "vpc-0123".into());
    vec![
        lookup,
        Resource::managed(K::IamRole, "eks_cluster")
            .attr("name", "demo-cluster")
            .attr("assume_role_policy", TRUST),
        Resource::managed(K::EksCluster, "main")
            .attr("name", "demo")
            .attr("version", "1.30")
            .attr("role_arn", Value::reference(&role(), "arn"))
            .attr(
                "subnet_ids",
                Value::list(["subnet-b".into(), "subnet-a".into()]),
            ),
        Resource::managed(K::S3Bucket, "milvus")
            .attr("bucket", "acme-milvus")
            .attr("versioning", true)
            .attr("tags", Value::map([("team", "search".into())])),
        Resource::managed(K::IamPolicy, "milvus_s3")
            .attr("name", "milvus-s3")
            .attr(
                "policy",
                Value::Concat(vec![
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":""#.into(),
                    Value::reference(&bucket(), "arn"),
                    r#"/*"}]}"#.into(),
                ]),
            ),
        Resource::managed(K::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr("namespace", "milvus")
            .attr("chart", "milvus")
            .attr(
                "values",
                Value::map([
                    (
                        "externalS3",
                        Value::map([("bucketName", Value::reference(&bucket(), "bucket"))]),
                    ),
                    (
                        "cluster",
                        Value::map([("endpoint", Value::reference(&cluster(), "endpoint"))]),
                    ),
                ]),
            ),
    ]
}

fn seeded_cloud() -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.insert(
        vpc(),
        Observed::new("vpc-0123")
            .attr("id", "vpc-0123")
            .output("cidr_block", "10.0.0.0/16"),
    );
    cloud
}

fn registry(p: FakeProvider) -> ProviderRegistry {
    ProviderRegistry::new().with(p.into_arc())
}

async fn plan_with(
    resources: &[Resource],
    state: Option<&StateDocument>,
    reg: &ProviderRegistry,
    settings: PlanSettings,
) -> Result<Plan, EngineError> {
    Planner::new(reg, settings)
        .plan(PlanRequest {
            stack: STACK,
            stack_sha256: STACK_HASH,
            resources,
            state,
        })
        .await
}

async fn plan(resources: &[Resource], state: Option<&StateDocument>, cloud: &FakeCloud) -> Plan {
    plan_with(
        resources,
        state,
        &registry(cloud.provider()),
        PlanSettings::default(),
    )
    .await
    .unwrap()
}

fn action_of<'p>(plan: &'p Plan, a: &ResourceAddr) -> &'p Action {
    &plan
        .change(a)
        .unwrap_or_else(|| panic!("{a} not in plan"))
        .action
}

/// A stack applied cleanly, with its cloud and state.
fn applied() -> (Vec<Resource>, FakeCloud, StateDocument) {
    let resources = stack();
    let cloud = seeded_cloud();
    let state = cloud.apply_all(STACK, &resources);
    (resources, cloud, state)
}

#[tokio::test]
async fn first_plan_creates_everything_and_reads_the_lookup() {
    let cloud = seeded_cloud();
    let p = plan(&stack(), None, &cloud).await;
    assert_eq!(action_of(&p, &vpc()), &Action::Read);
    for a in [role(), cluster(), bucket(), policy(), release()] {
        assert_eq!(action_of(&p, &a), &Action::Create, "{a}");
    }
    let s = p.summary();
    assert_eq!((s.create, s.read, s.update), (5, 1, 0));
}

#[tokio::test]
async fn outputs_of_resources_being_created_are_known_after_apply_downstream() {
    let cloud = seeded_cloud();
    let p = plan(&stack(), None, &cloud).await;
    let cluster_change = p.change(&cluster()).unwrap();
    let after = cluster_change.after.as_ref().unwrap();
    assert_eq!(after["role_arn"], Value::Unknown);
    assert_eq!(after["endpoint"], Value::Unknown, "computed output");
    // A value from the config of a resource being created is known.
    let values = &p.change(&release()).unwrap().after.as_ref().unwrap()["values"];
    assert_eq!(
        values.get_path("externalS3.bucketName"),
        Some(&Value::string("acme-milvus"))
    );
    assert_eq!(values.get_path("cluster.endpoint"), Some(&Value::Unknown));
    // A string built from an unknown is unknown as a whole.
    let policy_after = &p.change(&policy()).unwrap().after.as_ref().unwrap()["policy"];
    assert_eq!(policy_after, &Value::Unknown);
}

#[tokio::test]
async fn clean_apply_then_plan_shows_no_changes() {
    let (resources, cloud, state) = applied();
    // The API hands documents back in its own spelling: reordered keys,
    // a URL-encoded trust policy, tags as a Key/Value list, a default set.
    cloud.set_attr(
        &role(),
        "assume_role_policy",
        Value::string("%7B%22Statement%22%3A%5B%7B%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%2C%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22eks.amazonaws.com%22%7D%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D"),
    );
    cloud.set_attr(
        &cluster(),
        "subnet_ids",
        Value::list(["subnet-a".into(), "subnet-b".into()]),
    );
    cloud.set_attr(&cluster(), "endpoint_public_access", Value::Bool(true));
    cloud.set_attr(
        &bucket(),
        "tags",
        Value::list([Value::map([
            ("Key", "team".into()),
            ("Value", "search".into()),
        ])]),
    );
    let p = plan(&resources, Some(&state), &cloud).await;
    let noisy: Vec<_> = p
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp && c.action != Action::Read)
        .map(|c| (c.addr.to_string(), c.field_diffs.clone()))
        .collect();
    assert!(noisy.is_empty(), "{noisy:#?}");
    assert!(!p.has_changes());
    assert!(!p.has_drift(), "equivalent spellings are not drift");
}

#[tokio::test]
async fn changed_stack_value_is_an_update_with_the_field_named() {
    let (mut resources, cloud, state) = applied();
    let r = resources.iter_mut().find(|r| r.addr == cluster()).unwrap();
    r.attrs.insert("version".into(), "1.31".into());
    let p = plan(&resources, Some(&state), &cloud).await;
    let c = p.change(&cluster()).unwrap();
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.field_diffs.len(), 1);
    assert_eq!(c.field_diffs[0].path, "version");
    assert_eq!(c.field_diffs[0].before, Value::string("1.30"));
    assert_eq!(c.field_diffs[0].after, Value::string("1.31"));
    assert_eq!(c.reason.as_deref(), Some("`version` changed in the stack"));
    assert!(c.drift.is_none());
    // The cluster's outputs stay known: the release needs no change.
    assert_eq!(action_of(&p, &release()), &Action::NoOp);
}

#[tokio::test]
async fn drift_and_config_change_on_one_resource_are_reported_apart() {
    let (mut resources, cloud, state) = applied();
    // In the stack: versioning turned off.
    let r = resources.iter_mut().find(|r| r.addr == bucket()).unwrap();
    r.attrs.insert("versioning".into(), false.into());
    // Live, behind stackplan's back: a tag changed.
    cloud.set_attr(&bucket(), "tags", Value::map([("team", "ads".into())]));
    let p = plan(&resources, Some(&state), &cloud).await;
    let c = p.change(&bucket()).unwrap();
    assert_eq!(c.action, Action::Update);

    let drift = c.drift.as_ref().expect("drift reported");
    let drift_paths: Vec<&str> = drift.fields.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(drift_paths, ["tags.team"], "only the live change is drift");
    assert_eq!(drift.fields[0].before, Value::string("search"));
    assert_eq!(drift.fields[0].after, Value::string("ads"));

    let change_paths: Vec<&str> = c.field_diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(change_paths, ["tags.team", "versioning"]);
    assert_eq!(
        c.reason.as_deref(),
        Some(
            "`versioning` changed in the stack; `tags` changed outside stackplan: restoring the stack's value"
        )
    );
    assert_eq!(p.summary().drifted, 1);
}

#[tokio::test]
async fn immutable_field_change_is_a_replace_naming_the_field() {
    let (mut resources, cloud, state) = applied();
    let r = resources.iter_mut().find(|r| r.addr == cluster()).unwrap();
    r.attrs.insert(
        "subnet_ids".into(),
        Value::list(["subnet-a".into(), "subnet-c".into()]),
    );
    let p = plan_with(
        &resources,
        Some(&state),
        &registry(cloud.provider()),
        PlanSettings {
            allow_destroy: true,
            ..PlanSettings::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        action_of(&p, &cluster()),
        &Action::Replace {
            reason: "`subnet_ids` cannot be changed in place".into(),
            order: ReplaceOrder::DestroyBeforeCreate,
        }
    );
    assert!(p.change(&cluster()).unwrap().field_diffs[0].force_new);
    // The replacement's outputs are new: the release's endpoint is unknown.
    let rel = p.change(&release()).unwrap();
    assert_eq!(rel.action, Action::Update);
    assert_eq!(rel.field_diffs[0].path, "values.cluster.endpoint");
    assert_eq!(rel.field_diffs[0].after, Value::Unknown);
    assert_eq!(
        rel.reason.as_deref(),
        Some("`values` depend on values known only after apply")
    );
}

#[tokio::test]
async fn renaming_a_resource_replaces_it_create_before_destroy() {
    let (mut resources, cloud, state) = applied();
    let r = resources.iter_mut().find(|r| r.addr == role()).unwrap();
    r.attrs.insert("name".into(), "demo-cluster-2".into());
    let reg = registry(cloud.provider());
    // The new role's ARN is unknown, and `role_arn` forces a new cluster,
    // which is stateful: refused without --allow-destroy.
    let err = plan_with(&resources, Some(&state), &reg, PlanSettings::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("replace `eks_cluster.main`"),
        "{err}"
    );

    let allowed = PlanSettings {
        allow_destroy: true,
        ..PlanSettings::default()
    };
    let p = plan_with(&resources, Some(&state), &reg, allowed)
        .await
        .unwrap();
    match action_of(&p, &role()) {
        Action::Replace { order, .. } => assert_eq!(*order, ReplaceOrder::CreateBeforeDestroy),
        other => panic!("{other:?}"),
    }
    match action_of(&p, &cluster()) {
        Action::Replace { reason, order } => {
            assert_eq!(reason, "`role_arn` cannot be changed in place");
            assert_eq!(*order, ReplaceOrder::DestroyBeforeCreate);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn resource_removed_from_the_stack_is_deleted_in_reverse_dependency_order() {
    let (resources, cloud, state) = applied();
    let kept: Vec<Resource> = resources
        .into_iter()
        .filter(|r| {
            r.addr != policy() && r.addr != release() && r.addr != cluster() && r.addr != role()
        })
        .collect();
    let allowed = PlanSettings {
        allow_destroy: true,
        ..PlanSettings::default()
    };
    let p = plan_with(&kept, Some(&state), &registry(cloud.provider()), allowed)
        .await
        .unwrap();
    for a in [policy(), release(), cluster(), role()] {
        let c = p.change(&a).unwrap();
        assert_eq!(c.action, Action::Delete, "{a}");
        assert_eq!(c.reason.as_deref(), Some("no longer in the stack"));
    }
    // The release goes before the cluster, the cluster before its role:
    // each delete waits for the delete of what used it.
    let nodes = schedule(&p, &state).unwrap();
    let delete_of = |a: &ResourceAddr| {
        nodes
            .iter()
            .position(|n| &n.addr == a && n.op == Op::Delete)
            .unwrap()
    };
    assert!(
        nodes[delete_of(&cluster())]
            .waits_for
            .contains(&delete_of(&release()))
    );
    assert!(
        nodes[delete_of(&role())]
            .waits_for
            .contains(&delete_of(&cluster()))
    );
}

#[tokio::test]
async fn deleting_a_stateful_resource_needs_allow_destroy() {
    let (resources, cloud, state) = applied();
    let kept: Vec<Resource> = resources
        .into_iter()
        .filter(|r| r.addr != bucket() && r.addr != policy() && r.addr != release())
        .collect();
    let reg = registry(cloud.provider());
    let err = plan_with(&kept, Some(&state), &reg, PlanSettings::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to destroy:\n  - delete `s3_bucket.milvus` (no longer in the stack): a s3_bucket holds data; pass --allow-destroy to allow it"
    );
    let allowed = PlanSettings {
        allow_destroy: true,
        ..PlanSettings::default()
    };
    let p = plan_with(&kept, Some(&state), &reg, allowed).await.unwrap();
    assert_eq!(action_of(&p, &bucket()), &Action::Delete);
}

#[tokio::test]
async fn prevent_destroy_refuses_a_replace_even_with_allow_destroy() {
    let (mut resources, cloud, state) = applied();
    let r = resources.iter_mut().find(|r| r.addr == bucket()).unwrap();
    r.prevent_destroy = true;
    r.attrs.insert("bucket".into(), "acme-milvus-2".into());
    let allowed = PlanSettings {
        allow_destroy: true,
        ..PlanSettings::default()
    };
    let err = plan_with(
        &resources,
        Some(&state),
        &registry(cloud.provider()),
        allowed,
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("replace `s3_bucket.milvus` (`bucket` cannot be changed in place): it has prevent_destroy = true"), "{msg}");
}

#[tokio::test]
async fn resource_deleted_outside_stackplan_is_drift_and_created_again() {
    let (resources, cloud, state) = applied();
    cloud.remove(&bucket());
    let p = plan(&resources, Some(&state), &cloud).await;
    let c = p.change(&bucket()).unwrap();
    assert_eq!(c.action, Action::Create);
    assert!(c.drift.as_ref().unwrap().deleted);
    assert_eq!(
        c.reason.as_deref(),
        Some("deleted outside stackplan; it will be created again")
    );
    // Its ARN will be new: the policy built from it changes.
    assert_eq!(action_of(&p, &policy()), &Action::Update);
}

#[tokio::test]
async fn resource_found_live_but_not_in_state_is_adopted_only_with_adopt() {
    let (resources, cloud, _state) = applied();
    let reg = registry(cloud.provider());
    let err = plan_with(&resources, None, &reg, PlanSettings::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("would be adopted into this stack"), "{err}");
    assert!(
        err.contains(
            "`s3_bucket.milvus` (id-of-s3_bucket.milvus@1), which carries no stackplan:stack tag"
        ),
        "{err}"
    );
    let adopt = PlanSettings {
        adopt: true,
        ..PlanSettings::default()
    };
    let p = plan_with(&resources, None, &reg, adopt).await.unwrap();
    assert_eq!(action_of(&p, &bucket()), &Action::NoOp);
    assert!(p.options.adopt);
}

#[tokio::test]
async fn a_resource_tagged_as_another_stacks_is_never_adopted_even_with_adopt() {
    let (resources, cloud, _state) = applied();
    cloud.set_attr(
        &bucket(),
        "tags",
        Value::map([
            ("team", "search".into()),
            ("stackplan:stack", "milvus-prod".into()),
        ]),
    );
    let adopt = PlanSettings {
        adopt: true,
        ..PlanSettings::default()
    };
    let err = plan_with(&resources, None, &registry(cloud.provider()), adopt)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`s3_bucket.milvus` (id-of-s3_bucket.milvus@1) is tagged stackplan:stack = milvus-prod: it belongs to stack `milvus-prod`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_resource_tagged_as_this_stacks_is_taken_back_when_state_exists_but_missed_it() {
    // An apply stopped between a create and its state write.
    let (resources, cloud, mut state) = applied();
    cloud.set_attr(
        &bucket(),
        "tags",
        Value::map([("team", "search".into()), ("stackplan:stack", STACK.into())]),
    );
    state.remove(&bucket());
    let p = plan(&resources, Some(&state), &cloud).await;
    assert_ne!(action_of(&p, &bucket()), &Action::Create);
}

#[tokio::test]
async fn lookup_that_finds_nothing_is_an_error() {
    let cloud = FakeCloud::new();
    let err = plan_with(
        &stack(),
        None,
        &registry(cloud.provider()),
        PlanSettings::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "lookup `ec2_vpc.main` found nothing live");
}

#[tokio::test]
async fn kind_without_a_provider_is_an_error_naming_the_kind() {
    let cloud = seeded_cloud();
    let only_aws = cloud.provider().for_kinds(&[
        K::Ec2Vpc,
        K::IamRole,
        K::EksCluster,
        K::S3Bucket,
        K::IamPolicy,
    ]);
    let err = plan_with(&stack(), None, &registry(only_aws), PlanSettings::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no provider serves resource kind `helm_release` (needed for `helm_release.milvus`)"
    );
}

#[tokio::test]
async fn refresh_failures_are_all_reported_with_their_resource() {
    let p = FakeProvider::new().read(|req| {
        Err(ProviderError::new(format!(
            "AccessDenied reading {}",
            req.addr.kind
        )))
    });
    let err = plan_with(&stack()[..2], None, &registry(p), PlanSettings::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refresh failed for 2 resource(s):\n  ec2_vpc.main: AccessDenied reading ec2_vpc\n  iam_role.eks_cluster: AccessDenied reading iam_role"
    );
}

#[tokio::test]
async fn provider_can_refine_a_diff_into_a_replacement() {
    let (mut resources, cloud, state) = applied();
    let r = resources.iter_mut().find(|r| r.addr == release()).unwrap();
    r.attrs.insert("chart".into(), "milvus-ha".into());
    let provider = cloud.provider().plan_change(|_, diffs| {
        for d in diffs.iter_mut().filter(|d| d.path == "chart") {
            d.force_new = true;
        }
        Ok(())
    });
    let p = plan_with(
        &resources,
        Some(&state),
        &registry(provider),
        PlanSettings::default(),
    )
    .await
    .unwrap();
    assert!(matches!(action_of(&p, &release()), Action::Replace { .. }));
}

#[tokio::test]
async fn sensitive_values_are_sealed_and_never_reach_the_plan() {
    let mut secret = Resource::managed(K::SecretsmanagerSecret, "scram")
        .attr("name", "AmazonMSK_demo")
        .attr(
            "password",
            Value::Secret(SecretSource::Env("MSK_PW".into())),
        );
    secret.origin = Some("[msk]".into());
    let resources = vec![secret];
    let cloud = FakeCloud::new();
    let state = cloud.apply_all(STACK, &resources);
    // The API reports the secret's content.
    let a = addr(K::SecretsmanagerSecret, "scram");
    cloud.set_attr(&a, "password", Value::Sensitive(Box::new("hunter2".into())));
    let p = plan(&resources, Some(&state), &cloud).await;
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("hunter2"), "{json}");
    assert_eq!(
        action_of(&p, &a),
        &Action::NoOp,
        "same source as last applied"
    );
}

/// A secret source whose value the test sets: what `env:` would read.
struct Sources(std::sync::Mutex<Option<String>>);

impl stackplan_core::SecretSources for Sources {
    fn current<'a>(
        &'a self,
        _: &'a SecretSource,
    ) -> stackplan_core::BoxFuture<'a, Result<Option<String>, String>> {
        let v = self.0.lock().unwrap().clone();
        Box::pin(async move { v.map(Some).ok_or_else(|| "MSK_PW is not set".to_string()) })
    }
}

/// A SCRAM secret whose live password the API reports, and a release
/// whose values carry it, both applied with `old`.
fn rotation_world(old: &str) -> (Vec<Resource>, FakeCloud, StateDocument) {
    let secret_addr = addr(K::SecretsmanagerSecret, "scram");
    let resources = vec![
        Resource::managed(K::SecretsmanagerSecret, "scram")
            .attr("name", "AmazonMSK_demo")
            .attr(
                "password",
                Value::Secret(SecretSource::Env("MSK_PW".into())),
            ),
        Resource::managed(K::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr(
                "values",
                Value::map([(
                    "kafka",
                    Value::map([(
                        "password",
                        Value::Sensitive(Box::new(Value::reference(&secret_addr, "password"))),
                    )]),
                )]),
            ),
    ];
    let cloud = FakeCloud::new();
    // Through the state encoder, as a real run reads it back.
    let state = StateDocument::from_bytes(&cloud.apply_all(STACK, &resources).to_bytes()).unwrap();
    let live_pw = || Value::Sensitive(Box::new(Value::from(old)));
    cloud.set_attr(&secret_addr, "password", live_pw());
    let mut secret = cloud.get(&secret_addr).unwrap();
    secret.outputs.insert("password".into(), live_pw());
    cloud.insert(secret_addr, secret);
    cloud.set_attr(
        &release(),
        "values",
        Value::map([("kafka", Value::map([("password", live_pw())]))]),
    );
    (resources, cloud, state)
}

async fn plan_rotation(now: Option<&str>) -> Plan {
    let (resources, cloud, state) = rotation_world("old-password");
    let reg = registry(cloud.provider()).with_secret_sources(Arc::new(Sources(
        std::sync::Mutex::new(now.map(String::from)),
    )));
    plan_with(&resources, Some(&state), &reg, PlanSettings::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_changed_value_behind_an_unchanged_source_plans_a_rotation_of_the_secret_and_its_consumers()
 {
    let p = plan_rotation(Some("new-password")).await;
    let secret = p
        .changes
        .iter()
        .find(|c| c.addr == addr(K::SecretsmanagerSecret, "scram"))
        .unwrap();
    assert_eq!(secret.action, Action::Update);
    let why = secret.reason.as_deref().unwrap();
    assert!(
        why.contains("`env:MSK_PW`") && why.contains("rotating"),
        "{why}"
    );
    let d = &secret.field_diffs[0];
    assert!(d.sensitive && d.path == "password", "{d:?}");
    let rel = p.changes.iter().find(|c| c.addr == release()).unwrap();
    assert_eq!(rel.action, Action::Update);
    let why = rel.reason.as_deref().unwrap();
    assert!(
        why.contains("rotated secret of `secretsmanager_secret.scram`"),
        "{why}"
    );
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        !json.contains("new-password") && !json.contains("old-password"),
        "{json}"
    );
}

#[tokio::test]
async fn an_unchanged_value_behind_the_source_plans_nothing() {
    let p = plan_rotation(Some("old-password")).await;
    assert!(!p.has_changes(), "{:#?}", p.changes);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[tokio::test]
async fn a_source_that_cannot_be_read_plans_nothing_and_warns_that_rotation_is_unseen() {
    let p = plan_rotation(None).await;
    assert!(!p.has_changes(), "{:#?}", p.changes);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("`env:MSK_PW` cannot be read here"),
        "{:?}",
        p.warnings
    );
}

#[tokio::test]
async fn plans_are_byte_identical_across_runs() {
    let (mut resources, cloud, state) = applied();
    resources[3].attrs.insert("versioning".into(), false.into());
    cloud.set_attr(&bucket(), "tags", Value::map([("team", "ads".into())]));
    let a = serde_json::to_vec_pretty(&plan(&resources, Some(&state), &cloud).await).unwrap();
    resources.reverse();
    let b = serde_json::to_vec_pretty(&plan(&resources, Some(&state), &cloud).await).unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_saved_plan_edited_after_review_is_refused_naming_each_edited_resource() {
    let (mut resources, cloud, state) = applied();
    resources[3].attrs.insert("versioning".into(), false.into());
    let reg = registry(cloud.provider());
    let planner = Planner::new(&reg, PlanSettings::default());
    let req = PlanRequest {
        stack: STACK,
        stack_sha256: STACK_HASH,
        resources: &resources,
        state: Some(&state),
    };
    let reviewed = planner.plan(req).await.unwrap();
    let fresh = planner.plan(req).await.unwrap();
    check_saved_changes(&reviewed, &fresh).expect("an untouched plan is the same plan");

    // The bucket's reviewed update rewritten, and a no-op turned into a
    // delete: what someone with write access to the CI artefact could do.
    let mut json = serde_json::to_value(&reviewed).unwrap();
    for c in json["changes"].as_array_mut().unwrap() {
        match c["addr"].as_str().unwrap() {
            "s3_bucket.milvus" => c["field_diffs"][0]["after"] = serde_json::json!(true),
            "iam_policy.milvus_s3" => c["action"] = serde_json::json!("delete"),
            _ => {}
        }
    }
    let edited: Plan = serde_json::from_value(json).unwrap();
    let err = check_saved_changes(&edited, &fresh)
        .unwrap_err()
        .to_string();
    assert!(err.contains("edited after it was made"), "{err}");
    assert!(
        err.contains("`iam_policy.milvus_s3` is not what the stack, state and live resources give (differs in `action`)"),
        "{err}"
    );
    assert!(
        err.contains("`s3_bucket.milvus` is not what the stack, state and live resources give (differs in `field_diffs`)"),
        "{err}"
    );
}

#[tokio::test]
async fn saved_plan_round_trips_and_is_refused_after_a_live_change() {
    let (mut resources, cloud, state) = applied();
    resources[3].attrs.insert("versioning".into(), false.into());
    let reg = registry(cloud.provider());
    let planner = Planner::new(&reg, PlanSettings::default());
    let req = PlanRequest {
        stack: STACK,
        stack_sha256: STACK_HASH,
        resources: &resources,
        state: Some(&state),
    };
    let saved: Plan =
        serde_json::from_slice(&serde_json::to_vec(&planner.plan(req).await.unwrap()).unwrap())
            .unwrap();
    planner
        .verify_saved_plan(&saved, req)
        .await
        .expect("nothing changed yet");

    cloud.set_attr(&cluster(), "version", "1.29".into());
    let err = planner.verify_saved_plan(&saved, req).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the saved plan is out of date:\n  - the live state of `eks_cluster.main` changed since the plan was made"
    );
}

#[tokio::test]
async fn saved_plan_is_refused_after_the_stack_file_or_the_state_changed() {
    let (resources, cloud, state) = applied();
    let reg = registry(cloud.provider());
    let planner = Planner::new(&reg, PlanSettings::default());
    let req = PlanRequest {
        stack: STACK,
        stack_sha256: STACK_HASH,
        resources: &resources,
        state: Some(&state),
    };
    let saved = planner.plan(req).await.unwrap();
    let mut newer = state.clone();
    newer.serial += 1;
    let current = planner
        .basis(PlanRequest {
            stack_sha256: "ffff",
            state: Some(&newer),
            ..req
        })
        .await
        .unwrap();
    let err = check_saved_plan(&saved, &current).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the saved plan is out of date:\n  - the stack file changed since the plan was made\n  - the state serial is 2 but the plan was made at serial 1"
    );
}

#[tokio::test]
async fn reads_with_known_identity_do_not_wait_for_each_other() {
    // Every read waits at a barrier for all the others: that only
    // completes if they are all in flight at once, including the cluster,
    // which depends on the role but is known from state.
    let (resources, cloud, state) = applied();
    let n = resources.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let inner = cloud.provider();
    let provider = FakeProvider {
        read_f: None,
        ..inner.clone()
    }
    .read_async(move |req| {
        let barrier = barrier.clone();
        let inner = inner.clone();
        Box::pin(async move {
            barrier.wait().await;
            stackplan_core::Provider::read(&inner, req).await
        })
    });
    let reg = registry(provider);
    let fut = plan_with(&resources, Some(&state), &reg, PlanSettings::default());
    let p = tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("reads ran concurrently")
        .unwrap();
    assert!(!p.has_changes());
}

#[tokio::test]
async fn refresh_never_runs_more_reads_than_the_parallelism() {
    let (resources, cloud, state) = applied();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let inner = cloud.provider();
    let (f, pk) = (in_flight.clone(), peak.clone());
    let provider = inner.clone().read_async(move |req| {
        let (f, pk, inner) = (f.clone(), pk.clone(), inner.clone());
        Box::pin(async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            pk.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            stackplan_core::Provider::read(&inner, req).await
        })
    });
    let settings = PlanSettings {
        parallelism: 2,
        ..PlanSettings::default()
    };
    plan_with(&resources, Some(&state), &registry(provider), settings)
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn read_whose_identity_needs_a_new_output_waits_for_that_producer_and_uses_it() {
    // No state: the cluster's `role_arn` is known only once the role has
    // been read live, so its read waits for the role's and gets the ARN.
    let (resources, cloud, _state) = applied();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (inner, s) = (cloud.provider(), seen.clone());
    let provider = cloud.provider().read(move |req| {
        if *req.addr == cluster() {
            *s.lock().unwrap() = req.desired.and_then(|d| d.get("role_arn").cloned());
        }
        futures::executor::block_on(stackplan_core::Provider::read(&inner, req))
    });
    // Everything live is adopted (no state): that needs --adopt.
    let adopt = PlanSettings {
        adopt: true,
        ..PlanSettings::default()
    };
    plan_with(&resources, None, &registry(provider), adopt)
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some(Value::string("arn-of-iam_role.eks_cluster@1"))
    );
}

/// A preflight that finds the bucket's name taken.
fn bucket_taken(
    resources: &[&Resource],
) -> stackplan_core::ProviderResult<Vec<stackplan_core::Finding>> {
    Ok(resources
        .iter()
        .filter(|r| r.addr.kind == K::S3Bucket)
        .map(|r| stackplan_core::Finding {
            addr: r.addr.clone(),
            attr: "bucket".into(),
            message: "taken".into(),
            hint: Some("pick another name".into()),
            severity: stackplan_core::Severity::Error,
        })
        .collect())
}

/// A provider's preflight findings stop the plan before any read, all of
/// them in one error; drift, which never applies, does not run them.
#[tokio::test]
async fn preflight_findings_refuse_the_plan_before_anything_is_read() {
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = reads.clone();
    let provider = seeded_cloud()
        .provider()
        .read(move |_req| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
        .preflight(bucket_taken);
    let reg = registry(provider);
    let err = plan_with(&stack(), None, &reg, PlanSettings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Preflight { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the stack asks for what the APIs will refuse:\n  - s3_bucket.milvus (bucket): taken; pick another name"
    );
    assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing was read");
    let cloud = registry(seeded_cloud().provider().preflight(bucket_taken));
    let drift = Planner::new(&cloud, PlanSettings::default())
        .drift(PlanRequest {
            stack: STACK,
            stack_sha256: STACK_HASH,
            resources: &stack(),
            state: None,
        })
        .await;
    assert!(drift.is_ok(), "{drift:?}");
}

/// A preflight warning (a public subnet named as private) does not stop
/// the plan: it goes with it, in the plan's own `warnings`.
#[tokio::test]
async fn preflight_warnings_go_with_the_plan_instead_of_stopping_it() {
    let provider = seeded_cloud().provider().preflight(|resources| {
        Ok(bucket_taken(resources)?
            .into_iter()
            .map(|f| stackplan_core::Finding {
                severity: stackplan_core::Severity::Warning,
                ..f
            })
            .collect())
    });
    let reg = registry(provider);
    let plan = plan_with(&stack(), None, &reg, PlanSettings::default())
        .await
        .expect("a warning does not refuse the plan");
    assert_eq!(
        plan.warnings,
        ["s3_bucket.milvus (bucket): taken; pick another name"]
    );
}

#[tokio::test]
async fn a_change_the_provider_refuses_fails_a_plan_but_drift_still_reports() {
    // MSK refuses some changes in place (a storage decrease): a plan that
    // asks for one is an error, while the scheduled drift check goes on
    // reporting what changed live.
    let cloud = seeded_cloud();
    let resources = stack();
    let state = cloud.apply_all(STACK, &resources);
    cloud.set_attr(&bucket(), "tags", Value::map([("team", "ads".into())]));
    let mut changed = resources.clone();
    let b = changed.iter_mut().find(|r| r.addr == bucket()).unwrap();
    b.attrs.insert("versioning".into(), Value::Bool(false));
    let mut provider = cloud.provider();
    provider.plan_change_f = Some(Arc::new(|addr: &ResourceAddr, _diffs: &mut Vec<_>| {
        if addr.kind == K::S3Bucket {
            Err(ProviderError::new("S3 cannot do that in place"))
        } else {
            Ok(())
        }
    }));
    let reg = registry(provider);
    let err = plan_with(&changed, Some(&state), &reg, PlanSettings::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Provider { addr, .. } if *addr == bucket()),
        "{err}"
    );
    let drift = Planner::new(&reg, PlanSettings::default())
        .drift(PlanRequest {
            stack: STACK,
            stack_sha256: STACK_HASH,
            resources: &changed,
            state: Some(&state),
        })
        .await
        .expect("drift is not refused");
    assert!(drift.change(&bucket()).unwrap().has_drift());
}
