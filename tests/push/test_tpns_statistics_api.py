"""The TPNS statistics overviews (daily, per plan, devices, device distribution), the token tool,
the user attributes and the statistics quota (200 calls an hour per app, 1008028).

The compatibility tests send each request example of TPNS's API pages as published (dates,
tokens and ids adapted) and compare the answer with the published one key by key and type by
type."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from push.models import (
    ApiCallCount,
    ChannelKind,
    Delivery,
    Device,
    DeviceAttribute,
    Push,
)
from push.tpns import quota
from push.tpns.parse.fields import BEIJING
from tests.conftest import run_concurrently
from tests.push.conftest import add_device, outsider_app, set_clock
from tests.push.test_tpns_auth import tpns
from tests.push.test_tpns_stats import devices, push_app, sms_push  # noqa: F401 (fixtures)

# Every test's "now": 12:30 Beijing time tomorrow (after the SMS fixture's package begins, and
# far from a day's edge).
TOMORROW = datetime.now(BEIJING).date() + timedelta(days=1)
NOW = datetime.combine(TOMORROW, time(12, 30), BEIJING).astimezone(UTC)
HOUR = NOW.replace(minute=0)


def day(back: int = 0, *, fmt="%Y%m%d") -> str:
    """The Beijing day ``back`` days before today, as TPNS's statistics write it."""
    return (NOW - timedelta(days=back)).astimezone(BEIJING).strftime(fmt)


TODAY, YESTERDAY = day(0), day(1)
# What TPNS's examples answer in every pushState (推送统计按天聚合统计, 多条任务统计数据聚合查询).
PUSH_STATE_KEYS = {
    "pushActiveUv",
    "pushOnlineUv",
    "verifySvcUv",
    "callbackVerifySvcUv",
    "arrivalUv",
    "verifyUv",
    "clickUv",
    "cleanupUv",
}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    set_clock(monkeypatch, NOW.timestamp())


def call(client, app, path, body):
    return tpns(client, app, path, body).json()


def make_push(app, *, at=NOW, audience_type="token_list", **fields):
    return Push.objects.create(
        application=app,
        audience_type=audience_type,
        message_type="notify",
        title="t",
        content="c",
        created_at=at,
        send_at=at,
        status=Push.Status.FINISHED,
        **fields,
    )


def deliver(push, device, *, channel=ChannelKind.BUILTIN, sent=True, arrived=False, **fields):
    at = push.send_at
    fields.setdefault("state", Delivery.State.ARRIVED if arrived else Delivery.State.SENT)
    return Delivery.objects.create(
        push=push,
        device=device,
        channel=channel,
        created_at=at,
        sent_at=at if sent else None,
        arrived_at=at if arrived else None,
        **fields,
    )


