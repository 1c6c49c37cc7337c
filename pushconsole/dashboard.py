"""The dashboard's figures: the daily rollup's earlier days plus today counted live (cached for
at most a minute per account), per hour of today, per application and channel (the rollup's
DailyChannelStats for the earlier days, the same live count for today), and the balance.
"""

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from push import rollup, stats
from push.models import Application, ChannelKind, DailyChannelStats, DailyStats, Device
from push.rollup import CHANNEL_FIELDS, PUSH_FIELDS, SMS_FIELDS
from push.stats import CHANNELS
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
# A rate is one count of another: name → (part, whole).
RATES = {
    "arrival_rate": ("arrived", "targets"),
    "click_rate": ("clicked", "arrived"),
    "sms_delivery_rate": ("sms_delivered", "sms_sent"),
}
# How old the dashboard's figures may be: today's are counted at most this long ago.
CACHE_SECONDS = 60
FRESH = timedelta(seconds=CACHE_SECONDS)
# The per-hour series of today.
HOUR_FIELDS = ("targets", "arrived", "clicked", "sms_sent")
# The breakdown's columns (per application and per channel): the rollup's per-channel figures.
BREAKDOWN_FIELDS = CHANNEL_FIELDS


def normalize_period(period: str | None) -> str:
    """The period asked for, or the default one if it is not a known period."""
    return period if period in PERIODS else DEFAULT_PERIOD


def period_choices() -> list[tuple[str, str]]:
    return [(key, period.label) for key, period in PERIODS.items()]


def period_days(account, period: str, now=None):
    days = PERIODS[normalize_period(period)].days
    today = (now or timezone.now()).astimezone(account.tz).date()
    return [today - timedelta(days=i) for i in range(days - 1, -1, -1)]


def figures(account, period: str, now=None, live=None) -> dict:
    """The period's totals: the rollup's earlier days plus today counted live (``today``), the
    rates with what they are of, the packages' balance, and when the figures are as of.
    ``live``: today's figures if the caller has them already."""
    now = now or timezone.now()
    days = period_days(account, period, now)
    earlier = DailyStats.objects.filter(account=account, day__gte=days[0], day__lt=days[-1])
    totals = earlier.aggregate(**{f: Sum(f) for f in FIELDS})
    live = live or today(account, now)
    totals = {f: (totals[f] or 0) + live["totals"][f] for f in FIELDS}
    totals["sms_waiting"] = live["totals"]["sms_waiting"]
    for name, (part, whole) in RATES.items():
        totals[name] = {
            "part": totals[part],
            "whole": totals[whole],
            "rate": _rate(totals[part], totals[whole]),
        }
    totals["packages"] = [
        {"region": Region(r).label, **usage, "level": quota.level_of(usage)}
        for r, usage in quota.usage_by_region(account, now).items()
    ]
    totals["as_of"] = live["as_of"]
    totals["devices"] = live["devices"]
    # Yesterday's pushes still gather arrivals and clicks: the rollup counts that day again
    # until its grace is over, and once more when it settles (``push.rollup``); if it has
    # fallen behind that, the page says since when.
    totals["rollup_as_of"] = None
    if len(days) > 1:
        latest = earlier.filter(day=days[-2]).values_list("updated_at", flat=True).first()
        if latest and rollup.last_count_due(days[-2], account.tz, now) - latest > FRESH:
            totals["rollup_as_of"] = latest
    totals["has_data"] = any(totals[f] for f in FIELDS)
    return totals


def series(account, period: str, now=None, live=None) -> dict:
    """Per day of the period (today live), and per hour of today, for the charts."""
    now = now or timezone.now()
    days = period_days(account, period, now)
    rows = {
        r["day"]: r
        for r in DailyStats.objects.filter(
            account=account, day__gte=days[0], day__lt=days[-1]
        ).values("day", *FIELDS)
    }
    live = live or today(account, now)
    rows[days[-1]] = live["totals"]
    return {
        "days": [d.isoformat() for d in days],
        **{f: [rows.get(d, {}).get(f, 0) for d in days] for f in FIELDS},
        "hours": live["hours"],
        "as_of": live["as_of"].isoformat(),
    }


def breakdown(account, period: str, now=None, live=None) -> dict:
    """Per application and per channel over the period: the rollup's earlier days
    (DailyChannelStats) plus today counted live, as ``count_today`` lists them. The SMS API's
    messages are the row without application (``id`` None) and without channel (``channel``
    None); the rows of each list add up to the period's totals."""
    now = now or timezone.now()
    days = period_days(account, period, now)
    live = live or today(account, now)
    apps: dict = defaultdict(lambda: dict.fromkeys(BREAKDOWN_FIELDS, 0))
    channels: dict = defaultdict(lambda: dict.fromkeys(BREAKDOWN_FIELDS, 0))
    for r in (
        DailyChannelStats.objects.filter(account=account, day__gte=days[0], day__lt=days[-1])
        .values("application_id", "channel")
        .annotate(**{f: Sum(f) for f in BREAKDOWN_FIELDS})
        .order_by()
    ):
        for f in BREAKDOWN_FIELDS:
            apps[r["application_id"]][f] += r[f]
            channels[r["channel"] or None][f] += r[f]
    for r in live["apps"]:
        for f in BREAKDOWN_FIELDS:
            apps[r["id"]][f] += r[f]
    for r in live["channels"]:
        for f in BREAKDOWN_FIELDS:
            channels[r["channel"]][f] += r[f]
    return {"apps": _app_rows(apps), "channels": _channel_rows(channels)}


