"""Fake Tencent Cloud API 3.0 endpoint (SMS 2021-01-11) for tests.

A real HTTP server on 127.0.0.1 that the unmodified ``tencentcloud-sdk-python`` client can call.
Each request is authenticated like Tencent does (TC3-HMAC-SHA256, clock skew, API version),
recorded in ``FakeTencentCloud.requests`` and answered by a per-action handler.

    with FakeTencentCloud(credentials={"AKIDtest": "secret"}) as cloud:
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=cloud.host, protocol="http"))
        client = SmsClient(Credential("AKIDtest", "secret"), "ap-guangzhou", profile)
        cloud.on("SendSms", lambda params, request: {"SendStatusSet": [...]})

The SDK sends even 127.0.0.1 calls through ``HTTP(S)_PROXY``: unset the proxy variables in tests.
See /work/shared/reference/tencent-apis.md sections 4 and 5 for the wire format.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

API_VERSION = "2021-01-11"
_AUTH_RE = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s]+)/(?P<date>[^/\s]+)/(?P<service>[^/\s]+)"
    r"/tc3_request,\s*SignedHeaders=(?P<signed>[a-z0-9-]+(?:;[a-z0-9-]+)*),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_AUTH_MESSAGES = {
    "AuthFailure.InvalidAuthorization": "Authorization is invalid.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure that your SecretId"
    " is correct.",
    "MissingParameter": "The request is missing a valid `X-TC-Timestamp`.",
    "AuthFailure.SignatureExpire": "Signature expired. Timestamp and server time cannot differ by"
    " more than 5 minutes.",
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated. Please"
    " check your signature is correct.",
}
# Unique across fakes and test runs, shaped like real serial numbers ("2640:" + 28 digits).
_serials = itertools.count(int(time.time() * 1000) * 10**15)


def _utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tc3_signature(
    secret_key: str,
    *,
    method: str,
    uri: str,
    query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    timestamp: int,
    service: str,
) -> str:
    """Hex TC3-HMAC-SHA256 signature (reference §5.5). headers: lower-case name -> value."""
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers
    )
    canonical_request = "\n".join(
        [method.upper(), uri, query, canonical_headers, ";".join(signed_headers), _sha256_hex(body)]
    )
    date = _utc_date(timestamp)
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/{service}/tc3_request",
            _sha256_hex(canonical_request.encode()),
        ]
    )
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class TencentCloudError(Exception):
    """Raise from a handler to answer {"Response": {"Error": {"Code", "Message"}, "RequestId"}}."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code, message)
        self.code = code
        self.message = message


@dataclass
class ReceivedRequest:
    action: str  # X-TC-Action
    version: str  # X-TC-Version
    region: str  # X-TC-Region ('' if absent)
    secret_id: str  # from the Credential ('' if the Authorization header is unusable)
    params: dict  # parsed JSON body ({} if invalid)
    headers: dict  # lower-case names
    signature_valid: bool  # signature matches the SecretKey and service (clock skew not included)
    at: float  # time.time() when received
    body: bytes = b""  # raw request body
    request_id: str = ""  # RequestId of the reply


Handler = Callable[[dict, ReceivedRequest], dict]


def _describe_sign_list(params: dict, request: ReceivedRequest) -> dict:
    return {"DescribeSignListStatusSet": []}


def _describe_template_list(params: dict, request: ReceivedRequest) -> dict:
    return {"DescribeTemplateStatusSet": []}


# Calling codes (prefix-free, so at most one matches) -> ISO 3166 code, for a few common ones.
_ISO_CODES = {
    "1": "US",
    "7": "RU",
    "33": "FR",
    "44": "GB",
    "49": "DE",
    "60": "MY",
    "61": "AU",
    "62": "ID",
    "63": "PH",
    "65": "SG",
    "66": "TH",
    "81": "JP",
    "82": "KR",
    "84": "VN",
    "86": "CN",
    "91": "IN",
    "852": "HK",
    "853": "MO",
    "886": "TW",
}


def _iso_code(number: str) -> str:
    """ISO code of a number as Tencent reports it: mainland forms (``+86…``, ``0086…``, ``86…``
    or bare 11 digits, which default to +86) are CN; ``DEF`` when the country is not known."""
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith("00"):
        digits = number[2:]
    else:
        return "CN"
    for length in (1, 2, 3):
        if digits[:length] in _ISO_CODES:
            return _ISO_CODES[digits[:length]]
    return "DEF"


