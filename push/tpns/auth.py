"""Authentication of the TPNS API by the app's AccessID and SecretKey (reference §1.2).

Either ``Authorization: Basic base64("<AccessID>:<SecretKey>")``, or the signed form with headers
``AccessId``, ``TimeStamp`` (unix seconds) and ``Sign`` = Base64(lowercase hex(HMAC-SHA256(
SecretKey, TimeStamp + AccessId + raw body))). TPNS does not document how far TimeStamp may be
from the server's clock; we allow ``settings.API_SIGNATURE_MAX_SKEW`` seconds either way, as the
management API does.

Every failure is ``ret_code`` 1008003 with HTTP 401. An unknown AccessID and a wrong SecretKey
get the same message, so the answer does not tell which AccessIDs exist.
"""

import time
from datetime import UTC, datetime

from django.http import HttpRequest

from accounts.signing import (
    MalformedBasic,
    MalformedTimestamp,
    StaleTimestamp,
    check_timestamp,
    decode_basic,
)
from push.models import Application

from . import RetCode, TpnsError

WRONG_KEY = "wrong AccessID or SecretKey"


def _failed(message: str) -> TpnsError:
    return TpnsError(RetCode.AUTH, f"authentication failed: {message}", status=401)


def _application(access_id: str) -> Application | None:
    access_id = access_id.strip()
    if not access_id.isdigit() or len(access_id) > 18:  # BigIntegerField
        return None
    return Application.objects.select_related("account").filter(access_id=int(access_id)).first()


class TpnsAuthentication:
    """``TpnsAuthentication.authenticate(request)`` → the Application, or raises TpnsError."""

    # Tests replace the clock; every time-dependent step of the TPNS API reads it (see ``now``).
    clock = staticmethod(time.time)

    @classmethod
    def authenticate(cls, request: HttpRequest) -> Application:
        if "HTTP_ACCESSID" in request.META:
            return cls._signed(request)
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "basic":
            return cls._basic(value.strip())
        raise _failed(
            "give Authorization: Basic base64(AccessID:SecretKey), "
            "or the AccessId, TimeStamp and Sign headers"
        )

    @staticmethod
    def _basic(value: str) -> Application:
        try:
            access_id, secret_key = decode_basic(value)
        except MalformedBasic:
            raise _failed("malformed Basic credentials") from None
        app = _application(access_id)
        if app is None or not app.check_secret(secret_key):
            raise _failed(WRONG_KEY)
        return app

    @classmethod
    def _signed(cls, request: HttpRequest) -> Application:
        access_id = request.META.get("HTTP_ACCESSID", "")
        timestamp = request.META.get("HTTP_TIMESTAMP", "").strip()
        signature = request.META.get("HTTP_SIGN", "").strip()
        if not timestamp or not signature:
            raise _failed("signed requests need the TimeStamp and Sign headers")
        try:
            if not timestamp.isdigit():  # stricter than int(): no sign, no underscores
                raise MalformedTimestamp
            check_timestamp(timestamp, cls.clock())
        except MalformedTimestamp:
            raise _failed("TimeStamp must be unix seconds") from None
        except StaleTimestamp as exc:
            raise _failed(
                f"TimeStamp is more than {exc.max_skew} seconds away from the server's clock"
            ) from None
        app = _application(access_id)
        if app is None:
            raise _failed(WRONG_KEY)
        # The signature covers TimeStamp, the AccessID and the raw body byte for byte.
        if not app.check_signature(timestamp, signature, request.body):
            raise _failed("Sign does not match the request")
        return app


def now() -> datetime:
    """The TPNS API's clock as an aware datetime (follows ``TpnsAuthentication.clock``)."""
    return datetime.fromtimestamp(TpnsAuthentication.clock(), tz=UTC)
