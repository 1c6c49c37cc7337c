"""Validation of TPNS request bodies: JSON in; an unsaved Push (or plain values) or a TpnsError out.

Every error names the field by its path (``sms_info.delay_trigger_time: must be at least 300``)
and carries TPNS's ``ret_code``: 1008001 for a body that is not a JSON object, 1008002 for a
missing required field, 1008007 for any other violation. Nothing here writes to the database.

Where TPNS's documentation (reference §1.3) is silent we decided, and say so here:

- JSON ``null`` counts as absent: SDKs serialise unset fields as null or leave them out.
- Fields that do not apply to the audience are ignored, not refused: the official Java SDK
  sends ``token_list: []`` and ``account_list: []`` with every push, and ``environment`` with
  Android pushes. Unknown top-level fields (legacy ``platform``, ``stat_tag``, ``loop_times``,
  ...) are ignored too; documented ones are type-checked and kept in ``Push.options``.
- ``send_time`` is Beijing time (UTC+8), as everywhere in TPNS; an empty string means "now".
- A token longer than 36 characters cannot be a device's, so it is an invalid token (1008029,
  or skipped with ``ignore_invalid_token: 1``), not a malformed request.
- With ``ignore_invalid_token: 1`` and no valid token left, the call fails with 1008029 as
  without it: there is nobody to push to.
- An iOS silent message (``message_type: "message"``) needs no title or content, as in TPNS's
  own example; every other message needs both.
- ``loop_param`` is checked, then refused (1008007): loop pushes are not run here, and sending
  such a push once would silently break what the customer asked for.
- Accounts of type 1002 (phone numbers) are normalised to E.164 before matching, as the
  bindings are stored.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from lib import dates, jsonbody
from push import audience
from push.models import (
    PHONE_ACCOUNT_TYPE,
    TOKEN_MAX_LENGTH,
    Application,
    Platform,
    Push,
)
from sms import sending
from sms.numbers import InvalidNumber, normalize

from . import RetCode, TpnsError, invalid, missing

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"

INT64 = (-(2**63), 2**63 - 1)
INT32_MAX = 2**31 - 1
MAX_MESSAGE_BYTES = 4096  # TPNS product limits: message ≤ 4 KB
MAX_TARGETS = 1000  # token_list / account_list
MAX_TAG_LIST_CHARS = 512
EXPIRE_DEFAULT, EXPIRE_FLOOR, EXPIRE_MAX = 86400, 800, 259200
SEND_AHEAD_MAX = timedelta(days=90)
SMS_DELAY_MIN = 300
MAX_BINDING_TOKENS = 20  # account batchoperate: tokens (or accounts) per call
MAX_QUERY_ITEMS = 100  # account query: accounts or tokens per call
MAX_RECORDS = 200  # statistics: records per page
IDEMPOTENCY_KEY_MAX = 100  # Push.idempotency_key

AUDIENCES = {
    "all": Push.Audience.ALL,
    "tag": Push.Audience.TAG,
    "token": Push.Audience.TOKEN,
    "token_list": Push.Audience.TOKEN_LIST,
    "account": Push.Audience.ACCOUNT,
    "account_list": Push.Audience.ACCOUNT_LIST,
}
PACKAGE_AUDIENCES = ("package_account_push", "package_token_push")
TOKEN_AUDIENCES = (Push.Audience.TOKEN, Push.Audience.TOKEN_LIST)
ACCOUNT_AUDIENCES = (Push.Audience.ACCOUNT, Push.Audience.ACCOUNT_LIST)
BROADCAST_AUDIENCES = (Push.Audience.ALL, Push.Audience.TAG)  # scheduled, 1 per second
ENVIRONMENTS = ("product", "dev")
OPERATORS = ("AND", "OR")
CHANNELS = ("xg", "hw", "xm", "mz", "vivo", "oppo", "apns", "honor", "fcm")
INTERRUPTION_LEVELS = ("passive", "active", "time-sensitive", "critical")
DAY_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")


# --------------------------------------------------------------------------------------------
# Typed access to a JSON object


class Fields:
    """A JSON object under validation; errors name each field by its full path."""

    def __init__(self, data: dict, path: str = ""):
        self.data, self.path = data, path

    @classmethod
    def of(cls, value, path: str) -> "Fields":
        if not isinstance(value, dict):
            raise invalid(path, "must be an object")
        return cls(value, path)

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str = "",
        max_length: int | None = None,
        choices=None,
    ) -> str:
        value = self.data.get(key)
        if required and (value is None or (isinstance(value, str) and not value.strip())):
            raise missing(self.name(key))
        if value is None:
            return default
        if not isinstance(value, str):
            raise invalid(self.name(key), "must be a string")
        if max_length is not None and len(value) > max_length:
            raise invalid(self.name(key), f"at most {max_length} characters")
        if choices is not None and value not in choices:
            raise invalid(self.name(key), f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
        choices=None,
    ) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing(self.name(key))
            return default
        return check_int(value, self.name(key), minimum=minimum, maximum=maximum, choices=choices)

    def boolean(self, key: str, *, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise invalid(self.name(key), "must be true or false")
        return value

    def obj(self, key: str, *, required: bool = False) -> "Fields | None":
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing(self.name(key))
            return None
        return Fields.of(value, self.name(key))

    def array(self, key: str, *, required: bool = False, max_items: int | None = None) -> list:
        value = self.data.get(key)
        if value is None or value == []:
            if required:
                raise missing(self.name(key))
            return []
        if not isinstance(value, list):
            raise invalid(self.name(key), "must be an array")
        if max_items is not None and len(value) > max_items:
            raise invalid(self.name(key), f"at most {max_items} items; got {len(value)}")
        return value

    def strings(self, key: str, *, required: bool = False, max_items: int | None = None):
        values = self.array(key, required=required, max_items=max_items)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise invalid(f"{self.name(key)}[{i}]", "must be a string")
        return values

    def operator(self, key: str) -> str:
        value = self.string(key, default="OR")
        if value.upper() not in OPERATORS:
            raise invalid(self.name(key), f"must be AND or OR; got {value!r}")
        return value.upper()


def check_int(value, name: str, *, minimum=None, maximum=None, choices=None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, "must be an integer")
    if choices is not None and value not in choices:
        raise invalid(name, f"must be one of {', '.join(map(str, choices))}; got {value}")
    if minimum is not None and value < minimum:
        raise invalid(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise invalid(name, f"must be at most {maximum}")
    return value


def load(body: bytes) -> dict:
    """The request body as a JSON object, else 1008001 (also for NaN, Infinity, a number that
    overflows a float, or nesting deeper than ``jsonbody.MAX_DEPTH``). A string holding NUL or a
    lone surrogate, which could be neither stored nor echoed, is 1008007 naming the field."""
    try:
        data = jsonbody.loads(body)
    except jsonbody.Refused as exc:
        if exc.path is not None:
            raise invalid(exc.path, exc.message) from None
        if exc.message.startswith("not valid JSON"):
            raise TpnsError(RetCode.PARSE_ERROR, "the request body is not valid JSON") from None
        raise TpnsError(
            RetCode.PARSE_ERROR, f"the request body is refused: {exc.message}"
        ) from None
    if not isinstance(data, dict):
        raise TpnsError(RetCode.PARSE_ERROR, "the request body must be a JSON object")
    return data


def seq_of(data: dict) -> int:
    """The seq to echo, also in error answers (0 if absent or unusable)."""
    seq = data.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and INT64[0] <= seq <= INT64[1]:
        return seq
    return 0


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise invalid("Idempotency-Key", f"at most {IDEMPOTENCY_KEY_MAX} characters")
    if key and not key.isprintable():
        raise invalid("Idempotency-Key", "must be printable characters")
    return key


def beijing_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


def _names(values: list, limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


# --------------------------------------------------------------------------------------------
# /v3/push/app


def parse_push(app: Application, data: dict, *, now: datetime) -> Push:
    """Validate a /v3/push/app body for ``app``; returns an unsaved Push ready for
    ``fanout.accept`` (tokens skipped by ``ignore_invalid_token`` in ``invalid_targets``), or
    raises TpnsError naming the first offending field."""
    f = Fields(data)
    push = Push(application=app)
    if f.has("seq"):
        push.seq = f.integer("seq", minimum=INT64[0], maximum=INT64[1])

    kind = f.string("audience_type", required=True)
    if kind in PACKAGE_AUDIENCES:
        raise invalid(
            "audience_type",
            f"{kind} (upload_id packages) is not supported by this server; "
            "push to token_list or account_list in batches of up to 1000",
        )
    if kind not in AUDIENCES:
        raise invalid("audience_type", f"must be one of {', '.join(AUDIENCES)}; got {kind!r}")
    push.audience_type = AUDIENCES[kind]
    push.message_type = f.string("message_type", required=True, choices=Push.MessageType.values)
    _message(push, f, app)

    if app.platform == Platform.IOS:
        push.environment = f.string("environment", required=True, choices=ENVIRONMENTS)

    expire = f.integer("expire_time", default=EXPIRE_DEFAULT, minimum=0, maximum=EXPIRE_MAX)
    # TPNS: 0 = real-time only; 1–799 is raised to 800.
    push.expire_time = EXPIRE_FLOOR if 0 < expire < EXPIRE_FLOOR else expire
    push.send_at = _send_time(f, push, now)

    push.options = _options(f, push)
    _audience(f, push)
    _sms(f, push, app)
    return push


def _message(push: Push, f: Fields, app: Application) -> None:
    m = f.obj("message", required=True)
    silent_ios = app.platform == Platform.IOS and push.message_type == Push.MessageType.MESSAGE
    push.title = m.string("title", required=not silent_ios, max_length=200)
    push.content = m.string("content", required=not silent_ios)
    size = len(json.dumps(m.data, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:
        raise invalid("message", f"at most {MAX_MESSAGE_BYTES} bytes as JSON; got {size}")
    for key in (
        "thread_id",
        "thread_sumtext",
        "xg_media_resources",
        "xg_media_audio_resources",
    ):
        m.string(key)
    m.integer("show_type", choices=(1, 2))
    for i, window in enumerate(m.array("accept_time")):
        w = Fields.of(window, f"message.accept_time[{i}]")
        for end in ("start", "end"):
            moment = w.obj(end, required=True)
            _clock_part(moment, "hour", 23)
            _clock_part(moment, "min", 59)
    if (android := m.obj("android")) is not None:
        _android(android)
    if (ios := m.obj("ios")) is not None:
        _ios(ios, push.message_type)
    push.message = m.data


def _clock_part(moment: Fields, key: str, maximum: int) -> None:
    """accept_time hours and minutes: TPNS's examples give strings ("13"), SDKs integers."""
    value = moment.data.get(key)
    if value is None:
        raise missing(moment.name(key))
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    check_int(value, moment.name(key), minimum=0, maximum=maximum)


