"""The ``message`` object of a push: title and content, accept times, the Android and iOS
parts (type-checked and kept as given in ``Push.message``)."""

import json

from django.utils.translation import gettext_lazy as _

from lib import jsonbody
from push.models import Application, Platform, Push

from .. import invalid, missing
from .fields import Fields, check_int

MAX_MESSAGE_BYTES = 4096  # TPNS product limits: message ≤ 4 KB
INTERRUPTION_LEVELS = ("passive", "active", "time-sensitive", "critical")


def parse_message(push: Push, f: Fields, app: Application) -> None:
    m = f.obj("message", required=True)
    silent_ios = app.platform == Platform.IOS and push.message_type == Push.MessageType.MESSAGE
    push.title = m.string("title", required=not silent_ios, max_length=200)
    push.content = m.string("content", required=not silent_ios)
    size = len(json.dumps(m.data, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:
        raise invalid(
            "message",
            _("at most %(limit)s bytes as JSON; got %(size)s"),
            limit=MAX_MESSAGE_BYTES,
            size=size,
        )
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
            _("must be a JSON object serialised to a string (%(problem)s)"),
            problem=str(exc),
        ) from None
    if not isinstance(value, dict):
        raise invalid(
            parent.name("custom_content"), _("must be a JSON object serialised to a string")
        )


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


# pushconsole's own keys beside TPNS's (TPNS has no field for them): the message category of
# OPPO (with its notify_level) and of vivo, which decide those vendors' quotas; sent only when
# given, since a vendor refuses a category the app was not granted.
VENDOR_CATEGORIES = (
    "IM",
    "ACCOUNT",
    "DEVICE_REMINDER",
    "ORDER",
    "TODO",
    "SUBSCRIPTION",
    "NEWS",
    "CONTENT",
    "MARKETING",
    "SOCIAL",
)


def _open_app(action: dict) -> int:
    action["action_type"] = 1
    action.pop("activity", None)  # type 1 without an activity opens the app itself
    return 1


def _by_intent_action(action: dict) -> int:
    # An activity matched by its intent action: TPNS's type 3 with the action as the intent
    # (FCM's click_action; the SDK resolves it), from ``intent`` or else ``activity``.
    name = action.get("intent") or action.get("activity")
    if not isinstance(name, str) or not name:
        return _open_app(action)
    action["action_type"], action["intent"] = 3, name
    action.pop("activity", None)
    return 3


LEGACY_ACTION_TYPES = {0: _open_app, 4: _open_app, 5: _by_intent_action, 6: _open_app}


def _android(a: Fields) -> None:
    for key in ANDROID_STRINGS:
        a.string(key)
    for key, choices in ANDROID_INTEGERS.items():
        a.integer(key, choices=choices)
    a.string("vivo_ch_id", choices=("0", "1"))
    a.string("oppo_category", choices=VENDOR_CATEGORIES)
    a.integer("oppo_notify_level", choices=(1, 2, 16))
    a.string("vivo_category", choices=VENDOR_CATEGORIES)
    a.integer("badge_type", minimum=-2, maximum=99)
    _custom_content(a)
    action = a.obj("action")
    if action is None:
        return
    action_type = action.integer("action_type", choices=range(7))
    if action_type in LEGACY_ACTION_TYPES:
        # TPNS documents 1–3; its Java server SDK's ActionType also has 0 (open the app: its
        # default), 4 (open an app by package name), 5 (an activity by intent action) and 6
        # (broadcast an action). They are taken as what TPNS's channels did with them.
        action_type = LEGACY_ACTION_TYPES[action_type](action.data)
    action.string("activity")
    if (attr := action.obj("aty_attr")) is not None:
        attr.integer("if")
        attr.integer("pf")
    browser = action.obj("browser", required=action_type == 2)
    if browser is not None:
        url = browser.string("url", required=action_type == 2)
        if url and not url.lower().startswith(("http://", "https://")):
            raise invalid(browser.name("url"), _("must be an http or https URL"))
        browser.integer("confirm", choices=(0, 1))
    action.string("intent", required=action_type == 3)


def _ios(ios: Fields, message_type: str) -> None:
    if "xg" in ios.data:
        raise invalid(ios.name("xg"), _("is reserved by TPNS"))
    _custom_content(ios)
    aps = ios.obj("aps")
    if aps is None:
        return
    alert = aps.data.get("alert")
    if alert is not None and not isinstance(alert, str | dict):
        raise invalid(aps.name("alert"), _("must be an object or a string"))
    aps.integer("badge_type", minimum=-2)
    aps.string("category")
    aps.integer("mutable-content", choices=(0, 1))
    sound = aps.data.get("sound")
    if sound is not None and not isinstance(sound, str | dict):
        raise invalid(aps.name("sound"), _("must be a string or an object"))
    aps.string("interruption-level", choices=INTERRUPTION_LEVELS)
    silent = aps.integer("content-available", choices=(0, 1))
    if silent == 1 and message_type == Push.MessageType.NOTIFY:
        raise invalid(
            aps.name("content-available"),
            _(
                "content-available: 1 is for silent messages; it cannot go with message_type "
                '"notify"'
            ),
        )
