"""The APNs channel: the real aioapns client (amended by ``push.channels.apns``) against the
loopback fake APNs, which checks each request as Apple documents; and the payload mapping,
size check, credentials check and answers in words. No database: pushes are built unsaved."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push.channels import apns
from push.channels.base import Answer, Prepared, Result
from push.models import Push
from tests.fakes.apns import FakeApns, apns_key
from tests.fakes.tls import loopback_ca

TEAM = "TEAM123456"
TOPIC = "com.example.app"
KEY, KEY_ID = apns_key()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TOKEN = "ab" * 32


def token(i: int) -> str:
    return f"{i:064x}"


def config(**changes) -> dict:
    values = {
        "key": KEY,
        "key_id": KEY_ID,
        "team_id": TEAM,
        "topic": TOPIC,
        "environment": "production",
    }
    return values | changes


def make_push(**fields) -> Push:
    values = {
        "id": 42,
        "message_type": Push.MessageType.NOTIFY,
        "title": "Hello",
        "content": "World",
        "message": {},
        "expire_time": 3600,
        "expires_at": NOW + timedelta(hours=1),
        "options": {},
    }
    return Push(**(values | fields))


def body(prepared: Prepared) -> dict:
    return json.loads(prepared.body)


@pytest.fixture
def fake(settings):
    with FakeApns(keys={KEY_ID: KEY}, team_id=TEAM, topics=[TOPIC]) as fake:
        settings.PUSH_APNS_PRODUCTION_URL = fake.url
        settings.PUSH_APNS_SANDBOX_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file
        yield fake


def send(
    prepared: Prepared,
    tokens: list[str],
    *,
    client_config: dict | None = None,
    environment: str = "production",
    clock=time.time,
) -> list[Answer]:
    async def run() -> list[Answer]:
        client = apns.client(client_config or config(), environment=environment, clock=clock)
        try:
            return await client.send(prepared, tokens)
        finally:
            await client.aclose()

    return asyncio.run(run())


def dead_url() -> str:
    """An https URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}"


# -- sending -----------------------------------------------------------------------------------


def test_an_accepted_notification_reaches_apns_as_apple_requires(fake):
    prepared = apns.prepare(make_push(), now=NOW)
    before = int(time.time())

    [answer] = send(prepared, [TOKEN])

    [seen] = fake.received
    assert answer == Answer(Result.ACCEPTED, message_id=seen.apns_id, status=200)
    assert seen.status == 200 and seen.token == TOKEN
    assert seen.headers[":method"] == "POST"
    assert seen.headers[":path"] == f"/3/device/{TOKEN}"
    assert seen.headers["apns-topic"] == TOPIC
    assert seen.headers["apns-push-type"] == "alert"
    assert seen.headers["apns-priority"] == "10"
    assert seen.headers["apns-expiration"] == str(int((NOW + timedelta(hours=1)).timestamp()))
    assert seen.jwt_header == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    assert seen.jwt_claims["iss"] == TEAM
    assert before <= seen.jwt_claims["iat"] <= time.time()
    assert seen.payload == body(prepared)
    assert seen.payload["xg"] == {"msgid": "42"}
    assert fake.accepted == 1


def test_answers_come_back_one_per_token_in_order_and_one_bad_token_disturbs_none(fake):
    fake.answer(token(2), 410, "Unregistered", timestamp=1_700_000_000_000)
    tokens = [token(1), token(2), "not-a-token", token(3)]

    answers = send(apns.prepare(make_push(), now=NOW), tokens)

    assert [a.result for a in answers] == [
        Result.ACCEPTED,
        Result.REFUSED,
        Result.REFUSED,
        Result.ACCEPTED,
    ]
    assert [a.reason for a in answers] == ["", "Unregistered", "BadDeviceToken", ""]
    assert len({a.message_id for a in answers if a.message_id}) == 2


