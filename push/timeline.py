"""A delivery's story, in time order: pushed → arrived / clicked / permission → decided → SMS."""

from .models import Delivery
from .sms_source import messages_of


def timeline(delivery: Delivery) -> list[dict]:
    push, device = delivery.push, delivery.device
    steps = [
        {"at": delivery.created_at, "event": "pushed", "detail": f"push {push.pk}"},
        {
            "at": delivery.sent_at,
            "event": "sent",
            "detail": "queued for the device; notifications "
            + ("on" if delivery.notifications_enabled else "off"),
        },
        {"at": delivery.arrived_at, "event": "arrived", "detail": ""},
        {"at": delivery.clicked_at, "event": "clicked", "detail": ""},
        {"at": delivery.dismissed_at, "event": "dismissed", "detail": ""},
    ]
    if device.notifications_changed_at > delivery.created_at:
        state = "on" if device.notifications_enabled else "off"
        steps.append(
            {
                "at": device.notifications_changed_at,
                "event": "permission",
                "detail": f"notifications turned {state}",
            }
        )
    if delivery.state in (Delivery.State.CANCELED, Delivery.State.REVOKED):
        # Taken back by push.control: stopped or revoked before it was delivered.
        at = push.revoked_at if delivery.state == Delivery.State.REVOKED else push.stopped_at
        steps.append({"at": at, "event": delivery.state, "detail": f"push {push.pk}"})
    if delivery.sms_due_at:
        steps.append({"at": delivery.sms_due_at, "event": "sms_due", "detail": ""})
    if delivery.decided_at:
        detail = delivery.outcome + (
            f": {delivery.outcome_detail}" if delivery.outcome_detail else ""
        )
        steps.append({"at": delivery.decided_at, "event": "decided", "detail": detail})
    messages = (
        messages_of(delivery.push_id).filter(source_id=delivery.pk).order_by("created_at", "id")
    )
    for m in messages:
        steps.append(
            {"at": m.created_at, "event": "sms_" + m.state, "detail": m.reason or m.serial_no}
        )
        if m.sent_at:
            steps.append({"at": m.sent_at, "event": "sms_sent", "detail": m.serial_no})
        if m.delivered_at:
            steps.append({"at": m.delivered_at, "event": "sms_delivered", "detail": m.receipt_code})
    return sorted((s for s in steps if s["at"]), key=lambda s: s["at"])
