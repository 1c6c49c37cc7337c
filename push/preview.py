"""Fallback preview: what the supplementary-SMS decision would do if it ran now.

The push's undecided deliveries are planned and forecast by ``push.plan`` exactly as the engine
decides a batch, with nothing written or locked, and counted here: the SMS count, why the
others are skipped (``Decision.key``: ``no_phone``, ``blocked:daily_limit``, …), the fee, and
whether the package balance covers it, before the due time too.
"""

from collections import Counter

from django.db.models import Min
from django.utils import timezone

from . import audience, plan
from .models import PHONE_ACCOUNT_TYPE, Delivery, DeviceAccount, Push


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


def before_sending(push: Push, now=None) -> dict:
    """What an unsent push (parsed, not recorded: the console's confirmation of an all, tag or
    package push) would reach if it went out now, and the most its supplementary SMS can cost:
    one SMS per distinct phone number bound to a target device (the engine sends one per number
    per push), at most ``max_sms``, each at the fee of the SMS it would send (``plan.forecast``
    quotes it as for a recorded push). Fewer are sent when pushes arrive, numbers are of
    another region, or limits and the package balance stop some."""
    now = now or timezone.now()
    targets = audience.devices(push)
    result = {"devices": targets.count(), "sms": push.resend_by_sms}
    if not push.resend_by_sms:
        return result
    numbers = (
        DeviceAccount.objects.filter(
            device_id__in=targets.values("pk"), account_type=PHONE_ACCOUNT_TYPE
        )
        .values("account")
        .distinct()
        .count()
    )
    most = numbers if push.sms_max is None else min(numbers, push.sms_max)
    result.update(numbers=numbers, max_sms=most, fee_per_sms=None, max_fee=None, balance=None)
    forecast = plan.forecast(plan.Plan({}, []), {push.pk: push}, now)
    if push.pk in forecast.quotes:  # else its SMS cannot be sent as it stands
        order, quote = forecast.quotes[push.pk]
        result.update(
            content=order.content,
            fee_per_sms=quote.fee_per_sms,
            max_fee=most * quote.fee_per_sms,
            balance=quote.balance,
        )
    return result
