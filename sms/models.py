"""The SMS platform: signatures and templates under review, SMS applications, rate-limit policy,
packages (quota), SMS records with their receipts.

This app never imports ``push``: a message names what it supplements through ``source_type`` and
``source_id`` (for example ``push_delivery`` and a Delivery id), which ``push`` reads.
"""

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from lib.dates import local_bound

from .transports import segments


class Region(models.TextChoices):
    MAINLAND = "mainland", "Chinese mainland"
    GLOBAL = "global", "Global (outside Chinese mainland)"


def region_of(number: str) -> str:
    """The SMS region of an E.164 number: +86 is mainland, everything else global."""
    return Region.MAINLAND if number.startswith("+86") else Region.GLOBAL


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ProviderStatus(models.IntegerChoices):
    """Tencent Cloud's StatusCode for signatures and templates (reference §4.6)."""

    APPROVED = 0, "Approved and effective"
    REVIEWING = 1, "Under review at Tencent"
    PENDING_EFFECT = 2, "Approved, not yet effective"
    REJECTED = -1, "Rejected by Tencent"


class ReviewDecision(models.Model):
    """One entry of an item's audit trail: who did what, when, and why."""

    class Action(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PROVIDER = "provider", "Provider status changed"

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    item = GenericForeignKey("content_type", "object_id")
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # The audit trail shown on an item's admin and console page.
            models.Index(fields=["content_type", "object_id", "at"], name="sms_decision_item_idx")
        ]

    def __str__(self):
        return f"{self.get_action_display()} by {self.by or 'system'} at {self.at:%Y-%m-%d %H:%M}"


class ReviewedQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=ReviewStatus.PENDING)

    def approved(self):
        return self.filter(status=ReviewStatus.APPROVED)

    def sendable(self):
        """Approved here and, when synced with Tencent, approved and effective there."""
        return self.approved().filter(
            Q(provider_status__isnull=True) | Q(provider_status=ProviderStatus.APPROVED)
        )


