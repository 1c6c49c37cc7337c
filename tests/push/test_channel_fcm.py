"""The FCM channel (push.channels.fcm): its message mapping, credentials check and answers, and
its real client (google-auth + httpx over HTTP/2) against the loopback FCM (tests.fakes.fcm)."""

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from push.channels import apns
from push.channels import fcm as channel
from push.channels.base import Answer, Prepared, Result
from push.models import Application, Push
from tests.fakes.fcm import SCOPE, FakeFcm

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PROJECT = "demo-push"


@pytest.fixture(scope="module")
def fake():
    with FakeFcm(project_id=PROJECT) as fcm:
        fcm.service_account()  # the RSA key, made once
        yield fcm


@pytest.fixture
def fcm(fake, settings):
    fake.reset()
    fake.expires_in, fake.delay = 3600, 0.0
    settings.PUSH_FCM_URL = fake.url
    settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
    settings.PUSH_CHANNEL_TIMEOUT = 5
    return fake


def config_of(fcm, **changes) -> dict:
    return {"service_account": fcm.service_account(), "project_id": PROJECT} | changes


class Clock:
    """The client's clock (seconds, like time.monotonic), moved by the test."""

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


def push_of(platform="android", *, message=None, message_type="notify", **fields) -> Push:
    """An unsaved push as the TPNS parser leaves it (``Push.message`` is the message object)."""
    push = Push(
        pk=fields.pop("pk", 4711),
        application=Application(platform=platform, name="Demo"),
        message_type=message_type,
        title=fields.pop("title", "Hello"),
        content=fields.pop("content", "World"),
        message=message if message is not None else {"title": "Hello", "content": "World"},
        expire_time=fields.pop("expire_time", 3600),
        expires_at=fields.pop("expires_at", NOW + timedelta(hours=1)),
        created_at=fields.pop("created_at", NOW),
        **fields,
    )
    return push


def plain() -> Prepared:
    return channel.prepare(push_of(), now=NOW)


def raw(message: dict) -> Prepared:
    """A message of our choosing, past prepare's own checks (what FCM refuses)."""
    return Prepared(body=message, options={}, size=len(json.dumps(message)))


# -- the client against the fake ---------------------------------------------------------------


def test_it_sends_over_http2_with_a_token_granted_for_its_signed_assertion(fcm):
    prepared = plain()
    [answer] = send(config_of(fcm), ["tok-a"], prepared)

    assert answer.result == Result.ACCEPTED and answer.status == 200
    assert answer.message_id.startswith(f"projects/{PROJECT}/messages/")
    [grant] = fcm.grants
    account = fcm.service_account()
    assert grant.claims["iss"] == account["client_email"]
    assert grant.claims["scope"] == SCOPE
    assert grant.claims["exp"] - grant.claims["iat"] == 3600
    [request] = fcm.received
    assert request.protocol == "HTTP/2"
    assert request.headers["authorization"] == f"Bearer {grant.access_token}"
    assert request.message == {"token": "tok-a", **prepared.body}
    assert request.status == 200


def test_answers_come_in_the_order_of_the_tokens(fcm):
    fcm.answer("tok-gone", "UNREGISTERED")
    answers = send(config_of(fcm), ["tok-1", "tok-gone", "tok-2"])

    assert [a.result for a in answers] == [Result.ACCEPTED, Result.REFUSED, Result.ACCEPTED]
    assert len({a.message_id for a in answers}) == 3


def test_one_access_token_serves_many_concurrent_sends(fcm):
    async def go():
        async with opened(config_of(fcm)) as client:
            return [await client.send(plain(), [f"t{i}" for i in range(60)]) for _ in range(3)]

    batches = asyncio.run(go())

    assert all(a.result == Result.ACCEPTED for answers in batches for a in answers)
    assert fcm.token_requests == 1 and fcm.tokens_issued == 1
    assert len(fcm.received) == 180


def test_the_access_token_is_replaced_shortly_before_it_expires(fcm):
    clock = Clock()
    start = clock.now
    due = start + 3600 - channel.REFRESH_MARGIN

    async def go():
        async with opened(config_of(fcm), clock=clock) as client:
            await client.send(plain(), ["a"])
            clock.now = due - 1
            await client.send(plain(), ["b"])
            issued_before = fcm.tokens_issued
            clock.now = due + 1
            await client.send(plain(), ["c", "d"])
            return issued_before

    assert asyncio.run(go()) == 1
    assert fcm.tokens_issued == 2
    first, second = (f"Bearer {g.access_token}" for g in fcm.grants)
    assert [r.headers["authorization"] for r in fcm.received] == [first, first, second, second]


