"""The due clock (push.clock): what falls due is handled at the next look, once a second, on a
clock the test moves; an empty system costs one statement a look; one clock runs at a time and
hands over to the next before its task would be killed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from push import clock, fanout
from push.models import Push
from tests.push.conftest import SteppedClock, add_device
from tests.push.test_fallback import outcomes, sms_push


def test_an_empty_system_costs_one_statement_a_look(app):
    with CaptureQueriesContext(connection) as queries:
        assert clock.tick(timezone.now()) == {}
    assert len(queries) == 1


def test_a_due_sms_is_decided_at_the_first_look_after_its_due_time(app, sms):
    add_device(app, "tok-a", phone="+8613711110001")
    push = sms_push(app, ["tok-a"], trigger=1)
    due = push.deliveries.get().sms_due_at

    assert clock.tick(due - timedelta(seconds=1)) == {}
    assert outcomes(push) == {"tok-a": ""}
    done = clock.tick(due + timedelta(seconds=1))

    assert done["sms"]["batches"] >= 1
    assert outcomes(push) == {"tok-a": "sent"}


@pytest.mark.django_db(transaction=True)  # the start task is queued on commit
def test_a_scheduled_push_starts_at_the_first_look_after_its_send_time(app):
    add_device(app, "tok-a")
    now = timezone.now()
    push = fanout.accept(
        Push(
            application=app,
            audience_type="all",
            message_type="notify",
            title="t",
            content="c",
            send_at=now + timedelta(seconds=30),
        ),
        now=now,
    )
    assert push.status == "PUSH_WAIT"

    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    assert clock.tick(now + timedelta(seconds=29)) == {}
    assert clock.tick(now + timedelta(seconds=31)) == {"started": 1}
    push.refresh_from_db()
    # Released with a start task of its own: the clock never writes a broadcast's chunks.
    assert push.status == "PUSH_INIT"
    assert [(q.func(), q.args()) for q in OrmQ.objects.all()] == [
        ("push.tasks.start_push", (push.pk,))
    ]
    assert clock.tick(now + timedelta(seconds=32)) == {}  # released once
    fanout.start(push.pk)
    assert push.deliveries.count() == 1


def test_the_clock_looks_once_a_second_then_hands_over(app):
    moments = SteppedClock(timezone.now())
    handed = []

    totals = clock.run(
        seconds=5,
        clock=moments.monotonic,
        sleep=moments.sleep,
        now=moments.now,
        hand_over=lambda: handed.append(1),
    )

    assert totals == {"ticks": 5, "busy": 0}
    assert moments.slept == [1.0] * 5 and handed == [1]


@pytest.mark.postgres
def test_a_second_clock_waits_for_the_lock_then_leaves(app):
    """Another connection holds the clock's lock (a clock running elsewhere): this one waits
    LOCK_WAIT_SECONDS on its own clock, looks at nothing and leaves."""
    import psycopg

    from lib.locks import key_sql

    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )
    try:
        other.execute(f"SELECT pg_advisory_lock({key_sql('push-clock', '%s')})", ["1"])
        moments = SteppedClock(timezone.now())
        handed = []

        result = clock.run(
            seconds=5,
            clock=moments.monotonic,
            sleep=moments.sleep,
            now=moments.now,
            hand_over=lambda: handed.append(1),
        )

        assert result == {"skipped": 1} and handed == []
        assert sum(moments.slept) >= clock.LOCK_WAIT_SECONDS
    finally:
        other.close()
    # With the other clock gone, this one runs.
    moments = SteppedClock(timezone.now())
    assert (
        clock.run(
            seconds=1,
            clock=moments.monotonic,
            sleep=moments.sleep,
            now=moments.now,
            hand_over=lambda: None,
        )["ticks"]
        == 1
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lock_outlives_djangos_connection_being_recycled(app):
    """Queueing a task on the ORM broker closes a connection older than CONN_MAX_AGE: the
    clock's lock is held on a connection of its own, so it survives that."""
    from lib.locks import key_sql

    def held() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                f" AND objid = ({key_sql('push-clock', '%s')} & 4294967295)::oid"
                # This database's: a clock running beside the tests in another (a benchmark's
                # cluster) holds the same key there.
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                ["1"],
            )
            return cursor.fetchone()[0] > 0

    assert clock._try_lock()
    try:
        connection.close()  # what close_old_connections does to an old connection
        assert held()
    finally:
        clock._unlock()
    assert not held()
