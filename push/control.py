"""Push control: cancel a timed push, stop a running one, revoke one (TPNS
``cancel_timing_task``, ``stop_push_msg``, ``revoke_push_msg``).

Each function locks the push row (waiting for it, not skipping) before it decides, and does its
delivery work in one statement in the same transaction. The fan-out (``push.fanout.start``)
writes every chunk under the same row lock and looks for a startable, unstopped push before each
chunk, so a stop and a chunk serialise on the push row: a chunk committed before the stop is
halted by it, and no chunk is written after it.

What a halt does, in one ``UPDATE`` of the push's deliveries:

- ``queued`` deliveries (waiting for their channel's sender, which claims only ``queued``) are
  never sent; deliveries being sent right now (``sending``) finish as they would.
- built-in deliveries still in the inbox (``sent``, no arrival reported) leave it: the device
  has not reported them, so as far as the server knows it has not fetched them.
- the supplementary SMS of those deliveries, still ``waiting``, is decided ``canceled`` in the
  same statement, so the SMS engine never claims them. Deliveries their channel took (APNs, FCM,
  vendors, or arrived over the inbox) keep their SMS.

Revoking halts the same way (its deliveries become ``revoked``) and also takes the push out of
the built-in inbox for good, so a device that fetched it but re-reads from an older cursor does
not get it again; what a device already shows stays shown (our SDK protocol has no recall
command). APNs, FCM and the vendor channels are not asked to recall anything (see ``revoke``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When

from .models import Application, ChannelKind, Delivery, Push, PushStats


class NoSuchPush(Exception):
    """The application has no push with this id (another application's push included)."""


class Refused(Exception):
    """The push cannot be canceled, stopped or revoked in its state; ``str()`` says why."""


@dataclass
class Controlled:
    push: Push  # as it is after the call
    changed: bool  # False: it already was canceled / stopped / revoked (a repeated call)
    halted: int = 0  # deliveries this call canceled or revoked


# Statuses after which there is nothing to stop: each of them answers a repeated call.
ENDED = (Push.Status.CANCELED, Push.Status.REVOKED)


def _locked(application: Application, push_id: int) -> Push:
    # Waits for a fan-out chunk holding the row: the decision sees the chunk's outcome.
    push = Push.objects.select_for_update().filter(application=application, pk=push_id).first()
    if push is None:
        raise NoSuchPush(push_id)
    return push


def cancel_timing_task(application: Application, push_id: int, now: datetime) -> Controlled:
    """Cancel a timed push whose send time has not started it yet (``PUSH_WAIT``): it becomes
    ``PUSH_CANCELED`` with ``stopped_at`` = ``now`` and is never fanned out. Canceling it again
    changes nothing. Any other push (immediate, started, finished, failed) is ``Refused``."""
    with transaction.atomic():
        push = _locked(application, push_id)
        if push.status == Push.Status.CANCELED and push.started_at is None:
            return Controlled(push, changed=False)
        if push.status != Push.Status.WAIT:
            raise Refused(
                f"push {push.pk} is not a timed push waiting for its send time "
                f"(status {push.status}); only those can be canceled"
            )
        _mark(push, status=Push.Status.CANCELED, stopped_at=now)
    return Controlled(push, changed=True)


# A scheduled push this close to its send time can no longer be edited: the due clock
# (``fanout.release_due``) picks pushes whose send time has come, by a read that takes no lock,
# and releases them a moment later; an edit is never let in between.
EDIT_CUTOFF = timedelta(minutes=1)

# What an edit replaces: everything the push sends and to whom, parsed from the edited request
# by the code that parses a new one (``push.tpns.parse``); not its identity, author, state or
# loop.
EDITED_FIELDS = (
    "audience_type",
    "audience",
    "account_type",
    "account_push_type",
    "invalid_targets",
    "package",
    "message_type",
    "title",
    "content",
    "message",
    "environment",
    "expire_time",
    "send_at",
    "seq",
    "options",
    "resend_by_sms",
    "sms_delay",
    "sms_trigger",
    "sms_app_id",
    "sms_template_id",
    "sms_sign_name",
    "sms_params",
    "sms_max",
    "sms_on_refusal",
    "pinned_template",
    "pinned_signature",
)


def edit_waiting(application: Application, push_id: int, edited: Push, now: datetime) -> Push:
    """Replace what a scheduled push sends with ``edited`` (an unsaved push parsed from the
    edited request, ``parse.parse_push``), in one UPDATE under the push row lock: the due clock
    releases the push before the edit (``Refused``: it has started) or after it, with all of the
    edit. ``edited`` must still be scheduled (a send time after ``now``). ``Refused`` as well
    when the push's own send time is within ``EDIT_CUTOFF``."""
    if edited.send_at is None or edited.send_at <= now:
        raise Refused("a scheduled push stays scheduled: give a send time in the future")
    with transaction.atomic():
        push = _locked(application, push_id)
        if push.status != Push.Status.WAIT or push.started_at or push.stopped_at:
            raise Refused(
                f"push {push.pk} is no longer waiting for its send time "
                f"(status {push.status}); it cannot be edited"
            )
        if push.send_at is not None and push.send_at <= now + EDIT_CUTOFF:
            raise Refused(f"push {push.pk} is about to start; it can no longer be edited")
        fields = {name: getattr(edited, name) for name in EDITED_FIELDS}
        # A loop occurrence stays one: its loop's definition is not the edit's.
        loop = {k: v for k, v in push.options.items() if k in LOOP_OPTIONS}
        fields["options"] = {**edited.options, **loop}
        from . import fanout  # (fanout imports this module)

        fields["expires_at"] = fanout.expiry(edited.send_at, edited.expire_time)
        _mark(push, **fields)
    return push


LOOP_OPTIONS = ("loop_param", "loop_times", "loop_interval")


def _refuse_ended(push: Push, now: datetime, what: str) -> None:
    if push.status == Push.Status.FAILED:
        raise Refused(f"push {push.pk} failed; there is nothing to {what}")
    if push.expires_at is not None and push.expires_at <= now:
        raise Refused(
            f"push {push.pk} expired at {push.expires_at:%Y-%m-%d %H:%M:%S}Z; "
            f"there is nothing left to {what}"
        )


def stop(application: Application, push_id: int, now: datetime) -> Controlled:
    """Stop a push: its fan-out writes no further chunk, and its undelivered deliveries are
    ``canceled`` with their supplementary SMS (see the module). The push becomes
    ``PUSH_CANCELED`` with ``stopped_at`` = ``now``. A push already canceled, stopped or
    revoked is answered as it is (``changed`` False). A failed or expired push is ``Refused``."""
    with transaction.atomic():
        push = _locked(application, push_id)
        if push.status in ENDED:
            return Controlled(push, changed=False)
        _refuse_ended(push, now, "stop")
        halted = _halt(push, Delivery.State.CANCELED, now)
        _mark(push, status=Push.Status.CANCELED, stopped_at=now)
    return Controlled(push, changed=True, halted=halted)


def revoke(application: Application, push_id: int, now: datetime) -> Controlled:
    """Revoke a push: a stop whose undelivered deliveries become ``revoked``, and the push
    leaves the built-in inbox altogether (``push.sdk.views.inbox``). It becomes
    ``PUSH_REVOKED`` with ``revoked_at`` = ``now`` (and ``stopped_at``, unless it was stopped
    before). A revoked push is answered as it is; a failed or expired one is ``Refused``.

    Only the built-in channel revokes. Deliveries APNs, FCM or a vendor took stay as they are:
    APNs and FCM have no recall API (TPNS recalled iOS notifications with a silent push its SDK
    acted on). Huawei Push Kit documents ``POST /v1/{clientId}/messages:revoke`` (push tokens
    plus the ``notifyId`` the message was sent with); Xiaomi and vivo recalls are described by
    third parties only; OPPO, Honor and Meizu: none found. Sending those recalls is not done
    yet: it needs the vendor message ids (``channel_message_id``) or notify ids we send with."""
    with transaction.atomic():
        push = _locked(application, push_id)
        if push.status == Push.Status.REVOKED:
            return Controlled(push, changed=False)
        _refuse_ended(push, now, "revoke")
        halted = _halt(push, Delivery.State.REVOKED, now)
        _mark(push, status=Push.Status.REVOKED, revoked_at=now, stopped_at=push.stopped_at or now)
    return Controlled(push, changed=True, halted=halted)


def collapse_earlier(push: Push, now: datetime) -> int:
    """TPNS's ``collapse_id``: a broadcast that reuses an earlier broadcast's collapse id
    replaces it when it starts. Each earlier push of the application with that id (its own id,
    or the one it was given) becomes ``PUSH_COLLAPSED``: it leaves the built-in inbox as a
    revoked push does (its inbox message carried the same ``collapse_id``, so the app replaces
    what it shows), its undelivered deliveries are ``revoked`` and their supplementary SMS
    canceled (the new push's own SMS stands for them). Returns how many pushes it replaced.

    Called by the fan-out as the push starts, under its row lock. Channels that replace by key
    (APNs ``apns-collapse-id``, FCM and Huawei ``collapse_key``, Xiaomi, OPPO and vivo
    ``notify_id``) are given the key with the new push; an earlier push sent without one is
    replaced there only where the key was its id anyway (Xiaomi's notify_id)."""
    collapse_id = (push.options or {}).get("collapse_id")
    if not collapse_id or push.audience_type not in Push.Audience.BROADCASTS:
        return 0
    earlier = (
        Push.objects.select_for_update()
        .filter(
            Q(pk=collapse_id) | Q(options__collapse_id=collapse_id),
            application_id=push.application_id,
            audience_type__in=Push.Audience.BROADCASTS,
            pk__lt=push.pk,
        )
        .exclude(status__in=[Push.Status.COLLAPSED, Push.Status.REVOKED])
        .order_by("pk")
    )
    replaced = 0
    for old in earlier:
        _halt(old, Delivery.State.REVOKED, now)
        _mark(
            old,
            status=Push.Status.COLLAPSED,
            revoked_at=now,
            stopped_at=old.stopped_at or now,
        )
        replaced += 1
    return replaced


def _mark(push: Push, **fields) -> None:
    Push.objects.filter(pk=push.pk).update(**fields)
    for name, value in fields.items():
        setattr(push, name, value)


# Deliveries a halt takes back: not yet handed to a channel, or in the inbox unreported.
UNDELIVERED = Q(state=Delivery.State.QUEUED) | Q(
    channel=ChannelKind.BUILTIN, state=Delivery.State.SENT
)


def _halt(push: Push, state: str, now: datetime) -> int:
    """One UPDATE: the push's undelivered deliveries become ``state``; those whose SMS is
    still waiting are decided ``canceled`` (every CASE reads the row as it was)."""
    waiting = Q(fallback=Delivery.Fallback.WAITING)
    halted = (
        Delivery.objects.filter(push=push)
        .filter(UNDELIVERED)
        .update(
            state=state,
            fallback=Case(
                When(waiting, then=Value(Delivery.Fallback.DECIDED)), default=F("fallback")
            ),
            outcome=Case(
                When(waiting, then=Value(Delivery.Outcome.CANCELED)), default=F("outcome")
            ),
            outcome_detail=Case(
                When(waiting, then=Value(f"push {state}")), default=F("outcome_detail")
            ),
            decided_at=Case(When(waiting, then=Value(now)), default=F("decided_at")),
        )
    )
    PushStats.objects.mark_changed([push.pk], now)
    return halted
