"""DRF authentication with API key pairs: HTTP Basic, and the TPNS-style signed form.

Signed form: headers ``SecretId``, ``TimeStamp`` (unix seconds, within
``API_SIGNATURE_MAX_SKEW`` of the server's clock) and ``Sign`` =
Base64(lowercase hex(HMAC-SHA256(SecretKey, TimeStamp + SecretId + raw body))).
"""

import time

from rest_framework import authentication, exceptions

from .models import ApiKeyPair
from .signing import (
    MalformedBasic,
    MalformedTimestamp,
    StaleTimestamp,
    check_timestamp,
    decode_basic,
)

INVALID = "Invalid SecretId or SecretKey, or the key pair is disabled."


def _usable_key(secret_id: str) -> ApiKeyPair:
    key = ApiKeyPair.objects.usable().select_related("user").filter(secret_id=secret_id).first()
    if key is None:
        raise exceptions.AuthenticationFailed(INVALID)
    return key


class BasicKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Basic base64(SecretId:SecretKey)``."""

    def authenticate(self, request):
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            secret_id, secret_key = decode_basic(value)
        except MalformedBasic:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from None
        key = _usable_key(secret_id)
        if not key.check_secret(secret_key):
            raise exceptions.AuthenticationFailed(INVALID)
        key.touch()
        return key.user, key

    def authenticate_header(self, request):
        return 'Basic realm="pushconsole API"'


class SignatureAuthentication(authentication.BaseAuthentication):
    """Headers ``SecretId``, ``TimeStamp`` and ``Sign`` over the raw request body."""

    clock = staticmethod(time.time)

    def authenticate(self, request):
        secret_id = request.META.get("HTTP_SECRETID")
        if secret_id is None:
            return None
        timestamp = request.META.get("HTTP_TIMESTAMP", "")
        signature = request.META.get("HTTP_SIGN", "")
        if not timestamp or not signature:
            raise exceptions.AuthenticationFailed(
                "Signed requests need TimeStamp and Sign headers."
            )
        try:
            check_timestamp(timestamp, self.clock())
        except MalformedTimestamp:
            raise exceptions.AuthenticationFailed("TimeStamp must be unix seconds.") from None
        except StaleTimestamp as exc:
            raise exceptions.AuthenticationFailed(
                f"TimeStamp is more than {exc.max_skew} seconds away from the server's clock."
            ) from None
        key = _usable_key(secret_id)
        if not key.check_signature(timestamp, signature, request._request.body):
            raise exceptions.AuthenticationFailed("Sign does not match the request.")
        key.touch()
        return key.user, key

    def authenticate_header(self, request):
        return 'Sign realm="pushconsole API"'
