"""The long-poll server (``push.sdk.longpoll``) under a real uvicorn on loopback: a waiting
device is answered by the commit of its push (PostgreSQL NOTIFY), never by a timer; one poll per
device; caps per application; the web application's own errors; hang-ups; a few database
connections whatever the number of waiting devices.

The hub's clock is the test's: a poll's ``wait`` runs out only when the test moves it, so a poll
answered while the clock stands still was answered by its notification."""

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from django.db import connection
from django.utils import timezone

from push import fanout
from push.models import Push
from push.sdk import longpoll
from pushconsole.management.commands.runpoll import server_config
from tests.push.conftest import add_device

pytestmark = [pytest.mark.django_db(transaction=True)]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class PollServer:
    """uvicorn serving ``longpoll.Server`` in a thread, on a port of its own."""

    def __init__(self, clock, *, listen=None, fallback=None):
        self.clock = clock
        self.app = longpoll.Server(
            fallback, hub_factory=lambda: longpoll.Hub(clock=clock, listen=listen)
        )
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        # As ``manage.py runpoll`` runs it (its asyncio loop: uvloop would not start in a
        # test's thread twice over).
        config = server_config(self.app, loop="asyncio", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        for _ in range(200):
            if self.server.started and self.hub is not None and self.ready():
                return self
            threading.Event().wait(0.05)
        raise RuntimeError("the poll server did not start")

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/healthz/poll").status_code == 200

    def __exit__(self, *exc):
        if self.hub is not None and self.hub.loop is not None:
            self.hub.loop.call_soon_threadsafe(self.hub.release)  # as runpoll does on SIGTERM
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def hub(self) -> longpoll.Hub:
        return self.app.hub

    def settle(self, condition, message="the hub did not get there"):
        """Wait (on the real clock, never the hub's) until ``condition()`` holds."""
        for _ in range(400):
            if condition():
                return
            threading.Event().wait(0.025)
        raise AssertionError(message)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(clock):
    with PollServer(clock) as running:
        yield running


def headers(app, key=None):
    return {"X-Access-Id": str(app.access_id), "X-Access-Key": key or app.access_key}


def poll(server, app, token, *, wait=30, after=0, key=None, timeout=20):
    return httpx.get(
        f"{server.url}/sdk/v1/messages",
        params={"token": token, "wait": wait, "after": after},
        headers=headers(app, key),
        timeout=timeout,
    )


def push_to(app, tokens, title="Approval") -> Push:
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title=title,
        content="Expense report 42 waits for you",
        message={"title": title, "content": "Expense report 42 waits for you"},
    )
    return fanout.accept(push, now=timezone.now())


@pytest.fixture
def pool():
    """Clients in threads; a poll still out when the test ends is answered by the server's
    stop (its fixture may be torn down after this one)."""
    executor = ThreadPoolExecutor(160)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


@pytest.mark.postgres
def test_a_waiting_device_is_answered_by_the_commit_of_its_push(server, app, pool):
    device = add_device(app, "tok-a")
    waiting = pool.submit(poll, server, app, "tok-a")
    server.settle(lambda: device.pk in server.hub.waiting)
    rounds = server.hub.rounds

    push = push_to(app, ["tok-a"])

    answer = waiting.result(20)
    assert answer.status_code == 200
    [message] = answer.json()["messages"]
    assert message["push_id"] == str(push.push_id) and message["title"] == "Approval"
    assert answer.json()["next"] == message["id"] == push.deliveries.get().pk
    assert server.hub.rounds == rounds + 1  # one round: the one the notification started
    assert server.hub.waiting == {}


@pytest.mark.postgres
def test_a_list_push_reads_again_only_the_devices_it_reaches(server, app, pool):
    devices = [add_device(app, f"tok-{i}") for i in range(6)]
    waiting = [pool.submit(poll, server, app, f"tok-{i}") for i in range(6)]
    server.settle(lambda: len(server.hub.waiting) == 6)
    reread = server.hub.reread

    push_to(app, ["tok-2", "tok-4"])

    assert {w.result(20).json()["messages"][0]["title"] for w in (waiting[2], waiting[4])} == {
        "Approval"
    }
    assert server.hub.reread == reread + 2  # not the app's other four waiting devices
    assert set(server.hub.waiting) == {d.pk for d in devices} - {devices[2].pk, devices[4].pk}


@pytest.mark.postgres
def test_a_push_to_another_app_reads_nothing_for_this_ones_devices(server, app, personas, pool):
    from tests.push.conftest import outsider_app

    other = outsider_app(personas)
    add_device(other, "tok-x")
    device = add_device(app, "tok-a")
    waiting = pool.submit(poll, server, app, "tok-a")
    server.settle(lambda: device.pk in server.hub.waiting)
    rounds = server.hub.rounds

    push_to(other, ["tok-x"])
    push_to(app, ["tok-a"])

    assert waiting.result(20).json()["messages"][0]["title"] == "Approval"
    # The other app's announcement had no waiting device to read: no round of its own.
    assert server.hub.rounds == rounds + 1


