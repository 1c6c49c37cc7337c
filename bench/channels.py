"""Figures 6–8: notifications handed to APNs and FCM by the sender stage, beside the same
client library driving the same loopback fake with nothing of ours around it (the limit); and
an ``all`` push to N APNs devices from acceptance to the last channel answer.

The fakes run in a process of their own (they are Python too: in this process they would take
the GIL from whichever side is measured). Ours is one sender process, as the limit is one
client: claim a batch (SKIP LOCKED, lease) → build the push's message once → send the batch
concurrently over the reused client → write every answer in one statement, repeated.
"""

import asyncio
import multiprocessing
import time

from django.conf import settings
from django.db import connections

from push import channels, fanout, sender
from push.models import Delivery, Push
from tests.fakes import apns as fake_apns
from tests.fakes import fcm as fake_fcm
from tests.fakes.tls import loopback_ca

from .common import channel_token, cleanup, make_devices, rate, tenant, vacuum_analyze

TOPIC = "com.example.bench"
TEAM = "BENCHTEAM1"


def _apns_config(key: str, key_id: str) -> dict:
    """APNs credentials the fake accepts, as ``apns.check_credentials`` gives them."""
    return {
        "key": key,
        "key_id": key_id,
        "team_id": TEAM,
        "topic": TOPIC,
        "environment": "production",
    }


def _serve_apns(keys, pipe):
    with fake_apns.FakeApns(keys=keys, team_id=TEAM, topics=[TOPIC], record=False) as fake:
        pipe.send(fake.url)
        pipe.recv()  # until told to stop
        pipe.send(fake.accepted)


def _serve_fcm(pipe):
    with fake_fcm.FakeFcm(project_id="bench-project", record=False) as fake:
        pipe.send((fake.url, fake.service_account()))
        pipe.recv()
        pipe.send(fake.accepted)


class Served:
    """A fake in a child process: ``.info`` is what it sent back when it was up."""

    def __init__(self, target, *args):
        connections.close_all()  # the child must not share this process's connections
        loopback_ca()  # made before the fork, so that both sides trust the same CA
        context = multiprocessing.get_context("fork")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=target, args=(*args, theirs), daemon=True)

    def __enter__(self):
        self.process.start()
        self.info = self.pipe.recv()
        return self

    def __exit__(self, *exc):
        self.pipe.send("stop")
        self.accepted = self.pipe.recv()
        self.process.join(10)


def _point_at(apns_url=None, fcm_url=None):
    if apns_url:
        settings.PUSH_APNS_PRODUCTION_URL = settings.PUSH_APNS_SANDBOX_URL = apns_url
    if fcm_url:
        settings.PUSH_FCM_URL = fcm_url
    settings.PUSH_CHANNEL_CA_FILE = loopback_ca().ca_file


def _queued_push(app, size, channel) -> Push:
    make_devices(app, size, channel=channel)
    push = fanout.accept(
        Push(
            application=app,
            audience_type="all",
            message_type="notify",
            title="bench",
            content="a notification",
            environment="product",
        )
    )
    assert fanout.start(push.pk)
    vacuum_analyze("push_delivery", "push_device")
    return push


def _send_all(push) -> float:
    start = time.perf_counter()
    sender.run(max_batches=10**6)
    seconds = time.perf_counter() - start
    push.refresh_from_db()
    sent = push.deliveries.filter(state=Delivery.State.SENT).count()
    assert sent == push.targets, (sent, push.targets)
    return seconds


