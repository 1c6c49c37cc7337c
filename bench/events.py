"""Figure 3: batched POST /sdk/v1/events (500 events a request) through gunicorn on loopback,
events per second, vs a raw ``UPDATE … FROM (VALUES …)`` of the same rows.

Both sides run ``CLIENTS`` at once: the product with that many client threads (each reusing
one HTTP session), the limit with that many threads on their own database connections; the
table is vacuumed before each, so neither pays for the other's dead rows.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests
from django.db import connection
from django.utils import timezone

from push import fanout
from push.models import Delivery, Device, Push

from .common import cleanup, gunicorn, make_devices, rate, tenant, timer, token, vacuum_analyze

PER_REQUEST = 500
CLIENTS = 4


def _connect() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )


def _raw_updates(rows, now, t: dict) -> None:
    """The limit: the timestamps written by bare statements of PER_REQUEST rows each, spread
    over CLIENTS connections (opened before the timer, like the server's are)."""
    chunks = [rows[i : i + PER_REQUEST] for i in range(0, len(rows), PER_REQUEST)]
    connections = [_connect() for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def work(index):
        conn = connections[index]
        barrier.wait()
        for chunk in chunks[index::CLIENTS]:
            values = ", ".join(["(%s::bigint, %s::bigint)"] * len(chunk))
            conn.execute(
                "UPDATE push_delivery AS d SET arrived_at = %s, state = 'arrived' "
                f"FROM (VALUES {values}) AS v(device_id, push_id) "
                "WHERE d.device_id = v.device_id AND d.push_id = v.push_id",
                [now, *[x for pair in chunk for x in pair]],
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


def run(size: int) -> dict:
    devices = max(1, size // PER_REQUEST)
    account, app = tenant("events")
    try:
        make_devices(app, devices)
        pushes = []
        for i in range(PER_REQUEST):  # every device has a delivery of each of 500 pushes
            push = fanout.accept(
                Push(application=app, audience_type="token_list", message_type="notify",
                     title=f"p{i}", audience={"token_list": [token(d) for d in range(devices)]})
            )  # fmt: skip
            pushes.append(push.pk)
        total = devices * PER_REQUEST
        t: dict = {}
        rows = list(Delivery.objects.filter(push_id__in=pushes).values_list("device_id", "push_id"))
        vacuum_analyze("push_delivery")
        _raw_updates(rows, timezone.now(), t)
        Delivery.objects.filter(push_id__in=pushes).update(arrived_at=None, state="sent")
        # The limit and the reset left two dead versions of every row: vacuumed away before
        # the product is measured.
        vacuum_analyze("push_delivery")
        tokens = list(Device.objects.filter(application=app).values_list("token", flat=True))
        headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key,
                   "Content-Type": "application/json"}  # fmt: skip
        bodies = [
            json.dumps({"token": tok, "events": [{"push_id": p, "type": "arrive"} for p in pushes]})
            for tok in tokens
        ]
        sessions = [requests.Session() for _ in range(CLIENTS)]
        for session in sessions:
            session.trust_env = False

        def client(index):
            """One client thread: its share of the requests, on its own reused session."""
            accepted = 0
            for body in bodies[index::CLIENTS]:
                r = sessions[index].post(
                    base + "/sdk/v1/events", data=body, headers=headers, timeout=60
                )
                r.raise_for_status()
                accepted += r.json()["accepted"]
            return accepted

        try:
            with gunicorn(threads=4) as (base, _), timer(t, "product"):
                with ThreadPoolExecutor(CLIENTS) as pool:
                    accepted = sum(pool.map(client, range(CLIENTS)))
        finally:
            for session in sessions:
                session.close()
        assert accepted == total, (accepted, total)
    finally:
        cleanup(account)
    return {
        "figure": "SDK events: POST /sdk/v1/events, 500 a request",
        "size": total,
        "value": rate(total, t["product"]),
        "limit": rate(total, t["raw"]),
        "unit": "events/s",
        "goal": "≥ 20,000 events/s",
        "goal_absolute": 20_000,
    }
