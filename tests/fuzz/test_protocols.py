"""Property-based fuzzing of the TPNS endpoints (/v3/) and the SDK endpoints (/sdk/v1/).

Each endpoint starts from a valid request and Hypothesis spoils it: a field at any known path
replaced by hostile JSON (NUL and lone surrogates in strings and keys, integers past every
column's range, NaN/Infinity/1e309, arrays where objects go, nesting 2,000 levels deep, ...),
the whole body replaced, or the body not JSON at all. For every request it must hold that

- the answer is never a 5xx;
- the answer is JSON in the protocol's shape (TPNS: ``ret_code``/``err_msg`` or
  ``retCode``/``errMsg``; SDK: its answer, or ``{"error": {"code", "message"}}``);
- a refusal wrote nothing: the tables the endpoints write are the same before and after.

The runs are bounded and reproducible (``derandomize``, no example database), so CI sees the
same cases every time; the figures per endpoint are printed at the end of the run (conftest).
Each example is wrapped in a savepoint that is rolled back after a server error, so one broken
request cannot poison the ones after it.
"""

import copy
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from push import fanout
from push.models import Delivery, Device, DeviceAccount, DeviceTag, Push
from push.sdk.views import LongPoll
from sms.models import SmsMessage
from tests.conftest import basic_auth
from tests.push.conftest import add_device

EXAMPLES = 120  # per endpoint; ~13 endpoints, ~1,600 requests, well under a minute in-process

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# Placeholders swapped into the JSON text: values that json.dumps cannot write.
DEEP = "\u2063deep\u2063"
HUGE = "\u2063huge\u2063"
DEPTH = 2000

WEIRD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\ud83d\ude00",
    "null,null",
    "9" * 40,
    "1e309",
    "NaN",
    "-1",
    "9999-12-31",
    "0001-01-01",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
    "2025-02-30",
    "{}",
    '{"a": 1e309}',
    '{"a": "\\u0000"}',
    "[" * 50,
    "tok-a",
    "+8613711110001",
    "1002",
]
PLAUSIBLE = [
    "all",
    "tag",
    "token",
    "token_list",
    "account",
    "account_list",
    "notify",
    "message",
    "android",
    "ios",
    "arrive",
    "click",
    "dismiss",
    0,
    1,
    2,
    3,
    4,
    5,
    300,
    1002,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    True,
    False,
    None,
    [],
    {},
    DEEP,
    HUGE,
]

text = st.one_of(
    st.sampled_from(WEIRD_TEXT),
    st.text(max_size=12),
    st.text(st.characters(categories=["Cs", "Cc", "Lo", "Nd", "Zs"]), max_size=6),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(PLAUSIBLE),
)
hostile = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


def encode(value) -> str:
    """JSON text, with the placeholders made real (2,000 levels of nesting, 1e309)."""
    raw = json.dumps(value)  # ensure_ascii: lone surrogates travel as "\ud800" escapes
    raw = raw.replace(json.dumps(DEEP), "[" * DEPTH + "]" * DEPTH)
    return raw.replace(json.dumps(HUGE), "1e309")


def _set(body, path: tuple, value) -> None:
    """Put ``value`` at ``path`` (keys and indexes), creating containers on the way."""
    node = body
    for step in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(step, {} if isinstance(step, str) else [])
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


@st.composite
def requests(draw, templates: list[dict]):
    """(body text, description): a template spoilt at one to three of its paths, or worse."""
    kind = draw(st.sampled_from(["spoil"] * 8 + ["whole", "not_json"]))
    if kind == "whole":
        value = draw(hostile)
        return encode(value), f"whole body {value!r:.200}"
    if kind == "not_json":
        raw = draw(
            st.one_of(
                st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                st.sampled_from(["", "{", '{"a":}', "[" * DEPTH, '{"x": NaN}', "\ufeff{}"]),
            )
        )
        return raw, f"not JSON {raw!r:.200}"
    template = draw(st.sampled_from(templates))
    body = copy.deepcopy(template["body"])
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(template["paths"]))
        if draw(st.integers(0, 9)) == 0:
            _drop(body, path)
            changes.append(f"drop {path}")
        else:
            value = draw(hostile)
            _set(body, path, value)
            changes.append(f"{path} = {value!r:.120}")
    return encode(body), "; ".join(changes)


