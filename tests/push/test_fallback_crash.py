"""A real worker process killed in the middle of sending: nothing lost, nothing sent twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bench.common import database_url
from push import fallback
from push.models import Delivery
from sms import receipts
from sms.models import SmsMessage
from tests.conftest import authorized_cloud
from tests.push.conftest import add_device, kill_when
from tests.push.test_fallback import sms_push


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_the_provider_holds_the_request_never_sends_again(
    app, sms, subprocess_env, settings
):
    with authorized_cloud(sms.account, settings, {"AKIDcrash": "crash-key"}) as cloud:
        for i in range(3):
            add_device(app, f"tok-{i}", phone=f"+8613711110{i:03d}")
        push = sms_push(app, ["tok-0", "tok-1", "tok-2"])
        Delivery.objects.filter(push=push).update(sms_due_at=timezone.now() - timedelta(seconds=1))
        cloud.delay = 60  # the provider sits on the request: the worker is mid-send

        env = {
            **subprocess_env,
            "DATABASE_URL": database_url(),
            "SMS_TRANSPORT": "tencent",
            "TENCENTCLOUD_SMS_ENDPOINT": cloud.endpoint,
            "TENCENTCLOUD_TIMEOUT": "120",
        }
        kill_when("run_fallback", env, lambda: cloud.calls("SendSms"), "reached the provider")
        cloud.delay = 0

        # The batch is still claimed and its SMS rows say "sending".
        assert set(push.deliveries.values_list("fallback", flat=True)) == {"claimed"}
        assert set(SmsMessage.objects.values_list("state", flat=True)) == {"sending"}

        # Another worker, once the lease has ended, decides them without sending again.
        later = timezone.now() + fallback.default_lease() + timedelta(seconds=1)
        counts = fallback.sweep(later)

        assert counts == {"unknown": 3, "batches": 1}
        assert len(cloud.calls("SendSms")) == 1
        assert set(push.deliveries.values_list("outcome", flat=True)) == {"unknown"}

    # The lost send is reconciled as unknown, and a receipt settles it.
    assert receipts.reconcile_stale(later + timedelta(minutes=11)) == 3
    message = SmsMessage.objects.order_by("pk").first()
    assert message.state == "unknown" and message.charged == 1

    # Tencent's receipt settles it even though we never learnt its SerialNo.
    from sms.receipts import apply_receipts, parse_callback

    body = (
        '[{"user_receive_time": "2026-11-25 18:00:00", "nationcode": "86", '
        f'"mobile": "{message.phone_number[3:]}", "report_status": "SUCCESS", '
        '"errmsg": "DELIVRD", "description": "ok", "sid": "2640:lost-serial"}]'
    )
    assert apply_receipts(message.application, parse_callback(body.encode())) == 1
    message.refresh_from_db()
    assert (message.state, message.serial_no) == ("delivered", "2640:lost-serial")
    assert apply_receipts(message.application, parse_callback(body.encode())) == 0
