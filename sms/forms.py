from django import forms
from django.utils.translation import gettext_lazy as _

from . import sources
from .models import (
    IdentityApplication,
    RateLimitPolicy,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from .numbers import InvalidNumber, normalize


class SignatureForm(forms.ModelForm):
    class Meta:
        model = Signature
        fields = [
            "text",
            "region",
            "sign_type",
            "document_type",
            "purpose",
            "proof_image",
            "remark",
        ]
        labels = {
            "text": _("Signature"),
            "region": _("Region"),
            "sign_type": _("Sign type"),
            "document_type": _("Document type"),
            "purpose": _("Purpose"),
            "proof_image": _("Proof image"),
            "remark": _("Remark"),
        }


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["name", "content", "kind", "region", "code", "remark"]
        widgets = {"content": forms.Textarea(attrs={"rows": 4})}
        labels = {
            "name": _("Name"),
            "content": _("Content"),
            "kind": _("Kind"),
            "region": _("Region"),
            "code": _("Code"),
            "remark": _("Remark"),
        }

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["code"].required = False

    def clean_code(self):
        value = self.cleaned_data["code"].strip()
        if value and Template.objects.filter(account=self.account, code=value).exists():
            raise forms.ValidationError(_("This account already has a template with this ID."))
        return value


class SmsApplicationForm(forms.ModelForm):
    class Meta:
        model = SmsApplication
        fields = ["sdk_app_id", "name", "receipt_mode"]
        labels = {"sdk_app_id": "SdkAppId", "name": _("Name"), "receipt_mode": _("Receipt mode")}

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_sdk_app_id(self):
        value = self.cleaned_data["sdk_app_id"].strip()
        if SmsApplication.objects.filter(account=self.account, sdk_app_id=value).exists():
            raise forms.ValidationError(_("This SdkAppId is already registered."))
        return value


class PolicyForm(forms.ModelForm):
    exempt_numbers = forms.CharField(
        label=_("Exempt numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One number per line (at most 300); rate limits do not apply to them."),
    )

    class Meta:
        model = RateLimitPolicy
        fields = ["same_content_seconds", "hourly_limit", "daily_limit"]
        labels = {
            "same_content_seconds": _("Same content seconds"),
            "hourly_limit": _("Hourly limit"),
            "daily_limit": _("Daily limit"),
        }

    def clean_exempt_numbers(self):
        numbers = []
        for line in self.cleaned_data["exempt_numbers"].split():
            try:
                numbers.append(normalize(line))
            except InvalidNumber as exc:
                raise forms.ValidationError(str(exc)) from None
        numbers = sorted(set(numbers))
        if len(numbers) > RateLimitPolicy.MAX_EXEMPT_NUMBERS:
            raise forms.ValidationError(
                _("At most %(max)s exempt numbers; got %(n)s.")
                % {"max": RateLimitPolicy.MAX_EXEMPT_NUMBERS, "n": len(numbers)}
            )
        return numbers


class IdentityApplicationForm(forms.ModelForm):
    class Meta:
        model = IdentityApplication
        fields = ["company_name", "credential_number", "proof"]
        labels = {
            "company_name": _("Company name"),
            "credential_number": _("Credential number"),
            "proof": _("Proof"),
        }


class MessageFilterForm(forms.Form):
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Since")
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Until")
    )
    number = forms.CharField(required=False, label=_("Number"))
    state = forms.ChoiceField(
        required=False, choices=[("", _("any"))] + SmsMessage.State.choices, label=_("State")
    )
    template = forms.CharField(required=False, label=_("Template ID"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One filter per source type whose messages are grouped (e.g. ?push=<id>).
        for source in sources.grouped():
            self.fields[source.group] = forms.IntegerField(
                required=False, min_value=1, label=source.group_label
            )

    def group_filter(self) -> dict:
        """The ``records`` filters a group filter asks for (the first one given): its source
        type and session context; {} for none."""
        for source in sources.grouped():
            if (group_id := self.cleaned_data.get(source.group)) is not None:
                return {"source_type": source, "session_context": source.context(group_id)}
        return {}
