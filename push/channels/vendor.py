"""What the phone makers' channel clients share: an httpx client with the channels' TLS trust,
a cached auth token refreshed by one request at a time, token lists cut into the vendor's
request size and sent concurrently, and a request's failure classified once (not sent, or
sent without an answer). Each vendor module (``huawei``, ``xiaomi``…) builds on ``VendorClient``
and only speaks its own wire format.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from .base import Answer, ChannelClient, Prepared, Result

# The vendors count their days (quotas, vivo's window) in Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")
# A token is replaced this long before it expires (at most half a short token's life).
REFRESH_MARGIN = 300.0


def next_vendor_day(now: datetime) -> datetime:
    """The next midnight in Beijing after ``now``: when the vendors' daily quotas start over."""
    local = now.astimezone(BEIJING)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), BEIJING)


@functools.cache
def ssl_context(ca_file: str) -> ssl.SSLContext:
    """The system's CAs and ``ca_file``'s (``PUSH_CHANNEL_CA_FILE``), loaded once per process."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


def failure(exc: BaseException) -> Answer:
    """A request that raised, as an answer: not sent at all (no connection, not written out
    whole) is worth a retry; written but unanswered may have been taken, so it is lost (never
    sent again blindly)."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.WriteTimeout):
        return Answer(Result.RETRY, reason="timeout")
    if isinstance(exc, httpx.ConnectError | httpx.WriteError):
        return Answer(Result.RETRY, reason="connection")
    if isinstance(exc, httpx.TimeoutException):
        return Answer(Result.LOST, reason="timeout")
    if isinstance(exc, httpx.HTTPError):
        return Answer(Result.LOST, reason="connection")
    return Answer(Result.LOST, reason=type(exc).__name__)


class AuthTrouble(Exception):
    """The auth token could not be had: ``answer`` is every send's answer meanwhile."""

    def __init__(self, answer: Answer):
        super().__init__(answer.reason)
        self.answer = answer


class TokenCache:
    """An auth token shared by every send of one client: fetched by one request at a time
    (sends that wait take its result, token or failure), replaced ``REFRESH_MARGIN`` before it
    expires or when a send reports it ``refused``. ``fetch`` returns (token, lifetime in
    seconds) or raises ``AuthTrouble``."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        clock: Callable[[], float] | None = None,
    ):
        self._fetch = fetch
        self._clock = clock or time.monotonic
        self._token = ""
        self._due = 0.0
        self._lock = asyncio.Lock()
        self._generation = 0
        self._failure: AuthTrouble | None = None
        self.fetches = 0  # how many tokens were asked for (tests, the benchmark)

    async def get(self, refused: str = "") -> str:
        if self._token and self._token != refused and self._clock() < self._due:
            return self._token
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                if self._failure is not None:
                    raise self._failure
                if self._token and self._token != refused and self._clock() < self._due:
                    return self._token
            self.fetches += 1
            try:
                token, lifetime = await self._fetch()
            except AuthTrouble as trouble:
                self._fail(trouble)
                raise
            except Exception as exc:  # unreachable, or an answer we cannot read
                trouble = AuthTrouble(dataclasses.replace(failure(exc), result=Result.RETRY))
                self._fail(trouble)
                raise trouble from None
            self._token = token
            self._due = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 2)
            self._failure = None
            self._generation += 1
            return token

    def _fail(self, trouble: AuthTrouble) -> None:
        self._token, self._due = "", 0.0
        self._failure = trouble
        self._generation += 1


class VendorClient(ChannelClient):
    """A vendor's client: ``send`` cuts the tokens into requests of at most ``max_tokens``
    (``MAX_TOKENS`` of the class unless given) and sends up to ``concurrency`` of them at once;
    a subclass implements ``send_request`` for one request's tokens. A request that raises is
    answered by ``failure`` for each of its tokens, an ``AuthTrouble`` by its answer."""

    MAX_TOKENS = 1
    CONCURRENCY = 16

    def __init__(
        self,
        *,
        ca_file: str = "",
        timeout: float = 10.0,
        max_tokens: int | None = None,
        concurrency: int | None = None,
        http2: bool = False,
    ):
        self.max_tokens = max_tokens or self.MAX_TOKENS
        self._gate = asyncio.Semaphore(concurrency or self.CONCURRENCY)
        self.http = httpx.AsyncClient(
            verify=ssl_context(ca_file),
            timeout=timeout,
            http2=http2,
            limits=httpx.Limits(max_connections=concurrency or self.CONCURRENCY),
        )

    async def send(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        chunks = [
            tokens[start : start + self.max_tokens]
            for start in range(0, len(tokens), self.max_tokens)
        ]
        answers = await asyncio.gather(*(self._send_chunk(prepared, chunk) for chunk in chunks))
        return [answer for chunk in answers for answer in chunk]

    async def _send_chunk(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        async with self._gate:
            try:
                answers = await self.send_request(prepared, tokens)
            except AuthTrouble as trouble:
                return [trouble.answer] * len(tokens)
            except Exception as exc:  # one request's trouble never stops the others
                return [failure(exc)] * len(tokens)
        if len(answers) != len(tokens):  # a client bug: nobody knows what went out
            return [Answer(Result.LOST, reason="answer_count")] * len(tokens)
        return answers

    async def send_request(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        """One request to the vendor for ``tokens`` (at most ``max_tokens``); one answer per
        token, in order."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.http.aclose()


# Our own reasons (no answer from the vendor), in words.
OURS = {
    "timeout": "{} did not answer in time",
    "connection": "{} could not be reached, or the connection was lost",
    "bad_answer": "{}'s answer could not be read",
    "answer_count": "{}'s answer did not say what became of every token",
}


def describe(answer: Answer, *, vendor: str, reasons: Mapping[str, str]) -> str:
    """A vendor's answer in words for a person (the Test action, the push page): ``reasons``
    gives the meaning of the vendor's codes and of ours (timeout, connection…)."""
    if answer.result == Result.ACCEPTED:
        return f"Accepted by {vendor} ({answer.message_id or 'no message id'})"
    reason = answer.reason or (f"HTTP {answer.status}" if answer.status else "no answer")
    meaning = (
        reasons.get(answer.reason)
        or OURS.get(answer.reason, "").format(vendor)
        or (
            f"{vendor} answered HTTP {answer.status}"
            if answer.status
            else f"{vendor} gave no reason"
        )
    )
    if answer.result == Result.REFUSED:
        return f"Refused: {reason} — {meaning}" + ("; the token is pruned" if answer.prune else "")
    if answer.result == Result.LOST:
        return f"No answer: {reason} — {meaning}; it may have arrived, so it is not sent again"
    if answer.result == Result.OVER_QUOTA:
        until = answer.quota_until
        when = f" until {until.astimezone(BEIJING):%Y-%m-%d %H:%M} Beijing time" if until else ""
        carried = f"the built-in channel carries it{when}"
        return f"Over {vendor}'s daily quota: {reason} — {meaning}; {carried}"
    after = f" (after {answer.retry_after:g} s, as {vendor} asked)" if answer.retry_after else ""
    return f"Not sent yet: {reason} — {meaning}; it will be tried again{after}"
