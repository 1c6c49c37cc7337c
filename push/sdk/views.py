"""The SDK endpoints under /sdk/v1/. Each authenticates the app (``X-Access-Id`` and
``X-Access-Key``), validates the request with a serializer, finds the device by ``token`` among
that app's devices only (another app's token is 404, exactly like an unknown one) and calls one
piece of behaviour. Errors have the API's shape: ``{"error": {"code", "message", "fields"}}``.
"""

import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    parser_classes,
    permission_classes,
)
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from lib.api import ErrorSerializer, JSONParser
from push import events, inbox
from push.models import PHONE_ACCOUNT_TYPE, Delivery, Device, DeviceAccount

from .authentication import AccessKeyAuthentication, IsApplication
from .serializers import (
    AccountsAnswer,
    AccountsDeleteSerializer,
    AccountsSerializer,
    DeviceRequest,
    EventsAnswer,
    EventsSerializer,
    MessagesAnswer,
    MessagesQuery,
    NotificationStateAnswer,
    NotificationStateSerializer,
    PhoneAnswer,
    PhoneSerializer,
    RegisteredDeviceSerializer,
    RegisterSerializer,
    messages_answer,
)

# last_seen_at is written at most this often by the frequent calls (polling, events), so that a
# device polling every second does not cost a write every second.
SEEN_RESOLUTION = timedelta(minutes=1)

_ERROR = OpenApiResponse(ErrorSerializer, description="The error body; `fields` names bad input.")
ERRORS = {
    400: _ERROR,
    401: OpenApiResponse(ErrorSerializer, description="Missing or wrong AccessID / AccessKey."),
    404: OpenApiResponse(ErrorSerializer, description="This app has no device with the token."),
}
DELETE_NOTE = (
    " Send the fields as a JSON body or, for clients that cannot send a body with DELETE, as "
    "query parameters."
)


def sdk_view(methods):
    """``api_view`` with the SDK's authentication, permission and JSON bodies."""

    def decorate(func):
        func = parser_classes([JSONParser])(func)
        func = permission_classes([IsApplication])(func)
        func = authentication_classes([AccessKeyAuthentication])(func)
        return api_view(methods)(func)

    return decorate


def sdk_schema(operation_id: str, **kwargs):
    return extend_schema(operation_id=operation_id, tags=["SDK"], **kwargs)


def device_for(request, token: str) -> Device:
    """The authenticated app's device with this token, else 404."""
    device = Device.objects.filter(application=request.auth, token=token).first()
    if device is None:
        raise NotFound("This application has no device with this token: register it (again).")
    return device


def valid(serializer_class, data, **context):
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer


def delete_data(request):
    return request.data if request.data else request.query_params


def seen(device: Device, now: datetime) -> None:
    seen_all([device.pk], now)


def seen_all(device_ids: list[int], now: datetime) -> None:
    # (One array parameter: ten thousand ids after a broadcast, not ten thousand placeholders.)
    Device.objects.filter(pk__any=device_ids, last_seen_at__lt=now - SEEN_RESOLUTION).update(
        last_seen_at=now
    )


def accounts_of(device: Device) -> list[dict]:
    return list(
        DeviceAccount.objects.filter(device=device)
        .order_by("account_type")
        .values("account", "account_type")
    )


def bind(device: Device, accounts: dict[int, str], now: datetime) -> None:
    """Upsert the accounts, one per type: a new one overwrites (and counts as bound now)."""
    DeviceAccount.objects.bind(
        device.application_id,
        {(device.pk, account_type): account for account_type, account in accounts.items()},
        now,
    )


# --------------------------------------------------------------------------------------------


