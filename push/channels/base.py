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

The phone makers' channels (``huawei``, ``xiaomi``, ``oppo``, ``vivo``, ``honor``, ``meizu``)
also provide:

- ``FIELDS``: their credentials' form fields (``CredentialField``), secret ones sealed;
- ``TPNS_NAME``: the channel's name in TPNS's statistics (``hw``, ``xm``…);
- ``category(push) -> Category``: the vendor's message category the push uses, and whether
  the vendor caps that category daily (the console says so);
- ``hold_until(push, *, now) -> datetime | None``: a time before which the vendor would not
  take the push (vivo's 07:00–23:00 window for operational messages); None: now is fine;
- ``parse_receipts(body, *, content_type, headers, config) -> list[Receipt]``: the vendor's
  receipt callback (``ReceiptError`` for one that is malformed or wrongly signed) and
  ``receipt_reply(count) -> (status, content_type, body)``: what the vendor expects back.

Answers are classified here once, so that the sender never reads a channel's status codes.
"""

from __future__ import annotations

import enum
import json
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
    # Not taken because the app's daily quota with the vendor is spent: the delivery goes over
    # the built-in channel instead, as TPNS did (``quota_until``: when the vendor's day ends).
    OVER_QUOTA = "quota"


@dataclass(frozen=True, slots=True)
class Answer:
    result: Result
    reason: str = ""  # the channel's own word: "BadDeviceToken", "UNREGISTERED", "timeout"
    message_id: str = ""  # apns-id, or the FCM message name
    status: int | None = None  # the HTTP status, when there was one
    retry_after: float | None = None  # seconds, when the channel said (Retry-After)
    prune: bool = False  # the token is dead: mark the device's channel token invalid
    token_invalid_since: datetime | None = None  # APNs 410: when Apple last knew it invalid
    quota_until: datetime | None = None  # OVER_QUOTA: until when (default: the vendor's midnight)


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


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One field of a channel's credentials form (console and management API)."""

    name: str
    label: str
    help: str = ""
    secret: bool = False  # sealed, never shown again once stored
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()  # a choice among these (value, label)
    default: str = ""
    max_length: int = 255


@dataclass(frozen=True, slots=True)
class Category:
    """The vendor's message category a push uses (``category(push)``): its name as the
    vendor's console shows it, and whether the vendor caps that category per day (marketing /
    public messages); ``note`` says how the push chose it."""

    name: str
    capped: bool
    note: str = ""


class ReceiptKind(enum.StrEnum):
    ARRIVED = "arrive"  # shown on the device: counts as the SDK's arrival
    CLICKED = "click"  # the user opened it: counts as the SDK's click
    DISMISSED = "dismiss"
    # Not shown because the app's notifications are off on the device (Huawei status 6): the
    # device's notifications are marked off (the permission trigger) and it did not arrive.
    NOTIFICATIONS_OFF = "off"
    INVALID_TOKEN = "invalid"  # noqa: S105 (a kind, not a password): the token is dead (uninstalled, another user): pruned
    NOT_SHOWN = "not_shown"  # another reason it was not shown: counts as not arrived
    # Dropped by the vendor's daily cap (Huawei 256, the marketing category's): the built-in
    # channel carries the delivery instead, as TPNS did with a spent quota.
    OVER_QUOTA = "quota"
    OTHER = "other"  # nothing to record (an informational status)


@dataclass(frozen=True, slots=True)
class Receipt:
    """One line of a vendor's receipt: what happened to the push ``push_id`` (ours, as we put
    it in the message: Huawei's biTag, the others' callback parameter) on the device whose
    vendor token is ``token``."""

    token: str
    push_id: str
    kind: ReceiptKind
    at: datetime | None = None  # when the vendor says it happened (None: when received)
    status: str = ""  # the vendor's own code, kept as the reason of a prune


class ReceiptError(ValueError):
    """A receipt callback that is malformed (400) or not signed by the vendor (``forbidden``:
    403); its message says what, for the log and the vendor's console."""

    def __init__(self, message: str, *, forbidden: bool = False):
        super().__init__(message)
        self.forbidden = forbidden


def receipt_json(text: str | bytes, what: str = "the receipt"):
    """A receipt's JSON, parsed; anything unreadable is a ReceiptError naming ``what`` (and
    so a 400, never a 500: JSON nested a few thousand deep raises RecursionError, which is
    not a ValueError)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ReceiptError(f"{what} is not JSON") from None
