"""The vivo channel (push.channels.vivo): its message mapping, window, credentials, answers
and receipts, and its real client against the loopback vivo (tests.fakes.vivo)."""

import asyncio
import hashlib
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import vivo as channel
from push.channels.base import Answer, Prepared, ReceiptError, ReceiptKind, Result
from push.channels.vendor import BEIJING, REFRESH_MARGIN
from push.models import Application, Push
from tests.fakes.vivo import FakeVivo

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 16:00 in Beijing: inside the window


@pytest.fixture(scope="module")
def fake():
    with FakeVivo() as vivo:
        yield vivo


@pytest.fixture
def vivo(fake, settings):
    fake.reset()
    fake.clock = lambda: NOW
    settings.PUSH_VIVO_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def opened(config, environment="production", **kwargs):
    client = channel.client(config, environment=environment, **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


def send(config, tokens, prepared=None, environment="production") -> list[Answer]:
    async def go():
        async with opened(config, environment) as client:
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
        created_at=NOW,
        **fields,
    )


def android(**fields) -> dict:
    return {"title": "Hello", "content": "World", "android": fields}


def plain() -> Prepared:
    return channel.prepare(push_of(), now=NOW)


# -- the client against the fake ---------------------------------------------------------------


def test_one_token_goes_by_send_with_a_signed_auth_token(vivo):
    [answer] = send(vivo.config(), ["15826821410491877679648"])

    assert answer.result == Result.ACCEPTED and answer.message_id
    auth, sent = vivo.received
    body = auth.json()
    recipe = f"{vivo.app_id}{vivo.app_key}{body['timestamp']}{vivo.app_secret}"
    assert body["sign"] == hashlib.md5(recipe.encode()).hexdigest()
    assert sent.path == channel.SEND_PATH and sent.headers["authtoken"] in vivo.tokens
    message = sent.json()
    assert message["appId"] == int(vivo.app_id) and message["pushMode"] == 0
    assert message["regId"] == "15826821410491877679648"
    assert message["requestId"].startswith("4711-s") and len(message["requestId"]) <= 64
    assert message["clientCustomMap"] == {"xg_msgid": "4711"}
    assert message["extra"] == {"callback.param": "4711"}


def test_the_request_id_is_the_same_for_the_same_push_and_token(vivo):
    send(vivo.config(), ["a"])
    send(vivo.config(), ["a"])
    send(vivo.config(), ["b"])

    ids = [r.json()["requestId"] for r in vivo.received if r.path == channel.SEND_PATH]
    assert ids[0] == ids[1] != ids[2]


def test_a_wrong_app_secret_is_refused_without_pruning(vivo):
    answers = send(vivo.config(app_secret="not-it"), ["a", "b"])

    assert answers == [Answer(Result.REFUSED, reason="10202")] * 2
    assert vivo.auth_requests == 1 and vivo.tokens_issued == 0


def test_2500_tokens_go_in_three_list_pushes_on_one_saved_payload(vivo):
    tokens = [f"reg{i:05d}" for i in range(2500)]

    answers = send(vivo.config(), tokens)

    assert all(a.result == Result.ACCEPTED for a in answers)
    lists = [r.json() for r in vivo.received if r.path == channel.LIST_PATH]
    assert sorted(len(r["regIds"]) for r in lists) == [500, 1000, 1000]
    assert len(vivo.payloads) == 1 and {r["taskId"] for r in lists} == set(vivo.payloads)
    assert vivo.tokens_issued == 1 and vivo.accepted_count == 2500


def test_invalid_users_of_a_list_push_are_refused_the_rest_accepted(vivo):
    vivo.invalid("gone", 2)
    vivo.invalid("tester", 4)

    answers = send(vivo.config(), ["ok1", "gone", "tester", "ok2"])

    assert [a.result for a in answers] == [
        Result.ACCEPTED,
        Result.REFUSED,
        Result.REFUSED,
        Result.ACCEPTED,
    ]
    assert (answers[1].reason, answers[1].prune) == ("invalid_user_2", True)
    assert (answers[2].reason, answers[2].prune) == ("invalid_user_4", False)


