"""Xiaomi MiPush (HyperOS/MIUI), server API v3: the push's form fields, the credentials an owner
uploads (package name, AppSecret, the devices' region), an httpx client for
``POST {host}/v3/message/regid``, and the per-message receipts Xiaomi posts back. Wire format:
/work/shared/reference/channels.md section 4.

Confirmed in Xiaomi's documentation (dev.mi.com/xiaomihyperos/documentation):

- pId 1559 / 1696 (server API addresses and parameters): the v3 regid endpoint, the header
  ``Authorization: key=<AppSecret>`` (``key`` in lower case), form-encoded fields
  ``registration_id`` (comma list), ``restricted_package_name``, ``payload``, ``title``
  (shorter than 50 characters), ``description`` (shorter than 128), ``pass_through``,
  ``notify_type``, ``time_to_live`` (ms), ``notify_id`` (one notification per notify_id: without
  it every push would replace the previous one), ``extra.*``; the region hosts (China
  api.xmpush.xiaomi.com; Singapore sgp-api, Europe (EEA + UK) fr-api, India idmb-api, Russia
  ru-api, all ``.xmpush.global.xiaomi.com``); messages are sent to the host of the devices'
  region.
- pId 1560 (server error codes): the numeric ``code`` table ``REASONS`` is taken from.
- pId 1695 / 1558 (server Java SDK): the invalid-regid Feedback API is retired; invalid targets
  are reported by the receipt with ``callback.type`` 16.

From third-party clients and Xiaomi support replies quoted in them, NOT in Xiaomi's own pages
the search tool could open (say so when something goes wrong):

- receipts: posted as the form field ``data``, a JSON object keyed by message id
  ``{"<msgId>": {"param", "type", "targets" (comma list), "jobkey", "barStatus",
  "timestamp" (ms)}}``, one type per entry; the types 1 delivered, 2 clicked, 16 invalid
  target, 32 push disabled, 64 filtered, 128 over the daily limit, 1024 expired; a full
  subscription is 243 (Xiaomi support: "3 already contains 1 and 2"). 32 is taken as NOT_SHOWN,
  not NOTIFICATIONS_OFF, until Xiaomi's page says it is the device's notification switch.
  Some older clients say the callback URL must be http (not https).
- answers: ``data.bad_regids`` (comma list) names the regids of an accepted request that were
  invalid; code 20301 with reason "No valid targets!" when none was valid; ``extra.only_send_once``
  = 1 for a message that is never stored for an offline device.
- the payload's size limit (4096 bytes here, Xiaomi's 65009 "message too long" names none).
"""

from __future__ import annotations

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

KIND = ChannelKind.XIAOMI
TPNS_NAME = "xm"
MAX_TOKENS = 1000  # registration_id: at most 1000 regids per request
RECEIPTS = "per_message"
# Xiaomi carries pass-through messages (pass_through=1): TPNS message pushes go that way.
PASS_THROUGH = True
SEND_PATH = "/v3/message/regid"
REGION_HOSTS = {
    "china": "https://api.xmpush.xiaomi.com",
    "singapore": "https://sgp-api.xmpush.global.xiaomi.com",
    "europe": "https://fr-api.xmpush.global.xiaomi.com",
    "india": "https://idmb-api.xmpush.global.xiaomi.com",
    "russia": "https://ru-api.xmpush.global.xiaomi.com",
}
FIELDS = (
    CredentialField(
        "package_name",
        "Package name",
        help="The Android application's package name, as registered with Xiaomi "
        "(restricted_package_name).",
    ),
    CredentialField(
        "region",
        "Devices' region",
        help="Xiaomi stores a device's regid in its region: a message goes to that region's "
        "host. Apps in several regions need one set of credentials each.",
        choices=(
            ("china", "Mainland China (api.xmpush.xiaomi.com)"),
            ("singapore", "Other countries (sgp-api.xmpush.global.xiaomi.com)"),
            ("europe", "EEA and UK (fr-api.xmpush.global.xiaomi.com)"),
            ("india", "India (idmb-api.xmpush.global.xiaomi.com)"),
            ("russia", "Russia (ru-api.xmpush.global.xiaomi.com)"),
        ),
        default="china",
    ),
    CredentialField(
        "app_secret",
        "AppSecret",
        help="Xiaomi Open Platform → the app → Push service → AppSecret (the server's key).",
        secret=True,
    ),
)

