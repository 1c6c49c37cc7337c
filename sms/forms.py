import re

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import sending, sources
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
    """Apply for a signature, or (with ``instance``) edit a pending one or resubmit a rejected
    one. A text the account already holds (``SignatureQuerySet.text_taken``) is refused."""

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean(self):
        data = super().clean()
        text, region = data.get("text"), data.get("region")
        if text and region:
            taken = Signature.objects.text_taken(
                self.account, region, text, exclude_pk=self.instance.pk
            )
            if taken:
                self.add_error("text", taken)
        return data

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
        # Not ClearableFileInput: it would link the stored proof, which is never public media.
        widgets = {"proof_image": forms.FileInput}


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


class TemplateEditForm(forms.ModelForm):
    """Edit a pending template or resubmit a rejected one; its ID stays."""

    class Meta(TemplateForm.Meta):
        fields = ["name", "content", "kind", "region", "remark"]

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account


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
                raise forms.ValidationError(exc.for_people()) from None
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


# A number list is split on new lines, commas and semicolons (as people paste them); spaces
# may sit inside a number ("137 1111 2222").
NUMBER_SEPARATORS = re.compile(r"[\n\r,;，；]+")


class OneOffSmsForm(forms.Form):
    """A one-off SMS: an approved template with its parameters to a few numbers.

    Checked by ``sending.prepare``, exactly as ``POST /api/v1/sms/send`` is (``prepare`` names
    the field it refuses; it is shown on the form's field). One field per parameter of the
    chosen template. ``token`` is the form's one-time key (``OneOffSend.claim``)."""

    MAX_NUMBERS = 20
    # sending.SmsRejected.field → the form's field.
    FIELDS = {
        "template_id": "template",
        "params": "template",
        "sign_name": "signature",
        "sdk_app_id": "application",
        "numbers": "numbers",
        "authorization": None,
    }

    template = forms.ModelChoiceField(queryset=Template.objects.none(), label=_("Template"))
    signature = forms.ModelChoiceField(
        queryset=Signature.objects.none(),
        required=False,
        label=_("Signature"),
        empty_label=_("The newest approved signature of the template's region"),
    )
    application = forms.ModelChoiceField(
        queryset=SmsApplication.objects.none(), label="SdkAppId", empty_label=None
    )
    numbers = forms.CharField(
        label=_("Phone numbers"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One per line (or separated by commas), at most 20; Chinese mainland numbers may go "
            "without +86."
        ),
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, data=None, *, account, template=None, **kwargs):
        super().__init__(data, **kwargs)
        self.account = account
        templates = Template.objects.sendable().filter(account=account).order_by("code")
        self.fields["template"].queryset = templates
        self.fields["template"].label_from_instance = lambda t: f"{t.code} · {t.name}"
        signatures = Signature.objects.sendable().filter(account=account).order_by("text")
        self.fields["signature"].queryset = signatures
        self.fields["signature"].label_from_instance = lambda s: (
            f"【{s.text}】 {s.get_region_display()}"
        )
        self.fields["application"].queryset = SmsApplication.objects.filter(account=account)
        # The template whose parameters the form asks for: the one posted, else the one asked
        # for (?template=), else the first.
        wanted = (data or {}).get("template") or template
        self.chosen = templates.filter(pk=wanted).first() if str(wanted or "").isdigit() else None
        self.chosen = self.chosen or (None if data else templates.first())
        if self.chosen is not None and not data:
            self.initial.setdefault("template", self.chosen.pk)
        params = self.chosen.param_count if self.chosen else 0
        for n in range(1, params + 1):
            self.fields[f"param_{n}"] = forms.CharField(
                label=gettext("Parameter {%(n)s}") % {"n": n},
                max_length=500,
                strip=False,
                required=False,
            )
        self.order_fields(
            ["template", *(f"param_{n}" for n in range(1, params + 1)), "signature", "application"]
        )

    def param_fields(self):
        return [self[name] for name in self.fields if name.startswith("param_")]

    def clean_numbers(self):
        numbers = [n.strip() for n in NUMBER_SEPARATORS.split(self.cleaned_data["numbers"])]
        numbers = [n for n in numbers if n]
        if not numbers:
            raise forms.ValidationError(_("Enter at least one number."))
        if len(numbers) > self.MAX_NUMBERS:
            raise forms.ValidationError(
                _("At most %(max)s numbers at once; got %(n)s.")
                % {"max": self.MAX_NUMBERS, "n": len(numbers)}
            )
        return numbers

    def params(self) -> list[str]:
        count = self.chosen.param_count if self.chosen else 0
        return [self.cleaned_data.get(f"param_{n}", "") for n in range(1, count + 1)]

    def prepare(self, *, by) -> "sending.SmsOrder | None":
        """The send, prepared by ``sending.prepare`` as the API prepares it; None (with the
        reason on the field it names) if it cannot go ahead."""
        data = self.cleaned_data
        try:
            return sending.prepare(
                self.account,
                sdk_app_id=data["application"].sdk_app_id,
                template_id=data["template"].code,
                sign_name=data["signature"].text if data["signature"] else "",
                params=self.params(),
                numbers=data["numbers"],
                created_by=by,
            )
        except sending.SmsRejected as rejected:
            self.refuse(rejected)
            return None

    def refuse(self, rejected: "sending.SmsRejected") -> None:
        """Show a refusal of ``sending`` on the field it names."""
        name, _, index = rejected.field.partition("[")
        message = rejected.for_people()
        if name == "params" and index:
            field = f"param_{int(index.rstrip(']')) + 1}"
        elif name == "numbers" and index:
            field = "numbers"
            number = self.cleaned_data["numbers"][int(index.rstrip("]"))]
            message = gettext("%(number)s (number %(n)s): %(error)s") % {
                "number": number,
                "n": int(index.rstrip("]")) + 1,
                "error": message,
            }
        else:
            field = self.FIELDS.get(name)
        self.add_error(field if field in self.fields else None, message)
