//! `stackplan render`: the generated Milvus values of the reference stack
//! carry every setting of the reference values' six sections.

mod common;

use common::{Scratch, reference_stack, reference_with};

fn render(text: &str) -> String {
    let run = Scratch::with_stack(text).run(&["render", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[test]
fn reference_values() {
    insta::assert_snapshot!(render(&reference_stack()));
}

/// What every Milvus component gets in its `extraEnv`: the SCRAM password
/// from the stack's Secret, which keeps it out of the chart's ConfigMap.
const PASSWORD_ENV: &str = "  extraEnv:\n  - name: KAFKA_SASLPASSWORD\n    valueFrom:\n      secretKeyRef:\n        key: password\n        name: demo-kafka-sasl\n";

#[test]
fn reference_values_contain_every_setting_of_the_six_sections() {
    let yaml = render(&reference_stack());
    let e = PASSWORD_ENV;
    let expected = [
        // 1. S3 as object storage.
        "  create: false\n  name: milvus-s3-access-sa",
        "minio:\n  enabled: false",
        "  enabled: true\n  host: s3.us-west-2.amazonaws.com\n  iamEndpoint: ''\n  port: '443'\n  region: us-west-2\n  rootPath: milvus\n  useIAM: true\n  useSSL: true",
        "  bucketName: acme-milvus-demo\n  cloudProvider: aws",
        // 2. MSK as message storage.
        "pulsar:\n  enabled: false",
        "kafka:\n  enabled: false",
        "  brokerList: '(known after apply: msk_cluster.milvus.bootstrap_brokers_sasl_scram)'",
        // The password is not among the values: from the Secret, by env.
        "    mechanisms: SCRAM-SHA-512\n    username: milvus\n  securityProtocol: SASL_SSL",
        "annotations:\n  stackplan/kafka-sasl-secret-version: '(known after apply: k8s_secret.kafka_sasl.resource_version)'",
        // 3. Service.
        "    service.beta.kubernetes.io/aws-load-balancer-name: milvus-service",
        "    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip",
        "    service.beta.kubernetes.io/aws-load-balancer-scheme: internal",
        "    service.beta.kubernetes.io/aws-load-balancer-type: external",
        "  port: 19530\n  type: LoadBalancer",
        // 4. Attu: every host routed to it.
        "      alb.ingress.kubernetes.io/group.name: attu\n      alb.ingress.kubernetes.io/scheme: internet-facing\n      alb.ingress.kubernetes.io/target-type: ip\n      kubernetes.io/ingress.class: alb\n    enabled: true\n    hosts:\n    - ''\n  name: attu",
        // 5. HA: chart 4.2.8 runs one mixed coordinator, doubled.
        &format!(
            "mixCoordinator:\n  activeStandby:\n    enabled: true\n{e}  replicas: 2\n  resources:\n    limits:\n      cpu: '2.5'\n      memory: 3.5Gi"
        ),
        &format!(
            "proxy:\n{e}  replicas: 2\n  resources:\n    limits:\n      cpu: '1'\n      memory: 4Gi"
        ),
        // 6. Resources.
        &format!(
            "queryNode:\n{e}  replicas: 1\n  resources:\n    limits:\n      cpu: '2'\n      memory: 8Gi"
        ),
        &format!(
            "dataNode:\n{e}  replicas: 1\n  resources:\n    limits:\n      cpu: '1'\n      memory: 4Gi"
        ),
        &format!(
            "indexNode:\n{e}  replicas: 1\n  resources:\n    limits:\n      cpu: '4'\n      memory: 8Gi"
        ),
    ];
    for setting in expected {
        assert!(yaml.contains(setting), "missing:\n{setting}\n\nin:\n{yaml}");
    }
    assert!(!yaml.contains("password: "), "{yaml}");
}

#[test]
fn secret_values_never_appear_in_the_rendered_values() {
    let scratch = Scratch::with_stack(&reference_stack());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stackplan"))
        .args(["render", "stack.toml"])
        .current_dir(scratch.path())
        .env("MSK_SCRAM_PASSWORD", "s3cr3t-from-env")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cr3t-from-env"));
}

#[test]
fn extra_values_are_deep_merged_over_the_generated_ones() {
    let text = format!(
        "{}\n[milvus.values]\nproxy = {{ replicas = 4 }}\nlog = {{ level = \"debug\" }}\n",
        reference_stack()
    );
    let yaml = render(&text);
    assert!(
        yaml.contains(&format!(
            "proxy:\n{PASSWORD_ENV}  replicas: 4\n  resources:\n    limits:\n      cpu: '1'"
        )),
        "{yaml}"
    );
    assert!(yaml.contains("log:\n  level: debug"), "{yaml}");
}

#[test]
fn without_msk_and_s3_the_chart_keeps_its_in_cluster_storage() {
    let text = reference_with(&[(
        "[s3]\nbucket    = \"acme-milvus-demo\"\nroot_path = \"milvus\"\n",
        "",
    )]);
    let start = text.find("[msk]").unwrap();
    let end = text.find("[milvus]").unwrap();
    let text = format!("{}{}", &text[..start], &text[end..]);
    let yaml = render(&text);
    for absent in [
        "externalS3",
        "externalKafka",
        "minio",
        "pulsar",
        "serviceAccount",
    ] {
        assert!(
            !yaml.contains(absent),
            "`{absent}` should be left to the chart:\n{yaml}"
        );
    }
}

#[test]
fn sizing_computes_the_worker_resources() {
    let text = reference_with(&[
        (
            "[milvus.resources]           # or: sizing = { vectors = 1_000_000, dim = 1024, index = \"HNSW\" }\nquery_node = { replicas = 1, cpu = \"2\", memory = \"8Gi\" }\ndata_node  = { replicas = 1, cpu = \"1\", memory = \"4Gi\" }\nindex_node = { replicas = 1, cpu = \"4\", memory = \"8Gi\" }\n",
            "",
        ),
        (
            "ha            = true",
            "ha            = true\nsizing        = { vectors = 1_000_000, dim = 1024, index = \"HNSW\" }",
        ),
    ]);
    let sized = render(&text);
    let given = render(&reference_stack());
    assert_eq!(
        sized, given,
        "the sizing model reproduces the reference resources for 1M x 1024 HNSW"
    );
}
