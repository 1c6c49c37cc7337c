"""The sender stage: queued deliveries handed to their push service (APNs, FCM) in batches.

Fan-out inserts a delivery for a device on a configured service as ``queued``
(``send_after`` = now). A sender (the django-q2 task ``push.tasks.send_queued``, woken when a
fan-out chunk commits, and the minute sweep as a safety net) repeats: settle the batches of
dead senders → claim a batch (``Delivery.objects.claim_for_sending``: one conditional UPDATE
over a partial index, SKIP LOCKED, with a lease) → build each push's message once per service
→ send every device's concurrently over one reused client per set of credentials → write all
the answers in one statement.

Guarantees:

- **At most once.** A claimed delivery is handed to its channel once; it is claimed again only
  if its channel said it did not take it (``retry``: 429, 500, 503, no connection made). A
  delivery the channel accepted is never sent again.
- **Lost answers.** A sender that dies, or whose batch outlives its lease, leaves its
  deliveries ``sending``; when the lease ends they become ``unknown`` (the channel may have
  them) and are never re-sent blindly. A request that timed out after it was written is
  ``unknown`` at once. An answer that comes after the lease still settles the delivery.
- **Retries** back off (5 s, doubling, at most 15 min; longer when the channel's
  ``Retry-After`` says so), at most ``MAX_ATTEMPTS`` times and never past the push's expiry.
- **Refusals** are final: the delivery is ``failed`` with the channel's reason; a token the
  channel calls dead is marked invalid on the device (``Device.objects.prune_tokens``) and not
  pushed to again until the device registers a token again.
- The supplementary SMS reads the same arrival events whatever the channel; a refused delivery
  can never arrive, and with ``sms_info.send_on_refusal`` its SMS falls due at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import channels, inbox
from .channels import Answer, Result
from .channels.vendor import BEIJING, next_vendor_day
from .models import ChannelCredentials, ChannelKind, Delivery, Device, Push, PushStats
from .stats import OVER_QUOTA_PREFIX

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=15)
ANSWER_MAX_LENGTH = Delivery._meta.get_field("channel_answer").max_length
MESSAGE_ID_MAX_LENGTH = Delivery._meta.get_field("channel_message_id").max_length
QUOTA_REASON_MAX_LENGTH = ChannelCredentials._meta.get_field("quota_reason").max_length


def default_batch_size() -> int:
    return settings.PUSH_SEND_BATCH_SIZE


def default_lease() -> timedelta:
    return timedelta(seconds=settings.PUSH_SEND_LEASE_SECONDS)


def environment_of(push: Push, credentials: ChannelCredentials) -> str:
    """APNs's endpoint for a push: TPNS's ``environment`` (``product`` / ``dev``) when given,
    else the credentials' own."""
    if push.environment == "dev":
        return "sandbox"
    if push.environment == "product":
        return "production"
    return credentials.details.get("environment", "production")


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """How long a retryable answer waits: doubling from ``BACKOFF_FIRST`` per attempt made,
    at most ``BACKOFF_MAX``, and never sooner than the channel's ``Retry-After``."""
    wait = min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_MAX)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=min(retry_after, 86400)))
    return wait


# The event loop ------------------------------------------------------------------------------


class _Loop:
    """One asyncio loop per process, in a thread of its own, holding the channel clients:
    their connections (HTTP/2, TLS, the APNs JWT, the FCM access token) outlive a batch.
    Made again in a forked worker, whose parent's thread does not exist there."""

    def __init__(self):
        self.pid = None
        self.lock = threading.Lock()

    def _ensure(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            self.loop = asyncio.new_event_loop()
            self.clients: dict[tuple, tuple] = {}
            threading.Thread(target=self.loop.run_forever, name="push-sender", daemon=True).start()
            self.pid = os.getpid()

    def submit(self, coroutine):
        """Run ``coroutine`` on the loop; a ``concurrent.futures.Future`` of its result."""
        self._ensure()
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine, timeout: float):
        return self.submit(coroutine).result(timeout)

    def client(self, credentials: ChannelCredentials, environment: str):
        """The open client of these credentials (a new one when they changed)."""
        self._ensure()
        key = (credentials.application_id, credentials.channel, environment)
        with self.lock:  # two threads (console Tests) must not both open one
            version, client = self.clients.get(key, (None, None))
            if version != credentials.version:
                if client is not None:
                    asyncio.run_coroutine_threadsafe(client.aclose(), self.loop)
                module = channels.module(credentials.channel)
                client = module.client(credentials.config(), environment=environment)
                self.clients[key] = (credentials.version, client)
        return client

    def close(self) -> None:
        """Close every client (tests; a worker shutting down)."""
        if self.pid != os.getpid():
            return
        for _, client in self.clients.values():
            asyncio.run_coroutine_threadsafe(client.aclose(), self.loop).result(10)
        self.clients.clear()


