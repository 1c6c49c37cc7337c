"""A fake Huawei Push Kit (OAuth token endpoint + REST v1 messages:send) on loopback HTTPS, and
Huawei's receipt callbacks, for tests and the benchmark:

    with FakeHuawei(app_id="104523457", client_secret="s3cret") as hw:
        settings.PUSH_HUAWEI_TOKEN_URL = hw.token_url
        settings.PUSH_HUAWEI_URL = hw.url
        settings.PUSH_CHANNEL_CA_FILE = hw.ca_file
        hw.answer("tok-gone")                  # that token: listed in illegal_tokens
        hw.fail_next(2, "503")                 # the next two sends: HTTP 503 traffic control
        hw.expire_tokens()                     # the access tokens issued so far expire (80200003)
        hw.quota_spent = True                  # marketing messages: taken, then dropped (256)
        hw.accepted[0].message, .tokens        # what it took
        body, headers = hw.receipt([(token, push_id, 0)], user="u", secret="k")

What it verifies: the token request (form grant_type=client_credentials, the client ID and
secret it was given), the bearer token (issued by it, not expired, for this App ID), and the
request (``{"validate_only", "message"}``, 1–1000 tokens, at most 4096 bytes without them, the
android/notification fields pushconsole sends and their values). It answers as Push Kit does:
80000000, 80100000 with ``msg`` ``{"success", "failure", "illegal_tokens"}`` (a JSON string),
80300007, 80100003, 80200001/80200003 (HTTP 401), 80300008, 80300010, HTTP 503. As at Huawei,
a spent marketing quota does not refuse the send: the capped messages are recorded with status
256, which ``deliveries()`` (the receipts Huawei would post) reports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.vendor import Reply, Request, VendorFake

MAX_TOKENS = 1000
MAX_MESSAGE_BYTES = 4096
MAX_TTL = 15 * 24 * 3600
CAPPED_STATUS = 256  # Huawei's receipt status for a message dropped by a category's cap
CATEGORIES = {
    "IM",
    "VOIP",
    "SUBSCRIPTION",
    "TRAVEL",
    "HEALTH",
    "WORK",
    "ACCOUNT",
    "EXPRESS",
    "FINANCE",
    "DEVICE_REMINDER",
    "SYSTEM_REMINDER",
    "MAIL",
    "PLAY_VOICE",
    "MARKETING",
}
_TTL = re.compile(r"^(\d{1,9})(\.\d{1,9})?[sS]?$")
_MESSAGE_KEYS = {"data", "notification", "android", "token", "topic", "condition", "apns"}
_ANDROID_KEYS = {
    "collapse_key",
    "urgency",
    "category",
    "ttl",
    "bi_tag",
    "receipt_id",
    "fast_app_target",
    "data",
    "notification",
}
_NOTIFICATION_KEYS = {
    "title",
    "body",
    "icon",
    "color",
    "sound",
    "default_sound",
    "tag",
    "click_action",
    "channel_id",
    "notify_summary",
    "image",
    "style",
    "big_title",
    "big_body",
    "auto_clear",
    "notify_id",
    "group",
    "badge",
    "ticker",
    "when",
    "importance",
    "use_default_vibrate",
    "use_default_light",
    "visibility",
    "foreground_show",
}
# Answer codes as Push Kit sends them (HTTP status, msg).
ERRORS = {
    "80100001": (400, "Check Parameter Error."),
    "80100003": (400, "Illegal payload"),
    "80100016": (400, "Anti-Spam: sensitive content"),
    "80200001": (401, "Oauth authentication error"),
    "80200003": (401, "Oauth Token expired."),
    "80300002": (400, "No permission to send message to these tokens"),
    "80300008": (400, "Push message size is too long"),
    "80300010": (400, "token count should within 1 and 1000"),
    "81000001": (500, "Inner Error."),
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """One request the fake took: the message without its tokens, the tokens it delivers to,
    Huawei's request id, and whether a spent quota drops it (receipt status 256)."""

    message: dict
    tokens: list[str]
    request_id: str
    headers: dict[str, str]
    capped: bool = False


def callback_id(user: str, secret: str, *, timestamp_ms: int, nonce: str) -> str:
    """The X-HUAWEI-CALLBACK-ID header Huawei signs a receipt with."""
    text = f"{timestamp_ms}{nonce}{user}".encode()
    value = base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()
    return f"timestamp={timestamp_ms};nonce={nonce};value={value}"


