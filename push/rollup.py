"""The dashboard rollup: per account and local calendar day, the push and SMS figures in total
(DailyStats) and per application and channel (DailyChannelStats), written by the same run.

Bounded: a run counts **today** (each account's calendar day) and **yesterday** only while it
can still change much: every run until ``GRACE`` after its end (the pushes of its last minutes,
a run missed around midnight), then once more at ``SETTLE`` after its end (late arrivals and
clicks), then never again (``days_to_count``). Older days stay as they were: events for pushes
of earlier days are not counted on the dashboard any more (the push page counts live).

Set-based: per time zone in use (not per account), one grouped query over the window's
deliveries, one over its SMS and one over its pushes; the totals are the sums of the
per-application-and-channel groups, so the two tables always agree. The deliveries are found
from a literal lower bound on the push id (the window's first push: ids grow with creation),
so PostgreSQL reads the window's part of ``push_delivery_push_idx`` instead of choosing a scan
of the whole table. Then, in one short transaction per time zone, the counted days' rows of
both tables are replaced: one DELETE and one bulk INSERT per table (a group that disappeared,
such as a purged application's deliveries of today, goes with them).
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Case, Count, Min, OuterRef, Q, Subquery, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account
from lib.dates import local_day_start
from lib.locks import key_sql
from sms.models import SmsMessage

from . import stats
from .models import DailyChannelStats, DailyStats, Delivery, Push
from .sms_source import PUSH_DELIVERY

# Refresh of recent large pushes' stored figures (``refresh_pushes``), in days.
DAYS = 2
PUSH_FIELDS = ("pushes", "targets", "sent", "arrived", "clicked", "sms_due")
SMS_FIELDS = ("sms_sent", "sms_delivered", "sms_failed", "sms_blocked", "sms_unknown", "sms_fee")
# The breakdown's figures (DailyChannelStats), the dashboard's columns.
CHANNEL_FIELDS = ("targets", "sent", "arrived", "clicked", "sms_sent", "sms_fee")
# Yesterday is counted by every run until GRACE after it ended, and once more at SETTLE.
GRACE = timedelta(minutes=10)
SETTLE = timedelta(hours=2)


def days_to_count(tz, now: datetime, settled: bool) -> list[date]:
    """The local days a run at ``now`` counts in the time zone ``tz``: today, and yesterday
    until GRACE after its end, or after SETTLE while it is not ``settled`` (its rows were not
    counted at or after its SETTLE yet)."""
    today = now.astimezone(tz).date()
    midnight = local_day_start(today, tz)
    if now < midnight + GRACE or (now >= midnight + SETTLE and not settled):
        return [today - timedelta(days=1), today]
    return [today]


def last_count_due(day: date, tz, now: datetime) -> datetime:
    """The latest moment the rollup should have counted ``day`` by ``now`` (the dashboard
    says "as of" when the day's rows are older than that): now while the day runs and within
    GRACE of its end, the end of the GRACE until SETTLE, then SETTLE."""
    end = local_day_start(day + timedelta(days=1), tz)
    if now < end + GRACE:
        return now
    return end + GRACE if now < end + SETTLE else end + SETTLE


def refresh(now=None) -> int:
    """Count the days due (``days_to_count``) of every account; returns rows written."""
    now = now or timezone.now()
    written = 0
    for zone in Account.objects.values_list("time_zone", flat=True).distinct().order_by():
        written += refresh_zone(zone, now)
    return written


def refresh_zone(zone: str, now: datetime) -> int:
    """Count and replace the due days of the accounts in the time zone ``zone``."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    settle_at = local_day_start(today, tz) + SETTLE
    accounts = Account.objects.filter(time_zone=zone)
    settled = DailyStats.objects.filter(
        account__in=accounts, day=today - timedelta(days=1), updated_at__gte=settle_at
    ).exists()
    days = days_to_count(tz, now, settled)
    since = local_day_start(days[0], tz)
    until = local_day_start(today + timedelta(days=1), tz)
    groups = count(zone, since, until)
    totals: dict = defaultdict(lambda: dict.fromkeys(PUSH_FIELDS + SMS_FIELDS, 0))
    for (account_id, day, _app, _channel), figures in groups["channels"].items():
        for f, n in figures.items():
            totals[(account_id, day)][f] += n
    for (account_id, day), n in groups["pushes"].items():
        totals[(account_id, day)]["pushes"] = n
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Two runs at once (a slow one overlapping the next minute's) replace in turn:
            # the second deletes what the first inserted.
            with connection.cursor() as cursor:
                lock = key_sql("push-rollup", "%s")
                cursor.execute(f"SELECT pg_advisory_xact_lock({lock})", [zone])
        DailyStats.objects.filter(account__in=accounts, day__in=days).delete()
        DailyChannelStats.objects.filter(account__in=accounts, day__in=days).delete()
        DailyStats.objects.bulk_create(
            DailyStats(account_id=account_id, day=day, updated_at=now, **figures)
            for (account_id, day), figures in totals.items()
        )
        DailyChannelStats.objects.bulk_create(
            DailyChannelStats(
                account_id=account_id,
                day=day,
                application_id=app,
                channel=channel or "",
                updated_at=now,
                **{f: figures[f] for f in CHANNEL_FIELDS},
            )
            for (account_id, day, app, channel), figures in groups["channels"].items()
        )
    return len(totals) + len(groups["channels"])


def count(zone: str, since: datetime, until: datetime) -> dict:
    """The figures of the accounts in ``zone`` between ``since`` and ``until`` by local day:
    ``channels``: (account, day, application, channel) → the push and SMS figures (the SMS
    API's messages under application and channel None); ``pushes``: (account, day) → pushes.
    """
    tz = ZoneInfo(zone)
    channels: dict = defaultdict(lambda: dict.fromkeys(PUSH_FIELDS[1:] + SMS_FIELDS, 0))
    deliveries = delivery_groups(zone, since, until)
    for r in deliveries or ():
        key = (
            r.pop("push__application__account_id"),
            r.pop("day"),
            r.pop("push__application_id"),
            r.pop("channel"),
        )
        channels[key].update(r)
    for r in sms_groups(zone, since, until):
        key = (r.pop("account_id"), r.pop("day"))
        key += (r.pop("push_application_id"), r.pop("push_channel"))
        channels[key].update(r)
    pushes = {
        (r["application__account_id"], r["day"]): r["pushes"]
        for r in window(zone, since, until)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("application__account_id", "day")
        .annotate(pushes=Count("id"))
        .order_by()
    }
    return {"channels": channels, "pushes": pushes}


def window(zone: str, since: datetime, until: datetime):
    """The pushes of the accounts in ``zone`` created in the window (``push_app_created_idx``)."""
    return Push.objects.filter(
        application__account__time_zone=zone, created_at__gte=since, created_at__lt=until
    )


def delivery_groups(zone: str, since: datetime, until: datetime):
    """The funnel of the window's pushes' deliveries grouped by account, local day of the push,
    application and channel; None when the window has no push."""
    first = window(zone, since, until).aggregate(first=Min("id"))["first"]
    if first is None:
        return None
    # The literal bound (see the module): only a bound, the join still decides which count.
    return (
        Delivery.objects.filter(
            push_id__gte=first,
            push__application__account__time_zone=zone,
            push__created_at__gte=since,
            push__created_at__lt=until,
        )
        .annotate(day=TruncDate("push__created_at", tzinfo=ZoneInfo(zone)))
        .values("push__application__account_id", "day", "push__application_id", "channel")
        .annotate(**stats.dashboard_figures())
        .order_by()
    )


def sms_groups(zone: str, since: datetime, until: datetime):
    """The SMS of the accounts in ``zone`` created in the window, grouped by account, local
    day and, for a push's supplementary SMS, its delivery's application and channel (None for
    the SMS API's, and for a purged delivery's); on ``sms_message_account_idx``, each push SMS's
    delivery by its primary key."""
    source = Delivery.objects.filter(pk=OuterRef("source_id"))
    is_push = Q(source_type=PUSH_DELIVERY)
    figures = stats.sms_figures()
    figures["sms_fee"] = figures.pop("fee")
    return (
        SmsMessage.objects.filter(
            account__time_zone=zone, created_at__gte=since, created_at__lt=until
        )
        .annotate(
            day=TruncDate("created_at", tzinfo=ZoneInfo(zone)),
            push_application_id=Case(
                When(is_push, then=Subquery(source.values("push__application_id")[:1]))
            ),
            push_channel=Case(When(is_push, then=Subquery(source.values("channel")[:1]))),
        )
        .values("account_id", "day", "push_application_id", "push_channel")
        .annotate(**figures)
        .order_by()
    )


def refresh_pushes(now=None, days: int = DAYS, budget: int | None = None) -> int:
    """Keep the stored figures of the large pushes of the last ``days`` days current (their
    pages read them); returns how many pushes were counted.

    Few rows (only pushes above ``stats.LIVE_LIMIT`` targets), read at once; ``stats.refresh``
    counts again only those changed since their count (or due for a recount), together in a
    few grouped queries, at most ``budget`` deliveries a run (``stats.BUDGET``)."""
    now = now or timezone.now()
    recent = Push.objects.filter(
        created_at__gte=now - timedelta(days=days), targets__gt=stats.LIVE_LIMIT
    )
    return stats.refresh(recent, now=now, budget=budget)["counted"]
