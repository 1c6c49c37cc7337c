"""Accepting and starting pushes: one Delivery per target device, set-based.

A list audience (≤ 1000 tokens or accounts) fans out while the request waits; ``all``,
``tag`` and package pushes (a package's lines joined with the devices or their accounts, in
``push.audience``) fan out in a django-q2 task, and the minute sweep (``start_due``) starts
any push whose send time has come or whose task was lost.

Starting writes the deliveries in chunks of ``FANOUT_CHUNK`` devices, in device id order, one
transaction each: the push row is locked (SKIP LOCKED, so two workers never write the same
chunk), one ``INSERT … SELECT`` writes the chunk, and the push's progress (``fanned_out_to``,
``targets``) moves on in the same transaction. A worker that dies leaves the push ``STARTED``
with its progress; the sweep carries on from there once the last chunk is a minute old.

**push_speed** (TPNS: 1,000–50,000 deliveries a second, all/tag/package pushes) paces the
fan-out: chunks of at most that many, each begun no sooner than the last one's share of a second
after it (``start``'s ``clock`` and ``sleep``, which tests replace). A task paces for at most
``PACED_TASK_SECONDS`` and then hands on to a new task, as the cluster kills a task that runs
too long; the minute sweep carries on with one whose hand-over was lost.

**Inbox order.** The SDK's inbox pages by place (``push.inbox``), so every transaction that
writes deliveries holds the application's inbox lock from before its ids are drawn until it
commits: an application's deliveries become visible in id order, and its waiting devices are
woken when it commits. Chunks keep the wait short: a list push waits for at most one chunk of a
running broadcast of its app, never for the whole broadcast.
"""

import logging
import time
from contextlib import suppress
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sms.sending import SmsRejected

from . import audience, channels, control, inbox, sender
from .models import Delivery, Push, PushStats

# A push with expire_time 0 ("real time only") still waits this long for a polling device.
REAL_TIME_WINDOW = timedelta(seconds=60)
# An accepted push whose start task has not run by then is started by the sweep.
log = logging.getLogger(__name__)

LOST_TASK_AFTER = timedelta(minutes=1)
# The expiry sweep handles at most this many expired pushes a run (the rest the next minute).
EXPIRE_BATCH = 500
# A paced fan-out (push_speed) hands on to a new task after this long (the cluster's timeout
# is 240 s).
PACED_TASK_SECONDS = 60
# Pushes whose deliveries are not all written yet.
STARTABLE = (Push.Status.INIT, Push.Status.WAIT, Push.Status.STARTED)
BROADCASTS = tuple(Push.Audience.BROADCASTS)


def accept(push: Push, *, now=None) -> Push:
    """Record a validated push; fan it out now (lists) or hand it to a worker (all, tag,
    packages)."""
    now = now or timezone.now()
    push.created_at = now
    if push.resend_by_sms and push.pinned_template_id is None:
        # Pushes built in code rather than parsed (which pins while validating): pin what the
        # sms_info resolves to now; one that does not resolve is decided blocked at send time.
        with suppress(SmsRejected):
            push.pin_sms()
    starts = push.send_at if push.send_at and push.send_at > now else now
    push.send_at = starts
    push.expires_at = expiry(starts, push.expire_time)
    push.status = Push.Status.WAIT if starts > now else Push.Status.INIT
    push.save()
    if push.status == Push.Status.INIT:
        if push.audience_type in Push.Audience.LISTS:
            start(push.pk, now=now)
            push.refresh_from_db()
        else:
            from django_q.tasks import async_task

            transaction.on_commit(lambda: async_task("push.tasks.start_push", push.pk))
    return push


def expiry(starts, expire_time: int):
    """When a push starting at ``starts`` expires (``expire_time`` 0, real time only, still
    waits ``REAL_TIME_WINDOW``): for ``accept`` and for a scheduled push edited later
    (``control.edit_waiting``)."""
    return starts + max(timedelta(seconds=expire_time), REAL_TIME_WINDOW)


