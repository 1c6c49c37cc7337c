"""The built-in channel's inbox: what a device fetches, in an order it can page without gaps.

**Order.** A device pages its inbox with a cursor (``after``): each notification has a place,
and an answer holds those after the cursor, oldest place first. A notification's place is its
delivery id, drawn when the delivery is written; one that enters the built-in channel later (a
vendor's daily quota was spent, Huawei's receipt 256) is given a new place (``inbox_seq``)
drawn from the same sequence when it does (``reveal``). Every transaction that makes
deliveries visible in an app's inbox holds that app's inbox lock (``lock``) from before it draws
its places until it commits, so places become visible in order: a device never skips one.

**Wake-up.** The same transactions announce what they made visible on the ``pushconsole_inbox``
channel (``announce``: PostgreSQL NOTIFY, delivered when the transaction commits, dropped when
it rolls back): the devices of a list push or of a late entry, or the whole app for a
broadcast's chunk. The long-poll server (``push.sdk.longpoll``) then reads the inboxes of those
of them that wait, in one statement (``fetch_many``).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from lib.locks import key_sql
from lib.values import values_table

from .models import ChannelKind, Delivery, Push

NOTIFY_CHANNEL = "pushconsole_inbox"
PAGE = 100
# Devices an announcement names at most (PostgreSQL's payload is under 8,000 bytes); beyond,
# it names the application.
ANNOUNCED_DEVICES = 500

# Never in the inbox: refused, expired, and what a stop or a revoke took back.
HIDDEN_STATES = (
    Delivery.State.EXPIRED,
    Delivery.State.FAILED,
    Delivery.State.CANCELED,
    Delivery.State.REVOKED,
)


def lock(application_id: int) -> None:
    """Hold the application's inbox lock until the transaction ends (PostgreSQL; SQLite
    serialises writers by itself). Taken before a delivery id or an inbox place is drawn."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_advisory_xact_lock({key_sql('push-fanout', '%s')})", [str(application_id)]
        )


def announce(application_id: int, device_ids: list[int] | None = None) -> None:
    """Wake the application's waiting devices when the transaction commits: these devices
    (the long-poll server reads their inboxes alone), or, with ``None`` or more than
    ``ANNOUNCED_DEVICES`` of them, every waiting device of the app (a broadcast's chunk).
    PostgreSQL only: the long-poll server reads every waiting poll once a second on SQLite."""
    if connection.vendor != "postgresql" or device_ids == []:
        return
    payload = str(application_id)
    if device_ids is not None and len(device_ids) <= ANNOUNCED_DEVICES:
        payload += ":" + ",".join(str(pk) for pk in sorted(set(device_ids)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])


def announced(payload: str) -> tuple[int, list[int] | None] | None:
    """An announcement read back: (application id, device ids or None for all of them)."""
    app, _, devices = payload.partition(":")
    try:
        return int(app), [int(pk) for pk in devices.split(",")] if devices else None
    except ValueError:
        return None


def reveal(delivery_ids: list[int]) -> int:
    """Give these deliveries, which have just entered the built-in channel, new places in
    their devices' inboxes (call inside the transaction that moved them there, which must
    commit soon: it holds their apps' inbox locks)."""
    if not delivery_ids:
        return 0
    applications = (
        Push.objects.filter(deliveries__pk__in=delivery_ids)
        .values_list("application_id", flat=True)
        .distinct()
        .order_by("application_id")  # one order: no deadlock between two
    )
    applications = list(applications)
    for application_id in applications:
        lock(application_id)
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET inbox_seq = nextval(pg_get_serial_sequence(%s, 'id')) "
                f"WHERE id = ANY(%s::bigint[]) RETURNING device_id, "
                f"(SELECT application_id FROM {Push._meta.db_table} p WHERE p.id = push_id)",
                [table, list(delivery_ids)],
            )
            moved = cursor.fetchall()
            for application_id in applications:
                announce(application_id, [device for device, app in moved if app == application_id])
            return len(moved)
        # SQLite: ids come from sqlite_sequence (AUTOINCREMENT); take as many past the last.
        count = len(set(delivery_ids))
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s", [count, table])
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        last = cursor.fetchone()[0]
        places, params = values_table(
            [("id", "bigint"), ("place", "bigint")],
            [(pk, last - count + n) for n, pk in enumerate(sorted(set(delivery_ids)), 1)],
        )
        cursor.execute(
            f"UPDATE {table} SET inbox_seq = (SELECT v.place FROM {places} "
            f"WHERE v.id = {table}.id) WHERE id IN (SELECT v.id FROM {places})",
            params + params,
        )
        return cursor.rowcount


