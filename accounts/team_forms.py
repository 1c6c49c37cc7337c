"""Forms of the Team, invitation, account settings and audit pages (``accounts.team_views``)."""

import zoneinfo
from functools import cache

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.utils.translation import gettext_lazy as _

from .audit import AuditEvent
from .invitations import INVITABLE_ROLES
from .models import Account, Role


def role_choices():
    return [(r.value, r.label) for r in INVITABLE_ROLES]


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    # The IANA names zoneinfo knows, without the legacy aliases ("US/Pacific", "Etc/GMT+8"
    # whose sign is inverted) that only confuse a choice; the account's current zone is added
    # back by the form if it is one of those.
    names = sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))
    )
    return [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in names)]


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=role_choices, initial=Role.OPERATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=role_choices)


class TransferForm(forms.Form):
    member = forms.TypedChoiceField(label=_("New owner"), coerce=int)
    confirm = forms.BooleanField(
        label=_("I understand that I will become an admin and the new owner can remove me."),
    )

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = [
            (m.pk, f"{m.user.get_username()} ({m.get_role_display()})") for m in members
        ]


class AccountSettingsForm(forms.Form):
    name = forms.CharField(label=_("Account name"), max_length=100)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("Daily figures, calendar-day SMS limits and the times on every page use it."),
    )

    def __init__(self, *args, account: Account, **kwargs):
        kwargs.setdefault("initial", {"name": account.name, "time_zone": account.time_zone})
        super().__init__(*args, **kwargs)
        choices = time_zone_choices()
        if account.time_zone not in dict(choices):
            choices = [(account.time_zone, account.time_zone), *choices]
        self.fields["time_zone"].choices = choices


class NewUserForm(forms.Form):
    """The invitee without a user yet: a username (the e-mail address unless they choose
    another) and a password."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("You log in with it. Letters, digits and @ . + - _ only."),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html,
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        get_user_model().username_validator(username)
        return username

    def clean(self):
        cleaned = super().clean()
        one, two = cleaned.get("password1"), cleaned.get("password2")
        if one and two and one != two:
            self.add_error("password2", _("The two passwords differ."))
        return cleaned


class ExistingUserForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("All actions")), *AuditEvent.Action.choices],
    )
