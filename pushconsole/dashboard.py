"""The dashboard's figures: sums of the daily rollup over a period, plus the live balance."""

from datetime import timedelta
from typing import NamedTuple

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from push.models import DailyStats
from push.rollup import PUSH_FIELDS, SMS_FIELDS
from sms import quota
from sms.models import Region


class Period(NamedTuple):
    days: int
    label: str


PERIODS = {
    "today": Period(1, _("Today")),
    "7": Period(7, _("7 days")),
    "30": Period(30, _("30 days")),
}
DEFAULT_PERIOD = "7"
FIELDS = PUSH_FIELDS + SMS_FIELDS


def normalize_period(period: str | None) -> str:
    """The period asked for, or the default one if it is not a known period."""
    return period if period in PERIODS else DEFAULT_PERIOD


def period_choices() -> list[tuple[str, str]]:
    return [(key, period.label) for key, period in PERIODS.items()]


def period_days(account, period: str, now=None):
    days = PERIODS[normalize_period(period)].days
    today = (now or timezone.now()).astimezone(account.tz).date()
    return [today - timedelta(days=i) for i in range(days - 1, -1, -1)]


def figures(account, period: str, now=None) -> dict:
    days = period_days(account, period, now)
    totals = DailyStats.objects.filter(account=account, day__gte=days[0]).aggregate(
        **{f: Sum(f) for f in FIELDS}
    )
    totals = {k: v or 0 for k, v in totals.items()}
    totals["arrival_rate"] = _rate(totals["arrived"], totals["sent"])
    totals["click_rate"] = _rate(totals["clicked"], totals["arrived"])
    totals["sms_delivery_rate"] = _rate(totals["sms_delivered"], totals["sms_sent"])
    totals["packages"] = [
        {"region": Region(r).label, **usage, "level": quota.level_of(usage)}
        for r, usage in quota.usage_by_region(account, now).items()
    ]
    return totals


def series(account, period: str, now=None) -> dict:
    days = period_days(account, period, now)
    rows = {
        r["day"]: r
        for r in DailyStats.objects.filter(account=account, day__gte=days[0]).values("day", *FIELDS)
    }
    return {
        "days": [d.isoformat() for d in days],
        **{f: [rows.get(d, {}).get(f, 0) for d in days] for f in FIELDS},
    }


def _rate(part, whole):
    return round(100 * part / whole, 1) if whole else None
