"""Shared pieces of the benchmark: timing, a throw-away tenant, bulk data made by SQL."""

import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from push import fanout
from push.models import Application, Device, Push
from sms.models import Package, RateLimitPolicy, Signature, SmsApplication, Template


@contextmanager
def timer(results: dict, key: str):
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def tenant(name="bench", platform="android"):
    account = Account.objects.create(
        name=f"{name}-{uuid.uuid4().hex[:8]}", identity=Account.Identity.ORGANIZATION
    )
    app, _ = Application.objects.create_for(account, name="bench", platform=platform)
    return account, app


def token(i: int) -> str:
    """The push token that make_devices gives device ``i`` (its SQL spells the same format)."""
    return f"b{i:035d}"


def channel_token(i: int) -> str:
    """The channel token that make_devices gives device ``i`` on a push service."""
    return f"{i:064x}"


def make_devices(
    app, count: int, *, phones: bool = False, start: int = 0, channel: str | None = None
) -> None:
    """``count`` devices (and phone bindings) with one INSERT … SELECT generate_series each;
    device ``i`` has the token ``token(i)`` and, on ``channel`` (apns, fcm), the channel
    token ``channel_token(i)``."""
    now = timezone.now()
    meta = Device._meta
    # Columns given here; every other takes its field's default, so a new Device field needs
    # no change of this statement.
    given = {
        "application_id": ("%s", [app.pk]),
        "token": ("'b' || lpad(g::text, 35, '0')", []),
        "platform": ("%s", [app.platform]),
        "app_version": ("%s", ["1.0"]),
    }
    if channel:
        given["channel"] = ("%s", [channel])
        given["channel_token"] = ("lpad(to_hex(g), 64, '0')", [])
    columns, selects, params = [], [], []
    for field in meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        sql, values = given.get(field.attname, (None, None))
        if sql is None:
            default = field.get_default()  # timezone.now for the timestamps
            sql = f"%s::{field.cast_db_type(connection)}"
            values = [field.get_db_prep_save(default, connection)]
        selects.append(sql)
        params += values
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} ({', '.join(columns)}) SELECT {', '.join(selects)} "
            "FROM generate_series(%s, %s) AS g",
            [*params, start, start + count - 1],
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


def sms_ready(account, quantity):
    """An SMS application, approved signature 基准 and template 777, and a package."""
    SmsApplication.objects.create(account=account, sdk_app_id="1400009999")
    Signature.objects.create(account=account, text="基准", status="approved")
    Template.objects.create(
        account=account, code="777", name="b", content="审批 {1} 待处理", status="approved"
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


# sms_smsmessage columns that insert_sms_messages fills unless told otherwise (SQL expressions):
# a sent mainland SMS with the signature and template of sms_ready.
SMS_DEFAULTS = {
    "region": "'mainland'",
    "sign_name": "'基准'",
    "template_code": "'777'",
    "content_hash": "''",
    "fee": "1",
    "charged": "1",
    "state": "'sent'",
    "reason": "''",
    "error_message": "''",
    "retryable": "false",
    "request_id": "''",
    "iso_code": "'CN'",
    "source_type": "'push_delivery'",
    "transport": "'tencent'",
    "simulated": "false",
    "receipt_status": "''",
    "receipt_code": "''",
    "receipt_description": "''",
}


def insert_sms_messages(columns: dict[str, str], source: str, params: dict) -> None:
    """SMS records made by one ``INSERT INTO sms_smsmessage … SELECT … FROM {source}``.

    ``columns`` maps columns to SQL expressions over ``source`` (the others take SMS_DEFAULTS;
    account_id, phone_number, params, content, serial_no, session_context, source_id and
    created_at have no default); placeholders are named: ``%(name)s`` from ``params``.
    """
    values = {**SMS_DEFAULTS, **columns}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO sms_smsmessage ({', '.join(values)}) "
            f"SELECT {', '.join(values.values())} FROM {source}",
            params,
        )


def vacuum_analyze(*tables: str) -> None:
    """VACUUM ANALYZE (outside any transaction: Django's connection is in autocommit), so a
    measurement does not run over the dead rows and stale statistics of the one before."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def database_url() -> str:
    """The current database as a URL (password included), for child processes."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**env_extra) -> dict:
    """The environment of a server process of the benchmark: this database, production
    settings (DEBUG off), the same keys as this process (it sealed the secrets the server
    opens), plain HTTP on loopback."""
    import os

    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "false",  # DEBUG on would record every query
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        **env_extra,
    }


@contextmanager
def gunicorn(*, threads: int = 1, **env_extra):
    """The product under gunicorn (2 workers) on a free loopback port, configured as in
    production (DEBUG off); yields its base URL and a requests session that ignores proxy
    settings."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import requests

    port = free_port()
    env = server_env(**env_extra)
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
                session.get(base + "/healthz", timeout=5)
                break
            # A loaded machine may take longer than the timeout to answer the first request.
            except (requests.ConnectionError, requests.Timeout):
                if server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {server.returncode}") from None
                time.sleep(0.1)
        yield base, session
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
