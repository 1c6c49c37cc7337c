"""An application's channel credentials (APNs, FCM) in the console and the management API:
stored sealed and never shown or logged, replaced (the rotation), removed, changed by owners
and admins only, and tried with the Test action against the loopback APNs and FCM fakes."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKeyPair, Membership, Role
from push import channels, sender
from push.channels import store_credentials, trial
from push.models import Application, ChannelCredentials, Device, Platform
from tests.conftest import basic_auth, make_user
from tests.fakes.apns import FakeApns, apns_key
from tests.fakes.fcm import FakeFcm
from tests.fakes.tls import loopback_ca
from tests.push.conftest import add_device, outsider_app

TEAM_ID = "TEAM123456"
TOPIC = "com.acme.ios"
APNS_TOKEN = "a1" * 32
OTHER_APNS_TOKEN = "b2" * 32
FCM_TOKEN = "fcm-token-1:APA91bH" + "x" * 40


# The world ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_clients():
    """Each test's channel clients point at its own fakes: close the ones it opened."""
    yield
    sender.LOOP.close()


@pytest.fixture
def ios_app(personas):
    app, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    return app


@pytest.fixture
def apns(settings):
    """A fake APNs trusting two keys of the team (a first upload and its rotation)."""
    first, second = apns_key(), apns_key()
    with FakeApns(
        keys={first[1]: first[0], second[1]: second[0]}, team_id=TEAM_ID, topics=[TOPIC]
    ) as fake:
        settings.PUSH_APNS_PRODUCTION_URL = fake.url
        settings.PUSH_APNS_SANDBOX_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file
        fake.keys_given = [first, second]
        yield fake


@pytest.fixture
def fcm(settings):
    with FakeFcm(project_id="acme-android") as fake:
        settings.PUSH_FCM_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        yield fake


@pytest.fixture
def devices(app, ios_app):
    """An iPhone on APNs, one on the built-in channel, an Android phone on FCM; their tokens
    were registered yesterday."""
    yesterday = timezone.now() - timedelta(days=1)
    on = {"channel_token_at": yesterday}
    return {
        "iphone": add_device(ios_app, "iphone0001", channel="apns", channel_token=APNS_TOKEN, **on),
        "builtin": add_device(ios_app, "iphone0002"),
        "android": add_device(app, "android0001", channel="fcm", channel_token=FCM_TOKEN, **on),
    }


def apns_form(key_and_id, **fields):
    key, key_id = key_and_id
    return {
        "key": key,
        "key_id": key_id,
        "team_id": TEAM_ID,
        "topic": TOPIC,
        "environment": "production",
        **fields,
    }


def fcm_form(fcm, **fields):
    return {"service_account": json.dumps(fcm.service_account()), "project_id": "", **fields}


def configure_apns(app, apns, which=0, by=None):
    config, errors = channels.module("apns").check_credentials(apns_form(apns.keys_given[which]))
    assert not errors, errors
    return store_credentials(app, "apns", config, by=by)


def configure_fcm(app, fcm, by=None):
    config, errors = channels.module("fcm").check_credentials(fcm_form(fcm))
    assert not errors, errors
    return store_credentials(app, "fcm", config, by=by)


