"""Dates of the filter forms and APIs as moments in an account's time zone.

Dates and date-times that come in from outside must lie within ``EARLIEST``..``LATEST``: far
enough from Python's year 1 and 9999 that a day added (an inclusive end) or a time-zone
offset applied can never overflow, and far wider than any record can be.
"""

from datetime import date, datetime, time, timedelta

from django.utils import timezone

EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)
RANGE_TEXT = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def in_range(value: date | datetime) -> bool:
    """Whether an outside date or date-time is one the filters can work with."""
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


def local_day_start(day: date, tz) -> datetime:
    """The midnight starting ``day`` in the time zone ``tz``."""
    return datetime.combine(day, time.min, tzinfo=tz)


def local_bound(value, tz, *, end: bool = False) -> datetime | None:
    """A filter bound: a date means its local midnight (for an ``end``, the next one: the bound
    is exclusive); a date-time without offset is in ``tz``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, tz)
    return local_day_start(value + timedelta(days=1) if end else value, tz)
