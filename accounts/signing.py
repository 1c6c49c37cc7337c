"""Credential parsing shared by the management API and the TPNS API.

Both accept ``Authorization: Basic base64(id:secret)`` and a signed form whose ``TimeStamp``
must be within ``settings.API_SIGNATURE_MAX_SKEW`` seconds of the server's clock. These helpers
only parse and check; each API turns the exceptions into its own error codes and messages.

The signed strings differ: TPNS's is TimeStamp + AccessId + body (its protocol, kept as it is);
the management API's, ours, also covers the method, the path and the query
(``management_string_to_sign``), so a signature holds for one request only.
"""

import base64
import binascii
import hashlib
import hmac

from django.conf import settings


class MalformedBasic(ValueError):
    """The Basic credentials are not base64 of UTF-8 ``id:secret``."""


class MalformedTimestamp(ValueError):
    """TimeStamp is not unix seconds."""


class StaleTimestamp(ValueError):
    """TimeStamp is further than ``max_skew`` seconds from the server's clock."""

    def __init__(self, max_skew: int):
        super().__init__(max_skew)
        self.max_skew = max_skew


def decode_basic(value: str) -> tuple[str, str]:
    """``(id, secret)`` from the base64 part of a Basic header; raises MalformedBasic."""
    try:
        identifier, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedBasic from None
    if not sep:
        raise MalformedBasic
    return identifier, secret


def max_skew() -> int:
    return settings.API_SIGNATURE_MAX_SKEW


def check_timestamp(timestamp: str, now: float) -> int:
    """The TimeStamp as an int, if it is within ``max_skew()`` seconds of ``now``.

    Raises MalformedTimestamp if it is not an integer, StaleTimestamp if it is too far off.
    """
    try:
        seconds = int(timestamp)
    except ValueError:
        raise MalformedTimestamp from None
    limit = max_skew()
    if abs(now - seconds) > limit:
        raise StaleTimestamp(limit)
    return seconds


def management_string_to_sign(
    *, method: str, path: str, query: str, timestamp: str, secret_id: str, body: bytes
) -> bytes:
    """What a management API signature covers (README: Accounts, keys and authorization).

    ``METHOD\\nPATH\\nQUERY\\nTimeStamp\\nSecretId\\n`` + the raw body, where METHOD is upper
    case, PATH the URL path without the query, QUERY the query string byte for byte as sent
    (no leading ``?``; empty when there is none) and the body the raw bytes (empty for GET).
    """
    head = "\n".join((method.upper(), path, query, timestamp, secret_id, ""))
    return head.encode() + body


def hmac_sign(secret_key: str, message: bytes) -> str:
    """Base64(lowercase hex(HMAC-SHA256(SecretKey, message))): TPNS's transform, used by both."""
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()
