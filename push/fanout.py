"""Accepting and starting pushes: one Delivery per target device, set-based.

A list audience (≤ 1000 tokens or accounts) fans out while the request waits; ``all`` and
``tag`` pushes fan out in a django-q2 task, and the minute sweep (``start_due``) starts any push
whose send time has come or whose task was lost. Starting is one transaction: the push row is
locked (SKIP LOCKED, so two workers never start it twice), every delivery is written by a single
``INSERT … SELECT`` over the audience query, and the push is marked finished.
"""

from datetime import timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.utils import timezone

from . import audience
from .channels import channel_for
from .models import Delivery, Push

LIST_AUDIENCES = (
    Push.Audience.TOKEN,
    Push.Audience.TOKEN_LIST,
    Push.Audience.ACCOUNT,
    Push.Audience.ACCOUNT_LIST,
)
# A push with expire_time 0 ("real time only") still waits this long for a polling device.
REAL_TIME_WINDOW = timedelta(seconds=60)
# An accepted push whose start task has not run by then is started by the sweep.
LOST_TASK_AFTER = timedelta(minutes=1)
# The expiry sweep handles at most this many expired pushes a run (the rest the next minute).
EXPIRE_BATCH = 500


def accept(push: Push, *, now=None) -> Push:
    """Record a validated push; fan it out now (lists) or hand it to a worker (all, tag)."""
    now = now or timezone.now()
    push.created_at = now
    starts = push.send_at if push.send_at and push.send_at > now else now
    push.send_at = starts
    push.expires_at = starts + max(timedelta(seconds=push.expire_time), REAL_TIME_WINDOW)
    push.status = Push.Status.WAIT if starts > now else Push.Status.INIT
    push.save()
    if push.status == Push.Status.INIT:
        if push.audience_type in LIST_AUDIENCES:
            start(push.pk, now=now)
            push.refresh_from_db()
        else:
            from django_q.tasks import async_task

            transaction.on_commit(lambda: async_task("push.tasks.start_push", push.pk))
    return push


def fan_out(push: Push, now) -> int:
    """Insert one delivery per target device with one INSERT … SELECT; returns the count."""
    devices = audience.devices(push).values_list("id", "notifications_enabled")
    try:
        select_sql, select_params = devices.query.sql_with_params()
    except EmptyResultSet:  # e.g. an empty token list: nobody to push to
        return 0
    channel = channel_for(push.application)
    state, sent_at = (
        (Delivery.State.SENT, now)
        if channel.queued_is_sent
        else (
            Delivery.State.QUEUED,
            None,
        )
    )
    if push.resend_by_sms:
        # Due relative to being sent; for a queued channel it is set again when it is sent.
        fallback, due = Delivery.Fallback.WAITING, now + timedelta(seconds=push.sms_delay)
    else:
        fallback, due = Delivery.Fallback.NONE, None
    table = Delivery._meta.db_table
    sql = (
        f"INSERT INTO {table} (push_id, device_id, state, notifications_enabled, created_at, "
        "sent_at, fallback, sms_due_at, outcome, outcome_detail, sms_attempts) "
        f"SELECT %s, d.id, %s, d.notifications_enabled, %s, %s, %s, %s, '', '', 0 "
        f"FROM ({select_sql}) AS d"
    )
    params = (push.pk, state, now, sent_at, fallback, due, *select_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = cursor.rowcount
    if not channel.queued_is_sent:
        channel.send(push, Delivery.objects.filter(push=push, state=Delivery.State.QUEUED), now)
    return inserted


def start(push_id: int, *, now=None) -> bool:
    """Fan a push out, once: False if another worker has it or it already started."""
    now = now or timezone.now()
    with transaction.atomic():
        push = (
            Push.objects.select_for_update(skip_locked=True)
            .select_related("application")
            .filter(pk=push_id, status__in=[Push.Status.INIT, Push.Status.WAIT])
            .first()
        )
        if push is None:
            return False
        targets = fan_out(push, now)
        Push.objects.filter(pk=push.pk).update(
            status=Push.Status.FINISHED, targets=targets, started_at=now, finished_at=now
        )
    return True


def start_due(now=None) -> int:
    """The minute sweep: start scheduled pushes whose time has come, and lost ones."""
    now = now or timezone.now()
    due = Push.objects.filter(status=Push.Status.WAIT, send_at__lte=now) | Push.objects.filter(
        status=Push.Status.INIT, created_at__lte=now - LOST_TASK_AFTER
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
            .exclude(status__in=[Push.Status.INIT, Push.Status.WAIT])
            .order_by("expires_at")
            .values_list("pk", flat=True)[:EXPIRE_BATCH]
        )
        if not ids:
            return 0
        expired = Delivery.objects.filter(
            push_id__in=ids, state__in=[Delivery.State.QUEUED, Delivery.State.SENT]
        ).update(state=Delivery.State.EXPIRED)
        Push.objects.filter(pk__in=ids).update(deliveries_expired_at=now)
    return expired
