"""A fake Meizu Flyme Push server API (notification push by pushId) on loopback HTTPS, and the
receipts Meizu posts back.

    with FakeMeizu(app_id="100123", app_secret="...") as meizu:
        settings.PUSH_MEIZU_URL = meizu.url
        settings.PUSH_CHANNEL_CA_FILE = meizu.ca_file
        meizu.answer("pushid-gone", 110002)       # that pushId: in the value map under 110002
        meizu.fail_next(2, 110010)               # the next two requests: sending too fast
        meizu.quota_spent = True                 # every request: 110019 (daily limit)
        meizu.accepted                           # [(msgId, messageJson, pushIds)]
        body, headers = meizu.receipt([("pushid-1", "4711", 1)], access_token="...")

``POST /garcia/api/server/push/varnished/pushByPushId`` checks what Meizu checks, as far as
pushconsole uses it: a form body with ``appId`` (110000 for another app), ``pushIds`` (1 to
100: 1005), ``messageJson`` (JSON: 1005), ``sign`` recomputed from the other parameters and the
appSecret it was given (1006), the title (1–32) and content (1–100), clickType 0–2 with its
activity or url, validTime 1–72 when offLine is 1, a notifyKey of ≤ 8 [0-9a-zA-Z_-], a
callback of ≤ 128 bytes and a callback.param of ≤ 64. Answers are Meizu's JSON
``{"code": "200", "message": "", "value": {code: [pushIds]}, "msgId": ...}`` or
``{"code": "<error>", "message": ..., "value": "", "redirect": ""}``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass

from tests.fakes.vendor import Reply, Request, VendorFake

SEND_PATH = "/garcia/api/server/push/varnished/pushByPushId"
MAX_PUSH_IDS = 100
MESSAGES = {
    "1005": "参数错误,请参考API文档",
    "1006": "签名认证失败",
    "110000": "appId不合法",
    "110010": "应用请求频率超过限制",
    "110019": "超过该应用每天推送次数限制",
    "1003": "服务器忙",
}
_NOTIFY_KEY = re.compile(r"^[0-9A-Za-z_-]{1,8}$")


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    message: dict
    push_ids: list[str]


def meizu_sign(params: dict[str, str], app_secret: str) -> str:
    """Meizu's recipe, written again here so that the fake checks the client independently."""
    base = "".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign") + app_secret
    return hashlib.md5(base.encode("utf-8"), usedforsecurity=False).hexdigest()


