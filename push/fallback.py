"""The supplementary SMS engine: decide every due delivery once, send its SMS at most once.

A push accepted with ``resend_by_sms`` gives each delivery ``sms_due_at`` = sent at +
``delay_trigger_time`` and ``fallback = waiting``. The sweep (every minute, or
``manage.py run_fallback``) repeats: claim a batch of due deliveries (one conditional UPDATE over
the partial index ``push_delivery_fallback_due_idx``, SKIP LOCKED, with a lease) → evaluate the
trigger → send the SMS through the SMS platform's gates → write one outcome per delivery.

Outcomes: ``not_needed`` · ``sent`` · ``no_phone`` · ``duplicate_number`` · ``blocked`` (detail:
the rule) · ``failed`` (detail: the provider's code) · ``unknown`` (may have been sent; settled by
receipts, never re-sent).

Exactly once: the trigger, the one-SMS-per-number-per-push rule and the push's budget are checked
again under the per-number locks of the SMS platform immediately before the rows are written; the
database allows one live SmsMessage per delivery; a delivery whose worker died is reclaimed when
its lease ends, and if it already has an SMS row, that row decides it (``unknown`` if it may have
gone out), never a second SMS.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import Q
from django.utils import timezone

from sms.models import SmsMessage, push_context, region_of
from sms.sending import Recipient, SmsRejected, prepare, send_rows

from .models import PHONE_ACCOUNT_TYPE, Delivery, Device, DeviceAccount, Push

log = logging.getLogger(__name__)

BATCH_SIZE = settings.FALLBACK_BATCH_SIZE
LEASE = timedelta(seconds=settings.FALLBACK_LEASE_SECONDS)
MAX_ATTEMPTS = 5
RETRY_BACKOFF = timedelta(minutes=1)  # doubled for every failed attempt

NOT_NEEDED, SENT, NO_PHONE, DUPLICATE = "not_needed", "sent", "no_phone", "duplicate_number"
BLOCKED, FAILED, UNKNOWN = "blocked", "failed", "unknown"
BUDGET_EXHAUSTED = "budget_exhausted"

# Why a whole group could not be sent (SmsRejected.field → the rule named in the outcome).
REJECTED_RULES = {
    "template_id": "template_not_approved",
    "params": "template_not_approved",
    "sign_name": "signature_not_approved",
    "sdk_app_id": "sms_application_removed",
    "authorization": "no_authorization",
}


@dataclass
class Claimed:
    """A claimed delivery as the claim statement returned it (no second read), and what
    ``process`` adds to decide it: its push, and for the permission-off trigger only, whether
    the device has notifications on."""

    id: int
    push_id: int
    device_id: int
    arrived_at: object = None
    clicked_at: object = None
    sms_attempts: int = 0
    push: Push | None = None
    notifications_enabled: bool | None = None


def fired(push: Push, *, notifications_enabled: bool, arrived_at, clicked_at) -> bool:
    """Whether the trigger condition of a push holds for one delivery."""
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:
        return not notifications_enabled
    if push.sms_trigger == Push.Trigger.NOT_ARRIVED:
        return arrived_at is None
    return clicked_at is None


def fired_q(push: Push) -> Q:
    """The same condition as a filter on deliveries (for previews)."""
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:
        return Q(device__notifications_enabled=False)
    if push.sms_trigger == Push.Trigger.NOT_ARRIVED:
        return Q(arrived_at__isnull=True)
    return Q(clicked_at__isnull=True)


# Claiming -------------------------------------------------------------------------------------


def claim(now, *, limit: int = BATCH_SIZE, lease: timedelta = LEASE) -> list[Claimed]:
    """Take up to ``limit`` due deliveries (and any whose lease ran out) for this worker.

    One statement: the inner SELECT walks the partial index of waiting rows in due order and
    skips rows another worker is claiming right now; the UPDATE flips them to ``claimed``.
    """
    table = Delivery._meta.db_table
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    returning = "RETURNING id, push_id, device_id, arrived_at, clicked_at, sms_attempts"
    until = now + lease
    claimed = []
    statements = [
        # Due rows.
        (
            f"SELECT id FROM {table} WHERE fallback = 'waiting' AND sms_due_at <= %s "
            f"ORDER BY sms_due_at LIMIT %s {lock}"
        ),
        # Rows whose worker died (their lease ended): taken again.
        (
            f"SELECT id FROM {table} WHERE fallback = 'claimed' AND claimed_until < %s "
            f"ORDER BY claimed_until LIMIT %s {lock}"
        ),
    ]
    with connection.cursor() as cursor:
        for inner in statements:
            room = limit - len(claimed)
            if room <= 0:
                break
            if connection.vendor == "postgresql":
                where = f"id = ANY(ARRAY({inner}))"
            else:
                where = f"id IN ({inner})"
            cursor.execute(
                f"UPDATE {table} SET fallback = 'claimed', claimed_until = %s "
                f"WHERE {where} {returning}",
                [until, now, room],
            )
            claimed += [Claimed(*row) for row in cursor.fetchall()]
    return claimed


# Deciding -------------------------------------------------------------------------------------


class Decisions:
    """Outcomes collected for a batch, written with one UPDATE per distinct outcome."""

    def __init__(self):
        self.by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.retry: dict[int, int] = {}

    def add(self, delivery_id: int, outcome: str, detail: str = "") -> None:
        self.by_outcome[(outcome, detail[:100])].append(delivery_id)

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


def outcome_of(state: str, reason: str) -> tuple[str, str]:
    """The delivery's outcome from the state of its SMS row."""
    if state in (SmsMessage.State.SENT, SmsMessage.State.DELIVERED):
        return SENT, ""
    if state == SmsMessage.State.BLOCKED:
        return BLOCKED, reason
    if state == SmsMessage.State.FAILED:
        return FAILED, reason
    return UNKNOWN, reason or state  # sending (a worker died) or unknown


