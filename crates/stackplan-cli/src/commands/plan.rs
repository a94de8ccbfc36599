//! `stackplan plan STACK`: refresh, diff, and show what apply would do.
//! Also the shared wiring of the plan-family commands (`drift`, `show`,
//! `unlock`): the state store of a stack, the provider registry, the
//! runtime, and engine errors turned into reports with a hint.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use miette::{IntoDiagnostic, WrapErr, miette};
use stackplan_core::{Plan, ProviderRegistry, StateError, StateStore};
use stackplan_engine::{EngineError, PlanRequest, PlanSettings, Planner, sha256_hex};
use stackplan_render::plan_json;
use stackplan_render::plan_markdown::{self, MarkdownOptions};
use stackplan_render::plan_text::{self, Detail, TextOptions};
use stackplan_stack::{Stack, StateConfig};
use stackplan_state::{Encryption, LocalStateStore, S3Options, S3StateStore};

use super::charts::ChartAccess;
use crate::{Outcome, output};

/// How a plan is shown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For a terminal or a CI log.
    Text,
    /// For programs (schema: docs/plan-json.md).
    Json,
    /// For a pull-request comment: a summary table, details folded.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// Exit 2 when there are changes, 0 when there are none, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Shorthand for `--format json` (schema: docs/plan-json.md).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// How the plan is shown on stdout (default: text).
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
    /// Save the plan to this file, for `stackplan show` and `stackplan apply`.
    #[arg(short = 'o', long = "out", value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Show every value in full, the published documents stackplan owns
    /// (the load balancer controller's IAM policy, trust policies)
    /// included; by default those are named, and shown only when they
    /// change.
    #[arg(long, conflicts_with = "compact")]
    pub full: bool,
    /// One line per resource: symbol, address, action and, for an update,
    /// the paths that change.
    #[arg(long)]
    pub compact: bool,
    /// Read at most this many resources at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Allow deleting or replacing stateful resources (S3 bucket, MSK and
    /// EKS clusters).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Take over live resources the state has no record of: ones without
    /// this stack's `stackplan:stack` tag, or every one when the state was
    /// lost. Never those another stack's tag names.
    #[arg(long)]
    pub adopt: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// `--target`, `--exclude` and `--replace`, on `plan` and `apply`.
#[derive(Debug, Default, Args)]
pub struct SelectionArgs {
    /// Plan only this resource and what it depends on; repeatable. The
    /// plan says it is partial.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Leave out this resource and everything that depends on it;
    /// repeatable.
    #[arg(long = "exclude", value_name = "ADDR")]
    pub excludes: Vec<String>,
    /// Replace this resource even though nothing in the stack forces it
    /// (a node group whose instances are unhealthy); repeatable.
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<String>,
}

impl SelectionArgs {
    /// The addresses, parsed; a malformed one is an error naming the flag.
    pub fn selection(&self) -> miette::Result<stackplan_core::Selection> {
        let parse = |flag: &str,
                     items: &[String]|
         -> miette::Result<Vec<stackplan_core::ResourceAddr>> {
            items
                .iter()
                .map(|s| {
                    s.parse::<stackplan_core::ResourceAddr>().map_err(|e| {
                        miette!(
                            help = "an address is `kind.name`, as `stackplan graph` or a plan shows it (e.g. `eks_nodegroup.ng_1_milvus`)",
                            "{flag} `{s}`: {e}"
                        )
                    })
                })
                .collect()
        };
        let mut selection = stackplan_core::Selection {
            targets: parse("--target", &self.targets)?,
            excludes: parse("--exclude", &self.excludes)?,
            replace: parse("--replace", &self.replace)?,
        };
        // One order whatever the command line's: a saved plan records it.
        for list in [
            &mut selection.targets,
            &mut selection.excludes,
            &mut selection.replace,
        ] {
            list.sort();
            list.dedup();
        }
        Ok(selection)
    }
}

impl PlanArgs {
    fn format(&self) -> PlanFormat {
        if self.json {
            PlanFormat::Json
        } else {
            self.format.unwrap_or(PlanFormat::Text)
        }
    }
}