def test_an_unregistered_token_is_pruned_with_the_time_apple_knew_it_invalid(fake):
    fake.answer(TOKEN, 410, "Unregistered", timestamp=1_764_576_000_123)

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert answer == Answer(
        Result.REFUSED,
        reason="Unregistered",
        status=410,
        prune=True,
        token_invalid_since=datetime(2025, 12, 1, 8, 0, 0, 123000, tzinfo=UTC),
    )
    assert apns.describe(answer) == (
        "Refused: Unregistered — the app was removed from the device or notifications were "
        "turned off for good; the token is pruned (Apple has known it invalid since "
        "2025-12-01 08:00:00 UTC)"
    )


def test_a_token_that_is_not_hex_is_refused_by_apns_and_pruned(fake):
    [answer] = send(apns.prepare(make_push(), now=NOW), ["zz" * 32])

    assert (answer.result, answer.reason, answer.status, answer.prune) == (
        Result.REFUSED,
        "BadDeviceToken",
        400,
        True,
    )


@pytest.mark.parametrize(
    ("status", "reason", "result", "prune"),
    [
        (410, "Unregistered", Result.REFUSED, True),
        (410, "ExpiredToken", Result.REFUSED, True),
        (400, "BadDeviceToken", Result.REFUSED, True),
        (400, "DeviceTokenNotForTopic", Result.REFUSED, True),
        (400, "TopicDisallowed", Result.REFUSED, False),
        (403, "Forbidden", Result.REFUSED, False),
        (403, "InvalidProviderToken", Result.REFUSED, False),
        (413, "PayloadTooLarge", Result.REFUSED, False),
        (400, "IdleTimeout", Result.RETRY, False),
        (429, "TooManyRequests", Result.RETRY, False),
        (429, "TooManyProviderTokenUpdates", Result.RETRY, False),
        (500, "InternalServerError", Result.RETRY, False),
        (503, "ServiceUnavailable", Result.RETRY, False),
        (503, "Shutdown", Result.RETRY, False),
    ],
)
def test_each_apns_answer_is_classified(fake, status, reason, result, prune):
    fake.answer(TOKEN, status, reason)

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert (answer.result, answer.reason, answer.status, answer.prune) == (
        result,
        reason,
        status,
        prune,
    )
    assert answer.message_id == ""


def test_retry_after_is_taken_from_apns_when_it_says(fake):
    fake.fail_next(1, 503, "ServiceUnavailable", retry_after=120)
    fake.fail_next(1, 429, "TooManyRequests")

    [first] = send(apns.prepare(make_push(), now=NOW), [TOKEN])
    [second] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert (first.result, first.reason, first.retry_after) == (
        Result.RETRY,
        "ServiceUnavailable",
        120.0,
    )
    assert (second.result, second.reason, second.retry_after) == (
        Result.RETRY,
        "TooManyRequests",
        None,
    )
    assert apns.describe(first) == (
        "Not sent yet: ServiceUnavailable — APNs is unavailable; it will be tried again "
        "(after 120 s, as APNs asked)"
    )


def test_the_next_failures_hit_only_as_many_requests_as_scripted(fake):
    fake.fail_next(3, 429, "TooManyRequests")

    answers = send(apns.prepare(make_push(), now=NOW), [token(i) for i in range(5)])

    assert sorted(a.result for a in answers) == sorted([Result.RETRY] * 3 + [Result.ACCEPTED] * 2)


def test_a_key_apns_does_not_know_is_refused_as_an_invalid_provider_token(fake):
    other_key, _ = apns_key()

    [answer] = send(
        apns.prepare(make_push(), now=NOW), [TOKEN], client_config=config(key=other_key)
    )

    assert answer == Answer(Result.REFUSED, reason="InvalidProviderToken", status=403)
    assert "check the key, its key id and the team id" in apns.describe(answer)
    assert fake.accepted == 0


