"""Forms of the push console: creating an application, the filters of the lists, and the
push composer (``ComposeForm``)."""

import copy
import json
import re

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lib.paging import Sorting

from .channels import apns, fcm, huawei
from .models import Application, Delivery, Device, Platform, Push
from .tpns.parse import SMS_DELAY_MIN, beijing_time
from .tpns.parse.message import INTERRUPTION_LEVELS, VENDOR_CATEGORIES

# An Android package name or an iOS bundle ID: dot-separated segments, at least two.
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)+$")
MAX_PACKAGE_NAMES = 20

ANY = [("", _("any"))]
YES_NO = [*ANY, ("yes", _("yes")), ("no", _("no"))]
DATE = forms.DateInput(attrs={"type": "date"})


class ApplicationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    platform = forms.ChoiceField(label=_("Platform"), choices=Platform.choices)
    package_names = forms.CharField(
        label=_("Package names"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Other package names of the app (TPNS multi_pkg), one per line."),
    )

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_package_names(self) -> list[str]:
        names = []
        for line in self.cleaned_data["package_names"].splitlines():
            name = line.strip()
            if not name or name in names:
                continue
            if len(name) > 255 or not PACKAGE_NAME.match(name):
                raise forms.ValidationError(
                    _("%(name)r is not a package name (com.example.app).") % {"name": name}
                )
            names.append(name)
        if len(names) > MAX_PACKAGE_NAMES:
            raise forms.ValidationError(
                _("At most %(n)s package names.") % {"n": MAX_PACKAGE_NAMES}
            )
        return names


class ApplicationChoiceForm(forms.Form):
    """A filter form whose application choices are the account's applications only."""

    application = forms.ModelChoiceField(
        queryset=Application.objects.none(),
        required=False,
        empty_label=_("any"),
        label=_("Application"),
    )

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.filter(account=account)


# The device list's orders (``?sort=``), each on columns the list shows; ``id`` ends every order
# (``lib.paging.Sorting``). Each is served by an index that starts with the application
# (``Device.Meta``: (application, id) for "registered" and "application", the unique
# (application, token), and the ``push_device_*_sort_idx``), read application by application.
DEVICE_SORTS = {
    "registered": (),
    "token": ("token",),
    "application": ("application__name",),
    "notifications": ("notifications_enabled",),
    "app_version": ("app_version",),
    "last_seen": ("last_seen_at",),
}
DEVICE_SORT_LABELS = {
    "registered": _("Registered"),
    "token": _("Token"),
    "application": _("Application"),
    "notifications": _("Notifications"),
    "app_version": _("App version"),
    "last_seen": _("Last seen"),
}
DEVICE_SORTING = Sorting(DEVICE_SORTS, default="-registered")
NUMBER_ENDS_MAX = 15  # digits: E.164 numbers have at most 15


class DeviceFilterForm(ApplicationChoiceForm):
    token = forms.CharField(
        required=False, max_length=64, label=_("Token"), help_text=_("Starts with")
    )
    phone = forms.CharField(required=False, max_length=32, label=_("Phone number"))
    ends = forms.CharField(
        required=False,
        max_length=NUMBER_ENDS_MAX,
        label=_("Number ends with"),
        help_text=_("The last digits of a phone number"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 6}),
    )
    account = forms.CharField(required=False, max_length=128, label=_("Account"))
    tag = forms.CharField(required=False, max_length=50, label=_("Tag"))
    notifications = forms.ChoiceField(
        required=False,
        choices=[*ANY, ("on", _("on")), ("off", _("off"))],
        label=_("Notifications"),
    )

    sort = forms.ChoiceField(required=False, label=_("Sort by"))

    field_order = ["token", "phone", "ends", "account", "tag", "application", "notifications"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sort"].choices = [
            ("", _("default")),
            *DEVICE_SORTING.choices(DEVICE_SORT_LABELS),
        ]

    def clean_ends(self) -> str:
        digits = "".join(self.cleaned_data["ends"].split())
        if digits and not digits.isdigit():
            raise forms.ValidationError(_("Digits only, the last ones of the number."))
        return digits


class PushFilterForm(ApplicationChoiceForm):
    status = forms.ChoiceField(required=False, choices=ANY + Push.Status.choices, label=_("Status"))
    since = forms.DateField(required=False, widget=DATE, label=_("Since"))
    until = forms.DateField(required=False, widget=DATE, label=_("Until"))
    sms = forms.ChoiceField(required=False, choices=YES_NO, label=_("SMS supplement"))

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned


class DeliveryFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=ANY + Delivery.State.choices, label=_("State")
    )
    outcome = forms.ChoiceField(
        required=False, choices=ANY + Delivery.Outcome.choices, label=_("SMS outcome")
    )


# The composer's options, each a TPNS field of the push body (``ComposeForm.tpns_body``); the
# TPNS parser validates them all, as it does the API's.
CUSTOM_ROWS_SPARE = 2  # empty key/value rows offered below the filled ones
CUSTOM_ROWS_MAX = 100
CUSTOM_KEY_FIELD = re.compile(r"^custom_key_(\d+)$")
CLICK_ACTIONS = [
    ("app", _("open the app")),
    ("activity", _("open an activity")),
    ("url", _("open a URL")),
    ("intent", _("open an intent")),
]
BADGES = [
    ("unchanged", _("leave it unchanged")),
    ("set", _("set it to a number")),
    ("increment", _("add one")),
]
SOUNDS = [
    ("default", _("the default sound")),
    ("named", _("a sound of the app")),
    ("none", _("none")),
]
DEVICE_DEFAULT = [("", _("as the notification channel says")), ("1", _("on")), ("0", _("off"))]
LOOP_TYPES = [
    ("", _("does not repeat")),
    ("1", _("every day")),
    ("2", _("every week")),
    ("3", _("every month")),
]
WEEKDAYS = [  # TPNS: 0 is Sunday
    ("1", _("Mon")),
    ("2", _("Tue")),
    ("3", _("Wed")),
    ("4", _("Thu")),
    ("5", _("Fri")),
    ("6", _("Sat")),
    ("0", _("Sun")),
]
LOOP_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

