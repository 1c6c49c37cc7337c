"""Console pages that change an application after its creation, under
/a/<account_id>/push/applications/<pk>/: edit it, delete it (a confirmation page that says what
goes with it, confirmed by typing its name). Owners and admins only; the rules are in
``push.applications``."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.decorators import account_view
from accounts.models import Role

from . import applications
from .application_forms import ApplicationDeleteForm, ApplicationEditForm
from .models import Application


def _application(request, pk) -> Application:
    return get_object_or_404(Application, pk=pk, account=request.account)


@never_cache
@account_view(Role.ADMIN)
def application_edit(request, pk):
    app = _application(request, pk)
    form = ApplicationEditForm(request.POST or None, app=app)
    if request.method == "POST" and form.is_valid():
        try:
            changed = applications.edit(app, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if changed:
                messages.success(request, _("%(app)s saved.") % {"app": app.name})
            return redirect("push_application", account_id=request.account.pk, pk=app.pk)
    return render(request, "push/application_edit.html", {"app": app, "form": form})


@never_cache
@account_view(Role.ADMIN)
def application_delete(request, pk):
    app = _application(request, pk)
    form = ApplicationDeleteForm(request.POST or None, app=app)
    if request.method == "POST" and form.is_valid():
        gone = applications.delete(app, by=request.user)
        if gone.purged_in_request:
            text = _("%(app)s was deleted with its devices and pushes.")
        else:
            text = _(
                "%(app)s was deleted: its keys are refused from now on, and its devices and "
                "pushes are being removed in the background."
            )
        messages.success(request, text % {"app": app.name})
        return redirect("push_applications", account_id=request.account.pk)
    return render(
        request,
        "push/application_delete.html",
        {"app": app, "form": form, "gone": applications.summary(app)},
    )