@pytest.mark.parametrize("changes", [{"key_id": "OTHERKEYID"}, {"team_id": "OTHERTEAM1"}])
def test_a_wrong_key_id_or_team_is_refused_as_an_invalid_provider_token(fake, changes):
    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN], client_config=config(**changes))

    assert (answer.result, answer.reason, answer.prune) == (
        Result.REFUSED,
        "InvalidProviderToken",
        False,
    )


def test_a_provider_token_older_than_an_hour_is_refused_as_expired(fake):
    [answer] = send(
        apns.prepare(make_push(), now=NOW), [TOKEN], clock=lambda: time.time() - 61 * 60
    )

    assert (answer.result, answer.reason, answer.status) == (
        Result.REFUSED,
        "ExpiredProviderToken",
        403,
    )


def test_a_topic_the_token_is_not_for_is_refused_and_the_token_pruned(fake):
    [answer] = send(
        apns.prepare(make_push(), now=NOW), [TOKEN], client_config=config(topic="com.other.app")
    )

    assert (answer.result, answer.reason, answer.prune) == (
        Result.REFUSED,
        "DeviceTokenNotForTopic",
        True,
    )


def test_many_sends_share_one_connection_and_one_provider_token(fake):
    prepared = apns.prepare(make_push(), now=NOW)

    async def run():
        client = apns.client(config(), environment="production")
        answers = []
        for batch in range(5):
            answers += await client.send(prepared, [token(batch * 200 + i) for i in range(200)])
        await client.aclose()
        return answers

    answers = asyncio.run(run())

    assert {a.result for a in answers} == {Result.ACCEPTED} and len(answers) == 1000
    assert fake.connections == 1
    assert fake.jwts == 1


def test_a_new_connection_presents_the_same_provider_token(fake):
    """aioapns alone signs a token per connection; Apple wants one per team."""
    prepared = apns.prepare(make_push(), now=NOW)

    async def run():
        client = apns.client(config(), environment="production")
        first = await client.send(prepared, [token(i) for i in range(10)])
        fake.drop_connections()
        # Until the client has seen it: a request written on a connection that then drops
        # is lost, not sent again (test_a_request_lost_with_its_connection_is_not_resent).
        await asyncio.sleep(0.5)
        second = await client.send(prepared, [token(i) for i in range(10, 20)])
        await client.aclose()
        return first + second

    answers = asyncio.run(run())

    assert {a.result for a in answers} == {Result.ACCEPTED}
    assert fake.connections == 2
    assert fake.jwts == 1


def test_a_client_used_in_another_event_loop_reconnects_with_the_same_provider_token(fake):
    prepared = apns.prepare(make_push(), now=NOW)
    client = apns.client(config(), environment="production")

    first = asyncio.run(client.send(prepared, [token(1)]))
    second = asyncio.run(client.send(prepared, [token(2)]))
    asyncio.run(client.aclose())

    assert [a.result for a in first + second] == [Result.ACCEPTED, Result.ACCEPTED]
    assert fake.connections == 2
    assert fake.jwts == 1


def test_the_provider_token_is_signed_again_after_30_minutes_and_not_before(fake):
    start = time.time() - 45 * 60  # so that every token stays under Apple's hour
    now = [start]
    prepared = apns.prepare(make_push(), now=NOW)

    async def run():
        client = apns.client(config(), environment="production", clock=lambda: now[0])
        answers = await client.send(prepared, [token(1)])
        now[0] = start + 29 * 60
        answers += await client.send(prepared, [token(2)])
        seen_before = fake.jwts
        now[0] = start + 31 * 60
        answers += await client.send(prepared, [token(3)])
        await client.aclose()
        return answers, seen_before

    answers, seen_before = asyncio.run(run())

    assert [a.result for a in answers] == [Result.ACCEPTED] * 3
    assert seen_before == 1
    assert fake.jwts == 2
    iats = [r.jwt_claims["iat"] for r in fake.received]
    assert iats == [int(start), int(start), int(start + 31 * 60)]
    assert fake.connections == 1  # the new token on the same connection, not too soon