class Reviewed(models.Model):
    """An application reviewed in Django admin: pending → approved | rejected.

    Approved items cannot be edited (as at Tencent): a change is a new application.
    """

    status = models.CharField(
        max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    review_reply = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decisions = GenericRelation(ReviewDecision)

    objects = ReviewedQuerySet.as_manager()
    # The file field holding the document a reviewer must see before approving (None: the
    # application has none). Served to reviewers by ``sms.admin`` only, never as public media.
    proof_field: str | None = None

    class Meta:
        abstract = True

    @property
    def is_approved(self) -> bool:
        return self.status == ReviewStatus.APPROVED

    @property
    def proof_document(self):
        """The proof's FieldFile (empty when none was uploaded), or None if none is asked for."""
        return getattr(self, self.proof_field) if self.proof_field else None

    def missing_proof(self) -> str:
        """Why this application cannot be approved for want of its proof ("" if it can): none
        was uploaded, or its file is gone from storage. Approving unseen proof is refused."""
        document = self.proof_document
        if document is None:
            return ""
        label = self._meta.get_field(self.proof_field).verbose_name
        if not document:
            return f"{self} has no {label}: the applicant must apply again with the document."
        if not document.storage.exists(document.name):
            return f"The {label} of {self} is missing from storage ({document.name})."
        return ""

    def record(self, action, *, by=None, reason="", now=None) -> ReviewDecision:
        return ReviewDecision.objects.create(
            item=self, action=action, by=by, reason=reason, at=now or timezone.now()
        )

    @transaction.atomic
    def decide(self, *, approve: bool, by, reason: str = "", now=None) -> bool:
        """Approve or reject a pending item; False if it was no longer pending (nothing changes).

        A rejection needs a reason, which becomes the review reply the applicant sees.
        """
        reason = reason.strip()
        if not approve and not reason:
            raise ValidationError({"reason": "A rejection needs a reason."})
        now = now or timezone.now()
        status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
        # Conditional update: two reviewers deciding at once cannot both win.
        changed = (
            type(self)
            .objects.filter(pk=self.pk, status=ReviewStatus.PENDING)
            .update(status=status, review_reply=reason, reviewed_by=by, reviewed_at=now)
        )
        if not changed:
            return False
        self.status, self.review_reply, self.reviewed_by, self.reviewed_at = (
            status,
            reason,
            by,
            now,
        )
        action = ReviewDecision.Action.APPROVED if approve else ReviewDecision.Action.REJECTED
        self.record(action, by=by, reason=reason, now=now)
        self.on_decided()
        return True

    def on_decided(self):
        """Hook for what follows a decision (e.g. an identity application changes the account)."""


class ProviderSynced(Reviewed):
    """A reviewed item that is also submitted to Tencent Cloud when the account is authorized."""

    provider_id = models.CharField(max_length=40, blank=True)
    provider_status = models.SmallIntegerField(
        choices=ProviderStatus.choices, null=True, blank=True
    )
    provider_reply = models.TextField(blank=True)
    provider_error = models.CharField(max_length=200, blank=True)
    provider_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_sendable(self) -> bool:
        return self.is_approved and self.provider_status in (None, ProviderStatus.APPROVED)


# Tencent: 2–12 characters of CJK, letters and digits (reference §4.4, code 1012).
SIGNATURE_TEXT = re.compile(r"^[\u3400-\u9fffA-Za-z0-9]{2,12}$")


def validate_signature_text(value: str) -> None:
    if not SIGNATURE_TEXT.match(value):
        raise ValidationError(
            "A signature is 2 to 12 characters: Chinese characters, letters and digits only."
        )


class Signature(ProviderSynced):
    class SignType(models.IntegerChoices):
        COMPANY = 0, "Company"
        APP = 1, "App"
        TRADEMARK = 4, "Trademark"
        GOVERNMENT = 5, "Government or public institution"

    class DocumentType(models.IntegerChoices):
        THREE_IN_ONE = 0, "Three-in-one business licence"
        BUSINESS_LICENCE = 1, "Business licence"
        ORG_CODE = 2, "Organization code certificate"
        SOCIAL_CREDIT = 3, "Social credit code certificate"
        APP_SCREENSHOT = 4, "App back-end screenshot"
        TRADEMARK = 7, "Trademark registration certificate"

    class Purpose(models.IntegerChoices):
        SELF = 0, "For own company, app or brand"
        OTHERS = 1, "For someone else"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_signatures")
    text = models.CharField(max_length=12, validators=[validate_signature_text])
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.MAINLAND)
    sign_type = models.SmallIntegerField(choices=SignType.choices, default=SignType.COMPANY)
    document_type = models.SmallIntegerField(
        choices=DocumentType.choices, default=DocumentType.BUSINESS_LICENCE
    )
    purpose = models.SmallIntegerField(choices=Purpose.choices, default=Purpose.SELF)
    proof_image = models.FileField(upload_to="sms/proofs/%Y/%m/", blank=True)
    remark = models.CharField(max_length=500, blank=True)

    # Tencent's AddSmsSign takes the licence / certificate named by document_type as ProofImage.
    proof_field = "proof_image"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Gate checks look up an account's signature by text and region.
            models.Index(fields=["account", "region", "text"], name="sms_signature_lookup_idx"),
            models.Index(fields=["status", "created_at"], name="sms_signature_queue_idx"),
        ]

    def __str__(self):
        return f"【{self.text}】 ({self.get_region_display()}, {self.get_status_display()})"


PLACEHOLDER = re.compile(r"\{(\d+)\}")
TEMPLATE_MAX_LENGTH = 500


def template_params(content: str) -> int:
    """Number of parameters of a template; placeholders must be {1}..{n}, consecutive."""
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(content)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValidationError(
            "Placeholders must be numbered {1}, {2}, … consecutively from {1}; found "
            + ", ".join(f"{{{n}}}" for n in numbers)
        )
    return len(numbers)


