"""A fake Honor Push server API on loopback HTTPS: Huawei's fake (``tests.fakes.huawei``) with
Honor's paths, request and answers, as far as they are known (push/channels/honor.py says
which facts are Honor's own and which third-party):

    with FakeHonor(app_id="104400000", client_id="hn-client", client_secret="s3cret") as hn:
        settings.PUSH_HONOR_TOKEN_URL = hn.token_url   # …/auth/token
        settings.PUSH_HONOR_URL = hn.url               # …/api/v1/{app_id}/sendMessage
        hn.answer("tok-old", "expire")                 # listed in data.expireTokens
        hn.answer("tok-bad", "fail")                   # listed in data.failTokens

It verifies the token request and bearer tokens as Huawei's fake does, the ``timestamp``
header (milliseconds), and the unwrapped camelCase body (``data``, ``android {ttl, biTag,
notification {title, body, clickAction, importance…}}``, ``token``: 1–1000, 4096 bytes without
them), and answers ``{"code": 200, "message": "success", "data": {"sendResult", "requestId",
"failTokens", "expireTokens"}}``, or ``{"code": <80xxxxxx>, "message"}`` (HTTP 400/401).
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes.huawei import ERRORS, FakeHuawei, _known
from tests.fakes.vendor import Reply, Request

_ANDROID_KEYS = {"ttl", "biTag", "data", "notification", "targetUserType"}
_NOTIFICATION_KEYS = {
    "title",
    "body",
    "clickAction",
    "image",
    "style",
    "bigTitle",
    "bigBody",
    "importance",
    "when",
    "buttons",
    "badge",
    "notifyId",
    "tag",
    "group",
}
TIMESTAMP_WINDOW = 600  # seconds the timestamp header may be off (an assumption of the fake)


class FakeHonor(FakeHuawei):
    TOKEN_PATH = "/auth/token"
    SEND_PATH = re.compile(r"^/api/v1/([^/]+)/sendMessage$")
    VENDOR = "honor"

    def __init__(
        self,
        *,
        app_id: str = "104400000",
        client_id: str = "hn-client-id",
        client_secret: str = "hn-client-secret",
        **kwargs,
    ):
        super().__init__(app_id=app_id, client_id=client_id, client_secret=client_secret, **kwargs)

    def answer(self, token: str, reason: str = "expire") -> None:
        """``token`` fails in every request: ``expire`` (data.expireTokens) or ``fail``."""
        super().answer(token, reason)

    def error(self, code: str, detail: str = "") -> Reply:
        status, text = ERRORS[code]
        return Reply.json(status, {"code": int(code), "message": f"{text} {detail}".strip()})

    def check_headers(self, request: Request) -> None:
        stamp = request.headers.get("timestamp", "")
        if not (stamp.isdigit() and len(stamp) == 13):
            raise self.error("80100001", "the timestamp header must be milliseconds")
        if abs(int(stamp) / 1000 - time.time()) > TIMESTAMP_WINDOW:
            raise self.error("80100001", "the timestamp header is off")

    def unwrap(self, request: dict) -> dict:
        _known(request, {"data", "notification", "android", "token"}, "request", self)
        return request

    def check_android(self, android: Any) -> None:
        if not isinstance(android, dict):
            raise self.error("80100003", "android must be an object")
        _known(android, _ANDROID_KEYS, "android", self)
        self.check_ttl(android.get("ttl"))
        if not isinstance(android.get("biTag", ""), str):
            raise self.error("80100003", "biTag must be a string")
        if (notification := android.get("notification")) is not None:
            self.check_notification(notification, _NOTIFICATION_KEYS, "clickAction")

    def bi_tag(self, message: dict) -> str:
        return self.android_of(message).get("biTag", "")

    def marketing(self, message: dict) -> bool:
        notification = self.android_of(message).get("notification") or {}
        return notification.get("importance", "LOW") == "LOW"

    def success(self, request_id: str, tokens: list[str], failed: dict[str, str]) -> Reply:
        data = {
            "sendResult": len(failed) < len(tokens),
            "requestId": request_id,
            "failTokens": [t for t, reason in failed.items() if reason != "expire"],
            "expireTokens": [t for t, reason in failed.items() if reason == "expire"],
        }
        return Reply.json(200, {"code": 200, "message": "success", "data": data})
