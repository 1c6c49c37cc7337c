"""Console pages of tags, under /a/<account_id>/push/: every tag with its device count, adding or
removing a tag for devices of the devices list, and importing a tag from a CSV (with its
progress and per-line error report)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.decorators import account_view
from accounts.models import Role
from lib.exports import csv_response
from lib.paging import page_of

from . import packages, tag_import, tags
from .forms import DeviceFilterForm
from .models import Application, Device, TagImport
from .tag_forms import DeviceTagForm, TagFilterForm, TagImportForm
from .views import matching_devices

PAGE_SIZE = 50
RECENT_IMPORTS = 20
# "All devices matching the filter" in one request does at most this many; beyond, a CSV
# import does it in the background.
BULK_MAX = 100_000

# ``push.packages``' reasons for a bad line, as people read them.
_LINE_REASONS = {
    f"longer than {packages.VALUE_LENGTH[1]} characters": gettext_lazy("too long"),
    f"not {packages.VALUE_LENGTH[0]} to {packages.VALUE_LENGTH[1]} characters": gettext_lazy(
        "too short or too long"
    ),
    "not UTF-8": gettext_lazy("not UTF-8"),
    "more than one column": gettext_lazy("more than one column"),
    "control characters": gettext_lazy("control characters"),
}


def reason(line) -> str:
    """Why a line of an import was refused, in the reader's language."""
    text = str(line.get_problem_display())
    if line.detail:
        text += f": {_LINE_REASONS.get(line.detail, line.detail)}"
    return text


@account_view()
def tag_list(request):
    """Every tag of the account's applications (or one's) with how many devices carry it. The
    names come from a skip scan of the tag index (``tags.names``), the counts of the page's
    tags from one GROUP BY (``tags.counts``)."""
    form = TagFilterForm(request.GET or None, account=request.account)
    filters = form.cleaned_data if form.is_valid() else {}
    if application := filters.get("application"):
        apps = [application]
    else:
        apps = list(Application.objects.filter(account=request.account).order_by("name", "id"))
    search = filters.get("q", "").casefold()
    rows = [
        (app, name)
        for app in apps
        for name in tags.names(app.pk)
        if not search or search in name.casefold()
    ]
    page, page_error = page_of(Paginator(rows, PAGE_SIZE), request.GET.get("page"))
    counted = tags.counts((app.pk, name) for app, name in page)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "push/tags.html",
        {
            "form": form,
            "page": page,
            "page_error": page_error,
            "rows": [
                {
                    "app": app,
                    "tag": name,
                    "devices": counted.get((app.pk, name), 0),
                    "query": urlencode({"application": app.pk, "tag": name}),
                }
                for app, name in page
            ],
            "query": query.urlencode(),
            "can_tag": request.membership.has_role(Role.OPERATOR),
        },
    )


@require_POST
@account_view(Role.OPERATOR)
def devices_tag(request):
    """The devices list's action: add or remove a tag for the devices ticked, or for all the
    list's filter (in the query string) matches, in one statement per application
    (``tags.add_to``, ``tags.remove_from``), with the audit event in the same transaction."""
    account = request.account
    back = reverse("push_devices", args=[account.pk]) + (
        f"?{request.GET.urlencode()}" if request.GET else ""
    )
    form = DeviceTagForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    action, tag, scope = (form.cleaned_data[k] for k in ("action", "tag", "scope"))
    if scope == DeviceTagForm.CHOSEN:
        chosen = Device.objects.filter(
            application__in=Application.objects.filter(account=account),
            pk__in=form.cleaned_data["device"],
        )
    else:
        filters = DeviceFilterForm(request.GET, account=account)
        if not filters.is_valid():  # never "all devices" for a filter that is not one
            messages.error(request, _("The filter is not valid: correct it first."))
            return redirect(back)
        chosen, error = matching_devices(request, filters.cleaned_data)
        if error:
            messages.error(request, error)
            return redirect(back)
    total = chosen.order_by().values("pk")[: BULK_MAX + 1].count()
    if total > BULK_MAX:
        messages.error(
            request,
            _(
                "More than %(n)s devices match: narrow the filter, or import their tokens "
                "from a CSV on the tags page."
            )
            % {"n": BULK_MAX},
        )
        return redirect(back)
    app_ids = sorted(set(chosen.order_by().values_list("application_id", flat=True).distinct()))
    changed = refused = 0
    try:
        with transaction.atomic():
            for app_id in app_ids:
                if action == TagImport.Action.ADD:
                    tagged = tags.add_to(app_id, chosen, tag)
                    changed += tagged.added
                    refused += tagged.refused.count()
                else:
                    changed += tags.remove_from(app_id, chosen, tag)
            audit.record(
                account,
                request.user,
                audit.AuditEvent.Action.DEVICES_TAGGED
                if action == TagImport.Action.ADD
                else audit.AuditEvent.Action.DEVICES_UNTAGGED,
                target=tag,
                detail={"devices": total, "changed": changed, "refused": refused, "scope": scope},
            )
    except tags.AppTagLimit:
        messages.error(
            request,
            _("An application may have at most %(n)s tags: this one would be one too many.")
            % {"n": tags.MAX_TAGS_PER_APP},
        )
        return redirect(back)
    values = {"tag": tag, "n": changed}
    if action == TagImport.Action.ADD:
        note = ngettext(
            "Tag “%(tag)s” added to %(n)s device.", "Tag “%(tag)s” added to %(n)s devices.", changed
        )
    else:
        note = ngettext(
            "Tag “%(tag)s” removed from %(n)s device.",
            "Tag “%(tag)s” removed from %(n)s devices.",
            changed,
        )
    messages.success(request, note % values)
    if refused:
        messages.warning(
            request,
            ngettext(
                "%(n)s device was left out: it carries %(cap)s tags already.",
                "%(n)s devices were left out: they carry %(cap)s tags already.",
                refused,
            )
            % {"n": refused, "cap": tags.MAX_TAGS_PER_DEVICE},
        )
    return redirect(back)


