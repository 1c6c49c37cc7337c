"""TPNS's push plans (/v3/push/plan/add_plan_push): the documented request and answer, its
limits, and its 200 calls a day."""

from datetime import UTC, datetime

import pytest

from push.models import PushPlan
from push.tpns import quota
from tests.push.conftest import outsider_app
from tests.push.test_tpns_auth import tpns

# The doc's request example.
EXAMPLE = {"planName": "TPNS_TEST123", "planDescribe": "plan_test"}
NOW = datetime(2030, 1, 7, 3, 0, tzinfo=UTC)  # 11:00 in Beijing


def add(client, app, body):
    return tpns(client, app, "push/plan/add_plan_push", body).json()


def test_the_documented_request_gets_the_documented_answer(client, app, clock):
    clock(NOW.timestamp())

    answer = add(client, app, EXAMPLE)

    plan = PushPlan.objects.get()
    # The doc's example answer, key by key and type by type (it spells ErrMsg; see the module).
    assert answer == {
        "retCode": 0,
        "errMsg": "save success",
        "result": {
            "planId": str(plan.pk),
            "planName": "TPNS_TEST123",
            "planDescribe": "plan_test",
            "planPushSource": "api",
            "createdAt": int(NOW.timestamp()),
            "updateAt": int(NOW.timestamp()),
        },
    }
    assert plan.application_id == app.pk


@pytest.mark.parametrize(
    "body, code, message",
    [
        ({"planDescribe": "d"}, 1008002, "planName: required"),
        ({"planName": " ", "planDescribe": "d"}, 1008002, "planName: required"),
        ({"planName": "n"}, 1008002, "planDescribe: required"),
        ({"planName": "n" * 61, "planDescribe": "d"}, 1008007, "planName"),
        ({"planName": "n", "planDescribe": "述" * 301}, 1008007, "planDescribe"),
        ({"planName": 7, "planDescribe": "d"}, 1008007, "planName"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field_and_writes_nothing(
    client, app, clock, body, code, message
):
    clock(NOW.timestamp())
    answer = add(client, app, body)
    assert answer["retCode"] == code and answer["errMsg"].startswith(message), answer
    assert not PushPlan.objects.exists()


def test_the_longest_names_are_taken(client, app, clock):
    clock(NOW.timestamp())
    answer = add(client, app, {"planName": "n" * 60, "planDescribe": "述" * 300})
    assert answer["retCode"] == 0


def test_two_hundred_plans_a_beijing_day_then_1008028_until_the_next(
    client, app, personas, clock, monkeypatch
):
    monkeypatch.setitem(quota.LIMITS, quota.PLANS, 3)
    clock(NOW.timestamp())
    assert [add(client, app, EXAMPLE)["retCode"] for _ in range(3)] == [0, 0, 0]

    refused = add(client, app, EXAMPLE)
    assert refused["retCode"] == 1008028 and "a day" in refused["errMsg"]
    assert PushPlan.objects.count() == 3
    # Another application has its own day.
    other = outsider_app(personas)
    assert add(client, other, EXAMPLE)["retCode"] == 0
    # Beijing's midnight (16:00 UTC) starts the next day.
    clock(datetime(2030, 1, 7, 16, 0, tzinfo=UTC).timestamp())
    assert add(client, app, EXAMPLE)["retCode"] == 0


def test_call_counts_of_windows_long_over_are_forgotten(app):
    from datetime import timedelta

    from push.models import ApiCallCount

    now = datetime(2030, 1, 7, 3, 0, tzinfo=UTC)
    for family, start in [
        (quota.STATISTICS, now - timedelta(days=2)),  # over: forgotten
        (quota.PLANS, now - timedelta(hours=20)),  # today's (Beijing) plan day: kept
        (quota.STATISTICS, quota.window_of(now)),  # this hour: kept
    ]:
        ApiCallCount.objects.create(application=app, family=family, window_start=start, calls=5)

    assert quota.prune(now) == 1
    assert ApiCallCount.objects.count() == 2
