"""Console pages of the SMS platform: signatures, templates, applications, rate limits and
SMS records (the packages' pages are ``sms.package_views``)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import account_view
from accounts.models import Role, TencentCloudAuthorization
from lib.exports import export_url

from . import authorization, review, sending
from .exports import CONSOLE_COLUMNS, csv_response
from .forms import (
    IdentityApplicationForm,
    MessageFilterForm,
    OneOffSmsForm,
    PolicyForm,
    SignatureForm,
    SmsApplicationForm,
    TemplateEditForm,
    TemplateForm,
)
from .models import (
    INDIVIDUAL_POLICY,
    IdentityApplication,
    OneOffSend,
    RateLimitPolicy,
    ReviewStatus,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from .models.oneoff import new_token
from .numbers import InvalidNumber, normalize
from .tencentcloud import NETWORK_ERROR_CODES

PAGE_SIZE = 50


def _require(request, role):
    request.membership.require(role)


def _apply(request, form, redirect_to):
    """Save a new application (signature, template, identity) and send it to review."""
    _require(request, Role.OPERATOR)
    if not form.is_valid():
        return None
    try:
        with transaction.atomic():
            item = form.save(commit=False)
            item.account, item.created_by = request.account, request.user
            item.save()
            review.submit(item, by=request.user)
    except IntegrityError:
        # Another request took the same signature text (``sms_signature_text_once``) or
        # template ID between the form's check and the insert.
        field = "text" if isinstance(form, SignatureForm) else None
        form.add_error(field, _("Another application was saved a moment ago with the same value."))
        return None
    messages.success(request, _("%(item)s submitted for review.") % {"item": item})
    return redirect(redirect_to, account_id=request.account.pk)


def _applications_page(request, form, model, page, done_url):
    """A list of the account's signatures or templates, with the form to apply for one."""
    if request.method == "POST" and (done := _apply(request, form, done_url)):
        return done
    return render(
        request,
        page,
        {
            "items": model.objects.filter(account=request.account),
            "form": form,
            "can_apply": request.membership.has_role(Role.OPERATOR),
        },
    )


def _review_item(request, model, pk):
    item = get_object_or_404(model, pk=pk, account=request.account)
    # ``kind`` picks the page's fields; ``kind_label`` names it in the page's language.
    kind_label = capfirst(model._meta.verbose_name)
    return render(
        request,
        "sms/review_item.html",
        {
            "item": item,
            "kind": model.__name__,
            "kind_label": kind_label,
            "can_change": request.membership.has_role(Role.OPERATOR),
        },
    )


def _detail(item):
    name = "sms_signature" if isinstance(item, Signature) else "sms_template"
    return redirect(name, account_id=item.account_id, pk=item.pk)


def _withdraw(request, model, pk):
    """Take a pending application back (out of the reviewers' queue)."""
    item = get_object_or_404(model, pk=pk, account=request.account)
    if item.withdraw(by=request.user):
        messages.success(request, _("%(item)s withdrawn.") % {"item": item})
    else:
        messages.error(
            request,
            _("%(item)s is no longer pending (a reviewer decided meanwhile); nothing changed.")
            % {"item": item},
        )
    return _detail(item)


def _change(request, model, pk, form_class):
    """Edit a pending application, or resubmit a rejected one after changing it."""
    item = get_object_or_404(model, pk=pk, account=request.account)
    if not item.can_edit:
        messages.error(request, _("%(item)s cannot be changed now.") % {"item": item})
        return _detail(item)
    resubmit = item.status == ReviewStatus.REJECTED
    form = form_class(
        request.POST or None, request.FILES or None, instance=item, account=request.account
    )
    if request.method == "POST" and form.is_valid():
        fields = [name for name in form.changed_data if name in form._meta.fields]
        item = form.save(commit=False)
        try:
            decision = review.amend(item, fields, by=request.user)
        except IntegrityError:  # the same signature text was applied for a moment ago
            form.add_error(
                "text", _("Another application was saved a moment ago with the same value.")
            )
        else:
            if decision is None:
                messages.error(request, _("A reviewer decided meanwhile; nothing changed."))
            elif resubmit:
                messages.success(request, _("%(item)s resubmitted for review.") % {"item": item})
            else:
                messages.success(request, _("%(item)s changed.") % {"item": item})
            return _detail(item)
    return render(
        request,
        "sms/application_change.html",
        {"item": item, "form": form, "resubmit": resubmit, "kind": model.__name__},
    )