SECRET_FIELD = FIELDS[-1].name
PUSH_ID_KEY = "xg_msgid"
LONGEST_PUSH_ID = fcm.LONGEST_PUSH_ID
# What extra.callback.type asks for: delivered 1, clicked 2, invalid target 16, push disabled
# 32, filtered 64, over the daily limit 128 (Xiaomi support's "243" full subscription).
CALLBACK_TYPE = 1 | 2 | 16 | 32 | 64 | 128
MAX_TITLE = 49  # "shorter than 50 characters", counting each character as one
MAX_DESCRIPTION = 127  # "shorter than 128"
MAX_PAYLOAD_BYTES = 4096
MAX_TTL = 14 * 24 * 3600  # Xiaomi keeps an offline message two weeks at most
MAX_NOTIFY_ID = 2**31 - 1  # an int on the device
# Xiaomi's own extra.* keys: a custom_content key of one of these names would change how the
# message is shown or sent, so it is refused rather than sent as data.
RESERVED_EXTRAS = frozenset(
    {
        "sound_uri",
        "ticker",
        "notify_foreground",
        "notify_effect",
        "intent_uri",
        "web_uri",
        "flow_control",
        "layout_name",
        "layout_value",
        "jobkey",
        "callback",
        "locale",
        "locale_not_in",
        "model",
        "model_not_in",
        "app_version",
        "app_version_not_in",
        "connpt",
        "only_send_once",
        "channel_id",
        "channel_name",
        "alert_title",
        "alert_description",
        "notification_style_type",
        "notification_large_icon_uri",
        "notification_bigPic_uri",
        "notification_group",
        "notification_show_when",
        "notification_small_icon_uri",
        "notification_colorized",
    }
)
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_SECRET = re.compile(r"^[!-~]{8,255}$")  # printable ASCII, no space: it goes in a header


# -- the message ----------------------------------------------------------------------------


def prepare(push: Push, *, now: datetime) -> Prepared:
    """The push as Xiaomi's form fields, without ``registration_id`` and ``extra.callback``
    (the client adds them: the regids per request, the callback URL from the config).
    ValueError for what Xiaomi cannot carry (``problem`` refuses it at acceptance)."""
    if (trouble := _trouble(push, push_id=push.push_id, now=now)) is not None:
        raise ValueError(trouble[1])
    fields = _fields(push, now=now, push_id=push.push_id)
    options = {}
    if activity := fields.pop("__activity__", None):
        options["activity"] = activity
    return Prepared(body=fields, options=options, size=len(urlencode(fields).encode()))


def problem(push: Push) -> tuple[str, str] | None:
    """What Xiaomi cannot carry: an over-long or blank title/description, a payload over its
    size, a custom_content key Xiaomi reserves."""
    now = push.send_at or push.created_at or datetime.now(UTC)
    push_id = push.push_id if push.pk is not None else LONGEST_PUSH_ID
    return _trouble(push, push_id=push_id, now=now)


def _trouble(push: Push, *, push_id: str, now: datetime) -> tuple[str, str] | None:
    if push.message_type == Push.MessageType.NOTIFY:
        if not push.title.strip():
            return ("message.title", "Xiaomi needs a notification title that is not blank")
        if len(push.title) > MAX_TITLE:
            return ("message.title", f"Xiaomi shows at most {MAX_TITLE} characters of title")
        if not push.content.strip():
            return ("message.content", "Xiaomi needs a notification content that is not blank")
        if len(push.content) > MAX_DESCRIPTION:
            return (
                "message.content",
                f"Xiaomi shows at most {MAX_DESCRIPTION} characters of content",
            )
    for key in _custom_content(push):
        if key in RESERVED_EXTRAS or key.startswith("callback"):
            return (
                "message.android.custom_content",
                f'Xiaomi reserves the extra key "{key}" (its own display and callback fields)',
            )
    size = len(_fields(push, now=now, push_id=push_id)["payload"].encode())
    if size > MAX_PAYLOAD_BYTES:
        return (
            "message",
            f"the Xiaomi payload would be {size} bytes; Xiaomi carries at most {MAX_PAYLOAD_BYTES}",
        )
    return None