def test_a_short_lived_token_is_kept_for_half_its_life(fcm):
    fcm.expires_in = 60  # shorter than the margin: replaced after 30 s, not at every send
    clock = Clock()

    async def go():
        async with opened(config_of(fcm), clock=clock) as client:
            await client.send(plain(), ["a", "b"])
            clock.now += 29
            await client.send(plain(), ["c"])
            assert fcm.tokens_issued == 1
            clock.now += 2
            await client.send(plain(), ["d"])

    asyncio.run(go())
    assert fcm.tokens_issued == 2


def test_a_refused_access_token_is_replaced_once_and_each_message_sent_again(fcm):
    async def go():
        async with opened(config_of(fcm)) as client:
            await client.send(plain(), ["warm"])
            fcm.expire_tokens()  # Google revoked it early
            return await client.send(plain(), [f"t{i}" for i in range(20)])

    answers = asyncio.run(go())

    assert all(a.result == Result.ACCEPTED for a in answers)
    assert fcm.tokens_issued == 2
    statuses = [r.status for r in fcm.received[1:]]
    assert sorted(statuses) == [200] * 20 + [401] * 20


def test_a_token_still_refused_after_a_new_one_is_tried_again_later(fcm):
    fcm.expires_in = 0  # every token the fake grants is expired at once

    [answer] = send(config_of(fcm), ["tok"])

    assert answer.result == Result.RETRY and answer.reason == "UNAUTHENTICATED"
    assert fcm.tokens_issued == 2


def test_unregistered_is_refused_and_pruned(fcm):
    fcm.answer("tok-gone", "UNREGISTERED")

    [answer] = send(config_of(fcm), ["tok-gone"])

    assert answer == Answer(Result.REFUSED, reason="UNREGISTERED", status=404, prune=True)


def test_an_invalid_argument_about_the_token_prunes_it(fcm):
    fcm.answer("tok-bad", "INVALID_ARGUMENT")  # with fieldViolations: message.token

    answers = send(config_of(fcm), ["tok-bad", "not a token!"])

    # FCM's answer to a malformed token names it in its message only.
    assert [r.message for r in fcm.received if r.status == 400]
    assert [(a.result, a.reason, a.status, a.prune) for a in answers] == [
        (Result.REFUSED, "INVALID_ARGUMENT", 400, True)
    ] * 2


@pytest.mark.parametrize(
    "message",
    [
        {"data": {"from": "a reserved key"}},
        {"data": {"count": 3}},
        {"android": {"ttl": "one hour"}},
        {"android": {"priority": "URGENT"}},
        {"notification": {"title": "t", "subtitle": "not a field"}},
        {"data": {"blob": "x" * 4100}},
    ],
)
def test_an_invalid_argument_about_the_message_keeps_the_token(fcm, message):
    [answer] = send(config_of(fcm), ["tok"], raw(message))

    assert (answer.result, answer.reason, answer.status) == (
        Result.REFUSED,
        "INVALID_ARGUMENT",
        400,
    )
    assert answer.prune is False


@pytest.mark.parametrize(
    "code, status", [("SENDER_ID_MISMATCH", 403), ("THIRD_PARTY_AUTH_ERROR", 401)]
)
def test_credential_troubles_are_refused_without_pruning(fcm, code, status):
    fcm.answer("tok", code)

    [answer] = send(config_of(fcm), ["tok"])

    assert answer == Answer(Result.REFUSED, reason=code, status=status, prune=False)
    assert fcm.tokens_issued == 1  # a third party's auth error is not about our token


def test_a_project_the_account_may_not_send_for_is_refused(fcm):
    [answer] = send(config_of(fcm, project_id="someone-elses"), ["tok"])

    assert answer == Answer(Result.REFUSED, reason="PERMISSION_DENIED", status=403)