def test_a_stream_apns_refuses_unprocessed_is_sent_again(fake):
    fake.reset_next(2)

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert answer.result == Result.ACCEPTED
    assert [r.status for r in fake.received] == [0, 0, 200]


def test_streams_refused_every_time_are_retried_later(fake):
    fake.reset_next(apns.REFUSED_STREAM_TRIES)

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert answer == Answer(Result.RETRY, reason="refused-stream")


def test_answers_keep_coming_after_64_kib_of_error_bodies_on_one_connection(fake, settings):
    """Each Unregistered body is ~50 bytes: 1,400 of them pass the 65,535-byte window that a
    client must hand back (WINDOW_UPDATE), or the fake can send no more."""
    settings.PUSH_CHANNEL_TIMEOUT = 30
    tokens = [token(i) for i in range(1400)]
    for t in tokens:
        fake.answer(t, 410, "Unregistered", timestamp=1_700_000_000_000)

    answers = send(apns.prepare(make_push(), now=NOW), tokens)

    assert {(a.result, a.reason) for a in answers} == {(Result.REFUSED, "Unregistered")}
    assert len(fake.received) == 1400  # none stalled and was sent again


def test_a_burst_larger_than_the_send_window_waits_for_window(fake):
    """300 bodies of 1 KB are 300 KB, and HTTP/2 grants 64 KiB until the server hands some
    back: a request waits for window rather than failing on its body."""
    prepared = apns.prepare(make_push(content="x" * 1000), now=NOW)

    async def run():
        client = apns.client(config(), environment="production")
        await client.send(prepared, [token(0)])  # connected: the next burst goes at once
        answers = await client.send(prepared, [token(i) for i in range(1, 301)])
        await client.aclose()
        return answers

    answers = asyncio.run(run())

    assert {a.result for a in answers} == {Result.ACCEPTED}
    assert len(fake.received) == 301


def test_big_and_small_bodies_waiting_for_window_together_all_go(fake):
    """A small body may find window a big one waits for: streams still open in id order."""
    big = apns.prepare(make_push(content="x" * 3000), now=NOW)
    small = apns.prepare(make_push(), now=NOW)

    async def run():
        client = apns.client(config(), environment="production")
        await client.send(small, [token(0)])
        answers = await asyncio.gather(
            client.send(big, [token(i) for i in range(1, 101)]),
            client.send(small, [token(i) for i in range(101, 201)]),
        )
        await client.aclose()
        return answers[0] + answers[1]

    answers = asyncio.run(run())

    assert {a.result for a in answers} == {Result.ACCEPTED}


def test_a_server_allowing_few_streams_is_not_overrun(settings):
    """The first requests on a connection wait for the server's SETTINGS (10 streams here),
    which a distant server sends a round trip after the handshake."""
    with FakeApns(
        keys={KEY_ID: KEY},
        team_id=TEAM,
        topics=[TOPIC],
        max_concurrent_streams=10,
        settings_delay=0.2,
    ) as fake:
        settings.PUSH_APNS_PRODUCTION_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file

        answers = send(apns.prepare(make_push(), now=NOW), [token(i) for i in range(100)])

        assert {a.result for a in answers} == {Result.ACCEPTED}
        assert fake.h2_errors == 0
        assert fake.connections <= apns.MAX_CONNECTIONS


def test_one_stream_until_a_valid_provider_token_as_apple_documents(settings):
    with FakeApns(
        keys={KEY_ID: KEY},
        team_id=TEAM,
        topics=[TOPIC],
        streams_until_authorized=1,
        settings_delay=0.2,
    ) as fake:
        settings.PUSH_APNS_PRODUCTION_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file

        answers = send(apns.prepare(make_push(), now=NOW), [token(i) for i in range(50)])

        assert {a.result for a in answers} == {Result.ACCEPTED}
        assert fake.h2_errors == 0
        # Each connection allowed one stream at first: the pool opened more meanwhile.
        assert fake.connections <= apns.MAX_CONNECTIONS


