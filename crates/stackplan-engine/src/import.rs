//! Import: a live resource made outside stackplan taken into state at an
//! address of the stack, by its id, read through the same provider read
//! refresh uses.
//!
//! The entry records what was read live (sealed: state keeps no secret)
//! as its last applied attributes, and the stack's dependencies of the
//! address; the next plan then shows, as changes made in the stack, what
//! differs from the stack. Nothing is changed live.
//!
//! Refused, each with its reason: an address the stack does not have, or
//! of a kind that is not imported; an address state already records; an
//! id state records at another address; an id that is not found live; an
//! id that names a resource of another kind; a resource tagged as another
//! stack's.

use std::collections::BTreeMap;

use stackplan_core::{
    KindSchema, NoEvents, Observed, OutputRef, ProviderError, ProviderRegistry, ReadRequest,
    Resource, ResourceAddr, ResourceKind, ResourceMode, ResourceState, StateDocument, Value,
};

use crate::refresh::{LiveView, known_output, resolve_attrs};
use crate::seal::seal_attrs;
use crate::{EngineError, ResourceGraph};

/// The kinds `import` adopts: the long-lived resources someone may have
/// made by hand before using stackplan.
pub const IMPORTABLE_KINDS: &[ResourceKind] = &[
    ResourceKind::EksCluster,
    ResourceKind::EksNodegroup,
    ResourceKind::S3Bucket,
    ResourceKind::MskCluster,
    ResourceKind::IamRole,
    ResourceKind::HelmRelease,
];

/// The tag every AWS resource of a stack carries with the stack's name
/// (the planner's ownership check reads the same one).
pub(crate) const OWNER_TAG: &str = "stackplan:stack";

/// What one import is made from.
#[derive(Debug, Clone, Copy)]
pub struct ImportRequest<'a> {
    /// The stack's name (`[stack] name`).
    pub stack: &'a str,
    pub resources: &'a [Resource],
    pub state: Option<&'a StateDocument>,
    /// Where in the stack the resource goes.
    pub addr: &'a ResourceAddr,
    /// Its id or name, as its kind's provider reads it.
    pub id: &'a str,
}

