"""SMS transports: hand a batch of numbers to a provider and say, per number, what became of it.

    results = TencentTransport(secret_id, secret_key).send(batch)   # one NumberResult per number

A transport never touches the database and never raises for what the provider or the network
does: a refusal is a FAILED result carrying a ``ProviderError`` whose ``kind`` says whether a
retry can help, and a request that may have reached the provider without a readable answer is an
UNKNOWN result. UNKNOWN means "perhaps sent": the caller must find out (status reports) before
sending again, never re-send blindly, or the recipient may get the SMS twice.
"""

import logging
import math
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from .tencentcloud import (
    NETWORK_ERROR_CODES,
    TencentCloudSDKException,
    sms_client_for,
)

logger = logging.getLogger(__name__)

MAINLAND = "mainland"
GLOBAL = "global"
MAINLAND_PREFIX = "+86"
# Tencent's SendSms takes at most this many numbers per request (reference §4.2, error 1046).
# ``sending`` takes as many per call (its API, like SendSms's), and a transport splits a batch
# into requests of ``Transport.max_batch``, which is this.
SENDSMS_MAX_NUMBERS = 200
# SendSms requests of one batch in flight at once (each carries up to SENDSMS_MAX_NUMBERS).
PARALLEL_REQUESTS = 5


class FailureKind(StrEnum):
    PERMANENT = "permanent"  # retrying cannot help (bad number, template, balance, credentials…)
    RETRYABLE = "retryable"  # may succeed later (API throttling, Tencent internal errors…)
    RATE_LIMITED = "rate_limited"  # a frequency limit for the number or the app was hit


# Quotas configured for a number or an application (reference §4.4, §4.7).
_RATE_LIMITED = frozenset(
    {
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "LimitExceeded.PhoneNumberOneHourLimit",
        "LimitExceeded.PhoneNumberDailyLimit",
        "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.DeliveryFrequencyLimit",
        "LimitExceeded.AppDailyLimit",
        "LimitExceeded.AppMainlandChinaDailyLimit",
        "LimitExceeded.AppGlobalDailyLimit",
        "LimitExceeded.AppCountryOrRegionDailyLimit",
        "LimitExceeded.DailyLimit",
    }
)
_RETRYABLE = (
    frozenset(
        {
            # Throughput limits, unlike the quotas above: the same request works a moment later.
            "LimitExceeded.GlobalSmsSendingRateLimit",
            # Marketing SMS to the mainland only goes out 08:00-22:00.
            "FailedOperation.MarketingSendTimeConstraint",
            "ServiceUnavailable",
            "ResourceUnavailable",
        }
    )
    # The SDK's codes for a network failure.
    | NETWORK_ERROR_CODES
)
# RequestLimitExceeded, .UinLimitExceeded, .IPLimitExceeded…; InternalError.Timeout, .OtherError…
_RETRYABLE_PREFIXES = ("RequestLimitExceeded", "InternalError")


def classify(code: str) -> FailureKind:
    """What a provider error code means for a retry. Unknown codes are PERMANENT.

    Everything not listed is a problem with the request, the account or the number that sending
    again will not fix: AuthFailure.*, UnauthorizedOperation.*, FailedOperation.* (balance,
    signature, template, blacklist…), InvalidParameter*, MissingParameter*, UnsupportedOperation.*,
    LimitExceeded.PhoneNumberCountLimit and LimitExceeded.AppCountryOrRegionInBlacklist.
    """
    if code in _RATE_LIMITED:
        return FailureKind.RATE_LIMITED
    if code in _RETRYABLE or code.startswith(_RETRYABLE_PREFIXES):
        return FailureKind.RETRYABLE
    return FailureKind.PERMANENT


class ProviderError(Exception):
    """A refusal by the provider (code, message, kind, request_id). Also usable as a value."""

    def __init__(
        self,
        code: str,
        message: str = "",
        kind: FailureKind | None = None,
        request_id: str = "",
    ):
        kind = classify(code) if kind is None else FailureKind(kind)
        super().__init__(code, message, kind, request_id)  # all four, so it pickles intact
        self.code, self.message, self.kind, self.request_id = code, message, kind, request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True)