def test_no_answer_in_time_is_lost_timeout(fake, settings):
    """Written and unanswered: APNs may have it, so it is never sent again blindly."""
    settings.PUSH_CHANNEL_TIMEOUT = 1
    fake.delay = 3

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert answer == Answer(Result.LOST, reason="timeout")
    assert len(fake.received) == 1


def test_a_request_lost_with_its_connection_is_not_resent(fake, settings):
    settings.PUSH_CHANNEL_TIMEOUT = 5
    fake.delay = 1  # APNs holds the request when the connection drops

    async def run():
        client = apns.client(config(), environment="production")
        sending = asyncio.ensure_future(client.send(apns.prepare(make_push(), now=NOW), [TOKEN]))
        while not fake.received:
            await asyncio.sleep(0.01)
        fake.drop_connections()
        [answer] = await sending
        await client.aclose()
        return answer

    answer = asyncio.run(run())
    assert (answer.result, answer.reason) == (Result.LOST, "connection")
    assert len(fake.received) == 1


def test_an_unreachable_apns_is_retry_connection(settings):
    settings.PUSH_APNS_PRODUCTION_URL = dead_url()

    answers = send(apns.prepare(make_push(), now=NOW), [token(1), token(2)])

    assert answers == [Answer(Result.RETRY, reason="connection")] * 2


def test_a_server_whose_certificate_is_not_trusted_is_retry_connection(fake, settings):
    settings.PUSH_CHANNEL_CA_FILE = ""  # the system's CAs only: the loopback CA is not among them

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN])

    assert answer == Answer(Result.RETRY, reason="connection")
    assert fake.received == []


def test_the_sandbox_environment_goes_to_the_sandbox_url(fake, settings):
    settings.PUSH_APNS_PRODUCTION_URL = dead_url()

    [answer] = send(apns.prepare(make_push(), now=NOW), [TOKEN], environment="sandbox")

    assert answer.result == Result.ACCEPTED


def test_an_environment_that_is_neither_is_refused(fake):
    with pytest.raises(ValueError, match="production or sandbox"):
        apns.client(config(), environment="product")


def test_a_silent_message_is_accepted_as_a_background_push(fake):
    prepared = apns.prepare(make_push(message_type=Push.MessageType.MESSAGE), now=NOW)

    [answer] = send(prepared, [TOKEN])

    assert answer.result == Result.ACCEPTED
    [seen] = fake.received
    assert (seen.headers["apns-push-type"], seen.headers["apns-priority"]) == ("background", "5")
    assert seen.payload["aps"] == {"content-available": 1}


@pytest.mark.parametrize(
    ("prepared", "status", "reason"),
    [
        (Prepared(b'{"aps":{}}', {"apns-push-type": "loud"}, 10), 400, "InvalidPushType"),
        (Prepared(b'{"aps":{}}', {}, 10), 400, "InvalidPushType"),
        (
            Prepared(b'{"aps":{}}', {"apns-push-type": "alert", "apns-priority": "7"}, 10),
            400,
            "BadPriority",
        ),
        (
            Prepared(b'{"aps":{}}', {"apns-push-type": "background", "apns-priority": "10"}, 10),
            400,
            "BadPriority",
        ),
        (
            Prepared(b'{"aps":{}}', {"apns-push-type": "alert", "apns-expiration": "soon"}, 10),
            400,
            "BadExpirationDate",
        ),
        (
            Prepared(b'{"aps":{}}', {"apns-push-type": "alert", "apns-collapse-id": "x" * 65}, 10),
            400,
            "BadCollapseId",
        ),
        (Prepared(b"", {"apns-push-type": "alert"}, 0), 400, "PayloadEmpty"),
        (
            Prepared(b'{"aps":{},"x":"' + b"y" * 4090 + b'"}', {"apns-push-type": "alert"}, 4107),
            413,
            "PayloadTooLarge",
        ),
        (Prepared(b'{"no":"aps"}', {"apns-push-type": "alert"}, 12), 400, "BadPayload"),
    ],
)
def test_the_fake_refuses_what_apple_would(fake, prepared, status, reason):
    [answer] = send(prepared, [TOKEN])

    assert (answer.result, answer.status, answer.reason) == (Result.REFUSED, status, reason)


