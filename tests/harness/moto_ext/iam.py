"""IAM operations moto lacks.

Shapes follow the IAM API reference (awsQuery protocol): moto's IAM response
class parses the form parameters from botocore's model
(`automated_parameter_parsing`), and an `EmptyResult` serializes as the
`<XxxResponse><ResponseMetadata>` document IAM answers for these operations.

Added operations: AddClientIDToOpenIDConnectProvider,
RemoveClientIDFromOpenIDConnectProvider (both idempotent, as AWS documents).
"""

from __future__ import annotations

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse


def add_client_id_to_open_id_connect_provider(self: IAMBackend, arn: str, client_id: str) -> None:
    provider = self.get_open_id_connect_provider(arn)  # NoSuchEntity when unknown
    if client_id not in provider.client_id_list:
        provider.client_id_list.append(client_id)


def remove_client_id_from_open_id_connect_provider(
    self: IAMBackend, arn: str, client_id: str
) -> None:
    provider = self.get_open_id_connect_provider(arn)
    if client_id in provider.client_id_list:
        provider.client_id_list.remove(client_id)


def _r_add_client_id(self: IamResponse) -> ActionResult:
    self.backend.add_client_id_to_open_id_connect_provider(
        self._get_param("OpenIDConnectProviderArn"), self._get_param("ClientID")
    )
    return EmptyResult()


def _r_remove_client_id(self: IamResponse) -> ActionResult:
    self.backend.remove_client_id_from_open_id_connect_provider(
        self._get_param("OpenIDConnectProviderArn"), self._get_param("ClientID")
    )
    return EmptyResult()


def install() -> None:
    IAMBackend.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider
    IAMBackend.remove_client_id_from_open_id_connect_provider = (
        remove_client_id_from_open_id_connect_provider
    )
    # moto derives the method name from the action with camelcase_to_underscores.
    from moto.core.utils import camelcase_to_underscores

    setattr(
        IamResponse,
        camelcase_to_underscores("AddClientIDToOpenIDConnectProvider"),
        _r_add_client_id,
    )
    setattr(
        IamResponse,
        camelcase_to_underscores("RemoveClientIDFromOpenIDConnectProvider"),
        _r_remove_client_id,
    )