def test_a_device_with_notifications_is_answered_at_once(server, app):
    add_device(app, "tok-a")
    push = push_to(app, ["tok-a"])

    answer = poll(server, app, "tok-a")

    assert [m["push_id"] for m in answer.json()["messages"]] == [str(push.push_id)]
    assert poll(server, app, "tok-a", wait=0, after=answer.json()["next"]).json() == {
        "messages": [],
        "next": answer.json()["next"],
    }


def test_the_wait_runs_out_on_the_hubs_clock(server, app, pool):
    device = add_device(app, "tok-a")
    waiting = pool.submit(poll, server, app, "tok-a", wait=25, after=7)
    server.settle(lambda: device.pk in server.hub.waiting)

    server.clock.now += 24
    server.hub.nudge()
    threading.Event().wait(0.3)
    assert not waiting.done()
    server.clock.now += 2
    server.hub.nudge()

    assert waiting.result(20).json() == {"messages": [], "next": 7}
    assert server.hub.waiting == {}


def test_a_second_poll_of_a_device_answers_the_first(server, app, pool):
    device = add_device(app, "tok-a")
    first = pool.submit(poll, server, app, "tok-a", after=3)
    server.settle(lambda: device.pk in server.hub.waiting)
    earlier = server.hub.waiting[device.pk]

    second = pool.submit(poll, server, app, "tok-a", after=3)

    assert first.result(20).json() == {"messages": [], "next": 3}
    server.settle(lambda: server.hub.waiting.get(device.pk) not in (None, earlier))
    assert not second.done()
    assert len(server.hub.waiting) == 1


def test_an_app_over_its_cap_is_refused_and_the_others_still_wait(
    server, app, personas, pool, settings
):
    from tests.push.conftest import outsider_app

    settings.SDK_LONG_POLLS_PER_APP = 2
    for token in ("tok-a", "tok-b", "tok-c"):
        add_device(app, token)
    other = outsider_app(personas)
    theirs = add_device(other, "tok-x")
    held = [pool.submit(poll, server, app, token) for token in ("tok-a", "tok-b")]
    server.settle(lambda: len(server.hub.waiting) == 2)

    refused = poll(server, app, "tok-c")
    fine = pool.submit(poll, server, other, "tok-x")

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_polls"
    assert refused.headers["retry-after"] == "5"
    server.settle(lambda: theirs.pk in server.hub.waiting)
    assert not any(f.done() for f in held) and not fine.done()


def test_unusual_polls_get_the_web_applications_own_answers(server, app, client, pool):
    add_device(app, "tok-a")
    cases = [
        ({"token": "tok-a", "wait": 30}, headers(app, key="wrong")),
        ({"token": "tok-a", "wait": 30}, {}),
        ({"token": "tok-unknown", "wait": 30}, headers(app)),
        ({"token": "tok-a", "wait": 31}, headers(app)),
        ({"token": "tok-a", "after": "x"}, headers(app)),
    ]
    for params, sent in cases:
        ours = httpx.get(f"{server.url}/sdk/v1/messages", params=params, headers=sent)
        web = client.get("/sdk/v1/messages", params, headers=sent)
        assert (ours.status_code, ours.json()) == (web.status_code, web.json()), params
        assert ours.status_code in (400, 401, 404)
    assert server.hub.waiting == {}


def test_headers_are_read_as_django_reads_them(server, app, client):
    """Admission reads headers without Django's request: a key sent under an underscored
    name (which Django ignores, so that it cannot pass for another header) is no key, and a
    query string that is not UTF-8 is a 400, as the web application answers them."""
    add_device(app, "tok-a")
    spoofed = {"X-Access-Id": str(app.access_id), "X_Access_Key": app.access_key}
    ours = httpx.get(
        f"{server.url}/sdk/v1/messages", params={"token": "tok-a", "wait": 30}, headers=spoofed
    )
    web = client.get("/sdk/v1/messages", {"token": "tok-a"}, headers={"X-Access-Id": "1"})
    assert ours.status_code == 401
    assert ours.json()["error"]["code"] == web.json()["error"]["code"]

    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET /sdk/v1/messages?token=t\xff&wait=30 HTTP/1.1\r\nHost: x\r\n\r\n")
        head = raw.recv(4096)
    assert head.startswith(b"HTTP/1.1 400"), head
    assert server.hub.waiting == {}


def test_a_nul_anywhere_in_the_query_is_refused_as_by_the_web_application(server, app, client):
    """The web application refuses a NUL in any query parameter (QueryTextMiddleware), even
    in a repeated one that a serializer would not read: so does the poll server."""
    add_device(app, "tok-a")
    push_to(app, ["tok-a"])
    params = [("token", "\x00"), ("token", "tok-a"), ("wait", "30")]
    ours = httpx.get(f"{server.url}/sdk/v1/messages", params=params, headers=headers(app))
    web = client.get("/sdk/v1/messages?token=%00&token=tok-a", headers=headers(app))
    assert ours.status_code == web.status_code == 400
    assert ours.json() == web.json()