class OutgoingBatch:
    sdk_app_id: str
    template_id: str  # the provider's template id
    sign_name: str  # may be "" (global SMS)
    params: tuple[str, ...]
    numbers: tuple[str, ...]  # E.164, any count: the transport splits
    region: str  # MAINLAND or GLOBAL; every number must belong to it (+86 = mainland)
    session_context: str = ""
    content: str = ""  # the rendered text with its signature, for a simulated fee


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # certainly not sent
    UNKNOWN = "unknown"  # perhaps sent: never re-send without checking


@dataclass
class NumberResult:
    number: str
    outcome: Outcome
    serial_no: str = ""
    fee: int = 0
    code: str = ""  # "Ok", the provider's error code, or the SDK's (e.g. ClientNetworkError)
    message: str = ""
    iso_code: str = ""
    request_id: str = ""
    error: ProviderError | None = None  # set when outcome is FAILED or UNKNOWN


def _same_for_all(
    numbers: Sequence[str], outcome: Outcome, error: ProviderError
) -> list[NumberResult]:
    return [
        NumberResult(
            number,
            outcome,
            code=error.code,
            message=error.message,
            request_id=error.request_id,
            error=error,
        )
        for number in numbers
    ]


def segments(text: str) -> int:
    """Billed parts: 1 if len(text) <= 70, else ceil(len(text) / 67). Empty text -> 1."""
    return 1 if len(text) <= 70 else math.ceil(len(text) / 67)


class Transport:
    name: str
    simulated: bool = False
    max_batch = SENDSMS_MAX_NUMBERS

    def send(self, batch: OutgoingBatch) -> list[NumberResult]:
        """Exactly one result per number of batch.numbers, in the same order.

        Never raises for provider refusals or network errors: they become FAILED / UNKNOWN
        results. Raises ValueError only for a batch that breaks the contract (no numbers, a
        number not in E.164, a number of another region than batch.region).
        """
        _check_contract(batch)
        return self._send(batch)

    def _send(self, batch: OutgoingBatch) -> list[NumberResult]:
        raise NotImplementedError


def _check_contract(batch: OutgoingBatch) -> None:
    if not batch.numbers:
        raise ValueError("OutgoingBatch has no numbers")
    if batch.region not in (MAINLAND, GLOBAL):
        raise ValueError(f"OutgoingBatch.region must be {MAINLAND!r} or {GLOBAL!r}")
    for number in batch.numbers:
        if not number.startswith("+"):
            # Tencent would read a bare "137…" as +86, whatever batch.region says.
            raise ValueError(f"{number!r} is not in E.164 form")
        if number.startswith(MAINLAND_PREFIX) != (batch.region == MAINLAND):
            raise ValueError(f"{number!r} does not belong in a {batch.region} batch")


LOCAL_OUTBOX: list[OutgoingBatch] = []
_local_outbox_lock = threading.Lock()


def clear_local_outbox() -> None:
    with _local_outbox_lock:
        LOCAL_OUTBOX.clear()


class LocalTransport(Transport):
    """Sends nothing and records every batch, for development and tests.

    Read what would have been sent from ``transport.outbox`` or, across instances and threads,
    from the module's ``LOCAL_OUTBOX`` (emptied by ``clear_local_outbox()``).
    """

    name = "local"
    simulated = True

    def __init__(self):
        self.outbox: list[OutgoingBatch] = []

    def _send(self, batch: OutgoingBatch) -> list[NumberResult]:
        self.outbox.append(batch)
        with _local_outbox_lock:
            LOCAL_OUTBOX.append(batch)
        fee = segments(batch.content)
        return [
            NumberResult(
                number,
                Outcome.SENT,
                serial_no=f"local:{uuid.uuid4().hex}",
                fee=fee,
                code="Ok",
                message="send success",
            )
            for number in batch.numbers
        ]