def _custom_content(parent: Fields) -> None:
    """custom_content is a JSON object serialised to a string (TPNS: "需要序列化为 JSON String")."""
    text = parent.string("custom_content")
    if not text:
        return
    try:
        value = jsonbody.loads(text)
    except jsonbody.Refused as exc:
        raise invalid(
            parent.name("custom_content"),
            f"must be a JSON object serialised to a string ({exc})",
        ) from None
    if not isinstance(value, dict):
        raise invalid(parent.name("custom_content"), "must be a JSON object serialised to a string")


ANDROID_STRINGS = (
    "n_ch_id",
    "n_ch_name",
    "xm_ch_id",
    "fcm_ch_id",
    "hw_ch_id",
    "hw_category",
    "oppo_ch_id",
    "ring_raw",
    "icon_res",
    "small_icon",
)
ANDROID_INTEGERS = {
    "n_id": None,
    "builder_id": None,
    "style_id": None,
    "icon_color": None,
    "hw_biz_type": (0, 1),
    "hw_importance": (0, 1, 2),
    "ring": (0, 1),
    "vibrate": (0, 1),
    "lights": (0, 1),
    "clearable": (0, 1),
    "icon_type": (0, 1),
    "show_type": (1, 2),
}


def _android(a: Fields) -> None:
    for key in ANDROID_STRINGS:
        a.string(key)
    for key, choices in ANDROID_INTEGERS.items():
        a.integer(key, choices=choices)
    a.string("vivo_ch_id", choices=("0", "1"))
    a.integer("badge_type", minimum=-2, maximum=99)
    _custom_content(a)
    action = a.obj("action")
    if action is None:
        return
    action_type = action.integer("action_type", choices=(1, 2, 3))
    action.string("activity")
    if (attr := action.obj("aty_attr")) is not None:
        attr.integer("if")
        attr.integer("pf")
    browser = action.obj("browser", required=action_type == 2)
    if browser is not None:
        url = browser.string("url", required=action_type == 2)
        if url and not url.lower().startswith(("http://", "https://")):
            raise invalid(browser.name("url"), "must be an http or https URL")
        browser.integer("confirm", choices=(0, 1))
    action.string("intent", required=action_type == 3)


