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

from push import fallback
from push.models import Delivery
from tests.fakes.tencentcloud import FakeTencentCloud

from .common import (
    cleanup,
    insert_sms_messages,
    make_devices,
    rate,
    sms_push_to_all,
    sms_ready,
    tenant,
    timer,
    vacuum_analyze,
)

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


def history(account, app, at) -> None:
    """An SMS to every number in the two days before ``at`` (an earlier push), as a running
    system has, and fresh statistics: the planner sees the table it will have, not an empty
    one."""
    insert_sms_messages(
        {
            "account_id": "%(account)s",
            "phone_number": "a.account",
            "params": """'["41"]'""",
            "content": "'【基准】审批 41 待处理'",
            "state": "'delivered'",
            "serial_no": "'s' || a.id",
            "session_context": "'push:0'",
            "source_id": "1000000000000 + a.id",
            "created_at": "%(at)s - (a.id %% 2880) * interval '1 minute'",
            "receipt_status": "'SUCCESS'",
            "receipt_code": "'DELIVRD'",
        },
        "push_deviceaccount a WHERE a.application_id = %(app)s",
        {"account": account.pk, "at": at, "app": app.pk},
    )
    with connection.cursor() as cursor:
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
        vacuum_analyze("push_delivery")  # both sides start from a vacuumed table
        t: dict = {}
        # The limit: the claim statement alone over the same rows, committed like the real
        # claims are, then put back to waiting.
        with timer(t, "raw"):
            claimed = sum(in_workers(lambda: claim_all(now)))
        Delivery.objects.filter(push=push).update(fallback="waiting", claimed_until=None)
        assert claimed == size, claimed
        # The reset left a dead version of every row: the product must not pay for them.
        vacuum_analyze("push_delivery")
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
