"""The sender stage with a vendor that takes a thousand tokens a request (Huawei), under races and
kills: real concurrent connections, a real killed process, the real client against the
loopback fake. One request carries many deliveries, so a lost request leaves all of them
unknown, never resent."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from bench.common import database_url
from push import channels, sender
from push.models import Delivery, Device
from tests.conftest import run_concurrently
from tests.fakes.huawei import FakeHuawei
from tests.push.conftest import drain, kill_when
from tests.push.test_sender import push_to

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def huawei(settings, app):
    with FakeHuawei() as fake:
        settings.PUSH_HUAWEI_TOKEN_URL = fake.token_url
        settings.PUSH_HUAWEI_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        channels.store_credentials(
            app,
            "huawei",
            {
                "app_id": fake.app_id,
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "receipt_user": "",
                "receipt_secret": "",
            },
        )
        yield fake
    sender.LOOP.close()


def on_huawei(app, count: int) -> list[str]:
    Device.objects.bulk_create(
        Device(
            application=app,
            token=f"dev-{i}",
            platform=app.platform,
            channel="huawei",
            channel_token=f"hw-token-{i:05d}",
        )
        for i in range(count)
    )
    return [f"dev-{i}" for i in range(count)]


def test_two_senders_racing_never_send_one_huawei_delivery_twice(app, huawei):
    tokens = on_huawei(app, 2400)
    now = timezone.now()
    push_to(app, tokens[:1200], now=now)
    push_to(app, tokens[1200:], now=now)
    huawei.delay = 0.05  # both senders are mid-request at once
    # Two senders on their own connections, released at once, each sending until nothing is
    # left.
    run_concurrently(2, lambda _: drain(now, limit=300))
    sent = Counter(token for item in huawei.accepted for token in item.tokens)
    assert len(sent) == 2400 and set(sent.values()) == {1}
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_a_sender_killed_while_huawei_holds_its_request_leaves_it_unknown_never_resent(
    app, huawei, subprocess_env
):
    tokens = on_huawei(app, 1500)
    push = push_to(app, tokens)
    huawei.delay = 60  # Huawei sits on the requests: the sender is mid-send
    env = {
        **subprocess_env,
        "DATABASE_URL": database_url(),
        "PUSH_HUAWEI_TOKEN_URL": huawei.token_url,
        "PUSH_HUAWEI_URL": huawei.url,
        "PUSH_CHANNEL_CA_FILE": huawei.ca_file,
        "PUSH_CHANNEL_TIMEOUT": "120",
        "PUSH_SEND_BATCH_SIZE": "1500",
    }
    kill_when(
        "run_sender",
        env,
        lambda: sum(len(item.tokens) for item in huawei.accepted) == 1500,
        "handed its batch to Huawei (two requests)",
    )
    huawei.delay = 0

    assert set(push.deliveries.values_list("state", flat=True)) == {"sending"}
    now = timezone.now()
    assert sender.send_batch(now)["claimed"] == 0
    later = now + sender.default_lease() + timedelta(seconds=1)
    assert sender.send_batch(later, limit=2000) == {"claimed": 0, "lost": 1500}
    assert set(push.deliveries.values_list("state", flat=True)) == {"unknown"}
    assert sender.send_batch(later + timedelta(hours=1))["claimed"] == 0
    assert sum(len(item.tokens) for item in huawei.accepted) == 1500