def run_apns(size: int) -> dict:
    key, key_id = fake_apns.apns_key()
    account, app = tenant("apns", platform="ios")
    try:
        with Served(_serve_apns, {key_id: key}) as fake:
            _point_at(apns_url=fake.info)
            limit = asyncio.run(
                fake_apns.drive(
                    fake.info,
                    size,
                    key=key,
                    key_id=key_id,
                    team_id=TEAM,
                    topic=TOPIC,
                    ca_file=loopback_ca().ca_file,
                )
            )
            channels.store_credentials(app, "apns", _apns_config(key, key_id))
            push = _queued_push(app, size, "apns")
            seconds = _send_all(push)
            sender.LOOP.close()
        return {
            "figure": "APNs: notifications through the sender",
            "size": size,
            "value": rate(size, seconds),
            "limit": limit["per_second"],
            "unit": "notifications/s",
            "goal": "≥ 10,000/s and ≥ 0.5 of aioapns alone on the same fake",
            "goal_ratio": 0.5,
            "goal_absolute": 10_000,
            "seconds": seconds,
            "note": "the limit is aioapns driving the loopback fake with nothing of ours around "
            "it; the fake (Python, h2) is the bottleneck of both, below 10,000/s on this machine",
        }
    finally:
        cleanup(account)


def run_fcm(size: int) -> dict:
    account, app = tenant("fcm", platform="android")
    try:
        with Served(_serve_fcm) as fake:
            url, service_account = fake.info
            _point_at(fcm_url=url)
            start = time.perf_counter()
            accepted = asyncio.run(
                fake_fcm.drive(
                    service_account,
                    (channel_token(i) for i in range(size)),
                    base_url=url,
                    ca_file=loopback_ca().ca_file,
                )
            )
            limit_seconds = time.perf_counter() - start
            assert accepted == size, accepted
            channels.store_credentials(
                app,
                "fcm",
                {"service_account": service_account, "project_id": service_account["project_id"]},
            )
            push = _queued_push(app, size, "fcm")
            seconds = _send_all(push)
            sender.LOOP.close()
        return {
            "figure": "FCM: messages through the sender",
            "size": size,
            "value": rate(size, seconds),
            "limit": rate(size, limit_seconds),
            "unit": "messages/s",
            "goal": "≥ 5,000/s and ≥ 0.5 of google-auth + httpx alone on the same fake",
            "goal_ratio": 0.5,
            "goal_absolute": 5_000,
            "seconds": seconds,
        }
    finally:
        cleanup(account)


def _sender_until_done(push_id, pipe):
    """A sender worker: send until the push has fanned out and nothing is queued."""
    try:
        while True:
            if sender.run(max_batches=10**6).get("claimed"):
                continue
            status = Push.objects.filter(pk=push_id).values_list("status", flat=True).first()
            if (
                status == Push.Status.FINISHED
                and not Delivery.objects.filter(
                    push_id=push_id, state=Delivery.State.QUEUED
                ).exists()
            ):
                break
            time.sleep(0.05)
        pipe.send(time.perf_counter())
    finally:
        connections.close_all()


def run_apns_all(size: int) -> dict:
    key, key_id = fake_apns.apns_key()
    account, app = tenant("apns-all", platform="ios")
    try:
        with Served(_serve_apns, {key_id: key}) as fake:
            _point_at(apns_url=fake.info)
            channels.store_credentials(app, "apns", _apns_config(key, key_id))
            make_devices(app, size, channel="apns")
            vacuum_analyze("push_delivery", "push_device")
            push = Push(
                application=app,
                audience_type="all",
                message_type="notify",
                title="bench",
                content="to everyone",
                environment="product",
            )
            start = time.perf_counter()
            fanout.accept(push)
            # The task cluster as deployed: fan-out in one worker, the sender (woken by the
            # first chunk) in the other.
            connections.close_all()
            context = multiprocessing.get_context("fork")
            mine, theirs = context.Pipe()
            worker = context.Process(target=_sender_until_done, args=(push.pk, theirs))
            worker.start()
            fanout.start(push.pk)
            end = mine.recv()
            worker.join()
            seconds = end - start
        sent = push.deliveries.filter(state=Delivery.State.SENT).count()
        assert sent == size, sent
        return {
            "figure": "APNs: all push, acceptance to last answer",
            "size": size,
            "value": seconds,
            "unit": "s",
            "goal": "reported (no goal set)",
            "seconds": seconds,
        }
    finally:
        cleanup(account)
