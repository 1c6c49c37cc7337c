"""Fallback preview: what the supplementary-SMS decision would do if it ran now.

It applies the engine's rules in the engine's order (trigger → phone → region → one SMS per
number → budget → template and signature → rate limits → package) to the push's undecided
deliveries without writing anything, so that staff can see the SMS count, why the others are
skipped, the fee, and whether the package balance covers it, before the due time too.
"""

from collections import Counter

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from sms import quota
from sms.limits import Limiter
from sms.models import SmsMessage, region_of
from sms.sending import SmsRejected, resolve

from .fallback import (
    BUDGET_EXHAUSTED,
    DUPLICATE,
    NO_PHONE,
    NOT_NEEDED,
    fired_q,
    rejected_rule,
)
from .models import PHONE_ACCOUNT_TYPE, Delivery, DeviceAccount, Push


def preview(push: Push, now=None) -> dict:
    now = now or timezone.now()
    if not push.resend_by_sms:
        return {"enabled": False}
    account = push.application.account
    undecided = Delivery.objects.filter(
        push=push, fallback__in=[Delivery.Fallback.WAITING, Delivery.Fallback.CLAIMED]
    )
    skipped: Counter = Counter()
    total = undecided.count()
    fired = undecided.filter(fired_q(push))
    skipped[NOT_NEEDED] = total - fired.count()
    phone = DeviceAccount.objects.filter(
        device_id=OuterRef("device_id"), account_type=PHONE_ACCOUNT_TYPE
    ).values("account")[:1]
    rows = list(fired.annotate(phone=Subquery(phone)).order_by("pk").values_list("pk", "phone"))
    result = {
        "enabled": True,
        "undecided": total,
        "due_at_earliest": undecided.order_by("sms_due_at")
        .values_list("sms_due_at", flat=True)
        .first(),
        "would_send": 0,
        "fee": 0,
        "fee_per_sms": None,
    }
    try:
        _, template, signature = resolve(
            account,
            **push.sms_info(),
        )
    except SmsRejected as exc:
        skipped[NO_PHONE] = sum(1 for _, p in rows if not p)
        skipped[f"blocked:{rejected_rule(exc)}"] = sum(1 for _, p in rows if p)
        return {
            **result,
            "skipped": dict(+skipped),
            "package_balance": None,
            "balance_covers": False,
        }
    already = SmsMessage.objects.of_push(push.pk).filter(account=account, live=True)
    taken = set(already.values_list("phone_number", flat=True))
    room = None if push.sms_max is None else max(0, push.sms_max - len(taken))
    candidates = []
    for _, number in rows:
        if not number:
            skipped[NO_PHONE] += 1
        elif region_of(number) != template.region:
            skipped["blocked:wrong_region"] += 1
        elif number in taken:
            skipped[DUPLICATE] += 1
        elif room is not None and room <= 0:
            skipped[f"blocked:{BUDGET_EXHAUSTED}"] += 1
            taken.add(number)
        else:
            taken.add(number)
            candidates.append(number)
            if room is not None:
                room -= 1
    content = template.render(push.sms_params, signature.text if signature else "")
    fee_per_sms = SmsMessage.fee_of(content)
    limiter = Limiter(account, SmsMessage.hash_content(content), now)
    limiter.load(candidates)
    balance = quota.usage(account, template.region, now)["left"]
    would_send = 0
    for number in candidates:
        rule = limiter.broken_rule(number)
        if rule:
            skipped[f"blocked:{rule}"] += 1
        elif balance < fee_per_sms:
            skipped["blocked:insufficient_package"] += 1
        else:
            limiter.count(number)
            balance -= fee_per_sms
            would_send += 1
    return {
        **result,
        "would_send": would_send,
        "fee_per_sms": fee_per_sms,
        "fee": would_send * fee_per_sms,
        "skipped": dict(+skipped),
        "package_balance": quota.usage(account, template.region, now)["left"],
        "balance_covers": not skipped["blocked:insufficient_package"],
    }
