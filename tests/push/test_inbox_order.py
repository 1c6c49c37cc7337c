"""The built-in inbox never skips a notification: one that enters it after it was written (a
vendor's spent quota, Huawei's receipt 256) gets a new place, past every cursor that could
already be beyond its id, drawn under the app's inbox lock (``push.inbox``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from push import inbox, receipts, sender
from push.channels.base import ReceiptKind
from push.inbox import place
from push.models import Delivery
from tests.push.conftest import while_an_inbox_lock_is_held
from tests.push.test_fallback import sms_push
from tests.push.test_sdk_api import Sdk
from tests.push.test_vendor_receipts import delivery, huawei, line, on_huawei  # noqa: F401
from tests.push.test_vendor_sender import DAY, on_vivo, vivo, vivo_push  # noqa: F401

WITHOUT_VIVO = {"channel_rules": [{"channel": "vivo", "disable": True}]}


def test_a_delivery_that_overflows_into_the_inbox_comes_after_the_devices_cursor(app, vivo):  # noqa: F811
    device = on_vivo(app, 1)
    vivo.clock = lambda: DAY
    first = vivo_push(app, ["tok-1"], now=DAY, system=True)  # queued for vivo
    second = vivo_push(app, ["tok-1"], now=DAY, system=True, options=WITHOUT_VIVO)
    page = inbox.fetch(device, 0, DAY)
    assert [d.push_id for d in page] == [second.pk]
    cursor = place(page[-1])

    vivo.quota_spent = True
    assert sender.send_batch(DAY)["over_quota"] == 1  # first goes over the built-in channel

    late = inbox.fetch(device, cursor, DAY)
    assert [d.push_id for d in late] == [first.pk]
    assert late[0].pk < cursor < place(late[0])
    assert inbox.fetch(device, place(late[0]), DAY) == []
    # From the start, both, in the order they entered the inbox.
    assert [d.push_id for d in inbox.fetch(device, 0, DAY)] == [second.pk, first.pk]


def test_the_sdk_answers_places_as_ids_and_as_its_next_cursor(client, app, vivo):  # noqa: F811
    device = on_vivo(app, 1)
    vivo.clock = lambda: DAY
    first = vivo_push(app, ["tok-1"], now=DAY, system=True)
    vivo_push(app, ["tok-1"], now=DAY, system=True, options=WITHOUT_VIVO)
    sdk = Sdk(client, app)
    answer = sdk.get("messages", token=device.token).json()
    vivo.quota_spent = True
    sender.send_batch(DAY)

    late = sdk.get("messages", token=device.token, after=answer["next"]).json()

    [message] = late["messages"]
    assert message["push_id"] == str(first.push_id)
    moved = first.deliveries.get()
    assert message["id"] == late["next"] == moved.inbox_seq > answer["next"]


def test_a_delivery_huawei_capped_comes_after_the_devices_cursor(app, huawei):  # noqa: F811
    capped = on_huawei(app, 1, phone="+8613711110001")
    first = sms_push(app, ["tok-1"])
    Delivery.objects.filter(push=first).update(channel="huawei", state="sent")
    second = sms_push(app, ["tok-1"])
    Delivery.objects.filter(push=second).update(channel="builtin", state="sent")
    now = timezone.now()
    cursor = place(inbox.fetch(capped, 0, now)[-1])

    receipts.record(huawei, [line(1, first, ReceiptKind.OVER_QUOTA, now, status="256")], now)

    late = inbox.fetch(capped, cursor, now)
    assert [d.push_id for d in late] == [first.pk]
    assert place(late[0]) > cursor
    assert delivery(first, 1).inbox_seq == place(late[0])


def test_a_retried_receipt_does_not_move_it_again(app, huawei):  # noqa: F811
    device = on_huawei(app, 1, phone="+8613711110001")
    push = sms_push(app, ["tok-1"])
    Delivery.objects.filter(push=push).update(channel="huawei", state="sent")
    now = timezone.now()
    receipt = [line(1, push, ReceiptKind.OVER_QUOTA, now, status="256")]
    receipts.record(huawei, receipt, now)
    moved = delivery(push, 1).inbox_seq

    receipts.record(huawei, receipt, now + timedelta(seconds=5))

    assert delivery(push, 1).inbox_seq == moved
    assert [d.push_id for d in inbox.fetch(device, 0, now)] == [push.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_late_place_waits_for_the_apps_deliveries_being_written(app, vivo):  # noqa: F811
    """A place drawn while a fan-out of the app is still open would become visible before the
    fan-out's smaller ids: a device that saw it would skip those for good."""
    device = on_vivo(app, 1)
    vivo.clock = lambda: DAY
    late = vivo_push(app, ["tok-1"], now=DAY, system=True)  # queued for vivo
    vivo.quota_spent = True

    waiting, seen_meanwhile = while_an_inbox_lock_is_held(
        # A list push, still open after its delivery is written.
        lambda: vivo_push(app, ["tok-1"], now=DAY, system=True, options=WITHOUT_VIVO),
        lambda: sender.send_batch(DAY),
        lambda: inbox.fetch(device, 0, DAY),
    )

    assert waiting and seen_meanwhile == []
    pages = inbox.fetch(device, 0, DAY)
    assert [d.push_id for d in pages][-1] == late.pk  # after the push written meanwhile
    assert len(pages) == 2
