"""Figure: how late supplementary SMS reach the provider after their due time, as deployed.

As deployed means the task cluster (``manage.py qcluster``, its default two workers, the ORM
broker, the default schedules) running the due clock: one clock task started the way the
schedule and every hand-over start it (``push.tasks.clock``), which ticks once a second and
hands over to a new task every ``push.clock.RUN_SECONDS``; the helper sweeps it queues for a
backlog run in the cluster's other worker. The SMS go through the real SDK to the loopback
Tencent Cloud server, whose receive time of each SendSms request is the moment of hand-over.

Two loads, one after the other in the same cluster run: N deliveries falling due at a steady
rate (the issue's 100,000 over five minutes, about 333 a second; at least ``MIN_WINDOW``
seconds), then a spike of N more all due at the same instant. Lateness of an SMS = the
provider's receive time − its delivery's ``sms_due_at``.

Beside each, its limit: the best a once-a-second look can do at the engine's own throughput,
measured in the same run on the same rows (two workers sweeping, as figure 4): one tick (a due
SMS may wait that long for the next look) plus, for the steady load, the time one second's
worth of due SMS takes at that rate, and for the spike the time its first 99 % (all) take.
"""

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from push import clock, fallback
from push.models import Delivery
from push.sms_source import push_context
from sms import authorization
from tests.fakes.tencentcloud import FakeTencentCloud

from .common import cleanup, database_url, make_devices, sms_push_to_all, sms_ready, tenant, timer
from .fallback import in_workers, reset

WINDOW_RATE = 100_000 / 300  # due a second in the steady load
MIN_WINDOW = 20.0  # seconds: the tiny run's steady load still spans many ticks
LEAD = 3.0  # seconds from setting the due times to the first one
GAP = 5.0  # seconds between the steady load's last due time and the spike
EARLY = 0.005  # seconds: rounding of the two clocks (database microseconds, time.time())
# The clock's advisory lock (push.clock._try_lock) as pg_locks shows a bigint key.
CLOCK_LOCK_HOLDERS = """
    SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((classid::int8 << 32) | objid::int8) = hashtextextended('push-clock:1', 0)
"""


def _reset(push) -> None:
    """``bench.fallback.reset``, first without the package charges of the push's SMS (the
    package was bought large enough for them to stay counted)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM sms_packagecharge WHERE message_id IN (SELECT id FROM sms_smsmessage "
            "WHERE session_context = %s)",
            [push_context(push.pk)],
        )
    reset(push)


def _holders() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(CLOCK_LOCK_HOLDERS)
        return [row[0] for row in cursor.fetchall()]


def _fresh_broker() -> None:
    """No clock of an earlier run holds the lock and no queued task of one is left: the
    cluster starts from an empty queue, as after a deploy."""
    from django_q.models import OrmQ

    with connection.cursor() as cursor:
        for pid in _holders():
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    OrmQ.objects.all().delete()


def _cluster(endpoint: str, log) -> subprocess.Popen:
    """``manage.py qcluster`` configured as in production (DEBUG off), on the bench database,
    with the Tencent transport pointed at the loopback server."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "false",  # DEBUG on would record every query
        # The same keys as this process: it sealed the Tencent Cloud secret the workers open.
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SMS_TRANSPORT": "tencent",
        "TENCENTCLOUD_SMS_ENDPOINT": endpoint,
        "NO_PROXY": "127.0.0.1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(cluster: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL: a stopping cluster waits for its running task, and the clock
    task runs for minutes (its lock goes with its connection)."""
    if cluster.poll() is None:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(10)


def _wait_for_clock(cluster: subprocess.Popen, log_path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _holders():
        if cluster.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the due clock did not start; see {log_path}")
        time.sleep(0.2)


def _received(cloud: FakeTencentCloud) -> dict[tuple[str, str], list[float]]:
    """(session context, number) → the times the provider received an SMS for it."""
    seen: dict[tuple[str, str], list[float]] = {}
    for request in cloud.calls("SendSms"):
        context = request.params.get("SessionContext", "")
        for number in request.params.get("PhoneNumberSet") or []:
            seen.setdefault((context, number), []).append(request.at)
    return seen


def _numbers(cloud: FakeTencentCloud) -> int:
    return sum(len(r.params.get("PhoneNumberSet") or []) for r in cloud.calls("SendSms"))


def _dues(push) -> dict[str, float]:
    """number → the due time (epoch seconds) of the push's delivery to it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.account, extract(epoch FROM d.sms_due_at)::float8 FROM push_delivery d "
            "JOIN push_deviceaccount a ON a.device_id = d.device_id AND a.account_type = 1002 "
            "WHERE d.push_id = %s",
            [push.pk],
        )
        return dict(cursor.fetchall())


