"""Dates of the filter forms and APIs as moments in an account's time zone."""

from datetime import date, datetime, time, timedelta

from django.utils import timezone


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
