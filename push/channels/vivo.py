"""vivo Push: the push's message, the credentials an owner uploads (AppId, AppKey, AppSecret,
and the package name for opening an activity), an httpx client (a 24 h authToken from
``/message/auth``; ``/message/send`` for one regId, ``saveListPayload`` + ``pushToList`` for
2–1000), vivo's 07:00–23:00 window for operational messages, and its receipts. Wire format:
/work/shared/reference/channels.md section 6 (vivo server API 2.9.x).

What a TPNS message becomes (``prepare``):

- ``title`` (≤ 40 characters), ``content`` (≤ 100); vivo carries notifications only, so a
  pass-through message is a ``problem``. ``notifyType`` from ring/vibrate (1 none, 2 ring,
  3 vibrate, 4 both).
- ``classification``: vivo_ch_id "1" system, "0" operational; without it, the category's
  (``message.android.vivo_category``, pushconsole's own key), else operational — the one
  that is capped and held to 07:00–23:00, never claimed for a push that did not ask.
- the click: an activity (action_type 1) → ``skipType`` 4 with an intent URI naming the
  credentials' package (the client builds it; without a package name, 1: open the app); a
  browser URL (2) → 2; an intent (3) → 4 (a plain action name becomes an intent URI);
  otherwise 1.
- ``timeToLive``: the seconds left (60 s to 1 day); expire_time 0 (real time only) →
  ``sendOnline``. ``notifyId``: options.collapse_id.
- ``clientCustomMap``: custom_content's keys (values as strings) and ``xg_msgid``;
  ``extra``: ``callback.param`` = the push id, ``callback`` = the receipt URL (the client).
- ``requestId`` (vivo's idempotency key, ≤ 64): the push id and a hash of the token(s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings

from push.models import ChannelKind, Push

from . import vendor
from .base import (
    Answer,
    Category,
    CredentialField,
    Prepared,
    Receipt,
    ReceiptError,
    ReceiptKind,
    Result,
    receipt_json,
)
from .vendor import BEIJING, AuthTrouble, TokenCache, VendorClient

KIND = ChannelKind.VIVO
TPNS_NAME = "vivo"
RECEIPTS = "per_message"
MAX_TOKENS = 1000  # pushToList: "个数大于等于2，小于等于1000"

FIELDS: tuple[CredentialField, ...] = (
    CredentialField(
        "app_id", "AppId", help="vivo developer platform → 推送 → 应用信息", max_length=32
    ),
    CredentialField("app_key", "AppKey", help="the same page's AppKey", max_length=128),
    CredentialField(
        "app_secret", "AppSecret", help="the same page's AppSecret", secret=True, max_length=128
    ),
    CredentialField(
        "package_name",
        "Package name",
        help="the app's package (com.example.app): needed to open an activity from a push",
        required=False,
    ),
)

AUTH_PATH = "/message/auth"
SEND_PATH = "/message/send"
SAVE_PATH = "/message/saveListPayload"
LIST_PATH = "/message/pushToList"
TOKEN_LIFETIME = 24 * 3600.0
MAX_TITLE = 40
MAX_CONTENT = 100
MIN_TTL, MAX_TTL = 60, 24 * 3600
MAX_SKIP_CONTENT = 2048
MAX_CUSTOM = 1024  # clientCustomMap: keys and values together
MAX_CALLBACK_URL = 128
WINDOW = (7, 23)  # operational messages only from 07:00 to 23:00, Beijing time
SYSTEM_CATEGORIES = ("IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION")
OPERATIONAL_CATEGORIES = ("NEWS", "CONTENT", "MARKETING", "SOCIAL")
PUSH_ID_KEY = "xg_msgid"
LONGEST_PUSH_ID = str(2**63 - 1)

# vivo's result codes, as the answer they make.
TOKEN_REFUSED = 10000  # the authToken is unknown or expired: a new one, once
INVALID_REGID = 10302  # "regId 不合法"
QUOTA_CODES = frozenset({10070, 10252})  # daily total; daily list payloads
RETRY_CODES = frozenset({10054, 10055, 10072, 10071})  # rate limits; outside the window
# invalidUsers' status: 1 unknown regId, 2 uninstalled or unsubscribed, 3 offline 90 days
# (the token is dead); 4 not a test device (ours to fix, the token is fine).
DEAD_STATUSES = frozenset({1, 2, 3})


# -- the message ----------------------------------------------------------------------------


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as vivo's message body without ``appId``, ``regId``/``regIds``, ``requestId``
    and ``pushMode`` (the client's). ValueError for what vivo cannot carry."""
    if (found := problem(push)) is not None:
        raise ValueError(f"{found[0]}: {found[1]}")
    body, activity = _body(push, now=now, push_id=push.push_id)
    options = {"push_id": push.push_id, "activity": activity}
    return Prepared(body=body, options=options, size=len(_compact(body)))


