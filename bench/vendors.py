"""Figures of issue 15: notifications handed to Huawei Push Kit by the sender stage, beside httpx
alone driving the same loopback fake (the limit); and Huawei's signed receipts posted to our
callback endpoint through gunicorn, beside the bare SQL UPDATE of the same rows.

Beside them the Huawei figure's floor: the sender's own statements alone on the same queued
deliveries (the claim, then the batch's accepted answers), no HTTP; the sender cannot beat it
however fast its channel answers, so the restated goal is half the lower of the two limits.

The Huawei fake runs in a process of its own (``bench.channels.Served``): it is Python too, and
in this process it would take the GIL from whichever side is measured. The receipts are posted
by ``CLIENTS`` concurrent httpx connections to gunicorn on loopback (production's server, two
workers, pointed at the bench database), each body a Huawei receipt of ``RECEIPT_BATCH``
statuses signed as Huawei signs it: the server checks every signature, parses, finds each
device by its vendor token and records the arrivals (``push.receipts.record``).
"""

import asyncio
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from push import channels, sender
from push.channels import huawei
from push.models import Delivery, Push
from tests.fakes import huawei as fake_huawei
from tests.fakes.tls import loopback_ca

from .channels import Served, _queued_push, _send_all
from .common import (
    channel_token,
    cleanup,
    database_url,
    gunicorn,
    rate,
    tenant,
    timer,
    vacuum_analyze,
)

APP_ID = "104523457"
CLIENT_SECRET = "bench-hw-secret"
RECEIPT_USER, RECEIPT_SECRET = "pushconsole", "bench-receipt-key-7Qz"
# Huawei merges at most 1,000 statuses into one receipt POST (its documented maximum).
RECEIPT_BATCH = huawei.MAX_RECEIPT_LINES
CLIENTS = 4  # concurrent posters, and the limit's concurrent connections


def _config() -> dict:
    """Huawei credentials as ``huawei.check_credentials`` gives them (receipts signed)."""
    config, errors = huawei.check_credentials(
        {
            "app_id": APP_ID,
            "client_secret": CLIENT_SECRET,
            "receipt_user": RECEIPT_USER,
            "receipt_secret": RECEIPT_SECRET,
        }
    )
    assert not errors, errors
    return config


def _serve_huawei(pipe):
    with fake_huawei.FakeHuawei(app_id=APP_ID, client_secret=CLIENT_SECRET, record=False) as fake:
        pipe.send((fake.token_url, fake.url))
        pipe.recv()  # until told to stop
        pipe.send(fake.accepted_tokens)


def _send_after(push: Push) -> dict:
    """The push's deliveries by the ``send_after`` fan-out gave them (one moment a chunk)."""
    groups: dict = defaultdict(list)
    for pk, at in push.deliveries.values_list("pk", "send_after"):
        groups[at].append(pk)
    assert None not in groups, "a delivery queued without send_after"
    return groups


