"""A fake vivo Push server API for tests, on loopback HTTPS (``tests.fakes.vendor``):

    with FakeVivo() as vivo:
        settings.PUSH_VIVO_URL = vivo.url
        settings.PUSH_CHANNEL_CA_FILE = vivo.ca_file
        config = vivo.config()              # app_id, app_key, app_secret, package_name
        vivo.answer("regid", 10302)         # that regId (single send): result 10302
        vivo.invalid("regid", 2)            # that regId: an invalidUser(s) entry, status 2
        vivo.fail_next(2, 10072)            # the next two calls: result 10072
        vivo.fail_next(1, status=503)       # the next call: HTTP 503
        vivo.quota_spent = True             # sends and list payloads: 10070
        vivo.expire_tokens()                # every authToken issued so far: 10000
        vivo.clock = lambda: datetime(...)  # "now" for the 07:00–23:00 window (Beijing)
        body, headers = vivo.receipt([("regid", "4711")])

``POST /message/auth`` checks the JSON (appId, appKey, a 13-digit ms timestamp within 10
minutes, sign = lowercase md5(appId + appKey + timestamp + appSecret)) and answers
``{"result": 0, "authToken"}``. The other calls take the ``authToken`` header (10000 unknown
or expired), their appId (10094 when it is not the token's), and are checked against vivo's
field limits (title ≤ 40, content ≤ 100, timeToLive 60 s–1 day, clientCustomMap ≤ 1024,
requestId ≤ 64, regIds 2–1000; 10xxx otherwise). An operational message (classification 0)
outside 07:00–23:00 Beijing time is refused with 10071 while ``window`` is on (vivo's own
code for it is not public: pushconsole holds such pushes back itself, ``vivo.hold_until``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from push.channels.vendor import BEIJING
from tests.fakes.vendor import Reply, Request, VendorFake

TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
SYSTEM = {"IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION"}
OPERATIONAL = {"NEWS", "CONTENT", "MARKETING", "SOCIAL"}
MESSAGE_KEYS = {
    "appId",
    "regId",
    "notifyType",
    "title",
    "content",
    "timeToLive",
    "skipType",
    "skipContent",
    "networkType",
    "classification",
    "category",
    "clientCustomMap",
    "extra",
    "requestId",
    "pushMode",
    "notifyId",
    "sendOnline",
    "foregroundShow",
}
_REGID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class Refusal(Exception):
    def __init__(self, code: int, desc: str):
        super().__init__(desc)
        self.code, self.desc = code, desc


class FakeVivo(VendorFake):
    def __init__(
        self,
        *,
        app_id: str = "10004",
        app_key: str = "vivo-app-key-1",
        app_secret: str = "vivo-app-secret-1",
        record: bool = True,
    ):
        super().__init__(record=record)
        self.app_id, self.app_key, self.app_secret = app_id, app_key, app_secret
        self._state = threading.Lock()
        self.reset()

    def config(self, **changes) -> dict:
        return {
            "app_id": self.app_id,
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "package_name": "com.example.demo",
            "receipt_url": "",
        } | changes

    def reset(self) -> None:
        super().reset()
        with self._state:
            self.tokens: dict[str, float] = {}
            self.token_lifetime = 24 * 3600.0
            self.auth_requests = self.tokens_issued = 0
            self.quota_spent = False
            self.window = True
            self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
            self.delay = 0.0
            self._answers: dict[str, int] = {}
            self._invalid: dict[str, int] = {}
            self._fail: list[tuple[int | None, int]] = []
            self.payloads: dict[str, dict] = {}  # taskId → saved list payload
            self.accepted: list[tuple[str, dict]] = []  # (regId, message)
            self.accepted_count = 0

    # -- scripting ------------------------------------------------------------------------

    def answer(self, token: str, code: int) -> None:
        with self._state:
            self._answers[token] = code

    def invalid(self, token: str, status: int) -> None:
        with self._state:
            self._invalid[token] = status

    def fail_next(self, count: int, code: int | None = None, *, status: int = 200) -> None:
        with self._state:
            self._fail.extend([(code, status)] * count)

    def expire_tokens(self) -> None:
        with self._state:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def receipt(self, lines: list[tuple[str, str]]) -> tuple[bytes, dict[str, str]]:
        """vivo's receipt for (regId, callback.param) lines, one task per param (the shape
        pushconsole assumes; see push.channels.vivo.parse_receipts)."""
        tasks: dict[str, dict] = {}
        by_param: dict[str, str] = {}
        for token, param in lines:
            task_id = by_param.setdefault(param, str(secrets.randbelow(10**18)))
            task = tasks.setdefault(task_id, {"param": param, "targets": ""})
            task["targets"] = ",".join(filter(None, [task["targets"], token]))
        return json.dumps(tasks).encode(), {"content-type": "application/json"}

    # -- the server -----------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return Reply.json(200, {"result": 10001, "desc": "POST application/json only"})
        try:
            body = request.json()
        except ValueError:
            return Reply.json(200, {"result": 10001, "desc": "not JSON"})
        if request.path == "/message/auth":
            return self._auth(body)
        with self._state:
            scripted = self._fail.pop(0) if self._fail else None
        if scripted is not None:
            code, status = scripted
            if code is None:
                return Reply(status, b"unavailable")
            return Reply.json(200, {"result": code, "desc": "scripted"})
        with self._state:
            due = self.tokens.get(request.headers.get("authtoken", ""))
        if due is None or time.time() >= due:
            return Reply.json(200, {"result": 10000, "desc": "权限认证失败"})
        try:
            if str(body.get("appId")) != self.app_id:
                raise Refusal(10094, "appId不一致")
            handler = {
                "/message/send": self._send,
                "/message/saveListPayload": self._save,
                "/message/pushToList": self._push_to_list,
            }.get(request.path)
            if handler is None:
                return Reply(404, b"not found")
            reply = Reply.json(200, {"result": 0, "desc": "请求成功", **handler(body)})
        except Refusal as refusal:
            reply = Reply.json(200, {"result": refusal.code, "desc": refusal.desc})
        reply.delay = self.delay
        return reply

    def _auth(self, body: dict) -> Reply:
        with self._state:
            self.auth_requests += 1
        timestamp = body.get("timestamp")
        if str(body.get("appId")) != self.app_id or body.get("appKey") != self.app_key:
            return Reply.json(200, {"result": 10200, "desc": "appId或appKey不合法"})
        if not isinstance(timestamp, int) or len(str(timestamp)) != 13:
            return Reply.json(200, {"result": 10201, "desc": "timestamp不合法"})
        if abs(timestamp - time.time() * 1000) > TIMESTAMP_WINDOW_MS:
            return Reply.json(200, {"result": 10201, "desc": "timestamp不合法"})
        expected = hashlib.md5(
            f"{body['appId']}{self.app_key}{timestamp}{self.app_secret}".encode()
        ).hexdigest()
        if not secrets.compare_digest(str(body.get("sign", "")), expected):
            return Reply.json(200, {"result": 10202, "desc": "sign不合法"})
        token = secrets.token_hex(16)
        with self._state:
            self.tokens[token] = time.time() + self.token_lifetime
            self.tokens_issued += 1
        return Reply.json(200, {"result": 0, "desc": "请求成功", "authToken": token})

    def _check(self, message: dict, *, single: bool) -> None:
        if unknown := set(message) - MESSAGE_KEYS:
            raise Refusal(10050, f"unknown fields {sorted(unknown)}")
        title, content = message.get("title"), message.get("content")
        if not isinstance(title, str) or not title or len(title) > 40:
            raise Refusal(10050, "title is 1 to 40 characters")
        if not isinstance(content, str) or not content or len(content) > 100:
            raise Refusal(10051, "content is 1 to 100 characters")
        if message.get("notifyType") not in (1, 2, 3, 4):
            raise Refusal(10052, "notifyType is 1 to 4")
        ttl = message.get("timeToLive")
        if ttl is not None and (not isinstance(ttl, int) or not 60 <= ttl <= 86400):
            raise Refusal(10053, "timeToLive is 60 to 86400 seconds")
        skip = message.get("skipType")
        if skip not in (1, 2, 4):
            raise Refusal(10056, "skipType is 1, 2 or 4")
        content_of_skip = message.get("skipContent")
        if skip in (2, 4) and not (isinstance(content_of_skip, str) and content_of_skip):
            raise Refusal(10057, "skipContent is required for skipType 2 and 4")
        if len(content_of_skip or "") > 2048:
            raise Refusal(10057, "skipContent is at most 2048 characters")
        classification = message.get("classification")
        if classification not in (0, 1):
            raise Refusal(10058, "classification is 0 or 1")
        category = message.get("category")
        if category is not None:
            expected = 1 if category in SYSTEM else 0 if category in OPERATIONAL else None
            if expected is None or expected != classification:
                raise Refusal(10059, "category does not match classification")
        custom = message.get("clientCustomMap") or {}
        if not isinstance(custom, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in custom.items()
        ):
            raise Refusal(10060, "clientCustomMap is string keys and values")
        if sum(len(k) + len(v) for k, v in custom.items()) > 1024:
            raise Refusal(10060, "clientCustomMap is at most 1024 characters")
        extra = message.get("extra") or {}
        if len(extra.get("callback") or "") > 128 or len(extra.get("callback.param") or "") > 64:
            raise Refusal(10061, "callback ≤ 128, callback.param ≤ 64")
        request_id = message.get("requestId")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
            raise Refusal(10062, "requestId is 1 to 64 characters")
        if message.get("pushMode") not in (0, 1, None):
            raise Refusal(10063, "pushMode is 0 or 1")
        if self.window and classification == 0:
            local = self.clock().astimezone(BEIJING)
            if not 7 <= local.hour < 23:
                raise Refusal(10071, "运营消息只能在7:00-23:00之间发送")

    def _send(self, message: dict) -> dict:
        self._check(message, single=True)
        token = message.get("regId")
        if not isinstance(token, str) or not _REGID.match(token):
            raise Refusal(10302, "regId 不合法")
        if self.quota_spent:
            raise Refusal(10070, "发送总量超出限制")
        if token in self._answers:
            raise Refusal(self._answers[token], "scripted")
        if token in self._invalid:
            return {"invalidUser": {"userid": token, "status": self._invalid[token]}}
        return {"taskId": self._take(token, message)}

    def _save(self, message: dict) -> dict:
        if "regId" in message:
            raise Refusal(10050, "a list payload has no regId")
        self._check(message, single=False)
        if self.quota_spent:
            raise Refusal(10070, "发送总量超出限制")
        task_id = str(secrets.randbelow(10**18))
        with self._state:
            self.payloads[task_id] = message
        return {"taskId": task_id}

    def _push_to_list(self, body: dict) -> dict:
        tokens = body.get("regIds")
        if not isinstance(tokens, list) or not 2 <= len(tokens) <= 1000:
            raise Refusal(10064, "regIds is 2 to 1000 regIds")
        request_id = body.get("requestId")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
            raise Refusal(10062, "requestId is 1 to 64 characters")
        message = self.payloads.get(body.get("taskId"))
        if message is None:
            raise Refusal(10065, "taskId 不存在")
        if self.quota_spent:
            raise Refusal(10070, "发送总量超出限制")
        invalid = []
        for token in tokens:
            if not isinstance(token, str) or not _REGID.match(token):
                invalid.append({"userid": token, "status": 1})
            elif token in self._invalid:
                invalid.append({"userid": token, "status": self._invalid[token]})
            else:
                self._take(token, message)
        return {"requestId": request_id, "invalidUsers": invalid}

    def _take(self, token: str, message: dict) -> str:
        with self._state:
            self.accepted_count += 1
            if self.record:
                self.accepted.append((token, message))
        return str(secrets.randbelow(10**18))
