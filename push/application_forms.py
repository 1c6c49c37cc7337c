"""Console forms of an application's life after creation: editing it (the creation form's
fields and rules, ``push.forms.ApplicationForm``) and the typed name that confirms deleting it."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .forms import ApplicationForm
from .models import Application


class ApplicationEditForm(ApplicationForm):
    """Name, platform and package names; the AccessID and the keys never change."""

    def __init__(self, *args, app: Application, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "name": app.name,
                "platform": app.platform,
                "package_names": "\n".join(app.package_names),
            },
        )
        super().__init__(*args, **kwargs)


class ApplicationDeleteForm(forms.Form):
    """Deleting is confirmed by typing the application's name exactly."""

    confirm_name = forms.CharField(
        label=_("Type the application's name to confirm"), max_length=100, strip=False
    )

    def __init__(self, *args, app: Application, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.fields["confirm_name"].widget.attrs.update(autocomplete="off", spellcheck="false")

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"]
        if typed.strip() != self.app.name:
            raise forms.ValidationError(
                _("This is not the application's name; type %(name)s exactly.")
                % {"name": self.app.name}
            )
        return typed
