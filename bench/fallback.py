"""Figure 4: N due deliveries decided and their SMS handed to a loopback server speaking
Tencent Cloud API 3.0 (the real SDK, 200 numbers a request), vs the raw claim query alone."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from push import fallback, fanout
from push.models import Delivery, Push
from sms.models import Package, RateLimitPolicy, Signature, SmsApplication, Template
from tests.fakes.tencentcloud import FakeTencentCloud

from .common import cleanup, make_devices, rate, tenant, timer


def sms_ready(account, quantity):
    SmsApplication.objects.create(account=account, sdk_app_id="1400009999")
    Signature.objects.create(account=account, text="基准", status="approved")
    Template.objects.create(
        account=account, template_id="777", name="b", content="审批 {1} 待处理", status="approved"
    )
    Package.objects.create(
        account=account, quantity=quantity, valid_until=timezone.now() + timedelta(days=1)
    )
    # Each number gets one SMS here: the daily limit is not what is measured.
    RateLimitPolicy.objects.create(account=account, daily_limit=0, same_content_seconds=0)


def sms_push_to_all(app) -> Push:
    """An all push with supplementary SMS (trigger: not arrived), fanned out."""
    push = fanout.accept(
        Push(
            application=app,
            audience_type="all",
            message_type="notify",
            title="bench",
            resend_by_sms=True,
            sms_delay=300,
            sms_trigger=Push.Trigger.NOT_ARRIVED,
            sms_app_id="1400009999",
            sms_template_id="777",
            sms_params=["42"],
        )
    )
    fanout.start(push.pk)
    return push


def run(size: int) -> dict:
    account, app = tenant("fallback")
    try:
        make_devices(app, size, phones=True)
        sms_ready(account, size * 2)
        push = sms_push_to_all(app)
        now = timezone.now() + timedelta(seconds=301)
        t: dict = {}
        # The limit: the claim statement alone over the same rows, committed like the real
        # claims are, then put back to waiting.
        with timer(t, "raw"):
            claimed = 0
            while batch := fallback.claim(now, limit=fallback.BATCH_SIZE):
                claimed += len(batch)
        Delivery.objects.filter(push=push).update(fallback="waiting", claimed_until=None)
        assert claimed == size, claimed
        with FakeTencentCloud(credentials={"AKIDbench": "bench-key"}) as cloud:
            old = settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT
            settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT = cloud.endpoint, "tencent"
            try:
                account.authorize_tencent_cloud(
                    secret_id="AKIDbench", secret_key="bench-key", by=None
                )
                assert account.tencent_cloud_authorization.confirm()
                with timer(t, "product"):
                    counts = fallback.sweep(now)
            finally:
                settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT = old
            requests = len(cloud.calls("SendSms"))
        assert counts.get("sent") == size, counts
        assert Delivery.objects.filter(push=push, fallback="decided").count() == size
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE push_delivery")
        return {
            "figure": "Supplementary SMS: due deliveries decided and sent",
            "size": size,
            "value": rate(size, t["product"]),
            "limit": rate(size, t["raw"]),
            "unit": "deliveries/s",
            "goal": "≥ 10,000/s and ≥ 0.3 of the raw claim rate",
            "goal_ratio": 0.3,
            "goal_absolute": 10_000,
            "seconds": t["product"],
            "provider_requests": requests,
        }
    finally:
        cleanup(account)
