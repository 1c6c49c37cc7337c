"""The sender stage: queued deliveries handed to APNs (the real aioapns client against the
loopback fake), their answers recorded, dead tokens pruned, retries backed off, lost answers
never re-sent."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from push import channels, fanout, sender
from push.models import Delivery, Device, Push
from tests.fakes.apns import apns_key
from tests.push.conftest import TOPIC, apns_device, apns_token, configure


def push_to(app, tokens, now=None, **fields):
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title="Approval",
        content="Expense report 42 waits for you",
        message={"title": "Approval", "content": "Expense report 42 waits for you"},
        environment="product",
        **fields,
    )
    return fanout.accept(push, now=now)


def states(push) -> dict[str, str]:
    return dict(push.deliveries.values_list("device__token", "state"))


@pytest.mark.django_db
def test_a_queued_delivery_goes_to_apns_once_and_keeps_its_apns_id(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    assert states(push) == {"dev-1": "queued"}

    done = sender.send_batch(now)

    assert done["claimed"] == 1 and done["accepted"] == 1
    [request] = apns.received
    assert request.token == apns_token(1)
    assert request.headers["apns-topic"] == TOPIC
    assert request.payload["aps"]["alert"] == {
        "title": "Approval",
        "body": "Expense report 42 waits for you",
    }
    delivery = push.deliveries.get()
    assert delivery.state == "sent" and delivery.channel == "apns"
    assert delivery.channel_message_id == request.apns_id
    assert delivery.sent_at == now and delivery.answered_at == now
    # Sent is sent: another run finds nothing to do.
    assert sender.send_batch(now + timedelta(minutes=5))["claimed"] == 0
    assert len(apns.received) == 1


@pytest.mark.django_db
def test_without_credentials_a_device_on_apns_is_reached_over_the_built_in_channel(ios_app):
    apns_device(ios_app, 1)
    push = push_to(ios_app, ["dev-1"])
    delivery = push.deliveries.get()
    assert (delivery.state, delivery.channel) == ("sent", "builtin")


@pytest.mark.django_db
def test_channel_rules_can_disable_apns_for_one_push(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    push = push_to(
        ios_app, ["dev-1"], options={"channel_rules": [{"channel": "apns", "disable": True}]}
    )
    assert push.deliveries.get().channel == "builtin"


@pytest.mark.django_db
def test_the_built_in_inbox_does_not_repeat_what_apns_carries(ios_app, apns, client):
    from push.inbox import fetch as inbox

    configure(ios_app, apns)
    device = apns_device(ios_app, 1)
    now = timezone.now()
    push_to(ios_app, ["dev-1"], now=now)
    sender.send_batch(now)
    assert inbox(device, 0, now) == []


@pytest.mark.django_db
def test_a_410_prunes_the_token_and_later_pushes_fail_without_asking_apns(ios_app, apns):
    configure(ios_app, apns)
    device = apns_device(ios_app, 1, channel_token_at=datetime(2026, 1, 1, tzinfo=UTC))
    apns_device(ios_app, 2)
    apns.answer(apns_token(1), 410, "Unregistered", timestamp=1_780_000_000_000)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1", "dev-2"], now=now)

    done = sender.send_batch(now)

    assert (done["accepted"], done["refused"], done["pruned"]) == (1, 1, 1)
    assert states(push) == {"dev-1": "failed", "dev-2": "sent"}
    assert push.deliveries.get(device=device).channel_answer == "Unregistered"
    device.refresh_from_db()
    assert device.channel_token_invalid_at == now
    assert device.channel_token_invalid_reason == "Unregistered"

    later = now + timedelta(minutes=1)
    second = push_to(ios_app, ["dev-1"], now=later)
    delivery = second.deliveries.get()
    assert delivery.state == "failed" and delivery.channel_answer == "pruned: Unregistered"
    assert sender.send_batch(later)["claimed"] == 0
    assert len(apns.received) == 2

    # The app registers its token again: it is pushed to again.
    changed = device.set_channel("apns", apns_token(1), later)
    device.save(update_fields=changed)
    apns.reset()
    third = push_to(ios_app, ["dev-1"], now=later)
    sender.send_batch(later)
    assert states(third) == {"dev-1": "sent"}


@pytest.mark.django_db
def test_a_410_older_than_the_latest_registration_does_not_prune(ios_app, apns):
    configure(ios_app, apns)
    registered = datetime(2026, 6, 1, tzinfo=UTC)
    device = apns_device(ios_app, 1, channel_token_at=registered)
    # Apple last knew the token invalid a day before the app registered it again.
    apns.answer(
        apns_token(1),
        410,
        "Unregistered",
        timestamp=int((registered - timedelta(days=1)).timestamp() * 1000),
    )
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    sender.send_batch(now)
    assert states(push) == {"dev-1": "failed"}
    device.refresh_from_db()
    assert device.channel_token_invalid_at is None


@pytest.mark.django_db
def test_a_bad_device_token_is_pruned_but_a_bad_key_prunes_nothing(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    apns.answer(apns_token(1), 400, "BadDeviceToken")
    now = timezone.now()
    push_to(ios_app, ["dev-1"], now=now)
    sender.send_batch(now)
    assert Device.objects.get(token="dev-1").channel_token_invalid_reason == "BadDeviceToken"

    # Credentials APNs does not know: every delivery refused, no device blamed.
    other_key, other_id = apns_key()
    channels.store_credentials(
        ios_app, "apns", {**apns.credentials, "key": other_key, "key_id": other_id}
    )
    apns_device(ios_app, 2)
    push = push_to(ios_app, ["dev-2"], now=now)
    sender.send_batch(now)
    delivery = push.deliveries.get()
    assert (delivery.state, delivery.channel_answer) == ("failed", "InvalidProviderToken")
    assert Device.objects.get(token="dev-2").channel_token_invalid_at is None


@pytest.mark.django_db
def test_a_429_is_retried_after_its_backoff_and_then_sent_once(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    apns.fail_next(1, 429, "TooManyRequests")
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)

    assert sender.send_batch(now)["retry"] == 1
    delivery = push.deliveries.get()
    assert delivery.state == "queued" and delivery.channel_answer == "retrying: TooManyRequests"
    assert delivery.send_after == now + sender.backoff(1, None)
    # Not before its time.
    assert sender.send_batch(now + timedelta(seconds=1))["claimed"] == 0

    done = sender.send_batch(delivery.send_after)
    assert done["accepted"] == 1
    assert states(push) == {"dev-1": "sent"}
    assert [r.status for r in apns.received] == [429, 200]


@pytest.mark.django_db
def test_a_503_with_retry_after_waits_at_least_that_long(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    apns.fail_next(1, 503, "ServiceUnavailable", retry_after=120)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    sender.send_batch(now)
    assert push.deliveries.get().send_after == now + timedelta(seconds=120)


def test_backoff_doubles_and_is_capped():
    assert [sender.backoff(n, None).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert sender.backoff(30, None) == sender.BACKOFF_MAX
    assert sender.backoff(1, 3600) == timedelta(hours=1)


@pytest.mark.django_db
def test_retries_give_up_after_the_last_attempt(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    apns.fail_next(sender.MAX_ATTEMPTS, 500, "InternalServerError")
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    moment = now
    for _ in range(sender.MAX_ATTEMPTS):
        sender.send_batch(moment)
        moment += sender.BACKOFF_MAX
    delivery = push.deliveries.get()
    assert delivery.state == "failed"
    assert delivery.channel_answer == "gave up: InternalServerError"
    assert delivery.send_attempts == sender.MAX_ATTEMPTS
    assert len(apns.received) == sender.MAX_ATTEMPTS


@pytest.mark.django_db
def test_a_push_that_expired_while_queued_is_not_sent(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now, expire_time=0)
    later = push.expires_at + timedelta(seconds=1)
    sender.send_batch(later)
    assert states(push) == {"dev-1": "expired"}
    assert apns.received == []


@pytest.mark.django_db
def test_a_refusal_brings_the_sms_forward_only_when_asked(ios_app, apns):
    configure(ios_app, apns)
    for i in (1, 2):
        apns_device(ios_app, i)
        apns.answer(
            apns_token(i), 410, "Unregistered", timestamp=int(timezone.now().timestamp() * 1000)
        )
    now = timezone.now()
    sms = {"resend_by_sms": True, "sms_delay": 600, "sms_trigger": 1}
    eager = push_to(ios_app, ["dev-1"], now=now, sms_on_refusal=True, **sms)
    patient = push_to(ios_app, ["dev-2"], now=now, **sms)
    sender.send_batch(now + timedelta(seconds=3))
    assert eager.deliveries.get().sms_due_at == now + timedelta(seconds=3)
    assert patient.deliveries.get().sms_due_at == now + timedelta(seconds=600)


@pytest.mark.django_db
def test_a_pruned_device_in_an_eager_push_is_due_at_once(ios_app, apns):
    configure(ios_app, apns)
    apns_device(
        ios_app,
        1,
        channel_token_invalid_at=timezone.now(),
        channel_token_invalid_reason="Unregistered",
    )
    now = timezone.now()
    push = push_to(
        ios_app,
        ["dev-1"],
        now=now,
        sms_on_refusal=True,
        resend_by_sms=True,
        sms_delay=600,
        sms_trigger=1,
    )
    delivery = push.deliveries.get()
    assert delivery.state == "failed" and delivery.sms_due_at == now


@pytest.mark.django_db
def test_an_arrival_reported_before_the_answer_is_recorded_keeps_the_delivery_arrived(
    ios_app, apns
):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    [delivery_id] = Delivery.objects.claim_for_sending(now, 10, sender.default_lease())
    # The Notification Service Extension was faster than our bookkeeping.
    Delivery.objects.filter(pk=delivery_id).update(state="arrived", arrived_at=now)
    Delivery.objects.record_answers(
        [(delivery_id, "sent", "apns", True, None, "id-1", "", now, False)]
    )
    delivery = push.deliveries.get()
    assert (delivery.state, delivery.channel_message_id) == ("arrived", "id-1")


@pytest.mark.django_db
def test_a_dead_senders_batch_becomes_unknown_after_its_lease_and_is_never_resent(ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)
    now = timezone.now()
    push = push_to(ios_app, ["dev-1"], now=now)
    # A sender claims the batch and dies before writing anything down.
    Delivery.objects.claim_for_sending(now, 10, sender.default_lease())

    assert sender.send_batch(now + timedelta(seconds=1)) == {"claimed": 0, "lost": 0}
    later = now + sender.default_lease() + timedelta(seconds=1)
    assert sender.send_batch(later)["lost"] == 1
    delivery = push.deliveries.get()
    assert delivery.state == "unknown" and delivery.channel_answer.startswith("lost:")
    assert sender.send_batch(later + timedelta(hours=1))["claimed"] == 0
    assert apns.received == []


def body_of_message_bytes(size: int) -> dict:
    """A /v3/push/app body whose message is exactly ``size`` bytes as TPNS measures it."""
    import json

    def body(blob):
        return {
            "audience_type": "all",
            "message_type": "notify",
            "environment": "product",
            "message": {
                "title": "t",
                "content": "c",
                "ios": {"custom_content": json.dumps({"blob": "x" * blob})},
            },
        }

    def measured(blob):
        text = json.dumps(body(blob)["message"], ensure_ascii=False, separators=(",", ":"))
        return len(text.encode())

    blob = size - measured(0)
    assert measured(blob) == size
    return body(blob)


@pytest.mark.django_db
def test_acceptance_refuses_a_message_apns_cannot_carry_naming_the_field(ios_app, apns):
    from push.tpns import TpnsError
    from push.tpns.parse import parse_push

    # Within TPNS's own 4 KB message limit, but APNs's payload (aps, our xg key) is larger.
    body = body_of_message_bytes(4096)
    parse_push(ios_app, body, now=timezone.now())  # no APNs: the built-in inbox carries it
    configure(ios_app, apns)
    with pytest.raises(TpnsError) as refused:
        parse_push(ios_app, body, now=timezone.now())
    assert str(refused.value).startswith("message: ") and "4096" in str(refused.value)


@pytest.mark.django_db
def test_a_refusal_of_an_old_token_does_not_prune_the_token_registered_since(ios_app):
    device = apns_device(ios_app, 1)
    now = timezone.now()
    # The batch went out with token 1; before its answer came back the app registered token 2.
    device.save(update_fields=device.set_channel("apns", apns_token(2), now))
    pruned = Device.objects.prune_tokens([(device.pk, apns_token(1), now, "Unregistered", None)])
    device.refresh_from_db()
    assert pruned == 0 and device.channel_token_invalid_at is None
    assert Device.objects.prune_tokens([(device.pk, apns_token(2), now, "Unregistered", None)]) == 1


@pytest.mark.django_db
def test_a_pruned_token_is_an_invalid_target_of_a_token_push(ios_app, apns):
    from push.tpns import TpnsError
    from push.tpns.parse import parse_push

    configure(ios_app, apns)
    apns_device(ios_app, 1, channel_token_invalid_at=timezone.now())
    apns_device(ios_app, 2)
    body = {
        "audience_type": "token_list",
        "token_list": ["dev-1", "dev-2"],
        "message_type": "notify",
        "environment": "product",
        "message": {"title": "t", "content": "c"},
    }
    with pytest.raises(TpnsError) as refused:
        parse_push(ios_app, body, now=timezone.now())
    assert "refused the device's token" in str(refused.value) and "dev-1" in str(refused.value)

    push = parse_push(ios_app, {**body, "ignore_invalid_token": 1}, now=timezone.now())
    assert push.invalid_targets == ["dev-1"] and push.audience == {"token_list": ["dev-2"]}


@pytest.mark.django_db
def test_a_whole_batch_refused_as_not_for_the_topic_blames_the_credentials_not_the_tokens(
    ios_app, apns
):
    configure(ios_app, apns)
    for i in range(sender.SUSPECT_MINIMUM):
        apns_device(ios_app, i)
        apns.answer(apns_token(i), 400, "DeviceTokenNotForTopic")
    now = timezone.now()
    push = push_to(ios_app, [f"dev-{i}" for i in range(sender.SUSPECT_MINIMUM)], now=now)
    done = sender.send_batch(now)
    assert done["refused"] == sender.SUSPECT_MINIMUM and "pruned" not in done
    assert set(push.deliveries.values_list("channel_answer", flat=True)) == {
        "DeviceTokenNotForTopic"
    }
    assert not Device.objects.filter(channel_token_invalid_at__isnull=False).exists()


@pytest.mark.django_db
def test_a_run_keeps_two_batches_in_flight_and_sends_each_delivery_once(ios_app, apns, settings):
    settings.PUSH_SEND_BATCH_SIZE = 2
    configure(ios_app, apns)
    for i in range(5):
        apns_device(ios_app, i)
    now = timezone.now()
    push = push_to(ios_app, [f"dev-{i}" for i in range(5)], now=now)

    totals = sender.run(now=now)

    assert (totals["claimed"], totals["accepted"], totals["batches"]) == (5, 5, 3)
    assert set(states(push).values()) == {"sent"}
    assert sorted(r.token for r in apns.received) == sorted(apns_token(i) for i in range(5))


@pytest.mark.django_db
def test_a_run_stops_within_its_budget_and_says_there_is_more(ios_app, apns, settings):
    settings.PUSH_SEND_BATCH_SIZE = 2
    configure(ios_app, apns)
    for i in range(3):
        apns_device(ios_app, i)
    now = timezone.now()
    push = push_to(ios_app, [f"dev-{i}" for i in range(3)], now=now)

    assert sender.run(now=now, seconds=0) == {"more": 1}
    assert sender.run(now=now, max_batches=1) == {
        "claimed": 2,
        "lost": 0,
        "accepted": 2,
        "batches": 1,
        "more": 1,
    }
    assert sender.run(now=now)["claimed"] == 1
    assert set(states(push).values()) == {"sent"}
