"""The phone makers' receipts: what a vendor reports about the messages it carried, recorded
through the same rules as the app's own events (``push.events``), set-based.

A vendor posts its receipts to ``/callbacks/push/<channel>/<receipt key>`` (``receipt_views``):
the key finds and vouches for one application's credentials, the channel module parses the
vendor's body into ``Receipt`` lines (verifying the vendor's own signature where it signs), and
``record`` applies a batch:

- **arrived / clicked / dismissed** set the delivery's timestamps exactly as the SDK's events do
  (``events.record_by_token``: the first report wins, whoever made it, so the phone and the
  vendor reporting the same arrival count once); the delivery says which reported first
  (``arrival_source``, ``click_source``).
- **notifications off** (Huawei's status 6: the app's notifications are disabled on the
  device) marks the device's notifications off, unless the app reported them since: the
  supplementary SMS of a push triggered by "notifications off" fires from the vendor's word,
  and the message did not arrive (a delivery's trigger-1 SMS still goes out).
- **invalid token** (uninstalled, another user, inactive; Xiaomi's invalid target) prunes the
  device's vendor token as a refusal at send time does (``Device.objects.prune_tokens``),
  unless the app registered it again after the receipt's time.
- **dropped by a daily cap** (Huawei's status 256: the marketing category's cap per device)
  moves the delivery to the built-in channel, as a spent quota does at send time
  (``push.sender``): the app's inbox carries it, the push page counts it as over quota.
- anything else (not shown for another reason, informational statuses) is counted, not
  recorded: it did not arrive.

Every step is idempotent, so a vendor that retries a batch changes nothing the second time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from lib.ids import bigint_id
from lib.values import values_table

from . import events, inbox
from .channels import RECEIPT_KEY_ID_LENGTH, is_vendor
from .channels.base import Receipt, ReceiptKind
from .models import ChannelCredentials, ChannelKind, Delivery, Device, PushStats
from .stats import OVER_QUOTA_PREFIX

# Longer than any receipt key we issue (12 + 32 characters).
MAX_KEY_LENGTH = 80
EVENT_OF = {
    ReceiptKind.ARRIVED: events.ARRIVE,
    ReceiptKind.CLICKED: events.CLICK,
    ReceiptKind.DISMISSED: events.DISMISS,
}
REASON_MAX_LENGTH = Device._meta.get_field("channel_token_invalid_reason").max_length
ANSWER_MAX_LENGTH = Delivery._meta.get_field("channel_answer").max_length


def credentials_for(kind: str, key: str) -> ChannelCredentials | None:
    """The credentials whose receipt key ``key`` is, on channel ``kind``; None for anyone else.
    The key's first characters find the row; the constant-time comparison of the whole key is
    what vouches for the caller."""
    if not is_vendor(kind) or not RECEIPT_KEY_ID_LENGTH < len(key) <= MAX_KEY_LENGTH:
        return None
    credentials = (
        ChannelCredentials.objects.select_related("application")
        .filter(receipt_key_id=key[:RECEIPT_KEY_ID_LENGTH], channel=kind)
        .first()
    )
    if credentials is None or not hmac.compare_digest(
        credentials.receipt_key().encode(), key.encode()
    ):
        return None
    return credentials


def record(
    credentials: ChannelCredentials, receipts: Iterable[Receipt], now: datetime | None = None
) -> dict:
    """Apply a batch of one application's receipts; what happened, counted: ``received``
    lines, ``accepted`` / ``duplicates`` / ``unknown`` events (as ``events.record``),
    ``notifications_off`` devices marked, ``pruned`` tokens, ``not_recorded`` lines."""
    now = now or timezone.now()
    application_id, channel = credentials.application_id, credentials.channel
    reported, off, dead, capped = [], {}, {}, {}
    counts = {
        "received": 0,
        "notifications_off": 0,
        "pruned": 0,
        "over_quota": 0,
        "not_recorded": 0,
    }
    for receipt in receipts:
        counts["received"] += 1
        at = now if receipt.at is None or receipt.at > now else receipt.at
        if receipt.kind in EVENT_OF:
            reported.append(
                {
                    "token": receipt.token,
                    "push_id": receipt.push_id,
                    "type": EVENT_OF[receipt.kind],
                    "at": at,
                }
            )
        elif receipt.kind == ReceiptKind.NOTIFICATIONS_OFF:
            off[receipt.token] = max(at, off.get(receipt.token, at))
        elif receipt.kind == ReceiptKind.INVALID_TOKEN:
            dead[receipt.token] = (at, receipt.status)
        elif receipt.kind == ReceiptKind.OVER_QUOTA and (pk := bigint_id(receipt.push_id)):
            capped[(receipt.token, pk)] = receipt.status
        else:
            counts["not_recorded"] += 1
    with transaction.atomic():
        counts.update(events.record_by_token(application_id, channel, reported, now))
        if off:
            counts["notifications_off"] = _notifications_off(application_id, channel, off)
        if dead:
            counts["pruned"] = _prune(application_id, channel, dead, now)
        if capped:
            counts["over_quota"] = _overflow(application_id, channel, capped, now)
    return counts


def _overflow(application_id: int, channel: str, capped: dict[tuple, str], now) -> int:
    """Move the deliveries the vendor dropped for a daily cap, not arrived, to the built-in
    channel (one statement)."""
    table, devices = Delivery._meta.db_table, Device._meta.db_table
    label = ChannelKind(channel).label
    values, params = values_table(
        [("token", "varchar"), ("push_id", "bigint"), ("answer", "varchar")],
        [
            (token, pk, f"{OVER_QUOTA_PREFIX} {label}: receipt {status}"[:ANSWER_MAX_LENGTH])
            for (token, pk), status in capped.items()
        ],
    )
    open_states = ", ".join(
        f"'{state}'"
        for state in (
            Delivery.State.QUEUED,
            Delivery.State.SENDING,
            Delivery.State.SENT,
            Delivery.State.UNKNOWN,
        )
    )
    sql = f"""
        UPDATE {table} SET channel = %s, state = %s, channel_answer = v.answer,
            answered_at = %s, sent_at = COALESCE({table}.sent_at, %s)
        FROM {values}, {devices} AS dev
        WHERE dev.application_id = %s AND dev.channel = %s AND dev.channel_token = v.token
            AND {table}.device_id = dev.id AND {table}.push_id = v.push_id
            AND {table}.channel = %s AND {table}.arrived_at IS NULL
            AND {table}.state IN ({open_states})
        RETURNING {table}.id, {table}.push_id
    """
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                ChannelKind.BUILTIN.value,
                Delivery.State.SENT.value,
                moment,
                moment,
                *params,
                application_id,
                channel,
                channel,
            ],
        )
        rows = cursor.fetchall()
    moved = [row[0] for row in rows]
    PushStats.objects.mark_changed({row[1] for row in rows}, now)
    inbox.reveal(moved)  # a new place in the inbox, so that no cursor is already past it
    return len(moved)


def _notifications_off(application_id: int, channel: str, off: dict[str, datetime]) -> int:
    """Mark the devices of these tokens as having notifications off (one statement), unless
    the app reported its permission after the vendor's receipt."""
    table = Device._meta.db_table
    values, params = values_table(
        [("token", "varchar"), ("at", "timestamptz")],
        [(token, connection.ops.adapt_datetimefield_value(at)) for token, at in off.items()],
    )
    sql = f"""
        UPDATE {table} SET notifications_enabled = FALSE, notifications_changed_at = v.at
        FROM {values}
        WHERE {table}.application_id = %s AND {table}.channel = %s
            AND {table}.channel_token = v.token
            AND {table}.notifications_enabled AND {table}.notifications_changed_at < v.at
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, application_id, channel])
        return cursor.rowcount


def _prune(application_id: int, channel: str, dead: dict[str, tuple], now: datetime) -> int:
    devices = Device.objects.filter(
        application_id=application_id, channel=channel, channel_token__in=list(dead)
    ).values_list("pk", "channel_token")
    rows = []
    for pk, token in devices:
        at, status = dead[token]
        reason = f"receipt: {status}" if status else "receipt: invalid token"
        # The receipt's time is the "invalid since": a token registered again after it stays.
        rows.append((pk, token, now, reason[:REASON_MAX_LENGTH], at))
    return Device.objects.prune_tokens(rows)
