"""TPNS's ``push_speed``: an all/tag/package push fans out at most that many deliveries a
second, chunk by chunk, on a clock the test moves (no sleeping); a long paced fan-out hands on
to a new task rather than outliving the cluster's task timeout."""

from datetime import UTC, datetime, timedelta

import pytest

from push import fanout
from push.models import Device, Push
from tests.push.conftest import SteppedClock

NOW = datetime(2030, 1, 7, 3, 0, tzinfo=UTC)


def devices(app, count: int) -> None:
    Device.objects.bulk_create(
        Device(application=app, token=f"dev-{i:05d}", platform=app.platform) for i in range(count)
    )


def broadcast(app, **options) -> Push:
    push = Push(
        application=app,
        audience_type="all",
        message_type="notify",
        title="t",
        content="c",
        options=options,
    )
    push.save()
    return push


def test_a_push_speed_of_1000_writes_1000_deliveries_a_second(app):
    devices(app, 2500)
    push = broadcast(app, push_speed=1000)
    clock = SteppedClock()

    assert fanout.start(push.pk, now=NOW, clock=clock, sleep=clock.sleep)

    push.refresh_from_db()
    assert (push.status, push.targets) == ("PUSH_FINISHED", 2500)
    assert clock.slept == [1.0, 1.0]
    # Each chunk is written a second after the one before.
    written = sorted(push.deliveries.values_list("created_at", flat=True))
    assert written[0] == NOW and written[999] == NOW
    assert written[1000] == NOW + timedelta(seconds=1)
    assert written[-1] == NOW + timedelta(seconds=2)


def test_the_time_a_chunk_takes_counts_towards_its_second(app, monkeypatch):
    devices(app, 2000)
    push = broadcast(app, push_speed=1000)
    clock = SteppedClock()
    original = fanout.fan_out

    def slow_fan_out(*args, **kwargs):
        clock.t += 0.25  # writing a chunk takes a quarter of a second
        return original(*args, **kwargs)

    monkeypatch.setattr(fanout, "fan_out", slow_fan_out)
    fanout.start(push.pk, now=NOW, clock=clock, sleep=clock.sleep)
    assert clock.slept == [0.75, 0.75]


def test_without_push_speed_a_push_is_written_at_once(app):
    devices(app, 2500)
    push = broadcast(app)
    clock = SteppedClock()
    fanout.start(push.pk, now=NOW, chunk=1000, clock=clock, sleep=clock.sleep)
    assert clock.slept == [] and push.deliveries.count() == 2500


def test_a_long_paced_fan_out_hands_on_to_a_new_task(app, monkeypatch):
    devices(app, 5000)
    push = broadcast(app, push_speed=1000)
    handed = []
    monkeypatch.setattr(fanout, "_continue_later", handed.append)
    clock = SteppedClock()

    fanout.start(push.pk, now=NOW, clock=clock, sleep=clock.sleep, seconds=2)

    push.refresh_from_db()
    assert (push.status, push.targets, handed) == ("PUSH_STARTED", 2000, [push.pk])
    # The next task carries on where this one stopped.
    fanout.start(push.pk, now=NOW + timedelta(seconds=2), clock=clock, sleep=clock.sleep)
    push.refresh_from_db()
    assert (push.status, push.targets) == ("PUSH_FINISHED", 5000)


def test_push_speed_is_taken_from_the_api_within_tpns_bounds(client, app, clock):
    from tests.push.test_tpns_push import body, push_app

    clock(NOW.timestamp())
    assert push_app(client, app, body(audience_type="all", push_speed=999))["ret_code"] == 1008007
    answer = push_app(client, app, body(audience_type="all", push_speed=1000))
    assert Push.objects.get(pk=answer["push_id"]).options["push_speed"] == 1000


@pytest.mark.parametrize("audience_type", ["token_list"])
def test_a_list_push_is_not_paced(app, audience_type):
    devices(app, 3)
    push = Push(
        application=app,
        audience_type=audience_type,
        audience={"token_list": ["dev-00000", "dev-00001", "dev-00002"]},
        message_type="notify",
        title="t",
        content="c",
        options={"push_speed": 1000},
    )
    push.save()
    clock = SteppedClock()
    fanout.start(push.pk, now=NOW, chunk=1, clock=clock, sleep=clock.sleep)
    assert clock.slept == [] and push.deliveries.count() == 3
