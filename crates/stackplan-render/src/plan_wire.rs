//! The wire types of `plan --json` and `drift --json`: serialize-only,
//! kept apart from the plan's own types so that the documented schema
//! (`docs/plan-json.md`) changes only on purpose. Field order here is the
//! order in the output.

use serde::Serialize;

/// The schema version of the JSON plan. A new optional field keeps it;
/// anything a consumer could misread bumps it.
pub const PLAN_JSON_FORMAT_VERSION: &str = "1.0";

#[derive(Debug, Serialize)]
pub struct PlanDoc<'a> {
    pub format_version: &'static str,
    pub stack: &'a str,
    pub target: Target<'a>,
    pub summary: Summary,
    pub basis: Basis<'a>,
    pub resource_changes: Vec<ResourceChange<'a>>,
    /// What the plan warns of (pods that will not fit, advice about the
    /// stack), in the order it printed them on stderr; absent when none.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
    /// The monthly estimate, when the plan priced the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost<'a>>,
}

/// `cost`: on-demand USD per month, resource by resource. A line whose
/// price is unknown has `monthly_usd: null` and is not in the total.
#[derive(Debug, Serialize)]
pub struct Cost<'a> {
    pub prices_as_of: &'a str,
    pub source: &'a str,
    pub monthly_usd_known_total: f64,
    /// The same for what state records as running now; absent before the
    /// first apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_usd_known_total_before: Option<f64>,
    pub unknown: usize,
    pub lines: &'a [stackplan_core::CostLine],
}

#[derive(Debug, Serialize)]
pub struct DriftDoc<'a> {
    pub format_version: &'static str,
    pub stack: &'a str,
    pub target: Target<'a>,
    pub drifted: usize,
    pub resource_drift: Vec<ResourceDrift<'a>>,
}

/// Where the plan points; `null` for what the plan did not record (a plan
/// made without asking AWS has no account).
#[derive(Debug, Serialize)]
pub struct Target<'a> {
    pub account: Option<&'a str>,
    pub caller_arn: Option<&'a str>,
    pub region: Option<&'a str>,
    pub state: Option<&'a str>,
    pub kube: Option<KubeTarget<'a>>,
}

/// `{"kubeconfig": PATH, "context": NAME}` or `{"eks_cluster": NAME}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum KubeTarget<'a> {
    Kubeconfig {
        kubeconfig: &'a str,
        context: Option<&'a str>,
    },
    Eks {
        eks_cluster: &'a str,
    },
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub read: usize,
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub no_op: usize,
    pub drifted: usize,
    pub changes: usize,
}

#[derive(Debug, Serialize)]
pub struct Basis<'a> {
    pub stack_sha256: &'a str,
    pub state_lineage: Option<&'a str>,
    pub state_serial: u64,
    pub live_fingerprint: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ResourceChange<'a> {
    pub address: String,
    pub kind: &'static str,
    pub name: &'a str,
    pub index: Option<u32>,
    pub mode: &'static str,
    pub action: &'static str,
    /// The object exists apart from stackplan and is taken over, not made.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub takes_over: bool,
    pub replace_order: Option<&'static str>,
    pub reason: Option<&'a str>,
    pub physical_id: Option<&'a str>,
    /// True for the delete of an old copy an earlier replacement left.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    pub depends_on: Vec<String>,
    /// Attribute to the name of the published document it holds.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub published: &'a std::collections::BTreeMap<String, String>,
    pub changes: Vec<Field<'a>>,
    pub drift: Option<Drift<'a>>,
    /// For a Helm release: the Kubernetes objects the change adds,
    /// removes or alters, with the fields (docs/plan-json.md).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub manifest_changes: &'a [stackplan_core::ManifestChange],
}

#[derive(Debug, Serialize)]
pub struct ResourceDrift<'a> {
    pub address: String,
    pub kind: &'static str,
    pub deleted: bool,
    pub changes: Vec<Field<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Drift<'a> {
    pub deleted: bool,
    pub changes: Vec<Field<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Field<'a> {
    pub path: &'a str,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub before_sensitive: bool,
    pub after_sensitive: bool,
    pub after_unknown: bool,
    pub force_new: bool,
}
