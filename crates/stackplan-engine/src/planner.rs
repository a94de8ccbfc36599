//! The planner: refresh, then per resource in dependency order resolve the
//! desired attributes, diff three ways, pick the action and say why; then
//! deletes, guards and the basis a saved plan is checked against.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use stackplan_core::{
    Action, Attrs, Change, Drift, EventSink, KindSchema, NoEvents, OutputRef, PLAN_FORMAT_VERSION,
    Plan, PlanBasis, PlanOptions, ProviderRegistry, ReplaceOrder, Resource, ResourceAddr,
    ResourceMode, Selection, StateDocument, Value, encode_state_value,
};

use crate::diff::{diff_create, diff_delete, diff_existing, normalized};
use crate::refresh::{LiveView, known_output, refresh, resolve_attrs};
use crate::rotation::{CurrentSecrets, source_of, sources_at};
use crate::schedule::{schedule, settle_replace_orders};
use crate::seal::sensitive_eq;
use crate::{EngineError, ResourceGraph};

/// How a plan is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// At most this many reads at once (`--parallelism`, default 16).
    pub parallelism: usize,
    /// `--allow-destroy`: stateful resources may be deleted or replaced.
    pub allow_destroy: bool,
    /// `--adopt`: live resources that state does not know and that carry
    /// no ownership tag of this stack (or all of them, when there is no
    /// state) may be taken over.
    pub adopt: bool,
    /// `--target`, `--exclude`, `--replace`.
    pub selection: Selection,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            parallelism: 16,
            allow_destroy: false,
            adopt: false,
            selection: Selection::default(),
        }
    }
}

/// The tag every AWS resource of a stack carries with the stack's name.
const OWNER_TAG: &str = "stackplan:stack";

/// Whether planning may take over a live resource state does not know.
#[derive(Debug, PartialEq, Eq)]
enum Adoption {
    /// Tagged as this stack's and state exists: an apply stopped between
    /// a create and its state write. Taken back without asking.
    Recovered,
    /// Needs `--adopt`: untagged, or no state at all (lost).
    NeedsConsent(String),
    /// Tagged as another stack's.
    Foreign(String),
}

/// Whether the live resource `c` describes (state has no record of it)
/// may be adopted by `stack`.
fn adoption(c: &Change, live: &Attrs, stack: &str, state: Option<&StateDocument>) -> Adoption {
    let addr = &c.addr;
    let owner = live
        .get("tags")
        .and_then(|t| t.get_path(OWNER_TAG))
        .and_then(Value::as_str);
    if addr.kind == stackplan_core::ResourceKind::K8sDefaultClass {
        // It exists before the stack by design: the cluster's own default
        // StorageClass (EKS's gp2), which the stack only un-defaults.
        return Adoption::Recovered;
    }
    let id = c.physical_id.as_deref().unwrap_or("(no id)");
    // No state document at all: lost, or another stack's copy. (An apply
    // writes its state before its first create, so one stopped at any
    // point leaves a document to recover by.)
    let state_lost = state.is_none();
    match owner {
        Some(o) if o != stack => Adoption::Foreign(format!(
            "`{addr}` ({id}) is tagged {OWNER_TAG} = {o}: it belongs to stack `{o}`; give this stack's resource another name, or destroy it in `{o}` first"
        )),
        Some(_) if !state_lost => Adoption::Recovered,
        Some(_) => Adoption::NeedsConsent(format!(
            "`{addr}` ({id}), tagged as this stack's, but the state has no record of it (a lost or new state file?)"
        )),
        None if !state_lost
            && !KindSchema::for_kind(addr.kind)
                .attrs
                .iter()
                .any(|a| a.name == "tags") =>
        {
            // Kinds without tags (Kubernetes objects, associations) cannot
            // say whose they are; with state present they are what an
            // interrupted apply made.
            Adoption::Recovered
        }
        None => Adoption::NeedsConsent(format!(
            "`{addr}` ({id}), which carries no {OWNER_TAG} tag: something else may manage it"
        )),
    }
}

/// Everything a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// The stack's name (`[stack] name`).
    pub stack: &'a str,
    /// SHA-256 of the stack file's bytes, hex (see [`sha256_hex`]).
    pub stack_sha256: &'a str,
    pub resources: &'a [Resource],
    pub state: Option<&'a StateDocument>,
}

/// SHA-256 of `bytes`, hex: the stack file hash a saved plan records.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Makes plans with the providers of one registry.
pub struct Planner<'r> {
    registry: &'r ProviderRegistry,
    settings: PlanSettings,
    events: &'r dyn EventSink,
}

impl std::fmt::Debug for Planner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("registry", self.registry)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What the planner knows of a resource it has already planned, for the
/// resources that reference it.
struct Planned {
    /// Its desired attributes, resolved.
    after: Attrs,
    /// The attributes an in-place update changes: outputs such an update
    /// replaces (a new MSK configuration revision) are unknown until
    /// apply. Empty when it is not updated.
    updating: BTreeSet<String>,
    /// A new object (create, replace, deferred lookup): outputs not in
    /// `after` are unknown until apply.
    fresh: bool,
    /// An existing object replaced by a new copy.
    replaced: bool,
}

impl<'r> Planner<'r> {
    pub fn new(registry: &'r ProviderRegistry, settings: PlanSettings) -> Self {
        Planner {
            registry,
            settings,
            events: &NoEvents,
        }
    }

