"""Arrival, click and dismissal reports of one device, recorded set-based.

``record(device, events, now)`` takes a batch such as the SDK's ``POST /sdk/v1/events`` sends::

    [{"push_id": "123", "type": "arrive", "at": "2025-01-01T08:00:00+08:00"},
     {"push_id": "123", "type": "click", "at": 1735689605}]

and sets the timestamps of the device's deliveries. The rules:

- The first report wins: a timestamp that is set is never changed, so a repeated report (a retry
  of the same batch, the same event twice in one batch) changes nothing and counts as duplicate.
- A click or a dismissal implies arrival: ``arrived_at`` is set too (to the click's or dismissal's
  time) when arrival was never reported.
- The state only moves forward: queued/sent/expired/failed → arrived → clicked | dismissed.
  A delivery that expired before the device reported it arrives late and becomes ``arrived``.
  Between clicked and dismissed the first one wins (the other timestamp is still recorded).
- ``at`` is an aware datetime, ISO-8601 text or unix seconds; missing means ``now``. A device's
  clock can be anything, so the time recorded is clamped to what can be true: a time in the
  future (a clock running ahead) is taken as ``now``, and a time before the delivery was sent
  (``0001-01-01T00:00:00Z``, a clock reset) as the time it was sent (its creation if it was
  never marked sent). The clamp against the delivery is done where its row is read: in the SQL
  on PostgreSQL, in Python on the portable path.
- Events for a push the device has no delivery of (unknown push, another app's, another device's)
  are counted as ``unknown`` and ignored.

On PostgreSQL a batch is one statement: a ``VALUES`` list with one row per push, a CTE that locks
the matching deliveries (in id order, so concurrent batches cannot deadlock) and reads what they
held before, and one ``UPDATE push_delivery … FROM`` that writes only the rows that change. Other
databases (SQLite for ``make run``) take the portable path: one locking SELECT and one CASE-based
``bulk_update``. Both apply the same rules; the tests run both on PostgreSQL.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lib.ids import bigint_id

from .models import Delivery, Device, EventSource, PushStats

ARRIVE, CLICK, DISMISS = "arrive", "click", "dismiss"
EVENT_TYPES = (ARRIVE, CLICK, DISMISS)
MAX_BATCH = 500  # events per API request
ROWS_PER_STATEMENT = 1000  # distinct pushes per UPDATE when a caller passes more

_ARRIVED, _CLICKED, _DISMISSED = (
    Delivery.State.ARRIVED.value,
    Delivery.State.CLICKED.value,
    Delivery.State.DISMISSED.value,
)
_ENDED = (_CLICKED, _DISMISSED)
_COLUMN = {ARRIVE: "arrived_at", CLICK: "clicked_at", DISMISS: "dismissed_at"}


def parse_at(value) -> datetime | None:
    """An event time as an aware datetime: ISO-8601 text (UTC if it has no offset), or unix
    seconds (int, float or numeric text). None stays None. Raises ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _utc(value) if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("expected ISO-8601 or unix seconds")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            parsed = parse_datetime(text.replace("Z", "+00:00") if text.endswith("Z") else text)
            if parsed is None:
                raise ValueError("expected ISO-8601 or unix seconds") from None
            return _utc(parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC))
    if isinstance(value, int | float):
        if value > 10**11:
            raise ValueError("expected unix seconds (this looks like milliseconds)")
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("expected unix seconds") from None
    raise ValueError("expected ISO-8601 or unix seconds")


