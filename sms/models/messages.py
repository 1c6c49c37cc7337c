"""SMS records: one row per message to one number, written before the provider call and
completed after, with its receipt.

A message names what it was sent for through ``source_type`` and ``source_id``, and the group it
belongs to through ``session_context`` (``sms.sources``): the app that sent it reads them, and
this module knows no sender but the API.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from lib.dates import local_bound

from .. import sources
from ..transports import segments
from .applications import SmsApplication
from .regions import Region
from .signatures import Signature
from .templates import Template


class SmsMessageQuerySet(models.QuerySet):
    def of_context(self, *contexts: str, source_type: str = ""):
        """The messages sent for sources (``source_id`` set) in these session contexts, of one
        source type if given: what ``sms_message_context_idx`` indexes."""
        qs = self.filter(source_id__isnull=False)
        if source_type:
            qs = qs.filter(source_type=source_type)
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
        session_context="",
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
        if session_context:
            qs = qs.filter(session_context=session_context)
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
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        BLOCKED = "blocked", _("Blocked")
        UNKNOWN = "unknown", _("Unknown (may have been sent)")

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
    # The template's public code as sent (``Template.template_id``, the API's ``template_id``);
    # ``template_id`` here is the foreign key's column, the template row's pk.
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
    # Registered by the apps that send (``sms.sources``): a callable, so that registering one
    # needs no migration.
    source_type = models.CharField(max_length=20, choices=sources.choices, default=sources.API)
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
            # One live SMS per source (e.g. a push delivery gets at most one, whatever races
            # happen).
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
            # Messages sent for sources: those of one group (session context "<group>:<id>",
            # e.g. a push) and of one source in it (e.g. a push delivery); the live one of a
            # source is also found by the unique constraint. API messages have no source id.
            models.Index(
                fields=["session_context", "source_id"],
                name="sms_message_context_idx",
                condition=Q(source_id__isnull=False),
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


UNKNOWN_AFTER = timedelta(minutes=10)