def _drop(body, path: tuple) -> None:
    node = body
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def snapshot() -> tuple:
    """Everything the endpoints under test write, to compare before and after a refusal."""
    return (
        list(Push.objects.order_by("pk").values_list()),
        list(Delivery.objects.order_by("pk").values_list()),
        list(Device.objects.order_by("pk").values_list()),
        list(DeviceAccount.objects.order_by("pk").values_list()),
        list(DeviceTag.objects.order_by("pk").values_list()),
        SmsMessage.objects.count(),
    )


@dataclass
class Outcome:
    endpoint: str
    failures: list = field(default_factory=list)


def exercise(tally, outcome: Outcome, description: str, send, refused, shaped) -> None:
    """Send one request in a savepoint, and record what breaks the properties."""
    before = snapshot()
    savepoint = transaction.savepoint()
    response = send()
    counts = tally[outcome.endpoint]
    counts["cases"] += 1
    if response.status_code >= 500:
        transaction.savepoint_rollback(savepoint)
        counts["5xx"] += 1
        outcome.failures.append(f"{response.status_code} for {description}")
        return
    transaction.savepoint_commit(savepoint)
    counts["2xx"] += response.status_code < 300 and not refused(response, _json(response))
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if not shaped(response, answer):
        counts["bad_shape"] += 1
        outcome.failures.append(f"shape {response.status_code} {response.content[:200]!r}")
        return
    if refused(response, answer) and snapshot() != before:
        counts["half_written"] += 1
        outcome.failures.append(f"refused but wrote: {description}")


def _json(response):
    try:
        return json.loads(response.content)
    except ValueError:
        return {}


def report(outcome: Outcome) -> None:
    shown = "\n".join(outcome.failures[:10])
    assert not outcome.failures, f"{len(outcome.failures)} failures on {outcome.endpoint}:\n{shown}"


# --------------------------------------------------------------------------------------------
# The world the requests act on


@pytest.fixture
def world(app, sms):
    devices = [
        add_device(app, "tok-a", tags=["vip"], phone="+8613711110001"),
        add_device(app, "tok-b", tags=["beijing"]),
    ]
    DeviceAccount.objects.create(device=devices[0], application=app, account_type=0, account="u1")
    push = fanout.accept(
        Push(
            application=app,
            audience_type="token_list",
            audience={"token_list": ["tok-a", "tok-b"]},
            message_type="notify",
            title="t",
            content="c",
        )
    )
    return app, push


@pytest.fixture
def no_waiting(monkeypatch):
    """GET messages with ``wait``: the long-poll's clock jumps instead of sleeping."""
    moment = [0.0]
    monkeypatch.setattr(LongPoll, "clock", staticmethod(lambda: moment[0]))
    monkeypatch.setattr(
        LongPoll, "sleep", staticmethod(lambda s: moment.__setitem__(0, moment[0] + s))
    )


# --------------------------------------------------------------------------------------------
# TPNS


