//! The crate's one error type.

/// What the fit check and the estimate refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapacityError {
    /// A resource quantity that is not a Kubernetes quantity.
    #[error("`{value}` is not a Kubernetes {what} quantity")]
    Quantity { what: &'static str, value: String },
    /// A node group's instance type is not in the instance table.
    #[error(
        "instance type `{name}` is not in stackplan's instance table (crates/stackplan-capacity/data/instances.toml)"
    )]
    UnknownInstanceType { name: String },
    /// A pod that no node of any node group could ever hold.
    #[error(
        "{pod} requests {requested}, more than a {instance_type} node can give a pod ({allocatable} after what EKS reserves and its DaemonSets take)"
    )]
    PodLargerThanAnyNode {
        pod: String,
        requested: String,
        instance_type: String,
        allocatable: String,
    },
}
