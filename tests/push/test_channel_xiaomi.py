"""The Xiaomi MiPush channel (push.channels.xiaomi): its form fields, credentials, answers,
category and receipts, and its real client against the loopback Xiaomi (tests.fakes.xiaomi)."""

import asyncio
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from push.channels import xiaomi as channel
from push.channels.base import Answer, Prepared, Receipt, ReceiptError, ReceiptKind, Result
from push.models import Application, ChannelKind, Push
from tests.fakes.xiaomi import FakeXiaomi

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SECRET = "xm-secret-5Tn0Q=="
PACKAGE = "com.example.demo"
RECEIPT_URL = "https://push.example.com/callbacks/push/xiaomi/k3y"


@pytest.fixture(scope="module")
def fake():
    with FakeXiaomi(app_secret=SECRET, package_name=PACKAGE) as xiaomi:
        yield xiaomi


@pytest.fixture
def xiaomi(fake, settings):
    fake.reset()
    settings.PUSH_XIAOMI_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


def config_of(**changes) -> dict:
    return {
        "package_name": PACKAGE,
        "region": "china",
        "app_secret": SECRET,
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


# -- the client against the fake ---------------------------------------------------------------


def test_it_posts_the_form_with_the_app_secret_as_key_and_the_callback(xiaomi):
    prepared = plain()

    answers = send(config_of(), ["regid-a", "regid-b"], prepared)

    [accepted] = xiaomi.accepted
    assert answers == [Answer(Result.ACCEPTED, message_id=accepted.message_id, status=200)] * 2
    [request] = xiaomi.received
    assert request.path == "/v3/message/regid"
    assert request.headers["authorization"] == f"key={SECRET}"
    assert accepted.regids == ["regid-a", "regid-b"]
    assert accepted.fields == prepared.body | {
        "registration_id": "regid-a,regid-b",
        "restricted_package_name": PACKAGE,
        "extra.callback": RECEIPT_URL,
    }
    assert accepted.fields["extra.callback.param"] == "4711"
    assert accepted.fields["extra.callback.type"] == "243"


def test_a_wrong_app_secret_is_refused_without_pruning(xiaomi):
    answers = send(config_of(app_secret="someone-elses-secret"), ["regid-a", "regid-b"])

    assert answers == [Answer(Result.REFUSED, reason="21301", status=200)] * 2
    assert "AppSecret" in channel.describe(answers[0])
    assert not xiaomi.accepted


def test_without_a_receipt_url_no_callback_is_asked_for(xiaomi):
    send(config_of(receipt_url=""), ["regid-a"])

    [accepted] = xiaomi.accepted
    assert not {"extra.callback", "extra.callback.param", "extra.callback.type"} & set(
        accepted.fields
    )


def test_2500_regids_go_in_three_requests_of_at_most_1000(xiaomi):
    tokens = [f"regid-{i}" for i in range(2500)]

    answers = send(config_of(), tokens)

    assert [len(a.regids) for a in xiaomi.accepted] == [1000, 1000, 500]
    assert sorted(r for a in xiaomi.accepted for r in a.regids) == sorted(tokens)
    assert all(a.result == Result.ACCEPTED for a in answers)
    by_id = {a.message_id: a.regids for a in xiaomi.accepted}
    assert all(token in by_id[a.message_id] for token, a in zip(tokens, answers, strict=True))


def test_the_fake_refuses_more_than_1000_regids(xiaomi):
    async def go():
        client = channel.XiaomiClient(config_of(), ca_file=xiaomi.ca_file, max_tokens=1001)
        try:
            return await client.send(plain(), [f"r{i}" for i in range(1001)])
        finally:
            await client.aclose()

    answers = asyncio.run(go())

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "10017")}


def test_bad_regids_of_an_accepted_request_are_pruned_one_by_one(xiaomi):
    xiaomi.answer("regid-gone")

    answers = send(config_of(), ["regid-1", "regid-gone", "regid-2"])

    message_id = xiaomi.accepted[0].message_id
    assert answers == [
        Answer(Result.ACCEPTED, message_id=message_id, status=200),
        Answer(Result.REFUSED, reason="bad_regid", status=200, prune=True),
        Answer(Result.ACCEPTED, message_id=message_id, status=200),
    ]


