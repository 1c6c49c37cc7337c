"""Meizu Flyme Push, server HTTP API: the push's ``messageJson``, the credentials an owner uploads
(appId, appSecret, optionally the receipt access token), an httpx client for the notification
push by pushId, and the receipts Meizu posts back. Wire format:
/work/shared/reference/channels.md section 8.

Confirmed in Meizu's documentation (GitHub MEIZUPUSH/PushAPI README, 2025-04-09):

- ``POST /garcia/api/server/push/varnished/pushByPushId`` on server-api-push.meizu.com (the
  doc's examples are plain http), ``application/x-www-form-urlencoded``: ``appId``,
  ``pushIds`` (comma list, at most 100), ``messageJson``, ``sign``;
- the signature: every parameter but ``sign``, sorted by name, concatenated as ``k=v`` without
  separators, the appSecret appended, the 32-character lowercase MD5 of that (of the raw
  values, not URL-encoded);
- ``messageJson``: ``noticeBarInfo`` {``noticeMsgType`` 0 public (公信) / 1 private (私信),
  ``title`` 1–32 characters, ``content`` 1–100}, ``clickTypeInfo`` {``clickType`` 0 open the
  app, 1 an activity (``activity``), 2 a URI (``url``); 3 is withdrawn since Android 12;
  ``parameters`` a JSON object}, ``pushTimeInfo`` {``offLine`` 0/1, ``validTime`` 1–72 hours},
  ``advanceInfo`` {``notificationType`` {vibrate, lights, sound}, ``notifyKey`` ≤ 8 of
  [0-9a-zA-Z_-]: only the last of a key is shown}, ``extra`` {``callback`` (≤ 128 bytes; the
  address must also be registered in Meizu's console, Configuration → Receipts),
  ``callback.param`` (≤ 64 bytes), ``callback.type`` 1 delivered, 2 clicked, 3 both};
- pass-through messages restricted since 2018-06-16: refused here (``problem``);
- answers ``{"code": "200", "message", "value", "msgId"}``: a ``value`` map of per-pushId
  failure codes (201 no permission, 501/513 failed, 519 overloaded, 520 folded, 110002 pushId
  invalid (unsubscribed), 110003 pushId illegal, 110010 the device's message switch off,
  110011 the device's daily public-message limit); top-level codes 500, 1001, 1003, 1005 bad
  parameters, 1006 signature refused, 110000 appId, 110001 appKey, 110004 empty parameter,
  110009 blacklisted, 110010 sending too fast, 110019 the app's daily push limit, 110031
  packageName, 110032 taskId, 110033 appSecret, 110051 the app's count limit, 110053
  pass-through limit;
- receipts: a form POST every second with ``cb`` (JSON: ``{"<msgId>-<type>": {"param",
  "type", "targets": [pushIds]}}``) and ``access_token`` ("the receipt interface's access
  token").

NOT confirmed: whether ``access_token`` is a value the console shows (``receipt_token`` is
checked only when the owner gives one); what Meizu expects in reply (a 200 is sent); 518
("over the configured rate", listed by a third-party SDK, not by PushAPI) is taken as a retry;
110051 is taken as the daily quota like 110019; https on server-api-push.meizu.com. Meizu's
private class (noticeMsgType 1, unlimited) has no TPNS field: every push goes as public
(capped per device per day since 2025-05-07) until pushconsole has a field for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

from push.models import ChannelKind, Push

from . import fcm, vendor
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

KIND = ChannelKind.MEIZU
TPNS_NAME = "mz"
MAX_TOKENS = 100  # pushIds: "at most 100 per batch"
RECEIPTS = "per_message"
RECEIPTS_NOTE = "Meizu also wants this address registered in the Flyme push console (回执管理)."
SEND_PATH = "/garcia/api/server/push/varnished/pushByPushId"
FIELDS = (
    CredentialField(
        "app_id",
        "App ID",
        help="Flyme push platform → the app → App ID (digits).",
        max_length=20,
    ),
    CredentialField(
        "app_secret",
        "App Secret",
        help="Flyme push platform → the app → App Secret (signs every request).",
        secret=True,
    ),
    CredentialField(
        "receipt_token",
        "Receipt access token",
        help="Optional: the access token Meizu sends with each receipt (access_token). When "
        "given, a receipt without it is refused.",
        secret=True,
        required=False,
    ),
)

PUSH_ID_KEY = "xg_msgid"
LONGEST_PUSH_ID = fcm.LONGEST_PUSH_ID
MAX_TITLE = 32
MAX_CONTENT = 100
MAX_VALID_HOURS = 72
MAX_CALLBACK_BYTES = 128
CALLBACK_TYPE = 3  # delivered and clicked
_NOTIFY_KEY = re.compile(r"^[0-9A-Za-z_-]{1,8}$")
_APP_ID = re.compile(r"^[0-9]{1,20}$")
_SECRET = re.compile(r"^[!-~]{8,255}$")


# -- the message ----------------------------------------------------------------------------


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as Meizu's ``messageJson`` object (the client adds ``extra.callback`` and
    signs each request). ValueError for what Meizu cannot carry (``problem``)."""
    if (trouble := problem(push)) is not None:
        raise ValueError(trouble[1])
    message = _message(push, now=now, push_id=push.push_id)
    return Prepared(body=message, options={}, size=len(fcm._compact(message)))