pub(crate) fn suggestion(nearest: &Option<ResourceAddr>) -> String {
    nearest
        .as_ref()
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

pub(crate) fn importable() -> String {
    IMPORTABLE_KINDS
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The address among `known` nearest to `wanted` as typed, when one is
/// near enough to be what was meant.
pub fn nearest_addr<'a>(
    wanted: &str,
    known: impl IntoIterator<Item = &'a ResourceAddr>,
) -> Option<ResourceAddr> {
    let wanted_lower = wanted.to_lowercase();
    known
        .into_iter()
        .map(|a| (strsim::levenshtein(&a.to_string(), &wanted_lower), a))
        .filter(|(d, _)| *d <= wanted.chars().count() / 3 + 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// Reads the resource `req.id` names live and returns its state entry for
/// `req.addr`, or why it cannot be imported. Reads only; the caller
/// writes the entry under the state lock.
pub async fn import_resource(
    registry: &ProviderRegistry,
    req: ImportRequest<'_>,
) -> Result<ResourceState, EngineError> {
    let addr = req.addr;
    let Some(resource) = req.resources.iter().find(|r| &r.addr == addr) else {
        return Err(EngineError::ImportNotInStack {
            addr: addr.to_string(),
            nearest: nearest_addr(&addr.to_string(), req.resources.iter().map(|r| &r.addr)),
        });
    };
    if resource.mode != ResourceMode::Managed {
        return Err(EngineError::ImportLookedUp { addr: addr.clone() });
    }
    if !IMPORTABLE_KINDS.contains(&addr.kind) {
        return Err(EngineError::ImportNotImportable {
            addr: addr.clone(),
            kind: addr.kind,
        });
    }
    if let Some(prior) = req.state.and_then(|s| s.get(addr)) {
        return Err(EngineError::ImportAlreadyInState {
            addr: addr.clone(),
            id: prior.physical_id.clone(),
        });
    }
    managed_elsewhere(req.state, addr.kind, req.id)?;

    // The stack's attributes, resolved from state as refresh would before
    // anything is read: a provider reads some by the stack's shape (which
    // Helm values are secret).
    let empty = LiveView::new();
    let desired = resolve_attrs(&resource.attrs, &|o: &OutputRef| {
        known_output(o, &empty, req.state)
    });
    let read = match canonical_id(registry, addr, req.id).await {
        Ok(Some(id)) => read_by_id(registry, addr, &id, Some(&desired)).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let observed = match read {
        Ok(Some(o)) => o,
        Ok(None) => {
            return Err(match other_kind(registry, addr.kind, req.id).await {
                Some(found) => EngineError::ImportWrongKind {
                    id: req.id.to_string(),
                    wanted: addr.kind,
                    found,
                },
                None => EngineError::ImportNotFound {
                    kind: addr.kind,
                    id: req.id.to_string(),
                },
            });
        }
        Err(ReadFailure::NoProvider) => {
            return Err(EngineError::NoProvider {
                kind: addr.kind,
                addr: addr.clone(),
            });
        }
        // An id of another kind's shape may fail the read outright (an
        // MSK call given a bucket name): say what it is when it is
        // something else.
        Err(ReadFailure::Provider(source)) => {
            return Err(match other_kind(registry, addr.kind, req.id).await {
                Some(found) => EngineError::ImportWrongKind {
                    id: req.id.to_string(),
                    wanted: addr.kind,
                    found,
                },
                None => EngineError::ImportRead {
                    kind: addr.kind,
                    id: req.id.to_string(),
                    source,
                },
            });
        }
    };
    let physical_id = observed
        .physical_id
        .clone()
        .unwrap_or_else(|| req.id.to_string());
    // The id the API answers with may be another spelling of the one
    // given (a name for an ARN): it is checked too.
    if physical_id != req.id {
        managed_elsewhere(req.state, addr.kind, &physical_id)?;
    }
    if let Some(owner) = observed
        .attrs
        .get("tags")
        .and_then(|t| t.get_path(OWNER_TAG))
        .and_then(Value::as_str)
        .filter(|o| *o != req.stack)
    {
        return Err(EngineError::ImportOwnedByAnotherStack {
            kind: addr.kind,
            id: physical_id,
            owner: owner.to_string(),
        });
    }

    let graph = ResourceGraph::build(req.resources).ok();
    let mut entry = ResourceState::new(addr.clone(), ResourceMode::Managed);
    entry.physical_id = Some(physical_id);
    entry.attributes = seal_attrs(&mark_sensitive(addr.kind, &observed.attrs));
    entry.outputs = seal_attrs(&mark_sensitive(addr.kind, &observed.outputs));
    entry.dependencies = graph
        .map(|g| g.dependencies(addr))
        .unwrap_or_else(|| resource.dependencies().into_iter().collect());
    Ok(entry)
}

enum ReadFailure {
    NoProvider,
    Provider(ProviderError),
}

/// The id as state would hold it (a role's name for its ARN, an MSK
/// cluster's ARN for its name), or `None` when nothing has that spelling.
async fn canonical_id(
    registry: &ProviderRegistry,
    addr: &ResourceAddr,
    id: &str,
) -> Result<Option<String>, ReadFailure> {
    let provider = registry.get(addr.kind).ok_or(ReadFailure::NoProvider)?;
    provider
        .import_id(addr, id)
        .await
        .map_err(ReadFailure::Provider)
}

/// The provider's read of `kind` given `id` as the physical id state
/// would hold.
async fn read_by_id(
    registry: &ProviderRegistry,
    addr: &ResourceAddr,
    id: &str,
    desired: Option<&stackplan_core::Attrs>,
) -> Result<Option<Observed>, ReadFailure> {
    let provider = registry.get(addr.kind).ok_or(ReadFailure::NoProvider)?;
    let mut prior = ResourceState::new(addr.clone(), ResourceMode::Managed);
    prior.physical_id = Some(id.to_string());
    provider
        .read(ReadRequest {
            addr,
            mode: ResourceMode::Managed,
            desired,
            prior: Some(&prior),
            events: &NoEvents,
        })
        .await
        .map_err(ReadFailure::Provider)
}

/// The first other importable kind under which `id` is found live.
async fn other_kind(
    registry: &ProviderRegistry,
    wanted: ResourceKind,
    id: &str,
) -> Option<ResourceKind> {
    for kind in IMPORTABLE_KINDS.iter().copied().filter(|k| *k != wanted) {
        let probe = ResourceAddr::new(kind, "import_probe");
        let Ok(Some(id)) = canonical_id(registry, &probe, id).await else {
            continue;
        };
        if let Ok(Some(_)) = read_by_id(registry, &probe, &id, None).await {
            return Some(kind);
        }
    }
    None
}

/// Refuses `id` when state records it, for `kind`, at any address.
fn managed_elsewhere(
    state: Option<&StateDocument>,
    kind: ResourceKind,
    id: &str,
) -> Result<(), EngineError> {
    let Some(state) = state else { return Ok(()) };
    let found = state
        .resources
        .iter()
        .map(|r| (r, false))
        .chain(state.deposed.iter().map(|r| (r, true)))
        .find(|(r, _)| r.addr.kind == kind && r.physical_id.as_deref() == Some(id));
    match found {
        Some((r, deposed)) => Err(EngineError::ImportManagedElsewhere {
            id: id.to_string(),
            at: r.addr.clone(),
            deposed,
        }),
        None => Ok(()),
    }
}

/// Attributes the kind's schema calls sensitive, wrapped as such even when
/// a read returned them plain: state never records a secret.
fn mark_sensitive(kind: ResourceKind, attrs: &stackplan_core::Attrs) -> stackplan_core::Attrs {
    let schema = KindSchema::for_kind(kind);
    attrs
        .iter()
        .map(|(k, v)| {
            let v = if schema.attr(k).sensitive && !v.is_sensitive() {
                Value::Sensitive(Box::new(v.clone()))
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect::<BTreeMap<_, _>>()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use stackplan_core::ProviderRegistry;

    use super::*;
    use crate::testing::FakeProvider;

    const SECRET: &str = "hand-made-secret-31f4";

    fn bucket() -> ResourceAddr {
        ResourceAddr::new(ResourceKind::S3Bucket, "milvus")
    }

    fn role() -> ResourceAddr {
        ResourceAddr::new(ResourceKind::IamRole, "milvus_s3")
    }

    /// The stack: a bucket, and a role whose policy names the bucket.
    fn stack() -> Vec<Resource> {
        vec![
            Resource::managed(ResourceKind::S3Bucket, "milvus").attr("bucket", "acme-data"),
            Resource::managed(ResourceKind::IamRole, "milvus_s3")
                .attr("name", "milvus-s3")
                .attr("policy", Value::reference(&bucket(), "arn")),
            Resource::new(
                ResourceAddr::new(ResourceKind::Ec2Vpc, "main"),
                ResourceMode::Managed,
            )
            .attr("cidr_block", "10.0.0.0/16"),
        ]
    }

    /// What exists live, by kind and id: a bucket `acme-data`, a role
    /// `milvus-s3` (holding a secret-looking value), a bucket another
    /// stack's tag names.
    fn live() -> ProviderRegistry {
        let world: BTreeMap<(ResourceKind, &str), Observed> = [
            (
                (ResourceKind::S3Bucket, "acme-data"),
                Observed::new("acme-data")
                    .attr("bucket", "acme-data")
                    .output("arn", "arn:aws:s3:::acme-data"),
            ),
            (
                (ResourceKind::S3Bucket, "theirs"),
                Observed::new("theirs").attr(
                    "tags",
                    Value::map([(OWNER_TAG, Value::string("other-stack"))]),
                ),
            ),
            (
                (ResourceKind::IamRole, "milvus-s3"),
                Observed::new("milvus-s3")
                    .attr("name", "milvus-s3")
                    .attr("token", Value::Sensitive(Box::new(SECRET.into()))),
            ),
        ]
        .into_iter()
        .collect();
        let read = FakeProvider::new().read(move |req| {
            let id = req.prior.and_then(|p| p.physical_id.as_deref());
            Ok(id.and_then(|id| world.get(&(req.addr.kind, id)).cloned()))
        });
        ProviderRegistry::new().with(read.into_arc())
    }

    fn state_with(entries: &[(ResourceAddr, &str)], deposed: bool) -> StateDocument {
        let mut doc = StateDocument::new("demo", "lineage");
        for (addr, id) in entries {
            let mut r = ResourceState::new(addr.clone(), ResourceMode::Managed);
            r.physical_id = Some(id.to_string());
            doc.upsert(r);
            if deposed {
                doc.depose(addr);
            }
        }
        doc
    }

    fn import(
        addr: &ResourceAddr,
        id: &str,
        state: Option<&StateDocument>,
    ) -> Result<ResourceState, EngineError> {
        let resources = stack();
        let registry = live();
        let req = ImportRequest {
            stack: "demo",
            resources: &resources,
            state,
            addr,
            id,
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(import_resource(&registry, req))
    }

    /// One refusal: its message.
    fn check_refused(addr: &ResourceAddr, id: &str, state: Option<&StateDocument>, expect: &str) {
        let err = import(addr, id, state).expect_err("refused");
        assert_eq!(err.to_string(), expect);
    }

    #[test]
    fn the_entry_records_what_is_live_sealed_with_the_stacks_dependencies() {
        let entry = import(&role(), "milvus-s3", None).unwrap();
        assert_eq!(entry.physical_id.as_deref(), Some("milvus-s3"));
        assert_eq!(entry.dependencies.iter().collect::<Vec<_>>(), [&bucket()]);
        assert!(entry.attributes["token"].is_sensitive());
        let mut doc = StateDocument::new("demo", "lineage");
        doc.upsert(entry);
        let text = String::from_utf8(doc.to_bytes()).unwrap();
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("\"name\": \"milvus-s3\""), "{text}");
    }

    #[test]
    fn each_refusal_says_why() {
        let vpc = ResourceAddr::new(ResourceKind::Ec2Vpc, "main");
        let in_state = state_with(&[(bucket(), "acme-data")], false);
        let deposed = state_with(&[(bucket(), "acme-data")], true);
        let other_role = ResourceAddr::new(ResourceKind::IamRole, "other");
        let role_elsewhere = state_with(&[(other_role, "milvus-s3")], false);
        check_refused(
            &ResourceAddr::new(ResourceKind::S3Bucket, "milvs"),
            "acme-data",
            None,
            "`s3_bucket.milvs` is not an address of this stack; did you mean `s3_bucket.milvus`?",
        );
        check_refused(
            &vpc,
            "vpc-1",
            None,
            "`ec2_vpc.main` is of kind ec2_vpc, which import does not take: it imports \
             eks_cluster, eks_nodegroup, s3_bucket, msk_cluster, iam_role, helm_release",
        );
        check_refused(
            &bucket(),
            "acme-data",
            Some(&in_state),
            "`s3_bucket.milvus` is already in state, as `acme-data`",
        );
        check_refused(
            &role(),
            "milvus-s3",
            Some(&role_elsewhere),
            "`milvus-s3` is already managed at `iam_role.other`",
        );
        let deposed_bucket = ResourceAddr::new(ResourceKind::S3Bucket, "milvus");
        let mut only_deposed = deposed.clone();
        only_deposed.remove(&deposed_bucket);
        check_refused(
            &bucket(),
            "acme-data",
            Some(&only_deposed),
            "`acme-data` is already managed at `s3_bucket.milvus` (a deposed old copy)",
        );
        check_refused(
            &bucket(),
            "no-such",
            None,
            "no s3_bucket `no-such` exists live",
        );
        check_refused(
            &bucket(),
            "milvus-s3",
            None,
            "`milvus-s3` is not the id of any s3_bucket: it names a live iam_role",
        );
        check_refused(
            &bucket(),
            "theirs",
            None,
            "s3_bucket `theirs` is tagged stackplan:stack = other-stack: it belongs to stack `other-stack`",
        );
    }

    #[test]
    fn the_nearest_address_is_suggested_only_when_near() {
        let known = [
            ResourceAddr::new(ResourceKind::S3Bucket, "milvus"),
            ResourceAddr::new(ResourceKind::MskCluster, "milvus"),
        ];
        assert_eq!(
            nearest_addr("s3_bucket.milvs", &known),
            Some(known[0].clone())
        );
        assert_eq!(nearest_addr("eks_cluster.main", &known), None);
    }
}
