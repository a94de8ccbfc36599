//! Every validation rule of the stack file, each with the exact error a
//! user sees (file, line, column, field and hint), as insta snapshots.

mod common;

use common::{Scratch, reference_stack, reference_with, validate_error};

/// One rule: the reference stack with `edits` applied fails with the
/// snapshotted message.
fn check(name: &str, edits: &[(&str, &str)]) {
    let stderr = validate_error(&reference_with(edits));
    insta::assert_snapshot!(name, stderr);
}

#[test]
fn reference_stack_is_valid() {
    let run = Scratch::with_stack(&reference_stack()).run(&["validate", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout, @"stack.toml is valid: stack `milvus-demo`, 35 resources (31 managed, 4 looked up), 74 dependencies");
}

#[test]
fn examples_are_valid() {
    for example in [
        "examples/minimal.toml",
        "examples/new-vpc.toml",
        "stacks/milvus-eks.toml",
        "stacks/milvus-local.toml",
    ] {
        let text = std::fs::read_to_string(common::repo_root().join(example)).unwrap();
        let run = Scratch::with_stack(&text).run(&["validate", "stack.toml"]);
        assert_eq!(run.code, 0, "{example}: {}", run.stderr);
    }
}

#[test]
fn toml_syntax_error() {
    check(
        "toml_syntax_error",
        &[("brokers       = 3", "brokers       = 3 3")],
    );
}

#[test]
fn unknown_key_suggests_the_nearest_valid_key() {
    check(
        "unknown_key",
        &[(
            "instance_type = \"m6i.2xlarge\"",
            "instance_typ = \"m6i.2xlarge\"",
        )],
    );
}

#[test]
fn unknown_section_lists_nothing_but_is_reported() {
    check("unknown_section", &[("[s3]", "[s4]")]);
}

#[test]
fn wrong_type() {
    check(
        "wrong_type",
        &[("desired       = 3", "desired       = \"three\"")],
    );
}

#[test]
fn eks_version_given_as_a_number_asks_for_quotes() {
    check(
        "eks_version_number",
        &[("version = \"1.30\"", "version = 1.30")],
    );
}

#[test]
fn eks_version_format() {
    check(
        "eks_version_format",
        &[("version = \"1.30\"", "version = \"v1.30.2\"")],
    );
}

#[test]
fn missing_required_key() {
    check("missing_key", &[("kafka_version = \"3.6.0\"\n", "")]);
}

#[test]
fn missing_keys_of_an_implied_section() {
    // `[[eks.nodegroup]]` makes the [eks] table exist, so what is missing
    // are its keys, reported at the header that implied it.
    check(
        "missing_eks_keys",
        &[("[eks]\nname    = \"milvus-demo\"\nversion = \"1.30\"\n", "")],
    );
}

#[test]
fn missing_required_section() {
    check(
        "missing_section",
        &[(
            "[stack]\nname   = \"milvus-demo\"\nregion = \"us-west-2\"\n",
            "",
        )],
    );
}

#[test]
fn duplicate_nodegroup_names() {
    check(
        "duplicate_nodegroup",
        &[(
            "[eks.addons]",
            "[[eks.nodegroup]]\nname          = \"ng-1-milvus\"\ninstance_type = \"m6i.large\"\ndesired       = 1\n\n[eks.addons]",
        )],
    );
}

#[test]
fn invalid_s3_bucket_name() {
    check(
        "invalid_bucket",
        &[(
            "bucket    = \"acme-milvus-demo\"",
            "bucket    = \"Acme_Milvus\"",
        )],
    );
}

#[test]
fn invalid_kubernetes_name() {
    check(
        "invalid_namespace",
        &[(
            "namespace     = \"milvus\"",
            "namespace     = \"Milvus_NS\"",
        )],
    );
}

#[test]
fn invalid_cidr_with_host_bits() {
    check(
        "invalid_cidr",
        &[(
            "vpc_id          = \"vpc-0123456789abcdef0\"\nprivate_subnets = [\"subnet-0aaa1111\", \"subnet-0bbb2222\", \"subnet-0ccc3333\"]",
            "create = { cidr = \"10.0.0.1/16\", azs = 3 }",
        )],
    );
}

#[test]
fn malformed_vpc_and_subnet_ids() {
    check(
        "malformed_ids",
        &[
            ("vpc-0123456789abcdef0", "vpc-xyz"),
            ("subnet-0bbb2222", "sn-0bbb2222"),
        ],
    );
}

#[test]
fn vpc_id_together_with_create() {
    check(
        "vpc_id_and_create",
        &[("# or, to create one:  create", "create")],
    );
}

#[test]
fn broker_count_not_a_multiple_of_the_subnets() {
    check(
        "broker_multiple",
        &[("brokers       = 3", "brokers       = 4")],
    );
}

#[test]
fn plaintext_secret_is_refused_and_never_printed() {
    let stderr = validate_error(&reference_with(&[(
        "env:MSK_SCRAM_PASSWORD",
        "hunter2-Sup3rSecret",
    )]));
    assert!(
        !stderr.contains("hunter2-Sup3rSecret"),
        "the secret leaked:\n{stderr}"
    );
    assert!(
        !stderr.contains("Sup3r"),
        "part of the secret leaked:\n{stderr}"
    );
    insta::assert_snapshot!("plaintext_secret", stderr);
}

#[test]
fn plaintext_secret_in_extra_helm_values_is_refused() {
    let text = format!(
        "{}\n[milvus.values]\nminio = {{ rootPassword = \"letmein-42\" }}\n",
        reference_stack()
    );
    let stderr = validate_error(&text);
    assert!(
        !stderr.contains("letmein-42"),
        "the secret leaked:\n{stderr}"
    );
    insta::assert_snapshot!("plaintext_secret_in_values", stderr);
}

/// Token-like keys of any release's values hold secrets too (README,
/// "Secrets"): a plaintext one is refused, naming the field, and never
/// printed.
#[test]
fn plaintext_token_in_any_values_table_is_refused_and_never_printed() {
    let text = format!(
        "{}\n[milvus.values]\nproxy = {{ accessToken = \"tok-Sup3rSecret-1\" }}\n\n[load_balancer_controller.values]\nclientSecret = \"cs-Sup3rSecret-2\"\n",
        reference_stack()
    );
    let stderr = validate_error(&text);
    assert!(!stderr.contains("Sup3r"), "the secret leaked:\n{stderr}");
    insta::assert_snapshot!("plaintext_token_in_values", stderr);
}

/// A secret under a key the parser does not know (here `passwd`, a typo
/// for `password`) is not refused as a secret, but its value is masked in
/// the unknown-key error all the same.
#[test]
fn value_of_a_misspelt_secret_key_is_masked() {
    let stderr = validate_error(&reference_with(&[(
        "password = \"env:MSK_SCRAM_PASSWORD\"",
        "passwd = \"hunter2-Sup3rSecret\"",
    )]));
    assert!(!stderr.contains("Sup3r"), "the secret leaked:\n{stderr}");
    insta::assert_snapshot!("misspelt_secret_key", stderr);
}

/// AWS's tag rules, checked at validate: each error names the line, the
/// tag and the character, escaped; no control character or bidirectional
/// override reaches the terminal raw.
#[test]
fn tags_aws_refuses_are_errors_naming_the_character() {
    let long = "k".repeat(129);
    let stderr = validate_error(&reference_with(&[(
        "region = \"us-west-2\"\n",
        &format!(
            "region = \"us-west-2\"\ntags   = {{ team = \"data\\nplatform\", \"owner\\u001B[0m\" = \"x\", note = \"abc\u{202E}fed\", \"aws:team\" = \"x\", {long} = \"x\" }}\n"
        ),
    )]));
    for c in ['\u{1b}', '\u{202e}'] {
        assert!(!stderr.contains(c), "{c:?} printed raw:\n{stderr}");
    }
    insta::assert_snapshot!("invalid_tags", stderr);
}

#[test]
fn secret_recovery_days_is_0_or_7_to_30() {
    check(
        "secret_recovery_days",
        &[(
            "brokers       = 3",
            "brokers       = 3\nsecret_recovery_days = 45",
        )],
    );
}

#[test]
fn several_errors_are_all_reported_in_one_run() {
    check(
        "several_errors",
        &[
            ("region = \"us-west-2\"", "region = \"us-west\""),
            (
                "instance_type = \"m6i.2xlarge\"",
                "instance_typo = \"m6i.2xlarge\"",
            ),
            ("bucket    = \"acme-milvus-demo\"", "bucket    = \"ab\""),
            ("brokers       = 3", "brokers       = 5"),
        ],
    );
}

#[test]
fn sizing_and_resources_are_exclusive() {
    check(
        "sizing_and_resources",
        &[(
            "ha            = true",
            "ha            = true\nsizing        = { vectors = 1_000_000, dim = 1024, index = \"HNSW\" }",
        )],
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let run = Scratch::with_stack("").run(&["validate", "nope.toml"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn binary_garbage_is_an_error_not_a_panic() {
    let scratch = Scratch::with_stack("");
    std::fs::write(
        scratch.path().join("stack.toml"),
        [0xff, 0xfe, 0x00, 0x9f, 0x92, 0x96],
    )
    .unwrap();
    let run = scratch.run(&["validate", "stack.toml"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn extra_policy_arns_must_be_policy_arns() {
    check(
        "bad_policy_arn",
        &[(
            "root_path = \"milvus\"",
            "root_path = \"milvus\"\npolicy_arns = [\"AmazonS3FullAccess\"]",
        )],
    );
}

/// EKS refuses STS session principals and takes one entry per principal
/// (botocore `eks` model, CreateAccessEntryRequest `principalArn`); a
/// policy is one of EKS's access policies, by its short name.
#[test]
fn access_entries_name_a_role_or_user_once_with_a_known_policy() {
    check(
        "access_entries",
        &[(
            "[eks.addons]",
            "[[eks.access]]\nprincipal = \"arn:aws:sts::123456789012:assumed-role/ci-plan/run-42\"\npolicy    = \"admin-veiw\"\n\n[[eks.access]]\nprincipal  = \"arn:aws:iam::123456789012:role/ops\"\npolicy     = \"edit\"\nnamespaces = [\"Milvus\"]\n\n[[eks.access]]\nprincipal = \"arn:aws:iam::123456789012:role/ops\"\npolicy    = \"view\"\n\n[eks.addons]",
        )],
    );
}

/// `memory = "8"` is 8 bytes to Kubernetes: refused with the unit it
/// lacks; a CPU of "2000" is millicores without their `m`; a unit in the
/// wrong case gets Kubernetes' spelling. All in one run.
#[test]
fn cpu_and_memory_must_be_quantities_a_node_can_hold() {
    check(
        "cpu_and_memory_quantities",
        &[
            (
                "query_node = { replicas = 1, cpu = \"2\", memory = \"8Gi\" }",
                "query_node = { replicas = 1, cpu = \"2000\", memory = \"8\" }",
            ),
            (
                "data_node  = { replicas = 1, cpu = \"1\", memory = \"4Gi\" }",
                "data_node  = { replicas = 1, cpu = \"1m\", memory = \"4gb\" }",
            ),
            (
                "index_node = { replicas = 1, cpu = \"4\", memory = \"8Gi\" }",
                "index_node = { replicas = 1, cpu = \"4\", memory = \"3Ti\" }",
            ),
        ],
    );
}

/// A region one typo away from a known one names it.
#[test]
fn a_misspelt_region_gets_a_did_you_mean() {
    check(
        "misspelt_region",
        &[("region = \"us-west-2\"", "region = \"us-wset-2\"")],
    );
}

/// Several errors in [milvus] come in one run, with the rest of the
/// file's.
#[test]
fn every_error_in_milvus_is_reported_in_one_run() {
    check(
        "milvus_errors_in_one_run",
        &[
            ("release       = \"demo\"", "release       = \"Demo\""),
            (
                "namespace     = \"milvus\"",
                "namespace     = \"milvus_ns\"",
            ),
            (
                "service       = { type = \"LoadBalancer\", scheme = \"internal\" }",
                "service       = { type = \"Loadbalancer\", scheme = \"internal\" }",
            ),
            (
                "data_node  = { replicas = 1, cpu = \"1\", memory = \"4Gi\" }",
                "data_node  = { replicas = 1, cpu = \"1\", memory = \"4\" }",
            ),
        ],
    );
}

/// A NAT layout typo and an unknown key in [network] come together: the
/// first no longer hides the second.
#[test]
fn a_bad_nat_layout_does_not_hide_the_rest_of_network() {
    let text = std::fs::read_to_string(common::repo_root().join("examples/new-vpc.toml"))
        .unwrap()
        .replacen(
            "create = { cidr = \"10.20.0.0/16\", azs = 3 }",
            "create = { cidr = \"10.20.0.0/16\", azs = 3, nat = \"per_az\" }\nsubnet_tags = {}",
            1,
        );
    insta::assert_snapshot!("network_errors_in_one_run", validate_error(&text));
}
