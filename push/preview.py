"""Fallback preview: what the supplementary-SMS decision would do if it ran now.

The push's undecided deliveries are planned and forecast by ``push.plan`` exactly as the engine
decides a batch, with nothing written or locked, and counted here: the SMS count, why the
others are skipped (``Decision.key``: ``no_phone``, ``blocked:daily_limit``, …), the fee, and
whether the package balance covers it, before the due time too.
"""

from collections import Counter

from django.db.models import Min
from django.utils import timezone

from . import plan
from .models import Delivery, Push


def preview(push: Push, now=None) -> dict:
    now = now or timezone.now()
    if not push.resend_by_sms:
        return {"enabled": False}
    deliveries = plan.undecided(push)
    pushes = {push.pk: push}
    forecast = plan.forecast(plan.plan(deliveries, pushes), pushes, now)
    skipped = Counter(decision.key for decision in forecast.decided.values())
    result = {
        "enabled": True,
        "undecided": len(deliveries),
        "due_at_earliest": _earliest_due(push),
        # SMS an earlier run already sent (its worker died before deciding the delivery).
        "already_sent": skipped.pop(plan.Outcome.SENT, 0),
        "would_send": len(forecast.sending),
        "fee": 0,
        "fee_per_sms": None,
        "skipped": dict(+skipped),
        "package_balance": None,
        "balance_covers": False,
    }
    if push.pk not in forecast.quotes:  # its template or signature cannot be sent with
        return result
    order, quote = forecast.quotes[push.pk]
    return {
        **result,
        # What the SMS would say, under the signature pinned when the push was accepted.
        "sign_name": order.sign_name,
        "content": order.content,
        "fee_per_sms": quote.fee_per_sms,
        "fee": quote.fee,
        "package_balance": quote.balance,
        "balance_covers": not skipped[plan.block(plan.Rule.INSUFFICIENT_PACKAGE).key],
    }


def _earliest_due(push: Push):
    return Delivery.objects.filter(
        push=push, fallback__in=[Delivery.Fallback.WAITING, Delivery.Fallback.CLAIMED]
    ).aggregate(earliest=Min("sms_due_at"))["earliest"]
