"""A fake OPPO PUSH server API for tests, on loopback HTTPS (``tests.fakes.vendor``):

    with FakeOppo() as oppo:
        settings.PUSH_OPPO_URL = oppo.url
        settings.PUSH_CHANNEL_CA_FILE = oppo.ca_file
        config = oppo.config()                 # app_id, app_key, master_secret (+ receipt_url)
        oppo.answer("regid-gone", 10000)       # that registration id: errorCode 10000
        oppo.fail_next(2, -2)                  # the next two sends: code -2 (flow control)
        oppo.fail_next(1, status=503)          # the next send: HTTP 503
        oppo.quota_spent = True                # every send: code 33 (daily limit)
        oppo.expire_tokens()                   # every auth token issued so far: code 11
        oppo.accepted                          # [(registration id, notification)] taken
        body, headers = oppo.receipt([("regid", "4711", "push_arrive")])

``POST /server/v1/auth`` checks the form (app_key, a 13-digit ms timestamp within 10 minutes,
sign = sha256_hex(app_key + timestamp + master_secret)) and answers ``{"code": 0, "data":
{"auth_token", "create_time"}}`` or OPPO's code (14 AppKey, 16 signature, 19 timestamp).
The sends take ``auth_token`` in the form body, like OPPO (11 unknown or expired, 29 missing),
``message`` (unicast) or ``messages`` (unicast_batch, 1–1000), each ``{target_type: 2,
target_value, notification}`` checked against OPPO's field limits (40/41); a malformed
registration id is 10000. Wire format: /work/shared/reference/channels.md section 5.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from typing import Any

from tests.fakes.vendor import Reply, Request, VendorFake

AUTH_PATH = "/server/v1/auth"
UNICAST_PATH = "/server/v1/message/notification/unicast"
BATCH_PATH = "/server/v1/message/notification/unicast_batch"
TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
MAX_BATCH = 1000
NOTIFICATION_KEYS = {
    "app_message_id",
    "style",
    "big_picture_id",
    "small_picture_id",
    "title",
    "sub_title",
    "content",
    "click_action_type",
    "click_action_activity",
    "click_action_url",
    "action_parameters",
    "show_time_type",
    "show_start_time",
    "show_end_time",
    "off_line",
    "off_line_ttl",
    "push_time_type",
    "push_start_time",
    "time_zone",
    "fix_speed",
    "fix_speed_rate",
    "network_type",
    "call_back_url",
    "call_back_parameter",
    "channel_id",
    "show_ttl",
    "notify_id",
    "category",
    "notify_level",
}
CATEGORIES = {"IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION"} | {
    "NEWS",
    "CONTENT",
    "MARKETING",
    "SOCIAL",
}
_REGID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


class Refusal(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class FakeOppo(VendorFake):
    def __init__(
        self,
        *,
        app_id: str = "30001234",
        app_key: str = "oppo-app-key-1",
        master_secret: str = "oppo-master-secret-1",
        record: bool = True,
    ):
        super().__init__(record=record)
        self.app_id, self.app_key, self.master_secret = app_id, app_key, master_secret
        self._state = threading.Lock()
        self.token_lifetime = 24 * 3600.0
        self.tokens: dict[str, float] = {}  # auth token → when it expires (time.time())
        self.auth_requests = 0
        self.tokens_issued = 0
        self.quota_spent = False
        self.delay = 0.0  # seconds before each send is answered (a slow OPPO)
        self.refuse_auth: int | None = None  # answer every auth with this code
        self._answers: dict[str, tuple[int, str]] = {}
        self._fail: list[tuple[int | None, int, dict[str, str]]] = []
        self.accepted: list[tuple[str, dict]] = []
        self.accepted_count = 0

    def config(self, **changes) -> dict:
        return {
            "app_id": self.app_id,
            "app_key": self.app_key,
            "master_secret": self.master_secret,
            "receipt_url": "",
        } | changes

    # -- scripting ------------------------------------------------------------------------

    def answer(self, token: str, code: int, message: str = "scripted") -> None:
        """That registration id's per-message result: ``code`` (10000 invalid registration)."""
        with self._state:
            self._answers[token] = (code, message)

    def fail_next(
        self, count: int, code: int | None = None, *, status: int = 200, retry_after=None
    ) -> None:
        """The next ``count`` sends: OPPO's ``code`` for the whole request, or HTTP ``status``."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        with self._state:
            self._fail.extend([(code, status, headers)] * count)

    def expire_tokens(self) -> None:
        with self._state:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def reset(self) -> None:
        super().reset()
        with self._state:
            self.tokens.clear()
            self._answers.clear()
            self._fail.clear()
            self.accepted.clear()
            self.accepted_count = self.auth_requests = self.tokens_issued = 0
            self.quota_spent, self.delay, self.refuse_auth = False, 0.0, None
            self.token_lifetime = 24 * 3600.0

    # -- receipts -------------------------------------------------------------------------

    def receipt(self, lines: list[tuple[str, str, str]]) -> tuple[bytes, dict[str, str]]:
        """OPPO's receipt POST for (registration id, call_back_parameter, eventType) lines:
        lines of one message and event share one element, their ids comma separated."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for token, param, event in lines:
            grouped.setdefault((param, event), []).append(token)
        now = str(int(time.time() * 1000))
        body = []
        for (param, event), tokens in grouped.items():
            message_id = f"{self.app_id}-1-1-{secrets.token_hex(12)}"
            body.append(
                {
                    "messageId": message_id,
                    "appId": self.app_id,
                    "taskId": message_id,
                    "registrationIds": ",".join(tokens),
                    "eventTime": now,
                    "param": param,
                    "eventType": event,
                }
            )
        return json.dumps(body).encode(), {"content-type": "application/json"}

    # -- the server -----------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return self._code(12, "Http Action Not Allowed")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._code(41, "the body must be a form")
        form = request.form()
        if request.path == AUTH_PATH:
            return self._auth(form)
        if request.path not in (UNICAST_PATH, BATCH_PATH):
            return Reply(404, b"not found")
        with self._state:
            scripted = self._fail.pop(0) if self._fail else None
        if scripted is not None:
            code, status, headers = scripted
            if code is None:
                return Reply(status, b"unavailable", headers)
            return self._code(code, "scripted", headers=headers)
        token = form.get("auth_token")
        if not token:
            return self._code(29, "Missing Auth Token")
        with self._state:
            due = self.tokens.get(token)
        if due is None or time.time() >= due:
            return self._code(11, "Invalid AuthToken")
        try:
            if request.path == UNICAST_PATH:
                reply = self._unicast(form)
            else:
                reply = self._batch(form)
        except Refusal as refusal:
            reply = self._code(refusal.code, refusal.message)
        reply.delay = self.delay
        return reply

    def _code(self, code: int, message: str, *, data: Any = None, headers=None) -> Reply:
        body = {"code": code, "message": message}
        if data is not None:
            body["data"] = data
        reply = Reply.json(200, body)
        reply.headers.update(headers or {})
        return reply

    def _auth(self, form: dict[str, str]) -> Reply:
        with self._state:
            self.auth_requests += 1
        if self.refuse_auth is not None:
            return self._code(self.refuse_auth, "scripted")
        if form.get("app_key") != self.app_key:
            return self._code(14, "Invalid App Key")
        timestamp = form.get("timestamp", "")
        if not timestamp:
            return self._code(18, "Missing Timestamp")
        if not (timestamp.isdigit() and len(timestamp) == 13):
            return self._code(19, "Invalid Timestamp")
        if abs(int(timestamp) - time.time() * 1000) > TIMESTAMP_WINDOW_MS:
            return self._code(19, "Invalid Timestamp")
        expected = hashlib.sha256(
            (self.app_key + timestamp + self.master_secret).encode()
        ).hexdigest()
        if not secrets.compare_digest(form.get("sign", ""), expected):
            return self._code(16, "Invalid Signature")
        token = secrets.token_hex(16)
        with self._state:
            self.tokens[token] = time.time() + self.token_lifetime
            self.tokens_issued += 1
        return self._code(
            0, "Success", data={"auth_token": token, "create_time": int(time.time() * 1000)}
        )

    def _unicast(self, form: dict[str, str]) -> Reply:
        message = _json(form.get("message"), "message")
        token, notification = self._check(message)
        if self.quota_spent:
            raise Refusal(33, "The number of messages exceeds the daily limit")
        if token in self._answers:
            code, text = self._answers[token]
            raise Refusal(code, text)
        return self._code(0, "Success", data={"messageId": self._take(token, notification)})

    def _batch(self, form: dict[str, str]) -> Reply:
        messages = _json(form.get("messages"), "messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_BATCH:
            raise Refusal(41, f"messages is a JSON array of 1 to {MAX_BATCH}")
        checked = [self._check(message, batch=True) for message in messages]
        if self.quota_spent:
            raise Refusal(33, "The number of messages exceeds the daily limit")
        data = []
        for token, notification in checked:
            if isinstance(notification, Refusal):
                code, text = notification.code, notification.message
            elif token in self._answers:
                code, text = self._answers[token]
            else:
                code, text = 0, ""
            if code:
                message_id = f"{self.app_id}-1-1-{secrets.token_hex(12)}"
                data.append(
                    {
                        "messageId": message_id,
                        "registrationId": token,
                        "errorCode": code,
                        "errorMessage": text,
                    }
                )
            else:
                data.append({"messageId": self._take(token, notification), "registrationId": token})
        return self._code(0, "", data=data)

    def _take(self, token: str, notification: dict) -> str:
        with self._state:
            self.accepted_count += 1
            if self.record:
                self.accepted.append((token, notification))
        return f"{self.app_id}-1-1-{secrets.token_hex(12)}"

    def _check(self, message: Any, *, batch: bool = False):
        """(registration id, notification), or for a malformed registration id in a batch
        (registration id, Refusal(10000)): OPPO answers that one per message."""
        if not isinstance(message, dict):
            raise Refusal(41, "a message is a JSON object")
        if message.get("target_type") != 2:
            raise Refusal(41, "target_type must be 2 (registration_id)")
        token = message.get("target_value")
        if not isinstance(token, str) or not token:
            raise Refusal(40, "target_value is required")
        notification = message.get("notification")
        if not isinstance(notification, dict):
            raise Refusal(40, "notification is required")
        _check_notification(notification)
        if not _REGID.match(token):
            refusal = Refusal(10000, "Invalid Registration_id")
            if batch:
                return token, refusal
            raise refusal
        return token, notification


def _json(text: str | None, name: str) -> Any:
    if not text:
        raise Refusal(40, f"{name} is required")
    try:
        return json.loads(text)
    except ValueError:
        raise Refusal(41, f"{name} is not JSON") from None


def _check_notification(n: dict) -> None:
    if unknown := set(n) - NOTIFICATION_KEYS:
        raise Refusal(41, f"unknown notification fields: {sorted(unknown)}")
    for key in ("title", "content"):
        if not isinstance(n.get(key), str) or not n[key]:
            raise Refusal(40, f"{key} is required")
    if len(n["title"]) > 50:
        raise Refusal(41, "title is at most 50 characters")
    if len(n["content"]) > 200:
        raise Refusal(41, "content is at most 200 characters")
    click = n.get("click_action_type", 0)
    if click not in (0, 1, 2, 4, 5):
        raise Refusal(41, "click_action_type is 0, 1, 2, 4 or 5")
    activity, url = n.get("click_action_activity") or "", n.get("click_action_url") or ""
    if click in (1, 4) and not (isinstance(activity, str) and activity):
        raise Refusal(40, "click_action_activity is required for click_action_type 1 and 4")
    if click in (2, 5) and not (isinstance(url, str) and url):
        raise Refusal(40, "click_action_url is required for click_action_type 2 and 5")
    if len(activity) > 500 or len(url) > 2000:
        raise Refusal(41, "click_action_activity ≤ 500, click_action_url ≤ 2000")
    if "action_parameters" in n:
        parameters = n["action_parameters"]
        if not isinstance(parameters, str) or len(parameters) > 4000:
            raise Refusal(41, "action_parameters is a JSON string of at most 4000 characters")
        try:
            if not isinstance(json.loads(parameters), dict):
                raise ValueError
        except ValueError:
            raise Refusal(41, "action_parameters is a JSON object") from None
    if "off_line" in n and not isinstance(n["off_line"], bool):
        raise Refusal(41, "off_line is a boolean")
    ttl = n.get("off_line_ttl")
    if ttl is not None and (not isinstance(ttl, int) or not 0 < ttl <= 864000):
        raise Refusal(41, "off_line_ttl is 1 to 864000 seconds")
    if len(n.get("call_back_url") or "") > 200 or len(n.get("call_back_parameter") or "") > 100:
        raise Refusal(41, "call_back_url ≤ 200, call_back_parameter ≤ 100")
    if "category" in n and n["category"] not in CATEGORIES:
        raise Refusal(67, "Category error")
    if "notify_level" in n and (n["notify_level"] not in (1, 2, 16) or "category" not in n):
        raise Refusal(67, "Private classify channel notify_level invalid")
    notify_id = n.get("notify_id")
    if notify_id is not None and (not isinstance(notify_id, int) or isinstance(notify_id, bool)):
        raise Refusal(41, "notify_id is an integer")