def _ios(ios: Fields, message_type: str) -> None:
    if "xg" in ios.data:
        raise invalid(ios.name("xg"), "is reserved by TPNS")
    _custom_content(ios)
    aps = ios.obj("aps")
    if aps is None:
        return
    alert = aps.data.get("alert")
    if alert is not None and not isinstance(alert, str | dict):
        raise invalid(aps.name("alert"), "must be an object or a string")
    aps.integer("badge_type", minimum=-2)
    aps.string("category")
    aps.integer("mutable-content", choices=(0, 1))
    sound = aps.data.get("sound")
    if sound is not None and not isinstance(sound, str | dict):
        raise invalid(aps.name("sound"), "must be a string or an object")
    aps.string("interruption-level", choices=INTERRUPTION_LEVELS)
    silent = aps.integer("content-available", choices=(0, 1))
    if silent == 1 and message_type == Push.MessageType.NOTIFY:
        raise invalid(
            aps.name("content-available"),
            'content-available: 1 is for silent messages; it cannot go with message_type "notify"',
        )


def _send_time(f: Fields, push: Push, now: datetime) -> datetime | None:
    text = f.string("send_time")
    if not text:
        return None
    if push.audience_type not in BROADCAST_AUDIENCES:
        raise invalid("send_time", "only all and tag pushes can be scheduled")
    try:
        moment = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        raise invalid(
            "send_time", f"must be yyyy-MM-DD HH:MM:SS (Beijing time); got {text!r}"
        ) from None
    if moment > now + SEND_AHEAD_MAX:
        raise invalid("send_time", "at most 90 days ahead")
    return moment if moment > now else None  # a past time means "now"