def problem(push: Push) -> tuple[str, str] | None:
    """What Meizu cannot carry: a pass-through message, a title or content out of its
    lengths, a collapse_id that is not a Meizu notifyKey."""
    if push.message_type != Push.MessageType.NOTIFY:
        return (
            "message_type",
            "Meizu no longer carries pass-through messages (restricted since June 2018): "
            "send a notification",
        )
    if not 1 <= len(push.title) <= MAX_TITLE or not push.title.strip():
        return ("message.title", f"Meizu shows a title of 1 to {MAX_TITLE} characters")
    if not 1 <= len(push.content) <= MAX_CONTENT or not push.content.strip():
        return ("message.content", f"Meizu shows a content of 1 to {MAX_CONTENT} characters")
    collapse_id = (push.options or {}).get("collapse_id")
    if collapse_id is not None and not _NOTIFY_KEY.match(str(collapse_id)):
        return (
            "collapse_id",
            "Meizu's notifyKey is at most 8 letters, digits, _ or -",
        )
    return None


def _android(push: Push) -> dict:
    part = (push.message or {}).get("android")
    return part if isinstance(part, dict) else {}


def _valid_hours(push: Push, now: datetime) -> int:
    """pushTimeInfo.validTime: the hours left (rounded up), 1 to 72; 0: not kept offline."""
    if push.expire_time == 0:
        return 0
    seconds = push.expire_time
    if push.expires_at is not None:
        seconds = (push.expires_at - now).total_seconds()
    if seconds <= 0:
        return 0
    return min(MAX_VALID_HOURS, max(1, math.ceil(seconds / 3600)))


def _message(push: Push, *, now: datetime, push_id: str) -> dict:
    android = _android(push)
    parameters = {str(k): v for k, v in fcm._custom_content(android).items()}
    parameters[PUSH_ID_KEY] = push_id  # last: a customer's key of that name never replaces ours
    hours = _valid_hours(push, now)
    advance: dict[str, Any] = {
        "notificationType": {
            "vibrate": int(android.get("vibrate", 1) != 0),
            "lights": int(android.get("lights", 1) != 0),
            "sound": int(android.get("ring", 1) != 0),
        },
        "clearNoticeBar": int(android.get("clearable", 1) != 0),
    }
    collapse_id = (push.options or {}).get("collapse_id")
    if collapse_id is not None:
        advance["notifyKey"] = str(collapse_id)
    return {
        "noticeBarInfo": {"noticeMsgType": 0, "title": push.title, "content": push.content},
        "clickTypeInfo": _click(android) | {"parameters": parameters},
        "pushTimeInfo": {"offLine": 1, "validTime": hours} if hours else {"offLine": 0},
        "advanceInfo": advance,
        "extra": {"callback.param": push_id, "callback.type": CALLBACK_TYPE},
    }


def _click(android: dict) -> dict:
    """clickType 0 the app, 1 an activity, 2 a URI (a web page, or the app's own URI)."""
    action = android.get("action")
    if not isinstance(action, dict):
        return {"clickType": 0}
    action_type = action.get("action_type")
    if action_type == 1 and (activity := action.get("activity")):
        return {"clickType": 1, "activity": str(activity)}
    if action_type == 2 and (url := (action.get("browser") or {}).get("url")):
        return {"clickType": 2, "url": str(url)}
    if action_type == 3 and (intent := action.get("intent")):
        return {"clickType": 2, "url": str(intent)}
    return {"clickType": 0}


# -- credentials ----------------------------------------------------------------------------


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """appId (digits), appSecret and the optional receipt token: (config, {field: error})."""
    errors: dict[str, str] = {}
    values = {name: str(form.get(name) or "").strip() for name in ("app_id", *SECRET_FIELDS)}
    if not values["app_id"]:
        errors["app_id"] = "required: the App ID from the Flyme push platform"
    elif not _APP_ID.match(values["app_id"]):
        errors["app_id"] = "must be Meizu's App ID (digits)"
    app_secret, receipt_token = SECRET_FIELDS
    if not values[app_secret]:
        errors[app_secret] = "required: the App Secret from the Flyme push platform"
    elif not _SECRET.match(values[app_secret]):
        errors[app_secret] = "must be the App Secret as Meizu shows it (no spaces)"
    if values[receipt_token] and not _SECRET.match(values[receipt_token]):
        errors[receipt_token] = "must be the access token as Meizu shows it (no spaces)"
    if errors:
        return {}, errors
    return values, {}


