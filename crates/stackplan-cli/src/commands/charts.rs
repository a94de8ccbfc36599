//! The charts a stack installs, read before its resources are expanded
//! (the generated values follow the chart), and the render check that
//! plan and apply run before anything is created: each release's chart
//! rendered with `helm template` and its values, and every object checked
//! for what the API server would refuse.

use std::collections::BTreeMap;
use std::path::PathBuf;

use miette::miette;
use stackplan_core::{ResourceAddr, ResourceKind, Value};
use stackplan_kube::chart::{ChartCache, LocalChart, Template};
use stackplan_kube::helm::{ChartSource, Helm};
use stackplan_kube::manifest::{ObjectProblem, check_objects, parse_manifest};
use stackplan_stack::{Chart, ChartProfile, Charts, Stack};

use super::Loaded;

/// Where charts come from: the helm to run (`STACKPLAN_HELM`, else `PATH`)
/// and the cache pinned charts are pulled into.
#[derive(Debug, Clone)]
pub struct ChartAccess {
    /// `None`: find helm as apply does.
    pub helm: Option<PathBuf>,
    pub cache: ChartCache,
}

impl ChartAccess {
    pub fn from_env() -> Self {
        ChartAccess {
            helm: None,
            cache: ChartCache::from_env(),
        }
    }

    async fn helm(&self) -> miette::Result<Helm> {
        let found = match &self.helm {
            Some(p) => Helm::at(p.clone()).await,
            None => Helm::discover().await,
        };
        found.map_err(|e| {
            miette!(
                help = "plan renders each chart with helm, as apply installs it",
                "{e}"
            )
        })
    }
}

/// The charts of a stack as read from disk, by release address.
#[derive(Debug)]
pub struct StackCharts {
    /// `None` when the stack installs no chart, which then needs no helm.
    pub helm: Option<Helm>,
    pub local: BTreeMap<ResourceAddr, LocalChart>,
    pub profiles: Charts,
}

/// helm's form of the stack's chart source.
pub fn chart_source(chart: &Chart) -> ChartSource {
    match chart {
        Chart::Repository { url, name, version } => ChartSource::Repository {
            url: url.clone(),
            name: name.clone(),
            version: version.clone(),
        },
        Chart::Path { path } => ChartSource::Path(path.clone()),
        Chart::Oci { reference, version } => ChartSource::Oci {
            reference: reference.clone(),
            version: version.clone(),
        },
    }
}

pub fn milvus_addr() -> ResourceAddr {
    ResourceAddr::new(ResourceKind::HelmRelease, "milvus")
}

pub fn lbc_addr() -> ResourceAddr {
    ResourceAddr::new(ResourceKind::HelmRelease, "aws-load-balancer-controller")
}

