"""The Huawei Push Kit channel (push.channels.huawei): its message mapping, credentials, answers
and receipts, and its real client (httpx on vendor.VendorClient) against the loopback Push Kit
(tests.fakes.huawei). No database: the pushes are unsaved."""

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import huawei as channel
from push.channels.base import Answer, Prepared, ReceiptError, ReceiptKind, Result
from push.models import Application, Push
from tests.fakes.huawei import FakeHuawei

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
APP_ID = "104523457"
SECRET = "hw-client-secret"


@pytest.fixture(scope="module")
def fake():
    with FakeHuawei(app_id=APP_ID, client_secret=SECRET) as hw:
        yield hw


@pytest.fixture
def hw(fake, settings):
    fake.reset()
    with fake._script_lock:
        fake._per_token.clear()
        fake._next.clear()
        fake._accepted.clear()
        fake._issued.clear()
    fake.expires_in, fake.delay, fake.quota_spent = 3600, 0.0, False
    fake.token_requests = fake.tokens_issued = fake.sends = 0
    settings.PUSH_HUAWEI_TOKEN_URL = fake.token_url
    settings.PUSH_HUAWEI_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


def config(**changes) -> dict:
    base, errors = channel.check_credentials({"app_id": APP_ID, "client_secret": SECRET})
    assert errors == {}
    return base | {"receipt_url": ""} | changes


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def opened(cfg=None, **kwargs):
    client = channel.client(cfg or config(), environment="production", **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


def send(tokens, prepared=None, cfg=None) -> list[Answer]:
    async def go():
        async with opened(cfg) as client:
            return await client.send(prepared or plain(), tokens)

    return asyncio.run(go())


def push_of(*, message=None, message_type="notify", **fields) -> Push:
    return Push(
        pk=fields.pop("pk", 4711),
        application=Application(platform="android", name="Demo"),
        message_type=message_type,
        title=fields.pop("title", "Hello"),
        content=fields.pop("content", "World"),
        message=message if message is not None else {"title": "Hello", "content": "World"},
        expire_time=fields.pop("expire_time", 3600),
        expires_at=fields.pop("expires_at", NOW + timedelta(hours=1)),
        created_at=fields.pop("created_at", NOW),
        **fields,
    )


def plain() -> Prepared:
    return channel.prepare(push_of(), now=NOW)


def raw(message: dict) -> Prepared:
    return Prepared(body=message, options={}, size=len(json.dumps(message)))


# -- the client against the fake ---------------------------------------------------------------


def test_it_sends_with_a_bearer_token_granted_for_its_client_credentials(hw):
    prepared = plain()

    [answer] = send(["tok-a"], prepared)

    assert answer.result == Result.ACCEPTED and answer.status == 200
    assert answer.message_id and answer.message_id.isdigit()
    [item] = hw.accepted
    assert item.message == prepared.body and item.tokens == ["tok-a"]
    assert item.headers["authorization"].startswith("Bearer huawei-")
    assert hw.token_requests == 1 and hw.tokens_issued == 1


def test_a_wrong_client_secret_refuses_every_send_after_one_token_request(hw):
    answers = send([f"t{i}" for i in range(5)], cfg=config(client_secret="wrong"))

    assert {(a.result, a.reason, a.prune) for a in answers} == {
        (Result.REFUSED, "token_refused", False)
    }
    assert hw.token_requests == 1 and hw.sends == 0
    assert "refused the client ID and secret" in channel.describe(answers[0])


def test_the_client_id_defaults_to_the_app_id_and_is_what_is_sent(hw):
    assert config()["client_id"] == APP_ID
    [answer] = send(["tok"], cfg=config(client_id="someone-else"))
    assert (answer.result, answer.reason) == (Result.REFUSED, "token_refused")


def test_2500_tokens_go_in_three_requests_of_at_most_1000_with_one_token(hw):
    tokens = [f"tok-{i}" for i in range(2500)]

    answers = send(tokens)

    assert all(a.result == Result.ACCEPTED for a in answers)
    assert sorted(len(item.tokens) for item in hw.accepted) == [500, 1000, 1000]
    assert sorted(t for item in hw.accepted for t in item.tokens) == sorted(tokens)
    assert hw.tokens_issued == 1
    # Each answer carries the request id of the request its token went in.
    by_request = {t: item.request_id for item in hw.accepted for t in item.tokens}
    assert [a.message_id for a in answers] == [by_request[t] for t in tokens]


def test_the_fake_refuses_more_than_1000_tokens_and_the_client_never_sends_them(hw):
    async def go():
        client = channel.client(config(), environment="production")
        client.max_tokens = 1001  # what the fake guards against
        try:
            return await client.send(plain(), [f"t{i}" for i in range(1001)])
        finally:
            await client.aclose()

    answers = asyncio.run(go())

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "80300010")}
    assert channel.client(config(), environment="production").max_tokens == 1000