# What the composer sets in the message object (``_message``), per platform: an edit removes
# these paths from the stored message and puts the form's over it, so that every other field
# an API request gave (accept_time's siblings, an action's aty_attr, the other platform's part,
# ...) is kept as it was (``_merged_message``).
MESSAGE_KEYS = ("title", "content", "accept_time")
ANDROID_MESSAGE_KEYS = ("xg_media_resources",)
IOS_MESSAGE_KEYS = ("thread_id",)
ANDROID_KEYS = (
    "custom_content",
    "action",
    "badge_type",
    "ring",
    "ring_raw",
    "vibrate",
    "lights",
)
IOS_KEYS = ("custom_content",)
APS_KEYS = ("badge_type", "sound", "category", "interruption-level", "mutable-content")
# What of an action the form sets; the rest of it (aty_attr, browser.confirm) is kept while the
# edit keeps the kind of action.
ACTION_KEYS = ("action_type", "activity", "intent")
# Android string fields the form shows as they are: (form field, TPNS key).
ANDROID_TEXTS = (
    ("android_channel", "n_ch_id"),
    ("android_channel_name", "n_ch_name"),
    ("xm_ch_id", "xm_ch_id"),
    ("oppo_ch_id", "oppo_ch_id"),
    ("hw_category", "hw_category"),
    ("vivo_ch_id", "vivo_ch_id"),
    ("oppo_category", "oppo_category"),
    ("vivo_category", "vivo_category"),
    ("small_icon", "small_icon"),
    ("icon_res", "icon_res"),
)
# Android integer fields (form field = TPNS key): empty is "not given".
ANDROID_INTEGERS = (
    "hw_importance",
    "oppo_notify_level",
    "n_id",
    "builder_id",
    "style_id",
    "clearable",
    "show_type",
    "icon_type",
    "icon_color",
)
ANDROID_SET = (*ANDROID_KEYS, *(key for _f, key in ANDROID_TEXTS), *ANDROID_INTEGERS)
# accept_time as the form takes it: "HH:MM-HH:MM", comma-separated.
WINDOW = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)\s*[-–~]\s*([01]?\d|2[0-3]):([0-5]\d)$")

# A TPNS error names the field by its path; the form field that sets it shows the error.
# The first prefix that matches wins (the more specific first).
TPNS_PATHS = (
    ("token_list", "tokens"),
    ("account_list", "accounts"),
    ("account_type", "account_type"),
    ("tag_rules", "tags"),
    ("message.title", "title"),
    ("message.content", "content"),
    ("message.xg_media_resources", "image_url"),
    ("message.thread_id", "ios_thread_id"),
    ("message.android.action.activity", "click_activity"),
    ("message.android.action.browser", "click_url"),
    ("message.android.action.intent", "click_intent"),
    ("message.android.action", "click_action"),
    ("message.android.badge_type", "badge_number"),
    ("message.ios.aps.badge_type", "badge_number"),
    ("message.android.ring_raw", "sound_name"),
    ("message.ios.aps.sound", "sound_name"),
    ("message.android.n_ch_id", "android_channel"),
    ("message.android.n_ch_name", "android_channel_name"),
    ("message.android.xm_ch_id", "xm_ch_id"),
    ("message.android.oppo_ch_id", "oppo_ch_id"),
    ("message.android.hw_category", "hw_category"),
    ("message.android.vivo_ch_id", "vivo_ch_id"),
    ("message.android.oppo_category", "oppo_category"),
    ("message.android.oppo_notify_level", "oppo_notify_level"),
    ("message.android.vivo_category", "vivo_category"),
    ("message.android.small_icon", "small_icon"),
    ("message.android.icon_res", "icon_res"),
    *((f"message.android.{key}", key) for key in ANDROID_INTEGERS),
    ("message.accept_time", "accept_time"),
    ("message.ios.aps.category", "ios_category"),
    ("message.ios.aps.interruption-level", "ios_interruption_level"),
    ("environment", "ios_environment"),
    ("loop_param.startDate", "loop_start"),
    ("loop_param.endDate", "loop_end"),
    ("loop_param.dayTimes", "loop_times"),
    ("loop_param", "loop_type"),
    ("expire_time", "expire_time"),
    ("send_time", "send_time"),
    ("sms_info.sms_template_params", "sms_template_params"),
    ("sms_info.sms_template_id", "sms_template_id"),
    ("sms_info.sms_app_id", "sms_app_id"),
    ("sms_info.sms_sign_name", "sms_sign_name"),
    ("sms_info.max_sms", "max_sms"),
    ("sms_info.delay_trigger_time", "delay_trigger_time"),
    ("sms_info.trigger_condition", "trigger_condition"),
)


def reserved_custom_key(platform: str, message_type: str, key: str) -> bool:
    """Whether a push service would drop or refuse the custom key: the APNs payload's own
    ``aps`` and ``xg``; FCM's reserved data keys and our ``xg_msgid``, and for a pass-through
    message the ``title`` and ``content`` its data carries (``channels.apns``, ``channels.fcm``)."""
    lowered = key.lower()
    if platform == Platform.IOS:
        return key in apns.RESERVED_KEYS
    if message_type == Push.MessageType.MESSAGE and key in ("title", "content"):
        return True
    return (
        lowered in fcm.RESERVED_DATA_KEYS
        or lowered.startswith(fcm.RESERVED_DATA_PREFIXES)
        or key == fcm.PUSH_ID_KEY
    )


def _text(label, **kwargs) -> forms.CharField:
    return forms.CharField(required=False, max_length=255, label=label, **kwargs)


def _choice(label, choices, **kwargs) -> forms.ChoiceField:
    return forms.ChoiceField(required=False, choices=choices, label=label, **kwargs)