/// Colour on stdout only on a terminal, and never with `NO_COLOR` set.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")
}

/// The state store a stack names: `[state] backend = "local"` (default,
/// `.stackplan/<name>.state.json` next to the stack file) or `"s3"`.
pub async fn state_store(stack: &Stack) -> Box<dyn StateStore> {
    match &stack.state {
        StateConfig::Local { path: Some(p) } => Box::new(LocalStateStore::at(PathBuf::from(p))),
        StateConfig::Local { path: None } => {
            let dir = Path::new(&stack.path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Box::new(LocalStateStore::for_stack(dir, &stack.name))
        }
        StateConfig::S3 {
            bucket,
            key,
            region,
            kms_key_id,
        } => {
            let options = S3Options {
                encryption: match kms_key_id {
                    Some(id) => Encryption::Kms { key_id: id.clone() },
                    None => Encryption::S3Managed,
                },
                // The AWS provider's limits: state is read before the
                // preflight, and must not wait for ever either.
                timeouts: Some(stackplan_aws::timeout_config()),
                ..S3Options::default()
            };
            let region = region.as_deref().unwrap_or(&stack.region);
            Box::new(S3StateStore::connect(region, bucket, key, options).await)
        }
    }
}

/// The providers for a stack: AWS on the standard credential chain in the
/// stack's region, and Kubernetes/Helm on `[kubernetes] kubeconfig` when
/// given, else on the stack's EKS cluster (found with `DescribeCluster`,
/// signed for with the same credentials, contacted only once it exists).
/// A kind no provider serves is refused by the engine with the kind named,
/// never skipped.
pub async fn provider_registry(stack: &Stack) -> miette::Result<ProviderRegistry> {
    Ok(providers(stack).await?.0)
}

/// The providers, and the Kubernetes one by name: a plan asks it for the
/// manifest each release runs now, to show the objects a change alters.
pub async fn providers(
    stack: &Stack,
) -> miette::Result<(
    ProviderRegistry,
    std::sync::Arc<stackplan_kube::KubeProvider>,
)> {
    let aws = std::sync::Arc::new(stackplan_aws::AwsProvider::from_env(&stack.region).await);
    let kube = match &stack.kubernetes {
        Some(k) => {
            stackplan_kube::KubeProvider::from_kubeconfig(Some(&k.kubeconfig), k.context.as_deref())
        }
        None => {
            // With the AWS provider's limits, so finding the cluster
            // never waits for ever.
            let config = stackplan_aws::sdk_config(&stack.region).await;
            let credentials = config.credentials_provider().ok_or_else(|| {
                miette!(
                    help = "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or give `[kubernetes] kubeconfig`",
                    "no AWS credentials to sign Kubernetes requests for EKS cluster `{}`",
                    stack.eks.name
                )
            })?;
            stackplan_kube::KubeProvider::for_eks(
                &stack.eks.name,
                &stack.region,
                credentials,
                aws_sdk_eks::Client::new(&config),
            )
        }
    };
    let kube = std::sync::Arc::new(kube);
    let registry = ProviderRegistry::new()
        .with(aws.clone())
        .with(kube.clone())
        // Plans read `env:` and `secretsmanager:` sources as apply will,
        // to see a rotated password.
        .with_secret_sources(aws);
    Ok((registry, kube))
}

/// Where a run acts: the AWS account its credentials belong to and the
/// stack's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub account: String,
    /// The caller's ARN, from the same `GetCallerIdentity`.
    pub caller_arn: String,
    pub region: String,
}

/// Asks AWS who the credentials belong to (`sts:GetCallerIdentity`,
/// which every principal may call).
pub async fn aws_target(stack: &Stack) -> miette::Result<Target> {
    let aws = stackplan_aws::AwsProvider::from_env(&stack.region).await;
    let identity = aws.caller_identity().await.map_err(|e| {
        miette!(
            help = "set AWS_PROFILE or AWS credentials for the account this stack lives in",
            "cannot tell which AWS account these credentials belong to: {e}"
        )
    })?;
    Ok(Target {
        account: identity.account,
        caller_arn: identity.arn,
        region: stack.region.clone(),
    })
}