def _utc(moment: datetime) -> datetime:
    """In UTC. A moment an offset away from year 1 or 9999 has no UTC datetime: it becomes the
    earliest or latest one, which the clamp then turns into the sending time or now."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        ahead_of_utc = moment.utcoffset() > timedelta(0)  # local 0001-01-01 is UTC year 0
        return (datetime.min if ahead_of_utc else datetime.max).replace(tzinfo=UTC)


def _push_pk(value) -> int | None:
    if isinstance(value, bool):
        return None
    return bigint_id(str(value).strip())


@dataclass
class _Row:
    """What one batch reports about one push: the first time of each type, and how many
    events of each type it carries."""

    push_id: int
    arrive_at: datetime | None = None
    click_at: datetime | None = None
    dismiss_at: datetime | None = None
    counts: dict = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))

    @property
    def arrival(self) -> datetime | None:
        """The arrival to record when none is: reported, else implied by a click or dismissal."""
        if self.arrive_at is not None:
            return self.arrive_at
        implied = [t for t in (self.click_at, self.dismiss_at) if t is not None]
        return min(implied) if implied else None

    @property
    def end_state(self) -> str | None:
        """clicked or dismissed, whichever the batch reports first in time (a tie: clicked)."""
        if self.click_at is None and self.dismiss_at is None:
            return None
        if self.dismiss_at is None or (
            self.click_at is not None and self.click_at <= self.dismiss_at
        ):
            return _CLICKED
        return _DISMISSED


def _plan(events: Iterable[Mapping], now: datetime) -> tuple[dict[int, _Row], int]:
    """One row per push id; the events that name no possible push are counted."""
    rows: dict[int, _Row] = {}
    unknown = 0
    for event in events:
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, not {kind!r}")
        at = parse_at(event.get("at"))
        at = now if at is None or at > now else at
        pk = _push_pk(event.get("push_id"))
        if pk is None:
            unknown += 1
            continue
        row = rows.get(pk)
        if row is None:
            row = rows[pk] = _Row(pk)
        row.counts[kind] += 1
        attr = f"{kind}_at"
        if getattr(row, attr) is None:
            setattr(row, attr, at)
    return rows, unknown


def _not_before(moment: datetime | None, floor: datetime) -> datetime | None:
    return None if moment is None else max(moment, floor)


def _advance(state: str, times: dict, row: _Row, floor: datetime) -> tuple[str, dict]:
    """The delivery's state and timestamps after the row is applied, no time before ``floor``
    (when the delivery was sent). The SQL mirrors this."""
    new = dict(times)
    if new["arrived_at"] is None:
        new["arrived_at"] = _not_before(row.arrival, floor)
    if new["clicked_at"] is None:
        new["clicked_at"] = _not_before(row.click_at, floor)
    if new["dismissed_at"] is None:
        new["dismissed_at"] = _not_before(row.dismiss_at, floor)
    if state in _ENDED:
        new_state = state
    else:
        new_state = row.end_state or _ARRIVED
    return new_state, new


def record(
    device: Device,
    events: Iterable[Mapping],
    now: datetime | None = None,
    *,
    source: str = EventSource.SDK,
) -> dict:
    """Apply a batch of the device's events; returns ``{accepted, duplicates, unknown}``.

    ``accepted`` counts the events that set their own timestamp, ``duplicates`` the events whose
    timestamp was already set (before, or by an earlier event of the batch), ``unknown`` the
    events for pushes the device has no delivery of. Raises ValueError for an unknown type or an
    unreadable time (the API validates both before calling).
    """
    now = now or timezone.now()
    rows, unknown = _plan(events, now)
    counts = {"accepted": 0, "duplicates": 0, "unknown": unknown}
    update = _UPDATES.get(connection.vendor, _update_portable)
    items = list(rows.values())
    touched: set[int] = set()
    with transaction.atomic():
        for start in range(0, len(items), ROWS_PER_STATEMENT):
            chunk = {row.push_id: row for row in items[start : start + ROWS_PER_STATEMENT]}
            empty = update(device, chunk, source)
            _count(counts, chunk, empty)
            touched.update(empty)
        # Last, after every delivery row lock of the batch (see PushStats.mark_changed).
        PushStats.objects.mark_changed(touched, now)
    return counts


def record_by_token(
    application_id: int, channel: str, events: Iterable[Mapping], now: datetime | None = None
) -> dict:
    """Apply a vendor's receipts as events: ``record``'s rules and counts, each event naming
    its device by the vendor's token (``{"token", "push_id", "type", "at"}``); the arrivals
    and clicks it sets are recorded as reported by the vendor. Tokens of no device of the
    application on ``channel`` count as unknown."""
    now = now or timezone.now()
    by_token: dict[str, list[Mapping]] = {}
    for event in events:
        by_token.setdefault(str(event.get("token") or ""), []).append(event)
    rows: dict[tuple[str, int], _Row] = {}
    unknown = 0
    for token, listed in by_token.items():
        planned, not_a_push = _plan(listed, now)
        unknown += not_a_push
        rows.update({(token, push_id): row for push_id, row in planned.items()})
    counts = {"accepted": 0, "duplicates": 0, "unknown": unknown}
    items = list(rows.items())
    touched: set[int] = set()
    with transaction.atomic():
        for start in range(0, len(items), ROWS_PER_STATEMENT):
            chunk = dict(items[start : start + ROWS_PER_STATEMENT])
            if connection.vendor == "postgresql":
                keys = list(chunk)
                held = Delivery.objects.record_events(
                    [(*_values(row), token) for (token, _), row in chunk.items()],
                    application_id=application_id,
                    channel=channel,
                    source=EventSource.VENDOR,
                )
                empty = {keys[n]: _empty(flags) for n, *flags in held}
            else:
                empty = _by_token_portable(application_id, channel, chunk)
            _count(counts, chunk, empty)
            touched.update(push_id for _, push_id in empty)
        PushStats.objects.mark_changed(touched, now)
    return counts


def _by_token_portable(application_id: int, channel: str, chunk: dict) -> dict:
    devices = Device.objects.filter(
        application_id=application_id,
        channel=channel,
        channel_token__in={token for token, _ in chunk},
    ).only("pk", "channel_token")
    empty = {}
    for device in devices:
        mine = {pk: row for (token, pk), row in chunk.items() if token == device.channel_token}
        for pk, held in _update_portable(device, mine, EventSource.VENDOR).items():
            empty[(device.channel_token, pk)] = held
    return empty


def _count(counts: dict, chunk: dict, empty: dict) -> None:
    """Add a chunk's events to ``counts``: fresh (its timestamp was empty) or duplicate, or
    unknown when no delivery matched its row."""
    for key, row in chunk.items():
        held = empty.get(key)
        if held is None:
            counts["unknown"] += sum(row.counts.values())
            continue
        for kind, count in row.counts.items():
            if count:
                fresh = _COLUMN[kind] in held
                counts["accepted"] += fresh
                counts["duplicates"] += count - fresh


def _values(row: _Row) -> tuple:
    return (row.push_id, row.arrival, row.click_at, row.dismiss_at, row.end_state)


def _update_postgresql(device: Device, rows: dict[int, _Row], source: str) -> dict[int, set[str]]:
    """One statement (``Delivery.objects.record_events``); returns, per push id with a
    delivery, the timestamps that were empty."""
    items = list(rows.values())
    held = Delivery.objects.record_events(
        [_values(r) for r in items],
        device_id=device.pk,
        source=source,
    )
    return {items[n].push_id: _empty(flags) for n, *flags in held}


def _empty(flags) -> set[str]:
    """The timestamp columns that were NULL before the batch, from the statement's flags."""
    return {name for name, empty in zip(_COLUMN.values(), flags, strict=True) if empty}


