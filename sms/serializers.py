"""Serializers of the SMS management API (/api/v1/sms/): what comes in is validated here."""

import base64
import binascii
import re

from django.core.files.base import ContentFile
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lib import dates
from lib.masking import FULL

from . import sources
from .models import (
    IdentityApplication,
    Package,
    RateLimitPolicy,
    Region,
    ReviewDecision,
    ReviewStatus,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from .numbers import InvalidNumber, normalize
from .sending import MAX_NUMBERS_PER_CALL

# Tencent takes proofs as base64 in a JSON request; a few MB is already a large scan.
MAX_PROOF_BYTES = 5 * 1024 * 1024
IMAGE_KINDS = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
DOCUMENT_KINDS = {**IMAGE_KINDS, b"%PDF-": "pdf"}
DATA_URL_PREFIX = re.compile(r"^data:[\w.+/-]*;base64,")
BIGINT = 2**63 - 1  # the range of the BigIntegerField columns a filter compares with
# Tencent's limit on SessionContext is bytes, not characters.
MAX_SESSION_CONTEXT_BYTES = 511


class AccountField(serializers.IntegerField):
    """Documents the ``account`` body field; the view resolves it before validation."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            write_only=True,
            min_value=1,
            help_text="The account to act on. May be left out when the key's user belongs to "
            "exactly one account.",
            **kwargs,
        )


class AccountQuery(serializers.Serializer):
    account = AccountField()


@extend_schema_field(OpenApiTypes.STR)
class ProofField(serializers.FileField):
    """A proof document sent as a multipart file, or as base64 text in JSON."""

    default_error_messages = {
        "base64": "Not valid base64.",
        "too_large": "At most {max_bytes} bytes.",
        "kind": "Must be {kinds}.",
        "empty": "The file is empty.",
    }

    def __init__(self, *, kinds=IMAGE_KINDS, max_bytes=MAX_PROOF_BYTES, **kwargs):
        self.kinds, self.max_bytes = kinds, max_bytes
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs["help_text"] = (
            kwargs.get("help_text", "")
            + " In a JSON body: base64 text (a `data:…;base64,` prefix is accepted); in a "
            "multipart/form-data body: a file part."
        ).strip()
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        # An empty form field or "" in JSON means "no proof".
        return super().validate_empty_values(None if data == "" else data)

    def to_internal_value(self, data):
        if isinstance(data, str):
            text = "".join(DATA_URL_PREFIX.sub("", data.strip()).split())
            if len(text) > self.max_bytes * 4 // 3 + 4:
                self.fail("too_large", max_bytes=self.max_bytes)
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                self.fail("base64")
            upload = ContentFile(raw)
            head = raw[:8]
        else:
            upload = super().to_internal_value(data)
            head = upload.read(8)
            upload.seek(0)
        if not upload.size:
            self.fail("empty")
        if upload.size > self.max_bytes:
            self.fail("too_large", max_bytes=self.max_bytes)
        ext = next((e for magic, e in self.kinds.items() if head.startswith(magic)), None)
        if ext is None:
            self.fail("kind", kinds=" or ".join(sorted({e.upper() for e in self.kinds.values()})))
        upload.name = f"proof.{ext}"
        return upload

    def to_representation(self, value):
        return None


@extend_schema_field(
    {
        "type": "string",
        "enum": ReviewStatus.values,
        "description": "; ".join(f"`{v}`: {label}" for v, label in ReviewStatus.choices),
    },
    # One component for the review state of signatures, templates and identity applications,
    # rather than an enum per field that the schema's enum naming would have to disambiguate
    # from other fields called "status".
    component_name="ReviewStatusEnum",
)
class ReviewStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=ReviewStatus.choices, **kwargs)


class DecisionSerializer(serializers.ModelSerializer):
    by = serializers.CharField(
        source="by.username", default=None, allow_null=True, help_text="null: the system."
    )

    class Meta:
        model = ReviewDecision
        fields = ["action", "by", "at", "reason"]
        read_only_fields = fields


class ReviewedSerializer(serializers.ModelSerializer):
    """The review fields every reviewed item shows."""

    status = ReviewStatusField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    REVIEW_FIELDS = ["status", "review_reply", "reviewed_at", "created_by", "created_at"]
    PROVIDER_FIELDS = [
        "provider_id",
        "provider_status",
        "provider_reply",
        "provider_error",
        "provider_synced_at",
    ]


class SignatureSerializer(ReviewedSerializer):
    has_proof_image = serializers.SerializerMethodField()

    class Meta:
        model = Signature
        fields = [
            "id",
            "text",
            "region",
            "sign_type",
            "document_type",
            "purpose",
            "remark",
            "has_proof_image",
            *ReviewedSerializer.REVIEW_FIELDS,
            *ReviewedSerializer.PROVIDER_FIELDS,
        ]
        read_only_fields = fields

    def get_has_proof_image(self, item) -> bool:
        return bool(item.proof_image)


class SignatureDetailSerializer(SignatureSerializer):
    decisions = DecisionSerializer(many=True, read_only=True, help_text="The audit trail.")

    class Meta(SignatureSerializer.Meta):
        fields = [*SignatureSerializer.Meta.fields, "decisions"]
        read_only_fields = fields


class SignatureApplySerializer(serializers.ModelSerializer):
    account = AccountField()
    proof_image = ProofField(
        help_text="Proof for the signature (licence, trademark certificate, …): PNG or JPEG."
    )

    class Meta:
        model = Signature
        fields = [
            "account",
            "text",
            "region",
            "sign_type",
            "document_type",
            "purpose",
            "remark",
            "proof_image",
        ]

    def validate(self, attrs):
        # The console's rule (``SignatureQuerySet.text_taken``), answered as a 400 naming
        # ``text``; the view gives ``account`` in the context.
        region = attrs.get("region", Signature._meta.get_field("region").default)
        taken = Signature.objects.text_taken(self.context["account"], region, attrs["text"])
        if taken:
            raise serializers.ValidationError({"text": [taken]})
        return attrs


class ReviewFilter(AccountQuery):
    # An empty filter (``?region=``, as a form sends it) means no filter: allow_blank says so
    # in the schema, and the view drops empty values.
    status = ReviewStatusField(required=False, allow_blank=True)
    region = serializers.ChoiceField(choices=Region.choices, required=False, allow_blank=True)


class TemplateSerializer(ReviewedSerializer):
    template_id = serializers.CharField(source="code", read_only=True)

    class Meta:
        model = Template
        fields = [
            "id",
            "template_id",
            "name",
            "content",
            "kind",
            "region",
            "param_count",
            "remark",
            *ReviewedSerializer.REVIEW_FIELDS,
            *ReviewedSerializer.PROVIDER_FIELDS,
        ]
        read_only_fields = fields


class TemplateDetailSerializer(TemplateSerializer):
    decisions = DecisionSerializer(many=True, read_only=True, help_text="The audit trail.")

    class Meta(TemplateSerializer.Meta):
        fields = [*TemplateSerializer.Meta.fields, "decisions"]
        read_only_fields = fields


class TemplateApplySerializer(serializers.ModelSerializer):
    account = AccountField()
    template_id = serializers.CharField(
        source="code",
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Optional. For a template that already exists at Tencent Cloud, its "
        "TemplateId; left out, a new numeric ID is given.",
    )

    class Meta:
        model = Template
        fields = ["account", "template_id", "name", "content", "kind", "region", "remark"]
        # The account comes from the view, not the body: uniqueness is checked below.
        validators = []

    def validate_template_id(self, value):
        value = value.strip()
        if value and Template.objects.filter(account=self.context["account"], code=value):
            raise serializers.ValidationError("This account already has a template with this ID.")
        return value


class ApplicationSerializer(serializers.ModelSerializer):
    callback_path = serializers.SerializerMethodField(
        help_text="Where Tencent Cloud posts status reports for this application (configure it "
        "in the SMS console's callback settings). The path holds a secret: shown to admins "
        "and owners only, null for other roles."
    )

    class Meta:
        model = SmsApplication
        fields = ["id", "sdk_app_id", "name", "receipt_mode", "created_at", "callback_path"]
        read_only_fields = fields

    def get_callback_path(self, application) -> str | None:
        if not self.context.get("show_secrets"):
            return None
        return f"/callbacks/sms/{application.receipt_token}"


class ApplicationCreateSerializer(serializers.ModelSerializer):
    account = AccountField()
    sdk_app_id = serializers.RegexField(
        r"^\d{1,40}$",
        help_text="The SdkAppId of the SMS application at Tencent Cloud (digits, e.g. 1400006666).",
        error_messages={"invalid": "An SdkAppId is digits only (e.g. 1400006666)."},
    )

    class Meta:
        model = SmsApplication
        fields = ["account", "sdk_app_id", "name", "receipt_mode"]
        # The account comes from the view, not the body: uniqueness is checked below.
        validators = []

    def validate_sdk_app_id(self, value):
        if SmsApplication.objects.filter(account=self.context["account"], sdk_app_id=value):
            raise serializers.ValidationError("This SdkAppId is already registered.")
        return value


class NumberField(serializers.CharField):
    """A phone number, normalised to E.164 (a number without country code is Chinese)."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return normalize(text)
        except InvalidNumber as exc:
            raise serializers.ValidationError(str(exc)) from None


class PolicySerializer(serializers.ModelSerializer):
    account = AccountField()
    exempt_numbers = serializers.ListField(
        child=NumberField(max_length=32),
        help_text=f"Numbers the limits do not apply to (at most "
        f"{RateLimitPolicy.MAX_EXEMPT_NUMBERS}); normalised to E.164. The list replaces the "
        "current one.",
    )
    hourly_limit = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,  # the column's range
        allow_null=True,
        help_text="At most this many SMS per number in any 60 minutes (null = no limit).",
    )
    updated_by = serializers.CharField(
        source="updated_by.username", default=None, allow_null=True, read_only=True
    )
    customizable = serializers.SerializerMethodField(
        help_text="False for individual accounts: only organizations may change the policy."
    )

    class Meta:
        model = RateLimitPolicy
        fields = [
            "account",
            "same_content_seconds",
            "hourly_limit",
            "daily_limit",
            "exempt_numbers",
            "customizable",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "same_content_seconds": {"required": True},
            "daily_limit": {"required": True},
        }

    def get_customizable(self, policy) -> bool:
        return policy.account.is_organization

    def validate_exempt_numbers(self, numbers):
        numbers = sorted(set(numbers))
        if len(numbers) > RateLimitPolicy.MAX_EXEMPT_NUMBERS:
            raise serializers.ValidationError(
                f"At most {RateLimitPolicy.MAX_EXEMPT_NUMBERS} exempt numbers; got {len(numbers)}."
            )
        return numbers