LOOP = _Loop()


# One batch -------------------------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    push_id: int
    device_id: int
    attempts: int
    device_channel: str
    token: str
    token_invalid: bool


class Batch:
    """A claimed batch and its answers, written at the end in one statement."""

    def __init__(self, now):
        self.now = now
        self.rows: list[tuple] = []
        self.pruned: list[tuple] = []
        self.counts: dict[str, int] = defaultdict(int)
        # Credentials whose vendor said the daily quota is spent: pk → (until, reason).
        self.quota_spent: dict[int, tuple] = {}
        self.pushes: set[int] = set()  # whose deliveries the answers change

    def builtin(self, item: Claimed) -> None:
        """Over the built-in inbox instead (the device moved there, or its service has no
        credentials any more)."""
        self._row(item, Delivery.State.SENT, ChannelKind.BUILTIN, accepted=True)
        self.counts["builtin"] += 1

    def overflow(self, item: Claimed, channel: str, reason: str) -> None:
        """Over the built-in inbox because the vendor's daily quota is spent."""
        label = ChannelKind(channel).label
        self._row(
            item,
            Delivery.State.SENT,
            ChannelKind.BUILTIN,
            accepted=True,
            answer=f"{OVER_QUOTA_PREFIX} {label}: {reason}",
        )
        self.counts["over_quota"] += 1

    def held(self, item: Claimed, channel: str, until, why: str) -> None:
        self._row(item, Delivery.State.QUEUED, channel, answer=f"held: {why}", send_after=until)
        self.counts["held"] += 1

    def halted(self, item: Claimed, channel: str) -> None:
        self._row(item, Delivery.State.CANCELED, channel, answer="not sent: the push was stopped")
        self.counts["canceled"] += 1

    def expired(self, item: Claimed, channel: str) -> None:
        self._row(item, Delivery.State.EXPIRED, channel, answer="expired before it was sent")
        self.counts["expired"] += 1

    def refused(self, item: Claimed, channel: str, reason: str, sms_now: bool) -> None:
        self._row(item, Delivery.State.FAILED, channel, answer=reason, sms_now=sms_now)
        self.counts["refused"] += 1

    def answer(self, item: Claimed, channel: str, answer: Answer, push: Push) -> None:
        if answer.result == Result.ACCEPTED:
            self._row(
                item, Delivery.State.SENT, channel, accepted=True, message_id=answer.message_id
            )
            self.counts["accepted"] += 1
            return
        if answer.result == Result.LOST:
            self._row(item, Delivery.State.UNKNOWN, channel, answer=f"lost: {answer.reason}")
            self.counts["unknown"] += 1
            return
        if answer.result == Result.OVER_QUOTA:
            self.overflow(item, channel, answer.reason or "daily quota spent")
            return
        if answer.result == Result.RETRY:
            retry_at = self.now + backoff(item.attempts, answer.retry_after)
            if item.attempts < MAX_ATTEMPTS and (
                push.expires_at is None or retry_at < push.expires_at
            ):
                self._row(
                    item,
                    Delivery.State.QUEUED,
                    channel,
                    answer=f"retrying: {answer.reason}",
                    send_after=retry_at,
                )
                self.counts["retry"] += 1
                return
            self.refused(item, channel, f"gave up: {answer.reason}", push.sms_on_refusal)
            return
        if answer.prune:
            self.pruned.append(
                (item.device_id, item.token, self.now, answer.reason, answer.token_invalid_since)
            )
        self.refused(item, channel, answer.reason, push.sms_on_refusal)

    def _row(
        self,
        item,
        state,
        channel,
        *,
        accepted=False,
        message_id="",
        answer="",
        send_after=None,
        sms_now=False,
    ) -> None:
        self.pushes.add(item.push_id)
        self.rows.append(
            (
                item.id,
                state,
                channel,
                accepted,
                send_after,
                message_id[:MESSAGE_ID_MAX_LENGTH],
                answer[:ANSWER_MAX_LENGTH],
                self.now,
                sms_now,
            )
        )

    def write(self) -> None:
        with transaction.atomic():  # in the inbox at its new place, or not at all
            Delivery.objects.record_answers(self.rows)
            inbox.reveal([row[0] for row in self.rows if row[2] == ChannelKind.BUILTIN])
            # Marked as of the write, not the claim: the answers may come long after it.
            PushStats.objects.mark_changed(self.pushes, max(self.now, timezone.now()))
        if self.pruned:
            self.counts["pruned"] += Device.objects.prune_tokens(self.pruned)
        for pk, (until, reason) in self.quota_spent.items():
            ChannelCredentials.objects.filter(pk=pk).update(
                quota_spent_until=until, quota_reason=reason[:QUOTA_REASON_MAX_LENGTH]
            )


