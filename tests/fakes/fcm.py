"""A fake Firebase Cloud Messaging (HTTP v1) and Google OAuth2 token endpoint for tests.

A real HTTPS server on 127.0.0.1 (the loopback CA of ``tests.fakes.tls``) speaking HTTP/2 and
HTTP/1.1 (chosen by ALPN), in a background thread:

    with FakeFcm(project_id="demo-app") as fcm:
        account = fcm.service_account()      # a service-account key file whose token_uri is ours
        settings.PUSH_FCM_URL = fcm.url
        settings.PUSH_CHANNEL_CA_FILE = fcm.ca_file
        fcm.answer("tok-gone", "UNREGISTERED")            # that token: 404 UNREGISTERED
        fcm.fail_next(2, "QUOTA_EXCEEDED", retry_after=7)  # the next two sends: 429
        ...
        fcm.received[0].message, fcm.received[0].protocol  # "HTTP/2"
        fcm.tokens_issued                                   # access tokens minted so far
        fcm.expire_tokens()                                 # Google revoked them: 401s

``FakeFcm(record=False)`` keeps no ``received`` (a benchmark); ``accepted`` counts either way.

``POST /token`` is Google's JWT-bearer grant: the RS256 assertion is verified with the public key
of the service account the fake issued (kid, iss, aud, scope, iat/exp), and answered with an
access token (``expires_in`` configurable) or Google's OAuth error JSON. As at Google, the scope
is checked where the token is used: messages:send wants firebase.messaging or cloud-platform.
``POST /v1/projects/{project_id}/messages:send`` checks the bearer token, the project, the body
(the v1 ``Message`` schema, as far as pushconsole uses it; 4096 bytes at most) and answers
``{"name": ...}`` or Google's error body with its ``FcmError`` detail. Answers can be scripted
per registration token (``answer``) or for the next requests (``fail_next``). Wire format:
/work/shared/reference/channels.md section 2.

``drive`` is the floor for the benchmark: the chosen client libraries (google-auth for the
token, httpx over HTTP/2 for the sends) driving the fake with nothing of pushconsole around them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.tls import loopback_ca

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# messages:send takes a token granted either scope (firebase-admin asks for cloud-platform).
SEND_SCOPES = frozenset({SCOPE, "https://www.googleapis.com/auth/cloud-platform"})
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always signs its assertion for Google's token URL, whatever the key file's
# token_uri says (service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT), and Google accepts that
# audience; the fake accepts it and its own token_uri.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MAX_MESSAGE_BYTES = 4096
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# FCM's ErrorCode → (HTTP status, google.rpc status, message), as FCM answers them.
ERRORS = {
    "UNSPECIFIED_ERROR": (500, "UNKNOWN", "No more information is available about this error."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for sending messages."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{1,4096}$")
_TTL = re.compile(r"^\d{1,9}(\.\d{1,9})?s$")
_MESSAGE_KEYS = {
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "token",
    "topic",
    "condition",
    "fid",  # a Firebase installation ID: firebase-admin 7.7 deprecates token for it
}
_NOTIFICATION_KEYS = {"title", "body", "image"}
_ANDROID_KEYS = {
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
}
_ANDROID_NOTIFICATION_KEYS = {
    "title",
    "body",
    "icon",
    "color",
    "sound",
    "tag",
    "click_action",
    "body_loc_key",
    "body_loc_args",
    "title_loc_key",
    "title_loc_args",
    "channel_id",
    "ticker",
    "sticky",
    "event_time",
    "local_only",
    "notification_priority",
    "default_sound",
    "default_vibrate_timings",
    "default_light_settings",
    "vibrate_timings",
    "visibility",
    "notification_count",
    "light_settings",
    "image",
}
_APNS_KEYS = {"headers", "payload", "fcm_options", "live_activity_token"}
_RESERVED_DATA = {"from", "message_type", "notification"}


@dataclass(frozen=True, slots=True)
class Received:
    """One request to messages:send, as the fake saw it (also the refused ones)."""

    token: str | None
    message: dict
    headers: dict[str, str]
    protocol: str  # "HTTP/2" or "HTTP/1.1"
    status: int
    validate_only: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """One token request that was granted: the assertion's claims and the token minted."""

    claims: dict
    access_token: str
    protocol: str


