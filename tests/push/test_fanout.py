"""Audience resolution and set-based fan-out."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from push import events, fanout
from push.audience import AudienceError
from push.models import Delivery, DeviceAccount, Push
from tests.push.conftest import add_device, outsider_app


def make_push(app, audience_type, audience=None, **fields):
    push = Push(
        application=app,
        audience_type=audience_type,
        audience=audience or {},
        message_type="notify",
        title="t",
        content="c",
        **fields,
    )
    return fanout.accept(push)


def targets(push):
    return set(push.deliveries.values_list("device__token", flat=True))


@pytest.fixture
def devices(app):
    return {
        "a": add_device(app, "tok-a", tags=["vip", "beijing"], app_version="2.0"),
        "b": add_device(app, "tok-b", tags=["vip"], app_version="1.0"),
        "c": add_device(app, "tok-c", tags=["beijing"], enabled=False, app_version="2.0"),
        "d": add_device(app, "tok-d"),
    }


def test_a_token_list_push_fans_out_at_once_and_is_sent_by_the_builtin_channel(app, devices):
    push = make_push(app, "token_list", {"token_list": ["tok-a", "tok-c"]})

    assert push.status == "PUSH_FINISHED" and push.targets == 2
    assert targets(push) == {"tok-a", "tok-c"}
    c = push.deliveries.get(device=devices["c"])
    assert (c.state, c.notifications_enabled, c.fallback) == ("sent", False, "none")


def test_an_all_push_is_started_by_a_worker_exactly_once(
    app, devices, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        push = make_push(app, "all")
    assert push.status == "PUSH_INIT"
    assert len(callbacks) == 1
    queued = list(OrmQ.objects.all())
    assert [q.func() for q in queued] == ["push.tasks.start_push"]
    assert queued[0].args() == (push.pk,)

    assert fanout.start(push.pk) is True
    assert fanout.start(push.pk) is False

    push.refresh_from_db()
    assert push.status == "PUSH_FINISHED" and push.targets == 4
    assert Delivery.objects.filter(push=push).count() == 4


@pytest.mark.parametrize(
    "rules, expected",
    [
        ([{"tag_items": [{"tags": ["vip", "beijing"], "tags_operator": "AND"}]}], {"tok-a"}),
        (
            [{"tag_items": [{"tags": ["vip", "beijing"], "tags_operator": "OR"}]}],
            {"tok-a", "tok-b", "tok-c"},
        ),
        ([{"tag_items": [{"tags": ["vip"], "is_not": True}]}], {"tok-c", "tok-d"}),
        (
            [
                {"tag_items": [{"tags": ["vip"]}]},
                {"operator": "AND", "is_not": True, "tag_items": [{"tags": ["beijing"]}]},
            ],
            {"tok-b"},
        ),
        (
            # d OR (vip AND beijing): AND binds tighter than OR
            [
                {"tag_items": [{"tags": ["2.0"], "tag_type": "xg_auto_version"}]},
                {"operator": "AND", "tag_items": [{"tags": ["vip"]}]},
                {"operator": "OR", "tag_items": [{"tags": ["1.0"], "tag_type": "xg_auto_version"}]},
            ],
            {"tok-a", "tok-b"},
        ),
    ],
)
def test_tag_rules_combine_with_and_or_not(app, devices, rules, expected):
    push = make_push(app, "tag", {"tag_rules": rules})
    fanout.start(push.pk)

    assert targets(push) == expected


def test_an_unknown_tag_type_names_the_field(app, devices):
    push = Push(
        application=app,
        audience_type="tag",
        audience={"tag_rules": [{"tag_items": [{"tags": ["x"], "tag_type": "xg_auto_province"}]}]},
    )

    with pytest.raises(AudienceError) as error:
        fanout.fan_out(push, timezone.now())

    assert error.value.field == "tag_rules[0].tag_items[0].tag_type"


def test_an_account_push_goes_to_the_latest_bound_device_unless_asked_for_all(app, devices):
    now = timezone.now()
    for key, minutes in (("a", 2), ("b", 1)):
        DeviceAccount.objects.create(
            device=devices[key],
            application=app,
            account="alice",
            created_at=now - timedelta(minutes=minutes),
        )

    latest = make_push(app, "account", {"account_list": ["alice"]})
    every = make_push(app, "account_list", {"account_list": ["alice"]}, account_push_type=1)

    assert targets(latest) == {"tok-b"}
    assert targets(every) == {"tok-a", "tok-b"}


def test_a_push_never_reaches_another_applications_devices(app, devices, personas):
    other = outsider_app(personas, name="x")
    add_device(other, "tok-a")  # the same token in another app

    push = make_push(app, "all")
    fanout.start(push.pk)

    assert set(push.deliveries.values_list("device__application", flat=True)) == {app.pk}


def test_supplementary_sms_deliveries_fall_due_after_the_delay(app, devices):
    push = make_push(
        app,
        "token_list",
        {"token_list": ["tok-a"]},
        resend_by_sms=True,
        sms_delay=300,
        sms_trigger=1,
    )

    delivery = push.deliveries.get()
    assert delivery.fallback == "waiting"
    assert delivery.sms_due_at == delivery.sent_at + timedelta(seconds=300)


def test_a_scheduled_push_starts_when_due_and_deliveries_expire(app, devices):
    now = timezone.now()
    push = make_push(app, "all", send_at=now + timedelta(minutes=10), expire_time=3600)
    assert push.status == "PUSH_WAIT"

    assert fanout.start_due(now + timedelta(minutes=5)) == 0
    assert fanout.start_due(now + timedelta(minutes=10)) == 1
    arrived = push.deliveries.get(device=devices["a"])
    events.record(
        devices["a"], [{"push_id": push.push_id, "type": "arrive"}], now + timedelta(minutes=15)
    )
    assert fanout.expire(now + timedelta(minutes=69)) == 0
    assert fanout.expire(now + timedelta(minutes=71)) == 3
    assert dict(push.deliveries.values_list("device_id", "state")) == {
        devices["a"].pk: "arrived",
        devices["b"].pk: "expired",
        devices["c"].pk: "expired",
        devices["d"].pk: "expired",
    }
    arrived.refresh_from_db()
    assert arrived.state == "arrived"


def test_a_push_is_swept_for_expiry_once_and_a_later_one_still_is(app, devices):
    now = timezone.now()
    first = make_push(app, "token_list", {"token_list": ["tok-a", "tok-b"]}, expire_time=600)
    later = make_push(app, "token_list", {"token_list": ["tok-c"]}, expire_time=3600)

    assert fanout.expire(now + timedelta(minutes=11)) == 2
    first.refresh_from_db()
    assert first.deliveries_expired_at == now + timedelta(minutes=11)
    # Done with: its deliveries are not looked at again (here reset by hand to prove it).
    first.deliveries.update(state="sent")
    assert fanout.expire(now + timedelta(minutes=30)) == 0
    assert set(first.deliveries.values_list("state", flat=True)) == {"sent"}

    assert fanout.expire(now + timedelta(minutes=61)) == 1
    assert later.deliveries.get().state == "expired"
    assert set(first.deliveries.values_list("state", flat=True)) == {"sent"}


def test_the_expiry_sweep_waits_for_a_push_that_has_not_fanned_out(app, devices):
    now = timezone.now()
    push = make_push(app, "all", expire_time=0)  # its start task has not run

    assert fanout.expire(now + timedelta(minutes=2)) == 0
    push.refresh_from_db()
    assert push.deliveries_expired_at is None

    fanout.start(push.pk, now=now)
    assert fanout.expire(now + timedelta(minutes=2)) == 4


def test_the_sweep_starts_a_push_whose_task_was_lost(app, devices):
    make_push(app, "all")

    assert fanout.start_due(timezone.now()) == 0
    assert fanout.start_due(timezone.now() + timedelta(minutes=2)) == 1


def test_an_empty_audience_fans_out_to_nobody(app, devices):
    push = make_push(app, "token_list", {"token_list": []})

    assert push.status == "PUSH_FINISHED" and push.targets == 0


@pytest.mark.parametrize("chunk", [1, 2, 3, 100])
def test_a_broadcast_is_written_in_chunks_in_device_order(app, devices, chunk):
    push = make_push(app, "all")

    assert fanout.start(push.pk, chunk=chunk) is True

    push.refresh_from_db()
    assert (push.status, push.targets) == ("PUSH_FINISHED", 4)
    assert push.fanned_out_to == max(d.pk for d in devices.values())
    in_id_order = list(push.deliveries.order_by("pk").values_list("device_id", flat=True))
    assert in_id_order == sorted(d.pk for d in devices.values())


def test_a_fan_out_cut_off_midway_is_carried_on_by_the_sweep_once(app, devices, monkeypatch):
    push = make_push(app, "all")
    now = timezone.now()
    chunks = []
    real = fanout.fan_out

    def dies_in_the_second_chunk(*args, **kwargs):
        chunks.append(kwargs["after"])
        if len(chunks) == 2:
            raise RuntimeError("the worker was killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(fanout, "fan_out", dies_in_the_second_chunk)
    with pytest.raises(RuntimeError):
        fanout.start(push.pk, now=now, chunk=2)
    monkeypatch.undo()

    push.refresh_from_db()
    assert (push.status, push.targets, push.deliveries.count()) == ("PUSH_STARTED", 2, 2)
    assert fanout.expire(now + timedelta(days=2)) == 0  # expiry waits for the rest
    assert fanout.start_due(now + timedelta(seconds=30)) == 0  # its worker may still be at it
    assert fanout.start_due(now + timedelta(minutes=2)) == 1

    push.refresh_from_db()
    assert (push.status, push.targets, push.deliveries.count()) == ("PUSH_FINISHED", 4, 4)
    assert targets(push) == {"tok-a", "tok-b", "tok-c", "tok-d"}
    assert push.started_at == now


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_apps_deliveries_become_visible_in_id_order(app):
    """The inbox pages by delivery id: a push that draws its ids later must not commit before
    one still being written, or a device that saw it would skip the other for good."""
    from push.inbox import fetch as inbox
    from tests.push.conftest import while_an_inbox_lock_is_held

    device = add_device(app, "tok-a")
    first, second = make_push(app, "all"), make_push(app, "all")

    waiting, seen_meanwhile = while_an_inbox_lock_is_held(
        lambda: fanout.start(first.pk),  # still open after its deliveries are written
        lambda: fanout.start(second.pk),
        lambda: [d.push_id for d in inbox(device, 0, timezone.now())],
    )

    assert waiting and seen_meanwhile == []
    pages = [d.push_id for d in inbox(device, 0, timezone.now())]
    assert pages == [first.pk, second.pk]


@pytest.mark.postgres
def test_a_token_list_is_one_array_parameter_whatever_its_length(app):
    """psycopg splits a statement's text for each of its placeholders on every call: a
    thousand-token list as a thousand placeholders cost the push API about 9 ms a request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    listed = [f"tok-{i}" for i in range(30)]
    for token in listed[:20]:
        add_device(app, token)

    with CaptureQueriesContext(connection) as captured:
        push = make_push(app, "token_list", {"token_list": listed})

    assert push.targets == 20
    matching = [q["sql"] for q in captured.captured_queries if '"push_device"."token"' in q["sql"]]
    assert matching and all("= ANY(" in sql and " IN (" not in sql for sql in matching)
