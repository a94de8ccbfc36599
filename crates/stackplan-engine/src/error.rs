use stackplan_core::ResourceAddr;
use thiserror::Error;

fn joined(addrs: &[ResourceAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
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
}
