"""KMS key states as AWS enforces them, where moto 5.2.5 does not.

moto keeps a key's state (`Enabled`, `Disabled`, `PendingDeletion`) and
reports it in DescribeKey, but lets every operation through whatever the
state is: it enables a key pending deletion, "cancels" the deletion of a key
that is not pending (leaving an enabled key disabled), reschedules a key
already pending, ignores a waiting period outside 7-30 days (no error, no
state change) and encrypts under disabled keys. Its EnableKey, DisableKey,
CancelKeyDeletion and ScheduleKeyDeletion also failed with HTTP 500 when
given a key ARN, which AWS accepts ("Specify the key ID or key ARN").

Sources, cited per rule below:
- [key-state] AWS KMS Developer Guide, "Key states of AWS KMS keys"
  (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html;
  awsdocs/aws-kms-developer-guide doc_source/key-state.md): which
  operations each state allows, and AWS's errors as its table notes quote
  them: [1] `DisabledException: <key ARN> is disabled.`, [3]
  `KMSInvalidStateException: <key ARN> is pending deletion.`, [4]
  `KMSInvalidStateException: <key ARN> is not pending deletion.`
- [botocore] the KMS model (botocore 1.44.8, data/kms/2014-11-01/
  service-2.json, whose documentation is the KMS API reference):
  CancelKeyDeletion "When this operation succeeds, the key state of the KMS
  key is Disabled. To enable the KMS key, use EnableKey."; its answer's
  KeyId is the key ARN; ScheduleKeyDeletion's PendingWindowInDays "must be
  between 7 and 30, inclusive" and its answer carries KeyId (ARN),
  DeletionDate, KeyState and PendingWindowInDays; "After the waiting period
  ends, KMS deletes the KMS key ... and all aliases that refer to it."
- [cancel] AWS KMS Developer Guide, "Cancel key deletion": "The status of
  the KMS key changes from Pending Deletion to Disabled. To use the KMS
  key, you must enable it."

The end of a waiting period (7 days at least) cannot be waited for in a
test: `POST /moto-api/stackplan/kms/end-waiting-period` with
`{"KeyId": "<key ARN>"}` does to one key pending deletion what KMS does
when its waiting period ends (the key and its aliases are deleted; every
later call naming it is NotFoundException). It is the harness's control,
not an AWS operation, and it refuses a key that is not pending deletion,
as KMS deletes no other.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time, utcnow
from moto.kms.exceptions import NotFoundException, ValidationException
from moto.kms.models import Key, KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.moto_api._internal import urls as moto_api_urls

# The AWS managed key Secrets Manager uses when a secret names none; AWS
# manages it and it is always Enabled.
SECRETSMANAGER_MANAGED_ALIAS = "alias/aws/secretsmanager"


class KmsStateError(JsonRESTError):
    """KMS's answer for a key whose state forbids the operation (HTTP 400)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def pending_deletion(key: Key) -> KmsStateError:
    # [key-state] note [3].
    return KmsStateError("KMSInvalidStateException", f"{key.arn} is pending deletion.")


def disabled(key: Key) -> KmsStateError:
    # [key-state] note [1].
    return KmsStateError("DisabledException", f"{key.arn} is disabled.")


def refusal_for_use(key: Key) -> KmsStateError | None:
    """Why a cryptographic operation under `key` fails, or None when it may.

    [key-state]: Encrypt, Decrypt, GenerateDataKey and ReEncrypt fail on a
    Disabled key with [1] and on a key pending deletion with "[2] or [3]";
    [3] (KMSInvalidStateException) is what KMS answers today, as quoted in
    errors from Decrypt and Encrypt on such keys.
    """
    if key.key_state == "PendingDeletion":
        return pending_deletion(key)
    if key.key_state == "Disabled":
        return disabled(key)
    return None


def _key(backend: KmsBackend, key_id: str) -> Key:
    """The key a key ID or key ARN names (NotFoundException as moto words it)."""
    raw = backend.get_key_id(key_id)
    if raw not in backend.keys:
        raise NotFoundException(f"Key '{key_id}' does not exist")
    return backend.keys[raw]