def problem(push: Push) -> tuple[str, str] | None:
    """What vivo cannot carry: a pass-through message, an over-long title, content, click
    target or custom content, a category vivo does not know or that contradicts vivo_ch_id."""
    if push.message_type != Push.MessageType.NOTIFY:
        return ("message_type", "vivo carries notifications only, not pass-through messages")
    if len(push.title) > MAX_TITLE:
        return ("message.title", f"vivo shows at most {MAX_TITLE} characters of a title")
    if len(push.content) > MAX_CONTENT:
        return ("message.content", f"vivo shows at most {MAX_CONTENT} characters of content")
    android = _android(push)
    action = android.get("action") if isinstance(android.get("action"), dict) else {}
    target = (action.get("browser") or {}).get("url") or action.get("intent") or ""
    if len(target) > MAX_SKIP_CONTENT:
        return ("message.android.action", f"vivo takes a click target of ≤ {MAX_SKIP_CONTENT}")
    push_id = push.push_id if push.pk is not None else LONGEST_PUSH_ID
    custom = _custom_map(android, push_id)
    if sum(len(k) + len(v) for k, v in custom.items()) > MAX_CUSTOM:
        return (
            "message.android.custom_content",
            f"vivo carries at most {MAX_CUSTOM} characters of custom keys and values "
            "(with the push id)",
        )
    name = android.get("vivo_category")
    if name is not None:
        if name not in SYSTEM_CATEGORIES + OPERATIONAL_CATEGORIES:
            known = ", ".join(SYSTEM_CATEGORIES + OPERATIONAL_CATEGORIES)
            return ("message.android.vivo_category", f"vivo's categories are {known}")
        channel = android.get("vivo_ch_id")
        if channel is not None and channel != ("1" if name in SYSTEM_CATEGORIES else "0"):
            return (
                "message.android.vivo_category",
                f"{name} is a vivo {'system' if channel == '0' else 'operational'} category; "
                f"vivo_ch_id {channel} says otherwise",
            )
    return None


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _android(push: Push) -> dict:
    android = (push.message or {}).get("android")
    return android if isinstance(android, dict) else {}


def _custom_map(android: dict, push_id: str) -> dict[str, str]:
    try:
        custom = json.loads(android.get("custom_content") or "{}")
    except ValueError:
        custom = {}
    custom = custom if isinstance(custom, dict) else {}
    values = {str(k): v if isinstance(v, str) else _compact(v).decode() for k, v in custom.items()}
    values[PUSH_ID_KEY] = push_id  # last: a customer's key of that name never replaces ours
    return values


def classification(push: Push) -> int:
    """1 system, 0 operational (see the module's docstring)."""
    android = _android(push)
    channel = android.get("vivo_ch_id")
    if channel in ("0", "1"):
        return int(channel)
    return 1 if android.get("vivo_category") in SYSTEM_CATEGORIES else 0


def _body(push: Push, *, now: datetime, push_id: str) -> tuple[dict, str]:
    android = _android(push)
    ring, vibrate = android.get("ring", 1) != 0, android.get("vibrate", 1) != 0
    body: dict[str, Any] = {
        "notifyType": {(False, False): 1, (True, False): 2, (False, True): 3}.get(
            (ring, vibrate), 4
        ),
        "title": push.title,
        "content": push.content,
    }
    if push.expire_time == 0:
        body["sendOnline"] = True  # real time only: dropped if the device is offline
    else:
        body["timeToLive"] = _seconds_left(push, now)
    skip_type, skip_content, activity = _click(android)
    body["skipType"] = skip_type
    if skip_content:
        body["skipContent"] = skip_content
    body["classification"] = classification(push)
    if (name := android.get("vivo_category")) is not None:
        body["category"] = name
    collapse_id = (push.options or {}).get("collapse_id")
    if isinstance(collapse_id, int) and 0 < collapse_id < 2**31:
        body["notifyId"] = collapse_id
    body["clientCustomMap"] = _custom_map(android, push_id)
    body["extra"] = {"callback.param": push_id}
    return body, activity


