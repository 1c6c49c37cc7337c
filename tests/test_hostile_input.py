"""No input gets a 500: the cases the fuzzers found, one test each, in each protocol's shape.

TPNS (/v3/): NUL and lone surrogates name the field (1008007), deep nesting and non-finite
numbers are unparsable (1008001), far dates are 1008016; SDK and management API: 400 naming
the field (or ``parse_error``), 413 for a body too large, JSON 404s; the rate-limit policy
can be changed by a member of several accounts. Nothing is written by a refusal.
"""

import base64
import json

import pytest

from accounts.models import ApiKeyPair, Membership, Role
from push.models import DeviceAccount, Push
from sms.models import RateLimitPolicy
from tests.push.conftest import add_device
from tests.push.test_tpns_auth import tpns

DEEP = "[" * 2000 + "]" * 2000
PUSH = {
    "audience_type": "token_list",
    "token_list": ["tok-a"],
    "message_type": "notify",
    "message": {"title": "Approval", "content": "Expense report 42"},
}


def raw(body: dict, **replace) -> str:
    """The body as JSON text (ASCII: lone surrogates as escapes), placeholders swapped."""
    text = json.dumps(body)
    for name, value in replace.items():
        text = text.replace(json.dumps(name), value)
    return text


@pytest.fixture
def device(app):
    return add_device(app, "tok-a", phone="+8613711110001")


def with_message(**fields) -> dict:
    return {**PUSH, "message": {**PUSH["message"], **fields}}


@pytest.mark.parametrize(
    "body, field",
    [
        (with_message(title="a\x00b"), "message.title"),
        (with_message(content="\ud800"), "message.content"),
        ({**PUSH, "plan_id": "p\x00"}, "plan_id"),
        ({**PUSH, "token_list": ["tok\x00a"]}, "token_list[0]"),
        (with_message(android={"custom_content": '{"k": "\x00"}'}), "message.android"),
        (
            {
                **PUSH,
                "resend_by_sms": True,
                "sms_info": {"sms_template_params": ["\ud800"], "sms_app_id": "1"},
            },
            "sms_info.sms_template_params[0]",
        ),
    ],
)
def test_a_push_with_nul_or_a_lone_surrogate_names_the_field(client, app, device, body, field):
    answer = tpns(client, app, "push/app", raw(body)).json()
    assert answer["ret_code"] == 1008007
    assert answer["err_msg"].startswith(field)
    assert not Push.objects.exists()


@pytest.mark.parametrize(
    "path", ["push/app", "device/account/batchoperate", "device/account/query"]
)
def test_deep_nesting_is_unparsable_on_every_tpns_endpoint(client, app, path):
    response = tpns(client, app, path, raw({**PUSH, "message": "DEEP"}, DEEP=DEEP))
    answer = response.json()
    assert response.status_code == 200
    assert answer.get("ret_code", answer.get("retCode")) == 1008001


def test_an_infinite_number_is_refused_not_stored(client, app, device):
    top = tpns(client, app, "push/app", raw(with_message(x="HUGE"), HUGE="1e309")).json()
    assert top["ret_code"] == 1008001
    inner = with_message(android={"custom_content": '{"amount": 1e309}'})
    nested = tpns(client, app, "push/app", raw(inner)).json()
    assert nested["ret_code"] == 1008007
    assert nested["err_msg"].startswith("message.android.custom_content")
    assert not Push.objects.exists()


def test_batchoperate_with_nul_in_an_account_binds_nothing(client, app, device):
    body = {
        "operator_type": 2,
        "token_accounts": [{"token": "tok-a", "account_list": [{"account": "u\x00"}]}],
    }
    answer = tpns(client, app, "device/account/batchoperate", raw(body)).json()
    assert answer["ret_code"] == 1008007
    assert "token_accounts[0].account_list[0].account" in answer["err_msg"]
    assert list(DeviceAccount.objects.values_list("account_type", flat=True)) == [1002]


@pytest.mark.parametrize("start, end", [("2025-01-01", "9999-12-31"), ("0001-01-01", "2025-01-01")])
def test_far_dates_of_push_records_are_a_date_error(client, app, start, end):
    body = {"startDate": start, "endDate": end}
    answer = tpns(client, app, "statistics/get_push_record", body).json()
    assert answer["retCode"] == 1008016
    assert "between 1900-01-01 and 9998-12-31" in answer["errMsg"]


