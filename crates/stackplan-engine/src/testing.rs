//! Test doubles: providers built from closures, in the manner of Pulumi's
//! `deploytest.Provider{CreateF, ReadF, ...}`, and [`FakeCloud`], an
//! in-memory "live" world behind such a provider.
//!
//! Public so that the CLI's, the renderers' and the benchmark's tests use
//! the same doubles as the engine's own. The doubles do no IO; [`apply_ok`]
//! is the plain apply of the provider tests against the emulators.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use stackplan_core::{
    ApplyRequest, Attrs, BoxFuture, DeleteRequest, FieldDiff, Finding, KindSchema, LockInfo,
    Observed, OutputRef, Provider, ProviderError, ProviderResult, ReadRequest, Resource,
    ResourceAddr, ResourceKind, ResourceMode, ResourceState, StateDocument, StateError, StateStore,
    Value,
};

use crate::ResourceGraph;
use crate::seal::seal_attrs;

pub type ReadFn = Arc<
    dyn for<'a> Fn(ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>>
        + Send
        + Sync,
>;
pub type ApplyFn = Arc<dyn Fn(ApplyRequest<'_>) -> ProviderResult<Observed> + Send + Sync>;
/// A wait: given the request and what the create or update returned.
pub type WaitFn = Arc<dyn Fn(ApplyRequest<'_>, Observed) -> ProviderResult<Observed> + Send + Sync>;
pub type DeleteFn = Arc<dyn Fn(DeleteRequest<'_>) -> ProviderResult<()> + Send + Sync>;
pub type PlanChangeFn =
    Arc<dyn Fn(&ResourceAddr, &mut Vec<FieldDiff>) -> ProviderResult<()> + Send + Sync>;
pub type PreflightFn = Arc<dyn Fn(&[&Resource]) -> ProviderResult<Vec<Finding>> + Send + Sync>;

/// A provider whose every method is a closure; an unset closure reads
/// nothing and refuses to change anything.
#[derive(Clone, Default)]
pub struct FakeProvider {
    /// Kinds served; empty means every kind.
    pub kinds: Vec<ResourceKind>,
    pub read_f: Option<ReadFn>,
    pub create_f: Option<ApplyFn>,
    pub update_f: Option<ApplyFn>,
    pub delete_f: Option<DeleteFn>,
    pub wait_f: Option<WaitFn>,
    pub plan_change_f: Option<PlanChangeFn>,
    pub preflight_f: Option<PreflightFn>,
}

impl fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeProvider")
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl FakeProvider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn for_kinds(mut self, kinds: &[ResourceKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// A synchronous read.
    pub fn read(
        mut self,
        f: impl Fn(ReadRequest<'_>) -> ProviderResult<Option<Observed>> + Send + Sync + 'static,
    ) -> Self {
        let f = Arc::new(f);
        self.read_f = Some(Arc::new(move |req| {
            let out = f(req);
            Box::pin(async move { out })
        }));
        self
    }

    /// A read that awaits (to test concurrency).
    pub fn read_async(
        mut self,
        f: impl for<'a> Fn(ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.read_f = Some(Arc::new(f));
        self
    }

    pub fn create(
        mut self,
        f: impl Fn(ApplyRequest<'_>) -> ProviderResult<Observed> + Send + Sync + 'static,
    ) -> Self {
        self.create_f = Some(Arc::new(f));
        self
    }

    pub fn update(
        mut self,
        f: impl Fn(ApplyRequest<'_>) -> ProviderResult<Observed> + Send + Sync + 'static,
    ) -> Self {
        self.update_f = Some(Arc::new(f));
        self
    }

    pub fn delete(
        mut self,
        f: impl Fn(DeleteRequest<'_>) -> ProviderResult<()> + Send + Sync + 'static,
    ) -> Self {
        self.delete_f = Some(Arc::new(f));
        self
    }

    pub fn wait(
        mut self,
        f: impl Fn(ApplyRequest<'_>, Observed) -> ProviderResult<Observed> + Send + Sync + 'static,
    ) -> Self {
        self.wait_f = Some(Arc::new(f));
        self
    }

    pub fn plan_change(
        mut self,
        f: impl Fn(&ResourceAddr, &mut Vec<FieldDiff>) -> ProviderResult<()> + Send + Sync + 'static,
    ) -> Self {
        self.plan_change_f = Some(Arc::new(f));
        self
    }

    pub fn preflight(
        mut self,
        f: impl Fn(&[&Resource]) -> ProviderResult<Vec<Finding>> + Send + Sync + 'static,
    ) -> Self {
        self.preflight_f = Some(Arc::new(f));
        self
    }

    pub fn into_arc(self) -> Arc<dyn Provider> {
        Arc::new(self)
    }
}

fn unset(what: &str, addr: &ResourceAddr) -> ProviderError {
    ProviderError::new(format!("fake provider has no {what} for `{addr}`"))
}

impl Provider for FakeProvider {
    fn name(&self) -> &str {
        "fake"
    }

    fn kinds(&self) -> Vec<ResourceKind> {
        if self.kinds.is_empty() {
            ResourceKind::ALL.to_vec()
        } else {
            self.kinds.clone()
        }
    }

    fn read<'a>(&'a self, req: ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        match &self.read_f {
            Some(f) => f(req),
            None => Box::pin(async { Ok(None) }),
        }
    }

    fn create<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        let out = match &self.create_f {
            Some(f) => f(req),
            None => Err(unset("CreateF", req.addr)),
        };
        Box::pin(async move { out })
    }

    fn update<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        let out = match &self.update_f {
            Some(f) => f(req),
            None => Err(unset("UpdateF", req.addr)),
        };
        Box::pin(async move { out })
    }

    fn delete<'a>(&'a self, req: DeleteRequest<'a>) -> BoxFuture<'a, ProviderResult<()>> {
        let out = match &self.delete_f {
            Some(f) => f(req),
            None => Err(unset("DeleteF", req.addr)),
        };
        Box::pin(async move { out })
    }

    fn wait<'a>(
        &'a self,
        req: ApplyRequest<'a>,
        observed: Observed,
    ) -> BoxFuture<'a, ProviderResult<Observed>> {
        let out = match &self.wait_f {
            Some(f) => f(req, observed),
            None => Ok(observed),
        };
        Box::pin(async move { out })
    }

    fn plan_change(&self, addr: &ResourceAddr, diffs: &mut Vec<FieldDiff>) -> ProviderResult<()> {
        match &self.plan_change_f {
            Some(f) => f(addr, diffs),
            None => Ok(()),
        }
    }

    fn preflight<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, ProviderResult<Vec<Finding>>> {
        let out = match &self.preflight_f {
            Some(f) => f(resources),
            None => Ok(Vec::new()),
        };
        Box::pin(async move { out })
    }
}

/// An in-memory world of live resources, with a [`FakeProvider`] over it.
/// Tests change it behind stackplan's back to make drift.
///
/// Every create makes a new copy with the next generation of its
/// address, in its id and in every output (`id-of-s3_bucket.b@2`), and
/// reads, updates and deletes act on the copy whose id they are given:
/// the old and the new copy of a replacement are told apart, as they are
/// live.
#[derive(Debug, Clone, Default)]
pub struct FakeCloud {
    live: Arc<Mutex<World>>,
}

#[derive(Debug, Default)]
struct World {
    /// Per address, its copies, oldest first.
    copies: BTreeMap<ResourceAddr, Vec<Observed>>,
    generations: BTreeMap<ResourceAddr, u64>,
}

impl World {
    /// The copy with `id`, or the newest copy when no id is given.
    fn find(&mut self, addr: &ResourceAddr, id: Option<&str>) -> Option<&mut Observed> {
        let copies = self.copies.get_mut(addr)?;
        match id {
            Some(id) => copies
                .iter_mut()
                .find(|o| o.physical_id.as_deref() == Some(id)),
            None => copies.last_mut(),
        }
    }
}

impl FakeCloud {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outputs a fake create of generation `generation` reports:
    /// `<output>-of-<address>@<generation>`.
    pub fn outputs_for(addr: &ResourceAddr, generation: u64) -> Attrs {
        KindSchema::for_kind(addr.kind)
            .outputs
            .iter()
            .map(|o| {
                (
                    o.to_string(),
                    Value::String(format!("{o}-of-{addr}@{generation}")),
                )
            })
            .collect()
    }

    /// The id of generation `generation` of `addr`.
    pub fn id_for(addr: &ResourceAddr, generation: u64) -> String {
        format!("id-of-{addr}@{generation}")
    }

    /// Makes a new copy of `addr` with the next generation.
    fn make(&self, addr: &ResourceAddr, attrs: Attrs) -> Observed {
        let mut world = self.lock();
        let generation = world.generations.entry(addr.clone()).or_insert(0);
        *generation += 1;
        let obs = Observed {
            physical_id: Some(Self::id_for(addr, *generation)),
            attrs,
            outputs: Self::outputs_for(addr, *generation),
        };
        world
            .copies
            .entry(addr.clone())
            .or_default()
            .push(obs.clone());
        obs
    }

    /// Puts a resource live as it is (a pre-existing VPC for a lookup),
    /// in place of the copy with the same id.
    pub fn insert(&self, addr: ResourceAddr, observed: Observed) {
        let mut world = self.lock();
        let copies = world.copies.entry(addr).or_default();
        copies.retain(|o| o.physical_id != observed.physical_id);
        copies.push(observed);
    }

    /// The newest copy of `addr`.
    pub fn get(&self, addr: &ResourceAddr) -> Option<Observed> {
        self.lock().find(addr, None).cloned()
    }

    /// Every live copy of `addr`, oldest first.
    pub fn copies(&self, addr: &ResourceAddr) -> Vec<Observed> {
        self.lock().copies.get(addr).cloned().unwrap_or_default()
    }

    /// Changes one live attribute of the newest copy: drift.
    pub fn set_attr(&self, addr: &ResourceAddr, attr: &str, value: Value) {
        if let Some(o) = self.lock().find(addr, None) {
            o.attrs.insert(attr.to_string(), value);
        }
    }

    /// Deletes every copy of a resource behind stackplan's back.
    pub fn remove(&self, addr: &ResourceAddr) -> Option<Observed> {
        self.lock().copies.remove(addr)?.pop()
    }

    /// Live copies, counting every copy of every address.
    pub fn len(&self) -> usize {
        self.lock().copies.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A provider for every kind over this world.
    pub fn provider(&self) -> FakeProvider {
        let (r, c, u, d) = (self.clone(), self.clone(), self.clone(), self.clone());
        let id_of = |p: Option<&ResourceState>| p.and_then(|p| p.physical_id.clone());
        FakeProvider::new()
            .read(move |req| {
                let id = id_of(req.prior);
                Ok(r.lock().find(req.addr, id.as_deref()).cloned())
            })
            .create(move |req| Ok(c.make(req.addr, req.desired.clone())))
            .update(move |req| {
                let id = id_of(req.prior);
                let mut world = u.lock();
                let obs = world
                    .find(req.addr, id.as_deref())
                    .ok_or_else(|| ProviderError::new(format!("`{}` is gone", req.addr)))?;
                obs.attrs = req.desired.clone();
                Ok(obs.clone())
            })
            .delete(move |req| {
                // By the id state holds, as a real API deletes: never "the
                // resource at this address", which may be the new copy.
                let id = req.prior.physical_id.clone();
                let mut world = d.lock();
                if let Some(copies) = world.copies.get_mut(req.addr) {
                    copies.retain(|o| o.physical_id != id);
                    if copies.is_empty() {
                        world.copies.remove(req.addr);
                    }
                }
                Ok(())
            })
    }

    /// Puts every lookup of `resources` live, as the pre-existing things
    /// they look up (a VPC, its subnets): attributes as the stack gives
    /// them, references resolved from lookups seeded before, and an `id`.
    pub fn seed_lookups(&self, resources: &[Resource]) {
        let graph = ResourceGraph::build(resources).expect("a valid stack");
        let by_addr: BTreeMap<&ResourceAddr, &Resource> =
            resources.iter().map(|r| (&r.addr, r)).collect();
        for addr in graph.topo_order() {
            let r = by_addr[&addr];
            if r.mode != ResourceMode::Lookup {
                continue;
            }
            let lookup = |o: &OutputRef| {
                let obs = self.get(&o.addr)?;
                obs.outputs
                    .get(&o.attr)
                    .or_else(|| obs.attrs.get(&o.attr))
                    .cloned()
            };
            let attrs: Attrs = r
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
                .collect();
            let id = attrs
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("id-of-{addr}"));
            let mut obs = Observed::new(id.clone());
            obs.attrs = attrs;
            obs.outputs = Self::outputs_for(&addr, 1);
            obs.outputs.insert("id".into(), Value::String(id));
            self.insert(addr.clone(), obs);
        }
    }

    /// Creates every managed resource as a clean apply would and returns
    /// the state that apply would write. Lookups must already be live.
    /// Secrets are stored by source, as apply stores them.
    pub fn apply_all(&self, stack: &str, resources: &[Resource]) -> StateDocument {
        let graph = ResourceGraph::build(resources).expect("a valid stack");
        let by_addr: BTreeMap<&ResourceAddr, &Resource> =
            resources.iter().map(|r| (&r.addr, r)).collect();
        let mut doc = StateDocument::new(stack, "00000000-0000-4000-8000-000000000000");
        for addr in graph.topo_order() {
            let r = by_addr[&addr];
            let lookup = |o: &OutputRef| {
                let s = doc.get(&o.addr)?;
                s.outputs
                    .get(&o.attr)
                    .or_else(|| s.attributes.get(&o.attr))
                    .cloned()
            };
            let desired: Attrs = r
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
                .collect();
            let obs = match r.mode {
                ResourceMode::Lookup => self.get(&addr).expect("lookups are seeded live"),
                ResourceMode::Managed => self.make(&addr, desired.clone()),
            };
            let mut s = ResourceState::new(addr.clone(), r.mode);
            s.physical_id = obs.physical_id.clone();
            s.attributes = seal_attrs(&desired);
            s.outputs = seal_attrs(&obs.outputs);
            s.dependencies = graph.dependencies(&addr).into_iter().collect();
            doc.upsert(s);
        }
        doc.serial = 1;
        doc
    }
}

/// State kept in memory, with every document written kept in order: the
/// state store of apply tests, which count and inspect the writes.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    writes: Mutex<Vec<StateDocument>>,
    /// Writes still to refuse (see [`MemoryStateStore::fail_writes`]).
    failing: std::sync::atomic::AtomicUsize,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the next `n` writes, as a backend that is unreachable.
    pub fn fail_writes(&self, n: usize) {
        self.failing.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every document written, oldest first.
    pub fn writes(&self) -> Vec<StateDocument> {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl StateStore for MemoryStateStore {
    fn location(&self) -> String {
        "memory".into()
    }
    fn read(&self) -> BoxFuture<'_, Result<Option<StateDocument>, StateError>> {
        Box::pin(async move { Ok(self.writes().last().cloned()) })
    }
    fn write<'a>(&'a self, doc: &'a StateDocument) -> BoxFuture<'a, Result<u64, StateError>> {
        Box::pin(async move {
            use std::sync::atomic::Ordering::SeqCst;
            if self
                .failing
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StateError::Io {
                    location: "memory".into(),
                    action: "writing".into(),
                    source: std::io::Error::other("the backend is unreachable (test)"),
                });
            }
            let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            let mut d = doc.clone();
            d.serial = writes.last().map_or(doc.serial, |w| w.serial) + 1;
            let serial = d.serial;
            writes.push(d);
            Ok(serial)
        })
    }
    fn lock<'a>(&'a self, _info: &'a LockInfo) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async { Ok(()) })
    }
    fn unlock(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async { Ok(()) })
    }
    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(async { Ok(None) })
    }
    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>> {
        Box::pin(async { Ok(None) })
    }
}

/// Applies `plan` the plain way (default settings, no progress, never
/// stopped), saving into `store`, and panics unless every change succeeded:
/// the apply that provider tests against the emulators run between plans.
pub async fn apply_ok(
    plan: &stackplan_core::Plan,
    registry: &stackplan_core::ProviderRegistry,
    state: &mut StateDocument,
    store: &MemoryStateStore,
) -> crate::ApplyReport {
    let cx = crate::ApplyContext {
        registry,
        store,
        settings: &crate::ApplySettings::default(),
        sink: &crate::NoApplyEvents,
        events: &stackplan_core::NoEvents,
        stop: &crate::StopFlag::new(),
    };
    let report = crate::apply(plan, state, &cx).await.expect("apply runs");
    assert!(report.succeeded(), "{report:#?}");
    report
}
