//! Schemas of the Kubernetes and Helm kinds. Issue 6 (the Kubernetes and
//! Helm providers) refines these tables. Only fields stackplan manages
//! (server-side apply, field manager `stackplan`) are listed.

use super::AttrDefault::{Bool, EmptyMap, Str};
use super::Normalize::{Plain, StringMap};
use super::ReplaceOrder::DestroyBeforeCreate;
use super::{AttrSchema as A, KindSchema};
use crate::ResourceKind as K;

const LABELS: A = A::new("labels").normalize(StringMap).default(EmptyMap);
const ANNOTATIONS: A = A::new("annotations").normalize(StringMap).default(EmptyMap);

pub static K8S_NAMESPACE: KindSchema = KindSchema {
    kind: K::K8sNamespace,
    attrs: &[A::new("name").force_new(), LABELS, ANNOTATIONS],
    outputs: &["uid"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static K8S_SERVICE_ACCOUNT: KindSchema = KindSchema {
    kind: K::K8sServiceAccount,
    attrs: &[
        A::new("namespace").force_new(),
        A::new("name").force_new(),
        LABELS,
        ANNOTATIONS,
    ],
    outputs: &["uid"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static K8S_STORAGE_CLASS: KindSchema = KindSchema {
    kind: K::K8sStorageClass,
    attrs: &[
        A::new("name").force_new(),
        // The API refuses changes to these after creation.
        A::new("provisioner").force_new(),
        A::new("parameters")
            .force_new()
            .normalize(StringMap)
            .default(EmptyMap),
        A::new("volume_binding_mode")
            .force_new()
            .default(Str("Immediate")),
        A::new("reclaim_policy").force_new().default(Str("Delete")),
        A::new("allow_volume_expansion").default(Bool(false)),
        LABELS,
        ANNOTATIONS,
    ],
    outputs: &["uid"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static K8S_DEFAULT_CLASS: KindSchema = KindSchema {
    kind: K::K8sDefaultClass,
    attrs: &[
        A::new("name").force_new(),
        // The stack's `default = false`: the is-default-class annotation
        // as a boolean, the only field of the class stackplan manages.
        A::new("default").default(Bool(false)),
    ],
    // The annotation before stackplan changed it, restored on destroy.
    outputs: &["previous_default"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static K8S_SECRET: KindSchema = KindSchema {
    kind: K::K8sSecret,
    attrs: &[
        A::new("namespace").force_new(),
        A::new("name").force_new(),
        // Key to value. The keys are not secret, the values are: each is
        // a `Value::Sensitive`, read back as one, so a plan shows which
        // key changed and never what it holds.
        A::new("data").sensitive().default(EmptyMap),
        LABELS,
        ANNOTATIONS,
    ],
    // `resource_version` changes with every write: what a pod annotation
    // can carry to roll the pods that read the Secret at start, without
    // being a digest of what it holds.
    outputs: &["uid", "resource_version"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[("resource_version", &[])],
};

pub static HELM_RELEASE: KindSchema = KindSchema {
    kind: K::HelmRelease,
    attrs: &[
        A::new("name").force_new(),
        A::new("namespace").force_new(),
        A::new("chart"),
        A::new("repository"),
        A::new("chart_version"),
        // Compared as data: the release record's values are YAML.
        A::new("values").normalize(Plain).default(EmptyMap),
        A::new("wait").default(Bool(true)),
        // helm's `--timeout` (stackplan-stack's DEFAULT_HELM_TIMEOUT).
        A::new("timeout").default(Str("10m")),
        A::new("atomic").default(Bool(true)),
        // The objects of the deployed revision that differ live from its
        // manifest, by object and field (stackplan-kube's chart_drift);
        // the stack asks for none, so an edit behind stackplan's back is
        // drift, and an update (`helm upgrade`) puts it back.
        A::new("chart_objects").default(EmptyMap),
    ],
    outputs: &["revision", "status", "app_version"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};