/// Records in the plan where it points, for its header and for apply's
/// checks: the account, caller and region when AWS was asked (`target`),
/// and from the stack the state's location and the cluster the
/// Kubernetes changes go to.
pub fn point_plan(plan: &mut Plan, stack: &Stack, state_location: String, target: Option<&Target>) {
    if let Some(t) = target {
        plan.basis.account = Some(t.account.clone());
        plan.basis.caller_arn = Some(t.caller_arn.clone()).filter(|a| !a.is_empty());
    }
    plan.basis.region = Some(target.map_or(&stack.region, |t| &t.region).clone());
    plan.basis.state_location = Some(state_location);
    plan.basis.kube = Some(kube_access(stack));
}

/// The cluster the stack's Kubernetes provider uses: `[kubernetes]`'s
/// kubeconfig and context (the file's current one when none is given), or
/// the EKS cluster.
pub fn kube_access(stack: &Stack) -> stackplan_core::KubeAccess {
    match &stack.kubernetes {
        Some(k) => stackplan_core::KubeAccess::Kubeconfig {
            path: k.kubeconfig.clone(),
            context: stackplan_kube::KubeTarget::kubeconfig(
                Some(&k.kubeconfig),
                k.context.as_deref(),
            )
            .context_name(),
        },
        None => stackplan_core::KubeAccess::EksCluster {
            name: stack.eks.name.clone(),
        },
    }
}

/// Refuses a stack whose state was applied in another account or region:
/// planned there, every resource would look deleted outside stackplan and
/// be created again beside the real ones.
pub fn check_state_target(
    state: Option<&stackplan_core::StateDocument>,
    target: &Target,
) -> miette::Result<()> {
    let Some(state) = state else { return Ok(()) };
    if let Some(account) = state.account.as_deref().filter(|a| *a != target.account) {
        let now = &target.account;
        return Err(miette!(
            help = format!(
                "use credentials for account {account} (AWS_PROFILE), or give this stack a new name and state to deploy it in account {now}"
            ),
            "stack `{}` was applied in AWS account {account}, but these credentials are for account {now}",
            state.stack
        ));
    }
    if let Some(region) = state.region.as_deref().filter(|r| *r != target.region) {
        return Err(miette!(
            help = format!(
                "moving a stack between regions is not a change stackplan makes: set `[stack] region = \"{region}\"` back, or destroy it there and apply it as a new stack"
            ),
            "stack `{}` was applied in region {region}, but `[stack] region` now says {}",
            state.stack,
            target.region
        ));
    }
    Ok(())
}

pub fn state_error(e: StateError) -> miette::Report {
    let help = match &e {
        StateError::Locked { .. } | StateError::LockedUnknown { .. } => {
            "wait for the other run to finish; if it died, `stackplan unlock STACK` releases its lock"
        }
        StateError::Conflict { .. } => "someone else wrote the state meanwhile: plan again",
        StateError::LineageMismatch { .. } => {
            "the state file belongs to another stack: check `[state]` in the stack file"
        }
        _ => super::preflight::state_hint(&chain(&e)),
    };
    miette!(help = help, "{}", chain(&e))
}

pub fn engine_error(e: EngineError) -> miette::Report {
    let refresh_help;
    let help = match &e {
        EngineError::NoProvider { .. } => {
            "this build has no provider for that kind yet; nothing was read or changed"
        }
        EngineError::DestroyRefused { .. } => {
            "remove `prevent_destroy` from the stack to allow it, or pass --allow-destroy for stateful resources"
        }
        EngineError::Refresh { failures } => {
            refresh_help = super::preflight::refresh_hint(failures);
            &refresh_help
        }
        EngineError::StalePlan { .. } => "make a new plan with `stackplan plan -o PLAN`",
        EngineError::LookupNotFound(_) => "check the ids given in the stack file",
        EngineError::Preflight { .. } => "fix these in the stack file; nothing was read or changed",
        _ => "see the message above",
    };
    miette!(help = help, "{}", chain(&e))
}

