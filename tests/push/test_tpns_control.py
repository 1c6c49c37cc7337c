"""POST /v3/push/cancel_timing_task, stop_push_msg and revoke_push_msg (push.control): the
documented requests, what a stop and a revoke take back (fan-out chunks, queued channel sends,
the built-in inbox, the supplementary SMS), refusals that write nothing, app isolation."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from push import control, fallback, fanout, sender, stats
from push.inbox import fetch as inbox
from push.models import Application, Delivery, Platform, Push
from sms.models import SmsMessage
from tests.conftest import run_concurrently
from tests.push.conftest import add_device, apns_device, configure, outsider_app
from tests.push.test_tpns_auth import tpns

CANCEL, STOP, REVOKE = "push/cancel_timing_task", "push/stop_push_msg", "push/revoke_push_msg"
SMS_FIELDS = {
    "resend_by_sms": True,
    "sms_delay": 300,
    "sms_app_id": "1400006666",
    "sms_template_id": "449739",
    "sms_params": ["报销单 42", "明天"],
}


def make_push(app, audience_type="all", audience=None, now=None, **fields):
    push = Push(
        application=app,
        audience_type=audience_type,
        audience=audience or {},
        message_type="notify",
        title="Approval",
        content="Expense report 42 waits for you",
        message={"title": "Approval", "content": "Expense report 42 waits for you"},
        environment="product",
        **fields,
    )
    return fanout.accept(push, now=now)


def started(app, now, **fields):
    """A broadcast fanned out completely at ``now``."""
    push = make_push(app, now=now, **fields)
    assert fanout.start(push.pk, now=now)
    push.refresh_from_db()
    return push


def states(push) -> dict[str, str]:
    return dict(push.deliveries.values_list("device__token", "state"))


def outcomes(push) -> dict[str, str]:
    return dict(push.deliveries.values_list("device__token", "outcome"))


def snapshot(push) -> tuple:
    """Everything a refusal must leave as it was."""
    row = Push.objects.values_list("status", "stopped_at", "revoked_at", "targets").get(pk=push.pk)
    deliveries = sorted(push.deliveries.values_list("id", "state", "fallback", "outcome"))
    return row, deliveries


@pytest.fixture
def devices(app):
    return {t: add_device(app, t) for t in ("tok-a", "tok-b", "tok-c")}


@pytest.fixture
def ios(personas):
    app, secret = Application.objects.create_for(
        personas.org, name="Acme iOS", platform=Platform.IOS
    )
    app.test_secret = secret
    return app


# --------------------------------------------------------------------------------------------
# The documented requests and the answer


@pytest.mark.parametrize("key", ["pushid", "pushId"])  # the examples' spelling, the table's
def test_cancel_timing_task_as_published_cancels_a_timed_push(client, app, devices, clock, key):
    now = timezone.now()
    clock(now.timestamp())
    push = make_push(app, now=now, send_at=now + timedelta(hours=2))
    assert push.status == "PUSH_WAIT"

    answer = tpns(client, app, CANCEL, {key: push.push_id}).json()

    assert answer == {
        "ret_code": 0,
        "err_msg": "NO_ERROR",
        "pushId": push.push_id,
        "status": "PUSH_CANCELED",
    }
    push.refresh_from_db()
    assert (push.status, push.stopped_at) == ("PUSH_CANCELED", now)
    # Its send time comes and nothing is fanned out.
    assert fanout.start_due(now + timedelta(hours=3)) == 0
    assert fanout.start(push.pk, now=now + timedelta(hours=3)) is False
    assert push.deliveries.count() == 0
    # Canceling again is fine and changes nothing.
    clock((now + timedelta(minutes=1)).timestamp())
    again = tpns(client, app, CANCEL, {key: push.push_id}).json()
    assert (again["ret_code"], again["status"]) == (0, "PUSH_CANCELED")
    push.refresh_from_db()
    assert push.stopped_at == now


def test_cancel_timing_task_refuses_a_push_that_is_not_waiting_and_writes_nothing(
    client, app, devices, clock
):
    now = timezone.now()
    clock(now.timestamp())
    immediate = make_push(app, now=now)  # accepted, not timed
    finished = started(app, now)
    listed = make_push(app, "token_list", {"token_list": ["tok-a"]}, now=now)
    for push in (immediate, finished, listed):
        before = snapshot(push)

        answer = tpns(client, app, CANCEL, {"pushId": push.push_id}).json()

        assert answer["ret_code"] == 1008007 and answer["err_msg"].startswith("pushId: ")
        assert push.status in answer["err_msg"]
        assert snapshot(push) == before


def test_stop_push_msg_as_published_stops_a_push_and_empties_the_inbox(client, app, devices, clock):
    now = timezone.now()
    push = started(app, now)
    assert set(states(push).values()) == {"sent"}  # in the built-in inbox
    clock((now + timedelta(minutes=1)).timestamp())

    answer = tpns(client, app, STOP, {"pushid": push.push_id}).json()

    assert answer == {
        "ret_code": 0,
        "err_msg": "NO_ERROR",
        "pushId": push.push_id,
        "status": "PUSH_CANCELED",
    }
    push.refresh_from_db()
    assert push.status == "PUSH_CANCELED" and push.stopped_at == now + timedelta(minutes=1)
    assert set(states(push).values()) == {"canceled"}
    assert all(inbox(d, 0, now) == [] for d in devices.values())
    # Stopping again is fine and changes nothing.
    clock((now + timedelta(minutes=2)).timestamp())
    assert tpns(client, app, STOP, {"pushId": push.push_id}).json()["ret_code"] == 0
    push.refresh_from_db()
    assert push.stopped_at == now + timedelta(minutes=1)


def test_a_timed_push_stopped_before_its_time_is_never_fanned_out(app, devices):
    now = timezone.now()
    push = make_push(app, now=now, send_at=now + timedelta(hours=1))

    control.stop(app, push.pk, now)

    assert fanout.start_due(now + timedelta(hours=2)) == 0
    assert push.deliveries.count() == 0


def test_a_stop_leaves_what_arrived_in_the_inbox(app, devices):
    now = timezone.now()
    push = started(app, now)
    push.deliveries.filter(device=devices["tok-a"]).update(state="arrived", arrived_at=now)

    control.stop(app, push.pk, now)

    assert states(push) == {"tok-a": "arrived", "tok-b": "canceled", "tok-c": "canceled"}
    assert [d.push_id for d in inbox(devices["tok-a"], 0, now)] == [push.pk]
    assert inbox(devices["tok-b"], 0, now) == []


@pytest.mark.parametrize("path", [STOP, REVOKE])
def test_a_failed_or_expired_push_cannot_be_stopped_or_revoked(client, app, devices, clock, path):
    now = timezone.now()
    expired = started(app, now, expire_time=800)
    failed = started(app, now)
    Push.objects.filter(pk=failed.pk).update(status="PUSH_FAILED")
    clock((now + timedelta(days=1)).timestamp())
    for push in (expired, failed):
        before = snapshot(push)

        answer = tpns(client, app, path, {"pushId": push.push_id}).json()

        assert answer["ret_code"] == 1008007 and answer["err_msg"].startswith("pushId: ")
        assert snapshot(push) == before


@pytest.mark.parametrize("path", [CANCEL, STOP, REVOKE])
@pytest.mark.parametrize(
    "body, code",
    [
        (b"not json", 1008001),
        ({}, 1008002),
        ({"pushId": ""}, 1008002),
        ({"pushId": "abc"}, 1008015),
        ({"pushId": "999999999"}, 1008015),
    ],
)
def test_bad_push_ids_are_refused_with_tpns_codes(client, app, devices, path, body, code):
    push = started(app, timezone.now())
    before = snapshot(push)

    answer = tpns(client, app, path, body).json()

    assert answer["ret_code"] == code and "ret_code" in answer and "err_msg" in answer
    assert snapshot(push) == before


@pytest.mark.parametrize("path", [CANCEL, STOP, REVOKE])
def test_another_apps_push_does_not_exist(client, app, devices, personas, clock, path):
    now = timezone.now()
    clock(now.timestamp())
    timed = make_push(app, now=now, send_at=now + timedelta(hours=1))
    running = started(app, now)
    other = outsider_app(personas)
    for push in (timed, running):
        before = snapshot(push)

        answer = tpns(client, other, path, {"pushId": push.push_id}).json()

        assert answer["ret_code"] == 1008015
        assert answer["err_msg"] == f"pushId: push {push.pk} does not exist"
        assert snapshot(push) == before


# --------------------------------------------------------------------------------------------
# A stop during a fan-out: the stop and the chunk writes serialise on the push row


def stop_is_waiting_for_a_lock() -> bool:
    """Another backend of this database waits for a lock (the stop, for the push row)."""
    with connection.cursor() as cursor:
        # The statistics views are read once per transaction unless the snapshot is cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


class PausedTransactions:
    """``fanout.transaction`` whose ``atomic()`` waits, before the second chunk's
    transaction, for ``go``: a stop lands between two chunks, nobody holding the row."""

    def __init__(self, reached: threading.Event, go: threading.Event):
        self.reached, self.go, self.entered = reached, go, 0

    def atomic(self, *args, **kwargs):
        self.entered += 1
        if self.entered == 2:
            self.reached.set()
            assert self.go.wait(30)
        return transaction.atomic(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(transaction, name)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("moment", ["while a chunk is written", "between two chunks"])
def test_a_stop_during_a_fan_out_lets_no_chunk_be_written_after_it(app, monkeypatch, moment):
    for i in range(6):
        add_device(app, f"tok-{i}")
    push = make_push(app)
    first_chunk, stopped = threading.Event(), threading.Event()
    real = fanout.fan_out
    chunks = []

    def fan_out_holding_the_first_chunk(*args, **kwargs):
        written = real(*args, **kwargs)
        chunks.append(written)
        if len(chunks) == 1:
            first_chunk.set()
            # The chunk's transaction stays open until the stop waits for the push row.
            for _ in range(600):
                if stop_is_waiting_for_a_lock():
                    break
                threading.Event().wait(0.05)
            else:
                raise AssertionError("the stop never waited for the chunk")
        return written

    if moment == "while a chunk is written":
        monkeypatch.setattr(fanout, "fan_out", fan_out_holding_the_first_chunk)
    else:
        monkeypatch.setattr(fanout, "fan_out", lambda *a, **k: chunks.append(1) or real(*a, **k))
        monkeypatch.setattr(fanout, "transaction", PausedTransactions(first_chunk, stopped))

    def worker(i):
        if i == 0:
            return fanout.start(push.pk, chunk=2)
        assert first_chunk.wait(30)
        try:
            return control.stop(app, push.pk, timezone.now()).halted
        finally:
            stopped.set()

    results = run_concurrently(2, worker)

    push.refresh_from_db()
    assert len(chunks) == 1  # the fan-out found the push stopped before its second chunk
    assert push.status == "PUSH_CANCELED" and push.targets == 2
    assert push.deliveries.count() == 2
    assert set(push.deliveries.values_list("state", flat=True)) == {"canceled"}
    assert 2 in results  # the stop saw the committed chunk and took it back
    # Nothing carries the fan-out on later.
    assert fanout.start_due(timezone.now() + timedelta(minutes=5)) == 0
    assert push.deliveries.count() == 2


# --------------------------------------------------------------------------------------------
# Queued channel sends and the supplementary SMS


@pytest.mark.django_db
def test_queued_apns_sends_are_canceled_and_never_sent(ios, apns):
    configure(ios, apns)
    for i in (1, 2, 3):
        apns_device(ios, i)
    now = timezone.now()
    push = make_push(ios, "token_list", {"token_list": ["dev-1", "dev-2", "dev-3"]}, now=now)
    assert set(states(push).values()) == {"queued"}
    # A sender holds dev-3 right now: it finishes as it would.
    push.deliveries.filter(device__token="dev-3").update(
        state="sending", send_lease_until=now + timedelta(minutes=1)
    )

    done = control.stop(ios, push.pk, now)

    assert done.halted == 2
    assert states(push) == {"dev-1": "canceled", "dev-2": "canceled", "dev-3": "sending"}
    assert sender.send_batch(now + timedelta(minutes=1))["claimed"] == 0
    assert apns.received == []
    figures = stats.summary(push)
    assert (figures["canceled"], figures["revoked"]) == (2, 0)


@pytest.mark.django_db
def test_after_a_stop_the_sms_of_never_sent_deliveries_is_not_sent_and_sent_ones_keep_theirs(
    ios, apns, sms
):
    configure(ios, apns)
    for i in (1, 2):
        apns_device(ios, i, phone=f"+861371111000{i}")
    now = timezone.now()
    push = make_push(
        ios, "token_list", {"token_list": ["dev-1", "dev-2"]}, now=now, sms_trigger=1, **SMS_FIELDS
    )
    assert sender.send_batch(now, limit=1)["accepted"] == 1  # one goes to APNs, one waits
    assert sorted(states(push).values()) == ["queued", "sent"]

    control.stop(ios, push.pk, now + timedelta(seconds=10))

    never_sent = push.deliveries.get(state="canceled")
    assert (never_sent.fallback, never_sent.outcome) == ("decided", "canceled")
    fallback.sweep(now + timedelta(seconds=301))
    assert outcomes(push) == {
        never_sent.device.token: "canceled",
        push.deliveries.get(state="sent").device.token: "sent",
    }
    [message] = SmsMessage.objects.all()
    assert message.source_id == push.deliveries.get(state="sent").pk
    assert len(apns.received) == 1


# --------------------------------------------------------------------------------------------
# Revoke


def test_revoke_hides_undelivered_notifications_and_cancels_their_sms(client, app, sms, clock):
    devices = {
        t: add_device(app, t, phone=f"+86137111100{n}")
        for n, t in enumerate(("tok-a", "tok-b", "tok-c"), start=10)
    }
    now = timezone.now()
    push = started(app, now, sms_trigger=2, **SMS_FIELDS)  # SMS when not clicked
    push.deliveries.filter(device=devices["tok-a"]).update(state="arrived", arrived_at=now)
    clock((now + timedelta(minutes=1)).timestamp())

    answer = tpns(client, app, REVOKE, {"pushid": push.push_id}).json()

    assert answer == {
        "ret_code": 0,
        "err_msg": "NO_ERROR",
        "pushId": push.push_id,
        "status": "PUSH_REVOKED",
    }
    push.refresh_from_db()
    revoked_at = now + timedelta(minutes=1)
    assert (push.status, push.revoked_at, push.stopped_at) == (
        "PUSH_REVOKED",
        revoked_at,
        revoked_at,
    )
    assert states(push) == {"tok-a": "arrived", "tok-b": "revoked", "tok-c": "revoked"}
    # Gone from the inbox, also for the device that fetched it and reads it again.
    assert all(inbox(d, 0, now) == [] for d in devices.values())
    fallback.sweep(now + timedelta(seconds=301))
    assert outcomes(push) == {"tok-a": "sent", "tok-b": "canceled", "tok-c": "canceled"}
    assert SmsMessage.objects.count() == 1
    # Revoking or stopping again is fine and changes nothing.
    for path in (REVOKE, STOP):
        again = tpns(client, app, path, {"pushId": push.push_id}).json()
        assert (again["ret_code"], again["status"]) == (0, "PUSH_REVOKED")
    push.refresh_from_db()
    assert push.revoked_at == revoked_at


def test_a_stopped_push_can_still_be_revoked(app, devices):
    now = timezone.now()
    push = started(app, now)
    control.stop(app, push.pk, now)

    done = control.revoke(app, push.pk, now + timedelta(minutes=1))

    assert done.changed and done.halted == 0
    push.refresh_from_db()
    assert (push.status, push.stopped_at, push.revoked_at) == (
        "PUSH_REVOKED",
        now,
        now + timedelta(minutes=1),
    )
    assert set(states(push).values()) == {"canceled"}


def test_stop_changes_no_other_push(app, devices):
    now = timezone.now()
    push, other = started(app, now), started(app, now)

    with transaction.atomic():
        control.stop(app, push.pk, now)

    assert set(states(other).values()) == {"sent"}
    assert Push.objects.get(pk=other.pk).status == "PUSH_FINISHED"
    assert Delivery.objects.filter(push=other, state="canceled").count() == 0


def test_a_delivery_sent_during_a_stop_and_answered_retry_is_not_sent_again(ios_app, apns, sms):
    """A stop leaves deliveries being sent to finish; one the channel answers "retry" must not
    go out later, and its supplementary SMS is decided canceled, not sent."""
    configure(ios_app, apns)
    apns_device(ios_app, 1, phone="+8613711110001")
    now = timezone.now()
    push = Push(
        application=ios_app,
        audience_type="token_list",
        audience={"token_list": ["dev-1"]},
        message_type="notify",
        title="Approval",
        content="Expense report 42 waits for you",
        environment="product",
        resend_by_sms=True,
        sms_delay=300,
        sms_trigger=1,
        sms_app_id="1400006666",
        sms_template_id="449739",
        sms_params=["报销单 42", "明天"],
    )
    push = fanout.accept(push, now=now)
    apns.fail_next(1, 503, "ServiceUnavailable")
    flight = sender.begin(now)  # the request is out
    control.stop(ios_app, push.pk, now)  # the stop comes while it is being sent
    sender.finish(flight)
    assert push.deliveries.get().state == "queued"  # the channel said "retry"

    later = now + timedelta(minutes=1)
    assert sender.send_batch(later)["canceled"] == 1
    assert len(apns.received) == 1
    delivery = push.deliveries.get()
    assert delivery.state == "canceled"
    fallback.sweep(now + timedelta(seconds=301))
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.outcome_detail) == ("canceled", "push canceled")