def fan_out(push: Push, now, *, after: int = 0, limit: int | None = None) -> tuple[int, int]:
    """Insert one delivery per target device with id above ``after``, at most ``limit`` of
    them, in device id order, with one INSERT … SELECT; returns (count, last device id).

    Each delivery takes its device's channel when the application has credentials for it
    (and the push's ``channel_rules`` do not disable it): it is then ``queued`` for the sender
    stage, or ``failed`` at once when the device's channel token was refused before (pruned).
    Every other device is reached over the built-in channel: ``sent`` into its inbox now."""
    if push.resend_by_sms:
        fallback, due = Delivery.Fallback.WAITING, now + timedelta(seconds=push.sms_delay)
    else:
        fallback, due = Delivery.Fallback.NONE, None
    services = channels.usable(push)
    per_device = channels.per_device_columns(services, now=now, due=due, push=push)
    inbox.lock(push.application_id)
    try:
        inserted, last, reached = Delivery.objects.insert_for_devices(
            audience.devices(push).values_list(
                "id",
                "notifications_enabled",
                "channel",
                "channel_token_invalid_at",
                "channel_token_invalid_reason",
            ),
            after=after,
            limit=limit,
            values={
                "push": push.pk,
                "state": Delivery.State.SENT,
                "created_at": now,
                "sent_at": now,
                "fallback": fallback,
                "sms_due_at": due,
            },
            per_device=per_device,
            inbox_devices=inbox.ANNOUNCED_DEVICES,
        )
    except EmptyResultSet:  # e.g. an empty token list: nobody to push to
        return 0, after
    inbox.announce(push.application_id, reached)  # wakes them when this commits
    if services and inserted:
        transaction.on_commit(sender.wake)
    return inserted, last or after


def start(
    push_id: int,
    *,
    now=None,
    chunk: int | None = None,
    clock=time.monotonic,
    sleep=time.sleep,
    seconds: float = PACED_TASK_SECONDS,
    chunks: int | None = None,
) -> bool:
    """Fan a push out, chunk by chunk; False if another worker has it or it is done.

    Starts an accepted or due push, or carries on with one whose fan-out was cut off. A push
    with ``push_speed`` is paced (see the module): after ``seconds`` of pacing this returns
    with work left and a new task carries on. So does a push with more than ``chunks`` chunks
    (the due clock writes only a broadcast's first one itself)."""
    given, started = now, clock()
    written = 0
    now = now or timezone.now()
    chunk = chunk or settings.FANOUT_CHUNK
    wrote = False
    next_chunk_at = started
    while True:
        if next_chunk_at > started:  # paced: each chunk is written at its own time
            if given is not None:  # a caller's clock (tests): as much later as pacing made it
                now = given + timedelta(seconds=next_chunk_at - started)
            else:
                now = timezone.now()
        with transaction.atomic():
            push = (
                # Only the push row: locking its application too (the join) would make every
                # other push of the app skip it while this one is being written.
                Push.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("application")
                # Checked before every chunk, under the row lock a stop also takes
                # (push.control): no chunk is written after a stop commits.
                .filter(pk=push_id, status__in=STARTABLE, stopped_at__isnull=True)
                .first()
            )
            if push is None:
                return wrote
            speed = push.options.get("push_speed") if push.audience_type in BROADCASTS else None
            size = min(chunk, speed) if speed else chunk
            inserted, last = fan_out(push, now, after=push.fanned_out_to, limit=size)
            done = inserted < size
            progress = {
                "targets": F("targets") + inserted,
                "fanned_out_to": last,
                "fanout_chunk_at": now,
            }
            if push.status != Push.Status.STARTED:
                progress.update(status=Push.Status.STARTED, started_at=now)
                # TPNS's collapse_id: an earlier push this one replaces leaves as it starts.
                control.collapse_earlier(push, now)
            if done:
                progress.update(status=Push.Status.FINISHED, finished_at=now)
            Push.objects.filter(pk=push.pk).update(**progress)
            PushStats.objects.mark_changed([push.pk], now)
            wrote = True
        if done:
            return True
        written += 1
        if chunks is not None and written >= chunks:
            _continue_later(push_id)  # (the minute sweep if this hand-over is lost)
            return True
        if speed:
            next_chunk_at += inserted / speed
            if next_chunk_at - started >= seconds:
                # Paced long enough for one task: a new one carries on (the minute sweep if
                # this hand-over is lost).
                _continue_later(push_id)
                return True
            if (wait := next_chunk_at - clock()) > 0:
                sleep(wait)


