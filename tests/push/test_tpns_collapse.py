"""TPNS's collapse_id: every all, tag or package push has one (its own id unless it was given
one); a later broadcast reusing it replaces the earlier push when it starts — the earlier one
becomes PUSH_COLLAPSED, leaves the built-in inbox, and the SMS of what it never delivered is
canceled."""

from datetime import timedelta

import pytest
from django.utils import timezone

from push import fallback, fanout
from push.inbox import fetch as inbox
from push.models import Delivery, Push
from tests.push.conftest import add_device
from tests.push.test_tpns_push import body, push_app


@pytest.fixture
def devices(app):
    return [add_device(app, "tok-a"), add_device(app, "tok-b", phone="+8613711110002")]


def broadcast(client, app, **fields) -> Push:
    answer = push_app(client, app, body(audience_type="all", **fields))
    assert answer["ret_code"] == 0, answer
    push = Push.objects.get(pk=answer["push_id"])
    fanout.start(push.pk)
    push.refresh_from_db()
    return push


def test_a_broadcast_has_its_own_id_as_collapse_id_and_a_list_push_none(client, app, devices):
    first = broadcast(client, app)
    assert first.collapse_id == first.pk
    listed = push_app(client, app, body(token_list=["tok-a"]))
    assert Push.objects.get(pk=listed["push_id"]).collapse_id == 0


def test_a_later_push_reusing_the_collapse_id_replaces_the_earlier_one(client, app, devices, clock):
    now = timezone.now()
    clock(now.timestamp())
    first = broadcast(client, app)
    device = devices[0]
    assert [d.push_id for d in inbox(device, 0, now)] == [first.pk]
    clock((now + timedelta(seconds=2)).timestamp())

    second = broadcast(client, app, collapse_id=first.pk)

    first.refresh_from_db()
    assert first.status == "PUSH_COLLAPSED"
    shown = inbox(device, 0, now + timedelta(seconds=2))
    assert [d.push_id for d in shown] == [second.pk]
    assert shown[0].push.collapse_id == first.pk  # the app replaces what it shows by it
    assert set(first.deliveries.values_list("state", flat=True)) == {"revoked"}
    assert second.status == "PUSH_FINISHED"


def test_the_sms_of_what_the_replaced_push_never_delivered_is_canceled(
    client, app, devices, sms, clock
):
    now = timezone.now()
    clock(now.timestamp())
    info = {
        "delay_trigger_time": 300,
        "trigger_condition": 1,
        "sms_app_id": "1400006666",
        "sms_template_id": "449739",
        "sms_template_params": ["报销单 42", "明天"],
    }
    first = broadcast(client, app, resend_by_sms=True, sms_info=info)
    clock((now + timedelta(seconds=2)).timestamp())
    broadcast(client, app, collapse_id=first.pk)

    fallback.sweep(now + timedelta(seconds=301))

    outcomes = set(first.deliveries.values_list("outcome", flat=True))
    assert outcomes == {Delivery.Outcome.CANCELED}


def test_a_scheduled_replacement_replaces_only_when_it_starts(client, app, devices, clock):
    now = timezone.now().replace(microsecond=0)
    clock(now.timestamp())
    first = broadcast(client, app)
    clock((now + timedelta(seconds=2)).timestamp())
    later = (now + timedelta(hours=1)).astimezone(timezone.get_fixed_timezone(480))
    answer = push_app(
        client,
        app,
        body(
            audience_type="all",
            collapse_id=first.pk,
            send_time=later.strftime("%Y-%m-%d %H:%M:%S"),
        ),
    )
    second = Push.objects.get(pk=answer["push_id"])
    first.refresh_from_db()
    assert (first.status, second.status) == ("PUSH_FINISHED", "PUSH_WAIT")

    fanout.start_due(now=second.send_at)
    first.refresh_from_db()
    assert first.status == "PUSH_COLLAPSED"


def test_another_apps_push_is_never_replaced(client, app, devices, personas, clock):
    from tests.push.conftest import outsider_app

    now = timezone.now()
    clock(now.timestamp())
    other = outsider_app(personas)
    add_device(other, "tok-x")
    theirs = broadcast(client, other)
    clock((now + timedelta(seconds=2)).timestamp())
    broadcast(client, app, collapse_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.status == "PUSH_FINISHED"


@pytest.mark.parametrize("force", [False, True])
def test_oppo_and_vivo_get_a_replacing_push_only_with_force_collapse(
    client, app, devices, clock, settings, force
):
    """TPNS: OPPO and vivo cannot replace a notification, so a push with collapse_id is not
    sent to them unless force_collapse is true (the built-in channel still carries it)."""
    from push import channels
    from tests.fakes.oppo import FakeOppo

    with FakeOppo() as oppo:
        settings.PUSH_OPPO_URL = oppo.url
        settings.PUSH_CHANNEL_CA_FILE = oppo.ca_file
        config = oppo.config()
        config.pop("receipt_url")
        channels.store_credentials(app, "oppo", config)
        add_device(app, "tok-o", channel="oppo", channel_token="OPPO_CN_fuzz1")
        now = timezone.now()
        clock(now.timestamp())
        first = broadcast(client, app)
        clock((now + timedelta(seconds=2)).timestamp())

        second = broadcast(client, app, collapse_id=first.pk, force_collapse=force)

    delivery = second.deliveries.get(device__token="tok-o")
    if force:
        assert (delivery.state, delivery.channel) == ("queued", "oppo")
    else:
        assert (delivery.state, delivery.channel_answer) == (
            "failed",
            channels.NO_COLLAPSE_ANSWER,
        )
    on_inbox = second.deliveries.get(device__token="tok-a")
    assert (on_inbox.state, on_inbox.channel) == ("sent", "builtin")


def test_a_broadcast_gives_the_channels_its_collapse_id_to_replace_by(app):
    """APNs's apns-collapse-id and the notification tag of FCM and Huawei carry the push's
    collapse id (its own id for a broadcast given none), so that a later push reusing it
    replaces the notification on the device; FCM's collapse_key (which also drops stored
    messages) only when the push named one."""
    from datetime import UTC, datetime

    from push.channels import apns, fcm, huawei

    now = datetime(2030, 1, 7, tzinfo=UTC)
    push = Push(
        pk=4711,
        application=app,
        audience_type="all",
        message_type="notify",
        title="t",
        content="c",
        message={"title": "t", "content": "c"},
        expire_time=3600,
        created_at=now,
    )
    assert apns.prepare(push, now=now).options["apns-collapse-id"] == "4711"
    android = fcm.prepare(push, now=now).body["android"]
    assert android["notification"]["tag"] == "4711" and "collapse_key" not in android
    assert huawei.prepare(push, now=now).body["android"]["notification"]["tag"] == "4711"
    push.audience_type = "token_list"  # a list push: no collapse id, nothing to replace by
    assert "apns-collapse-id" not in apns.prepare(push, now=now).options