def _options(f: Fields, push: Push) -> dict:
    """The other documented fields, type-checked and kept as given."""
    broadcast = push.audience_type in BROADCAST_AUDIENCES
    options = {}
    if f.has("send_time"):
        options["send_time"] = f.string("send_time")
    if f.has("multi_pkg"):
        options["multi_pkg"] = f.boolean("multi_pkg")
    for key in ("plan_id", "group_id"):
        if f.has(key):
            options[key] = f.string(key, max_length=100)
    if f.has("push_speed"):
        options["push_speed"] = f.integer("push_speed", minimum=1000, maximum=50000)
    if f.has("collapse_id"):
        options["collapse_id"] = f.integer("collapse_id", minimum=0, maximum=INT64[1])
    for key in ("force_collapse", "supply_inapp_msg"):
        if f.has(key):
            options[key] = f.boolean(key)
    if f.has("tpns_online_push_type"):
        options["tpns_online_push_type"] = f.integer("tpns_online_push_type", choices=(0, 1))
    if f.has("ignore_invalid_token"):
        options["ignore_invalid_token"] = f.integer("ignore_invalid_token", choices=(0, 1))
    rules = f.array("channel_rules", max_items=len(CHANNELS))
    for i, rule in enumerate(rules):
        r = Fields.of(rule, f"channel_rules[{i}]")
        r.string("channel", required=True, choices=CHANNELS)
        r.boolean("disable")
    if rules:
        options["channel_rules"] = rules
    if (loop := f.obj("loop_param")) is not None:
        if not broadcast:
            raise invalid("loop_param", "only all and tag pushes can loop")
        _loop_param(loop)
        # Refused rather than silently sent once: a customer relying on it must know.
        raise invalid(
            "loop_param",
            "loop pushes are not supported; schedule one push per occurrence with send_time",
        )
    return options