    /// Sends providers' progress events to `events` (reads can be slow).
    pub fn with_events(mut self, events: &'r dyn EventSink) -> Self {
        self.events = events;
        self
    }

    /// The plan, refused when it would destroy what the guards protect,
    /// or when a provider finds the stack asks what its API refuses.
    pub async fn plan(&self, req: PlanRequest<'_>) -> Result<Plan, EngineError> {
        check_selection(&self.settings.selection, req.resources, req.state)?;
        let warnings = self.preflight(req.resources).await?;
        let mut plan = self.compute(req, Purpose::Plan).await?;
        self.check_adoptions(&plan, req)?;
        check_guards(&plan, req.resources, self.settings.allow_destroy)?;
        plan.warnings
            .extend(warnings.iter().map(ToString::to_string));
        plan.warnings.sort();
        Ok(plan)
    }

    /// Each provider's preflight over the resources it serves, all at
    /// once; every error of every provider is reported together, and the
    /// warnings are returned, sorted, for the plan.
    async fn preflight(
        &self,
        resources: &[Resource],
    ) -> Result<Vec<stackplan_core::Finding>, EngineError> {
        let mut by_provider: BTreeMap<&str, (&dyn stackplan_core::Provider, Vec<&Resource>)> =
            BTreeMap::new();
        for r in resources {
            let provider =
                self.registry
                    .get(r.addr.kind)
                    .ok_or_else(|| EngineError::NoProvider {
                        kind: r.addr.kind,
                        addr: r.addr.clone(),
                    })?;
            by_provider
                .entry(provider.name())
                .or_insert_with(|| (provider.as_ref(), Vec::new()))
                .1
                .push(r);
        }
        let groups: Vec<&(&dyn stackplan_core::Provider, Vec<&Resource>)> =
            by_provider.values().collect();
        let checks = groups.iter().map(|(provider, rs)| provider.preflight(rs));
        let mut findings = Vec::new();
        for ((_, rs), result) in groups.iter().zip(futures::future::join_all(checks).await) {
            findings.extend(result.map_err(|source| EngineError::Provider {
                addr: rs[0].addr.clone(),
                source,
            })?);
        }
        findings
            .sort_by(|a, b| (&a.addr, &a.attr, &a.message).cmp(&(&b.addr, &b.attr, &b.message)));
        let (errors, warnings): (Vec<_>, Vec<_>) = findings
            .into_iter()
            .partition(|f| f.severity == stackplan_core::Severity::Error);
        if errors.is_empty() {
            return Ok(warnings);
        }
        Err(EngineError::Preflight { findings: errors })
    }

    /// Refuses taking over what is another stack's, and what only
    /// `--adopt` may take over, naming every resource at once.
    fn check_adoptions(&self, plan: &Plan, req: PlanRequest<'_>) -> Result<(), EngineError> {
        let mut foreign = Vec::new();
        let mut consent = Vec::new();
        for c in &plan.changes {
            if c.mode != ResourceMode::Managed || c.action == Action::Delete {
                continue;
            }
            let in_state = req.state.is_some_and(|s| s.get(&c.addr).is_some());
            // `before` is what refresh saw live, normalised.
            let Some(live) = c.before.as_ref().filter(|_| !in_state) else {
                continue;
            };
            match adoption(c, live, req.stack, req.state) {
                Adoption::Recovered => {}
                Adoption::NeedsConsent(why) => consent.push(why),
                Adoption::Foreign(why) => foreign.push(why),
            }
        }
        if !foreign.is_empty() {
            return Err(EngineError::NotOwned { refusals: foreign });
        }
        if !consent.is_empty() && !self.settings.adopt {
            return Err(EngineError::AdoptionNeedsConsent { adoptions: consent });
        }
        Ok(())
    }

    /// The plan without the destroy guards: for `drift`, which reports and
    /// never applies.
    pub async fn drift(&self, req: PlanRequest<'_>) -> Result<Plan, EngineError> {
        self.compute(req, Purpose::Drift).await
    }

    /// Refreshes and returns only the basis, as a saved plan is checked
    /// against it before apply.
    pub async fn basis(&self, req: PlanRequest<'_>) -> Result<PlanBasis, EngineError> {
        let (_, live) = self.refresh(req).await?;
        Ok(basis(req, &live))
    }

    /// Refuses `saved` when the stack file, the state or anything live it
    /// was computed from has changed since.
    pub async fn verify_saved_plan(
        &self,
        saved: &Plan,
        req: PlanRequest<'_>,
    ) -> Result<(), EngineError> {
        check_saved_plan(saved, &self.basis(req).await?)
    }

    async fn refresh(
        &self,
        req: PlanRequest<'_>,
    ) -> Result<(ResourceGraph, LiveView), EngineError> {
        if let Some(s) = req.state
            && s.stack != req.stack
        {
            return Err(EngineError::StateOfAnotherStack {
                expected: req.stack.to_string(),
                found: s.stack.clone(),
            });
        }
        let graph = ResourceGraph::build(req.resources)?;
        let by_addr: BTreeMap<ResourceAddr, &Resource> =
            req.resources.iter().map(|r| (r.addr.clone(), r)).collect();
        let live = refresh(
            &by_addr,
            &graph,
            req.state,
            self.registry,
            self.settings.parallelism,
            self.events,
        )
        .await?;
        Ok((graph, live))
    }

