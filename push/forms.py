"""Forms of the push console: creating an application, and the filters of the lists."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from lib.paging import Sorting

from .models import Application, Delivery, Device, Platform, Push
from .stats import OUTCOMES
from .tpns.parse import SMS_DELAY_MIN, beijing_time

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
# (``lib.paging.Sorting``). "registered" is the id itself: the (application, id) index gives
# it without sorting, as the token prefix index gives a token search in token order.
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
        required=False, choices=ANY + [(o, o) for o in OUTCOMES], label=_("SMS outcome")
    )


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

    def __init__(self, *args, account, templates, signatures, applications, editing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.editing = editing  # the scheduled push being edited (``control.edit_waiting``)
        self.fields["application"].queryset = account.push_apps.all()
        if editing is not None:
            # An edited push stays the same application's, and scheduled.
            self.fields["application"].queryset = account.push_apps.filter(
                pk=editing.application_id
            )
            self.fields["audience_type"].choices = [
                (kind, label) for kind, label in self.AUDIENCES if kind in Push.Audience.BROADCASTS
            ]
            self.fields["send_time"].required = True
        self.fields["sms_app_id"].choices = [(a.sdk_app_id, str(a)) for a in applications]
        self.fields["sms_template_id"].choices = [("", "—")] + [
            (t.code, f"{t.code} · {t.name}") for t in templates
        ]
        self.fields["sms_sign_name"].choices = [("", _("the account's approved signature"))] + [
            (s.text, f"【{s.text}】 {s.get_region_display()}") for s in signatures
        ]

    def clean(self):
        data = super().clean()
        if data.get("resend_by_sms") and not data.get("sms_template_id"):
            self.add_error("sms_template_id", _("Choose an approved template for the SMS."))
        return data

    def test_body(self) -> dict:
        """The request of a test push: the composed push to ``test_token`` alone, now (a
        token_list push of one token, accepted as any other)."""
        body = self.tpns_body()
        for key in ("token_list", "account_list", "account_type", "tag_rules", "send_time"):
            body.pop(key, None)
        body["audience_type"] = Push.Audience.TOKEN_LIST
        body["token_list"] = [self.cleaned_data["test_token"].strip()]
        return body

    def edited_body(self, push: Push) -> dict:
        """The request of ``push`` as edited: this form's fields over what the push was given
        that the composer does not show (its other options, the rest of its message object,
        its iOS environment), so that an edit changes only what the form shows. Its loop is
        not re-read (``control.edit_waiting`` keeps it)."""
        kept = {
            k: v
            for k, v in push.options.items()
            if k not in ("send_time", "loop_param", "loop_times", "loop_interval")
        }
        body = {**kept, **self.tpns_body()}
        body["message"] = {**push.message, **body["message"]}
        if push.environment:
            body.setdefault("environment", push.environment)
        if push.seq:
            body.setdefault("seq", push.seq)
        return body

    @classmethod
    def initial_from(cls, push: Push, tz) -> tuple[dict, list[str]]:
        """The form's initial values for a copy of ``push`` (duplicate, edit), and what of
        it the form cannot show (said to the person)."""
        audience = push.audience or {}
        lost: list[str] = []
        initial = {
            "application": push.application_id,
            "message_type": push.message_type,
            "title": push.title,
            "content": push.content,
            "expire_time": push.expire_time,
            "account_type": push.account_type,
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

    def tpns_body(self) -> dict:
        """The /v3/push/app request this form stands for."""
        d = self.cleaned_data
        lines = lambda text: [x.strip() for x in (text or "").splitlines() if x.strip()]  # noqa: E731
        body = {
            "audience_type": d["audience_type"],
            "message_type": d["message_type"],
            "message": {"title": d["title"], "content": d["content"]},
            "expire_time": d["expire_time"],
        }
        if d["audience_type"] == Push.Audience.TOKEN_LIST:
            body["token_list"] = lines(d["tokens"])
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
