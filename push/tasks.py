"""django-q2 entry points of the push platform (thin)."""

from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from . import fallback, fanout, rollup, sender
from .models import SweepRun

# A sweep stops taking new batches after this many, so runs every minute never pile up.
SWEEP_BUDGET_BATCHES = 200


def start_push(push_id: int) -> bool:
    return fanout.start(push_id)


def push_sweep() -> dict:
    """Every minute: start due or lost pushes, expire old deliveries."""
    result = {"started": fanout.start_due(), "expired": fanout.expire()}
    SweepRun.record("push", result)
    return result


def fallback_sweep() -> dict:
    """Every minute: decide the due supplementary SMS.

    With more than one batch due, up to ``FALLBACK_WORKERS - 1`` helpers are queued first, so
    that the workers of every cluster share a backlog (their claims never overlap). Nothing
    depends on a helper running: a lost one only leaves more for the next minute's sweep.
    """
    helpers = fallback.due_batches(timezone.now(), at_most=settings.FALLBACK_WORKERS) - 1
    for _ in range(max(0, helpers)):
        async_task("push.tasks.fallback_sweep_helper", task_name="fallback sweep helper")
    result = fallback.sweep(max_batches=SWEEP_BUDGET_BATCHES)
    result["helpers"] = max(0, helpers)
    SweepRun.record("fallback", result)
    return result


def fallback_sweep_helper() -> dict:
    """A helper of the minute sweep: the same sweep, within the same budget."""
    return fallback.sweep(max_batches=SWEEP_BUDGET_BATCHES)


def send_queued() -> dict:
    """Woken by fan-out, and every minute: hand queued deliveries to their channels."""
    return sender.run(max_batches=SWEEP_BUDGET_BATCHES)


def send_sweep() -> dict:
    """Every minute: the safety net of ``send_queued`` (a lost task, retries now due)."""
    result = sender.run(max_batches=SWEEP_BUDGET_BATCHES)
    SweepRun.record("sender", result)
    return result


def rollup_daily_stats() -> int:
    """Every minute: the dashboard's figures for today and yesterday, and recent pushes'."""
    return rollup.refresh() + rollup.refresh_pushes()
