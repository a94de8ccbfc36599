//! Kubernetes and Helm providers for stackplan: EKS token auth, server-side apply, Helm releases read natively from their records.
//!
//! ```text
//!   KubeProvider ──▶ target::Session ──▶ kube::Client (server-side apply, release Secrets)
//!        │                 └── EKS: token::eks_token (SigV4 presigned STS URL)
//!        └──▶ helm::Helm (upgrade --install / uninstall, values on helm's stdin)
//!   plan ──▶ chart::ChartCache + Helm::fetch_chart / template ──▶ manifest::check_objects
//!   every helm child ──▶ process (allowlisted environment, own process group, dies with stackplan)
//! ```
//!
//! **Invariant:** a sensitive value leaves this crate only inside
//! [`stackplan_core::Value::Sensitive`]; its plaintext goes to helm's stdin
//! or into the `data` of a Secret it applies (`k8s_secret`), and nowhere
//! else: no file, no argument, no variable of helm's environment.

pub mod chart;
pub mod chart_drift;
mod error;
pub mod helm;
pub mod manifest;
pub mod manifest_diff;
mod objects;
mod pending;
pub mod process;
mod provider;
pub mod release;
mod service;
mod target;
pub mod token;
mod values;

pub use error::KubeError;
pub use objects::{FIELD_MANAGER, IS_DEFAULT_CLASS};
pub use provider::{KubeProvider, chart_source, observe_release};
pub use service::{INSTANCE_LABEL, LoadBalancerAddress, ReleaseExposure};
pub use target::{ClusterEndpoint, ClusterLocator, DescribeCluster, EksTarget, KubeTarget};