def secret_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM key: any one of them on a page or in a log is a leak."""
    return [line for line in pem.strip().splitlines() if line and not line.startswith("-----")]


def assert_not_shown(text: str, pem: str) -> None:
    for line in secret_lines(pem):
        assert line not in text
        assert line.replace("/", "\\/") not in text  # as JSON may escape it


def api(user) -> Client:
    key, secret = ApiKeyPair.objects.issue(user)
    return Client(HTTP_AUTHORIZATION=basic_auth(key.secret_id, secret))


def member(personas, username, role):
    user = make_user(username)
    Membership.objects.create(user=user, account=personas.org, role=role)
    return user


def app_page(client, app):
    return client.get(f"/a/{app.account_id}/push/applications/{app.pk}/")


def channel_url(app, kind, action=""):
    return f"/a/{app.account_id}/push/applications/{app.pk}/channels/{kind}/{action}"


def api_url(app, kind="", action=""):
    path = f"/api/v1/push/applications/{app.pk}/channels"
    return path + (f"/{kind}" if kind else "") + (f"/{action}" if action else "")


def text(response) -> str:
    return response.content.decode()


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# Storing, showing, rotating -----------------------------------------------------------------


def test_an_owner_uploads_an_apns_key_file_and_the_key_is_sealed_and_never_shown(
    login, personas, ios_app, apns
):
    client = login(personas.owner)
    key, key_id = apns.keys_given[0]

    response = client.post(
        channel_url(ios_app, "apns"),
        {
            **apns_form((key, key_id), key=""),
            "key_file": SimpleUploadedFile(f"AuthKey_{key_id}.p8", key.encode()),
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0].endswith(f"/applications/{ios_app.pk}/#channels")
    credentials = ChannelCredentials.objects.get(application=ios_app, channel="apns")
    assert credentials.config()["key"].strip() == key.strip()
    assert credentials.updated_by == personas.owner
    assert credentials.details["key_id"] == key_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM push_channelcredentials WHERE id = %s", [credentials.pk])
        assert_not_shown(" ".join(str(value) for value in cursor.fetchone()), key)
    page = text(response)
    for shown in (key_id, TEAM_ID, TOPIC, "production", credentials.fingerprint, "olivia"):
        assert shown in page
    assert_not_shown(page, key)
    assert_not_shown(text(client.get(channel_url(ios_app, "apns"))), key)


def test_replacing_credentials_rotates_them_and_no_page_or_answer_shows_either_secret(
    login, personas, ios_app, apns, devices
):
    client = login(personas.owner)
    old, new = apns.keys_given
    client.post(channel_url(ios_app, "apns"), apns_form(old), follow=True)
    before = ChannelCredentials.objects.get(application=ios_app, channel="apns")
    first_answer = trial.send_test(before, devices["iphone"])[0]

    client.post(channel_url(ios_app, "apns"), apns_form(new), follow=True)

    after = ChannelCredentials.objects.get(application=ios_app, channel="apns")
    assert after.pk == before.pk, "replaced, not added"
    assert after.fingerprint != before.fingerprint
    assert after.config()["key"].strip() == new[0].strip()
    assert after.details["key_id"] == new[1]
    # The next send signs with the new key: the cached client of the old one was dropped.
    second_answer = trial.send_test(after, devices["iphone"])[0]
    assert (first_answer.result, second_answer.result) == ("accepted", "accepted")
    assert [r.jwt_header["kid"] for r in apns.received] == [old[1], new[1]]
    owner_api = api(personas.owner)
    everything = " ".join(
        text(r)
        for r in (
            app_page(client, ios_app),
            client.get(channel_url(ios_app, "apns")),
            owner_api.get(api_url(ios_app)),
            owner_api.get(api_url(ios_app, "apns")),
        )
    )
    assert after.fingerprint in everything and before.fingerprint not in everything
    assert_not_shown(everything, old[0])
    assert_not_shown(everything, new[0])


def test_the_api_stores_then_replaces_credentials_and_answers_without_the_secret(
    personas, app, fcm
):
    owner = api(personas.owner)
    account = fcm.service_account()

    created = owner.put(
        api_url(app, "fcm"), {"service_account": account}, content_type="application/json"
    )
    fresh = fcm.service_account(fresh=True)
    replaced = owner.put(
        api_url(app, "fcm"),
        {"service_account": json.dumps(fresh), "project_id": "acme-android"},
        content_type="application/json",
    )
    listed = owner.get(api_url(app))

    assert (created.status_code, replaced.status_code, listed.status_code) == (201, 200, 200)
    assert created.json()["fingerprint"] != replaced.json()["fingerprint"]
    [shown] = listed.json()
    assert shown["channel"] == "fcm" and shown["updated_by"] == "olivia"
    assert shown["details"] == {
        "project_id": "acme-android",
        "client_email": fresh["client_email"],
        "private_key_id": fresh["private_key_id"],
    }
    for response in (created, replaced, listed):
        assert_not_shown(text(response), account["private_key"])
        assert_not_shown(text(response), fresh["private_key"])
    stored = ChannelCredentials.objects.get(application=app, channel="fcm")
    assert stored.config()["service_account"]["private_key"] == fresh["private_key"]


def test_no_secret_reaches_the_logs_during_upload_and_test(
    caplog, login, personas, app, ios_app, fcm, apns, devices
):
    caplog.set_level(logging.DEBUG)
    key, _ = apns.keys_given[0]
    account = fcm.service_account()
    client = login(personas.owner)

    client.post(channel_url(ios_app, "apns"), apns_form(apns.keys_given[0]))
    client.post(channel_url(app, "fcm"), fcm_form(fcm))
    api(personas.owner).put(
        api_url(app, "fcm"), {"service_account": account}, content_type="application/json"
    )
    client.post(channel_url(ios_app, "apns", "test"), {"device": devices["iphone"].pk})
    client.post(channel_url(app, "fcm", "test"), {"device": devices["android"].pk})

    assert "apns credentials stored" in caplog.text, "the audit line was logged"
    assert "channel test: application" in caplog.text
    assert len(apns.received) == 1 and len(fcm.received) == 1, "the tests were sent"
    assert_not_shown(caplog.text, key)
    assert_not_shown(caplog.text, account["private_key"])


# Bad uploads ----------------------------------------------------------------------------------


def test_a_bad_key_is_a_field_error_in_the_console_and_is_not_sent_back(
    login, personas, ios_app, apns
):
    key, key_id = apns.keys_given[0]
    broken = key.replace(secret_lines(key)[1], secret_lines(key)[1][::-1])

    response = login(personas.owner).post(channel_url(ios_app, "apns"), apns_form((broken, key_id)))

    assert response.status_code == 200
    form = response.context["form"]
    assert "key" in form.errors, form.errors
    assert not ChannelCredentials.objects.exists()
    assert_not_shown(text(response), broken)
    assert key_id in text(response), "the fields that are not secret are kept"


@pytest.mark.parametrize(
    ("upload", "error"),
    [
        (b"\xff\xfe not text", "not text"),
        (b"x" * (64 * 1024 + 1), "larger than"),
    ],
    ids=["not utf-8", "too large"],
)
def test_a_file_that_is_no_key_file_is_refused_on_the_upload_field(
    login, personas, ios_app, apns, upload, error
):
    response = login(personas.owner).post(
        channel_url(ios_app, "apns"),
        {**apns_form(apns.keys_given[0], key=""), "key_file": SimpleUploadedFile("k.p8", upload)},
    )

    assert error in " ".join(response.context["form"].errors["key_file"])
    assert not ChannelCredentials.objects.exists()


def test_a_service_account_that_is_not_json_is_a_field_error_in_the_console(
    login, personas, app, fcm
):
    response = login(personas.owner).post(
        channel_url(app, "fcm"),
        {"service_account_file": SimpleUploadedFile("key.json", b"{not json")},
    )

    assert "service_account" in response.context["form"].errors
    assert not ChannelCredentials.objects.exists()


def test_apns_credentials_are_refused_for_an_android_application(login, personas, app, apns):
    response = login(personas.owner).post(channel_url(app, "apns"), apns_form(apns.keys_given[0]))

    assert "iOS devices only" in " ".join(response.context["form"].non_field_errors())
    assert not ChannelCredentials.objects.exists()


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("apns", {"key": "not a key"}, "key"),
        ("apns", {"environment": "staging"}, "environment"),
        ("apns", {"service_account": {"type": "service_account"}}, "service_account"),
        ("fcm", {"service_account": "{not json"}, "service_account"),
        ("fcm", {"service_account": 42}, "service_account"),
        ("fcm", {"key": "x"}, "key"),
    ],
    ids=["bad key", "bad environment", "fcm field on apns", "not json", "a number", "apns field"],
)
def test_a_bad_api_upload_is_a_400_naming_the_field(
    personas, ios_app, apns, fcm, kind, body, field
):
    base = apns_form(apns.keys_given[0]) if kind == "apns" else {}

    response = api(personas.owner).put(
        api_url(ios_app, kind), {**base, **body}, content_type="application/json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert not ChannelCredentials.objects.exists()


# Roles and scoping ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_members_below_admin_see_the_channels_read_only_and_cannot_change_them(
    login, personas, ios_app, apns, devices, role
):
    credentials = configure_apns(ios_app, apns)
    client = login(member(personas, "mia", role))

    page = app_page(client, ios_app)
    channel_page = client.get(channel_url(ios_app, "apns"))
    writes = [
        client.post(channel_url(ios_app, "apns"), apns_form(apns.keys_given[1])),
        client.post(channel_url(ios_app, "apns", "remove")),
        client.post(channel_url(ios_app, "apns", "test"), {"device": devices["iphone"].pk}),
    ]

    assert page.status_code == channel_page.status_code == 200
    assert credentials.fingerprint in text(page) and TEAM_ID in text(page)
    assert 'id="test-apns"' not in text(page) and 'id="remove-apns"' not in text(page)
    assert channel_page.context["form"] is None
    assert [w.status_code for w in writes] == [403, 403, 403]
    assert ChannelCredentials.objects.get().fingerprint == credentials.fingerprint
    assert apns.received == []


def test_an_admin_may_change_them(login, personas, ios_app, apns):
    client = login(member(personas, "ada", Role.ADMIN))

    client.post(channel_url(ios_app, "apns"), apns_form(apns.keys_given[0]))

    assert ChannelCredentials.objects.get().details["key_id"] == apns.keys_given[0][1]
    assert 'id="test-apns"' in text(app_page(client, ios_app))


def test_an_outsider_gets_404_for_every_channel_page(login, personas, ios_app, apns, devices):
    configure_apns(ios_app, apns)
    client = login(personas.outsider)
    # Their own account's URL, our application: still no such application.
    theirs = outsider_app(personas)
    ours_under_theirs = f"/a/{theirs.account_id}/push/applications/{ios_app.pk}/channels/apns/"

    responses = [
        client.get(channel_url(ios_app, "apns")),
        client.post(channel_url(ios_app, "apns"), apns_form(apns.keys_given[1])),
        client.post(channel_url(ios_app, "apns", "remove")),
        client.post(channel_url(ios_app, "apns", "test"), {"device": devices["iphone"].pk}),
        client.get(ours_under_theirs),
        client.post(ours_under_theirs + "remove"),
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert ChannelCredentials.objects.count() == 1 and apns.received == []


def test_api_roles_viewers_read_admins_write_outsiders_see_nothing(
    personas, viewer, ios_app, apns, devices
):
    configure_apns(ios_app, apns)
    body = apns_form(apns.keys_given[1])
    test_body = {"device_token": devices["iphone"].token}

    def calls(client):
        return [
            client.get(api_url(ios_app)).status_code,
            client.get(api_url(ios_app, "apns")).status_code,
            client.put(api_url(ios_app, "apns"), body, content_type="application/json").status_code,
            client.delete(api_url(ios_app, "apns")).status_code,
            client.post(
                api_url(ios_app, "apns", "test"), test_body, content_type="application/json"
            ).status_code,
        ]

    assert calls(api(viewer)) == [200, 200, 403, 403, 403]
    assert calls(api(personas.member)) == [200, 200, 403, 403, 403]
    assert calls(api(personas.outsider)) == [404] * 5
    assert ChannelCredentials.objects.get().details["key_id"] == apns.keys_given[0][1]
    assert apns.received == []


def test_an_unknown_channel_is_a_404(login, personas, ios_app):
    assert login(personas.owner).get(channel_url(ios_app, "pigeon")).status_code == 404
    response = api(personas.owner).get(api_url(ios_app, "builtin"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


# The Test action ------------------------------------------------------------------------------


def test_a_test_through_apns_is_accepted_and_said_so_on_the_page(
    login, personas, ios_app, apns, devices
):
    configure_apns(ios_app, apns)

    response = login(personas.owner).post(
        channel_url(ios_app, "apns", "test"), {"device": devices["iphone"].pk}, follow=True
    )

    [received] = apns.received
    assert received.token == APNS_TOKEN and received.status == 200
    assert received.headers["apns-topic"] == TOPIC
    [message] = shown_messages(response)
    assert "accepted" in message and "iphone0001" in message
    assert response.redirect_chain[-1][0].endswith("#channels")


def test_a_test_through_fcm_by_token_in_the_api_answers_accepted_with_the_message_id(
    personas, app, fcm, devices
):
    configure_fcm(app, fcm)

    response = api(personas.owner).post(
        api_url(app, "fcm", "test"),
        {"device_token": devices["android"].token},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    answer = response.json()
    [received] = fcm.received
    assert received.token == FCM_TOKEN and received.status == 200
    assert answer["result"] == "accepted" and answer["pruned"] is False
    assert answer["message_id"].startswith("projects/acme-android/messages/")
    assert answer["message_id"] in answer["description"]


def test_a_410_unregistered_answer_prunes_the_token_and_says_so(personas, ios_app, apns, devices):
    configure_apns(ios_app, apns)
    apns.answer(APNS_TOKEN, 410, "Unregistered", timestamp=int(timezone.now().timestamp() * 1000))

    response = api(personas.owner).post(
        api_url(ios_app, "apns", "test"),
        {"device_token": devices["iphone"].token},
        content_type="application/json",
    )

    answer = response.json()
    assert (answer["result"], answer["reason"], answer["pruned"]) == (
        "refused",
        "Unregistered",
        True,
    )
    assert "marked the device's token invalid" in answer["description"]
    iphone = Device.objects.get(pk=devices["iphone"].pk)
    assert iphone.channel_token_invalid_at is not None
    assert iphone.channel_token_invalid_reason == "Unregistered"


def test_an_unregistered_fcm_token_is_pruned_and_the_console_says_so(
    login, personas, app, fcm, devices
):
    configure_fcm(app, fcm)
    fcm.answer(FCM_TOKEN, "UNREGISTERED")

    response = login(personas.owner).post(
        channel_url(app, "fcm", "test"), {"device_token": "android0001"}, follow=True
    )

    [message] = shown_messages(response)
    assert "refused (UNREGISTERED)" in message and "marked the device's token invalid" in message
    assert Device.objects.get(pk=devices["android"].pk).channel_token_invalid_at is not None


def test_a_device_on_another_channel_is_refused_clearly_and_nothing_is_sent(
    login, personas, ios_app, apns, devices
):
    configure_apns(ios_app, apns)

    answer = api(personas.owner).post(
        api_url(ios_app, "apns", "test"),
        {"device_token": devices["builtin"].token},
        content_type="application/json",
    )
    page = login(personas.owner).post(
        channel_url(ios_app, "apns", "test"), {"device_token": "iphone0002"}, follow=True
    )

    assert answer.status_code == 400
    [reason] = answer.json()["error"]["fields"]["device_token"]
    assert "on the Built-in (SDK long-poll) channel, not on Apple Push" in reason
    [message] = shown_messages(page)
    assert "Test not sent" in message and "not on Apple Push" in message
    assert apns.received == []


def test_a_token_refused_before_is_not_tested_again_and_the_refusal_says_when_and_why(
    personas, ios_app, apns, devices
):
    configure_apns(ios_app, apns)
    Device.objects.filter(pk=devices["iphone"].pk).update(
        channel_token_invalid_at=timezone.now(), channel_token_invalid_reason="BadDeviceToken"
    )

    answer = api(personas.owner).post(
        api_url(ios_app, "apns", "test"),
        {"device_token": devices["iphone"].token},
        content_type="application/json",
    )

    [reason] = answer.json()["error"]["fields"]["device_token"]
    assert "refused for good on" in reason and "BadDeviceToken" in reason
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", reason)
    assert apns.received == []


def test_a_test_needs_credentials_and_a_device_of_the_app(personas, ios_app, apns, devices):
    owner = api(personas.owner)
    body = {"device_token": devices["iphone"].token}

    unconfigured = owner.post(
        api_url(ios_app, "apns", "test"), body, content_type="application/json"
    )
    configure_apns(ios_app, apns)
    not_ours = owner.post(
        api_url(ios_app, "apns", "test"),
        {"device_token": devices["android"].token},
        content_type="application/json",
    )

    assert unconfigured.status_code == 404
    assert not_ours.status_code == 400 and "device_token" in not_ours.json()["error"]["fields"]
    assert apns.received == []


# Removal --------------------------------------------------------------------------------------


def test_removing_credentials_in_the_console_deletes_them(login, personas, ios_app, apns):
    configure_apns(ios_app, apns)
    client = login(personas.owner)

    response = client.post(channel_url(ios_app, "apns", "remove"), follow=True)

    assert not ChannelCredentials.objects.exists()
    assert channels.configured(ios_app.pk) == set()
    [message] = shown_messages(response)
    assert "removed" in message
    assert "not configured" in text(response)


def test_removing_credentials_in_the_api_is_a_204_then_a_404(personas, app, fcm):
    configure_fcm(app, fcm)
    owner = api(personas.owner)

    first, second = owner.delete(api_url(app, "fcm")), owner.delete(api_url(app, "fcm"))

    assert (first.status_code, second.status_code) == (204, 404)
    assert owner.get(api_url(app)).json() == []