    async fn compute(&self, req: PlanRequest<'_>, purpose: Purpose) -> Result<Plan, EngineError> {
        let (graph, live) = self.refresh(req).await?;
        let current = CurrentSecrets::read(self.registry, req.resources).await;
        let by_addr: BTreeMap<&ResourceAddr, &Resource> =
            req.resources.iter().map(|r| (&r.addr, r)).collect();
        let mut planned: BTreeMap<ResourceAddr, Planned> = BTreeMap::new();
        let mut changes = Vec::with_capacity(req.resources.len());

        for addr in graph.topo_order() {
            let resource = by_addr[&addr];
            // Producers whose rotated secret this resource is given.
            let rotated_from = std::cell::RefCell::new(BTreeSet::new());
            let lookup = |r: &OutputRef| -> Option<Value> {
                let producer = planned.get(&r.addr)?;
                if let Some(v) = producer.after.get(&r.attr) {
                    // A secret source says where a value comes from, not
                    // what it is. Its consumers are given what it gives
                    // now, when this run could read it; else, for a
                    // producer that already exists, the value it produced
                    // (sealed, from live or state).
                    if let Some(source) = source_of(v) {
                        let produced = (!producer.fresh)
                            .then(|| known_output(r, &live, req.state))
                            .flatten();
                        if let Some(now) = current.get(source) {
                            if produced
                                .as_ref()
                                .is_some_and(|p| sensitive_eq(p, now) == Some(false))
                            {
                                rotated_from.borrow_mut().insert(r.addr.clone());
                            }
                            return Some(now.clone());
                        }
                        if let Some(produced) = produced {
                            return Some(produced);
                        }
                    }
                    return Some(v.clone());
                }
                if producer.fresh {
                    return None;
                }
                if !producer.updating.is_empty()
                    && KindSchema::for_kind(r.addr.kind).output_changes_on_update(
                        &r.attr,
                        producer.updating.iter().map(String::as_str),
                    )
                {
                    // Its consumers must be planned against the value the
                    // update makes, so they change in the same apply.
                    return Some(Value::Unknown);
                }
                known_output(r, &live, req.state)
            };
            let desired = resolve_attrs(&resource.attrs, &lookup);
            // What each reference resolved to, as the user reviews it:
            // apply uses these. Secrets are never written into a plan.
            let inputs: BTreeMap<String, Value> = resource
                .attrs
                .values()
                .flat_map(Value::refs)
                .filter_map(|r| {
                    let v = lookup(&r)?;
                    (v.is_known() && !holds_secret(&v)).then(|| (r.to_string(), v))
                })
                .collect();
            let prior = req.state.and_then(|s| s.get(&addr));
            let observed = live.get(&addr).and_then(Option::as_ref);
            let provider = self
                .registry
                .get(addr.kind)
                .ok_or(EngineError::NoProvider {
                    kind: addr.kind,
                    addr: addr.clone(),
                })?;
            let mut change = plan_resource(ResourceInputs {
                resource,
                current: current.substitute_attrs(&desired),
                desired: desired.clone(),
                prior,
                observed,
                rotated_from: &rotated_from.borrow(),
            })?;
            // A provider refusing the change the stack asks for (what MSK
            // cannot do in place) fails a plan; drift reports what changed
            // live whatever the stack asks, so there it is not an error.
            let refined = drop_ignored_drift(provider.as_ref(), &mut change).and_then(|()| {
                if matches!(change.action, Action::Update | Action::Replace { .. }) {
                    provider
                        .plan_change(&addr, &mut change.field_diffs)
                        .map_err(|source| EngineError::Provider {
                            addr: addr.clone(),
                            source,
                        })?;
                    reclassify(&mut change);
                }
                Ok(())
            });
            if purpose == Purpose::Plan {
                refined?;
            }
            if prior.is_some_and(|p| p.tainted) && resource.mode == ResourceMode::Managed {
                plan_tainted(&mut change, observed);
            }
            follow_replaced_parent(&mut change, resource, &planned);
            if self.settings.selection.replace.contains(&addr) {
                force_replace(&mut change);
            }
            change.dependencies = graph.dependencies(&addr).into_iter().collect();
            change.inputs = inputs;
            let fresh = matches!(change.action, Action::Create | Action::Replace { .. })
                || (change.action == Action::Read && observed.is_none());
            planned.insert(
                addr.clone(),
                Planned {
                    after: desired,
                    updating: if change.action == Action::Update {
                        change
                            .field_diffs
                            .iter()
                            .map(|d| d.attr().to_string())
                            .collect()
                    } else {
                        BTreeSet::new()
                    },
                    fresh,
                    replaced: matches!(change.action, Action::Replace { .. }),
                },
            );
            changes.push(change);
        }

        if let Some(state) = req.state {
            for prior in &state.resources {
                if by_addr.contains_key(&prior.addr) || prior.mode == ResourceMode::Lookup {
                    // Lookups were never stackplan's: forgetting one is not
                    // a delete.
                    continue;
                }
                let schema = KindSchema::for_kind(prior.addr.kind);
                let observed = live.get(&prior.addr).and_then(Option::as_ref);
                let before = observed
                    .map(|o| normalized(schema, &o.attrs))
                    .unwrap_or_else(|| normalized(schema, &prior.attributes));
                changes.push(Change {
                    addr: prior.addr.clone(),
                    mode: prior.mode,
                    action: Action::Delete,
                    reason: Some(match observed {
                        Some(_) => "no longer in the stack".to_string(),
                        None => "no longer in the stack (already gone live)".to_string(),
                    }),
                    field_diffs: diff_delete(schema, &before),
                    before: Some(before),
                    after: None,
                    drift: observed.is_none().then(|| Drift {
                        deleted: true,
                        fields: Vec::new(),
                    }),
                    physical_id: observed
                        .and_then(|o| o.physical_id.clone())
                        .or_else(|| prior.physical_id.clone()),
                    dependencies: prior.dependencies.iter().cloned().collect(),
                    config: None,
                    inputs: BTreeMap::new(),
                    takes_over: false,
                    manifest_changes: Vec::new(),
                    published: BTreeMap::new(),
                });
            }
        }
        changes.sort_by(|a, b| a.addr.cmp(&b.addr));
        let mut deposed = req
            .state
            .map(|s| deposed_changes(s, &live))
            .unwrap_or_default();
        select(&self.settings.selection, &mut changes, &mut deposed);
        settle_replace_orders(&mut changes);

        let ignored: Vec<String> = req
            .resources
            .iter()
            .flat_map(|r| r.ignore.iter().map(move |p| format!("{}: {p}", r.addr)))
            .collect();
        let plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            ignored,
            stack: req.stack.to_string(),
            basis: basis(req, &live),
            options: PlanOptions {
                allow_destroy: self.settings.allow_destroy,
                adopt: self.settings.adopt,
                selection: self.settings.selection.clone(),
            },
            changes,
            deposed,
            warnings: current.unreadable,
            cost: None,
        };
        // The same order apply will run: a loop is refused now, not then.
        let empty = StateDocument::new(req.stack, "");
        schedule(&plan, req.state.unwrap_or(&empty))?;
        Ok(plan)
    }
}

