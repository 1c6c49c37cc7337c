"""Rate limits per number, race-free across processes.

Rules, checked in this order for every number that is not on the account's exempt list:
``same_content`` (the same text to the same number within N seconds), ``hourly_limit`` (any 60
minutes), ``daily_limit`` (calendar day in the account's time zone).

Race-freedom: on PostgreSQL the caller's transaction first takes one advisory lock per
(account, number), in a fixed order, so that counting recent messages and inserting the new ones
happen as one step per number; locks are released at commit, when the new rows become visible
to the next worker's count. SQLite serialises writers on its own (one process in development).
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Q

from lib.locks import key_sql
from lib.pgarrays import literal

from .models import ExemptNumber, RateLimitPolicy, SmsMessage
from .rules import Rule

# The advisory lock key of (account, number), over the numbers of ``unnest(…) AS n`` (the
# placeholder is the account id).
LOCK_KEY = key_sql("sms-limit", "%s || ':' || n")


def lock_numbers(account_id: int, numbers) -> None:
    """Take the per-number locks for the rest of the current transaction (PostgreSQL), in key
    order (two senders of overlapping numbers cannot deadlock)."""
    if connection.vendor != "postgresql" or not numbers:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT "
            f"{LOCK_KEY} AS k FROM unnest(%s::text[]) AS n ORDER BY k) AS ordered",
            [str(account_id), literal(numbers)],
        )


@dataclass
class Usage:
    same_content: int = 0
    hour: int = 0
    day: int = 0


class Limiter:
    """Decides, number by number, whether one more SMS may go; counts what it lets through."""

    def __init__(self, account, content_hash: str, now: datetime):
        self.account, self.content_hash, self.now = account, content_hash, now
        self.policy = policy = RateLimitPolicy.for_account(account)
        # Whether any rule is on (an account may switch all three off).
        self.active = bool(
            policy.same_content_seconds or policy.hourly_limit is not None or policy.daily_limit
        )
        local = now.astimezone(account.tz)
        self.day_start = datetime.combine(local.date(), time.min, tzinfo=account.tz)
        self.hour_start = now - timedelta(hours=1)
        self.same_since = now - timedelta(seconds=self.policy.same_content_seconds)
        self.usage: dict[str, Usage] = {}
        self.exempt: set[str] = set()

    def load(self, numbers) -> None:
        """Read the exempt list and recent usage of these numbers: two queries in all, none
        when no rule is on (nothing to count; ``broken_rule`` then says None for every
        number)."""
        if not self.active:
            return
        # A set, not a list: Django would resolve a list's values one by one.
        numbers = set(numbers)
        self.exempt = set(
            ExemptNumber.objects.filter(account=self.account, number__any=numbers).values_list(
                "number", flat=True
            )
        )
        since = min(self.day_start, self.hour_start, self.same_since)
        rows = (
            SmsMessage.objects.counting_for_limits()
            .filter(account=self.account, phone_number__any=numbers, created_at__gte=since)
            .values("phone_number")
            .annotate(
                day=Count("id", filter=Q(created_at__gte=self.day_start)),
                hour=Count("id", filter=Q(created_at__gte=self.hour_start)),
                same=Count(
                    "id",
                    filter=Q(created_at__gte=self.same_since, content_hash=self.content_hash),
                ),
            )
        )
        self.usage = {
            r["phone_number"]: Usage(same_content=r["same"], hour=r["hour"], day=r["day"])
            for r in rows
        }

    def broken_rule(self, number: str) -> Rule | None:
        """The rule one more SMS to ``number`` would break, or None."""
        if number in self.exempt:
            return None
        used, policy = self.usage.get(number, Usage()), self.policy
        if policy.same_content_seconds and used.same_content:
            return Rule.SAME_CONTENT
        if policy.hourly_limit is not None and used.hour >= policy.hourly_limit:
            return Rule.HOURLY_LIMIT
        if policy.daily_limit and used.day >= policy.daily_limit:
            return Rule.DAILY_LIMIT
        return None

    def count(self, number: str) -> None:
        used = self.usage.setdefault(number, Usage())
        used.same_content += 1
        used.hour += 1
        used.day += 1
