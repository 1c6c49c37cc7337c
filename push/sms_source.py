"""The supplementary SMS of pushes as ``sms`` stores them: source type ``push_delivery`` with the
Delivery's id, in the session context ``push:<push id>`` (what Tencent echoes back in receipts).

``sms`` knows sources generically (``sms.sources``); this module names pushes' and is the one
place that finds "the SMS of a push". Registered by ``PushConfig.ready``.
"""

from sms.models import SmsMessage
from sms.sources import SourceType

PUSH_DELIVERY = SourceType(
    "push_delivery", "Push delivery (supplementary SMS)", group="push", group_label="Push ID"
)


def push_context(push_id: int) -> str:
    """The session context of a push's supplementary SMS."""
    return PUSH_DELIVERY.context(push_id)


def messages_of(*push_ids: int):
    """The supplementary SMS of these pushes (read off ``sms_message_context_idx``)."""
    return SmsMessage.objects.of_context(*map(push_context, push_ids), source_type=PUSH_DELIVERY)
