"""The supplementary-SMS decision, top to bottom: what each due delivery gets, and why.

One decision per delivery, one ``Delivery.Outcome`` (and, when blocked, one ``Delivery.Rule``),
taken in this order; the first step that stops a delivery names its outcome:

0. an SMS row already written for it (its worker died after writing it) decides it: ``sent``,
   ``blocked``, ``failed``, or ``unknown`` if it may have gone out — never a second SMS;
1. trigger (``fired``): notifications off / not arrived / not clicked, else ``not_needed``;
2. phone: a bound number (account type 1002), else ``no_phone``;
3. the push's template and signature, pinned when it was accepted (``Push.resolved_sms``, read
   once per push per batch): no longer approved, or its SMS application gone → ``blocked`` with
   the rule (``no_authorization`` too, when its order is built: ``order_for``);
4. region: a number of another region than the template's → ``blocked:wrong_region``;
5. duplicate number: one SMS per number per push: within the batch the first delivery of a
   number carries it (``plan``), and a number that already has an SMS of this push is
   ``duplicate_number`` (``screen``);
6. budget: beyond the push's ``max_sms`` → ``blocked:budget_exhausted`` (``screen``);
7. the SMS platform's gates, per number: exempt list → rate limits → package balance
   (``sms.sending``: the rule, e.g. ``blocked:daily_limit``), then the provider: ``sent``,
   ``failed`` (its code) or ``unknown``.

Steps 0–5 (within the batch) are ``plan``: it reads, and writes nothing. ``screen`` (the trigger
again, step 5 against the SMS rows, step 6) runs where the engine sends, under the per-number
locks of the SMS platform immediately before the rows are written, since an event or another
worker may have come in since the claim; step 7 is the SMS platform's (``sending.reserve``).

The engine (``push.fallback``) claims a batch, plans it and sends what the plan says through
``sms.sending`` with ``screen`` as its last check. The preview (``push.preview``) plans a push's
undecided deliveries the same way and runs ``forecast``: ``screen`` without the lock and the
platform's ``quote`` (its gates without writing) — the same questions, nothing written.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.db.models import F, OuterRef, Subquery

from sms.models import SmsMessage, region_of
from sms.sending import Quote, Recipient, SmsOrder, SmsRejected, prepare, quote

from .models import CLAIMED_COLUMNS, PHONE_ACCOUNT_TYPE, Delivery, Device, DeviceAccount, Push
from .sms_source import PUSH_DELIVERY, messages_of, push_context

Outcome, Rule = Delivery.Outcome, Delivery.Rule


@dataclass(slots=True)
class Due:
    """A delivery to decide: as the claim returned it (``CLAIMED_COLUMNS``), and what
    ``attach`` (or, for a preview, ``undecided``) adds to it."""

    id: int
    push_id: int
    device_id: int
    arrived_at: object = None
    clicked_at: object = None
    sms_attempts: int = 0
    notifications_enabled: bool | None = None  # read for the permission-off trigger only
    phone: str | None = None
    earlier: tuple[str, str] | None = None  # (state, reason) of an SMS row written for it


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # an Outcome
    detail: str = ""  # the Rule when blocked; the provider's code when failed

    @property
    def key(self) -> str:
        """How the preview and the tests count it: ``blocked:daily_limit``, ``sent``."""
        return f"{self.outcome}:{self.detail}" if self.detail else self.outcome


@dataclass
class Group:
    """One push's deliveries of a batch that get an SMS unless ``screen`` or the SMS platform
    stops them: one template and parameter set, one number each, in delivery id order."""

    push: Push
    resolved: tuple  # (SMS application, template, signature), as Push.resolved_sms gave it
    carriers: list[Due] = field(default_factory=list)

    @property
    def region(self) -> str:
        return self.resolved[1].region


@dataclass
class Plan:
    decided: dict[int, Decision]  # delivery id → its decision, for those plan decides
    groups: list[Group]


def fired(push: Push, *, notifications_enabled, arrived_at, clicked_at) -> bool:
    """Step 1: whether the trigger condition of a push holds for one delivery."""
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:
        return not notifications_enabled
    if push.sms_trigger == Push.Trigger.NOT_ARRIVED:
        return arrived_at is None
    return clicked_at is None


def outcome_of(state: str, reason: str) -> Decision:
    """A delivery's decision from the state of its SMS row (steps 0 and 7)."""
    if state in (SmsMessage.State.SENT, SmsMessage.State.DELIVERED):
        return Decision(Outcome.SENT)
    if state == SmsMessage.State.BLOCKED:
        return Decision(Outcome.BLOCKED, reason)
    if state == SmsMessage.State.FAILED:
        return Decision(Outcome.FAILED, reason)
    return Decision(Outcome.UNKNOWN, reason or state)  # sending (a worker died) or unknown


