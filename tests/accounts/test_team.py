"""The Team page and its rules: invitations by e-mail (single use, expiring, hashed), roles,
removal, ownership transfer (exactly one owner, also under concurrency), who may do what.

Personas (tests/conftest.py): Acme with olivia (owner) and max (operator); ``ada`` below is an
admin of Acme, ``vera`` (``viewer``) a viewer; oscar is an outsider; ivan owns an individual
account.
"""

import re
import smtplib
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from accounts import team
from accounts.audit import AuditEvent
from accounts.invitations import Invitation, token_hash
from accounts.models import Account, Membership, Role
from tests.conftest import PASSWORD, make_user

Action = AuditEvent.Action
LINK = re.compile(r"http://testserver/invitations/([A-Za-z0-9_-]+)/")


@pytest.fixture
def admin(personas):
    user = make_user("ada")
    Membership.objects.create(user=user, account=personas.org, role=Role.ADMIN)
    return user


def url(account, path=""):
    return f"/a/{account.pk}/{path}"


def membership(user, account):
    return Membership.objects.get(user=user, account=account)


def link_for(token):
    return f"http://testserver/invitations/{token}/"


def invite(personas, email="nina@example.com", role=Role.OPERATOR, *, by=None, now=None):
    """An invitation made through the domain function; returns (invitation, token)."""
    sent = team.invite(personas.org, by or personas.owner, email, role, url_for=link_for, now=now)
    return sent.invitation, sent.token


def post_invite(client, personas, capture, email="nina@example.com", role="operator"):
    with capture(execute=True):
        return client.post(url(personas.org, "team/invite"), {"email": email, "role": role})


def events(account, action=None):
    found = AuditEvent.objects.filter(account=account)
    return list(found.filter(action=action) if action else found)


# --------------------------------------------------------------------------------------------
# Inviting


def test_an_owner_invites_by_e_mail_and_the_token_exists_only_in_the_e_mail(
    login, personas, django_capture_on_commit_callbacks
):
    client = login(personas.owner)

    response = post_invite(client, personas, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["nina@example.com"] and "Acme" in message.subject
    token = LINK.search(message.body).group(1)
    assert link_for(token) in message.alternatives[0][0]  # the HTML part has the link too
    invitation = Invitation.objects.get(account=personas.org)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "nina@example.com",
        "operator",
        personas.owner,
    )
    # Stored as a keyed hash: the database alone cannot accept the invitation.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_invitation WHERE id = %s", [invitation.pk])
        row = " ".join(str(v) for v in cursor.fetchone())
    assert token not in row and invitation.token_hash == token_hash(token)
    assert invitation.expires_at - invitation.sent_at == timedelta(days=7)
    [event] = events(personas.org)
    assert (event.action, event.actor, event.target, event.after) == (
        Action.INVITATION_SENT,
        personas.owner,
        "nina@example.com",
        "operator",
    )
    page = client.get(url(personas.org, "team/")).content.decode()
    assert "nina@example.com" in page and "Pending" in page


def test_no_e_mail_goes_out_for_an_invitation_that_is_not_committed(personas):
    with pytest.raises(RuntimeError), transaction.atomic():
        invite(personas)
        raise RuntimeError("rolled back")

    assert mail.outbox == [] and not Invitation.objects.exists() and not events(personas.org)


def test_inviting_a_member_is_refused_with_a_field_error(
    login, personas, django_capture_on_commit_callbacks
):
    client = login(personas.owner)

    response = post_invite(client, personas, django_capture_on_commit_callbacks, "MAX@example.com")

    assert response.status_code == 400
    assert (
        "max@example.com is already a member" in response.context["invite_form"].errors["email"][0]
    )
    assert not Invitation.objects.exists() and mail.outbox == []


def test_inviting_again_while_an_invitation_is_pending_is_refused_but_an_expired_one_is_renewed(
    personas,
):
    now = timezone.now()
    first, old_token = invite(personas, now=now)

    with pytest.raises(ValidationError) as refused:
        invite(personas, "Nina@Example.com", now=now + timedelta(days=6))
    renewed, new_token = invite(personas, role=Role.VIEWER, now=now + timedelta(days=8))

    assert "already has a pending invitation" in refused.value.message_dict["email"][0]
    assert renewed.pk == first.pk and renewed.role == Role.VIEWER
    assert renewed.expires_at == now + timedelta(days=15)
    assert Invitation.objects.by_token(old_token) is None
    assert Invitation.objects.by_token(new_token) == renewed


