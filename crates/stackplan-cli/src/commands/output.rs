//! `stackplan output STACK [NAME] [--json]`: where the deployment is, as
//! `terraform output` or `helm status` say it. AWS values come from state
//! (what the last apply recorded); the Milvus and Attu addresses are read
//! live from the cluster, because a load balancer gets its address after
//! the apply that asked for it. Only the keys of the sections the stack
//! has; never a secret. The JSON form is documented in docs/output-json.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use miette::miette;
use serde_json::json;
use stackplan_core::{ResourceAddr, ResourceKind, StateDocument, Value};
use stackplan_kube::{KubeTarget, LoadBalancerAddress, ReleaseExposure};
use stackplan_stack::{ServiceType, Stack};

use super::plan::{runtime, state_error, state_store};
use crate::{Outcome, output};

/// The port the Milvus proxy serves (the generated values set it).
pub const MILVUS_PORT: i32 = 19530;

/// The version of `output --json`'s document (docs/output-json.md), as
/// `plan --json` writes its own: `major.minor`.
pub const OUTPUT_FORMAT_VERSION: &str = "1.0";

/// Every output name, for the did-you-mean of an unknown one.
pub const NAMES: [&str; 7] = [
    "attu_url",
    "eks_cluster_name",
    "eks_endpoint",
    "kubeconfig_command",
    "milvus_endpoint",
    "msk_bootstrap_brokers",
    "s3_bucket",
];

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// Print only this output's value (for scripts).
    pub name: Option<String>,
    /// A JSON object (schema: docs/output-json.md).
    #[arg(long)]
    pub json: bool,
}

/// One output's value, or why there is none yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputValue {
    Known(String),
    /// Not there yet, and will be without anything done by hand (a load
    /// balancer being provisioned, a resource apply has not made).
    Pending(String),
    /// Could not be read now (the cluster did not answer).
    Unavailable(String),
}

impl OutputValue {
    fn status(&self) -> &'static str {
        match self {
            OutputValue::Known(_) => "known",
            OutputValue::Pending(_) => "pending",
            OutputValue::Unavailable(_) => "unavailable",
        }
    }

    fn text(&self) -> String {
        match self {
            OutputValue::Known(v) => v.clone(),
            OutputValue::Pending(r) => format!("pending ({r})"),
            OutputValue::Unavailable(r) => format!("unavailable ({r})"),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            OutputValue::Known(v) => json!({"status": "known", "value": v, "reason": null}),
            OutputValue::Pending(r) | OutputValue::Unavailable(r) => {
                json!({"status": self.status(), "value": null, "reason": r})
            }
        }
    }
}

/// The outputs of a stack, by name.
pub type Outputs = BTreeMap<&'static str, OutputValue>;

pub fn run(args: &OutputArgs) -> miette::Result<Outcome> {
    let stack = stackplan_stack::load(&args.stack)?;
    if let Some(name) = &args.name {
        check_name(&stack, name)?;
    }
    let outputs = runtime()?.block_on(async {
        let store = state_store(&stack).await;
        let state = store.read().await.map_err(state_error)?;
        let state = state.filter(|s| !s.resources.is_empty()).ok_or_else(|| {
            miette!(
                help = format!(
                    "run `stackplan apply {}` first; its outputs are printed at its end",
                    args.stack.display()
                ),
                "stack `{}` has not been applied: its state at {} holds no resources",
                stack.name,
                store.location()
            )
        })?;
        Ok::<_, miette::Report>(collect(&stack, &state).await)
    })?;
    let text = match &args.name {
        Some(name) => {
            let value = &outputs[name.as_str()];
            if args.json {
                format!("{:#}\n", value.json())
            } else {
                match value {
                    OutputValue::Known(v) => format!("{v}\n"),
                    OutputValue::Pending(reason) | OutputValue::Unavailable(reason) => {
                        return Err(miette!(
                            help = "run `stackplan output` again later; the other outputs are known now",
                            "`{name}` is {}: {reason}",
                            value.status()
                        ));
                    }
                }
            }
        }
        None if args.json => render_json(&stack.name, &outputs),
        None => render_text(&outputs),
    };
    output::emit(&text, None)?;
    Ok(Outcome::Clean)
}

