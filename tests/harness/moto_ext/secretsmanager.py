"""Secrets Manager as AWS answers it when a secret's KMS key cannot be used,
when a name is taken by a secret scheduled for deletion, and while a name
deleted without recovery is still being freed. moto 5.2.5 stores a secret's
KmsKeyId and never looks at the key, so a secret under a key pending
deletion read and wrote as if nothing were wrong; it answered
ResourceExistsException for the name of a secret scheduled for deletion;
it let PutSecretValue add versions to a secret scheduled for deletion; and
it freed a name deleted with ForceDeleteWithoutRecovery at once.

Sources, cited per rule below:
- [botocore] the Secrets Manager model (botocore 1.44.8,
  data/secretsmanager/2017-10-17/service-2.json; its documentation is the
  Secrets Manager API reference): GetSecretValue's errors include
  DecryptionFailure ("Secrets Manager can't decrypt the protected secret
  text using the provided KMS key."); CreateSecret, PutSecretValue and
  UpdateSecret's include EncryptionFailure ("Secrets Manager can't encrypt
  the protected secret text using the provided KMS key. Check that the KMS
  key is available, enabled, and not in an invalid state."); an
  InvalidRequestException's causes include "The secret is scheduled for
  deletion."; DeleteSecret's ForceDeleteWithoutRecovery: "Secrets Manager
  performs the actual deletion with an asynchronous background process, so
  there might be a short delay before the secret is permanently deleted. If
  you delete a secret and then immediately create a secret with the same
  name, use appropriate back off and retry logic."
- [govcloud] AWS GovCloud (US) User Guide, "AWS GovCloud (US) account root
  user", Troubleshooting, "Issue: DecryptionFailure"
  (https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-account-root-user.html),
  quoting AWS's answer to GetSecretValue under a disabled key:
  `An error occurred (DecryptionFailure) when calling the GetSecretValue
  operation: Secrets Manager can't decrypt the secret value:
  arn:aws:kms:us-east-1:...:key/... is disabled. (Service: AWSKMS; Status
  Code: 400; Error Code: DisabledException; Request ID: ...; Proxy: null)`.
  So the code is Secrets Manager's DecryptionFailure and the message
  carries KMS's own error, whose text for each key state is in kms.py
  ([key-state]: `<ARN> is pending deletion.`, KMSInvalidStateException).
  EncryptionFailure's message is worded the same way; no AWS answer to
  quote was found for it.
- [quoted] AWS's answer to CreateSecret for the name of a secret scheduled
  for deletion, as printed by terraform-provider-aws (aws-sdk-go-v2):
  `InvalidRequestException: You can't create this secret because a secret
  with this name is already scheduled for deletion.`; to CreateSecret
  moments after a ForceDeleteWithoutRecovery (tekumara/notes,
  aws-secretsmanager.md): `(InvalidRequestException) ... You can't perform
  this operation on the secret because it was deleted.`; to an update of a
  secret marked for deletion: `You can't perform this operation on the
  secret because it was marked for deletion.` (moto's own UpdateSecret
  wording, also asserted by andrewohara/aws-mock).

Not modelled: BatchGetSecretValue; UpdateSecret changing only KmsKeyId
(AWS re-encrypts the current versions, and what it answers when the old or
new key is unusable is not documented); a DescribeSecret during the moments
a force-deleted name is being freed (answered ResourceNotFoundException, as
moto removes the secret at once).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from moto.secretsmanager.exceptions import InvalidRequestException, SecretsManagerClientError
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

from .kms import usable_key_problem

# How long a name deleted with ForceDeleteWithoutRecovery stays taken
# ([botocore]: "a short delay"): long enough that a create right after the
# delete is refused, as on AWS, short enough for tests.
FORCE_DELETED_NAME_HOLD_SECONDS = 1.0

# (account, region, name) -> monotonic time the name is free again.
_names_being_freed: dict[tuple[str, str, str], float] = {}


class KmsFailure(SecretsManagerClientError):
    """DecryptionFailure or EncryptionFailure, carrying KMS's error."""

    def __init__(self, error_type: str, verb: str, kms_code: str, kms_message: str):
        # [govcloud]: Secrets Manager's message, then KMS's error as the
        # Java SDK inside Secrets Manager prints it.
        super().__init__(
            error_type,
            f"Secrets Manager can't {verb} the secret value: {kms_message} "
            f"(Service: AWSKMS; Status Code: 400; Error Code: {kms_code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)",
        )


def _check_encrypt(backend: SecretsManagerBackend, key_ref: str | None) -> None:
    # [botocore] EncryptionFailure: "Check that the KMS key is available,
    # enabled, and not in an invalid state."
    problem = usable_key_problem(backend.account_id, backend.region_name, key_ref)
    if problem:
        raise KmsFailure("EncryptionFailure", "encrypt", *problem)


def _marked_for_deletion() -> InvalidRequestException:
    # [botocore] InvalidRequestException cause; [quoted] wording.
    return InvalidRequestException(
        "You can't perform this operation on the secret because it was marked for deletion."
    )