@pytest.mark.parametrize(
    "code, status, retry_after, expected",
    [
        ("QUOTA_EXCEEDED", 429, 7, 7.0),
        ("UNAVAILABLE", 503, "30", 30.0),
        ("UNAVAILABLE", 503, None, None),
        ("INTERNAL", 500, None, None),
    ],
)
def test_passing_troubles_are_tried_again_when_fcm_says(fcm, code, status, retry_after, expected):
    fcm.fail_next(2, code, retry_after=retry_after)

    answers = send(config_of(fcm), ["a", "b", "c"])

    assert sorted(a.result for a in answers) == [Result.ACCEPTED, Result.RETRY, Result.RETRY]
    retried = [a for a in answers if a.result == Result.RETRY]
    assert {(a.reason, a.status, a.retry_after) for a in retried} == {(code, status, expected)}


def test_a_retry_after_date_becomes_seconds(fcm):
    later = datetime.now(UTC) + timedelta(seconds=120)
    fcm.fail_next(1, "UNAVAILABLE", retry_after=format_datetime(later, usegmt=True))

    [answer] = send(config_of(fcm), ["a"])

    assert answer.result == Result.RETRY
    assert 60 < answer.retry_after <= 120


def test_retry_after_seconds_reads_both_forms():
    assert channel.retry_after_seconds("7", now=NOW) == 7.0
    assert channel.retry_after_seconds("Tue, 01 Dec 2026 08:02:00 GMT", now=NOW) == 120.0
    assert channel.retry_after_seconds("Tue, 01 Dec 2026 07:00:00 GMT", now=NOW) == 0.0
    assert channel.retry_after_seconds("1e9", now=NOW) == 86400.0
    assert channel.retry_after_seconds("inf", now=NOW) is None
    assert channel.retry_after_seconds("soon", now=NOW) is None
    assert channel.retry_after_seconds(None, now=NOW) is None


def test_no_answer_in_time_is_lost_not_retried(fcm, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 0.3
    fcm.delay = 2.0

    [answer] = send(config_of(fcm), ["slow"])

    assert answer.result == Result.LOST and answer.reason == "timeout"
    assert fcm.received  # it did reach FCM: sending it again could show it twice


def test_an_unreachable_fcm_is_tried_again(settings):
    with FakeFcm(project_id=PROJECT) as gone:
        settings.PUSH_FCM_URL = gone.url
        settings.PUSH_CHANNEL_CA_FILE = gone.ca_file
        config = config_of(gone)

        async def go():
            async with opened(config) as client:
                first = await client.send(plain(), ["a"])
                gone.stop()
                return first + await client.send(plain(), ["b", "c"])

        answers = asyncio.run(go())

    assert answers[0].result == Result.ACCEPTED
    assert [(a.result, a.reason) for a in answers[1:]] == [(Result.RETRY, "connection")] * 2


def test_it_trusts_only_the_system_cas_without_the_ca_file(fcm, settings):
    settings.PUSH_CHANNEL_CA_FILE = ""

    answers = send(config_of(fcm), ["a", "b"])

    assert [(a.result, a.reason) for a in answers] == [(Result.RETRY, "token_unavailable")] * 2
    assert fcm.token_requests == 0  # the TLS handshake failed: nothing was posted


def test_a_refused_key_refuses_the_batch_after_one_token_request(fcm):
    fcm.refuse_grants("invalid_grant", "Invalid JWT Signature.")

    answers = send(config_of(fcm), [f"t{i}" for i in range(30)])

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "invalid_grant")}
    assert fcm.token_requests == 1
    assert not fcm.received


def test_credentials_that_no_longer_pass_refuse_every_send_without_a_request(fcm, settings):
    config = config_of(fcm)
    settings.PUSH_FCM_URL = "https://fcm.googleapis.com"  # the key file's token_uri is the fake's

    answers = send(config, ["a", "b"])

    assert answers == [Answer(Result.REFUSED, reason="token_uri_refused")] * 2
    assert fcm.token_requests == 0
    assert "upload the key file again" in channel.describe(answers[0])


def test_the_fake_verifies_the_assertion_with_the_accounts_public_key(fcm):
    other = fcm.service_account(fresh=True)
    forged = fcm.service_account() | {"private_key": other["private_key"]}

    [answer] = send(config_of(fcm) | {"service_account": forged}, ["a"])

    assert (answer.result, answer.reason) == (Result.REFUSED, "invalid_grant")
    assert fcm.token_requests == 1 and fcm.tokens_issued == 0