def _lateness(push, received) -> list[float]:
    """Each SMS's lateness in seconds, sorted; none was received twice or before its due time."""
    context, values = push_context(push.pk), []
    for number, due in _dues(push).items():
        times = received.get((context, number))
        assert times and len(times) == 1, (push.pk, number, times)
        assert times[0] >= due - EARLY, ("handed over early", push.pk, number, times[0] - due)
        values.append(max(0.0, times[0] - due))
    values.sort()
    return values


def _quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value at least ``q`` of all are at or below."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _decided(*pushes) -> int:
    return Delivery.objects.filter(push__in=pushes, fallback=Delivery.Fallback.DECIDED).count()


def _rows(case: str, size: int, values: list[float], limits: dict, note: str) -> list[dict]:
    """p50 (no goal), p99 (≤ 10 s) and max (≤ 60 s), in ms (the table prints whole units);
    the note goes on the p99 row."""
    rows = []
    for label, q, goal_max in (("p50", 0.5, None), ("p99", 0.99, 10.0), ("max", 1.0, 60.0)):
        goal = f"≤ {goal_max:.0f} s" if goal_max else "none: the middle of the distribution"
        if label == "p99" and limits["p99"] > goal_max:
            # More due at once than the engine sends in 10 s: the issue asks for their
            # throughput time then.
            goal_max, goal = limits["p99"], "≤ 10 s, or the limit when longer"
        row = {
            "figure": f"SMS lateness, {case}: {label}",
            "size": size,
            "value": _quantile(values, q) * 1000,
            "limit": limits[label] * 1000 if goal_max else None,
            "unit": "ms",
            "goal": goal,
        }
        if goal_max:
            row["goal_max"] = goal_max * 1000
        if label == "p99":
            row["note"] = note
        rows.append(row)
    return rows


