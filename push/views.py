"""Console pages of the push platform, under /a/<account_id>/push/: applications (and their
keys), devices, pushes with their funnels and per-device deliveries."""

import json
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from accounts.decorators import account_view
from accounts.models import Role
from lib.dates import local_day_start as _local_day_start
from lib.exports import csv_response, export_url
from lib.masking import Masking
from lib.paging import CappedPaginator
from sms.models import Signature, SmsApplication, Template
from sms.numbers import InvalidNumber, normalize
from sms.sending import default_signature

from . import channel_health, channel_views, channels, stats
from .forms import (
    ApplicationForm,
    ComposeForm,
    DeliveryFilterForm,
    DeviceFilterForm,
    PushFilterForm,
)
from .models import (
    PHONE_ACCOUNT_TYPE,
    Application,
    ChannelKind,
    Delivery,
    Device,
    DeviceAccount,
    DeviceTag,
    Push,
)
from .preview import preview
from .timeline import timeline
from .tpns import TpnsError
from .tpns.submit import submit

PAGE_SIZE = 50
# The device list counts this far: past it, it says "more than" (filters narrow it down).
DEVICES_COUNTED = 10_000
RECENT_PUSHES = 10
DEVICE_DELIVERIES = 50


def _require(request, role):
    request.membership.require(role)


def _phone_of(device_ref: str) -> Subquery:
    """The phone number (account type 1002) bound to the device; one per device at most."""
    return Subquery(
        DeviceAccount.objects.filter(
            device=OuterRef(device_ref), account_type=PHONE_ACCOUNT_TYPE
        ).values("account")[:1]
    )


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("export", None)
    return query.urlencode()


# Applications


@never_cache
@account_view()
@sensitive_variables("new_secret")
def applications(request):
    """The account's applications; creating one shows its SecretKey on this response only."""
    can_manage = request.membership.has_role(Role.ADMIN)
    form = ApplicationForm(request.POST or None)
    new_app = new_secret = None
    if request.method == "POST":
        _require(request, Role.ADMIN)
        if form.is_valid():
            new_app, new_secret = Application.objects.create_for(
                request.account, **form.cleaned_data
            )
            form = ApplicationForm()
    apps = (
        Application.objects.filter(account=request.account)
        .annotate(device_count=Count("devices"))
        .order_by("name", "id")
    )
    page = Paginator(apps, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "push/applications.html",
        {
            "page": page,
            "form": form,
            "can_manage": can_manage,
            "new_app": new_app,
            "new_secret": new_secret,
        },
    )


def _application_page(request, app: Application, new_secret: str | None = None):
    # One grouped pass over the app's devices gives both the device totals and each
    # channel's device figures (``push.channel_health``).
    health = channel_health.of_application(app)
    return render(
        request,
        "push/application.html",
        {
            "app": app,
            "devices": health.devices,
            "channel_health": health,
            "recent_pushes": app.pushes.order_by("-created_at", "-id")[:RECENT_PUSHES],
            "can_manage": request.membership.has_role(Role.ADMIN),
            "new_secret": new_secret,
            "base_url": request.build_absolute_uri("/"),
            "channels": channel_views.section(request, app),
        },
    )


@never_cache
@account_view()
def application_detail(request, pk):
    app = get_object_or_404(Application, pk=pk, account=request.account)
    return _application_page(request, app)


@never_cache
@require_POST
@account_view(Role.ADMIN)
@sensitive_variables("new_secret")
def application_rotate(request, pk):
    """A new SecretKey, shown on this response only; the old one is refused from now on."""
    app = get_object_or_404(Application, pk=pk, account=request.account)
    new_secret = app.rotate_secret()
    return _application_page(request, app, new_secret=new_secret)


# Devices


