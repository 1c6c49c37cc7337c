"""django-q2 entry points of the push platform (thin)."""

from . import fanout


def start_push(push_id: int) -> bool:
    return fanout.start(push_id)


def push_sweep() -> dict:
    """Every minute: start due or lost pushes, expire old deliveries."""
    return {"started": fanout.start_due(), "expired": fanout.expire()}