def _send_sms(params: dict, request: ReceivedRequest) -> dict:
    """SendSms with Tencent's request-level checks (reference §4.2, §4.4, §4.8)."""
    for name in ("SmsSdkAppId", "TemplateId"):
        if not params.get(name):
            raise TencentCloudError("MissingParameter", f"The request is missing a `{name}`.")
    numbers = params.get("PhoneNumberSet") or []
    if not numbers:
        raise TencentCloudError("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty.")
    if len(numbers) > 200:
        raise TencentCloudError(
            "LimitExceeded.PhoneNumberCountLimit", "The number of phone numbers exceeds 200."
        )
    iso_codes = [_iso_code(number) for number in numbers]
    mainland = {code == "CN" for code in iso_codes}
    if len(mainland) > 1:
        raise TencentCloudError(
            "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
            "One request cannot contain both Chinese mainland and international numbers.",
        )
    if mainland == {True} and not params.get("SignName"):
        raise TencentCloudError(
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "A Chinese mainland SMS needs an approved SignName.",
        )
    return {
        "SendStatusSet": [
            {
                "SerialNo": f"2640:{next(_serials)}",
                "PhoneNumber": number,
                "Fee": 1,
                "SessionContext": params.get("SessionContext", ""),
                "Code": "Ok",
                "Message": "send success",
                "IsoCode": iso_code,
            }
            for number, iso_code in zip(numbers, iso_codes, strict=True)
        ]
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the handler threads
    request_queue_size = 128  # the default 5 makes concurrent clients wait for SYN retries
    fake: FakeTencentCloud

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients giving up is expected
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # never let a silent client pin a handler thread

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        status, payload = self.server.fake._handle(self, self.rfile.read(length))
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")  # exactly: the SDK compares it
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class FakeTencentCloud:
    """with FakeTencentCloud(credentials={"AKIDxxx": "key"}) as cloud: ...

    ``cloud.endpoint == "http://127.0.0.1:PORT"``; ``cloud.host`` is the HttpProfile endpoint.
    """

    def __init__(
        self,
        credentials: dict[str, str] | None = None,
        *,
        service: str = "sms",
        clock: Callable[[], float] = time.time,
        max_skew: int = 300,
    ):
        self.credentials = dict(credentials or {})
        self.service = service
        self.clock = clock
        self.max_skew = max_skew
        self.delay = 0.0
        self.requests: list[ReceivedRequest] = []
        self.max_in_flight = 0  # the most requests being handled at one moment
        self._in_flight = 0
        self._handlers: dict[str, Handler] = {
            "DescribeSmsSignList": _describe_sign_list,
            "DescribeSmsTemplateList": _describe_template_list,
            "SendSms": _send_sms,
        }
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTencentCloud is not started")
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("FakeTencentCloud is already started")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeTencentCloud:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on `delay`
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- configuration and inspection --------------------------------------------------------

    def on(self, action: str, handler: Handler) -> None:
        """Answer `action` with handler(params, request) -> Response body (no RequestId).

        The handler may raise TencentCloudError to answer with an error.
        """
        with self._lock:
            self._handlers[action] = handler

    def calls(self, action: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.action == action]

    # -- request processing ------------------------------------------------------------------

    def _handle(self, raw: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict]:
        headers = {name.lower(): value for name, value in raw.headers.items()}
        path, _, query = raw.path.partition("?")
        secret_id, signature_valid, error = self._authenticate(
            raw.command, path, query, headers, body
        )
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        request = ReceivedRequest(
            action=headers.get("x-tc-action", ""),
            version=headers.get("x-tc-version", ""),
            region=headers.get("x-tc-region", ""),
            secret_id=secret_id,
            params=params if isinstance(params, dict) else {},
            headers=headers,
            signature_valid=signature_valid,
            at=time.time(),
            body=body,
            request_id=str(uuid.uuid4()),
        )
        with self._lock:
            self.requests.append(request)
            handler = self._handlers.get(request.action)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay:
                self._stopping.wait(self.delay)
            return self._answer(request, handler, params, error)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request, handler, params, error) -> tuple[int, dict]:
        try:
            if error:
                raise TencentCloudError(error, _AUTH_MESSAGES[error])
            if request.version != API_VERSION:
                raise TencentCloudError(
                    "NoSuchVersion",
                    f"The requested version `{request.version}` of service `{self.service}`"
                    " is not supported.",
                )
            if handler is None:
                raise TencentCloudError(
                    "InvalidAction", f"The action `{request.action}` is not found."
                )
            if not isinstance(params, dict):
                raise TencentCloudError(
                    "InvalidParameter", "The request body is not a JSON object."
                )
            response = dict(handler(params, request))
        except TencentCloudError as exc:
            response = {"Error": {"Code": exc.code, "Message": exc.message}}
        except Exception as exc:  # noqa: BLE001 - a broken handler becomes an SDK error
            response = {
                "Error": {"Code": "InternalError", "Message": f"{type(exc).__name__}: {exc}"}
            }
        return 200, {"Response": {**response, "RequestId": request.request_id}}

    def _authenticate(
        self, method: str, uri: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, bool, str | None]:
        """Return (secret_id, signature_valid, first failing error code in Tencent's order)."""
        match = _AUTH_RE.fullmatch(headers.get("authorization", "").strip())
        signed = match["signed"].split(";") if match else []
        if not match or "host" not in signed or "content-type" not in signed:
            return "", False, "AuthFailure.InvalidAuthorization"
        secret_id, timestamp = match["secret_id"], headers.get("x-tc-timestamp", "")
        secret_key = self.credentials.get(secret_id)
        if secret_key is None:
            return secret_id, False, "AuthFailure.SecretIdNotFound"
        if not timestamp.isdigit():
            return secret_id, False, "MissingParameter"
        timestamp = int(timestamp)
        if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
            body = b"UNSIGNED-PAYLOAD"
        expected = tc3_signature(
            secret_key,
            method=method,
            uri=uri,
            query=query,
            headers=headers,
            signed_headers=signed,
            body=body,
            timestamp=timestamp,
            service=self.service,
        )
        valid = hmac.compare_digest(expected, match["signature"])
        if abs(self.clock() - timestamp) > self.max_skew:
            return secret_id, valid, "AuthFailure.SignatureExpire"
        if match["date"] != _utc_date(timestamp) or match["service"] != self.service:
            return secret_id, valid, "AuthFailure.SignatureFailure"  # wrong credential scope
        return secret_id, valid, None if valid else "AuthFailure.SignatureFailure"
