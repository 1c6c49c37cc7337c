"""The recurring django-q2 schedules the product needs, created idempotently after migrate."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

# name -> (function path, schedule type, minutes between runs)
SCHEDULES = {
    "pushconsole: clean up old task results": ("pushconsole.tasks.clean_task_results", "D", None),
    "sms: receipts, simulated deliveries, lost sends": ("sms.tasks.receipts_sweep", "I", 1),
    "push: start scheduled pushes, expire deliveries": ("push.tasks.push_sweep", "I", 1),
    "push: supplementary SMS due checks": ("push.tasks.fallback_sweep", "I", 1),
    "push: hand queued deliveries to APNs and FCM": ("push.tasks.send_sweep", "I", 1),
    "push: dashboard figures": ("push.tasks.rollup_daily_stats", "I", 1),
    "push: forget old TPNS API call counts": ("push.tasks.purge_call_counts", "H", None),
    # Runs for minutes and hands over to itself; this only restarts a lost one.
    "push: due clock (SMS, scheduled pushes, sends within a second)": (
        "push.tasks.clock",
        "I",
        1,
    ),
    "accounts: forget used signatures and failure counts": (
        "accounts.tasks.purge_auth_records",
        "I",
        5,
    ),
    "sms: warn of packages whose unused parts expire within 7 days": (
        "sms.tasks.warn_expiring_packages",
        "H",
        None,
    ),
    "sms: sync signature and template status with Tencent": (
        "sms.tasks.sync_provider_statuses",
        "I",
        10,
    ),
}


def ensure_schedules(using="default", **kwargs):
    from django_q.models import Schedule

    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        defaults = {
            "func": func,
            "schedule_type": schedule_type,
            "minutes": minutes,
            "repeats": -1,
        }
        Schedule.objects.using(using).update_or_create(
            name=name,
            defaults=defaults,
            create_defaults={**defaults, "next_run": timezone.now() + timedelta(minutes=1)},
        )


def result_retention() -> timedelta:
    return timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
