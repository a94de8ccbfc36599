use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{ResourceAddr, ResourceKind, Value};

/// Whether stackplan owns a resource or only reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceMode {
    /// Created, updated and deleted by stackplan.
    Managed,
    /// Looked up by id and never changed (an existing VPC and its subnets).
    Lookup,
}

/// One desired resource, as the stack expands to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub addr: ResourceAddr,
    pub mode: ResourceMode,
    /// The attributes stackplan sets, by name. References inside them are
    /// the resource's data dependencies.
    pub attrs: BTreeMap<String, Value>,
    /// Ordering-only dependencies: things that must exist first although no
    /// value flows (add-ons need a node group to schedule on).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub depends_on: BTreeSet<ResourceAddr>,
    /// `prevent_destroy = true` on the section this came from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prevent_destroy: bool,
    /// The stack section it came from (`[msk]`), for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Attribute paths something else owns (`scaling.desired_size` under
    /// an autoscaler), like Terraform's `ignore_changes`: never planned as
    /// a change nor reported as drift, and apply keeps their live value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Attributes that hold a document published as it is, by AWS or by
    /// stackplan's own templates (the load balancer controller's IAM
    /// policy for a chart version, an IRSA trust policy), each with the
    /// name people know it by. Plans show the name instead of the text
    /// until the document changes (`--full` shows it all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub published: BTreeMap<String, String>,
}

impl Resource {
    pub fn new(addr: ResourceAddr, mode: ResourceMode) -> Self {
        Resource {
            addr,
            mode,
            attrs: BTreeMap::new(),
            depends_on: BTreeSet::new(),
            prevent_destroy: false,
            ignore: Vec::new(),
            origin: None,
            published: BTreeMap::new(),
        }
    }

    pub fn managed(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self::new(ResourceAddr::new(kind, name), ResourceMode::Managed)
    }

    pub fn kind(&self) -> ResourceKind {
        self.addr.kind
    }

    pub fn attr(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_string(), value.into());
        self
    }

    pub fn after(mut self, addr: &ResourceAddr) -> Self {
        self.depends_on.insert(addr.clone());
        self
    }

    /// Marks `attr` as holding the published document named `name`.
    pub fn published(mut self, attr: &str, name: impl Into<String>) -> Self {
        self.published.insert(attr.to_string(), name.into());
        self
    }

    pub fn from_section(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_string());
        self
    }

    /// Every resource this one waits for: the producers of the values it
    /// consumes and its ordering-only dependencies. Self-references (a
    /// resource reading its own outputs) are not dependencies.
    pub fn dependencies(&self) -> BTreeSet<ResourceAddr> {
        let mut deps = self.depends_on.clone();
        for value in self.attrs.values() {
            deps.extend(value.refs().into_iter().map(|r| r.addr));
        }
        deps.remove(&self.addr);
        deps
    }
}
