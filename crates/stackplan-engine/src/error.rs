use stackplan_core::{ProviderError, ResourceAddr, ResourceKind};
use thiserror::Error;

fn joined(addrs: &[ResourceAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Failures in full, up to a few: when credentials or the network are
/// missing every read fails the same way, and one screen of the same cause
/// helps nobody. The rest are named.
fn failure_lines(list: &[(ResourceAddr, ProviderError)]) -> String {
    const SHOWN: usize = 3;
    let mut out: String = list
        .iter()
        .take(SHOWN)
        .map(|(a, e)| format!("\n  {a}: {}", chain(e)))
        .collect();
    if list.len() > SHOWN {
        let rest: Vec<String> = list[SHOWN..].iter().map(|(a, _)| a.to_string()).collect();
        out.push_str(&format!("\n  and {} more: {}", rest.len(), rest.join(", ")));
    }
    out
}

/// An error with its causes, on one line: refresh reports several, and
/// apply's report names each failure so.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn lines(items: &[String]) -> String {
    items.iter().map(|r| format!("\n  - {r}")).collect()
}

/// Everything the engine can refuse or fail at.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("dependency cycle: {}", joined(.members))]
    Cycle { members: Vec<ResourceAddr> },
    #[error("`{from}` depends on `{to}`, which is not part of the stack")]
    MissingDependency {
        from: ResourceAddr,
        to: ResourceAddr,
    },
    #[error("`{0}` is declared twice")]
    DuplicateResource(ResourceAddr),
    #[error("no provider serves resource kind `{kind}` (needed for `{addr}`)")]
    NoProvider {
        kind: ResourceKind,
        addr: ResourceAddr,
    },
    #[error("refresh failed for {} resource(s):{}", .failures.len(), failure_lines(.failures))]
    Refresh {
        failures: Vec<(ResourceAddr, ProviderError)>,
    },
    #[error("provider failed planning `{addr}`")]
    Provider {
        addr: ResourceAddr,
        #[source]
        source: ProviderError,
    },
    #[error("lookup `{0}` found nothing live")]
    LookupNotFound(ResourceAddr),
    #[error("the state belongs to stack `{found}`, not `{expected}`")]
    StateOfAnotherStack { expected: String, found: String },
    #[error("refusing to destroy:{}", lines(.refusals))]
    DestroyRefused { refusals: Vec<String> },
    #[error("the saved plan is out of date:{}", lines(.reasons))]
    StalePlan { reasons: Vec<String> },
    #[error("the stack asks for what the APIs will refuse:{}", lines(&.findings.iter().map(ToString::to_string).collect::<Vec<_>>()))]
    Preflight {
        findings: Vec<stackplan_core::Finding>,
    },
    /// Live resources that another stack owns (their `stackplan:stack`
    /// tag names it): never adopted.
    #[error("these resources belong to another stack:{}", lines(.refusals))]
    NotOwned { refusals: Vec<String> },
    /// Live resources found without a state entry that only `--adopt`
    /// may take over: untagged ones, or everything when state was lost.
    #[error("{} live resource(s) would be adopted into this stack:{}", .adoptions.len(), lines(.adoptions))]
    AdoptionNeedsConsent { adoptions: Vec<String> },
    #[error("cannot save state")]
    State(#[source] stackplan_core::StateError),
    #[error("{flag} `{addr}` names nothing in the stack or its state{}", .hint.as_ref().map(|h| format!("; did you mean `{h}`?")).unwrap_or_default())]
    UnknownSelection {
        flag: &'static str,
        addr: String,
        hint: Option<String>,
    },
    // Import refusals: messages about the user's input, each with its
    // reason; nothing is written.
    #[error("`{addr}` is not an address of this stack{}", crate::import::suggestion(.nearest))]
    ImportNotInStack {
        addr: String,
        nearest: Option<ResourceAddr>,
    },
    #[error(
        "`{addr}` is of kind {kind}, which import does not take: it imports {}",
        crate::import::importable()
    )]
    ImportNotImportable {
        addr: ResourceAddr,
        kind: ResourceKind,
    },
    #[error("`{addr}` is looked up, not managed: there is nothing to import")]
    ImportLookedUp { addr: ResourceAddr },
    #[error("`{addr}` is already in state{}", id.as_deref().map(|i| format!(", as `{i}`")).unwrap_or_default())]
    ImportAlreadyInState {
        addr: ResourceAddr,
        id: Option<String>,
    },
    #[error("`{id}` is already managed at `{at}`{}", if *.deposed { " (a deposed old copy)" } else { "" })]
    ImportManagedElsewhere {
        id: String,
        at: ResourceAddr,
        deposed: bool,
    },
    #[error("no {kind} `{id}` exists live")]
    ImportNotFound { kind: ResourceKind, id: String },
    #[error("`{id}` is not the id of any {wanted}: it names a live {found}")]
    ImportWrongKind {
        id: String,
        wanted: ResourceKind,
        found: ResourceKind,
    },
    #[error(
        "{kind} `{id}` is tagged {} = {owner}: it belongs to stack `{owner}`",
        crate::import::OWNER_TAG
    )]
    ImportOwnedByAnotherStack {
        kind: ResourceKind,
        id: String,
        owner: String,
    },
    #[error("reading {kind} `{id}` failed")]
    ImportRead {
        kind: ResourceKind,
        id: String,
        #[source]
        source: ProviderError,
    },
    /// The plan's operations wait for each other in a loop; no edge is
    /// ever dropped to break one.
    #[error("the changes cannot be ordered: {} waits for itself; apply a part of the change first (a rename, then the rest)", .cycle.join(" -> "))]
    ScheduleCycle { cycle: Vec<String> },
}
