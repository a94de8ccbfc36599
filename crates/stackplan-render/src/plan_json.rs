//! The plan for machines (`--json`): the plan mapped onto the wire types
//! of [`crate::plan_wire`], documented in `docs/plan-json.md`. Every list
//! is sorted (resources by address, fields by path), so equal plans give
//! equal bytes.

use stackplan_core::{Action, FieldDiff, KubeAccess, Plan, ReplaceOrder, ResourceMode, Value};

use crate::RenderError;
use crate::plan_wire::{
    Basis, Cost, Drift, DriftDoc, Field, KubeTarget, PLAN_JSON_FORMAT_VERSION, PlanDoc,
    ResourceChange, ResourceDrift, Summary, Target,
};

/// Where the plan points, as recorded in its basis.
fn target(plan: &Plan) -> Target<'_> {
    let b = &plan.basis;
    Target {
        account: b.account.as_deref(),
        caller_arn: b.caller_arn.as_deref(),
        region: b.region.as_deref(),
        state: b.state_location.as_deref(),
        kube: b.kube.as_ref().map(|k| match k {
            KubeAccess::Kubeconfig { path, context } => KubeTarget::Kubeconfig {
                kubeconfig: path,
                context: context.as_deref(),
            },
            KubeAccess::EksCluster { name } => KubeTarget::Eks { eks_cluster: name },
        }),
    }
}

fn contains(v: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
    pred(v)
        || match v {
            Value::List(items) => items.iter().any(|x| contains(x, pred)),
            Value::Map(m) => m.values().any(|x| contains(x, pred)),
            _ => false,
        }
}

/// A value on the wire: plain JSON, with `null` where the value is unknown
/// or sensitive (the `*_unknown` / `*_sensitive` flags say which).
fn wire_value(v: &Value, sensitive: bool) -> serde_json::Value {
    use serde_json::Value as J;
    if sensitive {
        return J::Null;
    }
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::String(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(|x| wire_value(x, false)).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), wire_value(x, false)))
                .collect(),
        ),
        _ => J::Null,
    }
}

fn field(d: &FieldDiff) -> Field<'_> {
    let sens = |v: &Value| d.sensitive && *v != Value::Null || contains(v, &Value::is_sensitive);
    let before_sensitive = sens(&d.before);
    let after_sensitive = sens(&d.after);
    Field {
        path: &d.path,
        before: wire_value(&d.before, before_sensitive),
        after: wire_value(&d.after, after_sensitive),
        before_sensitive,
        after_sensitive,
        after_unknown: !after_sensitive && !d.after.is_known(),
        force_new: d.force_new,
    }
}

fn fields(diffs: &[FieldDiff]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = diffs.iter().map(field).collect();
    out.sort_by(|a, b| a.path.cmp(b.path));
    out
}

/// `plan --json`.
pub fn render(plan: &Plan) -> Result<String, RenderError> {
    let s = plan.summary();
    let doc = PlanDoc {
        format_version: PLAN_JSON_FORMAT_VERSION,
        stack: &plan.stack,
        target: target(plan),
        summary: Summary {
            read: s.read,
            create: s.create,
            update: s.update,
            replace: s.replace,
            delete: s.delete,
            no_op: s.no_op,
            drifted: s.drifted,
            changes: s.changes(),
        },
        basis: Basis {
            stack_sha256: &plan.basis.stack_sha256,
            state_lineage: plan.basis.state_lineage.as_deref(),
            state_serial: plan.basis.state_serial,
            live_fingerprint: &plan.basis.live_fingerprint,
        },
        resource_changes: plan
            .changes
            .iter()
            .map(|c| (c, false))
            .chain(plan.deposed.iter().map(|c| (c, true)))
            .map(|(c, deposed)| ResourceChange {
                address: c.addr.to_string(),
                kind: c.addr.kind.as_str(),
                name: &c.addr.name,
                index: c.addr.index,
                mode: match c.mode {
                    ResourceMode::Managed => "managed",
                    ResourceMode::Lookup => "lookup",
                },
                action: c.action.name(),
                takes_over: c.takes_over,
                replace_order: match &c.action {
                    Action::Replace { order, .. } => Some(match order {
                        ReplaceOrder::CreateBeforeDestroy => "create_before_destroy",
                        ReplaceOrder::DestroyBeforeCreate => "destroy_before_create",
                    }),
                    _ => None,
                },
                reason: c.reason.as_deref(),
                physical_id: c.physical_id.as_deref(),
                deposed,
                depends_on: c.dependencies.iter().map(ToString::to_string).collect(),
                published: &c.published,
                changes: fields(&c.field_diffs),
                drift: c.drift.as_ref().map(|d| Drift {
                    deleted: d.deleted,
                    changes: fields(&d.fields),
                }),
                manifest_changes: &c.manifest_changes,
            })
            .collect(),
        warnings: &plan.warnings,
        cost: plan.cost.as_ref().map(|c| Cost {
            prices_as_of: &c.prices_as_of,
            source: &c.source,
            // Whole cents: the same plan prints the same total.
            monthly_usd_known_total: (c.known_total() * 100.0).round() / 100.0,
            monthly_usd_known_total_before: c
                .before_known_total
                .map(|b| (b * 100.0).round() / 100.0),
            unknown: c.unknown(),
            lines: &c.lines,
        }),
    };
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
}

/// `drift --json`: only the resources that drifted.
pub fn render_drift(plan: &Plan) -> Result<String, RenderError> {
    let resource_drift: Vec<ResourceDrift<'_>> = plan
        .changes
        .iter()
        .filter(|c| c.has_drift())
        .filter_map(|c| {
            let d = c.drift.as_ref()?;
            Some(ResourceDrift {
                address: c.addr.to_string(),
                kind: c.addr.kind.as_str(),
                deleted: d.deleted,
                changes: fields(&d.fields),
            })
        })
        .collect();
    let doc = DriftDoc {
        format_version: PLAN_JSON_FORMAT_VERSION,
        stack: &plan.stack,
        target: target(plan),
        drifted: resource_drift.len(),
        resource_drift,
    };
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
}
