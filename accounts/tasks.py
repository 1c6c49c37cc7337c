"""django-q2 entry points of the accounts app (thin)."""

import time

from . import replay, throttle


def purge_auth_records(now: float | None = None) -> int:
    """Forget used signatures and failure counts that have expired (database storage only:
    Redis expires its keys itself). Every 5 minutes, so the replay table holds about the last
    ten minutes of signed requests."""
    now = time.time() if now is None else now
    return replay.purge(now) + throttle.purge(now)