/// An error and its causes on one line each.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str("\ncaused by: ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What making a plan reaches beyond the stack file.
#[derive(Debug, Clone)]
pub struct PlanCtx<'a> {
    /// The providers; `None` builds the real ones for the stack.
    pub registry: Option<&'a ProviderRegistry>,
    pub charts: &'a ChartAccess,
    pub settings: PlanSettings,
    /// Drift reports, it never applies: the destroy guards are off.
    pub drift_only: bool,
}

/// Advice about the stack itself (a role with AmazonS3FullAccess, Attu
/// internet-facing without TLS), printed on stderr, so stdout stays the
/// plan, and returned for the plan to carry into JSON and Markdown.
pub fn warn(loaded: &super::Loaded) -> Vec<String> {
    let advice: Vec<String> = stackplan_aws::plan_warnings(&loaded.resources)
        .into_iter()
        .map(|w| format!("{}: {}", w.addr, w.message))
        .chain(stackplan_stack::warnings(&loaded.stack))
        .collect();
    for w in &advice {
        eprintln!("warning: {w}");
    }
    advice
}

/// Makes the plan for the stack at `path`: its charts read and rendered
/// and the objects checked first, so a release the API server would
/// refuse fails here, before anything is read live or created.
pub async fn make_plan(path: &Path, ctx: PlanCtx<'_>) -> miette::Result<Plan> {
    // Printed now, before anything slow or fallible; the plan keeps them.
    let (loaded, advice) = if ctx.drift_only {
        (super::load_with_charts(path, ctx.charts).await?, Vec::new())
    } else {
        let loaded = super::charts::load_checked(path, ctx.charts).await?;
        let advice = warn(&loaded);
        (loaded, advice)
    };
    let bytes = std::fs::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read `{}`", path.display()))?;
    let store = state_store(&loaded.stack).await;
    let state = store.read().await.map_err(state_error)?;
    let owned;
    let mut kube = None;
    let (registry, target) = match ctx.registry {
        Some(r) => (r, None),
        None => {
            let (r, k) = providers(&loaded.stack).await?;
            owned = r;
            kube = Some(k);
            // Identity, the cluster and helm, before anything is read.
            let target = super::preflight::run(
                &loaded.stack,
                super::preflight::Checked {
                    helm: loaded.charts.is_some(),
                },
            )
            .await?;
            check_state_target(state.as_ref(), &target)?;
            (&owned, Some(target))
        }
    };
    let planner = Planner::new(registry, ctx.settings);
    let req = PlanRequest {
        stack: &loaded.stack.name,
        stack_sha256: &sha256_hex(&bytes),
        resources: &loaded.resources,
        state: state.as_ref(),
    };
    let plan = if ctx.drift_only {
        planner.drift(req).await
    } else {
        planner.plan(req).await
    }
    .map_err(engine_error)?;
    let mut plan = plan;
    point_plan(&mut plan, &loaded.stack, store.location(), target.as_ref());
    plan.basis.stack_path = Some(path.display().to_string());
    if let Some(manifests) = &loaded.manifests {
        // What runs now, for the estimate's delta: the releases' deployed
        // manifests as the plan's read found them.
        let deployed: std::collections::BTreeMap<_, _> = kube
            .iter()
            .flat_map(|k| {
                manifests
                    .keys()
                    .filter_map(|addr| Some((addr.clone(), k.deployed_manifest(addr)?)))
            })
            .collect();
        super::capacity::add_to_plan(
            &mut plan,
            super::capacity::Priced {
                stack: &loaded.stack,
                manifests,
                state: state.as_ref(),
                deployed: &deployed,
            },
        )?;
        if let Some(kube) = &kube {
            add_manifest_changes(&mut plan, &loaded, kube).await;
        }
    }
    // What only the APIs know and allow, but is rarely meant (an existing
    // subnet that is public): with the stack's own warnings, on stderr.
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    plan.warnings.splice(0..0, advice);
    Ok(plan)
}

