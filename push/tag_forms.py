"""Forms of the tags pages: the tag list's search, the devices list's add/remove action, and the
CSV import. Tag names are checked by ``push.tags.name_fault``, the rule of TPNS's tag API."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import packages, tags
from .forms import ApplicationChoiceForm
from .models import Application, TagImport

NAME_FAULTS = {
    tags.BLANK: _("A tag cannot be blank."),
    tags.TOO_LONG: _("A tag has at most %(n)s characters."),
}


class TagField(forms.CharField):
    def __init__(self, **kwargs):
        # Not stripped: a tag is stored as given (TPNS's API takes " vip" as its own tag).
        super().__init__(label=_("Tag"), strip=False, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if fault := tags.name_fault(value):
            raise forms.ValidationError(str(NAME_FAULTS[fault]) % {"n": tags.TAG_MAX_LENGTH})
        return value


class TagFilterForm(ApplicationChoiceForm):
    q = forms.CharField(
        required=False, max_length=tags.TAG_MAX_LENGTH, label=_("Tag"), help_text=_("Contains")
    )


class DeviceTagForm(forms.Form):
    """Add or remove a tag for the devices ticked on the devices list, or for every device the
    list's filter matches (``scope``)."""

    CHOSEN, MATCHING = "chosen", "matching"

    action = forms.ChoiceField(label=_("Action"), choices=TagImport.Action.choices)
    tag = TagField()
    scope = forms.ChoiceField(
        label=_("Devices"),
        choices=[
            (CHOSEN, _("the devices ticked")),
            (MATCHING, _("all devices matching the filter")),
        ],
        initial=CHOSEN,
    )
    device = forms.TypedMultipleChoiceField(coerce=int, required=False, label=_("Devices"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id may be posted: the view keeps those of the account's devices only.
        self.fields["device"].choices = [(v, v) for v in self.data.getlist("device") if v.isdigit()]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope") == self.CHOSEN and not cleaned.get("device"):
            raise forms.ValidationError(_("Tick the devices first, or choose all that match."))
        return cleaned


class TagImportForm(forms.Form):
    application = forms.ModelChoiceField(
        queryset=Application.objects.none(), label=_("Application")
    )
    kind = forms.ChoiceField(
        label=_("The file holds"), choices=TagImport.Kind.choices, initial=TagImport.Kind.TOKEN
    )
    account_type = forms.IntegerField(
        required=False,
        min_value=0,
        label=_("Account type"),
        help_text=_("Accounts only; blank for any type (1002: phone numbers)."),
    )
    action = forms.ChoiceField(label=_("Action"), choices=TagImport.Action.choices)
    tag = TagField()
    file = forms.FileField(
        label=_("File"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.zip"}),
    )

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.filter(account=account)
        self.fields["file"].help_text = gettext(
            "A .csv or .txt with one token or account a line, or a .zip of one; at most %(mb)s MB."
        ) % {"mb": packages.MAX_FILE_BYTES // 2**20}
