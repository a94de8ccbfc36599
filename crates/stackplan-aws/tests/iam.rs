//! IAM kinds against moto: roles, managed policies, the OIDC provider.

mod common;

use common::*;
use stackplan_core::{ResourceKind as K, Value};

fn trust(service: &str) -> Value {
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
    ])
}

fn s3_policy(bucket: &str, actions: &[&str]) -> Value {
    Value::map([
        ("Version", Value::string("2012-10-17")),
        (
            "Statement",
            Value::list([Value::map([
                ("Sid", Value::string("ReadWriteMilvusObjects")),
                ("Effect", Value::string("Allow")),
                (
                    "Action",
                    Value::list(actions.iter().map(|a| Value::string(*a))),
                ),
                (
                    "Resource",
                    Value::string(format!("arn:aws:s3:::{bucket}/*")),
                ),
            ])]),
        ),
    ])
}

#[tokio::test]
async fn role_trust_policy_reads_back_as_data_and_policies_attach_and_detach_in_place() {
    let p = provider().await;
    let a = addr(K::IamRole, "eks_cluster");
    let role = name("cluster");
    let desired = attrs([
        ("name", Value::string(&role)),
        ("assume_role_policy", trust("eks.amazonaws.com")),
        (
            "managed_policy_arns",
            strs(["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]),
        ),
        ("tags", tags([("Name", &role)])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert!(
        created.outputs["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":role/{role}"))
    );
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::IamRole, &desired, &live, &[]);

    // Trust policy and attached policies change in place.
    let changed = change(&desired, "assume_role_policy", trust("ec2.amazonaws.com"));
    let changed = change(
        &changed,
        "managed_policy_arns",
        strs([
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]),
    );
    let diffs = plan_diffs(K::IamRole, &changed, &live, &[]);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::IamRole, &changed, &updated, &[]);

    // A new name is a new role.
    assert!(
        plan_diffs(
            K::IamRole,
            &change(&changed, "name", "other".into()),
            &updated,
            &[]
        )[0]
        .force_new
    );

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn policy_document_change_makes_a_new_default_version_and_never_exceeds_five() {
    let p = provider().await;
    let a = addr(K::IamPolicy, "milvus_s3");
    let policy = name("milvus-s3");
    let bucket = name("bucket");
    let desired = attrs([
        ("name", Value::string(&policy)),
        (
            "document",
            s3_policy(&bucket, &["s3:GetObject", "s3:PutObject"]),
        ),
        ("tags", tags([("Name", &policy)])),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::IamPolicy, &desired, &live, &[]);
    // Not in state: found by name.
    let adopted = read(&p, &a, Some(&desired), None).await.unwrap();
    assert_eq!(adopted.physical_id, created.physical_id);

    // Six changes: IAM keeps five versions, the provider prunes the oldest.
    let mut current = desired.clone();
    for i in 0..6 {
        let actions: Vec<String> = (0..=i).map(|n| format!("s3:Action{n}")).collect();
        let refs: Vec<&str> = actions.iter().map(String::as_str).collect();
        current = change(&desired, "document", s3_policy(&bucket, &refs));
        let live = read(&p, &a, Some(&current), Some(&state)).await.unwrap();
        let diffs = plan_diffs(K::IamPolicy, &current, &live, &[]);
        assert_eq!(diffs.len(), 1);
        assert!(!diffs[0].force_new);
        let updated = update(&p, &a, &current, &state, &diffs).await.unwrap();
        assert_no_diff(K::IamPolicy, &current, &updated, &[]);
    }
    let live = read(&p, &a, Some(&current), Some(&state)).await.unwrap();
    assert_eq!(live.outputs["default_version_id"], Value::string("v7"));

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn oidc_provider_reads_its_url_with_the_scheme_and_outputs_the_issuer_host() {
    let p = provider().await;
    let a = addr(K::IamOidcProvider, "main");
    let host = format!(
        "oidc.eks.{REGION}.amazonaws.com/id/{}",
        name("x").to_uppercase()
    );
    let url = format!("https://{host}");
    let desired = attrs([
        ("url", Value::string(&url)),
        ("client_ids", strs(["sts.amazonaws.com"])),
        ("tags", tags([("Name", "demo-oidc")])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(created.outputs["issuer_host"], Value::string(&host));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::IamOidcProvider, &desired, &live, &[]);
    // Not in state: found by the issuer URL.
    assert_eq!(
        read(&p, &a, Some(&desired), None)
            .await
            .unwrap()
            .physical_id,
        created.physical_id
    );

    let more = change(
        &desired,
        "client_ids",
        strs(["sts.amazonaws.com", "milvus"]),
    );
    let diffs = plan_diffs(K::IamOidcProvider, &more, &live, &[]);
    assert!(!diffs[0].force_new);
    let updated = update(&p, &a, &more, &state, &diffs).await.unwrap();
    assert_no_diff(K::IamOidcProvider, &more, &updated, &[]);
    assert!(
        plan_diffs(
            K::IamOidcProvider,
            &change(&more, "url", "https://other".into()),
            &updated,
            &[]
        )[0]
        .force_new
    );

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}
