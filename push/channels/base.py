"""The channel interface: what every channel module gives the sender stage.

A channel module (``apns``, ``fcm``; the vendors in part 2) provides:

- ``prepare(push, *, now) -> Prepared``: the push's message for that channel, built once per
  push and reused for each of its devices (only the token differs);
- ``problem(push) -> tuple[str, str] | None``: what the channel cannot carry (the payload over
  its size limit), as (TPNS field, message), checked when the push is accepted;
- ``check_credentials(form: dict) -> tuple[dict, dict]``: the credentials an owner uploads,
  validated: (config, {field: error});
- ``client(config: dict, *, environment: str) -> ChannelClient``: a client on the credentials'
  config (``ChannelCredentials.config()``), reused for many batches;
- ``describe(answer) -> str``: the channel's answer in words, for the Test action and the
  push page.

Answers are classified here once, so that the sender never reads a channel's status codes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Result(enum.StrEnum):
    ACCEPTED = "accepted"  # the channel took it (``message_id`` says under which id)
    REFUSED = "refused"  # for good: never sent again (``reason`` is the channel's word)
    RETRY = "retry"  # not taken, worth another try later (429, 5xx, no connection made)
    # The request may have reached the channel but no answer came back (a timeout after it
    # was written): never sent again blindly, like the SMS engine's ``unknown``.
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Answer:
    result: Result
    reason: str = ""  # the channel's own word: "BadDeviceToken", "UNREGISTERED", "timeout"
    message_id: str = ""  # apns-id, or the FCM message name
    status: int | None = None  # the HTTP status, when there was one
    retry_after: float | None = None  # seconds, when the channel said (Retry-After)
    prune: bool = False  # the token is dead: mark the device's channel token invalid
    token_invalid_since: datetime | None = None  # APNs 410: when Apple last knew it invalid


@dataclass(frozen=True, slots=True)
class Prepared:
    """One push's message for one channel: ``body`` and ``options`` are the channel's own
    (APNs: the JSON payload and its apns-* headers; FCM: the ``message`` object without its
    token). ``size`` is the payload's size in bytes as the channel counts it."""

    body: Any
    options: dict
    size: int


class ChannelClient:
    """An open client of one channel for one set of credentials (asyncio)."""

    async def send(self, prepared: Prepared, tokens: list[str]) -> list[Answer]:
        """Send ``prepared`` to each token, concurrently; one answer per token, in order.
        Never raises for one token's trouble: that is an answer (RETRY when in doubt)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
