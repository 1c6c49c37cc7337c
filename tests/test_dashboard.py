"""The dashboard reads the minute rollup: pushes, rates, SMS figures, balance, charts."""

from datetime import timedelta

from django.utils import timezone

from push import fallback, rollup
from push.models import DailyStats, Delivery
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push


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
    assert (figures["arrival_rate"], figures["click_rate"]) == (50.0, 50.0)
    assert figures["sms_sent"] == 2
    assert "chart.umd.min.js" in page.content.decode()
    assert len(series["days"]) == 7 and series["targets"][-1] == 4 and sum(series["sms_sent"]) == 2


def test_days_outside_the_period_are_not_counted(app, sms, personas, login):
    today = timezone.now().astimezone(personas.org.tz).date()
    DailyStats.objects.create(account=personas.org, day=today - timedelta(days=10), pushes=5)
    DailyStats.objects.create(account=personas.org, day=today, pushes=1)

    client = login(personas.member)

    assert client.get(f"/a/{personas.org.pk}/", {"period": "7"}).context["figures"]["pushes"] == 1
    assert client.get(f"/a/{personas.org.pk}/", {"period": "30"}).context["figures"]["pushes"] == 6


def test_another_accounts_dashboard_is_404(personas, login):
    client = login(personas.outsider)

    assert client.get(f"/a/{personas.org.pk}/dashboard.json").status_code == 404
