"""Fallback preview: what the supplementary-SMS decision would do if it ran now.

It applies the engine's rules in the engine's order (trigger → phone → region → one SMS per
number → budget → template and signature → rate limits → package) to the push's undecided
deliveries without writing anything, so that staff can see the SMS count, why the others are
skipped, the fee, and whether the package balance covers it, before the due time too.
"""

from collections import Counter

from django.db.models import Count, Exists, Min, OuterRef, Subquery
from django.utils import timezone

from sms import quota
from sms.limits import Limiter
from sms.models import SmsMessage, region_of
from sms.sending import SmsRejected

from .fallback import (
    BUDGET_EXHAUSTED,
    DUPLICATE,
    NO_PHONE,
    NOT_NEEDED,
    SENT,
    fired_q,
    outcome_of,
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
    figures = undecided.aggregate(total=Count("pk"), due_at_earliest=Min("sms_due_at"))
    total = figures["total"]
    # As the engine does first: a delivery that already has a live SMS (its worker died after
    # writing it) is decided by that SMS, never sent again.
    earlier = SmsMessage.objects.filter(
        source_type=SmsMessage.Source.PUSH_DELIVERY, source_id=OuterRef("pk"), live=True
    )
    by_earlier_sms = Counter(
        ":".join(filter(None, outcome_of(state, reason)))
        for state, reason in undecided.annotate(
            sms_state=Subquery(earlier.values("state")[:1]),
            sms_reason=Subquery(earlier.values("reason")[:1]),
        )
        .filter(sms_state__isnull=False)
        .values_list("sms_state", "sms_reason")
    )
    already_sent = by_earlier_sms.pop(SENT, 0)
    skipped.update(by_earlier_sms)
    fired = undecided.filter(fired_q(push)).exclude(Exists(earlier))
    phone = DeviceAccount.objects.filter(
        device_id=OuterRef("device_id"), account_type=PHONE_ACCOUNT_TYPE
    ).values("account")[:1]
    rows = list(fired.annotate(phone=Subquery(phone)).order_by("pk").values_list("pk", "phone"))
    skipped[NOT_NEEDED] = total - already_sent - sum(by_earlier_sms.values()) - len(rows)
    result = {
        "enabled": True,
        "undecided": total,
        "due_at_earliest": figures["due_at_earliest"],
        "already_sent": already_sent,
        "would_send": 0,
        "fee": 0,
        "fee_per_sms": None,
    }
    try:
        _, template, signature = push.resolved_sms()
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
    balance = left = quota.usage(account, template.region, now)["left"]
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
        # What the SMS would say, under the signature pinned when the push was accepted.
        "sign_name": signature.text if signature else "",
        "content": content,
        "would_send": would_send,
        "fee_per_sms": fee_per_sms,
        "fee": would_send * fee_per_sms,
        "skipped": dict(+skipped),
        "package_balance": left,
        "balance_covers": not skipped["blocked:insufficient_package"],
    }