def _continue_later(push_id: int) -> None:
    from django_q.tasks import async_task

    async_task("push.tasks.start_push", push_id, task_name="push fan-out (paced)")


def release_due(
    now=None, *, limit: int = 100, inline_seconds: float = 0.0, clock=time.monotonic
) -> list[int]:
    """The due clock (``push.clock``): scheduled pushes whose send time has come become
    accepted (``PUSH_INIT``) and start.

    For ``inline_seconds`` the caller starts them itself, one after the other: a list push
    (or a loop occurrence of one) is written whole, a broadcast only its first chunk, and a
    task carries on with the rest. The others get a start task each, as an immediate broadcast
    does. (A start task waits for a free worker, and the cluster's other worker may be busy
    with a minute task for a while: started in the clock, a push starts within its tick.) A
    push that fails to start inline is left to a task too, and a lost task is started by the
    minute sweep (``start_due``), as for any accepted push.

    The release locks the pushes it takes, and the send time is checked again once a lock is
    had: an edit that moved a push's send time later (``control.edit_waiting``, under the same
    row lock) while the release waited for it is not released early."""
    from django_q.tasks import async_task

    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Push.objects.select_for_update()
            .filter(status=Push.Status.WAIT, send_at__lte=now)
            .order_by("send_at")
            .values_list("pk", flat=True)[:limit]
        )
        Push.objects.filter(pk__in=ids).update(status=Push.Status.INIT)
    began = clock()
    for pk in ids:
        if clock() - began < inline_seconds:
            try:
                start(pk, now=now, chunks=1)
                continue
            except Exception:  # one bad push must not stop the clock: a task tries again
                log.exception("push %s could not be started by the clock", pk)
        transaction.on_commit(lambda pk=pk: async_task("push.tasks.start_push", pk))
    return ids


def start_due(now=None) -> int:
    """The minute sweep: start scheduled pushes whose time has come, and lost ones."""
    now = now or timezone.now()
    lost = now - LOST_TASK_AFTER
    due = (
        Push.objects.filter(status=Push.Status.WAIT, send_at__lte=now)
        | Push.objects.filter(status=Push.Status.INIT, created_at__lte=lost)
        | Push.objects.filter(status=Push.Status.STARTED, fanout_chunk_at__lte=lost)
    )
    return sum(start(pk, now=now) for pk in due.values_list("pk", flat=True)[:100])


def expire(now=None) -> int:
    """Deliveries not arrived when their push expires become ``expired``; returns how many.

    Bounded by the pushes to do, not by the history: the pushes whose expiry has passed and
    that were not swept yet (the partial index ``push_expiry_due_idx``), at most
    ``EXPIRE_BATCH`` a run, oldest expiry first; their deliveries are updated by push id (the
    (push, id) index) and the push is marked, so it is never scanned again. A push that has not
    fanned out yet is left for a later run. Deliveries only move forward from queued/sent
    (``push.events``), so once is enough.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Push.objects.filter(deliveries_expired_at__isnull=True, expires_at__lte=now)
            .exclude(status__in=STARTABLE)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:EXPIRE_BATCH]
        )
        if not ids:
            return 0
        expired = Delivery.objects.filter(
            push_id__in=ids,
            state__in=[Delivery.State.QUEUED, Delivery.State.SENT, Delivery.State.UNKNOWN],
        ).update(state=Delivery.State.EXPIRED)
        Push.objects.filter(pk__in=ids).update(deliveries_expired_at=now)
        PushStats.objects.mark_changed(ids, now)
    return expired
