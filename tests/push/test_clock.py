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


def scheduled(app, at, **fields) -> Push:
    now = at - timedelta(seconds=30)
    fields.setdefault("audience_type", "all")
    push = Push(application=app, message_type="notify", title="t", content="c", **fields)
    push.send_at = at
    return fanout.accept(push, now=now)


def queued_tasks() -> list:
    from django_q.models import OrmQ

    return [(q.func(), q.args()) for q in OrmQ.objects.all()]


@pytest.mark.django_db(transaction=True)  # a start task is queued on commit
def test_a_scheduled_broadcast_starts_at_the_first_look_and_a_task_writes_the_rest(app, settings):
    settings.FANOUT_CHUNK = 2
    for i in range(3):
        add_device(app, f"tok-{i}")
    at = timezone.now() + timedelta(seconds=30)
    push = scheduled(app, at)
    assert push.status == "PUSH_WAIT"
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()

    assert clock.tick(at - timedelta(seconds=1)) == {}
    assert clock.tick(at + timedelta(seconds=1)) == {"started": 1}
    push.refresh_from_db()
    # Started within the look (its first chunk, by the clock), not when a worker is free.
    assert push.status == "PUSH_STARTED"
    assert push.started_at == at + timedelta(seconds=1)
    assert push.deliveries.count() == 2
    assert queued_tasks() == [("push.tasks.start_push", (push.pk,))]  # the rest
    assert clock.tick(at + timedelta(seconds=2)) == {}  # released once
    fanout.start(push.pk)
    assert push.deliveries.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_list_push_is_written_whole_by_the_clock(app):
    for token in ("tok-a", "tok-b"):
        add_device(app, token)
    at = timezone.now() + timedelta(seconds=30)
    push = scheduled(
        app, at, audience_type="token_list", audience={"token_list": ["tok-a", "tok-b"]}
    )
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()

    assert clock.tick(at) == {"started": 1}
    push.refresh_from_db()
    assert push.status == "PUSH_FINISHED"
    assert push.deliveries.count() == 2
    assert queued_tasks() == []


@pytest.mark.django_db(transaction=True)
def test_pushes_beyond_the_clocks_start_time_get_a_start_task_each(app):
    add_device(app, "tok-a")
    at = timezone.now() + timedelta(seconds=30)
    first, second, third = (scheduled(app, at + timedelta(milliseconds=i)) for i in range(3))
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    moments = iter([0.0, 0.0, 0.5, 1.5])  # the second start ends past the clock's second

    ids = fanout.release_due(
        at + timedelta(seconds=1), inline_seconds=1.0, clock=lambda: next(moments)
    )

    assert ids == [first.pk, second.pk, third.pk]
    states = dict(Push.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert states == {
        first.pk: "PUSH_FINISHED",
        second.pk: "PUSH_FINISHED",
        third.pk: "PUSH_INIT",
    }
    assert queued_tasks() == [("push.tasks.start_push", (third.pk,))]


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


def _due_backlog(app, count: int):
    tokens = [f"tok-{i:03d}" for i in range(count)]
    for i, token in enumerate(tokens):
        add_device(app, token, phone=f"+86137{i:08d}")
    push = sms_push(app, tokens)
    now = timezone.now()
    push.deliveries.update(sms_due_at=now - timedelta(seconds=1))
    return push, now


def _queued_helpers() -> int:
    from django_q.models import OrmQ

    return sum(q.func() == "push.tasks.fallback_sweep_helper" for q in OrmQ.objects.all())


def _other_connection():
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        dbname=db["NAME"],
        autocommit=True,
    )


def _hold_helper_slot(other, slot: int) -> None:
    other.execute("SELECT pg_advisory_lock(hashtextextended('fallback-helper:' || %s, 0))", [slot])


@pytest.mark.postgres
def test_a_clock_tops_its_helpers_up_instead_of_queueing_one_a_look(
    app, sms, settings, monkeypatch
):
    """A backlog seen at every look: helpers are queued up to FALLBACK_WORKERS - 1, counting
    those queued a moment ago (not fetched yet) and those sweeping (holding a helper slot), so
    no queue of helpers piles up ahead of the clock's own hand-over."""
    from django_q.models import OrmQ

    from push import fallback

    settings.FALLBACK_BATCH_SIZE = 10
    settings.FALLBACK_WORKERS = 3  # two helpers
    monkeypatch.setattr(clock, "SMS_BATCHES", 1)  # the clock itself decides one batch a look
    _, now = _due_backlog(app, 80)
    OrmQ.objects.all().delete()
    helpers: list = []

    assert clock.tick(now, helpers=helpers)["sms"]["helpers"] == 2
    assert clock.tick(now + timedelta(seconds=1), helpers=helpers)["sms"]["helpers"] == 0
    assert _queued_helpers() == 2
    # Not fetched within HELPER_PICKUP_SECONDS (lost, say): topped up again.
    later = now + timedelta(seconds=fallback.HELPER_PICKUP_SECONDS + 1)
    assert clock.tick(later, helpers=helpers)["sms"]["helpers"] == 2
    # One helper sweeping (it holds a slot): one more is wanted, and then none.
    other = _other_connection()
    try:
        _hold_helper_slot(other, 1)
        later += timedelta(seconds=fallback.HELPER_PICKUP_SECONDS + 1)
        assert clock.tick(later, helpers=helpers)["sms"]["helpers"] == 1
        assert clock.tick(later + timedelta(seconds=1), helpers=helpers)["sms"]["helpers"] == 0
    finally:
        other.close()
    assert _queued_helpers() == 5


