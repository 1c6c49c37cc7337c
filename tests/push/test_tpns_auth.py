"""TPNS API authentication: Basic and the signed headers, and TPNS-shaped answers to everything.

Also home of the small client helpers the other tests of the TPNS API use.
"""

import base64
import json

import pytest
from django.test import Client

from accounts import crypto
from accounts.models import sign
from push.models import Application, Delivery, Push
from tests.conftest import basic_auth as basic

# Reference §1.2: the published test vector (the body *with* "platform": "android").
VECTOR_SECRET = "1452fcebae9f3115ba794fb0fff2fd73"
VECTOR_ACCESS_ID = 1500001048
VECTOR_TIMESTAMP = 1565314789
VECTOR_BODY = (
    b'{"audience_type": "account","platform": "android","message": {"title": "test title",'
    b'"content": "test content","android": { "action": {"action_type": 3,"intent": '
    b'"xgscheme://com.xg.push/notify_detail?param1=xg"}}},"message_type": "notify",'
    b'"account_list": ["5822f0eee44c3625ef0000bb"] }'
)
VECTOR_SIGN = (
    "Y2QyMDc3NDY4MmJmNzhiZmRiNDNlMTdkMWQ1ZDU2YjNlNWI3ODlhMTY3MGZjMTUyN2VmNTRjNjVkMmQ3Yjc2ZA=="
)


def tpns(client, app, path, body, *, secret=None, headers=None):
    """POST a TPNS request with Basic auth as ``app``; ``body`` may be a dict or raw bytes."""
    raw = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
    return client.post(
        f"/v3/{path}",
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret if secret is None else secret),
        headers=headers or {},
    )


def make_vector_app(personas):
    """The application of the reference's test vector (AccessID, SecretKey), in Acme."""
    return Application.objects.create(
        account=personas.org,
        name="Vector",
        platform="android",
        access_id=VECTOR_ACCESS_ID,
        access_key="VECTORKEY123",
        secret_sealed=crypto.seal(VECTOR_SECRET),
        secret_hint=VECTOR_SECRET[-4:],
    )


@pytest.fixture
def vector_app(personas):
    return make_vector_app(personas)


def signed(client, body, *, timestamp=VECTOR_TIMESTAMP, signature=VECTOR_SIGN, path="push/app"):
    return client.post(
        f"/v3/{path}",
        body,
        content_type="application/json",
        headers={"AccessId": str(VECTOR_ACCESS_ID), "TimeStamp": str(timestamp), "Sign": signature},
    )


def test_the_published_test_vector_verifies_and_the_push_is_accepted(client, vector_app, clock):
    clock(VECTOR_TIMESTAMP + 10)

    response = signed(client, VECTOR_BODY)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["ret_code"], answer["err_msg"], answer["seq"]) == (0, "NO_ERROR", 0)
    push = Push.objects.get(pk=answer["push_id"])
    assert push.application == vector_app
    assert push.audience == {"account_list": ["5822f0eee44c3625ef0000bb"]}
    assert push.message["android"]["action"]["action_type"] == 3


def test_the_signature_matches_the_published_tpns_vector():
    assert sign(VECTOR_SECRET, str(VECTOR_TIMESTAMP), str(VECTOR_ACCESS_ID), VECTOR_BODY) == (
        VECTOR_SIGN
    )


def test_a_timestamp_exactly_300_seconds_off_is_still_accepted(client, vector_app, clock):
    clock(VECTOR_TIMESTAMP - 300)

    assert signed(client, VECTOR_BODY).json()["ret_code"] == 0


def test_basic_auth_is_accepted(client, app):
    response = tpns(client, app, "push/app", json.loads(VECTOR_BODY))

    assert response.status_code == 200 and response.json()["ret_code"] == 0
    assert Push.objects.filter(application=app).count() == 1


def _no_credentials(client, app):
    return client.post("/v3/push/app", VECTOR_BODY, content_type="application/json")


def _wrong_secret(client, app):
    return tpns(client, app, "push/app", VECTOR_BODY, secret="0" * 32)


def _unknown_access_id(client, app):
    return client.post(
        "/v3/push/app",
        VECTOR_BODY,
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(1599999999, app.test_secret),
    )


def _malformed_basic(client, app):
    return client.post(
        "/v3/push/app",
        VECTOR_BODY,
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic not-base64!",
    )


def _stale_timestamp(client, app):
    return signed(client, VECTOR_BODY, timestamp=VECTOR_TIMESTAMP - 301)


def _future_timestamp(client, app):
    return signed(client, VECTOR_BODY, timestamp=VECTOR_TIMESTAMP + 301)


def _tampered_body(client, app):
    return signed(client, VECTOR_BODY.replace(b"test title", b"test titlE"))


def _wrong_sign(client, app):
    return signed(client, VECTOR_BODY, signature=base64.b64encode(b"0" * 64).decode())


def _missing_sign(client, app):
    return client.post(
        "/v3/push/app",
        VECTOR_BODY,
        content_type="application/json",
        headers={"AccessId": str(VECTOR_ACCESS_ID), "TimeStamp": str(VECTOR_TIMESTAMP)},
    )


