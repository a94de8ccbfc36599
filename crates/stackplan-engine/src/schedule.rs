//! The order apply runs a plan's operations in, decided from the plan
//! alone and never by dropping an edge.
//!
//! Creates and updates follow the dependencies; deletes run in reverse. A
//! replacement is two operations, a create of the new copy and a delete of
//! the old one, and what uses the resource is ordered around them:
//!
//! - create before destroy: new copy, then every dependent re-pointed to
//!   it (or deleted), then the old copy deleted;
//! - destroy before create: dependents that are replaced or deleted let
//!   go first, the old copy is deleted, the new copy created, and the
//!   dependents that are updated are attached to it after it exists.
//!
//! A dependent replaced create-before-destroy of something replaced
//! destroy-before-create cannot keep its order (its old copy must go
//! before the old producer, its new copy after the new producer):
//! [`settle_replace_orders`] makes it destroy-before-create too, at plan
//! time, and says so in its reason. A cycle that still remains is an
//! error naming the loop, at plan and at apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use stackplan_core::{
    Action, Change, Plan, ReplaceOrder, ResourceAddr, ResourceMode, StateDocument,
};

use crate::EngineError;

/// One step of apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Create,
    Update,
    /// A lookup read again so its outputs reach state.
    Read,
    Delete,
    /// The old copy of a resource replaced in this apply.
    DeleteReplaced,
    /// An old copy an earlier replacement left in state (deposed).
    DeleteDeposed,
}

impl Op {
    /// True for the operations that remove something live.
    pub fn deletes(self) -> bool {
        matches!(self, Op::Delete | Op::DeleteReplaced | Op::DeleteDeposed)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Read => "read",
            Op::Delete => "delete",
            Op::DeleteReplaced => "delete (replaced)",
            Op::DeleteDeposed => "delete (old copy)",
        })
    }
}

/// One operation and what it waits for (indices into the schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub addr: ResourceAddr,
    pub op: Op,
    /// For [`Op::DeleteDeposed`]: the id of the old copy.
    pub deposed: Option<String>,
    pub waits_for: BTreeSet<usize>,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.op)?;
        if let Some(id) = &self.deposed {
            write!(f, " [{id}]")?;
        }
        Ok(())
    }
}

/// Makes every create-before-destroy replacement that uses something
/// replaced destroy-before-create destroy-before-create too, down the
/// chain, and notes in each destroy-before-create reason which updated
/// dependents are attached to the new copy only after it exists.
pub fn settle_replace_orders(changes: &mut [Change]) {
    loop {
        let dbc: BTreeSet<ResourceAddr> = changes
            .iter()
            .filter(|c| is_replace(c, ReplaceOrder::DestroyBeforeCreate))
            .map(|c| c.addr.clone())
            .collect();
        let mut changed = false;
        for c in changes.iter_mut() {
            if !is_replace(c, ReplaceOrder::CreateBeforeDestroy) {
                continue;
            }
            let Some(producer) = c.dependencies.iter().find(|d| dbc.contains(*d)).cloned() else {
                continue;
            };
            if let Action::Replace { order, .. } = &mut c.action {
                *order = ReplaceOrder::DestroyBeforeCreate;
            }
            let note = format!(
                "destroyed before its new copy is created: it uses `{producer}`, whose old \
                 copy must go first"
            );
            append_reason(c, note);
            changed = true;
        }
        if !changed {
            break;
        }
    }
    let attached: BTreeMap<ResourceAddr, Vec<String>> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Update | Action::Create))
        .flat_map(|c| {
            c.dependencies
                .iter()
                .map(move |d| (d.clone(), format!("`{}`", c.addr)))
        })
        .fold(BTreeMap::new(), |mut m, (d, user)| {
            m.entry(d).or_insert_with(Vec::new).push(user);
            m
        });
    for c in changes.iter_mut() {
        if !is_replace(c, ReplaceOrder::DestroyBeforeCreate) {
            continue;
        }
        if let Some(users) = attached.get(&c.addr) {
            let (keeps, moves) = if users.len() == 1 {
                ("keeps", "moves")
            } else {
                ("keep", "move")
            };
            let note = format!(
                "{} {keeps} the old copy until it is deleted and {moves} to the new one once it \
                 exists",
                users.join(", ")
            );
            if !c.reason.as_deref().unwrap_or("").contains(&note) {
                append_reason(c, note);
            }
        }
    }
}

/// Adds `note` after the change's reason.
fn append_reason(c: &mut Change, note: String) {
    c.reason = Some(match c.reason.take() {
        Some(r) if !r.is_empty() => format!("{r}; {note}"),
        _ => note,
    });
}