def process(batch: list[Claimed], now) -> dict:
    """Decide a claimed batch; returns counts by outcome."""
    if not batch:
        return {}
    ids = [c.id for c in batch]
    decisions = Decisions()
    pushes = Push.objects.select_related("application__account").in_bulk({c.push_id for c in batch})
    for delivery in batch:
        delivery.push = pushes[delivery.push_id]
    # Only the permission-off trigger looks at the device; the others decide on what the
    # claim returned (an event after the claim is caught by the last checks before sending).
    devices = [d.device_id for d in batch if d.push.sms_trigger == Push.Trigger.PERMISSION_OFF]
    if devices:
        enabled = dict(
            Device.objects.filter(pk__any=devices).values_list("pk", "notifications_enabled")
        )
        for delivery in batch:
            delivery.notifications_enabled = enabled.get(delivery.device_id)
    # A delivery that already has an SMS row (its worker died after writing it) is decided
    # by that row: never a second SMS.
    existing = {
        source_id: (state, reason)
        for source_id, state, reason in SmsMessage.objects.filter(
            source_type=SmsMessage.Source.PUSH_DELIVERY,
            source_id__any=ids,
            live=True,
        ).values_list("source_id", "state", "reason")
    }
    phones = dict(
        DeviceAccount.objects.filter(
            device_id__any=[d.device_id for d in batch],
            account_type=PHONE_ACCOUNT_TYPE,
        ).values_list("device_id", "account")
    )
    wanted: dict[int, list[Claimed]] = defaultdict(list)  # push id → deliveries to SMS
    for delivery in batch:
        push = delivery.push
        if delivery.id in existing:
            decisions.add(delivery.id, *outcome_of(*existing[delivery.id]))
        elif not fired(
            push,
            notifications_enabled=delivery.notifications_enabled,
            arrived_at=delivery.arrived_at,
            clicked_at=delivery.clicked_at,
        ):
            decisions.add(delivery.id, NOT_NEEDED)
        elif delivery.device_id not in phones:
            decisions.add(delivery.id, NO_PHONE)
        else:
            wanted[push.pk].append(delivery)
    for group in wanted.values():
        send_group(group, phones, decisions, now)
    decisions.write(now)
    counts = defaultdict(int)
    for (outcome, _), group_ids in decisions.by_outcome.items():
        counts[outcome] += len(group_ids)
    if decisions.retry:
        counts["retry"] = len(decisions.retry)
    return dict(counts)