def test_the_owner_role_cannot_be_given_by_invitation(
    login, personas, django_capture_on_commit_callbacks
):
    with pytest.raises(ValidationError) as refused:
        invite(personas, role=Role.OWNER)
    response = post_invite(
        login(personas.owner), personas, django_capture_on_commit_callbacks, role="owner"
    )

    assert "role" in refused.value.message_dict
    assert response.status_code == 400 and "role" in response.context["invite_form"].errors
    assert not Invitation.objects.exists()
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database says so too
        Invitation.objects.create(
            account=personas.org,
            email="x@example.com",
            role=Role.OWNER,
            token_hash="x",
            expires_at=timezone.now(),
        )


def test_invitations_are_rate_limited_per_account(personas, monkeypatch):
    monkeypatch.setattr(team, "INVITES_PER_HOUR", 3)
    now = timezone.now()
    invitation, _ = invite(personas, "a@example.com", now=now)
    invite(personas, "b@example.com", now=now)
    team.resend(
        personas.org,
        personas.owner,
        invitation.pk,
        url_for=link_for,
        now=now + timedelta(minutes=2),
    )

    with pytest.raises(ValidationError) as refused:
        invite(personas, "c@example.com", now=now + timedelta(minutes=3))
    later, _ = invite(personas, "c@example.com", now=now + timedelta(minutes=61))

    assert refused.value.code == "rate_limited"
    assert later.email == "c@example.com"


def test_a_resend_within_a_minute_is_refused(personas):
    now = timezone.now()
    invitation, _ = invite(personas, now=now)

    with pytest.raises(ValidationError) as refused:
        team.resend(
            personas.org,
            personas.owner,
            invitation.pk,
            url_for=link_for,
            now=now + timedelta(seconds=30),
        )

    assert "less than a minute ago" in refused.value.messages[0]


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("the mail server went away")


