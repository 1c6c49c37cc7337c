"""The due clock: what falls due is handled within about a second, not at the next minute.

(It runs for ``RUN_SECONDS`` at a time and hands over, so that a cluster asked to stop is not
kept waiting: a stopping cluster lets its running tasks finish.)

The task cluster's scheduler looks at its schedules every 30 seconds and runs the minute sweeps
once a minute, so a supplementary SMS due at 12:00:01 waited for the 12:01 sweep (p50 30 s,
p99 59 s late). The clock is one task that, for ``RUN_SECONDS``, asks once a second (one
statement of three ``EXISTS`` probes, each on the partial index of what it looks for) whether
anything is due, and if so handles it at once:

- supplementary SMS due (``push_delivery_fallback_due_idx``) → ``fallback.sweep`` for about
  ``SMS_SECONDS`` (then it looks again), with helper sweeps kept going for a larger backlog
  (``fallback.share_backlog``: topped up to ``FALLBACK_WORKERS - 1``, counting those sweeping
  and those it queued a moment ago, so that no queue of helpers piles up ahead of the clock's
  own hand-over; each helper sweeps for at most ``fallback.HELPER_SECONDS``);
- scheduled pushes and loop occurrences due (``push_wait_idx``) → released and started
  (``fanout.release_due``): for about ``START_SECONDS`` the clock starts them itself (a list
  push whole, a broadcast its first chunk, the rest of it by a task), the others get a start
  task each;
- channel sends due, retries included (``push_delivery_send_due_idx``) → ``sender.run`` for
  at most ``SENDER_SECONDS``.

Then it lets go of its lock and hands over to a new clock task (the cluster kills a task at
240 s, and waits for a running one when it is asked to stop). One clock runs at a time: it
holds a session advisory lock (``push-clock``) while it runs, and a second one, started by the
safety-net schedule or a duplicated hand-over, waits ``LOCK_WAIT_SECONDS`` for the lock and
otherwise leaves. SMS falling due within ``SMS_LEAD`` count at a look: the helpers a spike
needs are queued before it falls due (a queued task takes that long to start), and wait for it.
Nothing depends on the clock being there: the minute sweeps still run, so a lost hand-over
delays work by a minute at most, as before. An empty system costs one cheap statement a second.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from lib.locks import key_sql

from . import fallback, fanout, sender
from .models import Delivery, Push

# A stopping cluster waits for its running tasks (deployments give it 30 s or so before they
# kill it), so a clock runs briefly and hands over often: a run, plus the longest tick, stays
# well under that.
RUN_SECONDS = 15.0
TICK_SECONDS = 1.0
# A clock waits this long for the lock (a predecessor lets go before it hands over, so its
# successor finds it free; a duplicate, from the safety-net schedule, leaves after this wait).
LOCK_WAIT_SECONDS = 1.0
SENDER_SECONDS = 5.0  # a tick sends for at most this long before it looks again
# A tick starts scheduled pushes itself for about this long (a list push whole, a broadcast its
# first chunk); those left get a start task each.
START_SECONDS = 1.0
# A tick decides SMS batches itself for about this long (and at most SMS_BATCHES of them), then
# looks again: in a backlog the clock's worker sweeps too, and still looks about once a second.
SMS_SECONDS = 1.0
SMS_BATCHES = 20
# SMS falling due this soon count at a look, so that the helpers for a spike are queued before
# it falls due (a helper takes about that long to be fetched); none is decided before its time.
SMS_LEAD = timedelta(seconds=fallback.HELPER_LEAD_SECONDS)


def due(now) -> tuple[bool, bool, bool]:
    """(SMS due by ``now + SMS_LEAD``, pushes due, channel sends due) at ``now``, in one
    statement."""
    deliveries, pushes = Delivery._meta.db_table, Push._meta.db_table
    sql = f"""
        SELECT
            EXISTS (SELECT 1 FROM {deliveries} WHERE fallback = %s AND sms_due_at <= %s),
            EXISTS (SELECT 1 FROM {pushes} WHERE status = %s AND send_at <= %s),
            EXISTS (SELECT 1 FROM {deliveries} WHERE state = %s AND send_after <= %s)
    """
    moment = connection.ops.adapt_datetimefield_value(now)
    params = [
        Delivery.Fallback.WAITING.value,
        connection.ops.adapt_datetimefield_value(now + SMS_LEAD),
        Push.Status.WAIT.value,
        moment,
        Delivery.State.QUEUED.value,
        moment,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        sms, pushes_due, sends = cursor.fetchone()
    return bool(sms), bool(pushes_due), bool(sends)


def tick(now=None, *, helpers: list | None = None) -> dict:
    """Look once; handle what is due. What was done (empty: nothing was due). ``helpers``: when
    this clock queued helper sweeps (``fallback.share_backlog``), kept by ``run``."""
    now = now or timezone.now()
    sms, pushes_due, sends = due(now)
    done: dict = {}
    if pushes_due:
        done["started"] = len(fanout.release_due(now, inline_seconds=START_SECONDS))
    if sms:
        queued = fallback.share_backlog(now, queued=helpers, lead=SMS_LEAD)
        swept = fallback.sweep(now, max_batches=SMS_BATCHES, seconds=SMS_SECONDS)
        if swept["batches"] or queued:  # (only falling due soon, with no helper wanted: idle)
            done["sms"] = {**swept, "helpers": queued}
    if sends:
        done["sent"] = sender.run(seconds=SENDER_SECONDS, now=now)
    return done


def run(
    *,
    seconds: float = RUN_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], object] = timezone.now,
    hand_over: Callable[[], None] | None = None,
) -> dict:
    """Tick once a second for ``seconds``, then hand over to a new clock task; {"skipped": 1}
    when another clock holds the lock. Tests pass ``clock``, ``sleep`` and ``now``."""
    if not _lock(clock, sleep):
        return {"skipped": 1}
    totals = {"ticks": 0, "busy": 0}
    helpers: list = []  # when this run queued helper sweeps
    try:
        start = clock()
        while (elapsed := clock() - start) < seconds:
            if tick(now(), helpers=helpers):
                totals["busy"] += 1
            totals["ticks"] += 1
            # The next look at the next whole second of this run (work done is not waited for).
            wait = TICK_SECONDS - (clock() - start - elapsed)
            if wait > 0:
                sleep(wait)
    finally:
        _unlock()
    # Let go, then hand over: the successor finds the lock free and never waits for it.
    (hand_over or _hand_over)()
    return totals


def _hand_over() -> None:
    from django_q.tasks import async_task

    async_task("push.tasks.clock", task_name="push due clock")


# What holds the lock while this process's clock runs: a database connection of its own
# (PostgreSQL), or the open lock file (SQLite). Not Django's connection: queueing a task on the
# ORM broker closes a connection older than CONN_MAX_AGE, and the session lock with it.
_held: list = []


def _try_lock() -> bool:
    if connection.vendor == "postgresql":
        raw = connection.get_new_connection(connection.get_connection_params())
        raw.autocommit = True
        with raw.cursor() as cursor:
            cursor.execute(f"SELECT pg_try_advisory_lock({key_sql('push-clock', '%s')})", ["1"])
            if cursor.fetchone()[0]:
                _held.append(raw)
                return True
        raw.close()
        return False
    # SQLite (make run: one machine): a lock file beside the database.
    handle = open(_lock_path(), "a")  # noqa: SIM115 (held open while the clock runs)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _held.append(handle)
    return True


def _lock_path() -> str:
    name = str(connection.settings_dict["NAME"])
    folder = os.path.dirname(name) if os.path.sep in name else tempfile.gettempdir()
    return os.path.join(folder, "pushconsole-clock.lock")


def _lock(clock, sleep) -> bool:
    """The clock's lock (PostgreSQL: a session advisory lock, for every cluster of the
    database), waited for at most ``LOCK_WAIT_SECONDS``: the predecessor lets go right after
    handing over."""
    deadline = clock() + LOCK_WAIT_SECONDS
    while not _try_lock():
        if clock() >= deadline:
            return False
        sleep(0.5)
    return True


def _unlock() -> None:
    if connection.vendor == "postgresql":
        while _held:
            raw = _held.pop()
            try:
                # Now: the server sees the connection end (which lets go of it too) a moment
                # later, when a successor may already be asking for the lock.
                raw.execute("SELECT pg_advisory_unlock_all()")
            finally:
                raw.close()
        return
    while _held:
        handle = _held.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
