"""The Redis connection of the replay cache and the API throttle (when ``REDIS_URL`` is set).

One client per process and URL; redis-py keeps a connection pool inside it, shared by threads.
Redis being unreachable is an error of the request (never a silent "allow"): a replay check
that cannot be made must not let the request through.
"""

import functools

import redis
from django.conf import settings

# Every key of ours starts with this; tests point it elsewhere to keep to their own keys.
PREFIX = "pushconsole:"


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)