def test_the_token_is_replaced_shortly_before_it_expires(hw):
    clock = Clock()

    async def go():
        async with opened(clock=clock) as client:
            await client.send(plain(), ["a"])
            clock.now += 3600 - 301
            await client.send(plain(), ["b"])
            before = hw.tokens_issued
            clock.now += 2
            await client.send(plain(), ["c"])
            return before

    assert asyncio.run(go()) == 1
    assert hw.tokens_issued == 2
    first, _, third = (item.headers["authorization"] for item in hw.accepted)
    assert first != third


def test_an_expired_token_is_replaced_once_and_the_request_sent_again(hw):
    async def go():
        async with opened() as client:
            await client.send(plain(), ["warm"])
            hw.expire_tokens()  # 80200003 for the token in the cache
            return await client.send(plain(), [f"t{i}" for i in range(10)])

    answers = asyncio.run(go())

    assert all(a.result == Result.ACCEPTED for a in answers)
    assert hw.tokens_issued == 2
    assert hw.sends == 3  # warm, the refused request, and the same request again


def test_a_token_still_expired_after_a_new_one_is_tried_again_later(hw):
    hw.expires_in = 0

    [answer] = send(["tok"])

    assert (answer.result, answer.reason, answer.status) == (Result.RETRY, "80200003", 401)
    assert hw.tokens_issued == 2


def test_a_token_of_another_app_is_refused_without_pruning(hw):
    [answer] = send(["tok"], cfg=config(app_id="999999"))

    assert answer == Answer(Result.REFUSED, reason="80200001", status=401)
    assert hw.tokens_issued == 2  # a 401: replaced once, then refused for good
    assert "not of this App ID" in channel.describe(answer)


def test_a_partial_success_is_read_per_token(hw):
    hw.answer("tok-gone")
    hw.answer("tok-other-project", "noRight")
    hw.answer("tok-penalty", "disableSendHuaweiMsgBecauseOfPenalty")

    answers = send(["tok-1", "tok-gone", "tok-other-project", "tok-2", "tok-penalty"])

    assert [(a.result, a.reason, a.prune) for a in answers] == [
        (Result.ACCEPTED, "", False),
        (Result.REFUSED, channel.ILLEGAL, True),
        (Result.REFUSED, "noRight", True),
        (Result.ACCEPTED, "", False),
        (Result.REFUSED, "disableSendHuaweiMsgBecauseOfPenalty", False),
    ]
    [item] = hw.accepted
    assert item.tokens == ["tok-1", "tok-2"]
    assert answers[0].message_id == answers[3].message_id == item.request_id


def test_all_tokens_invalid_prunes_every_one(hw):
    hw.answer("a")
    hw.answer("b")

    answers = send(["a", "b"])

    assert [(a.result, a.reason, a.prune) for a in answers] == [
        (Result.REFUSED, channel.ILLEGAL, True)
    ] * 2


