"""Honor Push (Magic UI ≥ 6; older Honor phones are on Huawei's channel): the push's message,
the credentials, a client on ``huawei.HuaweiClient``, and the receipt callback. Honor's Push
server API grew out of Huawei's, so the auth recipe, the click actions, the ttl and the data
come from ``huawei``; the request and the answer differ.

Where the facts come from. Honor's own guide "发送下行消息" (its text, republished by Honor's
developer account, 2023-11) confirms: the token request ``POST …/auth/token``-style form
``grant_type=client_credentials, client_id, client_secret`` at iam.developer.hihonor.com (the
guide shows the path ``/auth/realms/developer/protocol/openid-connect/token``, the
PUSH_HONOR_TOKEN_URL default; several clients use ``iam.developer.honor.com/auth/token``), the send
``POST {PUSH_HONOR_URL}/api/v1/{app_id}/sendMessage`` with ``Authorization: Bearer`` and a
``timestamp`` header (milliseconds), and the body: top level ``data`` (a string),
``android.notification {title, body, clickAction {type}}`` and ``token: [...]`` — no
``validate_only``/``message`` wrapper, camelCase names. Honor's reference pages (downlink
message fields, answer codes, receipts) were not retrievable; what follows them is taken from
independent third-party clients that agree, and is NOT confirmed by Honor:

- fields ``android.biTag``, ``android.ttl`` ("Ns", at most 15 days), ``notification.image``,
  ``importance`` (LOW = 资讯营销, NORMAL = 服务与通讯), ``tag``, click types as Huawei's;
- the answer ``{"code": 200, "message": …, "data": {"sendResult", "requestId",
  "failTokens": [...], "expireTokens": [...]}}``: expired tokens are pruned, failed ones
  refused and kept, the rest ACCEPTED (message_id = requestId); any other code is REFUSED
  (HTTP 429/5xx RETRY); an expired access token is taken to be HTTP 401 or 80200003 as at
  Huawei (then replaced once);
- ≤1000 tokens a request and 4096 bytes without them, as at Huawei;
- receipts: configured with Honor (per TPNS, by asking Honor's push team), in Huawei's V1
  layout ``{"statuses": [{biTag, token, status, timestamp}]}`` with Huawei's statuses, and no
  signature: the receipt URL's own secret is the only check.

Honor has no channel id of its own in a TPNS message and no custom notification channels, and
its category is the notification's ``importance``: hw_category of a service type or
hw_importance 2 → NORMAL (service, not capped), otherwise LOW (marketing, capped per device and
day like Huawei's). No answer is known to mean a spent daily quota, so there is no OVER_QUOTA.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from push.models import ChannelKind, Push

from . import huawei, vendor
from .base import Answer, Category, CredentialField, Prepared, Receipt, Result
from .fcm import retry_after_seconds

KIND = ChannelKind.HONOR
TPNS_NAME = "honor"
RECEIPTS = "console"
MAX_TOKENS = huawei.MAX_TOKENS
MAX_MESSAGE_BYTES = huawei.MAX_MESSAGE_BYTES
SUCCESS = 200
TOKEN_EXPIRED = 80200003

FIELDS: tuple[CredentialField, ...] = (
    CredentialField(
        "app_id",
        "App ID",
        help="Honor developer console → the app's Push service: APP ID (digits)",
        max_length=32,
    ),
    CredentialField(
        "client_id",
        "Client ID",
        help="The app's Client ID from the same page",
        max_length=64,
    ),
    CredentialField(
        "client_secret",
        "Client secret",
        help="The app's Client Secret from the same page",
        secret=True,
    ),
)


FIELD_LABELS = {field.name: field.label for field in FIELDS}


# -- the message ------------------------------------------------------------------------------


def honor_importance(push: Push) -> str:
    android = huawei._part(push)
    if str(android.get("hw_category") or "") in huawei.SERVICE_CATEGORIES:
        return "NORMAL"
    return "NORMAL" if huawei.importance(android) == "NORMAL" else "LOW"


def _message(push: Push, *, now: datetime, push_id: str) -> dict:
    android_in = huawei._part(push)
    android: dict[str, Any] = {"biTag": push_id, "ttl": f"{huawei.ttl_seconds(push, now)}s"}
    if push.message_type == Push.MessageType.NOTIFY:
        notification: dict[str, Any] = {
            "title": push.title,
            "body": push.content,
            "clickAction": huawei.click_action(android_in),
            "importance": honor_importance(push),
        }
        if image := (push.message or {}).get("xg_media_resources"):
            notification["image"] = image
        if tag := (push.options or {}).get("collapse_id") or push.collapse_id:
            notification["tag"] = str(tag)
        android["notification"] = notification
    data = huawei.custom_data(push, push_id=push_id)
    return {"data": huawei.compact(data).decode(), "android": android}


def _size_problem(push: Push, *, push_id: str, now: datetime) -> tuple[str, str] | None:
    size = len(huawei.compact(_message(push, now=now, push_id=push_id)))
    if size > MAX_MESSAGE_BYTES:
        return (
            "message",
            f"the Honor message would be {size} bytes; Honor carries at most "
            f"{MAX_MESSAGE_BYTES} (without the tokens)",
        )
    return None


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as Honor's sendMessage body without ``token``. ValueError when too big."""
    if found := _size_problem(push, push_id=push.push_id, now=now):
        raise ValueError(found[1])
    message = _message(push, now=now, push_id=push.push_id)
    return Prepared(body=message, options={}, size=len(huawei.compact(message)))


