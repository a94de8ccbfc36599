//! The KMS key and the SCRAM secret against moto.
//!
//! moto's KMS and Secrets Manager are made as strict as AWS about key
//! states by `tests/harness/moto_ext/{kms,secretsmanager}.py`: a secret
//! whose key is disabled or pending deletion cannot be read or written, so
//! the destroy-then-apply tests below fail here as they would on AWS when
//! the key is not restored first.

mod common;

use std::sync::Arc;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::stacks::{destroy_all, request};
use common::*;
use stackplan_core::{
    Action, Provider, ProviderRegistry, Resource, ResourceKind as K, SecretSource, StateDocument,
    Value,
};
use stackplan_engine::testing::MemoryStateStore;
use stackplan_engine::{
    ApplyContext, ApplySettings, NoApplyEvents, PlanSettings, Planner, StopFlag,
};

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
    // Also an attribute, so a plan can compare it (sealed) with what the
    // source gives now; sensitive there too.
    assert_eq!(
        created.attrs["password"],
        Value::Sensitive(Box::new(Value::string(from_env))),
        "the password is reported, and only as sensitive"
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

// --- destroy, then apply: the stack's key and SCRAM secret through the engine

/// The stack's SCRAM key and secret as the expansion makes them: the
/// secret under the key's ARN (a reference, so the key is applied first),
/// its password from an environment variable Cargo sets.
fn scram_stack(stack: &str, username: &str, recovery_window: Option<i64>) -> Vec<Resource> {
    let key = Resource::managed(K::KmsKey, "msk_scram")
        .attr("description", "Encrypts the SASL/SCRAM secret")
        .attr("alias", format!("alias/{stack}-msk-scram"))
        .attr(
            "tags",
            tags([
                ("Name", &format!("{stack}-msk-scram")),
                ("stackplan:stack", stack),
            ]),
        );
    let mut secret = Resource::managed(K::SecretsmanagerSecret, "msk_scram")
        .attr("name", format!("AmazonMSK_{stack}"))
        .attr("kms_key_id", Value::reference(&key.addr, "arn"))
        .attr("username", username)
        .attr(
            "password",
            Value::Secret(SecretSource::Env("CARGO_PKG_NAME".into())),
        )
        .attr(
            "tags",
            tags([
                ("Name", &format!("AmazonMSK_{stack}")),
                ("stackplan:stack", stack),
            ]),
        );
    if let Some(days) = recovery_window {
        secret = secret.attr("recovery_window_in_days", days);
    }
    vec![key, secret]
}

/// What the secret should hold for `username`: MSK's JSON shape.
fn scram_value(username: &str) -> serde_json::Value {
    serde_json::json!({"username": username, "password": env!("CARGO_PKG_NAME")})
}

struct Run {
    stack: String,
    registry: ProviderRegistry,
    state: StateDocument,
    store: MemoryStateStore,
}

impl Run {
    async fn new(prefix: &str) -> Run {
        let stack = name(prefix);
        let provider: Arc<dyn Provider> = Arc::new(provider().await);
        Run {
            state: StateDocument::new(&stack, "lineage-test"),
            stack,
            registry: ProviderRegistry::new().with(provider),
            store: MemoryStateStore::new(),
        }
    }

    /// Plans `resources` against state and applies the plan through the
    /// engine; the provider's progress messages. Every change must be
    /// `expect` (creates after a destroy).
    async fn apply(&mut self, resources: &[Resource], expect: Action) -> Vec<String> {
        let plan = Planner::new(&self.registry, PlanSettings::default())
            .plan(request(&self.stack, "sha", resources, Some(&self.state)))
            .await
            .expect("the plan");
        let actions: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("{} {}", c.addr, c.action.name()))
            .collect();
        assert!(
            plan.changes.iter().all(|c| c.action == expect),
            "expected only {}: {actions:?}",
            expect.name()
        );
        let events = Events::default();
        let cx = ApplyContext {
            registry: &self.registry,
            store: &self.store,
            settings: &ApplySettings::default(),
            sink: &NoApplyEvents,
            events: &events,
            stop: &StopFlag::new(),
        };
        let report = stackplan_engine::apply(&plan, &mut self.state, &cx)
            .await
            .expect("apply runs");
        assert!(report.succeeded(), "{report:#?}");
        events.messages()
    }

    async fn destroy(&mut self, resources: &[Resource]) {
        let before = self.state.clone();
        destroy_all(
            &self.registry,
            request(&self.stack, "sha", resources, Some(&before)),
            &mut self.state,
            &self.store,
        )
        .await;
    }

    fn physical_id(&self, kind: K) -> String {
        self.state
            .get(&addr(kind, "msk_scram"))
            .and_then(|r| r.physical_id.clone())
            .unwrap_or_else(|| panic!("{kind}.msk_scram in state"))
    }

    fn key_arn(&self) -> String {
        let key = self.state.get(&addr(K::KmsKey, "msk_scram")).unwrap();
        key.outputs["arn"].as_str().unwrap().to_string()
    }
}

