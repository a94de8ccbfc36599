//! Charts as plan reads them: fetched once by the same helm that installs
//! them (a path as it is, a repository or OCI chart pulled at its pinned
//! version into a local cache), then `Chart.yaml` and `values.yaml` read
//! with `helm show`, and the chart rendered with `helm template`.
//!
//! The cache works as helm's own repository cache does: a pinned chart
//! version is immutable in a repository, so one pulled copy serves every
//! later plan, offline too. `STACKPLAN_CHART_CACHE` moves it.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::KubeError;
use crate::helm::{ChartSource, Helm, output, values_text};

/// Where pulled charts are kept.
#[derive(Debug, Clone)]
pub struct ChartCache {
    dir: PathBuf,
}

/// A chart on local disk, with the two files plan reads.
#[derive(Debug, Clone)]
pub struct LocalChart {
    /// A chart directory or `.tgz`, as helm takes it.
    pub path: PathBuf,
    pub chart_yaml: String,
    pub values_yaml: String,
}

/// One `helm template`.
#[derive(Debug)]
pub struct Template<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart: &'a Path,
    /// The values, with no secret in them (plan renders placeholders).
    pub values: &'a Json,
    /// The Kubernetes version to render for (`--kube-version`), such as
    /// `1.30`: the cluster's, so `Capabilities` answer as they will.
    pub kube_version: Option<&'a str>,
}

/// Replaces what cannot stand in a file name.
fn file_part(s: &str) -> String {
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("oci://")
        .trim_end_matches('/');
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ChartCache {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ChartCache { dir: dir.into() }
    }

    /// `STACKPLAN_CHART_CACHE`, else `$XDG_CACHE_HOME/stackplan/charts`,
    /// else `~/.cache/stackplan/charts`, else one under the temp dir.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = var("STACKPLAN_CHART_CACHE")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("stackplan/charts")))
            .or_else(|| var("HOME").map(|h| h.join(".cache/stackplan/charts")))
            .unwrap_or_else(|| std::env::temp_dir().join("stackplan-charts"));
        ChartCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a pinned repository or OCI chart is kept; `None` for a local
    /// path or an unpinned chart, which are never cached.
    pub fn path_for(&self, source: &ChartSource) -> Option<PathBuf> {
        match source {
            ChartSource::Repository {
                url,
                name,
                version: Some(v),
            } => Some(self.dir.join(file_part(url)).join(format!(
                "{}-{}.tgz",
                file_part(name),
                file_part(v)
            ))),
            ChartSource::Oci {
                reference,
                version: Some(v),
            } => Some(self.dir.join("oci").join(format!(
                "{}-{}.tgz",
                file_part(reference),
                file_part(v)
            ))),
            _ => None,
        }
    }
}

impl ChartCache {
    /// Puts a chart archive into the cache as the pinned `source`, as a
    /// pull would: for machines without access to the chart's repository
    /// (an air-gapped account, the tests). Atomic, and a no-op when the
    /// file is there.
    pub fn insert(&self, source: &ChartSource, archive: &Path) -> Result<PathBuf, KubeError> {
        let dest = self.path_for(source).ok_or_else(|| {
            KubeError::attr("chart", "only a pinned repository or OCI chart is cached")
        })?;
        if dest.is_file() {
            return Ok(dest);
        }
        let parent = dest.parent().expect("a cache path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| {
            KubeError::io(format!("creating the chart cache {}", parent.display()), e)
        })?;
        let tmp = tempfile::NamedTempFile::new_in(parent)
            .map_err(|e| KubeError::io("creating a file in the chart cache", e))?;
        std::fs::copy(archive, tmp.path())
            .map_err(|e| KubeError::io(format!("copying {}", archive.display()), e))?;
        tmp.persist(&dest).map_err(|e| {
            KubeError::io(format!("caching the chart at {}", dest.display()), e.error)
        })?;
        Ok(dest)
    }
}

impl Helm {
    /// The chart on local disk: a path as it is; a repository or OCI chart
    /// from the cache, pulled into it first when missing.
    pub async fn fetch_chart(
        &self,
        source: &ChartSource,
        cache: &ChartCache,
    ) -> Result<LocalChart, KubeError> {
        let path = match source {
            ChartSource::Path(p) => PathBuf::from(p),
            _ => {
                let cached = cache.path_for(source).ok_or_else(|| {
                    KubeError::attr("chart", "a repository or OCI chart needs a pinned version")
                })?;
                if !cached.is_file() {
                    self.pull(source, &cached).await?;
                }
                cached
            }
        };
        let (chart_yaml, values_yaml) =
            tokio::try_join!(self.show("chart", &path), self.show("values", &path))?;
        Ok(LocalChart {
            path,
            chart_yaml,
            values_yaml,
        })
    }

