"""The built-in channel's long polls (``GET /sdk/v1/messages?wait=…``), held by an asynchronous
server instead of a web thread each.

``pushconsole.asgi`` serves it with uvicorn (deploy/: ``pushconsole-poll.service`` behind the
proxy's ``location = /sdk/v1/messages``; ``make run`` serves it beside the console). A waiting
poll costs a few kilobytes in that process and nothing in the database; every database question
is asked for many polls at once, by one thread (one connection), between their arrivals:

- **Admission.** The polls that came in since the last round are authenticated, throttled,
  validated and matched to their devices set-based (one query per kind), then their inboxes
  are read in one statement (``push.inbox.fetch_many``). A poll with something to fetch, or
  without ``wait``, is answered at once; the others wait. A poll that is not the ordinary case
  (no or wrong credentials, a locked-out address, bad parameters, an unknown token) is answered
  by the web application itself, as if it had asked without ``wait``: the same error, word for
  word, and the same failed-authentication count.
- **Wake-up.** Every transaction that makes notifications visible in an app's inbox announces
  the app when it commits (``push.inbox.lock``, PostgreSQL NOTIFY); the server listens on its
  own connection and reads the inboxes of that app's waiting devices again, all in one
  statement. Announcements that come while a round runs are answered by the next round. After
  the listening connection was lost, every waiting poll is read again once it is back. On
  SQLite (``make run``), which has no NOTIFY, every waiting poll is read again once a second.
- **One poll per device.** A device's new poll answers its waiting one at once (empty, with its
  own cursor): a phone whose connection broke unseen does not hold two places.
- **Caps.** At most ``SDK_LONG_POLLS`` polls wait in the process and ``SDK_LONG_POLLS_PER_APP``
  per application; a poll beyond them that would have to wait gets 429 ``too_many_polls``
  with ``Retry-After``, so one app's flood cannot take the other apps' places.
- **Time.** A poll waits ``wait`` seconds from its admission, then gets an empty answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import itertools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from http import HTTPStatus

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.base import BaseHandler
from django.db import close_old_connections, connection, connections
from django.http import QueryDict
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts import throttle
from lib.ids import bigint_id
from push import inbox
from push.models import Application, Device

from .serializers import InboxMessageSerializer, MessagesQuery
from .views import seen_all

log = logging.getLogger(__name__)

PATH = "/sdk/v1/messages"
RETRY_AFTER = 5  # seconds: what a poll over the caps is told to wait
RECHECK_SECONDS = 1.0  # SQLite: how often every waiting poll is read again
JSON = (b"content-type", b"application/json")
# Waiting polls read again per database question: a broadcast's ten thousand at once. (In
# parts of 2,000, the first part's answers and the phones' next polls took the event loop
# while the database thread read the next part, and the two shared one interpreter lock:
# 10,000 read again in 1.8 s, against 60 ms for one statement and the rendering alone.)
ROUND_PART = 20_000
LOG_REREAD = 1000  # a round that reads this many waiting polls again says how long it took
DRAIN_SECONDS = 1.0  # how long new polls wait for the answers being written (``Hub.unsent``)


class Headers:
    """What admission reads of a poll's request (``META`` as Django would build it from the
    ASGI scope, ``GET``), without building Django's request: building one was a poll's largest
    cost in the event loop, paid ten thousand times when a broadcast's phones poll again. The
    web application's own request (``Poll.request``) is built only for a poll it answers."""

    __slots__ = ("META", "GET", "query_string", "nul")

    def __init__(self, scope):
        meta = {"REMOTE_ADDR": (scope.get("client") or ("",))[0]}
        for name, value in scope.get("headers", ()):
            name = name.decode("latin1")
            if "_" in name:  # as Django: no spoofing a header by its underscores
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            value = value.decode("latin1")
            meta[key] = f"{meta[key]},{value}" if key in meta else value
        self.META = meta
        self.query_string = scope.get("query_string", b"").decode()
        # A NUL anywhere in the query is refused by the web application's middleware
        # (lib.errors.QueryTextMiddleware), whichever parameter holds it: such a poll is
        # answered by the web application.
        if "%" in self.query_string or "+" in self.query_string:
            self.GET = QueryDict(self.query_string)
            self.nul = any(
                "\x00" in name or any("\x00" in v for v in values)
                for name, values in self.GET.lists()
            )
        else:  # nothing to unquote: what QueryDict.get would give, split at once
            self.nul = "\x00" in self.query_string
            self.GET = {
                name: value
                for name, _, value in (p.partition("=") for p in self.query_string.split("&") if p)
            }

    def query(self) -> QueryDict:
        """The query as the serializer is given it (Django's QueryDict)."""
        return self.GET if isinstance(self.GET, QueryDict) else QueryDict(self.query_string)


