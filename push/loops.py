"""Loop pushes: when each occurrence of a loop goes out.

TPNS's ``loop_param`` (its push API page, "loop_param 参数说明"): ``startDate`` and ``endDate``
(YYYY-MM-DD, within the next 90 days), ``loopType`` 1 daily / 2 weekly / 3 monthly,
``loopDayIndexs`` ([0] daily; weekdays 0–6 with 0 = Sunday; days of the month 1–31) and
``dayTimes`` (HH:MM:SS). The legacy XG form ``loop_times`` (how many times) with
``loop_interval`` (days between them) is taken too. Each occurrence is a push of its own,
scheduled when the loop is accepted (TPNS answers a loop push with the array of its push ids).

Where TPNS is silent we decided:

- Days and times are read in the account's time zone (an account in Beijing gets TPNS's
  behaviour; one elsewhere gets its own wall clock), and an occurrence at a wall-clock time
  that a daylight-saving change skips or repeats is taken at the first moment it names.
- Occurrences already past when the loop is accepted are skipped; a loop with none left is
  refused. A month without the day (the 31st of April) has no occurrence that month.
- At most ``MAX_OCCURRENCES`` pushes a loop; legacy ``loop_times`` 1–15 and ``loop_interval``
  1–14 days, the old XG API's bounds.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_OCCURRENCES = 1000
DAILY, WEEKLY, MONTHLY = 1, 2, 3
LOOP_TIMES_MAX = 15
LOOP_INTERVAL_MAX = 14  # days


def occurrences(loop_param: dict, tz: ZoneInfo, *, now: datetime) -> list[datetime]:
    """The moments a validated ``loop_param`` names, after ``now``, in order."""
    start = date.fromisoformat(loop_param["startDate"])
    end = date.fromisoformat(loop_param["endDate"])
    kind = loop_param["loopType"]
    indexes = set(loop_param["loopDayIndexs"])
    times = sorted({time.fromisoformat(t) for t in loop_param["dayTimes"]})
    found: list[datetime] = []
    day = start
    while day <= end:
        if _chosen(day, kind, indexes):
            for moment in times:
                at = datetime.combine(day, moment, tz)
                if at > now:
                    found.append(at)
        day += timedelta(days=1)
    return found


def _chosen(day: date, kind: int, indexes: set[int]) -> bool:
    if kind == DAILY:
        return True
    if kind == WEEKLY:
        return (day.isoweekday() % 7) in indexes  # TPNS: 0 is Sunday
    return day.day in indexes


def repeated(first: datetime, loop_times: int, loop_interval: int) -> list[datetime]:
    """The legacy form: ``loop_times`` moments, ``loop_interval`` days apart from ``first``
    (in its time zone's wall clock)."""
    return [first + timedelta(days=loop_interval * i) for i in range(loop_times)]