def _app_rows(apps: dict) -> list[dict]:
    """The per-application rows, by name, the SMS API's last. A deleted application (its row
    purged, its figures kept by the rollup) is named so, without a link."""
    known = {
        pk: (name, deleted_at)
        for pk, name, deleted_at in Application.all_objects.filter(
            pk__in=[a for a in apps if a]
        ).values_list("pk", "name", "deleted_at")
    }
    gone = (pgettext("dashboard breakdown", "Deleted application"), True)
    names = {a: known.get(a, gone)[0] for a in apps if a}
    return [
        {
            "id": a,
            "name": names.get(a, ""),
            "deleted": bool(a) and known.get(a, gone)[1] is not None,
            **figures,
        }
        for a, figures in sorted(
            apps.items(), key=lambda kv: (kv[0] is None, names.get(kv[0], ""), kv[0] or 0)
        )
    ]


def _channel_rows(channels: dict) -> list[dict]:
    """The per-channel rows in ``CHANNELS`` order, the SMS API's (None) last, each named in
    the reader's language."""
    return [
        {
            "channel": c,
            "label": ChannelKind(c).label if c else "",
            **channels[c],
        }
        for c in [*CHANNELS, None]
        if c in channels
    ]


def today(account, now=None) -> dict:
    """Today's figures (the account's calendar day) as of at most CACHE_SECONDS ago: kept in the
    cache per account, counted again once older than that (``now`` says how old it is)."""
    now = now or timezone.now()
    day = now.astimezone(account.tz).date()
    key = f"dashboard:today:{account.pk}"
    cached = cache.get(key)
    if cached and cached["day"] == day and timedelta(0) <= now - cached["as_of"] <= FRESH:
        figures = cached
    else:
        figures = count_today(account, now)
        cache.set(key, figures, CACHE_SECONDS)
    for row in figures["channels"]:  # named in the reader's language, not the cache filler's
        row["label"] = ChannelKind(row["channel"]).label if row["channel"] else ""
    return figures


def count_today(account, now) -> dict:
    """Today's figures counted now: totals, per hour, per application and per channel."""
    tz = account.tz
    day = now.astimezone(tz).date()
    since = datetime.combine(day, time.min, tzinfo=tz)
    until = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    groups = stats.account_hours(account, since, until)
    totals = dict.fromkeys((*FIELDS, "sms_waiting"), 0)
    hours = {f: [0] * 24 for f in HOUR_FIELDS}
    apps: dict = defaultdict(lambda: dict.fromkeys(BREAKDOWN_FIELDS, 0))
    channels: dict = defaultdict(lambda: dict.fromkeys(BREAKDOWN_FIELDS, 0))
    for r in groups["pushes"]:
        totals["pushes"] += r["pushes"]
    for r in groups["deliveries"]:
        for f in ("targets", "sent", "arrived", "clicked", "sms_due", "sms_waiting"):
            totals[f] += r[f]
        for f in ("targets", "arrived", "clicked"):
            hours[f][r["hour"]] += r[f]
        for f in ("targets", "sent", "arrived", "clicked"):
            apps[r["push__application_id"]][f] += r[f]
            channels[r["channel"]][f] += r[f]
    for r in groups["sms"]:
        for f in SMS_FIELDS:
            totals[f] += r[f]
        hours["sms_sent"][r["hour"]] += r["sms_sent"]
        for f in ("sms_sent", "sms_fee"):
            apps[r["push_application_id"]][f] += r[f]
            channels[r["push_channel"]][f] += r[f]
    # Not of the period: the devices registered now (read off push_device_app_idx).
    devices = Device.objects.filter(application__account=account).count()
    return {
        "day": day,
        "as_of": now,
        "totals": totals,
        "devices": devices,
        "hours": hours,
        # The SMS API's messages belong to no application and no channel (key None).
        "apps": _app_rows(apps),
        "channels": _channel_rows(channels),
    }


def chart_labels() -> dict[str, str]:
    """The charts' series names, in the user's language."""
    return {
        "targets": gettext("Targeted"),
        "sent": gettext("Sent"),
        "arrived": gettext("Arrived"),
        "clicked": gettext("Clicked"),
        "sms_due": gettext("Armed for SMS"),
        "sms_sent": gettext("SMS sent"),
        "sms_delivered": gettext("SMS delivered"),
    }


def _rate(part, whole):
    return round(100 * part / whole, 1) if whole else None
