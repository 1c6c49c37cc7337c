"""The dashboard rollup: per account, local day, application and channel, counted against
hand-counted rows; bounded (today, and yesterday only while it may change); the totals are the
sums of the per-channel rows."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from push import rollup
from push.models import Application, DailyChannelStats, DailyStats, Delivery, Push
from tests.test_dashboard import devices, push_at, sms_at

# Midnight starting 2026-12-02 in Shanghai (Acme's time zone) is 2026-12-01 16:00 UTC.
MIDNIGHT = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
YESTERDAY, TODAY = MIDNIGHT.date(), MIDNIGHT.date() + timedelta(days=1)
SHARED = ("targets", "sent", "arrived", "clicked", "sms_sent", "sms_fee")


def channel_rows(account, day) -> dict:
    """(application id, channel) → the row's figures, for one account and day."""
    return {
        (r.application_id, r.channel): {f: getattr(r, f) for f in SHARED}
        for r in DailyChannelStats.objects.filter(account=account, day=day)
    }


def figures(targets=0, sent=0, arrived=0, clicked=0, sms_sent=0, sms_fee=0) -> dict:
    return dict(zip(SHARED, (targets, sent, arrived, clicked, sms_sent, sms_fee), strict=True))


@pytest.fixture
def ios(personas):
    return Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")[0]


def test_rows_per_application_and_channel_fall_on_the_accounts_local_day(app, ios, personas):
    late = push_at(
        app, MIDNIGHT - timedelta(minutes=1), devices(app, 3), arrived=2, clicked=1, sms=3
    )
    fcm = push_at(app, MIDNIGHT, devices(app, 2, "f"), arrived=1, channel="fcm")
    push_at(
        ios, MIDNIGHT + timedelta(minutes=3), devices(ios, 4), arrived=4, clicked=2, channel="apns"
    )
    first, second = late.deliveries.order_by("id")[:2]
    # An SMS counts on the day it was created, under its delivery's application and channel.
    sms_at(personas.org, MIDNIGHT - timedelta(seconds=30), delivery=first, number="+8613700000001")
    sms_at(
        personas.org,
        MIDNIGHT + timedelta(minutes=1),
        delivery=second,
        charged=2,
        number="+8613700000002",
    )
    sms_at(personas.org, MIDNIGHT + timedelta(minutes=2), state="delivered")  # SMS API
    sms_at(personas.org, MIDNIGHT + timedelta(minutes=4), delivery=fcm.deliveries.first())
    sms_at(personas.org, MIDNIGHT - timedelta(hours=1), state="failed", charged=0)  # SMS API

    rollup.refresh(now=MIDNIGHT + timedelta(minutes=5))

    assert channel_rows(personas.org, YESTERDAY) == {
        (app.pk, "builtin"): figures(3, 3, 2, 1, sms_sent=1, sms_fee=1),
        (None, ""): figures(),  # the failed SMS API message: nothing sent, nothing billed
    }
    assert channel_rows(personas.org, TODAY) == {
        (app.pk, "builtin"): figures(sms_sent=1, sms_fee=2),  # yesterday's push, today's SMS
        (app.pk, "fcm"): figures(2, 2, 1, sms_sent=1, sms_fee=1),
        (ios.pk, "apns"): figures(4, 4, 4, 2),
        (None, ""): figures(sms_sent=1, sms_fee=1),
    }
    day = DailyStats.objects.get(account=personas.org, day=YESTERDAY)
    assert (day.pushes, day.targets, day.arrived, day.clicked, day.sms_due) == (1, 3, 2, 1, 3)
    assert (day.sms_sent, day.sms_failed, day.sms_fee) == (1, 1, 1)
    day = DailyStats.objects.get(account=personas.org, day=TODAY)
    assert (day.pushes, day.targets, day.sent, day.arrived, day.clicked) == (2, 6, 6, 5, 2)
    assert (day.sms_sent, day.sms_delivered, day.sms_fee) == (3, 1, 4)
    # The per-channel rows of a day add up to its totals.
    for day in DailyStats.objects.filter(account=personas.org):
        rows = channel_rows(personas.org, day.day).values()
        for f in SHARED:
            assert sum(r[f] for r in rows) == getattr(day, f), (day.day, f)


def test_an_account_in_another_time_zone_counts_its_own_day(app, personas):
    other = personas.outsider_account
    other.time_zone = "UTC"
    other.save()
    theirs = Application.objects.create_for(other, name="O", platform="android")[0]
    # 15:59 and 16:03 UTC: either side of midnight in Shanghai, both on 2026-12-01 in UTC.
    for at in (MIDNIGHT - timedelta(minutes=1), MIDNIGHT + timedelta(minutes=3)):
        push_at(app, at, devices(app, 2, f"a{at:%M}"))
        push_at(theirs, at, devices(theirs, 3, f"o{at:%M}"), arrived=1)

    rollup.refresh(now=MIDNIGHT + timedelta(minutes=5))

    assert channel_rows(personas.org, YESTERDAY) == {(app.pk, "builtin"): figures(2, 2)}
    assert channel_rows(personas.org, TODAY) == {(app.pk, "builtin"): figures(2, 2)}
    assert channel_rows(other, YESTERDAY) == {(theirs.pk, "builtin"): figures(6, 6, 2)}
    assert not DailyChannelStats.objects.filter(account=other, day=TODAY).exists()
    assert DailyStats.objects.get(account=other, day=YESTERDAY).pushes == 2


def _yesterday(account):
    return DailyStats.objects.get(account=account, day=YESTERDAY), DailyChannelStats.objects.get(
        account=account, day=YESTERDAY
    )


