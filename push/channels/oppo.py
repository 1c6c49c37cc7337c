"""OPPO Push (OPUSH; also OnePlus and realme phones): the push's notification object, the
credentials an owner uploads (AppId, AppKey, MasterSecret), an httpx client (a 24 h auth token
from ``/server/v1/auth``; ``unicast`` for one registration id, ``unicast_batch`` for up to
1000), and OPPO's arrival receipts. Wire format: /work/shared/reference/channels.md section 5
and OPPO's server API pages (调用地址/公共参数/返回码, 单点推送, 通知栏消息, 消息回执).

What a TPNS message becomes (``prepare``), OPPO's ``notification``:

- ``title`` (≤ 50 characters), ``content`` (≤ 200, the standard style); OPPO carries
  notifications only, so a pass-through message is a ``problem``.
- the click (``action``): an activity class name (action_type 1) → ``click_action_type`` 4
  with ``click_action_activity``; a browser URL (2) → 2 with ``click_action_url``; an intent
  (3) → 5 (an intent scheme URL) or, for a plain action name, 1 (the activity's action);
  otherwise 0 (open the app). ``action_parameters`` (a JSON object, ≤ 4000 characters) carries
  custom_content's keys and ``xg_msgid`` (the push id): OPPO hands them to the activity.
- ``off_line``/``off_line_ttl``: the seconds left until the push expires (≤ 10 days); TPNS's
  expire_time 0 (real time only) is ``off_line`` false.
- ``channel_id``: oppo_ch_id, else n_ch_id; ``notify_id``: options.collapse_id (a newer
  message with the same id replaces the older one on the device).
- ``category`` / ``notify_level`` (1, 2 or 16; 16 needs a category): ``message.android.
  oppo_category`` / ``oppo_notify_level`` — pushconsole's own keys, TPNS had none; OPPO answers
  67 to a category the app was not granted, so none is sent unless asked for.
- ``call_back_parameter``: the push id, which OPPO echoes as ``param`` in each receipt line;
  the client adds ``call_back_url`` (the app's receipt URL) when one is configured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
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
from .vendor import AuthTrouble, TokenCache, VendorClient

KIND = ChannelKind.OPPO
TPNS_NAME = "oppo"
RECEIPTS = "per_message"
MAX_TOKENS = 1000  # unicast_batch: "最多1000个"

FIELDS: tuple[CredentialField, ...] = (
    CredentialField(
        "app_id",
        "AppId",
        help="OPPO PUSH platform → 配置管理 → 应用配置; receipts naming another app are refused",
        max_length=64,
    ),
    CredentialField("app_key", "AppKey", help="the same page's AppKey", max_length=128),
    CredentialField(
        "master_secret",
        "MasterSecret",
        help="the server secret (MasterSecret, not the AppSecret the app uses)",
        secret=True,
        max_length=128,
    ),
)

AUTH_PATH = "/server/v1/auth"
UNICAST_PATH = "/server/v1/message/notification/unicast"
BATCH_PATH = "/server/v1/message/notification/unicast_batch"
TOKEN_LIFETIME = 24 * 3600.0  # "auth_token有效期为24小时"
MAX_TITLE = 50
MAX_CONTENT = 200  # the standard style (1); 128 for long text, 50 for the big picture
MAX_TTL = 10 * 24 * 3600  # off_line_ttl: "最大允许设置为10天"
MAX_ACTION_PARAMETERS = 4000
MAX_ACTIVITY = 500
MAX_URL = 2000
MAX_CALLBACK_URL = 200
MAX_RETRY_AFTER = 86400.0
# OPPO's categories (新消息分类, doc id 13189): 通讯与服务 (private messages, not capped) and
# 内容与营销 (public messages, counted against the daily quota).
SERVICE_CATEGORIES = ("IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION")
MARKETING_CATEGORIES = ("NEWS", "CONTENT", "MARKETING", "SOCIAL")
NOTIFY_LEVELS = (1, 2, 16)  # 通知栏; +锁屏; +横幅+震动+铃声
PUSH_ID_KEY = "xg_msgid"
LONGEST_PUSH_ID = str(2**63 - 1)

# OPPO's return codes (公共返回码 and the send interfaces'), as the answer they make.
INVALID_AUTH_TOKEN = 11
RETRY_CODES = frozenset({-2, -1, 13, 55})  # flow control, unavailable, call limits
QUOTA_CODES = frozenset({33})  # "消息条数超过日限额"
INVALID_REGISTRATION = 10000  # "registration_id格式不正确"


# -- the message ----------------------------------------------------------------------------


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as OPPO's ``notification`` object (one per push; the client wraps it with each
    registration id). ValueError for what OPPO cannot carry (``problem`` says what)."""
    if (found := problem(push)) is not None:
        raise ValueError(f"{found[0]}: {found[1]}")
    notification = _notification(push, now=now, push_id=push.push_id)
    return Prepared(body=notification, options={}, size=len(_compact(notification)))