def test_the_address_counted_is_the_connections_as_under_gunicorn(server, app, settings):
    """With no proxy of ours in front (TRUSTED_PROXY_COUNT 0), a poll that claims another
    address in X-Forwarded-For is counted by its connection's, as the web application under
    gunicorn counts it: the poll server does not take the header's word for it either."""
    from accounts.models import FailedAuthCount

    add_device(app, "tok-a")
    settings.TRUSTED_PROXY_COUNT = 0
    spoofed = {**headers(app, key="wrong"), "X-Forwarded-For": "203.0.113.9"}
    answer = httpx.get(
        f"{server.url}/sdk/v1/messages", params={"token": "tok-a", "wait": 30}, headers=spoofed
    )

    assert answer.status_code == 401
    assert list(FailedAuthCount.objects.values_list("key", flat=True)) == ["sdk:127.0.0.1"]


def test_a_locked_out_address_is_refused_even_with_the_right_key(server, app, settings):
    add_device(app, "tok-a")
    settings.API_AUTH_FAILURE_LIMIT = 2
    for _ in range(2):
        assert poll(server, app, "tok-a", key="wrong").status_code == 401

    answer = poll(server, app, "tok-a")

    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "throttled"


def test_a_device_that_hangs_up_leaves_no_poll_behind(server, app):
    device = add_device(app, "tok-a")

    async def hang_up():
        async with httpx.AsyncClient() as http:
            task = asyncio.ensure_future(
                http.get(
                    f"{server.url}/sdk/v1/messages",
                    params={"token": "tok-a", "wait": 30},
                    headers=headers(app),
                    timeout=20,
                )
            )
            for _ in range(400):
                if device.pk in server.hub.waiting:
                    break
                await asyncio.sleep(0.025)
            task.cancel()

    asyncio.run(hang_up())

    server.settle(lambda: device.pk not in server.hub.waiting, "the hung-up poll stayed")


@pytest.mark.postgres
def test_many_waiting_devices_hold_a_few_database_connections(server, app, pool):
    count = 120
    for i in range(count):
        add_device(app, f"tok-{i}")
    connection.close()
    before = _connections()
    waiting = [pool.submit(poll, server, app, f"tok-{i}") for i in range(count)]
    server.settle(lambda: len(server.hub.waiting) == count, "not all of them wait")

    assert _connections() - before <= 2  # the hub's database thread and its listener
    push_to(app, [f"tok-{i}" for i in range(count)])
    answers = [w.result(30) for w in waiting]
    assert {len(a.json()["messages"]) for a in answers} == {1}


def _connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_without_notifications_the_hub_reads_every_waiting_poll_each_round(clock, app, pool):
    """SQLite (``make run``) has no NOTIFY: every waiting poll is read again once a second."""
    with PollServer(clock, listen=False) as server:
        device = add_device(app, "tok-a")
        waiting = pool.submit(poll, server, app, "tok-a")
        server.settle(lambda: device.pk in server.hub.waiting)

        push_to(app, ["tok-a"])

        assert waiting.result(20).json()["messages"][0]["title"] == "Approval"


def test_the_poll_server_answers_nothing_else(server):
    assert httpx.get(f"{server.url}/v3/push/app").status_code == 404
    assert httpx.get(f"{server.url}/healthz/poll").json()["waiting"] == 0


def test_healthz_checks_the_poll_server_it_is_told_of(server, client, settings):
    settings.SDK_POLL_URL = server.url
    up = client.get("/healthz")
    settings.SDK_POLL_URL = "http://127.0.0.1:1"
    down = client.get("/healthz")

    assert up.status_code == 200 and up.json()["poll"] == "ok"
    assert down.status_code == 503 and down.json()["poll"].startswith("error")


def test_stopping_answers_every_waiting_poll_at_once(clock, app, pool):
    device = add_device(app, "tok-a")
    with PollServer(clock) as server:
        waiting = pool.submit(poll, server, app, "tok-a", after=4)
        server.settle(lambda: device.pk in server.hub.waiting)
    # The server is gone; its waiting poll was answered, empty, before it went.
    assert waiting.result(20).json() == {"messages": [], "next": 4}


def test_a_poll_that_finds_the_database_away_is_told_to_come_back(server, app, monkeypatch):
    add_device(app, "tok-a")

    def away(*args):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(server.hub, "_ask", away)
    answer = poll(server, app, "tok-a")

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer.headers["retry-after"] == "5"
    monkeypatch.undo()
    assert poll(server, app, "tok-a", wait=0).status_code == 200  # and back when it is
