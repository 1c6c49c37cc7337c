"""The supplementary SMS engine: decide every due delivery once, send its SMS at most once.

A push accepted with ``resend_by_sms`` gives each delivery ``sms_due_at`` = sent at +
``delay_trigger_time`` and ``fallback = waiting``. The sweep (every minute, or
``manage.py run_fallback``) repeats: claim a batch of due deliveries
(``Delivery.objects.claim_due``: one conditional UPDATE over the partial index
``push_delivery_fallback_due_idx``, SKIP LOCKED, with a lease) → plan it (``push.plan``: the
whole decision, in its order) → send what the plan says through the SMS platform's gates, with
the plan's last checks under its per-number locks → write one outcome per delivery.

Exactly once: the trigger, the one-SMS-per-number-per-push rule and the push's budget are checked
again under the per-number locks of the SMS platform immediately before the rows are written
(``plan.screen``); the database allows one live SmsMessage per delivery; a delivery whose worker
died is reclaimed when its lease ends, and if it already has an SMS row, that row decides it
(``unknown`` if it may have gone out), never a second SMS.

``FALLBACK_BATCH_SIZE`` and ``FALLBACK_LEASE_SECONDS`` are read when they are used
(``default_batch_size()``, ``default_lease()``): changing them changes the claim, the sweep and
the count of due batches alike.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from sms.sending import SmsRejected, send_rows

from . import plan
from .models import Delivery, PushStats
from .plan import Decision, Due, Group, Outcome

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BACKOFF = timedelta(minutes=1)  # doubled for every failed attempt
DETAIL_MAX_LENGTH = Delivery._meta.get_field("outcome_detail").max_length


def default_batch_size() -> int:
    """Deliveries per claimed batch (``FALLBACK_BATCH_SIZE``)."""
    return settings.FALLBACK_BATCH_SIZE


def default_lease() -> timedelta:
    """How long a claim holds before another worker may take it over."""
    return timedelta(seconds=settings.FALLBACK_LEASE_SECONDS)


# Claiming -------------------------------------------------------------------------------------


def claim(now, *, limit: int | None = None, lease: timedelta | None = None) -> list[Due]:
    """Take up to ``limit`` due deliveries (and any whose lease ran out) for this worker."""
    rows = Delivery.objects.claim_due(now, limit or default_batch_size(), lease or default_lease())
    claimed = [Due(*row) for row in rows]
    PushStats.objects.mark_changed({d.push_id for d in claimed}, now)
    return claimed


# Deciding -------------------------------------------------------------------------------------


class Decisions:
    """Outcomes collected for a batch, written with one UPDATE per distinct outcome."""

    def __init__(self):
        self.by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.retry: dict[int, int] = {}

    def add(self, delivery_id: int, decision: Decision) -> None:
        key = (decision.outcome, decision.detail[:DETAIL_MAX_LENGTH])
        self.by_outcome[key].append(delivery_id)

    def write(self, now) -> None:
        for (outcome, detail), ids in self.by_outcome.items():
            Delivery.objects.filter(pk__any=set(ids), fallback=Delivery.Fallback.CLAIMED).update(
                fallback=Delivery.Fallback.DECIDED,
                outcome=outcome,
                outcome_detail=detail,
                decided_at=now,
                claimed_until=None,
            )
        by_attempts: dict[int, list[int]] = defaultdict(list)
        for delivery_id, attempts in self.retry.items():
            by_attempts[attempts].append(delivery_id)
        for attempts, ids in by_attempts.items():
            Delivery.objects.filter(pk__any=set(ids), fallback=Delivery.Fallback.CLAIMED).update(
                fallback=Delivery.Fallback.WAITING,
                sms_due_at=now + RETRY_BACKOFF * 2 ** (attempts - 1),
                sms_attempts=attempts,
                claimed_until=None,
            )


def process(batch: list[Due], now) -> dict:
    """Decide a claimed batch; returns counts by outcome."""
    if not batch:
        return {}
    decisions = Decisions()
    planned = plan.plan(batch, plan.attach(batch))
    for delivery_id, decision in planned.decided.items():
        decisions.add(delivery_id, decision)
    for group in planned.groups:
        send_group(group, decisions, now)
    decisions.write(now)
    PushStats.objects.mark_changed({d.push_id for d in batch}, now)
    counts = defaultdict(int)
    for (outcome, _), group_ids in decisions.by_outcome.items():
        counts[outcome] += len(group_ids)
    if decisions.retry:
        counts["retry"] = len(decisions.retry)
    return dict(counts)


def send_group(group: Group, decisions: Decisions, now) -> None:
    """Send one push's planned SMS: one template and parameter set, many numbers, with the
    plan's last checks (``plan.screen``) under the SMS platform's per-number locks."""
    push, carriers = group.push, group.carriers
    screened: dict[int, Decision] = {}

    def last_checks(recipients):
        screened.update(plan.screen(push, recipients))
        return screened

    try:
        order = plan.order_for(group, carriers)
        # Template and signature were resolved by the plan a moment ago: not read again.
        rows = send_rows(order, now=now, screen=last_checks, recheck_template=False)
    except SmsRejected as exc:
        for delivery in carriers:
            decisions.add(delivery.id, plan.block(exc.rule))
        return
    except IntegrityError:
        # Another worker wrote an SMS for one of these deliveries at the same moment (its
        # lease had run out): leave them claimed; a later sweep decides them from that row.
        log.warning("push %s: a delivery of this batch already has an SMS; retried later", push.pk)
        return
    for source_id, decision in screened.items():
        decisions.add(source_id, decision)
    attempts_of = {d.id: d.sms_attempts for d in carriers}
    for row in rows:
        decision = plan.outcome_of(row.state, row.reason)
        attempts = attempts_of[row.source_id] + 1
        if decision.outcome == Outcome.FAILED and row.retryable and attempts < MAX_ATTEMPTS:
            decisions.retry[row.source_id] = attempts
        else:
            decisions.add(row.source_id, decision)


# The sweep ------------------------------------------------------------------------------------


def due_batches(now, *, at_most: int, batch_size: int | None = None) -> int:
    """How many batches are due now, counting no further than ``at_most``."""
    size = batch_size or default_batch_size()
    return -(-Delivery.objects.count_due(now, size * at_most) // size)


# A helper sweep sweeps for at most this long, then leaves (its worker is free again for the
# due clock's hand-over and for start tasks); a clock that still sees a backlog queues another.
HELPER_SECONDS = 15.0
# A helper queued this recently counts as coming (the cluster fetches it within its poll).
HELPER_PICKUP_SECONDS = 3.0
# The due clock queues helpers for a backlog falling due this soon (a queued helper takes about
# that long to be fetched and started); a helper early for it looks again every
# HELPER_POLL_SECONDS until it falls due, and leaves when nothing is due that soon.
HELPER_LEAD_SECONDS = 2.0
HELPER_POLL_SECONDS = 0.1


def share_backlog(now, *, queued: list | None = None, lead: timedelta | None = None) -> int:
    """With more than one batch due (by ``now + lead``), see that ``FALLBACK_WORKERS - 1``
    helper sweeps share the backlog (their claims never overlap); how many were queued now.

    Helpers already sweeping (each holds a helper slot, ``sweep_as_helper``) are counted, and so
    are those queued in the last ``HELPER_PICKUP_SECONDS`` when the caller keeps ``queued`` (the
    times it queued them; the due clock keeps one for its run): a clock looking every second
    tops the helpers up instead of piling a queue of them up. Nothing depends on a helper
    running: a lost one leaves more for the next look, and the minute sweep is the safety net."""
    from django_q.tasks import async_task

    workers = settings.FALLBACK_WORKERS
    wanted = min(workers - 1, due_batches(now + (lead or timedelta()), at_most=workers) - 1)
    if wanted <= 0:
        return 0
    if queued is not None:
        queued[:] = [at for at in queued if (now - at).total_seconds() < HELPER_PICKUP_SECONDS]
    missing = wanted - _helpers_sweeping() - len(queued or ())
    for _ in range(missing):
        async_task("push.tasks.fallback_sweep_helper", task_name="fallback sweep helper")
        if queued is not None:
            queued.append(now)
    return max(0, missing)


def _helper_keys() -> str:
    """SQL: the lock keys of the helper slots, one per helper ``FALLBACK_WORKERS`` allows."""
    return (
        "SELECT hashtextextended('fallback-helper:' || g, 0) "
        f"FROM generate_series(1, {max(1, int(settings.FALLBACK_WORKERS) - 1)}) AS g"
    )


def _helpers_sweeping() -> int:
    """How many helper slots are held (PostgreSQL; elsewhere none are known)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = "
            f"current_database()) AND ((classid::int8 << 32) | objid::int8) IN ({_helper_keys()})"
        )
        return cursor.fetchone()[0]