class IdentityApplicationSerializer(ReviewedSerializer):
    has_proof = serializers.SerializerMethodField()

    class Meta:
        model = IdentityApplication
        fields = [
            "id",
            "company_name",
            "credential_number",
            "has_proof",
            *ReviewedSerializer.REVIEW_FIELDS,
        ]
        read_only_fields = fields

    def get_has_proof(self, item) -> bool:
        return bool(item.proof)


class IdentityApplySerializer(serializers.ModelSerializer):
    account = AccountField()
    proof = ProofField(
        kinds=DOCUMENT_KINDS,
        help_text="The business licence or registration certificate: PNG, JPEG or PDF.",
    )

    class Meta:
        model = IdentityApplication
        fields = ["account", "company_name", "credential_number", "proof"]


class RegionUsageSerializer(serializers.Serializer):
    region = serializers.ChoiceField(choices=Region.choices)
    quantity = serializers.IntegerField(help_text="Parts in the region's valid packages.")
    used = serializers.IntegerField()
    left = serializers.IntegerField(help_text="The balance: parts that can still be sent.")
    ratio = serializers.FloatField(allow_null=True, help_text="used / quantity; null if none.")


class PackageSerializer(serializers.ModelSerializer):
    left = serializers.IntegerField(read_only=True)
    valid = serializers.SerializerMethodField(help_text="Within its valid period now.")

    class Meta:
        model = Package
        fields = [
            "id",
            "region",
            "quantity",
            "used",
            "left",
            "purchased_at",
            "valid_from",
            "valid_until",
            "valid",
            "note",
        ]
        read_only_fields = fields

    def get_valid(self, package) -> bool:
        return package.valid_from <= self.context["now"] < package.valid_until