def validate_template_content(content: str) -> None:
    template_params(content)
    if not PLACEHOLDER.sub("", content).strip():
        raise ValidationError("A template cannot consist of placeholders only.")
    if len(content) > TEMPLATE_MAX_LENGTH:
        raise ValidationError(f"A template is at most {TEMPLATE_MAX_LENGTH} characters.")


def render(content: str, params) -> str:
    return PLACEHOLDER.sub(lambda m: str(params[int(m.group(1)) - 1]), content)


class Template(ProviderSynced):
    class Kind(models.TextChoices):
        VERIFICATION = "verification", "Verification code"
        NOTIFICATION = "notification", "Notification"
        MARKETING = "marketing", "Marketing"

    # Tencent's SmsType for AddSmsTemplate.
    PROVIDER_SMS_TYPE = {Kind.MARKETING: 1, Kind.NOTIFICATION: 2, Kind.VERIFICATION: 3}

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_templates")
    template_id = models.CharField(
        "template ID",
        max_length=40,
        help_text="The ID that sms_info.sms_template_id carries. For a template that already "
        "exists at Tencent Cloud, give its Tencent TemplateId.",
    )
    name = models.CharField(max_length=100)
    content = models.TextField(validators=[validate_template_content])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NOTIFICATION)
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.MAINLAND)
    param_count = models.PositiveSmallIntegerField(default=0, editable=False)
    remark = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "template_id"], name="sms_template_id_per_account"
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="sms_template_queue_idx")]

    def __str__(self):
        return f"{self.template_id} {self.name} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        self.param_count = template_params(self.content)
        if not self.template_id:
            self.template_id = self._next_template_id()
        super().save(*args, **kwargs)

    def _next_template_id(self) -> str:
        # Numeric like Tencent's; random so that IDs are not guessable across tenants.
        return str(secrets.randbelow(9_000_000) + 1_000_000)

    @property
    def provider_template_id(self) -> str:
        return self.provider_id or self.template_id

    def render(self, params, sign_name: str = "") -> str:
        body = render(self.content, params)
        return f"【{sign_name}】{body}" if sign_name else body

    def check_length(self, sign_name: str) -> None:
        if len(self.content) + (len(sign_name) + 2 if sign_name else 0) > TEMPLATE_MAX_LENGTH:
            raise ValidationError(
                f"Template and signature together are over {TEMPLATE_MAX_LENGTH} characters."
            )


class IdentityApplication(Reviewed):
    """An individual account's application to become an organization (reviewed like signatures)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="identity_applications"
    )
    company_name = models.CharField(max_length=200)
    credential_number = models.CharField(
        max_length=50, help_text="Unified social credit code or business registration number."
    )
    proof = models.FileField(upload_to="accounts/identity/%Y/%m/", blank=True)

    proof_field = "proof"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.account}: {self.company_name} ({self.get_status_display()})"

    def on_decided(self):
        if self.is_approved:
            Account.objects.filter(pk=self.account_id).update(
                identity=Account.Identity.ORGANIZATION, name=self.company_name
            )


def new_receipt_token() -> str:
    return secrets.token_urlsafe(32)


class SmsApplication(models.Model):
    """An SMS application (Tencent's SdkAppId) of an account; ``sms_info.sms_app_id`` names one."""

    class ReceiptMode(models.TextChoices):
        CALLBACK = "callback", "Callback (Tencent posts status reports to our URL)"
        PULL = "pull", "Pull (we ask Tencent every minute)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_applications")
    sdk_app_id = models.CharField("SdkAppId", max_length=40)
    name = models.CharField(max_length=100, blank=True)
    receipt_mode = models.CharField(
        max_length=10, choices=ReceiptMode.choices, default=ReceiptMode.CALLBACK
    )
    receipt_token = models.CharField(max_length=64, unique=True, default=new_receipt_token)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "SMS application"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "sdk_app_id"], name="sms_application_per_account"
            )
        ]

    def __str__(self):
        return f"{self.sdk_app_id} {self.name}".strip()