fn is_replace(c: &Change, want: ReplaceOrder) -> bool {
    matches!(&c.action, Action::Replace { order, .. } if *order == want)
}

/// The operations of `plan` and their order. `state` is what state held
/// when the plan was made: it says what used each resource being deleted.
pub fn schedule(plan: &Plan, state: &StateDocument) -> Result<Vec<Node>, EngineError> {
    let mut nodes: Vec<Node> = Vec::new();
    // Per address: the node that makes it exist as desired, and the node
    // that removes (the old copy of) it.
    let mut ready_at: BTreeMap<&ResourceAddr, usize> = BTreeMap::new();
    let mut gone_at: BTreeMap<&ResourceAddr, usize> = BTreeMap::new();
    let mut deposed_at: BTreeMap<&ResourceAddr, Vec<usize>> = BTreeMap::new();
    let mut push = |addr: &ResourceAddr, op: Op, deposed: Option<String>| {
        nodes.push(Node {
            addr: addr.clone(),
            op,
            deposed,
            waits_for: BTreeSet::new(),
        });
        nodes.len() - 1
    };
    for c in &plan.changes {
        match &c.action {
            Action::Create => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Create, None));
            }
            Action::Update => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Update, None));
            }
            Action::Read => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Read, None));
            }
            Action::Delete => {
                gone_at.insert(&c.addr, push(&c.addr, Op::Delete, None));
            }
            Action::Replace { .. } => {
                ready_at.insert(&c.addr, push(&c.addr, Op::Create, None));
                gone_at.insert(&c.addr, push(&c.addr, Op::DeleteReplaced, None));
            }
            // Found live, equal to the stack, but not in state: an apply
            // killed between the API call and the state write made it.
            // Adopt it (an update that changes nothing) so it reaches state
            // and its outputs reach what references it.
            Action::NoOp
                if c.mode == ResourceMode::Managed
                    && c.physical_id.is_some()
                    && state.get(&c.addr).is_none() =>
            {
                ready_at.insert(&c.addr, push(&c.addr, Op::Update, None));
            }
            Action::NoOp => {}
        }
    }
    for d in &plan.deposed {
        let i = push(&d.addr, Op::DeleteDeposed, d.physical_id.clone());
        deposed_at.entry(&d.addr).or_default().push(i);
    }

    // What used each address: as last applied (state, deposed copies
    // included), and as the plan wants it (dependents re-pointed).
    let mut users: BTreeMap<&ResourceAddr, BTreeSet<&ResourceAddr>> = BTreeMap::new();
    for r in state.resources.iter().chain(&state.deposed) {
        for d in &r.dependencies {
            users.entry(d).or_default().insert(&r.addr);
        }
    }
    for c in &plan.changes {
        for d in &c.dependencies {
            users.entry(d).or_default().insert(&c.addr);
        }
    }
    let plan_deps: BTreeMap<&ResourceAddr, &Vec<ResourceAddr>> = plan
        .changes
        .iter()
        .map(|c| (&c.addr, &c.dependencies))
        .collect();

    let mut edges: Vec<(usize, usize)> = Vec::new();
    for c in &plan.changes {
        let Some(&node) = ready_at.get(&c.addr) else {
            continue;
        };
        // Creates and updates wait for what they consume.
        for dep in &c.dependencies {
            if let Some(&d) = ready_at.get(dep) {
                edges.push((node, d));
            }
        }
        if let (Action::Replace { order, .. }, Some(&old)) = (&c.action, gone_at.get(&c.addr)) {
            match order {
                ReplaceOrder::CreateBeforeDestroy => edges.push((old, node)),
                ReplaceOrder::DestroyBeforeCreate => edges.push((node, old)),
            }
        }
    }
    let dbc: BTreeSet<&ResourceAddr> = plan
        .changes
        .iter()
        .filter(|c| is_replace(c, ReplaceOrder::DestroyBeforeCreate))
        .map(|c| &c.addr)
        .collect();
    let removals = gone_at.iter().map(|(a, i)| (*a, *i)).chain(
        deposed_at
            .iter()
            .flat_map(|(a, is)| is.iter().map(|i| (*a, *i))),
    );
    for (addr, gone) in removals {
        for user in users.get(addr).into_iter().flatten() {
            if *user == addr {
                continue;
            }
            // A user that is deleted or replaced lets go of it first.
            if let Some(&g) = gone_at.get(user) {
                edges.push((gone, g));
            }
            for &g in deposed_at.get(user).into_iter().flatten() {
                edges.push((gone, g));
            }
            // A user that stays is moved to the new copy (or away) first,
            // unless it can only move once the new copy exists: then it
            // keeps the old one until it is gone, and is attached after.
            if let Some(&r) = ready_at.get(user) {
                let attaches_after = nodes[gone].op == Op::DeleteReplaced
                    && dbc.contains(addr)
                    && plan_deps.get(user).is_some_and(|deps| deps.contains(addr));
                if !attaches_after {
                    edges.push((gone, r));
                }
            }
        }
    }
    for (from, to) in edges {
        nodes[from].waits_for.insert(to);
    }
    check_acyclic(&nodes)?;
    Ok(nodes)
}

