"""The Honor Push channel (push.channels.honor): its message mapping, credentials, answers and
receipts, and its client (huawei.HuaweiClient with Honor's body and answers) against the
loopback Honor server (tests.fakes.honor). No database: the pushes are unsaved."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import honor as channel
from push.channels.base import Answer, Prepared, ReceiptKind, Result
from push.models import Application, Push
from tests.fakes.honor import FakeHonor

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FORM = {"app_id": "104400000", "client_id": "hn-client-id", "client_secret": "hn-client-secret"}


@pytest.fixture(scope="module")
def fake():
    with FakeHonor() as hn:
        yield hn


@pytest.fixture
def hn(fake, settings):
    fake.reset()
    with fake._script_lock:
        fake._per_token.clear()
        fake._next.clear()
        fake._accepted.clear()
        fake._issued.clear()
    fake.expires_in, fake.quota_spent = 3600, False
    fake.token_requests = fake.tokens_issued = fake.sends = 0
    settings.PUSH_HONOR_TOKEN_URL = fake.token_url
    settings.PUSH_HONOR_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


def config(**changes) -> dict:
    cfg, errors = channel.check_credentials(FORM)
    assert errors == {}
    return cfg | {"receipt_url": ""} | changes


def send(tokens, prepared=None, cfg=None) -> list[Answer]:
    async def go():
        client = channel.client(cfg or config(), environment="production")
        try:
            return await client.send(prepared or plain(), tokens)
        finally:
            await client.aclose()

    return asyncio.run(go())


def push_of(*, message=None, message_type="notify", **fields) -> Push:
    return Push(
        pk=fields.pop("pk", 4711),
        application=Application(platform="android", name="Demo"),
        message_type=message_type,
        title="Hello",
        content=fields.pop("content", "World"),
        message=message if message is not None else {"title": "Hello", "content": "World"},
        expire_time=3600,
        expires_at=NOW + timedelta(hours=1),
        created_at=NOW,
        **fields,
    )


def plain() -> Prepared:
    return channel.prepare(push_of(), now=NOW)


def test_it_sends_the_unwrapped_body_with_a_bearer_token_and_a_timestamp(hn):
    prepared = plain()

    [answer] = send(["tok-a"], prepared)

    assert answer.result == Result.ACCEPTED and answer.message_id
    [item] = hn.accepted
    assert item.message == prepared.body and item.tokens == ["tok-a"]
    assert item.headers["authorization"].startswith("Bearer honor-")
    assert abs(int(item.headers["timestamp"]) / 1000 - datetime.now(UTC).timestamp()) < 60


def test_a_wrong_client_secret_refuses_without_a_send(hn):
    answers = send(["a", "b"], cfg=config(client_secret="nope"))

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "token_refused")}
    assert hn.sends == 0


def test_2500_tokens_go_in_three_requests_with_one_token(hn):
    answers = send([f"t{i}" for i in range(2500)])

    assert all(a.result == Result.ACCEPTED for a in answers)
    assert sorted(len(item.tokens) for item in hn.accepted) == [500, 1000, 1000]
    assert hn.tokens_issued == 1


def test_an_expired_token_is_replaced_once(hn):
    async def go():
        client = channel.client(config(), environment="production")
        try:
            await client.send(plain(), ["warm"])
            hn.expire_tokens()
            return await client.send(plain(), ["a", "b"])
        finally:
            await client.aclose()

    answers = asyncio.run(go())

    assert all(a.result == Result.ACCEPTED for a in answers)
    assert hn.tokens_issued == 2 and hn.sends == 3


def test_expired_tokens_are_pruned_and_failed_ones_kept(hn):
    hn.answer("tok-old", "expire")
    hn.answer("tok-bad", "fail")

    answers = send(["tok-1", "tok-old", "tok-bad"])

    assert [(a.result, a.reason, a.prune) for a in answers] == [
        (Result.ACCEPTED, "", False),
        (Result.REFUSED, "expireTokens", True),
        (Result.REFUSED, "failTokens", False),
    ]
    assert "expired" in channel.describe(answers[1])


@pytest.mark.parametrize("code, result", [("80100003", Result.REFUSED), ("503", Result.RETRY)])
def test_errors_keep_the_token(hn, code, result):
    hn.fail_next(1, code)

    [answer] = send(["tok"])

    assert (answer.result, answer.prune) == (result, False)


def test_a_camel_case_body_is_what_the_fake_takes_and_huaweis_is_refused(hn):
    huawei_style = Prepared(
        body={"android": {"bi_tag": "1", "notification": {"click_action": {"type": 3}}}},
        options={},
        size=10,
    )

    [answer] = send(["tok"], huawei_style)

    assert (answer.result, answer.reason) == (Result.REFUSED, "80100003")


def test_every_prepared_message_is_one_the_fake_accepts(hn):
    for push in (
        push_of(message=FULL),
        push_of(message=FULL, message_type="message"),
        push_of(message={"android": {"action": {"action_type": 3, "intent": "app://x"}}}),
    ):
        [answer] = send(["tok"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, push.message


FULL = {
    "xg_media_resources": "https://example.com/a.png",
    "android": {
        "hw_category": "IM",
        "custom_content": json.dumps({"order": "A-1"}),
        "action": {"action_type": 2, "browser": {"url": "https://example.com/o"}},
    },
}


def test_a_notification_maps_to_honors_camel_case_fields():
    body = channel.prepare(push_of(message=FULL, options={"collapse_id": 9}), now=NOW).body

    assert body == {
        "data": '{"order":"A-1","xg_msgid":"4711"}',
        "android": {
            "biTag": "4711",
            "ttl": "3600s",
            "notification": {
                "title": "Hello",
                "body": "World",
                "clickAction": {"type": 2, "url": "https://example.com/o"},
                "importance": "NORMAL",
                "image": "https://example.com/a.png",
                "tag": "9",
            },
        },
    }
    message = channel.prepare(push_of(message=FULL, message_type="message"), now=NOW).body
    assert message["android"] == {"biTag": "4711", "ttl": "3600s"}
    assert json.loads(message["data"])["title"] == "Hello"


@pytest.mark.parametrize(
    "android, name, capped",
    [
        ({}, "LOW", True),
        ({"hw_category": "MARKETING", "hw_importance": 1}, "LOW", True),
        ({"hw_importance": 2}, "NORMAL", False),
        ({"hw_category": "FINANCE"}, "NORMAL", False),
    ],
)
def test_the_category_is_honors_importance(android, name, capped):
    found = channel.category(push_of(message={"android": android}))

    assert (found.name, found.capped) == (name, capped)


def test_a_message_over_4096_bytes_is_a_problem():
    assert channel.problem(push_of(content="é" * 1900)) is None
    field, text = channel.problem(push_of(content="é" * 2100))
    assert field == "message" and "Honor carries at most 4096" in text


def test_credentials_need_all_three_values():
    cfg, errors = channel.check_credentials(FORM)
    assert (cfg, errors) == (FORM, {})
    assert [f.name for f in channel.FIELDS] == ["app_id", "client_id", "client_secret"]
    _, errors = channel.check_credentials({"app_id": "x1"})
    assert set(errors) == {"app_id", "client_id", "client_secret"}
    assert "required" in errors["client_id"] and "digits" in errors["app_id"]


def test_receipts_are_read_in_huaweis_layout(fake):
    body, headers = fake.receipt([("t0", "4711", 0), ("t2", "4711", 2)])

    receipts = channel.parse_receipts(
        body, content_type="application/json", headers=headers, config={}
    )

    assert [(r.token, r.push_id, r.kind) for r in receipts] == [
        ("t0", "4711", ReceiptKind.ARRIVED),
        ("t2", "4711", ReceiptKind.INVALID_TOKEN),
    ]
    assert channel.receipt_reply(2)[0] == 200 and channel.RECEIPTS == "console"
