"""Changes to an account's team and settings, each with its rules and its audit event.

Every function here is one transaction that first locks the account's row, then reads the
memberships it decides on, changes them and records the change (``accounts.audit.record``).
So two changes of one account never decide on the same state: of two owners' transfers at
once, or a transfer racing a removal, the second sees what the first committed. The lock is
``FOR NO KEY UPDATE``: rows that merely reference the account (SMS, deliveries) are not held up.

Who may do what:
- owner and admins manage the team (invite, resend, revoke, change roles, remove members)
  and the account's settings; lower roles see the team read-only;
- nobody gives the owner role or takes it away except by ``transfer_ownership`` (owner only;
  the old owner becomes an admin), so an account has exactly one owner at all times (at most
  one is also a database constraint, ``accounts_one_owner``);
- the owner cannot be removed, and cannot leave; any other member can leave;
- individual accounts have no team.

Time is a parameter (``now``) throughout.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .audit import AuditEvent, record
from .invitations import INVITABLE_ROLES, Invitation
from .models import Account, Membership, Role, validate_time_zone
from .preferences import Preference

log = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)
# Invitation e-mails (sends and resends) an account may send in an hour, and how soon one
# invitation may be sent again: enough for onboarding a department, too few for spamming.
INVITES_PER_HOUR = 20
RESEND_INTERVAL = timedelta(minutes=1)
Action = AuditEvent.Action


class TeamRuleError(PermissionDenied):
    """The team's rules refuse this change (the message says why, for people)."""


class InvitationUnusable(Exception):
    """The invitation link no longer works: ``status`` says whether it expired, was used or
    was revoked."""

    def __init__(self, invitation: Invitation, status: str):
        super().__init__(status)
        self.invitation, self.status = invitation, status


@dataclass
class Sent:
    """An invitation just (re)sent. ``mailed`` is True once the e-mail went out after the
    commit, False if sending failed (the invitation stays; resend it), None until the commit."""

    invitation: Invitation
    token: str
    mailed: bool | None = None


# --------------------------------------------------------------------------------------------
# Helpers


def _lock(account: Account) -> Account:
    return Account.objects.select_for_update(no_key=True).get(pk=account.pk)


def _membership(account: Account, user) -> Membership | None:
    return Membership.objects.select_related("user").filter(account=account, user=user).first()


def _manager(account: Account, user) -> Membership:
    found = _membership(account, user)
    if found is None or not found.has_role(Role.ADMIN):
        raise TeamRuleError(_("Only the owner and admins can manage the team."))
    return found


def _require_team(account: Account) -> None:
    if not account.is_organization:
        raise TeamRuleError(
            _("An individual account has no team: only organization accounts have members.")
        )


def _member(account: Account, membership_id: int) -> Membership:
    found = (
        Membership.objects.select_related("user").filter(account=account, pk=membership_id).first()
    )
    if found is None:
        raise TeamRuleError(_("This person is no longer a member of the account."))
    return found


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_role(role: str) -> str:
    if role not in INVITABLE_ROLES:
        raise ValidationError(
            {"role": _("Choose admin, operator or viewer; ownership is transferred, not given.")}
        )
    return Role(role)


def _check_send_rate(account: Account, now) -> None:
    sent = AuditEvent.objects.filter(
        account=account,
        action__in=[Action.INVITATION_SENT, Action.INVITATION_RESENT],
        at__gt=now - timedelta(hours=1),
    ).count()
    if sent >= INVITES_PER_HOUR:
        raise ValidationError(
            _(
                "This account sent %(count)d invitations in the last hour, the most allowed; "
                "try again later."
            )
            % {"count": INVITES_PER_HOUR},
            code="rate_limited",
        )


