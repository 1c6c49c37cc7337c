"""The Meizu Flyme channel (push.channels.meizu): its messageJson, signature, credentials,
answers and receipts, and its real client against the loopback Meizu (tests.fakes.meizu)."""

import asyncio
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import meizu as channel
from push.channels.base import Answer, Prepared, Receipt, ReceiptError, ReceiptKind, Result
from push.models import Application, ChannelKind, Push
from tests.fakes.meizu import FakeMeizu, meizu_sign

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
APP_ID = "100123"
SECRET = "mz-secret-7c1f9e"
RECEIPT_URL = "https://push.example.com/callbacks/push/meizu/k3y"


@pytest.fixture(scope="module")
def fake():
    with FakeMeizu(app_id=APP_ID, app_secret=SECRET) as meizu:
        yield meizu


@pytest.fixture
def meizu(fake, settings):
    fake.reset()
    settings.PUSH_MEIZU_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


def config_of(**changes) -> dict:
    return {
        "app_id": APP_ID,
        "app_secret": SECRET,
        "receipt_token": "",
        "receipt_url": RECEIPT_URL,
    } | changes


def send(config, tokens, prepared=None) -> list[Answer]:
    async def go():
        client = channel.client(config, environment="production")
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


def android(**fields) -> dict:
    return {"title": "Hello", "content": "World", "android": fields}


# -- signing ------------------------------------------------------------------------------------


def test_the_signature_is_meizus_documented_example():
    # MEIZUPUSH/PushAPI: the MD5 of "appId=10000messageJson=…pushIds=…<APP_SECRET>".
    params = {
        "appId": "10000",
        "pushIds": "RA50c6348036344485d01776773577c64740465480a6b",
        "messageJson": '{"title": "title","content": "content","pushTimeInfo": '
        '{"offLine": 1,"validTime": 24}}',
    }
    base = "appId=10000messageJson=" + params["messageJson"] + "pushIds=" + params["pushIds"] + "s"
    assert channel.sign(params, "s") == hashlib.md5(base.encode()).hexdigest()
    assert channel.sign(params, "s") == meizu_sign(params, "s")
    assert channel.sign(params, "s") != channel.sign(params, "t")


# -- the client against the fake ---------------------------------------------------------------


def test_it_posts_a_signed_form_the_fake_verifies(meizu):
    prepared = plain()

    answers = send(config_of(), ["pid-a", "pid-b"], prepared)

    [accepted] = meizu.accepted
    assert answers == [Answer(Result.ACCEPTED, message_id=accepted.message_id, status=200)] * 2
    [request] = meizu.received
    form = request.form()
    assert request.path == "/garcia/api/server/push/varnished/pushByPushId"
    assert set(form) == {"appId", "pushIds", "messageJson", "sign"}
    assert form["sign"] == meizu_sign(form, SECRET)
    assert accepted.push_ids == ["pid-a", "pid-b"]
    assert accepted.message == prepared.body | {
        "extra": {"callback": RECEIPT_URL, "callback.param": "4711", "callback.type": 3}
    }


def test_a_wrong_app_secret_fails_the_signature_and_prunes_nothing(meizu):
    answers = send(config_of(app_secret="someone-elses"), ["pid-a", "pid-b"])

    assert answers == [Answer(Result.REFUSED, reason="1006", status=200)] * 2
    assert "App Secret" in channel.describe(answers[0])
    assert not meizu.accepted


def test_another_apps_id_is_refused(meizu):
    [answer] = send(config_of(app_id="999"), ["pid-a"])

    assert (answer.result, answer.reason, answer.prune) == (Result.REFUSED, "110000", False)


def test_without_a_receipt_url_no_extra_is_sent(meizu):
    send(config_of(receipt_url=""), ["pid-a"])

    [accepted] = meizu.accepted
    assert "extra" not in accepted.message


def test_a_receipt_url_longer_than_meizu_takes_is_left_out(meizu):
    [answer] = send(config_of(receipt_url="https://example.com/" + "k" * 120), ["pid-a"])

    assert answer.result == Result.ACCEPTED
    assert "extra" not in meizu.accepted[0].message


def test_250_push_ids_go_in_three_requests_of_at_most_100(meizu):
    tokens = [f"pid-{i}" for i in range(250)]

    answers = send(config_of(), tokens)

    assert sorted(len(a.push_ids) for a in meizu.accepted) == [50, 100, 100]
    assert all(a.result == Result.ACCEPTED for a in answers)
    by_id = {a.message_id: a.push_ids for a in meizu.accepted}
    assert all(token in by_id[a.message_id] for token, a in zip(tokens, answers, strict=True))