class PackagesSerializer(serializers.Serializer):
    regions = RegionUsageSerializer(many=True)
    packages = PackageSerializer(many=True, help_text="Every package, newest purchase first.")


class SendSerializer(serializers.Serializer):
    account = AccountField()
    sdk_app_id = serializers.CharField(max_length=40, help_text="The SMS application to send with.")
    template_id = serializers.CharField(max_length=40, help_text="An approved template's ID.")
    sign_name = serializers.CharField(
        max_length=12,
        required=False,
        allow_blank=True,
        default="",
        help_text="An approved signature of the template's region; left out, the newest one.",
    )
    params = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=500),
        required=False,
        default=list,
        help_text="The template's parameters, in order.",
    )
    numbers = serializers.ListField(
        child=serializers.CharField(max_length=32),
        allow_empty=False,
        max_length=MAX_NUMBERS_PER_CALL,
        help_text=f"Up to {MAX_NUMBERS_PER_CALL} numbers of one region (E.164, or Chinese "
        "numbers without country code), each once: a number given twice, in any spelling, is "
        "a 400 naming its second place.",
    )
    session_context = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="Echoed back in the records (Tencent's SessionContext).",
    )

    def validate_session_context(self, value):
        if len(value.encode()) > MAX_SESSION_CONTEXT_BYTES:
            raise serializers.ValidationError(
                f"At most {MAX_SESSION_CONTEXT_BYTES} bytes in UTF-8."
            )
        return value


