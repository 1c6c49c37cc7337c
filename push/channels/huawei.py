"""Huawei Push Kit (HMS Core, Android), REST API v1: the push's message, the credentials an owner
uploads, an httpx client on ``vendor.VendorClient``, and the receipt callback. Wire format:
/work/shared/reference/channels.md section 3, checked against Huawei's documentation (below).

The client is our own (httpx, asyncio): the PyPI repackagings of Huawei's demo server code
(``hpa`` 1.0.0, ``python-huawei-push-admin`` 1.0.0) are synchronous ``requests`` code with one
generic error type, which would hide the per-token answers this module has to classify.

Auth: ``POST PUSH_HUAWEI_TOKEN_URL`` form ``grant_type=client_credentials, client_id,
client_secret`` → ``access_token``, ``expires_in`` (3600). The token is cached (``TokenCache``)
and replaced once when Huawei answers 80200003 (expired) or HTTP 401, then the request is sent
again once.

What a TPNS message becomes (``prepare``; ``POST {PUSH_HUAWEI_URL}/v1/{app_id}/messages:send``,
body ``{"validate_only": false, "message": {..., "token": [≤1000]}}``):

- ``message.data``: a JSON string of custom_content's keys and ``xg_msgid`` (the push id), for
  notifications too (Huawei hands it to the app when the notification is tapped); a
  pass-through message also carries ``title`` and ``content`` there and no notification.
- ``android.bi_tag`` = the push id (receipts name it ``biTag``); ``android.category`` =
  message.android.hw_category; ``android.ttl`` = the seconds left ("Ns", at least 1: Huawei
  documents no 0, and 1 s is the nearest to TPNS's real-time only; at most 15 days);
  ``android.collapse_key`` = options.collapse_id when it is in Huawei's 0–100; a pass-through
  message has ``urgency`` NORMAL (HIGH needs a permission from Huawei).
- ``android.notification``: title, body, ``channel_id`` (hw_ch_id, else n_ch_id),
  ``importance`` (hw_importance 1 → LOW, 2 → NORMAL), ``image`` (xg_media_resources),
  ``tag`` (options.collapse_id: a newer notification of the same tag replaces the older), and
  the mandatory ``click_action``: action_type 1 (an activity) → type 1 with the activity as the
  intent ``action`` (the app declares an intent filter of that name, as for FCM); 2 (browser) →
  type 2 ``url``; 3 (intent) → type 1 ``intent`` for an intent URI, else ``action``; none →
  type 3 (open the app). TPNS's badge_type is not sent: Huawei's badge needs the app's launcher
  activity class, which a TPNS message does not name.
- the body counts at most 4096 bytes without the tokens (``problem`` refuses more).

Answers (``classify``): 80000000 → every token ACCEPTED (message_id = requestId); 80100000
partial success → ``msg`` is a JSON string ``{"success": n, "failure": n, "illegal_tokens":
[...]}`` (the Push Kit v3 documentation answers ``"illegalTokens": {"<reason>": [...]}``; both
are read): those tokens REFUSED and pruned, the others ACCEPTED; 80300007 (all tokens invalid)
→ every token pruned; HTTP 503 (traffic control), 429 and 5xx, 81000001 → RETRY; every other
code (80100003 bad body, 80200001 auth, 80300002 no permission, 80300008 too big, 80300010 too
many tokens, 80100016 sensitive content…) → REFUSED without pruning.

No OVER_QUOTA answer: Huawei caps marketing notifications (资讯营销, category unset or
MARKETING, since 2023-01-05) per device and day, and answers the send with 80000000 all the
same; the capped messages are dropped on Huawei's side and reported by the receipt (status
256, or 102 for the 3000 messages/device/day cap). A 256 receipt is ``OVER_QUOTA``: that
delivery goes over the built-in channel instead (``push.receipts``), as TPNS did with a spent
quota. ``category`` says which pushes are capped.

Receipts (``RECEIPTS = "console"
# Huawei carries pass-through (data) messages: TPNS message pushes go that way.
PASS_THROUGH = True``: the URL is registered once in AppGallery Connect):
``{"statuses": [{"biTag", "appid", "token", "status", "timestamp" (ms), "requestId"}]}``,
signed in ``X-HUAWEI-CALLBACK-ID: timestamp=…;nonce=…;value=Base64(HMAC-SHA256(receipt_secret,
timestamp + nonce + receipt_user))`` when the app's receipt configuration has a user name and
key (then checked here, the timestamp within ``RECEIPT_SKEW`` of now). Statuses:
0 → ARRIVED; 6 (notifications off, turnOffPush, channel disabled) → NOTIFICATIONS_OFF;
2 (not installed), 5 (token of another Android user), 10 (no contact with Push Kit for 30
days) → INVALID_TOKEN; 14 (other), 15 (offline message overwritten), 22, 31 (unsupported), 102
(device frequency control), 144, 201 (send controlled) → NOT_SHOWN; 256 (category frequency
control: the marketing cap) → OVER_QUOTA; 27 (data message cached until the app runs), 51
(held until the device is unlocked) and unknown statuses → OTHER.

Confirmed in Huawei's documentation (developer.huawei.com): the token request and lifetime,
the send URL and body, 4096 bytes without tokens, ≤1000 tokens, the answer codes above and
HTTP 503 = traffic control, the receipt body, header and statuses 0/2/5/6/10/15, status 256 for
the category caps (HarmonyOS Push Kit pages), and that the marketing caps drop messages rather
than refuse the send. Not confirmed there: the v1 ``illegal_tokens`` layout of 80100000's msg
(several independent clients agree on it), and the receipt reply body (any 200 is taken).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
import urllib.parse
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
from .fcm import retry_after_seconds
from .vendor import AuthTrouble, TokenCache, VendorClient

KIND = ChannelKind.HUAWEI
TPNS_NAME = "hw"
RECEIPTS = "console"
MAX_TOKENS = 1000
MAX_MESSAGE_BYTES = 4096  # the message without its tokens
MAX_TTL = 15 * 24 * 3600
DEFAULT_TOKEN_LIFETIME = 3600.0
RECEIPT_SKEW = 900  # seconds a signed receipt's timestamp may be off our clock
MAX_RECEIPT_LINES = 1000
PUSH_ID_KEY = "xg_msgid"
LONGEST_PUSH_ID = str(2**63 - 1)  # what problem() sizes a push with before it has an id

SUCCESS = "80000000"
PARTIAL = "80100000"
ALL_INVALID = "80300007"
EXPIRED = "80200003"
AUTH_ERROR = "80200001"
INTERNAL = "81000001"
# The per-token reasons of Push Kit's "illegalTokens" that are not about the token itself
# (a permission, a penalty, the country): such a token is refused but kept.
KEPT_REASONS = frozenset(
    {
        "noPushTypeRight",
        "atomicUnableSendUnsubscribedMsg",
        "countryNotSupport",
        "disableSendHuaweiMsgBecauseOfPenalty",
        "differentImgVerifyPolicy",
        "appinfoError",
        "noRightToSendThisLiveNotificationEvent",
        "notSupportPlayVoice",
    }
)
ILLEGAL = "illegal_token"  # our word for a token listed in v1's illegal_tokens

# Huawei's message categories (android.category): the service ones are not capped daily.
SERVICE_CATEGORIES = frozenset(
    {
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
    }
)
MARKETING = "MARKETING"
CATEGORIES = SERVICE_CATEGORIES | {MARKETING}
IMPORTANCE = {1: "LOW", 2: "NORMAL", "1": "LOW", "2": "NORMAL", "LOW": "LOW", "NORMAL": "NORMAL"}

FIELDS: tuple[CredentialField, ...] = (
    CredentialField(
        "app_id",
        "App ID",
        help="AppGallery Connect → Project settings → App information: the app's App ID "
        "(digits), the {app_id} of messages:send",
        max_length=32,
    ),
    CredentialField(
        "client_id",
        "OAuth client ID",
        help="The OAuth 2.0 client ID; leave blank to use the App ID (Push Kit's default)",
        required=False,
        max_length=64,
    ),
    CredentialField(
        "client_secret",
        "Client secret",
        help="The App secret (or the OAuth client's secret) from Project settings",
        secret=True,
    ),
    CredentialField(
        "receipt_user",
        "Receipt user name",
        help="The callback user name of the app's receipt configuration (optional)",
        required=False,
        max_length=64,
    ),
    CredentialField(
        "receipt_secret",
        "Receipt key",
        help="The callback key of the receipt configuration: receipts are then checked "
        "against Huawei's X-HUAWEI-CALLBACK-ID signature (optional)",
        secret=True,
        required=False,
    ),
)

APP_ID = re.compile(r"^[0-9]{1,32}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PRINTABLE = re.compile(r"^[\x21-\x7e]{1,255}$")


# -- the message ------------------------------------------------------------------------------


def _part(push: Push) -> dict:
    android = (push.message or {}).get("android")
    return android if isinstance(android, dict) else {}


def custom_data(push: Push, *, push_id: str) -> dict:
    """custom_content's keys (a JSON object serialised to a string), with title and content for
    a pass-through message, and ``xg_msgid`` last: a customer's key of that name never wins."""
    try:
        value = json.loads(_part(push).get("custom_content") or "{}")
    except ValueError:
        value = {}
    data = dict(value) if isinstance(value, dict) else {}
    if push.message_type != Push.MessageType.NOTIFY:
        data["title"], data["content"] = push.title, push.content
    data[PUSH_ID_KEY] = push_id
    return data