def usable_key_problem(account_id: str, region: str, key_ref: str | None) -> tuple[str, str] | None:
    """For services that encrypt under a KMS key (Secrets Manager): the KMS
    error code and message a cryptographic call under `key_ref` (a key ID,
    key ARN, alias name or alias ARN, as the services accept) would get, or
    None when the key can be used. No key, or the AWS managed
    aws/secretsmanager key, is always usable."""
    if not key_ref or key_ref == SECRETSMANAGER_MANAGED_ALIAS or key_ref.endswith(
        ":" + SECRETSMANAGER_MANAGED_ALIAS
    ):
        return None
    if key_ref.startswith("arn:"):
        # arn:<partition>:kms:<region>:<account>:key/<id> or :alias/<name>
        parts = key_ref.split(":", 5)
        region, account_id = parts[3], parts[4]
    backend: KmsBackend = kms_backends[account_id][region]
    alias = backend.get_alias_name(key_ref)
    if alias.startswith("alias/"):
        target = backend.get_key_id_from_alias(alias)
        if target is None:
            return ("NotFoundException", f"Alias {key_ref} is not found.")
        raw = backend.get_key_id(target)
    else:
        raw = backend.get_key_id(key_ref)
    key = backend.keys.get(raw)
    if key is None:
        return ("NotFoundException", f"Key '{key_ref}' does not exist")
    refusal = refusal_for_use(key)
    return (refusal.error_type, refusal.message) if refusal else None


# --- key state transitions ---------------------------------------------------


def enable_key(self: KmsBackend, key_id: str) -> None:
    key = _key(self, key_id)
    # [key-state]: EnableKey on a key pending deletion fails with [3]; the
    # deletion must be cancelled first ([cancel]).
    if key.key_state == "PendingDeletion":
        raise pending_deletion(key)
    key.enabled = True
    key.key_state = "Enabled"


def disable_key(self: KmsBackend, key_id: str) -> None:
    key = _key(self, key_id)
    # [key-state]: DisableKey on a key pending deletion fails with [3].
    if key.key_state == "PendingDeletion":
        raise pending_deletion(key)
    key.enabled = False
    key.key_state = "Disabled"


