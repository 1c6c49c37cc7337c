"""The dashboard: the minute rollup's earlier days plus today counted live (at most a minute
old), rates that say what they are of, per application and channel, today by hour, and cards
that open the lists behind them. Figures are checked against hand-counted rows."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from push import fallback, rollup
from push.models import Application, DailyChannelStats, DailyStats, Delivery, Push
from push.sms_source import PUSH_DELIVERY
from pushconsole import dashboard
from sms.models import SmsMessage
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()  # today's figures are cached per account; each test counts its own
    yield
    cache.clear()


# 2026-12-02 00:10 UTC is 08:10 in Shanghai (Acme's time zone): "today" there began at
# 2026-12-01 16:00 UTC.
NOW = datetime(2026, 12, 2, 0, 10, tzinfo=UTC)


def push_at(
    app, at, devices, *, arrived=0, clicked=0, sent=None, channel="builtin", sms=0, title=""
):
    """A push created ``at`` with one delivery per device: the first ``arrived`` arrived, the
    first ``clicked`` clicked, the first ``sent`` (all unless given) sent, the first ``sms``
    armed for SMS (waiting)."""
    sent = len(devices) if sent is None else sent
    push = Push.objects.create(
        application=app,
        audience_type="token_list",
        message_type="notify",
        title=title or f"push at {at:%H:%M}",
        content="c",
        created_at=at,
        resend_by_sms=bool(sms),
        targets=len(devices),
    )
    Delivery.objects.bulk_create(
        Delivery(
            push=push,
            device=device,
            created_at=at,
            channel=channel,
            sent_at=at if i < sent else None,
            arrived_at=at if i < arrived else None,
            clicked_at=at if i < clicked else None,
            fallback="waiting" if i < sms else "none",
            sms_due_at=at + timedelta(minutes=5) if i < sms else None,
        )
        for i, device in enumerate(devices)
    )
    return push


def sms_at(account, at, *, delivery=None, state="sent", charged=1, number="+8613700000001"):
    return SmsMessage.objects.create(
        account=account,
        phone_number=number,
        region="mainland",
        template_code="449739",
        content="x",
        fee=max(charged, 1),
        charged=charged,
        state=state,
        created_at=at,
        **(
            {
                "source_type": PUSH_DELIVERY,
                "source_id": delivery.pk,
                "session_context": f"push:{delivery.push_id}",
            }
            if delivery
            else {}
        ),
    )


def devices(app, n, prefix="d"):
    return [add_device(app, f"{prefix}-{app.pk}-{i}") for i in range(n)]


def test_the_rollup_and_dashboard_show_todays_figures(app, sms, login, personas):
    for i in range(4):
        add_device(app, f"tok-{i}", phone=f"+861371111000{i}")
    push = sms_push(app, [f"tok-{i}" for i in range(4)])
    Delivery.objects.filter(push=push, device__token__in=["tok-0", "tok-1"]).update(
        arrived_at=timezone.now()
    )
    Delivery.objects.filter(push=push, device__token="tok-0").update(clicked_at=timezone.now())
    fallback.sweep(due(push))

    assert rollup.refresh() >= 1
    assert rollup.refresh() >= 1  # idempotent: rows are replaced, not added
    stats = DailyStats.objects.get(account=personas.org)
    assert (stats.pushes, stats.targets, stats.arrived, stats.clicked) == (1, 4, 2, 1)
    assert (stats.sms_due, stats.sms_sent, stats.sms_fee) == (4, 2, 2)

    client = login(personas.member)
    page = client.get(f"/a/{personas.org.pk}/", {"period": "today"})
    series = client.get(f"/a/{personas.org.pk}/dashboard.json", {"period": "7"}).json()

    figures = page.context["figures"]
    assert (figures["arrival_rate"]["rate"], figures["click_rate"]["rate"]) == (50.0, 50.0)
    assert figures["sms_sent"] == 2
    assert "chart.umd.min.js" in page.content.decode()
    assert len(series["days"]) == 7 and series["targets"][-1] == 4 and sum(series["sms_sent"]) == 2


def test_days_outside_the_period_are_not_counted(app, sms, personas, login):
    today = timezone.now().astimezone(personas.org.tz).date()
    DailyStats.objects.create(account=personas.org, day=today - timedelta(days=10), pushes=5)
    DailyStats.objects.create(account=personas.org, day=today - timedelta(days=1), pushes=1)

    client = login(personas.member)

    assert client.get(f"/a/{personas.org.pk}/", {"period": "7"}).context["figures"]["pushes"] == 1
    assert client.get(f"/a/{personas.org.pk}/", {"period": "30"}).context["figures"]["pushes"] == 6


def test_another_accounts_dashboard_is_404(personas, login):
    client = login(personas.outsider)

    assert client.get(f"/a/{personas.org.pk}/dashboard.json").status_code == 404


def test_the_period_is_the_rollups_earlier_days_plus_today_counted_live(app, personas):
    today = NOW.astimezone(personas.org.tz).date()
    yesterday = today - timedelta(days=1)
    DailyStats.objects.create(
        account=personas.org, day=yesterday, pushes=2, targets=10, arrived=5, clicked=1,
        sms_sent=3, sms_fee=4, updated_at=NOW,
    )  # fmt: skip
    # The rollup's row of today is not read: today is counted live.
    DailyStats.objects.create(account=personas.org, day=today, pushes=100, targets=100)
    push_at(app, NOW - timedelta(hours=1), devices(app, 4), arrived=3, clicked=1)
    sms_at(personas.org, NOW - timedelta(minutes=30), charged=2)
    other = Application.objects.create_for(personas.outsider_account, name="O", platform="android")
    push_at(other[0], NOW - timedelta(hours=1), devices(other[0], 5), arrived=5)

    week = dashboard.figures(personas.org, "7", NOW)
    day = dashboard.figures(personas.org, "today", NOW)

    assert (week["pushes"], week["targets"], week["arrived"], week["clicked"]) == (3, 14, 8, 2)
    assert (week["sms_sent"], week["sms_fee"]) == (4, 6)
    assert (day["pushes"], day["targets"], day["arrived"], day["clicked"]) == (1, 4, 3, 1)
    assert week["as_of"] == NOW and week["rollup_as_of"] is None
    series = dashboard.series(personas.org, "7", NOW)
    assert series["days"][-2:] == [yesterday.isoformat(), today.isoformat()]
    assert series["targets"][-2:] == [10, 4] and sum(series["targets"]) == 14


def test_every_rate_is_of_its_own_denominator(app, personas):
    # 5 targeted, 3 of them sent, 2 arrived, 1 clicked: arrived is of targeted (40 %), not of
    # sent (67 %); clicked is of arrived (50 %), not of targeted (20 %).
    push_at(app, NOW - timedelta(hours=1), devices(app, 5), sent=3, arrived=2, clicked=1)
    sms_at(personas.org, NOW, state="delivered")
    sms_at(personas.org, NOW, state="sent")
    sms_at(personas.org, NOW, state="failed")

    figures = dashboard.figures(personas.org, "today", NOW)

    assert figures["arrival_rate"] == {"part": 2, "whole": 5, "rate": 40.0}
    assert figures["click_rate"] == {"part": 1, "whole": 2, "rate": 50.0}
    assert figures["sms_delivery_rate"] == {"part": 1, "whole": 2, "rate": 50.0}


def test_the_breakdown_has_a_row_per_application_and_per_channel(app, personas):
    ios, _secret = Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")
    android = push_at(app, NOW - timedelta(hours=2), devices(app, 3), arrived=2, sms=3)
    push_at(app, NOW - timedelta(hours=1), devices(app, 2, "f"), arrived=1, channel="fcm")
    push_at(ios, NOW - timedelta(hours=1), devices(ios, 4), arrived=4, clicked=2, channel="apns")
    sms_at(personas.org, NOW, delivery=android.deliveries.order_by("id")[0], charged=2)
    sms_at(personas.org, NOW, charged=1)  # sent by the SMS API: no application, no channel

    live = dashboard.today(personas.org, NOW)

    by_app = {r["name"] or None: r for r in live["apps"]}
    assert list(by_app) == ["Acme Android", "Acme iOS", None]
    assert by_app["Acme Android"] | {"id": 0} == {
        "id": 0, "name": "Acme Android", "deleted": False, "targets": 5, "sent": 5, "arrived": 3,
        "clicked": 0, "sms_sent": 1, "sms_fee": 2,
    }  # fmt: skip
    assert (by_app["Acme iOS"]["targets"], by_app["Acme iOS"]["clicked"]) == (4, 2)
    assert (by_app[None]["targets"], by_app[None]["sms_sent"], by_app[None]["sms_fee"]) == (0, 1, 1)
    by_channel = {r["channel"]: r for r in live["channels"]}
    assert list(by_channel) == ["builtin", "apns", "fcm", None]
    assert {c: r["targets"] for c, r in by_channel.items()} == {
        "builtin": 3, "apns": 4, "fcm": 2, None: 0
    }  # fmt: skip
    assert (by_channel["builtin"]["sms_sent"], by_channel["builtin"]["sms_fee"]) == (1, 2)
    # The rows add up to the totals.
    for field in ("targets", "arrived", "clicked", "sms_sent", "sms_fee"):
        assert sum(r[field] for r in live["apps"]) == live["totals"][field]
        assert sum(r[field] for r in live["channels"]) == live["totals"][field]
    assert live["totals"]["sms_due"] == 3 and live["totals"]["sms_waiting"] == 3


def test_todays_hours_are_the_accounts_around_midnight_utc(app, personas):
    assert personas.org.time_zone == "Asia/Shanghai"
    push_at(app, datetime(2026, 12, 1, 15, 59, tzinfo=UTC), devices(app, 7, "y"))  # 23:59 yesterday
    push_at(app, datetime(2026, 12, 1, 16, 0, tzinfo=UTC), devices(app, 2, "a"))  # 00:00 today
    push_at(app, datetime(2026, 12, 1, 16, 59, tzinfo=UTC), devices(app, 1, "b"), arrived=1)
    push_at(app, datetime(2026, 12, 2, 0, 5, tzinfo=UTC), devices(app, 3, "c"), clicked=0)
    sms_at(personas.org, datetime(2026, 12, 1, 16, 30, tzinfo=UTC))  # 00:30 today
    sms_at(personas.org, datetime(2026, 12, 1, 15, 30, tzinfo=UTC))  # yesterday

    hours = dashboard.today(personas.org, NOW)["hours"]

    assert len(hours["targets"]) == 24
    assert hours["targets"][0] == 3 and hours["arrived"][0] == 1
    assert hours["targets"][8] == 3  # 08:05 in Shanghai
    assert sum(hours["targets"]) == 6  # not the 7 of 23:59 yesterday
    assert hours["sms_sent"][0] == 1 and sum(hours["sms_sent"]) == 1
    # In UTC the same rows fall on 2026-12-02 00:05 only.
    personas.org.time_zone = "UTC"
    personas.org.save()
    cache.clear()
    utc = dashboard.today(personas.org, NOW)["hours"]
    assert utc["targets"][0] == 3 and sum(utc["targets"]) == 3


def test_todays_figures_are_cached_for_at_most_a_minute(app, personas):
    push_at(app, NOW - timedelta(hours=1), devices(app, 2))
    assert dashboard.today(personas.org, NOW)["totals"]["targets"] == 2

    push_at(app, NOW - timedelta(minutes=1), devices(app, 3, "late"))

    cached = dashboard.today(personas.org, NOW + timedelta(seconds=60))
    assert (cached["totals"]["targets"], cached["as_of"]) == (2, NOW)
    fresh = dashboard.today(personas.org, NOW + timedelta(seconds=61))
    assert (fresh["totals"]["targets"], fresh["as_of"]) == (5, NOW + timedelta(seconds=61))
    # A cache filled "later" than ``now`` (a clock step back) is not trusted either.
    assert dashboard.today(personas.org, NOW)["as_of"] == NOW
    # Nor one of another account.
    assert dashboard.today(personas.outsider_account, NOW)["totals"]["targets"] == 0


def test_a_stale_rollup_says_as_of_when_its_earlier_days_are(app, personas):
    # NOW is 08:10 in Shanghai: yesterday settled at 02:00 (push.rollup.SETTLE), its last count.
    yesterday = NOW.astimezone(personas.org.tz).date() - timedelta(days=1)
    midnight = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    row = DailyStats.objects.create(account=personas.org, day=yesterday, pushes=1)
    for updated_at, stale in (
        (midnight - timedelta(minutes=20), True),  # counted last before midnight
        (midnight + rollup.SETTLE - timedelta(minutes=2), True),  # not counted when it settled
        (midnight + rollup.SETTLE, False),  # settled: not counted again, and not stale
    ):
        DailyStats.objects.filter(pk=row.pk).update(updated_at=updated_at)
        expected = updated_at if stale else None
        assert dashboard.figures(personas.org, "7", NOW)["rollup_as_of"] == expected
    assert dashboard.figures(personas.org, "today", NOW)["rollup_as_of"] is None
    # Within yesterday's grace (00:05) its rows must be at most a minute old.
    early = midnight + timedelta(minutes=5)
    DailyStats.objects.filter(pk=row.pk).update(updated_at=early - timedelta(minutes=2))
    assert dashboard.figures(personas.org, "7", early)["rollup_as_of"] is not None
    DailyStats.objects.filter(pk=row.pk).update(updated_at=early - timedelta(seconds=50))
    assert dashboard.figures(personas.org, "7", early)["rollup_as_of"] is None


def test_an_empty_account_shows_axes_and_no_data_rather_than_nan(personas, login):
    page = login(personas.member).get(f"/a/{personas.org.pk}/", {"period": "30"})
    html = page.content.decode()

    assert page.status_code == 200
    assert "NaN" not in html and "None" not in html
    assert html.count("No data yet") >= 3
    assert html.count("—") >= 2  # the two push rates, which are of nothing
    series = json.loads(re.search(r'id="dashboard-series"[^>]*>(.*?)</script>', html).group(1))
    assert len(series["days"]) == 30 and set(series["targets"]) == {0}
    assert series["hours"]["targets"] == [0] * 24
    assert not page.context["figures"]["has_data"]
    # The charts' axes: 0..1 when there is nothing to scale to.
    js = open("static/pushconsole/dashboard.js").read()
    assert "suggestedMax: 1" in js and "beginAtZero: true" in js


def _href(html, card_id):
    return re.search(rf'id="{card_id}" href="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_cards_open_the_lists_behind_them_with_the_same_filters(app, sms, personas, login):
    now = timezone.now()
    push_at(app, now, devices(app, 2), sms=2, title="armed push")
    push_at(app, now, devices(app, 1, "p"), title="plain push")
    push_at(app, now - timedelta(days=3), devices(app, 1, "o"), title="old push")
    sms_at(personas.org, now, state="delivered", number="+8613700000011")
    sms_at(personas.org, now, state="failed", number="+8613700000022")
    sms_at(personas.org, now, state="blocked", number="+8613700000033")
    client = login(personas.owner)

    html = client.get(f"/a/{personas.org.pk}/", {"period": "today"}).content.decode()

    today = now.astimezone(personas.org.tz).date().isoformat()
    pushes = _href(html, "card-pushes")
    assert pushes == f"/a/{personas.org.pk}/push/pushes/?since={today}&until={today}"
    listed = client.get(pushes).content.decode()
    assert "armed push" in listed and "plain push" in listed and "old push" not in listed
    for card in ("card-targets", "card-arrival-rate", "card-click-rate"):
        assert _href(html, card) == pushes
    armed_list = client.get(_href(html, "card-sms-armed")).content.decode()
    assert "armed push" in armed_list and "plain push" not in armed_list
    for card, shown in (
        ("card-sms-delivered", "0011"),
        ("card-sms-failed", "0022"),
        ("card-sms-blocked", "0033"),
    ):
        listed = client.get(_href(html, card)).content.decode()
        others = {"0011", "0022", "0033"} - {shown}
        assert shown in listed and not any(o in listed for o in others), card
    everything = client.get(_href(html, "card-sms-fee")).content.decode()
    assert all(n in everything for n in ("0011", "0022", "0033"))
    assert f"/a/{personas.org.pk}/sms/packages/" in html  # the balance card
    assert _href(html, "card-devices") == f"/a/{personas.org.pk}/push/devices/"
    assert re.search(r'id="card-devices".*?class="value">4<', html)  # 2 + 1 + 1 devices
    assert 'title="1 arrived of 3 targeted"' not in html  # nothing arrived here
    assert 'title="0 arrived of 3 targeted"' in html and "Arrived of targeted" in html
    assert "Clicked of arrived" in html and "Armed for SMS" in html and "SMS due" not in html


def test_the_periods_breakdown_is_the_rollups_days_plus_today_counted_live(app, personas, login):
    ios, _secret = Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")
    day = timedelta(days=1)
    # Yesterday (10:00 in Shanghai) and 8 days ago, each counted by the rollup on its day.
    for ago, n in ((day, 3), (8 * day, 10)):
        at = NOW - ago + timedelta(hours=2)
        push_at(app, at, devices(app, n, f"y{ago.days}"), arrived=2, clicked=1)
        push_at(ios, at, devices(ios, 2, f"i{ago.days}"), arrived=1, channel="apns")
        sms_at(personas.org, at, charged=1)  # the SMS API's
        rollup.refresh(now=NOW - ago + timedelta(hours=14))
    # Today, counted live; a row of today in the rollup is not read.
    today = push_at(app, NOW - timedelta(hours=1), devices(app, 2, "t"), arrived=1, channel="fcm")
    sms_at(personas.org, NOW, delivery=today.deliveries.first(), charged=2)
    DailyChannelStats.objects.create(
        account=personas.org, day=NOW.astimezone(personas.org.tz).date(), application=app,
        channel="huawei", targets=100,
    )  # fmt: skip

    week = dashboard.breakdown(personas.org, "7", NOW)

    by_app = {r["name"]: r for r in week["apps"]}
    assert list(by_app) == ["Acme Android", "Acme iOS", ""]
    assert [by_app["Acme Android"][f] for f in ("targets", "sent", "arrived", "clicked")] == [
        5,
        5,
        3,
        1,
    ]
    assert (by_app["Acme Android"]["sms_sent"], by_app["Acme Android"]["sms_fee"]) == (1, 2)
    assert (by_app["Acme iOS"]["targets"], by_app["Acme iOS"]["arrived"]) == (2, 1)
    assert (by_app[""]["id"], by_app[""]["sms_sent"], by_app[""]["sms_fee"]) == (None, 1, 1)
    by_channel = {r["channel"]: r for r in week["channels"]}
    assert {c: r["targets"] for c, r in by_channel.items()} == {
        "builtin": 3, "apns": 2, "fcm": 2, None: 0
    }  # fmt: skip
    assert by_channel["fcm"]["sms_fee"] == 2 and by_channel[None]["sms_fee"] == 1
    month = dashboard.breakdown(personas.org, "30", NOW)
    assert {r["channel"]: r["targets"] for r in month["channels"]} == {
        "builtin": 13, "apns": 4, "fcm": 2, None: 0
    }  # fmt: skip
    # Each list adds up to the period's totals, whatever the period.
    for period in dashboard.PERIODS:
        rows, totals = (
            dashboard.breakdown(personas.org, period, NOW),
            dashboard.figures(personas.org, period, NOW),
        )
        for field in dashboard.BREAKDOWN_FIELDS:
            for kind in ("apps", "channels"):
                assert sum(r[field] for r in rows[kind]) == totals[field], (period, kind, field)


def test_a_deleted_applications_past_figures_stay_in_the_breakdown(app, personas, login):
    gone, _secret = Application.objects.create_for(personas.org, name="Old app", platform="ios")
    yesterday = timezone.now() - timedelta(days=1)
    push_at(gone, yesterday, devices(gone, 3), channel="apns")
    push_at(app, yesterday, devices(app, 1))
    rollup.refresh(now=yesterday + timedelta(minutes=1))
    Application.all_objects.filter(pk=gone.pk).delete()  # the end of its purge

    client = login(personas.member)
    page = client.get(f"/a/{personas.org.pk}/", {"period": "7"})

    rows = {r["name"]: r for r in page.context["breakdown"]["apps"]}
    assert rows["Deleted application"]["targets"] == 3 and rows["Deleted application"]["deleted"]
    assert sum(r["targets"] for r in rows.values()) == page.context["figures"]["targets"]
    html = page.content.decode()
    assert "7 days by application" in html and "7 days by channel" in html
    assert f"/push/applications/{gone.pk}/" not in html
    assert f"/push/applications/{app.pk}/" in html