def compact(value: Any) -> bytes:
    """Compact UTF-8 JSON: what is sent is what is counted against the 4096 bytes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def ttl_seconds(push: Push, now: datetime) -> int:
    """The seconds left of the push at ``now``, within 1 s and 15 days."""
    if push.expire_time == 0:
        left = 1
    elif push.expires_at is None:
        left = push.expire_time
    else:
        left = math.ceil((push.expires_at - now).total_seconds())
    return min(max(1, left), MAX_TTL)


def click_action(android: dict) -> dict:
    """TPNS's action as Huawei's click_action (type 1 intent/action, 2 url, 3 open the app);
    Honor takes the same types."""
    action = android.get("action") if isinstance(android.get("action"), dict) else {}
    kind = action.get("action_type")
    if kind == 1 and action.get("activity"):
        return {"type": 1, "action": action["activity"]}
    if kind == 2 and (url := (action.get("browser") or {}).get("url")):
        return {"type": 2, "url": url}
    if kind == 3 and (intent := action.get("intent")):
        # An intent URI (scheme://…, intent:…, #Intent;…) or a plain intent action name.
        return (
            {"type": 1, "intent": intent}
            if ":" in intent or "#" in intent
            else {
                "type": 1,
                "action": intent,
            }
        )
    return {"type": 3}


def importance(android: dict) -> str | None:
    """hw_importance (TPNS: 1 marketing, 2 service) as LOW / NORMAL."""
    value = android.get("hw_importance")
    return IMPORTANCE.get(value.upper() if isinstance(value, str) else value)


def _message(push: Push, *, now: datetime, push_id: str) -> dict:
    android_in = _part(push)
    collapse_id = (push.options or {}).get("collapse_id")
    android: dict[str, Any] = {"bi_tag": push_id, "ttl": f"{ttl_seconds(push, now)}s"}
    if category := android_in.get("hw_category"):
        android["category"] = str(category)
    if isinstance(collapse_id, int) and 0 <= collapse_id <= 100:
        android["collapse_key"] = collapse_id
    if push.message_type == Push.MessageType.NOTIFY:
        notification: dict[str, Any] = {
            "title": push.title,
            "body": push.content,
            "click_action": click_action(android_in),
        }
        if channel := android_in.get("hw_ch_id") or android_in.get("n_ch_id"):
            notification["channel_id"] = str(channel)
        if level := importance(android_in):
            notification["importance"] = level
        if image := (push.message or {}).get("xg_media_resources"):
            notification["image"] = image
        # TPNS's collapse_id (every broadcast has one) replaces the notification on the device.
        if tag := collapse_id or push.collapse_id:
            notification["tag"] = str(tag)
        android["notification"] = notification
    else:
        android["urgency"] = "NORMAL"
    return {"data": compact(custom_data(push, push_id=push_id)).decode(), "android": android}


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as Push Kit's ``message`` without its tokens (one per push, any device).
    ValueError for what Huawei cannot carry (``problem`` refuses those at acceptance)."""
    if text := _refusal(push, push_id=push.push_id, now=now):
        raise ValueError(text[1])
    return _prepared(_message(push, now=now, push_id=push.push_id))


