"""API key pairs authenticate /api/v1/: Basic and the signed form.

Also home of ``signed``, the helper every test that signs a management request uses.
"""

import base64
import json
import time

import pytest

from accounts import crypto
from accounts.authentication import KeyPairAuthentication, SignatureAuthentication
from accounts.models import ApiKeyPair, sign
from accounts.signing import hmac_sign, management_string_to_sign
from tests.conftest import SECRET_ID, SECRET_KEY, basic_auth


def basic(secret_id, secret_key):
    return {"HTTP_AUTHORIZATION": basic_auth(secret_id, secret_key)}


def signed(
    secret_id, secret_key, body=b"", timestamp=None, *, method="GET", path="/api/v1/me", query=""
):
    """The signed-form headers of ``METHOD path?query`` with ``body``, as a client makes them."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    message = management_string_to_sign(
        method=method, path=path, query=query, timestamp=timestamp, secret_id=secret_id, body=body
    )
    return {
        "HTTP_SECRETID": secret_id,
        "HTTP_TIMESTAMP": timestamp,
        "HTTP_SIGN": hmac_sign(secret_key, message),
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

    path = f"/api/v1/accounts/{personas.org.pk}/"

    response = client.patch(
        path,
        body,
        content_type="application/json",
        **signed(key.secret_id, secret, body, method="PATCH", path=path),
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
    path = f"/api/v1/accounts/{personas.org.pk}/"
    headers = signed(key.secret_id, secret, b'{"name": "Acme"}', method="PATCH", path=path)

    response = client.patch(
        path,
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


# The signed string covers the method, the path and the query (README's worked example).

EXAMPLE_SECRET_ID = "AKID8wYdRo2kQm5vXn3TzLp6HcJaFs4EgUbW"
EXAMPLE_SECRET_KEY = "Q2t7Vx9mLp3RzA6nKd8WfY4hJc1sTb5uEg0oNi2M"
EXAMPLE_TIMESTAMP = "1735689600"
EXAMPLE_STRING = (
    b"GET\n/api/v1/sms/messages\nsince=2025-01-01&state=sent\n1735689600\n"
    b"AKID8wYdRo2kQm5vXn3TzLp6HcJaFs4EgUbW\n"
)
EXAMPLE_HEX = "dc75fa4fb2ec4f260186fe8c87afe24a2db47d675b622c0882e4c78fb6bc9635"
EXAMPLE_SIGN = (
    "ZGM3NWZhNGZiMmVjNGYyNjAxODZmZThjODdhZmUyNGEyZGI0N2Q2NzViNjIyYzA4ODJlNGM3OGZiNmJjOTYzNQ=="
)


def test_the_readme_worked_example_holds():
    string = management_string_to_sign(
        method="get",
        path="/api/v1/sms/messages",
        query="since=2025-01-01&state=sent",
        timestamp=EXAMPLE_TIMESTAMP,
        secret_id=EXAMPLE_SECRET_ID,
        body=b"",
    )
    sign_ = hmac_sign(EXAMPLE_SECRET_KEY, string)

    assert string == EXAMPLE_STRING
    assert base64.b64decode(sign_).decode() == EXAMPLE_HEX
    assert sign_ == EXAMPLE_SIGN


def test_the_readme_shows_the_worked_example():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for value in (EXAMPLE_SECRET_ID, EXAMPLE_SECRET_KEY, EXAMPLE_TIMESTAMP, EXAMPLE_HEX):
        assert value in readme
    assert EXAMPLE_SIGN in readme


def test_the_worked_example_authenticates_its_request(client, personas, monkeypatch):
    key, _ = ApiKeyPair.objects.issue(personas.owner)
    ApiKeyPair.objects.filter(pk=key.pk).update(
        secret_id=EXAMPLE_SECRET_ID, secret_sealed=crypto.seal(EXAMPLE_SECRET_KEY)
    )
    monkeypatch.setattr(KeyPairAuthentication, "clock", staticmethod(lambda: 1735689600 + 5))

    response = client.get(
        "/api/v1/sms/messages?since=2025-01-01&state=sent",
        HTTP_SECRETID=EXAMPLE_SECRET_ID,
        HTTP_TIMESTAMP=EXAMPLE_TIMESTAMP,
        HTTP_SIGN=EXAMPLE_SIGN,
    )

    assert response.status_code != 401, response.content


def _me_signature(key, secret):
    return signed(key.secret_id, secret, b"", method="GET", path="/api/v1/me")


@pytest.mark.parametrize(
    "method, path, query",
    [
        ("get", "/api/v1/sms/messages.csv", ""),
        ("post", "/api/v1/accounts/{account}/authorization/confirm", ""),
        ("delete", "/api/v1/accounts/{account}/authorization", ""),
        ("get", "/api/v1/me", "x=1"),
        ("post", "/api/v1/me", ""),
    ],
)
def test_a_signature_of_get_me_is_refused_on_any_other_request(
    client, pair, personas, method, path, query
):
    key, secret = pair
    personas.org.authorize_tencent_cloud(
        secret_id=SECRET_ID, secret_key=SECRET_KEY, by=personas.owner
    )
    headers = _me_signature(key, secret)
    url = path.format(account=personas.org.pk) + (f"?{query}" if query else "")

    response = getattr(client, method)(url, **headers)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["message"] == "Sign does not match the request."
    assert personas.org.find_authorization() is not None


def test_a_signature_of_get_me_is_accepted_on_get_me(client, pair):
    key, secret = pair

    assert client.get("/api/v1/me", **_me_signature(key, secret)).status_code == 200


def test_the_query_is_signed_byte_for_byte(client, pair):
    key, secret = pair
    headers = signed(key.secret_id, secret, path="/api/v1/sms/messages", query="b=2&a=1")

    reordered = client.get("/api/v1/sms/messages?a=1&b=2", **headers)
    as_signed = client.get(
        "/api/v1/sms/messages?b=2&a=1",
        **signed(key.secret_id, secret, path="/api/v1/sms/messages", query="b=2&a=1"),
    )

    assert reordered.status_code == 401
    assert as_signed.status_code != 401


def test_a_request_signed_the_old_way_is_told_the_string_changed(client, pair):
    key, secret = pair
    timestamp = str(int(time.time()))
    headers = {
        "HTTP_SECRETID": key.secret_id,
        "HTTP_TIMESTAMP": timestamp,
        "HTTP_SIGN": sign(secret, timestamp, key.secret_id, b""),  # TimeStamp + SecretId + body
    }

    response = client.get("/api/v1/me", **headers)

    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "signed string changed" in message
    assert "METHOD\\nPATH\\nQUERY\\nTimeStamp\\nSecretId\\n" in message


# The SecretKey is compared whole: a prefix, a truncation or an extension is refused.


def _variants(secret):
    return {
        "last character changed": secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        "truncated": secret[:-1],
        "prefix": secret[:8],
        "extended": secret + "x",
        "empty": "",
    }


@pytest.mark.parametrize(
    "variant", ["last character changed", "truncated", "prefix", "extended", "empty"]
)
def test_basic_refuses_anything_but_the_whole_secret_key(client, pair, variant):
    key, secret = pair

    response = client.get("/api/v1/me", **basic(key.secret_id, _variants(secret)[variant]))

    assert response.status_code == 401
    assert client.get("/api/v1/me", **basic(key.secret_id, secret)).status_code == 200


@pytest.mark.parametrize(
    "variant", ["last character changed", "truncated", "prefix", "extended", "empty"]
)
def test_a_signature_made_with_anything_but_the_whole_secret_key_is_refused(client, pair, variant):
    key, secret = pair

    response = client.get("/api/v1/me", **signed(key.secret_id, _variants(secret)[variant]))

    assert response.status_code == 401


@pytest.mark.parametrize("variant", ["last character changed", "truncated", "prefix", "extended"])
def test_a_sign_header_that_is_only_almost_right_is_refused(client, pair, variant):
    key, secret = pair
    headers = signed(key.secret_id, secret)
    headers["HTTP_SIGN"] = _variants(headers["HTTP_SIGN"])[variant]

    assert client.get("/api/v1/me", **headers).status_code == 401