def test_every_prepared_message_is_one_the_fake_accepts(fcm):
    pushes = [
        push_of(message=FULL_ANDROID),
        push_of(message=FULL_ANDROID, message_type="message"),
        push_of("ios", message=FULL_IOS),
        push_of("ios", message=FULL_IOS, message_type="message"),
        push_of(message=FULL_ANDROID, expire_time=0, options={"collapse_id": 5}),
    ]
    for push in pushes:
        [answer] = send(config_of(fcm), ["tok"], channel.prepare(push, now=NOW))
        assert answer.result == Result.ACCEPTED, fcm.received[-1]


# -- prepare ------------------------------------------------------------------------------------

FULL_ANDROID = {
    "title": "Hello",
    "content": "World",
    "xg_media_resources": "https://example.com/a.png",
    "android": {
        "n_ch_id": "default",
        "fcm_ch_id": "news",
        "badge_type": 3,
        "ring": 1,
        "ring_raw": "chime",
        "small_icon": "ic_push",
        "custom_content": json.dumps({"order": "A-1", "count": 2, "tags": ["x"], "none": None}),
        "action": {"action_type": 1, "activity": "com.example.OPEN_ORDER"},
    },
}
FULL_IOS = {
    "title": "Hello",
    "content": "World",
    "thread_id": "orders",
    "ios": {
        "aps": {
            "alert": {"subtitle": "Sub"},
            "badge_type": 5,
            "sound": "ping.aiff",
            "category": "ORDER",
            "mutable-content": 1,
        },
        "custom_content": json.dumps({"order": "A-1", "count": 2}),
    },
}


def test_an_android_notification_maps_every_field():
    push = push_of(message=FULL_ANDROID, options={"collapse_id": 77})

    prepared = channel.prepare(push, now=NOW + timedelta(minutes=10))

    assert prepared.body == {
        "notification": {"title": "Hello", "body": "World", "image": "https://example.com/a.png"},
        "data": {
            "order": "A-1",
            "count": "2",
            "tags": '["x"]',
            "none": "null",
            "xg_msgid": "4711",
        },
        "android": {
            "priority": "HIGH",
            "ttl": "3000s",
            "collapse_key": "77",
            "notification": {
                "channel_id": "news",
                "sound": "chime",
                "icon": "ic_push",
                "notification_count": 3,
                "click_action": "com.example.OPEN_ORDER",
                "tag": "77",  # collapse_id: a later push reusing it replaces this one
            },
        },
    }
    assert prepared.size == len(
        json.dumps(prepared.body, ensure_ascii=False, separators=(",", ":")).encode()
    )


def test_an_android_notification_falls_back_and_leaves_out_what_fcm_cannot_do():
    android = {"n_ch_id": "default", "ring": 0, "badge_type": -2}
    push = push_of(message={"title": "t", "content": "c", "android": android})

    notification = channel.prepare(push, now=NOW).body["android"]["notification"]

    assert notification == {"channel_id": "default"}
    default = push_of(message={"title": "t", "content": "c", "android": {"badge_type": -1}})
    assert channel.prepare(default, now=NOW).body["android"]["notification"] == {"sound": "default"}


@pytest.mark.parametrize(
    "action, click_action, data",
    [
        ({"action_type": 1}, None, {}),
        (
            {"action_type": 2, "browser": {"url": "https://example.com/x"}},
            None,
            {"url": "https://example.com/x"},
        ),
        (
            {"action_type": 3, "intent": "xgscheme://com.xg.push/detail?id=1"},
            None,
            {"intent": "xgscheme://com.xg.push/detail?id=1"},
        ),
        ({"action_type": 3, "intent": "com.example.SHOW_DETAIL"}, "com.example.SHOW_DETAIL", {}),
    ],
)
def test_the_click_goes_where_fcm_can_take_it(action, click_action, data):
    push = push_of(message={"title": "t", "content": "c", "android": {"action": action}})

    body = channel.prepare(push, now=NOW).body

    assert body["android"]["notification"].get("click_action") == click_action
    assert body["data"] == data | {"xg_msgid": "4711"}


