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
from .models import Delivery
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
    return [Due(*row) for row in rows]


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
            Delivery.objects.filter(pk__any=ids, fallback=Delivery.Fallback.CLAIMED).update(
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
            Delivery.objects.filter(pk__any=ids, fallback=Delivery.Fallback.CLAIMED).update(
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


def share_backlog(now) -> int:
    """With more than one batch due, queue up to ``FALLBACK_WORKERS - 1`` helper sweeps so that
    the workers of every cluster share the backlog (their claims never overlap); how many.
    Nothing depends on a helper running: a lost one leaves more for the next sweep."""
    from django_q.tasks import async_task

    helpers = max(0, due_batches(now, at_most=settings.FALLBACK_WORKERS) - 1)
    for _ in range(helpers):
        async_task("push.tasks.fallback_sweep_helper", task_name="fallback sweep helper")
    return helpers


def sweep(now=None, *, batch_size: int | None = None, max_batches: int | None = None) -> dict:
    """Claim and decide due deliveries batch after batch until none is due."""
    size = batch_size or default_batch_size()
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    while max_batches is None or batches < max_batches:
        current = now or timezone.now()
        batch = claim(current, limit=size)
        if not batch:
            break
        batches += 1
        for outcome, count in process(batch, current).items():
            totals[outcome] += count
    totals["batches"] = batches
    return dict(totals)
