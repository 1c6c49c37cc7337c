"""The vendors' receipts (push.receipts): recorded through the SDK's event rules, so arrival and
click count once whoever reports them; "notifications off" feeds the permission trigger of the
supplementary SMS; dead tokens are pruned; nothing else changes anything."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from push import channels, events, fallback, receipts, stats
from push.channels.base import Receipt, ReceiptKind
from push.models import Delivery, Device
from tests.push.conftest import add_device
from tests.push.test_fallback import due, outcomes, sms_push
from tests.push.test_sender import push_to

HUAWEI = {
    "app_id": "104400001",
    "client_id": "104400001",
    "client_secret": "huawei-client-secret",
    "receipt_user": "",
    "receipt_secret": "",
}


@pytest.fixture
def huawei(app):
    return channels.store_credentials(app, "huawei", HUAWEI)


def on_huawei(app, i: int, **fields):
    """Device ``tok-<i>`` of ``app`` on Huawei Push Kit, with the Huawei token ``hw-<i>``."""
    return add_device(app, f"tok-{i}", channel="huawei", channel_token=f"hw-{i}", **fields)


def line(i: int, push, kind: ReceiptKind, at=None, status="") -> Receipt:
    return Receipt(token=f"hw-{i}", push_id=str(push.pk), kind=kind, at=at, status=status)


def delivery(push, i: int) -> Delivery:
    return push.deliveries.get(device__token=f"tok-{i}")


def test_a_vendor_arrival_and_the_apps_count_once(app, huawei, phones_on_huawei):
    push = sms_push(app, ["tok-1", "tok-2"])
    now = timezone.now()

    counts = receipts.record(
        huawei,
        [line(1, push, ReceiptKind.ARRIVED, now), line(1, push, ReceiptKind.ARRIVED, now)],
        now,
    )

    assert counts["accepted"] == 1 and counts["duplicates"] == 1
    first = delivery(push, 1)
    assert first.arrived_at == now and first.arrival_source == "vendor"
    assert first.state == "arrived"
    # The app reports the same arrival later: a duplicate, and the vendor stays its source.
    sdk = events.record(first.device, [{"push_id": str(push.pk), "type": "arrive"}], now)
    assert (sdk["accepted"], sdk["duplicates"]) == (0, 1)
    # The app's click counts as the app's.
    events.record(first.device, [{"push_id": str(push.pk), "type": "click"}], now)
    first.refresh_from_db()
    assert (first.arrival_source, first.click_source) == ("vendor", "sdk")
    [row] = stats.compute([push])[push.pk]["channels"]
    assert (row["arrived"], row["arrived_by_vendor"], row["clicked_by_vendor"]) == (1, 1, 0)
    assert delivery(push, 2).arrived_at is None


def test_a_vendor_click_implies_arrival(app, huawei, phones_on_huawei):
    push = sms_push(app, ["tok-1"])
    now = timezone.now()
    receipts.record(huawei, [line(1, push, ReceiptKind.CLICKED, now)], now)
    first = delivery(push, 1)
    assert (first.state, first.arrived_at, first.clicked_at) == ("clicked", now, now)
    assert (first.arrival_source, first.click_source) == ("vendor", "vendor")


@pytest.mark.parametrize("receipt", [None, ReceiptKind.NOTIFICATIONS_OFF, ReceiptKind.OTHER])
def test_a_notifications_off_receipt_before_the_due_time_sends_the_trigger_0_sms(
    app, huawei, phones_on_huawei, receipt
):
    push = sms_push(app, ["tok-1"], trigger=0)
    if receipt is not None:
        receipts.record(huawei, [line(1, push, receipt)])

    fallback.sweep(due(push))

    expected = "sent" if receipt == ReceiptKind.NOTIFICATIONS_OFF else "not_needed"
    assert outcomes(push) == {"tok-1": expected}
    device = Device.objects.get(token="tok-1")
    assert device.notifications_enabled is (receipt != ReceiptKind.NOTIFICATIONS_OFF)


@pytest.mark.parametrize(
    "receipt, expected",
    [
        (ReceiptKind.NOT_SHOWN, "sent"),
        (ReceiptKind.NOTIFICATIONS_OFF, "sent"),
        (ReceiptKind.ARRIVED, "not_needed"),
    ],
)
def test_only_an_arrival_receipt_cancels_the_trigger_1_sms(
    app, huawei, phones_on_huawei, receipt, expected
):
    push = sms_push(app, ["tok-1"], trigger=1)
    receipts.record(huawei, [line(1, push, receipt)])
    fallback.sweep(due(push))
    assert outcomes(push) == {"tok-1": expected}


def test_the_apps_own_later_word_on_its_permission_wins(app, huawei, phones_on_huawei):
    push = sms_push(app, ["tok-1"], trigger=0)
    device = Device.objects.get(token="tok-1")
    earlier = timezone.now() - timedelta(minutes=5)
    device.set_notifications(True, now=earlier + timedelta(minutes=1))

    counts = receipts.record(huawei, [line(1, push, ReceiptKind.NOTIFICATIONS_OFF, earlier)])

    assert counts["notifications_off"] == 0
    device.refresh_from_db()
    assert device.notifications_enabled


def test_an_invalid_token_receipt_prunes_the_token_unless_registered_again(app, huawei):
    first, second = on_huawei(app, 1), on_huawei(app, 2)
    now = timezone.now()
    second.set_channel("huawei", "hw-2", now)  # registered again after the vendor's word
    second.save()
    push = sms_push(app, ["tok-1", "tok-2"])

    counts = receipts.record(
        huawei,
        [
            line(1, push, ReceiptKind.INVALID_TOKEN, now - timedelta(minutes=1), status="2"),
            line(2, push, ReceiptKind.INVALID_TOKEN, now - timedelta(minutes=1), status="2"),
        ],
        now,
    )

    assert counts["pruned"] == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.channel_token_invalid_at == now
    assert first.channel_token_invalid_reason == "receipt: 2"
    assert second.channel_token_invalid_at is None


def test_receipts_of_another_app_or_channel_change_nothing(app, huawei, other_app):
    mine = on_huawei(app, 1)
    add_device(app, "tok-x", channel="xiaomi", channel_token="hw-9")  # same string, Xiaomi's
    theirs = add_device(other_app, "tok-o", channel="huawei", channel_token="hw-8")
    push = sms_push(app, ["tok-1", "tok-x"])
    their_push = push_to(other_app, ["tok-o"])

    counts = receipts.record(
        huawei,
        [
            line(9, push, ReceiptKind.ARRIVED),  # a Xiaomi device's token: not this channel
            line(8, their_push, ReceiptKind.ARRIVED),  # the other app's device
            line(8, their_push, ReceiptKind.NOTIFICATIONS_OFF),
            line(8, their_push, ReceiptKind.INVALID_TOKEN),
            line(1, their_push, ReceiptKind.ARRIVED),  # my device, their push
        ],
    )

    assert counts["unknown"] == 3 and counts["accepted"] == 0
    assert counts["notifications_off"] == 0 and counts["pruned"] == 0
    assert not Delivery.objects.filter(arrived_at__isnull=False).exists()
    theirs.refresh_from_db()
    assert theirs.notifications_enabled and theirs.channel_token_invalid_at is None
    assert mine.deliveries.get().arrived_at is None


def test_the_portable_path_records_receipts_as_postgresql_does(
    app, huawei, phones_on_huawei, monkeypatch
):
    push = sms_push(app, ["tok-1", "tok-2"])
    now = timezone.now()
    batch = [line(1, push, ReceiptKind.CLICKED, now), line(2, push, ReceiptKind.ARRIVED, now)]
    monkeypatch.setattr(connection, "vendor", "sqlite")  # SQLite's path, on PostgreSQL

    counts = receipts.record(huawei, batch, now)

    assert (counts["accepted"], counts["unknown"]) == (2, 0)
    assert (delivery(push, 1).state, delivery(push, 1).click_source) == ("clicked", "vendor")
    assert delivery(push, 2).arrival_source == "vendor"
    again = receipts.record(huawei, batch, now)
    assert (again["accepted"], again["duplicates"]) == (0, 2)


@pytest.fixture
def phones_on_huawei(app, sms):
    return {
        1: on_huawei(app, 1, phone="+8613711110001"),
        2: on_huawei(app, 2, phone="+8613711110002"),
    }


def test_a_delivery_huawei_dropped_for_its_daily_cap_goes_over_the_built_in_channel(
    app, huawei, phones_on_huawei
):
    from push.inbox import fetch as inbox

    push = sms_push(app, ["tok-1", "tok-2"])
    Delivery.objects.filter(push=push).update(channel="huawei", state="sent")
    now = timezone.now()

    counts = receipts.record(
        huawei,
        [
            line(1, push, ReceiptKind.OVER_QUOTA, now, status="256"),
            line(2, push, ReceiptKind.ARRIVED, now),
            line(2, push, ReceiptKind.OVER_QUOTA, now, status="256"),  # arrived: stays
        ],
        now,
    )

    assert counts["over_quota"] == 1
    capped, shown = delivery(push, 1), delivery(push, 2)
    assert (capped.channel, capped.state) == ("builtin", "sent")
    assert capped.channel_answer == "over quota: Huawei Push Kit: receipt 256"
    assert shown.channel == "huawei"
    assert [d.pk for d in inbox(capped.device, 0, now)] == [capped.pk]
    figures = {c["channel"]: c for c in stats.compute([push])[push.pk]["channels"]}
    assert figures["builtin"]["over_quota"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_vendor_and_the_app_reporting_at_once_count_each_arrival_once(app, huawei):
    from tests.conftest import run_concurrently

    devices = [on_huawei(app, i) for i in range(40)]
    push = push_to(app, [d.token for d in devices])
    # The vendor's batch in one order, a second vendor batch in the other (its retry), and the
    # app's own reports: three connections at once must neither deadlock nor count twice.
    forward = [line(i, push, ReceiptKind.ARRIVED) for i in range(40)]
    backward = list(reversed(forward))

    def report(i):
        if i == 2:
            return sum(
                events.record(d, [{"push_id": str(push.pk), "type": "arrive"}])["accepted"]
                for d in devices[::-1]
            )
        return receipts.record(huawei, forward if i == 0 else backward)["accepted"]

    results = run_concurrently(3, report)

    assert sum(results) == 40
    assert push.deliveries.filter(state="arrived").count() == 40


@pytest.mark.parametrize("vendor", ["huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"])
def test_a_receipt_nested_thousands_deep_is_refused_not_a_crash(vendor):
    """json.loads raises RecursionError, not ValueError, on a body nested deep enough (the
    receipt fuzzer found it): it must be the vendor's refusal, never a 500."""
    from urllib.parse import quote

    from push.channels.base import ReceiptError

    deep = "[" * 100_000 + "]" * 100_000
    bodies = {
        "xiaomi": ("application/json", deep),
        "meizu": ("application/x-www-form-urlencoded", "cb=" + quote(deep)),
    }
    content_type, body = bodies.get(vendor, ("application/json", deep))
    with pytest.raises(ReceiptError):
        channels.module(vendor).parse_receipts(
            body.encode(), content_type=content_type, headers={}, config={}
        )


def test_a_tencent_sms_report_nested_thousands_deep_is_refused_not_a_crash():
    from sms.receipts import MalformedReport, parse_callback

    with pytest.raises(MalformedReport):
        parse_callback(("[" * 100_000 + "]" * 100_000).encode())