MESSAGE = {
    "title": "Approval",
    "content": "Expense report 42 waits for you",
    "android": {"custom_content": '{"order": 42}', "action": {"action_type": 1}},
    "accept_time": [{"start": {"hour": "08", "min": "00"}, "end": {"hour": "22", "min": "00"}}],
}
SMS_INFO = {
    "delay_trigger_time": 600,
    "trigger_condition": 1,
    "sms_template_id": "449739",
    "sms_app_id": "1400006666",
    "sms_sign_name": "腾讯云",
    "sms_template_params": ["报销单 42", "明天"],
    "max_sms": 10,
}
PUSH_PATHS = [
    ("audience_type",),
    ("token_list",),
    ("token_list", 0),
    ("account_list",),
    ("account_type",),
    ("tag_rules",),
    ("tag_list",),
    ("message_type",),
    ("message",),
    ("message", "title"),
    ("message", "content"),
    ("message", "android"),
    ("message", "android", "custom_content"),
    ("message", "android", "action"),
    ("message", "android", "n_id"),
    ("message", "accept_time"),
    ("message", "accept_time", 0, "start", "hour"),
    ("message", "ios"),
    ("expire_time",),
    ("send_time",),
    ("seq",),
    ("plan_id",),
    ("collapse_id",),
    ("channel_rules",),
    ("loop_param",),
    ("ignore_invalid_token",),
    ("resend_by_sms",),
    ("sms_info",),
    ("sms_info", "delay_trigger_time"),
    ("sms_info", "trigger_condition"),
    ("sms_info", "sms_template_id"),
    ("sms_info", "sms_app_id"),
    ("sms_info", "sms_sign_name"),
    ("sms_info", "sms_template_params"),
    ("sms_info", "sms_template_params", 0),
    ("sms_info", "max_sms"),
]
TPNS = {
    "push/app": [
        {
            "body": {
                "audience_type": "token_list",
                "token_list": ["tok-a", "tok-b"],
                "message_type": "notify",
                "message": MESSAGE,
                "resend_by_sms": True,
                "sms_info": SMS_INFO,
            },
            "paths": PUSH_PATHS,
        },
        {
            "body": {
                "audience_type": "tag",
                "tag_rules": [
                    {"tag_items": [{"tags": ["vip"], "is_not": False, "tags_operator": "OR"}]}
                ],
                "message_type": "notify",
                "message": MESSAGE,
                "send_time": "2030-01-01 08:00:00",
            },
            "paths": [*PUSH_PATHS, ("tag_rules", 0, "tag_items", 0, "tags", 0)],
        },
        {
            "body": {
                "audience_type": "account_list",
                "account_list": ["+8613711110001"],
                "account_type": 1002,
                "message_type": "notify",
                "message": MESSAGE,
            },
            "paths": [*PUSH_PATHS, ("account_list", 0)],
        },
    ],
    "device/account/batchoperate": [
        {
            "body": {
                "operator_type": 2,
                "token_accounts": [
                    {"token": "tok-a", "account_list": [{"account": "u2", "account_type": 0}]},
                    {"token": "tok-b", "account_list": [{"account": "13711110002"}]},
                ],
                "account_type": 1002,
            },
            "paths": [
                ("operator_type",),
                ("account_type",),
                ("token_accounts",),
                ("token_accounts", 0),
                ("token_accounts", 0, "token"),
                ("token_accounts", 0, "account_list"),
                ("token_accounts", 0, "account_list", 0, "account"),
                ("token_accounts", 0, "account_list", 0, "account_type"),
                ("token_accounts", 1, "account_list", 0, "account"),
            ],
        },
        {
            "body": {"operator_type": 4, "token_list": ["tok-b"]},
            "paths": [("operator_type",), ("token_list",), ("token_list", 0)],
        },
        {
            "body": {"operator_type": 5, "account_list": [{"account": "u9", "account_type": 0}]},
            "paths": [
                ("operator_type",),
                ("account_list",),
                ("account_list", 0, "account"),
                ("account_list", 0, "account_type"),
            ],
        },
    ],
    "device/account/query": [
        {
            "body": {"operator_type": 1, "account_list": [{"account": "u1", "account_type": 0}]},
            "paths": [
                ("operator_type",),
                ("account_type",),
                ("account_list",),
                ("account_list", 0),
                ("account_list", 0, "account"),
                ("account_list", 0, "account_type"),
            ],
        },
        {
            "body": {"operator_type": 2, "token_list": ["tok-a", "tok-x"]},
            "paths": [("operator_type",), ("token_list",), ("token_list", 0)],
        },
    ],
    "statistics/get_push_record": [
        {
            "body": {
                "startDate": "2024-01-01",
                "endDate": "2030-12-31",
                "msgType": "notify",
                "pushType": "token_list",
                "offset": 0,
                "limit": 20,
            },
            "paths": [
                ("startDate",),
                ("endDate",),
                ("msgType",),
                ("pushType",),
                ("offset",),
                ("limit",),
                ("pushId",),
            ],
        },
    ],
    "statistics/get_push_task_stat_channel": [
        {"body": {"pushId": "PUSH"}, "paths": [("pushId",), ("extra",)]},
    ],
}
PARTLY_FAILED = 1008026