@dataclass(eq=False)
class Poll:
    """One request, from its arrival to its answer."""

    scope: dict
    serial: int
    answer: asyncio.Future
    gone: bool = False  # the client hung up
    # Set by admission, for a poll that waits:
    application_id: int = 0
    device_id: int = 0
    after: int = 0
    tz: object = None
    deadline: float = 0.0

    @cached_property
    def headers(self) -> Headers:
        return Headers(self.scope)

    @cached_property
    def request(self) -> ASGIRequest:
        """Django's request, for the web application's answer (``Hub._by_the_web``)."""
        return ASGIRequest(self.scope, io.BytesIO())


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def send(self, send) -> None:
        """Send it as an ASGI response."""
        length = (b"content-length", str(len(self.body)).encode())
        headers = [*self.headers, length, (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class Renderer:
    """A round's answers, as the web application's ``messages_answer`` would render them,
    with each push's message serialised and encoded once for all the devices it reaches: only
    its place and its sent time differ from one device to the next (10,000 devices woken by a
    broadcast cost 10,000 string joins, not 10,000 serialisations)."""

    def __init__(self, now):
        self.now = now
        self.messages: dict[tuple, str] = {}  # (push id, time zone) → its fields but two
        self.times: dict = {}
        self.sent_at = InboxMessageSerializer().fields["sent_at"]

    def body(self, items, after: int, tz) -> bytes:
        parts = []
        for item in items:
            key = (item.push_id, str(tz))
            if (rest := self.messages.get(key)) is None:
                data = dict(InboxMessageSerializer(item, context={"now": self.now, "tz": tz}).data)
                del data["id"], data["sent_at"]
                rest = self.messages[key] = _encode(data)[1:-1]
            if (sent := self.times.get(item.sent_at)) is None:
                value = self.sent_at.to_representation(item.sent_at) if item.sent_at else None
                sent = self.times[item.sent_at] = _encode(value)
            parts.append(f'{{"id":{inbox.place(item)},"sent_at":{sent},{rest}}}')
        following = inbox.place(items[-1]) if items else after
        return f'{{"messages":[{",".join(parts)}],"next":{following}}}'.encode()


def _encode(value) -> str:
    """JSON as the API's renderer writes it (DRF: UTF-8, compact)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json(status: int, data: dict, headers=()) -> Answer:
    return Answer(
        status,
        JSONRenderer().render(data),
        [(b"content-type", b"application/json"), *headers],
    )


def empty(poll: Poll) -> Answer:
    return _json(200, {"messages": [], "next": poll.after})


class Hub:
    """The process's waiting polls and the rounds that answer them (one at a time, in one
    database thread). Tests drive ``round`` directly with their own clock."""

    def __init__(self, *, clock=time.monotonic, listen: bool | None = None):
        self.clock = clock
        self.arrived: list[Poll] = []
        self.waiting: dict[int, Poll] = {}  # device id → its poll
        self.by_app: dict[int, set[Poll]] = {}
        self.deadlines: list[tuple[float, int, Poll]] = []  # a heap
        self.announced: set[int] = set()  # applications whose inboxes changed
        self.announced_devices: set[int] = set()  # devices whose inboxes changed
        self.read_all = False
        self.wake = asyncio.Event()
        # Answered polls whose answers are not written yet: a round that admits new polls
        # waits (at most DRAIN_SECONDS) until they are, so that the ten thousand polls that
        # follow a broadcast's answers are not admitted while those answers still wait for the
        # event loop (admission and answers share one interpreter lock).
        self.unsent: set[Poll] = set()
        self.drained = asyncio.Event()
        self.drained.set()
        self.big_round: float | None = None  # when the last broadcast's round ended
        self.serials = itertools.count()
        self.listen = connection.vendor == "postgresql" if listen is None else listen
        self.listening = False
        self.stopping = False
        self.rounds = 0  # rounds that asked the database
        self.reread = 0  # waiting polls read again, in all
        self.database = ThreadPoolExecutor(1, thread_name_prefix="longpoll-db")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._web: BaseHandler | None = None
        self._tasks: list[asyncio.Task] = []

    # -- the server's side --------------------------------------------------------------------

    def nudge(self) -> None:
        """Start a round soon (from any thread)."""
        self.loop.call_soon_threadsafe(self.wake.set)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._rounds(), name="longpoll rounds"))
        if self.listen:
            self._tasks.append(asyncio.create_task(self._listen(), name="longpoll listener"))

    def release(self) -> None:
        """Answer every poll now, empty (in the loop's thread): the server is stopping, and the
        devices should poll its successor rather than be cut off when it goes."""
        self.stopping = True
        for poll in [*self.waiting.values(), *self.arrived]:
            self._answer(poll, empty(poll))
        self.waiting.clear()
        self.by_app.clear()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.release()
        await asyncio.get_running_loop().run_in_executor(self.database, connections.close_all)
        self.database.shutdown(wait=True)

    async def handle(self, scope, receive, send) -> None:
        """One ``GET /sdk/v1/messages``: queued for the next round, answered by it or a later
        one; forgotten when the client hangs up first."""
        poll = Poll(scope, next(self.serials), asyncio.get_running_loop().create_future())
        self.arrived.append(poll)
        self.wake.set()
        hangup = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({poll.answer, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
        if not poll.answer.done():
            poll.gone = True
            self._forget(poll)
            return
        try:
            await poll.answer.result().send(send)
        finally:
            self.unsent.discard(poll)
            if not self.unsent:
                self.drained.set()
                if self.big_round is not None:
                    written = (time.perf_counter() - self.big_round) * 1000
                    log.info("long-poll round: its answers written %.0f ms after it", written)
                    self.big_round = None

    def _answer(self, poll: Poll, answer: Answer) -> None:
        if poll.answer.done():
            return
        poll.answer.set_result(answer)
        if not poll.gone:
            self.unsent.add(poll)
            self.drained.clear()

    def health(self) -> dict:
        ok = self.listening or not self.listen
        return {"ok": ok, "listening": self.listening, "waiting": len(self.waiting)}

    async def _rounds(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = RECHECK_SECONDS if not self.listen else 30.0
            if self.deadlines:
                timeout = min(timeout, max(0.0, self.deadlines[0][0] - self.clock()))
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                pass
            self.wake.clear()
            if not self.listen:
                self.read_all = True
            try:
                await self.round(loop)
            except Exception:  # one bad round must not stop the server: log, go on
                log.exception("long-poll round failed")
                await asyncio.sleep(0.5)

    def heard(self, payload: str) -> None:
        """An announcement (``push.inbox.announce``): these devices, or every device of the
        app, may have something new."""
        if (announcement := inbox.announced(payload)) is None:
            return
        application_id, devices = announcement
        if devices is None:
            self.announced.add(application_id)
        else:
            self.announced_devices.update(devices)
        self.wake.set()

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **_connection_params(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {inbox.NOTIFY_CHANNEL}")
                    self.listening, self.read_all = True, True  # what came while not listening
                    self.wake.set()
                    async for note in conn.notifies():
                        self.heard(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: poll-less until it is back
                log.warning("long-poll listener lost its connection: %s", exc)
            self.listening = False
            await asyncio.sleep(1.0)

    # -- one round ----------------------------------------------------------------------------

    async def round(self, loop=None) -> None:
        """Answer what can be answered now: new polls, polls of announced apps, polls whose
        time is up."""
        loop = loop or asyncio.get_running_loop()
        if self.arrived and not self.drained.is_set():  # answers first (see ``unsent``)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), DRAIN_SECONDS)
        arrived, self.arrived = [p for p in self.arrived if not p.gone], []
        moment = self.clock()
        expired = []
        while self.deadlines and self.deadlines[0][0] <= moment:
            _, _, poll = heapq.heappop(self.deadlines)
            if self.waiting.get(poll.device_id) is poll:
                expired.append(poll)
        for poll in expired:
            self._forget(poll)
            self._answer(poll, empty(poll))
        if self.read_all:
            again = list(self.waiting.values())
        else:
            again = {p for app in self.announced for p in self.by_app.get(app, ())}
            again.update(
                poll
                for device in self.announced_devices
                if (poll := self.waiting.get(device)) is not None
            )
            again = list(again)
        self.read_all, self.announced, self.announced_devices = False, set(), set()
        if not arrived and not again:
            return
        self.rounds += 1
        self.reread += len(again)
        began, asked, answered = time.perf_counter(), 0.0, 0
        # A broadcast wakes thousands: they are read in one statement (``ROUND_PART``), then
        # answered together.
        for start in range(0, max(len(again), 1), ROUND_PART):
            try:
                part = time.perf_counter()
                admitted, answers = await loop.run_in_executor(
                    self.database,
                    self._ask,
                    arrived if start == 0 else [],
                    again[start : start + ROUND_PART],
                    timezone.now(),
                )
                asked += time.perf_counter() - part
            except Exception:
                # The database is away: the new polls are told to come back (the waiting
                # ones wait on, and are read again once the listener is back).
                for poll in arrived if start == 0 else []:
                    self._answer(poll, _unavailable())
                self.read_all = True  # what this round was to read, the next one reads
                raise
            for poll, answer in answers:
                self._forget(poll)
                self._answer(poll, answer)
            answered += len(answers)
            for poll in admitted:
                self._wait(poll)
        if len(again) >= LOG_REREAD:  # a broadcast's round: worth a line
            self.big_round = time.perf_counter()
            log.info(
                "long-poll round: %d read again, %d new, %d answered in %.0f ms "
                "(the database thread %.0f ms)",
                len(again),
                len(arrived),
                answered,
                (self.big_round - began) * 1000,
                asked * 1000,
            )

    def _wait(self, poll: Poll) -> None:
        if poll.gone:
            return
        if self.stopping:  # no new waits: nothing now is its answer
            self._answer(poll, empty(poll))
            return
        earlier = self.waiting.get(poll.device_id)
        if earlier is not None:  # one poll per device: the new one replaces it
            self._forget(earlier)
            self._answer(earlier, empty(earlier))
        apps = self.by_app.setdefault(poll.application_id, set())
        if len(self.waiting) >= settings.SDK_LONG_POLLS or (
            len(apps) >= settings.SDK_LONG_POLLS_PER_APP
        ):
            self._answer(poll, _too_many())
            return
        self.waiting[poll.device_id] = poll
        apps.add(poll)
        heapq.heappush(self.deadlines, (poll.deadline, poll.serial, poll))

    def _forget(self, poll: Poll) -> None:
        if self.waiting.get(poll.device_id) is poll:
            del self.waiting[poll.device_id]
            self.by_app.get(poll.application_id, set()).discard(poll)
        # Its deadline stays in the heap and is dropped when it comes up.

    # -- the database thread ------------------------------------------------------------------

    def _ask(self, arrived: list[Poll], again: list[Poll], now: datetime):
        """In the database thread: admit the new polls, read the inboxes. Returns the polls
        that wait and ``[(poll, answer)]`` for the rest."""
        close_old_connections()
        try:
            answers: list[tuple[Poll, Answer]] = []
            ready = self._admit(arrived, answers, now)
            cursors = {p.device_id: p.after for p in again}
            cursors.update({p.device_id: p.after for p in ready})
            found = inbox.fetch_many(list(cursors.items()), now)
            renderer = Renderer(now)
            admitted = []
            for poll in [*again, *ready]:
                if items := found.get(poll.device_id):
                    body = renderer.body(items, poll.after, poll.tz)
                    answers.append((poll, Answer(200, body, [JSON])))
            answered = {id(poll) for poll, _ in answers}
            moment = self.clock()
            for poll in ready:
                if id(poll) in answered:
                    continue
                if poll.deadline > moment:
                    admitted.append(poll)
                else:  # without wait: nothing now is the answer
                    answers.append((poll, empty(poll)))
            return admitted, answers
        finally:
            close_old_connections()

    def _admit(self, arrived: list[Poll], answers: list, now: datetime) -> list[Poll]:
        """The ordinary polls among ``arrived``, authenticated and matched to their devices,
        set-based; every other one is answered by the web application (``_by_the_web``)."""
        ordinary, unusual = [], []
        for poll in arrived:
            try:
                meta, query = poll.headers.META, poll.headers.GET
            except UnicodeDecodeError:  # a query string that is not UTF-8: Django's to decide
                unusual.append(poll)
                continue
            access_id = bigint_id((meta.get("HTTP_X_ACCESS_ID") or "").strip())
            if poll.headers.nul:
                data = None
            elif (data := MessagesQuery.everyday(query)) is None:
                serializer = MessagesQuery(data=poll.headers.query())
                data = serializer.validated_data if serializer.is_valid() else None
            if access_id is None or not meta.get("HTTP_X_ACCESS_KEY") or data is None:
                unusual.append(poll)
            else:
                ordinary.append((poll, access_id, data))
        apps = Application.objects.select_related("account").in_bulk(
            {access_id for _, access_id, _ in ordinary}, field_name="access_id"
        )
        checked = []
        for poll, access_id, data in ordinary:
            app = apps.get(access_id)
            if app is None or not app.check_access_key(poll.headers.META["HTTP_X_ACCESS_KEY"]):
                unusual.append(poll)
            else:
                checked.append((poll, app, data))
        locked = throttle.locked_out("sdk", [p.headers for p, _, _ in checked], time.time())
        for row, out in zip(list(checked), locked, strict=True):
            if out:  # refused before its key is looked at, as by the web application
                checked.remove(row)
                unusual.append(row[0])
        devices = {}
        if checked:
            # Array parameters: ten thousand tokens after a broadcast, not as many placeholders.
            found = Device.objects.filter(
                application_id__any={app.pk for _, app, _ in checked},
                token__any={data["token"] for _, _, data in checked},
            ).values_list("application_id", "token", "pk")
            devices = {(application_id, token): pk for application_id, token, pk in found}
        ready = []
        for poll, app, data in checked:
            if (device_id := devices.get((app.pk, data["token"]))) is None:
                unusual.append(poll)
                continue
            poll.application_id, poll.device_id, poll.after = app.pk, device_id, data["after"]
            poll.tz, poll.deadline = app.account.tz, self.clock() + data["wait"]
            ready.append(poll)
        seen_all([p.device_id for p in ready], now)
        for poll in unusual:
            answers.append((poll, self._by_the_web(poll)))
        return ready

    def _by_the_web(self, poll: Poll) -> Answer:
        """The web application's own answer to a poll, asked without ``wait``: its errors
        exactly, and its throttle's count of a failed authentication."""
        if self._web is None:
            self._web = BaseHandler()
            self._web.load_middleware()
        try:
            request = poll.request
        except UnicodeDecodeError:  # as Django's ASGI handler answers a query string not UTF-8
            return Answer(
                HTTPStatus.BAD_REQUEST, b"", [(b"content-type", b"text/html; charset=utf-8")]
            )
        query = MessagesQuery(data=request.GET)
        if query.is_valid():  # an invalid one is refused before anything waits
            request.GET = request.GET.copy()
            request.GET["wait"] = "0"
        response = self._web.get_response(request)
        if hasattr(response, "render"):
            response.render()
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.items()
            if name.lower() != "content-length"
        ]
        return Answer(response.status_code, response.content, headers)


def _error(status: int, code: str, message: str, *, retry: bool = True) -> Answer:
    """The SDK API's error shape; ``retry``: with ``Retry-After``."""
    headers = [(b"retry-after", str(RETRY_AFTER).encode())] if retry else []
    return _json(status, {"error": {"code": code, "message": message}}, headers)


def _unavailable() -> Answer:
    message = "the inbox cannot be read now; try again shortly"
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", message)


def _too_many() -> Answer:
    message = "too many devices of this application are waiting; try again later"
    return _error(HTTPStatus.TOO_MANY_REQUESTS, "too_many_polls", message)


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _connection_params() -> dict:
    """psycopg's arguments for the default database, as Django connects to it."""
    db = connections["default"].settings_dict
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    options = {
        k: v
        for k, v in (db.get("OPTIONS") or {}).items()
        if k not in ("pool", "isolation_level", "server_side_binding", "assume_role")
    }
    return {k: v for k, v in {**params, **options}.items() if v is not None}


def is_poll(scope) -> bool:
    return scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET"


class Server:
    """The ASGI application: long polls to the hub, ``/healthz`` answered from it, and every
    other request to ``fallback`` (the Django application under ``make run``; 404 in the
    poll server of a deployment, whose proxy sends it nothing else)."""

    def __init__(self, fallback=None, *, hub_factory=None):
        self.fallback = fallback
        self.hub_factory = hub_factory or Hub
        self.hub: Hub | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if self.hub is None:  # a server without lifespan events
            self.hub = self.hub_factory()
            await self.hub.start()
        if is_poll(scope):
            return await self.hub.handle(scope, receive, send)
        if scope["type"] == "http" and scope["path"] == "/healthz/poll":
            health = self.hub.health()
            return await _json(200 if health["ok"] else 503, health).send(send)
        if self.fallback is not None:
            return await self.fallback(scope, receive, send)
        if scope["type"] == "http":
            await _error(404, "not_found", "Not found.", retry=False).send(send)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.hub = self.hub_factory()
                await self.hub.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.hub is not None:
                    await self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