@account_view()
def devices(request):
    account = request.account
    form = DeviceFilterForm(request.GET or None, account=account)
    filters = form.cleaned_data if form.is_valid() else {}
    # The account's application ids, not a join on the account: the devices, bindings and tags
    # are then read on their (application, …) indexes (a device search on (application,
    # token), the list newest first on (application, id)).
    if application := filters.get("application"):
        apps = [application.pk]
    else:
        apps = list(Application.objects.filter(account=account).values_list("pk", flat=True))
    qs = Device.objects.filter(application_id__in=apps)
    error = ""
    # Bindings and tags are matched in subqueries, so a device bound or tagged twice is still
    # listed once.
    bindings = DeviceAccount.objects.filter(application_id__in=apps)
    tags = DeviceTag.objects.filter(application_id__in=apps)
    if token := filters.get("token", "").strip():
        qs = qs.filter(token__startswith=token)
    if phone := filters.get("phone", "").strip():
        try:
            number = normalize(phone)
        except InvalidNumber as exc:
            error, qs = str(exc), qs.none()
        else:
            phones = bindings.filter(account_type=PHONE_ACCOUNT_TYPE, account=number)
            qs = qs.filter(pk__in=phones.values("device_id"))
    if bound := filters.get("account", "").strip():
        qs = qs.filter(pk__in=bindings.filter(account=bound).values("device_id"))
    if tag := filters.get("tag", "").strip():
        qs = qs.filter(pk__in=tags.filter(tag=tag).values("device_id"))
    if notifications := filters.get("notifications"):
        qs = qs.filter(notifications_enabled=notifications == "on")
    # Newest first, on an index (last_seen_at has none: the SDK's calls rewrite it all day long,
    # and an index would make every one of those writes touch it); a token search in token
    # order, which its prefix index gives without sorting the matches.
    order = "token" if token else "-id"
    qs = qs.select_related("application").annotate(phone=_phone_of("pk")).order_by(order, "-id")
    page = CappedPaginator(qs, PAGE_SIZE, cap=DEVICES_COUNTED).get_page(request.GET.get("page"))
    return render(
        request,
        "push/devices.html",
        {
            "form": form,
            "page": page,
            "phone_error": error,
            "query": _query_without_page(request),
            "reveal": request.membership.masking.reveal,
        },
    )


@account_view()
def device_detail(request, pk):
    device = get_object_or_404(
        Device.objects.select_related("application"), pk=pk, application__account=request.account
    )
    deliveries = device.deliveries.select_related("push").order_by("-id")[
        :DEVICE_DELIVERIES
    ]  # newest first, on the (device, id) index
    # A device on a push service the app has no credentials for is reached over the built-in
    # channel (``push.fanout``), and a pruned token of it does not matter then.
    on_service = device.channel in channels.SERVICES
    return render(
        request,
        "push/device.html",
        {
            "device": device,
            "service_configured": on_service
            and device.channel in channels.configured(device.application_id),
            "on_service": on_service,
            "bindings": device.accounts.order_by("account_type", "id"),
            "tags": device.tags.order_by("tag"),
            "deliveries": deliveries,
            "phone_type": PHONE_ACCOUNT_TYPE,
            "reveal": request.membership.masking.reveal,
        },
    )


# Pushes


