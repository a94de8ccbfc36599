//! KMS key states and what they do to Secrets Manager secrets, as the moto
//! extensions `tests/harness/moto_ext/kms.py` and `secretsmanager.py`
//! emulate them: moto itself keeps a key's state but lets every operation
//! through whatever it is, so a secret under a key pending deletion read
//! and wrote as if nothing were wrong. One test per rule, driven over HTTP
//! with the real SDK, each asserting AWS's error code (and message, where
//! AWS's is quoted by a source).
//!
//! Sources, cited per test:
//! - [key-state] AWS KMS Developer Guide, "Key states of AWS KMS keys": the
//!   table of operations per state and its error notes ([1] `DisabledException:
//!   <ARN> is disabled.`, [3] `KMSInvalidStateException: <ARN> is pending
//!   deletion.`, [4] `KMSInvalidStateException: <ARN> is not pending deletion.`)
//! - [kms-model] botocore's KMS model (CancelKeyDeletion, EnableKey,
//!   ScheduleKeyDeletion documentation)
//! - [sm-model] botocore's Secrets Manager model (DecryptionFailure,
//!   EncryptionFailure, InvalidRequestException, DeleteSecret's
//!   ForceDeleteWithoutRecovery)
//! - [govcloud] AWS GovCloud (US) User Guide, root user troubleshooting,
//!   "Issue: DecryptionFailure": GetSecretValue under a disabled key answers
//!   `DecryptionFailure: Secrets Manager can't decrypt the secret value:
//!   <key ARN> is disabled. (Service: AWSKMS; ...; Error Code: DisabledException; ...)`
//! - [quoted] AWS's answers as printed by terraform and quoted in notes
//!   (see `secretsmanager.py`)
//!
//! All tests share one emulator set and name what they create with
//! `unique_name`, so they run in parallel.

use std::fmt::Debug;
use std::io::{Read, Write};
use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::KeyState;
use stackplan_testkit::{Emulators, unique_name};

async fn clients() -> (aws_sdk_kms::Client, aws_sdk_secretsmanager::Client) {
    let emulators = Emulators::shared().expect("emulators (run `just emulators-install` once)");
    let config = emulators.aws_config().await;
    (
        aws_sdk_kms::Client::new(&config),
        aws_sdk_secretsmanager::Client::new(&config),
    )
}

/// Asserts that `result` is AWS error `code`; returns the error's message.
fn refused<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, E>,
    code: &str,
    what: &str,
) -> String {
    let err = match result {
        Ok(output) => panic!("{what}: succeeded ({output:?}); AWS answers {code}"),
        Err(err) => err,
    };
    assert_eq!(err.code(), Some(code), "{what}: {err:?}");
    err.message().unwrap_or_default().to_owned()
}

/// A new symmetric key; its ARN.
async fn key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .and_then(|m| m.arn)
        .expect("key ARN")
}

async fn state(kms: &aws_sdk_kms::Client, key: &str) -> KeyState {
    kms.describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .and_then(|m| m.key_state)
        .expect("KeyState")
}

async fn schedule(kms: &aws_sdk_kms::Client, key: &str) {
    kms.schedule_key_deletion()
        .key_id(key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
}

/// A secret `name` holding `value` under `key`; its ARN.
async fn secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    key: Option<&str>,
    value: &str,
) -> String {
    sm.create_secret()
        .name(name)
        .set_kms_key_id(key.map(str::to_string))
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("secret ARN")
}

async fn value(sm: &aws_sdk_secretsmanager::Client, id: &str) -> String {
    sm.get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string
        .expect("SecretString")
}

/// The harness's control for the end of a key's waiting period (see
/// `kms.py`); the HTTP status and body.
fn end_waiting_period(key: &str) -> (u16, String) {
    let endpoint = Emulators::shared().unwrap().aws_endpoint().to_string();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = format!("{{\"KeyId\": \"{key}\"}}");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "POST /moto-api/stackplan/kms/end-waiting-period HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send to moto");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("moto answers");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status");
    (status, answer)
}

/// [kms-model], [key-state]: CancelKeyDeletion leaves the key Disabled;
/// EnableKey then enables it. EnableKey on a key pending deletion fails
/// ([3]), and CancelKeyDeletion on a key not pending deletion fails ([4])
/// rather than disabling an enabled key as moto did. Both take the key ARN.
#[tokio::test]
async fn cancel_key_deletion_leaves_the_key_disabled_and_enable_key_enables_it() {
    let (kms, _) = clients().await;
    let arn = key(&kms).await;
    let message = refused(
        kms.cancel_key_deletion().key_id(&arn).send().await,
        "KMSInvalidStateException",
        "CancelKeyDeletion of an enabled key",
    );
    assert_eq!(message, format!("{arn} is not pending deletion."));
    assert_eq!(state(&kms, &arn).await, KeyState::Enabled);

    schedule(&kms, &arn).await;
    assert_eq!(state(&kms, &arn).await, KeyState::PendingDeletion);
    let message = refused(
        kms.enable_key().key_id(&arn).send().await,
        "KMSInvalidStateException",
        "EnableKey of a key pending deletion",
    );
    assert_eq!(message, format!("{arn} is pending deletion."));

    let cancelled = kms
        .cancel_key_deletion()
        .key_id(&arn)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(
        cancelled.key_id(),
        Some(arn.as_str()),
        "answers the key ARN"
    );
    assert_eq!(state(&kms, &arn).await, KeyState::Disabled);
    kms.enable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(state(&kms, &arn).await, KeyState::Enabled);
}