# What a decision needs, read set-based ---------------------------------------------------------
#
# The ids and numbers of a batch go to ``__any`` as sets: Django resolves the values of a list
# (or tuple) one by one, a thousand calls a batch for nothing (the lookup sends one array).


def attach(batch: list[Due]) -> dict[int, Push]:
    """Read what deciding a claimed batch needs, a few queries whatever its size: the pushes,
    the device's permission (for the permission-off trigger only; the others decide on what
    the claim returned), SMS rows already written, the bound numbers. Returns the pushes."""
    pushes = Push.objects.select_related("application__account").in_bulk({d.push_id for d in batch})
    off = Push.Trigger.PERMISSION_OFF
    devices = [d.device_id for d in batch if pushes[d.push_id].sms_trigger == off]
    if devices:
        enabled = dict(
            Device.objects.filter(pk__any=set(devices)).values_list("pk", "notifications_enabled")
        )
        for d in batch:
            d.notifications_enabled = enabled.get(d.device_id)
    earlier = {
        source_id: (state, reason)
        for source_id, state, reason in SmsMessage.objects.filter(
            source_type=PUSH_DELIVERY,
            source_id__any={d.id for d in batch},
            live=True,
        )
        .order_by()  # not the records' order: nothing to sort
        .values_list("source_id", "state", "reason")
    }
    phones = dict(
        DeviceAccount.objects.filter(
            device_id__any={d.device_id for d in batch}, account_type=PHONE_ACCOUNT_TYPE
        ).values_list("device_id", "account")
    )
    for d in batch:
        d.earlier = earlier.get(d.id)
        d.phone = phones.get(d.device_id)
    return pushes


def undecided(push: Push) -> list[Due]:
    """The push's deliveries not decided yet (waiting or claimed), as ``attach`` completes a
    claimed batch: one query."""
    earlier = SmsMessage.objects.filter(
        source_type=PUSH_DELIVERY, source_id=OuterRef("pk"), live=True
    )
    phone = DeviceAccount.objects.filter(
        device_id=OuterRef("device_id"), account_type=PHONE_ACCOUNT_TYPE
    ).values("account")[:1]
    extra = {
        "phone": Subquery(phone),
        "sms_state": Subquery(earlier.values("state")[:1]),
        "sms_reason": Subquery(earlier.values("reason")[:1]),
    }
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:
        extra["enabled"] = F("device__notifications_enabled")
    rows = (
        Delivery.objects.filter(
            push=push, fallback__in=[Delivery.Fallback.WAITING, Delivery.Fallback.CLAIMED]
        )
        .annotate(**extra)
        .order_by("pk")
        .values_list(*CLAIMED_COLUMNS, *extra)
    )
    n = len(CLAIMED_COLUMNS)
    return [
        Due(
            *claimed,
            notifications_enabled=more[3] if len(more) > 3 else None,
            phone=more[0],
            earlier=(more[1], more[2]) if more[1] is not None else None,
        )
        for claimed, more in ((r[:n], r[n:]) for r in rows)
    ]


# Steps 0 to 5: the plan ---------------------------------------------------------------------


def plan(batch: list[Due], pushes: dict[int, Push]) -> Plan:
    """Decide what can be decided before anything is locked (steps 0–5 within the batch);
    the rest of each push's deliveries are its group's carriers."""
    decided: dict[int, Decision] = {}
    wanted: dict[int, list[Due]] = defaultdict(list)  # push id → deliveries to SMS
    for d in batch:
        push = pushes[d.push_id]
        if d.earlier is not None:
            decided[d.id] = outcome_of(*d.earlier)
        elif not fired(
            push,
            notifications_enabled=d.notifications_enabled,
            arrived_at=d.arrived_at,
            clicked_at=d.clicked_at,
        ):
            decided[d.id] = Decision(Outcome.NOT_NEEDED)
        elif not d.phone:
            decided[d.id] = Decision(Outcome.NO_PHONE)
        else:
            wanted[push.pk].append(d)
    groups = []
    for push_id, deliveries in wanted.items():
        push = pushes[push_id]
        try:
            resolved = push.resolved_sms()  # once per push and batch
        except SmsRejected as exc:  # revoked or removed since the push was accepted
            decided.update(dict.fromkeys((d.id for d in deliveries), block(exc.rule)))
            continue
        group = Group(push, resolved)
        numbers: set[str] = set()
        for d in sorted(deliveries, key=lambda d: d.id):
            if region_of(d.phone) != group.region:
                decided[d.id] = block(Rule.WRONG_REGION)
            elif d.phone in numbers:  # the first delivery of a number carries its SMS
                decided[d.id] = Decision(Outcome.DUPLICATE_NUMBER)
            else:
                numbers.add(d.phone)
                group.carriers.append(d)
        if group.carriers:
            groups.append(group)
    return Plan(decided, groups)


def block(rule: str) -> Decision:
    return Decision(Outcome.BLOCKED, rule)


