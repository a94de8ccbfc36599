//! The Kafka SCRAM password reaches Milvus through a Kubernetes Secret and
//! the components' environment, never through the Helm values (which the
//! Milvus charts write into a ConfigMap). The charts' component layouts are
//! the real ones: each chart of `../shared/charts` is read as plan reads it
//! (its `Chart.yaml` and `values.yaml`, straight out of the archive).

use std::path::{Path, PathBuf};

use stackplan_core::{Resource, ResourceAddr, ResourceKind, Value};
use stackplan_stack::{ChartProfile, Charts, Stack};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> String {
    std::fs::read_to_string(repo_root().join("stacks/milvus-eks.toml")).unwrap()
}

fn stack(text: &str) -> Stack {
    stackplan_stack::parse("stack.toml", text).unwrap_or_else(|e| panic!("{e:?}"))
}

/// One file of a packaged chart of `../shared/charts`.
fn chart_file(version: &str, file: &str) -> String {
    let archive = repo_root().join(format!("../shared/charts/milvus-{version}.tgz"));
    let out = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&archive)
        .arg(format!("milvus/{file}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {:?}", archive.display(), out);
    String::from_utf8(out.stdout).unwrap()
}

fn real_chart(version: &str) -> Charts {
    let profile = ChartProfile::parse(
        version,
        &chart_file(version, "Chart.yaml"),
        &chart_file(version, "values.yaml"),
    )
    .unwrap();
    Charts {
        milvus: Some(profile),
        load_balancer_controller: None,
    }
}

fn find<'r>(resources: &'r [Resource], addr: &str) -> &'r Resource {
    resources
        .iter()
        .find(|r| r.addr.to_string() == addr)
        .unwrap_or_else(|| panic!("{addr} is expanded"))
}

fn values(resources: &[Resource]) -> &Value {
    &find(resources, "helm_release.milvus").attrs["values"]
}

fn secret_addr() -> ResourceAddr {
    ResourceAddr::new(ResourceKind::K8sSecret, "kafka_sasl")
}

/// The entry every Milvus component gets.
fn password_env() -> Value {
    Value::map([
        ("name", Value::string("KAFKA_SASLPASSWORD")),
        (
            "valueFrom",
            Value::map([(
                "secretKeyRef",
                Value::map([
                    ("name", Value::reference(&secret_addr(), "name")),
                    ("key", Value::string("password")),
                ]),
            )]),
        ),
    ])
}

fn contains_sensitive(v: &Value) -> bool {
    match v {
        Value::Sensitive(_) | Value::Secret(_) => true,
        Value::List(items) => items.iter().any(contains_sensitive),
        Value::Map(m) => m.values().any(contains_sensitive),
        _ => false,
    }
}

#[test]
fn the_scram_password_is_in_a_secret_and_not_in_the_release_values() {
    let resources = stackplan_stack::expand(&stack(&reference()), &real_chart("4.2.8"));
    let values = values(&resources);
    let sasl = values.get_path("externalKafka.sasl").unwrap();
    assert_eq!(sasl.get_path("password"), None, "{sasl:?}");
    assert!(
        !contains_sensitive(values),
        "no secret in the values: {values:?}"
    );
    // The username is not a secret and stays in the configuration.
    assert_eq!(
        sasl.get_path("username"),
        Some(&Value::reference(
            &ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram"),
            "username"
        ))
    );

    let secret = find(&resources, "k8s_secret.kafka_sasl");
    assert_eq!(secret.attrs["name"], Value::string("demo-kafka-sasl"));
    assert_eq!(
        secret.attrs["namespace"],
        Value::reference(
            &ResourceAddr::new(ResourceKind::K8sNamespace, "milvus"),
            "name"
        )
    );
    assert_eq!(
        secret.attrs["labels"],
        Value::map([("app.kubernetes.io/managed-by", Value::string("stackplan"))])
    );
    // A reference to the Secrets Manager secret's password, sensitive: the
    // expansion never copies it.
    assert_eq!(
        secret.attrs["data"],
        Value::map([(
            "password",
            Value::Sensitive(Box::new(Value::reference(
                &ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram"),
                "password"
            )))
        )])
    );
    assert!(
        secret.dependencies().contains(&ResourceAddr::new(
            ResourceKind::SecretsmanagerSecret,
            "msk_scram"
        )),
        "{:?}",
        secret.dependencies()
    );
}

#[test]
fn the_release_depends_on_the_secret_with_or_without_a_chart() {
    for charts in [Charts::default(), real_chart("4.2.8")] {
        let resources = stackplan_stack::expand(&stack(&reference()), &charts);
        let release = find(&resources, "helm_release.milvus");
        assert!(
            release.dependencies().contains(&secret_addr()),
            "{:?}",
            release.dependencies()
        );
    }
}