def _loop_param(loop: Fields) -> None:
    days = []
    for key in ("startDate", "endDate"):
        text = loop.string(key, required=True)
        try:
            days.append(datetime.strptime(text, DATE_FORMAT).date())
        except ValueError:
            raise invalid(loop.name(key), f"must be YYYY-MM-DD; got {text!r}") from None
    if days[1] < days[0]:
        raise invalid(loop.name("endDate"), "is before startDate")
    loop_type = loop.integer("loopType", required=True, choices=(1, 2, 3))
    top = {1: 0, 2: 6, 3: 31}[loop_type]
    for i, day in enumerate(loop.array("loopDayIndexs", required=True)):
        check_int(day, f"{loop.name('loopDayIndexs')}[{i}]", minimum=0, maximum=top)
    for i, text in enumerate(loop.strings("dayTimes", required=True)):
        if not DAY_TIME.match(text):
            raise invalid(f"{loop.name('dayTimes')}[{i}]", f"must be HH:MM:SS; got {text!r}")


def _audience(f: Fields, push: Push) -> None:
    """Fill push.audience, the account fields and (token audiences) push.invalid_targets."""
    kind = push.audience_type
    push.account_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    push.account_push_type = f.integer("account_push_type", default=0, choices=(0, 1))
    if kind in TOKEN_AUDIENCES:
        _tokens(f, push)
    elif kind in ACCOUNT_AUDIENCES:
        accounts = f.strings("account_list", required=True, max_items=MAX_TARGETS)
        if kind == Push.Audience.ACCOUNT:
            accounts = accounts[:1]  # TPNS: only the first account is used
        for i, account in enumerate(accounts):
            if not account.strip() or len(account) > 128:
                raise invalid(f"account_list[{i}]", "must be 1 to 128 characters")
        if push.account_type == PHONE_ACCOUNT_TYPE:
            accounts = [normalize_or_keep(a) for a in accounts]
        push.audience = {"account_list": _unique(accounts)}
    elif kind == Push.Audience.TAG:
        push.audience = _tags(f)


def _tokens(f: Fields, push: Push) -> None:
    tokens = f.strings("token_list", required=True, max_items=MAX_TARGETS)
    if push.audience_type == Push.Audience.TOKEN:
        tokens = tokens[:1]  # TPNS: only the first token is used
    tokens = _unique(tokens)
    unknown = set(audience.unknown_tokens(push.application, tokens))
    unknown.update(t for t in tokens if len(t) > TOKEN_MAX_LENGTH)
    invalid_tokens = [t for t in tokens if t in unknown]
    if invalid_tokens and push.options.get("ignore_invalid_token", 0) == 0:
        raise TpnsError(
            RetCode.TOKEN_NOT_VALID,
            f"token_list: not a device of this app: {_names(invalid_tokens)} "
            "(send ignore_invalid_token: 1 to skip invalid tokens)",
        )
    valid = [t for t in tokens if t not in unknown]
    if not valid:
        raise TpnsError(
            RetCode.TOKEN_NOT_VALID,
            f"token_list: none of the tokens is a device of this app: {_names(invalid_tokens)}",
        )
    push.audience = {"token_list": valid}
    push.invalid_targets = invalid_tokens


def _tags(f: Fields) -> dict:
    if f.has("tag_rules"):  # tag_rules wins over the legacy tag_list
        rules = f.array("tag_rules", required=True)
        for r, rule in enumerate(rules):
            rf = Fields.of(rule, f"tag_rules[{r}]")
            rf.operator("operator")
            rf.boolean("is_not")
            for i, item in enumerate(rf.array("tag_items", required=True)):
                itf = Fields.of(item, f"{rf.name('tag_items')}[{i}]")
                itf.strings("tags", required=True)
                itf.boolean("is_not")
                itf.operator("tags_operator")
                itf.operator("items_operator")
                itf.string("tag_type")
        _check_rules(rules, "tag_rules")
        return {"tag_rules": rules}
    tag_list = f.obj("tag_list")
    if tag_list is None:
        raise missing("tag_rules", "required for audience_type tag (or the legacy tag_list)")
    tags = tag_list.strings("tags", required=True)
    tag_list.operator("op")
    if len(",".join(tags)) > MAX_TAG_LIST_CHARS:
        raise invalid("tag_list.tags", f"at most {MAX_TAG_LIST_CHARS} characters in all")
    rules = audience.legacy_tag_list_rules(tag_list.data)
    _check_rules(rules, "tag_list")
    return {"tag_rules": rules, "tag_list": tag_list.data}


