"""A fake Xiaomi MiPush server API (v3 regid push) on loopback HTTPS, and the receipts Xiaomi
posts back.

    with FakeXiaomi(app_secret="...", package_name="com.example.demo") as xiaomi:
        settings.PUSH_XIAOMI_URL = xiaomi.url
        settings.PUSH_CHANNEL_CA_FILE = xiaomi.ca_file
        xiaomi.answer("regid-gone", "bad")         # that regid: listed in data.bad_regids
        xiaomi.fail_next(2, 10027)                 # the next two requests: QPS exceeded
        xiaomi.quota_spent = True                  # every request: 10034 (daily quota)
        xiaomi.accepted                            # [(message id, form fields, regids)]
        body, headers = xiaomi.receipt([("regid-1", "4711", 1)])
        xiaomi.post(receipt_url, body, headers)

``POST /v3/message/regid`` checks what Xiaomi checks, as far as pushconsole uses it: the header
``Authorization: key=<the AppSecret it was given>`` (21301 otherwise), a form body, the package
name (22022), at most 1000 regids (10017), a notification's non-blank title (< 50 characters)
and description (< 128), pass_through 0/1, numeric notify_type / notify_id / time_to_live /
callback type, a callback parameter of at most 64 bytes, the click's intent/web URI, and (with
``require_channel``, Xiaomi's "all messages in the new classification" switch) a channel ID.
Answers are Xiaomi's JSON: ``{"result":"ok","code":0,"data":{"id":...}}`` (with
``bad_regids`` when some regids are invalid), or ``{"result":"error","code":...,"reason":...}``.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from dataclasses import dataclass

from tests.fakes.vendor import Reply, Request, VendorFake

SEND_PATH = "/v3/message/regid"
MAX_REGIDS = 1000

# Xiaomi's codes (dev.mi.com pId 1560) the fake answers, with their description.
DESCRIPTIONS = {
    10017: "参数值非法",
    10016: "缺失必选参数",
    10027: "应用的API调用太频繁",
    10034: "应用当日发送消息数量过多",
    10002: "系统繁忙",
    20301: "发送消息失败",
    21301: "认证失败",
    22022: "应用程序package name不合法",
    27001: "channel相关信息不匹配",
    65036: "Callback参数太长",
}


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    fields: dict[str, str]
    regids: list[str]


class FakeXiaomi(VendorFake):
    def __init__(
        self,
        *,
        app_secret: str = "xm-secret-5Tn0Q==",
        package_name: str = "com.example.demo",
        record: bool = True,
    ):
        super().__init__(record=record)
        self.app_secret = app_secret
        self.package_name = package_name
        self.require_channel = False
        self.quota_spent = False
        self.delay = 0.0
        self.drop = False
        self._answers: dict[str, str] = {}
        self._failures: list[tuple[int, str, int]] = []
        self._accepted: list[Accepted] = []
        self._ids = itertools.count(1)
        self._guard = threading.Lock()
        self.accepted_count = 0

    # -- scripting ---------------------------------------------------------------------------

    def answer(self, regid: str, how: str = "bad") -> None:
        """``bad``: the regid is unknown to Xiaomi (bad_regids, or 20301 when all are)."""
        self._answers[regid] = how

    def fail_next(self, count: int, code: int, *, reason: str = "", status: int = 200) -> None:
        """The next ``count`` requests answer Xiaomi's error ``code``."""
        with self._guard:
            self._failures += [(code, reason, status)] * count

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
        self.require_channel = self.quota_spent = self.drop = False
        self.delay = 0.0

    # -- the server --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if self.drop:
            return Reply(drop=True)
        if request.method != "POST" or request.path != SEND_PATH:
            return Reply(404, b"not found")
        if request.headers.get("authorization") != f"key={self.app_secret}":
            return self._error(21301, "Authentication failed")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._error(10008, "form-encoded body expected")
        fields = request.form()
        self._check(fields)
        with self._guard:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            code, reason, status = failure
            return self._error(code, reason or DESCRIPTIONS.get(code, "error"), status=status)
        if self.quota_spent:
            return self._error(10034, "daily message quota exceeded")
        regids = fields["registration_id"].split(",")
        bad = [r for r in regids if self._answers.get(r) == "bad"]
        if len(bad) == len(regids):
            return self._error(20301, "No valid targets!")
        message_id = f"scm{next(self._ids):08d}xm"
        with self._guard:
            self.accepted_count += 1
            if self.record:
                self._accepted.append(Accepted(message_id, fields, regids))
        data = {"id": message_id}
        if bad:
            data["bad_regids"] = ",".join(bad)
        return Reply.json(
            200,
            {
                "result": "ok",
                "trace_id": f"Xcm{message_id}",
                "code": 0,
                "description": "成功",
                "info": f"Received push messages for {len(regids)} REGID",
                "data": data,
            },
            delay=self.delay,
        )

    def _error(self, code: int, reason: str, *, status: int = 200) -> Reply:
        return Reply.json(
            status,
            {
                "result": "error",
                "trace_id": "Xcm-error",
                "code": code,
                "description": DESCRIPTIONS.get(code, "错误"),
                "reason": reason,
            },
            delay=self.delay,
        )

    def _check(self, fields: dict[str, str]) -> None:
        """Xiaomi's field checks: a refusal raises its error Reply."""

        def refuse(code: int, reason: str):
            raise self._error(code, reason)

        regids = fields.get("registration_id", "")
        if not regids or any(not r for r in regids.split(",")):
            refuse(10016, "registration_id is required")
        if len(regids.split(",")) > MAX_REGIDS:
            refuse(10017, f"at most {MAX_REGIDS} regids per request")
        if fields.get("restricted_package_name") != self.package_name:
            refuse(22022, "restricted_package_name is not the app's")
        if fields.get("pass_through") not in ("0", "1"):
            refuse(10017, "pass_through must be 0 or 1")
        if "payload" not in fields:
            refuse(10016, "payload is required")
        if fields["pass_through"] == "0":
            title, description = fields.get("title", ""), fields.get("description", "")
            if not title.strip() or len(title) >= 50:
                refuse(10017, "title must be non-blank and shorter than 50 characters")
            if not description.strip() or len(description) >= 128:
                refuse(10017, "description must be non-blank and shorter than 128 characters")
        for name in ("notify_type", "notify_id", "time_to_live", "extra.callback.type"):
            if name in fields and not fields[name].lstrip("-").isdigit():
                refuse(10017, f"{name} must be a number")
        if "notify_type" in fields and int(fields["notify_type"]) not in range(-1, 8):
            refuse(10017, "notify_type must be -1 or an OR of 1, 2, 4")
        if len(fields.get("extra.callback.param", "").encode()) > 64:
            refuse(65036, "callback.param is longer than 64 bytes")
        if "extra.callback" in fields:
            parts = urllib.parse.urlsplit(fields["extra.callback"])
            if parts.scheme not in ("http", "https") or not parts.netloc:
                refuse(65038, "callback URL is illegal")
        effect = fields.get("extra.notify_effect", "1")
        if effect == "2" and not fields.get("extra.intent_uri"):
            refuse(10017, "notify_effect 2 needs extra.intent_uri")
        if effect == "3" and not fields.get("extra.web_uri", "").startswith(("http:", "https:")):
            refuse(10017, "notify_effect 3 needs an http(s) extra.web_uri")
        if self.require_channel and not fields.get("extra.channel_id"):
            refuse(27001, "extra.channel_id is required (new message classification)")

    # -- receipts ----------------------------------------------------------------------------

    def receipt(
        self, lines: list[tuple[str, str, int]], *, timestamp: int = 1796112000000
    ) -> tuple[bytes, dict[str, str]]:
        """The callback Xiaomi posts for (regid, push id, type) lines: one entry per message
        id (the one the fake gave the push, else a made-up one) and type, as form field
        ``data``."""
        by_push = {a.fields.get("extra.callback.param"): a.message_id for a in self.accepted}
        entries: dict[str, dict] = {}
        for regid, push_id, kind in lines:
            key = by_push.get(push_id) or f"scm-{push_id}"
            entry = entries.get(key)
            if entry is not None and entry["type"] != kind:
                raise ValueError("Xiaomi posts one entry per message id: split the receipt")
            if entry is None:
                entry = entries[key] = {
                    "param": push_id,
                    "type": kind,
                    "targets": [],
                    "jobkey": "",
                    "barStatus": "Enable",
                    "timestamp": timestamp,
                }
            entry["targets"].append(regid)
        for entry in entries.values():
            entry["targets"] = ",".join(entry["targets"])
        body = urllib.parse.urlencode({"data": json.dumps(entries)}).encode()
        return body, {"content-type": "application/x-www-form-urlencoded"}