def _prepared(message: dict) -> Prepared:
    return Prepared(body=message, options={}, size=len(compact(message)))


def _refusal(push: Push, *, push_id: str, now: datetime) -> tuple[str, str] | None:
    category = _part(push).get("hw_category")
    if category and str(category) not in CATEGORIES:
        return (
            "message.android.hw_category",
            f"Huawei knows no message category {category!r} ({', '.join(sorted(CATEGORIES))})",
        )
    size = _prepared(_message(push, now=now, push_id=push_id)).size
    if size > MAX_MESSAGE_BYTES:
        return (
            "message",
            f"the Huawei message would be {size} bytes; Huawei carries at most "
            f"{MAX_MESSAGE_BYTES} (without the tokens)",
        )
    return None


def problem(push: Push) -> tuple[str, str] | None:
    """What Huawei cannot carry: an unknown hw_category, a message over 4096 bytes."""
    now = push.send_at or push.created_at or datetime.now(UTC)
    return _refusal(push, push_id=push.push_id if push.pk is not None else LONGEST_PUSH_ID, now=now)


def category(push: Push) -> Category:
    """hw_category unset or MARKETING: 资讯营销, capped per device and day by Huawei."""
    name = str(_part(push).get("hw_category") or "")
    if name in SERVICE_CATEGORIES:
        return Category(name, capped=False, note="hw_category: a service & communication type")
    if name == MARKETING:
        return Category(MARKETING, capped=True, note="hw_category MARKETING")
    return Category(MARKETING, capped=True, note="no hw_category: Huawei counts it as marketing")


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    return None


