"""The supplementary SMS engine: triggers, outcomes, gates, exactly-once under concurrency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from push import fallback, fanout
from push.models import Delivery, Push
from sms.models import Package, RateLimitPolicy, SmsMessage, Template
from tests.conftest import authorized_cloud, run_concurrently
from tests.push.conftest import add_device

DELAY = 300


def sms_push(app, tokens, trigger=1, **fields):
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title="Approval",
        content="Expense report 42 waits for you",
        resend_by_sms=True,
        sms_delay=DELAY,
        sms_trigger=trigger,
        sms_app_id="1400006666",
        sms_template_id="449739",
        sms_params=["报销单 42", "明天"],
        **fields,
    )
    return fanout.accept(push)


def record(device, events):
    """What the SDK's event report does to a delivery (tested in tests/push/test_events.py)."""
    for event in events:
        column = {"arrive": "arrived_at", "click": "clicked_at"}[event["type"]]
        Delivery.objects.filter(push_id=event["push_id"], device=device).update(
            **{column: timezone.now()}
        )


def due(push):
    return push.deliveries.first().sms_due_at + timedelta(seconds=1)


def outcomes(push):
    return {
        d.device.token: (d.outcome, d.outcome_detail) if d.outcome_detail else d.outcome
        for d in push.deliveries.select_related("device")
    }


@pytest.fixture
def phones(app, sms):
    return {
        "a": add_device(app, "tok-a", phone="+8613711110001"),
        "b": add_device(app, "tok-b", phone="+8613711110002", enabled=False),
        "c": add_device(app, "tok-c"),  # no phone
    }


def test_nothing_is_decided_before_the_due_time(app, phones):
    push = sms_push(app, ["tok-a"])

    assert fallback.sweep(push.deliveries.get().sms_due_at - timedelta(seconds=1)) == {"batches": 0}
    assert push.deliveries.get().fallback == "waiting"


@pytest.mark.parametrize(
    "trigger, event, expected",
    [
        (1, None, {"tok-a": "sent", "tok-b": "sent", "tok-c": "no_phone"}),
        (1, "arrive", {"tok-a": "not_needed", "tok-b": "sent", "tok-c": "no_phone"}),
        (2, "arrive", {"tok-a": "sent", "tok-b": "sent", "tok-c": "no_phone"}),
        (2, "click", {"tok-a": "not_needed", "tok-b": "sent", "tok-c": "no_phone"}),
        # tok-a and tok-c have notifications on; tok-b has them off
        (0, None, {"tok-a": "not_needed", "tok-b": "sent", "tok-c": "not_needed"}),
    ],
)
def test_each_trigger_condition_decides_the_delivery(app, phones, trigger, event, expected):
    push = sms_push(app, ["tok-a", "tok-b", "tok-c"], trigger=trigger)
    if event:
        record(phones["a"], [{"push_id": push.pk, "type": event}])

    fallback.sweep(due(push))

    assert outcomes(push) == expected


def test_an_event_after_the_due_time_but_before_sending_cancels_the_sms(app, phones):
    push = sms_push(app, ["tok-a"])
    now = due(push)
    batch = fallback.claim(now)
    record(phones["a"], [{"push_id": push.pk, "type": "arrive"}])  # between claim and send

    fallback.process(batch, now)

    assert outcomes(push) == {"tok-a": "not_needed"}
    assert not SmsMessage.objects.exists()


def test_an_event_after_the_decision_changes_nothing(app, phones):
    push = sms_push(app, ["tok-a"])
    fallback.sweep(due(push))
    record(phones["a"], [{"push_id": push.pk, "type": "arrive"}])

    fallback.sweep(due(push) + timedelta(minutes=5))

    assert outcomes(push) == {"tok-a": "sent"}
    assert SmsMessage.objects.count() == 1


def test_the_sms_is_recorded_with_its_delivery_and_push(app, phones):
    push = sms_push(app, ["tok-a"])

    fallback.sweep(due(push))

    message = SmsMessage.objects.get()
    delivery = push.deliveries.get()
    assert (message.source_type, message.source_id) == ("push_delivery", delivery.pk)
    assert message.session_context == f"push:{push.pk}"
    assert message.phone_number == "+8613711110001"
    assert message.content == "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。"
    assert delivery.decided_at is not None and delivery.fallback == "decided"


@pytest.mark.parametrize(
    "batching",
    [
        pytest.param({}, id="two_devices_in_one_batch"),
        pytest.param({"batch_size": 1}, id="the_same_number_in_two_batches"),
    ],
)
def test_two_devices_with_one_number_of_one_push_get_one_sms(app, sms, batching):
    add_device(app, "tok-x", phone="+8613711119999")
    add_device(app, "tok-y", phone="+8613711119999")
    push = sms_push(app, ["tok-x", "tok-y"])

    fallback.sweep(due(push), **batching)

    assert sorted(outcomes(push).values()) == ["duplicate_number", "sent"]
    assert SmsMessage.objects.count() == 1