def _android(push: Push) -> dict:
    part = (push.message or {}).get("android")
    return part if isinstance(part, dict) else {}


def _custom_content(push: Push) -> dict:
    return fcm._custom_content(_android(push))


def _extra_value(value: Any) -> str:
    return value if isinstance(value, str) else fcm._compact(value).decode()


def _seconds_left(push: Push, now: datetime) -> int:
    if push.expire_time == 0:
        return 0
    if push.expires_at is None:
        return min(push.expire_time, MAX_TTL)
    return min(max(0, math.ceil((push.expires_at - now).total_seconds())), MAX_TTL)


def _notify_id(push: Push, push_id: str) -> int:
    """The notification's slot on the device: the push's collapse_id (a newer push of the same
    id replaces it, as TPNS's collapse did), else one slot per push."""
    collapse_id = (push.options or {}).get("collapse_id")
    if isinstance(collapse_id, int) and not isinstance(collapse_id, bool):
        return collapse_id % MAX_NOTIFY_ID
    return int(push_id) % MAX_NOTIFY_ID if push_id.isdigit() else 0


def _notify_type(android: dict) -> int:
    """notify_type: -1 all defaults, else the OR of sound 1, vibration 2, lights 4."""
    bits = 0
    if android.get("ring", 1) != 0:
        bits |= 1
    if android.get("vibrate", 1) != 0:
        bits |= 2
    if android.get("lights", 1) != 0:
        bits |= 4
    return -1 if bits == 7 else bits


def _fields(push: Push, *, now: datetime, push_id: str) -> dict[str, str]:
    android = _android(push)
    custom = _custom_content(push)
    notify = push.message_type == Push.MessageType.NOTIFY
    fields: dict[str, str] = {"pass_through": str(int(not notify))}
    data = {str(key): value for key, value in custom.items()}
    if notify:
        fields["title"] = push.title
        fields["description"] = push.content
        if (bits := _notify_type(android)) != 0:
            fields["notify_type"] = str(bits)
        fields["notify_id"] = str(_notify_id(push, push_id))
        fields.update(_click(android))
    else:
        data["title"] = push.title
        data["content"] = push.content
    data[PUSH_ID_KEY] = push_id  # last: a customer's key of that name never replaces ours
    # The payload reaches the app as MiPushMessage.getContent() (pass-through, or a click);
    # the extras as getExtra(), for the arrival too.
    fields["payload"] = fcm._compact(data).decode()
    for key, value in custom.items():
        fields[f"extra.{key}"] = _extra_value(value)
    fields[f"extra.{PUSH_ID_KEY}"] = push_id
    if channel := android.get("xm_ch_id") or android.get("n_ch_id"):
        fields["extra.channel_id"] = str(channel)
    seconds = _seconds_left(push, now)
    if seconds:
        fields["time_to_live"] = str(seconds * 1000)
    else:  # real time only: never stored for a device that is offline
        fields["extra.only_send_once"] = "1"
    fields["extra.callback.param"] = push_id
    fields["extra.callback.type"] = str(CALLBACK_TYPE)
    return fields


