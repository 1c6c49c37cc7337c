"""The review workflow shared by every application an account submits: pending → approved |
rejected, its audit trail (``ReviewDecision``), items also synced with Tencent Cloud
(``ProviderSynced``), and the identity application that turns an individual into an organization.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    # Taken back by the applicant while pending: out of the reviewers' queue, never sendable.
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ProviderStatus(models.IntegerChoices):
    """Tencent Cloud's StatusCode for signatures and templates (reference §4.6)."""

    APPROVED = 0, _("Approved and effective")
    REVIEWING = 1, _("Under review at Tencent")
    PENDING_EFFECT = 2, _("Approved, not yet effective")
    REJECTED = -1, _("Rejected by Tencent")


class ReviewDecision(models.Model):
    """One entry of an item's audit trail: who did what, when, and why."""

    class Action(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        PROVIDER = "provider", _("Provider status changed")
        WITHDRAWN = "withdrawn", _("Withdrawn by the applicant")
        EDITED = "edited", _("Edited while pending")
        RESUBMITTED = "resubmitted", _("Edited and resubmitted")

    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, verbose_name=_("kind of item")
    )
    object_id = models.PositiveBigIntegerField(_("item ID"))
    item = GenericForeignKey("content_type", "object_id")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    reason = models.TextField(_("reason"), blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("review decision")
        verbose_name_plural = _("review decisions")
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
        _("status"), max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    review_reply = models.TextField(_("review reply"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
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
            return _(
                "%(item)s has no %(document)s: the applicant must apply again with the document."
            ) % {"item": self, "document": label}
        if not document.storage.exists(document.name):
            return _("The %(document)s of %(item)s is missing from storage (%(file)s).") % {
                "document": label,
                "item": self,
                "file": document.name,
            }
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
            raise ValidationError({"reason": _("A rejection needs a reason.")})
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

    # -- the applicant's changes: withdraw a pending item, edit it, resubmit a rejected one ----
    # Each is one conditional UPDATE on the status it starts from, so of an applicant and a
    # reviewer acting at the same moment exactly one wins (the other finds the row changed and
    # changes nothing), as with two reviewers in ``decide``.

    def changeable(self) -> dict:
        """Extra conditions the row must meet for the applicant to edit it (none here)."""
        return {}

    @property
    def can_withdraw(self) -> bool:
        return self.status == ReviewStatus.PENDING

    @property
    def can_edit(self) -> bool:
        """Edit (pending) or resubmit (rejected), as far as this copy of the row knows."""
        return self.status in (ReviewStatus.PENDING, ReviewStatus.REJECTED) and all(
            getattr(self, name) == value for name, value in self.changeable().items()
        )

    @transaction.atomic
    def withdraw(self, *, by, now=None) -> bool:
        """Take a pending application back; False if it was no longer pending (nothing changes)."""
        now = now or timezone.now()
        changed = (
            type(self)
            .objects.filter(pk=self.pk, status=ReviewStatus.PENDING)
            .update(status=ReviewStatus.WITHDRAWN)
        )
        if not changed:
            return False
        self.status = ReviewStatus.WITHDRAWN
        self.record(ReviewDecision.Action.WITHDRAWN, by=by, now=now)
        return True

    @transaction.atomic
    def amend(self, fields: list[str], *, by, now=None) -> ReviewDecision | None:
        """Write the application's ``fields`` (changed on this instance by the caller): a pending
        one stays pending (edited), a rejected one goes back to review (resubmitted; its
        rejection stays in the audit trail). None if the row is no longer in the status this
        instance has (a reviewer decided meanwhile): nothing is written.

        A new upload in a file field is stored first; an approved item is never changed."""
        was = self.status
        if was not in (ReviewStatus.PENDING, ReviewStatus.REJECTED):
            return None
        now = now or timezone.now()
        values = {}
        for name in fields:
            field = self._meta.get_field(name)
            values[field.attname] = field.pre_save(self, add=False)
        if was == ReviewStatus.REJECTED:
            values.update(
                status=ReviewStatus.PENDING, review_reply="", reviewed_by=None, reviewed_at=None
            )
        changed = (
            type(self).objects.filter(pk=self.pk, status=was, **self.changeable()).update(**values)
        )
        if not changed:
            return None
        for attname, value in values.items():
            setattr(self, attname, value)
        action = (
            ReviewDecision.Action.RESUBMITTED
            if was == ReviewStatus.REJECTED
            else ReviewDecision.Action.EDITED
        )
        shown = [name for name in fields if self._meta.get_field(name).editable]
        note = "Changed: " + ", ".join(shown) if shown else ""
        return self.record(action, by=by, reason=note, now=now)


class ProviderSynced(Reviewed):
    """A reviewed item that is also submitted to Tencent Cloud when the account is authorized."""

    provider_id = models.CharField(_("Tencent ID"), max_length=40, blank=True)
    provider_status = models.SmallIntegerField(
        _("Tencent status"), choices=ProviderStatus.choices, null=True, blank=True
    )
    provider_reply = models.TextField(_("Tencent's reply"), blank=True)
    provider_error = models.CharField(_("Tencent submission error"), max_length=200, blank=True)
    provider_synced_at = models.DateTimeField(_("synced with Tencent at"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_sendable(self) -> bool:
        return self.is_approved and self.provider_status in (None, ProviderStatus.APPROVED)

    def changeable(self) -> dict:
        # Once at Tencent Cloud (or on its way there) our copy must stay what Tencent reviews:
        # a change there is made in Tencent's console. Withdrawing stays possible.
        return {"provider_id": "", "provider_error": ""}


class IdentityApplication(Reviewed):
    """An individual account's application to become an organization (reviewed like signatures)."""

    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="identity_applications",
        verbose_name=_("account"),
    )
    company_name = models.CharField(_("company name"), max_length=200)
    credential_number = models.CharField(
        _("credential number"),
        max_length=50,
        help_text=_("Unified social credit code or business registration number."),
    )
    proof = models.FileField(_("proof"), upload_to="accounts/identity/%Y/%m/", blank=True)

    proof_field = "proof"

    class Meta:
        verbose_name = _("identity application")
        verbose_name_plural = _("identity applications")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.account}: {self.company_name} ({self.get_status_display()})"

    def on_decided(self):
        if self.is_approved:
            Account.objects.filter(pk=self.account_id).update(
                identity=Account.Identity.ORGANIZATION, name=self.company_name
            )