#[test]
fn every_milvus_component_each_real_chart_deploys_reads_the_password_from_the_secret() {
    // The chart's layout, as its templates render it with these values
    // (`tests/real_charts.rs` in stackplan-cli renders them).
    let expected: [(&str, &[&str]); 3] = [
        (
            "4.1.28",
            &[
                "rootCoordinator",
                "queryCoordinator",
                "indexCoordinator",
                "dataCoordinator",
                "proxy",
                "queryNode",
                "dataNode",
                "indexNode",
            ],
        ),
        (
            "4.2.8",
            &[
                "mixCoordinator",
                "proxy",
                "queryNode",
                "dataNode",
                "indexNode",
            ],
        ),
        (
            "5.0.19",
            &[
                "mixCoordinator",
                "proxy",
                "queryNode",
                "dataNode",
                "streamingNode",
            ],
        ),
    ];
    let all = [
        "rootCoordinator",
        "queryCoordinator",
        "indexCoordinator",
        "dataCoordinator",
        "mixCoordinator",
        "proxy",
        "queryNode",
        "dataNode",
        "indexNode",
        "streamingNode",
        "standalone",
        "attu",
        "etcd",
    ];
    for (version, components) in expected {
        let resources = stackplan_stack::expand(&stack(&reference()), &real_chart(version));
        let values = values(&resources);
        for key in all {
            let env = values.get_path(&format!("{key}.extraEnv"));
            if components.contains(&key) {
                assert_eq!(
                    env,
                    Some(&Value::list([password_env()])),
                    "{version}: {key}"
                );
            } else {
                assert_eq!(
                    env, None,
                    "{version}: {key} is not a Milvus component it runs"
                );
            }
        }
    }
}

#[test]
fn standalone_mode_gives_the_standalone_pod_the_password() {
    let text = format!(
        "{}\n[milvus.values]\ncluster = {{ enabled = false }}\n",
        reference()
    );
    let resources = stackplan_stack::expand(&stack(&text), &real_chart("5.0.19"));
    let values = values(&resources);
    assert_eq!(
        values.get_path("standalone.extraEnv"),
        Some(&Value::list([password_env()]))
    );
    assert_eq!(values.get_path("proxy.extraEnv"), None);
}

#[test]
fn a_users_own_extra_env_comes_after_the_generated_entry() {
    let text = format!(
        "{}\n[milvus.values]\nproxy = {{ extraEnv = [{{ name = \"GODEBUG\", value = \"madvdontneed=1\" }}] }}\n",
        reference()
    );
    let resources = stackplan_stack::expand(&stack(&text), &real_chart("4.2.8"));
    let values = values(&resources);
    assert_eq!(
        values.get_path("proxy.extraEnv"),
        Some(&Value::list([
            password_env(),
            Value::map([
                ("name", Value::string("GODEBUG")),
                ("value", Value::string("madvdontneed=1")),
            ]),
        ]))
    );
    // The user's other keys of the component still merge as before.
    assert_eq!(
        values.get_path("proxy.replicas"),
        Some(&Value::Int(2)),
        "HA's proxies"
    );
    assert_eq!(
        values.get_path("queryNode.extraEnv"),
        Some(&Value::list([password_env()]))
    );
}

#[test]
fn a_user_entry_milvus_would_read_as_the_kafka_password_is_refused_naming_it() {
    for name in [
        "KAFKA_SASLPASSWORD",
        "KAFKA_SASL_PASSWORD",
        "kafka.saslPassword",
    ] {
        let text = format!(
            "{}\n[milvus.values]\nqueryNode = {{ extraEnv = [{{ name = \"X\", value = \"1\" }}, {{ name = \"{name}\", valueFrom = {{ secretKeyRef = {{ name = \"mine\", key = \"pw\" }} }} }}] }}\n",
            reference()
        );
        let stack = stack(&text);
        let err = stackplan_stack::check_charts(&stack, &real_chart("4.2.8")).unwrap_err();
        let [problem] = err.problems() else {
            panic!("one problem: {:?}", err.problems());
        };
        assert_eq!(
            problem.message,
            format!(
                "`milvus.values.queryNode.extraEnv[1]`: Milvus reads `{name}` as the Kafka SASL password, which stackplan sets itself"
            )
        );
        let hint = problem.hint.as_deref().unwrap_or_default();
        assert!(hint.contains("`demo-kafka-sasl`"), "{hint}");
    }
}

#[test]
fn the_pods_carry_the_secrets_resource_version_to_roll_on_rotation() {
    for version in ["4.1.28", "4.2.8", "5.0.19"] {
        let resources = stackplan_stack::expand(&stack(&reference()), &real_chart(version));
        // Top-level `annotations`: every chart puts them on each Milvus
        // pod template. A resource version, not anything derived from the
        // password.
        assert_eq!(
            values(&resources).get_path("annotations"),
            Some(&Value::map([(
                "stackplan/kafka-sasl-secret-version",
                Value::reference(&secret_addr(), "resource_version")
            )])),
            "{version}"
        );
    }
}

#[test]
fn without_msk_there_is_no_secret_and_no_password_variable() {
    let text = reference();
    let start = text.find("[msk]").unwrap();
    let end = text.find("[milvus]").unwrap();
    let without = format!("{}{}", &text[..start], &text[end..]);
    let resources = stackplan_stack::expand(&stack(&without), &real_chart("4.2.8"));
    assert!(
        !resources
            .iter()
            .any(|r| r.addr.kind == ResourceKind::K8sSecret),
        "no Secret without MSK"
    );
    let values = values(&resources);
    assert_eq!(values.get_path("proxy.extraEnv"), None);
    assert_eq!(values.get_path("annotations"), None);
    assert_eq!(values.get_path("externalKafka"), None);
}
