"""POST /v3/statistics/get_push_record and /v3/statistics/get_push_task_stat_channel: TPNS's
record fields plus the delivery funnel and the supplementary-SMS figures TPNS never had."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from push import fallback, stats
from push.models import Delivery, Push
from push.sms_source import PUSH_DELIVERY
from sms.models import SmsMessage
from tests.push.conftest import add_device, outsider_app, set_clock
from tests.push.test_tpns_auth import tpns


def stat(client, app, path, data):
    return tpns(client, app, f"statistics/{path}", data).json()


def push_app(client, app, **changes):
    data = {
        "audience_type": "token_list",
        "token_list": ["tok-a", "tok-b", "tok-c"],
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
        **changes,
    }
    answer = tpns(client, app, "push/app", data).json()
    assert answer["ret_code"] == 0, answer
    return Push.objects.get(pk=answer["push_id"])


@pytest.fixture
def devices(app):
    return {
        "a": add_device(app, "tok-a", phone="+8613711110001"),
        "b": add_device(app, "tok-b", phone="+8613711110002"),
        "c": add_device(app, "tok-c"),
    }


@pytest.fixture
def foreign_push(personas):
    """Another account's push, created inside the window the listing tests ask for (2030-01-01
    12:00 Beijing time), so only the application filter keeps it out."""
    other = outsider_app(personas)
    add_device(other, "tok-x")
    return Push.objects.create(
        application=other,
        audience_type="token_list",
        audience={"token_list": ["tok-x"]},
        message_type="notify",
        title="secret",
        content="not yours",
        created_at=datetime(2030, 1, 1, 4, tzinfo=UTC),
    )


@pytest.fixture
def sms_push(client, app, devices, sms):
    """An SMS-backed push decided by the real sweep: tok-c arrived and was clicked (no SMS
    needed); tok-a and tok-b did not arrive, and the budget of one SMS lets only one through.
    The SMS sent is then reported delivered."""
    push = push_app(
        client,
        app,
        resend_by_sms=True,
        sms_info={
            "delay_trigger_time": 300,
            "trigger_condition": 1,
            "sms_app_id": "1400006666",
            "sms_template_id": "449739",
            "sms_template_params": ["报销单 42", "明天"],
            "max_sms": 1,
        },
    )
    Delivery.objects.filter(push=push, device=devices["c"]).update(
        arrived_at=timezone.now(), clicked_at=timezone.now()
    )
    fallback.sweep(push.deliveries.first().sms_due_at + timedelta(seconds=1))
    SmsMessage.objects.filter(source_type=PUSH_DELIVERY).update(state=SmsMessage.State.DELIVERED)
    return push


def test_a_push_record_has_tpns_fields_the_funnel_and_the_sms_figures(client, app, sms_push):
    answer = stat(client, app, "get_push_record", {"pushId": sms_push.push_id})

    assert (answer["retCode"], answer["errMsg"]) == (0, "NO_ERROR")
    [record] = answer["pushRecordData"]
    assert record["pushId"] == sms_push.push_id
    beijing = sms_push.send_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert record["date"] == beijing.strftime("%Y-%m-%d %H:%M:%S")
    assert (record["title"], record["content"]) == ("Approval", "Expense report 42 waits for you")
    assert (record["status"], record["pushType"], record["messageType"]) == (
        "PUSH_FINISHED",
        "token_list",
        "notify",
    )
    assert (record["expireTime"], record["multiPkg"], record["source"]) == (86400, False, "api")
    assert record["targetList"] == ["tok-a", "tok-b", "tok-c"]
    assert record["pushConfig"]["sms_info"]["max_sms"] == 1
    assert record["pushStat"] == {
        "targets": 3,
        "sent": 3,
        "arrived": 1,
        "clicked": 1,
        "dismissed": 0,
        "expired": 0,
        "failed": 0,
        "notifications_disabled": 0,
    }
    sms = record["smsStat"]
    assert (sms["enabled"], sms["triggerCondition"], sms["delayTriggerTime"]) == (True, 1, 300)
    assert (sms["due"], sms["waiting"], sms["decided"]) == (3, 0, 3)
    assert sms["outcomes"]["sent"] == 1
    assert sms["outcomes"]["not_needed"] == 1
    assert (sms["blocked"], sms["blockedByReason"]) == (1, {"budget_exhausted": 1})
    assert (sms["sent"], sms["delivered"], sms["failed"], sms["unknown"]) == (1, 1, 0, 0)
    assert sms["fee"] == 1


def test_a_push_without_sms_says_so(client, app, devices):
    push = push_app(client, app)

    [record] = stat(client, app, "get_push_record", {"pushId": int(push.push_id)})["pushRecordData"]

    assert record["smsStat"] == {"enabled": False}
    assert record["pushStat"]["targets"] == 3


def test_the_channel_statistics_come_from_the_funnel(client, app, devices):
    push = push_app(client, app)
    Delivery.objects.filter(push=push, device__token="tok-a").update(
        arrived_at=timezone.now(), clicked_at=timezone.now()
    )
    Delivery.objects.filter(push=push, device__token="tok-b").update(
        arrived_at=timezone.now(), dismissed_at=timezone.now()
    )

    answer = stat(client, app, "get_push_task_stat_channel", {"pushId": push.push_id})

    # TPNS's Android pushState (its doc's example, "all" last), callbackVerifySvcUv being
    # the vendors' receipts: none on our own channel.
    state = {
        "pushActiveUv": 3,
        "pushOnlineUv": 3,
        "arrivalUv": 2,
        "verifySvcUv": 2,
        "clickUv": 1,
        "cleanupUv": 1,
        "callbackVerifySvcUv": 0,
        "verifyUv": 2,
    }
    assert answer == {
        "retCode": 0,
        "errMsg": "NO_ERROR",
        "pushStatDataAll": [
            {"channel": "xg", "pushState": state},
            {"channel": "all", "pushState": {**state, "callbackVerifySvcUv": 2}},
        ],
    }


BEIJING_TIMES = [
    # (Beijing time of creation, audience, message_type)
    ("2030-01-01 00:10:00", "token_list", "notify"),
    ("2030-01-01 23:50:00", "all", "message"),
    ("2030-01-02 12:00:00", "token_list", "notify"),
    ("2030-01-03 09:00:00", "all", "notify"),
]


@pytest.fixture
def history(client, app, devices, monkeypatch):
    pushes = []
    for when, audience_type, message_type in BEIJING_TIMES:
        moment = datetime.strptime(when, "%Y-%m-%d %H:%M:%S") - timedelta(hours=8)
        set_clock(monkeypatch, moment.replace(tzinfo=UTC).timestamp())
        pushes.append(push_app(client, app, audience_type=audience_type, message_type=message_type))
    return pushes


def test_records_are_listed_by_beijing_day_newest_first(client, app, history, foreign_push):
    answer = stat(
        client,
        app,
        "get_push_record",
        {"startDate": "2030-01-01", "endDate": "2030-01-02", "offset": 0, "limit": 200},
    )

    assert answer["count"] == 3
    assert [r["pushId"] for r in answer["pushRecordData"]] == [
        history[2].push_id,
        history[1].push_id,
        history[0].push_id,
    ]
    assert answer["pushRecordData"][1]["date"] == "2030-01-01 23:50:00"


def test_the_record_list_reads_the_stored_figures_of_a_large_push(
    client, app, history, monkeypatch
):
    monkeypatch.setattr(stats, "LIVE_LIMIT", 1)
    large, not_stored = history[2], history[0]  # three targets each: both "large"
    stats.store([large])
    Delivery.objects.filter(push__in=[large, not_stored]).update(arrived_at=timezone.now())

    answer = stat(
        client,
        app,
        "get_push_record",
        {"startDate": "2030-01-01", "endDate": "2030-01-02", "offset": 0, "limit": 200},
    )

    arrived = {r["pushId"]: r["pushStat"]["arrived"] for r in answer["pushRecordData"]}
    assert arrived[large.push_id] == 0  # the stored figures, as the single-push record
    assert arrived[not_stored.push_id] == 3  # nothing stored: counted live
    single = stat(client, app, "get_push_record", {"pushId": large.push_id})
    assert single["pushRecordData"][0]["pushStat"]["arrived"] == 0


def test_records_page_and_filter(client, app, history):
    page = stat(
        client,
        app,
        "get_push_record",
        {"startDate": "2030-01-01", "endDate": "2030-01-03", "offset": 1, "limit": 2},
    )
    notify_all = stat(
        client,
        app,
        "get_push_record",
        {
            "startDate": "2030-01-01",
            "endDate": "2030-01-03",
            "msgType": "notify",
            "pushType": "all",
        },
    )

    assert page["count"] == 4
    assert [r["pushId"] for r in page["pushRecordData"]] == [history[2].push_id, history[1].push_id]
    assert [r["pushId"] for r in notify_all["pushRecordData"]] == [history[3].push_id]


@pytest.mark.parametrize(
    "data, ret_code, err_msg",
    [
        ({}, 1008002, "startDate: required"),
        ({"startDate": "2030-01-01"}, 1008002, "endDate: required"),
        (
            {"startDate": "2030/01/01", "endDate": "2030-01-02"},
            1008016,
            "startDate: must be YYYY-MM-DD; got '2030/01/01'",
        ),
        ({"startDate": "2030-01-02", "endDate": "2030-01-01"}, 1008016, "endDate: is before"),
        (
            {"startDate": "2030-01-01", "endDate": "2030-01-02", "limit": 201},
            1008007,
            "limit: must be at most 200",
        ),
        (
            {"startDate": "2030-01-01", "endDate": "2030-01-02", "offset": -1},
            1008007,
            "offset: must be at least 0",
        ),
        (
            {"startDate": "2030-01-01", "endDate": "2030-01-02", "pushType": "sms"},
            1008007,
            "pushType: must be one of",
        ),
        ({"pushId": "abc"}, 1008015, "pushId: push 'abc' does not exist"),
        ({"pushId": "999999999"}, 1008015, "pushId: push 999999999 does not exist"),
    ],
)
def test_a_bad_record_query_is_refused(client, app, data, ret_code, err_msg):
    answer = stat(client, app, "get_push_record", data)

    assert answer["retCode"] == ret_code
    assert answer["errMsg"].startswith(err_msg)


@pytest.mark.parametrize("path", ["get_push_record", "get_push_task_stat_channel"])
def test_another_apps_push_does_not_exist(client, app, foreign_push, path):
    answer = stat(client, app, path, {"pushId": foreign_push.push_id})

    assert answer == {
        "retCode": 1008015,
        "errMsg": f"pushId: push {foreign_push.pk} does not exist",
    }


def test_the_channel_statistics_need_a_push_id(client, app):
    assert stat(client, app, "get_push_task_stat_channel", {}) == {
        "retCode": 1008002,
        "errMsg": "pushId: required",
    }