MISSING_STATUS = "MissingStatus"
# SendSms fields left out of a request when empty (the SDK's model sends None as nothing).
OPTIONAL_FIELDS = frozenset({"SignName", "SessionContext"})
# How urllib3 names failures to open the TCP connection (refused, unresolvable host, connect
# timeout), which the SDK only passes on as the text of a ClientNetworkError.
_NOT_CONNECTED_MARKERS = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


class TencentTransport(Transport):
    """Tencent Cloud SMS (SendSms, API 2021-01-11) through the official SDK."""

    name = "tencent"

    def __init__(self, secret_id: str, secret_key: str):
        self._secret_id = secret_id
        self._secret_key = secret_key

    def _send(self, batch: OutgoingBatch) -> list[NumberResult]:
        try:
            client = sms_client_for(self._secret_id, self._secret_key)
        except TencentCloudSDKException as exc:  # InvalidCredential: an empty or spaced key
            error = ProviderError(exc.get_code(), exc.get_message(), FailureKind.PERMANENT)
            return _same_for_all(batch.numbers, Outcome.FAILED, error)
        chunks = [
            batch.numbers[start : start + self.max_batch]
            for start in range(0, len(batch.numbers), self.max_batch)
        ]
        if len(chunks) == 1:
            return self._send_chunk(client, batch, chunks[0])

        def send_chunk(chunk):  # one SDK client (and HTTP connection) per thread
            return self._send_chunk(sms_client_for(self._secret_id, self._secret_key), batch, chunk)

        # The requests of a batch go out side by side: a provider round trip of tens of
        # milliseconds would otherwise be paid once per 200 numbers.
        with ThreadPoolExecutor(max_workers=min(len(chunks), PARALLEL_REQUESTS)) as pool:
            return [result for results in pool.map(send_chunk, chunks) for result in results]

    def _send_chunk(
        self, client, batch: OutgoingBatch, numbers: Sequence[str]
    ) -> list[NumberResult]:
        # The fields in the order of the SDK's SendSmsRequest, an empty one left out as it
        # leaves it out.
        fields = {
            "PhoneNumberSet": list(numbers),
            "SmsSdkAppId": batch.sdk_app_id,
            "TemplateId": batch.template_id,
            "SignName": batch.sign_name,
            "TemplateParamSet": list(batch.params),
            "SessionContext": batch.session_context,
        }
        params = {k: v for k, v in fields.items() if v or k not in OPTIONAL_FIELDS}
        try:
            response = _send_sms(client, params)
        except TencentCloudSDKException as exc:
            outcome, error = _chunk_failure(exc)
            logger.warning(
                "SendSms %s for %d numbers: %s (request %s)",
                outcome,
                len(numbers),
                error,
                error.request_id or "-",
            )
            return _same_for_all(numbers, outcome, error)
        request_id = response.get("RequestId") or ""
        if response.get("SendStatusSet") is None:
            # HTTP 200 without statuses: e.g. an Error body the SDK did not recognise because
            # of its Content-Type (reference §5.3). Tencent may have sent some of the SMS.
            error = ProviderError(
                MISSING_STATUS,
                "SendSms answered without SendStatusSet",
                FailureKind.RETRYABLE,
                request_id,
            )
            logger.warning("SendSms unknown for %d numbers: %s", len(numbers), error)
            return _same_for_all(numbers, Outcome.UNKNOWN, error)
        statuses = _match_statuses(numbers, response["SendStatusSet"])
        return [
            _number_result(number, status, request_id)
            for number, status in zip(numbers, statuses, strict=True)
        ]