@account_view()
def signatures(request):
    form = SignatureForm(request.POST or None, request.FILES or None, account=request.account)
    return _applications_page(request, form, Signature, "sms/signatures.html", "sms_signatures")


@account_view()
def signature_detail(request, pk):
    return _review_item(request, Signature, pk)


@require_POST
@account_view(Role.OPERATOR)
def signature_withdraw(request, pk):
    return _withdraw(request, Signature, pk)


@account_view(Role.OPERATOR)
def signature_change(request, pk):
    return _change(request, Signature, pk, SignatureForm)


@account_view()
def templates(request):
    form = TemplateForm(request.POST or None, account=request.account)
    return _applications_page(request, form, Template, "sms/templates.html", "sms_templates")


@account_view()
def template_detail(request, pk):
    return _review_item(request, Template, pk)


@require_POST
@account_view(Role.OPERATOR)
def template_withdraw(request, pk):
    return _withdraw(request, Template, pk)


@account_view(Role.OPERATOR)
def template_change(request, pk):
    return _change(request, Template, pk, TemplateEditForm)


@account_view(Role.OPERATOR)
def send_sms(request):
    """A one-off SMS: fill in the form, preview (the text, each number's outcome, the parts),
    send. Checked, gated and sent by ``sending`` exactly as ``POST /api/v1/sms/send``."""
    form = OneOffSmsForm(
        request.POST or None,
        account=request.account,
        template=request.GET.get("template"),
        initial={"token": new_token()},
    )
    quote = order = None
    if request.method == "POST" and form.is_valid() and (order := form.prepare(by=request.user)):
        if "send" in request.POST:
            return _send_once(request, form, order)
        quote = sending.quote(order)
    outcomes = (
        [(r.number, quote.blocked.get(i)) for i, r in enumerate(order.recipients)] if quote else []
    )
    chosen = form.chosen
    # What the page's script fills the template's text with as one types (the preview the
    # server gives with the quote is the one that counts).
    live = chosen and {
        "content": chosen.content,
        "signatures": {s.pk: s.text for s in form.fields["signature"].queryset},
        "default": getattr(sending.default_signature(request.account, chosen.region), "text", ""),
    }
    return render(
        request,
        "sms/send.html",
        {"form": form, "order": order, "quote": quote, "outcomes": outcomes, "live": live},
    )


def _send_once(request, form, order):
    done, sent = OneOffSend.send_once(order, form.cleaned_data["token"], by=request.user)
    if not sent:  # this form was sent already (a double click, a reload)
        messages.info(request, _("This form was sent already; nothing was sent again."))
    return redirect("sms_send_result", account_id=request.account.pk, pk=done.pk)


@account_view(Role.OPERATOR)
def send_result(request, pk):
    done = get_object_or_404(OneOffSend, pk=pk, account=request.account)
    sent = list(done.messages())
    return render(
        request,
        "sms/send_result.html",
        {
            "done": done,
            "sent": sent,
            "fee": sum(m.charged for m in sent),
            "reveal": request.membership.masking.reveal,
        },
    )


@account_view()
def applications(request):
    can_manage = request.membership.has_role(Role.ADMIN)
    form = SmsApplicationForm(request.POST or None, account=request.account)
    if request.method == "POST":
        _require(request, Role.ADMIN)
        if form.is_valid():
            form.instance.account = request.account
            form.save()
            messages.success(request, _("SMS application %(app)s added.") % {"app": form.instance})
            return redirect("sms_applications", account_id=request.account.pk)
    items = SmsApplication.objects.filter(account=request.account)
    callback_base = request.build_absolute_uri("/callbacks/sms/")
    return render(
        request,
        "sms/applications.html",
        {"items": items, "form": form, "can_manage": can_manage, "callback_base": callback_base},
    )


