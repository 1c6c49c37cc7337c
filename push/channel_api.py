"""Management API of an application's delivery channels, under
/api/v1/push/applications/<application_id>/channels: the credentials (what may be shown of
them, never the secret), storing or replacing them (the rotation), removing them, and the Test
action. Viewers read; owners and admins write and test. An application of an account the
caller is not a member of is a 404."""

import json

from django.http import Http404
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api import membership
from accounts.models import Membership, Role
from lib.api import ErrorSerializer, error

from . import channels
from .channels import SERVICES, trial, uploads
from .channels.base import Result
from .models import TOKEN_MAX_LENGTH, Application, ChannelCredentials, ChannelKind, Device

_ERROR = OpenApiResponse(ErrorSerializer, description="The error body; `fields` names bad input.")
ERRORS = {400: _ERROR, 403: _ERROR, 404: _ERROR}
KINDS = [kind.value for kind in SERVICES]
PARAMETERS = [
    OpenApiParameter("application_id", OpenApiTypes.INT, OpenApiParameter.PATH),
]
KIND = OpenApiParameter(
    "kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=KINDS, description="The channel."
)
MAX_SECRET_LENGTH = 64 * 1024  # a .p8 key is ~250 bytes, a service-account key file ~2.4 KB


def application_for(request, application_id, minimum: str = Role.VIEWER) -> Application:
    """An application of one of the caller's accounts (else 404), if the caller's role there
    is at least ``minimum`` (else 403)."""
    accounts = Membership.objects.filter(user=request.user).values("account_id")
    app = Application.objects.filter(pk=application_id, account_id__in=accounts).first()
    if app is None:
        raise Http404
    membership(request, app.account_id, minimum)
    return app


def _kind(kind: str) -> ChannelKind:
    if kind not in KINDS:
        raise Http404
    return ChannelKind(kind)


def _context(request, app: Application) -> dict:
    admin = Membership.objects.filter(
        user=request.user, account_id=app.account_id, role__in=[Role.OWNER, Role.ADMIN]
    ).exists()
    return {"request": request, "admin": admin}


def _no_credentials(app: Application, kind: ChannelKind) -> Response:
    return error(
        "not_found", f"{app.name} has no {kind.label} credentials.", status.HTTP_404_NOT_FOUND
    )


class ChannelCredentialsSerializer(serializers.ModelSerializer):
    """What may be shown of stored credentials: never the secret (the .p8 key, the
    service account's private key)."""

    details = serializers.DictField(
        read_only=True,
        help_text="APNs: key_id, team_id, topic, environment. FCM: project_id, client_email, "
        "private_key_id.",
    )
    fingerprint = serializers.CharField(
        read_only=True, help_text="Of the secret: tells one upload from another."
    )
    updated_by = serializers.CharField(
        source="updated_by.username", default=None, allow_null=True, read_only=True
    )

    receipt_url = serializers.SerializerMethodField(
        help_text="Vendors' channels: where the vendor posts this app's receipts (to enter in "
        "the vendor's console for Huawei and Honor; sent in each message otherwise). It holds "
        "the app's receipt key: shown to owners and admins only, else null."
    )
    quota_spent_until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Vendors' channels: the vendor said the app's daily quota is spent; until "
        "then its deliveries go over the built-in channel.",
    )

    class Meta:
        model = ChannelCredentials
        fields = [
            "channel",
            "details",
            "fingerprint",
            "created_at",
            "updated_at",
            "updated_by",
            "receipt_url",
            "quota_spent_until",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_receipt_url(self, credentials) -> str | None:
        request = self.context.get("request")
        if request is None or not credentials.receipt_key_id or not self.context.get("admin"):
            return None
        return credentials.receipt_url() or credentials.receipt_url(request.build_absolute_uri("/"))


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}],
        "description": "FCM: the service account's JSON key file, as its text or as an object.",
    }
)
class ServiceAccountField(serializers.Field):
    default_error_messages = {
        "invalid": "The service account's JSON key file is expected, as text or as an object."
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if isinstance(data, dict):
            return json.dumps(data)
        self.fail("invalid")

    def to_representation(self, value):  # write-only: never shown
        raise NotImplementedError


def _text(help_text: str, max_length: int = 255, **extra) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, max_length=max_length, help_text=help_text, **extra
    )