/// Refuses a name that is no output, or one this stack has no section for.
fn check_name(stack: &Stack, name: &str) -> miette::Result<()> {
    let known = names(stack);
    if known.contains(&name) {
        return Ok(());
    }
    if NAMES.contains(&name) {
        return Err(miette!(
            help = format!("this stack's outputs are: {}", known.join(", ")),
            "stack `{}` has no output `{name}`: it has no section that makes it",
            stack.name
        ));
    }
    let nearest = NAMES
        .iter()
        .map(|n| (distance(n, name), *n))
        .min()
        .filter(|(d, _)| *d <= name.len() / 3 + 2);
    Err(match nearest {
        Some((_, n)) => miette!(
            help = format!("did you mean `{n}`?"),
            "there is no output `{name}`"
        ),
        None => miette!(
            help = format!("the outputs are: {}", known.join(", ")),
            "there is no output `{name}`"
        ),
    })
}

/// The output names a stack has, sorted.
pub fn names(stack: &Stack) -> Vec<&'static str> {
    let mut out = vec!["eks_cluster_name", "eks_endpoint", "kubeconfig_command"];
    if stack.s3.is_some() {
        out.push("s3_bucket");
    }
    if stack.msk.is_some() {
        out.push("msk_bootstrap_brokers");
    }
    if let Some(m) = &stack.milvus {
        out.push("milvus_endpoint");
        if m.attu.enabled {
            out.push("attu_url");
        }
    }
    out.sort_unstable();
    out
}

/// Levenshtein distance, for the did-you-mean.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The outputs of `stack` as `state` records them, with the cluster's
/// load balancers read live. Never fails: what cannot be read is
/// `Unavailable` with the reason.
pub async fn collect(stack: &Stack, state: &StateDocument) -> Outputs {
    let mut out = Outputs::new();
    let cluster = ResourceAddr::new(ResourceKind::EksCluster, "main");
    let cluster_name = from_state(state, &cluster, "name");
    out.insert("eks_endpoint", from_state(state, &cluster, "endpoint"));
    let region = state.region.clone().unwrap_or_else(|| stack.region.clone());
    let name = match &cluster_name {
        OutputValue::Known(n) => n.clone(),
        _ => stack.eks.name.clone(),
    };
    out.insert(
        "kubeconfig_command",
        OutputValue::Known(format!(
            "aws eks update-kubeconfig --name {name} --region {region}"
        )),
    );
    out.insert("eks_cluster_name", cluster_name);
    if stack.s3.is_some() {
        let bucket = ResourceAddr::new(ResourceKind::S3Bucket, "milvus");
        out.insert("s3_bucket", from_state(state, &bucket, "bucket"));
    }
    if stack.msk.is_some() {
        let msk = ResourceAddr::new(ResourceKind::MskCluster, "milvus");
        out.insert(
            "msk_bootstrap_brokers",
            from_state(state, &msk, "bootstrap_brokers_sasl_scram"),
        );
    }
    if let Some(m) = &stack.milvus {
        let release = ResourceAddr::new(ResourceKind::HelmRelease, "milvus");
        let (endpoint, attu) = if state.get(&release).is_none() {
            let reason = format!("{release} is not in state: apply has not installed it yet");
            (
                OutputValue::Pending(reason.clone()),
                OutputValue::Pending(reason),
            )
        } else {
            match ReleaseExposure::read(&kube_target(stack).await, &m.namespace, &m.release).await {
                Ok(exposure) => (
                    milvus_endpoint(exposure.service_serving(MILVUS_PORT), m),
                    attu_url(&exposure, m),
                ),
                Err(e) => {
                    let reason = format!(
                        "cannot read release `{}` in namespace `{}`: {}",
                        m.release,
                        m.namespace,
                        chain(&e)
                    );
                    (
                        OutputValue::Unavailable(reason.clone()),
                        OutputValue::Unavailable(reason),
                    )
                }
            }
        };
        out.insert("milvus_endpoint", endpoint);
        if m.attu.enabled {
            out.insert("attu_url", attu);
        }
    }
    out
}

/// A string output of a resource in state. A sensitive or sealed value
/// is never an output.
fn from_state(state: &StateDocument, addr: &ResourceAddr, key: &str) -> OutputValue {
    let Some(resource) = state.get(addr) else {
        return OutputValue::Pending(format!(
            "{addr} is not in state: apply has not created it yet"
        ));
    };
    match resource.outputs.get(key) {
        Some(Value::String(s)) if !s.is_empty() => OutputValue::Known(s.clone()),
        Some(Value::String(_)) | None => OutputValue::Pending(format!(
            "{addr} has no `{key}` yet: the last apply did not record one; apply again once AWS reports it"
        )),
        Some(_) => OutputValue::Unavailable(format!("{addr}'s `{key}` is not a plain string")),
    }
}

