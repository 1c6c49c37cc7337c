"""Push fixtures on top of the personas: an application with devices, the TPNS API's clock."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from push import channels, sender
from push.models import Application, Device, DeviceAccount, DeviceTag, Platform
from push.tpns.auth import TpnsAuthentication
from tests.fakes.apns import FakeApns, apns_key
from tests.fakes.tls import loopback_ca


def add_device(app, token, *, tags=(), phone=None, enabled=True, **fields):
    device = Device.objects.create(
        application=app, token=token, platform=app.platform, notifications_enabled=enabled, **fields
    )
    DeviceTag.objects.bulk_create([DeviceTag(device=device, application=app, tag=t) for t in tags])
    if phone:
        DeviceAccount.objects.create(
            device=device, application=app, account_type=1002, account=phone
        )
    return device


def bound(device) -> dict[int, str]:
    """The device's bound accounts: {account_type: account}."""
    return dict(DeviceAccount.objects.filter(device=device).values_list("account_type", "account"))


def outsider_app(personas, name="Other"):
    """An Android application of the outsider's account; ``.test_secret`` is its SecretKey."""
    other, secret = Application.objects.create_for(
        personas.outsider_account, name=name, platform="android"
    )
    other.test_secret = secret
    return other


@pytest.fixture
def other_app(personas):
    """The outsider's app, with a device whose token and tags mirror ours."""
    other = outsider_app(personas)
    add_device(other, "tok-x", tags=["vip"])
    add_device(other, "tok-a", tags=["vip"])
    return other


ROOT = Path(__file__).resolve().parents[2]


class SteppedClock:
    """``time.monotonic`` (``monotonic`` or the clock itself), ``time.sleep`` and
    ``timezone.now`` (``now``, from ``wall``) for code that takes them as parameters: sleeping
    moves every one of them, and what was slept is kept in ``slept``."""

    def __init__(self, wall=None):
        self.t, self.wall, self.slept = 100.0, wall, []

    def monotonic(self) -> float:
        return self.t

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.t += seconds
        if self.wall is not None:
            self.wall += timedelta(seconds=seconds)

    def now(self):
        return self.wall


def drain(now, *, limit: int) -> None:
    """One sender sending batches of ``limit`` until it claims none."""
    while sender.send_batch(now, limit=limit)["claimed"]:
        pass


def kill_when(command: str, env: dict, reached, what: str, *, within: float = 30) -> None:
    """Run ``manage.py <command>`` as a real worker process and SIGKILL it (its whole process
    group) as soon as ``reached()`` holds: a worker dying mid-send. Fails, with the worker's
    stderr, if it exits first or ``what`` does not happen ``within`` seconds."""
    worker = subprocess.Popen(
        [sys.executable, "manage.py", command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + within
        while not reached() and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()
            time.sleep(0.05)
        assert reached(), f"the worker never {what}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited: the assert says why
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def set_clock(monkeypatch, seconds: float) -> None:
    """Fix the TPNS API's clock (signature skew, push times, rate limit, idempotency window)."""
    monkeypatch.setattr(TpnsAuthentication, "clock", staticmethod(lambda: seconds))


@pytest.fixture
def clock(monkeypatch):
    return lambda seconds: set_clock(monkeypatch, seconds)


# APNs: an iOS app, the loopback APNs, devices on it ----------------------------------------

TOPIC = "com.acme.approvals"
TEAM = "ACMETEAM01"


def apns_token(i: int) -> str:
    return f"{i:064x}"


@pytest.fixture
def ios_app(personas):
    """An iOS push application of Acme."""
    app, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    return app


@pytest.fixture
def apns(settings):
    """A loopback APNs that the channel clients are pointed at; ``.credentials`` is a config
    it accepts (``channels.store_credentials(app, "apns", apns.credentials)``)."""
    key, key_id = apns_key()
    with FakeApns(keys={key_id: key}, team_id=TEAM, topics=[TOPIC]) as fake:
        settings.PUSH_APNS_PRODUCTION_URL = fake.url
        settings.PUSH_APNS_SANDBOX_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file
        fake.credentials = {
            "key": key,
            "key_id": key_id,
            "team_id": TEAM,
            "topic": TOPIC,
            "environment": "production",
        }
        yield fake
    sender.LOOP.close()


def configure(app, fake):
    """Give ``app`` the fake's APNs credentials."""
    return channels.store_credentials(app, "apns", fake.credentials)


def apns_device(app, i: int, **fields):
    """Device ``dev-<i>`` of ``app`` on APNs, with the APNs token ``apns_token(i)``."""
    return add_device(app, f"dev-{i}", channel="apns", channel_token=apns_token(i), **fields)


def while_an_inbox_lock_is_held(holder, other, meanwhile):
    """Run ``holder()`` in a transaction that stays open, then ``other()`` in a second
    thread, until that one waits for an advisory lock (or, wrongly, finishes); returns whether
    it waited and what ``meanwhile()`` saw then. Both threads have connections of their own;
    their exceptions fail the test."""
    import threading

    from django.db import connection, connections, transaction

    written, release, errors = threading.Event(), threading.Event(), []

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as exc:  # raised below
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def holding():
        with transaction.atomic():
            holder()
            written.set()
            release.wait(30)

    a = in_thread(holding)
    assert written.wait(30)
    b = in_thread(other)
    waiting = False
    for _ in range(300):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            waiting = cursor.fetchone()[0] > 0
        if waiting or not b.is_alive():
            break
        b.join(0.05)
    seen = meanwhile()
    release.set()
    a.join()
    b.join()
    assert errors == []
    return waiting, seen