/// Fetches (or finds in the cache) and reads every chart the stack
/// installs, both at once.
pub async fn read(stack: &Stack, access: &ChartAccess) -> miette::Result<StackCharts> {
    let wanted: Vec<(ResourceAddr, &Chart)> = [
        stack.milvus.as_ref().map(|m| (milvus_addr(), &m.chart)),
        stack
            .load_balancer_controller
            .as_ref()
            .map(|l| (lbc_addr(), &l.chart)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if wanted.is_empty() {
        return Ok(StackCharts {
            helm: None,
            local: BTreeMap::new(),
            profiles: Charts::default(),
        });
    }
    // A local chart that is not there is named here, with a path that
    // works; helm would take `dir/chart.tgz` for a repository `dir`.
    for (addr, chart) in &wanted {
        if let Chart::Path { path } = chart
            && !std::path::Path::new(path).exists()
        {
            let hint = super::preflight::relocated_hint(
                stack,
                std::path::Path::new(path),
                |p| format!("chart = {{ path = \"{p}\" }}"),
            )
            .unwrap_or_else(|| {
                "check `chart = { path = ... }` in the stack: a chart directory or .tgz, read from the stack file's directory".to_string()
            });
            return Err(miette!(
                help = hint,
                "{addr}: the chart `{path}` does not exist"
            ));
        }
    }
    let helm = access.helm().await?;
    let fetched = futures::future::join_all(wanted.iter().map(|(addr, chart)| {
        let helm = &helm;
        async move {
            let source = chart_source(chart);
            let local = helm.fetch_chart(&source, &access.cache).await.map_err(|e| {
                miette!(
                    help = "check the chart source in the stack; a pinned chart is pulled once into the chart cache (STACKPLAN_CHART_CACHE)",
                    "{addr}: cannot read the chart: {e}"
                )
            })?;
            let profile = ChartProfile::parse(
                &local.path.display().to_string(),
                &local.chart_yaml,
                &local.values_yaml,
            )
            .map_err(|e| miette!("{addr}: {e}"))?;
            Ok::<_, miette::Report>((addr.clone(), local, profile))
        }
    }))
    .await;
    let mut out = StackCharts {
        helm: Some(helm),
        local: BTreeMap::new(),
        profiles: Charts::default(),
    };
    for item in fetched {
        let (addr, local, profile) = item?;
        if addr == milvus_addr() {
            out.profiles.milvus = Some(profile);
        } else {
            out.profiles.load_balancer_controller = Some(profile);
        }
        out.local.insert(addr, local);
    }
    Ok(out)
}

/// A release's values as plan knows them: what the stack itself sets is
/// filled in from the resource that owns it, what only apply learns stays
/// a reference (rendered as a placeholder), secrets stay sensitive.
pub fn plan_values(loaded: &Loaded, addr: &ResourceAddr) -> Value {
    let by_addr: BTreeMap<&ResourceAddr, _> =
        loaded.resources.iter().map(|r| (&r.addr, r)).collect();
    let values = by_addr
        .get(addr)
        .and_then(|r| r.attrs.get("values"))
        .cloned()
        .unwrap_or(Value::Null);
    values.resolve(&|r| {
        let configured = by_addr
            .get(&r.addr)
            .and_then(|res| res.attrs.get(&r.attr))
            .filter(|v| v.is_known() || v.is_sensitive());
        Some(configured.cloned().unwrap_or_else(|| Value::Ref(r.clone())))
    })
}

/// Values for `helm template` at plan: what only apply learns becomes a
/// token the charts can carry through their templates unquoted (Milvus's
/// config writes `brokerList: {{ ... }}` as is, so a placeholder with
/// ": " in it would break the config's YAML), a secret `(sensitive)`.
fn template_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match v {
        Value::Sensitive(_) | Value::Secret(_) => Json::String("(sensitive)".into()),
        Value::Ref(r) => Json::String(format!("known-after-apply.{r}")),
        Value::Concat(_) | Value::DynMap(_) | Value::Unknown => {
            Json::String("known-after-apply".into())
        }
        Value::List(items) => Json::Array(items.iter().map(template_json).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), template_json(v)))
                .collect(),
        ),
        literal => literal.to_json(),
    }
}

/// Renders one release's chart with its plan values: no secret reaches
/// helm, only the `(sensitive)` placeholder.
async fn render_release(
    loaded: &Loaded,
    charts: &StackCharts,
    addr: &ResourceAddr,
) -> miette::Result<String> {
    render_with_values(loaded, charts, addr, &plan_values(loaded, addr)).await
}

/// Renders one release's chart with `values`: the plan's own, resolved
/// from what refresh read, for the object diff (no secret reaches helm:
/// a sensitive value is the `(sensitive)` placeholder).
pub async fn render_with_values(
    loaded: &Loaded,
    charts: &StackCharts,
    addr: &ResourceAddr,
    values: &Value,
) -> miette::Result<String> {
    let (Some(helm), Some(local), Some(resource)) = (
        &charts.helm,
        charts.local.get(addr),
        loaded.resources.iter().find(|r| &r.addr == addr),
    ) else {
        return Err(miette!("{addr}: no chart was read for it"));
    };
    let known = |k: &str| resource.attrs.get(k).and_then(Value::as_str);
    let values = template_json(values);
    helm.template(&Template {
            release: known("name").unwrap_or("release"),
            // The namespace may be a reference to the namespace resource;
            // for rendering, its configured name.
            namespace: match resource.attrs.get("namespace") {
                Some(Value::String(s)) => s,
                _ => loaded
                    .stack
                    .milvus
                    .as_ref()
                    .map(|m| m.namespace.as_str())
                    .unwrap_or("default"),
            },
            chart: &local.path,
            values: &values,
            kube_version: Some(&loaded.stack.eks.version),
        })
        .await
        .map_err(|e| {
            miette!(
                help = "the chart does not render with these values; check `[milvus.values]` or the chart version",
                "{addr}: {e}"
            )
        })
}

