"""Forms of the push console: creating an application, and the filters of the lists."""

import re

from django import forms

from .models import Application, Delivery, Platform, Push
from .stats import OUTCOMES

# An Android package name or an iOS bundle ID: dot-separated segments, at least two.
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)+$")
MAX_PACKAGE_NAMES = 20

YES_NO = [("", "any"), ("yes", "yes"), ("no", "no")]
DATE = forms.DateInput(attrs={"type": "date"})


class ApplicationForm(forms.Form):
    name = forms.CharField(max_length=100)
    platform = forms.ChoiceField(choices=Platform.choices)
    package_names = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Other package names of the app (TPNS multi_pkg), one per line.",
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
                raise forms.ValidationError(f"{name!r} is not a package name (com.example.app).")
            names.append(name)
        if len(names) > MAX_PACKAGE_NAMES:
            raise forms.ValidationError(f"At most {MAX_PACKAGE_NAMES} package names.")
        return names


class ApplicationChoiceForm(forms.Form):
    """A filter form whose application choices are the account's applications only."""

    application = forms.ModelChoiceField(
        queryset=Application.objects.none(), required=False, empty_label="any"
    )

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.filter(account=account)


class DeviceFilterForm(ApplicationChoiceForm):
    token = forms.CharField(required=False, max_length=64, help_text="Starts with")
    phone = forms.CharField(required=False, max_length=32, label="Phone number")
    account = forms.CharField(required=False, max_length=128)
    tag = forms.CharField(required=False, max_length=50)
    notifications = forms.ChoiceField(
        required=False,
        choices=[("", "any"), ("on", "on"), ("off", "off")],
        label="Notifications",
    )

    field_order = ["token", "phone", "account", "tag", "application", "notifications"]


class PushFilterForm(ApplicationChoiceForm):
    status = forms.ChoiceField(required=False, choices=[("", "any")] + Push.Status.choices)
    since = forms.DateField(required=False, widget=DATE)
    until = forms.DateField(required=False, widget=DATE)
    sms = forms.ChoiceField(required=False, choices=YES_NO, label="SMS supplement")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned


class DeliveryFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "any")] + Delivery.State.choices)
    outcome = forms.ChoiceField(
        required=False, choices=[("", "any")] + [(o, o) for o in OUTCOMES], label="SMS outcome"
    )
