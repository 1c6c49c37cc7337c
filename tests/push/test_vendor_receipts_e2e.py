"""Receipts end to end: the push goes out through the vendor's real client to its loopback fake,
the fake posts the vendor's own receipt callback (signed as the vendor signs it) to this
server's callback URL, and the supplementary SMS decides on it. A forged receipt, or one at an
unknown address, changes nothing."""

import urllib.parse

import pytest

from push import channels, fallback, sender
from push.models import ChannelCredentials, Device
from tests.fakes.huawei import FakeHuawei
from tests.fakes.xiaomi import FakeXiaomi
from tests.push.conftest import add_device
from tests.push.test_fallback import due, outcomes, sms_push

pytestmark = pytest.mark.django_db(transaction=True)
RECEIPT_USER, RECEIPT_SECRET = "pushconsole", "huawei-receipt-key-6yB2"


@pytest.fixture
def xiaomi(settings, app, live_server):
    with FakeXiaomi() as fake:
        settings.PUSH_XIAOMI_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        settings.PUSH_RECEIPT_BASE_URL = live_server.url
        channels.store_credentials(
            app,
            "xiaomi",
            {"package_name": fake.package_name, "region": "china", "app_secret": fake.app_secret},
        )
        yield fake
    sender.LOOP.close()


@pytest.fixture
def huawei(settings, app, live_server):
    with FakeHuawei() as fake:
        settings.PUSH_HUAWEI_TOKEN_URL = fake.token_url
        settings.PUSH_HUAWEI_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        credentials = channels.store_credentials(
            app,
            "huawei",
            {
                "app_id": fake.app_id,
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "receipt_user": RECEIPT_USER,
                "receipt_secret": RECEIPT_SECRET,
            },
        )
        # Entered once in AppGallery Connect: this server's address, as the owner sees it.
        fake.callback_url = credentials.receipt_url(live_server.url)
        yield fake
    sender.LOOP.close()


def test_a_xiaomi_delivered_receipt_cancels_the_sms_of_a_trigger_1_push(app, sms, xiaomi, settings):
    add_device(app, "tok-1", channel="xiaomi", channel_token="xm-regid-1", phone="+8613711110001")
    add_device(app, "tok-2", channel="xiaomi", channel_token="xm-regid-2", phone="+8613711110002")
    push = sms_push(app, ["tok-1", "tok-2"], trigger=1)
    assert sender.send_batch()["accepted"] == 2
    [message] = xiaomi.accepted
    callback = message.fields["extra.callback"]
    assert callback.startswith(f"{settings.PUSH_RECEIPT_BASE_URL}/callbacks/push/xiaomi/")
    assert message.fields["extra.callback.param"] == str(push.pk)

    body, headers = xiaomi.receipt([("xm-regid-1", str(push.pk), 1)])
    answer = xiaomi.post(callback, body, headers)

    assert answer.status_code == 200
    fallback.sweep(due(push))
    assert outcomes(push) == {"tok-1": "not_needed", "tok-2": "sent"}
    assert push.deliveries.get(device__token="tok-1").arrival_source == "vendor"
    # The vendor retries the same callback: nothing changes.
    assert xiaomi.post(callback, body, headers).status_code == 200


def test_a_huawei_notifications_off_receipt_sends_the_sms_of_a_trigger_0_push(app, sms, huawei):
    add_device(app, "tok-1", channel="huawei", channel_token="hw-token-1", phone="+8613711110001")
    push = sms_push(app, ["tok-1"], trigger=0)
    assert sender.send_batch()["accepted"] == 1

    body, headers = huawei.receipt(
        [("hw-token-1", str(push.pk), 6)], user=RECEIPT_USER, secret=RECEIPT_SECRET
    )
    answer = huawei.post(huawei.callback_url, body, headers)

    assert answer.status_code == 200 and answer.json()["errno"] == 0
    assert not Device.objects.get(token="tok-1").notifications_enabled
    fallback.sweep(due(push))
    assert outcomes(push) == {"tok-1": "sent"}


@pytest.mark.parametrize("forgery", ["wrong secret", "unsigned", "unknown key", "other channel"])
def test_a_forged_receipt_changes_nothing(app, sms, huawei, forgery):
    add_device(app, "tok-1", channel="huawei", channel_token="hw-token-1", phone="+8613711110001")
    push = sms_push(app, ["tok-1"], trigger=0)
    sender.send_batch()
    url = huawei.callback_url
    secret = {"wrong secret": "guessed", "unsigned": ""}.get(forgery, RECEIPT_SECRET)
    if forgery == "unknown key":
        url = url[:-4] + "AAAA"
    elif forgery == "other channel":
        url = url.replace("/callbacks/push/huawei/", "/callbacks/push/honor/")
    body, headers = huawei.receipt(
        [("hw-token-1", str(push.pk), 6), ("hw-token-1", str(push.pk), 0)],
        user=RECEIPT_USER,
        secret=secret,
    )

    answer = huawei.post(url, body, headers)

    assert answer.status_code == (404 if "key" in forgery or "channel" in forgery else 403)
    device = Device.objects.get(token="tok-1")
    assert device.notifications_enabled
    assert push.deliveries.get().arrived_at is None
    fallback.sweep(due(push))
    assert outcomes(push) == {"tok-1": "not_needed"}


def test_the_receipt_key_is_not_logged(app, huawei, caplog):
    add_device(app, "tok-1", channel="huawei", channel_token="hw-token-1")
    key = ChannelCredentials.objects.get(channel="huawei").receipt_key()
    body, headers = huawei.receipt([("hw-token-1", "1", 6)], user=RECEIPT_USER, secret="guessed")
    caplog.set_level("DEBUG")

    assert huawei.post(huawei.callback_url, body, headers).status_code == 403
    assert huawei.post(huawei.callback_url, b"{not json", headers).status_code in (400, 403)

    assert key not in caplog.text
    assert urllib.parse.quote(key) not in caplog.text
