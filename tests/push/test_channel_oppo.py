"""The OPPO channel (push.channels.oppo): its notification mapping, credentials, answers and
receipts, and its real client against the loopback OPPO (tests.fakes.oppo)."""

import asyncio
import hashlib
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import oppo as channel
from push.channels.base import Answer, Prepared, ReceiptError, ReceiptKind, Result
from push.channels.vendor import REFRESH_MARGIN
from push.models import Application, Push
from tests.fakes.oppo import FakeOppo

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fake():
    with FakeOppo() as oppo:
        yield oppo


@pytest.fixture
def oppo(fake, settings):
    fake.reset()
    settings.PUSH_OPPO_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def opened(config, **kwargs):
    client = channel.client(config, environment="production", **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


def send(config, tokens, prepared=None) -> list[Answer]:
    async def go():
        async with opened(config) as client:
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


def test_one_token_goes_by_unicast_with_a_signed_auth_token(oppo):
    [answer] = send(oppo.config(), ["CN_aaa"])

    assert answer.result == Result.ACCEPTED
    assert answer.message_id.startswith(f"{oppo.app_id}-1-1-")
    auth, sent = oppo.received
    form = auth.form()
    expected = hashlib.sha256((oppo.app_key + form["timestamp"] + oppo.master_secret).encode())
    assert form["sign"] == expected.hexdigest() and form["app_key"] == oppo.app_key
    assert sent.path == channel.UNICAST_PATH
    assert sent.form()["auth_token"] in oppo.tokens
    message = json.loads(sent.form()["message"])
    assert message == {"target_type": 2, "target_value": "CN_aaa", "notification": plain().body}


def test_a_wrong_master_secret_is_refused_without_pruning(oppo):
    answers = send(oppo.config(master_secret="not-it"), ["a", "b"])

    assert answers == [Answer(Result.REFUSED, reason="16")] * 2
    assert oppo.auth_requests == 1 and oppo.tokens_issued == 0
    assert "MasterSecret" in channel.describe(answers[0])


@pytest.mark.parametrize("code, result", [(14, Result.REFUSED), (-1, Result.RETRY)])
def test_an_auth_refusal_answers_every_token(oppo, code, result):
    oppo.refuse_auth = code

    answers = send(oppo.config(), ["a", "b", "c"])

    assert {(a.result, a.reason, a.prune) for a in answers} == {(result, str(code), False)}


def test_2500_tokens_go_in_three_batches_with_one_auth_token(oppo):
    tokens = [f"CN_{i:04d}" for i in range(2500)]

    answers = send(oppo.config(), tokens)

    assert all(a.result == Result.ACCEPTED for a in answers)
    batches = [r for r in oppo.received if r.path == channel.BATCH_PATH]
    sizes = sorted(len(json.loads(r.form()["messages"])) for r in batches)
    assert sizes == [500, 1000, 1000]
    assert oppo.tokens_issued == 1
    assert {t for t, _ in oppo.accepted} == set(tokens)


def test_a_batch_answer_is_read_per_registration_id(oppo):
    oppo.answer("CN_gone", 10000)
    oppo.answer("CN_odd", 41)

    answers = send(oppo.config(), ["CN_ok", "CN_gone", "CN_odd", "bad id!"])

    assert answers[0].result == Result.ACCEPTED and answers[0].message_id
    assert (answers[1].result, answers[1].reason, answers[1].prune) == (
        Result.REFUSED,
        "10000",
        True,
    )
    assert (answers[2].result, answers[2].reason, answers[2].prune) == (
        Result.REFUSED,
        "41",
        False,
    )
    assert (answers[3].reason, answers[3].prune) == ("10000", True)  # the fake's own check


def test_a_single_invalid_registration_id_is_pruned(oppo):
    [answer] = send(oppo.config(), ["bad id!"])

    assert (answer.result, answer.reason, answer.prune) == (Result.REFUSED, "10000", True)


def test_the_auth_token_is_cached_and_replaced_before_24_hours(oppo):
    clock = Clock()

    async def go():
        async with opened(oppo.config(), clock=clock) as client:
            await client.send(plain(), ["a"])
            clock.now += 24 * 3600 - REFRESH_MARGIN - 1
            await client.send(plain(), ["b", "c"])
            assert oppo.tokens_issued == 1
            clock.now += 2
            await client.send(plain(), ["d"])

    asyncio.run(go())
    assert oppo.tokens_issued == 2


def test_an_expired_auth_token_is_replaced_once_and_the_batch_sent_again(oppo):
    async def go():
        async with opened(oppo.config()) as client:
            await client.send(plain(), ["warm"])
            oppo.expire_tokens()
            return await client.send(plain(), ["a", "b"])

    answers = asyncio.run(go())

    assert [a.result for a in answers] == [Result.ACCEPTED] * 2
    assert oppo.tokens_issued == 2


def test_a_token_refused_twice_is_refused(oppo):
    oppo.token_lifetime = -1  # every token the fake issues is expired at once

    [answer] = send(oppo.config(), ["a"])

    assert (answer.result, answer.reason) == (Result.REFUSED, "11")
    assert oppo.tokens_issued == 2


def test_a_spent_daily_quota_is_over_quota_until_beijing_midnight(oppo):
    oppo.quota_spent = True

    answers = send(oppo.config(), ["a", "b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.OVER_QUOTA, "33")}
    # The vendor's midnight after the batch is the sender's to say (its ``now``).
    assert answers[0].quota_until is None
    assert "built-in channel" in channel.describe(answers[0])


@pytest.mark.parametrize(
    "code, status, retry_after, result",
    [
        (-2, 200, None, Result.RETRY),
        (55, 200, None, Result.RETRY),
        (13, 200, None, Result.RETRY),
        (None, 503, 30, Result.RETRY),
        (None, 429, 7, Result.RETRY),
        (28, 200, None, Result.REFUSED),
        (None, 403, None, Result.REFUSED),
    ],
)
def test_request_wide_answers(oppo, code, status, retry_after, result):
    oppo.fail_next(1, code, status=status, retry_after=retry_after)

    answers = send(oppo.config(), ["a", "b"])

    assert {(a.result, a.prune) for a in answers} == {(result, False)}
    if retry_after is not None:
        assert answers[0].retry_after == retry_after


def test_no_answer_in_time_is_lost(oppo, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    oppo.delay = 2.0

    answers = send(oppo.config(), ["a", "b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.LOST, "timeout")}


def test_an_unreachable_oppo_is_tried_again(settings):
    with FakeOppo() as gone:
        settings.PUSH_OPPO_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file
        config = gone.config()
        gone.stop()  # nothing listens: no connection is made, nothing was sent

        answers = send(config, ["a", "b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.RETRY, "connection")}


def test_the_receipt_url_goes_into_every_message(oppo):
    url = "https://console.example.com/callbacks/push/oppo/k123"

    send(oppo.config(receipt_url=url), ["a", "b"])

    assert {n["call_back_url"] for _, n in oppo.accepted} == {url}
    assert {n["call_back_parameter"] for _, n in oppo.accepted} == {"4711"}
    send(oppo.config(), ["c"])
    assert "call_back_url" not in oppo.accepted[-1][1]


def test_every_prepared_message_is_one_the_fake_accepts(oppo):
    for push in (
        push_of(message=FULL),
        push_of(message=android(action={"action_type": 2, "browser": {"url": "https://x.y"}})),
        push_of(message=android(action={"action_type": 3, "intent": "app://open/1"})),
        push_of(message=android(action={"action_type": 3, "intent": "com.example.OPEN"})),
        push_of(message=android(oppo_category="IM", oppo_notify_level=16), expire_time=0),
    ):
        [answer] = send(oppo.config(), ["tok"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, oppo.received[-1].form()


# -- prepare and problem ------------------------------------------------------------------------

FULL = {
    "title": "Hello",
    "content": "World",
    "android": {
        "n_ch_id": "default",
        "oppo_ch_id": "orders",
        "custom_content": json.dumps({"order": "A-1", "xg_msgid": "not ours"}),
        "action": {"action_type": 1, "activity": "com.example.OrderActivity"},
    },
}


def test_a_notification_maps_every_field():
    push = push_of(message=FULL, options={"collapse_id": 77})

    prepared = channel.prepare(push, now=NOW + timedelta(minutes=10))

    assert prepared.body == {
        "title": "Hello",
        "content": "World",
        "click_action_type": 4,
        "click_action_activity": "com.example.OrderActivity",
        "action_parameters": '{"order":"A-1","xg_msgid":"4711"}',
        "off_line": True,
        "off_line_ttl": 3000,
        "channel_id": "orders",
        "notify_id": 77,
        "call_back_parameter": "4711",
    }
    assert prepared.size == len(json.dumps(prepared.body, separators=(",", ":")))


def test_clicks_ttl_and_channel_fall_back():
    body = channel.prepare(push_of(expire_time=0, expires_at=None), now=NOW).body
    assert body["click_action_type"] == 0 and body["off_line"] is False
    assert "off_line_ttl" not in body and "channel_id" not in body
    ten_days = channel.prepare(push_of(expires_at=NOW + timedelta(days=30)), now=NOW).body
    assert ten_days["off_line_ttl"] == 864000
    url = android(n_ch_id="news", action={"action_type": 2, "browser": {"url": "https://x.y"}})
    body = channel.prepare(push_of(message=url), now=NOW).body
    assert (body["click_action_type"], body["click_action_url"], body["channel_id"]) == (
        2,
        "https://x.y",
        "news",
    )
    intent = android(action={"action_type": 3, "intent": "intent://x#Intent;end"})
    assert channel.prepare(push_of(message=intent), now=NOW).body["click_action_type"] == 5


@pytest.mark.parametrize(
    "push, field",
    [
        (push_of(message_type="message"), "message_type"),
        (push_of(title="t" * 51), "message.title"),
        (push_of(content="c" * 201), "message.content"),
        (
            push_of(message=android(custom_content=json.dumps({"k": "v" * 4000}))),
            "message.android.custom_content",
        ),
        (push_of(message=android(oppo_category="PROMO")), "message.android.oppo_category"),
        (push_of(message=android(oppo_notify_level=16)), "message.android.oppo_notify_level"),
        (
            push_of(message=android(oppo_category="IM", oppo_notify_level=3)),
            "message.android.oppo_notify_level",
        ),
    ],
)
def test_what_oppo_cannot_carry_is_a_problem(push, field):
    assert channel.problem(push)[0] == field
    with pytest.raises(ValueError, match=field):
        channel.prepare(push, now=NOW)


def test_limits_are_in_characters_not_bytes():
    assert channel.problem(push_of(title="好" * 50, content="界" * 200)) is None


@pytest.mark.parametrize(
    "message, name, capped",
    [
        (android(oppo_category="MARKETING"), "MARKETING", True),
        (android(oppo_category="NEWS"), "NEWS", True),
        (android(oppo_category="IM"), "IM", False),
        (android(oppo_ch_id="chat"), "私信", False),
        (android(n_ch_id="chat"), "公信", True),
    ],
)
def test_category_says_whether_oppo_caps_it(message, name, capped):
    found = channel.category(push_of(message=message))

    assert (found.name, found.capped) == (name, capped)
    assert channel.hold_until(push_of(message=message), now=NOW) is None


# -- credentials and describe -------------------------------------------------------------------


def test_credentials_are_trimmed_and_each_bad_field_named():
    form = {"app_id": " 3001 ", "app_key": "key", "master_secret": "secret\n"}
    assert channel.check_credentials(form) == (
        {"app_id": "3001", "app_key": "key", "master_secret": "secret"},
        {},
    )
    config, errors = channel.check_credentials({"app_id": "", "app_key": "a b"})
    assert config == {}
    assert set(errors) == {"app_id", "app_key", "master_secret"}
    assert [f.name for f in channel.FIELDS if f.secret] == ["master_secret"]


@pytest.mark.parametrize("code", sorted(k for k in channel.REASONS if k.lstrip("-").isdigit()))
def test_every_known_code_is_described(code):
    text = channel.describe(channel.code_answer(int(code)))
    assert "OPPO gave no reason" not in text and code in text


# -- receipts -----------------------------------------------------------------------------------


def test_a_receipt_becomes_one_line_per_registration_id(fake):
    body, headers = fake.receipt(
        [
            ("CN_a", "4711", "push_arrive"),
            ("CN_b", "4711", "push_arrive"),
            ("CN_c", "9", "regid_invalid"),
        ]
    )

    receipts = channel.parse_receipts(
        body, content_type=headers["content-type"], headers=headers, config=fake.config()
    )

    assert [(r.token, r.push_id, r.kind) for r in receipts] == [
        ("CN_a", "4711", ReceiptKind.ARRIVED),
        ("CN_b", "4711", ReceiptKind.ARRIVED),
        ("CN_c", "9", ReceiptKind.INVALID_TOKEN),
    ]
    assert all(abs(r.at - datetime.now(UTC)) < timedelta(minutes=1) for r in receipts)
    assert channel.receipt_reply(len(receipts))[0] == 200


def test_a_daily_limit_receipt_is_not_shown_and_unknown_events_are_other(fake):
    body, _ = fake.receipt([("CN_a", "1", "user_daily_limit"), ("CN_b", "1", "something_new")])

    kinds = [r.kind for r in channel.parse_receipts(body, content_type="", headers={}, config={})]

    assert kinds == [ReceiptKind.NOT_SHOWN, ReceiptKind.OTHER]


def test_a_receipt_of_another_app_is_forbidden(fake):
    body, _ = fake.receipt([("CN_a", "1", "push_arrive")])

    with pytest.raises(ReceiptError) as raised:
        channel.parse_receipts(body, content_type="", headers={}, config={"app_id": "999"})
    assert raised.value.forbidden


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b"[1]", b'[{"param": "1"}]'])
def test_a_malformed_receipt_is_refused(body):
    with pytest.raises(ReceiptError) as raised:
        channel.parse_receipts(body, content_type="", headers={}, config={})
    assert not raised.value.forbidden