def _click(android: dict) -> dict[str, str]:
    """The click: 1 the launcher activity, 2 an activity of the app by intent URI, 3 a web
    page. TPNS's activity becomes a component intent URI of the app's package."""
    action = android.get("action")
    if not isinstance(action, dict):
        return {"extra.notify_effect": "1"}
    action_type = action.get("action_type")
    if action_type == 1 and (activity := action.get("activity")):
        # An intent URI naming the component needs the package, which only the credentials
        # know: the client writes it (``Prepared.options["activity"]``).
        return {"extra.notify_effect": "2", "__activity__": str(activity)}
    if action_type == 2 and (url := (action.get("browser") or {}).get("url")):
        return {"extra.notify_effect": "3", "extra.web_uri": str(url)}
    if action_type == 3 and (intent := action.get("intent")):
        return {"extra.notify_effect": "2", "extra.intent_uri": str(intent)}
    return {"extra.notify_effect": "1"}


def activity_uri(package: str, activity: str) -> str:
    """The intent URI that opens ``activity`` (a class name; ".Name" is in the package)."""
    return f"intent:#Intent;component={package}/{activity};end"


# -- credentials ----------------------------------------------------------------------------


def check_credentials(form: dict[str, str]) -> tuple[dict, dict]:
    """The package name, region (default china) and AppSecret: (config, {field: error})."""
    errors: dict[str, str] = {}
    package = str(form.get("package_name") or "").strip()
    region = str(form.get("region") or "").strip() or "china"
    secret = str(form.get("app_secret") or "").strip()
    if not package:
        errors["package_name"] = "required: the app's package name (com.example.app)"
    elif not _PACKAGE.match(package) or len(package) > 255:
        errors["package_name"] = "must be an Android package name (com.example.app)"
    if region not in REGION_HOSTS:
        errors["region"] = f"must be one of {', '.join(REGION_HOSTS)}"
    if not secret:
        errors[SECRET_FIELD] = "required: the app's AppSecret from the Xiaomi Open Platform"
    elif not _SECRET.match(secret):
        errors[SECRET_FIELD] = "must be the AppSecret as Xiaomi shows it (letters, digits, +/=)"
    if errors:
        return {}, errors
    return {"package_name": package, "region": region, "app_secret": secret}, {}


# -- answers --------------------------------------------------------------------------------

# Xiaomi's server error codes (pId 1560) that a send can meet, in words for a person.
REASONS = {
    "-1": "Xiaomi reported an unknown error",
    "1": "Xiaomi had an internal error",
    "10001": "Xiaomi had a system error",
    "10002": "Xiaomi was busy",
    "10003": "a remote service of Xiaomi failed",
    "10008": "Xiaomi found a parameter wrong",
    "10012": "Xiaomi refused the request as illegal",
    "10016": "Xiaomi missed a required parameter",
    "10017": "Xiaomi found a parameter value illegal",
    "10027": "the app called Xiaomi's API too often (QPS exceeded)",
    "10031": "Xiaomi has put the app on its blacklist: it may not send",
    "10034": "the app has sent too many messages today (its daily quota is spent)",
    "10036": "Xiaomi forbids this operation for the app",
    "10037": "the request expired before Xiaomi handled it",
    "20301": "Xiaomi could not send the message",
    "21301": "Xiaomi refused the AppSecret (authentication failed): check the credentials",
    "21302": "Xiaomi refused the token (authentication failed)",
    "21303": "Xiaomi restricted the request",
    "21305": "Xiaomi missed a required parameter",
    "22000": "Xiaomi does not know the app",
    "22006": "Xiaomi found the app ID illegal",
    "22007": "Xiaomi found the app key illegal",
    "22022": "Xiaomi found the package name illegal: check the credentials' package name",
    "22102": "Xiaomi could not send the app's notification",
    "26003": "Xiaomi's push service failed internally",
    "26006": "Xiaomi holds the message for review: review it in Xiaomi's console",
    "27001": "the channel does not match Xiaomi's (an unknown or another app's channel ID)",
    "65009": "the message content is too long for Xiaomi",
    "65014": "the message has too many extra keys for Xiaomi",
    "65015": "the message's extra keys are too long in total for Xiaomi",
    "65036": "the callback parameter is too long for Xiaomi",
    "65037": "the callback URL is too long for Xiaomi",
    "65038": "Xiaomi found the callback URL illegal",
    # Ours.
    "bad_regid": "Xiaomi does not know this regid (uninstalled, or registered again)",
    "no_valid_targets": "Xiaomi knows none of the request's regids",
}
# Passing troubles: tried again later.
RETRY_CODES = frozenset({"1", "10001", "10002", "10003", "10027", "10037", "26003", "65029"})
QUOTA_CODES = frozenset({"10034"})


