//! The plan as plain data, in the spirit of Terraform's
//! `ResourceInstanceChange`: what will happen to each resource (the action),
//! why (the reason, a separate field), the values before and after, the
//! field-level differences and, apart from them, the drift found live.
//!
//! Apply (issue 7) is driven by nothing but this: a saved plan carries the
//! unresolved configuration of every change and the basis it was computed
//! on, so it can be checked and carried out later.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::provider::Attrs;
use crate::{ResourceAddr, ResourceMode, Value};

/// The version of the saved plan document (`-o PLAN`). Bumped on any
/// change a reader of an older version would misread.
///
/// Version 2 adds deposed old copies and the inputs each change resolved.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// How a replacement is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceOrder {
    /// The new copy can exist next to the old one (generated ids): create
    /// the replacement first, then delete, so dependents never see a gap.
    CreateBeforeDestroy,
    /// The name is unique (a bucket, a role, a cluster): the old one must go
    /// before the new one can take its name.
    DestroyBeforeCreate,
}

impl fmt::Display for ReplaceOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplaceOrder::CreateBeforeDestroy => "create before destroy",
            ReplaceOrder::DestroyBeforeCreate => "destroy before create",
        })
    }
}

/// What apply will do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// Changed in place.
    Update,
    /// An immutable field changed; `reason` names it.
    Replace {
        reason: String,
        order: ReplaceOrder,
    },
    /// In state, gone from the stack.
    Delete,
    NoOp,
    /// A lookup: read, never changed.
    Read,
}

impl Action {
    /// The stable lower-case name used by every output format.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace { .. } => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
            Action::Read => "read",
        }
    }

    /// True when apply would change something live.
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Replace { .. } | Action::Delete
        )
    }

    pub fn destroys(&self) -> bool {
        matches!(self, Action::Delete | Action::Replace { .. })
    }
}

/// One differing field. `path` is dotted through maps (`tags.team`,
/// `values.proxy.replicas`); a missing side is [`Value::Null`]; a value only
/// apply can know is [`Value::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub path: String,
    pub before: Value,
    pub after: Value,
    /// This field alone makes the change a replacement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_new: bool,
    /// Shown as `(sensitive)`, never as content.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl FieldDiff {
    pub fn new(path: impl Into<String>, before: Value, after: Value) -> Self {
        FieldDiff {
            path: path.into(),
            before,
            after,
            force_new: false,
            sensitive: false,
        }
    }

    /// The top-level attribute the path starts with.
    pub fn attr(&self) -> &str {
        self.path.split(['.', '[']).next().unwrap_or(&self.path)
    }
}

/// What changed live behind stackplan's back, relative to the last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The resource is in state but no longer exists live.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Fields whose live value differs from the last applied one
    /// (`before` = last applied, `after` = live).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
}

/// The planned change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub addr: ResourceAddr,
    pub mode: ResourceMode,
    pub action: Action,
    /// Why, for people ("`broker_type` changed in the stack", "no longer
    /// in the stack"). Separate from the action, as in Terraform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The live attributes (normalised); `None` when nothing exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Attrs>,
    /// The attributes after apply, resolved as far as the plan can know
    /// them, with computed outputs of new resources as unknown; `None` for
    /// a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Attrs>,
    /// The fields apply changes (live -> desired).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_diffs: Vec<FieldDiff>,
    /// Drift, reported apart from the changes made in the stack file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// The live resource's id, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// What this resource waits for: from the stack, or from state for a
    /// delete. Apply builds its graph from these alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ResourceAddr>,
    /// The desired attributes as the stack expands to them, references
    /// unresolved: apply resolves them against what it has just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Attrs>,
    /// Each reference in `config` (`kind.name.attr`) the plan could
    /// resolve, with the value it resolved it to: apply uses these, the
    /// values the user reviewed, and reads again only what was unknown at
    /// plan time or is sensitive (never written here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
    /// Apply takes over an object that exists apart from stackplan rather
    /// than making one: the cluster's own default StorageClass, whose flag
    /// alone the stack sets, or a live resource adopted into state. The
    /// action stays what apply calls (`create` or `update`); this says what
    /// it means, so no plan calls it new.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub takes_over: bool,
    /// Attributes holding a document stackplan publishes unchanged (the
    /// load balancer controller's IAM policy, an IRSA trust policy), each
    /// with the name people know it by (see `Resource::published`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub published: BTreeMap<String, String>,
    /// For a Helm release: the Kubernetes objects its new manifest changes,
    /// against the manifest of the deployed revision (the values diff is
    /// the why, this is the what).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest_changes: Vec<ManifestChange>,
}

