//! Snapshot tests of every plan renderer, on plans the engine makes from
//! fake providers: every action, drift beside a config change, unknowns,
//! sensitive values, a policy document diff and a Helm values diff.

use stackplan_core::{
    Observed, Plan, ProviderRegistry, Resource, ResourceAddr, ResourceKind as K, ResourceMode,
    SecretSource, Value,
};
use stackplan_engine::testing::FakeCloud;
use stackplan_engine::{PlanRequest, PlanSettings, Planner};
use stackplan_render::plan_json;
use stackplan_render::plan_markdown::{self, GITHUB_COMMENT_LIMIT, MarkdownOptions};
use stackplan_render::plan_text::{self, TextOptions};
use stackplan_testkit::sorted_json;

const STACK: &str = "milvus-demo";

fn a(kind: K, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

fn policy(actions: &[&str]) -> Value {
    Value::map([
        ("Version", "2012-10-17".into()),
        (
            "Statement",
            Value::list([Value::map([
                ("Effect", "Allow".into()),
                (
                    "Action",
                    Value::list(actions.iter().map(|s| Value::string(*s))),
                ),
                (
                    "Resource",
                    Value::list([
                        "arn:aws:s3:::acme-milvus-demo".into(),
                        "arn:aws:s3:::acme-milvus-demo/*".into(),
                    ]),
                ),
            ])]),
        ),
    ])
}

fn values(replicas: i64) -> Value {
    Value::map([
        (
            "cluster",
            Value::map([
                ("enabled", true.into()),
                (
                    "endpoint",
                    Value::reference(&a(K::EksCluster, "main"), "endpoint"),
                ),
            ]),
        ),
        (
            "externalS3",
            Value::map([
                ("enabled", true.into()),
                ("bucketName", "acme-milvus-demo".into()),
                ("rootPath", "milvus".into()),
            ]),
        ),
        ("proxy", Value::map([("replicas", Value::Int(replicas))])),
        ("minio", Value::map([("enabled", false.into())])),
    ])
}

/// The stack as applied.
fn base() -> Vec<Resource> {
    let mut vpc = Resource::new(a(K::Ec2Vpc, "main"), ResourceMode::Lookup);
    vpc.attrs
        .insert("id".into(), "vpc-0123456789abcdef0".into());
    vec![
        vpc,
        Resource::managed(K::IamRole, "eks_cluster").attr("name", "milvus-demo-cluster"),
        Resource::managed(K::IamRole, "legacy").attr("name", "milvus-demo-legacy"),
        Resource::managed(K::EksCluster, "main")
            .attr("name", "milvus-demo")
            .attr("version", "1.30")
            .attr(
                "role_arn",
                Value::reference(&a(K::IamRole, "eks_cluster"), "arn"),
            )
            .attr(
                "subnet_ids",
                Value::list(["subnet-0aaa".into(), "subnet-0bbb".into()]),
            ),
        Resource::managed(K::S3Bucket, "milvus")
            .attr("bucket", "acme-milvus-demo")
            .attr("versioning", true)
            .attr("tags", Value::map([("team", "search".into())])),
        Resource::managed(K::IamPolicy, "milvus_s3")
            .attr("name", "milvus-demo-milvus-s3")
            .attr("document", policy(&["s3:GetObject", "s3:PutObject"])),
        Resource::managed(K::KmsKey, "msk_scram")
            .attr("description", "SCRAM secret key")
            .attr("key_spec", "SYMMETRIC_DEFAULT"),
        Resource::managed(K::SecretsmanagerSecret, "msk_scram")
            .attr("name", "AmazonMSK_milvus-demo")
            .attr(
                "password",
                Value::Secret(SecretSource::Env("MSK_SCRAM_PASSWORD".into())),
            ),
        Resource::managed(K::HelmRelease, "milvus")
            .attr("name", "demo")
            .attr("namespace", "milvus")
            .attr("values", values(1)),
    ]
}

fn set(resources: &mut [Resource], addr: &ResourceAddr, attr: &str, v: Value) {
    let r = resources.iter_mut().find(|r| &r.addr == addr).unwrap();
    r.attrs.insert(attr.into(), v);
}

fn plan_for(
    resources: &[Resource],
    cloud: &FakeCloud,
    state: &stackplan_core::StateDocument,
) -> Plan {
    let reg = ProviderRegistry::new().with(cloud.provider().into_arc());
    let settings = PlanSettings {
        allow_destroy: true,
        ..PlanSettings::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(Planner::new(&reg, settings).plan(PlanRequest {
        stack: STACK,
        stack_sha256: "3f2a9c",
        resources,
        state: Some(state),
    }))
    .unwrap()
}

fn seeded() -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.insert(
        a(K::Ec2Vpc, "main"),
        Observed::new("vpc-0123456789abcdef0")
            .attr("id", "vpc-0123456789abcdef0")
            .output("cidr_block", "10.0.0.0/16"),
    );
    cloud
}

/// Every action at once.
fn busy_plan() -> Plan {
    let mut resources = base();
    let cloud = seeded();
    let mut state = cloud.apply_all(STACK, &resources);
    // An old copy an earlier replacement could not delete: deposed.
    let mut old = state.get(&a(K::S3Bucket, "milvus")).unwrap().clone();
    old.physical_id = Some("acme-milvus-demo-old".into());
    state.deposed.push(old);

    // Removed from the stack: delete.
    resources.retain(|r| r.addr != a(K::IamRole, "legacy"));
    // New: create.
    resources.push(
        Resource::managed(K::K8sNamespace, "milvus")
            .attr("name", "milvus")
            .attr("labels", Value::map([("aws-usage", "milvus".into())])),
    );
    // Immutable field: replace, destroy before create; the release's
    // endpoint becomes unknown.
    set(
        &mut resources,
        &a(K::EksCluster, "main"),
        "subnet_ids",
        Value::list(["subnet-0aaa".into(), "subnet-0ccc".into()]),
    );
    // Replace, create before destroy (KMS key ids are generated).
    set(
        &mut resources,
        &a(K::KmsKey, "msk_scram"),
        "key_spec",
        "RSA_2048".into(),
    );
    // Config change next to drift on the same resource.
    set(
        &mut resources,
        &a(K::S3Bucket, "milvus"),
        "versioning",
        false.into(),
    );
    cloud.set_attr(
        &a(K::S3Bucket, "milvus"),
        "tags",
        Value::map([("team", "ads".into())]),
    );
    // Policy document: a document diff.
    set(
        &mut resources,
        &a(K::IamPolicy, "milvus_s3"),
        "document",
        policy(&[
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
        ]),
    );
    // Helm values: a nested change.
    set(
        &mut resources,
        &a(K::HelmRelease, "milvus"),
        "values",
        values(2),
    );
    // A secret from another source: sensitive.
    set(
        &mut resources,
        &a(K::SecretsmanagerSecret, "msk_scram"),
        "password",
        Value::Secret(SecretSource::Env("MSK_SCRAM_PASSWORD_V2".into())),
    );
    plan_for(&resources, &cloud, &state)
}

fn quiet_plan() -> Plan {
    let resources = base();
    let cloud = seeded();
    let state = cloud.apply_all(STACK, &resources);
    plan_for(&resources, &cloud, &state)
}

fn drift_only_plan() -> Plan {
    let resources = base();
    let cloud = seeded();
    let state = cloud.apply_all(STACK, &resources);
    cloud.set_attr(&a(K::S3Bucket, "milvus"), "versioning", false.into());
    cloud.remove(&a(K::IamRole, "legacy"));
    plan_for(&resources, &cloud, &state)
}

#[test]
fn text_shows_every_action_with_symbols_reasons_and_drift_apart() {
    insta::assert_snapshot!(plan_text::render(&busy_plan(), TextOptions::default()));
}

#[test]
fn text_with_colour_paints_only_symbols_and_headings() {
    let text = plan_text::render(
        &busy_plan(),
        TextOptions {
            color: true,
            ..TextOptions::default()
        },
    );
    let plain = plan_text::render(&busy_plan(), TextOptions::default());
    assert!(text.contains("\x1b[32m+\x1b[0m"));
    // Without the escape codes the coloured text is the plain text.
    let mut stripped = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find('\x1b') {
        stripped.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find('m').unwrap() + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
}

#[test]
fn text_of_a_quiet_plan_says_no_changes() {
    insta::assert_snapshot!(plan_text::render(&quiet_plan(), TextOptions::default()));
}

#[test]
fn drift_text_names_resource_and_field() {
    insta::assert_snapshot!(plan_text::render_drift(
        &drift_only_plan(),
        TextOptions::default()
    ));
}

#[test]
fn json_follows_the_documented_schema() {
    // The fingerprint is an opaque hash of everything refresh saw: any
    // schema refinement changes it, and it is tested in the engine.
    let json = plan_json::render(&busy_plan()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fingerprint = doc["basis"]["live_fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 64);
    insta::assert_snapshot!(json.replace(fingerprint, "[live fingerprint]"));
}

#[test]
fn drift_json_lists_only_drifted_resources() {
    insta::assert_snapshot!(plan_json::render_drift(&drift_only_plan()).unwrap());
}

#[test]
fn markdown_has_a_summary_table_and_details_per_resource() {
    insta::assert_snapshot!(plan_markdown::render(
        &busy_plan(),
        MarkdownOptions::default()
    ));
}

#[test]
fn markdown_over_the_limit_is_cut_with_a_note() {
    let md = plan_markdown::render(
        &busy_plan(),
        MarkdownOptions {
            limit: 2_500,
            ..MarkdownOptions::default()
        },
    );
    assert!(md.chars().count() <= 2_500, "{}", md.chars().count());
    insta::assert_snapshot!(md);
}

#[test]
fn every_renderer_is_byte_identical_across_runs() {
    let (p1, p2) = (busy_plan(), busy_plan());
    assert_eq!(
        plan_text::render(&p1, TextOptions::default()),
        plan_text::render(&p2, TextOptions::default())
    );
    assert_eq!(
        plan_json::render(&p1).unwrap(),
        plan_json::render(&p2).unwrap()
    );
    assert_eq!(
        plan_markdown::render(&p1, MarkdownOptions::default()),
        plan_markdown::render(&p2, MarkdownOptions::default())
    );
}

#[test]
fn markdown_of_a_large_plan_stays_under_githubs_limit() {
    // 3,000 new resources: far more than one comment can hold.
    let resources: Vec<Resource> = (0..3_000)
        .map(|i| {
            Resource::managed(K::S3Bucket, format!("b{i}"))
                .attr("bucket", format!("acme-{i}"))
                .attr("tags", Value::map([("team", "search".into())]))
        })
        .collect();
    let cloud = FakeCloud::new();
    let reg = ProviderRegistry::new().with(cloud.provider().into_arc());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let plan = rt
        .block_on(
            Planner::new(&reg, PlanSettings::default()).plan(PlanRequest {
                stack: STACK,
                stack_sha256: "0",
                resources: &resources,
                state: None,
            }),
        )
        .unwrap();
    let md = plan_markdown::render(&plan, MarkdownOptions::default());
    assert!(md.chars().count() <= 65_536, "{}", md.chars().count());
    assert!(md.starts_with("## stackplan plan: `milvus-demo`\n\n**Plan:** 3000 to create."));
    assert!(
        md.trim_end()
            .ends_with("Run `stackplan plan` (or `stackplan show PLAN`) for the full plan."),
        "{}",
        &md[md.len() - 400..]
    );
}

#[test]
fn a_partial_plan_says_so_first_in_text_and_markdown() {
    let mut plan = busy_plan();
    plan.options.selection.targets = vec![a(K::EksCluster, "main")];
    plan.options.selection.excludes = vec![a(K::HelmRelease, "milvus")];
    let said = "Partial plan: only `eks_cluster.main` and what they depend on; without \
                `helm_release.milvus` and what depends on them. Changes to the rest of the \
                stack are not shown and not applied.";
    let text = plan_text::render(&plan, TextOptions::default());
    assert!(
        text.starts_with(&format!(
            "stackplan plan for stack `milvus-demo`\n\n{said}\n"
        )),
        "{text}"
    );
    let markdown = plan_markdown::render(&plan, MarkdownOptions::default());
    assert!(markdown.contains(&format!("> **{said}**")), "{markdown}");
    // A --replace alone covers the whole stack: nothing partial is said.
    plan.options.selection.targets.clear();
    plan.options.selection.excludes.clear();
    plan.options.selection.replace = vec![a(K::EksCluster, "main")];
    assert!(!plan_text::render(&plan, TextOptions::default()).contains("Partial"));
}

/// `busy_plan` as the CLI records it: the account and caller from one
/// `GetCallerIdentity`, the region, the state's location and the cluster.
fn pointed(mut plan: Plan) -> Plan {
    plan.basis.account = Some("123456789012".into());
    plan.basis.caller_arn = Some("arn:aws:sts::123456789012:assumed-role/deploy/ci".into());
    plan.basis.region = Some("us-west-2".into());
    plan.basis.state_location = Some("s3://acme-state/milvus-demo.json".into());
    plan.basis.kube = Some(stackplan_core::KubeAccess::EksCluster {
        name: "milvus-demo".into(),
    });
    plan
}

#[test]
fn every_format_says_where_the_plan_points() {
    let plan = pointed(busy_plan());
    let text = plan_text::render(&plan, TextOptions::default());
    insta::assert_snapshot!(
        "header_text",
        text.split("Drift:").next().unwrap().to_string()
    );
    let markdown = plan_markdown::render(
        &plan,
        MarkdownOptions {
            commit: Some("0123abcd4567".into()),
            version: Some("0.1.0".into()),
            ..MarkdownOptions::default()
        },
    );
    insta::assert_snapshot!(
        "header_markdown",
        markdown.split("**Plan:**").next().unwrap().to_string()
    );
    let json: serde_json::Value = serde_json::from_str(&plan_json::render(&plan).unwrap()).unwrap();
    insta::assert_json_snapshot!("header_json", sorted_json(&json["target"]));
    let drift: serde_json::Value =
        serde_json::from_str(&plan_json::render_drift(&plan).unwrap()).unwrap();
    assert_eq!(drift["target"], json["target"]);
    // `drift` says where it looked too, with the same lines.
    let drift_text = plan_text::render_drift(&plan, TextOptions::default());
    let plan_lines: Vec<&str> = text.lines().skip(1).take(4).collect();
    assert!(drift_text.starts_with("stackplan drift for stack `milvus-demo`\n"));
    assert_eq!(
        drift_text.lines().skip(1).take(4).collect::<Vec<_>>(),
        plan_lines
    );
}

#[test]
fn compact_text_is_one_line_per_resource_with_the_paths_that_change() {
    let text = plan_text::render(
        &pointed(busy_plan()),
        TextOptions {
            detail: plan_text::Detail::Compact,
            ..TextOptions::default()
        },
    );
    insta::assert_snapshot!(text);
}

/// A stack with the controller's published policy, created, then changed.
fn published_policy(actions: &[&str]) -> Resource {
    Resource::managed(K::IamPolicy, "lb_controller")
        .attr("name", "milvus-demo-AWSLoadBalancerControllerIAMPolicy")
        .attr("document", policy(actions))
        .published(
            "document",
            "AWS Load Balancer Controller IAM policy v2.13.3 (chart 1.13.3)",
        )
}

fn first_plan(resources: &[Resource]) -> Plan {
    let cloud = FakeCloud::new();
    let reg = ProviderRegistry::new().with(cloud.provider().into_arc());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(
        Planner::new(&reg, PlanSettings::default()).plan(PlanRequest {
            stack: STACK,
            stack_sha256: "0",
            resources,
            state: None,
        }),
    )
    .unwrap()
}

#[test]
fn a_published_document_is_named_when_new_and_shown_whole_with_full() {
    let actions: Vec<String> = (0..30)
        .map(|i| format!("elasticloadbalancing:Act{i}"))
        .collect();
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    let plan = first_plan(&[published_policy(&actions)]);
    let short = plan_text::render(&plan, TextOptions::default());
    let full = plan_text::render(
        &plan,
        TextOptions {
            detail: plan_text::Detail::Full,
            ..TextOptions::default()
        },
    );
    insta::assert_snapshot!("published_short", short);
    // Nothing the short form leaves out is missing from --full.
    for action in &actions {
        assert!(!short.contains(action), "{short}");
        assert!(full.contains(&format!("\"{action}\"")), "{full}");
    }
    let markdown = plan_markdown::render(&plan, MarkdownOptions::default());
    assert!(
        markdown.contains(
            "+ document = # AWS Load Balancer Controller IAM policy v2.13.3 (chart 1.13.3) (44 lines, shown with --full)"
        ),
        "{markdown}"
    );
}

#[test]
fn a_published_document_that_changes_shows_its_diff() {
    let before = [published_policy(&["s3:GetObject"])];
    let cloud = FakeCloud::new();
    let state = cloud.apply_all(STACK, &before);
    let after = [published_policy(&["s3:GetObject", "s3:PutObject"])];
    let plan = plan_for(&after, &cloud, &state);
    let text = plan_text::render(&plan, TextOptions::default());
    assert!(
        text.contains("+      Action = [\"s3:GetObject\", \"s3:PutObject\"]"),
        "{text}"
    );
    assert!(!text.contains("shown with --full"), "{text}");
}

#[test]
fn the_clusters_default_class_is_taken_over_not_created() {
    let gp2 = Resource::managed(K::K8sDefaultClass, "gp2")
        .attr("name", "gp2")
        .attr("default", false);
    let plan = first_plan(&[gp2]);
    let text = plan_text::render(&plan, TextOptions::default());
    assert!(
        text.contains("  ~ k8s_default_class.gp2 will be taken over\n"),
        "{text}"
    );
    assert!(!text.contains("will be created"), "{text}");
    let compact = plan_text::render(
        &plan,
        TextOptions {
            detail: plan_text::Detail::Compact,
            ..TextOptions::default()
        },
    );
    assert!(
        compact.contains("  ~ k8s_default_class.gp2  take over\n"),
        "{compact}"
    );
    let json: serde_json::Value = serde_json::from_str(&plan_json::render(&plan).unwrap()).unwrap();
    let change = &json["resource_changes"][0];
    assert_eq!(change["action"], "create");
    assert_eq!(change["takes_over"], true);
}

#[test]
fn a_plain_create_gives_no_reason() {
    let plan = first_plan(&[Resource::managed(K::K8sNamespace, "milvus").attr("name", "milvus")]);
    assert_eq!(plan.changes[0].reason, None);
    let text = plan_text::render(&plan, TextOptions::default());
    assert!(!text.contains("not in state"), "{text}");
}

#[test]
fn markdown_shortens_long_values_inside_their_block_and_names_the_resource() {
    // Helm values far larger than a comment: the release's block stays,
    // its values cut, and the note names it and points to the CI log.
    let big = Value::map((0..4_000).map(|i| {
        (
            format!("component{i:04}"),
            Value::map([(
                "resources",
                Value::string(format!("requests for component {i} of the Milvus cluster")),
            )]),
        )
    }));
    let mut resources = base();
    set(&mut resources, &a(K::HelmRelease, "milvus"), "values", big);
    let plan = first_plan(&resources[1..]);
    let md = plan_markdown::render(&plan, MarkdownOptions::default());
    assert!(
        md.chars().count() <= GITHUB_COMMENT_LIMIT,
        "{}",
        md.chars().count()
    );
    assert!(
        md.contains(
            "<details><summary><code>+ helm_release.milvus</code> will be created</summary>"
        ),
        "the release's block must stay"
    );
    assert!(md.contains("more line(s) cut to fit the comment: the full plan is in the CI log"));
    assert!(!md.contains("**Truncated:**"), "no block is left out");
    // Every other block is whole.
    for r in [
        "iam_role.eks_cluster",
        "s3_bucket.milvus",
        "eks_cluster.main",
    ] {
        assert!(md.contains(&format!("<code>+ {r}</code>")), "{r}");
    }
    assert_eq!(
        md.lines().last().unwrap(),
        "> **Shortened:** long values of `helm_release.milvus` are cut to stay under GitHub's \
         65536-character comment limit. The CI log has the full plan (`stackplan plan`, or \
         `stackplan show --full PLAN`)."
    );
}

#[test]
fn markdown_cuts_long_one_line_values_before_leaving_a_block_out() {
    // Forty resources, each with a 3,000-character string (a script, a
    // certificate): no document to shorten, so the strings are cut.
    let resources: Vec<Resource> = (0..40)
        .map(|i| {
            Resource::managed(K::S3Bucket, format!("b{i:02}"))
                .attr("bucket", format!("acme-{i}"))
                .attr("notes", "x".repeat(3_000))
        })
        .collect();
    let plan = first_plan(&resources);
    let md = plan_markdown::render(&plan, MarkdownOptions::default());
    assert!(
        md.chars().count() <= GITHUB_COMMENT_LIMIT,
        "{}",
        md.chars().count()
    );
    assert!(!md.contains("**Truncated:**"), "no block is left out");
    assert_eq!(md.matches("<details>").count(), 40);
    assert!(md.contains("more characters cut to fit the comment: the full plan is in the CI log)"));
    assert!(md.contains("> **Shortened:** long values of `s3_bucket.b00`"));
}

/// `busy_plan` with what the CLI adds once the charts are rendered: the
/// objects the values change alters, and the plan's warnings.
fn rendered(mut plan: Plan) -> Plan {
    let release = plan
        .changes
        .iter_mut()
        .find(|c| c.addr == a(K::HelmRelease, "milvus"))
        .expect("the release changes in busy_plan");
    release.manifest_changes = vec![stackplan_core::ManifestChange {
        kind: "Deployment".into(),
        namespace: "milvus".into(),
        name: "demo-milvus-querynode".into(),
        action: "change".into(),
        fields: vec![stackplan_core::ManifestField {
            path: "spec.replicas".into(),
            before: Some("1".into()),
            after: Some("2".into()),
        }],
    }];
    plan.warnings = vec![
        "fit: the pods do not fit the node groups (1 x m6i.2xlarge): packed largest first, \
         2 pods stay Pending: Deployment milvus/demo-milvus-proxy (2 pods x 2 CPU, 8Gi)"
            .into(),
        "helm_release.attu: Attu is internet-facing without <TLS>".into(),
    ];
    plan
}

#[test]
fn markdown_shows_each_object_a_release_change_alters_in_its_own_block() {
    let md = plan_markdown::render(&rendered(busy_plan()), MarkdownOptions::default());
    assert!(
        md.contains(
            "<details><summary><code>~ Deployment milvus/demo-milvus-querynode</code></summary>\n\n\
             ```\nspec.replicas: 1 -> 2\n```\n\n</details>"
        ),
        "{md}"
    );
}

#[test]
fn warnings_reach_the_json_and_the_head_of_a_markdown_comment_even_when_cut() {
    let plan = rendered(busy_plan());
    let doc: serde_json::Value = serde_json::from_str(&plan_json::render(&plan).unwrap()).unwrap();
    assert_eq!(
        doc["warnings"],
        serde_json::json!(plan.warnings),
        "in the order printed"
    );
    // A comment cut to a few thousand characters still warns: the alert is
    // in the head, before the blocks that are shortened or left out.
    let md = plan_markdown::render(
        &plan,
        MarkdownOptions {
            limit: 2_500,
            ..MarkdownOptions::default()
        },
    );
    assert!(
        md.contains("> [!WARNING]\n> - fit: the pods do not fit the node groups (1 x m6i.2xlarge)")
            && md.contains("> - helm_release.attu: Attu is internet-facing without &lt;TLS&gt;\n"),
        "{md}"
    );
    assert!(md.find("[!WARNING]") < md.find("### "), "{md}");
    // No warnings, no alert and no field.
    let quiet = busy_plan();
    assert!(!plan_markdown::render(&quiet, MarkdownOptions::default()).contains("[!WARNING]"));
    let doc: serde_json::Value = serde_json::from_str(&plan_json::render(&quiet).unwrap()).unwrap();
    assert!(doc.get("warnings").is_none(), "{doc:#}");
}