class _CredentialsInput(serializers.Serializer):
    """The fields of one channel's credentials: APNs takes key, key_id, team_id, topic and
    environment; FCM takes service_account and project_id; each vendor the fields its module
    lists (the other channels' fields are refused by name)."""

    key = _text(
        "APNs: the .p8 key file's text (PEM).",
        MAX_SECRET_LENGTH,
        write_only=True,
        trim_whitespace=False,
    )
    key_id = _text("APNs: the key's 10-character Key ID.", 100)
    team_id = _text("APNs: the 10-character Team ID.", 100)
    topic = _text("APNs: the app's bundle ID.")
    environment = _text("APNs: `production` or `sandbox` (which APNs endpoint).", 20)
    service_account = ServiceAccountField(required=False, write_only=True)
    project_id = _text("FCM: the Firebase project ID (default: the key file's).", 100)


def _vendor_fields() -> dict[str, serializers.Field]:
    """The vendors' credentials fields (``FIELDS`` of each module), one API field per name
    (vendors share names such as app_id and app_secret); its help says which vendor takes it."""
    uses: dict[str, list] = {}
    for kind in ChannelKind.vendors():
        for spec in channels.module(kind).FIELDS:
            uses.setdefault(spec.name, []).append((ChannelKind(kind), spec))
    fields = {}
    for name, taken in uses.items():
        if name in _CredentialsInput._declared_fields:
            continue  # the same name as an APNs or FCM field: that one serves both
        words = "; ".join(
            f"{kind.label}: {spec.label}" + (f" ({spec.help})" if spec.help else "")
            for kind, spec in taken
        )
        secret = any(spec.secret for _, spec in taken)
        fields[name] = _text(
            words + (". Never shown again." if secret else ""),
            max(spec.max_length for _, spec in taken),
            write_only=secret,
            trim_whitespace=not secret,
        )
    return fields


ChannelCredentialsInputSerializer = type(
    "ChannelCredentialsInputSerializer",
    (_CredentialsInput,),
    {"__doc__": _CredentialsInput.__doc__, "__module__": __name__, **_vendor_fields()},
)


class ChannelTestRequestSerializer(serializers.Serializer):
    device_token = serializers.CharField(
        max_length=TOKEN_MAX_LENGTH,
        help_text="The device's token in pushconsole (not its APNs or FCM token).",
    )


class ChannelTestResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=[r.value for r in Result],
        help_text="accepted: the channel took it; refused: for good; retry: not taken, worth "
        "another try later; lost: no answer came back.",
    )
    reason = serializers.CharField(help_text="The channel's own word (e.g. Unregistered).")
    message_id = serializers.CharField(help_text="apns-id, or the FCM message name.")
    description = serializers.CharField(help_text="The answer in words.")
    pruned = serializers.BooleanField(
        help_text="The channel called the token dead: the device's token is now marked invalid."
    )


@extend_schema(
    summary="An application's delivery-channel credentials",
    description="The configured channels (APNs, FCM, the vendors' channels) with what may be "
    "shown of their credentials; never the secret.",
    parameters=PARAMETERS,
    responses={200: ChannelCredentialsSerializer(many=True), 404: _ERROR},
)
@api_view(["GET"])
def channel_list(request, application_id):
    app = application_for(request, application_id)
    stored = (
        ChannelCredentials.objects.filter(application=app)
        .select_related("updated_by")
        .order_by("channel")
    )
    return Response(
        ChannelCredentialsSerializer(stored, many=True, context=_context(request, app)).data
    )


