//! What a Helm chart says about itself: its `Chart.yaml` (name, version,
//! appVersion) and the defaults of its `values.yaml`. The generated values
//! follow the chart being installed, not a table of versions: which
//! coordinators and workers a chart deploys, which in-cluster message
//! queues it would start, and which keys it knows, are read from here.
//!
//! This module parses text only; fetching a chart (a path, a repository,
//! an OCI registry) is the Kubernetes provider crate's job.

use serde_json::Value as Json;
use stackplan_core::Value;

use crate::StackError;

/// A chart's identity and default values.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartProfile {
    pub name: String,
    pub version: String,
    /// `appVersion`: for Milvus, the Milvus release the chart runs.
    pub app_version: Option<String>,
    /// `values.yaml` as data.
    defaults: Json,
}

impl ChartProfile {
    /// Parses a chart's `Chart.yaml` and `values.yaml`. `source` names the
    /// chart in messages.
    pub fn parse(source: &str, chart_yaml: &str, values_yaml: &str) -> Result<Self, StackError> {
        let bad = |what: &str, reason: String| StackError::Chart {
            chart: source.to_string(),
            reason: format!("{what}: {reason}"),
        };
        let meta: Json = serde_norway::from_str(chart_yaml)
            .map_err(|e| bad("Chart.yaml is not YAML", e.to_string()))?;
        let field = |k: &str| match meta.get(k) {
            Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
            // `version: 1.0` is a YAML number; helm takes it as a string.
            Some(Json::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let name = field("name").ok_or_else(|| bad("Chart.yaml", "has no `name`".into()))?;
        let version =
            field("version").ok_or_else(|| bad("Chart.yaml", "has no `version`".into()))?;
        let defaults: Json = if values_yaml.trim().is_empty() {
            Json::Object(Default::default())
        } else {
            serde_norway::from_str(values_yaml)
                .map_err(|e| bad("values.yaml is not YAML", e.to_string()))?
        };
        Ok(ChartProfile {
            name,
            version,
            app_version: field("appVersion"),
            defaults,
        })
    }

    /// `name version (app appVersion)`, as messages and plans show it.
    pub fn describe(&self) -> String {
        match &self.app_version {
            Some(app) => format!("{} {} (app {app})", self.name, self.version),
            None => format!("{} {}", self.name, self.version),
        }
    }

    /// The default at a dotted path of `values.yaml`.
    pub fn default_at(&self, path: &str) -> Option<&Json> {
        path.split('.')
            .try_fold(&self.defaults, |v, key| v.as_object()?.get(key))
    }

    /// Whether `values.yaml` has a key at this dotted path.
    pub fn has(&self, path: &str) -> bool {
        self.default_at(path).is_some()
    }
}

/// The charts a stack installs, as far as they were read. Commands that
/// do not look at values (`validate`, `graph`) leave them unread; the
/// generated values then hold only what does not depend on the chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charts {
    pub milvus: Option<ChartProfile>,
    pub load_balancer_controller: Option<ChartProfile>,
}

/// A chart's defaults seen through the stack's own `values` overlay: a
/// component the user enables or disables in `[milvus.values]` counts as
/// the user set it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effective<'a> {
    pub chart: &'a ChartProfile,
    pub overlay: &'a Value,
}

impl Effective<'_> {
    fn overlay_bool(&self, path: &str) -> Option<bool> {
        match self.overlay.get_path(path) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// `<key>.enabled`, the user's setting over the chart's default.
    pub fn enabled(&self, key: &str) -> bool {
        let path = format!("{key}.enabled");
        self.overlay_bool(&path)
            .unwrap_or_else(|| matches!(self.chart.default_at(&path), Some(Json::Bool(true))))
    }

    /// A key the chart has, or the user adds.
    pub fn has(&self, path: &str) -> bool {
        self.chart.has(path) || self.overlay.get_path(path).is_some()
    }
}

/// The Milvus chart's component keys, in the order the values list them.
/// The chart's own structure names them; which ones a given version
/// deploys is read from its defaults.
pub(crate) const COORDINATORS: [&str; 5] = [
    "rootCoordinator",
    "queryCoordinator",
    "indexCoordinator",
    "dataCoordinator",
    "mixCoordinator",
];

/// The message queues a Milvus chart can run in the cluster (subcharts or
/// its own StatefulSet), each switched by `<key>.enabled`.
pub(crate) const IN_CLUSTER_QUEUES: [&str; 4] = ["pulsar", "pulsarv3", "kafka", "woodpecker"];