INDIVIDUAL_POLICY = (
    "Individual accounts cannot change their SMS rate-limit policy (as at Tencent Cloud). "
    "Apply for organizational identity (company name, credential number, proof); once a "
    "reviewer approves it, the account becomes an organization and the policy is editable."
)


class RateLimitPolicy(models.Model):
    """Per-account frequency limits; defaults are Tencent Cloud SMS's own."""

    DEFAULT_SAME_CONTENT_SECONDS = 30
    DEFAULT_DAILY = 10
    MAX_EXEMPT_NUMBERS = 300

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="sms_rate_limit_policy"
    )
    same_content_seconds = models.PositiveIntegerField(
        default=DEFAULT_SAME_CONTENT_SECONDS,
        help_text="The same content to the same number at most once in this many seconds "
        "(0 = no limit).",
    )
    daily_limit = models.PositiveIntegerField(
        default=DEFAULT_DAILY,
        help_text="At most this many SMS per number per calendar day in the account's time zone "
        "(0 = no limit).",
    )
    hourly_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many SMS per number in any 60 minutes (empty = no limit).",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "rate-limit policies"

    def __str__(self):
        return f"Rate limits of {self.account}"

    @classmethod
    def for_account(cls, account) -> "RateLimitPolicy":
        """The account's policy; an unsaved default one if it never changed it."""
        return cls.objects.filter(account=account).first() or cls(account=account)

    @classmethod
    @transaction.atomic
    def change(
        cls,
        account,
        *,
        same_content_seconds,
        daily_limit,
        hourly_limit,
        exempt_numbers,
        by,
        now=None,
    ) -> "RateLimitPolicy":
        """Replace the policy and the exempt list (normalised E.164 numbers, ≤ 300).

        Only organizations may change it; callers check the caller's role.
        """
        if not account.is_organization:
            raise ValidationError(INDIVIDUAL_POLICY)
        numbers = sorted(set(exempt_numbers))
        if len(numbers) > cls.MAX_EXEMPT_NUMBERS:
            raise ValidationError(
                {"exempt_numbers": f"At most {cls.MAX_EXEMPT_NUMBERS} exempt numbers."}
            )
        # update_or_create locks the policy row: concurrent changes apply one after the other.
        policy, _ = cls.objects.update_or_create(
            account=account,
            defaults={
                "same_content_seconds": same_content_seconds,
                "daily_limit": daily_limit,
                "hourly_limit": hourly_limit,
                "updated_by": by,
                "updated_at": now or timezone.now(),
            },
        )
        ExemptNumber.objects.filter(account=account).exclude(number__in=numbers).delete()
        ExemptNumber.objects.bulk_create(
            [ExemptNumber(account=account, number=n) for n in numbers], ignore_conflicts=True
        )
        return policy

    def exempt_numbers(self) -> list[str]:
        return list(
            ExemptNumber.objects.filter(account_id=self.account_id).values_list("number", flat=True)
        )


class ExemptNumber(models.Model):
    """A number the account's rate limits do not apply to (at most 300, as at Tencent)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_exempt")
    number = models.CharField(max_length=20)
    note = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="sms_exempt_per_account")
        ]

    def __str__(self):
        return self.number


class PackageQuerySet(models.QuerySet):
    def valid(self, now=None):
        now = now or timezone.now()
        return self.filter(valid_from__lte=now, valid_until__gt=now)


class Package(models.Model):
    """Prepaid SMS quota for one region; consumed by fee, earliest expiry first."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_packages")
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.MAINLAND)
    quantity = models.PositiveIntegerField(help_text="SMS parts (billed segments) bought.")
    used = models.PositiveIntegerField(default=0)
    purchased_at = models.DateTimeField(default=timezone.now)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PackageQuerySet.as_manager()

    class Meta:
        ordering = ["valid_until", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="sms_package_quantity_pos"),
            models.CheckConstraint(
                condition=Q(used__lte=F("quantity")), name="sms_package_not_overdrawn"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="sms_package_valid_period"
            ),
        ]
        indexes = [
            # Consumption: an account's valid packages of a region, earliest expiry first.
            models.Index(
                fields=["account", "region", "valid_until"], name="sms_package_consume_idx"
            )
        ]

    def __str__(self):
        return f"{self.quantity} {self.get_region_display()} SMS until {self.valid_until:%Y-%m-%d}"

    @property
    def left(self) -> int:
        return self.quantity - self.used