def problem(push: Push) -> tuple[str, str] | None:
    """What OPPO cannot carry: a pass-through message, a title or content over OPPO's length,
    an over-long click target or action parameters, a category or level OPPO does not know."""
    if push.message_type != Push.MessageType.NOTIFY:
        return ("message_type", "OPPO carries notifications only, not pass-through messages")
    if len(push.title) > MAX_TITLE:
        return ("message.title", f"OPPO shows at most {MAX_TITLE} characters of a title")
    if len(push.content) > MAX_CONTENT:
        return ("message.content", f"OPPO shows at most {MAX_CONTENT} characters of content")
    android = _android(push)
    action = android.get("action") if isinstance(android.get("action"), dict) else {}
    if len(str(action.get("activity") or "")) > MAX_ACTIVITY:
        return ("message.android.action.activity", f"OPPO takes at most {MAX_ACTIVITY} characters")
    url = (action.get("browser") or {}).get("url") or ""
    if len(url) > MAX_URL or len(str(action.get("intent") or "")) > MAX_URL:
        field = "browser.url" if len(url) > MAX_URL else "intent"
        return (f"message.android.action.{field}", f"OPPO takes at most {MAX_URL} characters")
    push_id = push.push_id if push.pk is not None else LONGEST_PUSH_ID
    parameters = _action_parameters(android, push_id)
    if len(parameters) > MAX_ACTION_PARAMETERS:
        return (
            "message.android.custom_content",
            f"OPPO carries at most {MAX_ACTION_PARAMETERS} characters of custom content "
            f"(with the push id: {len(parameters)})",
        )
    category = android.get("oppo_category")
    if category is not None and category not in SERVICE_CATEGORIES + MARKETING_CATEGORIES:
        known = ", ".join(SERVICE_CATEGORIES + MARKETING_CATEGORIES)
        return ("message.android.oppo_category", f"OPPO's categories are {known}")
    level = android.get("oppo_notify_level")
    if level is not None:
        if level not in NOTIFY_LEVELS:
            return ("message.android.oppo_notify_level", "OPPO's levels are 1, 2 and 16")
        if category is None:
            return ("message.android.oppo_notify_level", "OPPO needs oppo_category with it")
    return None


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _android(push: Push) -> dict:
    android = (push.message or {}).get("android")
    return android if isinstance(android, dict) else {}


