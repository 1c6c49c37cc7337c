"""Console pages of an application's delivery channels (APNs, FCM), under
/a/<account_id>/push/applications/<pk>/channels/: the credentials (what may be shown of them,
never the secret), uploading or replacing them (the rotation), removing them, and the Test
action. Every member sees them; owners and admins change and test them."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from accounts.decorators import account_view
from accounts.models import Role

from .channel_forms import ChannelTestForm, credentials_form
from .channels import SERVICES, is_vendor, module, trial, uploads
from .channels.base import Result
from .models import Application, ChannelCredentials, ChannelKind, Device

# The Test action's device list: the app's newest devices on the channel, looked for among its
# newest devices only (on the (application, id) index), so that a large app's page stays cheap.
TEST_DEVICES = 50
TEST_DEVICES_SCANNED = 2000
RESULT_LEVEL = {
    Result.ACCEPTED: messages.SUCCESS,
    Result.REFUSED: messages.ERROR,
    Result.RETRY: messages.WARNING,
    Result.LOST: messages.WARNING,
}


def _kind(kind: str) -> ChannelKind:
    if kind not in SERVICES:
        raise Http404("No such delivery channel.")
    return ChannelKind(kind)


def _application(request, pk) -> Application:
    return get_object_or_404(Application, pk=pk, account=request.account)


def _back(app: Application, kind: ChannelKind | None = None, to: str = "application") -> str:
    if to == "channel" and kind is not None:
        return reverse("push_application_channel", args=[app.account_id, app.pk, kind.value])
    return reverse("push_application", args=[app.account_id, app.pk]) + "#channels"


def _test_devices(request, app: Application, kind: ChannelKind) -> list[tuple[int, str]]:
    newest = Device.objects.filter(application=app).order_by("-id")[:TEST_DEVICES_SCANNED]
    devices = Device.objects.filter(pk__in=newest.values("pk"), channel=kind).order_by("-id")
    masking = request.membership.masking
    choices = []
    for device in devices[:TEST_DEVICES]:
        model = device.device_brand or device.get_platform_display()
        label = f"{masking.token(device.token)} · {model}"
        if device.os_version:
            label += f" {device.os_version}"
        if device.channel_token_invalid_at is not None:
            label += " · token refused"
        choices.append((device.pk, label))
    return choices


def _card(request, app: Application, kind: ChannelKind, credentials) -> dict:
    """One channel as the pages show it (``push/_channel_card.html``)."""
    card = {
        "kind": kind.value,
        "label": kind.label,
        "credentials": credentials,
        "details": uploads.shown(kind, credentials.details) if credentials else [],
        "unavailable": uploads.platform_refusal(app, kind),
        "test_form": None,
        "vendor": is_vendor(kind),
    }
    if card["vendor"] and credentials is not None:
        card["receipts"] = module(kind).RECEIPTS
        card["receipts_note"] = getattr(module(kind), "RECEIPTS_NOTE", "")
        card["quota_spent_until"] = (
            credentials.quota_spent_until if credentials.quota_spent(timezone.now()) else None
        )
        card["quota_reason"] = credentials.quota_reason
        if request.membership.has_role(Role.ADMIN):
            # The URL holds the key that vouches for the vendor: owners and admins only.
            card["receipt_url"] = credentials.receipt_url() or credentials.receipt_url(
                request.build_absolute_uri("/")
            )
            card["receipt_url_configured"] = bool(credentials.receipt_url())
    if credentials is not None and request.membership.has_role(Role.ADMIN):
        card["test_form"] = ChannelTestForm(
            devices=_test_devices(request, app, kind), auto_id=f"id_{kind.value}_test_%s"
        )
    return card


def section(request, app: Application) -> dict:
    """The application page's "Delivery channels" section: every channel, configured or not."""
    stored = {
        c.channel: c
        for c in ChannelCredentials.objects.filter(application=app).select_related("updated_by")
    }
    return {
        "cards": [
            _card(request, app, kind, stored.get(kind))
            for kind in SERVICES
            # The phone makers' channels are Android's: an iOS app's page does not list them.
            if not is_vendor(kind) or uploads.platform_refusal(app, kind) is None
        ],
        "can_manage": request.membership.has_role(Role.ADMIN),
    }


@never_cache
@sensitive_post_parameters()
@account_view()
@sensitive_variables()
def channel_detail(request, pk, kind):
    """One channel's credentials; owners and admins upload or replace them here."""
    app, kind = _application(request, pk), _kind(kind)
    credentials = (
        ChannelCredentials.objects.select_related("updated_by")
        .filter(application=app, channel=kind)
        .first()
    )
    form_class = credentials_form(kind)
    can_manage = request.membership.has_role(Role.ADMIN)
    if request.method == "POST":
        request.membership.require(Role.ADMIN)
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            config, errors = uploads.check(app, kind, form.submitted())
            if errors:
                form.add_channel_errors(errors)
            else:
                credentials, replaced = uploads.save(app, kind, config, by=request.user)
                messages.success(
                    request,
                    f"{kind.label} credentials {'replaced' if replaced else 'saved'} "
                    f"(fingerprint {credentials.fingerprint}). Run a Test to check them.",
                )
                return redirect(_back(app))
    else:
        initial = {"environment": "production"}
        defaults = getattr(module(kind), "FIELDS", ())
        initial.update({field.name: field.default for field in defaults if field.default})
        if credentials is not None:  # a replacement usually keeps these
            fields = form_class.base_fields
            initial.update({k: v for k, v in credentials.details.items() if k in fields})
        form = form_class(initial=initial)
    return render(
        request,
        "push/channels.html",
        {
            "app": app,
            "card": _card(request, app, kind, credentials),
            "form": form if can_manage else None,
            "can_manage": can_manage,
        },
    )


@require_POST
@account_view(Role.ADMIN)
def channel_remove(request, pk, kind):
    app, kind = _application(request, pk), _kind(kind)
    if uploads.remove(app, kind, by=request.user):
        messages.success(
            request,
            f"{kind.label} credentials removed and deleted from pushconsole: {app.name}'s "
            "devices on it are reached through the built-in channel (the SDK) only.",
        )
    else:
        messages.info(request, f"{app.name} had no {kind.label} credentials.")
    return redirect(_back(app))


@require_POST
@account_view(Role.ADMIN)
def channel_test(request, pk, kind):
    """Send a test notification to one device; its answer, in words, on the page returned to."""
    app, kind = _application(request, pk), _kind(kind)
    back = _back(app, kind, request.POST.get("return_to", ""))
    credentials = get_object_or_404(ChannelCredentials, application=app, channel=kind)
    form = ChannelTestForm(request.POST, devices=_test_devices(request, app, kind))
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, f"Test not sent: {' '.join(error)}")
        return redirect(back)
    devices = Device.objects.filter(application=app)
    if token := form.cleaned_data["device_token"].strip():
        device = devices.filter(token=token).first()
    else:
        device = devices.filter(pk=form.cleaned_data["device"]).first()
    if device is None:
        messages.error(request, f"Test not sent: {app.name} has no device with this token.")
        return redirect(back)
    shown_token = request.membership.masking.token(device.token)
    try:
        answer, words = trial.send_test(credentials, device, now=timezone.now())
    except ValueError as exc:
        messages.error(request, f"Test not sent to {shown_token}: {exc}")
    else:
        messages.add_message(
            request,
            RESULT_LEVEL[answer.result],
            f"Test through {kind.label} to {shown_token}: {answer.result}"
            f"{f' ({answer.reason})' if answer.reason else ''}. {words}",
        )
    return redirect(back)