def claim(now, *, limit: int | None = None, lease: timedelta | None = None) -> list[Claimed]:
    ids = Delivery.objects.claim_for_sending(
        now, limit or default_batch_size(), lease or default_lease()
    )
    if not ids:
        return []
    rows = Delivery.objects.filter(pk__any=ids).values_list(
        "id",
        "push_id",
        "device_id",
        "send_attempts",
        "device__channel",
        "device__channel_token",
        "device__channel_token_invalid_at",
    )
    return [Claimed(*row[:6], token_invalid=row[6] is not None) for row in rows]


@dataclass
class InFlight:
    """A claimed batch whose requests are out: its answers are collected by ``finish``."""

    batch: Batch
    claimed: int
    lost: int
    jobs: list = dataclasses.field(default_factory=list)
    credentials: dict = dataclasses.field(default_factory=dict)
    future: object = None  # a concurrent.futures.Future of the jobs' answers
    timeout: float = 0.0


def begin(now=None, *, limit: int | None = None, lease: timedelta | None = None) -> InFlight:
    """Settle dead senders' batches, claim one batch and hand it to its channels (the
    answers come in on the sender's event loop meanwhile)."""
    now = now or timezone.now()
    lease = lease or default_lease()
    lost = Delivery.objects.settle_lost_sends(now, limit or default_batch_size())
    items = claim(now, limit=limit, lease=lease)
    flight = InFlight(Batch(now), len(items), lost)
    if items:
        _dispatch(items, flight, now)
        # Past the lease another sender may settle the batch as unknown: stop waiting before.
        flight.timeout = max(1.0, lease.total_seconds() * 0.9)
    return flight


def finish(flight: InFlight) -> dict:
    """Collect a batch's answers and write them; what was done (``claimed`` 0: nothing was
    waiting)."""
    if flight.future is not None:
        _collect(flight)
    if flight.claimed:
        flight.batch.write()
    return {"claimed": flight.claimed, "lost": flight.lost, **flight.batch.counts}


def send_batch(now=None, *, limit: int | None = None, lease: timedelta | None = None) -> dict:
    """One batch, start to end (``begin`` then ``finish``)."""
    return finish(begin(now, limit=limit, lease=lease))


def _dispatch(items: list[Claimed], flight: InFlight, now) -> None:
    batch = flight.batch
    pushes = Push.objects.select_related("application").in_bulk({i.push_id for i in items})
    credentials = {
        (c.application_id, c.channel): c
        for c in ChannelCredentials.objects.filter(
            application_id__in={p.application_id for p in pushes.values()}
        )
    }
    configured: dict[int, set[str]] = defaultdict(set)
    for application_id, kind in credentials:
        configured[application_id].add(kind)
    groups: dict[tuple, list[Claimed]] = defaultdict(list)
    holds: dict[tuple, tuple | None] = {}
    for item in items:
        push = pushes[item.push_id]
        channel = item.device_channel
        if push.stopped_at is not None:
            # Stopped while this delivery waited for a retry (``push.control``): not sent.
            batch.halted(item, channel)
        elif channel not in channels.usable(push, configured[push.application_id]):
            batch.builtin(item)
        elif push.expires_at is not None and push.expires_at <= now:
            batch.expired(item, channel)
        elif item.token_invalid:
            batch.refused(
                item, channel, "pruned: the device's token was refused before", push.sms_on_refusal
            )
        elif (spent := credentials[(push.application_id, channel)]).quota_spent(now):
            batch.overflow(item, channel, spent.quota_reason or "daily quota spent")
        elif (until := _held(channel, push, now, holds)) is not None:
            batch.held(item, channel, until[0], until[1])
        else:
            groups[(push.pk, channel)].append(item)
    jobs = []
    for (push_id, channel), members in groups.items():
        push = pushes[push_id]
        creds = credentials[(push.application_id, channel)]
        try:
            prepared = channels.module(channel).prepare(push, now=now)
        except ValueError as exc:  # a message the channel cannot carry (refused at acceptance)
            for item in members:
                batch.refused(item, channel, f"unsendable: {exc}", push.sms_on_refusal)
            continue
        client = LOOP.client(creds, environment_of(push, creds))
        jobs.append((push, channel, members, client, prepared))
    if not jobs:
        return

    async def everything():
        return await asyncio.gather(
            *(
                client.send(prepared, [m.token for m in members])
                for _, _, members, client, prepared in jobs
            ),
            return_exceptions=True,
        )

    flight.jobs, flight.credentials = jobs, credentials
    flight.future = LOOP.submit(everything())