def provider_token(iat: float | None = None) -> str:
    iat = int(time.time() if iat is None else iat)
    signed = jwt.encode({"iss": TEAM, "iat": iat}, KEY, algorithm="ES256", headers={"kid": KEY_ID})
    return f"bearer {signed}"


def raw_client() -> httpx.Client:
    """An HTTP/2 client with nothing of APNs in it (it negotiates ALPN, unlike aioapns)."""
    return httpx.Client(http2=True, verify=loopback_ca().client_context())


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "reason"),
    [
        ("GET", f"/3/device/{TOKEN}", {}, 405, "MethodNotAllowed"),
        ("POST", f"/2/device/{TOKEN}", {}, 404, "BadPath"),
        ("POST", "/3/device/", {}, 400, "MissingDeviceToken"),
        ("POST", f"/3/device/{TOKEN}", {"authorization": None}, 403, "MissingProviderToken"),
        (
            "POST",
            f"/3/device/{TOKEN}",
            {"authorization": "bearer x.y.z"},
            403,
            "InvalidProviderToken",
        ),
        ("POST", f"/3/device/{TOKEN}", {"apns-topic": None}, 400, "MissingTopic"),
        ("POST", f"/3/device/{TOKEN}", {"apns-topic": "not a topic"}, 400, "BadTopic"),
        ("POST", f"/3/device/{TOKEN}", {"apns-id": "nope"}, 400, "BadMessageId"),
        ("POST", f"/3/device/{TOKEN}", {"apns-topic": [TOPIC, TOPIC]}, 400, "DuplicateHeaders"),
        ("POST", f"/3/device/{TOKEN}", {}, 200, ""),
    ],
)
def test_the_fake_checks_each_request_header(fake, method, path, headers, status, reason):
    given = {
        "authorization": provider_token(),
        "apns-topic": TOPIC,
        "apns-push-type": "alert",
    } | headers
    sent = [
        (name, value)
        for name, values in given.items()
        if values is not None
        for value in (values if isinstance(values, list) else [values])
    ]
    with raw_client() as http:
        response = http.request(method, fake.url + path, headers=sent, content=b'{"aps":{}}')

    assert response.http_version == "HTTP/2"
    assert response.status_code == status
    assert response.headers["apns-id"]  # errors carry one too
    assert (response.json()["reason"] if status != 200 else response.content.decode()) == reason


def test_the_fake_refuses_a_provider_token_changed_within_20_minutes_on_a_connection(fake):
    headers = {"apns-topic": TOPIC, "apns-push-type": "alert"}
    url = f"{fake.url}/3/device/{TOKEN}"
    start = time.time() - 50 * 60
    with raw_client() as http:
        first = http.post(
            url, headers=headers | {"authorization": provider_token(start)}, content=b'{"aps":{}}'
        )
        soon = http.post(
            url,
            headers=headers | {"authorization": provider_token(start + 60)},
            content=b'{"aps":{}}',
        )
        later = http.post(
            url,
            headers=headers | {"authorization": provider_token(start + 21 * 60)},
            content=b'{"aps":{}}',
        )

    assert first.status_code == 200
    assert (soon.status_code, soon.json()["reason"]) == (429, "TooManyProviderTokenUpdates")
    assert later.status_code == 200


# -- the payload -------------------------------------------------------------------------------


def test_a_plain_notification_is_title_and_body_with_the_push_id():
    prepared = apns.prepare(make_push(), now=NOW)

    assert body(prepared) == {
        "aps": {"alert": {"title": "Hello", "body": "World"}},
        "xg": {"msgid": "42"},
    }
    assert prepared.options == {
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int((NOW + timedelta(hours=1)).timestamp())),
    }
    assert prepared.size == len(prepared.body)