@pytest.mark.parametrize(
    "code, status, result",
    [
        ("80100003", 400, Result.REFUSED),
        ("80100016", 400, Result.REFUSED),
        ("80300002", 400, Result.REFUSED),
        ("80300008", 400, Result.REFUSED),
        ("81000001", 500, Result.RETRY),
    ],
)
def test_every_error_code_keeps_the_token(hw, code, status, result):
    hw.fail_next(1, code)

    [answer] = send(["tok"])

    assert (answer.result, answer.reason, answer.status, answer.prune) == (
        result,
        code,
        status,
        False,
    )
    assert "unknown" not in channel.describe(answer)


@pytest.mark.parametrize(
    "status, retry_after, expected", [("503", "30", 30.0), ("429", None, None), ("502", None, None)]
)
def test_traffic_control_and_5xx_are_tried_again(hw, status, retry_after, expected):
    hw.fail_next(1, status, retry_after=retry_after)

    [answer] = send(["tok"])

    assert (answer.result, answer.status, answer.retry_after) == (
        Result.RETRY,
        int(status),
        expected,
    )
    if status == "503":
        assert "traffic control" in channel.describe(answer)


@pytest.mark.parametrize(
    "message, words",
    [
        ({"android": {"ttl": "a day"}}, "ttl"),
        ({"android": {"collapse_key": 500}}, "collapse_key"),
        ({"android": {"category": "SPAM"}}, "category"),
        ({"android": {"notification": {"title": "t", "body": "b"}}}, "click_action"),
        ({"android": {"notification": {"click_action": {"type": 2, "url": "http://x"}}}}, "url"),
        ({"data": {"not": "a string"}}, "data"),
        ({"android": {"unknown": 1}}, "unknown field"),
        ({"data": "x" * 4100}, "too long"),
    ],
)
def test_a_bad_body_is_refused_and_keeps_the_token(hw, message, words):
    [answer] = send(["tok"], raw(message))

    assert answer.result == Result.REFUSED and answer.prune is False
    assert answer.reason in ("80100003", "80300008")
    assert not hw.accepted


def test_a_spent_marketing_quota_still_takes_the_send_and_receipts_say_256(hw):
    hw.quota_spent = True
    service = channel.prepare(push_of(message={"android": {"hw_category": "IM"}}), now=NOW)

    answers = send(["tok-m"]) + send(["tok-s"], service)

    assert [a.result for a in answers] == [Result.ACCEPTED, Result.ACCEPTED]
    body, headers = hw.receipt(hw.deliveries())
    receipts = channel.parse_receipts(
        body, content_type="application/json", headers=headers, config={}
    )
    assert [(r.token, r.push_id, r.kind, r.status) for r in receipts] == [
        ("tok-m", "4711", ReceiptKind.OVER_QUOTA, "256"),
        ("tok-s", "4711", ReceiptKind.ARRIVED, "0"),
    ]