def order_for(group: Group, carriers: list[Due]) -> SmsOrder:
    """The SMS order of a group (raises ``SmsRejected``: e.g. no Tencent Cloud authorization).
    Its numbers are E.164, each once, of the template's region: checked by ``plan``."""
    push = group.push
    return prepare(
        push.application.account,
        **push.sms_info(),
        resolved=group.resolved,
        numbers=[d.phone for d in carriers],
        max_numbers=None,
        normalized=True,
        source_type=PUSH_DELIVERY,
        source_ids=[d.id for d in carriers],
        session_context=push_context(push.pk),
    )


# Steps 1, 5 and 6 again, at the last moment -----------------------------------------------------


def screen(push: Push, recipients: list[Recipient], *, locked: bool = True) -> dict[int, Decision]:
    """The last checks, right before the SMS rows are written (the engine runs it under the
    per-number locks of the SMS platform, ``locked``): drops recipients whose trigger no longer
    holds (an event came in after the claim), whose number already has an SMS of this push, or
    beyond the push's budget (``max_sms``). Returns ``{delivery id: decision}`` of those."""
    ids = [r.source_id for r in recipients]
    dropped: dict[int, Decision] = {}
    fields = ["pk", "state", "arrived_at", "clicked_at"]
    if push.sms_trigger == Push.Trigger.PERMISSION_OFF:  # the only trigger that reads the device
        fields.append("device__notifications_enabled")
    halted = (Delivery.State.CANCELED, Delivery.State.REVOKED)
    for pk, state, arrived_at, clicked_at, *device in Delivery.objects.filter(
        pk__any=set(ids)
    ).values_list(*fields):
        enabled = device[0] if device else None
        if state in halted:
            # Its push was stopped or revoked after the claim (``push.control``).
            dropped[pk] = Decision(Outcome.CANCELED, f"push {state}")
        elif not fired(
            push, notifications_enabled=enabled, arrived_at=arrived_at, clicked_at=clicked_at
        ):
            dropped[pk] = Decision(Outcome.NOT_NEEDED)
    account_id = push.application.account_id
    # These numbers' messages of this push, looked up number by number on the rate-limit index
    # (account, number): written without ``messages_of``, whose index would read every message of
    # the push so far, and which a planner unaware of a fresh push's size would pick.
    taken = set(
        SmsMessage.objects.filter(
            account_id=account_id,
            phone_number__any={r.number for r in recipients},
            session_context=push_context(push.pk),
            live=True,
        )
        .order_by()
        .values_list("phone_number", flat=True)
    )
    for r in recipients:
        if r.source_id not in dropped and r.number in taken:
            dropped[r.source_id] = Decision(Outcome.DUPLICATE_NUMBER)
    if push.sms_max is not None:
        if locked:
            # The push row lock orders all senders of this push, so the count cannot race.
            Push.objects.select_for_update().filter(pk=push.pk).exists()
        already = messages_of(push.pk).filter(account_id=account_id, live=True)
        room = max(0, push.sms_max - already.count())
        for r in recipients:
            if r.source_id in dropped:
                continue
            if room > 0:
                room -= 1
            else:
                dropped[r.source_id] = block(Rule.BUDGET_EXHAUSTED)
    return dropped


# The same questions, nothing written: the preview ------------------------------------------------


@dataclass
class Forecast:
    """What running the plan now would do."""

    decided: dict[int, Decision]  # every delivery that would not get an SMS now, and why
    sending: list[int]  # the deliveries that would get one
    quotes: dict[int, tuple[SmsOrder, Quote]]  # push id → its order and the platform's answer


def forecast(p: Plan, pushes: dict[int, Push], now) -> Forecast:
    """Steps 5–7 for the groups of a plan, as the engine would take them now, but read-only:
    ``screen`` without the lock, and the SMS platform's ``quote`` instead of its send. Every
    push whose SMS can be sent at all gets a quote, even with no SMS to send (its fee and
    balance are shown)."""
    out = Forecast(dict(p.decided), [], {})
    groups = {g.push.pk: g for g in p.groups}
    for push in pushes.values():
        carriers = groups[push.pk].carriers if push.pk in groups else []
        try:
            group = groups.get(push.pk) or Group(push, push.resolved_sms())
            order = order_for(group, carriers)
        except SmsRejected as exc:
            out.decided.update(dict.fromkeys((d.id for d in carriers), block(exc.rule)))
            continue
        dropped = screen(push, order.recipients, locked=False) if order.recipients else {}
        out.decided.update(dropped)
        order = replace(
            order, recipients=[r for r in order.recipients if r.source_id not in dropped]
        )
        answer = quote(order, now)
        for i, recipient in enumerate(order.recipients):
            if i in answer.blocked:
                out.decided[recipient.source_id] = block(answer.blocked[i])
            else:
                out.sending.append(recipient.source_id)
        out.quotes[push.pk] = (order, answer)
    return out