def _send_sms(client, params: dict) -> dict:
    """SendSms through the SDK (``call_json``, which signs, sends and checks the answer like
    the SDK's ``SendSms``), answered with the parsed ``Response`` object rather than an SDK
    model per number (a thousand objects a batch). As ``SendSms`` does, anything unreadable
    raises ``TencentCloudSDKException`` named after the error."""
    try:
        response = client.call_json("SendSms", params)["Response"]
        statuses = response.get("SendStatusSet")
        if statuses is not None and not (
            isinstance(statuses, list) and all(isinstance(s, dict) for s in statuses)
        ):
            raise TypeError("SendStatusSet is not a list of objects")
        return response
    except TencentCloudSDKException:
        raise
    except Exception as exc:  # a body the SDK could not read: KeyError, JSONDecodeError…
        raise TencentCloudSDKException(type(exc).__name__, str(exc)) from exc


# Request-level errors after which Tencent itself cannot say whether the SMS went out.
_MAY_HAVE_SENT = frozenset({"InternalError.Timeout", "InternalError.SendAndRecvFail"})


def _chunk_failure(exc: TencentCloudSDKException) -> tuple[Outcome, ProviderError]:
    """FAILED when Tencent refused the request or it never left; UNKNOWN otherwise."""
    code = exc.get_code() or "UnknownError"
    message = _text(exc.get_message())
    request_id = exc.get_request_id() or ""
    if request_id and code in _MAY_HAVE_SENT:
        # Tencent answered, but with a timeout of its own downstream: the SMS may have gone.
        return Outcome.UNKNOWN, ProviderError(code, message, FailureKind.RETRYABLE, request_id)
    if request_id:
        # A request-level Error from Tencent ({"Response": {"Error", "RequestId"}}): the whole
        # request was refused, nothing in it was sent.
        return Outcome.FAILED, ProviderError(code, message, request_id=request_id)
    if code == "ClientNetworkError" and any(m in message for m in _NOT_CONNECTED_MARKERS):
        # Decision: no TCP connection was ever opened, so not a byte of the request left us and
        # sending again is safe.
        return Outcome.FAILED, ProviderError(code, message, FailureKind.RETRYABLE)
    # No answer from Tencent that we can read, after the request may have reached it: a read
    # timeout or dropped connection (ClientNetworkError), an HTTP status other than 200 from a
    # gateway (ServerNetworkError), a body the SDK could not parse (KeyError, JSONDecodeError…).
    # Tencent may have sent every SMS of the request, so re-sending could deliver them twice.
    return Outcome.UNKNOWN, ProviderError(code, message, FailureKind.RETRYABLE)


def _text(message) -> str:
    # ServerNetworkError carries the raw response body (bytes), possibly a whole HTML page.
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    return str(message or "")[:500]


def _match_statuses(numbers: Sequence[str], statuses: list) -> list:
    """The SendStatus (object) of each number (None if missing), by the PhoneNumber it echoes.

    Tencent echoes numbers normalised to E.164, so ours match; a status whose PhoneNumber is none
    of ours is taken for the number at its position. A status is never used twice.
    """
    ours = set(numbers)
    by_number: dict[str, list] = {}
    for status in statuses:
        by_number.setdefault(status.get("PhoneNumber"), []).append(status)
    matched = []
    for position, number in enumerate(numbers):
        if by_number.get(number):
            matched.append(by_number[number].pop(0))
        elif position < len(statuses) and statuses[position].get("PhoneNumber") not in ours:
            matched.append(statuses[position])
        else:
            matched.append(None)
    return matched


def _number_result(number: str, status, request_id: str) -> NumberResult:
    code = status.get("Code") if status is not None else None
    if not code:
        # Tencent took the request but said nothing (readable) about this number: perhaps sent.
        error = ProviderError(
            MISSING_STATUS, "no SendStatus for this number", FailureKind.RETRYABLE, request_id
        )
        return _same_for_all([number], Outcome.UNKNOWN, error)[0]
    result = NumberResult(
        number,
        Outcome.SENT if code == "Ok" else Outcome.FAILED,
        serial_no=status.get("SerialNo") or "",
        fee=status.get("Fee") or 0,
        code=code,
        message=status.get("Message") or "",
        iso_code=status.get("IsoCode") or "",
        request_id=request_id,
    )
    if result.outcome is Outcome.FAILED:
        result.error = ProviderError(result.code, result.message, request_id=request_id)
    return result