SECRET_FIELDS = tuple(f.name for f in FIELDS if f.secret)


# -- signing --------------------------------------------------------------------------------


def sign(params: Mapping[str, str], app_secret: str) -> str:
    """Meizu's signature: sorted ``k=v`` of every parameter, the secret appended, MD5 hex."""
    text = "".join(f"{key}={params[key]}" for key in sorted(params)) + app_secret
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


# -- answers --------------------------------------------------------------------------------

REASONS = {
    # Top-level codes.
    "500": "Meizu had an unspecified error",
    "1001": "Meizu had a system error",
    "1003": "Meizu's server was busy",
    "1005": "Meizu found a parameter wrong",
    "1006": "Meizu refused the signature: check the App Secret",
    "110000": "Meizu does not know the App ID: check the credentials",
    "110001": "Meizu refused the app key",
    "110004": "Meizu missed a required parameter",
    "110009": "Meizu has put the app on its blacklist",
    "110019": "the app has reached Meizu's daily push limit",
    "110031": "Meizu found the package name illegal",
    "110033": "Meizu refused the App Secret: check the credentials",
    "110051": "the app has reached Meizu's push count limit",
    "110053": "the app has reached Meizu's pass-through limit",
    "518": "the app sent faster than its configured rate",
    "rate": "the app sent to Meizu too fast (110010)",
    # Per-pushId codes.
    "201": "Meizu refused the push for this device (no permission)",
    "501": "Meizu failed to send (a database error)",
    "513": "Meizu failed to send",
    "519": "Meizu was overloaded",
    "520": "Meizu folded the message: this device had several from the app within a minute",
    "110002": "the pushId is no longer subscribed (uninstalled, or inactive for a month)",
    "110003": "the pushId is not a valid Meizu pushId",
    "110010": "the device's push switch for the app is off",
    "110011": "the device has had its daily number of public messages",
    # Ours.
}
RETRY_CODES = frozenset({"500", "1001", "1003", "518", "110010"})
QUOTA_CODES = frozenset({"110019", "110051"})
# Per pushId: dead tokens, passing troubles; the rest is refused for that device only.
PRUNE_CODES = frozenset({"110002", "110003"})
RETRY_TOKEN_CODES = frozenset({"501", "513", "519"})
FOLDED_RETRY_AFTER = 60.0  # folding counts the messages of one minute


def classify(
    status: int, body: bytes, tokens: list[str], retry_after: str | None, *, now: datetime
) -> list[Answer]:
    """Meizu's answer to one pushByPushId request, one Answer per token in order."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    wait = fcm.retry_after_seconds(retry_after, now=now)
    if not isinstance(payload, dict) or "code" not in payload:
        if status == 429 or status >= 500 or status == 200:
            reason = "bad_answer" if status == 200 else f"HTTP {status}"
            return [Answer(Result.RETRY, reason=reason, status=status, retry_after=wait)] * len(
                tokens
            )
        return [Answer(Result.REFUSED, reason=f"HTTP {status}", status=status)] * len(tokens)
    code = str(payload.get("code"))
    if code == "200" and status == 200:
        return _per_token(payload, tokens, status)
    if code in QUOTA_CODES:
        # Until the vendor's midnight after the batch (the sender's ``now``).
        answer = Answer(Result.OVER_QUOTA, reason=code, status=status)
    elif code == "110010":  # at the top level: the app's sending rate
        answer = Answer(Result.RETRY, reason="rate", status=status, retry_after=wait)
    elif code in RETRY_CODES or status == 429 or status >= 500:
        answer = Answer(Result.RETRY, reason=code, status=status, retry_after=wait)
    else:  # our parameters, the signature, the app's standing: never the pushId's fault
        answer = Answer(Result.REFUSED, reason=code, status=status)
    return [answer] * len(tokens)


def _per_token(payload: dict, tokens: list[str], status: int) -> list[Answer]:
    message_id = str(payload.get("msgId") or "")
    failed: dict[str, str] = {}
    value = payload.get("value")
    if isinstance(value, dict):
        for code, push_ids in value.items():
            if isinstance(push_ids, list):
                failed.update({str(push_id): str(code) for push_id in push_ids})
    answers = []
    for token in tokens:
        code = failed.get(token)
        if code is None:
            answers.append(Answer(Result.ACCEPTED, message_id=message_id, status=status))
        elif code in PRUNE_CODES:
            answers.append(Answer(Result.REFUSED, reason=code, status=status, prune=True))
        elif code in RETRY_TOKEN_CODES:
            answers.append(Answer(Result.RETRY, reason=code, status=status))
        elif code == "520":
            answers.append(
                Answer(Result.RETRY, reason=code, status=status, retry_after=FOLDED_RETRY_AFTER)
            )
        else:
            answers.append(Answer(Result.REFUSED, reason=code, status=status))
    return answers


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    return vendor.describe(answer, vendor="Meizu", reasons=REASONS)


def category(push: Push) -> Category:
    """Every push goes as a public message (公信): TPNS has no field for Meizu's private class."""
    return Category(
        "Public message (公信)",
        True,
        "Meizu caps public messages per device each day; its private class has no TPNS field",
    )


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    return None


