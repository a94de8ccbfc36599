//! Addresses, values, resource kinds and the shared vocabulary of stackplan; types and traits only, no IO.

mod addr;
mod error;
mod resource;
mod value;

pub use addr::{ProviderFamily, ResourceAddr, ResourceKind};
pub use error::CoreError;
pub use resource::{Resource, ResourceMode};
pub use value::{OutputRef, SecretSource, Value};