/// For each Helm release the plan changes in place: the objects its new
/// manifest adds, removes and changes, against the manifest of the
/// revision running now. The new one is rendered as `helm template` would
/// (the same helm and chart) with the values the plan resolved from what
/// refresh read, so values the first render check could only hold
/// placeholders for (the brokers, a Secret's version) are the real ones.
/// A release that cannot be rendered or diffed keeps its values diff alone.
async fn add_manifest_changes(
    plan: &mut Plan,
    loaded: &super::Loaded,
    kube: &stackplan_kube::KubeProvider,
) {
    let Some(charts) = &loaded.charts else { return };
    let mut warnings = Vec::new();
    for change in &mut plan.changes {
        if change.addr.kind != stackplan_core::ResourceKind::HelmRelease
            || change.action != stackplan_core::Action::Update
        {
            continue;
        }
        let (Some(before), Some(values)) = (
            kube.deployed_manifest(&change.addr),
            change.after.as_ref().and_then(|a| a.get("values")),
        ) else {
            continue;
        };
        // The values diff still shows the change; say why the objects
        // that change are missing rather than leave the reader to guess.
        let after =
            match super::charts::render_with_values(loaded, charts, &change.addr, values).await {
                Ok(after) => after,
                Err(e) => {
                    // `e` names the release.
                    warnings.push(format!("the objects that change are not shown: {e}"));
                    continue;
                }
            };
        let namespace = loaded
            .resources
            .iter()
            .find(|r| r.addr == change.addr)
            .and_then(|r| r.attrs.get("namespace"))
            .and_then(stackplan_core::Value::as_str)
            .unwrap_or("default");
        match stackplan_kube::manifest_diff::diff_manifests(&before, &after, namespace) {
            Ok(objects) => change.manifest_changes = objects,
            Err(e) => warnings.push(format!(
                "{}: the objects that change are not shown: {e}",
                change.addr
            )),
        }
    }
    plan.warnings.extend(warnings);
}

/// Renders a plan in the format asked for, at the default detail.
pub fn render(plan: &Plan, format: PlanFormat, color: bool) -> miette::Result<String> {
    render_with(plan, format, color, Detail::Short)
}

/// How much `--full` and `--compact` ask for.
pub fn detail(full: bool, compact: bool) -> Detail {
    match (full, compact) {
        (true, _) => Detail::Full,
        (_, true) => Detail::Compact,
        _ => Detail::Short,
    }
}

/// Renders a plan in the format asked for, at `detail` (JSON is always
/// whole). The Markdown title names the commit from `GITHUB_SHA` (the
/// commit a GitHub Actions run checked out; nothing outside Actions, so
/// a local run never names a commit it did not plan) and this version.
pub fn render_with(
    plan: &Plan,
    format: PlanFormat,
    color: bool,
    detail: Detail,
) -> miette::Result<String> {
    Ok(match format {
        PlanFormat::Text => plan_text::render(plan, TextOptions { color, detail }),
        PlanFormat::Json => plan_json::render(plan).into_diagnostic()?,
        PlanFormat::Markdown => plan_markdown::render(
            plan,
            MarkdownOptions {
                detail,
                commit: std::env::var("GITHUB_SHA")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.chars().take(12).collect()),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
                ..MarkdownOptions::default()
            },
        ),
    })
}

/// Writes a plan file: the engine's plan document, which `show` and
/// `apply` read back (not the `--json` wire format). It names what state
/// names, so it is written as state is: 0600, replaced atomically.
pub fn save(plan: &Plan, path: &Path) -> miette::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(plan).into_diagnostic()?;
    bytes.push(b'\n');
    stackplan_state::write_private_file(path, &bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write the plan to `{}`", path.display()))
}

/// The exit outcome of `plan`.
pub fn outcome(plan: &Plan, detailed_exitcode: bool) -> Outcome {
    if detailed_exitcode && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Clean
    }
}

pub fn run(args: &PlanArgs) -> miette::Result<Outcome> {
    run_with(args, None, &ChartAccess::from_env())
}