@account_view()
def policy(request):
    account = request.account
    current = RateLimitPolicy.for_account(account)
    exempt = current.exempt_numbers()
    editable = account.is_organization and request.membership.has_role(Role.ADMIN)
    form = PolicyForm(
        request.POST or None, instance=current, initial={"exempt_numbers": "\n".join(exempt)}
    )
    if request.method == "POST":
        if not account.is_organization:
            raise PermissionDenied(INDIVIDUAL_POLICY)
        _require(request, Role.ADMIN)
        if form.is_valid():
            RateLimitPolicy.change(
                account,
                **{f: form.cleaned_data[f] for f in PolicyForm.Meta.fields},
                exempt_numbers=form.cleaned_data["exempt_numbers"],
                by=request.user,
            )
            messages.success(request, _("Rate-limit policy saved; it applies to the next send."))
            return redirect("sms_policy", account_id=account.pk)
    identity_form = IdentityApplicationForm(prefix="identity")
    return render(
        request,
        "sms/policy.html",
        {
            "policy": current,
            "exempt": [request.membership.masking.number(n) for n in exempt],
            "form": form,
            "editable": editable,
            "identity_form": identity_form,
            "identity_applications": IdentityApplication.objects.filter(account=account),
            "can_apply_identity": not account.is_organization
            and request.membership.has_role(Role.OWNER),
        },
    )


@account_view(Role.OWNER)
def apply_identity(request):
    if request.account.is_organization:
        messages.info(request, _("This account is already an organization."))
        return redirect("sms_policy", account_id=request.account.pk)
    form = IdentityApplicationForm(request.POST or None, request.FILES or None, prefix="identity")
    if request.method == "POST" and (done := _apply(request, form, "sms_policy")):
        return done
    return render(request, "sms/identity_apply.html", {"form": form})


@account_view()
def records(request):
    account = request.account
    form = MessageFilterForm(request.GET or None)
    valid = form.is_valid()
    filters = form.cleaned_data if valid else {}
    number, error = filters.get("number", ""), ""
    if number:
        try:
            number = normalize(number)
        except InvalidNumber as exc:
            error, number = exc.for_people(), ""
    qs = SmsMessage.objects.records(
        account,
        since=filters.get("since"),
        until=filters.get("until"),
        phone_number=number,
        state=filters.get("state", ""),
        template_id=filters.get("template", ""),
        **(form.group_filter() if valid else {}),
    )
    if request.GET.get("export") == "csv":
        return csv_response(
            qs,
            f"sms-records-{account.pk}.csv",
            columns=CONSOLE_COLUMNS,
            masking=request.membership.masking,
            tz=account.tz,
            bom=True,
        )
    totals = qs.totals()
    paginator = Paginator(qs.select_related("template"), PAGE_SIZE)
    paginator.count = totals["total"]  # counted with the totals: no second COUNT over the rows
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "sms/records.html",
        {
            "form": form,
            "page": page,
            "totals": totals,
            "number_error": error,
            "query": query.urlencode(),
            "export_url": export_url(reverse("sms_records", args=[account.pk]), query.urlencode()),
            "reveal": request.membership.masking.reveal,
            "can_send": request.membership.has_role(Role.OPERATOR),
            # What the streamed export's progress line says (the page's script fills it in).
            "export_text": {
                "exporting": _("Exporting…"),
                "progress": _("Exporting… %(rows)s of %(total)s rows"),
                "done": _("Exported %(rows)s rows."),
                "failed": _("Export failed; try the link again."),
            },
        },
    )


@account_view()
def record_detail(request, pk):
    message = get_object_or_404(
        SmsMessage.objects.select_related("template", "application"),
        pk=pk,
        account=request.account,
    )
    return render(
        request, "sms/record.html", {"m": message, "reveal": request.membership.masking.reveal}
    )


# The account's Tencent Cloud key pair is kept by accounts (its page is there); checking it
# against Tencent Cloud SMS is this app's.
@require_POST
@account_view(Role.ADMIN)
def authorization_confirm(request):
    auth = get_object_or_404(TencentCloudAuthorization, account=request.account)
    confirmed = authorization.confirm(auth)
    # A network failure keeps the previous verdict (even "confirmed"), so it is checked first.
    if auth.error_code in NETWORK_ERROR_CODES:
        messages.error(request, _("%(error)s Nothing was changed.") % {"error": auth.error_message})
    elif confirmed:
        if auth.error_code:
            said = _("Tencent Cloud accepted the key pair (Tencent noted %(code)s).")
        else:
            said = _("Tencent Cloud accepted the key pair.")
        messages.success(request, said % {"code": auth.error_code})
    else:
        messages.error(
            request,
            _("Tencent Cloud refused the key pair: %(code)s: %(message)s")
            % {"code": auth.error_code, "message": auth.error_message},
        )
    return redirect("authorization", account_id=request.account.pk)