/// AWS's error code, when `result` is an error.
fn error_code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> Option<String> {
    result.err().and_then(|e| e.code().map(str::to_string))
}

async fn sdk() -> (aws_sdk_kms::Client, aws_sdk_secretsmanager::Client) {
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    (
        aws_sdk_kms::Client::new(&config),
        aws_sdk_secretsmanager::Client::new(&config),
    )
}

/// The secret's value, as an application (MSK) reads it.
async fn secret_value(sm: &aws_sdk_secretsmanager::Client, id: &str) -> serde_json::Value {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetSecretValue {id}: {}", chain(&e)));
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

async fn key_state(kms: &aws_sdk_kms::Client, id: &str) -> aws_sdk_kms::types::KeyState {
    kms.describe_key()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_state
        .unwrap()
}

/// The keys tagged as this stack's, whatever their state.
async fn keys_of_stack(kms: &aws_sdk_kms::Client, stack: &str) -> Vec<String> {
    let mut found = Vec::new();
    let keys = kms.list_keys().limit(1000).send().await.unwrap();
    for key in keys.keys() {
        let id = key.key_id().unwrap();
        let Ok(tagged) = kms.list_resource_tags().key_id(id).send().await else {
            continue;
        };
        if tagged
            .tags()
            .iter()
            .any(|t| t.tag_key() == "stackplan:stack" && t.tag_value() == stack)
        {
            found.push(id.to_string());
        }
    }
    found
}

/// `stackplan destroy` schedules the secret (here with a 7-day recovery
/// window) and its key (7 days) for deletion. An apply within the window
/// cancels the key's deletion and enables it, restores the secret rather
/// than failing on its name, and writes the value the stack now asks for:
/// the secret is readable under the same key, and no second key is made.
#[tokio::test]
async fn destroy_then_apply_within_the_recovery_window_restores_the_key_and_the_secret_readable_with_the_desired_value()
 {
    let (kms, sm) = sdk().await;
    let mut run = Run::new("rw").await;
    let first = scram_stack(&run.stack, "milvus", Some(7));
    run.apply(&first, Action::Create).await;
    let (key, secret) = (
        run.physical_id(K::KmsKey),
        run.physical_id(K::SecretsmanagerSecret),
    );

    run.destroy(&first).await;
    assert_eq!(
        key_state(&kms, &key).await,
        aws_sdk_kms::types::KeyState::PendingDeletion
    );
    let described = sm
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    let deleted = described.deleted_date().expect("scheduled for deletion");
    let days = (deleted.secs()
        - aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs())
        as f64
        / 86_400.0;
    assert!((6.9..=7.1).contains(&days), "recovery window {days} days");

    let again = scram_stack(&run.stack, "milvus2", Some(7));
    let events = run.apply(&again, Action::Create).await;
    assert_eq!(run.physical_id(K::KmsKey), key, "the same key, restored");
    assert_eq!(
        run.physical_id(K::SecretsmanagerSecret),
        secret,
        "the same secret, restored"
    );
    assert_eq!(
        key_state(&kms, &key).await,
        aws_sdk_kms::types::KeyState::Enabled
    );
    assert_eq!(secret_value(&sm, &secret).await, scram_value("milvus2"));
    assert_eq!(keys_of_stack(&kms, &run.stack).await, vec![key.clone()]);
    // The key resource restores the key before the secret (the secret
    // references the key's ARN), which then finds it enabled.
    let said = events.join("\n");
    let cancel = events.iter().position(|e| {
        e.starts_with(&format!(
            "kms_key.msk_scram creating: CancelKeyDeletion {key}"
        ))
    });
    let restore = events
        .iter()
        .position(|e| e.starts_with("secretsmanager_secret.msk_scram creating: RestoreSecret"));
    assert!(
        matches!((cancel, restore), (Some(c), Some(r)) if c < r),
        "{said}"
    );

    // Restored and converged: the next plan changes nothing.
    run.apply(&again, Action::NoOp).await;
}

/// Once the key's waiting period is over the key is gone, and with it
/// every way to decrypt the old secret. The apply deletes the old secret
/// without recovery, waits for Secrets Manager to free the name, creates a
/// new secret under the stack's new key, and says so.
#[tokio::test]
async fn key_deleted_after_its_waiting_period_gets_the_old_secret_deleted_without_recovery_and_a_new_one_created_saying_so()
 {
    let (kms, sm) = sdk().await;
    let mut run = Run::new("gone").await;
    let resources = scram_stack(&run.stack, "milvus", None);
    run.apply(&resources, Action::Create).await;
    let (old_key, old_secret) = (run.key_arn(), run.physical_id(K::SecretsmanagerSecret));

    run.destroy(&resources).await;
    end_kms_key_waiting_period(&old_key);
    assert_eq!(
        error_code(kms.describe_key().key_id(&old_key).send().await).as_deref(),
        Some("NotFoundException")
    );

    let events = run.apply(&resources, Action::Create).await;
    let (new_key, new_secret) = (run.key_arn(), run.physical_id(K::SecretsmanagerSecret));
    assert_ne!(new_key, old_key);
    assert_ne!(
        new_secret, old_secret,
        "a new secret, not the unreadable one"
    );
    let described = sm
        .describe_secret()
        .secret_id(&new_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(described.kms_key_id(), Some(new_key.as_str()));
    assert_eq!(secret_value(&sm, &new_secret).await, scram_value("milvus"));
    let said = events.join("\n");
    assert!(
        said.contains("its value can never be read again, so it is deleted without recovery and a new secret is created"),
        "{said}"
    );
    assert!(said.contains(&old_key), "the event names the key: {said}");
    run.apply(&resources, Action::NoOp).await;
}

/// `recovery_window_in_days = 0` deletes the secret at once
/// (ForceDeleteWithoutRecovery): nothing is left scheduled for deletion,
/// and the next apply creates a new secret under the same name.
#[tokio::test]
async fn recovery_window_0_deletes_the_secret_at_once_and_the_next_apply_creates_it_anew() {
    let (_, sm) = sdk().await;
    let mut run = Run::new("rw0").await;
    let resources = scram_stack(&run.stack, "milvus", Some(0));
    run.apply(&resources, Action::Create).await;
    let secret = run.physical_id(K::SecretsmanagerSecret);

    run.destroy(&resources).await;
    assert_eq!(
        error_code(sm.describe_secret().secret_id(&secret).send().await).as_deref(),
        Some("ResourceNotFoundException"),
        "deleted, not scheduled for deletion"
    );

    run.apply(&resources, Action::Create).await;
    let anew = run.physical_id(K::SecretsmanagerSecret);
    assert_ne!(anew, secret);
    assert_eq!(secret_value(&sm, &anew).await, scram_value("milvus"));
}

/// A secret scheduled for deletion whose key is disabled (a restore that
/// stopped after CancelKeyDeletion, or a key disabled by hand) cannot be
/// read: creating the secret again enables the key before restoring.
#[tokio::test]
async fn secret_scheduled_for_deletion_under_a_disabled_key_is_restored_after_enabling_the_key() {
    let (kms, sm) = sdk().await;
    let p = provider().await;
    let key = create(
        &p,
        &addr(K::KmsKey, "k"),
        &attrs([("description", "scram".into())]),
    )
    .await;
    let key_arn = key.outputs["arn"].as_str().unwrap().to_string();
    let a = addr(K::SecretsmanagerSecret, "msk_scram");
    let desired = attrs([
        ("name", Value::string(format!("AmazonMSK_{}", name("dis")))),
        ("kms_key_id", Value::string(&key_arn)),
        ("username", "milvus".into()),
        (
            "password",
            Value::Secret(SecretSource::Env("CARGO_PKG_NAME".into())),
        ),
    ]);
    let created = create(&p, &a, &desired).await;
    delete(&p, &a, &state_of(&a, &desired, &created)).await;
    kms.disable_key().key_id(&key_arn).send().await.unwrap();

    let again = create(&p, &a, &desired).await;
    assert_eq!(again.physical_id, created.physical_id);
    assert_eq!(
        key_state(&kms, &key_arn).await,
        aws_sdk_kms::types::KeyState::Enabled
    );
    assert_eq!(
        secret_value(&sm, again.physical_id.as_deref().unwrap()).await,
        scram_value("milvus")
    );
}