def test_rate_limits_and_package_block_with_the_rule_named(app, sms):
    RateLimitPolicy.objects.create(account=sms.account, daily_limit=1, same_content_seconds=0)
    add_device(app, "tok-x", phone="+8613711119999")
    add_device(app, "tok-y", phone="+8613711118888")
    first = sms_push(app, ["tok-x"])
    fallback.sweep(due(first))
    Package.objects.filter(pk=sms.package.pk).update(quantity=1, used=1)

    second = sms_push(app, ["tok-x", "tok-y"])
    fallback.sweep(due(second))

    assert outcomes(second) == {
        "tok-x": ("blocked", "daily_limit"),
        "tok-y": ("blocked", "insufficient_package"),
    }


def test_the_budget_cap_limits_the_sms_of_a_push(app, sms):
    tokens = [f"tok-{i}" for i in range(5)]
    for i, token in enumerate(tokens):
        add_device(app, token, phone=f"+861371111000{i}")
    push = sms_push(app, tokens, sms_max=3)

    fallback.sweep(due(push), batch_size=2)

    values = sorted(str(v) for v in outcomes(push).values())
    assert values == ["('blocked', 'budget_exhausted')"] * 2 + ["sent"] * 3


def test_a_template_revoked_before_the_due_time_blocks_the_sms(app, phones):
    push = sms_push(app, ["tok-a"])
    Template.objects.filter(code="449739").update(status="rejected")

    fallback.sweep(due(push))

    assert outcomes(push) == {"tok-a": ("blocked", "template_not_approved")}
    assert not SmsMessage.objects.exists()


def test_450_due_numbers_go_out_in_three_provider_requests(app, sms, settings, personas):
    Package.objects.filter(pk=sms.package.pk).update(quantity=1000)
    tokens = [f"tok-{i:03d}" for i in range(450)]
    for i, token in enumerate(tokens):
        add_device(app, token, phone=f"+86137{i:08d}")
    push = sms_push(app, tokens)
    with authorized_cloud(sms.account, settings, {"AKIDengine": "engine-key"}) as cloud:
        counts = fallback.sweep(due(push))

    calls = cloud.calls("SendSms")
    assert sorted(len(c.params["PhoneNumberSet"]) for c in calls) == [50, 200, 200]
    assert {c.params["SessionContext"] for c in calls} == {f"push:{push.pk}"}
    assert counts["sent"] == 450
    assert SmsMessage.objects.filter(state="sent", transport="tencent").count() == 450


def test_mainland_and_global_numbers_are_never_mixed(app, sms):
    add_device(app, "tok-cn", phone="+8613711110001")
    add_device(app, "tok-us", phone="+12025550123")
    push = sms_push(app, ["tok-cn", "tok-us"])

    fallback.sweep(due(push))

    assert outcomes(push) == {"tok-cn": "sent", "tok-us": ("blocked", "wrong_region")}


def test_a_killed_worker_leaves_nothing_lost_and_nothing_sent_twice(app, phones):
    push = sms_push(app, ["tok-a", "tok-c"])
    now = due(push)
    fallback.claim(now)  # this worker dies here, holding the lease

    assert fallback.sweep(now + timedelta(minutes=1)) == {"batches": 0}  # lease still held
    counts = fallback.sweep(now + fallback.default_lease() + timedelta(seconds=1))

    assert counts["sent"] == 1 and counts["no_phone"] == 1
    assert SmsMessage.objects.count() == 1


def test_a_worker_killed_after_writing_the_sms_row_never_sends_it_again(app, phones):
    push = sms_push(app, ["tok-a"])
    now = due(push)
    fallback.sweep(now)
    delivery = push.deliveries.get()
    # Simulate death after the SMS row was written but before the outcome: the row is left
    # "sending" and the delivery "claimed" with an expired lease.
    SmsMessage.objects.update(state="sending")
    Delivery.objects.filter(pk=delivery.pk).update(
        fallback="claimed", outcome="", claimed_until=now
    )

    fallback.sweep(now + timedelta(minutes=1))

    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.fallback) == ("unknown", "decided")
    assert SmsMessage.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_never_send_two_sms_for_one_delivery(app, sms):
    Package.objects.filter(pk=sms.package.pk).update(quantity=10000)
    tokens = [f"tok-{i:03d}" for i in range(300)]
    for i, token in enumerate(tokens):
        # every 3 devices share a number: one SMS per number per push
        add_device(app, token, phone=f"+86137{i // 3:08d}")
    push = sms_push(app, tokens)
    now = due(push)

    run_concurrently(4, lambda i: fallback.sweep(now, batch_size=37))

    assert push.deliveries.filter(fallback="decided").count() == 300
    assert SmsMessage.objects.filter(state="sent").count() == 100
    assert len(set(SmsMessage.objects.values_list("phone_number", flat=True))) == 100
    assert push.deliveries.filter(outcome="duplicate_number").count() == 200