def send_group(deliveries: list[Claimed], phones, decisions: Decisions, now) -> None:
    """Send one push's due SMS: one template and parameter set, many numbers."""
    push = deliveries[0].push
    account = push.application.account
    sms_info = push.sms_info()
    by_id = {d.id: d for d in deliveries}
    try:
        resolved = push.resolved_sms()
    except SmsRejected as exc:  # revoked or removed since the push was accepted
        for delivery in deliveries:
            decisions.add(delivery.id, BLOCKED, rejected_rule(exc))
        return
    # One SMS per number within the batch (the first delivery of a number carries it); a
    # number of another region than the template's cannot get this SMS.
    region = resolved[1].region
    carriers: dict[str, Claimed] = {}
    for delivery in sorted(deliveries, key=lambda d: d.id):
        number = phones[delivery.device_id]
        if region_of(number) != region:
            decisions.add(delivery.id, BLOCKED, "wrong_region")
        elif number in carriers:
            decisions.add(delivery.id, DUPLICATE)
        else:
            carriers[number] = delivery
    if not carriers:
        return
    screened: dict[int, str] = {}

    def last_checks(recipients):
        screened.update(screen(push, recipients))
        return screened

    try:
        order = prepare(
            account,
            **sms_info,
            resolved=resolved,
            numbers=list(carriers),
            max_numbers=None,
            normalized=True,
            source_type=SmsMessage.Source.PUSH_DELIVERY,
            source_ids=[d.id for d in carriers.values()],
            session_context=push_context(push.pk),
        )
        rows = send_rows(order, now=now, screen=last_checks)
    except SmsRejected as exc:
        for delivery in carriers.values():
            decisions.add(delivery.id, BLOCKED, rejected_rule(exc))
        return
    except IntegrityError:
        # Another worker wrote an SMS for one of these deliveries at the same moment (its
        # lease had run out): leave them claimed; a later sweep decides them from that row.
        log.warning("push %s: a delivery of this batch already has an SMS; retried later", push.pk)
        return
    for source_id, reason in screened.items():
        outcome, _, detail = reason.partition(":")
        decisions.add(source_id, outcome, detail)
    for row in rows:
        outcome, detail = outcome_of(row.state, row.reason)
        attempts = by_id[row.source_id].sms_attempts + 1
        if outcome == FAILED and row.retryable and attempts < MAX_ATTEMPTS:
            decisions.retry[row.source_id] = attempts
        else:
            decisions.add(row.source_id, outcome, detail)


def rejected_rule(exc: SmsRejected) -> str:
    return REJECTED_RULES.get(exc.field.split("[")[0], exc.field)


def screen(push: Push, recipients: list[Recipient]) -> dict[int, str]:
    """Last checks, under the per-number locks, right before the SMS rows are written.

    Drops recipients whose trigger no longer holds (an event came in after the claim), whose
    number already has an SMS of this push, or beyond the push's budget (``max_sms``).
    """
    ids = [r.source_id for r in recipients]
    dropped: dict[int, str] = {}
    fields = ["pk", "arrived_at", "clicked_at"]
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:  # the only trigger that reads the device
        fields.append("device__notifications_enabled")
    for pk, arrived_at, clicked_at, *device in Delivery.objects.filter(pk__any=ids).values_list(
        *fields
    ):
        enabled = device[0] if device else None
        if not fired(
            push, notifications_enabled=enabled, arrived_at=arrived_at, clicked_at=clicked_at
        ):
            dropped[pk] = NOT_NEEDED
    already = SmsMessage.objects.of_push(push.pk).filter(
        account_id=push.application.account_id, live=True
    )
    # These numbers' messages of this push, looked up number by number on the rate-limit index
    # (account, number): written without ``of_push``, whose index would read every message of
    # the push so far, and which a planner unaware of a fresh push's size would pick.
    taken = set(
        SmsMessage.objects.filter(
            account_id=push.application.account_id,
            phone_number__any=[r.number for r in recipients],
            session_context=push_context(push.pk),
            live=True,
        ).values_list("phone_number", flat=True)
    )
    for r in recipients:
        if r.source_id not in dropped and r.number in taken:
            dropped[r.source_id] = DUPLICATE
    if push.sms_max is not None:
        # The push row lock orders all senders of this push, so the count cannot race.
        Push.objects.select_for_update().filter(pk=push.pk).exists()
        room = max(0, push.sms_max - already.count())
        for r in recipients:
            if r.source_id in dropped:
                continue
            if room > 0:
                room -= 1
            else:
                dropped[r.source_id] = f"{BLOCKED}:{BUDGET_EXHAUSTED}"
    return dropped


# The sweep ------------------------------------------------------------------------------------


def due_batches(now, *, at_most: int, batch_size: int | None = None) -> int:
    """How many batches are due now, counting no further than ``at_most`` (a bounded walk of
    the partial index of waiting rows)."""
    batch_size = batch_size or BATCH_SIZE
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE fallback = 'waiting' "
            "AND sms_due_at <= %s LIMIT %s) AS due",
            [now, batch_size * at_most],
        )
        due = cursor.fetchone()[0]
    return -(-due // batch_size)


def sweep(now=None, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> dict:
    """Claim and decide due deliveries batch after batch until none is due."""
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    while max_batches is None or batches < max_batches:
        current = now or timezone.now()
        batch = claim(current, limit=batch_size)
        if not batch:
            break
        batches += 1
        for outcome, count in process(batch, current).items():
            totals[outcome] += count
    totals["batches"] = batches
    return dict(totals)
