//! The one place the integration tests drive the provider: against moto
//! through the shared harness, with quick waiters, and the plan's
//! comparison (normalised desired against observed) as one helper.

#![allow(dead_code)]

pub mod stacks;

use std::sync::{Arc, Mutex};

use stackplan_aws::{AwsProvider, WaitConfig};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, EventSink, FieldDiff, KindSchema, Observed, ProgressEvent,
    Provider, ProviderError, ReadRequest, ResourceAddr, ResourceKind, ResourceMode, ResourceState,
    Value,
};
use stackplan_testkit::{Emulators, unique_name};

pub const REGION: &str = "us-west-2";

/// The provider, pointed at the shared moto.
pub async fn provider() -> AwsProvider {
    let emulators = Emulators::shared().expect("the emulators start (just emulators-install)");
    let config = emulators.aws_config().await;
    AwsProvider::from_sdk_config(&config).with_wait(WaitConfig::quick())
}

pub fn name(prefix: &str) -> String {
    unique_name(prefix)
}

#[derive(Default)]
pub struct Events(pub Mutex<Vec<ProgressEvent>>);

impl EventSink for Events {
    fn emit(&self, event: ProgressEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    pub fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}: {}", e.addr, e.phase, e.message))
            .collect()
    }
}

pub fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub fn strs<const N: usize>(items: [&str; N]) -> Value {
    Value::list(items.map(Value::string))
}

pub fn tags<const N: usize>(pairs: [(&str, &str); N]) -> Value {
    Value::map(pairs.map(|(k, v)| (k, Value::string(v))))
}

/// What state holds after an apply: the desired attributes, the outputs
/// and the physical id.
pub fn state_of(addr: &ResourceAddr, desired: &Attrs, observed: &Observed) -> ResourceState {
    let mut s = ResourceState::new(addr.clone(), ResourceMode::Managed);
    s.physical_id = observed.physical_id.clone();
    s.attributes = desired.clone();
    s.outputs = observed.outputs.clone();
    s
}

pub async fn create(p: &AwsProvider, addr: &ResourceAddr, desired: &Attrs) -> Observed {
    let events = Events::default();
    let req = ApplyRequest {
        addr,
        desired,
        prior: None,
        field_diffs: &[],
        events: &events,
    };
    let created = match p.create(req).await {
        Ok(o) => o,
        Err(e) => panic!("create {addr}: {}", chain(&e)),
    };
    p.wait(req, created)
        .await
        .unwrap_or_else(|e| panic!("wait {addr}: {}", chain(&e)))
}

pub async fn update(
    p: &AwsProvider,
    addr: &ResourceAddr,
    desired: &Attrs,
    prior: &ResourceState,
    diffs: &[FieldDiff],
) -> Result<Observed, ProviderError> {
    let events = Events::default();
    let req = ApplyRequest {
        addr,
        desired,
        prior: Some(prior),
        field_diffs: diffs,
        events: &events,
    };
    let o = p.update(req).await?;
    p.wait(req, o).await
}

pub async fn read(
    p: &AwsProvider,
    addr: &ResourceAddr,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Option<Observed> {
    p.read(ReadRequest {
        addr,
        mode: prior.map(|s| s.mode).unwrap_or(ResourceMode::Managed),
        desired,
        prior,
        events: &Events::default(),
    })
    .await
    .unwrap_or_else(|e| panic!("read {addr}: {}", chain(&e)))
}

pub async fn delete(p: &AwsProvider, addr: &ResourceAddr, prior: &ResourceState) {
    p.delete(DeleteRequest {
        addr,
        prior,
        events: &Events::default(),
    })
    .await
    .unwrap_or_else(|e| panic!("delete {addr}: {}", chain(&e)));
}

pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(&format!(": {s}"));
        next = s.source();
    }
    out
}

/// The plan's comparison for one resource: every attribute the stack
/// sets, normalised by the kind's schema, against what the read saw. An
/// attribute the read does not report is not compared (the engine takes
/// it as last applied); `unreported` lists the ones allowed to be absent.
pub fn plan_diffs(
    kind: ResourceKind,
    desired: &Attrs,
    observed: &Observed,
    unreported: &[&str],
) -> Vec<FieldDiff> {
    let schema = KindSchema::for_kind(kind);
    let mut out = Vec::new();
    for (k, want) in desired {
        if schema.is_computed(k) {
            continue;
        }
        let Some(live) = observed.attrs.get(k) else {
            assert!(
                unreported.contains(&k.as_str()),
                "{kind}: the read does not report `{k}`: a perpetual unknown"
            );
            continue;
        };
        // An `env:` source is compared by what it gives now, as a plan
        // does (the engine's `rotation`): the live secret holds a value.
        let resolved;
        let want = match want {
            Value::Secret(stackplan_core::SecretSource::Env(name)) => {
                resolved = Value::Sensitive(Box::new(Value::String(
                    std::env::var(name).unwrap_or_default(),
                )));
                &resolved
            }
            other => other,
        };
        let (w, l) = (
            schema.effective(k, Some(want)),
            schema.effective(k, Some(live)),
        );
        if w != l {
            let mut d = FieldDiff::new(k.clone(), l, w);
            d.force_new = schema.attr(k).force_new;
            out.push(d);
        }
    }
    out
}

