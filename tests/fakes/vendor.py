"""The base of the phone makers' loopback fakes (Huawei, Xiaomi, OPPO, vivo, Honor, Meizu): a
real HTTPS server on 127.0.0.1 (HTTP/1.1, the loopback CA of ``tests.fakes.tls``) in a thread
of its own, and a receipt sender that posts the vendor's callbacks to pushconsole.

A vendor's fake subclasses ``VendorFake`` and answers in ``handle``::

    class FakeHuawei(VendorFake):
        def handle(self, request: Request) -> Reply:
            if request.path == "/oauth2/v3/token":
                ...
            return Reply.json(200, {"code": "80000000", "msg": "Success"})

    with FakeHuawei() as huawei:
        settings.PUSH_HUAWEI_URL = huawei.url
        settings.PUSH_CHANNEL_CA_FILE = huawei.ca_file
        huawei.received           # every request, as ``Request`` (unless record=False)
        huawei.requests           # how many were answered (kept with record=False too)

``handle`` raising ``Reply`` answers with it (a refusal from deep inside a check). A reply
with ``delay`` is held that long first (a slow vendor, a timeout); ``drop`` closes the
connection without an answer (a request written but never answered).

``post(url, body, headers)`` is the vendor calling us back: a plain httpx POST, so a test sees
our answer as the vendor would.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

from tests.fakes.tls import loopback_ca


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """A form-encoded body (the last value of a repeated name)."""
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Reply(Exception):
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, status: int, value: Any, **kwargs) -> Reply:
        body = json.dumps(value, ensure_ascii=False).encode()
        return cls(status, body, {"content-type": "application/json;charset=UTF-8"}, **kwargs)


class VendorFake:
    def __init__(self, *, record: bool = True):
        self.record = record
        self.ca = loopback_ca()
        self._lock = threading.Lock()
        self._received: list[Request] = []
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._sockets: set = set()

    # -- what a subclass gives -------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    # -- what tests read -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> str:
        return self.ca.ca_file

    @property
    def received(self) -> list[Request]:
        with self._lock:
            return list(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self.requests = 0

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        """The vendor posting a receipt callback to ``url`` (pushconsole's)."""
        return httpx.post(url, content=body, headers=headers or {}, timeout=30)

    # -- the server ------------------------------------------------------------------------

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    reply = fake.handle(request)
                except Reply as raised:
                    reply = raised
                with fake._lock:
                    fake.requests += 1
                    if fake.record:
                        fake._received.append(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def get_request(self):
                sock, address = super().get_request()
                wrapped = context.wrap_socket(sock, server_side=True)
                with fake._lock:
                    fake._sockets.add(wrapped)
                return wrapped, address

            def handle_error(self, request, client_address):
                # A client that hung up (a timeout test) is no fault of the fake's.
                if isinstance(sys.exc_info()[1], OSError):
                    return
                super().handle_error(request, client_address)

            def shutdown_request(self, request):
                with fake._lock:
                    fake._sockets.discard(request)
                super().shutdown_request(request)

        context = self.ca.server_context(alpn=("http/1.1",))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, name=type(self).__name__, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections would go on being served: a stopped vendor answers nothing.
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
