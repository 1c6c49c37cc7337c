"""Figure 4: N due deliveries decided and their SMS handed to a loopback server speaking
Tencent Cloud API 3.0 (the real SDK, 200 numbers a request), vs the raw claim query alone.

Both run as the product runs them: in ``WORKERS`` worker processes at once (the sweep is built
for that: batches are claimed with SKIP LOCKED, and the task fans out to the cluster's workers
when work is waiting), so the ratio compares like with like.
"""

import multiprocessing
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from push import fallback, fanout
from push.models import Delivery, Push
from sms.models import Package, RateLimitPolicy, Signature, SmsApplication, Template
from tests.fakes.tencentcloud import FakeTencentCloud

from .common import cleanup, make_devices, rate, tenant, timer

WORKERS = 2


def _child(work, pipe):
    try:
        pipe.send(work())
    finally:
        connections.close_all()


def in_workers(work, count: int = WORKERS) -> list:
    """Run ``work()`` in ``count`` forked processes at once; their results, in order."""
    connections.close_all()  # never share the parent's connection with a child
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for _ in range(count):
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(work, theirs))
        process.start()
        pipes.append(ours)
        processes.append(process)
    results = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a benchmark worker exited with {process.exitcode}")
    return results


def claim_all(now) -> int:
    claimed = 0
    while batch := fallback.claim(now, limit=fallback.BATCH_SIZE):
        claimed += len(batch)
    return claimed


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


def history(account, app, at) -> None:
    """An SMS to every number in the two days before ``at`` (an earlier push), as a running
    system has, and fresh statistics: the planner sees the table it will have, not an empty
    one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sms_smsmessage (account_id, phone_number, region, sign_name, "
            "template_code, params, content, content_hash, fee, charged, state, reason, "
            "error_message, retryable, serial_no, request_id, iso_code, session_context, "
            "source_type, source_id, transport, simulated, created_at, receipt_status, "
            "receipt_code, receipt_description) "
            "SELECT %s, a.account, 'mainland', '基准', '777', '[\"41\"]', "
            "'【基准】审批 41 待处理', '', 1, 1, 'delivered', '', '', false, 's' || a.id, '', "
            "'CN', 'push:0', "
            "'push_delivery', 1000000000000 + a.id, 'tencent', false, "
            "%s - (a.id %% 2880) * interval '1 minute', 'SUCCESS', 'DELIVRD', '' "
            "FROM push_deviceaccount a WHERE a.application_id = %s",
            [account.pk, at, app.pk],
        )
        for table in ("sms_smsmessage", "push_delivery", "push_device", "push_deviceaccount"):
            cursor.execute(f"ANALYZE {table}")


def run(size: int) -> dict:
    account, app = tenant("fallback")
    try:
        make_devices(app, size, phones=True)
        sms_ready(account, size * 2)
        push = sms_push_to_all(app)
        now = timezone.now() + timedelta(seconds=301)
        history(account, app, timezone.now())
        t: dict = {}
        # The limit: the claim statement alone over the same rows, committed like the real
        # claims are, then put back to waiting.
        with timer(t, "raw"):
            claimed = sum(in_workers(lambda: claim_all(now)))
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
                    runs = in_workers(lambda: fallback.sweep(now))
                counts = {k: sum(run.get(k, 0) for run in runs) for k in set().union(*runs)}
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
            "workers": WORKERS,
        }
    finally:
        cleanup(account)