def _wrap_get_secret_value(original: Any) -> Any:
    def get_secret_value(self: SecretsManagerBackend, secret_id: str, version_id: str, version_stage: str) -> Any:
        # moto's own checks first (unknown secret, scheduled for deletion,
        # unknown version): they answer before any decryption.
        value = original(self, secret_id, version_id, version_stage)
        secret = self.secrets[secret_id]
        if isinstance(secret, FakeSecret):
            # [govcloud], [botocore] DecryptionFailure: the value is
            # decrypted under the secret's key, which must be usable.
            problem = usable_key_problem(self.account_id, self.region_name, secret.kms_key_id)
            if problem:
                raise KmsFailure("DecryptionFailure", "decrypt", *problem)
        return value

    return get_secret_value


def _wrap_put_secret_value(original: Any) -> Any:
    def put_secret_value(
        self: SecretsManagerBackend,
        secret_id: str,
        secret_string: str,
        secret_binary: str,
        client_request_token: str,
        version_stages: list[str],
    ) -> Any:
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        if isinstance(secret, FakeSecret):
            # [botocore] InvalidRequestException: "The secret is scheduled
            # for deletion." (moto added the version.)
            if secret.is_deleted():
                raise _marked_for_deletion()
            # A retry with the token of an existing version does nothing
            # ([botocore] PutSecretValue: idempotent), so encrypts nothing.
            if not (client_request_token and client_request_token in secret.versions):
                _check_encrypt(self, secret.kms_key_id)
        return original(self, secret_id, secret_string, secret_binary, client_request_token, version_stages)

    return put_secret_value


def _wrap_create_secret(original: Any) -> Any:
    def create_secret(self: SecretsManagerBackend, name: str, secret_string: Any, secret_binary: Any, *args: Any, **kwargs: Any) -> Any:
        existing = self.secrets.get(name) if name in self.secrets else None
        if isinstance(existing, FakeSecret) and existing.is_deleted():
            # [botocore], [quoted]: the name stays taken for the recovery
            # window; AWS answers InvalidRequestException (moto:
            # ResourceExistsException).
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already "
                "scheduled for deletion."
            )
        hold = (self.account_id, self.region_name, name)
        free_at = _names_being_freed.get(hold)
        if free_at is not None:
            if time.monotonic() < free_at:
                # [botocore] ForceDeleteWithoutRecovery's asynchronous
                # deletion; [quoted] AWS's answer meanwhile.
                raise InvalidRequestException(
                    "You can't perform this operation on the secret because it was deleted."
                )
            del _names_being_freed[hold]
        if existing is None and (secret_string is not None or secret_binary is not None):
            # [botocore] CreateSecret: EncryptionFailure when the first
            # version cannot be encrypted under KmsKeyId.
            kms_key_id = kwargs.get("kms_key_id", args[2] if len(args) > 2 else None)
            _check_encrypt(self, kms_key_id)
        return original(self, name, secret_string, secret_binary, *args, **kwargs)

    return create_secret


def _wrap_update_secret(original: Any) -> Any:
    def update_secret(self: SecretsManagerBackend, secret_id: str, secret_string: Any = None, secret_binary: Any = None, *args: Any, **kwargs: Any) -> Any:
        secret = self.secrets.get(secret_id) if secret_id in self.secrets else None
        if (
            isinstance(secret, FakeSecret)
            and not secret.is_deleted()
            and (secret_string is not None or secret_binary is not None)
        ):
            # [botocore] UpdateSecret: a new value is a new version,
            # encrypted under the KmsKeyId given, else the secret's.
            kms_key_id = kwargs.get("kms_key_id", args[1] if len(args) > 1 else None)
            _check_encrypt(self, kms_key_id if kms_key_id is not None else secret.kms_key_id)
        return original(self, secret_id, secret_string, secret_binary, *args, **kwargs)

    return update_secret


def _wrap_delete_secret(original: Any) -> Any:
    def delete_secret(
        self: SecretsManagerBackend,
        secret_id: str,
        recovery_window_in_days: int | None,
        force_delete_without_recovery: bool,
    ) -> Any:
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        answer = original(self, secret_id, recovery_window_in_days, force_delete_without_recovery)
        if force_delete_without_recovery and secret is not None:
            # [botocore] ForceDeleteWithoutRecovery: deleted asynchronously;
            # the name is not free at once.
            _names_being_freed[(self.account_id, self.region_name, secret.name)] = (
                time.monotonic() + FORCE_DELETED_NAME_HOLD_SECONDS
            )
        return answer

    return delete_secret


def install() -> None:
    SecretsManagerBackend.get_secret_value = _wrap_get_secret_value(SecretsManagerBackend.get_secret_value)
    SecretsManagerBackend.put_secret_value = _wrap_put_secret_value(SecretsManagerBackend.put_secret_value)
    SecretsManagerBackend.create_secret = _wrap_create_secret(SecretsManagerBackend.create_secret)
    SecretsManagerBackend.update_secret = _wrap_update_secret(SecretsManagerBackend.update_secret)
    SecretsManagerBackend.delete_secret = _wrap_delete_secret(SecretsManagerBackend.delete_secret)