def test_an_android_pass_through_message_is_data_only_and_normal_priority():
    push = push_of(message=FULL_ANDROID, message_type="message", title="T", content="C")

    body = channel.prepare(push, now=NOW).body

    assert set(body) == {"data", "android"}
    assert body["data"]["title"] == "T" and body["data"]["content"] == "C"
    assert body["data"]["xg_msgid"] == "4711" and body["data"]["order"] == "A-1"
    assert body["android"] == {"priority": "NORMAL", "ttl": "3600s"}


def test_a_customers_xg_msgid_never_replaces_the_push_id():
    android = {"custom_content": json.dumps({"xg_msgid": "forged"})}
    push = push_of(message={"title": "t", "content": "c", "android": android})

    assert channel.prepare(push, now=NOW).body["data"]["xg_msgid"] == "4711"


def test_the_ttl_is_what_is_left_of_the_push_and_zero_for_real_time_only():
    push = push_of(expire_time=86400, expires_at=NOW + timedelta(hours=2))
    assert channel.prepare(push, now=NOW + timedelta(seconds=30.5)).body["android"]["ttl"] == (
        "7170s"
    )
    assert channel.prepare(push, now=NOW + timedelta(hours=3)).body["android"]["ttl"] == "0s"
    real_time = push_of(expire_time=0, expires_at=NOW + timedelta(seconds=60))
    assert channel.prepare(real_time, now=NOW).body["android"]["ttl"] == "0s"


@pytest.mark.parametrize("message_type", ["notify", "message"])
def test_an_ios_app_gets_what_the_apns_channel_sends(message_type):
    push = push_of("ios", message=FULL_IOS, message_type=message_type, options={"collapse_id": 9})

    body = channel.prepare(push, now=NOW).body

    assert body == {
        "apns": {
            "headers": apns.prepare(push, now=NOW).options,
            "payload": apns.payload(push, push_id="4711"),
        }
    }


def test_an_ios_notification_carries_the_tpns_aps_fields():
    push = push_of("ios", message=FULL_IOS, options={"collapse_id": 9}, expire_time=0)

    apns_block = channel.prepare(push, now=NOW).body["apns"]

    assert apns_block["headers"] == {
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": "0",
        "apns-collapse-id": "9",
    }
    assert apns_block["payload"] == {
        "order": "A-1",
        "count": 2,
        "aps": {
            "alert": {"title": "Hello", "body": "World", "subtitle": "Sub"},
            "badge": 5,
            "sound": "ping.aiff",
            "category": "ORDER",
            "mutable-content": 1,
            "thread-id": "orders",
        },
        "xg": {"msgid": "4711"},
    }
    silent = push_of("ios", message=FULL_IOS, message_type="message")
    silent_block = channel.prepare(silent, now=NOW).body["apns"]
    assert silent_block["payload"]["aps"] == {"content-available": 1}
    assert silent_block["headers"]["apns-priority"] == "5"
    assert silent_block["headers"]["apns-expiration"] == str(
        int((NOW + timedelta(hours=1)).timestamp())
    )


# -- problem ------------------------------------------------------------------------------------