def test_a_retryable_refusal_is_retried_with_backoff_then_decided_failed(app, phones, settings):
    from tests.fakes.tencentcloud import TencentCloudError

    def throttled(params, request):
        raise TencentCloudError("RequestLimitExceeded", "too fast")

    push = sms_push(app, ["tok-a", "tok-b"], trigger=1)
    with authorized_cloud(app.account, settings, {"AKIDretry": "retry-key"}) as cloud:
        cloud.on("SendSms", throttled)
        now = due(push)

        assert fallback.sweep(now) == {"retry": 2, "batches": 1}
        deliveries = list(push.deliveries.all())
        assert {(d.fallback, d.sms_attempts) for d in deliveries} == {("waiting", 1)}
        assert {d.sms_due_at for d in deliveries} == {now + fallback.RETRY_BACKOFF}
        assert SmsMessage.objects.filter(state="failed", charged=0).count() == 2  # not charged

        for attempt in range(2, fallback.MAX_ATTEMPTS):
            now += fallback.RETRY_BACKOFF * 2 ** (attempt - 1)
            assert fallback.sweep(now)["retry"] == 2
        now += fallback.RETRY_BACKOFF * 2 ** (fallback.MAX_ATTEMPTS - 1)
        fallback.sweep(now)

    assert outcomes(push) == {
        "tok-a": ("failed", "RequestLimitExceeded"),
        "tok-b": ("failed", "RequestLimitExceeded"),
    }
    assert len(cloud.calls("SendSms")) == fallback.MAX_ATTEMPTS


def test_a_backlog_is_shared_with_helper_tasks_queued_by_the_minute_sweep(
    app, sms, settings, monkeypatch
):
    from django_q.models import OrmQ

    from push import tasks

    settings.FALLBACK_BATCH_SIZE = 10  # read at call time: the sweep, its claim and the count
    settings.FALLBACK_WORKERS = 3
    tokens = [f"tok-{i:03d}" for i in range(25)]  # three batches of 10
    for i, token in enumerate(tokens):
        add_device(app, token, phone=f"+86137{i:08d}")
    push = sms_push(app, tokens)
    push.deliveries.update(sms_due_at=timezone.now() - timedelta(seconds=1))
    OrmQ.objects.all().delete()

    result = tasks.fallback_sweep()

    assert result["helpers"] == 2
    queued = [q.func() for q in OrmQ.objects.all()]
    assert queued == ["push.tasks.fallback_sweep_helper"] * 2
    # The sweep itself never waits for its helpers: everything due is decided already.
    assert push.deliveries.filter(fallback="decided").count() == 25
    assert tasks.fallback_sweep()["helpers"] == 0
    assert tasks.fallback_sweep_helper() == {"batches": 0}


def test_one_due_batch_needs_no_helper(app, phones, settings):
    from push import tasks

    settings.FALLBACK_WORKERS = 4
    push = sms_push(app, ["tok-a", "tok-b", "tok-c"])
    push.deliveries.update(sms_due_at=timezone.now() - timedelta(seconds=1))
    assert tasks.fallback_sweep()["helpers"] == 0


@pytest.mark.parametrize("trigger", [0, 1])
def test_a_batch_is_decided_in_a_fixed_number_of_queries(app, sms, trigger):
    """Set-based: the statements a batch takes do not grow with its size (a query per delivery
    would be a loop over the batch), and the push's template and signature are read once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Package.objects.filter(pk=sms.package.pk).update(quantity=10000)
    counted = []
    for size in (10, 40):
        tokens = [f"tok-{size}-{i:03d}" for i in range(size)]
        for i, token in enumerate(tokens):
            # one in five has no phone, one in five shares its number with the one before
            phone = None if i % 5 == 4 else f"+86137{size:03d}{(i - (i % 5 == 3)):05d}"
            add_device(app, token, phone=phone, enabled=False)
        push = sms_push(app, tokens, trigger=trigger)
        now = due(push)
        batch = fallback.claim(now)
        with CaptureQueriesContext(connection) as queries:
            counts = fallback.process(batch, now)
        assert counts["sent"] == size * 3 // 5
        counted.append(len(queries))
    assert counted[0] == counted[1]
    if connection.vendor != "postgresql":  # SQLite writes the SMS rows through the ORM
        return
    # claim → push, (permission), earlier SMS, phones → SMS application, template, signature
    # (once per push) → the locked part (locks, last checks, limits, package, rows) → decisions
    # → the pushes' stored figures marked changed (``PushStats.objects.mark_changed``).
    assert counted[0] <= (21 if trigger == 0 else 20)