/// The worker kinds `[milvus.resources]` sizes: the stack's key, the
/// chart's values key.
pub(crate) const WORKERS: [(&str, &str); 4] = [
    ("query_node", "queryNode"),
    ("data_node", "dataNode"),
    ("index_node", "indexNode"),
    ("streaming_node", "streamingNode"),
];

impl Effective<'_> {
    /// The coordinators this chart deploys with these values.
    pub fn coordinators(&self) -> Vec<&'static str> {
        COORDINATORS
            .into_iter()
            .filter(|c| self.has(c) && self.enabled(c))
            .collect()
    }

    /// Whether the chart deploys a worker. The streaming node has no
    /// switch of its own: it runs when `streaming.enabled` is on (charts
    /// from 4.2 have the node, 5.x turn it on for Milvus 2.6).
    pub fn deploys_worker(&self, values_key: &str) -> bool {
        if !self.has(values_key) {
            return false;
        }
        if values_key == "streamingNode" {
            return self.enabled("streaming");
        }
        if self.has(&format!("{values_key}.enabled")) {
            self.enabled(values_key)
        } else {
            true
        }
    }

    /// The Milvus server components this chart deploys with these values,
    /// by values key: in cluster mode every coordinator it runs, the
    /// proxy and every worker; in standalone mode (`cluster.enabled =
    /// false`) the one standalone pod. Each is a Milvus process that
    /// reads the Milvus configuration, and its environment, at start.
    pub fn milvus_components(&self) -> Vec<&'static str> {
        let cluster = !self.has("cluster.enabled") || self.enabled("cluster");
        if !cluster {
            return if self.has("standalone") {
                vec!["standalone"]
            } else {
                Vec::new()
            };
        }
        let mut out = self.coordinators();
        if self.has("proxy") && (!self.has("proxy.enabled") || self.enabled("proxy")) {
            out.push("proxy");
        }
        out.extend(
            WORKERS
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| self.deploys_worker(v)),
        );
        out
    }

    /// The in-cluster message queues this chart can start.
    pub fn queues(&self) -> Vec<&'static str> {
        IN_CLUSTER_QUEUES
            .into_iter()
            .filter(|q| self.has(&format!("{q}.enabled")))
            .collect()
    }
}

/// The worker kinds a chart deploys, by the stack's key, for messages.
pub(crate) fn worker_keys(e: &Effective<'_>) -> Vec<&'static str> {
    WORKERS
        .into_iter()
        .filter(|(_, v)| e.deploys_worker(v))
        .map(|(k, _)| k)
        .collect()
}

/// By chart version, the published IAM policy of the AWS Load Balancer
/// Controller release that chart installs, per partition. Each is the
/// controller project's own `docs/install/iam_policy*.json` of that
/// release, kept byte for byte (a test compares them with the copies in
/// `../shared/reference`).
const LBC_POLICIES: &[(&str, &str, &str)] = &[
    (
        "3.5.0",
        "aws",
        include_str!("../data/aws-load-balancer-controller/3.5.0/iam-policy.json"),
    ),
    (
        "3.5.0",
        "aws-cn",
        include_str!("../data/aws-load-balancer-controller/3.5.0/iam-policy-cn.json"),
    ),
];

/// The load balancer controller chart installed when the stack pins none.
pub const DEFAULT_LBC_CHART_VERSION: &str = "3.5.0";
/// The Milvus chart installed when the stack pins none.
pub const DEFAULT_MILVUS_CHART_VERSION: &str = "5.0.19";

/// The controller's IAM policy for a chart version in a partition.
pub fn lbc_policy(chart_version: &str, partition: &str) -> Option<&'static str> {
    LBC_POLICIES
        .iter()
        .find(|(v, p, _)| *v == chart_version && *p == partition)
        .map(|(_, _, doc)| *doc)
}

/// The problem when no controller policy is known for chart `version`
/// in `region`'s partition; `shown` names the chart in the message. A
/// version without one would install a controller that cannot build its
/// load balancers.
pub(crate) fn lbc_policy_problem(
    span: std::ops::Range<usize>,
    version: &str,
    shown: &str,
    region: &str,
) -> Option<crate::Problem> {
    let part = crate::expand::partition(region);
    lbc_policy(version, part).is_none().then(|| {
        crate::Problem::new(
            span,
            format!(
                "no IAM policy of the AWS Load Balancer Controller is known for {shown} in partition {part}"
            ),
            "unknown controller policy",
        )
        .hint(format!(
            "stackplan keeps the controller's published policy per chart version; known: {}",
            lbc_policy_versions(part).join(", ")
        ))
    })
}