def classify(
    status: int, body: bytes, tokens: list[str], retry_after: str | None, *, now: datetime
) -> list[Answer]:
    """Xiaomi's answer to one regid request, one Answer per token in order."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    wait = fcm.retry_after_seconds(retry_after, now=now)
    if not isinstance(payload, dict) or "code" not in payload:
        if status == 429 or status >= 500:
            answer = Answer(Result.RETRY, reason=f"HTTP {status}", status=status, retry_after=wait)
        elif status == 200:
            answer = Answer(Result.RETRY, reason="bad_answer", status=status)
        else:
            answer = Answer(Result.REFUSED, reason=f"HTTP {status}", status=status)
        return [answer] * len(tokens)
    code = str(payload.get("code"))
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if code == "0" and status == 200:
        message_id = str(data.get("id") or "")
        bad = set(filter(None, str(data.get("bad_regids") or "").split(",")))
        return [
            Answer(Result.REFUSED, reason="bad_regid", status=status, prune=True)
            if token in bad
            else Answer(Result.ACCEPTED, message_id=message_id, status=status)
            for token in tokens
        ]
    reason_text = str(payload.get("reason") or "")
    if code == "20301" and "no valid targets" in reason_text.lower():
        answer = Answer(Result.REFUSED, reason="no_valid_targets", status=status, prune=True)
    elif code in QUOTA_CODES:
        # Until the vendor's midnight after the batch (the sender's ``now``).
        answer = Answer(Result.OVER_QUOTA, reason=code, status=status)
    elif code in RETRY_CODES or code == "20301" or status == 429 or status >= 500:
        answer = Answer(Result.RETRY, reason=code, status=status, retry_after=wait)
    else:  # our field, the credentials, the app's standing: never the regid's fault
        answer = Answer(Result.REFUSED, reason=code, status=status)
    return [answer] * len(tokens)


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    return vendor.describe(answer, vendor="Xiaomi", reasons=REASONS)


def category(push: Push) -> Category:
    """A channel ID (xm_ch_id, else n_ch_id) makes it a private message (私信, registered with
    Xiaomi as such: not capped); none, a public message (公信), capped per day."""
    android = _android(push)
    if channel := android.get("xm_ch_id"):
        return Category("Private message (私信)", False, f"channel {channel} (xm_ch_id)")
    if channel := android.get("n_ch_id"):
        return Category("Private message (私信)", False, f"channel {channel} (n_ch_id)")
    return Category(
        "Public message (公信)",
        True,
        "no channel ID: Xiaomi caps public messages per app and device each day",
    )


def hold_until(push: Push, *, now: datetime) -> datetime | None:
    return None


# -- receipts -------------------------------------------------------------------------------

RECEIPT_KINDS = {
    1: ReceiptKind.ARRIVED,
    2: ReceiptKind.CLICKED,
    16: ReceiptKind.INVALID_TOKEN,
    32: ReceiptKind.NOT_SHOWN,  # push disabled
    64: ReceiptKind.NOT_SHOWN,  # filtered
    128: ReceiptKind.NOT_SHOWN,  # over the daily limit
    1024: ReceiptKind.NOT_SHOWN,  # expired before it reached the device
}


def parse_receipts(
    body: bytes, *, content_type: str, headers: Mapping[str, str], config: dict
) -> list[Receipt]:
    """Xiaomi's receipt: the form field ``data`` (or the same JSON as the whole body), one
    entry per message id, one Receipt per regid of its ``targets``. Entries whose ``param`` is
    not a push id of ours are skipped. Xiaomi signs nothing: the URL's key vouches."""
    text = _receipt_text(body, content_type)
    entries = receipt_json(text, "the receipt's data")
    if not isinstance(entries, dict):
        raise ReceiptError("the receipt's data must be a JSON object keyed by message id")
    receipts = []
    for entry in entries.values():
        if not isinstance(entry, dict):
            raise ReceiptError("each receipt entry must be a JSON object")
        push_id = str(entry.get("param") or "")
        status = entry.get("type")
        if not isinstance(status, int) or isinstance(status, bool):
            try:
                status = int(str(status))
            except ValueError:
                raise ReceiptError("a receipt entry has no numeric type") from None
        targets = entry.get("targets")
        if isinstance(targets, str):
            tokens = [t.strip() for t in targets.split(",") if t.strip()]
        elif isinstance(targets, list) and all(isinstance(t, str) for t in targets):
            tokens = [t.strip() for t in targets if t.strip()]
        else:
            raise ReceiptError("a receipt entry has no targets")
        if not push_id.isdigit():
            continue  # not one of ours (another sender's message to the same URL)
        at = _moment(entry.get("timestamp"))
        kind = RECEIPT_KINDS.get(status, ReceiptKind.OTHER)
        receipts += [Receipt(token, push_id, kind, at, str(status)) for token in tokens]
    return receipts


