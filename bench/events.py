"""Figure 3: batched POST /sdk/v1/events (500 events a request) through gunicorn on loopback,
events per second, vs a raw ``UPDATE … FROM (VALUES …)`` of the same rows."""

import json
from concurrent.futures import ThreadPoolExecutor

import requests
from django.db import connection
from django.utils import timezone

from push import fanout
from push.models import Delivery, Device, Push

from .common import cleanup, gunicorn, make_devices, rate, tenant, timer

PER_REQUEST = 500
CLIENTS = 4


def run(size: int) -> dict:
    devices = max(1, size // PER_REQUEST)
    account, app = tenant("events")
    try:
        make_devices(app, devices)
        pushes = []
        for i in range(PER_REQUEST):  # every device has a delivery of each of 500 pushes
            push = fanout.accept(
                Push(application=app, audience_type="token_list", message_type="notify",
                     title=f"p{i}", audience={"token_list": [f"b{d:035d}" for d in range(devices)]})
            )  # fmt: skip
            pushes.append(push.pk)
        total = devices * PER_REQUEST
        t: dict = {}
        # The limit: the same timestamps written by bare statements, 500 rows each.
        rows = list(Delivery.objects.filter(push_id__in=pushes).values_list("device_id", "push_id"))
        now = timezone.now()
        with timer(t, "raw"), connection.cursor() as cursor:
            for start in range(0, len(rows), PER_REQUEST):
                chunk = rows[start : start + PER_REQUEST]
                values = ", ".join(["(%s::bigint, %s::bigint)"] * len(chunk))
                cursor.execute(
                    "UPDATE push_delivery AS d SET arrived_at = %s, state = 'arrived' "
                    f"FROM (VALUES {values}) AS v(device_id, push_id) "
                    "WHERE d.device_id = v.device_id AND d.push_id = v.push_id",
                    [now, *[x for pair in chunk for x in pair]],
                )
        Delivery.objects.filter(push_id__in=pushes).update(arrived_at=None, state="sent")
        tokens = list(Device.objects.filter(application=app).values_list("token", flat=True))
        headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key,
                   "Content-Type": "application/json"}  # fmt: skip
        bodies = [
            json.dumps(
                {"token": token, "events": [{"push_id": p, "type": "arrive"} for p in pushes]}
            )
            for token in tokens
        ]

        def post(base, body):
            with requests.Session() as s:
                s.trust_env = False
                r = s.post(base + "/sdk/v1/events", data=body, headers=headers, timeout=60)
                r.raise_for_status()
                return r.json()["accepted"]

        with gunicorn(threads=4) as (base, _), timer(t, "product"):
            with ThreadPoolExecutor(CLIENTS) as pool:
                accepted = sum(pool.map(lambda body: post(base, body), bodies))
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
