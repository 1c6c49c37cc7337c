"""simulate_devices: simulated phones against a live server, over the real HTTP SDK API."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from push.models import Delivery, Device, DeviceAccount, Push
from sms.numbers import normalize
from tests.push.test_sdk_api import push_to

COUNT = 20
PUSHES = 5


def simulate(live_server, app, state, *extra) -> str:
    out = StringIO()
    call_command(
        "simulate_devices",
        "--app",
        str(app.access_id),
        "--url",
        live_server.url,
        "--count",
        str(COUNT),
        "--arrive",
        "0.8",
        "--click",
        "0.3",
        "--disabled",
        "0.1",
        "--phones",
        "--seed",
        "7",
        "--interval",
        "0",
        "--state",
        str(state),
        *extra,
        stdout=out,
    )
    return out.getvalue()


def round_figures(line: str) -> dict:
    return {name: int(n) for n, name in re.findall(r"(\d+) (notifications|arrived|clicked)", line)}


@pytest.mark.django_db(transaction=True)
def test_simulated_devices_register_bind_numbers_and_report_over_http(live_server, app, tmp_path):
    state = tmp_path / "simulator.json"

    first = simulate(live_server, app, state, "--rounds", "1")

    devices = Device.objects.filter(application=app)
    assert devices.count() == COUNT
    assert devices.filter(notifications_enabled=False).count() == 2  # 10 %
    numbers = list(
        DeviceAccount.objects.filter(application=app, account_type=1002).values_list(
            "account", flat=True
        )
    )
    assert len(numbers) == len(set(numbers)) == COUNT
    assert all(n.startswith("+861") and normalize(n) == n for n in numbers)
    assert f"round 1/1: {COUNT} devices, 0 notifications" in first
    stored = json.loads(state.read_text())["devices"]
    assert sorted(d["token"] for d in stored) == sorted(devices.values_list("token", flat=True))

    tokens = list(devices.values_list("token", flat=True))
    pushes = [push_to(app, tokens, title=f"Your order {i}") for i in range(PUSHES)]
    again = simulate(live_server, app, state, "--rounds", "2")

    # The same devices were used again, not new ones.
    assert Device.objects.filter(application=app).count() == COUNT
    assert f"{COUNT} refreshed, 0 new" in again
    round_1, round_2 = (line for line in again.splitlines() if line.startswith("round"))
    reported = round_figures(round_1)
    assert round_figures(round_2) == {"notifications": 0, "arrived": 0, "clicked": 0}

    deliveries = Delivery.objects.filter(push__in=pushes)
    arrived = deliveries.filter(arrived_at__isnull=False)
    clicked = deliveries.filter(clicked_at__isnull=False)
    assert reported == {
        "notifications": COUNT * PUSHES,
        "arrived": arrived.count(),
        "clicked": clicked.count(),
    }
    assert not arrived.filter(device__notifications_enabled=False).exists()
    enabled = (COUNT - 2) * PUSHES
    assert 0.6 * enabled <= arrived.count() <= 0.95 * enabled  # P(arrive) = 0.8
    assert 0.1 * arrived.count() <= clicked.count() <= 0.55 * arrived.count()  # P(click) = 0.3
    assert set(clicked.values_list("state", flat=True)) == {"clicked"}
    assert arrived.filter(state="arrived").count() == arrived.count() - clicked.count()
    assert f"events accepted {arrived.count() + clicked.count()}, duplicates 0" in round_1
    assert Push.objects.count() == PUSHES


@pytest.mark.django_db(transaction=True)
def test_a_token_the_server_forgot_is_replaced_by_a_new_device(live_server, app, tmp_path):
    state = tmp_path / "simulator.json"
    simulate(live_server, app, state, "--rounds", "0")
    forgotten = Device.objects.filter(application=app).order_by("pk").first()
    forgotten.delete()

    out = simulate(live_server, app, state, "--rounds", "0")

    assert f"{COUNT - 1} refreshed, 1 new (1 replaced)" in out
    assert Device.objects.filter(application=app).count() == COUNT
    assert forgotten.token not in {d["token"] for d in json.loads(state.read_text())["devices"]}


def test_an_unknown_access_id_needs_the_access_key(db, tmp_path):
    with pytest.raises(CommandError, match="--access-key"):
        call_command("simulate_devices", "--app", "1599999999", "--state", str(tmp_path / "s"))
