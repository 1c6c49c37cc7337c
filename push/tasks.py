"""django-q2 entry points of the push platform (thin)."""

from . import fallback, fanout, rollup
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
    """Every minute: decide the due supplementary SMS."""
    result = fallback.sweep(max_batches=SWEEP_BUDGET_BATCHES)
    SweepRun.record("fallback", result)
    return result


def rollup_daily_stats() -> int:
    """Every minute: the dashboard's figures for today and yesterday, and recent pushes'."""
    return rollup.refresh() + rollup.refresh_pushes()