def test_the_fake_refuses_more_than_100_push_ids(meizu):
    async def go():
        client = channel.MeizuClient(config_of(), ca_file=meizu.ca_file, max_tokens=101)
        try:
            return await client.send(plain(), [f"p{i}" for i in range(101)])
        finally:
            await client.aclose()

    answers = asyncio.run(go())

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "1005")}


def test_each_push_id_gets_its_own_answer_from_the_value_map(meizu):
    meizu.answer("pid-unsubscribed", 110002)
    meizu.answer("pid-illegal", 110003)
    meizu.answer("pid-switch-off", 110010)
    meizu.answer("pid-capped", 110011)
    meizu.answer("pid-folded", 520)
    meizu.answer("pid-overloaded", 519)

    answers = send(
        config_of(),
        [
            "pid-ok",
            "pid-unsubscribed",
            "pid-illegal",
            "pid-switch-off",
            "pid-capped",
            "pid-folded",
            "pid-overloaded",
        ],
    )

    message_id = meizu.accepted[0].message_id
    assert answers == [
        Answer(Result.ACCEPTED, message_id=message_id, status=200),
        Answer(Result.REFUSED, reason="110002", status=200, prune=True),
        Answer(Result.REFUSED, reason="110003", status=200, prune=True),
        Answer(Result.REFUSED, reason="110010", status=200),
        Answer(Result.REFUSED, reason="110011", status=200),
        Answer(Result.RETRY, reason="520", status=200, retry_after=60.0),
        Answer(Result.RETRY, reason="519", status=200),
    ]
    assert "push switch" in channel.describe(answers[3])