def send_invitation_email(invitation: Invitation, link: str, inviters_language: str = "") -> None:
    """The invitation, in the invitee's language: the one they chose if the address is a
    user's already, else the one the inviter is using (who knows whom they invite)."""
    account = invitation.account
    inviter = invitation.invited_by
    language = Preference.language_for_email(
        invitation.email,
        default=inviters_language or translation.get_language() or settings.LANGUAGE_CODE,
    )
    # The expiry in the account's time zone, as labelled.
    with translation.override(language), timezone.override(account.tz):
        context = {
            "account": account,
            "inviter": inviter.get_full_name() or inviter.get_username() if inviter else "",
            "role": invitation.get_role_display(),
            "link": link,
            "expires_at": invitation.expires_at,
            "time_zone": account.time_zone,
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context)
        body = render_to_string("accounts/email/invitation.txt", context)
        html = render_to_string("accounts/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    message.attach_alternative(html, "text/html")
    message.send()


def _mail_after_commit(sent: Sent, url_for: Callable[[str], str]) -> None:
    link = url_for(sent.token)
    # The inviter's language now: the callback may run when it is no longer active.
    language = translation.get_language() or ""

    def send():
        try:
            send_invitation_email(sent.invitation, link, language)
        except Exception:  # the invitation is committed; the inviter is told to resend
            log.exception("invitation %s: the e-mail could not be sent", sent.invitation.pk)
            sent.mailed = False
        else:
            sent.mailed = True

    transaction.on_commit(send)


# --------------------------------------------------------------------------------------------
# Invitations


def invite(
    account: Account, actor, email: str, role: str, *, url_for: Callable[[str], str], now=None
) -> Sent:
    """Invite ``email`` to join with ``role``; the e-mail with the link goes out after the
    commit. An expired invitation to the same address is renewed; a pending one is refused."""
    now = now or timezone.now()
    email, role = normalize_email(email), _check_role(role)
    with transaction.atomic():
        account = _lock(account)
        _require_team(account)
        _manager(account, actor)
        if Membership.objects.filter(account=account, user__email__iexact=email).exists():
            raise ValidationError(
                {"email": _("%(email)s is already a member of this team.") % {"email": email}}
            )
        found = Invitation.objects.open().filter(account=account, email=email).first()
        if found is not None and found.status(now) == Invitation.Status.PENDING:
            raise ValidationError(
                {
                    "email": _(
                        "%(email)s already has a pending invitation; resend it from the list "
                        "of invitations."
                    )
                    % {"email": email}
                }
            )
        _check_send_rate(account, now)
        invitation = found or Invitation(account=account, email=email, created_at=now)
        token = invitation.set_token()
        invitation.role, invitation.invited_by = role, actor
        invitation.sent_at, invitation.expires_at = now, now + INVITATION_LIFETIME
        invitation.save()
        record(
            account,
            actor,
            Action.INVITATION_SENT,
            target=email,
            after=role,
            detail={"invitation": invitation.pk, "expires_at": invitation.expires_at.isoformat()},
            now=now,
        )
        sent = Sent(invitation, token)
        _mail_after_commit(sent, url_for)
    return sent


def resend(
    account: Account, actor, invitation_id: int, *, url_for: Callable[[str], str], now=None
) -> Sent:
    """Send a pending (or expired) invitation again, with a new link valid for the full
    lifetime; the previous link stops working."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock(account)
        _manager(account, actor)
        invitation = Invitation.objects.open().filter(account=account, pk=invitation_id).first()
        if invitation is None:
            raise TeamRuleError(_("This invitation was accepted or revoked meanwhile."))
        if invitation.sent_at > now - RESEND_INTERVAL:
            raise ValidationError(
                _("The invitation to %(email)s was sent less than a minute ago.")
                % {"email": invitation.email},
                code="rate_limited",
            )
        _check_send_rate(account, now)
        token = invitation.set_token()
        invitation.sent_at, invitation.expires_at = now, now + INVITATION_LIFETIME
        invitation.invited_by = actor
        invitation.save()
        record(
            account,
            actor,
            Action.INVITATION_RESENT,
            target=invitation.email,
            after=invitation.role,
            detail={"invitation": invitation.pk, "expires_at": invitation.expires_at.isoformat()},
            now=now,
        )
        sent = Sent(invitation, token)
        _mail_after_commit(sent, url_for)
    return sent


def revoke(account: Account, actor, invitation_id: int, *, now=None) -> Invitation:
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock(account)
        _manager(account, actor)
        invitation = Invitation.objects.open().filter(account=account, pk=invitation_id).first()
        if invitation is None:
            raise TeamRuleError(_("This invitation was accepted or revoked meanwhile."))
        invitation.revoked_at = now
        invitation.save(update_fields=["revoked_at"])
        record(
            account,
            actor,
            Action.INVITATION_REVOKED,
            target=invitation.email,
            before=invitation.role,
            detail={"invitation": invitation.pk},
            now=now,
        )
    return invitation


def usable_invitation(token: str, *, now=None) -> Invitation | None:
    """The invitation of a link, or None if the token is not one of ours; raises
    ``InvitationUnusable`` if it expired, was used or was revoked."""
    invitation = Invitation.objects.by_token(token)
    if invitation is None:
        return None
    status = invitation.status(now)
    if status != Invitation.Status.PENDING:
        raise InvitationUnusable(invitation, status)
    return invitation


def accept(token: str, user, *, now=None) -> Membership:
    """``user`` (whose e-mail address the invitation is for) joins the account with the
    invitation's role; the link is used up."""
    now = now or timezone.now()
    with transaction.atomic():
        found = Invitation.objects.by_token(token)
        if found is None:
            raise TeamRuleError(_("This invitation link is not valid."))
        account = _lock(found.account)
        # Read again under the lock: a concurrent accept or revoke has committed by now.
        invitation = Invitation.objects.select_for_update().get(pk=found.pk)
        status = invitation.status(now)
        if status != Invitation.Status.PENDING:
            raise InvitationUnusable(invitation, status)
        if normalize_email(user.email) != invitation.email:
            raise TeamRuleError(
                _("This invitation is for %(email)s; you are logged in as %(user)s.")
                % {"email": invitation.email, "user": user.get_username()}
            )
        membership = _membership(account, user)
        if membership is None:
            membership = Membership.objects.create(
                account=account, user=user, role=invitation.role, created_at=now
            )
        invitation.accepted_at, invitation.accepted_by = now, user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        record(
            account,
            user,
            Action.INVITATION_ACCEPTED,
            target=invitation.email,
            after=membership.role,
            detail={"invitation": invitation.pk},
            now=now,
        )
    return membership


def accept_as_new_user(token: str, *, username: str, password: str, now=None) -> Membership:
    """Create the invitee's user (the invitation's e-mail address, ``password``) and accept,
    in one transaction: if accepting fails, no user is left behind."""
    invitation = Invitation.objects.by_token(token)
    if invitation is None:
        raise TeamRuleError(_("This invitation link is not valid."))
    User = get_user_model()
    username = username.strip()
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": _("This username is taken; choose another.")})
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise TeamRuleError(
                _("A user with this e-mail address exists already: log in to accept.")
            )
        user = User(username=username, email=invitation.email)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password1": exc.messages}) from None
        user.set_password(password)
        user.save()
        return accept(token, user, now=now)


# --------------------------------------------------------------------------------------------
# Members


def assignable_roles(manager: Membership) -> list[Role]:
    """The roles ``manager`` may give (by invitation or a role change): never owner."""
    return list(INVITABLE_ROLES) if manager.has_role(Role.ADMIN) else []


def change_role(account: Account, actor, membership_id: int, role: str, *, now=None) -> Membership:
    now = now or timezone.now()
    role = _check_role(role)
    with transaction.atomic():
        account = _lock(account)
        _manager(account, actor)
        target = _member(account, membership_id)
        if target.role == Role.OWNER:
            raise TeamRuleError(_("The owner's role changes only by transferring ownership."))
        if target.role == role:
            return target
        before, target.role = target.role, role
        target.save(update_fields=["role"])
        record(
            account,
            actor,
            Action.ROLE_CHANGED,
            target=target.user.get_username(),
            before=before,
            after=role,
            now=now,
        )
    return target


def remove_member(account: Account, actor, membership_id: int, *, now=None) -> Membership:
    """Remove a member (owner and admins), or leave (anyone but the owner, for themselves)."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock(account)
        target = _member(account, membership_id)
        leaving = target.user_id == actor.pk
        if leaving:
            if target.role == Role.OWNER:
                raise TeamRuleError(
                    _("You are the owner: transfer ownership to another member before leaving.")
                )
        else:
            _manager(account, actor)
            if target.role == Role.OWNER:
                raise TeamRuleError(
                    _("The owner cannot be removed; only the owner can transfer ownership.")
                )
        target.delete()
        record(
            account,
            actor,
            Action.MEMBER_LEFT if leaving else Action.MEMBER_REMOVED,
            target=target.user.get_username(),
            before=target.role,
            now=now,
        )
    return target


def transfer_ownership(account: Account, actor, membership_id: int, *, now=None) -> Membership:
    """The owner makes another member the owner and becomes an admin."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock(account)
        _require_team(account)
        current = _membership(account, actor)
        if current is None or current.role != Role.OWNER:
            raise TeamRuleError(_("Only the owner can transfer ownership."))
        target = _member(account, membership_id)
        if target.pk == current.pk:
            raise TeamRuleError(_("You are the owner already; choose another member."))
        previous_role = target.role
        # In this order: the partial unique index allows one owner at every statement.
        current.role = Role.ADMIN
        current.save(update_fields=["role"])
        target.role = Role.OWNER
        target.save(update_fields=["role"])
        record(
            account,
            actor,
            Action.OWNERSHIP_TRANSFERRED,
            target=target.user.get_username(),
            before=actor.get_username(),
            after=target.user.get_username(),
            detail={"new_owner_was": previous_role, "previous_owner_is": Role.ADMIN.value},
            now=now,
        )
    return target


# --------------------------------------------------------------------------------------------
# Account settings


def update_settings(
    account: Account, actor, *, name: str | None = None, time_zone: str | None = None, now=None
) -> list[str]:
    """Rename the account and/or change its time zone (owner and admins); returns the
    actions recorded (none if nothing changed)."""
    now = now or timezone.now()
    done = []
    with transaction.atomic():
        locked = _lock(account)
        _manager(locked, actor)
        if name is not None:
            name = name.strip()
            if not name:
                raise ValidationError({"name": _("Give the account a name.")})
            if len(name) > Account._meta.get_field("name").max_length:
                raise ValidationError({"name": _("At most 100 characters.")})
        if time_zone is not None:
            try:
                validate_time_zone(time_zone)
            except ValidationError as exc:
                raise ValidationError({"time_zone": exc.messages}) from None
        if name is not None and name != locked.name:
            record(
                locked,
                actor,
                Action.ACCOUNT_RENAMED,
                target=name,
                before=locked.name,
                after=name,
                now=now,
            )
            locked.name = name
            done.append(Action.ACCOUNT_RENAMED)
        if time_zone is not None and time_zone != locked.time_zone:
            record(
                locked,
                actor,
                Action.TIME_ZONE_CHANGED,
                target=locked.name,
                before=locked.time_zone,
                after=time_zone,
                now=now,
            )
            locked.time_zone = time_zone
            done.append(Action.TIME_ZONE_CHANGED)
        if done:
            locked.save(update_fields=["name", "time_zone"])
    account.name, account.time_zone = locked.name, locked.time_zone
    return done
