"""Credential parsing shared by the management API and the TPNS API.

Both accept ``Authorization: Basic base64(id:secret)`` and a signed form whose ``TimeStamp``
must be within ``settings.API_SIGNATURE_MAX_SKEW`` seconds of the server's clock. These helpers
only parse and check; each API turns the exceptions into its own error codes and messages.
"""

import base64
import binascii

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
