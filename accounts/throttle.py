"""Failed API authentication is throttled per client address and API.

The management API (``api``), the TPNS API (``tpns``) and the SDK API (``sdk``) each count the
failed authentications of every client address (``lib.clientaddr``): a wrong key, a
bad or replayed signature, malformed credentials. ``API_AUTH_FAILURE_LIMIT`` failures within
``API_AUTH_FAILURE_WINDOW`` seconds lock the address out of that API for
``API_AUTH_LOCKOUT_SECONDS``: every request that carries credentials is then answered 429 with
``Retry-After``, in the API's own error shape, before its credentials are looked at, so even
the right ones are refused until the lockout ends. A success resets nothing: an attacker who
holds one valid key cannot clear the count its guesses built up.

Counting happens in Redis when ``REDIS_URL`` is set (one Lua script: atomic), otherwise in the
``FailedAuthCount`` table. Not in Django's cache: without Redis that is a per-process LocMem,
and with four web workers an attacker would get four times the limit, reset by every restart.

Every function takes ``now`` (unix seconds): the APIs pass their own clocks, tests theirs.
"""

from django.conf import settings
from django.http import HttpRequest

from lib.clientaddr import client_address

from . import kv

SCOPES = ("api", "tpns", "sdk")

# KEYS[1] the address's hash; ARGV now, limit, window, lockout. Returns {count, until}.
_ADD_FAILURE = """
local now = tonumber(ARGV[1])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untl <= now then count = 0; untl = now + tonumber(ARGV[3]) end
count = count + 1
if count >= tonumber(ARGV[2]) then untl = math.max(untl, now + tonumber(ARGV[4])) end
redis.call('HSET', KEYS[1], 'count', count, 'until', untl)
redis.call('EXPIRE', KEYS[1], untl - now + 1)
return {count, untl}
"""


class Throttled(Exception):
    """The address is locked out of the API for ``retry_after`` more seconds."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(
            f"too many failed authentications from this address; try again in {retry_after} seconds"
        )


def _key(scope: str, request: HttpRequest) -> str:
    assert scope in SCOPES, scope
    return f"{scope}:{client_address(request) or 'unknown'}"


def check(scope: str, request: HttpRequest, now: float) -> None:
    """Raise Throttled if the request's address is locked out of ``scope``."""
    from .models import FailedAuthCount

    key, limit = _key(scope, request), settings.API_AUTH_FAILURE_LIMIT
    if kv.enabled():
        count, until = kv.client().hmget(kv.key("authfail", key), "count", "until")
        until = int(until) if count is not None and int(count) >= limit else None
        until = until if until is not None and until > now else None
    else:
        until = FailedAuthCount.objects.blocked_until(key, limit, now)
    if until is not None:
        raise Throttled(max(1, int(until - now)))


def locked_out(scope: str, requests: list[HttpRequest], now: float) -> list[bool]:
    """``check`` for many requests at once (one Redis round trip, or one query): whether
    each one's address is locked out of ``scope`` (the long-poll server's batches)."""
    from .models import FailedAuthCount

    keys, limit = [_key(scope, request) for request in requests], settings.API_AUTH_FAILURE_LIMIT
    if not keys:
        return []
    unique = list(dict.fromkeys(keys))
    if kv.enabled():
        pipeline = kv.client().pipeline(transaction=False)
        for key in unique:
            pipeline.hmget(kv.key("authfail", key), "count", "until")
        rows = dict(zip(unique, pipeline.execute(), strict=True))
        locked = {
            key
            for key, (count, until) in rows.items()
            if count is not None and int(count) >= limit and int(until) > now
        }
    else:
        locked = set(
            FailedAuthCount.objects.filter(
                key__in=unique, count__gte=limit, until__gt=now
            ).values_list("key", flat=True)
        )
    return [key in locked for key in keys]


def failed(scope: str, request: HttpRequest, now: float) -> None:
    """Count one failed authentication of the request's address on ``scope``."""
    from .models import FailedAuthCount

    key = _key(scope, request)
    limit, window = settings.API_AUTH_FAILURE_LIMIT, settings.API_AUTH_FAILURE_WINDOW
    lockout = settings.API_AUTH_LOCKOUT_SECONDS
    if kv.enabled():
        script = kv.client().register_script(_ADD_FAILURE)
        script(keys=[kv.key("authfail", key)], args=[int(now), limit, window, lockout])
    else:
        FailedAuthCount.objects.add_failure(
            key, limit=limit, window=window, lockout=lockout, now=now
        )


def purge(now: float) -> int:
    """Forget finished windows and lockouts of the database counter (Redis expires its own)."""
    from .models import FailedAuthCount

    return FailedAuthCount.objects.purge(now)


def guarded(scope: str, request: HttpRequest, now: float, verify, *, refusal, throttled):
    """``verify()`` under the throttle of ``scope``: refused at once while the request's address
    is locked out (``throttled(Throttled)`` gives the API's own exception to raise), and a
    ``refusal`` raised by ``verify`` is counted as a failure before it goes on."""
    try:
        check(scope, request, now)
    except Throttled as exc:
        raise throttled(exc) from None
    try:
        return verify()
    except refusal:
        failed(scope, request, now)
        raise


def drf_throttled(exc: Throttled):
    """The DRF form of a lockout: 429 with Retry-After, in the API's error shape."""
    from rest_framework.exceptions import Throttled as DrfThrottled

    return DrfThrottled(wait=exc.retry_after)