def _signed_by_another_app(client, app):
    """The vector's Sign is valid for its SecretKey only: another AccessID cannot reuse it."""
    return client.post(
        "/v3/push/app",
        VECTOR_BODY,
        content_type="application/json",
        headers={
            "AccessId": str(app.access_id),
            "TimeStamp": str(VECTOR_TIMESTAMP),
            "Sign": VECTOR_SIGN,
        },
    )


@pytest.mark.parametrize(
    "attempt",
    [
        _no_credentials,
        _wrong_secret,
        _unknown_access_id,
        _malformed_basic,
        _stale_timestamp,
        _future_timestamp,
        _tampered_body,
        _wrong_sign,
        _missing_sign,
        _signed_by_another_app,
    ],
)
def test_every_authentication_failure_is_1008003_in_tpns_shape_with_http_200(
    client, app, vector_app, clock, attempt
):
    """HTTP 200, as TPNS: its okhttp-based SDKs return null for the body of any other status."""
    clock(VECTOR_TIMESTAMP)

    response = attempt(client, app)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"seq", "ret_code", "err_msg"}
    assert (answer["seq"], answer["ret_code"]) == (0, 1008003)
    assert answer["err_msg"].startswith("authentication failed")
    assert not Push.objects.exists() and not Delivery.objects.exists()


def test_a_wrong_secret_and_an_unknown_access_id_get_the_same_message(client, app):
    wrong_secret = _wrong_secret(client, app).json()["err_msg"]
    unknown_id = _unknown_access_id(client, app).json()["err_msg"]

    assert wrong_secret == unknown_id == "authentication failed: wrong AccessID or SecretKey"


def test_a_stale_timestamp_says_so(client, vector_app, clock):
    clock(VECTOR_TIMESTAMP + 1000)

    assert "300 seconds" in signed(client, VECTOR_BODY).json()["err_msg"]


def test_statistics_endpoints_refuse_in_their_own_casing(client, app):
    response = tpns(client, app, "statistics/get_push_record", {"pushId": "1"}, secret="x")

    assert response.status_code == 200
    assert response.json()["retCode"] == 1008003 and "errMsg" in response.json()


def test_other_methods_get_a_tpns_error_not_an_html_page(client, app):
    response = client.get("/v3/push/app", HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret))

    assert response.status_code == 405
    assert response.json()["ret_code"] == 1008001


def test_an_unknown_v3_path_gets_a_tpns_error_with_http_200(client):
    response = client.post("/v3/device/no_such_api", b"{}", content_type="application/json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "not supported" in response.json()["err_msg"]


def test_the_api_needs_no_csrf_token(app):
    strict = Client(enforce_csrf_checks=True)

    response = tpns(strict, app, "push/app", json.loads(VECTOR_BODY))

    assert response.json()["ret_code"] == 0


def test_a_crash_of_ours_is_a_tpns_shaped_1008004(client, app, monkeypatch):
    def broken(push, now=None):
        raise RuntimeError("boom")

    monkeypatch.setattr("push.fanout.accept", broken)

    response = tpns(client, app, "push/app", json.loads(VECTOR_BODY))

    assert response.status_code == 500
    assert response.json() == {"seq": 0, "ret_code": 1008004, "err_msg": "internal error"}


def test_a_body_over_the_upload_limit_is_a_tpns_error(client, app, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = tpns(client, app, "push/app", VECTOR_BODY)

    assert response.status_code == 413
    assert response.json()["ret_code"] == 1008001
    assert not Push.objects.exists()


# The SecretKey is compared whole: a prefix, a truncation or an extension is refused.


def _almost(secret):
    return {
        "last character changed": secret[:-1] + ("0" if secret[-1] != "0" else "1"),
        "truncated": secret[:-1],
        "prefix": secret[:8],
        "extended": secret + "0",
        "empty": "",
    }


VARIANTS = ["last character changed", "truncated", "prefix", "extended", "empty"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_basic_refuses_anything_but_the_whole_secret_key(client, app, variant):
    response = tpns(
        client, app, "push/app", json.loads(VECTOR_BODY), secret=_almost(app.test_secret)[variant]
    )

    assert response.json()["ret_code"] == 1008003
    assert not Push.objects.exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_signature_made_with_anything_but_the_whole_secret_key_is_refused(
    client, vector_app, clock, variant
):
    clock(VECTOR_TIMESTAMP)
    signature = sign(
        _almost(VECTOR_SECRET)[variant], str(VECTOR_TIMESTAMP), str(VECTOR_ACCESS_ID), VECTOR_BODY
    )

    assert signed(client, VECTOR_BODY, signature=signature).json()["ret_code"] == 1008003
    assert not Push.objects.exists()


@pytest.mark.parametrize("variant", VARIANTS[:4])
def test_a_sign_header_that_is_only_almost_right_is_refused(client, vector_app, clock, variant):
    clock(VECTOR_TIMESTAMP)

    response = signed(client, VECTOR_BODY, signature=_almost(VECTOR_SIGN)[variant])

    assert response.json()["ret_code"] == 1008003
    assert not Push.objects.exists()