def _update_portable(device: Device, rows: dict[int, _Row], source: str) -> dict[int, set[str]]:
    """Any database: lock and read the deliveries, apply the rules, one CASE-based UPDATE."""
    fields = ["state", "arrived_at", "clicked_at", "dismissed_at"]
    sources = ["arrival_source", "click_source"]
    deliveries = list(
        Delivery.objects.select_for_update()
        .filter(device=device, push_id__in=list(rows))
        .order_by("pk")
        .only("pk", "push_id", "sent_at", "created_at", *fields, *sources)
    )
    empty, changed = {}, []
    for delivery in deliveries:
        times = {name: getattr(delivery, name) for name in fields[1:]}
        empty[delivery.push_id] = {name for name, value in times.items() if value is None}
        floor = delivery.sent_at or delivery.created_at
        state, new = _advance(delivery.state, times, rows[delivery.push_id], floor)
        if state != delivery.state or new != times:
            if times["arrived_at"] is None and new["arrived_at"] is not None:
                delivery.arrival_source = source
            if times["clicked_at"] is None and new["clicked_at"] is not None:
                delivery.click_source = source
            delivery.state = state
            for name, value in new.items():
                setattr(delivery, name, value)
            changed.append(delivery)
    if changed:
        Delivery.objects.bulk_update(changed, fields + sources)
    return empty


_UPDATES = {"postgresql": _update_postgresql}
