"""A fake Apple Push Notification service (provider API) on 127.0.0.1, for tests and the
benchmark: HTTP/2 over TLS (the ``h2`` library on an asyncio server in a background thread),
checking each request the way Apple documents and answering like Apple
(developer.apple.com/documentation/usernotifications/handling-error-responses-from-apns).

    key, key_id = apns_key()
    with FakeApns(keys={key_id: key}, team_id="TEAM123456", topics=["com.example.app"]) as apns:
        apns.url                                  # "https://127.0.0.1:PORT"
        apns.answer(token, 410, "Unregistered", timestamp=1_700_000_000_000)
        apns.fail_next(3, 429, "TooManyRequests")
        ...
        apns.received, apns.accepted, apns.jwts, apns.connections

What it checks, in order (the first failure answers): the method (405 MethodNotAllowed), the
path (404 BadPath; 400 MissingDeviceToken / BadDeviceToken), repeated apns-* headers (400
DuplicateHeaders), the provider token (403 MissingProviderToken / InvalidProviderToken /
ExpiredProviderToken; 429 TooManyProviderTokenUpdates when a connection changes token within
20 minutes), apns-push-type (400 InvalidPushType), apns-topic (400 MissingTopic / BadTopic /
DeviceTokenNotForTopic), apns-priority (400 BadPriority, also 10 with push type background:
Apple requires 5 there), apns-expiration (400 BadExpirationDate), apns-collapse-id (400
BadCollapseId), apns-id (400 BadMessageId) and the payload (400 PayloadEmpty, 413
PayloadTooLarge; "BadPayload", the fake's own word, for one that is not a JSON object with an
``aps`` object). Only then do scripted answers apply: ``reset_next`` (the stream is refused
with RST_STREAM REFUSED_STREAM, as APNs does when it lowers its stream limit), ``fail_next``,
then ``answer`` per token.

The TLS context offers ALPN "h2", but aioapns sends no ALPN and starts HTTP/2 straight after
the handshake, which this server accepts as it is (it never looks at the negotiated protocol).
Flow control is honoured both ways: the fake acknowledges request bodies and waits for the
client's window before sending an error body, as a real server must. The stream limit it
announces (``max_concurrent_streams``; ``streams_until_authorized`` for Apple's "one stream
until a valid provider token") is enforced: a client opening more loses the connection
(counted in ``h2_errors``). ``settings_delay`` plays a distant server, ``delay`` a slow one,
``drop_connections()`` a network failure; ``statuses`` counts answers even with
``record=False`` (the benchmark, with ``drive``: plain aioapns against the fake).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl
import string
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from .tls import loopback_ca

MAX_PAYLOAD = 4096
TOKEN_MAX_AGE = 60 * 60  # Apple rejects a provider token whose iat is older than one hour
TOKEN_MIN_INTERVAL = 20 * 60  # and a connection whose token changes more often than this
PUSH_TYPES = {
    "alert": "",
    "background": "",
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "mdm": "",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
}
_SLICE = 4096
_HEX = re.compile(rb"[0-9a-fA-F]+")
_TOPIC = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits


def apns_key() -> tuple[str, str]:
    """A new APNs signing key as Apple hands it out: a P-256 private key in PKCS8 PEM (the
    .p8 file's text), and a 10-character key id."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(10))


def public_key(key: Any) -> ec.EllipticCurvePublicKey:
    """The public half of a key given as a key object or as PEM (private or public)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.public_key()
    data = key.encode() if isinstance(key, str) else key
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it, and what it answered."""

    token: str
    headers: dict[str, str]  # every header, pseudo-headers included (the last of a repeat)
    payload: dict | None  # the JSON body, when it was JSON
    jwt_header: dict | None  # the provider token's header and claims, when it had one
    jwt_claims: dict | None
    status: int  # 0: the stream was refused (``reset_next``)
    reason: str  # "" on 200
    apns_id: str
    connection: int  # which TLS connection (1, 2, ...) carried it


@dataclass(frozen=True)
class _Scripted:
    status: int
    reason: str
    timestamp: int | None = None
    retry_after: int | None = None


_REFUSE = _Scripted(0, "REFUSED_STREAM")  # refuse the stream rather than answer


@dataclass
class _Stream:
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)