/// [kms-model]: the waiting period is 7 to 30 days (moto took any value
/// and changed nothing); [key-state] [3]: a key already pending deletion
/// cannot be scheduled again (moto moved its date).
#[tokio::test]
async fn schedule_key_deletion_refuses_a_window_outside_7_to_30_days_and_a_key_already_pending() {
    let (kms, _) = clients().await;
    let arn = key(&kms).await;
    for days in [6, 31] {
        refused(
            kms.schedule_key_deletion()
                .key_id(&arn)
                .pending_window_in_days(days)
                .send()
                .await,
            "ValidationException",
            &format!("ScheduleKeyDeletion in {days} days"),
        );
    }
    assert_eq!(state(&kms, &arn).await, KeyState::Enabled);

    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&arn)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    assert!(scheduled.deletion_date().is_some());
    refused(
        kms.schedule_key_deletion()
            .key_id(&arn)
            .pending_window_in_days(30)
            .send()
            .await,
        "KMSInvalidStateException",
        "ScheduleKeyDeletion of a key already pending deletion",
    );
}

/// [key-state]: a key pending deletion takes no alias, tag or description
/// ([3]), and no cryptographic operation ([3]); a disabled key no
/// cryptographic operation ([1]).
#[tokio::test]
async fn keys_pending_deletion_or_disabled_refuse_what_kms_refuses() {
    let (kms, _) = clients().await;
    let pending = key(&kms).await;
    schedule(&kms, &pending).await;
    refused(
        kms.create_alias()
            .alias_name(format!("alias/{}", unique_name("pending")))
            .target_key_id(&pending)
            .send()
            .await,
        "KMSInvalidStateException",
        "CreateAlias to a key pending deletion",
    );
    refused(
        kms.tag_resource()
            .key_id(&pending)
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("Name")
                    .tag_value("x")
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "KMSInvalidStateException",
        "TagResource of a key pending deletion",
    );
    refused(
        kms.update_key_description()
            .key_id(&pending)
            .description("x")
            .send()
            .await,
        "KMSInvalidStateException",
        "UpdateKeyDescription of a key pending deletion",
    );
    let message = refused(
        kms.encrypt()
            .key_id(&pending)
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
        "Encrypt under a key pending deletion",
    );
    assert_eq!(message, format!("{pending} is pending deletion."));

    let off = key(&kms).await;
    let sealed = kms
        .encrypt()
        .key_id(&off)
        .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("ciphertext");
    kms.disable_key()
        .key_id(&off)
        .send()
        .await
        .expect("DisableKey");
    let message = refused(
        kms.decrypt().ciphertext_blob(sealed).send().await,
        "DisabledException",
        "Decrypt under a disabled key",
    );
    assert_eq!(message, format!("{off} is disabled."));
}

/// [sm-model], [govcloud]: a secret's value is decrypted under its key, so
/// GetSecretValue answers DecryptionFailure while the key is pending
/// deletion or disabled, naming KMS's own error; it reads again once the
/// deletion is cancelled and the key enabled. A secret under the AWS
/// managed key is not affected.
#[tokio::test]
async fn get_secret_value_fails_with_decryption_failure_while_the_key_is_pending_deletion_or_disabled()
 {
    let (kms, sm) = clients().await;
    let arn = key(&kms).await;
    let name = unique_name("read");
    let id = secret(&sm, &name, Some(&arn), "v1").await;
    let managed = secret(&sm, &unique_name("managed"), None, "m").await;

    schedule(&kms, &arn).await;
    let message = refused(
        sm.get_secret_value().secret_id(&id).send().await,
        "DecryptionFailure",
        "GetSecretValue under a key pending deletion",
    );
    assert!(
        message.starts_with(&format!(
            "Secrets Manager can't decrypt the secret value: {arn} is pending deletion."
        )) && message.contains("Error Code: KMSInvalidStateException"),
        "{message}"
    );

    kms.cancel_key_deletion()
        .key_id(&arn)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let message = refused(
        sm.get_secret_value().secret_id(&id).send().await,
        "DecryptionFailure",
        "GetSecretValue under a disabled key",
    );
    assert!(
        message.starts_with(&format!(
            "Secrets Manager can't decrypt the secret value: {arn} is disabled."
        )) && message.contains("Error Code: DisabledException"),
        "{message}"
    );

    kms.enable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(value(&sm, &id).await, "v1");
    assert_eq!(value(&sm, &managed).await, "m");
}