class ComposeForm(forms.Form):
    """The console's push composer. It builds a TPNS /v3/push/app body, so that what it sends
    is validated and accepted by exactly the same code as the API."""

    AUDIENCES = [
        (Push.Audience.TOKEN_LIST, _("Devices (tokens)")),
        (Push.Audience.ACCOUNT_LIST, _("Accounts")),
        (Push.Audience.TAG, _("Devices with tags")),
        (Push.Audience.ALL, _("All devices")),
    ]
    application = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Application"))
    audience_type = forms.ChoiceField(
        choices=AUDIENCES, initial=Push.Audience.TOKEN_LIST, label=_("Audience")
    )
    tokens = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Tokens"),
        help_text=_("One token per line."),
    )
    # Set by "ignore unknown tokens and send to the rest" (TPNS ignore_invalid_token: 1).
    ignore_invalid_token = forms.BooleanField(required=False, label=_("Ignore unknown tokens"))
    accounts = forms.CharField(
        label=_("Accounts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One account per line (phone numbers with account type 1002)."),
    )
    account_type = forms.IntegerField(initial=0, min_value=0, label=_("Account type"))
    tags = forms.CharField(required=False, label=_("Tags"), help_text=_("Comma-separated tags."))
    tags_operator = forms.ChoiceField(
        choices=[("OR", _("any of them")), ("AND", _("all of them"))],
        initial="OR",
        label=_("Tags operator"),
    )
    message_type = forms.ChoiceField(choices=Push.MessageType.choices, label=_("Message type"))
    title = forms.CharField(label=_("Title"), max_length=Push._meta.get_field("title").max_length)
    content = forms.CharField(label=_("Content"), widget=forms.Textarea(attrs={"rows": 3}))
    expire_time = forms.IntegerField(
        label=_("Expire time"),
        initial=Push.EXPIRE_DEFAULT,
        min_value=0,
        max_value=Push.EXPIRE_MAX,
        help_text=_("Seconds the notification waits for an offline device (at most 72 h)."),
    )
    send_time = forms.DateTimeField(
        label=_("Send time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty = now (all, tag and package pushes only); in the account's time zone."),
    )

    # When the notification is tapped (Android: message.android.action).
    click_action = _choice(_("Tap action"), CLICK_ACTIONS, initial="app")
    click_activity = _text(
        _("Activity"), help_text=_("The activity's class name, e.g. com.example.app.OrderActivity.")
    )
    click_url = forms.CharField(
        required=False,
        max_length=1024,
        label=_("URL"),
        widget=forms.TextInput(attrs={"inputmode": "url", "placeholder": "https://"}),
        help_text=_("An http or https address, opened in the browser."),
    )
    click_intent = forms.CharField(
        required=False,
        max_length=1024,
        label=_("Intent"),
        help_text=_("An intent URI (xgscheme://com.example/detail?id=42) or an intent action."),
    )
    # Badge and sound (Android badge_type, ring, ring_raw; iOS aps.badge_type, aps.sound).
    badge = _choice(_("Badge"), BADGES, initial="unchanged")
    badge_number = forms.IntegerField(required=False, min_value=0, label=_("Badge number"))
    sound = _choice(_("Sound"), SOUNDS, initial="default")
    sound_name = _text(
        _("Sound name"),
        help_text=_("Android: the sound's raw resource; iOS: a sound file of the app's bundle."),
    )
    # Android options.
    image_url = forms.CharField(
        required=False,
        max_length=1024,
        label=_("Image URL"),
        widget=forms.TextInput(attrs={"inputmode": "url"}),
        help_text=_("A picture shown in the notification (xg_media_resources)."),
    )
    android_channel = _text(
        _("Notification channel ID"),
        help_text=_("Android 8 and later: the app's notification channel (n_ch_id)."),
    )
    android_channel_name = _text(_("Notification channel name"))
    vibrate = _choice(_("Vibrate"), DEVICE_DEFAULT)
    lights = _choice(_("Breathing light"), DEVICE_DEFAULT)
    hw_category = _choice(
        _("Huawei message category"),
        [("", _("not given (marketing, capped daily)"))]
        + [(c, c) for c in sorted(huawei.CATEGORIES)],
    )
    vivo_ch_id = _choice(
        _("vivo message class"),
        [("", _("not given")), ("1", _("system message")), ("0", _("operational message"))],
    )
    xm_ch_id = _text(_("Xiaomi channel ID"))
    oppo_ch_id = _text(_("OPPO channel ID"))
    # The phone makers' own message classes (pushconsole's oppo_/vivo_category beside TPNS's
    # hw_importance, which Honor reads too), and the notification's style on Android.
    hw_importance = _choice(
        _("Huawei and Honor importance"),
        [
            ("", _("not given")),
            ("1", _("marketing (LOW, capped daily)")),
            ("2", _("service and communication (NORMAL)")),
        ],
    )
    oppo_category = _choice(
        _("OPPO message category"),
        [("", _("not given (a public message, capped daily)"))]
        + [(c, c) for c in VENDOR_CATEGORIES],
        help_text=_("Only a category the app was granted by OPPO: OPPO refuses the others."),
    )
    oppo_notify_level = _choice(
        _("OPPO notify level"),
        [
            ("", _("not given")),
            ("1", _("notification bar")),
            ("2", _("notification bar and lock screen")),
            ("16", _("bar, lock screen, banner, sound and vibration (needs a category)")),
        ],
    )
    vivo_category = _choice(
        _("vivo message category"),
        [("", _("not given"))] + [(c, c) for c in VENDOR_CATEGORIES],
        help_text=_("Decides vivo's message class when the class above is not given."),
    )
    accept_time = _text(
        _("Show only between"),
        help_text=_(
            "Times of day, e.g. 08:00-12:00, 14:00-22:00, in the account's time zone: outside "
            "them the app holds the notification until the next one begins (built-in channel)."
        ),
        widget=forms.TextInput(attrs={"placeholder": "08:00-22:00", "autocomplete": "off"}),
    )
    n_id = forms.IntegerField(
        required=False,
        label=_("Notification ID"),
        help_text=_("A notification replaces the app's earlier one with the same ID (n_id)."),
    )
    builder_id = forms.IntegerField(
        required=False,
        min_value=0,
        label=_("Notification builder ID"),
        help_text=_("A notification style the app registered with the SDK (builder_id)."),
    )
    style_id = forms.IntegerField(required=False, min_value=0, label=_("Style ID"))
    clearable = _choice(
        _("Can be swiped away"),
        [("", _("yes (the default)")), ("1", _("yes")), ("0", _("no"))],
        help_text=_("Built-in channel and Meizu."),
    )
    show_type = _choice(
        _("While the app is open"),
        [("", _("show it (the default)")), ("2", _("show it")), ("1", _("do not show it"))],
    )
    small_icon = _text(
        _("Small icon"), help_text=_("The status bar icon's resource name (FCM's icon too).")
    )
    icon_type = _choice(
        _("Large icon from"),
        [("", _("not given")), ("0", _("a resource of the app")), ("1", _("an image address"))],
    )
    icon_res = _text(_("Large icon"), help_text=_("Its resource name or image address."))
    icon_color = forms.IntegerField(
        required=False,
        label=_("Icon colour"),
        help_text=_("An ARGB colour as a number (icon_color)."),
    )
    # iOS options.
    ios_environment = _choice(
        _("APNs environment"),
        [("product", _("production")), ("dev", _("development (sandbox)"))],
        initial="product",
    )
    ios_category = _text(
        _("Category"), help_text=_("The notification category of the app (actions).")
    )
    ios_thread_id = _text(
        _("Thread ID"), help_text=_("Notifications with the same thread ID are grouped.")
    )
    ios_interruption_level = _choice(
        _("Interruption level"),
        [("", _("not given (active)"))] + [(level, level) for level in INTERRUPTION_LEVELS],
    )
    ios_mutable_content = forms.BooleanField(
        required=False,
        label=_("Let the app's notification service extension change it and report arrival"),
    )
    # A loop: one scheduled push per occurrence (TPNS loop_param; all and tag pushes).
    loop_type = _choice(_("Repeat"), LOOP_TYPES)
    loop_start = forms.DateField(required=False, widget=DATE, label=_("From"))
    loop_end = forms.DateField(required=False, widget=DATE, label=_("Until"))
    loop_weekdays = forms.MultipleChoiceField(
        required=False,
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        label=_("On"),
    )
    loop_monthdays = _text(
        _("On days of the month"), help_text=_("Comma-separated, 1 to 31, e.g. 1, 15.")
    )
    loop_times = _text(
        _("At"), help_text=_("Comma-separated times HH:MM, in the account's time zone.")
    )

    resend_by_sms = forms.BooleanField(required=False, label=_("Supplementary SMS"))
    trigger_condition = forms.TypedChoiceField(
        coerce=int,
        choices=[
            (1, _("the notification has not arrived")),
            (2, _("the notification has not been clicked")),
            (0, _("the device has notifications turned off")),
        ],
        initial=1,
        label=_("Send an SMS when"),
    )
    delay_trigger_time = forms.IntegerField(
        initial=3600,
        min_value=SMS_DELAY_MIN,
        label=_("after (seconds)"),
        widget=forms.NumberInput(attrs={"min": SMS_DELAY_MIN, "step": 60}),
    )
    sms_app_id = forms.ChoiceField(choices=[], required=False, label=_("SMS application"))
    sms_template_id = forms.ChoiceField(choices=[], required=False, label=_("Template"))
    sms_sign_name = forms.ChoiceField(choices=[], required=False, label=_("Signature"))
    sms_template_params = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Parameters"),
        help_text=_("One per line, in order: {1}, {2}, …"),
    )
    max_sms = forms.IntegerField(
        required=False, min_value=1, label=_("At most this many SMS (budget cap)")
    )
    send_on_refusal = forms.BooleanField(
        required=False,
        label=_("Send the SMS as soon as APNs or FCM refuses the push"),
        help_text=_("A refused push can never arrive: without this its SMS waits for the delay."),
    )

    test_token = forms.CharField(
        required=False,
        max_length=Device._meta.get_field("token").max_length,
        label=_("Device token"),
        widget=forms.TextInput(attrs={"list": "test-devices", "autocomplete": "off"}),
        help_text=_(
            "A device of the application: the message above goes to it alone, marked as a test."
        ),
    )

    LOOP_FIELDS = (
        "loop_type",
        "loop_start",
        "loop_end",
        "loop_weekdays",
        "loop_monthdays",
        "loop_times",
    )
    ANDROID_FIELDS = (
        "click_action",
        "click_activity",
        "click_url",
        "click_intent",
        "image_url",
        "android_channel",
        "android_channel_name",
        "vibrate",
        "lights",
    )
    VENDOR_FIELDS = (
        "hw_category",
        "hw_importance",
        "xm_ch_id",
        "oppo_ch_id",
        "oppo_category",
        "oppo_notify_level",
        "vivo_ch_id",
        "vivo_category",
    )
    STYLE_FIELDS = (
        "n_id",
        "builder_id",
        "style_id",
        "clearable",
        "show_type",
        "small_icon",
        "icon_type",
        "icon_res",
        "icon_color",
    )
    IOS_FIELDS = (
        "ios_environment",
        "ios_category",
        "ios_thread_id",
        "ios_interruption_level",
        "ios_mutable_content",
    )

    def __init__(self, *args, account, templates, signatures, applications, editing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.editing = editing  # the scheduled push being edited (``control.edit_waiting``)
        self.offer_ignore: list[
            str
        ] = []  # unknown tokens the person may skip (``offer_to_ignore``)
        self.fields["application"].queryset = account.push_apps.all()
        if editing is not None:
            # An edited push stays the same application's, and scheduled; a loop occurrence
            # stays one (its loop is not the edit's: ``control.edit_waiting``).
            self.fields["application"].queryset = account.push_apps.filter(
                pk=editing.application_id
            )
            self.fields["audience_type"].choices = [
                (kind, label) for kind, label in self.AUDIENCES if kind in Push.Audience.BROADCASTS
            ]
            self.fields["send_time"].required = True
            for name in self.LOOP_FIELDS:
                del self.fields[name]
        self.fields["sms_app_id"].choices = [(a.sdk_app_id, str(a)) for a in applications]
        self.fields["sms_template_id"].choices = [("", "—")] + [
            (t.code, f"{t.code} · {t.name}") for t in templates
        ]
        self.fields["sms_sign_name"].choices = [("", _("the account's approved signature"))] + [
            (s.text, f"【{s.text}】 {s.get_region_display()}") for s in signatures
        ]
        self._add_custom_rows()

    def open_sections(self) -> set[str]:
        """The composer's collapsible sections to show open: those with a value set (other
        than the default) or an error, so that a simple push stays simple."""
        sections = {
            "click": self.ANDROID_FIELDS[:4],
            "badge": ("badge", "badge_number", "sound", "sound_name"),
            "android": self.ANDROID_FIELDS[4:],
            "vendors": self.VENDOR_FIELDS,
            "style": self.STYLE_FIELDS,
            "quiet": ("accept_time",),
            "ios": self.IOS_FIELDS,
            "loop": self.LOOP_FIELDS,
            "custom": [n for n in self.fields if n.startswith("custom_")],
        }
        shown = set()
        for section, names in sections.items():
            for name in names:
                if name not in self.fields:
                    continue
                bound, default = self[name], self.fields[name].initial
                value = bound.value()
                if bound.errors or (value not in (None, "", [], False) and value != default):
                    shown.add(section)
        return shown

    # -- custom key/values: rows custom_key_<i> / custom_value_<i> ------------------------------

    def _add_custom_rows(self) -> None:
        source = self.data if self.is_bound else (self.initial or {})
        used = [int(m.group(1)) for k in source if (m := CUSTOM_KEY_FIELD.match(k))]
        count = min(max(used, default=-1) + 1 + CUSTOM_ROWS_SPARE, CUSTOM_ROWS_MAX)
        for i in range(count):
            self.fields[f"custom_key_{i}"] = forms.CharField(
                required=False,
                max_length=100,
                label=_("Key"),
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )
            self.fields[f"custom_value_{i}"] = forms.CharField(
                required=False,
                max_length=1024,
                label=_("Value"),
                strip=False,
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )

    def custom_rows(self) -> list[tuple]:
        """The key/value rows as bound fields, for the template."""
        count = sum(1 for name in self.fields if CUSTOM_KEY_FIELD.match(name))
        return [(self[f"custom_key_{i}"], self[f"custom_value_{i}"]) for i in range(count)]

    def _clean_custom(self, data: dict) -> dict:
        app, message_type = data.get("application"), data.get("message_type")
        platform = app.platform if app is not None else Platform.ANDROID
        custom: dict[str, str] = {}
        rows: dict[str, int] = {}
        for n, (key_field, value_field) in enumerate(self.custom_rows(), start=1):
            key = (data.get(key_field.name) or "").strip()
            value = data.get(value_field.name) or ""
            if not key:
                if value.strip():
                    self.add_error(
                        key_field.name, _("Row %(n)s: give the key of this value.") % {"n": n}
                    )
                continue
            if key in rows:
                self.add_error(
                    key_field.name,
                    _("Row %(n)s: the key %(key)s is already in row %(first)s.")
                    % {"n": n, "key": key, "first": rows[key]},
                )
            elif reserved_custom_key(platform, message_type, key):
                self.add_error(
                    key_field.name,
                    _(
                        "Row %(n)s: the key %(key)s is reserved for the push service; "
                        "choose another."
                    )
                    % {"n": n, "key": key},
                )
            rows[key] = n
            custom[key] = value
        return custom

    # -- validation -------------------------------------------------------------------------

    def clean_accept_time(self) -> list[dict]:
        """TPNS's accept_time from "HH:MM-HH:MM, …" (the hours as TPNS's examples give them)."""
        windows = []
        for text in self.cleaned_data["accept_time"].split(","):
            if not text.strip():
                continue
            if not (m := WINDOW.match(text.strip())):
                raise forms.ValidationError(
                    _("%(text)s is not a time window HH:MM-HH:MM.") % {"text": text.strip()}
                )
            h1, m1, h2, m2 = (f"{int(part):02d}" for part in m.groups())
            windows.append({"start": {"hour": h1, "min": m1}, "end": {"hour": h2, "min": m2}})
        return windows

    def clean(self):
        data = super().clean()
        if data.get("resend_by_sms") and not data.get("sms_template_id"):
            self.add_error("sms_template_id", _("Choose an approved template for the SMS."))
        data["custom_content"] = self._clean_custom(data)
        if data.get("click_action") == "activity" and not data.get("click_activity", "").strip():
            self.add_error("click_activity", _("Give the activity to open."))
        if data.get("badge") == "set" and data.get("badge_number") is None:
            self.add_error("badge_number", _("Give the number to show on the badge."))
        if data.get("sound") == "named" and not data.get("sound_name", "").strip():
            self.add_error("sound_name", _("Give the name of the sound."))
        if data.get("loop_type"):
            data["loop_param"] = self._loop_param(data)
        return data

    def _loop_param(self, data: dict) -> dict | None:
        """TPNS's loop_param from the loop fields (its ranges are checked by the parser)."""
        for name in ("loop_start", "loop_end", "loop_times"):
            if not data.get(name):
                self.add_error(name, _("Required for a push that repeats."))
        times = []
        for text in (data.get("loop_times") or "").split(","):
            if not text.strip():
                continue
            if not (m := LOOP_TIME.match(text.strip())):
                self.add_error(
                    "loop_times", _("%(text)s is not a time HH:MM.") % {"text": text.strip()}
                )
                return None
            times.append(f"{int(m.group(1)):02d}:{m.group(2)}:00")
        kind = int(data["loop_type"])
        if kind == 1:
            days = [0]
        elif kind == 2:
            days = sorted(int(d) for d in data.get("loop_weekdays") or [])
            if not days:
                self.add_error("loop_weekdays", _("Choose the days of the week."))
        else:
            parts = [p.strip() for p in (data.get("loop_monthdays") or "").split(",") if p.strip()]
            if not parts or not all(p.isdigit() for p in parts):
                self.add_error(
                    "loop_monthdays", _("Give the days of the month as numbers, e.g. 1, 15.")
                )
                return None
            days = sorted({int(p) for p in parts})
        if not (data.get("loop_start") and data.get("loop_end") and times and days):
            return None
        return {
            "startDate": data["loop_start"].isoformat(),
            "endDate": data["loop_end"].isoformat(),
            "loopType": kind,
            "loopDayIndexs": days,
            "dayTimes": times,
        }

    def show_tpns_error(self, exc, *, field: str | None = None) -> None:
        """A TPNS refusal on the form field that sets the field it names (``TPNS_PATHS``), or
        on ``field``, or above the form."""
        if field is None:
            for path, name in TPNS_PATHS:
                if exc.message.startswith(path) and exc.message[len(path) : len(path) + 1] in ":.[":
                    field = name
                    break
        if field == "loop_type" and exc.message.startswith("loop_param.loopDayIndexs"):
            field = (
                "loop_weekdays" if self.cleaned_data.get("loop_type") == "2" else "loop_monthdays"
            )
        if field is not None and field not in self.fields:
            field = None
        self.add_error(field, f"{exc.message} (ret_code {exc.code.value})")

    def offer_to_ignore(self, exc) -> bool:
        """Unknown tokens of a token push, said in words on the tokens field (TPNS's message
        names ``ignore_invalid_token``, which the form has no field for): when some tokens
        are left to push to, with the offer to skip the others (``offer_ignore``, shown by
        the page). False when ``exc`` is not about unknown tokens."""
        unknown = getattr(exc, "invalid_targets", None)
        if not unknown:
            return False
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        if not exc.valid_targets:
            self.add_error(
                "tokens",
                _(
                    "None of these tokens is a device of this application (or its push "
                    "service no longer takes it): %(tokens)s."
                )
                % {"tokens": shown},
            )
            return True
        self.offer_ignore = unknown
        self.add_error(
            "tokens",
            ngettext(
                "%(n)s of these tokens is not a device of this application (or its push "
                "service no longer takes it): %(tokens)s. Remove it, or ignore it and push "
                "to the other %(rest)s.",
                "%(n)s of these tokens are not devices of this application (or their push "
                "service no longer takes them): %(tokens)s. Remove them, or ignore them and "
                "push to the other %(rest)s.",
                len(unknown),
            )
            % {"n": len(unknown), "tokens": shown, "rest": exc.valid_targets},
        )
        return True

    # -- the TPNS body ----------------------------------------------------------------------

    def test_body(self) -> dict:
        """The request of a test push: the composed push to ``test_token`` alone, now (a
        token_list push of one token, accepted as any other)."""
        body = self.tpns_body()
        for key in (
            "token_list",
            "account_list",
            "account_type",
            "tag_rules",
            "send_time",
            "loop_param",
            "ignore_invalid_token",
        ):
            body.pop(key, None)
        body["audience_type"] = Push.Audience.TOKEN_LIST
        body["token_list"] = [self.cleaned_data["test_token"].strip()]
        return body

    def edited_body(self, push: Push) -> dict:
        """The request of ``push`` as edited: this form's fields over what the push was given
        that the composer does not show (its other options, the rest of its message object),
        so that an edit changes only what the form shows. Its loop is not re-read
        (``control.edit_waiting`` keeps it)."""
        kept = {
            k: v
            for k, v in push.options.items()
            if k not in ("send_time", "loop_param", "loop_times", "loop_interval")
        }
        body = {**kept, **self.tpns_body()}
        body["message"] = _merged_message(
            push.message or {}, body["message"], push.application.platform
        )
        # Tag rules the form shows (one rule, one item: ``_simple_tags``) keep what else they
        # said (tag_type, is_not, the operators of the rule and the item).
        rules = (push.audience or {}).get("tag_rules")
        if "tag_rules" in body and rules and _simple_tags(push.audience):
            kept = copy.deepcopy(rules)
            item, new = kept[0]["tag_items"][0], body["tag_rules"][0]["tag_items"][0]
            item.update(tags=new["tags"], tags_operator=new["tags_operator"])
            body["tag_rules"] = kept
        if push.environment:
            body.setdefault("environment", push.environment)
        if push.seq:
            body.setdefault("seq", push.seq)
        return body

    @classmethod
    def initial_from(cls, push: Push, tz, *, editing: bool = False) -> tuple[dict, list[str]]:
        """The form's initial values for a copy of ``push`` (duplicate, edit), and what of
        it the form cannot show (said to the person; an edit is refused then). ``editing``:
        its loop does not count (an edit keeps it)."""
        audience = push.audience or {}
        lost: list[str] = []
        initial = {
            "application": push.application_id,
            "message_type": push.message_type,
            "title": push.title,
            "content": push.content,
            "expire_time": push.expire_time,
            "account_type": push.account_type or 0,  # (None when the API gave none)
        }
        if push.audience_type in Push.Audience.TOKENS:
            initial["audience_type"] = Push.Audience.TOKEN_LIST
            initial["tokens"] = "\n".join(audience.get("token_list", []))
        elif push.audience_type in Push.Audience.ACCOUNTS:
            initial["audience_type"] = Push.Audience.ACCOUNT_LIST
            initial["accounts"] = "\n".join(audience.get("account_list", []))
        elif push.audience_type == Push.Audience.ALL:
            initial["audience_type"] = Push.Audience.ALL
        elif push.audience_type == Push.Audience.TAG and (simple := _simple_tags(audience)):
            initial["audience_type"] = Push.Audience.TAG
            initial["tags"], initial["tags_operator"] = ", ".join(simple[0]), simple[1]
        else:
            lost.append(_("its audience (choose one again)"))
        if push.send_at and push.status == Push.Status.WAIT:
            initial["send_time"] = push.send_at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
        if (push.options or {}).get("ignore_invalid_token"):
            initial["ignore_invalid_token"] = True
        _initial_options(push, initial, lost)
        if not editing:
            _initial_loop(push, initial, lost)
        if push.resend_by_sms:
            initial.update(
                resend_by_sms=True,
                trigger_condition=push.sms_trigger,
                delay_trigger_time=push.sms_delay,
                sms_app_id=push.sms_app_id,
                sms_template_id=push.sms_template_id,
                sms_sign_name=push.sms_sign_name,
                sms_template_params="\n".join(push.sms_params),
                max_sms=push.sms_max,
                send_on_refusal=push.sms_on_refusal,
            )
        return initial, lost

    @classmethod
    def options_shown(cls, push: Push, tz) -> list[tuple[str, str]]:
        """The push's composer options as (label, value) in words, for the confirmation and
        the push page: what ``initial_from`` reads back, so the pages say what the form set."""
        initial, _lost = cls.initial_from(push, tz)
        fields = cls.base_fields

        def label_of(name: str, value) -> str:
            return str(dict(fields[name].choices).get(value, value))

        rows: list[tuple[str, str]] = []
        pairs = []
        i = 0
        while f"custom_key_{i}" in initial:
            pairs.append(f"{initial[f'custom_key_{i}']} = {initial[f'custom_value_{i}']}")
            i += 1
        if pairs:
            rows.append((_("Custom key/values"), "; ".join(pairs)))
        if (click := initial.get("click_action", "app")) != "app":
            target = initial.get(f"click_{click}", "")
            rows.append(
                (fields["click_action"].label, f"{label_of('click_action', click)}: {target}")
            )
        if (badge := initial.get("badge", "unchanged")) != "unchanged":
            shown = label_of("badge", badge)
            if badge == "set":
                shown = f"{shown}: {initial.get('badge_number')}"
            rows.append((fields["badge"].label, shown))
        if (sound := initial.get("sound", "default")) != "default":
            shown = label_of("sound", sound)
            if sound == "named":
                shown = f"{shown}: {initial.get('sound_name')}"
            rows.append((fields["sound"].label, shown))
        for name in (
            *cls.ANDROID_FIELDS[4:],
            *cls.VENDOR_FIELDS,
            *cls.STYLE_FIELDS,
            "accept_time",
            *cls.IOS_FIELDS,
        ):
            value = initial.get(name)
            if value in (None, "", False) or value == fields[name].initial:
                continue
            if isinstance(fields[name], forms.ChoiceField):
                value = label_of(name, value)
            elif value is True:
                value = _("yes")
            rows.append((fields[name].label, str(value)))
        if loop := initial.get("loop_type"):
            when = [label_of("loop_type", loop)]
            if loop == "2":
                when.append(
                    " ".join(label_of("loop_weekdays", d) for d in initial["loop_weekdays"])
                )
            elif loop == "3":
                when.append(initial["loop_monthdays"])
            when.append(
                _("at %(times)s, %(start)s to %(end)s")
                % {
                    "times": initial["loop_times"],
                    "start": initial["loop_start"],
                    "end": initial["loop_end"],
                }
            )
            rows.append((fields["loop_type"].label, " ".join(when)))
        return rows

    def tpns_body(self) -> dict:
        """The /v3/push/app request this form stands for."""
        d = self.cleaned_data
        lines = lambda text: [x.strip() for x in (text or "").splitlines() if x.strip()]  # noqa: E731
        body = {
            "audience_type": d["audience_type"],
            "message_type": d["message_type"],
            "message": _message(d),
            "expire_time": d["expire_time"],
        }
        if d["application"].platform == Platform.IOS:
            body["environment"] = d.get("ios_environment") or "product"
        if d["audience_type"] == Push.Audience.TOKEN_LIST:
            body["token_list"] = lines(d["tokens"])
            if d.get("ignore_invalid_token"):
                body["ignore_invalid_token"] = 1
        elif d["audience_type"] == Push.Audience.ACCOUNT_LIST:
            body["account_list"] = lines(d["accounts"])
            body["account_type"] = d["account_type"]
        elif d["audience_type"] == Push.Audience.TAG:
            tags = [t.strip() for t in (d["tags"] or "").split(",") if t.strip()]
            body["tag_rules"] = [
                {"tag_items": [{"tags": tags, "tags_operator": d["tags_operator"]}]}
            ]
        if d.get("send_time"):
            body["send_time"] = beijing_time(d["send_time"])
        if d.get("loop_param"):
            body["loop_param"] = d["loop_param"]
        if d.get("resend_by_sms"):
            info = {
                "delay_trigger_time": d["delay_trigger_time"],
                "trigger_condition": d["trigger_condition"],
                "sms_template_id": d["sms_template_id"],
                "sms_app_id": d["sms_app_id"],
                "sms_template_params": lines(d["sms_template_params"]),
            }
            if d.get("sms_sign_name"):
                info["sms_sign_name"] = d["sms_sign_name"]
            if d.get("max_sms"):
                info["max_sms"] = d["max_sms"]
            if d.get("send_on_refusal"):
                info["send_on_refusal"] = 1
            body["resend_by_sms"] = True
            body["sms_info"] = info
        return body


def _badge_type(d: dict) -> int | None:
    """TPNS badge_type: N ≥ 0 sets the badge, -2 adds one, -1 (or absent) leaves it."""
    if d.get("badge") == "set":
        return d.get("badge_number")
    return -2 if d.get("badge") == "increment" else None


def _message(d: dict) -> dict:
    """The message object: title and content, and the options of the app's platform."""
    message: dict = {"title": d["title"], "content": d["content"]}
    if d.get("accept_time"):
        message["accept_time"] = d["accept_time"]
    custom = d.get("custom_content") or {}
    badge, sound, name = (
        _badge_type(d),
        d.get("sound") or "default",
        d.get("sound_name", "").strip(),
    )
    if d["application"].platform == Platform.IOS:
        if thread := d.get("ios_thread_id", "").strip():
            message["thread_id"] = thread
        ios: dict = {}
        if custom:
            ios["custom_content"] = json.dumps(custom, ensure_ascii=False)
        aps: dict = {}
        if badge is not None:
            aps["badge_type"] = badge
        if sound != "none":
            aps["sound"] = name if sound == "named" else "default"
        if category := d.get("ios_category", "").strip():
            aps["category"] = category
        if level := d.get("ios_interruption_level"):
            aps["interruption-level"] = level
        if d.get("ios_mutable_content"):
            aps["mutable-content"] = 1
        if aps:
            ios["aps"] = aps
        if ios:
            message["ios"] = ios
        return message
    if image := d.get("image_url", "").strip():
        message["xg_media_resources"] = image
    android: dict = {}
    if custom:
        android["custom_content"] = json.dumps(custom, ensure_ascii=False)
    click = d.get("click_action") or "app"
    if click == "activity":
        android["action"] = {"action_type": 1, "activity": d["click_activity"].strip()}
    elif click == "url":
        android["action"] = {"action_type": 2, "browser": {"url": d["click_url"].strip()}}
    elif click == "intent":
        android["action"] = {"action_type": 3, "intent": d["click_intent"].strip()}
    if badge is not None:
        android["badge_type"] = badge
    if sound == "none":
        android["ring"] = 0
    elif sound == "named":
        android["ring_raw"] = name
    for field, key in (("vibrate", "vibrate"), ("lights", "lights")):
        if d.get(field):
            android[key] = int(d[field])
    for field, key in ANDROID_TEXTS:
        if value := (d.get(field) or "").strip():
            android[key] = value
    for key in ANDROID_INTEGERS:
        if d.get(key) not in (None, ""):
            android[key] = int(d[key])
    if android:
        message["android"] = android
    return message


def _merged_message(old: dict, new: dict, platform: str) -> dict:
    """The edited message: ``new`` (the form's) over ``old`` without what the form sets on
    ``platform`` (``MESSAGE_KEYS`` and the rest), so that every field the form does not show
    stays as it was. An action keeps its other keys (aty_attr, browser.confirm) while the edit
    keeps its kind; another kind of action is the form's alone."""
    merged = copy.deepcopy(old)
    if platform == Platform.IOS:
        paths = [
            *MESSAGE_KEYS,
            *IOS_MESSAGE_KEYS,
            *(f"ios.{k}" for k in IOS_KEYS),
            *(f"ios.aps.{k}" for k in APS_KEYS),
        ]
    else:
        paths = [*MESSAGE_KEYS, *ANDROID_MESSAGE_KEYS]
        paths += [f"android.{k}" for k in ANDROID_SET if k != "action"]
        old_action = (old.get("android") or {}).get("action")
        new_action = (new.get("android") or {}).get("action")
        if _action_kind(old_action) == _action_kind(new_action):
            paths += [f"android.action.{k}" for k in ACTION_KEYS] + ["android.action.browser.url"]
        else:
            paths.append("android.action")
    for path in paths:
        _remove(merged, path.split("."))
    _merge(merged, new)
    return merged


def _action_kind(action) -> int:
    """What a tap does, as the form reads it back (``_initial_options``): 1 an activity, 2 a
    URL, 3 an intent, 0 the app itself."""
    if not isinstance(action, dict):
        return 0
    kind = action.get("action_type")
    if kind == 1 and not action.get("activity"):
        return 0
    return kind if kind in (1, 2, 3) else 0


def _remove(tree: dict, path: list[str]) -> None:
    """Remove ``path`` from ``tree``, and the objects it leaves empty."""
    head, *rest = path
    if not rest:
        tree.pop(head, None)
        return
    child = tree.get(head)
    if isinstance(child, dict):
        _remove(child, rest)
        if not child:
            del tree[head]


def _merge(tree: dict, new: dict) -> None:
    """``new`` into ``tree``, object by object."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            _merge(tree[key], value)
        else:
            tree[key] = copy.deepcopy(value)


def _badge_initial(badge, initial: dict) -> None:
    if isinstance(badge, int) and badge >= 0:
        initial.update(badge="set", badge_number=badge)
    elif badge == -2:
        initial["badge"] = "increment"


def _initial_options(push: Push, initial: dict, lost: list) -> None:
    """The composer's options as ``push`` has them (``_message`` read backwards)."""
    message = push.message or {}
    ios = push.application.platform == Platform.IOS
    part = message.get("ios" if ios else "android") or {}
    initial["accept_time"] = ", ".join(
        "{}:{}-{}:{}".format(
            *(f"{int(w[end][unit]):02d}" for end in ("start", "end") for unit in ("hour", "min"))
        )
        for w in message.get("accept_time") or ()
    )
    try:
        custom = json.loads(part.get("custom_content") or "{}")
    except ValueError:
        custom = {}
    for i, (key, value) in enumerate(custom.items()):
        if not isinstance(value, str):
            lost.append(
                _("the value of %(key)s is not text (it would be sent as text)") % {"key": key}
            )
            value = json.dumps(value, ensure_ascii=False)
        initial[f"custom_key_{i}"], initial[f"custom_value_{i}"] = key, value
    if ios:
        aps = part.get("aps") or {}
        _badge_initial(aps.get("badge_type"), initial)
        sound = aps.get("sound")
        if sound is None:
            initial["sound"] = "none"
        elif isinstance(sound, str):
            initial["sound"] = "default" if sound == "default" else "named"
            if sound != "default":
                initial["sound_name"] = sound
        else:
            lost.append(_("its sound object (a critical alert's)"))
        initial["ios_environment"] = push.environment or "product"
        initial["ios_category"] = aps.get("category") or ""
        initial["ios_thread_id"] = message.get("thread_id") or ""
        initial["ios_interruption_level"] = aps.get("interruption-level") or ""
        initial["ios_mutable_content"] = aps.get("mutable-content") == 1
        return
    action = part.get("action") or {}
    kind = action.get("action_type")
    if kind == 1 and action.get("activity"):
        initial.update(click_action="activity", click_activity=action["activity"])
    elif kind == 2:
        initial.update(click_action="url", click_url=(action.get("browser") or {}).get("url", ""))
    elif kind == 3:
        initial.update(click_action="intent", click_intent=action.get("intent", ""))
    _badge_initial(part.get("badge_type"), initial)
    if part.get("ring") == 0:
        initial["sound"] = "none"
    elif part.get("ring_raw"):
        initial.update(sound="named", sound_name=part["ring_raw"])
    for key in ("vibrate", "lights"):
        if part.get(key) in (0, 1):
            initial[key] = str(part[key])
    for field, key in ANDROID_TEXTS:
        if part.get(key):
            initial[field] = str(part[key])
    for key in ANDROID_INTEGERS:
        if isinstance(part.get(key), int) and not isinstance(part[key], bool):
            initial[key] = str(part[key])
    if message.get("xg_media_resources"):
        initial["image_url"] = message["xg_media_resources"]


def _initial_loop(push: Push, initial: dict, lost: list) -> None:
    options = push.options or {}
    if push.loop_id is not None and "loop_param" not in options:
        options = push.loop.definition
    if "loop_times" in options:
        lost.append(_("its repetition (the legacy loop_times form)"))
    if not (param := options.get("loop_param")):
        return
    kind = str(param["loopType"])
    initial.update(
        loop_type=kind,
        loop_start=param["startDate"],
        loop_end=param["endDate"],
        loop_times=", ".join(t[:5] for t in param["dayTimes"]),
    )
    if kind == "2":
        initial["loop_weekdays"] = [str(d) for d in param["loopDayIndexs"]]
    elif kind == "3":
        initial["loop_monthdays"] = ", ".join(str(d) for d in param["loopDayIndexs"])


def _simple_tags(audience: dict) -> tuple[list[str], str] | None:
    """(tags, operator) of tag rules the composer can show (one rule of one plain item), else
    None."""
    rules = audience.get("tag_rules") or []
    if len(rules) != 1 or rules[0].get("is_not"):
        return None
    items = rules[0].get("tag_items") or []
    if len(items) != 1 or items[0].get("is_not"):
        return None
    item = items[0]
    if (item.get("tag_type") or "xg_user_define") != "xg_user_define":
        return None
    return list(item.get("tags") or []), item.get("tags_operator", "OR")