def test_no_valid_target_prunes_every_regid_of_the_request(xiaomi):
    xiaomi.answer("gone-1")
    xiaomi.answer("gone-2")

    answers = send(config_of(), ["gone-1", "gone-2"])

    assert (
        answers == [Answer(Result.REFUSED, reason="no_valid_targets", status=200, prune=True)] * 2
    )


def test_a_spent_daily_quota_is_over_quota_until_beijing_midnight(xiaomi):
    xiaomi.quota_spent = True

    answers = send(config_of(), ["regid-a", "regid-b"])

    assert {(a.result, a.reason) for a in answers} == {(Result.OVER_QUOTA, "10034")}
    # The vendor's midnight after the batch is the sender's to say (its ``now``).
    assert answers[0].quota_until is None
    assert "built-in channel" in channel.describe(answers[0])


@pytest.mark.parametrize(
    "code, status, result",
    [
        (10027, 200, Result.RETRY),  # QPS exceeded
        (10002, 200, Result.RETRY),  # busy
        (20301, 200, Result.RETRY),  # a send failure without "No valid targets!"
        (10031, 200, Result.REFUSED),  # the app is blacklisted
        (27001, 200, Result.REFUSED),  # a channel ID of another app
        (22022, 200, Result.REFUSED),
    ],
)
def test_error_codes_are_classified_and_never_prune(xiaomi, code, status, result):
    xiaomi.fail_next(1, code)

    [answer] = send(config_of(), ["regid-a"])

    assert (answer.result, answer.reason, answer.prune) == (result, str(code), False)


def test_http_troubles_without_a_code_are_tried_again_when_passing(xiaomi):
    xiaomi.fail_next(1, 10002, status=503)
    [answer] = send(config_of(), ["regid-a"])
    assert (answer.result, answer.status) == (Result.RETRY, 503)

    statuses = {
        503: Result.RETRY,
        429: Result.RETRY,
        401: Result.REFUSED,
        200: Result.RETRY,  # an unreadable answer: tried again
    }
    for status, result in statuses.items():
        [answer] = channel.classify(status, b"<html>", ["t"], "5", now=NOW)
        assert answer.result == result, status
        assert answer.prune is False
    [answer] = channel.classify(429, b"", ["t"], "7", now=NOW)
    assert answer.retry_after == 7.0


def test_the_channel_classification_is_required_when_xiaomi_wants_it(xiaomi):
    xiaomi.require_channel = True

    [without] = send(config_of(), ["regid-a"])
    [with_channel] = send(
        config_of(), ["regid-a"], channel.prepare(push_of(message=android(xm_ch_id="im")), now=NOW)
    )

    assert (without.result, without.reason) == (Result.REFUSED, "27001")
    assert with_channel.result == Result.ACCEPTED


