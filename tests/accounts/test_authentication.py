"""API key pairs authenticate /api/v1/: Basic and the signed form."""

import json
import time

import pytest

from accounts.authentication import SignatureAuthentication
from accounts.models import ApiKeyPair, sign
from tests.conftest import basic_auth


def basic(secret_id, secret_key):
    return {"HTTP_AUTHORIZATION": basic_auth(secret_id, secret_key)}


def signed(secret_id, secret_key, body=b"", timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "HTTP_SECRETID": secret_id,
        "HTTP_TIMESTAMP": timestamp,
        "HTTP_SIGN": sign(secret_key, timestamp, secret_id, body),
    }


@pytest.fixture
def pair(personas):
    return ApiKeyPair.objects.issue(personas.owner)


def test_basic_credentials_authenticate_and_record_use(client, pair, personas):
    key, secret = pair
    response = client.get("/api/v1/me", **basic(key.secret_id, secret))

    assert response.status_code == 200, response.content
    assert response.json()["username"] == personas.owner.username
    assert [a["name"] for a in response.json()["accounts"]] == ["Acme"]
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_signed_request_authenticates_over_its_body(client, pair, personas):
    key, secret = pair
    body = json.dumps({"time_zone": "Europe/Berlin"}).encode()

    response = client.patch(
        f"/api/v1/accounts/{personas.org.pk}/",
        body,
        content_type="application/json",
        **signed(key.secret_id, secret, body),
    )

    assert response.status_code == 200, response.content
    assert response.json()["time_zone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "unknown id", "disabled", "deleted", "inactive user", "malformed"],
)
def test_bad_basic_credentials_are_refused(client, pair, case):
    key, secret = pair
    secret_id = key.secret_id
    if case == "wrong secret":
        secret = "x" * 40
    elif case == "unknown id":
        secret_id = "AKID" + "0" * 32
    elif case == "disabled":
        ApiKeyPair.objects.filter(pk=key.pk).update(enabled=False)
    elif case == "deleted":
        key.delete()
    elif case == "inactive user":
        key.user.is_active = False
        key.user.save()
    headers = basic(secret_id, secret)
    if case == "malformed":
        headers = {"HTTP_AUTHORIZATION": "Basic !!not-base64!!"}

    response = client.get("/api/v1/me", **headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_signed_request_outside_the_clock_window_is_refused(client, pair, offset):
    key, secret = pair
    headers = signed(key.secret_id, secret, timestamp=int(time.time()) + offset)

    response = client.get("/api/v1/me", **headers)

    assert response.status_code == 401
    assert "300 seconds" in response.json()["error"]["message"]


def test_a_signed_request_at_the_edge_of_the_window_is_accepted(client, pair, monkeypatch):
    key, secret = pair
    monkeypatch.setattr(SignatureAuthentication, "clock", staticmethod(lambda: 1_800_000_300))

    response = client.get("/api/v1/me", **signed(key.secret_id, secret, timestamp=1_800_000_000))

    assert response.status_code == 200


def test_a_replayed_signature_over_another_body_is_refused(client, pair, personas):
    key, secret = pair
    headers = signed(key.secret_id, secret, b'{"name": "Acme"}')

    response = client.patch(
        f"/api/v1/accounts/{personas.org.pk}/",
        b'{"name": "Hijacked"}',
        content_type="application/json",
        **headers,
    )

    assert response.status_code == 401
    personas.org.refresh_from_db()
    assert personas.org.name == "Acme"


def test_a_signed_request_with_a_disabled_key_is_refused(client, pair):
    key, secret = pair
    ApiKeyPair.objects.filter(pk=key.pk).update(enabled=False)

    assert client.get("/api/v1/me", **signed(key.secret_id, secret)).status_code == 401


def test_no_credentials_get_a_401_with_a_challenge(client, db):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"]