@pytest.mark.django_db(transaction=True)  # the e-mail goes out when invite() commits
def test_an_e_mail_that_cannot_be_sent_keeps_the_invitation_and_says_to_resend(
    login, personas, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    client = login(personas.owner)

    client.post(url(personas.org, "team/invite"), {"email": "nina@example.com", "role": "viewer"})
    page = client.get(url(personas.org, "team/")).content.decode()

    assert Invitation.objects.get().email == "nina@example.com"
    assert "could not be sent; resend it" in page


def test_resending_gives_a_new_link_and_the_old_one_stops_working(
    login, personas, django_capture_on_commit_callbacks
):
    now = timezone.now()
    invitation, old_token = invite(personas, now=now - timedelta(minutes=5))
    client = login(personas.owner)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(personas.org, f"team/invitations/{invitation.pk}/resend"))

    new_token = LINK.search(mail.outbox[-1].body).group(1)
    assert new_token != old_token
    assert client.get(link_for(old_token)).status_code == 404
    assert client.get(link_for(new_token)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.expires_at > now + timedelta(days=6, hours=23)
    assert [e.action for e in events(personas.org)] == [
        Action.INVITATION_RESENT,
        Action.INVITATION_SENT,
    ]


def test_a_revoked_invitation_shows_a_clear_page_and_cannot_be_accepted(client, login, personas):
    invitation, token = invite(personas)
    login(personas.owner).post(url(personas.org, f"team/invitations/{invitation.pk}/revoke"))
    client.logout()

    page = client.get(link_for(token))
    post = client.post(link_for(token), {"username": "nina", "password1": "x", "password2": "x"})

    assert page.status_code == 410 and "withdrawn" in page.content.decode()
    assert post.status_code == 410
    assert not Membership.objects.filter(user__username="nina").exists()
    assert events(personas.org)[0].action == Action.INVITATION_REVOKED


# --------------------------------------------------------------------------------------------
# Accepting


NEW_PASSWORD = "a long new password 42"


def accept_as_new(client, token, username="nina@example.com"):
    return client.post(
        link_for(token),
        {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def test_a_new_person_sets_a_password_and_lands_in_the_console_with_the_role(client, personas):
    _, token = invite(personas, role=Role.VIEWER)

    form = client.get(link_for(token))
    response = accept_as_new(client, token)

    assert form.status_code == 200 and "Create my user and join" in form.content.decode()
    assert response.status_code == 302 and response.url == url(personas.org)
    nina = Membership.objects.get(account=personas.org, user__email="nina@example.com")
    assert nina.role == Role.VIEWER and nina.user.check_password(NEW_PASSWORD)
    assert nina.user.username == "nina@example.com"
    assert client.get(url(personas.org)).status_code == 200  # logged in as nina
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == nina.user and invitation.status() == "accepted"
    [accepted, _sent] = events(personas.org)
    assert (accepted.action, accepted.actor, accepted.after) == (
        Action.INVITATION_ACCEPTED,
        nina.user,
        "viewer",
    )


def test_a_link_works_once(client, personas):
    _, token = invite(personas)
    accept_as_new(client, token)
    client.logout()

    again = client.get(link_for(token))
    reuse = accept_as_new(client, token, username="someone-else")

    assert again.status_code == 410 and "already used" in again.content.decode()
    assert reuse.status_code == 410
    assert Membership.objects.filter(account=personas.org).count() == 3


def test_an_expired_link_shows_when_it_expired_and_creates_nobody(client, personas):
    now = timezone.now()
    invitation, token = invite(personas, now=now - timedelta(days=7, seconds=1))

    page = client.get(link_for(token))
    post = accept_as_new(client, token)

    assert page.status_code == 410
    text = page.content.decode()
    assert "has expired" in text and "olivia" in text
    assert post.status_code == 410
    assert not Membership.objects.filter(user__email="nina@example.com").exists()
    with pytest.raises(team.InvitationUnusable) as unusable:
        team.usable_invitation(token, now=invitation.expires_at)
    assert unusable.value.status == "expired"
    assert team.usable_invitation(token, now=invitation.expires_at - timedelta(seconds=1))


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "A" * 43, "x" * 500, "%00"],
    ids=["short", "right-shape", "long", "nul"],
)
def test_a_forged_link_is_not_valid(client, personas, token):
    invite(personas)

    page = client.get(f"/invitations/{token}/")
    post = client.post(
        f"/invitations/{token}/", {"username": "eve", "password1": "x", "password2": "x"}
    )

    assert page.status_code == 404 and "not valid" in page.content.decode()
    assert post.status_code == 404
    assert Membership.objects.filter(account=personas.org).count() == 2


def test_an_existing_user_enters_their_password_to_join(client, personas):
    oscar = personas.outsider
    _, token = invite(personas, oscar.email, role=Role.ADMIN)

    wrong = client.post(link_for(token), {"password": "wrong"})
    right = client.post(link_for(token), {"password": PASSWORD})

    assert wrong.status_code == 400 and "password is not right" in wrong.content.decode()
    assert right.status_code == 302
    assert membership(oscar, personas.org).role == Role.ADMIN
    assert client.get(url(personas.org, "team/")).status_code == 200


def test_a_logged_in_user_joins_with_one_click_but_not_for_someone_else(client, login, personas):
    _, for_oscar = invite(personas, personas.outsider.email)
    _, for_ivan = invite(personas, personas.individual_owner.email)
    client = login(personas.outsider)

    wrong = client.get(link_for(for_ivan))
    client.post(link_for(for_ivan))
    right = client.post(link_for(for_oscar))

    assert "This invitation is for ivan@example.com" in wrong.content.decode()
    assert not Membership.objects.filter(user=personas.individual_owner, account=personas.org)
    assert right.status_code == 302
    assert membership(personas.outsider, personas.org).role == Role.OPERATOR


def test_a_new_user_gets_field_errors_for_a_bad_password_or_a_taken_username(client, personas):
    _, token = invite(personas)

    weak = client.post(
        link_for(token), {"username": "nina", "password1": "123", "password2": "123"}
    )
    differ = client.post(
        link_for(token), {"username": "nina", "password1": NEW_PASSWORD, "password2": "other"}
    )
    taken = accept_as_new(client, token, username="MAX")

    assert weak.status_code == 400 and weak.context["form"].errors["password1"]
    assert differ.context["form"].errors["password2"]
    assert "username is taken" in taken.context["form"].errors["username"][0]
    assert not Membership.objects.filter(user__email="nina@example.com").exists()
    assert Invitation.objects.get().status() == "pending"


# --------------------------------------------------------------------------------------------
# Roles, removal, ownership


def test_an_admin_changes_a_members_role_and_it_is_recorded(login, personas, admin):
    response = login(admin).post(
        url(personas.org, f"team/members/{membership(personas.member, personas.org).pk}/role"),
        {"role": "viewer"},
    )

    assert response.status_code == 302
    assert membership(personas.member, personas.org).role == Role.VIEWER
    [event] = events(personas.org)
    assert (event.action, event.actor, event.target, event.before, event.after) == (
        Action.ROLE_CHANGED,
        admin,
        "max",
        "operator",
        "viewer",
    )


def test_nobody_is_made_owner_by_a_role_change_and_the_owner_is_not_demoted(login, personas, admin):
    client = login(admin)
    owner = membership(personas.owner, personas.org)
    max_ = membership(personas.member, personas.org)

    raise_ = client.post(url(personas.org, f"team/members/{max_.pk}/role"), {"role": "owner"})
    demote = client.post(
        url(personas.org, f"team/members/{owner.pk}/role"), {"role": "viewer"}, follow=True
    )
    by_owner = login(personas.owner).post(
        url(personas.org, f"team/members/{owner.pk}/role"), {"role": "admin"}
    )

    assert raise_.status_code == 302 and by_owner.status_code == 302
    assert "changes only by transferring ownership" in demote.content.decode()
    assert membership(personas.member, personas.org).role == Role.OPERATOR
    assert membership(personas.owner, personas.org).role == Role.OWNER
    assert not events(personas.org)
    with pytest.raises(team.TeamRuleError):
        team.change_role(personas.org, personas.owner, owner.pk, Role.ADMIN)


def test_removing_a_member_asks_for_confirmation_first(login, personas, admin):
    client = login(admin)
    max_ = membership(personas.member, personas.org)

    confirm = client.get(url(personas.org, f"team/members/{max_.pk}/remove"))
    assert Membership.objects.filter(pk=max_.pk).exists()
    removed = client.post(url(personas.org, f"team/members/{max_.pk}/remove"))

    assert (
        confirm.status_code == 200
        and "Remove max (Operator) from Acme?" in confirm.content.decode()
    )
    assert removed.status_code == 302
    assert not Membership.objects.filter(pk=max_.pk).exists()
    assert login(personas.member).get(url(personas.org)).status_code == 404
    [event] = events(personas.org)
    assert (event.action, event.target, event.before) == (Action.MEMBER_REMOVED, "max", "operator")


def test_the_owner_cannot_be_removed_and_cannot_leave(login, personas, admin):
    owner = membership(personas.owner, personas.org)

    by_admin = login(admin).post(url(personas.org, f"team/members/{owner.pk}/remove"), follow=True)
    leaving = login(personas.owner).post(
        url(personas.org, f"team/members/{owner.pk}/remove"), follow=True
    )

    assert "The owner cannot be removed" in by_admin.content.decode()
    assert "transfer ownership to another member before leaving" in leaving.content.decode()
    assert Membership.objects.filter(pk=owner.pk, role=Role.OWNER).exists()
    assert not events(personas.org)


def test_a_member_can_leave_but_not_remove_others(login, personas, viewer):
    client = login(personas.member)
    max_ = membership(personas.member, personas.org)
    vera = membership(viewer, personas.org)

    other = client.post(url(personas.org, f"team/members/{vera.pk}/remove"))
    left = client.post(url(personas.org, f"team/members/{max_.pk}/remove"))

    assert other.status_code == 403 and Membership.objects.filter(pk=vera.pk).exists()
    assert left.status_code == 302 and not Membership.objects.filter(pk=max_.pk).exists()
    assert events(personas.org)[0].action == Action.MEMBER_LEFT


def test_the_owner_transfers_ownership_and_becomes_an_admin(login, personas):
    client = login(personas.owner)
    max_ = membership(personas.member, personas.org)

    unconfirmed = client.post(url(personas.org, "team/transfer"), {"member": max_.pk})
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.context["form"].errors
    assert membership(personas.owner, personas.org).role == Role.OWNER
    done = client.post(url(personas.org, "team/transfer"), {"member": max_.pk, "confirm": "on"})

    assert done.status_code == 302
    assert membership(personas.member, personas.org).role == Role.OWNER
    assert membership(personas.owner, personas.org).role == Role.ADMIN
    [event] = events(personas.org)
    assert (event.action, event.before, event.after, event.detail["new_owner_was"]) == (
        Action.OWNERSHIP_TRANSFERRED,
        "olivia",
        "max",
        "operator",
    )
    # The old owner, now an admin, cannot take it back.
    assert (
        client.post(
            url(personas.org, "team/transfer"), {"member": max_.pk, "confirm": "on"}
        ).status_code
        == 403
    )


def test_only_the_owner_transfers_and_never_to_themselves_or_an_outsider(login, personas, admin):
    owner = membership(personas.owner, personas.org)
    outsider = membership(personas.outsider, personas.outsider_account)

    by_admin = login(admin).post(
        url(personas.org, "team/transfer"), {"member": owner.pk, "confirm": "on"}
    )
    to_outsider = login(personas.owner).post(
        url(personas.org, "team/transfer"), {"member": outsider.pk, "confirm": "on"}
    )

    assert by_admin.status_code == 403
    assert to_outsider.status_code == 400 and "member" in to_outsider.context["form"].errors
    with pytest.raises(team.TeamRuleError):
        team.transfer_ownership(personas.org, personas.owner, owner.pk)
    with pytest.raises(team.TeamRuleError):
        team.transfer_ownership(personas.org, admin, owner.pk)
    with pytest.raises(team.TeamRuleError):
        team.transfer_ownership(personas.org, personas.owner, outsider.pk)
    assert list(Membership.objects.filter(account=personas.org, role=Role.OWNER)) == [owner]


def test_the_database_refuses_a_second_owner(personas):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(user=personas.member, account=personas.org).update(
            role=Role.OWNER
        )
    other = Membership(user=personas.member, account=personas.outsider_account, role=Role.OWNER)
    with pytest.raises(ValidationError) as invalid:  # what the admin's forms run
        other.full_clean()
    assert "exactly one owner" in str(invalid.value)


def another_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_transfers_at_once_leave_exactly_one_owner(personas, admin):
    """The owner, in two tabs, transfers to max and to ada at the same moment: the second
    waits for the first, then finds that she is no longer the owner."""
    org, olivia = personas.org, personas.owner
    to_max, to_ada = membership(personas.member, org), membership(admin, org)
    outcome = {}

    def second():
        try:
            team.transfer_ownership(org, olivia, to_ada.pk)
            outcome["second"] = "transferred"
        except Exception as exc:  # asserted on below
            outcome["second"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        team.transfer_ownership(org, olivia, to_max.pk)  # committed when this block ends
        racer = threading.Thread(target=second)
        racer.start()
        for _ in range(600):
            if another_backend_waits_for_a_lock():
                break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the second transfer never waited for the first")
    racer.join(30)

    assert isinstance(outcome["second"], team.TeamRuleError), outcome
    owners = Membership.objects.filter(account=org, role=Role.OWNER)
    assert [m.user for m in owners] == [personas.member]
    assert membership(olivia, org).role == Role.ADMIN and membership(admin, org).role == Role.ADMIN
    assert len(events(org, Action.OWNERSHIP_TRANSFERRED)) == 1


# --------------------------------------------------------------------------------------------
# Individual accounts


def test_an_individual_account_has_no_team(login, personas, django_capture_on_commit_callbacks):
    client = login(personas.individual_owner)
    solo = personas.individual

    page = client.get(url(solo, "team/"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url(solo, "team/invite"), {"email": "x@example.com", "role": "viewer"}
        )

    assert page.status_code == 200 and "An individual account has no team" in page.content.decode()
    assert 'id="invite"' not in page.content.decode()
    assert response.status_code == 400 and not Invitation.objects.exists()
    with pytest.raises(team.TeamRuleError):
        team.invite(solo, personas.individual_owner, "x@example.com", Role.VIEWER, url_for=link_for)


# --------------------------------------------------------------------------------------------
# Who sees and does what


ROLES = ["viewer", "operator", "admin", "owner"]


@pytest.fixture
def as_role(login, personas):
    def client_for(role):
        if role == "owner":
            return login(personas.owner)
        if role == "operator":
            return login(personas.member)
        user = make_user(f"someone-{role}")
        Membership.objects.create(user=user, account=personas.org, role=role)
        return login(user)

    return client_for


@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_the_team_but_only_owner_and_admins_manage_it(as_role, personas, role):
    invite(personas)
    page = as_role(role).get(url(personas.org, "team/"))

    text = page.content.decode()
    assert page.status_code == 200 and "olivia" in text and "max" in text
    manages = role in ("admin", "owner")
    assert ('id="invite"' in text) == manages
    assert ("nina@example.com" in text) == manages  # pending invitations
    assert ("Change role" in text) == manages
    assert ("Transfer ownership" in text) == (role == "owner")


@pytest.mark.parametrize("role", ROLES)
def test_only_owner_and_admins_invite_change_roles_and_remove(
    as_role, personas, role, django_capture_on_commit_callbacks
):
    client = as_role(role)
    invitation, _ = invite(personas, "pending@example.com")
    target = make_user("tess")
    tess = Membership.objects.create(user=target, account=personas.org, role=Role.VIEWER)

    answers = [
        post_invite(client, personas, django_capture_on_commit_callbacks).status_code,
        client.post(url(personas.org, f"team/invitations/{invitation.pk}/revoke")).status_code,
        client.post(
            url(personas.org, f"team/members/{tess.pk}/role"), {"role": "operator"}
        ).status_code,
        client.post(url(personas.org, f"team/members/{tess.pk}/remove")).status_code,
        client.get(url(personas.org, "audit/")).status_code,
    ]

    if role in ("admin", "owner"):
        assert answers == [302, 302, 302, 302, 200]
        assert not Membership.objects.filter(pk=tess.pk).exists()
    else:
        assert answers == [403] * 5
        assert Membership.objects.get(pk=tess.pk).role == Role.VIEWER
        assert Invitation.objects.get(pk=invitation.pk).status() == "pending"


def test_an_outsider_sees_nothing_of_the_team(login, personas):
    client = login(personas.outsider)
    invitation, _ = invite(personas)
    max_ = membership(personas.member, personas.org)

    for path in ("team/", "settings/", "audit/", "team/transfer", f"team/members/{max_.pk}/remove"):
        assert client.get(url(personas.org, path)).status_code == 404, path
    for path in (
        "team/invite",
        f"team/invitations/{invitation.pk}/revoke",
        f"team/invitations/{invitation.pk}/resend",
        f"team/members/{max_.pk}/role",
        f"team/members/{max_.pk}/remove",
    ):
        assert (
            client.post(
                url(personas.org, path), {"email": "e@example.com", "role": "admin"}
            ).status_code
            == 404
        ), path
    assert Membership.objects.filter(account=personas.org).count() == 2
    assert Invitation.objects.get().status() == "pending"


def test_an_admin_cannot_act_on_another_accounts_members_or_invitations(login, personas, admin):
    theirs = membership(personas.outsider, personas.outsider_account)
    their_invitation = team.invite(
        personas.outsider_account, personas.outsider, "z@example.com", Role.VIEWER, url_for=link_for
    ).invitation
    client = login(admin)

    role = client.post(
        url(personas.org, f"team/members/{theirs.pk}/role"), {"role": "viewer"}, follow=True
    )
    remove = client.post(url(personas.org, f"team/members/{theirs.pk}/remove"), follow=True)
    revoke = client.post(
        url(personas.org, f"team/invitations/{their_invitation.pk}/revoke"), follow=True
    )

    assert "no longer a member" in role.content.decode()
    assert "no longer a member" in remove.content.decode()
    assert "accepted or revoked meanwhile" in revoke.content.decode()
    assert membership(personas.outsider, personas.outsider_account).role == Role.OWNER
    assert Invitation.objects.get(pk=their_invitation.pk).status() == "pending"


def test_pages_need_a_login(client, personas):
    for path in ("team/", "settings/", "audit/"):
        assert client.get(url(personas.org, path)).url.startswith("/login/")


def test_a_huge_id_is_no_member_of_ours(login, personas):
    client = login(personas.owner)

    response = client.post(
        url(personas.org, "team/members/99999999999999999999/role"), {"role": "viewer"}
    )

    assert response.status_code == 404


# --------------------------------------------------------------------------------------------
# Account settings


def test_an_admin_renames_the_account_and_changes_its_time_zone(login, personas, admin):
    client = login(admin)

    response = client.post(
        url(personas.org, "settings/"), {"name": " Acme Ltd ", "time_zone": "Europe/Berlin"}
    )

    assert response.status_code == 302
    account = Account.objects.get(pk=personas.org.pk)
    assert (account.name, account.time_zone) == ("Acme Ltd", "Europe/Berlin")
    got = {(e.action, e.before, e.after) for e in events(account)}
    assert got == {
        (Action.ACCOUNT_RENAMED, "Acme", "Acme Ltd"),
        (Action.TIME_ZONE_CHANGED, "Asia/Shanghai", "Europe/Berlin"),
    }
    client.post(url(personas.org, "settings/"), {"name": "Acme Ltd", "time_zone": "Europe/Berlin"})
    assert len(events(account)) == 2  # saving without a change records nothing


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "Acme", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "Acme", "time_zone": "Asia/Shanghai\x00"}, "time_zone"),
        ({"name": "   ", "time_zone": "UTC"}, "name"),
        ({"name": "x" * 101, "time_zone": "UTC"}, "name"),
    ],
    ids=["unknown zone", "nul", "blank name", "long name"],
)
def test_bad_settings_get_a_field_error(login, personas, data, field):
    response = login(personas.owner).post(url(personas.org, "settings/"), data)

    assert response.status_code == 400 and field in response.context["form"].errors
    account = Account.objects.get(pk=personas.org.pk)
    assert (account.name, account.time_zone) == ("Acme", "Asia/Shanghai") and not events(account)


