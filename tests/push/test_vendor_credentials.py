"""The phone makers' channel credentials in the console and the management API, as APNs's and
FCM's are: their fields as each module lists them, secrets sealed and never shown, field errors
named, the receipt address for owners and admins only (kept across a rotation), and the Test
action through the real client against the loopback fake (OPPO here)."""

import pytest

from accounts.models import Role
from push import channels, sender
from push.models import ChannelCredentials
from tests.fakes.oppo import FakeOppo
from tests.push.conftest import add_device
from tests.push.test_channel_credentials import (
    api,
    api_url,
    app_page,
    channel_url,
    member,
    text,
)

OPPO_TOKEN = "OPPO_CN_7f3c2a9e1b4d6f80a1c3e5b7d9f1a3c5"


@pytest.fixture
def oppo(settings):
    with FakeOppo() as fake:
        settings.PUSH_OPPO_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        yield fake
    sender.LOOP.close()


def oppo_form(oppo) -> dict:
    config = oppo.config()
    config.pop("receipt_url")
    return config


def test_the_api_stores_oppo_credentials_sealed_and_shows_the_receipt_url_to_admins(
    personas, app, oppo
):
    owner = api(personas.owner)
    viewer = api(member(personas, "vera", Role.VIEWER))

    created = owner.put(api_url(app, "oppo"), oppo_form(oppo), content_type="application/json")
    shown = viewer.get(api_url(app, "oppo"))

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["details"] == {"app_id": oppo.app_id, "app_key": oppo.app_key}
    assert oppo.master_secret not in text(created) + text(shown)
    stored = ChannelCredentials.objects.get(application=app, channel="oppo")
    assert stored.config()["master_secret"] == oppo.master_secret
    key = stored.receipt_key()
    assert body["receipt_url"].endswith(f"/callbacks/push/oppo/{key}")
    assert shown.json()["receipt_url"] is None  # a viewer never sees the key
    assert key not in text(shown)

    # Replacing the secret (the rotation) keeps the receipt address the vendor may hold.
    replaced = owner.put(
        api_url(app, "oppo"),
        {**oppo_form(oppo), "master_secret": "rotated-master-secret"},
        content_type="application/json",
    )
    assert replaced.status_code == 200
    assert replaced.json()["fingerprint"] != body["fingerprint"]
    assert replaced.json()["receipt_url"] == body["receipt_url"]


def test_a_bad_vendor_upload_is_a_400_naming_each_field(personas, app, oppo):
    owner = api(personas.owner)

    missing = owner.put(
        api_url(app, "oppo"), {"app_id": oppo.app_id}, content_type="application/json"
    )
    foreign = owner.put(
        api_url(app, "oppo"),
        {**oppo_form(oppo), "package_name": "com.example"},  # vivo's and Xiaomi's, not OPPO's
        content_type="application/json",
    )

    assert missing.status_code == 400
    assert {"app_key", "master_secret"} <= set(missing.json()["error"]["fields"])
    assert foreign.status_code == 400 and "package_name" in foreign.json()["error"]["fields"]
    assert not ChannelCredentials.objects.filter(channel="oppo").exists()


def test_an_ios_app_cannot_take_a_vendor_channel_and_its_page_does_not_list_them(
    login,
    personas,
    ios_app,
    oppo,
):
    refused = api(personas.owner).put(
        api_url(ios_app, "oppo"), oppo_form(oppo), content_type="application/json"
    )
    page = text(app_page(login(personas.owner), ios_app))

    assert refused.status_code == 400
    assert 'id="channel-oppo"' not in page and 'id="channel-huawei"' not in page


def test_the_console_form_of_a_vendor_takes_its_fields_and_never_renders_the_secret(
    login, personas, app, oppo
):
    client = login(personas.owner)
    page = text(app_page(client, app))
    for kind in ("huawei", "xiaomi", "oppo", "vivo", "honor", "meizu"):
        assert f'id="channel-{kind}"' in page

    form = text(client.get(channel_url(app, "oppo")))
    assert 'name="app_key"' in form and 'name="master_secret"' in form
    assert 'type="password"' in form

    bad = client.post(channel_url(app, "oppo"), {"app_id": oppo.app_id, "master_secret": "x"})
    assert bad.status_code == 200 and "app_key" in bad.context["form"].errors
    assert not ChannelCredentials.objects.filter(channel="oppo").exists()
    assert 'value="x"' not in text(bad)

    saved = client.post(channel_url(app, "oppo"), oppo_form(oppo))
    assert saved.status_code == 302
    card = text(app_page(client, app))
    stored = ChannelCredentials.objects.get(application=app, channel="oppo")
    assert stored.receipt_key() in card  # owners see the receipt address
    assert oppo.master_secret not in card
    viewer = login(member(personas, "vera", Role.VIEWER))
    assert stored.receipt_key() not in text(app_page(viewer, app))


def test_a_test_through_oppo_is_accepted_and_said_so(login, personas, app, oppo):
    config, errors = channels.module("oppo").check_credentials(oppo_form(oppo))
    assert not errors, errors
    channels.store_credentials(app, "oppo", config)
    device = add_device(app, "android0001", channel="oppo", channel_token=OPPO_TOKEN)

    answer = api(personas.owner).post(
        api_url(app, "oppo", "test"),
        {"device_token": device.token},
        content_type="application/json",
    )

    assert answer.status_code == 200, answer.json()
    assert answer.json()["result"] == "accepted"
    [(token, _)] = [(t, m) for t, m in oppo.accepted]
    assert token == OPPO_TOKEN