def test_an_invalid_regid_of_a_single_send_is_pruned(vivo):
    vivo.answer("bad", 10302)
    vivo.invalid("gone", 1)

    [bad] = send(vivo.config(), ["bad"])
    [gone] = send(vivo.config(), ["gone"])

    assert (bad.result, bad.reason, bad.prune) == (Result.REFUSED, "10302", True)
    assert (gone.result, gone.reason, gone.prune) == (Result.REFUSED, "invalid_user_1", True)


def test_the_auth_token_is_cached_and_replaced_before_24_hours(vivo):
    clock = Clock()

    async def go():
        async with opened(vivo.config(), clock=clock) as client:
            await client.send(plain(), ["a"])
            clock.now += 24 * 3600 - REFRESH_MARGIN - 1
            await client.send(plain(), ["b"])
            assert vivo.tokens_issued == 1
            clock.now += 2
            await client.send(plain(), ["c"])

    asyncio.run(go())
    assert vivo.tokens_issued == 2


def test_an_expired_auth_token_is_replaced_once(vivo):
    async def go():
        async with opened(vivo.config()) as client:
            await client.send(plain(), ["warm"])
            vivo.expire_tokens()
            return await client.send(plain(), ["a", "b"])

    answers = asyncio.run(go())

    assert [a.result for a in answers] == [Result.ACCEPTED] * 2
    assert vivo.tokens_issued == 2


def test_a_token_refused_twice_is_refused(vivo):
    vivo.token_lifetime = -1

    [answer] = send(vivo.config(), ["a"])

    assert (answer.result, answer.reason) == (Result.REFUSED, "10000")
    assert vivo.tokens_issued == 2


@pytest.mark.parametrize("tokens", [["a"], ["a", "b"]])
def test_a_spent_daily_quota_is_over_quota(vivo, tokens):
    vivo.quota_spent = True

    answers = send(vivo.config(), tokens)

    assert {(a.result, a.reason) for a in answers} == {(Result.OVER_QUOTA, "10070")}
    # The vendor's midnight after the batch is the sender's to say (its ``now``).
    assert answers[0].quota_until is None


@pytest.mark.parametrize(
    "code, status, result",
    [
        (10072, 200, Result.RETRY),
        (10055, 200, Result.RETRY),
        (None, 503, Result.RETRY),
        (10094, 200, Result.REFUSED),
        (None, 400, Result.REFUSED),
    ],
)
def test_request_wide_answers(vivo, code, status, result):
    vivo.fail_next(1, code, status=status)

    answers = send(vivo.config(), ["a"])

    assert {(a.result, a.prune) for a in answers} == {(result, False)}


def test_a_refused_list_payload_answers_every_token(vivo):
    vivo.fail_next(1, 10252)

    answers = send(vivo.config(), ["a", "b", "c"])

    assert {(a.result, a.reason) for a in answers} == {(Result.OVER_QUOTA, "10252")}
    assert not [r for r in vivo.received if r.path == channel.LIST_PATH]


