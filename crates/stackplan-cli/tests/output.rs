//! `stackplan output`, end to end: the real binary applying
//! `stacks/milvus-local.toml` against the emulators, then asked where the
//! deployment is. Nothing on the emulators' apiserver gives a Service a
//! load-balancer address, so the Milvus endpoint is pending until the test
//! writes one into the Service's status, as the AWS Load Balancer
//! Controller would.

mod common;

use std::collections::BTreeSet;

use common::workspace::{PASSWORD, Workspace, kubectl, text};
use stackplan_testkit::Emulators;

/// The objects the real Milvus chart makes for release `demo`
/// (`milvus.fullname` and `milvus.attu.fullname`), in the stack's
/// namespace.
const NAMESPACE: &str = "milvus";
const MILVUS_SERVICE: &str = "demo-milvus";
const ATTU_INGRESS: &str = "demo-milvus-attu";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `hostname` into the object's `status.loadBalancer.ingress`, as
/// a load-balancer controller does.
fn set_load_balancer(emulators: &Emulators, kind: &str, name: &str, hostname: &str) {
    let patch = serde_json::json!({
        "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
    });
    kubectl(
        emulators,
        NAMESPACE,
        &[
            "patch",
            kind,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ],
    );
}

#[test]
fn output_before_apply_is_an_error_then_lists_every_key_pending_until_the_load_balancer_has_an_address()
 {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();

    // Nothing applied: a clear error, nothing on stdout.
    let before = w.run(&emulators, &["output", &stack]);
    assert_eq!(before.status.code(), Some(1), "{}", text(&before));
    assert!(stdout(&before).is_empty(), "{}", text(&before));
    assert!(
        stderr(&before).contains("has not been applied"),
        "{}",
        text(&before)
    );
    assert!(
        stderr(&before).contains("stackplan apply"),
        "{}",
        text(&before)
    );

    // Apply prints the outputs at its end.
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let applied = stdout(&apply);
    let tail = &applied[applied
        .find("Outputs:")
        .unwrap_or_else(|| panic!("{}", text(&apply)))..];
    assert!(tail.contains("\ns3_bucket = acme-milvus-local\n"), "{tail}");
    assert!(tail.contains("\nmilvus_endpoint = pending ("), "{tail}");

    // Every key of the stack's sections; the proxy Service has no address.
    let json = w.run(&emulators, &["output", "--json", &stack]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let doc: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|_| panic!("{}", text(&json)));
    assert_eq!(doc["format_version"], "1.0");
    assert_eq!(doc["stack"], "milvus-local");
    let outputs = doc["outputs"].as_object().unwrap();
    let keys: BTreeSet<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "attu_url",
            "eks_cluster_name",
            "eks_endpoint",
            "kubeconfig_command",
            "milvus_endpoint",
            "msk_bootstrap_brokers",
            "s3_bucket",
        ]),
        "{doc:#}"
    );
    let known = |k: &str| {
        assert_eq!(outputs[k]["status"], "known", "{k}: {doc:#}");
        outputs[k]["value"].as_str().unwrap().to_string()
    };
    assert_eq!(known("s3_bucket"), "acme-milvus-local");
    assert_eq!(known("eks_cluster_name"), "milvus-local");
    assert_eq!(
        known("kubeconfig_command"),
        "aws eks update-kubeconfig --name milvus-local --region us-west-2"
    );
    assert!(known("eks_endpoint").starts_with("https://"), "{doc:#}");
    let brokers = known("msk_bootstrap_brokers");
    assert!(
        brokers.contains(":9096"),
        "not the SASL/SCRAM port: {brokers}"
    );
    let milvus = &outputs["milvus_endpoint"];
    assert_eq!(milvus["status"], "pending", "{doc:#}");
    assert_eq!(milvus["value"], serde_json::Value::Null);
    let reason = milvus["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("Service {NAMESPACE}/{MILVUS_SERVICE}"))
            && reason.contains("no load-balancer address"),
        "{reason}"
    );
    assert_eq!(outputs["attu_url"]["status"], "pending", "{doc:#}");

    // Text: one sorted `name = value` line per key.
    let plain = w.run(&emulators, &["output", &stack]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    let lines: Vec<String> = stdout(&plain).lines().map(str::to_string).collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    assert_eq!(names, keys.iter().copied().collect::<Vec<_>>(), "{lines:?}");

    // One name: the value alone; a pending one and an unknown one fail.
    let bucket = w.run(&emulators, &["output", &stack, "s3_bucket"]);
    assert_eq!(bucket.status.code(), Some(0), "{}", text(&bucket));
    assert_eq!(stdout(&bucket), "acme-milvus-local\n");
    let pending = w.run(&emulators, &["output", &stack, "milvus_endpoint"]);
    assert_eq!(pending.status.code(), Some(1), "{}", text(&pending));
    assert!(stdout(&pending).is_empty(), "{}", text(&pending));
    assert!(
        stderr(&pending).contains("is pending"),
        "{}",
        text(&pending)
    );
    let typo = w.run(&emulators, &["output", &stack, "milvus_endpont"]);
    assert_eq!(typo.status.code(), Some(1), "{}", text(&typo));
    assert!(
        stderr(&typo).contains("did you mean `milvus_endpoint`?"),
        "{}",
        text(&typo)
    );

    // The load balancers get their addresses.
    set_load_balancer(
        &emulators,
        "service",
        MILVUS_SERVICE,
        "milvus-nlb-0123.elb.us-west-2.amazonaws.com",
    );
    set_load_balancer(
        &emulators,
        "ingress",
        ATTU_INGRESS,
        "k8s-attu-4567.us-west-2.elb.amazonaws.com",
    );
    let endpoint = w.run(&emulators, &["output", &stack, "milvus_endpoint"]);
    assert_eq!(endpoint.status.code(), Some(0), "{}", text(&endpoint));
    assert_eq!(
        stdout(&endpoint),
        "milvus-nlb-0123.elb.us-west-2.amazonaws.com:19530\n"
    );
    let attu = w.run(&emulators, &["output", &stack, "attu_url"]);
    assert_eq!(attu.status.code(), Some(0), "{}", text(&attu));
    assert_eq!(
        stdout(&attu),
        "http://k8s-attu-4567.us-west-2.elb.amazonaws.com\n"
    );

    // Secrets are never outputs: not the SCRAM password, in any form.
    let all = w.run(&emulators, &["output", "--json", &stack]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    for (what, out) in [
        ("apply", &apply),
        ("output --json", &json),
        ("output", &plain),
        ("output --json (addresses)", &all),
    ] {
        let t = text(out);
        assert!(!t.contains(PASSWORD), "{what} shows the SCRAM password");
    }
    // No output is a sensitive value, even masked.
    assert!(!stdout(&all).contains("sensitive"), "{}", text(&all));

    // An apply with nothing to do still says where the deployment is, as
    // `terraform apply` does.
    let again = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(stderr(&again).contains("No changes"), "{}", text(&again));
    assert!(
        stdout(&again)
            .contains("\nmilvus_endpoint = milvus-nlb-0123.elb.us-west-2.amazonaws.com:19530\n"),
        "{}",
        text(&again)
    );
}
