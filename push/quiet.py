"""TPNS's ``accept_time``: the times of day a notification may be shown (its own channel only),
``[{"start": {"hour", "min"}, "end": {"hour", "min"}}, …]``.

The built-in inbox hands a notification over at once and holds its display: each message
carries ``show_at``, the start of the next window when it comes outside every window, which
the app waits for (TPNS's SDK held them the same way, on the device). Holding it on the server
instead would let the inbox's cursor move past it, and the device would never get it.

Where TPNS is silent we decided: the hours are the account's (Beijing for a TPNS account), a
window whose end is before its start runs past midnight (22:00–07:00), the end is exclusive,
and a notification that expires before any window opens is shown when it comes (a hold past
its expiry would drop it).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def _clock(point: dict) -> time:
    return time(int(point["hour"]) % 24, int(point["min"]))


def windows(accept_time) -> list[tuple[time, time]]:
    """The (start, end) times of a validated ``accept_time``."""
    return [(_clock(w["start"]), _clock(w["end"])) for w in accept_time or ()]


def _inside(moment: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # past midnight


def show_at(
    accept_time, tz: ZoneInfo, *, now: datetime, expires_at: datetime | None = None
) -> datetime | None:
    """When a notification with ``accept_time`` may be shown, if not now; None: now."""
    spans = [(s, e) for s, e in windows(accept_time) if s != e]
    if not spans:
        return None
    local = now.astimezone(tz)
    if any(_inside(local.time(), s, e) for s, e in spans):
        return None
    starts = []
    for start, _ in spans:
        at = datetime.combine(local.date(), start, tz)
        starts.append(at if at > local else at + timedelta(days=1))
    first = min(starts)
    if expires_at is not None and first >= expires_at:
        return None
    return first
