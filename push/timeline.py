"""A delivery's story, in time order: pushed → arrived / clicked / permission → decided → SMS.

Each step is ``{"at", "event", "detail"}`` with the event's code and a detail in English (the
API gives them as they are); ``timeline(..., words=True)`` adds, for the console, ``what`` and
``words``: the event and the detail in the reader's language.
"""

from django.utils.translation import gettext_lazy as _

from sms.models import SmsMessage
from sms.rules import reason_label

from .models import Delivery
from .outcomes import outcome_label
from .sms_source import messages_of

EVENTS = {
    "pushed": _("Pushed"),
    "sent": _("Sent"),
    "arrived": _("Arrived"),
    "clicked": _("Clicked"),
    "dismissed": _("Dismissed"),
    "permission": _("Notification permission"),
    Delivery.State.CANCELED: _("Stopped"),
    Delivery.State.REVOKED: _("Revoked"),
    "sms_due": _("SMS due"),
    "decided": _("SMS decided"),
}


def event_label(event: str) -> str:
    """An event's code in words (``sms_<state>``: the SMS record's state)."""
    if event in EVENTS:
        return str(EVENTS[event])
    state = event.removeprefix("sms_")
    if event.startswith("sms_") and state in SmsMessage.State.values:
        return _("SMS: %(state)s") % {"state": SmsMessage.State(state).label}
    return event


def timeline(delivery: Delivery, *, words: bool = False) -> list[dict]:
    push, device = delivery.push, delivery.device
    steps = []

    def step(at, event, detail="", text=None):
        if not at:
            return
        row = {"at": at, "event": event, "detail": detail}
        if words:
            row["what"] = event_label(event)
            row["words"] = str(detail if text is None else text)
        steps.append(row)

    pushed = _("push %(id)s") % {"id": push.pk}
    step(delivery.created_at, "pushed", f"push {push.pk}", pushed)
    on = delivery.notifications_enabled
    step(
        delivery.sent_at,
        "sent",
        "queued for the device; notifications " + ("on" if on else "off"),
        _("queued for the device; notifications on")
        if on
        else _("queued for the device; notifications off"),
    )
    step(delivery.arrived_at, "arrived")
    step(delivery.clicked_at, "clicked")
    step(delivery.dismissed_at, "dismissed")
    if device.notifications_changed_at > delivery.created_at:
        enabled = device.notifications_enabled
        step(
            device.notifications_changed_at,
            "permission",
            f"notifications turned {'on' if enabled else 'off'}",
            _("notifications turned on") if enabled else _("notifications turned off"),
        )
    if delivery.state in (Delivery.State.CANCELED, Delivery.State.REVOKED):
        # Taken back by push.control: stopped or revoked before it was delivered.
        at = push.revoked_at if delivery.state == Delivery.State.REVOKED else push.stopped_at
        step(at, delivery.state, f"push {push.pk}", pushed)
    step(delivery.sms_due_at, "sms_due")
    if delivery.decided_at:
        detail = delivery.outcome + (
            f": {delivery.outcome_detail}" if delivery.outcome_detail else ""
        )
        step(
            delivery.decided_at,
            "decided",
            detail,
            outcome_label(delivery.outcome, delivery.outcome_detail),
        )
    messages = (
        messages_of(delivery.push_id).filter(source_id=delivery.pk).order_by("created_at", "id")
    )
    for m in messages:
        step(
            m.created_at,
            "sms_" + m.state,
            m.reason or m.serial_no,
            reason_label(m.reason) if m.reason else m.serial_no,
        )
        step(m.sent_at, "sms_sent", m.serial_no)
        step(m.delivered_at, "sms_delivered", m.receipt_code)
    return sorted(steps, key=lambda s: s["at"])