def _held(channel: str, push: Push, now, holds: dict) -> tuple | None:
    """(until, why) when the vendor would not take ``push`` now, once per push and channel."""
    key = (push.pk, channel)
    if key not in holds:
        holds[key] = None
        if channels.is_vendor(channel):
            until = channels.hold_until(channel, push, now=now)
            if until is not None and until > now:
                why = (
                    f"{ChannelKind(channel).label} does not take this push's messages now; "
                    f"until {until.astimezone(BEIJING):%Y-%m-%d %H:%M} Beijing time"
                )
                holds[key] = (until, why)
    return holds[key]


def _collect(flight: InFlight) -> None:
    results = flight.future.result(flight.timeout)
    for (push, channel, members, _, _), answers in zip(flight.jobs, results, strict=True):
        if isinstance(answers, BaseException):  # a client bug: nobody knows what went out
            log.error("channel %s failed a batch: %r", channel, answers)
            answers = [Answer(Result.LOST, reason=type(answers).__name__)] * len(members)
        for item, answer in zip(members, _unless_misconfigured(answers), strict=True):
            flight.batch.answer(item, channel, answer, push)
            if answer.result == Result.OVER_QUOTA:
                creds = flight.credentials[(push.application_id, channel)]
                until = answer.quota_until or next_vendor_day(flight.batch.now)
                flight.batch.quota_spent[creds.pk] = (until, answer.reason or "daily quota spent")


# Refusals that blame the token but, when every device of a batch gets one, blame the
# credentials: a wrong topic or environment (a sandbox key's tokens sent to production).
SUSPECT_PRUNES = {"BadDeviceToken", "DeviceTokenNotForTopic"}
SUSPECT_MINIMUM = 5


def _unless_misconfigured(answers: list[Answer]) -> list[Answer]:
    """The answers, with pruning withheld when all of at least ``SUSPECT_MINIMUM`` are such
    refusals: the deliveries are refused all the same, but the devices keep their tokens for
    when the credentials are put right."""
    if len(answers) >= SUSPECT_MINIMUM and all(
        a.prune and a.reason in SUSPECT_PRUNES for a in answers
    ):
        return [dataclasses.replace(a, prune=False) for a in answers]
    return answers


def run(*, max_batches: int = 100, now=None, depth: int = 2, seconds: float | None = None) -> dict:
    """Send batches until nothing is waiting, ``max_batches`` were taken or ``seconds`` have
    passed (a task must end well before the cluster's task timeout kills it, which would
    leave its batches unknown); the totals, with ``more`` 1 when it stopped with work left.
    ``depth`` batches are in flight at once: the next is claimed and sent while the answers
    of the one before are still coming in, so the channel never waits for our bookkeeping."""
    totals: dict[str, int] = defaultdict(int)
    flying: deque[InFlight] = deque()
    deadline = None if seconds is None else time.monotonic() + seconds

    def land() -> None:
        for key, value in finish(flying.popleft()).items():
            totals[key] += value
        totals["batches"] += 1

    for _ in range(max_batches):
        if deadline is not None and time.monotonic() >= deadline:
            totals["more"] = 1
            break
        flight = begin(now)
        if not flight.claimed:
            totals["lost"] += flight.lost
            break
        flying.append(flight)
        if len(flying) >= depth:
            land()
    else:
        totals["more"] = 1
    while flying:
        land()
    return dict(totals)


def wake() -> None:
    """Have a task worker send what fan-out just queued (on commit). Nothing depends on the
    task arriving: the minute sweep sends whatever is waiting."""
    from django_q.tasks import async_task

    async_task("push.tasks.send_queued", task_name="push sender")