# -- credentials ------------------------------------------------------------------------------


def check_field(
    errors: dict[str, str], name: str, value: str, pattern: re.Pattern, missing: str, malformed: str
) -> None:
    """Put ``name``'s error in ``errors``: ``missing`` when blank (a required field),
    ``malformed`` when it does not match ``pattern`` (shared with Honor)."""
    if not value:
        if missing:
            errors[name] = missing
    elif not pattern.match(value):
        errors[name] = malformed


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """(config, {field: error}); client_id defaults to the App ID."""
    values = {field.name: str(form.get(field.name) or "").strip() for field in FIELDS}
    values["client_id"] = values["client_id"] or values["app_id"]
    errors: dict[str, str] = {}
    check_field(
        errors,
        "app_id",
        values["app_id"],
        APP_ID,
        "required: the App ID from AppGallery Connect",
        "must be Huawei's App ID: digits only",
    )
    check_field(
        errors, "client_id", values["client_id"], CLIENT_ID, "", "must be the OAuth client ID"
    )
    check_field(
        errors,
        "client_secret",
        values["client_secret"],
        PRINTABLE,
        "required: the App secret from AppGallery Connect",
        "must be the secret as Huawei shows it (no spaces)",
    )
    for name in ("receipt_user", "receipt_secret"):
        check_field(
            errors, name, values[name], PRINTABLE, "", "must be as Huawei shows it (no spaces)"
        )
    if values["receipt_secret"] and not values["receipt_user"]:
        # Huawei signs with the user name: a key alone cannot be checked.
        errors["receipt_user"] = "required with a receipt key (Huawei signs with both)"
    return ({}, errors) if errors else (values, {})


# -- answers ----------------------------------------------------------------------------------