def _receipt_text(body: bytes, content_type: str) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptError("the receipt is not UTF-8") from None
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        return text
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "data" not in fields:
        raise ReceiptError("the receipt has no data field")
    return fields["data"]


def _moment(value: Any) -> datetime | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    # Milliseconds (as Xiaomi's timestamps are); a seconds value is taken as seconds.
    seconds = number / 1000 if number > 1e11 else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def receipt_reply(count: int) -> tuple[int, str, bytes]:
    """Xiaomi wants an HTTP 200 (any other status, a 406, stops its callbacks)."""
    return 200, "text/plain; charset=utf-8", b"ok"


# -- the client -----------------------------------------------------------------------------


def base_url(config: dict) -> str:
    """PUSH_XIAOMI_URL when set (every region: a proxy, the fake), else the region's host."""
    return (settings.PUSH_XIAOMI_URL or REGION_HOSTS[config.get("region") or "china"]).rstrip("/")


class XiaomiClient(vendor.VendorClient):
    """One form POST per ≤1000 regids; the AppSecret is the key of every request (no token)."""

    MAX_TOKENS = MAX_TOKENS

    def __init__(self, config: dict, *, ca_file: str = "", timeout: float = 10.0, **kwargs):
        super().__init__(ca_file=ca_file, timeout=timeout, **kwargs)
        self._url = base_url(config) + SEND_PATH
        self._package = config["package_name"]
        self._headers = {
            "authorization": f"key={config['app_secret']}",
            "content-type": "application/x-www-form-urlencoded; charset=UTF-8",
        }
        self._callback = config.get("receipt_url") or ""

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        fields = dict(prepared.body)
        fields["registration_id"] = ",".join(tokens)
        fields["restricted_package_name"] = self._package
        if activity := prepared.options.get("activity"):
            fields["extra.intent_uri"] = activity_uri(self._package, activity)
        if self._callback:
            fields["extra.callback"] = self._callback
        else:  # no receipts wanted: the callback's other fields would only be refused
            fields.pop("extra.callback.param", None)
            fields.pop("extra.callback.type", None)
        # A request that raises is answered by VendorClient (vendor.failure) for each token.
        response = await self.http.post(
            self._url, content=urlencode(fields).encode(), headers=self._headers
        )
        return classify(
            response.status_code,
            response.content,
            tokens,
            response.headers.get("retry-after"),
            now=datetime.now(UTC),
        )


def client(config: dict, *, environment: str, clock=None) -> XiaomiClient:
    """A client on ``ChannelCredentials.config()`` (Xiaomi has no environments, no tokens)."""
    return XiaomiClient(
        config,
        ca_file=settings.PUSH_CHANNEL_CA_FILE,
        timeout=settings.PUSH_CHANNEL_TIMEOUT,
    )
