//! Whether a stack's pods fit its node groups, and what the stack costs per month.
//!
//! One table of instance types (`data/instances.toml`) serves both: the
//! fit check takes each type's vCPUs, memory and pod limit through EKS's
//! allocatable formula, and the estimate prices the same types
//! (`data/prices.toml`). Both tables carry their source and date; a type
//! or region missing from them is unknown, never 0.
//!
//! Nothing here does IO: the pods come from manifests a caller rendered
//! (`helm template`), the node groups and priced resources from the stack.

mod cost;
mod error;
mod fit;
mod instances;
mod quantity;
mod workloads;

pub use cost::{CostInput, CostLine, Estimate, MskInput, NodeGroupCost, PriceSource, estimate};
pub use error::CapacityError;
pub use fit::{FitReport, NodePool, PodRef, check_fit, eks_daemonsets};
pub use instances::{InstanceType, Resources, instance_type};
pub use quantity::{cpu_millis, memory_bytes, quantity};
pub use workloads::{Extras, Workload, workloads};
