"""Two real django-q2 clusters on the Redis broker; a worker killed in the middle of the sweep.

django-q2's Redis broker loses a task whose worker dies, so correctness must come from the
database: the next minute's sweep (in either cluster) finds what is still due, and takes over
the dead worker's batch when its lease ends. Every delivery is decided once; no number gets a
second SMS. Slow (about two minutes: the clusters' schedulers tick every 30 s), PostgreSQL only.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone
from django_q.models import Schedule

from bench.common import database_url
from push.models import Delivery
from sms.models import Package, SmsMessage
from tests.conftest import authorized_cloud
from tests.push.conftest import add_device
from tests.push.test_fallback import sms_push

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/7"
DEVICES = 120


def pid_talking_to(port: int) -> int | None:
    """The process holding a TCP connection to 127.0.0.1:port (from /proc, Linux)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


@pytest.fixture
def redis_up():
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_two_clusters_and_a_worker_killed_mid_sweep_every_delivery_is_decided_once(
    app, sms, redis_up, subprocess_env, settings
):
    Package.objects.filter(pk=sms.package.pk).update(quantity=10_000)
    for i in range(DEVICES):
        add_device(app, f"tok-{i:03d}", phone=f"+86137{i:08d}")
    with authorized_cloud(sms.account, settings, {"AKIDcluster": "cluster-key"}) as cloud:
        push = sms_push(app, [f"tok-{i:03d}" for i in range(DEVICES)])
        Delivery.objects.filter(push=push).update(sms_due_at=timezone.now() - timedelta(seconds=1))
        Schedule.objects.filter(func="push.tasks.fallback_sweep").update(next_run=timezone.now())
        cloud.delay = 0.5  # each provider request takes a while: there is a "mid-sweep"

        env = {
            **subprocess_env,
            "DATABASE_URL": database_url(),
            "REDIS_URL": REDIS_URL,
            "Q_CLUSTER_NAME": f"test-{uuid.uuid4().hex[:8]}",
            "Q_WORKERS": "2",
            "SMS_TRANSPORT": "tencent",
            "TENCENTCLOUD_SMS_ENDPOINT": cloud.endpoint,
            "TENCENTCLOUD_TIMEOUT": "30",
            "FALLBACK_BATCH_SIZE": "10",
            "FALLBACK_LEASE_SECONDS": "5",
        }
        clusters = [
            subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(2)
        ]
        killed = None
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                if killed is None and len(cloud.calls("SendSms")) >= 2:
                    killed = pid_talking_to(cloud.port)
                    if killed:
                        os.kill(killed, signal.SIGKILL)  # a worker dies in mid-sweep
                undecided = Delivery.objects.filter(push=push).exclude(fallback="decided")
                if killed and not undecided.exists():
                    break
                time.sleep(0.5)
        finally:
            for cluster in clusters:
                os.killpg(cluster.pid, signal.SIGTERM)
            for cluster in clusters:
                try:
                    cluster.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(cluster.pid, signal.SIGKILL)
                    cluster.wait()

    assert killed, "no worker was caught mid-sweep"
    deliveries = Delivery.objects.filter(push=push)
    assert deliveries.filter(fallback="decided").count() == DEVICES
    assert set(deliveries.values_list("outcome", flat=True)) <= {"sent", "unknown"}
    messages = SmsMessage.objects.filter(session_context=f"push:{push.pk}")
    assert messages.count() == DEVICES  # one SMS row per delivery, never two
    assert len(set(messages.values_list("phone_number", flat=True))) == DEVICES
    sent_numbers = [n for c in cloud.calls("SendSms") for n in c.params["PhoneNumberSet"]]
    assert len(sent_numbers) == len(set(sent_numbers)) == DEVICES  # nothing re-sent
