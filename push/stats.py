"""Per-push figures: the delivery funnel and the supplementary-SMS funnel.

``compute(pushes)`` counts them for many pushes at once: one grouped pass over their deliveries,
one over their outcomes, one over their SMS records. The minute rollup stores the result as
PushStats for recent pushes, so that a push page with a million deliveries reads one row;
``summary(push)`` (``summaries(pushes)`` for a list page) uses the stored figures when they are
fresh and the push is large, and counts live otherwise.
"""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from sms.models import SmsMessage

from .models import Delivery, Push, PushStats
from .sms_source import messages_of, push_context

# Every outcome a supplementary-SMS decision can have (``Delivery.Outcome``), in its order.
OUTCOMES = tuple(Delivery.Outcome.values)
# Below this many targets a push page counts live; above it, it reads the rollup.
LIVE_LIMIT = 20_000
FRESH = timedelta(minutes=3)


def delivery_figures() -> dict:
    """The aggregates of a set of deliveries (``annotate``/``aggregate`` keyword arguments):
    the funnel, and the supplementary-SMS progress. Shared with the dashboard rollup."""
    return {
        "targets": Count("id"),
        "sent": Count("id", filter=Q(sent_at__isnull=False)),
        "arrived": Count("id", filter=Q(arrived_at__isnull=False)),
        "clicked": Count("id", filter=Q(clicked_at__isnull=False)),
        "dismissed": Count("id", filter=Q(dismissed_at__isnull=False)),
        "expired": Count("id", filter=Q(state=Delivery.State.EXPIRED)),
        "failed": Count("id", filter=Q(state=Delivery.State.FAILED)),
        "notifications_disabled": Count("id", filter=Q(notifications_enabled=False)),
        "due": Count("id", filter=~Q(fallback=Delivery.Fallback.NONE)),
        "waiting": Count("id", filter=Q(fallback=Delivery.Fallback.WAITING)),
        "claimed": Count("id", filter=Q(fallback=Delivery.Fallback.CLAIMED)),
        "decided": Count("id", filter=Q(fallback=Delivery.Fallback.DECIDED)),
    }


def sms_figures() -> dict:
    """The aggregates of a set of SMS messages (``annotate``/``aggregate`` keyword arguments).
    Shared with the dashboard rollup."""
    s = SmsMessage.State
    return {
        "sms_sent": Count("id", filter=Q(state__in=[s.SENT, s.DELIVERED])),
        "sms_delivered": Count("id", filter=Q(state=s.DELIVERED)),
        "sms_failed": Count("id", filter=Q(state=s.FAILED)),
        "sms_blocked": Count("id", filter=Q(state=s.BLOCKED)),
        "sms_unknown": Count("id", filter=Q(state__in=[s.UNKNOWN, s.SENDING])),
        "fee": Coalesce(Sum("charged"), 0),
    }


# The funnel of a push, in order: the figures of ``delivery_figures`` other than _SMS_FIELDS.
FUNNEL_KEYS = (
    "targets",
    "sent",
    "arrived",
    "clicked",
    "dismissed",
    "expired",
    "failed",
    "notifications_disabled",
)
_SMS_FIELDS = ("due", "waiting", "claimed", "decided")
# The SMS figures of a push page (a blocked SMS is counted by its outcome there).
_PUSH_SMS_FIGURES = ("sms_sent", "sms_delivered", "sms_failed", "sms_unknown", "fee")


def compute(pushes) -> dict[int, dict]:
    """push id → summary, for many pushes in three grouped queries."""
    pushes = {p.pk: p for p in pushes}
    if not pushes:
        return {}
    ids = list(pushes)
    funnel_figures = delivery_figures()
    rows = {
        r.pop("push_id"): r
        for r in Delivery.objects.filter(push_id__in=ids)
        .values("push_id")
        .annotate(**funnel_figures)
    }
    outcomes: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    blocked: dict[int, dict] = defaultdict(dict)
    for push_id, outcome, detail, n in (
        Delivery.objects.filter(push_id__in=ids, fallback=Delivery.Fallback.DECIDED)
        .values_list("push_id", "outcome", "outcome_detail")
        .annotate(n=Count("id"))
    ):
        outcomes[push_id][outcome] += n
        if outcome == Delivery.Outcome.BLOCKED:
            blocked[push_id][detail] = blocked[push_id].get(detail, 0) + n
    all_sms = sms_figures()
    sms = {
        r.pop("session_context"): r
        for r in messages_of(*ids)
        .values("session_context")
        .annotate(**{k: all_sms[k] for k in _PUSH_SMS_FIGURES})
    }
    empty_funnel = dict.fromkeys(funnel_figures, 0)
    empty_sms = dict.fromkeys(_PUSH_SMS_FIGURES, 0)
    out = {}
    for push_id, push in pushes.items():
        counts = rows.get(push_id, empty_funnel)
        funnel = {k: v for k, v in counts.items() if k not in _SMS_FIELDS}
        if push.resend_by_sms:
            fallback = {
                "enabled": True,
                "trigger_condition": push.sms_trigger,
                "delay_trigger_time": push.sms_delay,
                "max_sms": push.sms_max,
                **{k: counts[k] for k in _SMS_FIELDS},
                **{f"outcome_{o}": outcomes[push_id].get(o, 0) for o in OUTCOMES},
                "blocked_by_reason": blocked.get(push_id, {}),
                **sms.get(push_context(push_id), empty_sms),
            }
        else:
            fallback = {"enabled": False}
        out[push_id] = {"push_id": str(push_id), "status": push.status, **funnel, "sms": fallback}
    return out


def summaries(pushes, now=None) -> dict[int, dict]:
    """push id → figures, as ``summary`` gives them, for many pushes at once: the stored ones
    (≤ FRESH old) of the large pushes in one query, the others counted by ``compute``."""
    now = now or timezone.now()
    pushes = list(pushes)
    large = [p.pk for p in pushes if p.targets > LIVE_LIMIT]
    stored = (
        {
            s.push_id: s
            for s in PushStats.objects.filter(push_id__in=large, updated_at__gte=now - FRESH)
        }
        if large
        else {}
    )
    out = {
        p.pk: {**stored[p.pk].figures, "status": p.status, "as_of": stored[p.pk].updated_at}
        for p in pushes
        if p.pk in stored
    }
    out.update(compute(p for p in pushes if p.pk not in stored))
    return out


def summary(push: Push, now=None) -> dict:
    """A push's figures: stored ones for a large push (≤ FRESH old), else counted now."""
    return summaries([push], now=now)[push.pk]


def store(pushes, now=None) -> int:
    """Compute and keep the figures of these pushes (the minute rollup)."""
    now = now or timezone.now()
    figures = compute(pushes)
    PushStats.objects.bulk_create(
        [PushStats(push_id=i, figures=f, updated_at=now) for i, f in figures.items()],
        update_conflicts=True,
        unique_fields=["push"],
        update_fields=["figures", "updated_at"],
    )
    return len(figures)
