"""Per-push figures: the delivery funnel and the supplementary-SMS funnel.

Each is one aggregate query (deliveries of the push; SMS messages whose source is one of them).
"""

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from sms.models import SmsMessage

from .models import Delivery, Push

OUTCOMES = (
    "not_needed",
    "sent",
    "no_phone",
    "duplicate_number",
    "blocked",
    "failed",
    "unknown",
)


def funnel(push: Push) -> dict:
    """targets → sent → arrived → clicked (and dismissed, expired, failed)."""
    d = Delivery.objects.filter(push=push)
    reached = Q(arrived_at__isnull=False)
    return d.aggregate(
        targets=Count("id"),
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        arrived=Count("id", filter=reached),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        dismissed=Count("id", filter=Q(dismissed_at__isnull=False)),
        expired=Count("id", filter=Q(state=Delivery.State.EXPIRED)),
        failed=Count("id", filter=Q(state=Delivery.State.FAILED)),
        notifications_disabled=Count("id", filter=Q(notifications_enabled=False)),
    )


def fallback(push: Push) -> dict:
    """due → decided (by outcome) → SMS sent → delivered; blocked by reason; fee."""
    if not push.resend_by_sms:
        return {"enabled": False}
    d = Delivery.objects.filter(push=push)
    counts = d.aggregate(
        due=Count("id", filter=~Q(fallback=Delivery.Fallback.NONE)),
        waiting=Count("id", filter=Q(fallback=Delivery.Fallback.WAITING)),
        claimed=Count("id", filter=Q(fallback=Delivery.Fallback.CLAIMED)),
        decided=Count("id", filter=Q(fallback=Delivery.Fallback.DECIDED)),
        **{
            f"outcome_{o}": Count("id", filter=Q(outcome=o, fallback=Delivery.Fallback.DECIDED))
            for o in OUTCOMES
        },
    )
    blocked = dict(
        d.filter(outcome="blocked")
        .values_list("outcome_detail")
        .annotate(n=Count("id"))
        .values_list("outcome_detail", "n")
    )
    messages = SmsMessage.objects.filter(
        source_type=SmsMessage.Source.PUSH_DELIVERY, source_id__in=d.values("id")
    ).aggregate(
        sms_sent=Count(
            "id",
            filter=Q(state__in=[SmsMessage.State.SENT, SmsMessage.State.DELIVERED]),
        ),
        sms_delivered=Count("id", filter=Q(state=SmsMessage.State.DELIVERED)),
        sms_failed=Count("id", filter=Q(state=SmsMessage.State.FAILED)),
        sms_unknown=Count("id", filter=Q(state=SmsMessage.State.UNKNOWN)),
        fee=Coalesce(Sum("charged"), 0),
    )
    return {
        "enabled": True,
        "trigger_condition": push.sms_trigger,
        "delay_trigger_time": push.sms_delay,
        "max_sms": push.sms_max,
        **counts,
        "blocked_by_reason": blocked,
        **messages,
    }


def summary(push: Push) -> dict:
    return {"push_id": push.push_id, "status": push.status, **funnel(push), "sms": fallback(push)}
