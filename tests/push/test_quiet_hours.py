"""TPNS's accept_time on the built-in channel: a notification outside its display windows is
handed over at once with ``show_at``, the start of the next window, which the app waits for;
the hours are the account's."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from push.quiet import show_at
from tests.push.conftest import add_device
from tests.push.test_sdk_api import Sdk, push_to

BEIJING = ZoneInfo("Asia/Shanghai")


def window(start: str, end: str) -> dict:
    (sh, sm), (eh, em) = start.split(":"), end.split(":")
    return {"start": {"hour": sh, "min": sm}, "end": {"hour": eh, "min": em}}


def at(hour: int, minute: int = 0, day: int = 7) -> datetime:
    return datetime(2030, 1, day, hour, minute, tzinfo=BEIJING)


@pytest.mark.parametrize(
    "windows, now, expected",
    [
        ([window("09:00", "18:00")], at(10), None),  # inside
        ([window("09:00", "18:00")], at(7), at(9)),  # before: today's start
        ([window("09:00", "18:00")], at(18), at(9, day=8)),  # the end is exclusive
        ([window("13:00", "14:00"), window("00:00", "09:00")], at(10), at(13)),  # the sooner
        ([window("22:00", "07:00")], at(23), None),  # past midnight
        ([window("22:00", "07:00")], at(6, 59), None),
        ([window("22:00", "07:00")], at(12), at(22)),
        ([], at(3), None),  # no windows: any time
        ([window("09:00", "09:00")], at(3), None),  # an empty window is none
    ],
)
def test_show_at_is_the_start_of_the_next_window(windows, now, expected):
    assert show_at(windows, BEIJING, now=now) == expected


def test_a_notification_expiring_before_its_window_is_shown_when_it_comes():
    assert show_at([window("09:00", "10:00")], BEIJING, now=at(7), expires_at=at(8)) is None


def test_the_hours_are_the_accounts():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2030, 1, 7, 7, 0, tzinfo=UTC)  # 08:00 in Berlin, 15:00 in Beijing
    assert show_at([window("09:00", "18:00")], berlin, now=now) == datetime(
        2030, 1, 7, 9, 0, tzinfo=berlin
    )
    assert show_at([window("09:00", "18:00")], BEIJING, now=now) is None


def test_the_inbox_hands_it_over_at_once_with_show_at(client, app, personas):
    add_device(app, "tok-a")
    tz = personas.org.tz
    local = timezone.now().astimezone(tz)
    # A window opening two hours from now (the inbox answers on the real clock).
    opens = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    quiet = push_to(
        app,
        ["tok-a"],
        message={
            "title": "t",
            "content": "c",
            "accept_time": [window(f"{opens:%H:%M}", f"{closes:%H:%M}")],
        },
    )
    anytime = push_to(app, ["tok-a"])

    body = Sdk(client, app).get("messages", token="tok-a").json()

    shown = {m["push_id"]: m["show_at"] for m in body["messages"]}
    assert datetime.fromisoformat(shown[quiet.push_id]) == opens
    assert shown[anytime.push_id] is None
