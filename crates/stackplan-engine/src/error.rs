use stackplan_core::{ProviderError, ResourceAddr, ResourceKind};
use thiserror::Error;

fn joined(addrs: &[ResourceAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Refresh failures, one line per distinct cause: when credentials, the
/// network, a file or a permission are missing, every read fails the same
/// way, and 26 copies of one error bury it. Failures whose message is the
/// same once what names the resource is taken out (its address, the API
/// operation, the `quoted` names) are said once, with how many resources
/// and which, and one example of the underlying error.
fn failure_lines(list: &[(ResourceAddr, ProviderError)]) -> String {
    let mut out = String::new();
    for (cause, members) in grouped_failures(list) {
        let (first_addr, first) = &list[members[0]];
        if members.len() == 1 {
            out.push_str(&format!("\n  {first_addr}: {}", with_root(first)));
        } else {
            let names: Vec<String> = members.iter().map(|i| list[*i].0.to_string()).collect();
            out.push_str(&format!(
                "\n  {} resources: {cause}\n    ({})",
                members.len(),
                names.join(", ")
            ));
            if let Some(root) = root_cause(first).filter(|r| !cause.contains(r.as_str())) {
                out.push_str(&format!("\n    e.g. {first_addr}: {root}"));
            }
        }
    }
    out
}

/// The failures by cause, in the order each cause first appears (the
/// list is sorted by address): each cause with the indexes of the
/// failures it covers.
fn grouped_failures(list: &[(ResourceAddr, ProviderError)]) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, (addr, e)) in list.iter().enumerate() {
        let cause = failure_cause(addr, &e.message);
        match groups.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, members)) => members.push(i),
            None => groups.push((cause, vec![i])),
        }
    }
    groups
}

/// What a failure says once the resource is taken out of it. The
/// providers' messages are `: `-separated parts: the address, for an API
/// call the operation's name (`s3_bucket.milvus: GetBucketVersioning:
/// ...`), and parts that name the object in backquotes (`reading
/// k8s_default_class \`gp2\``), which differ between resources failing for
/// one reason. What is left is the cause; a message that is nothing but
/// such parts is its own cause.
fn failure_cause(addr: &ResourceAddr, message: &str) -> String {
    let rest = message
        .strip_prefix(&format!("{addr}: "))
        .unwrap_or(message);
    let is_operation = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_uppercase())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
            && part.chars().any(|c| c.is_ascii_lowercase())
    };
    let parts: Vec<&str> = rest.split(": ").collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let names_the_object = part.contains('`');
        let leading_operation = i == 0 && parts.len() > 1 && is_operation(part);
        if !names_the_object && !leading_operation {
            kept.push(part);
        }
    }
    if kept.is_empty() {
        rest.to_string()
    } else {
        kept.join(": ")
    }
}

/// The innermost error under a provider error, when it has any: what the
/// API or the OS said, without the layers between (whose `Display` may
/// repeat it, or dump a status in Rust's syntax).
fn root_cause(e: &ProviderError) -> Option<String> {
    let mut cur = std::error::Error::source(e)?;
    while let Some(next) = cur.source() {
        cur = next;
    }
    Some(cur.to_string())
}

/// A failure's message and, when the message does not already say it,
/// its innermost cause.
fn with_root(e: &ProviderError) -> String {
    match root_cause(e) {
        Some(root) if !e.message.contains(&root) => format!("{}: {root}", e.message),
        _ => e.message.clone(),
    }
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

#[cfg(test)]
mod tests {
    use stackplan_core::{ProviderError, ResourceAddr, ResourceKind};

    use super::EngineError;

    fn failure(kind: ResourceKind, name: &str, message: &str) -> (ResourceAddr, ProviderError) {
        let addr = ResourceAddr::new(kind, name);
        let message = message.replace("ADDR", &addr.to_string());
        (addr, ProviderError::new(message))
    }

    /// No credentials: every read fails the same way under a different
    /// operation name, and the cause is said once, with the count.
    #[test]
    fn reads_failing_for_one_cause_are_reported_once_with_their_count() {
        let failures = vec![
            failure(
                ResourceKind::Ec2Vpc,
                "main",
                "ADDR: DescribeVpcs: DispatchFailure: no providers in chain provided credentials",
            ),
            failure(
                ResourceKind::IamRole,
                "eks_cluster",
                "ADDR: GetRole: DispatchFailure: no providers in chain provided credentials",
            ),
            failure(
                ResourceKind::S3Bucket,
                "milvus",
                "ADDR: GetBucketVersioning: DispatchFailure: no providers in chain provided credentials",
            ),
            failure(
                ResourceKind::K8sNamespace,
                "milvus",
                "could not load the kubeconfig `/nope`",
            ),
        ];
        assert_eq!(
            EngineError::Refresh { failures }.to_string(),
            "refresh failed for 4 resource(s):\n  \
             3 resources: DispatchFailure: no providers in chain provided credentials\n    \
             (ec2_vpc.main, iam_role.eks_cluster, s3_bucket.milvus)\n  \
             k8s_namespace.milvus: could not load the kubeconfig `/nope`"
        );
    }

    /// A principal allowed too little: each read names its own object
    /// (backquoted) and carries the API's own words as its source. One
    /// line for the cause, the resources, and one example of the API's
    /// words, instead of every Status dump.
    #[test]
    fn reads_refused_for_one_reason_on_different_objects_are_one_line_with_an_example() {
        let refused = |kind, name: &str, what: &str| {
            let addr = ResourceAddr::new(kind, name);
            let e = ProviderError::with_source(
                format!(
                    "Kubernetes API: reading {what} `{name}`: the principal's access entry does not allow this (403 Forbidden)"
                ),
                std::io::Error::other(format!("{what} \"{name}\" is forbidden")),
            );
            (addr, e)
        };
        let failures = vec![
            refused(ResourceKind::K8sDefaultClass, "gp2", "storageclasses"),
            refused(ResourceKind::K8sNamespace, "milvus", "namespaces"),
        ];
        assert_eq!(
            EngineError::Refresh { failures }.to_string(),
            "refresh failed for 2 resource(s):\n  \
             2 resources: Kubernetes API: the principal's access entry does not allow this (403 Forbidden)\n    \
             (k8s_default_class.gp2, k8s_namespace.milvus)\n    \
             e.g. k8s_default_class.gp2: storageclasses \"gp2\" is forbidden"
        );
    }
}