/// `run` with the providers and chart access given (tests pass fakes and
/// a seeded chart cache).
pub fn run_with(
    args: &PlanArgs,
    registry: Option<&ProviderRegistry>,
    charts: &ChartAccess,
) -> miette::Result<Outcome> {
    let settings = PlanSettings {
        parallelism: usize::from(args.parallelism),
        allow_destroy: args.allow_destroy,
        adopt: args.adopt,
        selection: args.selection.selection()?,
    };
    let ctx = PlanCtx {
        registry,
        charts,
        settings,
        drift_only: false,
    };
    let plan = runtime()?.block_on(make_plan(&args.stack, ctx))?;
    if let Some(out) = &args.out {
        save(&plan, out)?;
    }
    output::emit(
        &render_with(
            &plan,
            args.format(),
            stdout_color(),
            detail(args.full, args.compact),
        )?,
        None,
    )?;
    Ok(outcome(&plan, args.detailed_exitcode))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use stackplan_core::{ProviderRegistry, ResourceAddr, ResourceKind, StateStore, Value};
    use stackplan_engine::testing::FakeCloud;
    use stackplan_state::{LocalStateStore, new_lock_info};

    use super::*;
    use crate::commands::charts::{load_for_test, test_access};
    use crate::commands::drift::{self, DriftArgs};
    use crate::commands::show::read_plan;

    const SECRET: &str = "live-scram-password-9f8e7d";

    /// The reference stack in a scratch directory, a fake cloud holding its
    /// lookups, and the providers over it.
    fn setup() -> (tempfile::TempDir, PathBuf, FakeCloud, ProviderRegistry) {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("stacks/milvus-eks.toml")).unwrap();
        let path = dir.path().join("stack.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::commands::load(&path).unwrap();
        let cloud = FakeCloud::new();
        cloud.seed_lookups(&loaded.resources);
        let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
        (dir, path, cloud, registry)
    }

    fn args(path: &Path) -> PlanArgs {
        PlanArgs {
            stack: path.to_path_buf(),
            detailed_exitcode: true,
            json: false,
            format: None,
            out: None,
            full: false,
            compact: false,
            parallelism: 16,
            allow_destroy: false,
            adopt: false,
            selection: SelectionArgs::default(),
        }
    }

    /// Applies the stack in the fake cloud and writes the state where the
    /// CLI looks for it.
    fn apply(path: &Path, cloud: &FakeCloud) {
        let loaded = load_for_test(path);
        let state = cloud.apply_all(&loaded.stack.name, &loaded.resources);
        let store = LocalStateStore::for_stack(path.parent().unwrap(), &loaded.stack.name);
        runtime().unwrap().block_on(async {
            store.lock(&new_lock_info("test")).await.unwrap();
            store.write(&state).await.unwrap();
            store.unlock().await.unwrap();
        });
    }

    fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                hits.extend(files_containing(&p, needle));
            } else if String::from_utf8_lossy(&std::fs::read(&p).unwrap()).contains(needle) {
                hits.push(p);
            }
        }
        hits
    }

    #[test]
    fn detailed_exitcode_is_2_with_changes_and_0_once_applied() {
        let (_dir, path, cloud, registry) = setup();
        assert_eq!(
            run_with(&args(&path), Some(&registry), &test_access()).unwrap(),
            Outcome::Changes
        );
        apply(&path, &cloud);
        assert_eq!(
            run_with(&args(&path), Some(&registry), &test_access()).unwrap(),
            Outcome::Clean
        );
    }

    /// A chart change names the Milvus release it moves to: the chart's
    /// appVersion is part of the chart attribute.
    #[test]
    fn a_chart_version_change_shows_the_milvus_version_it_brings() {
        let (_dir, path, cloud, registry) = setup();
        apply(&path, &cloud);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("chart_version = \"4.2.8\"", "chart_version = \"4.1.28\"");
        std::fs::write(&path, text).unwrap();
        let ctx = PlanCtx {
            registry: Some(&registry),
            charts: &test_access(),
            settings: PlanSettings::default(),
            drift_only: false,
        };
        let plan = runtime().unwrap().block_on(make_plan(&path, ctx)).unwrap();
        let shown = render(&plan, PlanFormat::Text, false).unwrap();
        let line = |field: &str| {
            shown
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("~ {field} ")))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert!(
            shown.contains("helm_release.milvus will be updated"),
            "{shown}"
        );
        assert_eq!(
            line("chart.app_version").as_deref(),
            Some("~ chart.app_version = \"2.4.9\" -> \"2.3.13\"")
        );
        assert_eq!(
            line("chart.version").as_deref(),
            Some("~ chart.version = \"4.2.8\" -> \"4.1.28\"")
        );
    }

    #[test]
    fn drift_exits_2_only_when_something_changed_live() {
        let (_dir, path, cloud, registry) = setup();
        apply(&path, &cloud);
        let drift_args = DriftArgs {
            stack: path.clone(),
            json: true,
            parallelism: 4,
        };
        assert_eq!(
            drift::run_with(&drift_args, Some(&registry), &test_access()).unwrap(),
            Outcome::Clean
        );
        let bucket = ResourceAddr::new(ResourceKind::S3Bucket, "milvus");
        cloud.set_attr(&bucket, "versioning", Value::Bool(false));
        assert_eq!(
            drift::run_with(&drift_args, Some(&registry), &test_access()).unwrap(),
            Outcome::Changes
        );
    }

    #[test]
    fn saved_plan_reads_back_and_no_written_file_holds_the_secret() {
        let (dir, path, cloud, registry) = setup();
        apply(&path, &cloud);
        let secret = ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram");
        cloud.set_attr(
            &secret,
            "password",
            Value::Sensitive(Box::new(SECRET.into())),
        );
        let out = dir.path().join("plan.json");
        let with_out = PlanArgs {
            out: Some(out.clone()),
            ..args(&path)
        };
        run_with(&with_out, Some(&registry), &test_access()).unwrap();
        let saved = read_plan(&out).unwrap();
        assert_eq!(saved.stack, "milvus-demo");
        assert_eq!(files_containing(dir.path(), SECRET), Vec::<PathBuf>::new());
    }
}

