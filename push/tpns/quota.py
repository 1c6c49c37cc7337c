"""TPNS's call quotas: the statistics APIs take 200 calls an hour per application, push-plan
creation (``add_plan_push``, "调用频率限制：200次/天") 200 a day (Beijing's).

Each API page of TPNS's statistics family (get_push_record, get_push_task_stat_channel,
get_push_channel_stat_overview, get_push_group_stat, get_device_stat_overview,
get_device_distribute_info, toolbox/getPushListByToken) says "调用频率限制：200次/小时", and
TPNS's error table answers an over-limit caller with 1008028 "request too fast" ("调用统计接口超频
率"). We count the family together, per application, in fixed clock hours (UTC hours, which are
Beijing's hours too): one ``ApiCallCount`` row per application, family and hour.

A call is counted by one upsert that only adds while the count is below the limit; the row it
returns says whether the call is in. So two callers at the edge can never both take the 200th
place (PostgreSQL locks the row and re-checks the condition on its latest version), and a refused
call writes nothing at all.
"""

from datetime import datetime, timedelta

from django.db import connection

from push.models import ApiCallCount, Application
from push.tpns.parse.fields import BEIJING

from . import RetCode, TpnsError

STATISTICS = "statistics"
PLANS = "plans"
LIMITS = {STATISTICS: 200, PLANS: 200}
WINDOWS = {STATISTICS: timedelta(hours=1), PLANS: timedelta(days=1)}
WINDOW = max(WINDOWS.values())  # the longest: counts older than it decide nothing


def window_of(now: datetime, family: str = STATISTICS) -> datetime:
    """The start of the window ``now`` is in: its clock hour, or its day in Beijing."""
    if WINDOWS[family] == timedelta(days=1):
        return now.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return now.replace(minute=0, second=0, microsecond=0)


def _count(app: Application, family: str, window_start: datetime, limit: int) -> int | None:
    """Add this call to the window's count unless it has reached ``limit``; the new count, or
    None when the call is over the limit (and nothing was written)."""
    table = connection.ops.quote_name(ApiCallCount._meta.db_table)
    start = connection.ops.adapt_datetimefield_value(window_start)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (application_id, family, window_start, calls)
            VALUES (%s, %s, %s, 1)
            ON CONFLICT (application_id, family, window_start)
            DO UPDATE SET calls = {table}.calls + 1 WHERE {table}.calls < %s
            RETURNING calls
            """,
            [app.pk, family, start, limit],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def charge(app: Application, family: str, now: datetime) -> int:
    """Count a call of ``family`` by ``app`` at ``now``; returns the calls of this hour so far,
    this one included. Over the family's limit: ``TpnsError`` 1008028 (HTTP 200, as TPNS
    answers refusals, with ``Retry-After`` the seconds to the next hour)."""
    limit = LIMITS[family]
    window_start = window_of(now, family)
    calls = _count(app, family, window_start, limit)
    if calls is None:
        length = WINDOWS[family]
        retry = max(1, int((window_start + length - now).total_seconds()))
        per = "a day" if length == timedelta(days=1) else "an hour"
        raise TpnsError(
            RetCode.TOO_FAST,
            f"request too fast: the {family} APIs take {limit} calls {per}; "
            f"try again in {retry} seconds",
            headers={"Retry-After": str(retry)},
        )
    return calls


def prune(before: datetime) -> int:
    """Delete the counts of windows that ended before ``before`` (they decide nothing)."""
    deleted, _ = ApiCallCount.objects.filter(window_start__lt=before - WINDOW).delete()
    return deleted
