"""Shared test set-up: the database check and the personas every test can use.

Personas: an organization account ("Acme") with its owner and an operator member; an outsider
who owns another organization and must see nothing of Acme; an individual account's owner.
"""

import base64
import os
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def pytest_sessionstart(session):
    """Fail the run in one clear line when PostgreSQL is not reachable."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    try:
        psycopg.connect(
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.exit(
            f"PostgreSQL is not reachable at {where} ({reason}); start it, or point "
            "DATABASE_URL elsewhere, e.g. `make test DATABASE_URL=postgres://user@host:5432/db` "
            "or `make test DATABASE_URL=sqlite:////tmp/pushconsole-test.sqlite3`",
            returncode=3,
        )


def pytest_collection_modifyitems(config, items):
    if django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: row locks across real connections")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The Tencent SDK would send even loopback calls through a proxy taken from the environment.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Personas:
    org: object
    owner: object
    member: object
    outsider: object
    outsider_account: object
    individual: object
    individual_owner: object


PASSWORD = "correct horse battery staple"

# Tencent's documented example credentials: what the fake Tencent Cloud accepts by default.
SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"


def make_user(username, **extra):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username, email=f"{username}@example.com", password=PASSWORD, **extra
    )


@pytest.fixture
def personas(db):
    from accounts.models import Account, Membership, Role

    org = Account.objects.create(name="Acme", identity=Account.Identity.ORGANIZATION)
    owner, member, outsider, solo = (make_user(name) for name in ("olivia", "max", "oscar", "ivan"))
    Membership.objects.create(user=owner, account=org, role=Role.OWNER)
    Membership.objects.create(user=member, account=org, role=Role.OPERATOR)
    other = Account.objects.create(name="Other Co", identity=Account.Identity.ORGANIZATION)
    Membership.objects.create(user=outsider, account=other, role=Role.OWNER)
    individual = Account.objects.create(name="Ivan", identity=Account.Identity.INDIVIDUAL)
    Membership.objects.create(user=solo, account=individual, role=Role.OWNER)
    return Personas(org, owner, member, outsider, other, individual, solo)


@pytest.fixture
def superuser(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def viewer(personas):
    """A new member of Acme with the viewer role."""
    from accounts.models import Membership, Role

    user = make_user("vera")
    Membership.objects.create(user=user, account=personas.org, role=Role.VIEWER)
    return user


def basic_auth(user, password) -> str:
    """An HTTP Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@contextmanager
def fake_cloud(settings, credentials, *, timeout=2):
    """A loopback Tencent Cloud accepting ``credentials`` ({secret_id: secret_key}), with the
    SDK pointed at it; ``timeout=None`` leaves TENCENTCLOUD_TIMEOUT as it is."""
    from tests.fakes.tencentcloud import FakeTencentCloud

    with FakeTencentCloud(credentials=credentials) as fake:
        settings.TENCENTCLOUD_SMS_ENDPOINT = fake.endpoint
        if timeout is not None:
            settings.TENCENTCLOUD_TIMEOUT = timeout
        yield fake


@contextmanager
def authorized_cloud(account, settings, credentials, *, by=None, timeout=None):
    """``fake_cloud`` with SMS going out through Tencent, and ``account`` authorized with the
    (single) credential pair and confirmed against the fake."""
    [(secret_id, secret_key)] = credentials.items()
    with fake_cloud(settings, credentials, timeout=timeout) as fake:
        settings.SMS_TRANSPORT = "tencent"
        auth = account.authorize_tencent_cloud(secret_id=secret_id, secret_key=secret_key, by=by)
        from sms import authorization

        assert authorization.confirm(auth)
        yield fake


@pytest.fixture
def cloud(settings):
    """The fake Tencent Cloud accepting SECRET_ID/SECRET_KEY."""
    with fake_cloud(settings, {SECRET_ID: SECRET_KEY}) as fake:
        yield fake


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture(scope="session")
def subprocess_env():
    """The environment for a child process running this project (same database settings)."""
    env = dict(os.environ)
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    return env


@pytest.fixture
def reviewer(db):
    return make_user("rita", is_staff=True)


@pytest.fixture
def sms(personas, reviewer):
    """Acme made SMS-ready: SdkAppId 1400006666, approved signature 腾讯云 and template 449739
    (two parameters), a 1000-part mainland package."""
    from sms.transports import clear_local_outbox
    from tests.sms.conftest import ready_account

    clear_local_outbox()
    return ready_account(personas.org, reviewer)


@pytest.fixture
def app(personas):
    """An Android push application of Acme; ``app.test_secret`` is its SecretKey."""
    from push.models import Application, Platform

    application, secret = Application.objects.create_for(
        personas.org, name="Acme Android", platform=Platform.ANDROID
    )
    application.test_secret = secret
    return application


@pytest.fixture(params=["database", "redis"])
def store(request, settings, monkeypatch):
    """Run the test on each store of the replay cache and the API throttle: the database, then
    Redis (127.0.0.1:6379, under a key prefix of the test's own, removed afterwards)."""
    if request.param == "database":
        settings.REDIS_URL = ""
        yield "database"
        return
    import uuid

    from accounts import kv

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    prefix = f"pushconsole-test-{uuid.uuid4().hex}:"
    monkeypatch.setattr(kv, "PREFIX", prefix)
    yield "redis"
    keys = list(kv.client().scan_iter(match=prefix + "*"))
    if keys:
        kv.client().delete(*keys)


def run_concurrently(count, target):
    """Run ``target(i)`` in ``count`` threads released at once, each on its own database
    connection; returns the results and fails on any exception."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # collected and asserted on
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results