@sdk_schema(
    "sdk_register",
    summary="Register a device, or refresh it",
    description="Without `token`: a new device and its token (201). With `token`: refreshes "
    "that device's profile and permission (200); an unknown token is 404, then register "
    "without it. `tags`, when given, replace the device's tags.",
    request=RegisterSerializer,
    responses={200: RegisteredDeviceSerializer, 201: RegisteredDeviceSerializer, **ERRORS},
)
@sdk_view(["POST"])
def register(request):
    serializer = valid(RegisterSerializer, request.data, application=request.auth)
    token = serializer.validated_data.get("token")
    device = device_for(request, token) if token else None
    device, created = serializer.register(device=device, now=timezone.now())
    return Response(
        RegisteredDeviceSerializer(device).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@sdk_schema(
    "sdk_phone_bind",
    methods=["POST"],
    summary="Bind the device's phone number (account type 1002)",
    description="Adds or overwrites the number, normalised to E.164 (+86 when it has no "
    "country code). The supplementary SMS goes to this number.",
    request=PhoneSerializer,
    responses={200: PhoneAnswer, **ERRORS},
)
@sdk_schema(
    "sdk_phone_unbind",
    methods=["DELETE"],
    summary="Remove the device's phone number",
    description="Idempotent." + DELETE_NOTE,
    parameters=[DeviceRequest],
    responses={200: PhoneAnswer, **ERRORS},
)
@sdk_view(["POST", "DELETE"])
def phone(request):
    if request.method == "DELETE":
        device = device_for(
            request, valid(DeviceRequest, delete_data(request)).validated_data["token"]
        )
        DeviceAccount.objects.filter(device=device, account_type=PHONE_ACCOUNT_TYPE).delete()
        return Response({"token": device.token, "phone": None})
    data = valid(PhoneSerializer, request.data).validated_data
    device = device_for(request, data["token"])
    bind(device, {PHONE_ACCOUNT_TYPE: data["phone"]}, timezone.now())
    return Response({"token": device.token, "phone": data["phone"]})


@sdk_schema(
    "sdk_accounts_bind",
    methods=["POST"],
    summary="Bind accounts to the device",
    description="One account per type per device: a new one overwrites the old one of its "
    "type (within a request, the last of a type wins). Type 1002 is a phone number and is "
    "normalised to E.164.",
    request=AccountsSerializer,
    responses={200: AccountsAnswer, **ERRORS},
)
@sdk_schema(
    "sdk_accounts_unbind",
    methods=["DELETE"],
    summary="Unbind accounts of some types, or all",
    description="`account_types` lists the types to remove; without it every account of the "
    "device is removed." + DELETE_NOTE,
    parameters=[AccountsDeleteSerializer],
    responses={200: AccountsAnswer, **ERRORS},
)
@sdk_view(["POST", "DELETE"])
def accounts(request):
    if request.method == "DELETE":
        data = valid(AccountsDeleteSerializer, delete_data(request)).validated_data
        device = device_for(request, data["token"])
        doomed = DeviceAccount.objects.filter(device=device)
        if "account_types" in data:
            doomed = doomed.filter(account_type__in=data["account_types"])
        deleted, _ = doomed.delete()
        return Response(
            {"token": device.token, "deleted": deleted, "accounts": accounts_of(device)}
        )
    data = valid(AccountsSerializer, request.data).validated_data
    device = device_for(request, data["token"])
    bind(device, {a["account_type"]: a["account"] for a in data["accounts"]}, timezone.now())
    return Response({"token": device.token, "accounts": accounts_of(device)})


@sdk_schema(
    "sdk_notification_state",
    summary="Report the notification permission",
    description="Call when the user turns the app's notifications on or off (and at start). "
    "Devices with notifications off get the supplementary SMS of pushes that ask for it.",
    request=NotificationStateSerializer,
    responses={200: NotificationStateAnswer, **ERRORS},
)
@sdk_view(["POST"])
def notification_state(request):
    data = valid(NotificationStateSerializer, request.data).validated_data
    device = device_for(request, data["token"])
    now = timezone.now()
    changed = device.set_notifications(data["enabled"], now)
    seen(device, now)
    return Response(
        {
            "token": device.token,
            "notifications_enabled": device.notifications_enabled,
            "changed": changed,
        }
    )


@sdk_schema(
    "sdk_events",
    summary="Report arrivals, clicks and dismissals",
    description=f"Up to {events.MAX_BATCH} events of this device. Idempotent: the first "
    "report of each wins and repeats change nothing. A click or dismissal also records the "
    "arrival if it was never reported. Events for pushes this device did not receive are "
    "counted as `unknown` and ignored.",
    request=EventsSerializer,
    responses={200: EventsAnswer, **ERRORS},
)
@sdk_view(["POST"])
def report_events(request):
    data = valid(EventsSerializer, request.data).validated_data
    device = device_for(request, data["token"])
    now = timezone.now()
    result = events.record(device, data["events"], now)
    seen(device, now)
    return Response(result)


# --------------------------------------------------------------------------------------------
# GET messages: the built-in channel


class LongPoll:
    """How GET messages waits for a notification in a web worker: the database is asked every
    ``interval`` seconds until something is there or ``wait`` seconds have passed. Deployed,
    the long-poll server (``push.sdk.longpoll``) answers the waiting polls instead, set-based
    and woken by the commit; here at most ``SDK_WEB_LONG_POLLS`` threads of a process wait at
    once, and a poll beyond them is answered at once, so polls cannot take a web process's
    threads (or its database connections) from the API. Tests replace ``clock`` and ``sleep``."""

    interval = 1.0
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    _slots: threading.BoundedSemaphore | None = None

    @classmethod
    def fetch(cls, device: Device, after: int, wait: float) -> list[Delivery]:
        items = inbox.fetch(device, after, timezone.now())
        if items or wait <= 0:
            return items
        if cls._slots is None:
            cls._slots = threading.BoundedSemaphore(settings.SDK_WEB_LONG_POLLS)
        if not cls._slots.acquire(blocking=False):
            return items
        try:
            deadline = cls.clock() + wait
            while not items and (remaining := deadline - cls.clock()) > 0:
                cls.sleep(min(cls.interval, remaining))
                items = inbox.fetch(device, after, timezone.now())
            return items
        finally:
            cls._slots.release()


@sdk_schema(
    "sdk_messages",
    summary="Fetch the device's notifications (built-in channel)",
    description=f"Notifications after the cursor `after`, oldest first, at most {inbox.PAGE}; "
    "expired ones are left out. Pass `next` as `after` the next time. With `wait`, an empty "
    "answer is held up to that many seconds until a notification comes (long-poll).",
    parameters=[MessagesQuery],
    responses={200: MessagesAnswer, **ERRORS},
)
@sdk_view(["GET"])
def messages(request):
    query = valid(MessagesQuery, request.query_params).validated_data
    device = device_for(request, query["token"])
    items = LongPoll.fetch(device, query["after"], query["wait"])
    seen(device, timezone.now())
    return Response(
        messages_answer(items, query["after"], now=timezone.now(), tz=request.auth.account.tz)
    )