/// One object a release's new manifest adds, removes or changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestChange {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `add`, `remove` or `change`.
    pub action: String,
    /// The fields that change (for `change`), by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ManifestField>,
}

/// One field of a changed object. Values are shown compactly (JSON), or
/// `(sensitive)` for a Secret's data and a ConfigMap line that carries a
/// password or key; `None` where the field is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestField {
    /// `spec.template.spec.containers[name=querynode].resources.limits.memory`.
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
    pub fn has_drift(&self) -> bool {
        self.drift
            .as_ref()
            .is_some_and(|d| d.deleted || !d.fields.is_empty())
    }
}

/// Counts per action, in output order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub read: usize,
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub no_op: usize,
    /// Resources with drift, whatever their action.
    pub drifted: usize,
}

impl PlanSummary {
    pub fn changes(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }
}

/// What a plan was computed from. A saved plan is applied only while all
/// of it still holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanBasis {
    /// SHA-256 of the stack file's bytes, hex.
    pub stack_sha256: String,
    /// The state's lineage, `None` when there was no state yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_lineage: Option<String>,
    /// The state's serial (0 when there was no state).
    pub state_serial: u64,
    /// SHA-256 over every per-resource fingerprint below, hex.
    pub live_fingerprint: String,
    /// Per resource, a fingerprint of what refresh saw live (its id and
    /// normalised attributes and outputs; sensitive values only as
    /// `(sensitive)`), so a refusal can say which resource changed.
    #[serde(default)]
    pub live: BTreeMap<ResourceAddr, String>,
    /// The AWS account the credentials belonged to, when the plan was made
    /// against AWS: a saved plan is refused in any other account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AWS region the plan was made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The stack file the plan was made from, as given on the command
    /// line: where `apply PLAN` finds it without `--stack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_path: Option<String>,
    /// Who the credentials are (STS `GetCallerIdentity`'s ARN), asked in
    /// the same call as `account`: shown at the top of the plan so a
    /// reviewer sees which principal will act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_arn: Option<String>,
    /// Where the state lives (the backend's own name for it: a local path
    /// or `s3://bucket/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_location: Option<String>,
    /// Which cluster the Kubernetes and Helm changes go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<KubeAccess>,
}

/// How the stack reaches Kubernetes: a kubeconfig context, or the stack's
/// EKS cluster (found and signed for with the AWS credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubeAccess {
    /// `[kubernetes] kubeconfig` (and `context`, or the file's
    /// current-context when none is given).
    Kubeconfig {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// No `[kubernetes]` section: the EKS cluster of `[eks] name`.
    EksCluster { name: String },
}

impl fmt::Display for KubeAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeAccess::Kubeconfig {
                path,
                context: Some(c),
            } => write!(f, "context `{c}` of kubeconfig {path}"),
            KubeAccess::Kubeconfig {
                path,
                context: None,
            } => write!(f, "kubeconfig {path} (no current context)"),
            KubeAccess::EksCluster { name } => write!(f, "EKS cluster `{name}`"),
        }
    }
}

/// Options the plan was made with; apply honours the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// `--allow-destroy`: stateful resources may be deleted or replaced.
    #[serde(default)]
    pub allow_destroy: bool,
    /// `--adopt`: live resources state does not know may be taken over.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// `--target`, `--exclude` and `--replace`: a partial plan.
    #[serde(default, skip_serializing_if = "Selection::is_empty")]
    pub selection: Selection,
}

