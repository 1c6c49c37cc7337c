"""The audit trail: written by every team and settings change in its own transaction, listed
newest first, paged and filtered by action, for the owner and admins only."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import team
from accounts.audit import AuditEvent, NotInTransaction, record
from accounts.models import Account, Membership, Role
from tests.conftest import make_user

Action = AuditEvent.Action


def url(account, query=""):
    return f"/a/{account.pk}/audit/{query}"


@pytest.mark.django_db(transaction=True)
def test_an_event_is_recorded_only_inside_the_changes_transaction(personas):
    with pytest.raises(NotInTransaction):
        record(personas.org, personas.owner, Action.ACCOUNT_RENAMED, before="Acme", after="X")

    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_change_that_fails_leaves_neither_the_change_nor_its_event(personas):
    """The rename is recorded first; the bad time zone then fails the whole transaction."""
    with pytest.raises(Exception):  # noqa: B017 - any failure of the change
        with transaction.atomic():
            team.update_settings(personas.org, personas.owner, name="Renamed")
            raise RuntimeError("the request failed after the change")

    assert Account.objects.get(pk=personas.org.pk).name == "Acme"
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_each_kind_of_change_records_its_event(personas):
    """One of each, committed for real: invitation sent, resent, revoked, accepted; role
    changed; member removed and left; ownership transferred; renamed; time zone changed."""
    org, olivia = personas.org, personas.owner
    now = timezone.now()
    link = "http://testserver/invitations/{}/".format
    gone = team.invite(org, olivia, "gone@example.com", Role.VIEWER, url_for=link, now=now)
    team.resend(org, olivia, gone.invitation.pk, url_for=link, now=now + timedelta(minutes=2))
    team.revoke(org, olivia, gone.invitation.pk, now=now)
    joining = team.invite(org, olivia, "nina@example.com", Role.VIEWER, url_for=link, now=now)
    nina = team.accept_as_new_user(
        joining.token, username="nina", password="a long new password 42", now=now
    )
    team.change_role(org, olivia, nina.pk, Role.OPERATOR, now=now)
    team.remove_member(org, olivia, nina.pk, now=now)
    vera = Membership.objects.create(user=make_user("vera"), account=org, role=Role.VIEWER)
    team.remove_member(org, vera.user, vera.pk, now=now)
    max_ = Membership.objects.get(user=personas.member, account=org)
    team.transfer_ownership(org, olivia, max_.pk, now=now)
    team.update_settings(org, personas.member, name="Acme Ltd", time_zone="UTC", now=now)

    got = list(
        AuditEvent.objects.filter(account=org)
        .order_by("id")
        .values_list("action", "actor_name", "target", "before", "after")
    )
    assert got == [
        (Action.INVITATION_SENT, "olivia", "gone@example.com", "", "viewer"),
        (Action.INVITATION_RESENT, "olivia", "gone@example.com", "", "viewer"),
        (Action.INVITATION_REVOKED, "olivia", "gone@example.com", "viewer", ""),
        (Action.INVITATION_SENT, "olivia", "nina@example.com", "", "viewer"),
        (Action.INVITATION_ACCEPTED, "nina", "nina@example.com", "", "viewer"),
        (Action.ROLE_CHANGED, "olivia", "nina", "viewer", "operator"),
        (Action.MEMBER_REMOVED, "olivia", "nina", "operator", ""),
        (Action.MEMBER_LEFT, "vera", "vera", "viewer", ""),
        (Action.OWNERSHIP_TRANSFERRED, "olivia", "max", "olivia", "max"),
        (Action.ACCOUNT_RENAMED, "max", "Acme Ltd", "Acme", "Acme Ltd"),
        (Action.TIME_ZONE_CHANGED, "max", "Acme Ltd", "Asia/Shanghai", "UTC"),
    ]
    # Actions of the product's own changes are recorded, and tested, where they happen.
    elsewhere = {
        # push.applications (tests/push/test_application_console.py)
        Action.APPLICATION_EDITED,
        Action.APPLICATION_SECRET_ROTATED,
        Action.APPLICATION_DELETED,
        # sms.quota.record_package (tests/sms/test_package_console.py)
        Action.SMS_PACKAGE_RECORDED,
        # push.tag_views and push.tag_import (tests/push/test_tag_console.py)
        Action.DEVICES_TAGGED,
        Action.DEVICES_UNTAGGED,
    }
    assert {e.value for e in Action} - elsewhere == {row[0] for row in got}


def many_events(account, actor, count, *, start):
    with transaction.atomic():
        for i in range(count):
            action = Action.ROLE_CHANGED if i % 2 else Action.INVITATION_SENT
            record(account, actor, action, target=f"person-{i}", now=start + timedelta(minutes=i))


def test_the_page_lists_the_newest_first_fifty_a_page(login, personas):
    many_events(personas.org, personas.owner, 60, start=timezone.now() - timedelta(days=1))
    client = login(personas.owner)

    first = client.get(url(personas.org))
    second = client.get(url(personas.org, "?page=2"))

    rows = [e.target for e in first.context["page"]]
    assert rows[:2] == ["person-59", "person-58"] and len(rows) == 50
    assert [e.target for e in second.context["page"]][-1] == "person-0"
    assert "Page 1 of 2" in first.content.decode()


def test_the_page_filters_by_action_and_keeps_the_filter_across_pages(login, personas):
    many_events(personas.org, personas.owner, 120, start=timezone.now() - timedelta(days=1))
    client = login(personas.owner)

    page = client.get(url(personas.org, "?action=role_changed"))

    assert {e.action for e in page.context["page"]} == {Action.ROLE_CHANGED}
    assert page.context["page"].paginator.count == 60
    assert "?action=role_changed&page=2" in page.content.decode()


@pytest.mark.parametrize("query", ["?action=drop_table", "?action=%00", "?page=x", "?page=999"])
def test_bad_filters_are_answered_not_crashed_on(login, personas, query):
    many_events(personas.org, personas.owner, 3, start=timezone.now())

    response = login(personas.owner).get(url(personas.org, query))

    assert response.status_code in (200, 400)
    if query == "?action=drop_table":
        assert response.status_code == 400 and "action" in response.context["form"].errors
    elif query == "?action=%00":  # lib.errors.QueryTextMiddleware answers before the view
        assert response.status_code == 400


def test_the_trail_shows_only_this_accounts_events(login, personas):
    many_events(personas.outsider_account, personas.outsider, 3, start=timezone.now())
    many_events(personas.org, personas.owner, 1, start=timezone.now())

    page = login(personas.owner).get(url(personas.org))

    assert [e.target for e in page.context["page"]] == ["person-0"]
    assert all(e.account_id == personas.org.pk for e in page.context["page"])


def test_the_trail_keeps_who_did_it_after_the_user_is_deleted(personas):
    many_events(personas.org, personas.member, 1, start=timezone.now())
    personas.member.delete()

    event = AuditEvent.objects.get()
    assert (event.actor, event.actor_name) == (None, "max")


@pytest.mark.parametrize("role, status", [("viewer", 403), ("operator", 403), ("admin", 200)])
def test_owner_and_admins_read_the_trail(login, personas, role, status):
    user = personas.member if role == "operator" else make_user(f"someone-{role}")
    if role != "operator":
        Membership.objects.create(user=user, account=personas.org, role=role)

    assert login(user).get(url(personas.org)).status_code == status


def test_an_outsider_gets_no_trail(login, personas):
    assert login(personas.outsider).get(url(personas.org)).status_code == 404


def test_roles_are_shown_by_their_names(login, personas):
    max_ = Membership.objects.get(user=personas.member, account=personas.org)
    team.change_role(personas.org, personas.owner, max_.pk, Role.VIEWER)
    team.update_settings(personas.org, personas.owner, time_zone="UTC")

    page = login(personas.owner).get(url(personas.org)).content.decode()

    assert "<td>Operator</td>" in page and "<td>Viewer</td>" in page
    assert "<td>Asia/Shanghai</td>" in page and "<td>UTC</td>" in page