/// Refuses a schedule with a loop, naming its operations in order. Only
/// a destroy-before-create replacement can close one (its create is the
/// one operation that waits for a delete); the property test below keeps
/// it so.
fn check_acyclic(nodes: &[Node]) -> Result<(), EngineError> {
    // Iterative depth-first search; `on_path` holds the current chain.
    let mut state = vec![0u8; nodes.len()];
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<usize>)> =
            vec![(start, nodes[start].waits_for.iter().copied().collect())];
        state[start] = 1;
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) if state[next] == 0 => {
                    state[next] = 1;
                    stack.push((next, nodes[next].waits_for.iter().copied().collect()));
                }
                Some(next) if state[next] == 1 => {
                    let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..]
                        .iter()
                        .map(|(n, _)| nodes[*n].to_string())
                        .collect();
                    cycle.push(nodes[next].to_string());
                    return Err(EngineError::ScheduleCycle { cycle });
                }
                Some(_) => {}
                None => {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackplan_core::{PlanBasis, PlanOptions, ResourceKind, ResourceState};

    fn addr(kind: ResourceKind, name: &str) -> ResourceAddr {
        ResourceAddr::new(kind, name)
    }

    fn change(a: &ResourceAddr, action: Action, deps: &[&ResourceAddr]) -> Change {
        Change {
            addr: a.clone(),
            mode: ResourceMode::Managed,
            action,
            reason: None,
            before: None,
            after: None,
            field_diffs: Vec::new(),
            drift: None,
            physical_id: Some(format!("{a}-id")),
            dependencies: deps.iter().map(|d| (*d).clone()).collect(),
            config: None,
            inputs: BTreeMap::new(),
            takes_over: false,
            manifest_changes: Vec::new(),
            published: BTreeMap::new(),
        }
    }

    fn replace(order: ReplaceOrder) -> Action {
        Action::Replace {
            reason: "test".into(),
            order,
        }
    }

    fn plan(mut changes: Vec<Change>) -> Plan {
        changes.sort_by(|a, b| a.addr.cmp(&b.addr));
        settle_replace_orders(&mut changes);
        Plan {
            format_version: stackplan_core::PLAN_FORMAT_VERSION,
            stack: "t".into(),
            basis: PlanBasis::default(),
            options: PlanOptions::default(),
            changes,
            deposed: Vec::new(),
            ignored: Vec::new(),
            warnings: Vec::new(),
            cost: None,
        }
    }

    fn state_of(plan: &Plan) -> StateDocument {
        let mut s = StateDocument::new("t", "l");
        for c in &plan.changes {
            if c.action == Action::Create {
                continue;
            }
            let mut r = ResourceState::new(c.addr.clone(), c.mode);
            r.physical_id = c.physical_id.clone();
            r.dependencies = c.dependencies.iter().cloned().collect();
            s.upsert(r);
        }
        s
    }

    /// True when `a` (transitively) waits for `b`.
    fn after(nodes: &[Node], a: (&ResourceAddr, Op), b: (&ResourceAddr, Op)) -> bool {
        let find = |(addr, op): (&ResourceAddr, Op)| {
            nodes
                .iter()
                .position(|n| &n.addr == addr && n.op == op)
                .unwrap_or_else(|| panic!("no {addr} ({op})"))
        };
        let (a, b) = (find(a), find(b));
        let mut seen = BTreeSet::new();
        let mut todo = vec![a];
        while let Some(n) = todo.pop() {
            if n == b {
                return true;
            }
            if seen.insert(n) {
                todo.extend(nodes[n].waits_for.iter().copied());
            }
        }
        false
    }

    #[test]
    fn destroy_before_create_with_an_updated_dependent_attaches_it_to_the_new_copy() {
        // The reported bug: the release waits for the new MSK cluster,
        // whose old copy waited for the release: a cycle, broken by
        // dropping the release's wait, which then used the old copy.
        let msk = addr(ResourceKind::MskCluster, "milvus");
        let rel = addr(ResourceKind::HelmRelease, "milvus");
        let p = plan(vec![
            change(&msk, replace(ReplaceOrder::DestroyBeforeCreate), &[]),
            change(&rel, Action::Update, &[&msk]),
        ]);
        let nodes = schedule(&p, &state_of(&p)).expect("acyclic");
        assert!(after(&nodes, (&rel, Op::Update), (&msk, Op::Create)));
        assert!(after(
            &nodes,
            (&msk, Op::Create),
            (&msk, Op::DeleteReplaced)
        ));
        let reason = p.change(&msk).unwrap().reason.clone().unwrap();
        assert!(
            reason.contains("`helm_release.milvus` keeps the old copy"),
            "{reason}"
        );
    }

    #[test]
    fn create_before_destroy_re_points_dependents_before_the_old_copy_goes() {
        let bucket = addr(ResourceKind::S3Bucket, "milvus");
        let policy = addr(ResourceKind::IamPolicy, "milvus");
        let p = plan(vec![
            change(&bucket, replace(ReplaceOrder::CreateBeforeDestroy), &[]),
            change(&policy, Action::Update, &[&bucket]),
        ]);
        let nodes = schedule(&p, &state_of(&p)).expect("acyclic");
        assert!(after(&nodes, (&policy, Op::Update), (&bucket, Op::Create)));
        assert!(after(
            &nodes,
            (&bucket, Op::DeleteReplaced),
            (&policy, Op::Update)
        ));
    }

    #[test]
    fn a_create_before_destroy_dependent_of_a_destroy_before_create_replacement_is_detached_first()
    {
        let cluster = addr(ResourceKind::EksCluster, "main");
        let ng = addr(ResourceKind::EksNodegroup, "default");
        let p = plan(vec![
            change(&cluster, replace(ReplaceOrder::DestroyBeforeCreate), &[]),
            change(&ng, replace(ReplaceOrder::CreateBeforeDestroy), &[&cluster]),
        ]);
        let ng_change = p.change(&ng).unwrap();
        assert!(
            matches!(
                ng_change.action,
                Action::Replace {
                    order: ReplaceOrder::DestroyBeforeCreate,
                    ..
                }
            ),
            "{:?}",
            ng_change.action
        );
        assert!(
            ng_change
                .reason
                .as_deref()
                .unwrap()
                .contains("uses `eks_cluster.main`")
        );
        let nodes = schedule(&p, &state_of(&p)).expect("acyclic");
        assert!(after(
            &nodes,
            (&cluster, Op::DeleteReplaced),
            (&ng, Op::DeleteReplaced)
        ));
        assert!(after(&nodes, (&ng, Op::Create), (&cluster, Op::Create)));
    }

    #[test]
    fn a_deposed_copy_is_deleted_after_its_users_moved_to_the_current_one() {
        let bucket = addr(ResourceKind::S3Bucket, "milvus");
        let policy = addr(ResourceKind::IamPolicy, "milvus");
        let mut p = plan(vec![change(&policy, Action::Update, &[&bucket])]);
        let mut old = change(&bucket, Action::Delete, &[]);
        old.physical_id = Some("old-bucket".into());
        p.deposed.push(old);
        let nodes = schedule(&p, &state_of(&p)).expect("acyclic");
        let gone = nodes.iter().find(|n| n.op == Op::DeleteDeposed).unwrap();
        assert_eq!(gone.deposed.as_deref(), Some("old-bucket"));
        assert!(after(
            &nodes,
            (&bucket, Op::DeleteDeposed),
            (&policy, Op::Update)
        ));
    }

    #[test]
    fn a_loop_is_an_error_naming_each_operation() {
        let a = addr(ResourceKind::IamRole, "a");
        let b = addr(ResourceKind::IamRole, "b");
        let p = plan(vec![
            change(&a, Action::Update, &[&b]),
            change(&b, Action::Update, &[&a]),
        ]);
        let err = schedule(&p, &state_of(&p)).unwrap_err().to_string();
        assert!(err.contains("iam_role.a (update)"), "{err}");
        assert!(err.contains("iam_role.b (update)"), "{err}");
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Per resource: its action (0 create, 1 update, 2 replace CBD,
        /// 3 replace DBC, 4 delete, 5 no-op) and, as a bit mask over the
        /// resources before it, what it uses (so the stack is acyclic).
        fn graphs() -> impl Strategy<Value = Vec<(u8, u32)>> {
            prop::collection::vec((0u8..6, any::<u32>()), 1..14)
        }

        /// Plans `spec`, schedules it and checks the schedule keeps every
        /// dependency; with `dbc` false no replacement destroys first, and
        /// no loop is allowed at all.
        fn check(spec: &[(u8, u32)], dbc: bool) -> Result<(), TestCaseError> {
            let addrs: Vec<ResourceAddr> = (0..spec.len())
                .map(|i| addr(ResourceKind::IamRole, &format!("r{i:02}")))
                .collect();
            let mut changes = Vec::new();
            for (i, (action, mask)) in spec.iter().enumerate() {
                let deps: Vec<&ResourceAddr> = (0..i)
                    .filter(|j| mask & (1 << j) != 0)
                    .map(|j| &addrs[j])
                    .collect();
                let action = match action {
                    0 => Action::Create,
                    1 => Action::Update,
                    2 => replace(ReplaceOrder::CreateBeforeDestroy),
                    3 if dbc => replace(ReplaceOrder::DestroyBeforeCreate),
                    3 => replace(ReplaceOrder::CreateBeforeDestroy),
                    4 => Action::Delete,
                    _ => Action::NoOp,
                };
                changes.push(change(&addrs[i], action, &deps));
            }
            // A deleted resource is gone from the stack: nothing in
            // the stack uses it any more (state still says who did).
            let deleted: BTreeSet<ResourceAddr> = changes
                .iter()
                .filter(|c| c.action == Action::Delete)
                .map(|c| c.addr.clone())
                .collect();
            let state_changes = changes.clone();
            for c in &mut changes {
                c.dependencies.retain(|d| !deleted.contains(d));
            }
            // Nothing the stack keeps uses something only in state.
            let p = plan(changes);
            let mut state = StateDocument::new("t", "l");
            for c in &state_changes {
                if c.action == Action::Create {
                    continue;
                }
                let mut r = ResourceState::new(c.addr.clone(), c.mode);
                r.physical_id = c.physical_id.clone();
                r.dependencies = c
                    .dependencies
                    .iter()
                    .filter(|d| {
                        state_changes
                            .iter()
                            .any(|s| &s.addr == *d && s.action != Action::Create)
                    })
                    .cloned()
                    .collect();
                state.upsert(r);
            }
            let nodes = match schedule(&p, &state) {
                Ok(nodes) => nodes,
                // Only a destroy-before-create replacement can make a
                // loop (its create waits for a delete): a user that must
                // let go of something deleted before the old copy goes,
                // and attach to the new copy, in one update. Every
                // other loop is a bug.
                Err(EngineError::ScheduleCycle { cycle }) => {
                    let dbc_in_loop = p.changes.iter().any(|c| {
                        is_replace(c, ReplaceOrder::DestroyBeforeCreate)
                            && cycle.contains(&format!("{} (delete (replaced))", c.addr))
                    });
                    prop_assert!(
                        dbc && dbc_in_loop,
                        "a loop without a destroy-before-create replacement: {cycle:?}"
                    );
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            // Every create or update runs after what it uses is ready.
            for c in &p.changes {
                let Some(me) = nodes.iter().find(|n| n.addr == c.addr && !n.op.deletes()) else {
                    continue;
                };
                for d in &c.dependencies {
                    if let Some(dep) = nodes.iter().find(|n| &n.addr == d && !n.op.deletes()) {
                        prop_assert!(
                            after(&nodes, (&me.addr, me.op), (&dep.addr, dep.op)),
                            "{} must wait for {}",
                            me,
                            dep
                        );
                    }
                }
            }
            // Every delete runs after each user in state let go of it:
            // the user's own delete, or its move off the old copy,
            // unless it is attached to a destroy-before-create copy.
            for gone in nodes.iter().filter(|n| n.op.deletes()) {
                for user in state
                    .resources
                    .iter()
                    .filter(|r| r.dependencies.contains(&gone.addr))
                {
                    if let Some(g) = nodes.iter().find(|n| n.addr == user.addr && n.op.deletes()) {
                        prop_assert!(
                            after(&nodes, (&gone.addr, gone.op), (&g.addr, g.op)),
                            "{} must wait for {}",
                            gone,
                            g
                        );
                    }
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            #[test]
            fn random_graphs_and_replace_orders_give_an_acyclic_schedule_that_keeps_every_dependency(
                spec in graphs()
            ) {
                check(&spec, true)?;
            }

            #[test]
            fn without_destroy_before_create_no_plan_has_a_loop(spec in graphs()) {
                check(&spec, false)?;
            }
        }
    }
}