/// The chart versions with a policy in a partition, for hints.
pub fn lbc_policy_versions(partition: &str) -> Vec<&'static str> {
    let mut v: Vec<&str> = LBC_POLICIES
        .iter()
        .filter(|(_, p, _)| *p == partition)
        .map(|(v, _, _)| *v)
        .collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = "apiVersion: v1\nname: milvus\nversion: 9.1.0\nappVersion: 2.9.0\n";

    fn profile(values: &str) -> ChartProfile {
        ChartProfile::parse("test", CHART, values).unwrap()
    }

    fn eff<'a>(c: &'a ChartProfile, overlay: &'a Value) -> Effective<'a> {
        Effective { chart: c, overlay }
    }

    #[test]
    fn chart_yaml_gives_name_version_and_app_version() {
        let c = profile("");
        assert_eq!(c.describe(), "milvus 9.1.0 (app 2.9.0)");
        let numeric = ChartProfile::parse("t", "name: x\nversion: 1.5\n", "").unwrap();
        assert_eq!(numeric.version, "1.5");
        assert!(ChartProfile::parse("t", "name: x\n", "").is_err());
        assert!(ChartProfile::parse("t", "name: x\nversion: 1.0.0\n", "a: [").is_err());
    }

    /// A chart layout not shipped in `../shared/charts` (a future chart
    /// that brings back a separate query coordinator next to mixcoord and
    /// drops the data node): the components come from its defaults alone.
    #[test]
    fn components_come_from_the_charts_own_defaults() {
        let c = profile(
            "mixCoordinator: {enabled: true}\nqueryCoordinator: {enabled: true}\n\
             rootCoordinator: {enabled: false}\nqueryNode: {enabled: true}\n\
             streaming: {enabled: true}\nstreamingNode: {replicas: 1}\n\
             woodpecker: {enabled: true}\nkafka: {enabled: false}\n",
        );
        let none = Value::Map(Default::default());
        let e = eff(&c, &none);
        assert_eq!(e.coordinators(), ["queryCoordinator", "mixCoordinator"]);
        assert_eq!(worker_keys(&e), ["query_node", "streaming_node"]);
        assert_eq!(e.queues(), ["kafka", "woodpecker"]);
    }

    #[test]
    fn milvus_components_follow_cluster_mode_and_the_charts_switches() {
        let c = profile(
            "cluster: {enabled: true}\nmixCoordinator: {enabled: true}\n\
             rootCoordinator: {enabled: false}\nproxy: {enabled: true}\n\
             queryNode: {enabled: true}\ndataNode: {enabled: true}\n\
             indexNode: {enabled: false}\nstreaming: {enabled: true}\n\
             streamingNode: {replicas: 1}\nstandalone: {replicas: 1}\n",
        );
        let none = Value::Map(Default::default());
        assert_eq!(
            eff(&c, &none).milvus_components(),
            [
                "mixCoordinator",
                "proxy",
                "queryNode",
                "dataNode",
                "streamingNode"
            ]
        );
        let standalone = Value::map([("cluster", Value::map([("enabled", Value::Bool(false))]))]);
        assert_eq!(eff(&c, &standalone).milvus_components(), ["standalone"]);
    }

    #[test]
    fn the_stacks_own_values_override_the_charts_switches() {
        let c = profile("mixCoordinator: {enabled: true}\nrootCoordinator: {enabled: false}\n");
        let overlay = Value::map([
            (
                "mixCoordinator",
                Value::map([("enabled", Value::Bool(false))]),
            ),
            (
                "rootCoordinator",
                Value::map([("enabled", Value::Bool(true))]),
            ),
        ]);
        assert_eq!(eff(&c, &overlay).coordinators(), ["rootCoordinator"]);
    }

    #[test]
    fn the_controller_policy_is_kept_per_chart_version_and_partition() {
        let aws = lbc_policy("3.5.0", "aws").unwrap();
        let cn = lbc_policy("3.5.0", "aws-cn").unwrap();
        assert!(aws.contains("arn:aws:elasticloadbalancing") && !aws.contains("arn:aws-cn:"));
        assert!(cn.contains("arn:aws-cn:elasticloadbalancing"));
        assert_eq!(lbc_policy("2.8.1", "aws"), None);
        assert_eq!(lbc_policy("3.5.0", "aws-us-gov"), None);
        assert_eq!(lbc_policy_versions("aws"), ["3.5.0"]);
    }
}
