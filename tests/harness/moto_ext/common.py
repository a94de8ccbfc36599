"""Helpers shared by the moto extensions."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import unquote

from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal import mock_random as random


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso8601(moment: datetime.datetime) -> str:
    """restJson1 `timestampFormat: iso8601`: RFC 3339 with an explicit offset.

    The Rust SDK rejects ISO timestamps without a zone designator, which is
    what `datetime.isoformat()` of a naive datetime produces.
    """
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def random_id(length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    return "".join(random.choice(alphabet) for _ in range(length))


def paginate(items: list[Any], max_results: Any, next_token: Any) -> tuple[list[Any], str | None]:
    """Offset pagination: the token is the index of the next item.

    Opaque to the client, as AWS's tokens are; good enough for lists whose
    order is stable (we always sort before paginating).
    """
    start = int(next_token) if next_token else 0
    limit = int(max_results) if max_results else 100
    page = items[start : start + limit]
    following = start + limit
    return page, (str(following) if following < len(items) else None)


def path_label_after(path: str, marker: str, suffix: str = "") -> str:
    """Extracts an ARN path label from a request path.

    MSK puts whole ARNs (which contain `/`) into URI labels. The SDK
    percent-encodes them, but WSGI hands us the decoded path, so the label is
    recovered as "everything between `marker` and `suffix`".
    """
    rest = unquote(path).split(marker, 1)[1]
    if suffix and rest.endswith(suffix):
        rest = rest[: -len(suffix)]
    return rest


class RestJsonError(JsonRESTError):
    """A restJson1 error with its HTTP status: JSON body `{"__type", "message"}`
    plus the X-Amzn-ErrorType header, which is where the AWS SDKs read the
    error code from."""

    def __init__(self, error_type: str, message: str, status: int):
        super().__init__(error_type, message)
        self.code = status