/// The stack as a change is planned from: its charts read, the values
/// generated for them, and the render check passed.
pub async fn load_checked(path: &std::path::Path, access: &ChartAccess) -> miette::Result<Loaded> {
    let mut loaded = super::load_with_charts(path, access).await?;
    if let Some(charts) = &loaded.charts {
        loaded.manifests = Some(check_render(&loaded, charts).await?);
    }
    Ok(loaded)
}

/// The render check: every release rendered, every object checked. All
/// problems of all releases are reported in one error; when there are
/// none, the manifests by release (what `render --manifests` prints).
pub async fn check_render(
    loaded: &Loaded,
    charts: &StackCharts,
) -> miette::Result<BTreeMap<ResourceAddr, String>> {
    let addrs: Vec<&ResourceAddr> = charts.local.keys().collect();
    let rendered = futures::future::join_all(
        addrs
            .iter()
            .map(|addr| render_release(loaded, charts, addr)),
    )
    .await;
    let mut problems: Vec<(ResourceAddr, ObjectProblem)> = Vec::new();
    let mut manifests = BTreeMap::new();
    for (addr, manifest) in addrs.into_iter().zip(rendered) {
        let manifest = manifest?;
        let objects = parse_manifest(&manifest).map_err(|e| miette!("{addr}: {e}"))?;
        problems.extend(
            check_objects(&objects)
                .into_iter()
                .map(|p| (addr.clone(), p)),
        );
        manifests.insert(addr.clone(), manifest);
    }
    if problems.is_empty() {
        return Ok(manifests);
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|(addr, p)| format!("  {addr}: {p}"))
        .collect();
    Err(miette!(
        help = "the API server would refuse these objects at apply; fix the values that make them (`[milvus]`, `[milvus.values]`), nothing was changed",
        "the charts render {} the API server would refuse:\n{}",
        if problems.len() == 1 {
            "an object".to_string()
        } else {
            format!("{} objects", problems.len())
        },
        lines.join("\n")
    ))
}

/// Chart access for tests: the harness's helm, and a cache holding the
/// real charts of `../shared/charts` as if pulled from their public
/// repositories, so the reference stack plans offline with the real
/// charts.
#[cfg(test)]
pub fn test_access() -> ChartAccess {
    let cache = ChartCache::at(std::env::temp_dir().join("stackplan-test-chart-cache"));
    let mut charts: Vec<(&str, &str, String)> = stackplan_testkit::SHARED_MILVUS_CHARTS
        .iter()
        .map(|v| (stackplan_stack::MILVUS_REPO, "milvus", v.to_string()))
        .collect();
    charts.push((
        stackplan_stack::LBC_REPO,
        "aws-load-balancer-controller",
        "3.5.0".into(),
    ));
    for (url, name, version) in charts {
        let source = ChartSource::Repository {
            url: url.into(),
            name: name.into(),
            version: Some(version.clone()),
        };
        let archive = stackplan_testkit::shared_chart(&format!("{name}-{version}.tgz"));
        cache
            .insert(&source, &archive)
            .expect("seeding the chart cache");
    }
    ChartAccess {
        helm: Some(stackplan_testkit::helm_binaries().0),
        cache,
    }
}

/// The stack loaded as plan loads it, with the test charts.
#[cfg(test)]
pub fn load_for_test(path: &std::path::Path) -> Loaded {
    super::plan::runtime()
        .unwrap()
        .block_on(super::load_with_charts(path, &test_access()))
        .unwrap()
}