# Imports


def _package_error(exc: packages.PackageError) -> str:
    return {
        packages.PackageError.NAME: _("The file name must be 1 to 100 characters."),
        packages.PackageError.FORMAT: _(
            "The file must be a .csv or .txt, or a .zip holding one of them and no folder."
        ),
        packages.PackageError.SIZE: _("The file is larger than %(mb)s MB.")
        % {"mb": packages.MAX_FILE_BYTES // 2**20},
        packages.PackageError.EMPTY: _("No line of the file is a token or an account."),
    }[exc.kind]


@never_cache
@account_view(Role.OPERATOR)
def import_new(request):
    """Upload a CSV of tokens or accounts to tag (or untag) their devices; the lines are
    staged here and applied by a task (``push.tag_import``), whose page shows the progress."""
    form = TagImportForm(request.POST or None, request.FILES or None, account=request.account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = tag_import.create(
                data["application"],
                data["file"],
                kind=data["kind"],
                action=data["action"],
                tag=data["tag"],
                account_type=data["account_type"],
                by=request.user,
            )
        except packages.PackageError as exc:
            form.add_error("file", _package_error(exc))
        else:
            return redirect("push_tag_import", account_id=request.account.pk, pk=job.pk)
    recent = (
        TagImport.objects.filter(application__account=request.account)
        .select_related("application")
        .order_by("-created_at", "-id")[:RECENT_IMPORTS]
    )
    return render(
        request,
        "push/tag_import_new.html",
        {"form": form, "recent": recent, "cap": tags.MAX_TAGS_PER_DEVICE},
    )


def _job(request, pk) -> TagImport:
    return get_object_or_404(
        TagImport.objects.select_related("application"),
        pk=pk,
        application__account=request.account,
    )


@never_cache
@account_view(Role.OPERATOR)
def import_detail(request, pk):
    """An import's progress (the page polls ``import_progress``) and its per-line errors."""
    job = _job(request, pk)
    page, page_error = page_of(
        Paginator(tag_import.errors(job), PAGE_SIZE), request.GET.get("page")
    )
    return render(
        request,
        "push/tag_import.html",
        {
            "job": job,
            "progress": tag_import.progress(job),
            "page": page,
            "page_error": page_error,
            "reasons": [(line, reason(line)) for line in page],
            "devices_query": urlencode({"application": job.application_id, "tag": job.tag}),
            # The progress line as the page's script fills it in.
            "js_text": {
                "lines": _("%(done)s of %(lines)s lines"),
                "changed_one": ngettext("%(n)s device tag changed", "%(n)s device tags changed", 1),
                "changed": ngettext("%(n)s device tag changed", "%(n)s device tags changed", 2),
                "bad_one": ngettext("%(n)s line refused", "%(n)s lines refused", 1),
                "bad": ngettext("%(n)s line refused", "%(n)s lines refused", 2),
            },
        },
    )


@never_cache
@account_view(Role.OPERATOR)
def import_progress(request, pk):
    return JsonResponse(tag_import.progress(_job(request, pk)))


@account_view(Role.OPERATOR)
def import_errors(request, pk):
    """The per-line error report as CSV (UTF-8 with a BOM, for Excel)."""
    job = _job(request, pk)
    return csv_response(
        _ReportRows(job),
        f"tag-import-{job.pk}-errors.csv",
        columns=[("line", ""), ("value", ""), ("problem", ""), ("reason", "")],
        bom=True,
    )


class _ReportRows:
    """The report's rows for ``csv_response`` (which reads ``values_list(...).iterator()``),
    with each line's reason in the reader's language beside its code."""

    def __init__(self, job: TagImport):
        self.job = job

    def values_list(self, *fields):
        return self

    def iterator(self, chunk_size: int):
        for line in tag_import.errors(self.job).iterator(chunk_size=chunk_size):
            yield line.line, line.value, line.problem, reason(line)


@require_POST
@account_view(Role.OPERATOR)
def import_resume(request, pk):
    """Queue a stalled import again: it goes on after its last applied chunk."""
    job = _job(request, pk)
    if tag_import.resume(job):
        messages.success(request, _("Import %(id)s queued again.") % {"id": job.pk})
    else:
        messages.error(request, _("Import %(id)s is not stalled.") % {"id": job.pk})
    return redirect("push_tag_import", account_id=request.account.pk, pk=job.pk)