def test_a_spent_daily_limit_is_over_quota_until_beijing_midnight(meizu):
    meizu.quota_spent = True

    answers = send(config_of(), ["pid-a", "pid-b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.OVER_QUOTA, "110019")}
    # The vendor's midnight after the batch is the sender's to say (its ``now``).
    assert answers[0].quota_until is None
    assert "built-in channel" in channel.describe(answers[0])


@pytest.mark.parametrize(
    "code, result, reason",
    [
        (110010, Result.RETRY, "rate"),  # at the top level: sending too fast
        (518, Result.RETRY, "518"),
        (1003, Result.RETRY, "1003"),
        (1001, Result.RETRY, "1001"),
        (110051, Result.OVER_QUOTA, "110051"),
        (110009, Result.REFUSED, "110009"),
        (110033, Result.REFUSED, "110033"),
    ],
)
def test_top_level_codes_are_classified_and_never_prune(meizu, code, result, reason):
    meizu.fail_next(1, code)

    answers = send(config_of(), ["pid-a", "pid-b"])

    assert {(a.result, a.reason, a.prune) for a in answers} == {(result, reason, False)}


def test_http_troubles_without_a_meizu_body(meizu):
    for status, result in {503: Result.RETRY, 429: Result.RETRY, 403: Result.REFUSED}.items():
        [answer] = channel.classify(status, b"<html>", ["t"], None, now=NOW)
        assert (answer.result, answer.prune) == (result, False), status
    [answer] = channel.classify(200, b"{not json", ["t"], None, now=NOW)
    assert (answer.result, answer.reason) == (Result.RETRY, "bad_answer")


def test_no_answer_in_time_is_lost_not_retried(meizu, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    meizu.delay = 2.0

    [answer] = send(config_of(), ["slow"])

    assert (answer.result, answer.reason) == (Result.LOST, "timeout")
    assert meizu.received


def test_an_unreachable_meizu_is_tried_again(settings):
    with FakeMeizu(app_id=APP_ID, app_secret=SECRET) as gone:
        settings.PUSH_MEIZU_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file

    answers = send(config_of(), ["a", "b"])

    assert [(a.result, a.reason) for a in answers] == [(Result.RETRY, "connection")] * 2


def test_every_prepared_message_is_one_the_fake_accepts(meizu):
    pushes = [
        push_of(message=FULL),
        push_of(message=FULL, expire_time=0),
        push_of(message=FULL, expire_time=86400 * 5, expires_at=None),
        push_of(message=android(action={"action_type": 2, "browser": {"url": "https://e.com"}})),
        push_of(message=android(action={"action_type": 3, "intent": "demo://open?x=1"})),
    ]
    for push in pushes:
        [answer] = send(config_of(), ["pid-a"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, meizu.received[-1].form()


# -- prepare ------------------------------------------------------------------------------------

FULL = {
    "title": "Hello",
    "content": "World",
    "android": {
        "ring": 0,
        "vibrate": 1,
        "clearable": 0,
        "custom_content": json.dumps({"order": "A-1", "count": 2}),
        "action": {"action_type": 1, "activity": "com.example.demo.OrderActivity"},
    },
}


def test_a_notification_maps_every_field():
    push = push_of(message=FULL, options={"collapse_id": 77})

    prepared = channel.prepare(push, now=NOW + timedelta(minutes=10))

    assert prepared.body == {
        "noticeBarInfo": {"noticeMsgType": 0, "title": "Hello", "content": "World"},
        "clickTypeInfo": {
            "clickType": 1,
            "activity": "com.example.demo.OrderActivity",
            "parameters": {"order": "A-1", "count": 2, "xg_msgid": "4711"},
        },
        "pushTimeInfo": {"offLine": 1, "validTime": 1},
        "advanceInfo": {
            "notificationType": {"vibrate": 1, "lights": 1, "sound": 0},
            "clearNoticeBar": 0,
            "notifyKey": "77",
        },
        "extra": {"callback.param": "4711", "callback.type": 3},
    }


@pytest.mark.parametrize(
    "action, click",
    [
        (None, {"clickType": 0}),
        ({"action_type": 1}, {"clickType": 0}),
        (
            {"action_type": 2, "browser": {"url": "https://example.com/a"}},
            {"clickType": 2, "url": "https://example.com/a"},
        ),
        (
            {"action_type": 3, "intent": "demo://detail?id=1"},
            {"clickType": 2, "url": "demo://detail?id=1"},
        ),
    ],
)
def test_the_click_becomes_the_click_type(action, click):
    message = android(action=action) if action else android()

    info = channel.prepare(push_of(message=message), now=NOW).body["clickTypeInfo"]

    assert info == click | {"parameters": {"xg_msgid": "4711"}}


def test_a_customers_xg_msgid_never_replaces_the_push_id():
    push = push_of(message=android(custom_content=json.dumps({"xg_msgid": "forged"})))

    parameters = channel.prepare(push, now=NOW).body["clickTypeInfo"]["parameters"]

    assert parameters == {"xg_msgid": "4711"}


def test_the_valid_time_is_the_hours_left_from_1_to_72_and_real_time_is_not_kept():
    def timing(push, now=NOW):
        return channel.prepare(push, now=now).body["pushTimeInfo"]

    two_hours = push_of(expire_time=86400, expires_at=NOW + timedelta(hours=2))
    assert timing(two_hours, NOW + timedelta(minutes=1)) == {"offLine": 1, "validTime": 2}
    assert timing(two_hours, NOW + timedelta(hours=1, minutes=59)) == {"offLine": 1, "validTime": 1}
    assert timing(two_hours, NOW + timedelta(hours=3)) == {"offLine": 0}
    long = push_of(expire_time=86400 * 5, expires_at=None)
    assert timing(long) == {"offLine": 1, "validTime": 72}
    assert timing(push_of(expire_time=0)) == {"offLine": 0}


# -- problem ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"message_type": "message"}, "message_type"),
        ({"title": "x" * 33}, "message.title"),
        ({"title": " "}, "message.title"),
        ({"content": "x" * 101}, "message.content"),
        ({"content": ""}, "message.content"),
        ({"options": {"collapse_id": 123456789}}, "collapse_id"),
    ],
)
def test_what_meizu_cannot_carry_is_a_problem(fields, field):
    push = push_of(**fields)

    found = channel.problem(push)

    assert found is not None and found[0] == field
    with pytest.raises(ValueError):
        channel.prepare(push, now=NOW)


def test_the_limits_are_exactly_meizus():
    push = push_of(title="x" * 32, content="y" * 100, options={"collapse_id": 12345678})

    assert channel.problem(push) is None


# -- credentials, category, describe ----------------------------------------------------------


def test_valid_credentials_give_the_config():
    config, errors = channel.check_credentials(
        {"app_id": " 100123 ", "app_secret": f" {SECRET} ", "receipt_token": ""}
    )

    assert errors == {}
    assert config == {"app_id": APP_ID, "app_secret": SECRET, "receipt_token": ""}
    assert [f.name for f in channel.FIELDS] == ["app_id", "app_secret", "receipt_token"]
    assert [f.name for f in channel.FIELDS if f.secret] == ["app_secret", "receipt_token"]
    assert [f.name for f in channel.FIELDS if not f.required] == ["receipt_token"]


def test_bad_credentials_name_every_bad_field():
    config, errors = channel.check_credentials(
        {"app_id": "abc", "app_secret": "with space here", "receipt_token": "a b"}
    )

    assert config == {}
    assert set(errors) == {"app_id", "app_secret", "receipt_token"}
    _, errors = channel.check_credentials({"app_id": "", "app_secret": "", "receipt_token": ""})
    assert set(errors) == {"app_id", "app_secret"}


def test_every_push_is_a_capped_public_message():
    found = channel.category(push_of())

    assert found.capped is True and "Public" in found.name
    assert channel.hold_until(push_of(), now=NOW) is None


def test_the_module_names_itself_as_the_contract_wants():
    assert channel.KIND == ChannelKind.MEIZU
    assert channel.TPNS_NAME == "mz"
    assert channel.MAX_TOKENS == 100
    assert channel.RECEIPTS == "per_message"


def test_describe_says_what_happens_next():
    assert channel.describe(Answer(Result.ACCEPTED, message_id="m1")) == "Accepted by Meizu (m1)"
    pruned = channel.describe(Answer(Result.REFUSED, reason="110003", prune=True))
    assert "not a valid Meizu pushId" in pruned and pruned.endswith("the token is pruned")
    later = channel.describe(Answer(Result.RETRY, reason="520", retry_after=60))
    assert "folded" in later and later.endswith("(after 60 s, as Meizu asked)")
    assert "not sent again" in channel.describe(Answer(Result.LOST, reason="timeout"))


# -- receipts -----------------------------------------------------------------------------------


def parse(body, headers, config=None):
    return channel.parse_receipts(
        body, content_type=headers["content-type"], headers=headers, config=config or {}
    )


def test_a_receipt_as_meizu_posts_it_names_each_push_id(meizu):
    send(config_of(), ["pid-1", "pid-2"])

    body, headers = meizu.receipt(
        [("pid-1", "4711", 1), ("pid-2", "4711", 1), ("pid-1", "4711", 2)], access_token="tok"
    )
    receipts = parse(body, headers, {"receipt_token": "tok"})

    assert receipts == [
        Receipt("pid-1", "4711", ReceiptKind.ARRIVED, None, "1"),
        Receipt("pid-2", "4711", ReceiptKind.ARRIVED, None, "1"),
        Receipt("pid-1", "4711", ReceiptKind.CLICKED, None, "2"),
    ]
    message_id = meizu.accepted[0].message_id
    cb = json.loads(urllib.parse.parse_qs(body.decode())["cb"][0])
    assert set(cb) == {f"{message_id}-1", f"{message_id}-2"}


def test_a_receipt_without_the_apps_access_token_is_forbidden(meizu):
    body, headers = meizu.receipt([("pid-1", "4711", 1)], access_token="forged")
    unsigned, _ = meizu.receipt([("pid-1", "4711", 1)])

    for posted in (body, unsigned):
        with pytest.raises(ReceiptError) as raised:
            parse(posted, headers, {"receipt_token": "the-apps-token"})
        assert raised.value.forbidden is True
    # Without a token in the config, the URL's own key is all that vouches.
    assert len(parse(body, headers, {"receipt_token": ""})) == 1


def test_entries_without_one_of_our_push_ids_are_skipped_and_unknown_types_are_other():
    cb = {
        "m-1": {"param": "not-ours", "type": 1, "targets": ["p1"]},
        "m2-3": {"param": "12", "type": 3, "targets": ["p2"]},
    }
    body = urllib.parse.urlencode({"cb": json.dumps(cb), "access_token": ""}).encode()

    [receipt] = parse(body, {"content-type": "application/x-www-form-urlencoded"})

    assert receipt == Receipt("p2", "12", ReceiptKind.OTHER, None, "3")


@pytest.mark.parametrize(
    "body",
    [
        b"access_token=x",
        b"cb=not+json",
        urllib.parse.urlencode({"cb": "[1]"}).encode(),
        urllib.parse.urlencode({"cb": json.dumps({"m-1": 5})}).encode(),
        urllib.parse.urlencode({"cb": json.dumps({"m-1": {"param": "1", "type": 1}})}).encode(),
        urllib.parse.urlencode(
            {"cb": json.dumps({"m-1": {"param": "1", "type": "x", "targets": []}})}
        ).encode(),
        b"\xff",
    ],
)
def test_a_malformed_receipt_is_refused(body):
    with pytest.raises(ReceiptError) as raised:
        parse(body, {"content-type": "application/x-www-form-urlencoded"})

    assert raised.value.forbidden is False


def test_the_receipt_reply_is_a_200():
    status, content_type, body = channel.receipt_reply(2)

    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["code"] == "200"