fn milvus_endpoint(
    service: Option<LoadBalancerAddress>,
    m: &stackplan_stack::Milvus,
) -> OutputValue {
    let Some(service) = service else {
        return OutputValue::Pending(format!(
            "release `{}` in namespace `{}` has no Service serving port {MILVUS_PORT} yet",
            m.release, m.namespace
        ));
    };
    if service.service_type.as_deref() != Some("LoadBalancer") {
        // No load balancer asked for: reachable inside the cluster.
        return OutputValue::Known(format!(
            "{}.{}.svc.cluster.local:{MILVUS_PORT}",
            service.name, service.namespace
        ));
    }
    match service.address() {
        Some(host) => OutputValue::Known(format!("{host}:{MILVUS_PORT}")),
        None => OutputValue::Pending(format!(
            "{} has no load-balancer address yet: the AWS Load Balancer Controller has not provisioned its NLB{}",
            service.object(),
            if m.service.kind == ServiceType::LoadBalancer {
                ""
            } else {
                " (the stack does not ask for a LoadBalancer; [milvus.values] does)"
            }
        )),
    }
}

/// Attu behind its Ingress (what stackplan makes), else behind its own
/// Service when `[milvus.values]` made that a `LoadBalancer`.
fn attu_url(exposure: &ReleaseExposure, m: &stackplan_stack::Milvus) -> OutputValue {
    let scheme = if m.attu.certificate_arn.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(ingress) = exposure.ingress_to("attu") {
        return match ingress.address() {
            // With a host, the ALB routes that host and its certificate
            // is for it.
            Some(address) => OutputValue::Known(format!(
                "{scheme}://{}",
                m.attu.host.as_deref().unwrap_or(address)
            )),
            None => OutputValue::Pending(format!(
                "{} has no load-balancer address yet: the AWS Load Balancer Controller has not provisioned its ALB",
                ingress.object()
            )),
        };
    }
    match exposure
        .service_of("attu")
        .filter(|s| s.service_type.as_deref() == Some("LoadBalancer"))
    {
        Some(service) => match (service.address(), service.port) {
            (Some(address), Some(port)) => OutputValue::Known(format!("http://{address}:{port}")),
            _ => OutputValue::Pending(format!(
                "{} has no load-balancer address yet: the AWS Load Balancer Controller has not provisioned its NLB",
                service.object()
            )),
        },
        None => OutputValue::Pending(format!(
            "release `{}` in namespace `{}` has no Ingress routing to Attu yet",
            m.release, m.namespace
        )),
    }
}

/// The cluster the stack's Kubernetes resources live on, as the providers
/// reach it: `[kubernetes] kubeconfig`, else the EKS cluster.
async fn kube_target(stack: &Stack) -> KubeTarget {
    if let Some(k) = &stack.kubernetes {
        return KubeTarget::kubeconfig(Some(&k.kubeconfig), k.context.as_deref());
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(stack.region.clone()))
        .load()
        .await;
    match config.credentials_provider() {
        Some(credentials) => KubeTarget::Eks(stackplan_kube::EksTarget {
            cluster: stack.eks.name.clone(),
            region: stack.region.clone(),
            credentials,
            locator: std::sync::Arc::new(stackplan_kube::DescribeCluster {
                client: aws_sdk_eks::Client::new(&config),
                cluster: stack.eks.name.clone(),
            }),
        }),
        // Without credentials nothing signs for EKS: the default
        // kubeconfig is the one left to try.
        None => KubeTarget::kubeconfig(None, None),
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `name = value`, one a line, sorted by name.
pub fn render_text(outputs: &Outputs) -> String {
    outputs
        .iter()
        .map(|(k, v)| format!("{k} = {}\n", v.text()))
        .collect()
}

/// The stable JSON document (docs/output-json.md).
pub fn render_json(stack: &str, outputs: &Outputs) -> String {
    let outputs: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.json()))
        .collect();
    format!(
        "{:#}\n",
        json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "stack": stack,
            "outputs": outputs,
        })
    )
}