def test_no_answer_in_time_is_lost_not_retried(xiaomi, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    xiaomi.delay = 2.0

    [answer] = send(config_of(), ["slow"])

    assert (answer.result, answer.reason) == (Result.LOST, "timeout")
    assert xiaomi.received


def test_an_unreachable_xiaomi_is_tried_again(settings):
    with FakeXiaomi(app_secret=SECRET, package_name=PACKAGE) as gone:
        settings.PUSH_XIAOMI_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file
    # Stopped: nothing listens there any more, so the connection is never made.
    answers = send(config_of(), ["a", "b"])

    assert [(a.result, a.reason) for a in answers] == [(Result.RETRY, "connection")] * 2


def test_a_connection_dropped_after_the_request_is_lost(xiaomi):
    xiaomi.drop = True

    [answer] = send(config_of(), ["regid-a"])

    assert answer.result == Result.LOST


def test_every_prepared_message_is_one_the_fake_accepts(xiaomi):
    pushes = [
        push_of(message=FULL),
        push_of(message=FULL, message_type="message"),
        push_of(message=FULL, expire_time=0, options={"collapse_id": 5}),
        push_of(message=android(action={"action_type": 2, "browser": {"url": "https://e.com"}})),
        push_of(message=android(action={"action_type": 3, "intent": "demo://open?x=1"})),
    ]
    for push in pushes:
        [answer] = send(config_of(), ["regid-a"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, xiaomi.received[-1].form()


def test_the_region_chooses_the_host_unless_the_url_setting_overrides(settings):
    settings.PUSH_XIAOMI_URL = ""
    assert channel.base_url(config_of()) == "https://api.xmpush.xiaomi.com"
    assert channel.base_url(config_of(region="europe")) == (
        "https://fr-api.xmpush.global.xiaomi.com"
    )
    assert channel.base_url(config_of(region="singapore")) == (
        "https://sgp-api.xmpush.global.xiaomi.com"
    )
    assert channel.base_url(config_of(region="india")) == (
        "https://idmb-api.xmpush.global.xiaomi.com"
    )
    assert channel.base_url(config_of(region="russia")) == "https://ru-api.xmpush.global.xiaomi.com"
    settings.PUSH_XIAOMI_URL = "https://proxy.example.com/"
    assert channel.base_url(config_of(region="russia")) == "https://proxy.example.com"


# -- prepare ------------------------------------------------------------------------------------

FULL = {
    "title": "Hello",
    "content": "World",
    "android": {
        "n_ch_id": "default",
        "xm_ch_id": "orders",
        "ring": 1,
        "vibrate": 0,
        "lights": 1,
        "custom_content": json.dumps({"order": "A-1", "count": 2}),
        "action": {"action_type": 1, "activity": "com.example.demo.OrderActivity"},
    },
}


def test_a_notification_maps_every_field():
    push = push_of(message=FULL, options={"collapse_id": 77})

    prepared = channel.prepare(push, now=NOW + timedelta(minutes=10))

    assert prepared.body == {
        "pass_through": "0",
        "title": "Hello",
        "description": "World",
        "notify_type": "5",
        "notify_id": "77",
        "extra.notify_effect": "2",
        "payload": '{"order":"A-1","count":2,"xg_msgid":"4711"}',
        "extra.order": "A-1",
        "extra.count": "2",
        "extra.xg_msgid": "4711",
        "extra.channel_id": "orders",
        "time_to_live": str(3000 * 1000),
        "extra.callback.param": "4711",
        "extra.callback.type": "243",
    }
    assert prepared.options == {"activity": "com.example.demo.OrderActivity"}
    assert prepared.size == len(urllib.parse.urlencode(prepared.body).encode())


def test_the_activity_becomes_an_intent_uri_of_the_apps_package(xiaomi):
    send(config_of(), ["regid-a"], channel.prepare(push_of(message=FULL), now=NOW))

    [accepted] = xiaomi.accepted
    assert accepted.fields["extra.intent_uri"] == (
        f"intent:#Intent;component={PACKAGE}/com.example.demo.OrderActivity;end"
    )


@pytest.mark.parametrize(
    "action, fields",
    [
        (None, {"extra.notify_effect": "1"}),
        ({"action_type": 1}, {"extra.notify_effect": "1"}),
        (
            {"action_type": 2, "browser": {"url": "https://example.com/a"}},
            {"extra.notify_effect": "3", "extra.web_uri": "https://example.com/a"},
        ),
        (
            {"action_type": 3, "intent": "demo://detail?id=1"},
            {"extra.notify_effect": "2", "extra.intent_uri": "demo://detail?id=1"},
        ),
    ],
)
def test_the_click_becomes_the_notify_effect(action, fields):
    message = android(action=action) if action else android()

    body = channel.prepare(push_of(message=message), now=NOW).body

    clicked = {k: v for k, v in body.items() if k in ("extra.notify_effect", "extra.web_uri")}
    clicked |= {k: v for k, v in body.items() if k == "extra.intent_uri"}
    assert clicked == fields


def test_a_pass_through_message_carries_everything_in_its_payload():
    push = push_of(message=FULL, message_type="message", title="T", content="C")

    body = channel.prepare(push, now=NOW).body

    assert body["pass_through"] == "1"
    assert not {"title", "description", "notify_id", "extra.notify_effect"} & set(body)
    assert json.loads(body["payload"]) == {
        "order": "A-1",
        "count": 2,
        "title": "T",
        "content": "C",
        "xg_msgid": "4711",
    }


def test_a_customers_xg_msgid_never_replaces_the_push_id():
    push = push_of(message=android(custom_content=json.dumps({"xg_msgid": "forged"})))

    body = channel.prepare(push, now=NOW).body

    assert body["extra.xg_msgid"] == "4711"
    assert json.loads(body["payload"])["xg_msgid"] == "4711"


def test_the_ttl_is_what_is_left_in_milliseconds_and_real_time_is_sent_once():
    push = push_of(expire_time=86400, expires_at=NOW + timedelta(hours=2))
    assert channel.prepare(push, now=NOW + timedelta(seconds=30.5)).body["time_to_live"] == (
        "7170000"
    )
    real_time = channel.prepare(push_of(expire_time=0), now=NOW).body
    assert "time_to_live" not in real_time and real_time["extra.only_send_once"] == "1"


def test_without_a_collapse_id_each_push_has_its_own_notification_slot():
    first = channel.prepare(push_of(pk=1001), now=NOW).body["notify_id"]
    second = channel.prepare(push_of(pk=1002), now=NOW).body["notify_id"]

    assert first != second


def test_ring_vibrate_and_lights_make_the_notify_type():
    def notify_type(**android_fields):
        return channel.prepare(push_of(message=android(**android_fields)), now=NOW).body.get(
            "notify_type"
        )

    assert notify_type() == "-1"
    assert notify_type(ring=0) == "6"
    assert notify_type(ring=0, vibrate=0, lights=0) is None


# -- problem ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"title": "x" * 50}, "message.title", "at most 49"),
        ({"title": "  "}, "message.title", "not blank"),
        ({"content": "x" * 128}, "message.content", "at most 127"),
        ({"content": ""}, "message.content", "not blank"),
    ],
)
def test_what_xiaomi_cannot_show_is_a_problem(fields, field, words):
    push = push_of(**fields)

    found = channel.problem(push)

    assert found is not None and found[0] == field and words in found[1]
    with pytest.raises(ValueError):
        channel.prepare(push, now=NOW)


def test_the_limits_are_exactly_xiaomis():
    assert channel.problem(push_of(title="x" * 49, content="y" * 127)) is None
    assert channel.problem(push_of(message_type="message", title="", content="")) is None


def test_a_reserved_extra_key_is_a_problem():
    push = push_of(message=android(custom_content=json.dumps({"notify_effect": "3"})))

    assert channel.problem(push) == (
        "message.android.custom_content",
        'Xiaomi reserves the extra key "notify_effect" (its own display and callback fields)',
    )


def test_a_payload_over_4096_bytes_is_a_problem_sized_with_the_longest_id():
    base = len(
        channel.prepare(push_of(message=android(custom_content="{}")), now=NOW)
        .body["payload"]
        .encode()
    )
    pad = 4096 - base - len('"k":""') - 1  # the comma after the key
    content = json.dumps({"k": "x" * pad})
    saved = push_of(message=android(custom_content=content))
    unsaved = push_of(message=android(custom_content=content), pk=None)

    assert channel.problem(saved) is None
    assert channel.problem(unsaved)[0] == "message"
    assert "at most 4096" in channel.problem(unsaved)[1]


# -- credentials, category, describe ----------------------------------------------------------


def test_valid_credentials_give_the_config_with_the_default_region():
    config, errors = channel.check_credentials(
        {"package_name": " com.example.demo ", "region": "", "app_secret": f" {SECRET} "}
    )

    assert errors == {}
    assert config == {"package_name": PACKAGE, "region": "china", "app_secret": SECRET}
    assert [f.name for f in channel.FIELDS] == ["package_name", "region", "app_secret"]
    assert [f.name for f in channel.FIELDS if f.secret] == ["app_secret"]


def test_bad_credentials_name_every_bad_field():
    config, errors = channel.check_credentials(
        {"package_name": "not a package", "region": "mars", "app_secret": "has space inside"}
    )

    assert config == {}
    assert set(errors) == {"package_name", "region", "app_secret"}
    _, errors = channel.check_credentials({"package_name": "", "region": "", "app_secret": ""})
    assert set(errors) == {"package_name", "app_secret"}
    assert all("required" in text for text in errors.values())


def test_a_channel_id_makes_a_private_message_and_none_a_capped_public_one():
    private = channel.category(push_of(message=android(xm_ch_id="im", n_ch_id="d")))
    by_n = channel.category(push_of(message=android(n_ch_id="d")))
    public = channel.category(push_of())

    assert (private.capped, "xm_ch_id" in private.note) == (False, True)
    assert (by_n.capped, "n_ch_id" in by_n.note) == (False, True)
    assert public.capped is True and "Public" in public.name
    assert channel.hold_until(push_of(), now=NOW) is None


def test_the_module_names_itself_as_the_contract_wants():
    assert channel.KIND == ChannelKind.XIAOMI
    assert channel.TPNS_NAME == "xm"
    assert channel.MAX_TOKENS == 1000
    assert channel.RECEIPTS == "per_message"


def test_describe_says_what_happens_next():
    assert channel.describe(Answer(Result.ACCEPTED, message_id="scm1")) == (
        "Accepted by Xiaomi (scm1)"
    )
    pruned = channel.describe(Answer(Result.REFUSED, reason="bad_regid", prune=True))
    assert "does not know this regid" in pruned and pruned.endswith("the token is pruned")
    later = channel.describe(Answer(Result.RETRY, reason="10027", retry_after=3))
    assert "QPS" in later and later.endswith("(after 3 s, as Xiaomi asked)")
    assert "not sent again" in channel.describe(Answer(Result.LOST, reason="timeout"))
    assert "HTTP 418" in channel.describe(Answer(Result.REFUSED, reason="HTTP 418", status=418))


# -- receipts -----------------------------------------------------------------------------------


def parse(body, headers, config=None):
    return channel.parse_receipts(
        body, content_type=headers["content-type"], headers=headers, config=config or {}
    )


def test_a_receipt_as_xiaomi_posts_it_names_each_regid(xiaomi):
    send(config_of(), ["regid-1", "regid-2"])
    at = datetime(2026, 12, 1, 8, 0, 5, tzinfo=UTC)

    body, headers = xiaomi.receipt(
        [("regid-1", "4711", 1), ("regid-2", "4711", 1)], timestamp=int(at.timestamp() * 1000)
    )
    receipts = parse(body, headers)

    assert receipts == [
        Receipt("regid-1", "4711", ReceiptKind.ARRIVED, at, "1"),
        Receipt("regid-2", "4711", ReceiptKind.ARRIVED, at, "1"),
    ]
    assert json.loads(urllib.parse.parse_qs(body.decode())["data"][0]) == {
        xiaomi.accepted[0].message_id: {
            "param": "4711",
            "type": 1,
            "targets": "regid-1,regid-2",
            "jobkey": "",
            "barStatus": "Enable",
            "timestamp": int(at.timestamp() * 1000),
        }
    }


@pytest.mark.parametrize(
    "status, kind",
    [
        (1, ReceiptKind.ARRIVED),
        (2, ReceiptKind.CLICKED),
        (16, ReceiptKind.INVALID_TOKEN),
        (32, ReceiptKind.NOT_SHOWN),
        (64, ReceiptKind.NOT_SHOWN),
        (128, ReceiptKind.NOT_SHOWN),
        (1024, ReceiptKind.NOT_SHOWN),
        (4, ReceiptKind.OTHER),
    ],
)
def test_each_receipt_type_has_its_kind(xiaomi, status, kind):
    body, headers = xiaomi.receipt([("regid-1", "4711", status)])

    [receipt] = parse(body, headers)

    assert (receipt.kind, receipt.status) == (kind, str(status))


def test_a_json_body_is_read_as_well():
    body = json.dumps({"m1": {"param": "12", "type": 2, "targets": "r1", "timestamp": 0}})

    [receipt] = parse(body.encode(), {"content-type": "application/json"})

    assert receipt == Receipt("r1", "12", ReceiptKind.CLICKED, None, "2")


def test_entries_without_one_of_our_push_ids_are_skipped():
    data = {
        "m1": {"param": "someone-else", "type": 1, "targets": "r1"},
        "m2": {"type": 1, "targets": "r2"},
        "m3": {"param": "99", "type": 1, "targets": "r3"},
    }
    body = urllib.parse.urlencode({"data": json.dumps(data)}).encode()

    receipts = parse(body, {"content-type": "application/x-www-form-urlencoded"})

    assert [(r.token, r.push_id) for r in receipts] == [("r3", "99")]


@pytest.mark.parametrize(
    "body",
    [
        b"nothing=here",
        b"data=not+json",
        urllib.parse.urlencode({"data": "[1, 2]"}).encode(),
        urllib.parse.urlencode({"data": json.dumps({"m": "x"})}).encode(),
        urllib.parse.urlencode({"data": json.dumps({"m": {"param": "1", "type": 1}})}).encode(),
        urllib.parse.urlencode(
            {"data": json.dumps({"m": {"param": "1", "type": "x", "targets": "r"}})}
        ).encode(),
        b"\xff\xfe",
    ],
)
def test_a_malformed_receipt_is_refused(body):
    with pytest.raises(ReceiptError) as raised:
        parse(body, {"content-type": "application/x-www-form-urlencoded"})

    assert raised.value.forbidden is False


def test_the_receipt_reply_is_a_plain_200():
    assert channel.receipt_reply(3) == (200, "text/plain; charset=utf-8", b"ok")
