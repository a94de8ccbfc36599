//! Addresses, values, resource kinds and the shared vocabulary of stackplan; types and traits only, no IO.

mod addr;
pub mod duration;
mod error;
mod plan;
mod provider;
mod resource;
pub mod schema;
mod state;
mod value;

pub use addr::{ProviderFamily, ResourceAddr, ResourceKind};
pub use error::CoreError;
pub use plan::{
    Action, Change, CostEstimate, CostLine, Drift, FieldDiff, KubeAccess, ManifestChange,
    ManifestField, PLAN_FORMAT_VERSION, Plan, PlanBasis, PlanOptions, PlanSummary, ReplaceOrder,
    Selection,
};
pub use provider::{
    ApplyRequest, Attrs, BoxFuture, DeleteRequest, EventSink, Finding, NoEvents, Observed, Phase,
    ProgressEvent, Provider, ProviderError, ProviderRegistry, ProviderResult, ReadRequest,
    SecretSources, Severity,
};
pub use resource::{Resource, ResourceMode};
pub use schema::{AttrSchema, KindSchema, Normalize};
pub use state::{
    LockInfo, ResourceState, STATE_FORMAT_VERSION, StateDocument, StateError, StateStore,
    decode_state_value, encode_state_value, sealed, sealed_digest,
};
pub use value::{OutputRef, SecretSource, Value};