def _check_rules(rules: list, name: str) -> None:
    """What push.audience will do with the rules at fan-out must work now (e.g. tag types)."""
    try:
        audience.tag_rules_q(rules, name)
    except audience.AudienceError as exc:
        raise invalid(exc.field, exc.message) from None


# sms.sending names the fields of its own API; a push names them as in sms_info.
SMS_FIELDS = {
    "sdk_app_id": "sms_app_id",
    "template_id": "sms_template_id",
    "sign_name": "sms_sign_name",
    "params": "sms_template_params",
}


def _sms_field(name: str) -> str:
    head, bracket, rest = name.partition("[")
    if head not in SMS_FIELDS:
        return "sms_info"
    return f"sms_info.{SMS_FIELDS[head]}{bracket}{rest}"


def _sms(f: Fields, push: Push, app: Application) -> None:
    push.resend_by_sms = f.boolean("resend_by_sms")
    if not push.resend_by_sms:
        return  # sms_info without resend_by_sms is ignored, as TPNS does not read it
    info = f.obj("sms_info")
    if info is None:
        raise missing("sms_info", "required when resend_by_sms is true")
    push.sms_delay = info.integer("delay_trigger_time", required=True, minimum=SMS_DELAY_MIN)
    if push.sms_delay > push.expire_time:
        raise invalid(
            info.name("delay_trigger_time"),
            f"must be at most the message's expire_time ({push.expire_time})",
        )
    push.sms_trigger = info.integer("trigger_condition", required=True, choices=Push.Trigger.values)
    push.sms_template_id = info.string("sms_template_id", required=True, max_length=40)
    push.sms_app_id = info.string("sms_app_id", required=True, max_length=40)
    push.sms_sign_name = info.string("sms_sign_name", max_length=12)
    push.sms_params = info.strings("sms_template_params")
    push.sms_max = info.integer("max_sms", minimum=1, maximum=INT32_MAX)
    # The gates that can be checked before any number is known (architecture, step 1); the
    # template and signature they resolve to are pinned on the push for all its SMS.
    try:
        push.pin_sms()
        sending.check_transport(app.account)
    except sending.SmsRejected as exc:
        raise invalid(_sms_field(exc.field), exc.message) from None


def normalize_or_keep(number: str) -> str:
    """A phone account as stored (E.164); a value that is no number stays as given."""
    try:
        return normalize(number)
    except InvalidNumber:
        return number


# --------------------------------------------------------------------------------------------
# /v3/device/account/batchoperate and /v3/device/account/query


@dataclass
class Binding:
    account: str
    account_type: int


@dataclass
class BatchOperation:
    operator_type: int
    token_accounts: list[tuple[str, list[Binding]]] = field(default_factory=list)  # 1–3
    tokens: list[str] = field(default_factory=list)  # 4
    accounts: list[Binding] = field(default_factory=list)  # 5


def _bindings(values: list, path: str, default_type: int) -> list[Binding]:
    bindings = []
    for i, value in enumerate(values):
        a = Fields.of(value, f"{path}[{i}]")
        account = a.string("account", required=True, max_length=128)
        account_type = a.integer("account_type", default=default_type, minimum=0, maximum=INT32_MAX)
        bindings.append(Binding(account, account_type))
    return bindings


def parse_batchoperate(data: dict) -> BatchOperation:
    f = Fields(data)
    op = BatchOperation(f.integer("operator_type", required=True, choices=(1, 2, 3, 4, 5)))
    default_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    if op.operator_type in (1, 2, 3):
        pairs = f.array("token_accounts", required=True, max_items=MAX_BINDING_TOKENS)
        for i, pair in enumerate(pairs):
            p = Fields.of(pair, f"token_accounts[{i}]")
            token = p.string("token", required=True)
            accounts = p.array("account_list", required=True)
            op.token_accounts.append(
                (token, _bindings(accounts, p.name("account_list"), default_type))
            )
    elif op.operator_type == 4:
        op.tokens = f.strings("token_list", required=True, max_items=MAX_BINDING_TOKENS)
    else:
        accounts = f.array("account_list", required=True, max_items=MAX_BINDING_TOKENS)
        op.accounts = _bindings(accounts, "account_list", default_type)
    return op