def problem(push: Push) -> tuple[str, str] | None:
    now = push.send_at or push.created_at or datetime.now(UTC)
    push_id = push.push_id if push.pk is not None else huawei.LONGEST_PUSH_ID
    return _size_problem(push, push_id=push_id, now=now)


def category(push: Push) -> Category:
    if honor_importance(push) == "NORMAL":
        return Category("NORMAL", capped=False, note="服务与通讯 (hw_category or hw_importance)")
    return Category("LOW", capped=True, note="资讯营销: Honor caps it per device and day")


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    return None


# -- credentials ------------------------------------------------------------------------------


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """(config, {field: error}): Honor's console shows the three values apart."""
    values = {field.name: str(form.get(field.name) or "").strip() for field in FIELDS}
    errors: dict[str, str] = {}
    for name, pattern, malformed in (
        ("app_id", huawei.APP_ID, "must be Honor's APP ID: digits only"),
        ("client_id", huawei.CLIENT_ID, "must be the Client ID (letters, digits, ._-)"),
        ("client_secret", huawei.PRINTABLE, "must be as Honor shows it (no spaces)"),
    ):
        required = f"required: the {FIELD_LABELS[name]} of the app's Push service"
        huawei.check_field(errors, name, values[name], pattern, required, malformed)
    return ({}, errors) if errors else (values, {})


# -- answers ----------------------------------------------------------------------------------


def classify(
    status: int, body: bytes, tokens: list[str], retry_after: str | None, *, now: datetime
) -> list[Answer]:
    """Honor's answer to one sendMessage for ``tokens``, one Answer per token in order."""
    payload = huawei._payload(body)
    code = payload.get("code")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if status == 429 or status >= 500:
        wait = retry_after_seconds(retry_after, now=now)
        return [
            Answer(Result.RETRY, reason=f"HTTP {status}", status=status, retry_after=wait)
        ] * len(tokens)
    if str(code) != str(SUCCESS):
        if status == 401 or str(code) == str(TOKEN_EXPIRED):
            reason = str(code or "401")
            return [Answer(Result.RETRY, reason=reason, status=status)] * len(tokens)
        reason = str(code) if code not in (None, "") else f"HTTP {status}"
        return [Answer(Result.REFUSED, reason=reason, status=status)] * len(tokens)
    expired = set(_strings(data.get("expireTokens")))
    failed = set(_strings(data.get("failTokens")))
    request_id = str(data.get("requestId") or "")
    if data.get("sendResult") is False and not expired and not failed:
        return [Answer(Result.REFUSED, reason="send_failed", status=status)] * len(tokens)
    answers = []
    for token in tokens:
        if token in expired:
            answers.append(Answer(Result.REFUSED, reason="expireTokens", status=status, prune=True))
        elif token in failed:
            answers.append(Answer(Result.REFUSED, reason="failTokens", status=status))
        else:
            answers.append(Answer(Result.ACCEPTED, message_id=request_id, status=status))
    return answers


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


REASONS = {
    "expireTokens": "Honor says the token expired (the app was uninstalled or the token renewed)",
    "failTokens": "Honor could not send to this token",
    "send_failed": "Honor did not send the message (sendResult false)",
    str(TOKEN_EXPIRED): "Honor said the access token expired, even a freshly issued one",
    "401": "Honor refused the access token",
    "token_refused": "Honor's IAM server refused the client ID and secret",
    "token_unavailable": "no access token could be had from Honor's IAM server",
}


def describe(answer: Answer) -> str:
    return vendor.describe(answer, vendor="Honor", reasons=REASONS)


# -- the client -------------------------------------------------------------------------------


def client(config: dict, *, environment: str, clock=None) -> HonorClient:
    base = settings.PUSH_HONOR_URL.rstrip("/")
    app_id = urllib.parse.quote(config["app_id"], safe="")
    return HonorClient(
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        token_url=settings.PUSH_HONOR_TOKEN_URL,
        send_url=f"{base}/api/v1/{app_id}/sendMessage",
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
        clock=clock,
    )


class HonorClient(huawei.HuaweiClient):
    """Huawei's client with Honor's body (no wrapper), ``timestamp`` header and answers."""

    classify = staticmethod(classify)

    def body(self, prepared: Prepared, tokens: list[str]) -> bytes:
        return huawei.with_tokens(prepared, tokens)

    def headers(self, access_token: str) -> dict[str, str]:
        return super().headers(access_token) | {"timestamp": str(int(time.time() * 1000))}


# -- receipts ---------------------------------------------------------------------------------


def parse_receipts(
    body: bytes, *, content_type: str, headers: Mapping[str, str], config: dict
) -> list[Receipt]:
    """Honor's receipt, read in Huawei's V1 layout (unconfirmed, see above); unsigned."""
    return huawei.receipt_lines(body)


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    return huawei.receipt_reply(count)