def shape(value):
    """A JSON value's keys and types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def by_channel(rows):
    return {r["channel"]: r["pushState"] for r in rows}


@pytest.fixture
def traffic(app, personas):
    """Today: a push over our channel (3 targets, 2 accepted, 1 arrived and clicked) and one
    over Huawei (2 targets, both accepted, 1 arrival reported by Huawei's receipt). Yesterday:
    one push, one target. The outsider has a push today on the same plan."""
    phones = [add_device(app, f"tok-{i}") for i in range(5)]
    ours = make_push(app, options={"plan_id": "plan-a"})
    deliver(ours, phones[0], arrived=True, clicked_at=NOW)
    deliver(ours, phones[1])
    deliver(ours, phones[2], sent=False, state=Delivery.State.QUEUED)
    huawei = make_push(app, at=NOW - timedelta(hours=1), options={"plan_id": "plan-a"})
    deliver(huawei, phones[3], channel=ChannelKind.HUAWEI, arrived=True, arrival_source="vendor")
    deliver(huawei, phones[4], channel=ChannelKind.HUAWEI)
    old = make_push(app, at=NOW - timedelta(days=1), options={"group_id": "g-old"})
    deliver(old, phones[0])
    other = outsider_app(personas)
    foreign = make_push(other, options={"plan_id": "plan-a"})
    deliver(foreign, add_device(other, "tok-0"), arrived=True)
    return {"ours": ours, "huawei": huawei, "old": old, "other": other}


# --------------------------------------------------------------------------------------------
# get_push_channel_stat_overview / get_push_stat_overview


def test_the_daily_overview_answers_as_tpns_documents(client, app, traffic):
    # The published request, dates adapted.
    answer = call(
        client,
        app,
        "statistics/get_push_channel_stat_overview",
        {"startDate": YESTERDAY, "endDate": TODAY},
    )

    assert (answer["retCode"], answer["errMsg"]) == (0, "NO_ERROR")
    assert [d["date"] for d in answer["pushDateChannelStat"]] == [YESTERDAY, TODAY]
    day = answer["pushDateChannelStat"][1]
    for row in day["channelDatas"]:
        assert set(row) == {"channel", "pushState"}
        assert set(row["pushState"]) == PUSH_STATE_KEYS
        assert all(type(v) is int for v in row["pushState"].values())
    assert [r["channel"] for r in day["channelDatas"]] == ["xg", "hw", "all"]  # "all" last
    state = by_channel(day["channelDatas"])
    assert state["xg"] == {
        "pushActiveUv": 3,
        "pushOnlineUv": 2,
        "verifySvcUv": 1,
        "callbackVerifySvcUv": 0,
        "arrivalUv": 1,
        "verifyUv": 1,
        "clickUv": 1,
        "cleanupUv": 0,
    }
    # A phone maker's channel: verifySvcUv is what it accepted; its receipts are callbacks.
    assert state["hw"] == {
        "pushActiveUv": 2,
        "pushOnlineUv": 2,
        "verifySvcUv": 2,
        "callbackVerifySvcUv": 1,
        "arrivalUv": 1,
        "verifyUv": 1,
        "clickUv": 0,
        "cleanupUv": 0,
    }
    assert state["all"] == {
        "pushActiveUv": 5,
        "pushOnlineUv": 4,
        "verifySvcUv": 3,
        "callbackVerifySvcUv": 2,  # Huawei's receipt + our channel's arrival
        "arrivalUv": 2,
        "verifyUv": 2,
        "clickUv": 1,
        "cleanupUv": 0,
    }
    assert by_channel(answer["pushDateChannelStat"][0]["channelDatas"])["all"]["pushActiveUv"] == 1
    assert day["smsStat"] == {"enabled": False, "pushes": 0}


def test_both_names_of_the_daily_overview_answer_alike(client, app, traffic):
    body = {"startDate": TODAY, "endDate": TODAY}
    assert call(client, app, "statistics/get_push_stat_overview", body) == call(
        client, app, "statistics/get_push_channel_stat_overview", body
    )


def test_a_day_without_pushes_and_days_not_begun(client, app):
    answer = call(
        client,
        app,
        "statistics/get_push_channel_stat_overview",
        {"startDate": TODAY, "endDate": day(-5)},
    )
    [only] = answer["pushDateChannelStat"]  # the figures end today
    assert [r["channel"] for r in only["channelDatas"]] == ["xg", "all"]
    assert set(by_channel(only["channelDatas"])["all"].values()) == {0}


def test_the_overview_counts_no_other_apps_pushes(client, app, traffic):
    other = traffic["other"]
    mine = call(
        client, app, "statistics/get_push_stat_overview", {"startDate": TODAY, "endDate": TODAY}
    )
    theirs = call(
        client, other, "statistics/get_push_stat_overview", {"startDate": TODAY, "endDate": TODAY}
    )
    assert by_channel(mine["pushDateChannelStat"][0]["channelDatas"])["all"]["pushActiveUv"] == 5
    assert by_channel(theirs["pushDateChannelStat"][0]["channelDatas"])["all"]["pushActiveUv"] == 1


def test_the_overview_carries_the_supplementary_sms_figures(client, app, sms_push):  # noqa: F811
    assert sms_push.send_at == NOW
    answer = call(
        client, app, "statistics/get_push_stat_overview", {"startDate": TODAY, "endDate": TODAY}
    )
    sms = answer["pushDateChannelStat"][0]["smsStat"]
    assert (sms["enabled"], sms["pushes"], sms["due"], sms["decided"]) == (True, 1, 3, 3)
    assert (sms["sent"], sms["delivered"], sms["blocked"]) == (1, 1, 1)
    assert sms["outcomes"]["sent"] == 1
    assert sms["blockedByReason"] == {"budget_exhausted": 1}
    assert not {"triggerCondition", "delayTriggerTime", "maxSms"} & set(sms)


def test_the_overview_counts_a_hundred_pushes_in_as_many_queries_as_two(client, app):
    phones = [add_device(app, f"tok-{i}") for i in range(3)]

    def queries():
        with CaptureQueriesContext(connection) as captured:
            answer = call(
                client,
                app,
                "statistics/get_push_stat_overview",
                {"startDate": TODAY, "endDate": TODAY},
            )
        assert answer["retCode"] == 0
        return len(captured), answer

    for _ in range(2):
        deliver(make_push(app), phones[0])
    few, _ = queries()
    for i in range(100):
        deliver(make_push(app), phones[i % 3])
    many, answer = queries()
    assert many == few
    assert (
        by_channel(answer["pushDateChannelStat"][0]["channelDatas"])["all"]["pushActiveUv"] == 102
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"startDate": day(fmt="%Y-%m-%d"), "endDate": TODAY},
            "startDate",
        ),  # get_push_record's format
        ({"startDate": TODAY, "endDate": day(0)[:4] + "0230"}, "endDate"),  # no such day
        ({"startDate": TODAY[:7], "endDate": TODAY}, "startDate"),
        ({"startDate": int(TODAY), "endDate": TODAY}, "startDate"),
        ({"startDate": TODAY, "endDate": YESTERDAY}, "endDate"),  # before startDate
        ({"startDate": day(31), "endDate": TODAY}, "startDate"),  # 31 days back
    ],
)
def test_bad_dates_are_1008016_naming_the_field(client, app, body, field):
    answer = call(client, app, "statistics/get_push_channel_stat_overview", body)
    if not isinstance(body["startDate"], str):
        assert answer["retCode"] == 1008007  # not a string at all
    else:
        assert answer["retCode"] == 1008016
    assert answer["errMsg"].startswith(field)


def test_thirty_days_back_can_be_asked(client, app):
    body = {"startDate": day(30), "endDate": day(30)}
    assert call(client, app, "statistics/get_push_channel_stat_overview", body)["retCode"] == 0


def test_a_missing_date_is_1008002(client, app):
    answer = call(client, app, "statistics/get_push_channel_stat_overview", {"endDate": TODAY})
    assert (answer["retCode"], answer["errMsg"]) == (1008002, "startDate: required")


# --------------------------------------------------------------------------------------------
# get_push_group_stat / get_push_group_stat_channel


def test_the_plan_aggregate_answers_as_tpns_documents(client, app, traffic):
    answer = call(
        client,
        app,
        "statistics/get_push_group_stat_channel",
        {"planId": "plan-a", "startDate": YESTERDAY, "endDate": TODAY},
    )
    assert (answer["retCode"], answer["errMsg"]) == (0, "NO_ERROR")
    assert set(answer) == {"retCode", "errMsg", "pushStatDataAll", "smsStat"}
    assert [r["channel"] for r in answer["pushStatDataAll"]] == ["xg", "hw", "all"]
    for row in answer["pushStatDataAll"]:
        assert set(row["pushState"]) == PUSH_STATE_KEYS
    # Both of today's pushes, not yesterday's (another group), not the outsider's.
    assert by_channel(answer["pushStatDataAll"])["all"]["pushActiveUv"] == 5


def test_both_names_of_the_plan_aggregate_answer_alike(client, app, traffic):
    body = {"planId": "plan-a", "startDate": TODAY, "endDate": TODAY}
    assert call(client, app, "statistics/get_push_group_stat", body) == call(
        client, app, "statistics/get_push_group_stat_channel", body
    )


def test_the_published_group_request_spelling_groupid(client, app, traffic):
    # TPNS's example sends "groupid" (the table says groupId): both work.
    for key in ("groupid", "groupId"):
        answer = call(
            client,
            app,
            "statistics/get_push_group_stat_channel",
            {key: "g-old", "startDate": YESTERDAY, "endDate": TODAY},
        )
        assert by_channel(answer["pushStatDataAll"])["all"]["pushActiveUv"] == 1


def test_plan_id_wins_over_group_id(client, app, traffic):
    answer = call(
        client,
        app,
        "statistics/get_push_group_stat",
        {"planId": "plan-a", "groupId": "g-old", "startDate": YESTERDAY, "endDate": TODAY},
    )
    assert by_channel(answer["pushStatDataAll"])["all"]["pushActiveUv"] == 5


def test_a_push_without_group_id_is_in_the_default_group_of_its_day(client, app, traffic):
    # TPNS: group_id defaults to tpns_yyyymmdd, the push's day.
    answer = call(
        client,
        app,
        "statistics/get_push_group_stat",
        {"groupId": f"tpns_{TODAY}", "startDate": YESTERDAY, "endDate": TODAY},
    )
    assert by_channel(answer["pushStatDataAll"])["all"]["pushActiveUv"] == 5


def test_a_plan_pushed_through_the_api_is_aggregated(client, app, devices):  # noqa: F811
    push_app(client, app, plan_id="weekly")
    push_app(client, app, plan_id="weekly", token_list=["tok-a"])
    push_app(client, app, plan_id="daily")
    answer = call(
        client,
        app,
        "statistics/get_push_group_stat",
        {"planId": "weekly", "startDate": TODAY, "endDate": TODAY},
    )
    assert by_channel(answer["pushStatDataAll"])["all"]["pushActiveUv"] == 4


def test_the_plan_aggregate_refuses_what_tpns_documents(client, app):
    path = "statistics/get_push_group_stat"
    answer = call(client, app, path, {"startDate": TODAY, "endDate": TODAY})
    assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008002, "planId")
    answer = call(client, app, path, {"planId": "p", "startDate": day(8), "endDate": TODAY})
    assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008016, "startDate")
    answer = call(client, app, path, {"planId": "p", "startDate": day(7), "endDate": TODAY})
    assert answer["retCode"] == 0  # seven days back


# --------------------------------------------------------------------------------------------
# get_device_stat_overview


def test_the_device_overview_answers_as_tpns_documents(client, app, personas):
    add_device(
        app, "old", created_at=NOW - timedelta(days=10), last_seen_at=NOW - timedelta(days=10)
    )
    for i in range(5):
        add_device(app, f"d{i}", created_at=NOW - timedelta(days=1), last_seen_at=NOW)
    add_device(outsider_app(personas), "d0", created_at=NOW - timedelta(days=1))
    answer = call(
        client,
        app,
        "statistics/get_device_stat_overview",
        {"startDate": day(2), "endDate": TODAY},
    )
    published = {
        "retCode": 0,
        "errMsg": "",
        "getDeviceStatOverviewData": [{"date": 20190724, "accuUv": 0, "newUv": 0, "activeUv": 0}],
    }
    assert shape(answer) == shape(published)
    assert answer["getDeviceStatOverviewData"] == [
        {"date": int(day(2)), "accuUv": 1, "newUv": 0, "activeUv": 0},
        {"date": int(day(1)), "accuUv": 6, "newUv": 5, "activeUv": 0},
        {"date": int(day(0)), "accuUv": 6, "newUv": 0, "activeUv": 5},
    ]


def test_the_device_overview_reaches_three_months_back(client, app):
    path = "statistics/get_device_stat_overview"
    ok = call(client, app, path, {"startDate": day(92), "endDate": day(92)})
    assert ok["retCode"] == 0
    old = call(client, app, path, {"startDate": day(93), "endDate": day(92)})
    assert old["retCode"] == 1008016


# --------------------------------------------------------------------------------------------
# get_device_distribute_info


def test_the_device_distribution_answers_as_tpns_documents(client, app, personas):
    for i in range(8):
        add_device(app, f"new{i}", sdk_version="1.3.3.3", created_at=NOW - timedelta(days=2))
    for i in range(2):
        add_device(app, f"old{i}", sdk_version="1.3.3.0", created_at=NOW - timedelta(days=2))
    add_device(app, "later", sdk_version="1.4.0.0", created_at=NOW)  # after the date asked
    add_device(outsider_app(personas), "new0", sdk_version="1.3.3.0")
    answer = call(
        client,
        app,
        "statistics/get_device_distribute_info",
        {"date": YESTERDAY, "type": "sdk_version"},
    )
    assert answer == {
        "retCode": 0,
        "errMsg": "",
        "data": [{"sdk_version": "1.3.3.3", "count": 8}, {"sdk_version": "1.3.3.0", "count": 2}],
    }


def test_the_distribution_by_system_version_reads_the_os_version(client, app):
    add_device(app, "a", os_version="Android 14")
    answer = call(
        client,
        app,
        "statistics/get_device_distribute_info",
        {"date": TODAY, "type": "system_version"},
    )
    assert answer["data"] == [{"system_version": "Android 14", "count": 1}]


def test_a_dimension_we_do_not_collect_is_empty(client, app):
    add_device(app, "a")
    answer = call(
        client, app, "statistics/get_device_distribute_info", {"date": TODAY, "type": "city"}
    )
    assert (answer["retCode"], answer["data"]) == (0, [])


def test_the_distribution_refuses_what_tpns_documents(client, app):
    path = "statistics/get_device_distribute_info"
    answer = call(client, app, path, {"date": TODAY, "type": "country"})
    assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008007, "type")
    answer = call(client, app, path, {"date": day(32), "type": "city"})
    assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008016, "date")
    answer = call(client, app, path, {"date": TODAY})
    assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008002, "type")


# --------------------------------------------------------------------------------------------
# toolbox/getPushListByToken


def test_the_token_tool_answers_as_tpns_documents(client, app, personas):
    device = add_device(app, "05a305f6b71abb3a6b8c759fd1bc56b4bb44")
    later = make_push(app, audience_type="tag", at=NOW - timedelta(minutes=5))
    earlier = make_push(app, audience_type="tag", at=NOW - timedelta(hours=2))
    yesterday = make_push(app, audience_type="tag", at=NOW - timedelta(days=1))
    for push in (later, earlier, yesterday):
        deliver(push, device)
    foreign = make_push(outsider_app(personas), audience_type="tag")
    deliver(foreign, add_device(foreign.application, "05a305f6b71abb3a6b8c759fd1bc56b4bb44"))

    answer = call(client, app, "toolbox/getPushListByToken", {"token": device.token})

    published = {
        "retCode": 0,
        "errMsg": "NO_ERROR",
        "pushTaskList": [
            {"pushId": 589840563, "pushTime": 1651662600, "pushTargetType": "TAG_PUSH"}
        ],
    }
    assert {k: shape(v) for k, v in answer.items() if k != "pushTaskList"} == {
        k: shape(v) for k, v in published.items() if k != "pushTaskList"
    }
    tasks = answer["pushTaskList"]
    assert [{k: t[k] for k in ("pushId", "pushTime", "pushTargetType")} for t in tasks] == [
        {"pushId": p.pk, "pushTime": int(p.send_at.timestamp()), "pushTargetType": "TAG_PUSH"}
        for p in (earlier, later)
    ]
    assert tasks[0]["smsStat"] == {"enabled": False}


def test_the_token_tool_shows_a_deliverys_sms_decision(client, app, sms_push, devices):  # noqa: F811
    tasks = call(client, app, "toolbox/getPushListByToken", {"token": "tok-c"})["pushTaskList"]
    assert tasks[0]["smsStat"] == {"enabled": True, "fallback": "decided", "outcome": "not_needed"}


def test_an_outsiders_token_does_not_exist_for_the_token_tool(client, app, other_app):
    add_device(app, "mine")
    for token in ("tok-x", "no-such-token", "x" * 37):
        answer = call(client, app, "toolbox/getPushListByToken", {"token": token})
        assert answer["retCode"] == 10110008, token
        assert answer["errMsg"].startswith("token")
    answer = call(client, app, "toolbox/getPushListByToken", {})
    assert answer["retCode"] == 1008002


# --------------------------------------------------------------------------------------------
# device/set_custom_attribute

TOKEN = "04cac74a714f61bf089987a986363d88abcd"


def attribute(client, app, body):
    return call(client, app, "device/set_custom_attribute", body)


def stored(device):
    return dict(DeviceAttribute.objects.filter(device=device).values_list("name", "value"))


def test_attributes_follow_tpns_published_examples(client, app):
    device = add_device(app, TOKEN)
    # Add three (the published "high" was refused there for not being in its console; here a
    # value over 50 bytes is what gets filtered).
    answer = attribute(
        client,
        app,
        {
            "cmd": 1,
            "token": TOKEN,
            "attributeInfo": {"attributeMap": {"age": "100", "name": "Ming", "high": "2" * 51}},
        },
    )
    assert answer == {"retCode": 0, "errMsg": "success", "invalidAttribute": ["high"]}
    assert stored(device) == {"age": "100", "name": "Ming"}

    update = {"cmd": 2, "token": TOKEN, "attributeInfo": {"attributeMap": {"name": "workman"}}}
    assert attribute(client, app, update) == {"retCode": 0, "errMsg": "success"}
    assert stored(device) == {"age": "100", "name": "workman"}

    query = attribute(client, app, {"cmd": 5, "token": TOKEN})
    assert query == {
        "retCode": 0,
        "errMsg": "success",
        "attributeInfo": {"attributeMap": {"age": "100", "name": "workman"}},
    }

    delete = {"cmd": 3, "token": TOKEN, "attributeInfo": {"attributeMap": {"name": "workman"}}}
    assert attribute(client, app, delete) == {"retCode": 0, "errMsg": "success"}
    assert stored(device) == {"age": "100"}

    assert attribute(client, app, {"cmd": 4, "token": TOKEN}) == {"retCode": 0, "errMsg": "success"}
    assert stored(device) == {}


def test_attributes_of_an_outsiders_token_are_out_of_reach(client, app, other_app):
    theirs = Device.objects.get(application=other_app, token="tok-x")
    DeviceAttribute.objects.create(device=theirs, application=other_app, name="n", value="v")
    for cmd in (1, 3, 4, 5):
        body = {"cmd": cmd, "token": "tok-x", "attributeInfo": {"attributeMap": {"n": "w"}}}
        answer = attribute(client, app, body)
        assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (1008006, "token")
    assert stored(theirs) == {"n": "v"}


def test_attribute_requests_tpns_refuses(client, app):
    add_device(app, TOKEN)
    cases = [
        ({"token": TOKEN}, 1008002, "cmd"),
        ({"cmd": 6, "token": TOKEN}, 1008007, "cmd"),
        ({"cmd": 5}, 1008002, "token"),
        ({"cmd": 1, "token": TOKEN}, 1008002, "attributeInfo"),
        ({"cmd": 1, "token": TOKEN, "attributeInfo": {}}, 1008002, "attributeInfo.attributeMap"),
        (
            {"cmd": 1, "token": TOKEN, "attributeInfo": {"attributeMap": ["a"]}},
            1008007,
            "attributeInfo.attributeMap",
        ),
    ]
    for body, code, field in cases:
        answer = attribute(client, app, body)
        assert (answer["retCode"], answer["errMsg"].split(":")[0]) == (code, field), body


def test_a_token_holds_at_most_a_hundred_attributes(client, app):
    device = add_device(app, TOKEN)
    many = {f"a{i}": "v" for i in range(99)}
    body = {"cmd": 1, "token": TOKEN, "attributeInfo": {"attributeMap": many}}
    assert attribute(client, app, body)["retCode"] == 0
    two = {"cmd": 1, "token": TOKEN, "attributeInfo": {"attributeMap": {"a0": "w", "b": "v"}}}
    assert attribute(client, app, two)["retCode"] == 0  # a0 overwritten: 100
    three = {"cmd": 1, "token": TOKEN, "attributeInfo": {"attributeMap": {"c": "v"}}}
    assert attribute(client, app, three)["retCode"] == 1008007
    assert len(stored(device)) == 100 and stored(device)["a0"] == "w"


def test_attribute_calls_are_not_counted_against_the_statistics_quota(client, app):
    add_device(app, TOKEN)
    attribute(client, app, {"cmd": 5, "token": TOKEN})
    assert not ApiCallCount.objects.exists()


# --------------------------------------------------------------------------------------------
# The statistics quota: 200 calls an hour per app, counted together


STATISTICS_CALLS = [
    (
        "statistics/get_push_record",
        {"startDate": day(fmt="%Y-%m-%d"), "endDate": day(fmt="%Y-%m-%d")},
    ),
    ("statistics/get_push_task_stat_channel", {"pushId": "1"}),
    ("statistics/get_push_channel_stat_overview", {"startDate": TODAY, "endDate": TODAY}),
    ("statistics/get_push_stat_overview", {"startDate": TODAY, "endDate": TODAY}),
    ("statistics/get_push_group_stat", {"planId": "p", "startDate": TODAY, "endDate": TODAY}),
    (
        "statistics/get_push_group_stat_channel",
        {"planId": "p", "startDate": TODAY, "endDate": TODAY},
    ),
    ("statistics/get_device_stat_overview", {"startDate": TODAY, "endDate": TODAY}),
    ("statistics/get_device_distribute_info", {"date": TODAY, "type": "app_version"}),
    ("toolbox/getPushListByToken", {"token": "tok-q"}),
]


def spend(app, calls, window=NOW):
    ApiCallCount.objects.create(
        application=app, family=quota.STATISTICS, window_start=quota.window_of(window), calls=calls
    )


def calls_counted(app):
    return list(ApiCallCount.objects.filter(application=app).values_list("window_start", "calls"))


def test_the_201st_statistics_call_of_an_hour_is_1008028_and_the_next_hour_is_fine(
    client, app, monkeypatch
):
    add_device(app, "tok-q")
    path, body = STATISTICS_CALLS[2]
    for _ in range(200):
        assert call(client, app, path, body)["retCode"] == 0
    response = tpns(client, app, path, body)
    answer = response.json()
    assert response.status_code == 200  # TPNS answers refusals with 200
    assert answer["retCode"] == 1008028
    assert "200 calls an hour" in answer["errMsg"]
    assert response.headers["Retry-After"] == str(30 * 60)
    assert calls_counted(app) == [(HOUR, 200)]

    set_clock(monkeypatch, (NOW + timedelta(minutes=29, seconds=59)).timestamp())
    assert call(client, app, path, body)["retCode"] == 1008028
    set_clock(monkeypatch, (NOW + timedelta(minutes=30)).timestamp())  # 13:00 Beijing
    assert call(client, app, path, body)["retCode"] == 0


@pytest.mark.parametrize(("path", "body"), STATISTICS_CALLS)
def test_every_statistics_api_counts_and_is_refused_over_the_quota(client, app, path, body):
    add_device(app, "tok-q")
    spend(app, 199)
    assert call(client, app, path, body)["retCode"] != 1008028
    answer = call(client, app, path, body)
    assert (answer["retCode"], set(answer)) == (1008028, {"retCode", "errMsg"})
    assert calls_counted(app)[0][1] == 200


def test_a_call_refused_for_the_quota_writes_nothing(client, app):
    add_device(app, TOKEN)
    spend(app, 200)
    before = (Push.objects.count(), ApiCallCount.objects.get().calls)
    answer = call(client, app, "statistics/get_push_record", {"pushId": "1"})
    assert answer["retCode"] == 1008028
    assert (Push.objects.count(), ApiCallCount.objects.get().calls) == before


def test_the_quota_is_per_app(client, app, personas):
    other = outsider_app(personas)
    spend(app, 200)
    body = {"startDate": TODAY, "endDate": TODAY}
    assert call(client, app, "statistics/get_device_stat_overview", body)["retCode"] == 1008028
    assert call(client, other, "statistics/get_device_stat_overview", body)["retCode"] == 0


def test_a_failed_authentication_is_not_counted(client, app):
    body = {"startDate": TODAY, "endDate": TODAY}
    answer = tpns(client, app, "statistics/get_device_stat_overview", body, secret="wrong").json()
    assert answer["retCode"] == 1008003
    assert not ApiCallCount.objects.exists()


@pytest.mark.postgres  # real concurrent writers: SQLite serialises them by refusing
@pytest.mark.django_db(transaction=True)
def test_two_callers_at_the_edge_never_pass_200_between_them(personas, app):
    spend(app, 190)
    body = {"startDate": TODAY, "endDate": TODAY}

    def one(_):
        return call(Client(), app, "statistics/get_device_stat_overview", body)["retCode"]

    codes = run_concurrently(20, one)
    assert sorted(codes) == [0] * 10 + [1008028] * 10
    assert ApiCallCount.objects.get().calls == 200


@pytest.mark.postgres  # real concurrent writers: SQLite serialises them by refusing
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_calls_of_an_hour_make_one_window(personas, app):
    codes = run_concurrently(8, lambda _: quota.charge(app, quota.STATISTICS, NOW))
    assert sorted(codes) == list(range(1, 9))
    assert calls_counted(app) == [(HOUR, 8)]