@dataclass
class AccountQuery:
    operator_type: int
    accounts: list[Binding] = field(default_factory=list)  # 1: accounts → tokens
    tokens: list[str] = field(default_factory=list)  # 2: tokens → accounts


def parse_account_query(data: dict) -> AccountQuery:
    f = Fields(data)
    query = AccountQuery(f.integer("operator_type", required=True, choices=(1, 2)))
    default_type = f.integer("account_type", default=0, minimum=0, maximum=INT32_MAX)
    if query.operator_type == 1:
        accounts = f.array("account_list", required=True, max_items=MAX_QUERY_ITEMS)
        query.accounts = _bindings(accounts, "account_list", default_type)
    else:
        query.tokens = f.strings("token_list", required=True, max_items=MAX_QUERY_ITEMS)
    return query


def stored_account(binding: Binding) -> str:
    """The account as bindings store it: phone numbers (type 1002) in E.164."""
    if binding.account_type == PHONE_ACCOUNT_TYPE:
        return normalize_or_keep(binding.account)
    return binding.account


def binding_filter(binding: Binding) -> Q:
    """The DeviceAccount rows of one (account, account_type)."""
    return Q(account_type=binding.account_type, account=stored_account(binding))


def bindings_filter(bindings) -> Q:
    """The DeviceAccount rows of any of the (account, account_type)s; none for no bindings."""
    wanted = Q(pk__in=[])
    for binding in bindings:
        wanted |= binding_filter(binding)
    return wanted


# --------------------------------------------------------------------------------------------
# /v3/statistics/...


def push_id(data: dict) -> int:
    """The pushId of a statistics request (TPNS sends a string; numbers are accepted too)."""
    value = data.get("pushId")
    if value is None or value == "":
        raise missing("pushId")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit() or len(text) > 18:
        raise TpnsError(RetCode.NO_SUCH_PUSH, f"pushId: push {value!r} does not exist")
    return int(text)


@dataclass
class RecordQuery:
    start: datetime
    end: datetime  # exclusive
    message_type: str
    audience_types: list[str]
    offset: int
    limit: int


PUSH_TYPE_FILTER = {
    "all": [Push.Audience.ALL],
    "tag": [Push.Audience.TAG],
    "token": [Push.Audience.TOKEN, Push.Audience.TOKEN_LIST],
    "token_list": [Push.Audience.TOKEN, Push.Audience.TOKEN_LIST],
    "account": [Push.Audience.ACCOUNT, Push.Audience.ACCOUNT_LIST],
    "account_list": [Push.Audience.ACCOUNT, Push.Audience.ACCOUNT_LIST],
}


def _day(f: Fields, key: str) -> date:
    text = f.string(key, required=True)
    try:
        day = datetime.strptime(text, DATE_FORMAT).date()
    except ValueError:
        raise TpnsError(RetCode.BAD_DATE, f"{key}: must be YYYY-MM-DD; got {text!r}") from None
    if not dates.in_range(day):
        raise TpnsError(RetCode.BAD_DATE, f"{key}: must be a date {dates.RANGE_TEXT}")
    return day


def parse_record_query(data: dict) -> RecordQuery:
    """startDate/endDate are Beijing calendar days, both included. TPNS only keeps a month of
    records; we keep more and do not refuse older dates."""
    f = Fields(data)
    start, end = _day(f, "startDate"), _day(f, "endDate")
    if end < start:
        raise TpnsError(RetCode.BAD_DATE, "endDate: is before startDate")
    push_type = f.string("pushType")
    if push_type and push_type not in PUSH_TYPE_FILTER:
        raise invalid("pushType", f"must be one of {', '.join(PUSH_TYPE_FILTER)}")
    return RecordQuery(
        start=datetime.combine(start, datetime.min.time(), BEIJING),
        end=datetime.combine(end + timedelta(days=1), datetime.min.time(), BEIJING),
        message_type=f.string("msgType", choices=Push.MessageType.values),
        audience_types=PUSH_TYPE_FILTER.get(push_type, []),
        offset=f.integer("offset", default=0, minimum=0, maximum=INT32_MAX),
        limit=f.integer("limit", default=20, minimum=1, maximum=MAX_RECORDS),
    )