def _payload(body: bytes) -> dict:
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def illegal_tokens(msg: Any) -> dict[str, str] | None:
    """The failed tokens of a partial answer's ``msg`` as {token: reason}: v1's
    ``illegal_tokens`` list (reason ``illegal_token``) or v3's ``illegalTokens`` {reason:
    [...]}. None when ``msg`` says nothing readable."""
    try:
        value = json.loads(msg) if isinstance(msg, str) else msg
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    found: dict[str, str] = {}
    listed = value.get("illegal_tokens")
    if isinstance(listed, list):
        found.update((str(token), ILLEGAL) for token in listed)
    grouped = value.get("illegalTokens")
    if isinstance(grouped, dict):
        for reason, tokens in grouped.items():
            if isinstance(tokens, list):
                found.update((str(token), str(reason)) for token in tokens)
    if not found and not isinstance(listed, list) and not isinstance(grouped, dict):
        return None
    return found


def classify(
    status: int, body: bytes, tokens: list[str], retry_after: str | None, *, now: datetime
) -> list[Answer]:
    """Huawei's answer to one messages:send for ``tokens``, one Answer per token in order."""
    payload = _payload(body)
    code = str(payload.get("code") or "")
    request_id = str(payload.get("requestId") or "")
    wait = retry_after_seconds(retry_after, now=now)

    def every(answer: Answer) -> list[Answer]:
        return [answer] * len(tokens)

    if status == 503:  # Huawei's traffic control: the app's QPS or the whole system's
        return every(Answer(Result.RETRY, reason="503", status=status, retry_after=wait))
    if status == 429 or status >= 500 or code == INTERNAL:
        reason = code or f"HTTP {status}"
        return every(Answer(Result.RETRY, reason=reason, status=status, retry_after=wait))
    if code == SUCCESS:
        return every(Answer(Result.ACCEPTED, message_id=request_id, status=status))
    if code in (PARTIAL, ALL_INVALID):
        failed = illegal_tokens(payload.get("msg"))
        if failed is None and code == PARTIAL:
            # Some were taken, and nobody can say which: none is sent again blindly.
            return every(Answer(Result.LOST, reason=code, status=status))
        failed = failed or {}
        answers = []
        for token in tokens:
            if token in failed or code == ALL_INVALID:
                reason = failed.get(token, code)
                prune = reason not in KEPT_REASONS
                answers.append(Answer(Result.REFUSED, reason=reason, status=status, prune=prune))
            else:
                answers.append(Answer(Result.ACCEPTED, message_id=request_id, status=status))
        return answers
    if code == EXPIRED or (status == 401 and code != AUTH_ERROR):
        # Still refused after a fresh token (the caller replaced it once): later.
        return every(Answer(Result.RETRY, reason=code or "401", status=status))
    return every(Answer(Result.REFUSED, reason=code or f"HTTP {status}", status=status))


REASONS = {
    SUCCESS: "Huawei took the message",
    PARTIAL: "Huawei took the message for some of the tokens only",
    ILLEGAL: "Huawei says the token is invalid (malformed, of another app, or expired)",
    ALL_INVALID: "Huawei says every token of the request is invalid",
    "80100001": "some request parameters are wrong",
    "80100003": "Huawei found the message body invalid (a field or its value)",
    "80100004": "the message's expiry is already past",
    "80100016": "Huawei found sensitive content in the message",
    "80100017": "the push task failed on Huawei's side",
    AUTH_ERROR: "Huawei refused the access token: the client ID is not of this App ID (check "
    "the App ID and the client ID/secret)",
    EXPIRED: "Huawei said the access token expired, even a freshly issued one",
    "80300002": "the app may not send this message (Push Kit not enabled, or no permission)",
    "80300008": "the message is over 4096 bytes (without the tokens)",
    "80300010": "the request names too many tokens (at most 1000)",
    "80300013": "the receipt URL of the message is wrong",
    INTERNAL: "Huawei had an internal error",
    "503": "Huawei's traffic control (the app's QPS, or the whole system at peak time)",
    "401": "Huawei refused the access token",
    "tokenFormatError": "the token is malformed",
    "noRight": "the token was issued for another app or project",
    "tokenPlatformNotSupport": "the token is a third-party proxy token Huawei does not take",
    "noPushTypeRight": "the app lacks the permission for this kind of message",
    "disableSendHuaweiMsgBecauseOfPenalty": "the app is penalised by Huawei for a violation",
    "countryNotSupport": "Huawei does not push to the device's country",
    "token_refused": "Huawei's OAuth server refused the client ID and secret",
    "token_unavailable": "no access token could be had from Huawei's OAuth server",
}


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    return vendor.describe(answer, vendor="Huawei", reasons=REASONS)


