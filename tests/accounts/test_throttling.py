"""Guessing is throttled: console and admin logins (django-axes), and failed authentication on
the management, TPNS and SDK APIs (accounts.throttle), per username and per client address."""

import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db.models import F
from django.test import Client

from accounts.authentication import KeyPairAuthentication
from accounts.models import ApiKeyPair
from push.models import Push
from push.sdk.authentication import AccessKeyAuthentication
from push.tpns.auth import TpnsAuthentication
from tests.conftest import PASSWORD, basic_auth

T = 1_800_000_000
ATTACKER, BYSTANDER = "203.0.113.7", "198.51.100.20"


def login(client, username, password, *, path="/login/", address=ATTACKER):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def cool_off_passes(settings):
    """django-axes counts attempts newer than the cool-off: age them past it."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


@pytest.fixture
def hashes(monkeypatch):
    """How many passwords were hashed (the tests' hasher is MD5; each check encodes once)."""
    count = [0]
    encode = MD5PasswordHasher.encode

    def counting(self, password, salt):
        count[0] += 1
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return count


# Console and admin logins


def test_40_wrong_console_logins_lock_the_address_and_the_password_is_no_longer_hashed(
    client, personas, settings, hashes
):
    answers = [login(client, "olivia", f"wrong-{i}").status_code for i in range(40)]

    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert answers[limit - 1 :] == [429] * (41 - limit)
    assert hashes[0] == limit  # a locked-out attempt costs no PBKDF2
    locked = login(client, "olivia", PASSWORD)
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session


def test_after_the_cool_off_the_right_password_logs_in(client, personas, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, "olivia", f"wrong-{i}")
    assert login(client, "olivia", PASSWORD).status_code == 429

    cool_off_passes(settings)

    assert login(client, "olivia", PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(personas.owner.pk)


def test_a_locked_address_does_not_lock_others_out(client, personas, settings):
    for i in range(40):
        login(client, "nobody", f"wrong-{i}")

    response = login(Client(), "max", PASSWORD, address=BYSTANDER)

    assert response.status_code == 302


def test_a_username_is_locked_from_every_address(client, personas, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, "olivia", f"wrong-{i}", address=f"192.0.2.{i + 1}")

    assert login(Client(), "olivia", PASSWORD, address=BYSTANDER).status_code == 429
    assert login(Client(), "max", PASSWORD, address=BYSTANDER).status_code == 302


def test_20_wrong_admin_logins_lock_the_admin_login_too(client, superuser, settings):
    answers = [
        login(client, "root", f"wrong-{i}", path="/admin/login/").status_code for i in range(20)
    ]

    assert answers[-1] == 429 and answers.count(429) == 21 - settings.AXES_FAILURE_LIMIT
    assert login(client, "root", PASSWORD, path="/admin/login/").status_code == 429
    cool_off_passes(settings)
    assert login(client, "root", PASSWORD, path="/admin/login/").status_code == 302


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(client, personas, settings):
    """Without TRUSTED_PROXY_COUNT an attacker cannot pose as many clients with the header."""
    for i in range(40):
        client.post(
            "/login/",
            {"username": f"u{i}", "password": "x"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )

    assert login(client, "olivia", PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(client, personas, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"

    def via_proxy(username, password, forwarded):
        return client.post(
            "/login/",
            {"username": username, "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    # The attacker writes whatever it likes left of what our proxy appended.
    for i in range(40):
        via_proxy(f"u{i}", "x", f"192.0.2.{i}, {ATTACKER}")

    assert via_proxy("olivia", PASSWORD, ATTACKER).status_code == 429
    assert via_proxy("olivia", PASSWORD, BYSTANDER).status_code == 302


# The management, TPNS and SDK APIs


@pytest.fixture
def clocks(monkeypatch):
    """Set every API's clock to ``T + seconds``."""

    def at(seconds):
        now = staticmethod(lambda: T + seconds)
        for cls in (KeyPairAuthentication, TpnsAuthentication, AccessKeyAuthentication):
            monkeypatch.setattr(cls, "clock", now)

    at(0)
    return at


def error_body_outcome(response, *, ok: int, refused_code: str | None = None) -> str:
    """What an API with the ``{"error": {...}}`` body answered: throttled, refused or ok."""
    if response.status_code == 429:
        assert response.json()["error"]["code"] == "throttled"
        return "throttled"
    if response.status_code == 401:
        if refused_code is not None:
            assert response.json()["error"]["code"] == refused_code
        return "refused"
    assert response.status_code == ok, response.content
    return "ok"


class ManagementApi:
    def __init__(self, personas):
        self.key, self.secret = ApiKeyPair.objects.issue(personas.owner)

    def call(self, client, right, address):
        wrong = self.secret[:-1] + ("0" if self.secret[-1] != "0" else "1")
        secret = self.secret if right else wrong
        return client.get(
            "/api/v1/me",
            HTTP_AUTHORIZATION=basic_auth(self.key.secret_id, secret),
            REMOTE_ADDR=address,
        )

    @staticmethod
    def outcome(response):
        return error_body_outcome(response, ok=200, refused_code="authentication_failed")


class TpnsApi:
    BODY = {
        "audience_type": "token_list",
        "token_list": ["tok-1"],
        "message_type": "notify",
        "message": {"title": "t", "content": "c"},
        "ignore_invalid_token": 1,
    }

    def __init__(self, app):
        self.app = app

    def call(self, client, right, address):
        secret = self.app.test_secret if right else "0" * 32
        return client.post(
            "/v3/push/app",
            json.dumps(self.BODY),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic_auth(self.app.access_id, secret),
            REMOTE_ADDR=address,
        )

    @staticmethod
    def outcome(response):
        answer = response.json()
        if response.status_code == 429:
            assert answer["ret_code"] == 1008028 and "throttled" in answer["err_msg"]
            return "throttled"
        assert response.status_code == 200
        return "refused" if answer["ret_code"] == 1008003 else "ok"


class SdkApi:
    def __init__(self, app):
        self.app = app

    def call(self, client, right, address):
        return client.post(
            "/sdk/v1/register",
            {"platform": self.app.platform},
            content_type="application/json",
            headers={
                "X-Access-Id": str(self.app.access_id),
                "X-Access-Key": self.app.access_key if right else "WRONGKEY0000",
            },
            REMOTE_ADDR=address,
        )

    @staticmethod
    def outcome(response):
        return error_body_outcome(response, ok=201)


@pytest.fixture(params=["management", "tpns", "sdk"])
def api(request, personas, app):
    return {"management": ManagementApi(personas), "tpns": TpnsApi(app), "sdk": SdkApi(app)}[
        request.param
    ]


def test_100_wrong_keys_lock_the_address_out_even_for_the_right_key(
    client, api, clocks, settings, store
):
    limit = settings.API_AUTH_FAILURE_LIMIT
    outcomes = [api.outcome(api.call(client, False, ATTACKER)) for _ in range(100)]

    assert outcomes == ["refused"] * limit + ["throttled"] * (100 - limit)
    right = api.call(client, True, ATTACKER)
    assert api.outcome(right) == "throttled"
    assert right["Retry-After"] == str(settings.API_AUTH_LOCKOUT_SECONDS)

    clocks(settings.API_AUTH_LOCKOUT_SECONDS - 100)
    later = api.call(client, True, ATTACKER)
    assert api.outcome(later) == "throttled" and later["Retry-After"] == "100"

    clocks(settings.API_AUTH_LOCKOUT_SECONDS)
    assert api.outcome(api.call(client, True, ATTACKER)) == "ok"


def test_other_addresses_are_not_locked_out(client, api, clocks, settings, store):
    for _ in range(settings.API_AUTH_FAILURE_LIMIT):
        api.call(client, False, ATTACKER)

    assert api.outcome(api.call(client, True, BYSTANDER)) == "ok"
    assert api.outcome(api.call(client, False, BYSTANDER)) == "refused"


def test_a_success_does_not_clear_the_failures(client, api, clocks, settings, store):
    """An attacker holding one valid key cannot interleave it to keep guessing."""
    for _ in range(settings.API_AUTH_FAILURE_LIMIT - 1):
        api.call(client, False, ATTACKER)
    assert api.outcome(api.call(client, True, ATTACKER)) == "ok"

    assert api.outcome(api.call(client, False, ATTACKER)) == "refused"
    assert api.outcome(api.call(client, True, ATTACKER)) == "throttled"


def test_failures_spread_beyond_the_window_never_lock(client, api, clocks, settings, store):
    window = settings.API_AUTH_FAILURE_WINDOW
    for i in range(3 * settings.API_AUTH_FAILURE_LIMIT):
        clocks(i * window // (settings.API_AUTH_FAILURE_LIMIT - 1))
        assert api.outcome(api.call(client, False, ATTACKER)) == "refused"


def test_a_throttled_tpns_push_writes_nothing(client, app, clocks, settings):
    tpns = TpnsApi(app)
    for _ in range(settings.API_AUTH_FAILURE_LIMIT):
        tpns.call(client, False, ATTACKER)

    response = tpns.call(client, True, ATTACKER)

    assert response.status_code == 429
    assert set(response.json()) == {"seq", "ret_code", "err_msg"}
    assert not Push.objects.exists()


def test_requests_without_credentials_are_not_counted(client, db, clocks, settings):
    for _ in range(2 * settings.API_AUTH_FAILURE_LIMIT):
        assert client.get("/api/v1/me", REMOTE_ADDR=ATTACKER).status_code == 401
