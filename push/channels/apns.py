"""Apple Push Notification service: the channel module (the interface is in ``base``).

A push becomes one JSON payload and its apns-* headers (``prepare``), sent to each device token
by an ``ApnsClient`` over HTTP/2 with token (JWT) authentication, on aioapns 4.0. Apple's
answers become ``Answer``s here, so the sender never reads a status code.

aioapns is used for what it does well: the connection pool, TLS, the HTTP/2 connection and its
stream accounting. Its protocol class is subclassed per client (``_ApnsProtocol``) for what it
lacks against the real APNs, each a defect of aioapns 4.0 seen against the loopback fake:

- it takes host and port from class attributes: a subclass per client carries ours
  (``settings.PUSH_APNS_*_URL``), so aioapns is never patched globally;
- it signs one provider token per connection: Apple wants one token per team, used for as
  close to an hour as possible, and answers 429 TooManyProviderTokenUpdates when tokens change
  too often, so all of a client's connections share one ``ProviderToken``;
- it never acknowledges received DATA (no WINDOW_UPDATE): after 64 KiB of error bodies on one
  connection (some 1,300 "Unregistered" answers) APNs cannot send another, and the answers
  wait until aioapns's 10-second idle timer drops the connection and sends what was in
  flight again (against the fake: 1,500 Unregistered answers took 18 s and 215 duplicates);
- it ignores RST_STREAM: APNs refuses streams (REFUSED_STREAM) when it lowers its stream limit,
  as it is reported to do after a rejected notification (pushy #476, openradar 27870881); the
  request hung and its stream slot leaked. A refused stream was not processed, so it is sent
  again here;
- it cannot send an absolute ``apns-expiration`` (only now + a time to live, so never the 0 of
  "deliver now or never"), re-encodes the payload with spaces (larger than the size checked
  here), and does not expose ``retry-after``;
- it opens a connection's first streams before reading the server's SETTINGS, so a server
  allowing fewer streams than the burst would drop the connection: the first requests wait
  for the SETTINGS (one round trip);
- it sends a request whatever the connection's send window: in a burst larger than the
  window, the body fails (FlowControlError), aioapns sleeps a second and opens another
  stream, and the first stays open for good, until h2 counts 1000 open and refuses every
  request. A request here waits for window before it opens its stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import jwt
from aioapns import APNs
from aioapns.common import NotificationRequest, NotificationResult
from aioapns.connection import APNsTLSClientProtocol, AuthorizationHeaderProvider
from aioapns.exceptions import ConnectionClosed
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils import timezone
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError

from .base import Answer, ChannelClient, Prepared, Result

log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096  # bytes, as APNs counts them (the UTF-8 JSON body)
# Apple: refresh the provider token no more than once every 20 minutes and at least once every
# 60 (a token older than an hour is refused). aioapns's own choice, 30 minutes, sits inside.
TOKEN_TTL = 30 * 60
assert 20 * 60 <= TOKEN_TTL < 60 * 60
# One connection carries up to the server's stream limit (APNs: 1000) at once; a batch of the
# sender is at most PUSH_SEND_BATCH_SIZE (1000), so a few connections serve several batches in
# flight. Apple asks for connections kept open and reused, not many.
MAX_CONNECTIONS = 4
# A connection lost with requests in flight: aioapns sends them once more on a new one.
CONNECTION_ATTEMPTS = 2
# Seconds aclose() waits for its connections' TLS goodbyes.
CLOSE_WAIT = 1.0
# How many times a request whose stream APNs refused unprocessed is sent again.
REFUSED_STREAM_TRIES = 3
# The push id's place holder while a push is not saved yet (``problem`` at acceptance): as
# long as the longest id, so the size checked is never below the size sent.
_UNSAVED_ID = "9" * 19
_ENVIRONMENTS = ("production", "sandbox")
_APPLE_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# What TPNS's message.ios.aps carries through to Apple's aps as it is.
_APS_AS_GIVEN = ("sound", "category", "mutable-content", "interruption-level")
# The payload's own keys: a custom_content key of these names never reaches the app.
RESERVED_KEYS = frozenset({"aps", "xg"})


# -- the payload -------------------------------------------------------------------------------


def payload(push, *, push_id: str | None = None) -> dict:
    """The APNs payload of a push (``push.models.Push``), as a dict.

    A notification's ``aps.alert`` is title and body from the push, with whatever the TPNS
    ``ios.aps.alert`` object adds or overrides (a subtitle, say); an alert given as a string is
    used as it is (Apple shows it as the body). A pass-through message is silent: Apple's
    background notification carries ``content-available`` only. ``custom_content``'s keys go
    at the top level, and ``xg.msgid`` names the push, so the app's Notification Service
    Extension can report arrival and clicks with it (TPNS kept its ids under ``xg`` too, which
    is why the parser refuses a customer's ``ios.xg``)."""
    message = push.message or {}
    ios = message.get("ios") or {}
    given = ios.get("aps") or {}
    if push.message_type == "message":
        aps: dict = {"content-available": 1}
    else:
        alert = given.get("alert")
        if not isinstance(alert, str):
            defaults = {"title": push.title, "body": push.content}
            alert = {k: v for k, v in defaults.items() if v} | (alert or {})
        aps = {"alert": alert}
        badge = given.get("badge_type")
        # TPNS badge_type: N >= 0 sets the badge to N; -1 leaves it unchanged (no "badge" key);
        # -2 is TPNS's "add one", which APNs cannot do: it only sets a number, and we keep no
        # per-device count to add to, so the badge is left unchanged too.
        if isinstance(badge, int) and badge >= 0:
            aps["badge"] = badge
        for key in _APS_AS_GIVEN:
            if key in given:
                aps[key] = given[key]
        if thread := message.get("thread_id"):
            aps["thread-id"] = thread
    custom = ios.get("custom_content") or {}
    if isinstance(custom, str):
        custom = json.loads(custom)
    msgid = push_id or (str(push.pk) if push.pk is not None else _UNSAVED_ID)
    # A customer's "aps" or "xg" key never replaces ours.
    return {**custom, "aps": aps, "xg": {"msgid": msgid}}


def encode(body: dict) -> bytes:
    """Compact UTF-8 JSON: what is sent is what is counted against the 4 KB."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def prepare(push, *, now: datetime | None = None) -> Prepared:
    """The push's payload (encoded) and its apns-* headers, the same for each device."""
    now = now or timezone.now()
    body = encode(payload(push))
    silent = push.message_type == "message"
    headers = {
        "apns-push-type": "background" if silent else "alert",
        # Apple requires 5 for background notifications (10 would be refused).
        "apns-priority": "5" if silent else "10",
        "apns-expiration": str(_expiration(push, now)),
    }
    # TPNS's collapse_id (every broadcast has one: push.collapse_id), so that a later push
    # reusing it replaces this notification on the device.
    collapse_id = (push.options or {}).get("collapse_id") or push.collapse_id
    if collapse_id:
        headers["apns-collapse-id"] = str(collapse_id)
    return Prepared(body=body, options=headers, size=len(body))


def _expiration(push, now: datetime) -> int:
    """apns-expiration: when APNs may stop trying (UNIX seconds). 0 for TPNS's expire_time 0
    ("real-time only"): APNs then tries once and does not store it."""
    if push.expire_time == 0:
        return 0
    if push.expires_at is not None:
        return int(push.expires_at.timestamp())
    return int(now.timestamp()) + push.expire_time


def problem(push) -> tuple[str, str] | None:
    size = prepare(push).size
    if size > MAX_PAYLOAD:
        return (
            "message",
            f"the APNs payload would be {size} bytes; APNs carries at most {MAX_PAYLOAD}",
        )
    return None


# -- credentials -------------------------------------------------------------------------------


def check_credentials(form: dict) -> tuple[dict, dict]:
    """An APNs signing key as its owner uploads it: ``key`` (the .p8 file's text), ``key_id``,
    ``team_id``, ``topic`` (the app's bundle id), ``environment``."""
    errors = {}
    key = str(form.get("key") or "").strip()
    if not key:
        errors["key"] = "required: the text of the .p8 file Apple gave you"
    else:
        try:
            loaded = serialization.load_pem_private_key(key.encode(), password=None)
        except (ValueError, TypeError):
            loaded = None
        if loaded is None:
            errors["key"] = (
                "not a private key in PEM form: paste the whole .p8 file, from "
                "-----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----"
            )
        elif not (
            isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp256r1"
        ):
            errors["key"] = "not an APNs key: Apple's keys are P-256 (ES256) elliptic-curve keys"
    values = {}
    for field, what in (("key_id", "key id"), ("team_id", "team id")):
        value = str(form.get(field) or "").strip()
        if not _APPLE_ID.fullmatch(value):
            errors[field] = f"the {what} is 10 characters, capital letters and digits"
        values[field] = value
    topic = str(form.get("topic") or "").strip()
    if not (_BUNDLE_ID.fullmatch(topic) and len(topic) <= 155):
        errors["topic"] = "the app's bundle id, e.g. com.example.app"
    environment = str(form.get("environment") or "").strip()
    if environment not in _ENVIRONMENTS:
        errors["environment"] = "production or sandbox"
    if errors:
        return {}, errors
    config = {"key": key + "\n", **values, "topic": topic, "environment": environment}
    return config, {}


# -- the client --------------------------------------------------------------------------------


class ProviderToken(AuthorizationHeaderProvider):
    """The ``authorization`` header: one ES256 provider token for all of a client's
    connections, signed again once it is ``TOKEN_TTL`` old. ``clock`` gives UNIX seconds."""

    def __init__(
        self, key: str, key_id: str, team_id: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.key = serialization.load_pem_private_key(key.encode(), password=None)
        self.key_id = key_id
        self.team_id = team_id
        self.clock = clock
        self.issued_at = 0
        self.header = ""

    def get_header(self) -> str:
        now = self.clock()
        if not self.header or now - self.issued_at >= TOKEN_TTL:
            self.issued_at = int(now)
            token = jwt.encode(
                {"iss": self.team_id, "iat": self.issued_at},
                self.key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self.header = f"bearer {token}"
        return self.header


class _Request(NotificationRequest):
    """One device's request: our encoded body and apns-* headers ride through aioapns's pool
    to ``_ApnsProtocol.send_notification``."""

    __slots__ = ("headers", "body", "written")

    def __init__(self, token: str, prepared: Prepared, topic: str) -> None:
        super().__init__(device_token=token, message=None, apns_topic=topic)
        self.headers = list(prepared.options.items())
        self.body = prepared.body
        # Set once the request is handed to the connection: from then on APNs may have it,
        # and a lost connection or a timeout means its answer is lost (never sent again).
        self.written = False


class AnswerLost(Exception):
    """The connection went away after the request was written: unlike aioapns's
    ``ConnectionClosed``, its pool does not send it again on another connection."""


class _Result(NotificationResult):
    __slots__ = ("retry_after", "stream_refused")

    def __init__(
        self,
        notification_id: str,
        status: str,
        description: str | None = None,
        timestamp: int | None = None,
        *,
        retry_after: float | None = None,
        stream_refused: bool = False,
    ) -> None:
        super().__init__(notification_id, status, description, timestamp)
        self.retry_after = retry_after
        self.stream_refused = stream_refused


class _Exchange:
    __slots__ = ("apns_id", "future", "status", "retry_after", "body")

    def __init__(self, apns_id: str, future: asyncio.Future) -> None:
        self.apns_id = apns_id
        self.future = future
        self.status = ""
        self.retry_after: float | None = None
        self.body = bytearray()


class _ApnsProtocol(APNsTLSClientProtocol):
    """aioapns's APNs connection, amended (see the module's docstring). ``APNS_SERVER``,
    ``APNS_PORT`` and ``provider_token`` are set on a subclass per client."""

    provider_token: ProviderToken

    def __init__(self, apns_topic, loop=None, on_connection_lost=None, auth_provider=None):
        super().__init__(apns_topic, loop, on_connection_lost, self.provider_token)
        self.exchanges: dict[int, _Exchange] = {}
        self.settings_received = asyncio.Event()
        self.window_opened = asyncio.Event()
        self.lost = False
        self.last_processed: int | None = None  # from a GOAWAY
        self.flush_scheduled = False
        self.closed = self.loop.create_future()  # done when the connection is gone

    async def send_notification(self, request: _Request) -> _Result:  # type: ignore[override]
        if not self.settings_received.is_set():
            await self.settings_received.wait()
        if self.lost:
            raise ConnectionClosed("connection lost")
        await self.free_channels.acquire()  # a stream slot (its id is taken below)
        try:
            await self._window_for(len(request.body))
        except BaseException:
            self.free_channels.release()
            raise
        # No await from the window check to the body: no other request takes the window, and
        # streams open in the order of their ids, as HTTP/2 requires (the slot's id would not
        # be: a request may wait for window longer than a later one).
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":path", f"/3/device/{request.device_token}"),
            ("host", self.APNS_SERVER),
            ("apns-id", request.notification_id),
            ("apns-topic", request.apns_topic or self.apns_topic),
            *request.headers,
            ("authorization", self.auth_provider.get_header()),
        ]
        exchange = _Exchange(request.notification_id, self.loop.create_future())
        self.exchanges[stream_id] = exchange
        try:
            self.conn.send_headers(stream_id, headers)
            body = request.body
            step = self.conn.max_outbound_frame_size
            for start in range(0, len(body), step):
                end = start + step >= len(body)
                self.conn.send_data(stream_id, body[start : start + step], end_stream=end)
            if not body:
                self.conn.end_stream(stream_id)
        except BaseException:
            self._forget(stream_id)
            raise
        request.written = True
        self._flush_soon()
        try:
            return await exchange.future
        except asyncio.CancelledError:
            # Given up on (a timeout): tell APNs, and free the stream for another request.
            if stream_id in self.exchanges and not self.lost:
                self._forget(stream_id)
                try:
                    self.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
                    self.flush()
                except ProtocolError:
                    pass
            raise

    def _flush_soon(self) -> None:
        """One write for all the requests made in this turn of the event loop (a batch's
        thousand), not a TLS record and a system call each as aioapns does."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self.flush_scheduled = False
        if not self.lost:
            self.flush()

    async def _window_for(self, size: int) -> None:
        """Wait until the connection's send window has room for a body of ``size``: a burst
        of a thousand requests is larger than the 64 KiB APNs grants at first. (aioapns sent
        the headers, failed on the body with FlowControlError and left the stream open.)"""
        while self.conn.outbound_flow_control_window < size:
            if self.lost:
                raise ConnectionClosed("connection lost")
            self.window_opened.clear()
            await self.window_opened.wait()
        if self.lost:
            raise ConnectionClosed("connection lost")

    def _forget(self, stream_id: int) -> _Exchange | None:
        exchange = self.exchanges.pop(stream_id, None)
        if exchange is not None:
            self.free_channels.release()
        return exchange

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError as exc:
            log.warning("APNs connection %s: HTTP/2 error %s", self, exc)
            self.flush()
            self.close()
            return
        for event in events:
            kind = type(event)
            if kind is ResponseReceived:
                exchange = self.exchanges.get(event.stream_id)
                if exchange is not None:
                    headers = dict(event.headers)
                    exchange.status = headers.get(b":status", b"").decode()
                    exchange.apns_id = headers.get(b"apns-id", b"").decode() or exchange.apns_id
                    exchange.retry_after = _retry_after(headers.get(b"retry-after"))
            elif kind is DataReceived:
                exchange = self.exchanges.get(event.stream_id)
                if exchange is not None:
                    exchange.body += event.data
                # Hand the window back, or APNs could not answer once 64 KiB were received.
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif kind is StreamEnded:
                self._answered(event.stream_id)
            elif kind is StreamReset:
                self._reset(event.stream_id, event.error_code)
            elif kind is WindowUpdated:
                self.window_opened.set()
            elif kind is RemoteSettingsChanged:
                self.on_remote_settings_changed(event.changed_settings)
                self.settings_received.set()
                self.window_opened.set()
            elif kind is ConnectionTerminated:
                self.last_processed = event.last_stream_id
                self.on_connection_terminated(event)
                return
        self.flush()

    def _answered(self, stream_id: int) -> None:
        exchange = self._forget(stream_id)
        if exchange is None or exchange.future.done():
            return
        reason, timestamp = "", None
        if exchange.body:
            try:
                error = json.loads(exchange.body)
                reason = str(error.get("reason") or "")
                timestamp = error.get("timestamp")
            except (ValueError, AttributeError):
                reason = "unreadable answer"
        exchange.future.set_result(
            _Result(
                exchange.apns_id,
                exchange.status,
                reason or None,
                timestamp if isinstance(timestamp, int) else None,
                retry_after=exchange.retry_after,
            )
        )

    def _reset(self, stream_id: int, error_code: int) -> None:
        exchange = self._forget(stream_id)
        if exchange is None or exchange.future.done():
            return
        refused = error_code == ErrorCodes.REFUSED_STREAM
        exchange.future.set_result(
            _Result(exchange.apns_id, "", "stream-reset", stream_refused=refused)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.closed.done():
            self.closed.set_result(None)
        if self.inactivity_timer:
            self.inactivity_timer.cancel()
        if self.on_connection_lost:
            try:
                self.on_connection_lost(self)
            except ValueError:
                pass  # the pool never listed it (lost while being set up)
        closed = ConnectionClosed(str(exc))
        lost = AnswerLost(str(exc))
        for stream_id, exchange in self.exchanges.items():
            if not exchange.future.done():
                # A GOAWAY names the last stream APNs processed: those after it never reached
                # it and go again on another connection; the others' answers are lost.
                unprocessed = self.last_processed is not None and stream_id > self.last_processed
                exchange.future.set_exception(closed if unprocessed else lost)
        self.exchanges.clear()
        self.free_channels.destroy(closed)
        # Wake the requests waiting for SETTINGS or window, to see the connection lost.
        self.settings_received.set()
        self.window_opened.set()


def _retry_after(value: bytes | None) -> float | None:
    """A retry-after header: seconds, or an HTTP date."""
    if not value:
        return None
    text = value.decode("ascii", "replace").strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


async def _quiet(request, result) -> None:
    """aioapns logs every refusal as an error unless told otherwise: they are answers here."""


class ApnsClient(ChannelClient):
    """A client of APNs for one signing key and app (``check_credentials``'s config), in one
    environment. Its connections and provider token are kept between batches; the aioapns
    pool belongs to the event loop it was made in, and is made again in another loop."""

    def __init__(
        self,
        config: dict,
        *,
        environment: str,
        clock: Callable[[], float] = time.time,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if environment not in _ENVIRONMENTS:
            raise ValueError(f"environment is production or sandbox, not {environment!r}")
        url = (
            settings.PUSH_APNS_PRODUCTION_URL
            if environment == "production"
            else settings.PUSH_APNS_SANDBOX_URL
        )
        where = urlsplit(url)
        self.config = config
        self.environment = environment
        self.timeout = settings.PUSH_CHANNEL_TIMEOUT
        self.max_connections = max_connections
        self.provider_token = ProviderToken(
            config["key"], config["key_id"], config["team_id"], clock=clock
        )
        self.ssl_context = ssl.create_default_context()
        if settings.PUSH_CHANNEL_CA_FILE:
            self.ssl_context.load_verify_locations(cafile=settings.PUSH_CHANNEL_CA_FILE)
        self.protocol = type(
            "ApnsProtocol",
            (_ApnsProtocol,),
            {
                "APNS_SERVER": where.hostname,
                "APNS_PORT": where.port or 443,
                "provider_token": self.provider_token,
            },
        )
        self._apns: APNs | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> APNs:
        loop = asyncio.get_running_loop()
        if self._apns is None or self._loop is not loop:
            # Another loop's connections cannot be closed from this one: they are dropped.
            self._apns = APNs(
                key=self.config["key"],
                key_id=self.config["key_id"],
                team_id=self.config["team_id"],
                topic=self.config["topic"],
                max_connections=self.max_connections,
                max_connection_attempts=CONNECTION_ATTEMPTS,
                ssl_context=self.ssl_context,
                err_func=_quiet,
            )
            self._apns.pool.protocol_class = self.protocol
            self._loop = loop
        return self._apns

    async def send(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        apns = self._client()
        return list(await asyncio.gather(*(self._one(apns, prepared, t) for t in tokens)))

    async def _one(self, apns: APNs, prepared: Prepared, token: str) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        request = None
        try:
            async with asyncio.timeout_at(deadline):
                for _ in range(REFUSED_STREAM_TRIES):
                    request = _Request(token, prepared, self.config["topic"])
                    result = await apns.send_notification(request)
                    if not result.stream_refused:
                        return answer(result)
        except TimeoutError:
            # Written and unanswered: APNs may have it, so it is never sent again blindly.
            written = request is not None and request.written
            return Answer(Result.LOST if written else Result.RETRY, reason="timeout")
        except AnswerLost:
            return Answer(Result.LOST, reason="connection")
        except Exception as exc:  # noqa: BLE001 (one token's trouble is an answer)
            # aioapns's MaxAttemptsExceeded (could not connect, or lost before the request
            # was written), TLS and h2 errors: nothing says the request reached APNs.
            log.info("APNs send to %s…: %r", token[:8], exc)
            written = request is not None and request.written
            return Answer(Result.LOST if written else Result.RETRY, reason="connection")
        return Answer(Result.RETRY, reason="refused-stream")

    async def aclose(self) -> None:
        apns, self._apns = self._apns, None
        # Connections of a loop that has ended went with it.
        if apns is not None and self._loop is asyncio.get_running_loop():
            connections = list(apns.pool.connections)
            apns.pool.close()
            # TLS says goodbye (close_notify) before the socket closes: a moment, not more.
            closing = [c.closed for c in connections if isinstance(c, _ApnsProtocol)]
            if closing:
                await asyncio.wait(closing, timeout=CLOSE_WAIT)


def client(config: dict, *, environment: str, clock: Callable[[], float] = time.time) -> ApnsClient:
    """A client on ``check_credentials``'s config, for 'production' or 'sandbox'. ``clock``
    (UNIX seconds) dates the provider tokens; tests move it."""
    return ApnsClient(config, environment=environment, clock=clock)


# -- answers -----------------------------------------------------------------------------------

# 410: the token is dead. 400 BadDeviceToken / DeviceTokenNotForTopic: it will never work for
# this app and environment (often a sandbox token sent to production) — pruned too, as
# django-push-notifications does; the device's next registration brings a good one.
_PRUNE = {"BadDeviceToken", "DeviceTokenNotForTopic"}
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_RETRY_REASONS = {"IdleTimeout", "Shutdown", "ServiceUnavailable", "InternalServerError"}


def answer(result: NotificationResult) -> Answer:
    """An aioapns result (from ``_ApnsProtocol``) as an Answer."""
    try:
        status = int(result.status)
    except (TypeError, ValueError):
        status = None
    reason = result.description or ""
    retry_after = getattr(result, "retry_after", None)
    if status == 200:
        return Answer(Result.ACCEPTED, message_id=result.notification_id, status=200)
    if status == 410:
        since = (
            datetime.fromtimestamp(result.timestamp / 1000, UTC)
            if isinstance(result.timestamp, int)
            else None
        )
        return Answer(
            Result.REFUSED,
            reason=reason or "Unregistered",
            status=410,
            prune=True,
            token_invalid_since=since,
        )
    if status is None or status in _RETRY_STATUSES or status >= 500 or reason in _RETRY_REASONS:
        return Answer(
            Result.RETRY, reason=reason or "stream-reset", status=status, retry_after=retry_after
        )
    return Answer(Result.REFUSED, reason=reason, status=status, prune=reason in _PRUNE)


# Apple's reason strings (handling-error-responses-from-apns), in words.
REASONS = {
    "BadCollapseId": "the collapse identifier is longer than 64 bytes",
    "BadDeviceToken": "the device token is not a valid token for this app's environment "
    "(a sandbox token sent to production, or the reverse)",
    "BadExpirationDate": "the apns-expiration value is invalid",
    "BadMessageId": "the apns-id value is invalid",
    "BadPriority": "the apns-priority value is invalid",
    "BadTopic": "the apns-topic (bundle id) is invalid",
    "DeviceTokenNotForTopic": "the device token belongs to another app than the bundle id",
    "DuplicateHeaders": "one or more headers were repeated",
    "IdleTimeout": "the connection was idle too long",
    "InvalidPushType": "the apns-push-type value is invalid",
    "MissingDeviceToken": "the request named no device token",
    "MissingTopic": "the apns-topic header is missing",
    "PayloadEmpty": "the payload is empty",
    "TopicDisallowed": "pushing to this bundle id is not allowed",
    "BadCertificate": "the certificate is invalid",
    "BadCertificateEnvironment": "the certificate is for the other environment",
    "ExpiredProviderToken": "the provider token is older than an hour: check the server's clock",
    "Forbidden": "APNs does not allow this",
    "InvalidProviderToken": "the provider token is invalid: check the key, its key id and the "
    "team id (and that the key may be used in this environment)",
    "MissingProviderToken": "no provider token was sent",
    "BadPath": "the request path is wrong",
    "MethodNotAllowed": "APNs takes POST only",
    "ExpiredToken": "the device token has expired",
    "Unregistered": "the app was removed from the device or notifications were turned off for good",
    "PayloadTooLarge": f"the payload is over {MAX_PAYLOAD} bytes",
    "TooManyProviderTokenUpdates": "the provider token was changed too often",
    "TooManyRequests": "too many notifications to this device in a short time",
    "InternalServerError": "APNs had an internal error",
    "ServiceUnavailable": "APNs is unavailable",
    "Shutdown": "the APNs server was shutting down",
    # Ours: no answer from Apple.
    "timeout": "APNs did not answer in time",
    "connection": "APNs could not be reached, or the connection was lost",
    "refused-stream": "APNs refused the request unprocessed, several times",
    "stream-reset": "APNs dropped the request without an answer",
}


def describe(answer: Answer) -> str:
    """The answer in words, for a person (the Test action, the push page)."""
    if answer.result == Result.ACCEPTED:
        return f"Accepted by APNs (apns-id {answer.message_id})"
    reason = answer.reason or (f"HTTP {answer.status}" if answer.status else "no answer")
    words = REASONS.get(answer.reason)
    if words is None:
        words = f"APNs answered HTTP {answer.status}" if answer.status else "unknown"
    if answer.result == Result.REFUSED:
        text = f"Refused: {reason} — {words}"
        if answer.prune:
            text += "; the token is pruned"
        if answer.token_invalid_since is not None:
            since = answer.token_invalid_since.strftime("%Y-%m-%d %H:%M:%S UTC")
            text += f" (Apple has known it invalid since {since})"
        return text
    if answer.result == Result.LOST:
        return (
            f"No answer: {reason} — {words} after the request was written; APNs may have "
            "taken it, so it is not sent again"
        )
    text = f"Not sent yet: {reason} — {words}; it will be tried again"
    if answer.retry_after is not None:
        text += f" (after {answer.retry_after:g} s, as APNs asked)"
    return text