# --------------------------------------------------------------------------------------------
# SDK


def sdk(client, app, method, path, body: str):
    return client.generic(
        method,
        f"/sdk/v1/{path}",
        body,
        content_type="application/json",
        headers={"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key},
    )


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("register", {"platform": "\ud800"}, "platform"),
        ("register", {"platform": "android", "tags": ["a\x00"]}, "tags[0]"),
        (
            "accounts",
            {"token": "tok-a", "accounts": [{"account": "\ud800"}]},
            "accounts[0].account",
        ),
        (
            "accounts",
            {"token": "tok-a", "accounts": [{"account": "u1", "account_type": 2**31}]},
            "accounts[0].account_type",
        ),
        ("events", {"token": "tok-a", "events": [{"push_id": "\x00", "type": "arrive"}]}, None),
    ],
)
def test_sdk_refusals_name_the_field(client, app, device, path, body, field):
    before = list(DeviceAccount.objects.values_list())
    response = sdk(client, app, "POST", path, raw(body))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"])[0] == (field or "events[0].push_id")
    assert list(DeviceAccount.objects.values_list()) == before


@pytest.mark.parametrize("body", [DEEP, '{"token": 1e309}', '{"token": NaN}'])
def test_sdk_unparsable_bodies_are_parse_errors(client, app, body):
    response = sdk(client, app, "POST", "register", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_sdk_unknown_paths_and_large_bodies_answer_json(client, app, settings):
    missing = sdk(client, app, "GET", "nope", "")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = sdk(client, app, "POST", "register", json.dumps({"platform": "x" * 2000}))
    assert (big.status_code, big.json()["error"]["code"]) == (413, "too_large")


# --------------------------------------------------------------------------------------------
# Management API


@pytest.fixture
def api(client, personas):
    """The owner's key pair, and the owner a member of a second account too."""
    Membership.objects.create(user=personas.owner, account=personas.individual, role=Role.ADMIN)
    key, secret = ApiKeyPair.objects.issue(personas.owner)
    auth = "Basic " + base64.b64encode(f"{key.secret_id}:{secret}".encode()).decode()

    def call(method, path, body=None, **extra):
        return client.generic(
            method,
            path,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            **extra,
        )

    return call


def test_a_member_of_two_accounts_changes_the_policy_naming_the_account(api, personas):
    body = {
        "account": personas.org.pk,
        "same_content_seconds": 60,
        "daily_limit": 5,
        "hourly_limit": None,
        "exempt_numbers": ["13711110001"],
    }
    response = api("PUT", "/api/v1/sms/policy", body)
    assert response.status_code == 200, response.content
    assert response.json()["daily_limit"] == 5
    assert RateLimitPolicy.objects.get(account=personas.org).same_content_seconds == 60


@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-31T23:59:59-12:00", "0001-01-01"])
def test_far_dates_of_sms_records_name_the_filter(api, personas, until):
    response = api("GET", f"/api/v1/sms/messages?account={personas.org.pk}&until={until}")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["until"]


def test_nul_in_a_query_parameter_names_it(api, personas, app):
    response = api("GET", "/api/v1/pushes/1/deliveries?outcome=%00")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"outcome": ["must not contain NUL characters"]}


def test_nul_in_a_json_body_names_the_field(api, personas):
    body = {"account": personas.org.pk, "name": "n", "content": "a\x00", "kind": "notification"}
    response = api("POST", "/api/v1/sms/templates", body)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["content"]


@pytest.mark.parametrize(
    "path", ["/api/v1/sms/templates/null,null", "/api/v1/nope", "/api/v1/pushes/x/deliveries"]
)
def test_unknown_api_paths_are_json_404s(api, path):
    response = api("GET", path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_a_body_too_large_is_a_json_413(api, personas, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api("POST", "/api/v1/sms/templates", {"content": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_crash_under_the_apis_is_a_json_500(rf):
    from lib import errors

    for path in ("/api/v1/me", "/sdk/v1/register"):
        response = errors.server_error(rf.get(path))
        assert response.status_code == 500
        assert json.loads(response.content)["error"]["code"] == "error"
    assert errors.server_error(rf.get("/a/1/")).status_code == 500  # the console: HTML