def sweep_as_helper(*, seconds: float = HELPER_SECONDS, clock=None, sleep=None, now=None) -> dict:
    """A helper of the due clock or the minute sweep: with a free helper slot (a session
    advisory lock on a connection of its own, so at most ``FALLBACK_WORKERS - 1`` sweep as
    helpers), batches until none is due, nor due within ``HELPER_LEAD_SECONDS`` (it waits for
    those, never claiming one before its due time), for at most ``seconds``; without a slot,
    nothing. ``clock`` (``time.monotonic``), ``sleep`` and ``now`` (callables): tests."""
    import time

    from django.db import connection

    clock, sleep, now = clock or time.monotonic, sleep or time.sleep, now or timezone.now

    held = None
    if connection.vendor == "postgresql":
        held = connection.get_new_connection(connection.get_connection_params())
        held.autocommit = True
        with held.cursor() as cursor:
            cursor.execute(
                f"SELECT k FROM ({_helper_keys()}) AS s(k) WHERE pg_try_advisory_lock(k) LIMIT 1"
            )
            if cursor.fetchone() is None:
                held.close()
                return {"batches": 0, "no_slot": 1}
    try:
        until = clock() + seconds
        totals: dict[str, int] = defaultdict(int)
        while clock() < until:
            moment = now()
            swept = sweep(moment, max_batches=1)
            if swept["batches"]:
                for key, count in swept.items():
                    totals[key] += count
                if sum(n for key, n in swept.items() if key != "batches") < default_batch_size():
                    sleep(HELPER_POLL_SECONDS)  # all that was due: no busy loop on a trickle
                continue
            soon = moment + timedelta(seconds=HELPER_LEAD_SECONDS)
            if not Delivery.objects.count_due(soon, 1):
                break  # the backlog is decided, and nothing is about to fall due
            sleep(HELPER_POLL_SECONDS)
        totals["batches"] += 0
        return dict(totals)
    finally:
        if held is not None:
            try:
                held.execute("SELECT pg_advisory_unlock_all()")  # now, not when the server sees
            finally:  # the connection end (which lets go of it too)
                held.close()


def sweep(
    now=None,
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    seconds: float | None = None,
    clock=None,
) -> dict:
    """Claim and decide due deliveries batch after batch until none is due, or until
    ``max_batches`` were decided, or (with ``seconds``) no new batch is claimed once ``seconds``
    have passed on ``clock`` (``time.monotonic``)."""
    import time

    size = batch_size or default_batch_size()
    clock = clock or time.monotonic
    until = clock() + seconds if seconds is not None else None
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    while max_batches is None or batches < max_batches:
        if until is not None and batches and clock() >= until:
            break
        current = now or timezone.now()
        batch = claim(current, limit=size)
        if not batch:
            break
        batches += 1
        for outcome, count in process(batch, current).items():
            totals[outcome] += count
    totals["batches"] = batches
    return dict(totals)
