"""Console forms for an application's channel credentials: the secret (the .p8 key, the
service-account JSON) as a file upload or pasted text; the vendors' fields as their modules
list them (``FIELDS``); and the Test action's device.

The forms only gather what was sent; ``push.channels.uploads.check`` decides whether it is
good, for the console and the API alike.
"""

import functools

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from . import channels
from .channels import SECRET_FIELDS
from .channels.uploads import fields
from .models import ChannelKind

# A .p8 key is ~250 bytes and a service-account key file ~2.4 KB: anything far larger is not one.
MAX_UPLOAD_BYTES = 64 * 1024


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value: a form sent back with errors must not carry the
    pasted secret back into the page."""

    def format_value(self, value):
        return None


class CredentialsForm(forms.Form):
    kind: ChannelKind
    # The field holding the secret (``SECRET_FIELDS``); ``<that>_file`` is its upload.
    secret_field = ""

    def submitted(self) -> dict:
        """The fields for ``uploads.check``: the upload's text when a file was given, else
        the pasted text; the other fields as typed."""
        data = {name: self.cleaned_data.get(name) or "" for name in fields(self.kind)}
        if self.secret_field and (text := self.cleaned_data.get(f"{self.secret_field}_file")):
            data[self.secret_field] = text
        return data

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get(f"{self.secret_field}_file")
        if upload is not None:
            cleaned[f"{self.secret_field}_file"] = self._text_of(upload)
        return cleaned

    def _text_of(self, upload) -> str | None:
        field = f"{self.secret_field}_file"
        raw = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            self.add_error(
                field, _("This file is larger than %(kb)s KB.") % {"kb": MAX_UPLOAD_BYTES // 1024}
            )
            return None
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.add_error(field, _("This file is not text (UTF-8)."))
            return None

    def add_channel_errors(self, errors: dict[str, str]) -> None:
        """The checker's {field: message} on the fields they name (the secret's on its text
        box, beside the upload), the rest above the form."""
        for name, message in errors.items():
            if name in self.fields:
                self.add_error(name, message)
            else:
                self.add_error(None, f"{name}: {message}" if name else message)


class ApnsCredentialsForm(CredentialsForm):
    kind = ChannelKind.APNS
    secret_field = SECRET_FIELDS[kind]

    key_file = forms.FileField(
        label=_("Key file (.p8)"),
        required=False,
        help_text=_("Apple Developer → Certificates, Identifiers & Profiles → Keys: the .p8 file."),
    )
    key = forms.CharField(
        label=_("or paste the key"),
        required=False,
        max_length=MAX_UPLOAD_BYTES,
        widget=SecretTextarea(
            attrs={"rows": 5, "autocomplete": "off", "placeholder": "-----BEGIN PRIVATE KEY-----"}
        ),
        help_text=_("Used when no file is chosen. Never shown again once saved."),
    )
    key_id = forms.CharField(label=_("Key ID"), required=False, max_length=100)
    team_id = forms.CharField(label=_("Team ID"), required=False, max_length=100)
    topic = forms.CharField(
        label=_("Topic"), required=False, max_length=255, help_text=_("The app's bundle ID.")
    )
    environment = forms.ChoiceField(
        choices=[("production", _("Production")), ("sandbox", _("Sandbox (development builds)"))],
        initial="production",
        label=_("Environment"),
    )


class FcmCredentialsForm(CredentialsForm):
    kind = ChannelKind.FCM
    secret_field = SECRET_FIELDS[kind]

    service_account_file = forms.FileField(
        label=_("Service-account key file (JSON)"),
        required=False,
        help_text=_(
            "Firebase console → Project settings → Service accounts → Generate new private key."
        ),
    )
    service_account = forms.CharField(
        label=_("or paste its JSON"),
        required=False,
        max_length=MAX_UPLOAD_BYTES,
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "placeholder": "{"}),
        help_text=_("Used when no file is chosen. Its private key is never shown again."),
    )
    project_id = forms.CharField(
        label=_("Project ID"),
        required=False,
        max_length=100,
        help_text=_("Leave empty to take the key file's project_id."),
    )


CREDENTIALS_FORMS = {ChannelKind.APNS: ApnsCredentialsForm, ChannelKind.FCM: FcmCredentialsForm}


@functools.cache
def credentials_form(kind: str) -> type[CredentialsForm]:
    """The console form of a channel's credentials: APNs's and FCM's own, a vendor's made from
    its module's ``FIELDS`` (whether a field is required is the module's check to say, with
    the same words as the API's)."""
    kind = ChannelKind(kind)
    if kind in CREDENTIALS_FORMS:
        return CREDENTIALS_FORMS[kind]
    attrs = {"kind": kind}
    for spec in channels.module(kind).FIELDS:
        if spec.choices:
            field = forms.ChoiceField(
                label=spec.label, choices=spec.choices, initial=spec.default, required=False
            )
        else:
            widget = (
                forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
                if spec.secret
                else None
            )
            field = forms.CharField(
                label=spec.label, required=False, max_length=spec.max_length, widget=widget
            )
        help_text = spec.help
        if spec.secret:
            never_shown = _("Never shown again once saved.")
            help_text = format_lazy("{} {}", help_text, never_shown) if help_text else never_shown
        field.help_text = help_text
        attrs[spec.name] = field
    return type(f"{kind.value.title()}CredentialsForm", (CredentialsForm,), attrs)


class ChannelTestForm(forms.Form):
    """The device a Test goes to: one of the app's devices on the channel, or our token."""

    device = forms.TypedChoiceField(label=_("Device"), required=False, coerce=int, empty_value=None)
    device_token = forms.CharField(
        label=_("or its token"),
        required=False,
        max_length=100,
        # Our token, not the APNs or FCM one: the device as every other page names it.
        widget=forms.TextInput(attrs={"placeholder": _("the device's pushconsole token")}),
    )

    def __init__(self, *args, devices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].choices = [("", "—"), *devices]

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("device") and not cleaned.get("device_token"):
            raise forms.ValidationError(_("Choose a device, or give its token."))
        return cleaned