@account_view()
def pushes(request):
    account = request.account
    form = PushFilterForm(request.GET or None, account=account)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = Push.objects.filter(application__account=account)
    if application := filters.get("application"):
        qs = qs.filter(application=application)
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if since := filters.get("since"):
        qs = qs.filter(created_at__gte=_local_day_start(since, account.tz))
    if until := filters.get("until"):
        qs = qs.filter(created_at__lt=_local_day_start(until + timedelta(days=1), account.tz))
    if sms := filters.get("sms"):
        qs = qs.filter(resend_by_sms=sms == "yes")
    page = Paginator(qs.select_related("application"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "push/pushes.html",
        {"form": form, "page": page, "query": _query_without_page(request)},
    )


FUNNEL_LABELS = {
    "targets": gettext_lazy("Targets"),
    "sent": gettext_lazy("Sent"),
    "arrived": gettext_lazy("Arrived"),
    "clicked": gettext_lazy("Clicked"),
    "dismissed": gettext_lazy("Dismissed"),
    "expired": gettext_lazy("Expired"),
    "failed": gettext_lazy("Failed"),
    "notifications_disabled": gettext_lazy("Notifications off"),
}
FUNNEL = [(key, FUNNEL_LABELS[key]) for key in stats.FUNNEL_KEYS]


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _bars(figures: dict, steps, whole: int) -> list[dict]:
    return [
        {
            "key": key,
            "label": label,
            "n": figures.get(key) or 0,
            "pct": round(100 * (figures.get(key) or 0) / whole, 1) if whole else 0,
        }
        for key, label in steps
    ]


def _channel_rows(summary: dict) -> list[dict]:
    """The push page's per-channel table: ``stats``' channel figures, with the channel's name."""
    return [
        {**figures, "label": ChannelKind(figures["channel"]).label}
        for figures in summary.get("channels", [])
    ]


def _vendor_categories(push: Push) -> list[tuple[str, object]]:
    """The message category the push uses on each vendor channel it may take, and whether
    that vendor caps the category per day (marketing messages are; service messages are not)."""
    return [
        (ChannelKind(kind).label, category)
        for kind, category in channels.categories(push, channels.usable(push))
    ]


@account_view()
def push_detail(request, pk):
    account = request.account
    push = get_object_or_404(
        Push.objects.select_related(
            "application", "created_by", "pinned_signature", "package", "loop"
        ),
        pk=pk,
        application__account=account,
    )
    form = DeliveryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    deliveries = Delivery.objects.filter(push=push)
    if state := filters.get("state"):
        deliveries = deliveries.filter(state=state)
    if outcome := filters.get("outcome"):
        deliveries = deliveries.filter(outcome=outcome)
    masking = request.membership.masking
    if request.GET.get("export") == "csv":
        return _deliveries_csv(deliveries, f"push-{push.pk}-deliveries.csv", account.tz, masking)
    summary = stats.summary(push)
    sms = summary["sms"]
    sms_bars = []
    if sms["enabled"]:
        sms_bars = _bars(
            sms,
            [
                ("due", _("Due for an SMS")),
                ("decided", _("Decided")),
                ("outcome_sent", _("Outcome: SMS sent")),
                ("sms_sent", _("SMS accepted by the provider")),
                ("sms_delivered", _("SMS delivered")),
            ],
            sms["due"],
        )
    paginator = Paginator(
        deliveries.select_related("device").annotate(phone=_phone_of("device_id")).order_by("id"),
        PAGE_SIZE,
    )
    if not filters.get("state") and not filters.get("outcome"):
        # Unfiltered, the count is the push's target count: no COUNT over a million rows.
        paginator.count = summary["targets"]
    page = paginator.get_page(request.GET.get("page"))
    query = _query_without_page(request)
    return render(
        request,
        "push/push.html",
        {
            "push": push,
            "message_json": _pretty(push.message),
            "audience_json": _pretty(push.audience_seen_by(masking)),
            "invalid_targets": push.invalid_targets_seen_by(masking),
            "options_json": _pretty(push.options),
            "summary": summary,
            "funnel": _bars(summary, FUNNEL, summary["targets"]),
            "channel_rows": _channel_rows(summary),
            "vendor_categories": _vendor_categories(push),
            "sms": sms,
            "sms_bars": sms_bars,
            "outcomes": [(o, sms.get(f"outcome_{o}", 0)) for o in stats.OUTCOMES],
            "form": form,
            "page": page,
            "query": query,
            "export_url": export_url(reverse("push_push", args=[account.pk, push.pk]), query),
            "reveal": masking.reveal,
            "preview": preview(push) if request.GET.get("preview") and sms["enabled"] else None,
        },
    )


@account_view()
def delivery_detail(request, pk, delivery_id):
    """One delivery's timeline: pushed → arrived / clicked / permission → decided → SMS."""
    delivery = get_object_or_404(
        Delivery.objects.select_related("device", "push__application"),
        pk=delivery_id,
        push_id=pk,
        push__application__account=request.account,
    )
    return render(
        request,
        "push/delivery.html",
        {
            "delivery": delivery,
            "events": timeline(delivery),
            "reveal": request.membership.masking.reveal,
        },
    )


CSV_COLUMNS = [
    ("delivery_id", "id"),
    ("device_id", "device_id"),
    ("token", "device__token"),
    ("phone_number", "phone"),
    ("state", "state"),
    ("notifications_enabled", "notifications_enabled"),
    ("created_at", "created_at"),
    ("sent_at", "sent_at"),
    ("arrived_at", "arrived_at"),
    ("clicked_at", "clicked_at"),
    ("dismissed_at", "dismissed_at"),
    ("fallback", "fallback"),
    ("sms_due_at", "sms_due_at"),
    ("outcome", "outcome"),
    ("outcome_detail", "outcome_detail"),
    ("decided_at", "decided_at"),
]


def _deliveries_csv(deliveries, filename: str, tz, masking: Masking) -> StreamingHttpResponse:
    """Rows are read in chunks of 2000 and written as they come: a million-device push is
    exported without holding it in memory. Tokens and numbers go through the member's
    ``masking``."""

    def cell(value):
        if value is None:
            return ""
        if isinstance(value, datetime):
            return timezone.localtime(value, tz).isoformat()
        return value

    return csv_response(
        deliveries.annotate(phone=_phone_of("device_id")).order_by("id"),
        filename,
        columns=CSV_COLUMNS,
        masking=masking,
        cell=cell,
        bom=True,
    )


@account_view(Role.OPERATOR)
def compose(request):
    """The push composer: builds a /v3/push/app body and submits it through the API's code."""
    account = request.account
    templates = list(Template.objects.sendable().filter(account=account).order_by("code"))
    signatures = list(Signature.objects.sendable().filter(account=account).order_by("text"))
    form = ComposeForm(
        request.POST or None,
        account=account,
        templates=templates,
        signatures=signatures,
        applications=SmsApplication.objects.filter(account=account),
    )
    if request.method == "POST" and form.is_valid():
        try:
            push = submit(
                form.cleaned_data["application"],
                form.tpns_body(),
                now=timezone.now(),
                created_by=request.user,
            )
        except TpnsError as exc:
            form.add_error(None, f"{exc.message} (ret_code {exc.code.value})")
        else:
            messages.success(
                request,
                _("Push %(id)s accepted: %(status)s.")
                % {"id": push.pk, "status": push.get_status_display()},
            )
            return redirect("push_push", account_id=account.pk, pk=push.pk)
    return render(
        request,
        "push/compose.html",
        {
            "form": form,
            "sms_templates": {
                t.code: {"content": t.content, "params": t.param_count, "region": t.region}
                for t in templates
            },
            # What a push naming no signature is pinned to when accepted (the engine's rule).
            "default_signature": {
                region: getattr(default_signature(account, region), "text", "")
                for region in ("mainland", "global")
            },
            # The SMS preview's figures (filled in by the page's script).
            "js_text": {
                "choose": _("Choose a template."),
                "length_part": _("%(chars)s characters · %(parts)s part per SMS"),
                "length_parts": _("%(chars)s characters · %(parts)s parts per SMS"),
                "params": _("the template takes %(wanted)s parameter(s); %(given)s given"),
                "fee_per_sms": _("estimated fee: %(parts)s part(s) per SMS sent"),
                "fee_at_most": _("estimated fee: at most %(parts)s parts (%(sms)s SMS)"),
            },
        },
    )