def test_no_answer_in_time_is_lost(vivo, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    vivo.delay = 2.0

    [answer] = send(vivo.config(), ["a"])

    assert (answer.result, answer.reason) == (Result.LOST, "timeout")


def test_an_unreachable_vivo_is_tried_again(settings):
    with FakeVivo() as gone:
        settings.PUSH_VIVO_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file
        config = gone.config()
        gone.stop()

        answers = send(config, ["a", "b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.RETRY, "connection")}


def test_sandbox_sends_test_pushes_and_the_receipt_url_goes_into_extra(vivo):
    url = "https://console.example.com/callbacks/push/vivo/k1"

    send(vivo.config(receipt_url=url), ["a"], environment="sandbox")

    message = vivo.received[-1].json()
    assert message["pushMode"] == 1
    assert message["extra"] == {"callback": url, "callback.param": "4711"}


def test_an_activity_opens_through_an_intent_uri_of_the_package(vivo):
    prepared = channel.prepare(
        push_of(message=android(action={"action_type": 1, "activity": "com.example.demo.Main"})),
        now=NOW,
    )

    send(vivo.config(), ["a"], prepared)
    send(vivo.config(package_name=""), ["b"], prepared)

    first, second = (r.json() for r in vivo.received if r.path == channel.SEND_PATH)
    assert first["skipType"] == 4
    assert "component=com.example.demo/com.example.demo.Main;" in first["skipContent"]
    assert second["skipType"] == 1 and "skipContent" not in second


def test_the_fake_refuses_operational_messages_at_night(vivo):
    vivo.clock = lambda: datetime(2026, 12, 1, 23, 30, tzinfo=BEIJING)

    [operational] = send(vivo.config(), ["a"])
    [system] = send(vivo.config(), ["a"], channel.prepare(push_of(message=SYSTEM), now=NOW))

    assert (operational.result, operational.reason) == (Result.RETRY, "10071")
    assert system.result == Result.ACCEPTED


def test_every_prepared_message_is_one_the_fake_accepts(vivo):
    for push in (
        push_of(message=FULL),
        push_of(message=android(action={"action_type": 2, "browser": {"url": "https://x.y"}})),
        push_of(message=android(action={"action_type": 3, "intent": "com.example.OPEN"})),
        push_of(message=android(vivo_category="IM", ring=0, vibrate=0), expire_time=0),
        push_of(expires_at=NOW + timedelta(days=3)),
    ):
        for tokens in (["a"], ["a", "b"]):
            answers = send(vivo.config(), tokens, channel.prepare(push, now=NOW))
            assert {a.result for a in answers} == {Result.ACCEPTED}, vivo.received[-1].body


# -- prepare, problem, category, window ---------------------------------------------------------

SYSTEM = android(vivo_ch_id="1")
FULL = {
    "title": "Hello",
    "content": "World",
    "android": {
        "vivo_ch_id": "1",
        "vivo_category": "ORDER",
        "ring": 1,
        "vibrate": 0,
        "custom_content": json.dumps({"order": "A-1", "count": 2, "xg_msgid": "no"}),
        "action": {"action_type": 2, "browser": {"url": "https://example.com/o/1"}},
    },
}


def test_a_notification_maps_every_field():
    prepared = channel.prepare(push_of(message=FULL, options={"collapse_id": 9}), now=NOW)

    assert prepared.body == {
        "notifyType": 2,
        "title": "Hello",
        "content": "World",
        "timeToLive": 3600,
        "skipType": 2,
        "skipContent": "https://example.com/o/1",
        "classification": 1,
        "category": "ORDER",
        "notifyId": 9,
        "clientCustomMap": {"order": "A-1", "count": "2", "xg_msgid": "4711"},
        "extra": {"callback.param": "4711"},
    }
    assert prepared.options == {"push_id": "4711", "activity": ""}


def test_ttl_is_between_a_minute_and_a_day_and_realtime_is_online_only():
    assert (
        channel.prepare(push_of(expires_at=NOW + timedelta(seconds=5)), now=NOW).body["timeToLive"]
        == 60
    )
    assert (
        channel.prepare(push_of(expires_at=NOW + timedelta(days=3)), now=NOW).body["timeToLive"]
        == 86400
    )
    body = channel.prepare(push_of(expire_time=0, expires_at=None), now=NOW).body
    assert body["sendOnline"] is True and "timeToLive" not in body


@pytest.mark.parametrize(
    "push, field",
    [
        (push_of(message_type="message"), "message_type"),
        (push_of(title="t" * 41), "message.title"),
        (push_of(content="c" * 101), "message.content"),
        (
            push_of(message=android(custom_content=json.dumps({"k": "v" * 1020}))),
            "message.android.custom_content",
        ),
        (push_of(message=android(vivo_category="PROMO")), "message.android.vivo_category"),
        (
            push_of(message=android(vivo_category="IM", vivo_ch_id="0")),
            "message.android.vivo_category",
        ),
    ],
)
def test_what_vivo_cannot_carry_is_a_problem(push, field):
    assert channel.problem(push)[0] == field
    with pytest.raises(ValueError, match=field):
        channel.prepare(push, now=NOW)


@pytest.mark.parametrize(
    "message, name, capped",
    [
        (android(vivo_ch_id="1"), "系统消息", False),
        (android(vivo_category="IM"), "IM", False),
        (android(vivo_ch_id="0"), "运营消息", True),
        (android(), "运营消息", True),
        (android(vivo_category="MARKETING"), "MARKETING", True),
    ],
)
def test_category_says_whether_vivo_caps_it(message, name, capped):
    found = channel.category(push_of(message=message))

    assert (found.name, found.capped) == (name, capped)


@pytest.mark.parametrize(
    "beijing, held_until",
    [
        (datetime(2026, 12, 1, 6, 59), datetime(2026, 12, 1, 7, 0)),
        (datetime(2026, 12, 1, 7, 0), None),
        (datetime(2026, 12, 1, 22, 59), None),
        (datetime(2026, 12, 1, 23, 0), datetime(2026, 12, 2, 7, 0)),
        (datetime(2026, 12, 31, 23, 30), datetime(2027, 1, 1, 7, 0)),
    ],
)
def test_operational_pushes_are_held_to_the_window(beijing, held_until):
    now = beijing.replace(tzinfo=BEIJING).astimezone(UTC)

    got = channel.hold_until(push_of(), now=now)

    assert got == (held_until.replace(tzinfo=BEIJING) if held_until else None)
    assert channel.hold_until(push_of(message=SYSTEM), now=now) is None


# -- credentials and describe -------------------------------------------------------------------


def test_credentials_are_checked_and_each_bad_field_named():
    form = {"app_id": " 10004 ", "app_key": "k", "app_secret": "s", "package_name": ""}
    assert channel.check_credentials(form) == (
        {"app_id": "10004", "app_key": "k", "app_secret": "s", "package_name": ""},
        {},
    )
    _, errors = channel.check_credentials(
        {"app_id": "abc", "app_key": "", "app_secret": "s", "package_name": "nodots"}
    )
    assert set(errors) == {"app_id", "app_key", "package_name"}
    assert [f.name for f in channel.FIELDS if f.secret] == ["app_secret"]


@pytest.mark.parametrize("code", sorted(k for k in channel.REASONS if k.isdigit()))
def test_every_known_code_is_described(code):
    text = channel.describe(channel.result_answer(int(code)))
    assert "vivo gave no reason" not in text and code in text


# -- receipts -----------------------------------------------------------------------------------


def test_a_receipt_becomes_one_arrival_per_regid(fake):
    body, headers = fake.receipt([("r1", "4711"), ("r2", "4711"), ("r3", "9")])

    receipts = channel.parse_receipts(
        body, content_type=headers["content-type"], headers=headers, config={}
    )

    assert sorted((r.token, r.push_id, r.kind) for r in receipts) == [
        ("r1", "4711", ReceiptKind.ARRIVED),
        ("r2", "4711", ReceiptKind.ARRIVED),
        ("r3", "9", ReceiptKind.ARRIVED),
    ]
    assert channel.receipt_reply(3)[0] == 200


@pytest.mark.parametrize("body", [b"nope", b"{}", b"[]", b'{"1": {"param": "4711"}}'])
def test_a_malformed_receipt_is_refused(body):
    with pytest.raises(ReceiptError) as raised:
        channel.parse_receipts(body, content_type="", headers={}, config={})
    assert not raised.value.forbidden
