"""A device registers with its channel (APNs, FCM or the built-in one) and that channel's token
beside our own token; the latest registration wins; bad tokens get a field error."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from lib.masking import mask_token
from push.models import Application, Device, Platform
from tests.push.test_sdk_api import REGISTER, Sdk, error_of

APNS_TOKEN = "a1" * 32  # 32 bytes in hex
FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "x" * 140


@pytest.fixture
def ios_app(personas):
    app, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    return app


def register(client, app, **fields):
    return Sdk(client, app).post("register", {**REGISTER, "platform": app.platform, **fields})


def test_a_new_device_without_a_channel_uses_the_builtin_one(client, app):
    answer = register(client, app).json()
    device = Device.objects.get(token=answer["token"])
    assert (answer["channel"], device.channel, device.channel_token) == ("builtin", "builtin", "")


def test_an_ios_device_registers_with_its_apns_token(client, ios_app):
    answer = register(client, ios_app, channel="apns", channel_token=APNS_TOKEN).json()
    device = Device.objects.get(token=answer["token"])
    assert (device.channel, device.channel_token) == ("apns", APNS_TOKEN)
    assert device.channel_token_at is not None
    assert len(answer["token"]) == 36, "our own token stays the device's identity"


def test_an_android_device_registers_with_its_fcm_token(client, app):
    answer = register(client, app, channel="fcm", channel_token=FCM_TOKEN).json()
    assert Device.objects.get(token=answer["token"]).channel_token == FCM_TOKEN


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "apns", "channel_token": APNS_TOKEN}, "channel"),  # Android app
        ({"channel": "fcm", "channel_token": ""}, "channel_token"),
        ({"channel": "fcm", "channel_token": "has space"}, "channel_token"),
        ({"channel": "fcm", "channel_token": "x" * 4097}, "channel_token"),
        ({"channel": "builtin", "channel_token": FCM_TOKEN}, "channel_token"),
        ({"channel_token": FCM_TOKEN}, "channel"),
        ({"channel": "pigeon", "channel_token": FCM_TOKEN}, "channel"),
    ],
)
def test_a_bad_channel_or_token_is_a_field_error_and_registers_nothing(client, app, fields, field):
    response = register(client, app, **fields)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "token",
    ["a1" * 31, "a1" * 32 + "a", "g1" * 32, "a1" * 101],
    ids=["short", "odd", "not hex", "long"],
)
def test_an_apns_token_is_hex_of_32_to_100_bytes(client, ios_app, token):
    response = register(client, ios_app, channel="apns", channel_token=token)
    assert response.status_code == 400
    assert "channel_token" in error_of(response)["fields"]


def test_the_latest_registration_wins_and_a_new_token_clears_a_refusal(client, ios_app):
    token = register(client, ios_app, channel="apns", channel_token=APNS_TOKEN).json()["token"]
    Device.objects.filter(token=token).update(
        channel_token_invalid_at=timezone.now() - timedelta(hours=1),
        channel_token_invalid_reason="Unregistered",
    )
    register(client, ios_app, token=token, app_version="2.2.0")  # no channel: kept, still invalid
    device = Device.objects.get(token=token)
    assert (device.channel_token, device.channel_token_invalid_reason) == (
        APNS_TOKEN,
        "Unregistered",
    )

    newer = "b2" * 32
    register(client, ios_app, token=token, channel="apns", channel_token=newer)
    device.refresh_from_db()
    assert (device.channel_token, device.channel_token_invalid_at) == (newer, None)
    assert device.channel_token_invalid_reason == ""

    register(client, ios_app, token=token, channel="fcm", channel_token=FCM_TOKEN)
    register(client, ios_app, token=token, channel="builtin")
    device.refresh_from_db()
    assert (device.channel, device.channel_token, device.channel_token_at) == ("builtin", "", None)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_the_device_page_shows_the_channel_and_its_token_masked_for_viewers(
    client, ios_app, personas, role
):
    from tests.test_masking import console

    token = register(client, ios_app, channel="apns", channel_token=APNS_TOKEN).json()["token"]
    device = Device.objects.get(token=token)
    Device.objects.filter(pk=device.pk).update(
        channel_token_invalid_at=timezone.now(), channel_token_invalid_reason="BadDeviceToken"
    )

    page = console(personas, role).get(f"/a/{personas.org.pk}/push/devices/{device.pk}/")

    text = page.content.decode()
    assert "Apple Push Notification service" in text
    assert "BadDeviceToken" in text
    assert (APNS_TOKEN in text) is (role != Role.VIEWER)
    assert (mask_token(APNS_TOKEN) in text) is (role == Role.VIEWER)