# -- the client -------------------------------------------------------------------------------


def client(config: dict, *, environment: str, clock=None) -> HuaweiClient:
    """A client on the checked config (Huawei has no environments; receipts are configured in
    AppGallery Connect, so ``receipt_url`` is not sent)."""
    base = settings.PUSH_HUAWEI_URL.rstrip("/")
    app_id = urllib.parse.quote(config["app_id"], safe="")
    return HuaweiClient(
        client_id=config.get("client_id") or config["app_id"],
        client_secret=config["client_secret"],
        token_url=settings.PUSH_HUAWEI_TOKEN_URL,
        send_url=f"{base}/v1/{app_id}/messages:send",
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
        clock=clock,
    )


def with_tokens(prepared: Prepared, tokens: list[str]) -> bytes:
    """The prepared message with ``tokens`` spliced in: serialised once per request, the
    message's own bytes as prepared and counted."""
    inner = compact(prepared.body)[1:-1]
    return b"{" + inner + (b"," if inner else b"") + b'"token":' + compact(tokens) + b"}"


class HuaweiClient(VendorClient):
    """One access token shared by every request (``tokens``), up to 1000 tokens a request.
    Honor's client overrides ``body``, ``headers`` and ``classify``."""

    MAX_TOKENS = MAX_TOKENS
    classify = staticmethod(classify)

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        send_url: str,
        ca_file: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(ca_file=ca_file, timeout=timeout)
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._token_url = token_url
        self.send_url = send_url
        self.tokens = TokenCache(self._fetch_token, clock=clock)

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self.http.post(self._token_url, data=self._form)
        payload = _payload(response.content)
        token = payload.get("access_token")
        if response.status_code == 200 and isinstance(token, str) and token:
            lifetime = payload.get("expires_in")
            ok = isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            return token, float(lifetime) if ok and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        if 400 <= response.status_code < 500 and response.status_code != 429:
            # The OAuth server refused the client ID or secret: fixing the credentials helps.
            raise AuthTrouble(
                Answer(Result.REFUSED, reason="token_refused", status=response.status_code)
            )
        raise AuthTrouble(
            Answer(Result.RETRY, reason="token_unavailable", status=response.status_code)
        )

    def body(self, prepared: Prepared, tokens: list[str]) -> bytes:
        return b'{"validate_only":false,"message":' + with_tokens(prepared, tokens) + b"}"

    def headers(self, access_token: str) -> dict[str, str]:
        return {
            "authorization": f"Bearer {access_token}",
            "content-type": "application/json; charset=UTF-8",
        }

    def expired(self, response: httpx.Response) -> bool:
        """The vendor says our access token expired or is unknown: replace it once."""
        return response.status_code == 401 or _payload(response.content).get("code") in (
            EXPIRED,
            int(EXPIRED),
        )

    def answers(self, response: httpx.Response, tokens: list[str]) -> list[Answer]:
        return self.classify(
            response.status_code,
            response.content,
            tokens,
            response.headers.get("retry-after"),
            now=datetime.now(UTC),
        )

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        body = self.body(prepared, tokens)
        access_token = await self.tokens.get()
        response = await self.http.post(
            self.send_url, content=body, headers=self.headers(access_token)
        )
        if self.expired(response):
            access_token = await self.tokens.get(refused=access_token)
            response = await self.http.post(
                self.send_url, content=body, headers=self.headers(access_token)
            )
        return self.answers(response, tokens)


# -- receipts ---------------------------------------------------------------------------------

ARRIVED_STATUSES = frozenset({0})
OFF_STATUSES = frozenset({6})
INVALID_STATUSES = frozenset({2, 5, 10})
NOT_SHOWN_STATUSES = frozenset({14, 15, 22, 31, 102, 144, 201})
# Dropped by the marketing category's daily cap: the built-in channel carries it instead.
CAPPED_STATUSES = frozenset({256})


