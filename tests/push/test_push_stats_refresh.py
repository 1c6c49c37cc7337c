"""The minute refresh of large pushes' stored figures: only the pushes whose deliveries changed
are counted again, within a budget, oldest count first; settled ones are left alone; pages and
the TPNS statistics API read figures at most about a minute old."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from push import control, events, fallback, fanout, rollup, stats
from push.models import Delivery, Push, PushStats
from tests.push.conftest import add_device
from tests.push.test_console import url
from tests.push.test_fallback import due, sms_push
from tests.push.test_tpns_stats import stat

MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def large(monkeypatch):
    """Every push of these tests is "large": its figures are stored."""
    monkeypatch.setattr(stats, "LIVE_LIMIT", 1)


def plain_push(app, tokens):
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title="Approval",
        content="Expense report 42 waits for you",
    )
    return fanout.accept(push)


def counted_at(push):
    return PushStats.objects.get(pk=push.pk).updated_at


def deliveries_read(queries) -> int:
    return sum(Delivery._meta.db_table in q["sql"] for q in queries.captured_queries)


def settle_in(push, at):
    """Runs at ``at`` and a minute later: the new row is counted once more (a writer in flight
    during the first count could not mark it yet), then nothing is pending."""
    rollup.refresh_pushes(now=at)
    rollup.refresh_pushes(now=at + MINUTE)
    return at + MINUTE


def test_the_figures_are_counted_again_the_run_after_events(app, sms):
    devices = [add_device(app, f"tok-{i}", phone=f"+861371111000{i}") for i in range(3)]
    push = sms_push(app, ["tok-0", "tok-1", "tok-2"])
    start = push.created_at
    t = settle_in(push, start)

    arrive = [{"push_id": push.push_id, "type": "arrive"}]
    events.record(devices[0], arrive, now=t + timedelta(seconds=10))
    assert rollup.refresh_pushes(now=t + MINUTE) == 1
    figures = stats.summary(push, now=t + MINUTE)
    assert figures["arrived"] == 1
    assert figures["as_of"] == t + MINUTE

    # The SMS engine's decisions mark the push too.
    fallback.sweep(due(push))
    at = max(due(push), t + 2 * MINUTE)
    assert rollup.refresh_pushes(now=at) == 1
    assert stats.summary(push, now=at)["sms"]["outcome_sent"] == 2


def test_a_push_whose_deliveries_did_not_change_is_not_counted_again(app):
    for i in range(3):
        add_device(app, f"tok-{i}")
    push = plain_push(app, ["tok-0", "tok-1", "tok-2"])
    t = settle_in(push, push.created_at)
    before = counted_at(push)

    for minute in range(1, 10):  # (the tenth would be its RECOUNT_EVERY)
        with CaptureQueriesContext(connection) as queries:
            assert rollup.refresh_pushes(now=t + minute * MINUTE) == 0
        assert deliveries_read(queries) == 0
    assert counted_at(push) == before

    # Confirmed unchanged by the last run: the page reads the stored figures, as of then.
    later = t + 9 * MINUTE
    with CaptureQueriesContext(connection) as queries:
        figures = stats.summary(push, now=later + timedelta(seconds=30))
    assert deliveries_read(queries) == 0
    assert figures["as_of"] == later


def test_a_run_counts_at_most_its_budget_of_deliveries_oldest_count_first(app):
    for i in range(3):
        add_device(app, f"tok-{i}")
    pushes = [plain_push(app, ["tok-0", "tok-1", "tok-2"]) for _ in range(3)]
    start = max(p.created_at for p in pushes)
    # Stored at different times: the oldest count goes first.
    for n, push in enumerate(reversed(pushes)):
        stats.store([push], now=start + n * timedelta(seconds=10))
    order = list(reversed(pushes))
    t = start + MINUTE

    # Each has 3 deliveries and each is marked (a new row): a budget of 4 takes one a run.
    assert stats.refresh(pushes, now=t, budget=4) == {"counted": 1, "confirmed": 0, "deferred": 2}
    assert counted_at(order[0]) == t
    assert rollup.refresh_pushes(now=t + MINUTE, budget=4) == 1
    assert counted_at(order[1]) == t + MINUTE
    # A push larger than the budget is still counted, alone.
    assert rollup.refresh_pushes(now=t + 2 * MINUTE, budget=1) == 1
    assert counted_at(order[2]) == t + 2 * MINUTE


def test_a_push_whose_figures_can_no_longer_change_is_left_alone(app):
    devices = [add_device(app, f"tok-{i}") for i in range(2)]
    done = plain_push(app, ["tok-0", "tok-1"])
    for device in devices:
        events.record(device, [{"push_id": done.push_id, "type": "click"}], now=done.created_at)
    after_expiry = done.expires_at + timedelta(seconds=1)
    assert fanout.expire(now=after_expiry) == 0  # both arrived: nothing to expire
    done.refresh_from_db()
    assert done.deliveries_expired_at == after_expiry
    going = plain_push(app, ["tok-0", "tok-1"])  # not swept by the expiry: it can still change
    t = settle_in(done, after_expiry)
    counted = counted_at(done)

    later = t + stats.RECOUNT_EVERY + MINUTE
    rollup.refresh_pushes(now=later)
    assert counted_at(done) == counted  # settled: never counted again
    assert counted_at(going) == later  # not settled: counted again after RECOUNT_EVERY
    assert stats.summary(done, now=later)["as_of"] == later

    # A late event still counts: it marks the push.
    events.record(devices[0], [{"push_id": done.push_id, "type": "dismiss"}], now=later)
    rollup.refresh_pushes(now=later + MINUTE)
    assert counted_at(done) == later + MINUTE


def test_the_push_page_and_the_statistics_api_show_figures_a_minute_old(
    client, login, personas, app
):
    devices = [add_device(app, f"tok-{i}") for i in range(3)]
    push = plain_push(app, ["tok-0", "tok-1", "tok-2"])
    now = timezone.now()
    settle_in(push, now - 3 * MINUTE)
    events.record(devices[0], [{"push_id": push.push_id, "type": "arrive"}], now=now - MINUTE)
    rollup.refresh_pushes(now=now - timedelta(seconds=30))
    # Unmarked (not through a writer): the pages show the stored figures, not a live count.
    Delivery.objects.filter(push=push, device=devices[1]).update(arrived_at=now)

    page = login(personas.member).get(url(personas.org, f"pushes/{push.pk}/"))
    assert page.context["summary"]["arrived"] == 1
    assert page.context["summary"]["as_of"] == now - timedelta(seconds=30)
    record = stat(client, app, "get_push_record", {"pushId": push.push_id})
    assert record["pushRecordData"][0]["pushStat"]["arrived"] == 1


def test_a_change_marked_just_before_a_count_is_counted_once_more(app):
    """A writer marks with its own ``now`` and may commit after a count that began later: the
    count could not see its change, so the next run counts again."""
    devices = [add_device(app, f"tok-{i}") for i in range(2)]
    push = plain_push(app, ["tok-0", "tok-1"])
    t = settle_in(push, push.created_at) + MINUTE
    arrive = [{"push_id": push.push_id, "type": "arrive"}]
    events.record(devices[0], arrive, now=t - timedelta(seconds=10))

    assert rollup.refresh_pushes(now=t) == 1
    assert rollup.refresh_pushes(now=t + MINUTE) == 1  # marked within LAG before the count
    assert rollup.refresh_pushes(now=t + 2 * MINUTE) == 0


def test_a_stopped_push_is_counted_again(app):
    for i in range(2):
        add_device(app, f"tok-{i}")
    push = plain_push(app, ["tok-0", "tok-1"])
    Delivery.objects.filter(push=push).update(state="queued", sent_at=None)
    t = settle_in(push, push.created_at) + MINUTE

    control.stop(app, push.pk, t - timedelta(seconds=20))

    assert rollup.refresh_pushes(now=t) == 1
    assert stats.summary(push, now=t)["canceled"] == 2
