"""The dashboard rollup: per account and local calendar day, the push and SMS figures.

Every minute the last ``DAYS`` days are recomputed with a few grouped queries per time zone in
use (not per account), and written as DailyStats rows. Older days stay as they were: events for
pushes older than that are not counted on the dashboard any more (the push page counts live).
"""

import zoneinfo
from collections import defaultdict
from datetime import datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account
from sms.models import SmsMessage

from . import stats
from .models import DailyStats, Delivery, Push

DAYS = 2
PUSH_FIELDS = ("pushes", "targets", "sent", "arrived", "clicked", "sms_due")
SMS_FIELDS = ("sms_sent", "sms_delivered", "sms_failed", "sms_blocked", "sms_unknown", "sms_fee")


def refresh(now=None, days: int = DAYS) -> int:
    """Recompute the last ``days`` local days of every account; returns rows written."""
    now = now or timezone.now()
    written = 0
    zones = Account.objects.values_list("time_zone", flat=True).distinct()
    for zone in zones:
        tz = zoneinfo.ZoneInfo(zone)
        first_day = now.astimezone(tz).date() - timedelta(days=days - 1)
        since = datetime.combine(first_day, time.min, tzinfo=tz)
        accounts = Account.objects.filter(time_zone=zone).values("pk")
        rows: dict = defaultdict(dict)
        funnel = stats.delivery_figures()
        for r in (
            Push.objects.filter(application__account__in=accounts, created_at__gte=since)
            .annotate(day=TruncDate("created_at", tzinfo=tz))
            .values("application__account_id", "day")
            .annotate(pushes=Count("id"))
        ):
            rows[(r["application__account_id"], r["day"])]["pushes"] = r["pushes"]
        for r in (
            Delivery.objects.filter(
                push__application__account__in=accounts, push__created_at__gte=since
            )
            .annotate(day=TruncDate("push__created_at", tzinfo=tz))
            .values("push__application__account_id", "day")
            .annotate(
                targets=funnel["targets"],
                sent=funnel["sent"],
                arrived=funnel["arrived"],
                clicked=funnel["clicked"],
                sms_due=funnel["due"],
            )
        ):
            key = (r.pop("push__application__account_id"), r.pop("day"))
            rows[key].update(r)
        sms = stats.sms_figures()
        sms_fee = sms.pop("fee")
        for r in (
            SmsMessage.objects.filter(account__in=accounts, created_at__gte=since)
            .annotate(day=TruncDate("created_at", tzinfo=tz))
            .values("account_id", "day")
            .annotate(**sms, sms_fee=sms_fee)
        ):
            key = (r.pop("account_id"), r.pop("day"))
            rows[key].update(r)
        fields = PUSH_FIELDS + SMS_FIELDS
        DailyStats.objects.bulk_create(
            [
                DailyStats(
                    account_id=account_id,
                    day=day,
                    updated_at=now,
                    **{f: figures.get(f, 0) for f in fields},
                )
                for (account_id, day), figures in rows.items()
            ],
            update_conflicts=True,
            unique_fields=["account", "day"],
            update_fields=[*fields, "updated_at"],
        )
        written += len(rows)
    return written


def refresh_pushes(now=None, days: int = DAYS) -> int:
    """Store the figures of the large pushes of the last ``days`` days (their pages read them).

    Few rows (only pushes above ``stats.LIVE_LIMIT`` targets), read at once: ``stats.store``
    counts them together in a few grouped queries."""
    now = now or timezone.now()
    recent = Push.objects.filter(
        created_at__gte=now - timedelta(days=days), targets__gt=stats.LIVE_LIMIT
    )
    return stats.store(recent, now=now)