def _with_push_id(templates, push):
    text = json.dumps(templates).replace('"PUSH"', json.dumps(str(push.pk)))
    return json.loads(text)


def tpns_shaped(response, answer) -> bool:
    if not isinstance(answer, dict):
        return False
    return {"ret_code", "err_msg"} <= answer.keys() or {"retCode", "errMsg"} <= answer.keys()


def tpns_refused(response, answer) -> bool:
    code = answer.get("ret_code", answer.get("retCode"))
    return code not in (0, PARTLY_FAILED)  # a partial batch writes its good items, per TPNS


@pytest.mark.parametrize("endpoint", sorted(TPNS))
def test_tpns_endpoints_never_fail_and_refusals_write_nothing(endpoint, world, tally):
    app, push = world
    client = Client(raise_request_exception=False)
    auth = basic_auth(app.access_id, app.test_secret)
    outcome = Outcome(f"POST /v3/{endpoint}")
    templates = _with_push_id(TPNS[endpoint], push)

    @FUZZ
    @given(requests(templates))
    def run(request):
        raw, description = request

        def send():
            return client.post(
                f"/v3/{endpoint}", raw, content_type="application/json", HTTP_AUTHORIZATION=auth
            )

        exercise(tally, outcome, description, send, tpns_refused, tpns_shaped)

    run()
    report(outcome)


# --------------------------------------------------------------------------------------------
# SDK


TOKEN = [("token",)]
SDK = {
    ("POST", "register"): [
        {
            "body": {
                "platform": "android",
                "app_version": "1.0",
                "sdk_version": "1.4",
                "os_version": "14",
                "device_brand": "Xiaomi",
                "system_language": "zh",
                "country": "CN",
                "notifications_enabled": True,
                "tags": ["vip", "beijing"],
            },
            "paths": [
                ("platform",),
                ("app_version",),
                ("country",),
                ("notifications_enabled",),
                ("tags",),
                ("tags", 0),
                ("token",),
            ],
        },
        {"body": {"token": "tok-b", "platform": "android"}, "paths": [*TOKEN, ("platform",)]},
    ],
    ("POST", "phone"): [
        {"body": {"token": "tok-a", "phone": "13711110009"}, "paths": [*TOKEN, ("phone",)]},
    ],
    ("DELETE", "phone"): [{"body": {"token": "tok-b"}, "paths": TOKEN}],
    ("POST", "accounts"): [
        {
            "body": {
                "token": "tok-a",
                "accounts": [
                    {"account": "u1", "account_type": 0},
                    {"account": "13711110001", "account_type": 1002},
                ],
            },
            "paths": [
                *TOKEN,
                ("accounts",),
                ("accounts", 0),
                ("accounts", 0, "account"),
                ("accounts", 0, "account_type"),
                ("accounts", 1, "account"),
            ],
        },
    ],
    ("DELETE", "accounts"): [
        {
            "body": {"token": "tok-b", "account_types": [7]},
            "paths": [*TOKEN, ("account_types",), ("account_types", 0)],
        },
    ],
    ("POST", "notification-state"): [
        {"body": {"token": "tok-a", "enabled": True}, "paths": [*TOKEN, ("enabled",)]},
    ],
    ("POST", "events"): [
        {
            "body": {
                "token": "tok-a",
                "events": [
                    {"push_id": "PUSH", "type": "arrive", "at": "2030-01-01T00:00:00Z"},
                    {"push_id": "PUSH", "type": "click", "at": 1893456000},
                ],
            },
            "paths": [
                *TOKEN,
                ("events",),
                ("events", 0),
                ("events", 0, "push_id"),
                ("events", 0, "type"),
                ("events", 0, "at"),
                ("events", 1, "at"),
            ],
        },
    ],
}
QUERY_TEMPLATE = [
    {
        "body": {"token": "tok-a", "after": "0", "wait": "0"},
        "paths": [("token",), ("after",), ("wait",)],
    }
]


