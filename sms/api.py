"""SMS management API, under /api/v1/sms/: signatures, templates, SMS applications, rate limits,
identity applications, packages, sending and the SMS records.

Every endpoint acts on one account, named by ``account`` (a query parameter for GET, a body
field otherwise) or, when the key's user belongs to exactly one account, that one. Roles: viewers
read; operators apply for signatures and templates and send; admins and owners change the
rate-limit policy and the SMS applications; owners apply for organizational identity.
"""

import re
from collections import Counter

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from accounts.api import membership
from accounts.models import Membership, Role
from accounts.serializers import AuthorizationSerializer
from lib.api import ErrorSerializer, error
from lib.masking import Masking

from . import authorization, quota, review, sending
from .exports import csv_response
from .models import (
    INDIVIDUAL_POLICY,
    IdentityApplication,
    Package,
    RateLimitPolicy,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from .serializers import (
    AccountQuery,
    ApplicationCreateSerializer,
    ApplicationSerializer,
    IdentityApplicationSerializer,
    IdentityApplySerializer,
    MessageFilter,
    MessagePageSerializer,
    MessageSerializer,
    PackagesSerializer,
    PageQuery,
    PolicySerializer,
    ReviewFilter,
    SendResponseSerializer,
    SendSerializer,
    SignatureApplySerializer,
    SignatureDetailSerializer,
    SignatureSerializer,
    TemplateApplySerializer,
    TemplateDetailSerializer,
    TemplateSerializer,
)

ACCOUNT_ID = re.compile(r"\d{1,18}")

_ERROR = OpenApiResponse(ErrorSerializer, description="The error body; `fields` names bad input.")
ERRORS = {400: _ERROR, 403: _ERROR, 404: _ERROR}
READ_ERRORS = {400: _ERROR, 404: _ERROR}


def select(request, minimum: str = Role.VIEWER) -> Membership:
    """The caller's membership of the account the request names (or of its only account).

    404 for an account the caller is not a member of, 403 if the role is too low, 400 naming
    ``account`` if it is missing and the caller belongs to several accounts (or none).
    """
    source = request.query_params if request.method in ("GET", "HEAD") else request.data
    raw = source.get("account") if hasattr(source, "get") else None
    if raw is None or raw == "":
        ids = list(
            Membership.objects.filter(user=request.user).values_list("account_id", flat=True)[:2]
        )
        if len(ids) != 1:
            raise ValidationError(
                {
                    "account": [
                        "Name the account: this key's user belongs to several accounts."
                        if ids
                        else "This key's user belongs to no account."
                    ]
                }
            )
        return membership(request, ids[0], minimum)
    if isinstance(raw, bool) or not ACCOUNT_ID.fullmatch(str(raw).strip()):
        raise ValidationError({"account": ["An account ID (an integer) is expected."]})
    return membership(request, int(raw), minimum)


def _filters(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    # An empty filter value means no filter (the serializers allow it blank).
    return {k: v for k, v in serializer.validated_data.items() if k != "account" and v != ""}


def _apply(request, serializer, account):
    """Save a new application (signature, template, identity) and send it to review."""
    with transaction.atomic():
        item = serializer.save(account=account, created_by=request.user)
        review.submit(item, by=request.user)
    return item


# Signatures


@extend_schema(
    methods=["GET"],
    summary="The account's signatures",
    parameters=[ReviewFilter],
    responses={200: SignatureSerializer(many=True), **READ_ERRORS},
)
@extend_schema(
    methods=["POST"],
    summary="Apply for a signature",
    description="The new signature is pending until reviewed (and, when the account is "
    "authorized, submitted to Tencent Cloud). Operators and above. Send JSON with "
    "`proof_image` as base64, or multipart/form-data with a file part. A text the account "
    "already has pending or approved in the region (letters in any case) is a 400 naming "
    "`text`.",
    request=SignatureApplySerializer,
    responses={201: SignatureSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def signatures(request):
    if request.method == "POST":
        account = select(request, Role.OPERATOR).account
        serializer = SignatureApplySerializer(data=request.data, context={"account": account})
        serializer.is_valid(raise_exception=True)
        try:
            item = _apply(request, serializer, account)
        except IntegrityError:
            # Another request applied for the same text between the check and the insert.
            raise ValidationError(
                {"text": ["This account already has an application for this signature text."]}
            ) from None
        return Response(SignatureSerializer(item).data, status=status.HTTP_201_CREATED)
    account = select(request).account
    items = Signature.objects.filter(account=account, **_filters(ReviewFilter, request))
    return Response(SignatureSerializer(items.select_related("created_by"), many=True).data)


@extend_schema(
    summary="A signature with its audit trail",
    parameters=[AccountQuery],
    responses={200: SignatureDetailSerializer, **READ_ERRORS},
)
@api_view(["GET"])
def signature_detail(request, pk):
    account = select(request).account
    item = (
        Signature.objects.prefetch_related("decisions__by").filter(account=account, pk=pk).first()
    )
    if item is None:
        return error("not_found", "This account has no such signature.", status.HTTP_404_NOT_FOUND)
    return Response(SignatureDetailSerializer(item).data)


# Templates


@extend_schema(
    methods=["GET"],
    summary="The account's templates",
    parameters=[ReviewFilter],
    responses={200: TemplateSerializer(many=True), **READ_ERRORS},
)
@extend_schema(
    methods=["POST"],
    summary="Apply for a template",
    description="Placeholders are `{1}`, `{2}`, … numbered consecutively. The new template is "
    "pending until reviewed. Approved templates cannot be changed: apply for a new one. "
    "Operators and above.",
    request=TemplateApplySerializer,
    responses={201: TemplateSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def templates(request):
    if request.method == "POST":
        account = select(request, Role.OPERATOR).account
        serializer = TemplateApplySerializer(data=request.data, context={"account": account})
        serializer.is_valid(raise_exception=True)
        try:
            item = _apply(request, serializer, account)
        except IntegrityError:
            # Another request took the same ID between the check and the insert.
            raise ValidationError(
                {"template_id": ["This account already has a template with this ID."]}
            ) from None
        return Response(TemplateSerializer(item).data, status=status.HTTP_201_CREATED)
    account = select(request).account
    items = Template.objects.filter(account=account, **_filters(ReviewFilter, request))
    return Response(TemplateSerializer(items.select_related("created_by"), many=True).data)


@extend_schema(
    summary="A template with its review state and audit trail",
    parameters=[AccountQuery],
    responses={200: TemplateDetailSerializer, **READ_ERRORS},
)
@api_view(["GET"])
def template_detail(request, pk):
    account = select(request).account
    item = Template.objects.prefetch_related("decisions__by").filter(account=account, pk=pk).first()
    if item is None:
        return error("not_found", "This account has no such template.", status.HTTP_404_NOT_FOUND)
    return Response(TemplateDetailSerializer(item).data)


# SMS applications


@extend_schema(
    methods=["GET"],
    summary="The account's SMS applications (SdkAppIds)",
    description="`callback_path`, the secret receipt URL, is shown to admins and owners only.",
    parameters=[AccountQuery],
    responses={200: ApplicationSerializer(many=True), **READ_ERRORS},
)
@extend_schema(
    methods=["POST"],
    summary="Register an SMS application",
    description="Admins and owners.",
    request=ApplicationCreateSerializer,
    responses={201: ApplicationSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def applications(request):
    if request.method == "POST":
        account = select(request, Role.ADMIN).account
        serializer = ApplicationCreateSerializer(data=request.data, context={"account": account})
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                application = serializer.save(account=account)
        except IntegrityError:
            raise ValidationError(
                {"sdk_app_id": ["This SdkAppId is already registered."]}
            ) from None
        data = ApplicationSerializer(application, context={"show_secrets": True}).data
        return Response(data, status=status.HTTP_201_CREATED)
    found = select(request)
    items = SmsApplication.objects.filter(account=found.account)
    context = {"show_secrets": found.has_role(Role.ADMIN)}
    return Response(ApplicationSerializer(items, many=True, context=context).data)


# Rate-limit policy


def _with_exempt(policy: RateLimitPolicy, masking: Masking) -> dict:
    exempt = [masking.number(n) for n in policy.exempt_numbers()]
    return {**PolicySerializer(policy).data, "exempt_numbers": exempt}


@extend_schema(
    methods=["GET"],
    summary="The rate-limit policy and exempt numbers",
    parameters=[AccountQuery],
    responses={200: PolicySerializer, **READ_ERRORS},
)
@extend_schema(
    methods=["PUT"],
    summary="Change the rate-limit policy",
    description="Organization accounts only (an individual account gets a 403 saying how to "
    "become one); admins and owners. The exempt list replaces the current one; the policy "
    "applies from the next send.",
    request=PolicySerializer,
    responses={200: PolicySerializer, **ERRORS},
)
@api_view(["GET", "PUT"])
def policy(request):
    if request.method == "GET":
        found = select(request)
        return Response(_with_exempt(RateLimitPolicy.for_account(found.account), found.masking))
    found = select(request, Role.ADMIN)
    account = found.account
    if not account.is_organization:
        raise PermissionDenied(
            f"{INDIVIDUAL_POLICY} Apply through the API with POST "
            "/api/v1/sms/identity-applications (company_name, credential_number).",
            code="individual_account",
        )
    serializer = PolicySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    # "account" named the account (select, above); it is no field of the policy.
    fields = {k: v for k, v in serializer.validated_data.items() if k != "account"}
    saved = RateLimitPolicy.change(account, **fields, by=request.user)
    return Response(_with_exempt(saved, found.masking))


# Identity applications


@extend_schema(
    methods=["GET"],
    summary="The account's applications for organizational identity",
    parameters=[AccountQuery],
    responses={200: IdentityApplicationSerializer(many=True), **READ_ERRORS},
)
@extend_schema(
    methods=["POST"],
    summary="Apply for organizational identity",
    description="For individual accounts, by their owner. Once approved the account becomes an "
    "organization (and may change its rate-limit policy). 409 if the account already is one "
    "or has an application pending.",
    request=IdentityApplySerializer,
    responses={201: IdentityApplicationSerializer, 409: _ERROR, **ERRORS},
)
@api_view(["GET", "POST"])
def identity_applications(request):
    if request.method == "GET":
        account = select(request).account
        items = IdentityApplication.objects.filter(account=account).select_related("created_by")
        return Response(IdentityApplicationSerializer(items, many=True).data)
    account = select(request, Role.OWNER).account
    if account.is_organization:
        return error(
            "already_organization",
            "This account already is an organization.",
            status.HTTP_409_CONFLICT,
        )
    if IdentityApplication.objects.pending().filter(account=account).exists():
        return error(
            "pending_application",
            "This account already has an identity application under review.",
            status.HTTP_409_CONFLICT,
        )
    serializer = IdentityApplySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    item = _apply(request, serializer, account)
    return Response(IdentityApplicationSerializer(item).data, status=status.HTTP_201_CREATED)


# Packages


@extend_schema(
    summary="Package balance per region, and every package bought",
    parameters=[AccountQuery],
    responses={200: PackagesSerializer, **READ_ERRORS},
)
@api_view(["GET"])
def packages(request):
    account = select(request).account
    now = timezone.now()
    regions = [
        {"region": region, **totals}
        for region, totals in quota.usage_by_region(account, now).items()
    ]
    bought = Package.objects.filter(account=account).order_by("-purchased_at", "-id")
    return Response(
        PackagesSerializer({"regions": regions, "packages": bought}, context={"now": now}).data
    )


# Sending


def _totals(messages: list[SmsMessage]) -> dict:
    states = Counter(m.state for m in messages)
    return {
        "requested": len(messages),
        "sent": states["sent"] + states["delivered"],
        "blocked": states["blocked"],
        "failed": states["failed"],
        # A message still "sending" here had no answer from the transport: it may have gone.
        "unknown": states["unknown"] + states["sending"],
        "fee": sum(m.charged for m in messages),
    }


@extend_schema(
    summary="Send one template to up to 200 numbers",
    description="Checks everything first (SdkAppId, template approved, parameter count, "
    "signature, numbers, each number once, one region): any bad input is a 400 naming the "
    "field, with nothing recorded or charged. Then, per number: exempt list, rate limits, "
    "package balance; blocked numbers are recorded with the rule in `reason`. Operators and "
    "above.",
    request=SendSerializer,
    responses={200: SendResponseSerializer, **ERRORS},
)
@api_view(["POST"])
def send(request):
    account = select(request, Role.OPERATOR).account
    serializer = SendSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        order = sending.prepare(
            account,
            sdk_app_id=data["sdk_app_id"],
            template_id=data["template_id"],
            sign_name=data["sign_name"],
            params=data["params"],
            numbers=data["numbers"],
            session_context=data["session_context"],
            created_by=request.user,
        )
        messages = sending.send(order)
    except sending.SmsRejected as rejected:
        raise ValidationError({rejected.field: [rejected.message]}) from None
    body = {"results": messages, "totals": _totals(messages)}
    return Response(SendResponseSerializer(body).data)


# SMS records


class MessagePagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000


class CsvExportNegotiation(DefaultContentNegotiation):
    """``?format=csv`` (or the ``.csv`` path) asks for the export the view streams itself.

    DRF reads ``format`` as a renderer override and would answer 404 for want of a CSV renderer;
    errors (bad filters, no access) are answered in JSON as everywhere else.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        wanted = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if wanted == "csv":
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


def csv_export(view):
    view.content_negotiation_class = CsvExportNegotiation
    return view


def _records(request, *, export: bool):
    found = select(request)
    account = found.account
    filters = _filters(MessageFilter, request)
    records = SmsMessage.objects.records(
        account,
        **filters,
    )
    if export:
        return csv_response(records, f"sms-records-{account.pk}.csv", masking=found.masking)
    # A bad limit or offset is a 400 naming it (the pagination would quietly ignore it).
    PageQuery(data=request.query_params).is_valid(raise_exception=True)
    paginator = MessagePagination()
    page = paginator.paginate_queryset(records.select_related("application"), request)
    context = {"masking": found.masking}
    return paginator.get_paginated_response(
        MessageSerializer(page, many=True, context=context).data
    )


_CSV = OpenApiResponse(
    OpenApiTypes.STR,
    description="CSV with a header row, streamed. Phone numbers, content and parameters are "
    "masked for viewers (as in the console), in full for operators and above.",
)


@extend_schema(
    summary="SMS records, newest first",
    description="Filtered and paginated (`limit`, `offset`). `format=csv` streams every matching "
    "record as CSV instead (as does `messages.csv`).",
    parameters=[
        MessageFilter,
        OpenApiParameter("limit", int, description="Records per page (at most 1000)."),
        OpenApiParameter("offset", int, description="Records to skip."),
        OpenApiParameter("format", str, enum=["json", "csv"], description="csv: export."),
    ],
    responses={
        (200, "application/json"): MessagePageSerializer,
        (200, "text/csv"): _CSV,
        **READ_ERRORS,
    },
)
@api_view(["GET"])
@csv_export
def messages(request, format=None):
    wanted = format or request.query_params.get("format")
    return _records(request, export=wanted == "csv")


@extend_schema(
    operation_id="sms_messages_csv",
    summary="SMS records as CSV",
    description="Every record matching the filters, newest first, streamed.",
    parameters=[MessageFilter],
    responses={(200, "text/csv"): _CSV, **READ_ERRORS},
)
@api_view(["GET"])
@csv_export
def messages_csv(request, format=None):
    return _records(request, export=True)


@extend_schema(request=None, responses=AuthorizationSerializer)
@api_view(["POST"])
def confirm_authorization(request, account_id):
    """Verify the stored key pair by calling Tencent Cloud SMS; Tencent's error is returned."""
    auth = membership(request, account_id, Role.ADMIN).account.find_authorization()
    if auth is None:
        return error("not_found", "This account has no Tencent Cloud authorization.", 404)
    authorization.confirm(auth)
    return Response(AuthorizationSerializer(auth).data)
