"""DRF authentication with API key pairs: HTTP Basic, and a signed form.

Signed form: headers ``SecretId``, ``TimeStamp`` (unix seconds, within
``API_SIGNATURE_MAX_SKEW`` of the server's clock) and ``Sign`` =
Base64(lowercase hex(HMAC-SHA256(SecretKey, StringToSign))), where StringToSign is
``METHOD\\nPATH\\nQUERY\\nTimeStamp\\nSecretId\\n`` followed by the raw body
(``accounts.signing.management_string_to_sign``; README has a worked example). A signature is
accepted once (``accounts.replay``). The first form signed only TimeStamp + SecretId + body, so
one signature of ``GET /api/v1/me`` was good for any method and path: it is refused with a
message saying that the signed string changed.

Failures count against the client's address (``accounts.throttle``, scope ``api``); a locked-out
address gets 429 ``{"error": {"code": "throttled", ...}}`` with ``Retry-After`` before its
credentials are looked at.
"""

import time

from rest_framework import authentication, exceptions

from . import replay, throttle
from .models import ApiKeyPair
from .signing import (
    MalformedBasic,
    MalformedTimestamp,
    StaleTimestamp,
    check_timestamp,
    decode_basic,
)

INVALID = "Invalid SecretId or SecretKey, or the key pair is disabled."
OLD_FORM = (
    "Sign was made over the old string (TimeStamp + SecretId + body). The signed string changed: "
    "sign METHOD\\nPATH\\nQUERY\\nTimeStamp\\nSecretId\\n followed by the raw body "
    "(see the README, Accounts, keys and authorization)."
)
REPLAYED = "This signature was already used: sign every request anew (a new TimeStamp)."


class KeyPairAuthentication(authentication.BaseAuthentication):
    """What both forms share: the clock, the throttle, the key lookup."""

    # Tests replace the clock (signature skew, replay window, throttle).
    clock = staticmethod(time.time)

    def authenticate(self, request):
        credentials = self.credentials(request)
        if credentials is None:
            return None
        now = self.clock()
        key = throttle.guarded(
            "api",
            request,
            now,
            lambda: self.verify(request, credentials, now),
            refusal=exceptions.AuthenticationFailed,
            throttled=throttle.drf_throttled,
        )
        key.touch()
        return key.user, key

    def credentials(self, request):
        """The credentials this form reads from the request, or None if it has none."""
        raise NotImplementedError

    def verify(self, request, credentials, now: float) -> ApiKeyPair:
        """The key pair the credentials prove, or raise AuthenticationFailed."""
        raise NotImplementedError

    @staticmethod
    def usable_key(secret_id: str) -> ApiKeyPair:
        key = ApiKeyPair.objects.usable().select_related("user").filter(secret_id=secret_id).first()
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID)
        return key


class BasicKeyAuthentication(KeyPairAuthentication):
    """``Authorization: Basic base64(SecretId:SecretKey)``."""

    def credentials(self, request):
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        return value if scheme.lower() == "basic" else None

    def verify(self, request, credentials, now):
        try:
            secret_id, secret_key = decode_basic(credentials)
        except MalformedBasic:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from None
        key = self.usable_key(secret_id)
        if not key.check_secret(secret_key):
            raise exceptions.AuthenticationFailed(INVALID)
        return key

    def authenticate_header(self, request):
        return 'Basic realm="pushconsole API"'


class SignatureAuthentication(KeyPairAuthentication):
    """Headers ``SecretId``, ``TimeStamp`` and ``Sign`` over the method, path, query and body."""

    def credentials(self, request):
        return request.META.get("HTTP_SECRETID")

    def verify(self, request, secret_id, now):
        timestamp = request.META.get("HTTP_TIMESTAMP", "")
        signature = request.META.get("HTTP_SIGN", "")
        if not timestamp or not signature:
            raise exceptions.AuthenticationFailed(
                "Signed requests need TimeStamp and Sign headers."
            )
        try:
            seconds = check_timestamp(timestamp, now)
        except MalformedTimestamp:
            raise exceptions.AuthenticationFailed("TimeStamp must be unix seconds.") from None
        except StaleTimestamp as exc:
            raise exceptions.AuthenticationFailed(
                f"TimeStamp is more than {exc.max_skew} seconds away from the server's clock."
            ) from None
        key = self.usable_key(secret_id)
        django_request = request._request
        body = django_request.body
        if not key.check_signature(
            signature,
            method=django_request.method,
            path=django_request.path,
            query=django_request.META.get("QUERY_STRING", ""),
            timestamp=timestamp,
            body=body,
        ):
            if key.signed_the_old_way(signature, timestamp=timestamp, body=body):
                raise exceptions.AuthenticationFailed(OLD_FORM)
            raise exceptions.AuthenticationFailed("Sign does not match the request.")
        # Only now, verified and before any handler runs: a replay is refused from here on.
        if not replay.first_use("api", key.secret_id, seconds, signature, now):
            raise exceptions.AuthenticationFailed(REPLAYED)
        return key

    def authenticate_header(self, request):
        return 'Sign realm="pushconsole API"'