@extend_schema(
    methods=["GET"],
    summary="One channel's credentials",
    parameters=[*PARAMETERS, KIND],
    responses={200: ChannelCredentialsSerializer, 404: _ERROR},
)
@extend_schema(
    methods=["PUT"],
    summary="Store or replace one channel's credentials",
    description="Replacing them is the rotation: the next send uses the new ones and the old "
    "secret is deleted. APNs takes `key` (the .p8 file's text), `key_id`, `team_id`, `topic` "
    "and `environment`; FCM takes `service_account` (the JSON key file, as text or object) "
    "and optionally `project_id`; a vendor's channel takes the fields its help texts name "
    "(app ids, keys and secrets as the vendor's console shows them). Each bad field is named "
    "in `fields`. 201 when stored, 200 when replaced. Owners and admins.",
    parameters=[*PARAMETERS, KIND],
    request=ChannelCredentialsInputSerializer,
    responses={200: ChannelCredentialsSerializer, 201: ChannelCredentialsSerializer, **ERRORS},
)
@extend_schema(
    methods=["DELETE"],
    summary="Remove one channel's credentials",
    description="Deleted from pushconsole: the application's devices on that channel get its "
    "pushes through the built-in channel (the SDK) only. Owners and admins.",
    parameters=[*PARAMETERS, KIND],
    responses={204: None, 403: _ERROR, 404: _ERROR},
)
@api_view(["GET", "PUT", "DELETE"])
@sensitive_variables()
def channel_detail(request, application_id, kind):
    minimum = Role.VIEWER if request.method == "GET" else Role.ADMIN
    app, kind = application_for(request, application_id, minimum), _kind(kind)
    if request.method == "PUT":
        serializer = ChannelCredentialsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config, errors = uploads.check(app, kind, dict(serializer.validated_data))
        if errors:
            raise ValidationError(
                {name or "non_field_errors": [message] for name, message in errors.items()}
            )
        credentials, replaced = uploads.save(app, kind, config, by=request.user)
        return Response(
            ChannelCredentialsSerializer(credentials, context=_context(request, app)).data,
            status=status.HTTP_200_OK if replaced else status.HTTP_201_CREATED,
        )
    if request.method == "DELETE":
        if not uploads.remove(app, kind, by=request.user):
            return _no_credentials(app, kind)
        return Response(status=status.HTTP_204_NO_CONTENT)
    credentials = (
        ChannelCredentials.objects.select_related("updated_by")
        .filter(application=app, channel=kind)
        .first()
    )
    if credentials is None:
        return _no_credentials(app, kind)
    return Response(ChannelCredentialsSerializer(credentials, context=_context(request, app)).data)


@extend_schema(
    summary="Send a test notification through one channel",
    description="One notification to one device of the application registered on that "
    "channel, through the stored credentials; the channel's answer, and in words. A device on "
    "another channel, without a channel token, or whose token was refused before is a 400 "
    "naming `device_token`. A dead-token answer marks the device's token invalid, as a real "
    "send would (`pruned`). Owners and admins.",
    parameters=[*PARAMETERS, KIND],
    request=ChannelTestRequestSerializer,
    responses={200: ChannelTestResultSerializer, **ERRORS},
)
@api_view(["POST"])
def channel_test(request, application_id, kind):
    app, kind = application_for(request, application_id, Role.ADMIN), _kind(kind)
    credentials = ChannelCredentials.objects.filter(application=app, channel=kind).first()
    if credentials is None:
        return _no_credentials(app, kind)
    serializer = ChannelTestRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    token = serializer.validated_data["device_token"]
    device = Device.objects.filter(application=app, token=token).first()
    if device is None:
        raise ValidationError({"device_token": [f"{app.name} has no device with this token."]})
    try:
        answer, words = trial.send_test(credentials, device)
    except ValueError as exc:
        raise ValidationError({"device_token": [str(exc)]}) from None
    device.refresh_from_db(fields=["channel_token_invalid_at"])
    return Response(
        {
            "result": answer.result.value,
            "reason": answer.reason,
            "message_id": answer.message_id,
            "description": words,
            "pruned": answer.prune and device.channel_token_invalid_at is not None,
        }
    )