class QuotaAlert(models.Model):
    """A warning sent to the owners (80 % used, or exhausted); sent once per level per purchase."""

    class Level(models.TextChoices):
        LOW = "low", "80 % used"
        EXHAUSTED = "exhausted", "Exhausted"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_quota_alerts")
    region = models.CharField(max_length=10, choices=Region.choices)
    level = models.CharField(max_length=10, choices=Level.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "region", "level", "created_at"], name="sms_alert_idx")
        ]

    def __str__(self):
        return f"{self.account}: {self.region} {self.get_level_display()}"


def push_context(push_id: int) -> str:
    """The SessionContext of a push's supplementary SMS: how its messages are found (and what
    Tencent echoes back in receipts)."""
    return f"push:{push_id}"


class SmsMessageQuerySet(models.QuerySet):
    def of_push(self, *push_ids):
        """The supplementary SMS of these pushes (what ``sms_message_push_idx`` indexes)."""
        contexts = [push_context(push_id) for push_id in push_ids]
        qs = self.filter(source_type=SmsMessage.Source.PUSH_DELIVERY)
        if len(contexts) == 1:
            return qs.filter(session_context=contexts[0])
        return qs.filter(session_context__in=contexts)

    def counting_for_limits(self):
        """Messages that count against rate limits: everything that was or may be sent."""
        return self.filter(live=True)

    def records(
        self,
        account,
        *,
        since=None,
        until=None,
        phone_number="",
        state="",
        template_id="",
        source_type="",
        source_id=None,
        push_id=None,
    ):
        """The account's SMS records, newest first, filtered as the records page and API do.

        ``since`` / ``until`` are datetimes (until exclusive; without offset, in the account's
        time zone) or dates: the whole days in the account's time zone, ``until`` included.
        """
        since = local_bound(since, account.tz)
        until = local_bound(until, account.tz, end=True)
        qs = self.filter(account=account)
        if since:
            qs = qs.filter(created_at__gte=since)
        if until:
            qs = qs.filter(created_at__lt=until)
        if phone_number:
            qs = qs.filter(phone_number=phone_number)
        if state:
            qs = qs.filter(state=state)
        if template_id:
            qs = qs.filter(template_code=template_id)
        if source_type:
            qs = qs.filter(source_type=source_type)
        if source_id is not None:
            qs = qs.filter(source_id=source_id)
        if push_id is not None:
            qs = qs.of_push(push_id)
        return qs.order_by("-created_at", "-id")

    def totals(self) -> dict:
        """Counts by state and the fee, in one query."""
        by_state = {
            state: Count("id", filter=Q(state=state)) for state, _ in SmsMessage.State.choices
        }
        return self.aggregate(total=Count("id"), fee=Coalesce(Sum("charged"), 0), **by_state)