class FakeHuawei(VendorFake):
    TOKEN_PATH = "/oauth2/v3/token"
    SEND_PATH = re.compile(r"^/v1/([^/]+)/messages:send$")
    VENDOR = "huawei"

    def __init__(
        self,
        *,
        app_id: str = "104523457",
        client_id: str | None = None,
        client_secret: str = "hw-client-secret",
        expires_in: int = 3600,
        record: bool = True,
    ):
        super().__init__(record=record)
        self.app_id = app_id
        self.client_id = client_id or app_id
        self.client_secret = client_secret
        self.expires_in = expires_in  # of the access tokens issued from now on
        self.delay = 0.0  # seconds before each send's answer
        self.quota_spent = False
        self._script_lock = threading.Lock()
        self._issued: dict[str, float] = {}  # access token → expiry (time.monotonic)
        self._per_token: dict[str, str] = {}
        self._next: list[Reply] = []
        self._accepted: list[Accepted] = []
        self._ids = itertools.count(1)
        self.token_requests = 0
        self.tokens_issued = 0
        self.sends = 0  # messages:send requests answered (also refused ones)
        self.accepted_tokens = 0  # kept with record=False too

    # -- scripting --------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.url}{self.TOKEN_PATH}"

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self._script_lock:
            self._issued = dict.fromkeys(self._issued, 0.0)

    def answer(self, token: str, reason: str = "illegal") -> None:
        """``token`` fails in every request: ``illegal`` lists it in v1's illegal_tokens; any
        other word lists it under that reason in Push Kit's ``illegalTokens``."""
        with self._script_lock:
            self._per_token[token] = reason

    def fail_next(
        self,
        count: int,
        code: str,
        *,
        retry_after: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """The next ``count`` sends answer ``code`` (an answer code of ``ERRORS``, or an HTTP
        status such as "503", "429", "502"), after ``delay``; ``drop``: no answer at all."""
        reply = self.error(code) if code in ERRORS else Reply(int(code), b"")
        if retry_after is not None:
            reply.headers["retry-after"] = retry_after
        reply.delay, reply.drop = delay, drop
        with self._script_lock:
            self._next += [reply] * count

    @property
    def accepted(self) -> list[Accepted]:
        with self._script_lock:
            return list(self._accepted)

    def deliveries(self) -> list[tuple[str, str, int]]:
        """What Huawei would report in receipts for what it took: (token, biTag, status), 0
        delivered or 256 dropped by the marketing cap."""
        return [
            (token, self.bi_tag(item.message), CAPPED_STATUS if item.capped else 0)
            for item in self.accepted
            for token in item.tokens
        ]

    def receipt(
        self,
        lines: Iterable[tuple[str, str, int]],
        *,
        user: str = "",
        secret: str = "",
        timestamp_ms: int | None = None,
        nonce: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Huawei's receipt callback for (token, push_id, status) lines: the body, and the
        headers (X-HUAWEI-CALLBACK-ID signed with ``secret`` and ``user`` when given)."""
        now_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        statuses = [
            {
                "biTag": push_id,
                "appid": self.app_id,
                "token": token,
                "status": status,
                "timestamp": now_ms,
                "requestId": f"{now_ms}{index:06d}",
            }
            for index, (token, push_id, status) in enumerate(lines)
        ]
        headers = {"content-type": "application/json"}
        if secret:
            headers["x-huawei-callback-id"] = callback_id(
                user, secret, timestamp_ms=now_ms, nonce=nonce or str(uuid.uuid4())
            )
        return json.dumps({"statuses": statuses}).encode(), headers

    # -- what differs at Honor (tests.fakes.honor) -----------------------------------------

    def error(self, code: str, detail: str = "") -> Reply:
        status, text = ERRORS[code]
        return Reply.json(status, {"code": code, "msg": f"{text} {detail}".strip()})

    def check_headers(self, request: Request) -> None:
        pass

    def unwrap(self, request: dict) -> dict:
        """The message of a request body (Push Kit wraps it with validate_only)."""
        _known(request, {"validate_only", "message"}, "request", self)
        if not isinstance(request.get("validate_only", False), bool):
            raise self.error("80100003", "validate_only must be a boolean")
        message = request.get("message")
        if not isinstance(message, dict):
            raise self.error("80100003", "message is missing")
        _known(message, _MESSAGE_KEYS, "message", self)
        return message

    def check_android(self, android: Any) -> None:
        if not isinstance(android, dict):
            raise self.error("80100003", "android must be an object")
        _known(android, _ANDROID_KEYS, "android", self)
        key = android.get("collapse_key")
        if key is not None and not (isinstance(key, int) and -1 <= key <= 100):
            raise self.error("80100003", "collapse_key ranges from -1 to 100")
        if android.get("urgency", "NORMAL") not in ("HIGH", "NORMAL"):
            raise self.error("80100003", "urgency must be HIGH or NORMAL")
        if "category" in android and android["category"] not in CATEGORIES:
            raise self.error("80100003", f"unknown category {android['category']!r}")
        self.check_ttl(android.get("ttl"))
        if not isinstance(android.get("bi_tag", ""), str):
            raise self.error("80100003", "bi_tag must be a string")
        if (notification := android.get("notification")) is not None:
            self.check_notification(notification, _NOTIFICATION_KEYS, "click_action")

    def check_ttl(self, ttl: Any) -> None:
        if ttl is None:
            return
        match = _TTL.match(ttl) if isinstance(ttl, str) else None
        if match is None or not 0 < int(match.group(1)) <= MAX_TTL:
            raise self.error("80100003", f'ttl {ttl!r} (1 s to 15 days, as "86400s")')

    def check_notification(self, notification: Any, keys: set[str], click: str) -> None:
        if not isinstance(notification, dict):
            raise self.error("80100003", "notification must be an object")
        _known(notification, keys, "notification", self)
        for key in ("title", "body", "channel_id", "image", "tag"):
            if key in notification and not isinstance(notification[key], str):
                raise self.error("80100003", f"notification.{key} must be a string")
        if notification.get("importance", "NORMAL") not in ("LOW", "NORMAL"):
            raise self.error("80100003", "importance must be LOW or NORMAL")
        action = notification.get(click)
        if not isinstance(action, dict) or action.get("type") not in (1, 2, 3):
            raise self.error("80100003", f"{click}.type must be 1, 2 or 3")
        if action["type"] == 1 and not (action.get("intent") or action.get("action")):
            raise self.error("80100003", f"{click} type 1 needs intent or action")
        if action["type"] == 2 and not str(action.get("url", "")).startswith("https://"):
            raise self.error("80100003", f"{click} type 2 needs an https url")

    def android_of(self, message: dict) -> dict:
        return message.get("android") or {}

    def bi_tag(self, message: dict) -> str:
        return self.android_of(message).get("bi_tag", "")

    def marketing(self, message: dict) -> bool:
        return self.android_of(message).get("category", "MARKETING") == "MARKETING"

    def success(self, request_id: str, tokens: list[str], failed: dict[str, str]) -> Reply:
        if not failed:
            return Reply.json(200, {"code": "80000000", "msg": "Success", "requestId": request_id})
        detail: dict[str, Any] = {"success": len(tokens) - len(failed), "failure": len(failed)}
        listed = [token for token, reason in failed.items() if reason == "illegal"]
        grouped: dict[str, list[str]] = {}
        for token, reason in failed.items():
            if reason != "illegal":
                grouped.setdefault(reason, []).append(token)
        if listed:
            detail["illegal_tokens"] = listed
        if grouped:
            detail["illegalTokens"] = grouped
        every = len(failed) == len(tokens)
        return Reply.json(
            400 if every else 200,
            {
                "code": "80300007" if every else "80100000",
                "msg": json.dumps(detail),
                "requestId": request_id,
            },
        )

    # -- the server --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == self.TOKEN_PATH:
            return self._grant(request)
        match = self.SEND_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return Reply(404, b"")
        with self._script_lock:
            self.sends += 1
        self._authenticate(request.headers.get("authorization", ""), match.group(1))
        self.check_headers(request)
        with self._script_lock:
            scripted = self._next.pop(0) if self._next else None
        if scripted is not None:
            return scripted
        message, tokens = self._check(request.body)
        with self._script_lock:
            failed = {t: self._per_token[t] for t in tokens if t in self._per_token}
        request_id = f"{int(time.time() * 1000)}{next(self._ids):08d}"
        taken = [t for t in tokens if t not in failed]
        if taken:
            with self._script_lock:
                self.accepted_tokens += len(taken)
                if self.record:
                    capped = self.quota_spent and self.marketing(message)
                    self._accepted.append(
                        Accepted(message, taken, request_id, dict(request.headers), capped)
                    )
        reply = self.success(request_id, tokens, failed)
        reply.delay = self.delay
        return reply

    def _grant(self, request: Request) -> Reply:
        form = request.form()
        with self._script_lock:
            self.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return Reply.json(400, {"error": 1102, "error_description": "invalid grant_type"})
        if form.get("client_id") != self.client_id or not hmac.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        ):
            return Reply.json(
                400,
                {"error": 1101, "sub_error": 20152, "error_description": "invalid client_secret"},
            )
        token = f"{self.VENDOR}-{secrets.token_urlsafe(24)}"
        with self._script_lock:
            self._issued[token] = time.monotonic() + self.expires_in
            self.tokens_issued += 1
        return Reply.json(
            200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _authenticate(self, authorization: str, app_id: str) -> None:
        scheme, _, token = authorization.partition(" ")
        with self._script_lock:
            expiry = self._issued.get(token) if scheme == "Bearer" else None
        if expiry is None or app_id != self.app_id:
            raise self.error("80200001")  # not ours, or a token of another app's client
        if expiry <= time.monotonic():
            raise self.error("80200003")

    def _check(self, body: bytes) -> tuple[dict, list[str]]:
        try:
            request = json.loads(body)
        except ValueError:
            raise self.error("80100003", "not JSON") from None
        if not isinstance(request, dict):
            raise self.error("80100003", "not an object")
        message = self.unwrap(request)
        tokens = message.get("token")
        if not (
            isinstance(tokens, list)
            and 1 <= len(tokens) <= MAX_TOKENS
            and all(isinstance(t, str) and t for t in tokens)
        ):
            raise self.error("80300010")
        rest = {key: value for key, value in message.items() if key != "token"}
        size = len(json.dumps(rest, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_MESSAGE_BYTES:
            raise self.error("80300008", f"({size} bytes)")
        if not isinstance(rest.get("data", ""), str):
            raise self.error("80100003", "data must be a string")
        if "android" in rest:
            self.check_android(rest["android"])
        return rest, tokens


def _known(value: dict, keys: set[str], where: str, fake: FakeHuawei) -> None:
    for key in value:
        if key not in keys:
            raise fake.error("80100003", f"unknown field {where}.{key}")


async def drive(
    token_url: str,
    url: str,
    tokens: Iterable[str],
    *,
    app_id: str,
    client_id: str,
    client_secret: str,
    message: dict,
    ca_file: str | None = None,
    batch: int = MAX_TOKENS,
    concurrency: int = 16,
) -> int:
    """The floor pushconsole's Huawei channel is measured against: httpx alone (HTTP/1.1, the
    same TLS trust) fetching one OAuth access token, then posting ``{"validate_only": false,
    "message": {**message, "token": [batch tokens]}}`` to messages:send, ``concurrency``
    requests at once over a pool of as many connections (as pushconsole's client does), with
    nothing of pushconsole around it. Returns how many tokens Huawei accepted (80000000)."""
    import asyncio
    import ssl

    import httpx

    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    limits = httpx.Limits(max_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    send_url = f"{url}/v1/{app_id}/messages:send"
    queue = iter(tokens)
    chunks = []
    while chunk := list(itertools.islice(queue, batch)):
        chunks.append(chunk)
    async with httpx.AsyncClient(verify=context, limits=limits, timeout=30) as client:
        grant = await client.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        grant.raise_for_status()
        headers = {
            "authorization": f"Bearer {grant.json()['access_token']}",
            "content-type": "application/json; charset=UTF-8",
        }

        async def send(chunk: list[str]) -> int:
            body = json.dumps(
                {"validate_only": False, "message": {**message, "token": chunk}},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            async with gate:
                response = await client.post(send_url, content=body, headers=headers)
            taken = response.status_code == 200 and response.json().get("code") == "80000000"
            return len(chunk) if taken else 0

        return sum(await asyncio.gather(*(send(chunk) for chunk in chunks)))