def sdk_shaped(response, answer) -> bool:
    if not isinstance(answer, dict):
        return False
    if response.status_code >= 400:
        error = answer.get("error")
        return isinstance(error, dict) and {"code", "message"} <= error.keys()
    return True


def sdk_refused(response, answer) -> bool:
    return response.status_code >= 400


@pytest.mark.parametrize("method,path", sorted(SDK), ids=lambda v: v)
def test_sdk_endpoints_never_fail_and_refusals_write_nothing(method, path, world, tally):
    app, push = world
    client = Client(raise_request_exception=False)
    headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key}
    outcome = Outcome(f"{method} /sdk/v1/{path}")
    templates = _with_push_id(SDK[method, path], push)

    @FUZZ
    @given(requests(templates))
    def run(request):
        raw, description = request

        def send():
            return client.generic(
                method,
                f"/sdk/v1/{path}",
                raw.encode("utf-8", "surrogatepass"),
                content_type="application/json",
                headers=headers,
            )

        exercise(tally, outcome, description, send, sdk_refused, sdk_shaped)

    run()
    report(outcome)


def _query_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_sdk_messages_query_never_fails(world, tally, no_waiting):
    """GET messages takes query parameters: each spoilt value travels as text."""
    app, _ = world
    client = Client(raise_request_exception=False)
    headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key}
    outcome = Outcome("GET /sdk/v1/messages")

    @FUZZ
    @given(requests(QUERY_TEMPLATE))
    def run(request):
        raw, description = request
        try:
            params = json.loads(raw)
        except (ValueError, RecursionError):
            params = {"token": raw}
        if not isinstance(params, dict):
            params = {"token": params}
        query = urlencode(
            {str(k): _query_value(v) for k, v in params.items()}, encoding="utf-8", errors="replace"
        )

        def send():
            return client.get(f"/sdk/v1/messages?{query}", headers=headers)

        exercise(tally, outcome, description, send, sdk_refused, sdk_shaped)

    run()
    report(outcome)


# --------------------------------------------------------------------------------------------
# The sweep: every known path of every endpoint gets each of the values that broke something
# once (Hypothesis explores; this makes sure none of them is ever missed).

NASTY = ["a\x00b", "\ud800", 2**31, 2**63, HUGE, DEEP, "9999-12-31", "0001-01-01T00:00:00Z"]


def sweep(templates):
    for template in templates:
        for path in template["paths"]:
            for value in NASTY:
                body = copy.deepcopy(template["body"])
                _set(body, path, value)
                yield encode(body), f"{path} = {value!r:.40}"


@pytest.mark.parametrize(
    "endpoint",
    [f"/v3/{e}" for e in sorted(TPNS)] + [f"{m} /sdk/v1/{p}" for m, p in sorted(SDK)],
)
def test_every_field_survives_each_value_that_once_broke_something(endpoint, world, tally):
    app, push = world
    client = Client(raise_request_exception=False)
    outcome = Outcome(f"sweep {endpoint}")
    if endpoint.startswith("/v3/"):
        templates = _with_push_id(TPNS[endpoint.removeprefix("/v3/")], push)
        auth = basic_auth(app.access_id, app.test_secret)
        checks = (tpns_refused, tpns_shaped)

        def send(raw):
            return client.post(
                endpoint, raw, content_type="application/json", HTTP_AUTHORIZATION=auth
            )

    else:
        method, path = endpoint.split(" ")
        templates = _with_push_id(SDK[method, path.removeprefix("/sdk/v1/")], push)
        headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key}
        checks = (sdk_refused, sdk_shaped)

        def send(raw):
            return client.generic(
                method, path, raw, content_type="application/json", headers=headers
            )

    for raw, description in sweep(templates):
        exercise(tally, outcome, description, lambda raw=raw: send(raw), *checks)
    report(outcome)
