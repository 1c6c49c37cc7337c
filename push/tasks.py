"""django-q2 entry points of the push platform (thin)."""

from django.utils import timezone

from . import applications, fallback, fanout, rollup, sender
from .models import SweepRun

# A sweep stops taking new batches after this many, or after this long (a batch in hand is
# finished), so runs every minute never pile up, the cluster's 240 s timeout never kills one
# holding a claimed batch, and a stopping cluster is not kept waiting.
SWEEP_BUDGET_BATCHES = 200
SWEEP_BUDGET_SECONDS = 20.0


def start_push(push_id: int) -> bool:
    return fanout.start(push_id)


def push_sweep() -> dict:
    """Every minute: start due or lost pushes, expire old deliveries, carry on the purge of
    deleted applications a lost task left (``push.applications``)."""
    result = {
        "started": fanout.start_due(),
        "expired": fanout.expire(),
        "purged_applications": applications.purge_deleted(),
    }
    SweepRun.record("push", result)
    return result


# A purge task stops after this long and queues the rest (the cluster's timeout is 240 s).
PURGE_TASK_SECONDS = 60


def purge_application(app_id: int) -> bool:
    """Queued when a large application is deleted: remove its rows, handing on while more is
    left; True once it is gone."""
    done = applications.purge(app_id, seconds=PURGE_TASK_SECONDS)
    if not done:
        applications.queue_purge(app_id)
    return done


def fallback_sweep() -> dict:
    """Every minute: decide the due supplementary SMS.

    With more than one batch due, up to ``FALLBACK_WORKERS - 1`` helpers are queued first, so
    that the workers of every cluster share a backlog (their claims never overlap). Nothing
    depends on a helper running: a lost one only leaves more for the next minute's sweep.
    """
    helpers = fallback.share_backlog(timezone.now())
    result = fallback.sweep(max_batches=SWEEP_BUDGET_BATCHES, seconds=SWEEP_BUDGET_SECONDS)
    result["helpers"] = helpers
    SweepRun.record("fallback", result)
    return result


def fallback_sweep_helper() -> dict:
    """A helper of the due clock or the minute sweep: the same sweep, in a helper slot, for at
    most ``fallback.HELPER_SECONDS`` (``fallback.sweep_as_helper``)."""
    return fallback.sweep_as_helper()


# A sender task stops taking batches after this long (the cluster kills a task at its
# ``timeout``, 240 s, and a killed sender's batches are unknown) and hands on to a new task.
SENDER_TASK_SECONDS = 60


def send_queued() -> dict:
    """Woken by fan-out: hand queued deliveries to their channels, then hand on to a new task
    while there is more."""
    result = sender.run(max_batches=10**6, seconds=SENDER_TASK_SECONDS)
    if result.get("more"):
        sender.wake()
    return result


def send_sweep() -> dict:
    """Every minute: the safety net of ``send_queued`` (a lost task, retries now due)."""
    result = send_queued()
    SweepRun.record("sender", result)
    return result


def clock() -> dict:
    """Handle what falls due within about a second (``push.clock``) for a few seconds, then hand
    over to the next; the minute schedule only restarts it if a hand-over was lost."""
    from . import clock as due_clock

    return due_clock.run()


def purge_call_counts() -> int:
    """Every hour: the TPNS API call counts of windows long over (``push.tpns.quota``)."""
    from .tpns import quota

    return quota.prune(timezone.now())


def rollup_daily_stats() -> int:
    """Every minute: the dashboard's figures of today (and of yesterday while it may change:
    ``push.rollup.days_to_count``), in total and per application and channel, and recent
    large pushes'."""
    return rollup.refresh() + rollup.refresh_pushes()


def import_tags(job_id: int) -> dict:
    """Queued by a tag import's upload (``push.tag_import``): apply its lines chunk by chunk,
    handing on to a new task while more is left."""
    from . import tag_import

    return tag_import.run(job_id)
