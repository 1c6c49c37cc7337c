"""Editing, deleting and rotating an application in the console (``push.application_views``,
``push.applications``): who may, what the confirmation says, and that a deleted app's or a
rotated SecretKey's old keys are refused by the TPNS and SDK APIs at once."""

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import crypto
from accounts.audit import AuditEvent
from accounts.models import Membership, Role, sign
from push import applications, tasks
from push.models import (
    Application,
    ChannelCredentials,
    Delivery,
    Device,
    DeviceTag,
    Push,
    PushStats,
)
from sms.models import SmsMessage
from tests.conftest import basic_auth, make_user
from tests.push.conftest import add_device, outsider_app
from tests.push.test_console import SECRET_ON_PAGE, make_push, sms_fields, text

A_PUSH = {
    "audience_type": "token",
    "token_list": ["tok-1"],
    "message_type": "notify",
    "message": {"title": "Hello", "content": "World"},
}


def url(app, page=""):
    return f"/a/{app.account_id}/push/applications/{app.pk}/{page}"


def member(personas, username, role):
    user = make_user(username)
    Membership.objects.create(user=user, account=personas.org, role=role)
    return user


def tpns_basic(client, app, secret):
    return client.post(
        "/v3/push/app",
        json.dumps(A_PUSH),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(app.access_id, secret),
    )


def tpns_signed(client, app, secret):
    body = json.dumps(A_PUSH).encode()
    timestamp = str(int(time.time()))
    return client.post(
        "/v3/push/app",
        body,
        content_type="application/json",
        headers={
            "AccessId": str(app.access_id),
            "TimeStamp": timestamp,
            "Sign": sign(secret, timestamp, str(app.access_id), body),
        },
    )


