"""Invitations to join an account's team, sent by e-mail (``accounts.team.invite``).

The link carries a random token that exists only in the e-mail: the row keeps a keyed hash of
it (like an API SecretKey), so someone reading the database cannot accept an invitation. A
link works once, until ``expires_at``, and not after it was revoked or resent (a resend gives
the invitation a new token).
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Role, keyed_hash

TOKEN_PURPOSE = "pushconsole-invitation"  # noqa: S105 (a hash purpose, no secret)
# Roles an invitation may give: the owner is never invited, ownership is transferred.
INVITABLE_ROLES = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return keyed_hash(token, purpose=TOKEN_PURPOSE)


class InvitationQuerySet(models.QuerySet):
    def open(self):
        """Neither accepted nor revoked (possibly expired)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def pending(self, now=None):
        """Open and not expired: the invitations whose link still works."""
        return self.open().filter(expires_at__gt=now or timezone.now())

    def by_token(self, token: str) -> "Invitation | None":
        # The hash is keyed, so a lookup by it reveals nothing about stored tokens.
        if not token or len(token) > 100:
            return None
        found = self.select_related("account", "invited_by").filter(token_hash=token_hash(token))
        return found.first()


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        EXPIRED = "expired", _("Expired")
        ACCEPTED = "accepted", _("Accepted")
        REVOKED = "revoked", _("Revoked")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        related_name="invitations",
        verbose_name=_("account"),
    )
    # Stored in lower case, as compared: one open invitation per address and account.
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    sent_at = models.DateTimeField(
        default=timezone.now, verbose_name=_("sent at")
    )  # the last (re)send
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted at"))
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-sent_at", "-id"]
        constraints = [
            # One open invitation per address: inviting again resends (or is refused).
            # Also the index the Team page's list of open invitations uses.
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_one_open_invitation",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in INVITABLE_ROLES]),
                name="accounts_invitation_role",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="accounts_invitation_accepted_or_revoked",
            ),
        ]

    def __str__(self):
        return f"{self.email} → {self.account} ({self.role})"

    def status(self, now=None) -> "Invitation.Status":
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.Status.PENDING

    def set_token(self) -> str:
        """Give the invitation a new token (the old link stops working); returns it."""
        token = new_token()
        self.token_hash = token_hash(token)
        return token