/// [sm-model] EncryptionFailure ("Check that the KMS key is available,
/// enabled, and not in an invalid state"): PutSecretValue, CreateSecret
/// with a value and UpdateSecret with a value encrypt under the key, and
/// fail while it is pending deletion or disabled.
#[tokio::test]
async fn writing_a_secret_value_fails_with_encryption_failure_while_the_key_is_unusable() {
    let (kms, sm) = clients().await;
    let arn = key(&kms).await;
    let id = secret(&sm, &unique_name("write"), Some(&arn), "v1").await;
    schedule(&kms, &arn).await;
    refused(
        sm.put_secret_value()
            .secret_id(&id)
            .secret_string("v2")
            .send()
            .await,
        "EncryptionFailure",
        "PutSecretValue under a key pending deletion",
    );
    refused(
        sm.update_secret()
            .secret_id(&id)
            .secret_string("v2")
            .send()
            .await,
        "EncryptionFailure",
        "UpdateSecret with a value under a key pending deletion",
    );
    refused(
        sm.create_secret()
            .name(unique_name("new"))
            .kms_key_id(&arn)
            .secret_string("v")
            .send()
            .await,
        "EncryptionFailure",
        "CreateSecret under a key pending deletion",
    );
    kms.cancel_key_deletion()
        .key_id(&arn)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let message = refused(
        sm.put_secret_value()
            .secret_id(&id)
            .secret_string("v2")
            .send()
            .await,
        "EncryptionFailure",
        "PutSecretValue under a disabled key",
    );
    assert!(
        message.contains(&format!("{arn} is disabled.")),
        "{message}"
    );
    kms.enable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("EnableKey");
    sm.put_secret_value()
        .secret_id(&id)
        .secret_string("v2")
        .send()
        .await
        .expect("PutSecretValue");
    assert_eq!(value(&sm, &id).await, "v2");
}

/// [sm-model] InvalidRequestException, "The secret is scheduled for
/// deletion"; [quoted]: CreateSecret of the name answers "You can't create
/// this secret because a secret with this name is already scheduled for
/// deletion." (moto: ResourceExistsException), and PutSecretValue is
/// refused (moto added a version). RestoreSecret gives the secret back.
#[tokio::test]
async fn a_secret_scheduled_for_deletion_keeps_its_name_and_takes_no_new_value() {
    let (_, sm) = clients().await;
    let name = unique_name("sched");
    let id = secret(&sm, &name, None, "v1").await;
    sm.delete_secret()
        .secret_id(&id)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("DeleteSecret");
    let message = refused(
        sm.create_secret()
            .name(&name)
            .secret_string("v")
            .send()
            .await,
        "InvalidRequestException",
        "CreateSecret of a name scheduled for deletion",
    );
    assert_eq!(
        message,
        "You can't create this secret because a secret with this name is already scheduled for deletion."
    );
    refused(
        sm.put_secret_value()
            .secret_id(&id)
            .secret_string("v2")
            .send()
            .await,
        "InvalidRequestException",
        "PutSecretValue of a secret scheduled for deletion",
    );
    sm.restore_secret()
        .secret_id(&id)
        .send()
        .await
        .expect("RestoreSecret");
    assert_eq!(value(&sm, &id).await, "v1");
}

/// [sm-model] ForceDeleteWithoutRecovery deletes asynchronously: a
/// CreateSecret of the name right after it is refused
/// (InvalidRequestException, [quoted]); a moment later the name is free.
#[tokio::test]
async fn a_name_deleted_without_recovery_is_freed_moments_later() {
    let (_, sm) = clients().await;
    let name = unique_name("force");
    let id = secret(&sm, &name, None, "v1").await;
    sm.delete_secret()
        .secret_id(&id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("DeleteSecret");
    refused(
        sm.create_secret()
            .name(&name)
            .secret_string("v2")
            .send()
            .await,
        "InvalidRequestException",
        "CreateSecret right after ForceDeleteWithoutRecovery",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = secret(&sm, &name, None, "v2").await;
    assert_ne!(again, id);
    assert_eq!(value(&sm, &again).await, "v2");
}

/// [kms-model]: after the waiting period KMS deletes the key and its
/// aliases; the harness ends it on demand, for keys pending deletion only.
/// A secret under the deleted key can never be read again.
#[tokio::test]
async fn the_end_of_a_keys_waiting_period_deletes_it_and_its_secrets_cannot_be_decrypted() {
    let (kms, sm) = clients().await;
    let arn = key(&kms).await;
    let alias = format!("alias/{}", unique_name("gone"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&arn)
        .send()
        .await
        .expect("CreateAlias");
    let id = secret(&sm, &unique_name("orphaned"), Some(&arn), "v1").await;
    let (status, answer) = end_waiting_period(&arn);
    assert_eq!(status, 409, "a key not pending deletion is kept: {answer}");

    schedule(&kms, &arn).await;
    let (status, answer) = end_waiting_period(&arn);
    assert_eq!(status, 200, "{answer}");
    refused(
        kms.describe_key().key_id(&arn).send().await,
        "NotFoundException",
        "DescribeKey of a deleted key",
    );
    refused(
        kms.describe_key().key_id(&alias).send().await,
        "NotFoundException",
        "DescribeKey by the deleted key's alias",
    );
    refused(
        sm.get_secret_value().secret_id(&id).send().await,
        "DecryptionFailure",
        "GetSecretValue under a deleted key",
    );
}