class SmsMessage(models.Model):
    """One SMS to one number: written before the provider call (``sending``), completed after."""

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked"
        UNKNOWN = "unknown", "Unknown (may have been sent)"

    class Source(models.TextChoices):
        API = "api", "API call"
        PUSH_DELIVERY = "push_delivery", "Push delivery (supplementary SMS)"

    LIVE_STATES = (State.SENDING, State.SENT, State.DELIVERED, State.UNKNOWN)

    # Few indexes, on purpose: every row is written twice per SMS (``sending``, then the
    # provider's answer) and each index costs both writes. The account is covered by the
    # composite indexes below; the other foreign keys are only searched when their object is
    # deleted, which the console never does.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="sms_messages", db_index=False
    )
    application = models.ForeignKey(
        SmsApplication,
        null=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_index=False,
    )
    phone_number = models.CharField(max_length=20)
    region = models.CharField(max_length=10, choices=Region.choices)
    template = models.ForeignKey(
        Template, null=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    signature = models.ForeignKey(
        Signature,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_index=False,
    )
    sign_name = models.CharField(max_length=12, blank=True)
    template_code = models.CharField("template ID", max_length=40)
    params = models.JSONField(default=list)
    content = models.TextField()
    content_hash = models.CharField(max_length=64)
    fee = models.PositiveSmallIntegerField(default=1)
    charged = models.PositiveSmallIntegerField(
        default=0, help_text="Parts taken from packages for this message."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    # Whether the message was or may have been sent, computed by the database from ``state``.
    # Indexes use this rather than ``state``: completing a send (sending → sent) then changes no
    # indexed value, so PostgreSQL writes the new row version on the same page without touching
    # any index (a heap-only update; the table keeps room for it, see the migration).
    live = models.GeneratedField(
        expression=Q(state__in=list(map(str, LIVE_STATES))),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    reason = models.CharField(
        max_length=100, blank=True, help_text="Blocked rule, or the provider's error code."
    )
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    serial_no = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    iso_code = models.CharField(max_length=8, blank=True)
    session_context = models.CharField(max_length=500, blank=True)
    source_type = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    source_id = models.BigIntegerField(null=True, blank=True)
    transport = models.CharField(max_length=20, blank=True)
    simulated = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    receipt_status = models.CharField(max_length=20, blank=True)
    receipt_code = models.CharField(max_length=40, blank=True)
    receipt_description = models.CharField(max_length=200, blank=True)

    objects = SmsMessageQuerySet.as_manager()

    class Meta:
        verbose_name = "SMS message"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live SMS per source (a push delivery gets at most one, whatever races happen).
            models.UniqueConstraint(
                fields=["source_type", "source_id"],
                condition=Q(source_id__isnull=False, live=True),
                name="sms_one_live_message_per_source",
            ),
            models.CheckConstraint(condition=Q(charged__lte=F("fee")), name="sms_charge_le_fee"),
        ]
        indexes = [
            # Rate limits, and receipts (matched by number, then SerialNo): an account's recent
            # messages to one number.
            models.Index(
                fields=["account", "phone_number", "created_at"], name="sms_message_limits_idx"
            ),
            # Records page and statistics: an account's messages by date (newest first, in the
            # page's exact order, so a page is read straight off the index).
            models.Index(fields=["account", "created_at", "id"], name="sms_message_account_idx"),
            # Supplementary SMS: the SMS of a push (SessionContext "push:<id>") and of one of
            # its deliveries; the live one of a delivery is also found by the unique index.
            models.Index(
                fields=["session_context", "source_id"],
                name="sms_message_push_idx",
                condition=Q(source_type="push_delivery"),
            ),
            # Reconciling messages left in "sending" by a dead worker, from a watermark
            # (``Checkpoint``): not partial on the state, which would cost every completion.
            models.Index(fields=["created_at"], name="sms_message_created_idx"),
        ]

    def __str__(self):
        return f"SMS to {self.phone_number} ({self.state})"

    @staticmethod
    def hash_content(content: str) -> str:
        return hashlib.sha256(content.encode()).hexdigest()

    @staticmethod
    def fee_of(content: str) -> int:
        return segments(content)


class PackageCharge(models.Model):
    """Parts of one package spent on one message; deleted (and refunded) if the send fails."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="charges")
    message = models.ForeignKey(SmsMessage, on_delete=models.CASCADE, related_name="charges")
    amount = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["package", "at"], name="sms_charge_history_idx")]

    def __str__(self):
        return f"{self.amount} from package {self.package_id} for message {self.message_id}"


UNKNOWN_AFTER = timedelta(minutes=10)


class Checkpoint(models.Model):
    """How far a recurring job has got (for example reconciling lost sends): the next run
    starts there instead of from the beginning of the history."""

    name = models.CharField(max_length=50, unique=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {self.at:%Y-%m-%d %H:%M:%S}"