def _seconds_left(push: Push, now: datetime) -> int:
    if push.expires_at is None:
        seconds = push.expire_time
    else:
        seconds = math.ceil((push.expires_at - now).total_seconds())
    return min(max(MIN_TTL, seconds), MAX_TTL)


def _click(android: dict) -> tuple[int, str, str]:
    """(skipType, skipContent, an activity whose intent URI the client builds)."""
    action = android.get("action")
    if not isinstance(action, dict):
        return 1, "", ""
    action_type = action.get("action_type")
    if action_type == 1 and action.get("activity"):
        return 1, "", action["activity"]
    if action_type == 2 and (url := (action.get("browser") or {}).get("url")):
        return 2, url, ""
    if action_type == 3 and (intent := action.get("intent")):
        if ":" not in intent:  # a plain action name
            intent = f"intent:#Intent;action={intent};end"
        return 4, intent, ""
    return 1, "", ""


def category(push: Push) -> Category:
    """System messages (classification 1) are not capped; operational ones (0) are capped at
    5 per user and day and held to 07:00–23:00 Beijing time."""
    android = _android(push)
    name = android.get("vivo_category")
    how = "vivo_ch_id" if android.get("vivo_ch_id") in ("0", "1") else "vivo_category"
    if classification(push) == 1:
        return Category(name or "系统消息", False, f"system message ({how}): not capped")
    if how == "vivo_category" and name is None:
        how = "no vivo_ch_id"
    return Category(
        name or "运营消息", True, f"operational message ({how}): 5 per user a day, 07:00–23:00"
    )


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    """The next 07:00 Beijing time when ``now`` is outside 07:00–23:00 there and the push is
    operational (vivo does not deliver those at night); None otherwise."""
    if classification(push) == 1:
        return None
    local = now.astimezone(BEIJING)
    start, end = WINDOW
    if start <= local.hour < end:
        return None
    day = local.date() if local.hour < start else local.date() + timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), BEIJING).replace(hour=start)


# -- credentials ----------------------------------------------------------------------------


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """vivo's AppId (digits), AppKey and AppSecret, and an optional package name."""
    config = {field.name: str(form.get(field.name) or "").strip() for field in FIELDS}
    errors = {}
    for field in FIELDS:
        value = config[field.name]
        if not value:
            if field.required:
                errors[field.name] = f"required: the {field.label} of vivo's 应用信息 page"
        elif len(value) > field.max_length or not value.isascii() or not value.isprintable():
            errors[field.name] = f"is not a vivo {field.label}"
        elif " " in value:
            errors[field.name] = f"a vivo {field.label} has no spaces"
    if "app_id" not in errors and not config["app_id"].isdigit():
        errors["app_id"] = "a vivo AppId is digits"
    package = config["package_name"]
    if package and "package_name" not in errors:
        parts = package.split(".")
        if len(parts) < 2 or not all(
            p and p[0].isalpha() and p.replace("_", "").isalnum() for p in parts
        ):
            errors["package_name"] = "a package name is like com.example.app"
    return ({}, errors) if errors else (config, {})


# -- answers --------------------------------------------------------------------------------

REASONS = {
    "10000": "vivo refused the authToken (expired or unknown)",
    "10054": "the app called vivo too fast",
    "10055": "the app called vivo too fast",
    "10070": "the app's daily vivo quota is spent (发送总量超出限制)",
    "10071": "vivo does not send operational messages at this hour (07:00–23:00 only)",
    "10072": "the app sends to vivo too fast (发送速度过快)",
    "10094": "the appId does not match the auth token's: check the credentials",
    "10252": "the app's daily vivo list payloads are spent",
    "10302": "not a valid vivo regId (regId 不合法)",
    "invalid_user_1": "vivo does not know this regId",
    "invalid_user_2": "the app is uninstalled or its vivo push is off on the device",
    "invalid_user_3": "the device has not been online for 90 days",
    "invalid_user_4": "not one of the app's test devices (test push)",
}


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    return vendor.describe(answer, vendor="vivo", reasons=REASONS)


