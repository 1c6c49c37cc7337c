"""A signed management request is accepted once (accounts.replay), on both stores."""

import json
import threading

import pytest
from django.test import Client

from accounts import replay
from accounts.authentication import KeyPairAuthentication
from accounts.models import ApiKeyPair, UsedSignature
from accounts.tasks import purge_auth_records
from sms.models import SmsMessage
from sms.transports import LOCAL_OUTBOX
from tests.accounts.test_authentication import signed
from tests.conftest import run_concurrently

T = 1_800_000_000


@pytest.fixture
def at(monkeypatch):
    """Set the management API's clock to ``T + seconds``."""
    return lambda seconds: monkeypatch.setattr(
        KeyPairAuthentication, "clock", staticmethod(lambda: T + seconds)
    )


def send_body(sms):
    return json.dumps(
        {
            "sdk_app_id": sms.application.sdk_app_id,
            "template_id": sms.template.code,
            "params": ["报销单 42", "明天"],
            "numbers": ["+8613711112222"],
        }
    ).encode()


def test_a_signed_sms_send_replayed_32_seconds_later_sends_and_charges_nothing(
    client, sms, personas, at, store
):
    key, secret = ApiKeyPair.objects.issue(personas.member)
    body = send_body(sms)
    headers = signed(key.secret_id, secret, body, T, method="POST", path="/api/v1/sms/send")
    at(0)
    first = client.post("/api/v1/sms/send", body, content_type="application/json", **headers)
    assert first.status_code == 200, first.content
    sms.package.refresh_from_db()
    used, outbox = sms.package.used, len(LOCAL_OUTBOX)

    at(32)
    replayed = client.post("/api/v1/sms/send", body, content_type="application/json", **headers)

    assert replayed.status_code == 401
    assert replayed.json()["error"] == {
        "code": "authentication_failed",
        "message": "This signature was already used: sign every request anew (a new TimeStamp).",
    }
    assert SmsMessage.objects.count() == 1
    sms.package.refresh_from_db()
    assert sms.package.used == used == 1
    assert len(LOCAL_OUTBOX) == outbox


def test_the_same_request_signed_anew_is_accepted(client, personas, at, store):
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    at(0)

    first = client.get("/api/v1/me", **signed(key.secret_id, secret, timestamp=T))
    again = client.get("/api/v1/me", **signed(key.secret_id, secret, timestamp=T + 1))

    assert (first.status_code, again.status_code) == (200, 200)


def test_a_forged_request_does_not_use_up_the_signature_it_copied(client, personas, at, store):
    """Only a verified signature is recorded: a copy of the headers on another body fails
    and leaves the real request its one use."""
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    path = f"/api/v1/accounts/{personas.org.pk}/"
    body = b'{"time_zone": "Europe/Berlin"}'
    headers = signed(key.secret_id, secret, body, T, method="PATCH", path=path)
    at(0)

    forged = client.patch(path, b'{"name": "Hijacked"}', "application/json", **headers)
    real = client.patch(path, body, "application/json", **headers)

    assert forged.status_code == 401
    assert real.status_code == 200, real.content


def test_a_replay_after_the_window_is_refused_as_stale(client, personas, at, store):
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    headers = signed(key.secret_id, secret, timestamp=T)
    at(0)
    assert client.get("/api/v1/me", **headers).status_code == 200

    at(301)
    response = client.get("/api/v1/me", **headers)

    assert response.status_code == 401
    assert "300 seconds" in response.json()["error"]["message"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_eight_concurrent_identical_requests_exactly_one_is_accepted(personas, at, store):
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    headers = signed(key.secret_id, secret, timestamp=T)
    at(0)

    statuses = run_concurrently(8, lambda i: Client().get("/api/v1/me", **headers).status_code)

    assert sorted(statuses) == [200] + [401] * 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_store_lets_exactly_one_of_concurrent_claims_win(store):
    results = run_concurrently(16, lambda i: replay.first_use("api", "AKIDx", T, "c2ln", T))

    assert sorted(results) == [False] * 15 + [True]


def test_the_purge_forgets_only_signatures_outside_the_window(db, settings):
    settings.REDIS_URL = ""
    assert replay.first_use("api", "AKIDx", T, "old", T)
    assert replay.first_use("api", "AKIDx", T + 400, "new", T + 400)

    purged = purge_auth_records(now=T + 302)

    assert purged == 1
    assert UsedSignature.objects.count() == 1
    assert not replay.first_use("api", "AKIDx", T + 400, "new", T + 400)


def test_the_claim_is_atomic_on_redis_too(settings, store):
    """Redis' SET NX: threads racing for one key, one wins (no database involved)."""
    if store != "redis":
        pytest.skip("the database store is raced in the PostgreSQL test above")
    barrier, results = threading.Barrier(16), []

    def claim():
        barrier.wait()
        results.append(replay.first_use("tpns", "1500000001", T, "c2ln", T))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False] * 15 + [True]