def big_push(content_bytes: int, **fields) -> Push:
    return push_of(content="é" * (content_bytes // 2), **fields)


def test_a_message_over_4096_bytes_is_a_problem_and_cannot_be_prepared():
    fits, too_big = big_push(3800), big_push(4100)

    assert channel.problem(fits) is None
    field, text = channel.problem(too_big)
    assert field == "message"
    assert "FCM carries at most 4096" in text and "would be 4" in text
    with pytest.raises(ValueError, match="at most 4096"):
        channel.prepare(too_big, now=NOW)


def test_the_size_of_an_unsaved_push_is_counted_with_the_longest_id():
    # Fits with a four-digit id, not with a nineteen-digit one.
    base = channel.prepare(push_of(content=""), now=NOW).size
    push = push_of(content="x" * (4096 - base - 2), pk=None)
    saved = push_of(content="x" * (4096 - base - 2))

    assert channel.prepare(saved, now=NOW).size <= 4096
    assert channel.problem(saved) is None
    assert channel.problem(push) is not None


def test_a_reserved_data_key_is_a_problem():
    android = {"custom_content": json.dumps({"google.sent_time": 1})}
    push = push_of(message={"title": "t", "content": "c", "android": android})

    assert channel.problem(push) == (
        "message.android.custom_content",
        'FCM reserves the data key "google.sent_time" (from, message_type, notification and '
        "keys starting with google or gcm)",
    )


# -- credentials --------------------------------------------------------------------------------


def test_valid_credentials_give_the_config(fcm):
    account = fcm.service_account()

    config, errors = channel.check_credentials({"service_account": json.dumps(account)})

    assert errors == {}
    assert config == {"service_account": account, "project_id": PROJECT}
    config, _ = channel.check_credentials(
        {"service_account": json.dumps(account), "project_id": "other-project"}
    )
    assert config["project_id"] == "other-project"
    config, errors = channel.check_credentials({"service_account": account})
    assert (config["service_account"], errors) == (account, {})  # the API's JSON object


def ec_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda a: "", "service_account", "required"),
        (lambda a: "{not json", "service_account", "is not JSON"),
        (lambda a: "[1, 2]", "service_account", "JSON object"),
        (lambda a: a | {"type": "authorized_user"}, "service_account", "service-account key"),
        (lambda a: a | {"client_email": ""}, "service_account", "no client_email"),
        (
            lambda a: {k: v for k, v in a.items() if k not in ("private_key", "token_uri")},
            "service_account",
            "no private_key, token_uri",
        ),
        (lambda a: a | {"private_key": "-----BEGIN"}, "service_account", "not an unencrypted PEM"),
        (lambda a: a | {"private_key": ec_key()}, "service_account", "not an RSA key"),
        (
            lambda a: a | {"token_uri": "https://169.254.169.254/token"},
            "service_account",
            "token_uri must be Google's",
        ),
        (
            lambda a: a | {"universe_domain": "example.com"},
            "service_account",
            "universe_domain",
        ),
        (lambda a: a | {"project_id": ""}, "project_id", "required"),
        (lambda a: a | {"project_id": "Bad/Project"}, "project_id", "Firebase project ID"),
    ],
)
def test_bad_credentials_name_the_field(fcm, change, field, words):
    account = change(fcm.service_account())
    text = account if isinstance(account, str) else json.dumps(account)

    config, errors = channel.check_credentials({"service_account": text})

    assert config == {}
    assert list(errors) == [field]
    assert words in errors[field]


def test_googles_token_uri_is_taken_whatever_the_fcm_url(fcm, settings):
    settings.PUSH_FCM_URL = "https://fcm.googleapis.com"
    account = fcm.service_account() | {"token_uri": "https://oauth2.googleapis.com/token"}

    _, errors = channel.check_credentials({"service_account": json.dumps(account)})

    assert errors == {}
    _, errors = channel.check_credentials({"service_account": json.dumps(fcm.service_account())})
    assert "token_uri" in errors["service_account"]


# -- describe -----------------------------------------------------------------------------------

FCM_ERROR_CODES = (
    "UNSPECIFIED_ERROR",
    "INVALID_ARGUMENT",
    "UNREGISTERED",
    "SENDER_ID_MISMATCH",
    "QUOTA_EXCEEDED",
    "UNAVAILABLE",
    "INTERNAL",
    "THIRD_PARTY_AUTH_ERROR",
)


@pytest.mark.parametrize("code", FCM_ERROR_CODES)
def test_every_fcm_error_code_is_described_in_words(code):
    text = channel.describe(Answer(Result.REFUSED, reason=code, status=400))

    assert text.startswith(f"Refused: {code} — ")
    assert "unknown" not in text and "HTTP" not in text


def test_describe_says_what_happens_next():
    assert channel.describe(Answer(Result.ACCEPTED, message_id="projects/p/messages/1")) == (
        "Accepted by FCM (projects/p/messages/1)"
    )
    pruned = channel.describe(
        Answer(Result.REFUSED, reason="INVALID_ARGUMENT", status=400, prune=True)
    )
    assert "not a valid FCM token" in pruned and pruned.endswith("the token is pruned")
    later = channel.describe(
        Answer(Result.RETRY, reason="QUOTA_EXCEEDED", status=429, retry_after=7)
    )
    assert later.endswith("it will be tried again (after 7 s, as FCM asked)")
    lost = channel.describe(Answer(Result.LOST, reason="timeout"))
    assert "did not answer in time" in lost and "not sent again" in lost
    odd = channel.describe(Answer(Result.REFUSED, reason="HTTP 418", status=418))
    assert "FCM answered HTTP 418" in odd
