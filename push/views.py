"""Console pages of the push platform, under /a/<account_id>/push/: applications (and their
keys), devices, pushes with their funnels and per-device deliveries."""

import hashlib
import json
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.postgres.expressions import ArraySubquery
from django.core import signing
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import BooleanField, Count, F, Func, OuterRef, Subquery
from django.db.models.functions import Length, Reverse
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from accounts.decorators import account_view
from accounts.models import Role
from lib.dates import local_day_start as _local_day_start
from lib.exports import csv_response, export_url
from lib.masking import LONG_TOKEN, SHOWN_LAST_DIGITS, TOKEN_SHOWN, TOKEN_SHOWN_SHORT, Masking
from lib.paging import CappedPaginator, merged_rows, page_of
from sms.models import Signature, SmsApplication, Template
from sms.numbers import InvalidNumber, normalize
from sms.sending import default_signature

from . import channel_health, channel_views, channels, control, outcomes, stats
from .applications import rotate as rotate_secret
from .forms import (
    DEVICE_SORTING,
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
from .preview import before_sending, preview
from .tag_forms import DeviceTagForm
from .timeline import timeline
from .tpns import TpnsError, parse
from .tpns.submit import TEST_OPTION, submit

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
    new_secret = rotate_secret(app, by=request.user)
    return _application_page(request, app, new_secret=new_secret)


# Devices


def _masked_search_error(filters: dict) -> str:
    """Why a member who sees numbers and tokens masked may not search this way, or "".

    A search answers "is there such a device", so a search by more than the masked form shows
    would let a viewer find the hidden digits by trying them (ten thousand tries at most for a
    number's middle four). A viewer searches by what they see: at most the last
    ``SHOWN_LAST_DIGITS`` digits of a number, at most the first characters a masked token
    shows; not by a whole number (the phone filter, or a number in the account filter)."""
    shown = SHOWN_LAST_DIGITS
    if len(filters.get("ends", "")) > shown:
        return ngettext(
            "Numbers are masked for your role: search by at most the last %(n)s digit.",
            "Numbers are masked for your role: search by at most the last %(n)s digits.",
            shown,
        ) % {"n": shown}
    if filters.get("phone", "").strip():
        return ngettext(
            "Numbers are masked for your role: search by the last %(n)s digit instead.",
            "Numbers are masked for your role: search by the last %(n)s digits instead.",
            shown,
        ) % {"n": shown}
    if len(filters.get("token", "").strip()) > TOKEN_SHOWN:
        return ngettext(
            "Tokens are masked for your role: search by at most their first %(n)s character.",
            "Tokens are masked for your role: search by at most their first %(n)s characters.",
            TOKEN_SHOWN,
        ) % {"n": TOKEN_SHOWN}
    return ""


def _ending_with(bindings, digits: str):
    """Phone bindings whose number ends with ``digits``: a prefix match on the reversed
    number, which ``push_account_phone_suffix_idx`` (migration 0017) serves."""
    return (
        bindings.filter(account_type=PHONE_ACCOUNT_TYPE)
        .annotate(reversed_number=Reverse("account"))
        .filter(reversed_number__startswith=digits[::-1])
    )


# From this many digits on, few numbers end so: their devices are looked up by id (below).
FEW_ENDINGS = 3


def _with_number_ending(devices, bindings, digits: str):
    """The devices whose number ends with ``digits``. The planner cannot estimate how many
    numbers end so (no statistics on the reversed number) and guesses 0.5 %: for a common
    ending (one or two digits) walking the list in its order meets 50 of them soon, but for a
    rare one that walk reads every binding (a million devices: 260 ms for "2222"). So a rare
    ending's matches are read first, on the suffix index, and their devices by id (1.6 ms)."""
    matches = _ending_with(bindings, digits).values("device_id")
    if len(digits) >= FEW_ENDINGS and connection.vendor == "postgresql":
        return devices.filter(_AnyOf(F("pk"), ArraySubquery(matches)))
    return devices.filter(pk__in=matches)


class _AnyOf(Func):
    """``value = ANY(ARRAY(subquery))``: the subquery runs once, on its own plan."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def _device_apps(request, filters: dict) -> dict[int, str]:
    """{id: name} of the applications the devices list's ``filters`` keep to."""
    apps = Application.objects.filter(account=request.account)
    if application := filters.get("application"):
        apps = apps.filter(pk=application.pk)
    return dict(apps.values_list("pk", "name"))


def matching_devices(request, filters: dict):
    """(the account's devices the devices list's ``filters`` match, a message for a person when
    the search is refused or wrong, else ""): the list shows them, and its tag action
    (``push.tag_views``) applies to all of them when asked to."""
    reveal = request.membership.masking.reveal
    # The account's application ids, not a join on the account: the devices, bindings and tags
    # are then read on their (application, …) indexes (a device search on (application,
    # token), the list's orders on (application, <column>, id)).
    apps = list(_device_apps(request, filters))
    qs = Device.objects.filter(application_id__in=apps)
    error = "" if reveal else _masked_search_error(filters)
    if error:
        qs = qs.none()
    # Bindings and tags are matched in subqueries, so a device bound or tagged twice is still
    # listed once.
    bindings = DeviceAccount.objects.filter(application_id__in=apps)
    tags = DeviceTag.objects.filter(application_id__in=apps)
    if token := filters.get("token", "").strip():
        qs = qs.filter(token__startswith=token)
        if not reveal and len(token) > TOKEN_SHOWN_SHORT:  # a short token shows fewer
            qs = qs.annotate(token_length=Length("token")).filter(token_length__gte=LONG_TOKEN)
    if (phone := filters.get("phone", "").strip()) and not error:
        try:
            number = normalize(phone)
        except InvalidNumber as exc:
            error, qs = str(exc), qs.none()
        else:
            phones = bindings.filter(account_type=PHONE_ACCOUNT_TYPE, account=number)
            qs = qs.filter(pk__in=phones.values("device_id"))
    if digits := filters.get("ends", ""):
        qs = _with_number_ending(qs, bindings, digits)
    if bound := filters.get("account", "").strip():
        matches = bindings.filter(account=bound)
        if not reveal:  # a number is looked up by its last digits only (above)
            matches = matches.exclude(account_type=PHONE_ACCOUNT_TYPE)
        qs = qs.filter(pk__in=matches.values("device_id"))
    if tag := filters.get("tag", "").strip():
        qs = qs.filter(pk__in=tags.filter(tag=tag).values("device_id"))
    if notifications := filters.get("notifications"):
        qs = qs.filter(notifications_enabled=notifications == "on")
    return qs, error


@account_view()
def devices(request):
    reveal = request.membership.masking.reveal
    form = DeviceFilterForm(request.GET or None, account=request.account)
    filters = form.cleaned_data if form.is_valid() else {}
    qs, error = matching_devices(request, filters)
    token = filters.get("token", "").strip()
    # Newest first by default; a token search in token order. Every order is read on an index
    # of (application, <column>, id) (``push_device_*_sort_idx``), application by application,
    # and the first rows of each merged (``merged_rows``): one walk of one index across the
    # account's applications would have to sort every device (1-4 s on a million).
    sort = request.GET.get("sort", "")
    key, descending = DEVICE_SORTING.parse(sort or ("token" if token else ""))
    order = DEVICE_SORTING.order_by(key, descending)
    page_qs = qs.select_related("application").annotate(phone=_phone_of("pk"))
    parts = {pk: {"application__name": name} for pk, name in _device_apps(request, filters).items()}
    paginator = CappedPaginator(
        qs.order_by(*order),  # (counted unordered)
        PAGE_SIZE,
        cap=DEVICES_COUNTED,
        rows=lambda bottom, top: merged_rows(page_qs, "application_id", parts, order, bottom, top),
    )
    page, page_error = page_of(paginator, request.GET.get("page"))
    return render(
        request,
        "push/devices.html",
        {
            "form": form,
            "page": page,
            "phone_error": error,
            "page_error": page_error,
            "query": _query_without_page(request),
            "sort": DEVICE_SORTING.links(request.GET, key, descending),
            "reveal": reveal,
            # Ticking devices to add or remove a tag (``push.tag_views.devices_tag``).
            "tag_form": DeviceTagForm(auto_id="tagging-%s")  # (the filter has a tag field too)
            if request.membership.has_role(Role.OPERATOR)
            else None,
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


STOPPABLE = (Push.Status.INIT, Push.Status.STARTED, Push.Status.FINISHED)


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
            "can_control": request.membership.has_role(Role.OPERATOR),
            "editable": push.status == Push.Status.WAIT
            and not ComposeForm.initial_from(push, account.tz, editing=True)[1],
            "composer_options": ComposeForm.options_shown(push, account.tz),
            "is_test": bool(push.options.get(TEST_OPTION)),
            # What control.stop takes back (a failed or expired push has nothing left).
            "stoppable": push.status in STOPPABLE
            and (push.expires_at is None or push.expires_at > timezone.now()),
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
            "events": timeline(delivery, words=True),
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
    # The outcome in the reader's words, beside its codes (``push.outcomes``).
    ("outcome_text", "outcome", outcomes.outcome_label),
    ("outcome_detail_text", "outcome_detail", outcomes.detail_label),
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


# The composer, its confirmation of broadcasts, test pushes; editing, canceling and stopping


# A broadcast's confirmation (the audience size and the most its SMS can cost, shown before it
# is accepted) is good for this long, and only for the request it was shown for.
CONFIRMATION_MAX_AGE = 3600
TEST_DEVICES = 50  # the newest devices offered for a test push


def _compose_form(request, *, initial=None, editing=None) -> ComposeForm:
    account = request.account
    templates = list(Template.objects.sendable().filter(account=account).order_by("code"))
    form = ComposeForm(
        request.POST or None,
        initial=initial,
        account=account,
        templates=templates,
        signatures=list(Signature.objects.sendable().filter(account=account).order_by("text")),
        applications=SmsApplication.objects.filter(account=account),
        editing=editing,
    )
    form.sms_templates = templates
    return form


def _composer(request, form: ComposeForm, **extra):
    account = request.account
    return render(
        request,
        "push/compose.html",
        {
            "form": form,
            "open_sections": form.open_sections(),
            # Which options apply: the chosen application's platform (the page's script).
            "app_platforms": {
                str(app.pk): app.platform for app in form.fields["application"].queryset
            },
            "sms_templates": {
                t.code: {"content": t.content, "params": t.param_count, "region": t.region}
                for t in form.sms_templates
            },
            # What a push naming no signature is pinned to when accepted (the engine's rule).
            "default_signature": {
                region: getattr(default_signature(account, region), "text", "")
                for region in ("mainland", "global")
            },
            # A test push goes to one of these, or to a token typed in.
            "test_devices": Device.objects.filter(application__account=account)
            .select_related("application")
            .order_by("-id")[:TEST_DEVICES],
            # The SMS preview's figures (filled in by the page's script).
            "js_text": {
                "choose": _("Choose a template."),
                "length_part": _("%(chars)s characters · %(parts)s part per SMS"),
                "length_parts": _("%(chars)s characters · %(parts)s parts per SMS"),
                "params": _("the template takes %(wanted)s parameter(s); %(given)s given"),
                "fee_per_sms": _("estimated fee: %(parts)s part(s) per SMS sent"),
                "fee_at_most": _("estimated fee: at most %(parts)s parts (%(sms)s SMS)"),
            },
            **extra,
        },
    )


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _confirmation_salt(request) -> str:
    return f"push-confirm:{request.user.pk}:{request.account.pk}"


def _confirmed(request, body: dict) -> bool:
    """Whether the person confirmed this very request on the confirmation page (a signed
    digest of it, theirs, not older than ``CONFIRMATION_MAX_AGE``)."""
    token = request.POST.get("confirmation", "")
    try:
        seen = signing.loads(token, salt=_confirmation_salt(request), max_age=CONFIRMATION_MAX_AGE)
    except signing.BadSignature:  # (expired included)
        return False
    return seen == _digest(body)


def _confirmation_page(request, form, body: dict, unsent: Push, *, action_url: str):
    """Before an all, tag or package push is accepted: whom it reaches now and the most its
    SMS can cost (``preview.before_sending``), with the same request to confirm."""
    return render(
        request,
        "push/push_confirm.html",
        {
            "form": form,
            "push": unsent,
            "audience_label": dict(ComposeForm.AUDIENCES).get(
                unsent.audience_type, unsent.get_audience_type_display()
            ),
            "estimate": before_sending(unsent),
            "composer_options": ComposeForm.options_shown(unsent, request.account.tz),
            "confirmation": signing.dumps(_digest(body), salt=_confirmation_salt(request)),
            "changed": bool(request.POST.get("confirmation")),
            "action_url": action_url,
        },
    )


def _tpns_error(form, exc: TpnsError, field=None) -> None:
    """A refusal on the field it names; unknown tokens of a token push are said in words,
    with the offer to skip them (``ComposeForm.offer_to_ignore``). Said in the reader's
    language (``TpnsError.for_people``, which keeps the field path the form maps by); the
    API answers the same refusal in English."""
    if field is None and form.offer_to_ignore(exc):
        return
    form.show_tpns_error(TpnsError(exc.code, exc.for_people()), field=field)


@account_view(Role.OPERATOR)
def compose(request):
    """The push composer: builds a /v3/push/app body and submits it through the API's code.
    An all or tag push is accepted only once its confirmation page was confirmed; "Send a
    test push" sends the composed message to one device instead (a token_list push)."""
    account = request.account
    initial, lost, source = {}, [], request.GET.get("from", "")
    if request.method == "GET" and source.isdigit():  # duplicate a push
        original = get_object_or_404(Push, pk=source, application__account=account)
        initial, lost = ComposeForm.initial_from(original, account.tz)
    form = _compose_form(request, initial=initial)
    if request.method == "POST" and "back" not in request.POST and form.is_valid():
        app, now = form.cleaned_data["application"], timezone.now()
        test = "test" in request.POST
        if test and not form.cleaned_data["test_token"].strip():
            form.add_error("test_token", _("Give the token of a device to test with."))
            return _composer(request, form)
        body = form.test_body() if test else form.tpns_body()
        try:
            if not test and body["audience_type"] in Push.Audience.BROADCASTS:
                if not _confirmed(request, body):
                    unsent = parse.parse_push(app, body, now=now)
                    return _confirmation_page(request, form, body, unsent, action_url="")
            push = submit(app, body, now=now, created_by=request.user, test=test)
        except TpnsError as exc:
            _tpns_error(form, exc, "test_token" if test else None)
        else:
            if test:
                note = _("Test push %(id)s sent to %(token)s: %(status)s.")
            else:
                note = _("Push %(id)s accepted: %(status)s.")
            note %= {
                "id": push.pk,
                "status": push.get_status_display(),
                "token": form.cleaned_data["test_token"].strip(),
            }
            if skipped := len(push.invalid_targets or ()):
                note += " " + ngettext(
                    "%(n)s unknown token was skipped.",
                    "%(n)s unknown tokens were skipped.",
                    skipped,
                ) % {"n": skipped}
            messages.success(request, note)
            return redirect("push_push", account_id=account.pk, pk=push.pk)
    return _composer(request, form, duplicate_of=source if initial else "", lost=lost)


def _account_push(request, pk) -> Push:
    return get_object_or_404(
        Push.objects.select_related("application"), pk=pk, application__account=request.account
    )


@account_view(Role.OPERATOR)
def push_edit(request, pk):
    """Edit a scheduled push (until its send time comes): the composer, pre-filled, with the
    composer's validation; the change is written whole under the push row lock
    (``control.edit_waiting``), so the due clock starts it either before or after, never
    half-edited."""
    account = request.account
    push = _account_push(request, pk)
    if push.status != Push.Status.WAIT:
        messages.error(request, _started(push))
        return redirect("push_push", account_id=account.pk, pk=push.pk)
    initial, lost = ComposeForm.initial_from(push, account.tz, editing=True)
    if lost:  # a package audience, tag rules the composer cannot show: never edited blind
        messages.error(request, CANNOT_EDIT)
        return redirect("push_push", account_id=account.pk, pk=push.pk)
    form = _compose_form(request, initial=initial, editing=push)
    if request.method == "POST" and "back" not in request.POST and form.is_valid():
        now = timezone.now()
        body = form.edited_body(push)
        try:
            edited = parse.parse_push(push.application, body, now=now)
        except TpnsError as exc:
            _tpns_error(form, exc)
            return _composer(request, form, editing=push)
        if edited.send_at is None:  # (a time in the past means "now" to the parser)
            form.add_error(
                "send_time", _("A scheduled push stays scheduled: give a send time in the future.")
            )
            return _composer(request, form, editing=push)
        if not _confirmed(request, body):
            action = reverse("push_push_edit", args=[account.pk, push.pk])
            return _confirmation_page(request, form, body, edited, action_url=action)
        try:
            control.edit_waiting(push.application, push.pk, edited, now)
        except control.Refused:
            push.refresh_from_db()
            if push.status != Push.Status.WAIT:
                messages.error(request, _started(push))
                return redirect("push_push", account_id=account.pk, pk=push.pk)
            form.add_error(None, _("This push starts within a minute: it can no longer be edited."))
            return _composer(request, form, editing=push)
        messages.success(request, _("Push %(id)s saved.") % {"id": push.pk})
        return redirect("push_push", account_id=account.pk, pk=push.pk)
    return _composer(request, form, editing=push)


CANNOT_EDIT = gettext_lazy(
    "The composer cannot show this push's audience: cancel it and push it again instead."
)


def _started(push: Push) -> str:
    return _(
        "Push %(id)s is no longer waiting for its send time (%(status)s): it was not edited."
    ) % {
        "id": push.pk,
        "status": push.get_status_display(),
    }


@account_view(Role.OPERATOR)
def push_cancel(request, pk):
    """Cancel a scheduled push (``control.cancel_timing_task``), after a confirmation."""
    return _halt(request, pk, cancel=True)


@account_view(Role.OPERATOR)
def push_stop(request, pk):
    """Stop a push (``control.stop``): no further chunk is written, undelivered deliveries and
    their waiting SMS are canceled; after a confirmation."""
    return _halt(request, pk, cancel=False)


def _halt(request, pk, *, cancel: bool):
    push = _account_push(request, pk)
    if request.method != "POST":
        return render(request, "push/push_halt.html", {"push": push, "cancel": cancel})
    halt = control.cancel_timing_task if cancel else control.stop
    values = {"id": push.pk}
    try:
        done = halt(push.application, push.pk, timezone.now())
    except control.Refused:
        if cancel:
            note = _("Push %(id)s was not canceled: only a push waiting for its send time can be.")
        else:
            note = _("Push %(id)s was not stopped: it failed or has expired.")
        messages.error(request, note % values)
    else:
        if not done.changed:
            note = _("Push %(id)s had already ended.") % values
        elif cancel:
            note = _("Push %(id)s canceled: it will not be sent.") % values
        else:
            note = ngettext(
                "Push %(id)s stopped: %(n)s undelivered delivery canceled.",
                "Push %(id)s stopped: %(n)s undelivered deliveries canceled.",
                done.halted,
            ) % {**values, "n": done.halted}
        messages.success(request, note)
    return redirect("push_push", account_id=request.account.pk, pk=push.pk)
