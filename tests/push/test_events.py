"""push.events.record: arrival, click and dismissal set-based, idempotent, forward only.

Every test runs twice on PostgreSQL: through the one-statement PostgreSQL path and through the
portable path that SQLite uses, so the two cannot drift apart.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from push import events, fanout
from push.models import Delivery
from tests.conftest import run_concurrently
from tests.push.conftest import add_device, outsider_app
from tests.push.test_fanout import make_push


@pytest.fixture(params=["postgresql", "portable"])
def update_path(request, monkeypatch):
    if request.param == "portable":
        monkeypatch.setattr(events, "_UPDATES", {})
    elif connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL statement needs PostgreSQL")
    return request.param


@pytest.fixture
def device(app):
    return add_device(app, "tok-a")


@pytest.fixture
def pushes(app, device):
    """Three pushes delivered (sent) to the device an hour ago: the event times of the tests
    lie after that, as real ones do (an earlier one would be clamped, test_event_times)."""
    made = [make_push(app, "token", {"token_list": ["tok-a"]}) for _ in range(3)]
    hour_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(push__in=made).update(sent_at=hour_ago, created_at=hour_ago)
    return made


def delivery(push, device) -> Delivery:
    return Delivery.objects.get(push=push, device=device)


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_arrive_click_and_dismiss_set_their_timestamps(update_path, device, pushes):
    now = later(60)
    t1, t2, t3 = (now - timedelta(seconds=s) for s in (30, 20, 10))

    result = events.record(
        device,
        [
            {"push_id": pushes[0].push_id, "type": "arrive", "at": t1},
            {"push_id": pushes[1].push_id, "type": "arrive", "at": t1},
            {"push_id": pushes[1].push_id, "type": "click", "at": t2},
            {"push_id": pushes[2].push_id, "type": "arrive", "at": t1},
            {"push_id": pushes[2].push_id, "type": "dismiss", "at": t3},
        ],
        now,
    )

    assert result == {"accepted": 5, "duplicates": 0, "unknown": 0}
    arrived, clicked, dismissed = (delivery(p, device) for p in pushes)
    assert (arrived.state, arrived.arrived_at, arrived.clicked_at) == ("arrived", t1, None)
    assert (clicked.state, clicked.arrived_at, clicked.clicked_at) == ("clicked", t1, t2)
    assert clicked.dismissed_at is None
    assert (dismissed.state, dismissed.arrived_at, dismissed.dismissed_at) == ("dismissed", t1, t3)
    assert dismissed.clicked_at is None


@pytest.mark.parametrize(
    "kind, column, state",
    [("click", "clicked_at", "clicked"), ("dismiss", "dismissed_at", "dismissed")],
)
def test_a_click_or_dismissal_without_arrival_records_the_arrival_too(
    update_path, device, pushes, kind, column, state
):
    at = later(-5)

    result = events.record(device, [{"push_id": pushes[0].push_id, "type": kind, "at": at}])

    d = delivery(pushes[0], device)
    assert result == {"accepted": 1, "duplicates": 0, "unknown": 0}
    assert (d.state, d.arrived_at, getattr(d, column)) == (state, at, at)


def test_a_click_after_a_reported_arrival_keeps_the_arrival_time(update_path, device, pushes):
    arrived_at, clicked_at = later(-60), later(-5)
    push_id = pushes[0].push_id
    events.record(device, [{"push_id": push_id, "type": "arrive", "at": arrived_at}])

    result = events.record(device, [{"push_id": push_id, "type": "click", "at": clicked_at}])

    d = delivery(pushes[0], device)
    assert result == {"accepted": 1, "duplicates": 0, "unknown": 0}
    assert (d.state, d.arrived_at, d.clicked_at) == ("clicked", arrived_at, clicked_at)


def test_a_repeated_batch_changes_nothing_and_counts_as_duplicates(update_path, device, pushes):
    first = later(-30)
    batch = [
        {"push_id": pushes[0].push_id, "type": "arrive", "at": first},
        {"push_id": pushes[1].push_id, "type": "click", "at": first},
        {"push_id": pushes[2].push_id, "type": "dismiss", "at": first},
    ]
    assert events.record(device, batch)["accepted"] == 3
    fields = ["state", "arrived_at", "clicked_at", "dismissed_at"]
    before = list(Delivery.objects.filter(device=device).order_by("pk").values(*fields))

    again = [{**event, "at": later(-1)} for event in batch]  # the retry carries other times
    result = events.record(device, again)

    assert result == {"accepted": 0, "duplicates": 3, "unknown": 0}
    after = list(Delivery.objects.filter(device=device).order_by("pk").values(*fields))
    assert after == before
    assert {row["arrived_at"] for row in after} == {first}


def test_a_repeat_within_one_batch_keeps_the_first_report(update_path, device, pushes):
    first, second = later(-30), later(-10)
    push_id = pushes[0].push_id

    result = events.record(
        device,
        [
            {"push_id": push_id, "type": "arrive", "at": first},
            {"push_id": push_id, "type": "arrive", "at": second},
        ],
    )

    assert result == {"accepted": 1, "duplicates": 1, "unknown": 0}
    assert delivery(pushes[0], device).arrived_at == first


def test_the_state_never_moves_back(update_path, device, pushes):
    push_id = pushes[0].push_id
    clicked_at, dismissed_at = later(-30), later(-10)
    events.record(device, [{"push_id": push_id, "type": "click", "at": clicked_at}])

    result = events.record(
        device,
        [
            {"push_id": push_id, "type": "arrive"},
            {"push_id": push_id, "type": "dismiss", "at": dismissed_at},
        ],
    )

    d = delivery(pushes[0], device)
    assert result == {"accepted": 1, "duplicates": 1, "unknown": 0}  # the dismissal is new
    assert (d.state, d.arrived_at, d.clicked_at) == ("clicked", clicked_at, clicked_at)
    assert d.dismissed_at == dismissed_at


def test_an_expired_delivery_that_arrives_late_becomes_arrived(update_path, device, pushes):
    push = pushes[0]
    after_expiry = push.expires_at + timedelta(seconds=1)
    fanout.expire(after_expiry)
    assert delivery(push, device).state == "expired"

    events.record(device, [{"push_id": push.push_id, "type": "arrive"}], after_expiry)

    d = delivery(push, device)
    assert (d.state, d.arrived_at) == ("arrived", after_expiry)


def test_events_for_pushes_the_device_did_not_receive_are_counted_and_ignored(
    update_path, app, device, pushes, personas
):
    other_device = add_device(app, "tok-b")
    not_for_me = make_push(app, "token", {"token_list": ["tok-b"]})
    other_app = outsider_app(personas)
    add_device(other_app, "tok-a")  # the same token in another app
    other_apps_push = make_push(other_app, "token", {"token_list": ["tok-a"]})

    result = events.record(
        device,
        [
            {"push_id": not_for_me.push_id, "type": "arrive"},
            {"push_id": not_for_me.push_id, "type": "click"},
            {"push_id": other_apps_push.push_id, "type": "arrive"},
            {"push_id": "999999999", "type": "arrive"},
            {"push_id": "not-a-number", "type": "click"},
            {"push_id": pushes[0].push_id, "type": "arrive"},
        ],
    )

    assert result == {"accepted": 1, "duplicates": 0, "unknown": 5}
    assert not Delivery.objects.exclude(pk=delivery(pushes[0], device).pk).filter(
        arrived_at__isnull=False
    )
    assert Delivery.objects.get(push=not_for_me, device=other_device).state == "sent"


def test_times_may_be_iso_or_unix_seconds_missing_is_now_and_the_future_is_now(
    update_path, device, pushes
):
    now = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)

    events.record(
        device,
        [
            {"push_id": pushes[0].push_id, "type": "arrive", "at": "2031-05-01T19:59:00+08:00"},
            {"push_id": pushes[0].push_id, "type": "click", "at": now.timestamp() - 30},
            {"push_id": pushes[1].push_id, "type": "arrive"},
            {"push_id": pushes[2].push_id, "type": "arrive", "at": "2031-05-02T00:00:00Z"},
        ],
        now,
    )

    first, second, third = (delivery(p, device) for p in pushes)
    assert first.arrived_at == datetime(2031, 5, 1, 11, 59, tzinfo=UTC)
    assert first.clicked_at == datetime(2031, 5, 1, 11, 59, 30, tzinfo=UTC)
    assert second.arrived_at == now
    assert third.arrived_at == now


def test_a_batch_is_one_write_statement_and_a_repeat_writes_nothing(update_path, app, device):
    pushes = [make_push(app, "token", {"token_list": ["tok-a"]}) for _ in range(250)]
    batch = [{"push_id": p.push_id, "type": kind} for p in pushes for kind in ("arrive", "click")]
    assert len(batch) == events.MAX_BATCH

    with CaptureQueriesContext(connection) as queries:
        result = events.record(device, batch)

    assert result == {"accepted": 500, "duplicates": 0, "unknown": 0}
    touching = [q["sql"] for q in queries if "push_delivery" in q["sql"]]
    updates = [sql for sql in touching if re.search(r'\bUPDATE\s+"?push_delivery\b', sql)]
    if update_path == "postgresql":
        assert len(touching) == len(updates) == 1
    else:  # a locking SELECT and a CASE-based UPDATE (split by SQLite's parameter limit)
        assert len(touching) - len(updates) == 1
        assert 1 <= len(updates) <= (1 if connection.vendor == "postgresql" else 3)
    assert Delivery.objects.filter(device=device, state="clicked").count() == 250

    def versions():  # a row's ctid changes whenever it is written
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, ctid FROM push_delivery WHERE device_id = %s", [device.pk])
            return dict(cursor.fetchall())

    if connection.vendor == "postgresql":
        before = versions()
        assert events.record(device, batch)["duplicates"] == 500
        assert versions() == before


def test_an_unknown_event_type_is_refused(device, pushes):
    with pytest.raises(ValueError, match="event type"):
        events.record(device, [{"push_id": pushes[0].push_id, "type": "open"}])


@pytest.mark.parametrize(
    "value, expected",
    [
        (1735689600, datetime(2025, 1, 1, tzinfo=UTC)),
        ("1735689600.5", datetime(2025, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2025-01-01T08:00:00+08:00", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T00:00:00", datetime(2025, 1, 1, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_at_reads_iso_and_unix_seconds(value, expected):
    assert events.parse_at(value) == expected


@pytest.mark.parametrize("value", ["yesterday", 1735689600000, True, "2025-13-01T00:00:00"])
def test_parse_at_refuses_what_it_cannot_read(value):
    with pytest.raises(ValueError):
        events.parse_at(value)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_reporting_the_same_batch_at_once_count_it_once(update_path, app):
    device = add_device(app, "tok-race")
    pushes = [make_push(app, "token", {"token_list": ["tok-race"]}) for _ in range(50)]
    batch = [{"push_id": p.push_id, "type": "click"} for p in pushes]

    results = run_concurrently(2, lambda i: events.record(device, batch))

    assert sum(r["accepted"] for r in results) == 50
    assert sum(r["duplicates"] for r in results) == 50
    assert Delivery.objects.filter(device=device, state="clicked").count() == 50