def _custom_content(android: dict) -> dict:
    """custom_content is a JSON object serialised to a string (checked when parsed)."""
    try:
        value = json.loads(android.get("custom_content") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _action_parameters(android: dict, push_id: str) -> str:
    # Our key last: a customer's key of that name never replaces it.
    return _compact({**_custom_content(android), PUSH_ID_KEY: push_id}).decode()


def seconds_left(push: Push, now: datetime) -> int:
    """off_line_ttl: the push's seconds left at ``now``, within OPPO's 10 days."""
    if push.expires_at is None:
        return min(push.expire_time, MAX_TTL)
    return min(max(1, math.ceil((push.expires_at - now).total_seconds())), MAX_TTL)


def _notification(push: Push, *, now: datetime, push_id: str) -> dict:
    android = _android(push)
    notification: dict[str, Any] = {"title": push.title, "content": push.content}
    notification.update(_click(android))
    notification["action_parameters"] = _action_parameters(android, push_id)
    if push.expire_time == 0:
        notification["off_line"] = False  # real time only: never kept for an offline device
    else:
        notification["off_line"] = True
        notification["off_line_ttl"] = seconds_left(push, now)
    if channel := android.get("oppo_ch_id") or android.get("n_ch_id"):
        notification["channel_id"] = channel
    if (category := android.get("oppo_category")) is not None:
        notification["category"] = category
    if (level := android.get("oppo_notify_level")) is not None:
        notification["notify_level"] = level
    collapse_id = (push.options or {}).get("collapse_id")
    if isinstance(collapse_id, int) and 0 < collapse_id < 2**31:
        notification["notify_id"] = collapse_id
    notification["call_back_parameter"] = push_id
    return notification


def _click(android: dict) -> dict:
    action = android.get("action")
    if not isinstance(action, dict):
        return {"click_action_type": 0}
    action_type = action.get("action_type")
    if action_type == 1 and action.get("activity"):
        return {"click_action_type": 4, "click_action_activity": action["activity"]}
    if action_type == 2 and (url := (action.get("browser") or {}).get("url")):
        return {"click_action_type": 2, "click_action_url": url}
    if action_type == 3 and (intent := action.get("intent")):
        if ":" in intent:  # an intent URI (scheme://…, intent:…)
            return {"click_action_type": 5, "click_action_url": intent}
        return {"click_action_type": 1, "click_action_activity": intent}
    return {"click_action_type": 0}


def category(push: Push) -> Category:
    """OPPO's category: ``oppo_category`` when given (内容与营销 capped, 通讯与服务 not); else a
    private-message channel (oppo_ch_id, registered in OPPO's console) is not capped, and
    everything else is a public message, counted against the daily quota."""
    android = _android(push)
    if (name := android.get("oppo_category")) is not None:
        capped = name in MARKETING_CATEGORIES
        kind = "内容与营销 (public, capped daily)" if capped else "通讯与服务 (not capped)"
        return Category(name, capped, f"message.android.oppo_category: {kind}")
    if channel := android.get("oppo_ch_id"):
        return Category(
            "私信", False, f"oppo_ch_id {channel}: a private-message channel, not capped"
        )
    return Category("公信", True, "no oppo_category or oppo_ch_id: a public message, capped daily")


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    return None  # OPPO takes pushes at any hour


# -- credentials ----------------------------------------------------------------------------


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """The three values of OPPO's 应用配置 page, trimmed: (config, {field: error})."""
    config = {field.name: str(form.get(field.name) or "").strip() for field in FIELDS}
    errors = {}
    for field in FIELDS:
        value = config[field.name]
        if not value:
            errors[field.name] = f"required: the {field.label} of OPPO's 应用配置 page"
        elif len(value) > field.max_length or not value.isascii() or not value.isprintable():
            errors[field.name] = f"is not an OPPO {field.label} (letters and digits)"
        elif " " in value:
            errors[field.name] = f"an OPPO {field.label} has no spaces"
    return ({}, errors) if errors else (config, {})


# -- answers --------------------------------------------------------------------------------

REASONS = {
    "-2": "OPPO is throttling the traffic (服务器流量控制)",
    "-1": "OPPO's service is unavailable for now",
    "11": "OPPO refused the auth token (it expired or was replaced)",
    "13": "the app called OPPO too often (call limit)",
    "14": "OPPO does not know the AppKey: check the credentials",
    "16": "OPPO refused the signature: check the MasterSecret",
    "19": "OPPO refused the auth timestamp: check this server's clock",
    "26": "OPPO blocks this server's IP address",
    "27": "the app may not use this OPPO function",
    "28": "OPPO has disabled the app",
    "30": "the app has no permission to push through OPPO's API (apply in OPPO's console)",
    "33": "the app's daily OPPO quota is spent (消息条数超过日限额)",
    "40": "OPPO misses a required field",
    "41": "OPPO refused a field of the message",
    "55": "the app called OPPO too fast (frequency limit)",
    "67": "OPPO refused the category or notify level (not granted to the app)",
    "10000": "not a valid OPPO registration id (registration_id格式不正确)",
    "missing_result": "OPPO's batch answer said nothing of this registration id",
}


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    return vendor.describe(answer, vendor="OPPO", reasons=REASONS)


def code_answer(code: int, *, message_id: str = "", single: bool = True) -> Answer:
    """One of OPPO's return codes as an answer. ``single``: the code is about the one
    registration id of the request (a batch-wide 10000 is not about any one of them)."""
    reason = str(code)
    if code == 0:
        return Answer(Result.ACCEPTED, message_id=message_id, status=200)
    if code in RETRY_CODES:
        return Answer(Result.RETRY, reason=reason, status=200)
    if code in QUOTA_CODES:
        # Until the vendor's midnight after the batch (the sender's ``now``).
        return Answer(Result.OVER_QUOTA, reason=reason, status=200)
    prune = code == INVALID_REGISTRATION and single
    return Answer(Result.REFUSED, reason=reason, status=200, prune=prune)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def _payload(response: httpx.Response) -> dict | None:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _code(payload: dict | None) -> int | None:
    code = payload.get("code") if payload else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


# -- the client -----------------------------------------------------------------------------


def client(config: dict, *, environment: str, clock=None) -> OppoClient:
    """A client on ``ChannelCredentials.config()`` (OPPO has no test environment)."""
    return OppoClient(
        config,
        base_url=settings.PUSH_OPPO_URL,
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
        clock=clock,
    )


class OppoClient(VendorClient):
    """Sends a prepared notification to up to 1000 registration ids per request, with the
    auth token shared by every request (replaced after 24 h, or once when OPPO answers 11)."""

    MAX_TOKENS = MAX_TOKENS

    def __init__(
        self,
        config: dict,
        *,
        base_url: str,
        ca_file: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(ca_file=ca_file, timeout=timeout)
        self._base = base_url.rstrip("/")
        self._app_key = config["app_key"]
        self._master_secret = config["master_secret"]
        receipt_url = config.get("receipt_url") or ""
        # OPPO refuses a call_back_url over 200 characters: the messages go without receipts
        # rather than not at all.
        self._receipt_url = receipt_url if len(receipt_url) <= MAX_CALLBACK_URL else ""
        self.tokens = TokenCache(self._fetch_token, clock)

    async def _fetch_token(self) -> tuple[str, float]:
        timestamp = str(int(time.time() * 1000))
        sign = hashlib.sha256(
            (self._app_key + timestamp + self._master_secret).encode()
        ).hexdigest()
        response = await self.http.post(
            self._base + AUTH_PATH,
            data={"app_key": self._app_key, "timestamp": timestamp, "sign": sign},
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise AuthTrouble(Answer(Result.RETRY, reason="auth_unavailable"))
        payload = _payload(response)
        code = _code(payload)
        data = payload.get("data") if payload else None
        token = data.get("auth_token") if isinstance(data, dict) else None
        if code == 0 and isinstance(token, str) and token:
            return token, TOKEN_LIFETIME
        if code in RETRY_CODES or code is None:
            raise AuthTrouble(Answer(Result.RETRY, reason=str(code or "auth_unavailable")))
        raise AuthTrouble(Answer(Result.REFUSED, reason=str(code)))

    def _notification(self, prepared: Prepared) -> dict:
        if not self._receipt_url:
            return prepared.body
        return {**prepared.body, "call_back_url": self._receipt_url}

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        notification = self._notification(prepared)
        if len(tokens) == 1:
            path = UNICAST_PATH
            form = {"message": _message(tokens[0], notification)}
        else:
            path = BATCH_PATH
            messages = ",".join(_message(token, notification) for token in tokens)
            form = {"messages": f"[{messages}]"}
        auth_token = await self.tokens.get()
        response = await self._post(path, form, auth_token)
        if _code(_payload(response)) == INVALID_AUTH_TOKEN:
            auth_token = await self.tokens.get(refused=auth_token)
            response = await self._post(path, form, auth_token)
        return self._answers(response, tokens)

    async def _post(self, path: str, form: dict, auth_token: str) -> httpx.Response:
        # The auth token goes in the form body ("在HTTP请求体中携带该参数").
        return await self.http.post(self._base + path, data={"auth_token": auth_token, **form})

    def _answers(self, response: httpx.Response, tokens: list[str]) -> list[Answer]:
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after"))
            answer = Answer(Result.RETRY, reason=f"HTTP {status}", status=status)
            return [dataclasses.replace(answer, retry_after=retry_after)] * len(tokens)
        if status != 200:
            return [Answer(Result.REFUSED, reason=f"HTTP {status}", status=status)] * len(tokens)
        payload = _payload(response)
        code = _code(payload)
        if code is None:  # taken or not, nobody can tell
            return [Answer(Result.LOST, reason="bad_answer", status=status)] * len(tokens)
        data = payload.get("data")
        if code != 0:
            return [code_answer(code, single=len(tokens) == 1)] * len(tokens)
        if len(tokens) == 1:
            message_id = data.get("messageId") if isinstance(data, dict) else None
            return [code_answer(0, message_id=str(message_id or ""))]
        return _batch_answers(data, tokens)


def _message(token: str, notification: dict) -> str:
    return _compact(
        {"target_type": 2, "target_value": token, "notification": notification}
    ).decode()


def _batch_answers(data: Any, tokens: list[str]) -> list[Answer]:
    """unicast_batch's ``data``: one result per registration id, an ``errorCode`` on those
    OPPO did not take."""
    results: dict[str, Answer] = {}
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("registrationId"), str):
            continue
        error = item.get("errorCode")
        message_id = str(item.get("messageId") or "")
        if isinstance(error, int) and not isinstance(error, bool) and error != 0:
            results[item["registrationId"]] = code_answer(error)
        else:
            results[item["registrationId"]] = code_answer(0, message_id=message_id)
    missing = Answer(Result.LOST, reason="missing_result", status=200)
    return [results.get(token, missing) for token in tokens]


# -- receipts -------------------------------------------------------------------------------

EVENTS = {
    "push_arrive": ReceiptKind.ARRIVED,  # reached the device's OPPO PUSH client
    "regid_invalid": ReceiptKind.INVALID_TOKEN,  # uninstalled, deregistered, 30 days offline
    "user_daily_limit": ReceiptKind.NOT_SHOWN,  # the device's daily limit for the app
}


def parse_receipts(
    body: bytes, *, content_type: str, headers: Mapping[str, str], config: dict
) -> list[Receipt]:
    """OPPO's receipt: a JSON array (≥ 1) of ``{messageId, appId, taskId, registrationIds
    (comma separated), eventTime (ms), param (our push id), eventType}``. OPPO signs nothing:
    the URL's own key vouches for the caller, and a line naming another app is forbidden."""
    lines = receipt_json(body)
    if not isinstance(lines, list) or not lines:
        raise ReceiptError("an OPPO receipt is a non-empty JSON array")
    app_id = str(config.get("app_id") or "")
    receipts = []
    for line in lines:
        if not isinstance(line, dict):
            raise ReceiptError("each line of an OPPO receipt is a JSON object")
        if app_id and str(line.get("appId") or "") != app_id:
            raise ReceiptError("a receipt line names another OPPO app", forbidden=True)
        push_id = line.get("param")
        targets = line.get("registrationIds")
        if isinstance(targets, list):
            targets = ",".join(str(t) for t in targets)
        if not isinstance(targets, str) or not isinstance(line.get("eventType"), str):
            raise ReceiptError("a receipt line has no registrationIds or eventType")
        if not isinstance(push_id, str) or not push_id:
            continue  # a message without our parameter: not one of ours
        kind = EVENTS.get(line["eventType"], ReceiptKind.OTHER)
        at = _moment(line.get("eventTime"))
        for token in (t.strip() for t in targets.split(",")):
            if token:
                receipts.append(Receipt(token, push_id, kind, at, line["eventType"]))
    return receipts


def _moment(value: Any) -> datetime | None:
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    """OPPO only needs a 200 (its documentation names no body); OPPO's own answer shape."""
    return 200, "application/json", b'{"code":0,"message":"Success"}'