def test_the_time_zone_is_a_choice_of_zoneinfo_zones(login, personas):
    page = login(personas.owner).get(url(personas.org, "settings/")).content.decode()

    assert '<option value="Asia/Shanghai" selected>' in page
    assert '<option value="Europe/Berlin">' in page and '<option value="UTC">' in page


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_lower_roles_see_the_settings_but_cannot_change_them(as_role, personas, role):
    client = as_role(role)

    page = client.get(url(personas.org, "settings/"))
    client.post(url(personas.org, "settings/"), {"name": "Hijacked", "time_zone": "UTC"})

    assert page.status_code == 200 and "Asia/Shanghai" in page.content.decode()
    assert Account.objects.get(pk=personas.org.pk).name == "Acme" and not events(personas.org)


def test_the_api_records_a_rename_in_the_audit_trail_too(client, personas):
    from tests.accounts.test_scoping import api

    response = api(client, personas.owner).patch(
        f"/api/v1/accounts/{personas.org.pk}/",
        {"time_zone": "Europe/Paris"},
        content_type="application/json",
    )

    assert response.status_code == 200 and response.json()["time_zone"] == "Europe/Paris"
    [event] = events(personas.org)
    assert (event.action, event.actor, event.after) == (
        Action.TIME_ZONE_CHANGED,
        personas.owner,
        "Europe/Paris",
    )


def test_the_e_mail_and_the_link_give_the_expiry_in_the_accounts_time_zone(
    client, personas, django_capture_on_commit_callbacks
):
    sent_at = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        _, token = invite(personas, now=sent_at)
    shanghai = (sent_at + timedelta(days=7, hours=8)).strftime("%Y-%m-%d %H:%M")

    page = client.get(link_for(token)).content.decode()

    assert f"until {shanghai} (Asia/Shanghai)" in mail.outbox[0].body
    assert f"until {shanghai} (Asia/Shanghai)" in page