class _Refusal(Exception):
    def __init__(self, status: int, body: bytes, headers: tuple = ()):
        self.status, self.body, self.headers = status, body, headers


def google_error(
    status: int,
    rpc_status: str,
    message: str,
    *,
    error_code: str | None = None,
    violations: Iterable[tuple[str, str]] = (),
) -> bytes:
    """Google's error body (google.rpc.Status as JSON), with FCM's and BadRequest details."""
    details: list[dict[str, Any]] = []
    if error_code:
        details.append({"@type": FCM_ERROR, "errorCode": error_code})
    violations = list(violations)
    if violations:
        details.append(
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": f, "description": d} for f, d in violations],
            }
        )
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def _fcm_error(error_code: str, *, message: str | None = None, violations=()) -> _Refusal:
    status, rpc_status, default = ERRORS[error_code]
    return _Refusal(
        status,
        google_error(
            status, rpc_status, message or default, error_code=error_code, violations=violations
        ),
    )


def _invalid(field_name: str, description: str) -> _Refusal:
    return _fcm_error(
        "INVALID_ARGUMENT", message=description, violations=[(field_name, description)]
    )


@dataclass
class _Account:
    info: dict
    public_key: Any


@dataclass
class _Script:
    """The fake's scripted answers (guarded by FakeFcm._lock)."""

    per_token: dict[str, str] = field(default_factory=dict)
    next_failures: list[tuple[str, float | str | None]] = field(default_factory=list)
    grant_error: tuple[str, str] | None = None