class FakeApns:
    def __init__(
        self,
        *,
        keys: dict[str, Any],
        team_id: str,
        topics: Iterable[str],
        max_concurrent_streams: int = 1000,
        streams_until_authorized: int | None = None,
        delay: float = 0.0,
        settings_delay: float = 0.0,
        record: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``keys``: {key id: public key (object or PEM; a private key's PEM will do)}.
        ``max_concurrent_streams`` is announced in SETTINGS and enforced (a client opening
        more loses the connection). ``streams_until_authorized``: announce that many streams
        until a request with a valid provider token, as Apple documents for token auth, then
        ``max_concurrent_streams``. ``delay``: seconds before each answer (it may be changed
        while running). ``settings_delay``: seconds before the server sends its first SETTINGS
        and reads the client's first frames (a distant server; on loopback the SETTINGS
        arrive with the TLS handshake, before a client could send a burst). ``record=False``
        keeps no ``received`` list (the benchmark)."""
        self.keys = {kid: public_key(k) for kid, k in keys.items()}
        self.team_id = team_id
        self.topics = frozenset(topics)
        self.max_concurrent_streams = max_concurrent_streams
        self.streams_until_authorized = streams_until_authorized
        self.delay = delay
        self.settings_delay = settings_delay
        self.record = record
        self.clock = clock
        self._lock = threading.Lock()
        self._verdicts: dict[bytes, tuple[str, dict | None, dict | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._protocols: set[_ApnsServerProtocol] = set()
        self.port = 0
        self.reset()

    # -- scripting and what was seen (any thread) ---------------------------------------------

    def reset(self) -> None:
        """Forget what was received and every scripted answer."""
        with self._lock:
            self._received: list[Received] = []
            self._accepted = 0
            self._answers: dict[str, _Scripted] = {}
            self._next: list[_Scripted] = []
            self._resets = 0
            self._jwts: set[bytes] = set()
            self._statuses: Counter[int] = Counter()
            self._connections = 0
            self._h2_errors = 0

    def answer(
        self,
        token: str,
        status: int,
        reason: str,
        *,
        timestamp: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer every valid request for ``token`` so (``timestamp``: ms, for 410)."""
        with self._lock:
            self._answers[token] = _Scripted(status, reason, timestamp, retry_after)

    def fail_next(
        self, n: int, status: int, reason: str, *, retry_after: int | None = None
    ) -> None:
        """Answer the next ``n`` valid requests so (``retry_after``: a retry-after header)."""
        with self._lock:
            self._next.extend([_Scripted(status, reason, None, retry_after)] * n)

    def reset_next(self, n: int) -> None:
        """Refuse the next ``n`` valid requests' streams (RST_STREAM REFUSED_STREAM)."""
        with self._lock:
            self._resets += n

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> int:
        return self._accepted

    @property
    def statuses(self) -> Counter[int]:
        """How many answers of each status (also with ``record=False``)."""
        with self._lock:
            return Counter(self._statuses)

    @property
    def jwts(self) -> int:
        """How many distinct provider tokens were presented."""
        with self._lock:
            return len(self._jwts)

    @property
    def connections(self) -> int:
        """How many TLS connections were accepted."""
        return self._connections

    @property
    def h2_errors(self) -> int:
        """How many connections the fake closed for breaking HTTP/2 (too many streams...)."""
        return self._h2_errors

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- running ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _ApnsServerProtocol(self),
                        "127.0.0.1",
                        0,
                        ssl=loopback_ca().server_context(alpn=("h2",)),
                        backlog=1024,
                    )
                )
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-apns", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            for protocol in list(self._protocols):
                protocol.abort()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shut(), loop)
        self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def drop_connections(self) -> None:
        """Cut every open connection (TCP reset, no GOAWAY), as a network failure would."""
        if self._loop is not None:
            for protocol in list(self._protocols):
                self._loop.call_soon_threadsafe(protocol.abort)

    # -- judging one request (the fake's thread) ----------------------------------------------

    def _provider_token(self, value: bytes) -> tuple[str, dict | None, dict | None]:
        """("" or the 403 reason, header, claims) of an authorization header's token,
        verified once per distinct token (the signature does not change with time)."""
        verdict = self._verdicts.get(value)
        if verdict is not None:
            return verdict
        verdict = ("InvalidProviderToken", None, None)
        if value.startswith(b"bearer "):
            token = value[7:].decode("ascii", "replace")
            try:
                header = jwt.get_unverified_header(token)
                kid = header.get("kid")
                if header.get("alg") == "ES256" and kid in self.keys:
                    claims = jwt.decode(
                        token,
                        self.keys[kid],
                        algorithms=["ES256"],
                        options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
                    )
                    if claims.get("iss") == self.team_id and isinstance(claims.get("iat"), int):
                        verdict = ("", header, claims)
                    else:
                        verdict = ("InvalidProviderToken", header, claims)
            except jwt.PyJWTError:
                pass
        self._verdicts[value] = verdict
        return verdict

    def _judge(
        self, stream: _Stream, connection: _ApnsServerProtocol
    ) -> tuple[_Scripted | None, dict[str, str], dict | None, dict | None, dict | None, str]:
        """(the scripted answer — None: accept; ``_REFUSE``: refuse the stream —, headers,
        payload, jwt header, claims, apns-id)."""
        headers: dict[bytes, bytes] = {}
        repeated = False
        for name, value in stream.headers:
            if name in headers and name.startswith(b"apns-"):
                repeated = True
            headers[name] = value
        shown = {k.decode(): v.decode("utf-8", "replace") for k, v in headers.items()}
        given_id = shown.get("apns-id")
        apns_id = given_id or str(uuid.uuid4())  # every answer carries one, errors too
        payload = None
        jwt_header = claims = None

        def fail(status: int, reason: str) -> tuple:
            return _Scripted(status, reason), shown, payload, jwt_header, claims, apns_id

        if headers.get(b":method") != b"POST":
            return fail(405, "MethodNotAllowed")
        path = headers.get(b":path", b"")
        if not path.startswith(b"/3/device/"):
            return fail(404, "BadPath")
        token = path[10:]
        if not token:
            return fail(400, "MissingDeviceToken")
        if len(token) % 2 or not 64 <= len(token) <= 200 or not _HEX.fullmatch(token):
            return fail(400, "BadDeviceToken")
        if repeated:
            return fail(400, "DuplicateHeaders")
        authorization = headers.get(b"authorization")
        if authorization is None:
            return fail(403, "MissingProviderToken")
        problem, jwt_header, claims = self._provider_token(authorization)
        with self._lock:
            self._jwts.add(authorization)
        if problem:
            return fail(403, problem)
        iat = claims["iat"]
        if iat < self.clock() - TOKEN_MAX_AGE:
            return fail(403, "ExpiredProviderToken")
        if connection.authorization != authorization:
            if (
                connection.authorization is not None
                and iat - connection.authorized_at < TOKEN_MIN_INTERVAL
            ):
                return fail(429, "TooManyProviderTokenUpdates")
            connection.authorized(authorization, iat)
        push_type = shown.get("apns-push-type")
        if push_type not in PUSH_TYPES:
            return fail(400, "InvalidPushType")
        topic = shown.get("apns-topic")
        if not topic:
            return fail(400, "MissingTopic")
        if not _TOPIC.fullmatch(topic):
            return fail(400, "BadTopic")
        suffix = PUSH_TYPES[push_type]
        if not topic.endswith(suffix) or topic[: len(topic) - len(suffix)] not in self.topics:
            return fail(400, "DeviceTokenNotForTopic")
        priority = shown.get("apns-priority", "10")
        if priority not in ("10", "5", "1") or (push_type == "background" and priority == "10"):
            return fail(400, "BadPriority")
        expiration = shown.get("apns-expiration")
        if expiration is not None and not expiration.isdigit():
            return fail(400, "BadExpirationDate")
        collapse_id = headers.get(b"apns-collapse-id")
        if collapse_id is not None and len(collapse_id) > 64:
            return fail(400, "BadCollapseId")
        if given_id is not None:
            try:
                uuid.UUID(given_id)
            except ValueError:
                return fail(400, "BadMessageId")
        if not stream.body:
            return fail(400, "PayloadEmpty")
        if len(stream.body) > MAX_PAYLOAD:
            return fail(413, "PayloadTooLarge")
        try:
            payload = json.loads(stream.body)
        except ValueError:
            return fail(400, "BadPayload")
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return fail(400, "BadPayload")
        with self._lock:
            if self._resets:
                self._resets -= 1
                return _REFUSE, shown, payload, jwt_header, claims, apns_id
            scripted = self._next.pop(0) if self._next else self._answers.get(token.decode())
        return scripted, shown, payload, jwt_header, claims, apns_id

    def _answered(self, received: Received | None, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1
            if status == 200:
                self._accepted += 1
            if received is not None:
                self._received.append(received)


class _ApnsServerProtocol(asyncio.Protocol):
    """One client connection of the fake."""

    def __init__(self, fake: FakeApns) -> None:
        self.fake = fake
        self.conn = H2Connection(config=H2Configuration(client_side=False, header_encoding=None))
        first = fake.streams_until_authorized or fake.max_concurrent_streams
        # Settings given at construction are in force at once (not waiting for the client's
        # acknowledgement), so the limit announced is the limit enforced from the start.
        self.conn.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: first,
                SettingCodes.MAX_HEADER_LIST_SIZE: 8000,
            },
        )
        self.streams: dict[int, _Stream] = {}
        self.waiting: list[tuple[int, bytes]] = []  # error bodies waiting for window
        self.transport: asyncio.Transport | None = None
        self.authorization: bytes | None = None
        self.authorized_at = 0
        self.number = 0
        self.started = False
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fake._protocols.add(self)
        with self.fake._lock:
            self.fake._connections += 1
            self.number = self.fake._connections
        self.conn.initiate_connection()
        if self.fake.settings_delay:
            asyncio.get_running_loop().call_later(self.fake.settings_delay, self.start)
        else:
            self.start()

    def start(self) -> None:
        """Send the server's SETTINGS, then read what the client sent meanwhile: as a server
        ``settings_delay`` away would, which sees the client's first burst only later."""
        self.started = True
        self.flush()
        early, self.early = b"".join(self.early), []
        if early:
            self.data_received(early)  # arrived together, counted open together

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._protocols.discard(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def authorized(self, authorization: bytes, iat: int) -> None:
        first = self.authorization is None
        self.authorization, self.authorized_at = authorization, iat
        if first and self.fake.streams_until_authorized is not None:
            limit = self.fake.max_concurrent_streams
            self.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: limit})

    def data_received(self, data: bytes) -> None:
        if not self.started:
            self.early.append(data)
            return
        # In slices: h2 counts open streams by walking them all for each new one, so a burst
        # of a thousand requests handed over at once would cost a million steps; answered a
        # slice at a time, few streams are open at once.
        for start in range(0, len(data), _SLICE):
            if not self.receive(data[start : start + _SLICE]):
                return
        self.flush()

    def receive(self, data: bytes) -> bool:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            # h2 has queued a GOAWAY naming the error (too many streams, a bad frame).
            with self.fake._lock:
                self.fake._h2_errors += 1
            self.flush()
            if self.transport is not None:
                self.transport.close()
            return False
        for event in events:
            kind = type(event)
            if kind is RequestReceived:
                self.streams[event.stream_id] = _Stream(event.headers)
            elif kind is DataReceived:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif kind is StreamEnded:
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    self.request(event.stream_id, stream)
            elif kind is WindowUpdated:
                self.send_waiting()
            elif kind is StreamReset:
                self.streams.pop(event.stream_id, None)
            elif kind is ConnectionTerminated:
                self.flush()
                if self.transport is not None:
                    self.transport.close()
                return False
        return True

    def request(self, stream_id: int, stream: _Stream) -> None:
        fake = self.fake
        scripted, headers, payload, jwt_header, claims, apns_id = fake._judge(stream, self)
        status = scripted.status if scripted else 200
        reason = scripted.reason if scripted else ""
        record = None
        if fake.record:
            token = headers.get(":path", "")[10:]
            record = Received(
                token, headers, payload, jwt_header, claims, status, reason, apns_id, self.number
            )
        fake._answered(record, status)
        if scripted is _REFUSE:
            self.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        response = [(b":status", str(status).encode()), (b"apns-id", apns_id.encode())]
        body = b""
        if scripted:
            response.append((b"content-type", b"application/json"))
            if scripted.retry_after is not None:
                response.append((b"retry-after", str(scripted.retry_after).encode()))
            error = {"reason": reason}
            if status == 410:
                error["timestamp"] = (
                    scripted.timestamp
                    if scripted.timestamp is not None
                    else int(fake.clock() * 1000)
                )
            body = json.dumps(error, separators=(",", ":")).encode()
        if fake.delay:
            asyncio.get_running_loop().call_later(
                fake.delay, self.respond_later, stream_id, response, body
            )
        else:
            self.respond(stream_id, response, body)

    def respond_later(self, stream_id: int, response: list, body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.respond(stream_id, response, body)
        self.flush()

    def respond(self, stream_id: int, response: list, body: bytes) -> None:
        try:
            if not body:
                self.conn.send_headers(stream_id, response, end_stream=True)
                return
            self.conn.send_headers(stream_id, response)
            self.waiting.append((stream_id, body))
            self.send_waiting()
        except ProtocolError:
            pass  # the client reset the stream meanwhile

    def send_waiting(self) -> None:
        """Send the error bodies the client's flow-control windows have room for."""
        still = []
        for stream_id, body in self.waiting:
            try:
                if self.conn.local_flow_control_window(stream_id) >= len(body):
                    self.conn.send_data(stream_id, body, end_stream=True)
                else:
                    still.append((stream_id, body))
            except ProtocolError:
                pass  # the stream is gone
        self.waiting = still


async def drive(
    url: str,
    n: int,
    *,
    key: str,
    key_id: str,
    team_id: str,
    topic: str,
    ca_file: str,
    in_flight: int = 1000,
    max_connections: int = 10,
) -> dict:
    """Send ``n`` notifications through plain aioapns (nothing of ours around it: only its
    host and port pointed at ``url``, and a context trusting ``ca_file``), ``in_flight`` at a
    time; the throughput limit of the library against this fake. Returns
    {"sent", "statuses", "seconds", "per_second"}.

    Run the fake in another process for a fair number (in one process the two share the
    GIL); call ``loopback_ca()`` before forking it, so that both sides share the CA."""
    from urllib.parse import urlsplit

    from aioapns import APNs, NotificationRequest, PushType
    from aioapns.connection import APNsProductionClientProtocol

    where = urlsplit(url)
    protocol = type(
        "LoopbackProtocol",
        (APNsProductionClientProtocol,),
        {"APNS_SERVER": where.hostname, "APNS_PORT": where.port},
    )
    context = ssl.create_default_context(cafile=ca_file)
    client = APNs(
        key=key,
        key_id=key_id,
        team_id=team_id,
        topic=topic,
        max_connections=max_connections,
        ssl_context=context,
    )
    client.pool.protocol_class = protocol
    gate = asyncio.Semaphore(in_flight)
    statuses: Counter[str] = Counter()
    message = {"aps": {"alert": {"title": "Benchmark", "body": "A notification"}}}

    async def one(i: int) -> None:
        async with gate:
            request = NotificationRequest(
                device_token=f"{i:064x}", message=message, push_type=PushType.ALERT
            )
            result = await client.send_notification(request)
            statuses[result.status] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        client.pool.close()
    seconds = time.perf_counter() - started
    return {
        "sent": n,
        "statuses": dict(statuses),
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds),
    }