def test_no_answer_in_time_is_lost_not_retried(hw, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    hw.fail_next(1, "503", delay=2.0)

    [answer] = send(["slow"])

    assert (answer.result, answer.reason) == (Result.LOST, "timeout")
    assert hw.sends == 1


def test_a_dropped_connection_is_lost(hw):
    hw.fail_next(1, "503", drop=True)

    [answer] = send(["tok"])

    assert answer.result == Result.LOST


def test_an_unreachable_huawei_is_tried_again(settings):
    with FakeHuawei(app_id=APP_ID, client_secret=SECRET) as gone:
        settings.PUSH_HUAWEI_TOKEN_URL = gone.token_url
        settings.PUSH_HUAWEI_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file
        assert send(["a"])[0].result == Result.ACCEPTED
    # VendorFake.stop keeps open keep-alive connections served: a new client finds no server.

    answers = send(["b", "c"])

    assert [(a.result, a.reason) for a in answers] == [(Result.RETRY, "connection")] * 2


def test_an_unreachable_token_endpoint_is_tried_again(hw, settings):
    settings.PUSH_HUAWEI_TOKEN_URL = "https://127.0.0.1:1/oauth2/v3/token"

    answers = send(["a", "b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.RETRY, "connection")}


def test_every_prepared_message_is_one_the_fake_accepts(hw):
    pushes = [
        push_of(message=FULL),
        push_of(message=FULL, message_type="message"),
        push_of(message=FULL, expire_time=0, options={"collapse_id": 5}),
        push_of(message=FULL, options={"collapse_id": 123456}),
    ] + [
        push_of(message={"android": {"action": action}})
        for action in (
            {"action_type": 2, "browser": {"url": "https://example.com"}},
            {"action_type": 3, "intent": "intent://detail#Intent;scheme=app;end"},
            {"action_type": 3, "intent": "com.example.SHOW"},
            {"action_type": 1},
        )
    ]
    for push in pushes:
        [answer] = send(["tok"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, push.message


# -- prepare ------------------------------------------------------------------------------------

FULL = {
    "title": "Hello",
    "content": "World",
    "xg_media_resources": "https://example.com/a.png",
    "android": {
        "n_ch_id": "default",
        "hw_ch_id": "orders",
        "hw_category": "EXPRESS",
        "hw_importance": 2,
        "badge_type": 3,
        "custom_content": json.dumps({"order": "A-1", "count": 2, "xg_msgid": "forged"}),
        "action": {"action_type": 1, "activity": "com.example.OPEN_ORDER"},
    },
}


def test_a_notification_maps_every_field():
    push = push_of(message=FULL, options={"collapse_id": 77})

    prepared = channel.prepare(push, now=NOW + timedelta(minutes=10))

    assert prepared.body == {
        "data": '{"order":"A-1","count":2,"xg_msgid":"4711"}',
        "android": {
            "bi_tag": "4711",
            "ttl": "3000s",
            "category": "EXPRESS",
            "collapse_key": 77,
            "notification": {
                "title": "Hello",
                "body": "World",
                "click_action": {"type": 1, "action": "com.example.OPEN_ORDER"},
                "channel_id": "orders",
                "importance": "NORMAL",
                "image": "https://example.com/a.png",
                "tag": "77",
            },
        },
    }
    assert prepared.size == len(channel.compact(prepared.body))


def test_a_pass_through_message_is_data_only_with_title_and_content():
    push = push_of(message=FULL, message_type="message", title="T", content="C")

    body = channel.prepare(push, now=NOW).body

    assert json.loads(body["data"]) == {
        "order": "A-1",
        "count": 2,
        "title": "T",
        "content": "C",
        "xg_msgid": "4711",
    }
    assert body["android"] == {
        "bi_tag": "4711",
        "ttl": "3600s",
        "category": "EXPRESS",
        "urgency": "NORMAL",
    }


@pytest.mark.parametrize(
    "action, click",
    [
        (None, {"type": 3}),
        (
            {"action_type": 2, "browser": {"url": "https://x.cn"}},
            {"type": 2, "url": "https://x.cn"},
        ),
        ({"action_type": 3, "intent": "xg://a/b?c=1"}, {"type": 1, "intent": "xg://a/b?c=1"}),
        (
            {"action_type": 3, "intent": "com.example.SHOW"},
            {"type": 1, "action": "com.example.SHOW"},
        ),
        ({"action_type": 2, "browser": {}}, {"type": 3}),
    ],
)
def test_the_click_goes_where_huawei_can_take_it(action, click):
    android = {"action": action} if action else {}
    body = channel.prepare(push_of(message={"android": android}), now=NOW).body

    assert body["android"]["notification"]["click_action"] == click


def test_the_ttl_is_what_is_left_at_least_a_second_at_most_15_days():
    push = push_of(expire_time=86400, expires_at=NOW + timedelta(hours=2))
    assert (
        channel.prepare(push, now=NOW + timedelta(seconds=30.5)).body["android"]["ttl"] == "7170s"
    )
    assert channel.prepare(push, now=NOW + timedelta(hours=3)).body["android"]["ttl"] == "1s"
    real_time = push_of(expire_time=0)
    assert channel.prepare(real_time, now=NOW).body["android"]["ttl"] == "1s"
    long = push_of(expire_time=10**8, expires_at=None)
    assert channel.prepare(long, now=NOW).body["android"]["ttl"] == f"{15 * 86400}s"


def test_the_n_ch_id_is_used_without_a_huawei_channel_and_importance_1_is_low():
    android = {"n_ch_id": "default", "hw_importance": 1}
    notification = channel.prepare(push_of(message={"android": android}), now=NOW).body["android"][
        "notification"
    ]
    assert (notification["channel_id"], notification["importance"]) == ("default", "LOW")


def test_a_message_over_4096_bytes_is_a_problem_and_cannot_be_prepared():
    fits, too_big = push_of(content="é" * 1900), push_of(content="é" * 2100)

    assert channel.problem(fits) is None
    field, text = channel.problem(too_big)
    assert field == "message" and "at most 4096" in text
    with pytest.raises(ValueError, match="at most 4096"):
        channel.prepare(too_big, now=NOW)


def test_an_unsaved_push_is_sized_with_the_longest_id():
    base = channel.prepare(push_of(content=""), now=NOW).size
    content = "x" * (4096 - base - 2)

    assert channel.problem(push_of(content=content)) is None
    assert channel.problem(push_of(content=content, pk=None)) is not None


def test_an_unknown_category_is_a_problem():
    push = push_of(message={"android": {"hw_category": "PROMO"}})

    field, text = channel.problem(push)

    assert field == "message.android.hw_category" and "PROMO" in text


@pytest.mark.parametrize(
    "android, name, capped",
    [
        ({}, "MARKETING", True),
        ({"hw_category": "MARKETING"}, "MARKETING", True),
        ({"hw_category": "IM"}, "IM", False),
        ({"hw_category": "WORK", "hw_importance": 1}, "WORK", False),
    ],
)
def test_the_category_says_whether_huawei_caps_it(android, name, capped):
    found = channel.category(push_of(message={"android": android}))

    assert (found.name, found.capped) == (name, capped)
    assert channel.hold_until(push_of(), now=NOW) is None


# -- credentials --------------------------------------------------------------------------------


def test_valid_credentials_give_the_config_with_every_field():
    cfg, errors = channel.check_credentials(
        {
            "app_id": " 104523457 ",
            "client_id": "",
            "client_secret": "s3cret",
            "receipt_user": "u",
            "receipt_secret": "k",
        }
    )

    assert errors == {}
    assert cfg == {
        "app_id": "104523457",
        "client_id": "104523457",
        "client_secret": "s3cret",
        "receipt_user": "u",
        "receipt_secret": "k",
    }
    assert [f.name for f in channel.FIELDS] == list(cfg)
    assert {f.name for f in channel.FIELDS if f.secret} == {"client_secret", "receipt_secret"}


@pytest.mark.parametrize(
    "form, fields",
    [
        ({}, {"app_id", "client_secret"}),
        ({"app_id": "abc", "client_secret": "s"}, {"app_id"}),
        ({"app_id": "1", "client_secret": "has space"}, {"client_secret"}),
        ({"app_id": "1", "client_id": "bad id", "client_secret": "s"}, {"client_id"}),
        ({"app_id": "1", "client_secret": "s", "receipt_secret": "k"}, {"receipt_user"}),
    ],
)
def test_bad_credentials_name_every_bad_field(form, fields):
    cfg, errors = channel.check_credentials(form)

    assert cfg == {} and set(errors) == fields


# -- receipts -----------------------------------------------------------------------------------

SIGNED = {"receipt_user": "pushconsole", "receipt_secret": "callback-key"}


def test_a_signed_receipt_is_read_line_by_line(fake):
    lines = [("t0", "1", 0), ("t6", "2", 6), ("t2", "3", 2), ("t5", "4", 5), ("t10", "5", 10)]
    lines += [("t15", "6", 15), ("t102", "7", 102), ("t27", "8", 27), ("t99", "9", 99)]
    body, headers = fake.receipt(lines, user="pushconsole", secret="callback-key")

    receipts = channel.parse_receipts(
        body, content_type="application/json", headers=headers, config=SIGNED
    )

    assert [(r.token, r.push_id, r.kind, r.status) for r in receipts] == [
        ("t0", "1", ReceiptKind.ARRIVED, "0"),
        ("t6", "2", ReceiptKind.NOTIFICATIONS_OFF, "6"),
        ("t2", "3", ReceiptKind.INVALID_TOKEN, "2"),
        ("t5", "4", ReceiptKind.INVALID_TOKEN, "5"),
        ("t10", "5", ReceiptKind.INVALID_TOKEN, "10"),
        ("t15", "6", ReceiptKind.NOT_SHOWN, "15"),
        ("t102", "7", ReceiptKind.NOT_SHOWN, "102"),
        ("t27", "8", ReceiptKind.OTHER, "27"),
        ("t99", "9", ReceiptKind.OTHER, "99"),
    ]
    assert all(abs((r.at - datetime.now(UTC)).total_seconds()) < 60 for r in receipts)


@pytest.mark.parametrize(
    "user, secret",
    [("pushconsole", "another-key"), ("someone", "callback-key"), ("", "")],
)
def test_a_forged_or_unsigned_receipt_is_forbidden(fake, user, secret):
    body, headers = fake.receipt([("t", "1", 0)], user=user, secret=secret)

    with pytest.raises(ReceiptError) as raised:
        channel.parse_receipts(
            body, content_type="application/json", headers=headers, config=SIGNED
        )

    assert raised.value.forbidden


def test_a_receipt_whose_body_was_changed_keeps_its_signature_but_a_stale_one_is_forbidden(fake):
    old = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
    body, headers = fake.receipt(
        [("t", "1", 0)], user="pushconsole", secret="callback-key", timestamp_ms=old
    )

    with pytest.raises(ReceiptError, match="too old") as raised:
        channel.parse_receipts(
            body, content_type="application/json", headers=headers, config=SIGNED
        )
    assert raised.value.forbidden
    later = old / 1000 + 60
    assert channel.parse_receipts(
        body, content_type="application/json", headers=headers, config=SIGNED, now=later
    )


def test_without_a_receipt_key_the_signature_is_not_asked_for(fake):
    body, headers = fake.receipt([("t", "1", 0)])

    [receipt] = channel.parse_receipts(
        body, content_type="application/json", headers=headers, config={}
    )

    assert receipt.kind == ReceiptKind.ARRIVED


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"statuses": {}}', b'{"statuses": [{"token": "t", "status": "x"}]}'],
)
def test_a_malformed_receipt_is_an_error_not_forbidden(body):
    with pytest.raises(ReceiptError) as raised:
        channel.parse_receipts(body, content_type="application/json", headers={}, config={})

    assert not raised.value.forbidden


def test_the_receipt_reply_is_a_json_success():
    status, content_type, body = channel.receipt_reply(3)

    assert (status, content_type, json.loads(body)) == (
        200,
        "application/json",
        {"errno": 0, "errmsg": "success"},
    )
    assert channel.RECEIPTS == "console" and channel.TPNS_NAME == "hw"


# -- describe -----------------------------------------------------------------------------------


def test_describe_says_what_happens_next():
    assert channel.describe(Answer(Result.ACCEPTED, message_id="123")) == "Accepted by Huawei (123)"
    pruned = channel.describe(Answer(Result.REFUSED, reason=channel.ILLEGAL, prune=True))
    assert "token is invalid" in pruned and pruned.endswith("the token is pruned")
    later = channel.describe(Answer(Result.RETRY, reason="503", status=503, retry_after=7))
    assert later.endswith("it will be tried again (after 7 s, as Huawei asked)")
    lost = channel.describe(Answer(Result.LOST, reason="timeout"))
    assert "did not answer in time" in lost and "not sent again" in lost
    assert "Huawei answered HTTP 418" in channel.describe(
        Answer(Result.REFUSED, reason="HTTP 418", status=418)
    )