def result_answer(code: int, *, task_id: str = "", single: bool = True) -> Answer:
    """One of vivo's result codes as an answer (``single``: about the request's one regId)."""
    reason = str(code)
    if code == 0:
        return Answer(Result.ACCEPTED, message_id=task_id, status=200)
    if code in RETRY_CODES:
        return Answer(Result.RETRY, reason=reason, status=200)
    if code in QUOTA_CODES:
        # Until the vendor's midnight after the batch (the sender's ``now``).
        return Answer(Result.OVER_QUOTA, reason=reason, status=200)
    return Answer(Result.REFUSED, reason=reason, status=200, prune=code == INVALID_REGID and single)


def _invalid(status: Any) -> Answer:
    return Answer(
        Result.REFUSED, reason=f"invalid_user_{status}", status=200, prune=status in DEAD_STATUSES
    )


def _payload(response: httpx.Response) -> dict | None:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _result(payload: dict | None) -> int | None:
    code = payload.get("result") if payload else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _request_id(push_id: str, kind: str, tokens: list[str]) -> str:
    digest = hashlib.sha256("\n".join(tokens).encode()).hexdigest()[:24]
    return f"{push_id}-{kind}{digest}"  # ≤ 19 + 1 + 1 + 24 characters


# -- the client -----------------------------------------------------------------------------


def client(config: dict, *, environment: str, clock=None) -> VivoClient:
    """A client on ``ChannelCredentials.config()``; ``environment`` "sandbox" sends vivo test
    pushes (pushMode 1: only the test devices entered in vivo's console get them)."""
    return VivoClient(
        config,
        push_mode=0 if environment == "production" else 1,
        base_url=settings.PUSH_VIVO_URL,
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
        clock=clock,
    )


class _Refused(Exception):
    def __init__(self, answer: Answer):
        self.answer = answer