def test_every_ios_field_of_a_notification_is_mapped():
    message = {
        "thread_id": "chat-7",
        "ios": {
            "aps": {
                "alert": {"subtitle": "Sub", "title": "Own title"},
                "badge_type": 5,
                "category": "INVITE",
                "mutable-content": 1,
                "sound": "Tassel.wav",
                "interruption-level": "time-sensitive",
            },
            "custom_content": json.dumps({"order": 17, "aps": {"badge": 99}, "xg": "mine"}),
        },
    }
    prepared = apns.prepare(make_push(message=message, options={"collapse_id": 123456789}), now=NOW)

    assert body(prepared) == {
        "order": 17,
        "aps": {
            "alert": {"title": "Own title", "body": "World", "subtitle": "Sub"},
            "badge": 5,
            "category": "INVITE",
            "mutable-content": 1,
            "sound": "Tassel.wav",
            "interruption-level": "time-sensitive",
            "thread-id": "chat-7",
        },
        "xg": {"msgid": "42"},
    }
    assert prepared.options["apns-collapse-id"] == "123456789"


@pytest.mark.parametrize(("badge_type", "badge"), [(0, 0), (12, 12), (-1, None), (-2, None)])
def test_badge_type_sets_a_number_or_leaves_the_badge_alone(badge_type, badge):
    message = {"ios": {"aps": {"badge_type": badge_type}}}

    aps = body(apns.prepare(make_push(message=message), now=NOW))["aps"]

    assert aps.get("badge") == badge


def test_an_alert_given_as_a_string_is_sent_as_it_is():
    message = {"ios": {"aps": {"alert": "Just this"}}}

    aps = body(apns.prepare(make_push(message=message), now=NOW))["aps"]

    assert aps == {"alert": "Just this"}


def test_a_pass_through_message_is_a_silent_background_push_with_its_custom_keys():
    message = {
        "thread_id": "ignored",
        "ios": {
            "aps": {"content-available": 1, "sound": "ignored.wav", "badge_type": 3},
            "custom_content": '{"sync": true}',
        },
    }
    prepared = apns.prepare(
        make_push(message_type=Push.MessageType.MESSAGE, message=message), now=NOW
    )

    assert body(prepared) == {"sync": True, "aps": {"content-available": 1}, "xg": {"msgid": "42"}}
    assert (prepared.options["apns-push-type"], prepared.options["apns-priority"]) == (
        "background",
        "5",
    )


def test_real_time_only_is_expiration_zero():
    prepared = apns.prepare(make_push(expire_time=0), now=NOW)

    assert prepared.options["apns-expiration"] == "0"


def test_an_expiry_not_yet_fixed_counts_from_now():
    prepared = apns.prepare(make_push(expires_at=None, expire_time=800), now=NOW)

    assert prepared.options["apns-expiration"] == str(int(NOW.timestamp()) + 800)


def test_the_payload_is_compact_utf8_and_its_size_is_its_bytes():
    prepared = apns.prepare(make_push(title="你好", content="世界"), now=NOW)

    assert prepared.body == (
        '{"aps":{"alert":{"title":"你好","body":"世界"}},"xg":{"msgid":"42"}}'.encode()
    )
    assert prepared.size == len(prepared.body) == 72


def _push_of_size(size: int, **fields) -> Push:
    base = apns.prepare(make_push(content="", **fields), now=NOW).size
    # An empty body is left out of the alert: the first character adds ',"body":""' too.
    overhead = apns.prepare(make_push(content="x", **fields), now=NOW).size - base - 1
    return make_push(content="x" * (size - base - overhead), **fields)


def test_a_payload_of_4096_bytes_passes_and_one_more_is_a_problem():
    fits, over = _push_of_size(4096), _push_of_size(4097)

    assert apns.prepare(fits, now=NOW).size == 4096
    assert apns.problem(fits) is None
    assert apns.problem(over) == (
        "message",
        "the APNs payload would be 4097 bytes; APNs carries at most 4096",
    )


