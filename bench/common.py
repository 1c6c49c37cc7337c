"""Shared pieces of the benchmark: timing, a throw-away tenant, bulk data made by SQL."""

import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from accounts.models import Account
from push.models import Application, Device


@contextmanager
def timer(results: dict, key: str):
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def tenant(name="bench"):
    account = Account.objects.create(
        name=f"{name}-{uuid.uuid4().hex[:8]}", identity=Account.Identity.ORGANIZATION
    )
    app, _ = Application.objects.create_for(account, name="bench", platform="android")
    return account, app


def make_devices(app, count: int, *, phones: bool = False, start: int = 0) -> None:
    """``count`` devices (and phone bindings) with one INSERT … SELECT generate_series each."""
    now = timezone.now()
    table = Device._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (application_id, token, platform, app_version, sdk_version, "
            "os_version, device_brand, system_language, country, notifications_enabled, "
            "notifications_changed_at, created_at, last_seen_at) "
            "SELECT %s, 'b' || lpad(g::text, 35, '0'), 'android', '1.0', '', '', '', '', '', "
            "true, %s, %s, %s FROM generate_series(%s, %s) AS g",
            [app.pk, now, now, now, start, start + count - 1],
        )
        if phones:
            cursor.execute(
                "INSERT INTO push_deviceaccount (device_id, application_id, account_type, "
                "account, created_at) SELECT id, application_id, 1002, "
                "'+86137' || lpad((id %% 100000000)::text, 8, '0'), %s FROM push_device "
                "WHERE application_id = %s",
                [now, app.pk],
            )


def cleanup(account) -> None:
    """Remove a tenant's data with set-based deletes (the ORM cascade would load rows)."""
    with connection.cursor() as cursor:
        for sql in (
            "DELETE FROM sms_packagecharge WHERE package_id IN "
            "(SELECT id FROM sms_package WHERE account_id = %s)",
            "DELETE FROM sms_smsmessage WHERE account_id = %s",
            "DELETE FROM push_delivery WHERE push_id IN (SELECT p.id FROM push_push p "
            "JOIN push_application a ON a.id = p.application_id WHERE a.account_id = %s)",
            "DELETE FROM push_deviceaccount WHERE application_id IN "
            "(SELECT id FROM push_application WHERE account_id = %s)",
            "DELETE FROM push_devicetag WHERE application_id IN "
            "(SELECT id FROM push_application WHERE account_id = %s)",
            "DELETE FROM push_device WHERE application_id IN "
            "(SELECT id FROM push_application WHERE account_id = %s)",
        ):
            cursor.execute(sql, [account.pk])
    account.delete()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def later(seconds: int):
    return timezone.now() + timedelta(seconds=seconds)


def database_url() -> str:
    """The current database as a URL, for child processes."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextmanager
def gunicorn(*, threads: int = 1, **env_extra):
    """The product under gunicorn (2 workers) on a free loopback port; yields its base URL
    and a requests session that ignores proxy settings."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "true", **env_extra}
    args = ["--workers", "2", "--log-level", "warning"]
    if threads > 1:
        args += ["--worker-class", "gthread", "--threads", str(threads)]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "pushconsole.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            *args,
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False
    try:
        for _ in range(100):
            try:
                session.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base, session
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
