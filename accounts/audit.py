"""The audit trail of an account: who changed what in its team and settings, and when.

Every change (``accounts.team``) calls ``record`` inside the transaction that makes it, so an
event exists exactly when the change was committed: a rolled-back change leaves no event, and
a committed one cannot lack its event.
"""

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Role


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        INVITATION_SENT = "invitation_sent", _("Invitation sent")
        INVITATION_RESENT = "invitation_resent", _("Invitation resent")
        INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
        INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
        ROLE_CHANGED = "role_changed", _("Role changed")
        MEMBER_REMOVED = "member_removed", _("Member removed")
        MEMBER_LEFT = "member_left", _("Member left")
        OWNERSHIP_TRANSFERRED = "ownership_transferred", _("Ownership transferred")
        ACCOUNT_RENAMED = "account_renamed", _("Account renamed")
        TIME_ZONE_CHANGED = "time_zone_changed", _("Time zone changed")
        # Device tags changed in the console (``push.tag_views``): by hand or by a CSV import.
        DEVICES_TAGGED = "devices_tagged", _("Tag added to devices")
        DEVICES_UNTAGGED = "devices_untagged", _("Tag removed from devices")
        # A push application (``push.applications``): its name, its SecretKey, its removal.
        APPLICATION_EDITED = "application_edited", _("Application edited")
        APPLICATION_SECRET_ROTATED = "application_secret_rotated", _("SecretKey rotated")
        APPLICATION_DELETED = "application_deleted", _("Application deleted")
        SMS_PACKAGE_RECORDED = "sms_package_recorded", _("SMS package recorded")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        related_name="audit_events",
        verbose_name=_("account"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    # The actor's username when it happened: the trail still says who after the user is gone.
    actor_name = models.CharField(max_length=150, verbose_name=_("actor name"))
    action = models.CharField(max_length=40, choices=Action.choices, verbose_name=_("action"))
    # Whom or what it was done to, as people read it: an e-mail address, a username.
    target = models.CharField(max_length=254, blank=True, verbose_name=_("target"))
    before = models.CharField(max_length=200, blank=True, verbose_name=_("before"))
    after = models.CharField(max_length=200, blank=True, verbose_name=_("after"))
    # What nobody filters on (e.g. the invitation's id, its expiry).
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [
            # The audit page: an account's events, newest first, paged ...
            models.Index(fields=["account", "-at", "-id"], name="accounts_audit_account_at"),
            # ... or only one action's (the page's filter).
            models.Index(fields=["account", "action", "-at"], name="accounts_audit_action_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"

    def _shown(self, value: str) -> str:
        # Roles are stored as their values (what one filters on) and shown as their labels.
        if self.action in ROLE_ACTIONS and value in Role.values:
            return Role(value).label
        return value

    @property
    def before_shown(self) -> str:
        return self._shown(self.before)

    @property
    def after_shown(self) -> str:
        return self._shown(self.after)


# Events whose before/after are roles.
ROLE_ACTIONS = {
    AuditEvent.Action.INVITATION_SENT,
    AuditEvent.Action.INVITATION_RESENT,
    AuditEvent.Action.INVITATION_REVOKED,
    AuditEvent.Action.INVITATION_ACCEPTED,
    AuditEvent.Action.ROLE_CHANGED,
    AuditEvent.Action.MEMBER_REMOVED,
    AuditEvent.Action.MEMBER_LEFT,
}


class NotInTransaction(RuntimeError):
    """``record`` was called outside the transaction of the change it records."""


def record(
    account,
    actor,
    action: str,
    *,
    target: str = "",
    before: str = "",
    after: str = "",
    detail: dict | None = None,
    now=None,
) -> AuditEvent:
    """Write one audit event; must run inside the change's own ``transaction.atomic`` block."""
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction("record() the audit event in the transaction of the change")
    return AuditEvent.objects.create(
        account=account,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=AuditEvent.Action(action),
        target=target[:254],
        before=str(before)[:200],
        after=str(after)[:200],
        detail=detail or {},
        at=now or timezone.now(),
    )