class VivoClient(VendorClient):
    """One regId by ``/message/send``; 2–1000 by ``pushToList`` on a list payload saved once
    per push (its taskId is kept for the push's other batches)."""

    MAX_TOKENS = MAX_TOKENS

    def __init__(
        self,
        config: dict,
        *,
        push_mode: int,
        base_url: str,
        ca_file: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(ca_file=ca_file, timeout=timeout)
        self._base = base_url.rstrip("/")
        self._app_id = int(config["app_id"])
        self._app_key = config["app_key"]
        self._app_secret = config["app_secret"]
        self._package = config.get("package_name") or ""
        self._push_mode = push_mode
        receipt_url = config.get("receipt_url") or ""
        # vivo takes a callback of ≤ 128 characters: longer, the messages go without receipts.
        self._receipt_url = receipt_url if len(receipt_url) <= MAX_CALLBACK_URL else ""
        self.tokens = TokenCache(self._fetch_token, clock)
        self._payloads: dict[str, str] = {}  # push id → saved list payload's taskId
        self._payload_locks: dict[str, asyncio.Lock] = {}

    async def _fetch_token(self) -> tuple[str, float]:
        timestamp = int(time.time() * 1000)
        sign = hashlib.md5(
            f"{self._app_id}{self._app_key}{timestamp}{self._app_secret}".encode()
        ).hexdigest()
        response = await self.http.post(
            self._base + AUTH_PATH,
            json={
                "appId": self._app_id,
                "appKey": self._app_key,
                "timestamp": timestamp,
                "sign": sign,
            },
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise AuthTrouble(Answer(Result.RETRY, reason="auth_unavailable"))
        payload = _payload(response)
        code = _result(payload)
        token = payload.get("authToken") if payload else None
        if code == 0 and isinstance(token, str) and token:
            return token, TOKEN_LIFETIME
        if code is None or code in RETRY_CODES:
            raise AuthTrouble(Answer(Result.RETRY, reason=str(code or "auth_unavailable")))
        raise AuthTrouble(Answer(Result.REFUSED, reason=str(code)))

    def _message(self, prepared: Prepared) -> dict:
        body = {"appId": self._app_id, **prepared.body, "pushMode": self._push_mode}
        if activity := prepared.options.get("activity"):
            if self._package:
                body["skipType"] = 4
                body["skipContent"] = (
                    f"intent:#Intent;launchFlags=0x4000000;component={self._package}/{activity};end"
                )
        if self._receipt_url:
            body["extra"] = {"callback": self._receipt_url, **body["extra"]}
        return body

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        push_id = prepared.options.get("push_id") or ""
        body = self._message(prepared)
        try:
            if len(tokens) == 1:
                message = {
                    **body,
                    "regId": tokens[0],
                    "requestId": _request_id(push_id, "s", tokens),
                }
                payload = await self._call(SEND_PATH, message)
                return [self._single(payload, tokens[0])]
            task_id = await self._list_payload(push_id, body)
            request = {
                "appId": self._app_id,
                "regIds": tokens,
                "taskId": task_id,
                "requestId": _request_id(push_id, "l", tokens),
            }
            payload = await self._call(LIST_PATH, request)
        except _Refused as refused:
            return [refused.answer] * len(tokens)
        return self._list(payload, tokens, task_id)

    async def _call(self, path: str, body: dict) -> dict:
        """vivo's answer (result 0 or an error about the message or its targets); _Refused
        for an answer that is the same for every token (HTTP trouble, an unreadable body)."""
        auth_token = await self.tokens.get()
        response = await self._post(path, body, auth_token)
        if _result(_payload(response)) == TOKEN_REFUSED:
            auth_token = await self.tokens.get(refused=auth_token)
            response = await self._post(path, body, auth_token)
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Refused(Answer(Result.RETRY, reason=f"HTTP {status}", status=status))
        if status != 200:
            raise _Refused(Answer(Result.REFUSED, reason=f"HTTP {status}", status=status))
        payload = _payload(response)
        if _result(payload) is None:
            raise _Refused(Answer(Result.LOST, reason="bad_answer", status=status))
        return payload

    async def _post(self, path: str, body: dict, auth_token: str) -> httpx.Response:
        return await self.http.post(self._base + path, json=body, headers={"authToken": auth_token})

    async def _list_payload(self, push_id: str, body: dict) -> str:
        if task_id := self._payloads.get(push_id):
            return task_id
        lock = self._payload_locks.setdefault(push_id, asyncio.Lock())
        async with lock:
            if task_id := self._payloads.get(push_id):
                return task_id
            request = {**body, "requestId": _request_id(push_id, "p", [str(self._push_mode)])}
            payload = await self._call(SAVE_PATH, request)
            code = _result(payload)
            task_id = payload.get("taskId")
            if code != 0 or not isinstance(task_id, str) or not task_id:
                # Nothing was sent yet: a refusal of the payload is every token's answer.
                answer = result_answer(code, single=False)
                if answer.result == Result.ACCEPTED:
                    answer = Answer(Result.LOST, reason="bad_answer", status=200)
                raise _Refused(dataclasses.replace(answer, prune=False))
            self._payloads[push_id] = task_id
            return task_id

    def _single(self, payload: dict, token: str) -> Answer:
        code = _result(payload)
        invalid = payload.get("invalidUser")
        if isinstance(invalid, dict) and str(invalid.get("userid")) == token:
            return _invalid(invalid.get("status"))
        return result_answer(code, task_id=str(payload.get("taskId") or ""))

    def _list(self, payload: dict, tokens: list[str], task_id: str) -> list[Answer]:
        code = _result(payload)
        if code != 0:
            return [result_answer(code, single=False)] * len(tokens)
        invalid = {}
        for user in payload.get("invalidUsers") or ():
            if isinstance(user, dict) and user.get("userid") is not None:
                invalid[str(user["userid"])] = _invalid(user.get("status"))
        accepted = Answer(Result.ACCEPTED, message_id=task_id, status=200)
        return [invalid.get(token, accepted) for token in tokens]


# -- receipts -------------------------------------------------------------------------------


def parse_receipts(
    body: bytes, *, content_type: str, headers: Mapping[str, str], config: dict
) -> list[Receipt]:
    """vivo's arrival receipt, as far as known (unverified: vivo's page is not public): a JSON
    object keyed by taskId, each ``{"param": our push id, "targets": "regId1,regId2"}``. vivo
    signs nothing: the URL's own key vouches for the caller."""
    tasks = receipt_json(body)
    if not isinstance(tasks, dict) or not tasks:
        raise ReceiptError("a vivo receipt is a non-empty JSON object keyed by taskId")
    receipts = []
    for task_id, task in tasks.items():
        if not isinstance(task, dict) or not isinstance(task.get("targets"), str):
            raise ReceiptError(f"task {task_id} has no targets")
        push_id = task.get("param")
        if not isinstance(push_id, str) or not push_id:
            continue  # not one of ours
        for token in (t.strip() for t in task["targets"].split(",")):
            if token:
                receipts.append(Receipt(token, push_id, ReceiptKind.ARRIVED, None, "arrived"))
    return receipts


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    """A 200 (vivo's expected body is not documented publicly; vivo's own answer shape)."""
    return 200, "application/json", b'{"result":0,"desc":"success"}'