class FakeFcm:
    def __init__(
        self,
        project_id: str = "pushconsole-test",
        *,
        expires_in: int = 3600,
        delay: float = 0.0,
        max_streams: int = 100,
        host: str = "127.0.0.1",
        record: bool = True,
    ):
        self.project_id = project_id
        self.expires_in = expires_in  # of the access tokens minted from now on
        self.delay = delay  # seconds before each messages:send answer (HTTP/2)
        self.max_streams = max_streams  # SETTINGS_MAX_CONCURRENT_STREAMS per connection
        self.host = host
        self.record = record  # False: keep no ``received`` (a benchmark), only ``accepted``
        self._accepted = 0
        self.port = 0
        self.ca_file = loopback_ca().ca_file
        self._lock = threading.Lock()
        self._script = _Script()
        self._received: list[Received] = []
        self._grants: list[Grant] = []
        self._token_requests = 0
        # access token → (expiry on time.monotonic, the scopes granted)
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._accounts: dict[str, _Account] = {}  # private_key_id → account
        self._default_account: dict | None = None
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Transport] = set()

    # -- addresses and credentials --------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (settings.PUSH_FCM_URL)."""
        return f"https://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def send_url(self) -> str:
        return f"{self.url}/v1/projects/{self.project_id}/messages:send"

    def service_account(self, *, fresh: bool = False) -> dict:
        """A service-account key file (as a dict) the fake grants tokens to: the same one each
        call, or a new key and e-mail with ``fresh=True``."""
        if self._default_account is not None and not fresh:
            return dict(self._default_account)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        n = len(self._accounts) + 1
        email = f"firebase-adminsdk-fake{n}@{self.project_id}.iam.gserviceaccount.com"
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": key_id,
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": email,
            "client_id": str(100_000_000_000_000_000_000 + secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + urllib.parse.quote(email),
            "universe_domain": "googleapis.com",
        }
        with self._lock:
            self._accounts[key_id] = _Account(info, key.public_key())
        if self._default_account is None:
            self._default_account = info
        return dict(info)

    # -- scripting ------------------------------------------------------------------------

    def answer(self, token: str, error_code: str | None) -> None:
        """Answer every send to ``token`` with FCM's ``error_code`` (None: accept again)."""
        if error_code is not None and error_code not in ERRORS:
            raise ValueError(f"unknown FCM error code {error_code!r}")
        with self._lock:
            if error_code is None:
                self._script.per_token.pop(token, None)
            else:
                self._script.per_token[token] = error_code

    def fail_next(
        self, count: int, error_code: str, *, retry_after: float | str | None = None
    ) -> None:
        """Answer the next ``count`` authenticated sends with ``error_code`` (and a
        ``Retry-After`` header: seconds, or an HTTP date as a string)."""
        if error_code not in ERRORS:
            raise ValueError(f"unknown FCM error code {error_code!r}")
        with self._lock:
            self._script.next_failures.extend([(error_code, retry_after)] * count)

    def refuse_grants(
        self, error: str | None = "invalid_grant", description: str = "Invalid JWT Signature."
    ) -> None:
        """Answer token requests with Google's OAuth error (None: grant again)."""
        with self._lock:
            self._script.grant_error = None if error is None else (error, description)

    def expire_tokens(self) -> None:
        """Every access token minted so far is expired from now on (the fake's side)."""
        with self._lock:
            for token, (_, scopes) in self._tokens.items():
                self._tokens[token] = (0.0, scopes)

    def reset(self) -> None:
        """Forget what was received and scripted (tokens and accounts stay valid)."""
        with self._lock:
            self._script = _Script()
            self._received.clear()
            self._grants.clear()
            self._token_requests = 0
            self._accepted = 0

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def grants(self) -> list[Grant]:
        with self._lock:
            return list(self._grants)

    @property
    def accepted(self) -> int:
        """Sends answered 200 (counted with ``record=False`` too)."""
        with self._lock:
            return self._accepted

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint, granted or refused."""
        with self._lock:
            return self._token_requests

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._grants)

    # -- the server -----------------------------------------------------------------------

    def start(self) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                context = loopback_ca().server_context(alpn=("h2", "http/1.1"))
                server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self), self.host, 0, ssl=context, backlog=1024
                    )
                )
                self.port = server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                for transport in list(self._connections):
                    transport.abort()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-fcm", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- requests (on the server's thread) ------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes, protocol: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if method != "POST":
            return 405, [], google_error(405, "METHOD_NOT_ALLOWED", "Use POST.")
        try:
            if path == "/token":
                return 200, [], self._grant(headers, body, protocol)
            if _SEND_PATH.match(path):
                return 200, [], self._send(path, headers, body, protocol)
        except _Refusal as refusal:
            return refusal.status, list(refusal.headers), refusal.body
        return 404, [], google_error(404, "NOT_FOUND", f"No such method: {path}")

    def _grant(self, headers: dict[str, str], body: bytes, protocol: str) -> bytes:
        def oauth_error(error: str, description: str, status: int = 400) -> _Refusal:
            payload = {"error": error, "error_description": description}
            return _Refusal(status, json.dumps(payload).encode())

        with self._lock:
            self._token_requests += 1
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise oauth_error("invalid_request", "Expected a form-encoded body.")
        form = urllib.parse.parse_qs(body.decode("latin-1"))
        grant_type = form.get("grant_type", [""])[0]
        if grant_type != JWT_GRANT:
            raise oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion", [""])[0]
        with self._lock:
            scripted = self._script.grant_error
        if scripted:
            raise oauth_error(*scripted)
        try:
            key_id = jwt.get_unverified_header(assertion).get("kid", "")
        except jwt.InvalidTokenError:
            raise oauth_error("invalid_grant", "Invalid JWT: malformed.") from None
        account = self._accounts.get(key_id)
        if account is None:
            raise oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_URI, self.token_uri],
                issuer=account.info["client_email"],
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
                leeway=60,
            )
        except jwt.InvalidSignatureError:
            raise oauth_error("invalid_grant", "Invalid JWT Signature.") from None
        except jwt.InvalidTokenError as exc:
            raise oauth_error("invalid_grant", f"Invalid JWT: {exc}") from None
        if not 0 < claims["exp"] - claims["iat"] <= 3600 or claims["iat"] > time.time() + 60:
            raise oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = frozenset(str(claims["scope"]).split())
        if not scopes:
            raise oauth_error("invalid_scope", "Empty or missing scope not allowed.")
        access_token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            expires_in = self.expires_in
            self._tokens[access_token] = (time.monotonic() + expires_in, scopes)
            self._grants.append(Grant(claims, access_token, protocol))
        return json.dumps(
            {"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"}
        ).encode()

    def _send(self, path: str, headers: dict[str, str], body: bytes, protocol: str) -> bytes:
        message: dict = {}
        validate_only = False
        status = 200
        try:
            self._authenticate(headers.get("authorization", ""))
            project_id = _SEND_PATH.match(path).group(1)
            if project_id != self.project_id:
                raise _Refusal(
                    403,
                    google_error(
                        403,
                        "PERMISSION_DENIED",
                        "Permission 'cloudmessaging.messages.create' denied on resource "
                        f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' "
                        "(or it may not exist).",
                    ),
                )
            with self._lock:
                failure = self._script.next_failures.pop(0) if self._script.next_failures else None
            if failure:
                error_code, retry_after = failure
                refusal = _fcm_error(error_code)
                if retry_after is not None:
                    refusal.headers = (("retry-after", str(retry_after)),)
                raise refusal
            message, validate_only = _check_body(body)
            token = message.get("token")
            with self._lock:
                scripted = self._script.per_token.get(token) if token else None
            if scripted == "INVALID_ARGUMENT":
                raise _fcm_error(
                    "INVALID_ARGUMENT",
                    violations=[("message.token", "Invalid registration token")],
                )
            if scripted:
                raise _fcm_error(scripted)
            if token is not None and not _TOKEN.match(token):
                # What FCM answers today for a malformed token: no fieldViolations.
                raise _fcm_error(
                    "INVALID_ARGUMENT",
                    message="The registration token is not a valid FCM registration token",
                )
            name = f"projects/{self.project_id}/messages/0:{next(self._ids)}%fcmfake"
            return json.dumps({"name": name}).encode()
        except _Refusal as refusal:
            status = refusal.status
            raise
        finally:
            record = self.record and Received(
                token=message.get("token"),
                message=message,
                headers=headers,
                protocol=protocol,
                status=status,
                validate_only=validate_only,
            )
            with self._lock:
                self._accepted += status == 200
                if record:
                    self._received.append(record)

    def _authenticate(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            granted = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if granted is not None and granted[0] > time.monotonic() and not granted[1] & SEND_SCOPES:
            raise _Refusal(
                403,
                google_error(
                    403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
                ),
            )
        if granted is None or granted[0] <= time.monotonic():
            raise _Refusal(
                401,
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential. See "
                    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                ),
                (("www-authenticate", 'Bearer realm="https://accounts.google.com/"'),),
            )


def _check_body(body: bytes) -> tuple[dict, bool]:
    """The request's message and validate_only, or the INVALID_ARGUMENT FCM would answer."""
    try:
        request = json.loads(body)
    except ValueError:
        raise _invalid("", "Invalid JSON payload received.") from None
    if not isinstance(request, dict):
        raise _invalid("", "Invalid JSON payload received. Expected an object.")
    _known(request, {"message", "validate_only"}, "")
    validate_only = request.get("validate_only", False)
    if not isinstance(validate_only, bool):
        raise _invalid("validate_only", "Invalid value at 'validate_only' (TYPE_BOOL)")
    message = request.get("message")
    if not isinstance(message, dict):
        raise _invalid("message", "The message is missing.")
    _known(message, _MESSAGE_KEYS, "message")
    targets = [key for key in ("token", "topic", "condition", "fid") if key in message]
    if len(targets) != 1:
        raise _invalid(
            "message", "Exactly one of token, topic, condition or fid must be specified."
        )
    if not isinstance(message[targets[0]], str):
        raise _invalid(f"message.{targets[0]}", f"Invalid value at 'message.{targets[0]}'")
    _string_map(message, "data", "message")
    for key in message.get("data", {}):
        if key.lower() in _RESERVED_DATA or key.lower().startswith(("google", "gcm")):
            raise _invalid(f"message.data[{key}]", f"Invalid data payload key: {key}")
    if (notification := message.get("notification")) is not None:
        _object(notification, "message.notification")
        _known(notification, _NOTIFICATION_KEYS, "message.notification")
        for key, value in notification.items():
            _string(value, f"message.notification.{key}")
    if (android := message.get("android")) is not None:
        _check_android(android)
    if (apns := message.get("apns")) is not None:
        _object(apns, "message.apns")
        _known(apns, _APNS_KEYS, "message.apns")
        _string_map(apns, "headers", "message.apns")
        if "payload" in apns:
            _object(apns["payload"], "message.apns.payload")
            if "aps" in apns["payload"]:
                _object(apns["payload"]["aps"], "message.apns.payload.aps")
    sized = {key: value for key, value in message.items() if key not in targets}
    size = len(json.dumps(sized, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:
        raise _invalid("message", f"Message is too big: {size} bytes (at most 4096).")
    return message, validate_only


def _check_android(android: Any) -> None:
    _object(android, "message.android")
    _known(android, _ANDROID_KEYS, "message.android")
    # Google's JSON parser takes enum names in any case (firebase-admin sends "high").
    if "priority" in android and str(android["priority"]).upper() not in ("HIGH", "NORMAL"):
        raise _invalid(
            "message.android.priority",
            f"Invalid value at 'message.android.priority' (TYPE_ENUM), {android['priority']!r}",
        )
    if "ttl" in android and not (isinstance(android["ttl"], str) and _TTL.match(android["ttl"])):
        raise _invalid(
            "message.android.ttl",
            "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf."
            f"Duration), {android['ttl']!r}",
        )
    if "collapse_key" in android:
        _string(android["collapse_key"], "message.android.collapse_key")
    _string_map(android, "data", "message.android")
    if (notification := android.get("notification")) is not None:
        _object(notification, "message.android.notification")
        _known(notification, _ANDROID_NOTIFICATION_KEYS, "message.android.notification")
        for key in ("title", "body", "sound", "click_action", "channel_id", "icon", "image"):
            if key in notification:
                _string(notification[key], f"message.android.notification.{key}")
        count = notification.get("notification_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise _invalid(
                "message.android.notification.notification_count",
                "Invalid value at 'message.android.notification.notification_count' (TYPE_INT32)",
            )


def _known(obj: dict, keys: set[str], where: str) -> None:
    for key in obj:
        if key not in keys:
            description = (
                f"Invalid JSON payload received. Unknown name {json.dumps(key)} at "
                f"'{where}': Cannot find field."
            )
            raise _invalid(where, description)


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _invalid(where, f"Invalid value at '{where}': expected an object")


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _invalid(where, f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")


def _string_map(parent: dict, key: str, where: str) -> None:
    if key not in parent:
        return
    value = parent[key]
    _object(value, f"{where}.{key}")
    for i, item in enumerate(value.values()):
        _string(item, f"{where}.{key}[{i}].value")


class _Connection(asyncio.Protocol):
    """One TLS connection: HTTP/2 when ALPN chose h2, HTTP/1.1 otherwise."""

    def __init__(self, fake: FakeFcm):
        self.fake = fake
        self.transport: asyncio.Transport | None = None
        self.h2: h2.connection.H2Connection | None = None
        self.streams: dict[int, tuple[list, list[bytes]]] = {}
        self.pending: dict[int, bytes] = {}  # response bodies waiting for flow-control window
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.fake._connections.add(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            config = h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
            self.h2 = h2.connection.H2Connection(config=config)
            self.h2.local_settings = h2.settings.Settings(
                client=False,
                initial_values={
                    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.fake.max_streams,
                    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
                },
            )
            self.h2.initiate_connection()
            self.h2.increment_flow_control_window(1 << 24)
            transport.write(self.h2.data_to_send())

    def connection_lost(self, exc) -> None:
        self.fake._connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.h2 is None:
            self._http1(data)
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.h2.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (event.headers, [])
            elif isinstance(event, h2.events.DataReceived):
                if event.stream_id in self.streams:
                    self.streams[event.stream_id][1].append(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._h2_request(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
                self.pending.pop(event.stream_id, None)
            elif isinstance(event, h2.events.WindowUpdated):
                self._flush_pending()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def _h2_request(self, stream_id: int) -> None:
        raw_headers, chunks = self.streams.pop(stream_id)
        headers = {k.decode().lower(): v.decode() for k, v in raw_headers}
        answer = self.fake.handle(
            headers.get(":method", ""),
            headers.get(":path", ""),
            headers,
            b"".join(chunks),
            "HTTP/2",
        )
        if self.fake.delay and headers.get(":path", "") != "/token":
            loop = asyncio.get_running_loop()
            loop.call_later(self.fake.delay, self._h2_respond_now, stream_id, answer)
        else:
            self._h2_respond(stream_id, answer)

    def _h2_respond_now(self, stream_id: int, answer) -> None:
        self._h2_respond(stream_id, answer)
        if not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def _h2_respond(self, stream_id: int, answer) -> None:
        status, extra, body = answer
        headers = [
            (b":status", str(status).encode()),
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", str(len(body)).encode()),
        ] + [(k.encode(), v.encode()) for k, v in extra]
        try:
            self.h2.send_headers(stream_id, headers)
            self.pending[stream_id] = body
            self._flush_pending()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.pending.pop(stream_id, None)  # the client gave up on it (a timeout)

    def _flush_pending(self) -> None:
        for stream_id, body in list(self.pending.items()):
            try:
                window = min(
                    self.h2.local_flow_control_window(stream_id),
                    self.h2.max_outbound_frame_size,
                )
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                del self.pending[stream_id]
                continue
            if len(body) <= window:
                self.h2.send_data(stream_id, body, end_stream=True)
                del self.pending[stream_id]
            elif window > 0:
                self.h2.send_data(stream_id, body[:window])
                self.pending[stream_id] = body[window:]

    def _http1(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
            method, path, _version = (lines[0].split(" ") + ["", ""])[:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            status, extra, payload = self.fake.handle(method, path, headers, body, "HTTP/1.1")
            head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}"]
            head += ["Content-Type: application/json; charset=UTF-8"]
            head += [f"Content-Length: {len(payload)}"]
            head += [f"{k}: {v}" for k, v in extra]
            self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return


async def drive(
    service_account: dict,
    tokens: Iterable[str],
    *,
    base_url: str,
    message: dict | None = None,
    project_id: str | None = None,
    ca_file: str | None = None,
    batch: int = 500,
) -> int:
    """The floor pushconsole's FCM channel is measured against: one google-auth access token
    and httpx over HTTP/2 sending ``message`` to each token, ``batch`` requests gathered at a
    time (httpx multiplexes them on one connection, up to the fake's 100 streams), with
    nothing of pushconsole around them. Returns how many sends FCM accepted."""
    import google.auth.transport.requests
    import httpx
    import requests
    from google.oauth2 import service_account as accounts

    credentials = accounts.Credentials.from_service_account_info(service_account, scopes=[SCOPE])
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace ``verify``
    session.verify = ca_file or True
    await asyncio.to_thread(credentials.refresh, google.auth.transport.requests.Request(session))
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    url = f"{base_url}/v1/projects/{project_id or service_account['project_id']}/messages:send"
    headers = {"authorization": f"Bearer {credentials.token}"}
    message = message or {"notification": {"title": "Hello", "body": "world"}}
    accepted = 0
    queue = iter(tokens)
    async with httpx.AsyncClient(http2=True, verify=context) as client:
        while chunk := list(itertools.islice(queue, batch)):
            responses = await asyncio.gather(
                *(
                    client.post(url, json={"message": {**message, "token": t}}, headers=headers)
                    for t in chunk
                )
            )
            accepted += sum(response.status_code == 200 for response in responses)
    return accepted