def run(size: int) -> list[dict]:
    window = max(MIN_WINDOW, size / WINDOW_RATE)
    account, app = tenant("lateness")
    try:
        make_devices(app, size, phones=True)
        # Each number gets an SMS of each push, and of the throughput measurement.
        sms_ready(account, size * 4)
        steady, spike = sms_push_to_all(app), sms_push_to_all(app)
        now = timezone.now()
        Delivery.objects.filter(push=steady).update(sms_due_at=now + timedelta(days=1))
        Delivery.objects.filter(push=spike).update(sms_due_at=now)
        t: dict = {}
        with FakeTencentCloud(credentials={"AKIDbench": "bench-key"}) as cloud:
            old = settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT
            settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT = cloud.endpoint, "tencent"
            try:
                account.authorize_tencent_cloud(
                    secret_id="AKIDbench", secret_key="bench-key", by=None
                )
                assert authorization.confirm(account.tencent_cloud_authorization)
                # The engine's throughput: the spike's rows swept by two workers at once (the
                # cluster's two), then due again and without SMS.
                _reset(spike)
                with timer(t, "throughput"):
                    runs = in_workers(lambda: fallback.sweep(timezone.now()))
                assert sum(r.get("sent", 0) for r in runs) == size, runs
                _reset(spike)
                # Not due again until the clock runs (it would find them at its first look).
                Delivery.objects.filter(push=spike).update(sms_due_at=now + timedelta(days=1))
            finally:
                settings.TENCENTCLOUD_SMS_ENDPOINT, settings.SMS_TRANSPORT = old
            throughput = size / t["throughput"]
            cloud.requests.clear()
            _fresh_broker()
            handle, log_path = tempfile.mkstemp(prefix="bench-qcluster-", suffix=".log")
            with os.fdopen(handle, "w") as log:
                cluster = _cluster(cloud.endpoint, log)
                try:
                    from django_q.tasks import async_task

                    async_task("push.tasks.clock", task_name="push due clock")
                    _wait_for_clock(cluster, log_path)
                    start = timezone.now() + timedelta(seconds=LEAD)
                    spike_at = start + timedelta(seconds=window + GAP)
                    with transaction.atomic(), connection.cursor() as cursor:
                        # Due one after the other at a steady rate, in delivery order.
                        cursor.execute(
                            "UPDATE push_delivery d SET sms_due_at = %s + (r.n - 1) * %s * "
                            "interval '1 second' FROM (SELECT id, row_number() OVER (ORDER BY "
                            "id) AS n FROM push_delivery WHERE push_id = %s) r WHERE d.id = r.id",
                            [start, window / size, steady.pk],
                        )
                        cursor.execute(
                            "UPDATE push_delivery SET sms_due_at = %s WHERE push_id = %s",
                            [spike_at, spike.pk],
                        )
                    # Until the provider has every SMS and every delivery is decided, or long
                    # after it should have.
                    deadline = time.monotonic() + LEAD + window + GAP + max(120.0, window)
                    while time.monotonic() < deadline and (
                        _numbers(cloud) < 2 * size or _decided(steady, spike) < 2 * size
                    ):
                        if cluster.poll() is not None:
                            raise RuntimeError(f"the task cluster exited; see {log_path}")
                        time.sleep(1)
                finally:
                    _stop(cluster)
                    _fresh_broker()
                received = _received(cloud)
            os.unlink(log_path)  # kept when the run failed: the cluster's own account of it
        decided = {
            p.pk: Delivery.objects.filter(push=p, fallback="decided", outcome="sent").count()
            for p in (steady, spike)
        }
        assert decided == {steady.pk: size, spike.pk: size}, decided
        steady_late, spike_late = _lateness(steady, received), _lateness(spike, received)
        per_second, tick = size / window, clock.TICK_SECONDS
        steady_limit = tick + per_second / throughput
        return [
            *_rows(
                "steady",
                size,
                steady_late,
                {"p99": steady_limit, "max": steady_limit},
                f"{size:,} due over {window:.0f} s ({per_second:,.0f}/s), handed over p50 "
                f"{_quantile(steady_late, 0.5):.2f} s, p99 {_quantile(steady_late, 0.99):.2f} "
                f"s, max {steady_late[-1]:.2f} s after their due time; limit = one {tick:.0f} s "
                f"tick + one second's {per_second:,.0f} SMS at the engine's {throughput:,.0f}/s "
                "(2 workers sweeping, measured in this run). As deployed: a 2-worker qcluster "
                "(ORM broker, default schedules) runs the due clock as its task, handing over "
                f"every {clock.RUN_SECONDS:.0f} s, and the helper sweeps it queues",
            ),
            *_rows(
                "spike",
                size,
                spike_late,
                {"p99": tick + 0.99 * size / throughput, "max": tick + size / throughput},
                f"{size:,} due at the same instant, after the steady load; handed over p50 "
                f"{_quantile(spike_late, 0.5):.2f} s, p99 {_quantile(spike_late, 0.99):.2f} s, "
                f"max {spike_late[-1]:.2f} s late; limit = one tick + the first 99 % (all) of "
                f"them at the engine's rate ({size / throughput:.1f} s for all)",
            ),
        ]
    finally:
        cleanup(account)