class SendResultSerializer(serializers.ModelSerializer):
    fee = serializers.IntegerField(
        source="charged", help_text="Parts taken from the packages (0 if not sent)."
    )

    class Meta:
        model = SmsMessage
        fields = ["id", "phone_number", "state", "reason", "serial_no", "fee"]
        read_only_fields = fields


class SendTotalsSerializer(serializers.Serializer):
    requested = serializers.IntegerField()
    sent = serializers.IntegerField()
    blocked = serializers.IntegerField()
    failed = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="May have been sent; settled by receipts.")
    fee = serializers.IntegerField(help_text="Parts taken from the packages.")


class SendResponseSerializer(serializers.Serializer):
    results = SendResultSerializer(many=True)
    totals = SendTotalsSerializer()


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):
    """An ISO 8601 date (a whole day in the account's time zone) or date-time."""

    default_error_messages = {
        "invalid": "Give an ISO 8601 date (2024-05-01) or date-time (2024-05-01T08:00:00+08:00).",
        "range": f"Give a date {dates.RANGE_TEXT}.",
    }

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            # A date first: fromisoformat would read "2024-05-01" as a midnight date-time.
            value = parse_date(text) or parse_datetime(text)
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if not dates.in_range(value):
            self.fail("range")  # a day later or an offset away could not be represented
        return value

    def to_representation(self, value):
        return value.isoformat()


class MessageFilter(AccountQuery):
    since = DateOrDateTimeField(
        required=False,
        help_text="From this date-time, or from the start of this date in the account's time "
        "zone (a date-time without offset is in that time zone too).",
    )
    until = DateOrDateTimeField(
        required=False,
        help_text="Before this date-time, or up to the end of this date in the account's time "
        "zone.",
    )
    phone_number = NumberField(required=False, allow_blank=True, max_length=32)
    state = serializers.ChoiceField(
        choices=SmsMessage.State.choices, required=False, allow_blank=True
    )
    template_id = serializers.CharField(required=False, allow_blank=True, max_length=40)
    # The source types registered when the filter is made (``sms.sources``), not at import.
    source_type = serializers.ChoiceField(choices=(), required=False, allow_blank=True)
    source_id = serializers.IntegerField(required=False, min_value=-BIGINT, max_value=BIGINT)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source_type"].choices = sources.choices()


class PageQuery(serializers.Serializer):
    """The paging parameters of the records, checked (empty means the default)."""

    limit = serializers.IntegerField(required=False, min_value=0, max_value=BIGINT)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=BIGINT)


class MessageSerializer(serializers.ModelSerializer):
    """An SMS record. ``context["masking"]`` (the caller's ``Membership.masking``; full when
    absent) masks the phone number, the parameters and the content for viewers."""

    sdk_app_id = serializers.CharField(source="application.sdk_app_id", default=None)
    template_id = serializers.CharField(source="template_code")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        masking = self.context.get("masking", FULL)
        if not masking.reveal:
            data["phone_number"] = masking.number(instance.phone_number)
            data["content"] = masking.content(instance.content, instance.params)
            data["params"] = masking.params(instance.params)
        return data

    class Meta:
        model = SmsMessage
        fields = [
            "id",
            "created_at",
            "phone_number",
            "region",
            "sdk_app_id",
            "template_id",
            "sign_name",
            "params",
            "content",
            "state",
            "reason",
            "error_message",
            "fee",
            "charged",
            "serial_no",
            "iso_code",
            "session_context",
            "source_type",
            "source_id",
            "simulated",
            "sent_at",
            "delivered_at",
            "receipt_status",
            "receipt_code",
            "receipt_description",
        ]
        read_only_fields = fields


class MessagePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageSerializer(many=True)
