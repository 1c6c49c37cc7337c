"""Authentication of the TPNS API by the app's AccessID and SecretKey (reference §1.2).

Either ``Authorization: Basic base64("<AccessID>:<SecretKey>")``, or the signed form with headers
``AccessId``, ``TimeStamp`` (unix seconds) and ``Sign`` = Base64(lowercase hex(HMAC-SHA256(
SecretKey, TimeStamp + AccessId + raw body))). TPNS does not document how far TimeStamp may be
from the server's clock; we allow ``settings.API_SIGNATURE_MAX_SKEW`` seconds either way, as the
management API does.

Every failure is ``ret_code`` 1008003 with HTTP 200, as TPNS answers refusals (see ``push.tpns``:
its okhttp-based SDKs read the body of 2xx answers only). An unknown AccessID and a wrong
SecretKey get the same message, so the answer does not tell which AccessIDs exist.

A signature is accepted once (``accounts.replay``): a replay within the skew window is 1008003
before the handler runs. Failures count against the client's address (``accounts.throttle``,
scope ``tpns``); a locked-out address gets ``ret_code`` 1008028 ("request too fast", TPNS's own
code for an over-limit caller) with HTTP 429 and ``Retry-After``, even with the right key.
"""

import time
from datetime import UTC, datetime

from django.http import HttpRequest

from accounts import replay, throttle
from accounts.signing import (
    MalformedBasic,
    MalformedTimestamp,
    StaleTimestamp,
    check_timestamp,
    decode_basic,
)
from lib.ids import bigint_id
from push.models import Application

from . import RetCode, TpnsError

WRONG_KEY = "wrong AccessID or SecretKey"


def _throttled(exc: throttle.Throttled) -> TpnsError:
    return TpnsError(
        RetCode.TOO_FAST,
        f"authentication throttled: {exc}",
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def _failed(message: str) -> TpnsError:
    return TpnsError(RetCode.AUTH, f"authentication failed: {message}")


def _application(access_id: str) -> Application | None:
    if (pk := bigint_id(access_id.strip())) is None:
        return None
    return Application.objects.select_related("account").filter(access_id=pk).first()


class TpnsAuthentication:
    """``TpnsAuthentication.authenticate(request)`` → the Application, or raises TpnsError."""

    # Tests replace the clock; every time-dependent step of the TPNS API reads it (see ``now``).
    clock = staticmethod(time.time)

    @classmethod
    def authenticate(cls, request: HttpRequest) -> Application:
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        signed, basic = "HTTP_ACCESSID" in request.META, scheme.lower() == "basic"
        if not signed and not basic:
            raise _failed(
                "give Authorization: Basic base64(AccessID:SecretKey), "
                "or the AccessId, TimeStamp and Sign headers"
            )
        now = cls.clock()
        return throttle.guarded(
            "tpns",
            request,
            now,
            lambda: cls._signed(request, now) if signed else cls._basic(value.strip()),
            refusal=TpnsError,
            throttled=_throttled,
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
    def _signed(cls, request: HttpRequest, now: float) -> Application:
        access_id = request.META.get("HTTP_ACCESSID", "")
        timestamp = request.META.get("HTTP_TIMESTAMP", "").strip()
        signature = request.META.get("HTTP_SIGN", "").strip()
        if not timestamp or not signature:
            raise _failed("signed requests need the TimeStamp and Sign headers")
        try:
            if not timestamp.isdigit():  # stricter than int(): no sign, no underscores
                raise MalformedTimestamp
            seconds = check_timestamp(timestamp, now)
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
        # Verified, and the handler has not run yet: from here on the same request is a replay.
        if not replay.first_use("tpns", str(app.access_id), seconds, signature, now):
            raise _failed("this signature was already used; sign every request anew")
        return app


def now() -> datetime:
    """The TPNS API's clock as an aware datetime (follows ``TpnsAuthentication.clock``)."""
    return datetime.fromtimestamp(TpnsAuthentication.clock(), tz=UTC)