def test_an_unsaved_push_is_measured_with_the_longest_id_it_could_get():
    unsaved = make_push(id=None)

    prepared = apns.prepare(unsaved, now=NOW)

    assert body(prepared)["xg"] == {"msgid": "9" * 19}


# -- credentials -------------------------------------------------------------------------------


def _pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_valid_credentials_become_a_plain_config():
    form = {
        "key": f"\n{KEY}\n\n",
        "key_id": KEY_ID,
        "team_id": TEAM,
        "topic": TOPIC,
        "environment": "sandbox",
    }

    result, errors = apns.check_credentials(form)

    assert errors == {}
    assert result == config(key=KEY.strip() + "\n", environment="sandbox")
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("key", "", "required"),
        ("key", "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----", "PEM"),
        ("key", _pem(rsa.generate_private_key(65537, 2048)), "P-256"),
        ("key", _pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        ("key_id", "ABC123", "10 characters"),
        ("key_id", "abcdefghij", "capital letters"),
        ("team_id", "", "10 characters"),
        ("topic", "myapp", "bundle id"),
        ("topic", "com.example.app/x", "bundle id"),
        ("environment", "product", "production or sandbox"),
    ],
)
def test_each_bad_credential_is_named(field, value, error):
    form = config() | {field: value}

    result, errors = apns.check_credentials(form)

    assert result == {}
    assert list(errors) == [field]
    assert error in errors[field]


# -- answers in words --------------------------------------------------------------------------

# Apple's reason strings, as channels.md §1.1 lists them.
APPLE_REASONS = {
    400: [
        "BadCollapseId",
        "BadDeviceToken",
        "BadExpirationDate",
        "BadMessageId",
        "BadPriority",
        "BadTopic",
        "DeviceTokenNotForTopic",
        "DuplicateHeaders",
        "IdleTimeout",
        "InvalidPushType",
        "MissingDeviceToken",
        "MissingTopic",
        "PayloadEmpty",
        "TopicDisallowed",
    ],
    403: [
        "BadCertificate",
        "BadCertificateEnvironment",
        "ExpiredProviderToken",
        "Forbidden",
        "InvalidProviderToken",
        "MissingProviderToken",
    ],
    404: ["BadPath"],
    405: ["MethodNotAllowed"],
    410: ["ExpiredToken", "Unregistered"],
    413: ["PayloadTooLarge"],
    429: ["TooManyProviderTokenUpdates", "TooManyRequests"],
    500: ["InternalServerError"],
    503: ["ServiceUnavailable", "Shutdown"],
}


@pytest.mark.parametrize(
    ("status", "reason"),
    [(status, reason) for status, reasons in APPLE_REASONS.items() for reason in reasons],
)
def test_every_apple_reason_is_put_in_words(status, reason):
    from aioapns.common import NotificationResult

    answer = apns.answer(NotificationResult("id", str(status), reason))

    text = apns.describe(answer)

    assert reason in apns.REASONS
    assert text.startswith(("Refused: ", "Not sent yet: "))
    assert f"{reason} — {apns.REASONS[reason]}" in text
    assert ("the token is pruned" in text) == answer.prune


def test_an_acceptance_is_put_in_words():
    answer = Answer(Result.ACCEPTED, message_id="7B1E…", status=200)

    assert apns.describe(answer) == "Accepted by APNs (apns-id 7B1E…)"


def test_a_reason_apple_never_listed_is_still_put_in_words():
    answer = Answer(Result.REFUSED, reason="SomethingNew", status=400)

    assert apns.describe(answer) == "Refused: SomethingNew — APNs answered HTTP 400"


def test_a_lost_answer_says_it_is_not_sent_again():
    words = apns.describe(Answer(Result.LOST, reason="timeout"))
    assert words.startswith("No answer: timeout") and "not sent again" in words
