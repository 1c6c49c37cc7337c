"""The sender stage under races and kills: real concurrent connections, a real killed process,
the real aioapns client against the loopback APNs."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from bench.common import database_url
from push import sender
from push.models import Delivery, Device
from tests.conftest import run_concurrently
from tests.fakes.tls import loopback_ca
from tests.push.conftest import apns_token, configure, drain, kill_when
from tests.push.test_sender import push_to


def many_devices(app, count: int) -> list[str]:
    Device.objects.bulk_create(
        Device(
            application=app,
            token=f"dev-{i}",
            platform=app.platform,
            channel="apns",
            channel_token=apns_token(i),
        )
        for i in range(count)
    )
    return [f"dev-{i}" for i in range(count)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_senders_racing_never_send_one_delivery_twice(ios_app, apns):
    configure(ios_app, apns)
    tokens = many_devices(ios_app, 600)
    now = timezone.now()
    push = push_to(ios_app, tokens[:300], now=now)
    push_to(ios_app, tokens[300:], now=now)
    apns.delay = 0.02  # answers take a while: both senders are mid-batch at once
    # Two senders on their own connections, released at once, each sending until nothing is
    # left.
    run_concurrently(2, lambda _: drain(now, limit=50))
    sent = Counter(r.token for r in apns.received)
    assert len(sent) == 600 and set(sent.values()) == {1}
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}
    assert push.deliveries.exclude(channel_message_id="").count() == 300


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sender_killed_while_apns_holds_its_batch_leaves_it_unknown_never_resent(
    ios_app,
    apns,
    subprocess_env,
):
    configure(ios_app, apns)
    tokens = many_devices(ios_app, 20)
    push = push_to(ios_app, tokens)
    apns.delay = 60  # APNs sits on the requests: the sender is mid-send
    env = {
        **subprocess_env,
        "DATABASE_URL": database_url(),
        "PUSH_APNS_PRODUCTION_URL": apns.url,
        "PUSH_APNS_SANDBOX_URL": apns.url,
        "PUSH_CHANNEL_CA_FILE": loopback_ca().ca_file,
        "PUSH_CHANNEL_TIMEOUT": "120",
    }
    kill_when("run_sender", env, lambda: len(apns.received) == 20, "handed its batch to APNs")
    apns.delay = 0

    assert set(push.deliveries.values_list("state", flat=True)) == {"sending"}
    # Before the lease ends nobody touches the batch; after, it is unknown, not resent.
    now = timezone.now()
    assert sender.send_batch(now)["claimed"] == 0
    later = now + sender.default_lease() + timedelta(seconds=1)
    assert sender.send_batch(later) == {"claimed": 0, "lost": 20}
    assert set(push.deliveries.values_list("state", flat=True)) == {"unknown"}
    assert sender.send_batch(later + timedelta(hours=1))["claimed"] == 0
    assert len(apns.received) == 20