def test_a_clock_queues_no_helper_for_one_batch(app, sms, settings):
    from django_q.models import OrmQ

    settings.FALLBACK_BATCH_SIZE = 10
    settings.FALLBACK_WORKERS = 3
    _, now = _due_backlog(app, 10)
    OrmQ.objects.all().delete()
    assert clock.tick(now, helpers=[])["sms"]["helpers"] == 0
    assert _queued_helpers() == 0


@pytest.mark.postgres
def test_a_helper_without_a_free_slot_leaves_at_once(app, sms, settings):
    """At most FALLBACK_WORKERS - 1 helpers sweep: one queued beyond that finds every helper
    slot held and leaves without claiming."""
    from push import fallback

    settings.FALLBACK_BATCH_SIZE = 10
    settings.FALLBACK_WORKERS = 2  # one helper slot
    push, _ = _due_backlog(app, 15)
    other = _other_connection()
    try:
        _hold_helper_slot(other, 1)
        assert fallback.sweep_as_helper() == {"batches": 0, "no_slot": 1}
        assert push.deliveries.filter(fallback="decided").count() == 0
        other.execute("SELECT pg_advisory_unlock_all()")
    finally:
        other.close()
    slept = []
    assert fallback.sweep_as_helper(sleep=slept.append)["batches"] == 2
    assert push.deliveries.filter(fallback="decided").count() == 15
    # 10, then the 5 left (all that was due: it pauses before looking again), then none.
    assert slept == [fallback.HELPER_POLL_SECONDS]
    # It let go of its slot as it left: the next helper gets it.
    assert fallback._helpers_sweeping() == 0


def test_a_sweep_with_a_time_budget_takes_no_new_batch_once_it_is_spent(app, sms, settings):
    """The clock's own sweep and a helper's stop claiming once their seconds are spent (a
    batch claimed is always decided): on a clock the test moves, one batch "takes" 0.6 s."""
    from push import fallback

    settings.FALLBACK_BATCH_SIZE = 10
    push, now = _due_backlog(app, 50)
    moments = SteppedClock()

    def slow_clock():
        moments.t += 0.3  # read at the start and after every batch
        return moments.t

    result = fallback.sweep(now, seconds=1.0, clock=slow_clock)

    # start 100.3 (until 101.3); after batch 1: 100.6, 2: 100.9, 3: 101.2, 4: 101.5 → stop
    assert result["batches"] == 4 and result["sent"] == 40
    assert push.deliveries.filter(fallback="decided").count() == 40
    assert fallback.sweep(now, seconds=0.0, clock=slow_clock)["batches"] == 1  # at least one


@pytest.mark.postgres
def test_a_spike_about_to_fall_due_gets_its_helpers_first_and_none_is_decided_early(
    app, sms, settings, monkeypatch
):
    """A look SMS_LEAD before a spike queues its helpers (they take about that long to start),
    decides nothing before its time; a helper that starts early waits for it, then sweeps."""
    from django_q.models import OrmQ

    from push import fallback

    settings.FALLBACK_BATCH_SIZE = 10
    settings.FALLBACK_WORKERS = 2
    push, now = _due_backlog(app, 30)
    spike = now + timedelta(seconds=1)
    push.deliveries.update(sms_due_at=spike)
    OrmQ.objects.all().delete()

    assert clock.tick(now, helpers=[]) == {"sms": {"batches": 0, "helpers": 1}}
    assert _queued_helpers() == 1
    assert push.deliveries.filter(fallback="decided").count() == 0

    moments = SteppedClock(now)
    claimed_at = []
    real_sweep = fallback.sweep

    def sweep(moment, **kwargs):
        result = real_sweep(moment, **kwargs)
        if result["batches"]:
            claimed_at.append(moment)
        return result

    monkeypatch.setattr(fallback, "sweep", sweep)
    result = fallback.sweep_as_helper(clock=moments.monotonic, sleep=moments.sleep, now=moments.now)
    assert result["batches"] == 3 and result["sent"] == 30
    assert min(claimed_at) >= spike  # looked every HELPER_POLL_SECONDS until it fell due
    assert set(moments.slept) == {fallback.HELPER_POLL_SECONDS}
    assert 0.9 <= sum(moments.slept) <= 1.1


def test_a_helper_leaves_at_once_when_nothing_falls_due_soon(app, sms, settings):
    from push import fallback

    push, now = _due_backlog(app, 3)
    push.deliveries.update(sms_due_at=now + timedelta(minutes=1))
    moments = SteppedClock(now)
    assert fallback.sweep_as_helper(
        clock=moments.monotonic, sleep=moments.sleep, now=moments.now
    ) == {"batches": 0}
    assert moments.slept == []


def test_a_clock_lets_go_of_its_lock_before_it_hands_over(app):
    """So its successor finds the lock free (it never waits out its predecessor)."""
    moments = SteppedClock(timezone.now())
    held_at_hand_over = []
    clock.run(
        seconds=1,
        clock=moments.monotonic,
        sleep=moments.sleep,
        now=moments.now,
        hand_over=lambda: held_at_hand_over.append(list(clock._held)),
    )
    assert held_at_hand_over == [[]]