def _reset_queued(push: Push, send_after: dict) -> None:
    """The push's deliveries queued again as fan-out left them (each claim and answer column
    back, ``send_after`` as ``_send_after`` read it), then the table rewritten compact: the
    floor must not pay for the sender's dead rows, nor run over a bloated table the sender
    did not have."""
    for at, ids in send_after.items():
        Delivery.objects.filter(pk__any=ids).update(send_after=at)
    push.deliveries.update(
        state=Delivery.State.QUEUED,
        send_lease_until=None,
        send_attempts=0,
        sent_at=None,
        channel_message_id="",
        channel_answer="",
        answered_at=None,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL push_delivery")
    vacuum_analyze("push_delivery")


def _floor_all(size: int) -> float:
    """Seconds for the sender's two statements a batch, back to back until nothing is queued:
    ``claim_for_sending`` and ``record_answers`` of every claimed delivery accepted, in the
    rows ``sender.Batch`` writes (one Huawei requestId a request of 1,000 tokens)."""
    batch, lease = sender.default_batch_size(), sender.default_lease()
    done = 0
    start = time.perf_counter()
    while True:
        now = timezone.now()
        ids = Delivery.objects.claim_for_sending(now, batch, lease)
        if not ids:
            break
        request_id = f"{int(now.timestamp() * 1000)}{done:06d}"
        Delivery.objects.record_answers(
            [
                (pk, Delivery.State.SENT, "huawei", True, None, request_id, "", now, False)
                for pk in ids
            ]
        )
        done += len(ids)
    seconds = time.perf_counter() - start
    assert done == size, (done, size)
    return seconds


def run_huawei(size: int) -> list[dict]:
    account, app = tenant("huawei", platform="android")
    try:
        with Served(_serve_huawei) as fake:
            token_url, url = fake.info
            settings.PUSH_HUAWEI_TOKEN_URL, settings.PUSH_HUAWEI_URL = token_url, url
            settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file
            channels.store_credentials(app, "huawei", _config())
            push = _queued_push(app, size, "huawei")
            send_after = _send_after(push)
            # The bare client posts the very message the sender sends for this push.
            message = huawei.prepare(push, now=timezone.now()).body
            start = time.perf_counter()
            accepted = asyncio.run(
                fake_huawei.drive(
                    token_url,
                    url,
                    (channel_token(i) for i in range(size)),
                    app_id=APP_ID,
                    client_id=APP_ID,
                    client_secret=CLIENT_SECRET,
                    message=message,
                    ca_file=loopback_ca().ca_file,
                    concurrency=huawei.HuaweiClient.CONCURRENCY,
                )
            )
            limit_seconds = time.perf_counter() - start
            assert accepted == size, accepted
            seconds = _send_all(push)
            sender.LOOP.close()
        assert fake.accepted == 2 * size, fake.accepted
        _reset_queued(push, send_after)
        floor_seconds = _floor_all(size)
        sent = push.deliveries.filter(state=Delivery.State.SENT, sent_at__isnull=False).count()
        assert sent == size, (sent, size)
    finally:
        cleanup(account)
    value, bare, floor = rate(size, seconds), rate(size, limit_seconds), rate(size, floor_seconds)
    figure = "Huawei: notifications through the sender"
    return [
        {
            "figure": figure,
            "size": size,
            "value": value,
            "limit": bare,
            "unit": "notifications/s",
            "goal": "≥ 0.5 of the bare HTTP client on the same fake",
            "goal_ratio": 0.5,
            "seconds": seconds,
            "of_floor": value / floor,
            "note": "1,000 tokens a messages:send request; the limit is httpx alone (one OAuth "
            "token, the same bodies, 16 requests at once as our client allows) driving the "
            "same loopback fake. With a thousand tokens a request the fake is not the "
            f"bottleneck: the sender's own statements are (the floor row), {value / floor:.2f} "
            "of the floor",
        },
        {
            "figure": f"{figure}, against the floor",
            "size": size,
            "value": value,
            "limit": min(bare, floor),
            "unit": "notifications/s",
            "goal": "≥ 0.5 of the lower of the bare client and the sender's own statements "
            "(the floor)",
            "goal_ratio": 0.5,
            "seconds": seconds,
            "note": f"the same run as the row before; the limit is the lower of the bare client "
            f"({bare:,.0f}/s) and the floor ({floor:,.0f}/s)",
        },
        {
            "figure": "Huawei floor: the sender's claim and answer statements alone (no HTTP)",
            "size": size,
            "value": floor,
            "limit": bare,
            "unit": "deliveries/s",
            "goal": "none: the most a sender that claims and records every delivery can reach",
            "seconds": floor_seconds,
            "note": "the same deliveries queued again (table rewritten compact, as fan-out left "
            "it), then claim_for_sending of 1,000 (UPDATE … SKIP LOCKED, with a lease) and "
            "record_answers of the 1,000 accepted, back to back until none is queued; without "
            "the sender's read of the claimed rows and its settle_lost_sends",
        },
    ]


def _raw_arrivals(ids: list[int], at, t: dict) -> None:
    """The limit: the arrivals written by bare statements of RECEIPT_BATCH rows each, keyed
    by delivery id, spread over CLIENTS connections (opened before the timer, as the server's
    are): no HTTP, no signature, no parsing, no device lookup."""
    chunks = [ids[i : i + RECEIPT_BATCH] for i in range(0, len(ids), RECEIPT_BATCH)]
    connections = [psycopg.connect(database_url(), autocommit=True) for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def work(index):
        barrier.wait()
        for chunk in chunks[index::CLIENTS]:
            values = ", ".join(["(%s::bigint, %s::timestamptz)"] * len(chunk))
            connections[index].execute(
                "UPDATE push_delivery AS d SET arrived_at = v.at, state = 'arrived', "
                f"arrival_source = 'vendor' FROM (VALUES {values}) AS v(id, at) "
                "WHERE d.id = v.id",
                [x for pk in chunk for x in (pk, at)],
            )

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(work, i) for i in range(CLIENTS)]
            with timer(t, "raw"):
                barrier.wait()
                for future in futures:
                    future.result()
    finally:
        for conn in connections:
            conn.close()


async def _post_all(
    url: str, warm_up: list[tuple[bytes, dict]], bodies: list[tuple[bytes, dict]], t: dict
) -> list[int]:
    """Every body posted to ``url``, CLIENTS at once over as many kept-alive connections, timed
    after ``warm_up`` (empty receipts) has opened the connections and each worker's first
    request (its database connection, Django's lazy set-up) is behind it."""
    gate = asyncio.Semaphore(CLIENTS)
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=120, trust_env=False) as client:

        async def post(body, headers):
            async with gate:
                response = await client.post(url, content=body, headers=headers)
            return response.status_code

        warm = await asyncio.gather(*(post(body, headers) for body, headers in warm_up))
        assert set(warm) == {200}, sorted(set(warm))
        start = time.perf_counter()
        statuses = await asyncio.gather(*(post(body, headers) for body, headers in bodies))
        t["product"] = time.perf_counter() - start
        return statuses