/// The part of a stack a plan is limited to, and what it must replace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Only these, and what they depend on (`--target`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<ResourceAddr>,
    /// Not these, nor what depends on them (`--exclude`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<ResourceAddr>,
    /// Replaced even though nothing forces it (`--replace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<ResourceAddr>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty() && self.replace.is_empty()
    }

    /// True when the plan covers only part of the stack.
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty() || !self.excludes.is_empty()
    }

    /// What a reviewer is told about a partial plan, or `None`.
    pub fn describe(&self) -> Option<String> {
        if !self.is_partial() {
            return None;
        }
        let list = |addrs: &[ResourceAddr]| {
            addrs
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.targets.is_empty() {
            parts.push(format!(
                "only {} and what they depend on",
                list(&self.targets)
            ));
        }
        if !self.excludes.is_empty() {
            parts.push(format!(
                "without {} and what depends on them",
                list(&self.excludes)
            ));
        }
        Some(format!(
            "Partial plan: {}. Changes to the rest of the stack are not shown and not applied.",
            parts.join("; ")
        ))
    }
}

/// A whole plan: every resource of the stack and of state, sorted by
/// address, with the action for each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub basis: PlanBasis,
    #[serde(default)]
    pub options: PlanOptions,
    pub changes: Vec<Change>,
    /// Deletes of the old copies state keeps from earlier replacements
    /// (see `StateDocument::deposed`), one per copy, its id in
    /// `physical_id`; sorted by address then id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Change>,
    /// Fields the stack says something else owns (`ignore = [...]`,
    /// `desired = "autoscaled"`), as `address: path`: never changed nor
    /// reported as drift, and listed so a reviewer sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// The providers' preflight warnings, each `addr (attr): message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The stack's monthly on-demand estimate, when the plan priced it
    /// (the CLI, from stackplan-capacity's price table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostEstimate>,
}

/// A monthly estimate, resource by resource, at on-demand prices recorded
/// on `prices_as_of`. A line whose price is unknown has no amount and is
/// left out of the total: never counted as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub prices_as_of: String,
    /// Where the prices come from.
    pub source: String,
    pub lines: Vec<CostLine>,
    /// The known total of what state records as running now, priced the
    /// same way; `None` before the first apply (everything is new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_known_total: Option<f64>,
}

/// One priced resource of an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// The stack's address, or what is billed (`NAT gateways`).
    pub resource: String,
    /// How it is priced: `3 x m6i.2xlarge x 730 h x $0.384`.
    pub basis: String,
    /// USD per month; `None` when the price is unknown.
    pub monthly_usd: Option<f64>,
    /// What the same line costs as state records it now; `None` when it
    /// does not run yet, or its price is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_monthly_usd: Option<f64>,
}

impl CostEstimate {
    /// The sum of the lines whose price is known.
    pub fn known_total(&self) -> f64 {
        self.lines.iter().filter_map(|l| l.monthly_usd).sum()
    }

    /// How many lines have no known price.
    pub fn unknown(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.monthly_usd.is_none())
            .count()
    }
}

impl Plan {
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for c in self.changes.iter().chain(&self.deposed) {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace { .. } => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => s.no_op += 1,
                Action::Read => s.read += 1,
            }
            if c.has_drift() {
                s.drifted += 1;
            }
        }
        s
    }

    /// True when apply would change anything live (reads do not count).
    pub fn has_changes(&self) -> bool {
        !self.deposed.is_empty() || self.changes.iter().any(|c| c.action.is_change())
    }

    pub fn has_drift(&self) -> bool {
        self.changes.iter().any(Change::has_drift)
    }

    pub fn change(&self, addr: &ResourceAddr) -> Option<&Change> {
        self.changes
            .binary_search_by(|c| c.addr.cmp(addr))
            .ok()
            .map(|i| &self.changes[i])
    }
}