    /// `helm pull` into a private directory beside `dest`, then a rename,
    /// so a cached file is always whole.
    async fn pull(&self, source: &ChartSource, dest: &Path) -> Result<(), KubeError> {
        let parent = dest.parent().expect("a cache path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| {
            KubeError::io(format!("creating the chart cache {}", parent.display()), e)
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(".pull-")
            .tempdir_in(parent)
            .map_err(|e| KubeError::io("creating a directory for helm pull", e))?;
        let mut cmd = self.command(None, &[]);
        cmd.arg("pull");
        let shown = match source {
            ChartSource::Repository { url, name, version } => {
                cmd.arg(name).arg("--repo").arg(url);
                cmd.args(version.iter().flat_map(|v| ["--version", v.as_str()]));
                format!("helm pull {name} --repo {url}")
            }
            ChartSource::Oci { reference, version } => {
                cmd.arg(reference);
                cmd.args(version.iter().flat_map(|v| ["--version", v.as_str()]));
                format!("helm pull {reference}")
            }
            ChartSource::Path(_) => unreachable!("local charts are not pulled"),
        };
        cmd.arg("--destination").arg(tmp.path());
        output(cmd, &shown, &[], None).await?;
        let pulled = std::fs::read_dir(tmp.path())
            .map_err(|e| KubeError::io("reading what helm pulled", e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "tgz"))
            .ok_or_else(|| KubeError::HelmFailed {
                command: shown.clone(),
                stderr: "helm pull wrote no chart archive".into(),
            })?;
        std::fs::rename(&pulled, dest)
            .map_err(|e| KubeError::io(format!("caching the chart at {}", dest.display()), e))
    }

    /// `helm show chart|values PATH`.
    async fn show(&self, what: &str, chart: &Path) -> Result<String, KubeError> {
        let mut cmd = self.command(None, &[]);
        cmd.args(["show", what]).arg(chart);
        output(
            cmd,
            &format!("helm show {what} {}", chart.display()),
            &[],
            None,
        )
        .await
    }

    /// `helm template`: the objects the chart makes from these values,
    /// rendered without a cluster, as one multi-document YAML text. The
    /// values go on stdin, as for `upgrade`.
    pub async fn template(&self, t: &Template<'_>) -> Result<String, KubeError> {
        let mut cmd = self.command(None, &[]);
        cmd.args(["template", t.release])
            .arg(t.chart)
            .args(["--namespace", t.namespace])
            .args(["--values", "-"]);
        if let Some(v) = t.kube_version {
            cmd.arg("--kube-version")
                .arg(format!("v{}.0", v.trim_start_matches('v')));
            for api in kind_apis(v) {
                cmd.arg("--api-versions").arg(api);
            }
        }
        let shown = format!(
            "helm template {} {} --namespace {}",
            t.release,
            t.chart.display(),
            t.namespace
        );
        output(cmd, &shown, &[], Some(&values_text(t.values))).await
    }
}

/// The kind-qualified APIs a cluster of this `major.minor` serves that
/// charts test for with `.Capabilities.APIVersions.Has "group/version/Kind"`.
/// Offline, helm knows only group/versions, so without these a chart
/// renders the Ingress as `extensions/v1beta1` (gone since 1.22) where
/// the cluster will get `networking.k8s.io/v1`. From the Kubernetes
/// deprecated API migration guide: networking.k8s.io/v1 Ingress since
/// 1.19, policy/v1 PodDisruptionBudget and batch/v1 CronJob since 1.21,
/// autoscaling/v2 HorizontalPodAutoscaler since 1.23.
fn kind_apis(version: &str) -> Vec<&'static str> {
    let minor = version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    [
        (19, "networking.k8s.io/v1/Ingress"),
        (21, "policy/v1/PodDisruptionBudget"),
        (21, "batch/v1/CronJob"),
        (23, "autoscaling/v2/HorizontalPodAutoscaler"),
    ]
    .into_iter()
    .filter(|(since, _)| minor >= *since)
    .map(|(_, api)| api)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_qualified_apis_follow_the_cluster_version() {
        assert_eq!(kind_apis("1.18"), Vec::<&str>::new());
        assert_eq!(kind_apis("1.20"), ["networking.k8s.io/v1/Ingress"]);
        assert_eq!(kind_apis("1.30").len(), 4);
    }

    #[test]
    fn pinned_remote_charts_have_one_cache_file_each_and_paths_none() {
        let cache = ChartCache::at("/c");
        let repo = ChartSource::Repository {
            url: "https://zilliztech.github.io/milvus-helm/".into(),
            name: "milvus".into(),
            version: Some("5.0.19".into()),
        };
        assert_eq!(
            cache.path_for(&repo).unwrap(),
            Path::new("/c/zilliztech.github.io_milvus-helm/milvus-5.0.19.tgz")
        );
        let oci = ChartSource::Oci {
            reference: "oci://registry.example/charts/milvus".into(),
            version: Some("5.0.19".into()),
        };
        assert_eq!(
            cache.path_for(&oci).unwrap(),
            Path::new("/c/oci/registry.example_charts_milvus-5.0.19.tgz")
        );
        assert_eq!(cache.path_for(&ChartSource::Path("./m".into())), None);
        let unpinned = ChartSource::Repository {
            url: "https://x/".into(),
            name: "m".into(),
            version: None,
        };
        assert_eq!(cache.path_for(&unpinned), None);
    }
}