def test_yesterday_is_counted_until_its_grace_then_once_when_it_settles_then_never(app, personas):
    push = push_at(app, MIDNIGHT - timedelta(minutes=10), devices(app, 3))
    deliveries = list(push.deliveries.order_by("id"))

    def arrive(delivery):
        Delivery.objects.filter(pk=delivery.pk).update(arrived_at=MIDNIGHT)

    at = MIDNIGHT - timedelta(minutes=1)  # still yesterday: it is today then
    rollup.refresh(now=at)
    assert [r.arrived for r in _yesterday(personas.org)] == [0, 0]
    arrive(deliveries[0])
    within = MIDNIGHT + rollup.GRACE - timedelta(seconds=1)
    rollup.refresh(now=within)
    assert [(r.arrived, r.updated_at) for r in _yesterday(personas.org)] == [(1, within)] * 2

    # After the grace: yesterday's rows are left alone, today's are still counted.
    arrive(deliveries[1])
    push_at(app, MIDNIGHT + timedelta(minutes=1), devices(app, 1, "t"))
    for now in (MIDNIGHT + rollup.GRACE, MIDNIGHT + rollup.SETTLE - timedelta(seconds=1)):
        rollup.refresh(now=now)
        assert [(r.arrived, r.updated_at) for r in _yesterday(personas.org)] == [(1, within)] * 2
        assert DailyStats.objects.get(account=personas.org, day=TODAY).updated_at == now

    # Once more when it settles (the late arrival), then never again (the late click).
    settled = MIDNIGHT + rollup.SETTLE + timedelta(seconds=30)
    rollup.refresh(now=settled)
    assert [(r.arrived, r.updated_at) for r in _yesterday(personas.org)] == [(2, settled)] * 2
    Delivery.objects.filter(pk=deliveries[0].pk).update(clicked_at=settled)
    for now in (settled + timedelta(minutes=1), MIDNIGHT + timedelta(hours=23)):
        rollup.refresh(now=now)
        assert [(r.clicked, r.updated_at) for r in _yesterday(personas.org)] == [(0, settled)] * 2
    # The next day, the day before is not counted at all any more.
    rollup.refresh(now=MIDNIGHT + timedelta(days=1, minutes=1))
    assert [(r.clicked, r.updated_at) for r in _yesterday(personas.org)] == [(0, settled)] * 2
    assert DailyStats.objects.filter(account=personas.org, day=TODAY).get().targets == 1


def test_a_run_missed_at_midnight_is_made_up_when_the_day_settles(app, personas):
    rollup.refresh(now=MIDNIGHT - timedelta(minutes=30))
    push_at(app, MIDNIGHT - timedelta(minutes=2), devices(app, 2), arrived=2)

    rollup.refresh(now=MIDNIGHT + timedelta(hours=1))  # the cluster was down over midnight
    assert not DailyStats.objects.filter(account=personas.org, day=YESTERDAY).exists()
    rollup.refresh(now=MIDNIGHT + rollup.SETTLE + timedelta(hours=3))

    assert DailyStats.objects.get(account=personas.org, day=YESTERDAY).arrived == 2


def test_a_run_replaces_its_days_rows(app, ios, personas):
    now = MIDNIGHT + timedelta(hours=5)
    push_at(app, MIDNIGHT + timedelta(hours=1), devices(app, 2))
    gone = push_at(ios, MIDNIGHT + timedelta(hours=2), devices(ios, 1), channel="apns")
    rollup.refresh(now=now)
    rollup.refresh(now=now)  # the same rows again, not twice as many
    assert set(channel_rows(personas.org, TODAY)) == {(app.pk, "builtin"), (ios.pk, "apns")}

    Push.objects.filter(pk=gone.pk).delete()
    rollup.refresh(now=now + timedelta(minutes=1))

    assert channel_rows(personas.org, TODAY) == {(app.pk, "builtin"): figures(2, 2)}
    assert DailyStats.objects.get(account=personas.org, day=TODAY).targets == 2


def test_the_deliveries_are_read_from_a_literal_first_push_id(app, personas):
    push_at(app, MIDNIGHT - timedelta(hours=30), devices(app, 1, "old"))
    first = push_at(app, MIDNIGHT + timedelta(hours=1), devices(app, 1))
    since = MIDNIGHT

    sql = str(rollup.delivery_groups("Asia/Shanghai", since, since + timedelta(days=1)).query)

    assert f'"push_delivery"."push_id" >= {first.pk}' in sql
    assert (
        rollup.delivery_groups(
            "Asia/Shanghai", since + timedelta(days=1), since + timedelta(days=2)
        )
        is None
    )


def test_the_days_counted_and_when_the_dashboard_expects_them():
    tz = ZoneInfo("Asia/Shanghai")
    assert rollup.days_to_count(tz, MIDNIGHT + timedelta(minutes=9), settled=False) == [
        YESTERDAY,
        TODAY,
    ]
    assert rollup.days_to_count(tz, MIDNIGHT + timedelta(minutes=10), settled=False) == [TODAY]
    assert rollup.days_to_count(tz, MIDNIGHT + timedelta(hours=2), settled=False) == [
        YESTERDAY,
        TODAY,
    ]
    assert rollup.days_to_count(tz, MIDNIGHT + timedelta(hours=2), settled=True) == [TODAY]
    assert rollup.last_count_due(
        YESTERDAY, tz, MIDNIGHT + timedelta(minutes=5)
    ) == MIDNIGHT + timedelta(minutes=5)
    assert (
        rollup.last_count_due(YESTERDAY, tz, MIDNIGHT + timedelta(hours=1))
        == MIDNIGHT + rollup.GRACE
    )
    assert (
        rollup.last_count_due(YESTERDAY, tz, MIDNIGHT + timedelta(hours=9))
        == MIDNIGHT + rollup.SETTLE
    )