#[cfg(test)]
mod provider_tests {
    use stackplan_core::{ProviderRegistry, ResourceKind};
    use stackplan_engine::testing::FakeCloud;

    use super::*;

    #[test]
    fn a_kind_without_a_provider_is_an_error_naming_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = dir.path().join("stack.toml");
        std::fs::copy(root.join("stacks/milvus-eks.toml"), &path).unwrap();
        let cloud = FakeCloud::new();
        let aws_only: Vec<ResourceKind> = ResourceKind::ALL
            .iter()
            .copied()
            .filter(|k| k.family() == stackplan_core::ProviderFamily::Aws)
            .collect();
        let registry =
            ProviderRegistry::new().with(cloud.provider().for_kinds(&aws_only).into_arc());
        let err = runtime()
            .unwrap()
            .block_on(make_plan(
                &path,
                PlanCtx {
                    registry: Some(&registry),
                    charts: &crate::commands::charts::test_access(),
                    settings: PlanSettings::default(),
                    drift_only: false,
                },
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no provider serves resource kind `k8s_namespace` (needed for `k8s_namespace.milvus`)"
        );
    }
}

#[cfg(test)]
mod saved_plan_file_tests {
    use std::os::unix::fs::PermissionsExt;

    use stackplan_core::ProviderRegistry;

    use super::*;

    fn empty_plan() -> Plan {
        let registry = ProviderRegistry::new();
        let request = PlanRequest {
            stack: "demo",
            stack_sha256: "0",
            resources: &[],
            state: None,
        };
        runtime()
            .unwrap()
            .block_on(Planner::new(&registry, PlanSettings::default()).plan(request))
            .unwrap()
    }

    #[test]
    fn a_saved_plan_is_readable_by_its_owner_only_even_over_an_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plan.json");
        std::fs::write(&out, "an older, world-readable plan").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&empty_plan(), &out).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(super::super::show::read_plan(&out).unwrap().stack, "demo");
    }
}