pub fn assert_no_diff(
    kind: ResourceKind,
    desired: &Attrs,
    observed: &Observed,
    unreported: &[&str],
) {
    let diffs = plan_diffs(kind, desired, observed, unreported);
    assert!(
        diffs.is_empty(),
        "{kind}: perpetual diff after apply: {diffs:#?}"
    );
}

/// Changes one attribute and returns the new desired attributes with the
/// plan's diff of it against the live resource.
pub fn change(desired: &Attrs, attr: &str, value: Value) -> Attrs {
    let mut d = desired.clone();
    d.insert(attr.to_string(), value);
    d
}

pub fn addr(kind: ResourceKind, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

pub type Shared = Arc<AwsProvider>;

/// A managed VPC with two subnets in two AZs, for the kinds that need one.
pub async fn network(p: &AwsProvider, second_octet: u8) -> (String, Vec<String>) {
    let vpc = attrs([(
        "cidr_block",
        Value::string(format!("10.{second_octet}.0.0/16")),
    )]);
    let v = create(p, &addr(ResourceKind::Ec2Vpc, "net"), &vpc).await;
    let vpc_id = v.physical_id.unwrap();
    let mut subnets = Vec::new();
    for (i, az) in ["a", "b"].iter().enumerate() {
        let s = attrs([
            ("vpc_id", Value::string(&vpc_id)),
            (
                "cidr_block",
                Value::string(format!("10.{second_octet}.{i}.0/24")),
            ),
            ("availability_zone", Value::string(format!("{REGION}{az}"))),
        ]);
        let o = create(p, &addr(ResourceKind::Ec2Subnet, "net"), &s).await;
        subnets.push(o.physical_id.unwrap());
    }
    (vpc_id, subnets)
}

/// A role any service may assume, for the kinds that need a role ARN.
pub async fn role(p: &AwsProvider, service: &str) -> String {
    let desired = attrs([
        ("name", Value::string(name("role"))),
        (
            "assume_role_policy",
            Value::map([
                ("Version", Value::string("2012-10-17")),
                (
                    "Statement",
                    Value::list([Value::map([
                        ("Effect", Value::string("Allow")),
                        (
                            "Principal",
                            Value::map([("Service", Value::string(service))]),
                        ),
                        ("Action", Value::string("sts:AssumeRole")),
                    ])]),
                ),
            ]),
        ),
    ]);
    let o = create(p, &addr(ResourceKind::IamRole, "r"), &desired).await;
    o.outputs["arn"].as_str().unwrap().to_string()
}

/// Ends the waiting period of a KMS key pending deletion, as KMS does 7 to
/// 30 days after ScheduleKeyDeletion: the key and its aliases are deleted.
/// The moto extension's control (`tests/harness/moto_ext/kms.py`), not an
/// AWS operation; it refuses a key that is not pending deletion.
pub fn end_kms_key_waiting_period(key_arn: &str) {
    moto_control(
        "kms/end-waiting-period",
        &format!("{{\"KeyId\": \"{key_arn}\"}}"),
    );
}

/// Publishes a newer EKS optimized AMI release of a Kubernetes version, as
/// AWS does every few weeks: it becomes the version's newest, EKS's
/// default and the value of the version's public SSM `release_version`
/// parameters (`tests/harness/moto_ext/eks.py`, `ssm.py`).
pub fn publish_ami_release(kubernetes_version: &str, release: &str) {
    moto_control(
        "eks/publish-ami-release",
        &format!(
            "{{\"kubernetesVersion\": \"{kubernetes_version}\", \"releaseVersion\": \"{release}\"}}"
        ),
    );
}

/// POSTs to one of the harness's controls on moto
/// (`/moto-api/stackplan/<path>`), which must answer 200.
fn moto_control(path: &str, body: &str) {
    use std::io::{Read, Write};
    let endpoint = Emulators::shared().unwrap().aws_endpoint().to_string();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "POST /moto-api/stackplan/{path} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send to moto");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("moto answers");
    assert_eq!(
        answer.split_whitespace().nth(1),
        Some("200"),
        "{path} {body}: {answer}"
    );
}
