"""``resend_by_sms`` and ``sms_info``: the supplementary SMS of a push, pinned and gated before
any number is known."""

from django.utils.translation import gettext_lazy as _

from push.models import Application, Push
from sms import sending

from .. import invalid, missing
from .fields import INT32_MAX, Fields

SMS_DELAY_MIN = 300


def _sms_field(name: str) -> str:
    """An SmsRejected's field (``sms.sending``'s name, maybe indexed) as sms_info names it."""
    head, bracket, rest = name.partition("[")
    if not (key := Push.tpns_sms_field(head)):
        return "sms_info"
    return f"sms_info.{key}{bracket}{rest}"


def parse_sms_info(f: Fields, push: Push, app: Application) -> None:
    push.resend_by_sms = f.boolean("resend_by_sms")
    if not push.resend_by_sms:
        return  # sms_info without resend_by_sms is ignored, as TPNS does not read it
    info = f.obj("sms_info")
    if info is None:
        raise missing("sms_info", _("required when resend_by_sms is true"))
    push.sms_delay = info.integer("delay_trigger_time", required=True, minimum=SMS_DELAY_MIN)
    if push.sms_delay > push.expire_time:
        raise invalid(
            info.name("delay_trigger_time"),
            _("must be at most the message's expire_time (%(limit)s)"),
            limit=push.expire_time,
        )
    push.sms_trigger = info.integer("trigger_condition", required=True, choices=Push.Trigger.values)
    push.sms_template_id = info.string("sms_template_id", required=True, max_length=40)
    push.sms_app_id = info.string("sms_app_id", required=True, max_length=40)
    push.sms_sign_name = info.string("sms_sign_name", max_length=12)
    push.sms_params = info.strings("sms_template_params")
    push.sms_max = info.integer("max_sms", minimum=1, maximum=INT32_MAX)
    # Ours: a delivery its channel refused for good gets its SMS at once, not at the due time.
    push.sms_on_refusal = info.integer("send_on_refusal", default=0, choices=(0, 1)) == 1
    # The gates that can be checked before any number is known (architecture, step 1); the
    # template and signature they resolve to are pinned on the push for all its SMS.
    try:
        push.pin_sms()
        sending.check_transport(app.account)
    except sending.SmsRejected as exc:
        raise invalid(_sms_field(exc.field), exc.words) from None
