//! The KMS key and the SCRAM secret against moto.

mod common;

use common::*;
use stackplan_core::{ResourceKind as K, SecretSource, Value};

#[tokio::test]
async fn key_with_alias_round_trips_updates_description_in_place_and_reads_absent_once_scheduled_for_deletion()
 {
    let p = provider().await;
    let a = addr(K::KmsKey, "msk_scram");
    let alias = format!("alias/{}", name("msk-scram"));
    let desired = attrs([
        ("description", "Encrypts the SASL/SCRAM secret".into()),
        ("alias", Value::string(&alias)),
        ("tags", tags([("Name", "msk-scram")])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert!(created.outputs["arn"].as_str().unwrap().contains(":key/"));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::KmsKey, &desired, &live, &[]);
    // Not in state: the alias finds it.
    assert_eq!(
        read(&p, &a, Some(&desired), None)
            .await
            .unwrap()
            .physical_id,
        created.physical_id
    );

    let new_alias = format!("alias/{}", name("renamed"));
    let changed = change(&desired, "description", "rotated".into());
    let changed = change(&changed, "alias", Value::string(&new_alias));
    let diffs = plan_diffs(K::KmsKey, &changed, &live, &[]);
    assert_eq!(diffs.len(), 2);
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::KmsKey, &changed, &updated, &[]);
    assert_eq!(updated.outputs["aliases"], strs([new_alias.as_str()]));

    let mut after = state.clone();
    after.attributes = changed.clone();
    delete(&p, &a, &after).await;
    assert!(read(&p, &a, Some(&changed), Some(&after)).await.is_none());
}

#[tokio::test]
async fn scram_secret_from_the_environment_round_trips_and_its_password_stays_sensitive() {
    let p = provider().await;
    let key = create(
        &p,
        &addr(K::KmsKey, "k"),
        &attrs([("description", "scram".into())]),
    )
    .await;
    let key_arn = key.outputs["arn"].clone();
    // Cargo sets this for the test process; setting a variable here would
    // need `unsafe`, which the workspace forbids.
    let var = "CARGO_PKG_NAME".to_string();
    let from_env = env!("CARGO_PKG_NAME");
    let a = addr(K::SecretsmanagerSecret, "msk_scram");
    let secret = format!("AmazonMSK_{}", name("demo"));
    let desired = attrs([
        ("name", Value::string(&secret)),
        ("kms_key_id", key_arn.clone()),
        ("username", "milvus".into()),
        ("password", Value::Secret(SecretSource::Env(var.clone()))),
        ("tags", tags([("Name", &secret)])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(created.outputs["username"], Value::string("milvus"));
    assert_eq!(
        created.outputs["password"],
        Value::Sensitive(Box::new(Value::string(from_env)))
    );
    assert!(
        !created.attrs.contains_key("password"),
        "the password is an output only"
    );
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::SecretsmanagerSecret, &desired, &live, &["password"]);

    // A new username is written in place as a new secret value.
    let renamed = change(&desired, "username", "milvus2".into());
    let diffs = plan_diffs(K::SecretsmanagerSecret, &renamed, &live, &["password"]);
    assert!(!diffs[0].force_new);
    let updated = update(&p, &a, &renamed, &state, &diffs).await.unwrap();
    assert_no_diff(K::SecretsmanagerSecret, &renamed, &updated, &["password"]);
    assert_eq!(
        updated.outputs["password"],
        Value::Sensitive(Box::new(Value::string(from_env)))
    );
    // The name is the identity MSK needs: a new name is a new secret.
    assert!(
        plan_diffs(
            K::SecretsmanagerSecret,
            &change(&renamed, "name", "AmazonMSK_x".into()),
            &updated,
            &["password"]
        )[0]
        .force_new
    );

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn generated_password_is_made_once_and_kept_across_updates() {
    let p = provider().await;
    let a = addr(K::SecretsmanagerSecret, "generated");
    let desired = attrs([
        ("name", Value::string(format!("AmazonMSK_{}", name("gen")))),
        ("username", "milvus".into()),
        ("password", Value::Secret(SecretSource::Generate)),
    ]);
    let created = create(&p, &a, &desired).await;
    let Value::Sensitive(first) = created.outputs["password"].clone() else {
        panic!("the password is sensitive")
    };
    assert_eq!(first.as_str().map(str::len), Some(32));
    let state = state_of(&a, &desired, &created);
    let renamed = change(&desired, "username", "other".into());
    let updated = update(&p, &a, &renamed, &state, &[]).await.unwrap();
    assert_eq!(updated.outputs["password"], Value::Sensitive(first));
    delete(&p, &a, &state).await;
}

#[tokio::test]
async fn missing_environment_variable_fails_naming_the_source_and_not_a_value() {
    let p = provider().await;
    let a = addr(K::SecretsmanagerSecret, "missing");
    let desired = attrs([
        (
            "name",
            Value::string(format!("AmazonMSK_{}", name("missing"))),
        ),
        ("username", "milvus".into()),
        (
            "password",
            Value::Secret(SecretSource::Env("STACKPLAN_SURELY_UNSET_PW".into())),
        ),
    ]);
    let err = stackplan_core::Provider::create(
        &p,
        stackplan_core::ApplyRequest {
            addr: &a,
            desired: &desired,
            prior: None,
            field_diffs: &[],
            events: &Events::default(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "secretsmanager_secret.missing: secret source env:STACKPLAN_SURELY_UNSET_PW: \
         environment variable STACKPLAN_SURELY_UNSET_PW is not set"
    );
    assert!(!err.retryable);
}

#[tokio::test]
async fn secret_deleted_by_stackplan_is_restored_when_the_stack_creates_it_again() {
    let p = provider().await;
    let key = create(
        &p,
        &addr(K::KmsKey, "k"),
        &attrs([("description", "scram".into())]),
    )
    .await;
    let a = addr(K::SecretsmanagerSecret, "msk_scram");
    let desired = attrs([
        (
            "name",
            Value::string(format!("AmazonMSK_{}", name("again"))),
        ),
        ("kms_key_id", key.outputs["arn"].clone()),
        ("username", "milvus".into()),
        ("password", Value::Secret(SecretSource::Generate)),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    // Scheduled for deletion (Secrets Manager's default window).
    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), None).await.is_none());

    let again = create(&p, &a, &change(&desired, "username", "milvus2".into())).await;
    assert_eq!(again.physical_id, created.physical_id);
    assert_eq!(again.outputs["username"], Value::string("milvus2"));
    // `generate` keeps the password the restored secret holds.
    assert_eq!(again.outputs["password"], created.outputs["password"]);
}

/// An apply killed between CreateKey and CreateAlias leaves a key no
/// state names and no alias finds. The next create adopts that key (same
/// Name and stackplan:stack tags, enabled, no alias) instead of making a
/// second one; a key of another stack is left alone.
#[tokio::test]
async fn a_key_made_by_an_apply_killed_before_its_alias_is_adopted_not_duplicated() {
    let p = provider().await;
    let a = addr(K::KmsKey, "msk_scram");
    let stack = name("orphan");
    let alias = format!("alias/{}", name("scram"));
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key_tagged = |stack: String| {
        let kms = kms.clone();
        async move {
            kms.create_key()
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key("Name")
                        .tag_value("msk-scram")
                        .build()
                        .unwrap(),
                )
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key("stackplan:stack")
                        .tag_value(stack)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap()
                .key_metadata
                .unwrap()
                .key_id
        }
    };
    let other_stacks = key_tagged(format!("{stack}-other")).await;
    let orphan = key_tagged(stack.clone()).await;
    let desired = attrs([
        ("alias", Value::string(&alias)),
        (
            "tags",
            tags([("Name", "msk-scram"), ("stackplan:stack", &stack)]),
        ),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(created.physical_id.as_deref(), Some(orphan.as_str()));
    assert_ne!(created.physical_id.as_deref(), Some(other_stacks.as_str()));
    let aliased = kms.list_aliases().key_id(&orphan).send().await.unwrap();
    assert_eq!(aliased.aliases()[0].alias_name(), Some(alias.as_str()));
    let state = state_of(&a, &desired, &created);
    delete(&p, &a, &state).await;
}
