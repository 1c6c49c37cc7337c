"""Loop pushes (TPNS ``loop_param`` and the legacy ``loop_times`` / ``loop_interval``): one push
per occurrence, linked to its loop, scheduled in the account's time zone, answered with the
array of their push ids, each started when it is due."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from push import fanout
from push.models import Push, PushLoop
from tests.push.conftest import add_device
from tests.push.test_tpns_push import body, push_app

# 08:00 in Beijing, a Monday.
NOW = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def devices(app):
    return [add_device(app, "tok-a"), add_device(app, "tok-b")]


@pytest.fixture
def at_now(clock):
    clock(NOW.timestamp())


def loop(**changes) -> dict:
    param = {
        "startDate": "2030-01-07",
        "endDate": "2030-01-09",
        "loopType": 1,
        "loopDayIndexs": [0],
        "dayTimes": ["19:00:00", "09:30:00"],
    }
    return {**param, **changes}


def scheduled(answer) -> list[datetime]:
    return [Push.objects.get(pk=pk).send_at for pk in answer["push_id"]]


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 1, day, hour, minute, tzinfo=BEIJING)


def test_a_daily_loop_is_one_scheduled_push_per_day_and_time(client, app, devices, at_now):
    answer = push_app(client, app, body(audience_type="all", loop_param=loop()))

    assert answer["ret_code"] == 0, answer
    assert isinstance(answer["push_id"], list) and len(answer["push_id"]) == 6
    assert scheduled(answer) == [beijing(d, h, m) for d in (7, 8, 9) for h, m in ((9, 30), (19, 0))]
    pushes = Push.objects.filter(pk__in=answer["push_id"])
    assert {p.status for p in pushes} == {"PUSH_WAIT"}
    [the_loop] = PushLoop.objects.all()
    assert {p.loop_id for p in pushes} == {the_loop.pk}
    assert the_loop.time_zone == "Asia/Shanghai"
    assert the_loop.definition["loop_param"]["loopType"] == 1


def test_a_weekly_loop_takes_its_weekdays_with_0_for_sunday(client, app, devices, at_now):
    answer = push_app(
        client,
        app,
        body(
            audience_type="all",
            loop_param=loop(
                endDate="2030-01-20", loopType=2, loopDayIndexs=[0, 3], dayTimes=["20:00:00"]
            ),
        ),
    )
    # Wednesdays 9 and 16, Sundays 13 and 20.
    assert scheduled(answer) == [beijing(d, 20) for d in (9, 13, 16, 20)]


def test_a_monthly_loop_skips_months_without_the_day(client, app, devices, clock):
    clock(datetime(2030, 1, 30, tzinfo=UTC).timestamp())
    answer = push_app(
        client,
        app,
        body(
            audience_type="all",
            loop_param=loop(
                startDate="2030-01-30",
                endDate="2030-03-31",
                loopType=3,
                loopDayIndexs=[31],
                dayTimes=["12:00:00"],
            ),
        ),
    )
    assert scheduled(answer) == [
        datetime(2030, 1, 31, 12, tzinfo=BEIJING),
        datetime(2030, 3, 31, 12, tzinfo=BEIJING),
    ]


def test_days_and_times_are_the_accounts_own(client, app, devices, at_now, personas):
    personas.org.time_zone = "Europe/Berlin"
    personas.org.save()
    answer = push_app(
        client, app, body(audience_type="all", loop_param=loop(dayTimes=["09:00:00"]))
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert scheduled(answer) == [datetime(2030, 1, d, 9, tzinfo=berlin) for d in (7, 8, 9)]


def test_occurrences_already_past_are_skipped_and_a_loop_with_none_left_is_refused(
    client, app, devices, at_now
):
    # 08:00 in Beijing: today's 07:00 is past.
    answer = push_app(
        client, app, body(audience_type="all", loop_param=loop(dayTimes=["07:00:00"]))
    )
    assert scheduled(answer) == [beijing(8, 7), beijing(9, 7)]

    refused = push_app(
        client,
        app,
        body(
            audience_type="all",
            loop_param=loop(startDate="2030-01-07", endDate="2030-01-07", dayTimes=["07:00:00"]),
        ),
    )
    assert refused["ret_code"] == 1008007
    assert refused["err_msg"].startswith("loop_param: names no moment after now")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"endDate": "2030-06-01"}, "loop_param.endDate: at most 90 days ahead"),
        ({"loopType": 4}, "loop_param.loopType: must be one of 1, 2, 3"),
        ({"loopType": 2, "loopDayIndexs": [7]}, "loop_param.loopDayIndexs[0]"),
        ({"dayTimes": ["25:00:00"]}, "loop_param.dayTimes[0]: must be HH:MM:SS"),
        ({"endDate": "2030-01-06"}, "loop_param.endDate: is before startDate"),
    ],
)
def test_a_bad_loop_is_refused_naming_the_field_and_writes_nothing(
    client, app, devices, at_now, changes, field
):
    answer = push_app(client, app, body(audience_type="all", loop_param=loop(**changes)))

    assert answer["ret_code"] == 1008007 and answer["err_msg"].startswith(field), answer
    assert not Push.objects.exists() and not PushLoop.objects.exists()


def test_only_broadcasts_loop(client, app, devices, at_now):
    answer = push_app(client, app, body(loop_param=loop()))
    assert answer["ret_code"] == 1008007
    assert answer["err_msg"].startswith("loop_param: only all, tag and package pushes can loop")


def test_a_loop_of_more_than_a_thousand_pushes_is_refused(client, app, devices, at_now):
    times = [f"{h:02d}:{m:02d}:00" for h in range(9, 24) for m in (0, 15, 30, 45)]
    answer = push_app(
        client,
        app,
        body(audience_type="all", loop_param=loop(endDate="2030-01-30", dayTimes=times)),
    )
    assert answer["ret_code"] == 1008007
    assert "a loop is at most 1000" in answer["err_msg"]
    assert not Push.objects.exists()


def test_the_legacy_loop_times_repeat_the_push_days_apart(client, app, devices, at_now):
    answer = push_app(
        client,
        app,
        body(
            audience_type="all",
            send_time="2030-01-07 10:00:00",
            loop_times=3,
            loop_interval=2,
        ),
    )
    assert scheduled(answer) == [beijing(d, 10) for d in (7, 9, 11)]


def test_loop_times_without_a_send_time_start_now(client, app, devices, at_now):
    answer = push_app(client, app, body(audience_type="all", loop_times=2))
    pushes = [Push.objects.get(pk=pk) for pk in answer["push_id"]]
    assert [p.send_at for p in pushes] == [NOW, NOW + timedelta(days=1)]
    assert [p.status for p in pushes] == ["PUSH_INIT", "PUSH_WAIT"]


def test_each_occurrence_starts_when_it_is_due_and_reaches_the_devices(
    client, app, devices, at_now
):
    answer = push_app(client, app, body(audience_type="all", loop_param=loop()))
    first, second = (Push.objects.get(pk=pk) for pk in answer["push_id"][:2])

    assert fanout.start_due(now=first.send_at - timedelta(seconds=1)) == 0
    assert fanout.start_due(now=first.send_at) == 1
    fanout.start(first.pk, now=first.send_at)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.deliveries.count() == 2 and second.status == "PUSH_WAIT"


def test_the_same_idempotency_key_answers_the_same_loop(client, app, devices, at_now):
    from tests.push.test_tpns_auth import tpns

    request = body(audience_type="all", loop_param=loop())
    headers = {"Idempotency-Key": "loop-1"}
    first = tpns(client, app, "push/app", request, headers=headers).json()
    again = tpns(client, app, "push/app", request, headers=headers).json()

    assert first["push_id"] == again["push_id"] and len(first["push_id"]) == 6
    assert Push.objects.count() == 6


def test_the_push_page_says_which_loop_a_push_is_of(client, app, devices, at_now, personas):
    answer = push_app(client, app, body(audience_type="all", loop_param=loop()))
    client.force_login(personas.owner)
    page = client.get(f"/a/{app.account_id}/push/pushes/{answer['push_id'][2]}/").content
    assert "one of 6 pushes of loop" in page.decode()