def sdk_register(client, app):
    return client.post(
        "/sdk/v1/register",
        {"platform": app.platform},
        content_type="application/json",
        headers={"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key},
    )


def ret_code(response) -> int:
    assert response.status_code == 200, response.content
    return response.json()["ret_code"]


# Edit


def test_an_owner_edits_the_name_and_package_names_and_the_keys_stay(login, personas, app):
    client = login(personas.owner)
    access_id, access_key = app.access_id, app.access_key

    response = client.post(
        url(app, "edit"),
        {
            "name": "Acme 安卓",
            "platform": "android",
            "package_names": "com.acme.app\ncom.acme.lite",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url(app)
    app.refresh_from_db()
    assert (app.name, app.package_names) == ("Acme 安卓", ["com.acme.app", "com.acme.lite"])
    assert (app.access_id, app.access_key) == (access_id, access_key)
    assert app.check_secret(app.test_secret)
    event = AuditEvent.objects.get(action=AuditEvent.Action.APPLICATION_EDITED)
    assert (event.actor, event.account) == (personas.owner, personas.org)
    assert event.before == "name: Acme Android; package_names: "
    assert event.after == "name: Acme 安卓; package_names: com.acme.app, com.acme.lite"
    assert event.detail["fields"] == ["name", "package_names"]
    page = text(client.get(url(app)))
    assert "Acme 安卓" in page and "com.acme.lite" in page


def test_saving_unchanged_writes_no_audit_event(login, personas, app):
    response = login(personas.owner).post(
        url(app, "edit"), {"name": "Acme Android", "platform": "android", "package_names": ""}
    )

    assert response.status_code == 302
    assert not AuditEvent.objects.exists()


def test_the_edit_form_shows_the_current_values(login, personas, app):
    app.package_names = ["com.acme.app"]
    app.save()

    page = text(login(personas.owner).get(url(app, "edit")))

    assert 'value="Acme Android"' in page
    assert "com.acme.app</textarea>" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "platform": "android"}, "name", "This field is required."),
        ({"name": "x" * 101, "platform": "android"}, "name", "at most 100 characters"),
        ({"name": "A", "platform": "windows"}, "platform", "Select a valid choice"),
        (
            {"name": "A", "platform": "android", "package_names": "not a package"},
            "package_names",
            "is not a package name",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(login, personas, app, data, field, message):
    response = login(personas.owner).post(url(app, "edit"), data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    app.refresh_from_db()
    assert app.name == "Acme Android"
    assert not AuditEvent.objects.exists()


def test_the_platform_changes_only_while_no_device_is_registered(login, personas, app):
    client = login(personas.owner)
    assert client.post(url(app, "edit"), {"name": app.name, "platform": "ios"}).status_code == 302
    app.refresh_from_db()
    assert app.platform == "ios"
    add_device(app, "tok-1")

    response = client.post(url(app, "edit"), {"name": "Renamed", "platform": "android"})

    assert response.status_code == 200
    assert "Devices are registered" in " ".join(response.context["form"].errors["platform"])
    app.refresh_from_db()
    assert (app.name, app.platform) == (app.name, "ios")
    assert app.name != "Renamed"


def test_credentials_the_new_platform_cannot_use_keep_the_platform(login, personas, app):
    ios, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")
    ChannelCredentials.objects.create(
        application=ios, channel="apns", secret_sealed=crypto.seal("{}"), fingerprint="f"
    )

    response = login(personas.owner).post(url(ios, "edit"), {"name": "x", "platform": "android"})

    assert "Apple Push Notification service" in " ".join(
        response.context["form"].errors["platform"]
    )
    ios.refresh_from_db()
    assert (ios.name, ios.platform) == ("Acme iOS", "ios")


def test_an_admin_may_edit(login, personas, app):
    client = login(member(personas, "ada", Role.ADMIN))

    response = client.post(url(app, "edit"), {"name": "By Ada", "platform": "android"})

    assert response.status_code == 302
    app.refresh_from_db()
    assert app.name == "By Ada"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_viewers_and_operators_may_not_edit_delete_or_see_the_buttons(login, personas, app, role):
    add_device(app, "tok-1")
    client = login(member(personas, "someone", role))

    answers = [
        client.get(url(app, "edit")).status_code,
        client.post(url(app, "edit"), {"name": "Sneaky", "platform": "android"}).status_code,
        client.get(url(app, "delete")).status_code,
        client.post(url(app, "delete"), {"confirm_name": app.name}).status_code,
    ]

    assert answers == [403, 403, 403, 403]
    app.refresh_from_db()
    assert (app.name, app.deleted_at) == ("Acme Android", None)
    assert Device.objects.filter(application=app).count() == 1
    page = text(client.get(url(app)))
    assert 'id="edit-application"' not in page and 'id="delete-application"' not in page


def test_another_accounts_application_is_not_found(login, personas, app):
    theirs = outsider_app(personas)
    client = login(personas.owner)

    answers = [
        client.get(f"/a/{personas.org.pk}/push/applications/{theirs.pk}/edit").status_code,
        client.post(
            f"/a/{personas.org.pk}/push/applications/{theirs.pk}/delete",
            {"confirm_name": theirs.name},
        ).status_code,
    ]

    assert answers == [404, 404]
    assert Application.objects.filter(pk=theirs.pk).exists()


# Delete


@pytest.fixture
def populated(app, personas, sms):
    """Acme Android with 3 devices (two tagged vip, one beijing), a sent SMS-backed push to two
    of them, a scheduled one to all, FCM credentials and one supplementary SMS record."""
    for i, tags in enumerate([("vip", "beijing"), ("vip",), ()], start=1):
        add_device(app, f"tok-{i}", tags=tags, phone=f"+861371111000{i}")
    sent = make_push(app, ["tok-1", "tok-2"], **sms_fields())
    PushStats.objects.create(push=sent, figures={"targets": 2})
    scheduled = Push.objects.create(
        application=app,
        audience_type="all",
        message_type="notify",
        title="Later",
        content="Later",
        status=Push.Status.WAIT,
        send_at=timezone.now() + timedelta(hours=1),
    )
    ChannelCredentials.objects.create(
        application=app, channel="fcm", secret_sealed=crypto.seal("{}"), fingerprint="f"
    )
    delivery = sent.deliveries.get(device__token="tok-1")
    kept = SmsMessage.objects.create(
        account=personas.org,
        phone_number="+8613711110001",
        region="mainland",
        template_code="449739",
        content="x",
        session_context=f"push:{sent.pk}",
        source_type="push_delivery",
        source_id=delivery.pk,
        state="sent",
    )
    return {"sent": sent, "scheduled": scheduled, "sms": kept}


def test_the_confirmation_says_exactly_what_goes_with_the_application(
    login, personas, populated, app
):
    page = text(login(personas.owner).get(url(app, "delete")))

    for line in [
        "3 devices",
        "2 pushes",
        "2 deliveries",
        "2 tags (3 device tags)",
        "1 set of channel credentials",
        "0 uploaded account or token packages",
        "1 scheduled or sending push is stopped",
        "1 supplementary SMS record stays in SMS records",
    ]:
        assert line in page, line
    assert Application.objects.filter(pk=app.pk).exists()


def test_deleting_needs_the_name_typed_exactly(login, personas, populated, app):
    client = login(personas.owner)

    for typed in ["", "acme android", "Acme Androi"]:
        response = client.post(url(app, "delete"), {"confirm_name": typed})
        assert response.status_code == 200
        assert list(response.context["form"].errors) == ["confirm_name"]

    assert Application.objects.filter(pk=app.pk).exists()
    assert Device.objects.filter(application=app).count() == 3
    assert ret_code(tpns_basic(client, app, app.test_secret)) == 0


def test_a_get_deletes_nothing(login, personas, app):
    assert (
        login(personas.owner).get(url(app, "delete"), {"confirm_name": app.name}).status_code == 200
    )
    assert Application.objects.filter(pk=app.pk).exists()


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_deleting_removes_everything_of_the_app_but_keeps_its_sms(
    login, personas, populated, app, who
):
    user = personas.owner if who == "owner" else member(personas, "ada", Role.ADMIN)
    theirs = outsider_app(personas)
    add_device(theirs, "tok-1", tags=["vip"])
    client = login(user)

    response = client.post(url(app, "delete"), {"confirm_name": "Acme Android"})

    assert response.status_code == 302
    assert response["Location"] == f"/a/{personas.org.pk}/push/applications/"
    assert not Application.all_objects.filter(pk=app.pk).exists()
    assert not Device.objects.filter(application_id=app.pk).exists()
    assert not Push.objects.filter(application_id=app.pk).exists()
    assert not Delivery.objects.filter(push_id=populated["sent"].pk).exists()
    assert not PushStats.objects.exists()
    assert not DeviceTag.objects.filter(application_id=app.pk).exists()
    assert not ChannelCredentials.objects.exists()
    assert SmsMessage.objects.filter(pk=populated["sms"].pk).exists()
    assert Device.objects.filter(application=theirs).count() == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.APPLICATION_DELETED)
    assert (event.actor, event.target) == (user, f"Acme Android ({app.access_id})")
    assert (event.detail["devices"], event.detail["sms_kept"]) == (3, 1)
    listing = text(client.get(response["Location"]))
    assert "was deleted with its devices and pushes" in listing
    assert f"/applications/{app.pk}/" not in listing


def test_a_deleted_apps_keys_are_refused_at_once_by_tpns_and_the_sdk(
    client, login, personas, app, monkeypatch
):
    # Keep the rows (as for a large app, purged later): the keys must be refused even so.
    monkeypatch.setattr(applications, "PURGE_IN_REQUEST", -1)
    add_device(app, "tok-1")
    assert ret_code(tpns_basic(client, app, app.test_secret)) == 0
    assert ret_code(tpns_signed(client, app, app.test_secret)) == 0
    assert sdk_register(client, app).status_code in (200, 201)

    login(personas.owner).post(url(app, "delete"), {"confirm_name": app.name})
    client.logout()

    assert Application.all_objects.get(pk=app.pk).deleted_at is not None
    assert ret_code(tpns_basic(client, app, app.test_secret)) == 1008003
    assert ret_code(tpns_signed(client, app, app.test_secret)) == 1008003
    assert sdk_register(client, app).status_code == 401
    pushes = Push.objects.filter(application_id=app.pk)
    assert pushes.count() == 2  # the two accepted before; none after


def test_a_large_app_is_marked_at_once_and_purged_in_the_background_chunk_by_chunk(
    login, personas, populated, app, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(applications, "PURGE_IN_REQUEST", 4)  # 3 devices + 2 deliveries > 4
    monkeypatch.setattr(applications, "PURGE_CHUNK", 1)
    queued = []
    monkeypatch.setattr(applications, "queue_purge", queued.append)
    # One delivery FCM took (not "undelivered"): its SMS still waits for the trigger, and must
    # be canceled too.
    populated["sent"].deliveries.filter(device__token="tok-2").update(channel="fcm")
    client = login(personas.owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(app, "delete"), {"confirm_name": app.name})

    assert response.status_code == 302
    assert queued == [app.pk]
    assert "removed in the background" in text(client.get(response["Location"]))
    assert Device.objects.filter(application_id=app.pk).count() == 3  # not yet
    assert client.get(url(app)).status_code == 404
    sent, scheduled = populated["sent"], populated["scheduled"]
    scheduled.refresh_from_db()
    assert scheduled.status == Push.Status.CANCELED
    assert set(sent.deliveries.values_list("fallback", "outcome")) == {("decided", "canceled")}

    # A task with a budget that only one chunk fits in hands on (queues itself again) ...
    ticks = iter(range(100))
    assert applications.purge(app.pk, seconds=0.5, clock=lambda: next(ticks)) is False
    assert Delivery.objects.filter(push=sent).count() == 1
    # ... and the task finishes the rest.
    assert tasks.purge_application(app.pk) is True
    assert not Application.all_objects.filter(pk=app.pk).exists()
    assert not Device.objects.filter(application_id=app.pk).exists()
    assert SmsMessage.objects.filter(pk=populated["sms"].pk).exists()


def test_the_minute_sweep_finishes_a_purge_a_lost_task_left(login, personas, app, monkeypatch):
    monkeypatch.setattr(applications, "PURGE_IN_REQUEST", -1)
    monkeypatch.setattr(applications, "queue_purge", lambda app_id: None)  # the task is lost
    add_device(app, "tok-1")
    login(personas.owner).post(url(app, "delete"), {"confirm_name": app.name})
    assert Application.all_objects.filter(pk=app.pk).exists()

    assert tasks.push_sweep()["purged_applications"] == 1
    assert not Application.all_objects.filter(pk=app.pk).exists()


def test_the_purge_never_touches_a_live_application(app):
    add_device(app, "tok-1")

    assert applications.purge(app.pk) is True
    assert Device.objects.filter(application=app).count() == 1


def copy_rows(model, template_pk: int, column: str, value_sql: str, last: int) -> None:
    """Copies of one row, ``column`` set to ``value_sql`` for n = 2 .. last, in one INSERT."""
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = [value_sql if c == column else c for c in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {model._meta.db_table}, "
            f"generate_series(2, %s) AS n WHERE id = %s",
            [last, template_pk],
        )


@pytest.mark.postgres
def test_deleting_an_app_with_100k_deliveries_answers_quickly_and_the_task_purges_them(
    login, personas, app
):
    add_device(app, "tok-1")
    push = make_push(app, ["tok-1"], **sms_fields())
    copy_rows(Device, Device.objects.get(token="tok-1").pk, "token", "'tok-' || n", 100_000)
    copy_rows(
        Delivery,
        push.deliveries.get().pk,
        "device_id",
        f"(SELECT id FROM push_device WHERE application_id = {app.pk} AND token = 'tok-' || n)",
        100_000,
    )
    assert Delivery.objects.filter(push=push, fallback="waiting").count() == 100_000
    client = login(personas.owner)

    started = time.monotonic()
    response = client.post(url(app, "delete"), {"confirm_name": app.name})
    took = time.monotonic() - started

    assert response.status_code == 302
    print(f"deleting an app with 100,000 deliveries: the request took {took:.2f} s")
    assert took < 5, f"the deleting request took {took:.1f} s"
    assert not Delivery.objects.filter(push=push, fallback="waiting").exists()
    assert tasks.purge_application(app.pk) is True
    assert not Delivery.objects.filter(push_id=push.pk).exists()
    assert not Device.objects.filter(application_id=app.pk).exists()


# Rotate


def test_rotating_refuses_the_old_secret_at_once_by_basic_and_signature(
    client, login, personas, app
):
    add_device(app, "tok-1")
    old = app.test_secret
    assert ret_code(tpns_basic(client, app, old)) == 0

    page = text(login(personas.owner).post(url(app, "rotate-secret")))
    client.logout()

    new = SECRET_ON_PAGE.search(page).group(1)
    assert ret_code(tpns_basic(client, app, old)) == 1008003
    assert ret_code(tpns_signed(client, app, old)) == 1008003
    assert ret_code(tpns_basic(client, app, new)) == 0
    assert ret_code(tpns_signed(client, app, new)) == 0


def test_rotating_writes_an_audit_event_without_the_secret(login, personas, app):
    old_hint = app.secret_hint

    page = text(login(personas.owner).post(url(app, "rotate-secret")))

    new = SECRET_ON_PAGE.search(page).group(1)
    event = AuditEvent.objects.get(action=AuditEvent.Action.APPLICATION_SECRET_ROTATED)
    assert (event.actor, event.before, event.after) == (
        personas.owner,
        f"…{old_hint}",
        f"…{new[-4:]}",
    )
    assert new not in json.dumps(event.detail) + event.before + event.after + event.target


def test_the_rotate_button_asks_before_it_posts(login, personas, app):
    page = text(login(personas.owner).get(url(app)))

    form = page[page.index('action="' + url(app, "rotate-secret")) - 200 :]
    assert 'method="post"' in form[:400] and "return confirm(" in form[:600]
    assert "csrfmiddlewaretoken" in form[:900]
