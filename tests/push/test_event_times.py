"""Event times are a device's clock: what is recorded is clamped to what can be true, never
before the delivery was sent, never after now (push.events), on both update paths."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from push import events
from push.models import Delivery
from tests.push.conftest import add_device
from tests.push.test_events import update_path  # noqa: F401  (the fixture, both paths)
from tests.push.test_fanout import make_push


@pytest.fixture
def sent(app):
    device = add_device(app, "tok-a")
    push = make_push(app, "token", {"token_list": ["tok-a"]})
    delivery = Delivery.objects.get(push=push, device=device)
    assert delivery.sent_at is not None
    return device, push, delivery


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", 0, "1970-01-01T00:00:00Z"],
)
def test_a_time_before_the_push_was_sent_is_taken_as_the_time_it_was_sent(
    update_path,  # noqa: F811
    sent,
    at,
):
    device, push, delivery = sent
    now = timezone.now() + timedelta(minutes=5)
    events.record(
        device,
        [
            {"push_id": push.push_id, "type": "arrive", "at": at},
            {"push_id": push.push_id, "type": "click", "at": at},
        ],
        now,
    )
    delivery.refresh_from_db()
    assert delivery.arrived_at == delivery.sent_at
    assert delivery.clicked_at == delivery.sent_at
    assert delivery.dismissed_at is None  # not reported: stays empty
    assert delivery.state == Delivery.State.CLICKED


def test_a_time_in_the_future_is_taken_as_now(update_path, sent):  # noqa: F811
    device, push, delivery = sent
    now = timezone.now() + timedelta(minutes=5)
    events.record(device, [{"push_id": push.push_id, "type": "arrive", "at": "9999-01-01"}], now)
    delivery.refresh_from_db()
    assert delivery.arrived_at == now


def test_a_time_between_sending_and_now_is_kept(update_path, sent):  # noqa: F811
    device, push, delivery = sent
    at = delivery.sent_at + timedelta(seconds=7)
    events.record(
        device, [{"push_id": push.push_id, "type": "arrive", "at": at}], at + timedelta(1)
    )
    delivery.refresh_from_db()
    assert delivery.arrived_at == at


def test_the_sdk_api_stores_no_arrival_before_the_push_was_sent(client, app, sent):
    device, push, delivery = sent
    response = client.post(
        "/sdk/v1/events",
        {
            "token": "tok-a",
            "events": [{"push_id": push.push_id, "type": "arrive", "at": "0001-01-01T00:00:00Z"}],
        },
        content_type="application/json",
        headers={"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key},
    )
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.arrived_at == delivery.sent_at
    assert delivery.arrived_at > datetime(2000, 1, 1, tzinfo=UTC)