def receipt_kind(status: int) -> ReceiptKind:
    if status in ARRIVED_STATUSES:
        return ReceiptKind.ARRIVED
    if status in OFF_STATUSES:
        return ReceiptKind.NOTIFICATIONS_OFF
    if status in INVALID_STATUSES:
        return ReceiptKind.INVALID_TOKEN
    if status in NOT_SHOWN_STATUSES:
        return ReceiptKind.NOT_SHOWN
    if status in CAPPED_STATUSES:
        return ReceiptKind.OVER_QUOTA
    return ReceiptKind.OTHER


def callback_signature(secret: str, timestamp: str, nonce: str, user: str) -> str:
    """Huawei's X-HUAWEI-CALLBACK-ID value: Base64(HMAC-SHA256(key, timestamp+nonce+user))."""
    digest = hmac.new(secret.encode(), (timestamp + nonce + user).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _check_signature(headers: Mapping[str, str], config: dict, now: float) -> None:
    header = next((v for k, v in headers.items() if k.lower() == "x-huawei-callback-id"), "")
    if not header:
        raise ReceiptError(
            "no X-HUAWEI-CALLBACK-ID header: the receipt is not signed", forbidden=True
        )
    parts = {}
    for item in header.split(";"):
        name, _, value = item.strip().partition("=")  # the Base64 value may end in "="
        parts[name.strip().lower()] = value.strip()
    timestamp, nonce, value = (
        parts.get("timestamp", ""),
        parts.get("nonce", ""),
        parts.get("value", ""),
    )
    if not (timestamp.isdigit() and nonce and value):
        raise ReceiptError("X-HUAWEI-CALLBACK-ID lacks timestamp, nonce or value", forbidden=True)
    expected = callback_signature(
        config["receipt_secret"], timestamp, nonce, config.get("receipt_user") or ""
    )
    if not hmac.compare_digest(expected.encode(), value.encode()):
        raise ReceiptError("the X-HUAWEI-CALLBACK-ID signature does not match", forbidden=True)
    if abs(now - int(timestamp) / 1000) > RECEIPT_SKEW:
        raise ReceiptError("the X-HUAWEI-CALLBACK-ID timestamp is too old", forbidden=True)


def receipt_lines(body: bytes) -> list[Receipt]:
    """The ``statuses`` of a receipt body (Huawei's V1 layout; Honor's too, assumed). A line
    without a token is skipped; a body that is not such an object is a ReceiptError."""
    payload = receipt_json(body)
    statuses = payload.get("statuses") if isinstance(payload, dict) else None
    if not isinstance(statuses, list):
        raise ReceiptError('the receipt has no "statuses" list')
    if len(statuses) > MAX_RECEIPT_LINES:
        raise ReceiptError(f"the receipt has more than {MAX_RECEIPT_LINES} statuses")
    receipts = []
    for line in statuses:
        if (
            not isinstance(line, dict)
            or not isinstance(line.get("token"), str)
            or not line["token"]
        ):
            continue
        status = line.get("status")
        if isinstance(status, str) and status.lstrip("-").isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool):
            raise ReceiptError(f"a status is not a number: {status!r}")
        stamp = line.get("timestamp")
        at = None
        if isinstance(stamp, int | float) and not isinstance(stamp, bool) and stamp > 0:
            at = datetime.fromtimestamp(stamp / 1000, UTC)
        receipts.append(
            Receipt(
                token=line["token"],
                push_id=str(line.get("biTag") or ""),
                kind=receipt_kind(status),
                at=at,
                status=str(status),
            )
        )
    return receipts


def parse_receipts(
    body: bytes,
    *,
    content_type: str,
    headers: Mapping[str, str],
    config: dict,
    now: float | None = None,
) -> list[Receipt]:
    """Huawei's receipt callback as Receipts; the signature is checked when the config has a
    receipt key (``now``: seconds since the epoch, for tests)."""
    if config.get("receipt_secret"):
        _check_signature(headers, config, time.time() if now is None else now)
    return receipt_lines(body)


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    return 200, "application/json", compact({"errno": 0, "errmsg": "success"})
