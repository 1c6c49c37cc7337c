"""The sender stage with the phone makers' channels (the real clients against their loopback
fakes): a spent daily quota overflows to the built-in channel for the rest of the vendor's
day, vivo's night window holds operational messages until 07:00 (never drops them), and the
supplementary SMS of a held delivery still goes out at its due time."""

from datetime import UTC, datetime, time, timedelta

import pytest

from push import channels, fallback, fanout, sender, stats
from push.channels.vendor import BEIJING
from push.inbox import fetch as inbox
from push.models import ChannelCredentials, Push
from tests.fakes.vivo import FakeVivo
from tests.push.conftest import add_device
from tests.push.test_fallback import DELAY, outcomes


def _next_beijing(hour: int, minute: int = 0) -> datetime:
    """The next such time of day in Beijing, from the real clock: the sms fixture's package is
    valid from when the test runs, so the test's moments must not be before it."""
    today = datetime.now(UTC).astimezone(BEIJING).date() + timedelta(days=1)
    return datetime.combine(today, time(hour, minute), BEIJING)


# 23:30 in Beijing: vivo's window for operational messages is shut until 07:00.
NIGHT = _next_beijing(23, 30).astimezone(UTC)
DAY = _next_beijing(12).astimezone(UTC)  # noon in Beijing, a day before the next midnight
SEVEN = datetime.combine(NIGHT.astimezone(BEIJING).date() + timedelta(days=1), time(7), BEIJING)
MIDNIGHT = datetime.combine(DAY.astimezone(BEIJING).date() + timedelta(days=1), time(), BEIJING)


@pytest.fixture
def vivo(settings, app):
    with FakeVivo() as fake:
        settings.PUSH_VIVO_URL = fake.url
        settings.PUSH_CHANNEL_CA_FILE = fake.ca_file
        settings.PUSH_CHANNEL_TIMEOUT = 5
        channels.store_credentials(app, "vivo", fake.config())
        yield fake
    sender.LOOP.close()


def on_vivo(app, i: int, **fields):
    return add_device(app, f"tok-{i}", channel="vivo", channel_token=f"vivo-regid-{i}", **fields)


def vivo_push(app, tokens, *, now, system: bool, **fields) -> Push:
    message = {
        "title": "Order shipped",
        "content": "Order 42 is on its way",
        "android": {"vivo_ch_id": "1" if system else "0"},
    }
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title=message["title"],
        content=message["content"],
        message=message,
        **fields,
    )
    return fanout.accept(push, now=now)


def sends(vivo) -> int:
    return sum(r.path in ("/message/send", "/message/pushToList") for r in vivo.received)


def test_a_spent_vivo_quota_sends_over_the_built_in_channel_for_the_rest_of_its_day(app, vivo):
    devices = [on_vivo(app, 1), on_vivo(app, 2)]
    vivo.clock = lambda: DAY
    vivo.quota_spent = True
    push = vivo_push(app, ["tok-1", "tok-2"], now=DAY, system=True)

    done = sender.send_batch(DAY)

    assert done["over_quota"] == 2
    rows = list(push.deliveries.order_by("id"))
    assert {(d.state, d.channel) for d in rows} == {("sent", "builtin")}
    assert all(d.channel_answer.startswith("over quota: vivo Push:") for d in rows)
    # The built-in inbox carries them now.
    assert [d.push_id for d in inbox(devices[0], 0, DAY)] == [push.pk]
    credentials = ChannelCredentials.objects.get(application=app, channel="vivo")
    assert credentials.quota_spent_until == MIDNIGHT
    [builtin] = stats.compute([push])[push.pk]["channels"]
    assert builtin["over_quota"] == 2
    assert builtin["over_quota_by_reason"][0]["count"] == 2

    # The rest of the vendor's day goes the same way, without asking vivo.
    vivo.quota_spent = False
    asked = sends(vivo)
    later = vivo_push(app, ["tok-1"], now=DAY + timedelta(hours=1), system=True)
    assert sender.send_batch(DAY + timedelta(hours=1))["over_quota"] == 1
    assert sends(vivo) == asked
    assert later.deliveries.get().channel == "builtin"

    # After Beijing's midnight vivo is asked again.
    tomorrow = MIDNIGHT + timedelta(hours=10)  # 10:00 in Beijing
    vivo.clock = lambda: tomorrow
    next_day = vivo_push(app, ["tok-2"], now=tomorrow, system=True)
    assert sender.send_batch(tomorrow)["accepted"] == 1
    assert next_day.deliveries.get().channel == "vivo"


def test_the_push_page_says_how_many_went_over_the_built_in_channel_and_why(
    app, vivo, personas, client
):
    on_vivo(app, 1)
    vivo.clock = lambda: DAY
    vivo.quota_spent = True
    push = vivo_push(app, ["tok-1"], now=DAY, system=False)
    sender.send_batch(DAY)
    client.force_login(personas.owner)

    page = client.get(f"/a/{app.account_id}/push/pushes/{push.pk}/").content.decode()

    assert "1 of these went over the built-in channel because a vendor" in page
    assert "vivo Push" in page and "capped daily" in page  # the push's vivo category


def test_an_operational_vivo_push_at_night_is_held_until_seven_then_sent(app, vivo):
    on_vivo(app, 1)
    vivo.clock = lambda: NIGHT
    push = vivo_push(app, ["tok-1"], now=NIGHT, system=False)

    done = sender.send_batch(NIGHT)

    assert done["held"] == 1
    held = push.deliveries.get()
    assert held.state == "queued" and held.send_after == SEVEN
    assert held.channel_answer.startswith("held: vivo Push")
    assert sends(vivo) == 0
    assert sender.send_batch(NIGHT + timedelta(hours=6))["claimed"] == 0

    vivo.clock = lambda: SEVEN
    assert sender.send_batch(SEVEN)["accepted"] == 1
    assert push.deliveries.get().state == "sent"
    assert sends(vivo) == 1


def test_a_system_vivo_push_is_not_held_at_night(app, vivo):
    on_vivo(app, 1)
    vivo.clock = lambda: NIGHT
    vivo_push(app, ["tok-1"], now=NIGHT, system=True)
    assert sender.send_batch(NIGHT)["accepted"] == 1


def test_the_sms_of_a_held_delivery_goes_out_at_its_due_time(app, vivo, sms):
    on_vivo(app, 1, phone="+8613711110001")
    vivo.clock = lambda: NIGHT
    push = vivo_push(
        app,
        ["tok-1"],
        now=NIGHT,
        system=False,
        resend_by_sms=True,
        sms_delay=DELAY,
        sms_trigger=1,
        sms_app_id="1400006666",
        sms_template_id="449739",
        sms_params=["订单 42", "明天"],
    )
    sender.send_batch(NIGHT)
    assert push.deliveries.get().state == "queued"  # held until 07:00

    fallback.sweep(NIGHT + timedelta(seconds=DELAY + 1))

    assert outcomes(push) == {"tok-1": "sent"}
