"""Per-push figures: counted for many pushes at once, and stored by the rollup for large ones."""

from datetime import timedelta

from django.utils import timezone

from push import fallback, rollup, stats
from push.models import Delivery, PushStats
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push


def test_figures_of_many_pushes_come_from_a_few_grouped_queries(
    app, sms, django_assert_max_num_queries
):
    for i in range(4):
        add_device(app, f"tok-{i}", phone=f"+861371111000{i}")
    first = sms_push(app, ["tok-0", "tok-1"])
    second = sms_push(app, ["tok-2", "tok-3"], sms_max=1)
    Delivery.objects.filter(push=first, device__token="tok-0").update(arrived_at=timezone.now())
    fallback.sweep(due(first))

    with django_assert_max_num_queries(3):
        figures = stats.compute([first, second])

    a, b = figures[first.pk], figures[second.pk]
    assert (a["targets"], a["arrived"], a["sms"]["outcome_not_needed"]) == (2, 1, 1)
    assert (a["sms"]["outcome_sent"], a["sms"]["sms_sent"], a["sms"]["fee"]) == (1, 1, 1)
    assert b["sms"]["outcome_blocked"] == 1
    assert b["sms"]["blocked_by_reason"] == {"budget_exhausted": 1}


def test_a_large_push_page_reads_the_rollup_while_it_is_fresh(app, sms, monkeypatch):
    monkeypatch.setattr(stats, "LIVE_LIMIT", 1)
    for i in range(3):
        add_device(app, f"tok-{i}", phone=f"+861371111000{i}")
    push = sms_push(app, ["tok-0", "tok-1", "tok-2"])

    assert rollup.refresh_pushes() == 1
    Delivery.objects.filter(push=push).update(arrived_at=timezone.now())

    assert stats.summary(push)["arrived"] == 0  # the stored figures, not a live count
    assert "as_of" in stats.summary(push)
    later = timezone.now() + stats.FRESH + timedelta(seconds=1)
    assert stats.summary(push, now=later)["arrived"] == 3  # stale: counted live
    assert PushStats.objects.count() == 1


def test_summaries_of_many_pushes_are_the_summaries_of_each(
    app, sms, monkeypatch, django_assert_max_num_queries
):
    for i in range(4):
        add_device(app, f"tok-{i}", phone=f"+861371111000{i}")
    small = sms_push(app, ["tok-0"])
    large = sms_push(app, ["tok-1", "tok-2", "tok-3"])
    fallback.sweep(due(large))
    monkeypatch.setattr(stats, "LIVE_LIMIT", 2)
    stats.store([large])
    Delivery.objects.filter(push__in=[small, large]).update(arrived_at=timezone.now())

    with django_assert_max_num_queries(4):  # the stored rows, then compute's three
        figures = stats.summaries([small, large])

    assert figures[small.pk] == stats.compute([small])[small.pk] == stats.summary(small)
    assert figures[small.pk]["arrived"] == 1
    assert figures[large.pk] == stats.summary(large)
    assert figures[large.pk]["arrived"] == 0  # stored before the arrivals
    assert figures[large.pk]["sms"]["outcome_sent"] == 3
    assert stats.summaries([]) == {}


def test_outcomes_are_the_outcomes_the_fallback_engine_writes():
    assert stats.OUTCOMES == (
        "not_needed",
        "sent",
        "no_phone",
        "duplicate_number",
        "blocked",
        "failed",
        "unknown",
        "canceled",
    )
