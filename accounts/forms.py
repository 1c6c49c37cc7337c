from django import forms
from django.utils.translation import gettext_lazy as _

from .models import validate_tencent_secret_id, validate_tencent_secret_key


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("A note to tell your keys apart, e.g. “CI”."),
    )


class AuthorizationForm(forms.Form):
    secret_id = forms.CharField(
        label="SecretId", max_length=100, validators=[validate_tencent_secret_id]
    )
    secret_key = forms.CharField(
        label="SecretKey",
        max_length=200,
        validators=[validate_tencent_secret_key],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