def _arrived(push: Push) -> int:
    return push.deliveries.filter(arrived_at__isnull=False, state=Delivery.State.ARRIVED).count()


def run_receipts(size: int) -> dict:
    account, app = tenant("receipts", platform="android")
    try:
        credentials = channels.store_credentials(app, "huawei", _config())
        push = _queued_push(app, size, "huawei")
        # As if the sender had handed them all to Huawei a minute ago.
        sent_at = timezone.now() - timedelta(minutes=1)
        push.deliveries.update(state=Delivery.State.SENT, sent_at=sent_at, channel="huawei")
        vacuum_analyze("push_delivery")
        t: dict = {}
        ids = list(push.deliveries.order_by("pk").values_list("pk", flat=True))
        assert len(ids) == size, len(ids)
        _raw_arrivals(ids, timezone.now(), t)
        assert _arrived(push) == size
        push.deliveries.update(arrived_at=None, state=Delivery.State.SENT, arrival_source="")
        # The limit and the reset left two dead versions of every row: vacuumed away before
        # the product is measured.
        vacuum_analyze("push_delivery")
        with gunicorn() as (base, _):
            url = credentials.receipt_url(base)
            # Signed just before they are posted (Huawei's timestamp must be within 15 min).
            fake = fake_huawei.FakeHuawei(app_id=APP_ID, client_secret=CLIENT_SECRET)
            bodies = [
                fake.receipt(
                    [(channel_token(i), push.push_id, 0) for i in range(start, end)],
                    user=RECEIPT_USER,
                    secret=RECEIPT_SECRET,
                )
                for start in range(0, size, RECEIPT_BATCH)
                for end in [min(size, start + RECEIPT_BATCH)]
            ]
            warm_up = [
                fake.receipt([], user=RECEIPT_USER, secret=RECEIPT_SECRET)
                for _ in range(4 * CLIENTS)
            ]
            statuses = asyncio.run(_post_all(url, warm_up, bodies, t))
        assert set(statuses) == {200}, sorted(set(statuses))
        arrived = _arrived(push)
        assert arrived == size, (arrived, size)
        sources = set(push.deliveries.values_list("arrival_source", flat=True).distinct())
        assert sources == {"vendor"}, sources
    finally:
        cleanup(account)
    value, limit = rate(size, t["product"]), rate(size, t["raw"])
    return {
        "figure": "Huawei receipts: POST /callbacks/push/huawei/<key>, 1,000 a request",
        "size": size,
        "value": value,
        "limit": limit,
        "unit": "receipts/s",
        "goal": "≥ 20,000 receipts/s",
        "goal_absolute": 20_000,
        "seconds": t["product"],
        "note": f"Huawei's receipt POST in batches of {RECEIPT_BATCH:,} statuses (its documented "
        f"maximum merge), signed (X-HUAWEI-CALLBACK-ID, checked), {CLIENTS} concurrent httpx "
        "clients against gunicorn (2 workers) on loopback; the limit is one bare "
        f"UPDATE … FROM (VALUES …) of {RECEIPT_BATCH:,} rows keyed by delivery id over "
        f"{CLIENTS} connections (no HTTP, no parsing, no device lookup): ratio "
        f"{value / limit:.2f}",
    }