/// What apply prints at its end: the outputs after the state it just
/// wrote. Never fails the apply: what cannot be read says why.
pub async fn show_after_apply(stack: &Stack, state: &StateDocument) {
    let outputs = collect(stack, state).await;
    let _ = output::emit(&format!("\nOutputs:\n\n{}", render_text(&outputs)), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_gets_the_nearest_one() {
        assert_eq!(distance("milvus_endpont", "milvus_endpoint"), 1);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stack = stackplan_stack::load(&root.join("stacks/milvus-eks.toml")).unwrap();
        let err = format!("{:?}", check_name(&stack, "milvus_endpont").unwrap_err());
        assert!(err.contains("did you mean `milvus_endpoint`?"), "{err}");
        assert!(check_name(&stack, "s3_bucket").is_ok());
        assert!(check_name(&stack, "").is_err());
    }

    fn milvus_of(attu: &str) -> stackplan_stack::Milvus {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("stacks/milvus-eks.toml")).unwrap();
        let from = "attu          = { enabled = true, scheme = \"internet-facing\" }";
        assert!(text.contains(from));
        let stack = stackplan_stack::parse("stack.toml", &text.replace(from, attu)).unwrap();
        stack.milvus.unwrap()
    }

    fn exposure(services: serde_json::Value, ingresses: serde_json::Value) -> ReleaseExposure {
        ReleaseExposure::from_objects(
            "milvus",
            serde_json::from_value(services).unwrap(),
            serde_json::from_value(ingresses).unwrap(),
        )
    }

    fn attu_ingress(hostname: Option<&str>) -> serde_json::Value {
        let status = match hostname {
            Some(h) => json!({"loadBalancer": {"ingress": [{"hostname": h}]}}),
            None => json!({}),
        };
        json!([{
            "metadata": {"name": "demo-milvus-attu"},
            "spec": {"defaultBackend": {"service": {"name": "demo-milvus-attu", "port": {"number": 3000}}}},
            "status": status,
        }])
    }

    fn attu_service(kind: &str, hostname: Option<&str>) -> serde_json::Value {
        let status = match hostname {
            Some(h) => json!({"loadBalancer": {"ingress": [{"hostname": h}]}}),
            None => json!({}),
        };
        json!([{
            "metadata": {"name": "demo-milvus-attu", "labels": {"component": "attu"}},
            "spec": {"type": kind, "ports": [{"port": 3000}]},
            "status": status,
        }])
    }

    #[test]
    fn attu_is_https_on_its_host_with_a_certificate_and_http_on_the_alb_without() {
        let plain = milvus_of("attu = { enabled = true, scheme = \"internet-facing\" }");
        let alb = "k8s-attu-1.us-west-2.elb.amazonaws.com";
        let e = exposure(attu_service("ClusterIP", None), attu_ingress(Some(alb)));
        assert_eq!(
            attu_url(&e, &plain),
            OutputValue::Known(format!("http://{alb}"))
        );
        let tls = milvus_of(
            "attu = { enabled = true, scheme = \"internet-facing\", host = \"attu.example.com\", certificate_arn = \"arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c\" }",
        );
        assert_eq!(
            attu_url(&e, &tls),
            OutputValue::Known("https://attu.example.com".into())
        );
        let pending = exposure(attu_service("ClusterIP", None), attu_ingress(None));
        let OutputValue::Pending(reason) = attu_url(&pending, &tls) else {
            panic!("not pending")
        };
        assert!(
            reason.starts_with("Ingress milvus/demo-milvus-attu has no load-balancer address"),
            "{reason}"
        );
    }

    #[test]
    fn attu_without_an_ingress_is_reached_on_its_load_balancer_service() {
        let m = milvus_of("attu = { enabled = true, scheme = \"internet-facing\" }");
        let e = exposure(
            attu_service("LoadBalancer", Some("attu-nlb.elb.amazonaws.com")),
            json!([]),
        );
        assert_eq!(
            attu_url(&e, &m),
            OutputValue::Known("http://attu-nlb.elb.amazonaws.com:3000".into())
        );
        let none = exposure(attu_service("ClusterIP", None), json!([]));
        assert!(matches!(attu_url(&none, &m), OutputValue::Pending(_)));
    }

    #[test]
    fn a_cluster_ip_milvus_service_is_given_by_its_in_cluster_name() {
        let m = milvus_of("attu = { enabled = true, scheme = \"internet-facing\" }");
        let e = exposure(
            json!([{"metadata": {"name": "demo-milvus"}, "spec": {"type": "ClusterIP", "ports": [{"port": 19530}]}}]),
            json!([]),
        );
        assert_eq!(
            milvus_endpoint(e.service_serving(MILVUS_PORT), &m),
            OutputValue::Known("demo-milvus.milvus.svc.cluster.local:19530".into())
        );
    }

    #[test]
    fn text_is_one_sorted_line_per_output_and_pending_says_why() {
        let outputs = Outputs::from([
            ("s3_bucket", OutputValue::Known("b".into())),
            ("eks_endpoint", OutputValue::Pending("not yet".into())),
        ]);
        assert_eq!(
            render_text(&outputs),
            "eks_endpoint = pending (not yet)\ns3_bucket = b\n"
        );
    }
}