def cancel_key_deletion(self: KmsBackend, key_id: str) -> None:
    key = _key(self, key_id)
    # [key-state]: CancelKeyDeletion succeeds only on a key pending
    # deletion; on any other state it fails with [4]. (moto turned an
    # Enabled key Disabled.)
    if key.key_state != "PendingDeletion":
        raise KmsStateError("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
    # [botocore], [cancel]: the key is Disabled afterwards, not Enabled.
    key.key_state = "Disabled"
    key.enabled = False
    key.deletion_date = None


def schedule_key_deletion(self: KmsBackend, key_id: str, pending_window_in_days: int) -> float:
    key = _key(self, key_id)
    # [botocore]: "If you include a value, it must be between 7 and 30,
    # inclusive." Worded as AWS's ValidationExceptions for a parameter out
    # of range; moto answered success with no DeletionDate and left the key
    # as it was.
    if pending_window_in_days < 7:
        raise ValidationException(
            f"1 validation error detected: Value '{pending_window_in_days}' at "
            "'pendingWindowInDays' failed to satisfy constraint: Member must have value "
            "greater than or equal to 7"
        )
    if pending_window_in_days > 30:
        raise ValidationException(
            f"1 validation error detected: Value '{pending_window_in_days}' at "
            "'pendingWindowInDays' failed to satisfy constraint: Member must have value "
            "less than or equal to 30"
        )
    # [key-state]: ScheduleKeyDeletion on a key already pending deletion
    # fails with [3] (moto moved its deletion date).
    if key.key_state == "PendingDeletion":
        raise pending_deletion(key)
    key.enabled = False
    key.key_state = "PendingDeletion"
    key.deletion_date = utcnow() + timedelta(days=pending_window_in_days)
    return unix_time(key.deletion_date)


# --- operations refused while a key is pending deletion ------------------------


def _refuse_when_pending(original: Any, key_arg: int, also_disabled: bool = False) -> Any:
    """Wraps a backend method whose positional argument `key_arg` names the
    key: refused with [3] while the key is pending deletion (and with [1]
    while disabled, when `also_disabled`)."""

    def wrapped(self: KmsBackend, *args: Any, **kwargs: Any) -> Any:
        key_id = args[key_arg] if len(args) > key_arg else None
        if key_id is not None:
            raw = self.get_key_id(key_id)
            key = self.keys.get(raw)
            if key is not None:
                if key.key_state == "PendingDeletion":
                    raise pending_deletion(key)
                if also_disabled and key.key_state == "Disabled":
                    raise disabled(key)
        return original(self, *args, **kwargs)

    return wrapped


def _refuse_unusable_encrypt(original: Any) -> Any:
    """Encrypt (and GenerateDataKey and ReEncrypt, which go through it):
    [key-state] refuses Disabled keys and keys pending deletion."""

    def encrypt(self: KmsBackend, key_id: str, plaintext: bytes, encryption_context: dict[str, str]) -> Any:
        raw = self.any_id_to_key_id(key_id) if key_id else key_id
        key = self.keys.get(raw) if raw else None
        if key is not None:
            refusal = refusal_for_use(key)
            if refusal:
                raise refusal
        return original(self, key_id=key_id, plaintext=plaintext, encryption_context=encryption_context)

    return encrypt


def _refuse_unusable_decrypt(original: Any) -> Any:
    """Decrypt: [key-state] refuses the key the ciphertext was made under
    when it is Disabled or pending deletion. moto finds that key only by
    decrypting, so the check follows (decrypting changes nothing)."""

    def decrypt(self: KmsBackend, *args: Any, **kwargs: Any) -> Any:
        plaintext, arn = original(self, *args, **kwargs)
        key = self.keys.get(self.get_key_id(arn))
        if key is not None:
            refusal = refusal_for_use(key)
            if refusal:
                raise refusal
        return plaintext, arn

    return decrypt


# --- answers -------------------------------------------------------------------


def _r_cancel_key_deletion(self: KmsResponse) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    self.kms_backend.cancel_key_deletion(key_id)
    # [botocore] CancelKeyDeletionResponse.KeyId: the key ARN.
    return json.dumps({"KeyId": _key(self.kms_backend, key_id).arn})


def _r_schedule_key_deletion(self: KmsResponse) -> str:
    key_id = self._get_param("KeyId")
    window = self._get_param("PendingWindowInDays")
    window = 30 if window is None else int(window)  # [botocore]: defaults to 30
    self._validate_cmk_id(key_id)
    deletion_date = self.kms_backend.schedule_key_deletion(key_id, window)
    key = _key(self.kms_backend, key_id)
    # [botocore] ScheduleKeyDeletionResponse.
    return json.dumps(
        {
            "KeyId": key.arn,
            "DeletionDate": deletion_date,
            "KeyState": key.key_state,
            "PendingWindowInDays": window,
        }
    )


# --- the harness's control: the end of a waiting period ------------------------


def end_waiting_period(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """What KMS does when a key's waiting period ends ([botocore]
    ScheduleKeyDeletion): the key and its aliases are deleted."""
    json_headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return 405, json_headers, json.dumps({"message": "POST {\"KeyId\": \"<key ARN>\"}"})
    try:
        key_ref = json.loads(request.data or b"{}")["KeyId"]
        parts = key_ref.split(":", 5)
        region, account_id = parts[3], parts[4]
    except (ValueError, KeyError, IndexError, AttributeError):
        return 400, json_headers, json.dumps({"message": "expected {\"KeyId\": \"<key ARN>\"}"})
    backend: KmsBackend = kms_backends[account_id][region]
    key = backend.keys.get(backend.get_key_id(key_ref))
    if key is None:
        return 404, json_headers, json.dumps({"message": f"Key '{key_ref}' does not exist"})
    if key.key_state != "PendingDeletion":
        return 409, json_headers, json.dumps({"message": f"{key.arn} is not pending deletion."})
    # moto keeps aliases on the key object, so they go with it; so do its tags.
    backend.delete_key(key.id)
    return 200, json_headers, json.dumps({"KeyId": key.arn, "Deleted": True})


def install() -> None:
    KmsBackend.enable_key = enable_key
    KmsBackend.disable_key = disable_key
    KmsBackend.cancel_key_deletion = cancel_key_deletion
    KmsBackend.schedule_key_deletion = schedule_key_deletion
    # [key-state]: CreateAlias, TagResource, UntagResource and
    # UpdateKeyDescription fail with [3] on a key pending deletion; so does
    # UpdateAlias pointing an alias at one (note [10]); EnableKeyRotation
    # and DisableKeyRotation fail with [3], and with [1] on a Disabled key.
    KmsBackend.create_alias = _refuse_when_pending(KmsBackend.create_alias, 0)
    KmsBackend.update_alias = _refuse_when_pending(KmsBackend.update_alias, 0)
    KmsBackend.tag_resource = _refuse_when_pending(KmsBackend.tag_resource, 0)
    KmsBackend.untag_resource = _refuse_when_pending(KmsBackend.untag_resource, 0)
    KmsBackend.update_key_description = _refuse_when_pending(KmsBackend.update_key_description, 0)
    KmsBackend.enable_key_rotation = _refuse_when_pending(
        KmsBackend.enable_key_rotation, 0, also_disabled=True
    )
    KmsBackend.disable_key_rotation = _refuse_when_pending(
        KmsBackend.disable_key_rotation, 0, also_disabled=True
    )
    KmsBackend.encrypt = _refuse_unusable_encrypt(KmsBackend.encrypt)
    KmsBackend.decrypt = _refuse_unusable_decrypt(KmsBackend.decrypt)
    KmsResponse.cancel_key_deletion = _r_cancel_key_deletion
    KmsResponse.schedule_key_deletion = _r_schedule_key_deletion
    moto_api_urls.url_paths["{0}/moto-api/stackplan/kms/end-waiting-period"] = end_waiting_period