/// True when the ignored path `ignored` is `path` or a map around it.
fn covers(ignored: &str, path: &str) -> bool {
    path == ignored
        || path
            .strip_prefix(ignored)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// True when `v` is, or holds, a sensitive value or a secret source.
fn holds_secret(v: &Value) -> bool {
    match v {
        Value::Sensitive(_) | Value::Secret(_) => true,
        Value::List(items) => items.iter().any(holds_secret),
        Value::Map(m) => m.values().any(holds_secret),
        _ => false,
    }
}

/// The deletes of the old copies state keeps (deposed by a replacement
/// whose delete did not succeed). A copy whose id is the one the address
/// now has live is not old: a refresh took it back, and it is not
/// deleted.
fn deposed_changes(state: &StateDocument, live: &LiveView) -> Vec<Change> {
    state
        .deposed
        .iter()
        .filter(|d| {
            let current = live
                .get(&d.addr)
                .and_then(Option::as_ref)
                .and_then(|o| o.physical_id.as_ref())
                .or_else(|| state.get(&d.addr).and_then(|s| s.physical_id.as_ref()));
            current != d.physical_id.as_ref()
        })
        .map(|d| {
            let schema = KindSchema::for_kind(d.addr.kind);
            let before = normalized(schema, &d.attributes);
            Change {
                addr: d.addr.clone(),
                mode: d.mode,
                action: Action::Delete,
                reason: Some(format!(
                    "old copy `{}` of a replacement, left when its delete did not finish",
                    d.physical_id.as_deref().unwrap_or("?")
                )),
                field_diffs: diff_delete(schema, &before),
                before: Some(before),
                after: None,
                drift: None,
                physical_id: d.physical_id.clone(),
                dependencies: d.dependencies.iter().cloned().collect(),
                config: None,
                inputs: BTreeMap::new(),
                takes_over: false,
                manifest_changes: Vec::new(),
                published: BTreeMap::new(),
            }
        })
        .collect()
}

fn quoted(attrs: &BTreeSet<String>) -> String {
    attrs
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one resource of the stack is planned from.
struct ResourceInputs<'a> {
    resource: &'a Resource,
    /// Its attributes with every reference resolved; secret sources as
    /// the stack names them.
    desired: Attrs,
    /// The same with each source this run could read replaced by what it
    /// gives now (sealed): what is compared with live.
    current: Attrs,
    prior: Option<&'a stackplan_core::ResourceState>,
    observed: Option<&'a stackplan_core::Observed>,
    /// Producers whose rotated secret flows into this resource.
    rotated_from: &'a BTreeSet<ResourceAddr>,
}

/// The change for one resource of the stack.
fn plan_resource(inputs: ResourceInputs<'_>) -> Result<Change, EngineError> {
    let ResourceInputs {
        resource,
        desired,
        current,
        prior,
        observed,
        rotated_from,
    } = inputs;
    let addr = &resource.addr;
    let schema = KindSchema::for_kind(addr.kind);
    let mut change = Change {
        addr: addr.clone(),
        mode: resource.mode,
        action: Action::NoOp,
        reason: None,
        before: observed.map(|o| normalized(schema, &o.attrs)),
        after: None,
        field_diffs: Vec::new(),
        drift: None,
        physical_id: observed
            .and_then(|o| o.physical_id.clone())
            .or_else(|| prior.and_then(|p| p.physical_id.clone())),
        dependencies: Vec::new(),
        config: Some(resource.attrs.clone()),
        inputs: BTreeMap::new(),
        takes_over: false,
        manifest_changes: Vec::new(),
        published: resource.published.clone(),
    };

    if resource.mode == ResourceMode::Lookup {
        change.action = Action::Read;
        let identity_known = desired.values().all(Value::is_known);
        match observed {
            Some(o) => {
                let mut after = normalized(schema, &o.attrs);
                after.extend(o.outputs.clone());
                change.after = Some(after);
                change.reason = Some("looked up, never changed".into());
            }
            None if !identity_known => {
                let mut after = normalized(schema, &desired);
                for out in schema.outputs {
                    after.entry(out.to_string()).or_insert(Value::Unknown);
                }
                change.after = Some(after);
                change.reason =
                    Some("looked up during apply: its identity is known only after apply".into());
            }
            None => return Err(EngineError::LookupNotFound(addr.clone())),
        }
        return Ok(change);
    }

    let Some(observed) = observed else {
        change.action = Action::Create;
        change.field_diffs = diff_create(schema, &desired);
        change.after = Some(after_create(schema, &desired));
        if prior.is_some() {
            change.reason = Some("deleted outside stackplan; it will be created again".into());
            change.drift = Some(Drift {
                deleted: true,
                fields: Vec::new(),
            });
        } else if schema.exists_before_stack() {
            // Made by the cluster, not by apply: the create only sets the
            // flag the stack asks for on it.
            change.takes_over = true;
            change.reason = Some(
                "made by the cluster, not by stackplan: taking it over once the cluster exists"
                    .into(),
            );
        }
        // A plain create needs no reason: the action says it all.
        return Ok(change);
    };

    let mut diff = diff_existing(
        schema,
        &desired,
        &current,
        prior.map(|p| &p.attributes),
        &observed.attrs,
    );
    if !resource.ignore.is_empty() {
        // Owned by something else: neither a change nor drift, and an
        // update for another field sends the live value back as it is.
        let ignored = |path: &str| resource.ignore.iter().any(|i| covers(i, path));
        diff.changes.retain(|d| !ignored(&d.path));
        diff.drift.retain(|d| !ignored(&d.path));
        diff.config_changed.retain(|p| !ignored(p));
        if let Some(config) = change.config.as_mut() {
            for path in &resource.ignore {
                let (attr, rest) = path.split_once('.').unwrap_or((path, ""));
                let live = observed.attrs.get(attr).and_then(|v| {
                    if rest.is_empty() {
                        Some(v)
                    } else {
                        v.get_path(rest)
                    }
                });
                let (Some(live), Some(slot)) = (live, config.get_mut(attr)) else {
                    continue;
                };
                if rest.is_empty() {
                    *slot = live.clone();
                } else {
                    slot.set_path(rest, live.clone());
                }
            }
        }
    }
    change.after = Some(normalized(schema, &desired));
    if !diff.drift.is_empty() {
        change.drift = Some(Drift {
            deleted: false,
            fields: std::mem::take(&mut diff.drift),
        });
    }
    change.field_diffs = std::mem::take(&mut diff.changes);
    if change.field_diffs.is_empty() {
        return Ok(change);
    }

    // Why each changed attribute changes: the stack file, drift being put
    // back, or a value only apply will know.
    let mut from_stack = BTreeSet::new();
    let mut from_drift = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    let mut rotated = BTreeSet::new();
    let mut given_rotated = BTreeSet::new();
    for d in &change.field_diffs {
        let attr = d.attr().to_string();
        let sources = sources_at(&desired, &d.path);
        if prior.is_none() || diff.is_stack_change(&d.path) {
            from_stack.insert(attr);
        } else if d.sensitive && !sources.is_empty() {
            rotated.extend(sources.iter().map(|s| format!("`{s}`")));
        } else if d.sensitive && !rotated_from.is_empty() {
            given_rotated.insert(attr);
        } else if !d.after.is_known() && !d.after.is_sensitive() {
            unknown.insert(attr);
        } else {
            from_drift.insert(attr);
        }
    }
    let mut why = Vec::new();
    if prior.is_none() && schema.exists_before_stack() {
        // The cluster's own class, as on a first apply: not an adoption of
        // something someone else made by mistake.
        change.takes_over = true;
        why.push(format!(
            "made by the cluster, not by stackplan: taking it over ({} differ)",
            quoted(&from_stack)
        ));
    } else if prior.is_none() {
        change.takes_over = true;
        why.push(format!(
            "found live but not in state: adopting it ({} differ)",
            quoted(&from_stack)
        ));
    } else if !from_stack.is_empty() {
        why.push(format!("{} changed in the stack", quoted(&from_stack)));
    }
    if !rotated.is_empty() {
        why.push(format!(
            "the value behind {} is not what it holds: rotating it",
            rotated.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !given_rotated.is_empty() {
        why.push(format!(
            "{} carry the rotated secret of {}",
            quoted(&given_rotated),
            rotated_from
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !from_drift.is_empty() {
        why.push(format!(
            "{} changed outside stackplan: restoring the stack's value",
            quoted(&from_drift)
        ));
    }
    if !unknown.is_empty() {
        why.push(format!(
            "{} depend on values known only after apply",
            quoted(&unknown)
        ));
    }
    change.reason = Some(why.join("; "));
    // Update or replace is decided once the provider has refined the
    // diff (see `reclassify`).
    change.action = Action::Update;
    Ok(change)
}

/// Picks update or replace from the field diffs (after a provider may have
/// refined them) and names the fields that force a replacement.
fn reclassify(change: &mut Change) {
    let forcing: BTreeSet<String> = change
        .field_diffs
        .iter()
        .filter(|d| d.force_new)
        .map(|d| d.attr().to_string())
        .collect();
    if change.field_diffs.is_empty() {
        change.action = Action::NoOp;
        change.reason = None;
        return;
    }
    if forcing.is_empty() {
        change.action = Action::Update;
        return;
    }
    let schema = KindSchema::for_kind(change.addr.kind);
    // A unique name that changes frees the old name's slot: the new copy
    // can be created first even for kinds that are otherwise
    // destroy-before-create.
    let renamed = schema.unique_name.is_some_and(|n| forcing.contains(n));
    let order = if renamed {
        ReplaceOrder::CreateBeforeDestroy
    } else {
        schema.replace
    };
    let mut reason = format!("{} cannot be changed in place", quoted(&forcing));
    if change.addr.kind == stackplan_core::ResourceKind::EksNodegroup
        && order == ReplaceOrder::CreateBeforeDestroy
        && !renamed
    {
        // EKS cannot change a node group's instances in place; the pods
        // move to a new one before the old one drains.
        reason.push_str(
            ": blue/green, a new node group (its name suffixed) is created next to the old one, \
             which is deleted once the new one is ready, so the workloads never have zero nodes",
        );
    }
    let context = change.reason.take();
    change.reason = Some(match context {
        Some(c) if !c.is_empty() => format!("{reason} ({c})"),
        _ => reason.clone(),
    });
    change.action = Action::Replace { reason, order };
}

/// What a computed plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A plan to apply: a change a provider refuses is an error.
    Plan,
    /// Drift only: what changed live is reported whatever the stack asks.
    Drift,
}

/// A replacement asked for with `--replace`: of what exists, in the
/// kind's own order.
fn force_replace(change: &mut Change) {
    if change.before.is_none() || change.mode != ResourceMode::Managed {
        return;
    }
    if change.action == Action::NoOp {
        change.reason = None;
    }
    let order = KindSchema::for_kind(change.addr.kind).replace;
    replace_because(
        change,
        "replacement asked for with --replace".to_string(),
        order,
    );
}

/// Makes `change` a replacement for `reason`, said before whatever else
/// its reason already says.
fn replace_because(change: &mut Change, reason: String, order: ReplaceOrder) {
    change.reason = Some(match change.reason.take() {
        Some(r) if !r.is_empty() => format!("{reason}; {r}"),
        _ => reason.clone(),
    });
    change.action = Action::Replace { reason, order };
}

/// Limits a plan to `--target`s and what they depend on, less
/// `--exclude`s and what depends on them. Deposed copies follow their
/// address.
fn select(selection: &Selection, changes: &mut Vec<Change>, deposed: &mut Vec<Change>) {
    if !selection.is_partial() {
        return;
    }
    let deps: BTreeMap<&ResourceAddr, &Vec<ResourceAddr>> =
        changes.iter().map(|c| (&c.addr, &c.dependencies)).collect();
    let closure = |start: &[ResourceAddr], next: &dyn Fn(&ResourceAddr) -> Vec<ResourceAddr>| {
        let mut seen: BTreeSet<ResourceAddr> = BTreeSet::new();
        let mut todo: Vec<ResourceAddr> = start.to_vec();
        while let Some(a) = todo.pop() {
            if seen.insert(a.clone()) {
                todo.extend(next(&a));
            }
        }
        seen
    };
    let dependencies = |a: &ResourceAddr| deps.get(a).map(|d| d.to_vec()).unwrap_or_default();
    let dependents = |a: &ResourceAddr| {
        deps.iter()
            .filter(|(_, d)| d.contains(a))
            .map(|(c, _)| (*c).clone())
            .collect()
    };
    let kept: Option<BTreeSet<ResourceAddr>> =
        (!selection.targets.is_empty()).then(|| closure(&selection.targets, &dependencies));
    let dropped = closure(&selection.excludes, &dependents);
    let keep =
        |a: &ResourceAddr| kept.as_ref().is_none_or(|k| k.contains(a)) && !dropped.contains(a);
    changes.retain(|c| keep(&c.addr));
    deposed.retain(|c| keep(&c.addr));
}

/// Refuses a `--target`, `--exclude` or `--replace` that names nothing in
/// the stack or its state, with the closest address as a hint.
fn check_selection(
    selection: &Selection,
    resources: &[Resource],
    state: Option<&StateDocument>,
) -> Result<(), EngineError> {
    let known: BTreeSet<&ResourceAddr> = resources
        .iter()
        .map(|r| &r.addr)
        .chain(
            state
                .into_iter()
                .flat_map(|s| s.resources.iter().map(|r| &r.addr)),
        )
        .collect();
    for (flag, addrs) in [
        ("--target", &selection.targets),
        ("--exclude", &selection.excludes),
        ("--replace", &selection.replace),
    ] {
        for a in addrs {
            if known.contains(a) {
                continue;
            }
            let closest = crate::import::nearest_addr(&a.to_string(), known.iter().copied())
                .map(|n| n.to_string());
            return Err(EngineError::UnknownSelection {
                flag,
                addr: a.to_string(),
                hint: closest,
            });
        }
    }
    Ok(())
}

/// Drops the drift a provider says its API ignores, as it drops such
/// changes (a node group replaced blue/green lives under its name with a
/// suffix: not drift from the name last applied). The provider sees each
/// drift field as a change would show it: live before, applied after.
fn drop_ignored_drift(
    provider: &dyn stackplan_core::Provider,
    change: &mut Change,
) -> Result<(), EngineError> {
    let Some(drift) = change.drift.as_mut().filter(|d| !d.fields.is_empty()) else {
        return Ok(());
    };
    let mut as_changes: Vec<stackplan_core::FieldDiff> = drift
        .fields
        .iter()
        .map(|d| stackplan_core::FieldDiff {
            before: d.after.clone(),
            after: d.before.clone(),
            ..d.clone()
        })
        .collect();
    provider
        .plan_change(&change.addr, &mut as_changes)
        .map_err(|source| EngineError::Provider {
            addr: change.addr.clone(),
            source,
        })?;
    let kept: BTreeSet<&str> = as_changes.iter().map(|d| d.path.as_str()).collect();
    drift.fields.retain(|d| kept.contains(d.path.as_str()));
    if !drift.deleted && drift.fields.is_empty() {
        change.drift = None;
    }
    Ok(())
}

/// Replaces a live resource whose force-new attribute refers to
/// something being replaced, even when the value it reads stays the same
/// (a node group names its cluster, and the cluster is replaced under the
/// same name): it belongs to the old copy and goes with it.
fn follow_replaced_parent(
    change: &mut Change,
    resource: &Resource,
    planned: &BTreeMap<ResourceAddr, Planned>,
) {
    if resource.mode != ResourceMode::Managed
        || !matches!(change.action, Action::NoOp | Action::Update)
        || change.before.is_none()
    {
        return;
    }
    let schema = KindSchema::for_kind(resource.addr.kind);
    let mut parents = BTreeSet::new();
    for (name, value) in &resource.attrs {
        if !schema.attr(name).force_new {
            continue;
        }
        for r in value.refs() {
            if planned.get(&r.addr).is_some_and(|p| p.replaced) {
                parents.insert(format!("`{name}` refers to `{}`", r.addr));
            }
        }
    }
    if parents.is_empty() {
        return;
    }
    let reason = format!(
        "{}, which is replaced",
        parents.into_iter().collect::<Vec<_>>().join(", ")
    );
    replace_because(change, reason, schema.replace);
}

/// A tainted resource (its create did not finish): waited for again
/// while its API still says it is being created, else replaced. One gone
/// live is already planned as a create.
fn plan_tainted(change: &mut Change, observed: Option<&stackplan_core::Observed>) {
    let Some(o) = observed else {
        return;
    };
    let creating = ["status", "state"].iter().any(|k| {
        o.outputs
            .get(*k)
            .or_else(|| o.attrs.get(*k))
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("CREATING"))
    });
    if creating {
        change.action = Action::Update;
        change.field_diffs.clear();
        change.reason = Some(
            "its create did not finish and it is still being created: waiting for it again".into(),
        );
    } else {
        let reason = "its create did not finish (tainted)".to_string();
        change.reason = Some(format!("{reason}: replacing it"));
        change.action = Action::Replace {
            reason,
            order: KindSchema::for_kind(change.addr.kind).replace,
        };
    }
}

/// The attributes of a new resource: desired, then outputs as unknown.
fn after_create(schema: &KindSchema, desired: &Attrs) -> Attrs {
    let mut after = normalized(schema, desired);
    for out in schema.outputs {
        after.entry(out.to_string()).or_insert(Value::Unknown);
    }
    after
}

/// Refuses destroying what the stack protects: `prevent_destroy` always,
/// stateful kinds unless `--allow-destroy`. Every refusal is named at once.
pub fn check_guards(
    plan: &Plan,
    resources: &[Resource],
    allow_destroy: bool,
) -> Result<(), EngineError> {
    let protected: BTreeSet<&ResourceAddr> = resources
        .iter()
        .filter(|r| r.prevent_destroy)
        .map(|r| &r.addr)
        .collect();
    let mut refusals = Vec::new();
    for c in plan.changes.iter().chain(&plan.deposed) {
        if !c.action.destroys() {
            continue;
        }
        let what = match &c.action {
            Action::Replace { reason, .. } => format!("replace `{}` ({reason})", c.addr),
            _ => format!(
                "delete `{}` ({})",
                c.addr,
                c.reason.as_deref().unwrap_or("")
            ),
        };
        if protected.contains(&c.addr) {
            refusals.push(format!(
                "{what}: it has prevent_destroy = true in the stack"
            ));
        } else if c.addr.kind.is_stateful() && !allow_destroy {
            refusals.push(format!(
                "{what}: a {} holds data; pass --allow-destroy to allow it",
                c.addr.kind
            ));
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(EngineError::DestroyRefused { refusals })
    }
}

/// A fingerprint of what refresh saw of one resource.
fn fingerprint(addr: &ResourceAddr, seen: Option<&stackplan_core::Observed>) -> String {
    let Some(o) = seen else {
        return "absent".to_string();
    };
    let schema = KindSchema::for_kind(addr.kind);
    let encode = |attrs: &Attrs| -> serde_json::Value {
        serde_json::Value::Object(
            attrs
                .iter()
                .map(|(k, v)| (k.clone(), encode_state_value(v)))
                .collect(),
        )
    };
    let doc = serde_json::json!({
        "id": o.physical_id,
        "attrs": encode(&normalized(schema, &o.attrs)),
        "outputs": encode(&o.outputs),
    });
    sha256_hex(doc.to_string().as_bytes())
}

fn basis(req: PlanRequest<'_>, live: &LiveView) -> PlanBasis {
    let per: BTreeMap<ResourceAddr, String> = live
        .iter()
        .map(|(a, o)| (a.clone(), fingerprint(a, o.as_ref())))
        .collect();
    let mut all = String::new();
    for (a, f) in &per {
        all.push_str(&format!("{a}={f}\n"));
    }
    PlanBasis {
        stack_sha256: req.stack_sha256.to_string(),
        state_lineage: req.state.map(|s| s.lineage.clone()),
        state_serial: req.state.map(|s| s.serial).unwrap_or(0),
        live_fingerprint: sha256_hex(all.as_bytes()),
        live: per,
        // Where the plan points beyond the engine's view: the caller
        // (the CLI) records the account, region, state and cluster.
        ..PlanBasis::default()
    }
}

/// Compares a saved plan's basis with the current one and names every
/// difference: the stack file, the state, each resource changed live.
pub fn check_saved_plan(saved: &Plan, current: &PlanBasis) -> Result<(), EngineError> {
    let was = &saved.basis;
    let mut reasons = Vec::new();
    if saved.format_version != PLAN_FORMAT_VERSION {
        reasons.push(format!(
            "the plan has format_version {}, this build reads {PLAN_FORMAT_VERSION}",
            saved.format_version
        ));
    }
    // The account is known only to a caller that asked AWS; a plan made
    // in one account never applies in another.
    if let (Some(was_in), Some(now_in)) = (&was.account, &current.account)
        && was_in != now_in
    {
        reasons.push(format!(
            "the plan was made in AWS account {was_in}, but these credentials are for account {now_in}"
        ));
    }
    if let (Some(was_in), Some(now_in)) = (&was.region, &current.region)
        && was_in != now_in
    {
        reasons.push(format!(
            "the plan was made in region {was_in}, but this run acts in {now_in}"
        ));
    }
    if was.stack_sha256 != current.stack_sha256 {
        reasons.push("the stack file changed since the plan was made".to_string());
    }
    if was.state_lineage != current.state_lineage {
        reasons.push(format!(
            "the state lineage is {} but the plan was made against {}",
            current.state_lineage.as_deref().unwrap_or("(no state)"),
            was.state_lineage.as_deref().unwrap_or("(no state)")
        ));
    } else if was.state_serial != current.state_serial {
        reasons.push(format!(
            "the state serial is {} but the plan was made at serial {}",
            current.state_serial, was.state_serial
        ));
    }
    if was.live_fingerprint != current.live_fingerprint {
        let addrs: BTreeSet<&ResourceAddr> = was.live.keys().chain(current.live.keys()).collect();
        let changed: Vec<String> = addrs
            .into_iter()
            .filter(|a| was.live.get(*a) != current.live.get(*a))
            .map(|a| format!("`{a}`"))
            .collect();
        reasons.push(if changed.is_empty() {
            "the live state changed since the plan was made".to_string()
        } else {
            format!(
                "the live state of {} changed since the plan was made",
                changed.join(", ")
            )
        });
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(EngineError::StalePlan { reasons })
    }
}

/// Refuses a saved plan unless `fresh`, the plan computed again now from
/// the stack, state and live resources it names, is the same plan: the
/// same basis and, resource by resource, the same changes. A saved plan
/// edited after review (a node group's size rewritten, a no-op turned into
/// a delete) is refused naming each resource that differs, so only what
/// was reviewed is ever applied. Sensitive values compare as the masked
/// `(sensitive)` both plans hold: their content is in neither file.
pub fn check_saved_changes(saved: &Plan, fresh: &Plan) -> Result<(), EngineError> {
    check_saved_plan(saved, &fresh.basis)?;
    let canonical = |plan: &Plan| -> BTreeMap<ResourceAddr, serde_json::Value> {
        plan.changes
            .iter()
            .map(|c| {
                let mut json = serde_json::to_value(c).expect("a change always serializes");
                // The objects a release change alters are what its values
                // do, shown for review: the CLI derives them from the
                // change (rendering the chart), and apply uses only the
                // values, so they are not what is compared.
                if let Some(m) = json.as_object_mut() {
                    m.remove("manifest_changes");
                }
                (c.addr.clone(), json)
            })
            .collect()
    };
    let (was, now) = (canonical(saved), canonical(fresh));
    let addrs: BTreeSet<&ResourceAddr> = was.keys().chain(now.keys()).collect();
    let mut reasons = Vec::new();
    for a in addrs {
        match (was.get(a), now.get(a)) {
            (Some(w), Some(n)) if w == n => {}
            (Some(_), None) => reasons.push(format!(
                "the saved plan has a change for `{a}`, which the stack and state do not have"
            )),
            (None, Some(_)) => reasons.push(format!("the saved plan leaves out `{a}`")),
            (Some(w), Some(n)) => {
                let fields = differing_fields(w, n);
                reasons.push(format!(
                    "the saved change of `{a}` is not what the stack, state and live resources give{}",
                    if fields.is_empty() {
                        String::new()
                    } else {
                        format!(" (differs in {})", fields.join(", "))
                    }
                ));
            }
            (None, None) => {}
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        reasons.insert(
            0,
            "the saved plan was edited after it was made, or was made by another build".into(),
        );
        Err(EngineError::StalePlan { reasons })
    }
}

/// The top-level parts of two serialized changes that differ (`action`,
/// `field_diffs`, ...), sorted.
fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}`"))
        .collect()
}
