"""Authentication of the SDK API by the app's AccessID and AccessKey.

Headers ``X-Access-Id`` (the numeric AccessID) and ``X-Access-Key``. The AccessKey ships inside
the app, so it identifies the app rather than proving much; the SecretKey never leaves the
customer's server and is not accepted here. An unknown AccessID and a wrong AccessKey get the
same answer, so the API does not tell which AccessIDs exist.

Failures count against the client's address (``accounts.throttle``, scope ``sdk``); a
locked-out address gets 429 ``{"error": {"code": "throttled", ...}}`` with ``Retry-After``, even
with the right key.
"""

import hmac
import time

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts import throttle
from lib.ids import bigint_id
from push.models import Application

INVALID = "Invalid X-Access-Id or X-Access-Key."
# Compared against when the AccessID is unknown, so both failures take the same time.
_DUMMY_KEY = b"0" * 32


class AccessKeyAuthentication(authentication.BaseAuthentication):
    """``request.auth`` becomes the Application; there is no user (``request.user`` is None)."""

    clock = staticmethod(time.time)  # tests replace it (the throttle's lockout)

    def authenticate(self, request):
        access_id = request.META.get("HTTP_X_ACCESS_ID")
        access_key = request.META.get("HTTP_X_ACCESS_KEY")
        if access_id is None and access_key is None:
            return None  # the permission answers 401 "credentials were not provided"
        app = throttle.guarded(
            "sdk",
            request,
            self.clock(),
            lambda: self._application(access_id, access_key),
            refusal=exceptions.AuthenticationFailed,
            throttled=throttle.drf_throttled,
        )
        return None, app

    @staticmethod
    def _application(access_id, access_key) -> Application:
        if not access_id or not access_key:
            raise exceptions.AuthenticationFailed("Send both X-Access-Id and X-Access-Key.")
        app = None
        if (pk := bigint_id(access_id.strip())) is not None:
            app = Application.objects.filter(access_id=pk).first()
        if app is None:
            hmac.compare_digest(_DUMMY_KEY, access_key.encode())
            raise exceptions.AuthenticationFailed(INVALID)
        if not app.check_access_key(access_key):
            raise exceptions.AuthenticationFailed(INVALID)
        return app

    def authenticate_header(self, request):
        # Present so that DRF answers 401 (not 403) when the headers are missing.
        return 'AccessKey realm="pushconsole SDK"'


class IsApplication(permissions.BasePermission):
    """The request was authenticated as an application (by ``AccessKeyAuthentication``)."""

    def has_permission(self, request, view):
        return isinstance(request.auth, Application)


class AccessKeyScheme(OpenApiAuthenticationExtension):
    """The two headers, as one security requirement (both must be sent)."""

    target_class = "push.sdk.authentication.AccessKeyAuthentication"
    name = ["sdkAccessId", "sdkAccessKey"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Access-Id",
                "description": "The application's AccessID (digits).",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Access-Key",
                "description": "The application's AccessKey (shipped in the app).",
            },
        ]