class FakeMeizu(VendorFake):
    def __init__(
        self, *, app_id: str = "100123", app_secret: str = "mz-secret-7c1f9e", record: bool = True
    ):
        super().__init__(record=record)
        self.app_id = app_id
        self.app_secret = app_secret
        self.quota_spent = False
        self.delay = 0.0
        self._answers: dict[str, int] = {}
        self._failures: list[tuple[str, int]] = []
        self._accepted: list[Accepted] = []
        self._ids = itertools.count(1)
        self._guard = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------

    def answer(self, push_id: str, code: int) -> None:
        """That pushId is listed under ``code`` in the answer's value map."""
        self._answers[push_id] = code

    def fail_next(self, count: int, code: int | str, *, status: int = 200) -> None:
        with self._guard:
            self._failures += [(str(code), status)] * count

    @property
    def accepted(self) -> list[Accepted]:
        with self._guard:
            return list(self._accepted)

    def reset(self) -> None:
        super().reset()
        with self._guard:
            self._answers.clear()
            self._failures.clear()
            self._accepted.clear()
        self.quota_spent = False
        self.delay = 0.0

    # -- the server --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != SEND_PATH:
            return Reply(404, b"not found")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._error("1005", "form-encoded body expected")
        params = request.form()
        if params.get("appId") != self.app_id:
            return self._error("110000")
        if params.get("sign") != meizu_sign(params, self.app_secret):
            return self._error("1006")
        message = self._check(params)
        with self._guard:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            code, status = failure
            return self._error(code, status=status)
        if self.quota_spent:
            return self._error("110019")
        push_ids = params["pushIds"].split(",")
        value: dict[str, list[str]] = {}
        for push_id in push_ids:
            if push_id in self._answers:
                value.setdefault(str(self._answers[push_id]), []).append(push_id)
        message_id = f"{next(self._ids):032x}"
        with self._guard:
            if self.record:
                self._accepted.append(Accepted(message_id, message, push_ids))
        return Reply.json(
            200,
            {"code": "200", "message": "", "value": value, "redirect": "", "msgId": message_id},
            delay=self.delay,
        )

    def _error(self, code: str, message: str = "", *, status: int = 200) -> Reply:
        return Reply.json(
            status,
            {
                "code": code,
                "message": message or MESSAGES.get(code, ""),
                "value": "",
                "redirect": "",
            },
            delay=self.delay,
        )

    def _check(self, params: dict[str, str]) -> dict:
        def refuse(why: str):
            raise self._error("1005", why)

        push_ids = params.get("pushIds", "")
        if not push_ids or any(not p for p in push_ids.split(",")):
            refuse("pushIds is required")
        if len(push_ids.split(",")) > MAX_PUSH_IDS:
            refuse(f"at most {MAX_PUSH_IDS} pushIds per request")
        try:
            message = json.loads(params.get("messageJson", ""))
        except ValueError:
            refuse("messageJson is not JSON")
        if not isinstance(message, dict):
            refuse("messageJson must be an object")
        bar = message.get("noticeBarInfo") or {}
        if not 1 <= len(bar.get("title") or "") <= 32:
            refuse("title must be 1 to 32 characters")
        if not 1 <= len(bar.get("content") or "") <= 100:
            refuse("content must be 1 to 100 characters")
        if bar.get("noticeMsgType", 0) not in (0, 1):
            refuse("noticeMsgType must be 0 or 1")
        click = message.get("clickTypeInfo") or {}
        click_type = click.get("clickType", 0)
        if click_type not in (0, 1, 2):
            refuse("clickType must be 0, 1 or 2")
        if click_type == 1 and not click.get("activity"):
            refuse("clickType 1 needs an activity")
        if click_type == 2 and not click.get("url"):
            refuse("clickType 2 needs a url")
        if "parameters" in click and not isinstance(click["parameters"], dict):
            refuse("parameters must be a JSON object")
        timing = message.get("pushTimeInfo") or {}
        if timing.get("offLine", 1) == 1 and not 1 <= timing.get("validTime", 24) <= 72:
            refuse("validTime must be 1 to 72 hours")
        key = (message.get("advanceInfo") or {}).get("notifyKey")
        if key is not None and not _NOTIFY_KEY.match(str(key)):
            refuse("notifyKey must be at most 8 of [0-9a-zA-Z_-]")
        extra = message.get("extra")
        if extra is not None:
            if not extra.get("callback") or len(extra["callback"].encode()) > 128:
                refuse("extra.callback is required, at most 128 bytes")
            if len(str(extra.get("callback.param", "")).encode()) > 64:
                refuse("callback.param is at most 64 bytes")
            if extra.get("callback.type", 3) not in (1, 2, 3, "1", "2", "3"):
                refuse("callback.type must be 1, 2 or 3")
        return message

    # -- receipts ----------------------------------------------------------------------------

    def receipt(
        self, lines: list[tuple[str, str, int]], *, access_token: str = ""
    ) -> tuple[bytes, dict[str, str]]:
        """The callback Meizu posts for (pushId, push id, type) lines: ``cb`` keyed
        ``<msgId>-<type>`` (the msgId the fake gave the push, else a made-up one) and
        ``access_token``."""
        by_push = {
            a.message.get("extra", {}).get("callback.param"): a.message_id for a in self.accepted
        }
        entries: dict[str, dict] = {}
        for push_id_of_device, push_id, kind in lines:
            message_id = by_push.get(push_id) or f"mz{push_id}"
            entry = entries.setdefault(
                f"{message_id}-{kind}", {"param": push_id, "type": kind, "targets": []}
            )
            entry["targets"].append(push_id_of_device)
        body = urllib.parse.urlencode({"cb": json.dumps(entries), "access_token": access_token})
        return body.encode(), {"content-type": "application/x-www-form-urlencoded"}
