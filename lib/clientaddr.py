"""The client's address, as every throttle counts it (logins, API authentication).

``REMOTE_ADDR`` unless ``settings.TRUSTED_PROXY_COUNT`` is set. ``X-Forwarded-For`` is written
by whoever sends the request, so it is believed only as far as our own proxies wrote it: each
trusted proxy appends the address it received the request from, so with N trusted proxies the
client is the N-th entry from the right. Entries further left were sent by the client and may
be anything. A request with fewer entries than proxies did not come through all of them and
is counted by ``REMOTE_ADDR``.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The address to count the request by; None for a request that came from no network
    (``force_login``, a management command)."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < proxies:
        return remote
    return _valid(hops[-proxies]) or remote