# -- receipts -------------------------------------------------------------------------------

RECEIPT_KINDS = {1: ReceiptKind.ARRIVED, 2: ReceiptKind.CLICKED}


def parse_receipts(
    body: bytes, *, content_type: str, headers: Mapping[str, str], config: dict
) -> list[Receipt]:
    """Meizu's receipt: form fields ``cb`` (JSON keyed ``<msgId>-<type>``) and
    ``access_token``, checked against the config's ``receipt_token`` when it has one (403
    otherwise). One Receipt per pushId of each entry's ``targets``; entries whose ``param``
    is not a push id of ours are skipped."""
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ReceiptError("the receipt is not UTF-8") from None
    expected = config.get("receipt_token") or ""
    if expected and not hmac.compare_digest(
        fields.get("access_token", "").encode(), expected.encode()
    ):
        raise ReceiptError("the receipt's access_token is not the app's", forbidden=True)
    if "cb" not in fields:
        raise ReceiptError("the receipt has no cb field")
    entries = receipt_json(fields["cb"], "the receipt's cb")
    if not isinstance(entries, dict):
        raise ReceiptError("the receipt's cb must be a JSON object")
    receipts = []
    for entry in entries.values():
        if not isinstance(entry, dict):
            raise ReceiptError("each receipt entry must be a JSON object")
        try:
            status = int(str(entry.get("type")))
        except ValueError:
            raise ReceiptError("a receipt entry has no numeric type") from None
        targets = entry.get("targets")
        if isinstance(targets, str):
            targets = targets.split(",")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ReceiptError("a receipt entry has no targets")
        push_id = str(entry.get("param") or "")
        if not push_id.isdigit():
            continue  # not one of ours
        kind = RECEIPT_KINDS.get(status, ReceiptKind.OTHER)
        receipts += [Receipt(t.strip(), push_id, kind, None, str(status)) for t in targets if t]
    return receipts


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    """An HTTP 200 in Meizu's answer shape (its doc names no reply)."""
    return 200, "application/json", b'{"code":"200","message":""}'


# -- the client -----------------------------------------------------------------------------


class MeizuClient(vendor.VendorClient):
    """One signed form POST per ≤100 pushIds (no auth token: every request is signed)."""

    MAX_TOKENS = MAX_TOKENS

    def __init__(self, config: dict, *, ca_file: str = "", timeout: float = 10.0, **kwargs):
        super().__init__(ca_file=ca_file, timeout=timeout, **kwargs)
        self._url = settings.PUSH_MEIZU_URL.rstrip("/") + SEND_PATH
        self._app_id = str(config["app_id"])
        self._secret = config["app_secret"]
        callback = config.get("receipt_url") or ""
        # A longer address would be refused by Meizu with the whole message: no receipts then.
        self._callback = callback if len(callback.encode()) <= MAX_CALLBACK_BYTES else ""

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        message = dict(prepared.body)
        extra = dict(message.get("extra") or {})
        if self._callback:
            message["extra"] = {"callback": self._callback} | extra
        else:
            message.pop("extra", None)
        params = {
            "appId": self._app_id,
            "pushIds": ",".join(tokens),
            "messageJson": fcm._compact(message).decode(),
        }
        params["sign"] = sign(params, self._secret)
        # A request that raises is answered by VendorClient (vendor.failure) for each token.
        response = await self.http.post(
            self._url,
            content=urlencode(params).encode(),
            headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
        return classify(
            response.status_code,
            response.content,
            tokens,
            response.headers.get("retry-after"),
            now=datetime.now(UTC),
        )


def client(config: dict, *, environment: str, clock=None) -> MeizuClient:
    """A client on ``ChannelCredentials.config()`` (Meizu has no environments, no tokens)."""
    return MeizuClient(
        config, ca_file=settings.PUSH_CHANNEL_CA_FILE, timeout=settings.PUSH_CHANNEL_TIMEOUT
    )