@dataclass(slots=True)
class Item:
    """A notification in a device's inbox: the delivery's own columns, and its push (one
    object shared by every device's item of that push)."""

    pk: int
    device_id: int
    push_id: int
    inbox_seq: int | None
    sent_at: datetime | None
    push: Push


def place(delivery) -> int:
    """A delivery's place in its device's inbox (what the cursor counts)."""
    return delivery.inbox_seq or delivery.pk


def fetch(device, after: int, now: datetime) -> list[Item]:
    """The device's live notifications after the cursor, oldest place first."""
    return fetch_many([(device.pk, after)], now).get(device.pk, [])


# What an inbox answer shows of a push (push.sdk.serializers.InboxMessageSerializer).
PUSH_FIELDS = (
    "id",
    "message_type",
    "title",
    "content",
    "message",
    "audience_type",  # with options: the message's collapse_id
    "options",
    "expires_at",
)


def fetch_many(cursors: list[tuple[int, int]], now: datetime) -> dict[int, list[Item]]:
    """``fetch`` for many devices at once, ``[(device id, after), …]``: two statements
    whatever their number (the deliveries, then their pushes, once each). Devices with nothing
    new are left out of the answer."""
    if not cursors:
        return {}
    table, pushes = Delivery._meta.db_table, Push._meta.db_table
    if connection.vendor == "postgresql":  # two array literals: quick to write and to send
        waiting = "unnest(%s::bigint[], %s::bigint[]) AS v (device_id, after)"
        params = [
            "{" + ",".join(str(int(device)) for device, _ in cursors) + "}",
            "{" + ",".join(str(int(after)) for _, after in cursors) + "}",
        ]
    else:
        waiting, params = values_table([("device_id", "bigint"), ("after", "bigint")], cursors)
    # Only what the built-in channel carries: APNs and FCM bring theirs themselves. A revoked
    # push leaves the inbox whole: a device re-reading from an older cursor must not get back
    # what it already fetched (push.control).
    hidden = ", ".join(f"'{state}'" for state in HIDDEN_STATES)
    live = (
        f"d.channel = '{ChannelKind.BUILTIN}' AND d.state NOT IN ({hidden}) "
        "AND p.expires_at > %s AND p.revoked_at IS NULL"
    )
    # Two index walks: by id (push_delivery_inbox_idx) and by late place (…_inbox_late_idx).
    after = "((d.inbox_seq IS NULL AND d.id > v.after) OR d.inbox_seq > v.after)"
    # sent_at as text: a broadcast's thousands of deliveries share one, parsed once below.
    columns = "d.id, d.device_id, d.push_id, d.inbox_seq, CAST(d.sent_at AS text)"
    moment = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT page.* FROM {waiting} CROSS JOIN LATERAL (
                SELECT {columns} FROM {table} d JOIN {pushes} p ON p.id = d.push_id
                WHERE d.device_id = v.device_id AND {after} AND {live}
                ORDER BY COALESCE(d.inbox_seq, d.id) LIMIT {PAGE}
            ) AS page
        """
    else:
        sql = f"""
            SELECT {columns} FROM {waiting} JOIN {table} d ON d.device_id = v.device_id
            JOIN {pushes} p ON p.id = d.push_id WHERE {after} AND {live}
        """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Ten thousand devices make the plan look costly enough for PostgreSQL to compile
            # it (JIT), which takes five times as long as running it (~0.5 s against 0.1 s).
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [*params, moment])
        rows = cursor.fetchall()
    if not rows:
        return {}
    by_id = Push.objects.only(*PUSH_FIELDS).in_bulk({row[2] for row in rows})
    found: dict[int, list[Item]] = {}
    moments: dict[str | None, datetime | None] = {None: None}
    for pk, device_id, push_id, inbox_seq, text in rows:
        if (sent_at := moments.get(text, False)) is False:
            sent_at = moments[text] = _moment(text)
        found.setdefault(device_id, []).append(
            Item(pk, device_id, push_id, inbox_seq, sent_at, by_id[push_id])
        )
    for items in found.values():
        items.sort(key=place)
        del items[PAGE:]
    return found


def _moment(text: str) -> datetime:
    """A timestamp as the database spells it as text (PostgreSQL's ``+00`` offset, SQLite's
    naive UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
