"""POST /v3/push/app: every validation path with its ret_code, audiences, scheduling, the
supplementary-SMS fields, idempotency keys, the 1-per-second limit, and app isolation."""

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from push import fanout
from push.models import Application, Delivery, DeviceAccount, Push
from push.tpns import submit
from sms.models import Signature, SmsApplication, Template
from tests.conftest import basic_auth as basic
from tests.push.conftest import add_device
from tests.push.test_tpns_auth import tpns

DROP = object()

# Copied unchanged from TPNS's "Supplementary SMS Push" page (shared/seed): the body a
# customer's server sends today must be accepted as it is.
SEED_BODY = """{
    "resend_by_sms": true,
    "sms_info": {
    "delay_trigger_time": 3600,
    "trigger_condition": 1,
    "sms_sign_name": "signe_name",
    "sms_template_id": "123",
    "sms_template_params": [
    "param1",
    "param2"
    ],
    "sms_app_id": "appId"
    },
    "audience_type": "token_list",
    "message": {
    "title": " test loop",
    "content": "test loop"
    },
    "token_list": ["025ae31e59b3**********a5866354b3","06dee08efed***********31ef23bba"],
    "message_type": "notify",
    "multi_pkg": true
    }"""
SEED_TOKENS = ["025ae31e59b3**********a5866354b3", "06dee08efed***********31ef23bba"]

SMS_INFO = {
    "delay_trigger_time": 600,
    "trigger_condition": 1,
    "sms_template_id": "449739",
    "sms_app_id": "1400006666",
    "sms_template_params": ["报销单 42", "明天"],
}


def body(**changes) -> dict:
    """A valid token_list push, with top-level fields changed (DROP removes one)."""
    data = {
        "audience_type": "token_list",
        "token_list": ["tok-a"],
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
    }
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def message(**changes) -> dict:
    m = {"title": "Approval", "content": "Expense report 42 waits for you"}
    for key, value in changes.items():
        if value is DROP:
            m.pop(key)
        else:
            m[key] = value
    return m


def sms_info(**changes) -> dict:
    info = copy.deepcopy(SMS_INFO)
    for key, value in changes.items():
        if value is DROP:
            info.pop(key)
        else:
            info[key] = value
    return info


def push_app(client, app, data, **kwargs):
    return tpns(client, app, "push/app", data, **kwargs).json()


@pytest.fixture
def devices(app):
    return {
        "a": add_device(app, "tok-a", tags=["vip", "beijing"], phone="+8613711110001"),
        "b": add_device(app, "tok-b", tags=["vip"], app_version="2.0"),
        "c": add_device(app, "tok-c", tags=["beijing"]),
    }


@pytest.fixture
def foreign_sms(personas, sms, reviewer):
    """An SdkAppId of another account, and a template of ours still pending review."""
    SmsApplication.objects.create(account=personas.outsider_account, sdk_app_id="1400009999")
    Template.objects.create(account=personas.org, code="777", name="Pending", content="待审批：{1}")


def tokens_of(push_id):
    return set(Delivery.objects.filter(push_id=push_id).values_list("device__token", flat=True))


# --------------------------------------------------------------------------------------------
# Validation: every path, its ret_code and the field it names; nothing is written.

INVALID_BODIES = [
    ("missing audience_type", body(audience_type=DROP), 1008002, "audience_type: required"),
    ("bad audience_type", body(audience_type="everyone"), 1008007, "audience_type: must be one"),
    (
        "package push of no package",
        body(audience_type="package_account_push", upload_id=1),
        1008007,
        "upload_id: package 1 does not exist",
    ),
    ("missing message_type", body(message_type=DROP), 1008002, "message_type: required"),
    ("bad message_type", body(message_type="sms"), 1008007, "message_type: must be one of"),
    ("missing message", body(message=DROP), 1008002, "message: required"),
    ("message not an object", body(message="hi"), 1008007, "message: must be an object"),
    ("missing title", body(message=message(title=DROP)), 1008002, "message.title: required"),
    ("empty title", body(message=message(title=" ")), 1008002, "message.title: required"),
    ("missing content", body(message=message(content=DROP)), 1008002, "message.content: req"),
    ("title not a string", body(message=message(title=1)), 1008007, "message.title: must be a s"),
    (
        "message over 4 KB",
        body(message=message(content="好" * 1400)),
        1008007,
        "message: at most 4096 bytes as JSON",
    ),
    (
        "accept_time hour 24",
        body(message=message(accept_time=[{"start": {"hour": "24", "min": "00"}, "end": {}}])),
        1008007,
        "message.accept_time[0].start.hour: must be at most 23",
    ),
    (
        "browser action without url",
        body(message=message(android={"action": {"action_type": 2}})),
        1008002,
        "message.android.action.browser: required",
    ),
    (
        "custom_content not a JSON string",
        body(message=message(android={"custom_content": {"k": "v"}})),
        1008007,
        "message.android.custom_content: must be a string",
    ),
    (
        "custom_content not JSON",
        body(message=message(android={"custom_content": "k=v"})),
        1008007,
        "message.android.custom_content: must be a JSON object serialised to a string",
    ),
    ("missing token_list", body(token_list=DROP), 1008002, "token_list: required"),
    ("empty token_list", body(token_list=[]), 1008002, "token_list: required"),
    (
        "token_list over 1000",
        body(token_list=[f"t{i}" for i in range(1001)]),
        1008007,
        "token_list: at most 1000 items; got 1001",
    ),
    ("token not a string", body(token_list=[7]), 1008007, "token_list[0]: must be a string"),
    (
        "account_list over 1000",
        body(audience_type="account_list", account_list=[f"a{i}" for i in range(1001)]),
        1008007,
        "account_list: at most 1000 items; got 1001",
    ),
    (
        "missing account_list",
        body(audience_type="account"),
        1008002,
        "account_list: required",
    ),
    ("account_push_type 2", body(account_push_type=2), 1008007, "account_push_type: must be one"),
    ("account_type text", body(account_type="0"), 1008007, "account_type: must be an integer"),
    ("expire_time over 72 h", body(expire_time=259201), 1008007, "expire_time: must be at most"),
    ("negative expire_time", body(expire_time=-1), 1008007, "expire_time: must be at least 0"),
    ("expire_time as text", body(expire_time="800"), 1008007, "expire_time: must be an integer"),
    (
        "send_time malformed",
        body(audience_type="all", send_time="2030/01/01 10:00"),
        1008007,
        "send_time: must be yyyy-MM-DD HH:MM:SS (Beijing time)",
    ),
    (
        "send_time over 90 days ahead",
        body(audience_type="all", send_time="2099-01-01 10:00:00"),
        1008007,
        "send_time: at most 90 days ahead",
    ),
    (
        "send_time with a token audience",
        body(send_time="2030-01-01 10:00:00"),
        1008007,
        "send_time: only all, tag and package pushes can be scheduled",
    ),
    ("seq not a number", body(seq="7"), 1008007, "seq: must be an integer"),
    ("missing tag rules", body(audience_type="tag"), 1008002, "tag_rules: required"),
    (
        "unsupported tag type",
        body(
            audience_type="tag",
            tag_rules=[{"tag_items": [{"tags": ["gd"], "tag_type": "xg_auto_province"}]}],
        ),
        1008007,
        "tag_rules[0].tag_items[0].tag_type: 'xg_auto_province' is not supported",
    ),
    (
        "bad tag operator",
        body(audience_type="tag", tag_rules=[{"operator": "XOR", "tag_items": [{"tags": ["x"]}]}]),
        1008007,
        "tag_rules[0].operator: must be AND or OR",
    ),
    (
        "tag item without tags",
        body(audience_type="tag", tag_rules=[{"tag_items": [{"tags": []}]}]),
        1008002,
        "tag_rules[0].tag_items[0].tags: required",
    ),
    (
        "legacy tag_list over 512 characters",
        body(audience_type="tag", tag_list={"tags": ["x" * 300, "y" * 300], "op": "OR"}),
        1008007,
        "tag_list.tags: at most 512 characters",
    ),
    ("multi_pkg as text", body(multi_pkg="true"), 1008007, "multi_pkg: must be true or false"),
    ("push_speed too low", body(push_speed=10), 1008007, "push_speed: must be at least 1000"),
    (
        "unknown channel",
        body(channel_rules=[{"channel": "sms", "disable": True}]),
        1008007,
        "channel_rules[0].channel: must be one of",
    ),
    ("ignore_invalid_token 2", body(ignore_invalid_token=2), 1008007, "ignore_invalid_token: m"),
    (
        "loop_param on a token push",
        body(loop_param={"startDate": "2030-01-01"}),
        1008007,
        "loop_param: only all, tag and package pushes can loop",
    ),
    (
        "loop_param without dayTimes",
        body(
            audience_type="all",
            loop_param={
                "startDate": "2030-01-01",
                "endDate": "2030-01-07",
                "loopType": 1,
                "loopDayIndexs": [0],
            },
        ),
        1008002,
        "loop_param.dayTimes: required",
    ),
    (
        "resend_by_sms without sms_info",
        body(resend_by_sms=True),
        1008002,
        "sms_info: required when resend_by_sms is true",
    ),
    ("resend_by_sms as text", body(resend_by_sms="true"), 1008007, "resend_by_sms: must be true"),
    (
        "delay 299",
        body(resend_by_sms=True, sms_info=sms_info(delay_trigger_time=299)),
        1008007,
        "sms_info.delay_trigger_time: must be at least 300",
    ),
    (
        "delay beyond expire_time",
        body(expire_time=1000, resend_by_sms=True, sms_info=sms_info(delay_trigger_time=1200)),
        1008007,
        "sms_info.delay_trigger_time: must be at most the message's expire_time (1000)",
    ),
    (
        "delay with a real-time push",
        body(expire_time=0, resend_by_sms=True, sms_info=sms_info(delay_trigger_time=300)),
        1008007,
        "sms_info.delay_trigger_time: must be at most the message's expire_time (0)",
    ),
    (
        "missing delay",
        body(resend_by_sms=True, sms_info=sms_info(delay_trigger_time=DROP)),
        1008002,
        "sms_info.delay_trigger_time: required",
    ),
    (
        "trigger 3",
        body(resend_by_sms=True, sms_info=sms_info(trigger_condition=3)),
        1008007,
        "sms_info.trigger_condition: must be one of 0, 1, 2; got 3",
    ),
    (
        "missing template id",
        body(resend_by_sms=True, sms_info=sms_info(sms_template_id=DROP)),
        1008002,
        "sms_info.sms_template_id: required",
    ),
    (
        "missing SMS app id",
        body(resend_by_sms=True, sms_info=sms_info(sms_app_id=DROP)),
        1008002,
        "sms_info.sms_app_id: required",
    ),
    (
        "another account's SdkAppId",
        body(resend_by_sms=True, sms_info=sms_info(sms_app_id="1400009999")),
        1008007,
        "sms_info.sms_app_id: '1400009999' is not an SMS application of this account",
    ),
    (
        "unknown template",
        body(resend_by_sms=True, sms_info=sms_info(sms_template_id="404")),
        1008007,
        "sms_info.sms_template_id: '404' is not a template of this account",
    ),
    (
        "unapproved template",
        body(
            resend_by_sms=True, sms_info=sms_info(sms_template_id="777", sms_template_params=["x"])
        ),
        1008007,
        "sms_info.sms_template_id: template 777 is pending review, not approved",
    ),
    (
        "wrong parameter count",
        body(resend_by_sms=True, sms_info=sms_info(sms_template_params=["only one"])),
        1008007,
        "sms_info.sms_template_params: template 449739 takes 2 parameter(s); got 1",
    ),
    (
        "parameters not strings",
        body(resend_by_sms=True, sms_info=sms_info(sms_template_params=[1, 2])),
        1008007,
        "sms_info.sms_template_params[0]: must be a string",
    ),
    (
        "unapproved signature",
        body(resend_by_sms=True, sms_info=sms_info(sms_sign_name="无此签名")),
        1008007,
        "sms_info.sms_sign_name: '无此签名' is not an approved mainland signature",
    ),
    (
        "max_sms 0",
        body(resend_by_sms=True, sms_info=sms_info(max_sms=0)),
        1008007,
        "sms_info.max_sms: must be at least 1",
    ),
]


@pytest.mark.parametrize(
    "data, ret_code, err_msg",
    [case[1:] for case in INVALID_BODIES],
    ids=[case[0] for case in INVALID_BODIES],
)
def test_an_invalid_push_is_refused_naming_the_field_and_nothing_is_written(
    client, app, devices, foreign_sms, data, ret_code, err_msg
):
    response = tpns(client, app, "push/app", data)

    assert response.status_code == 200  # TPNS clients read ret_code from a 200 answer
    answer = response.json()
    assert answer["ret_code"] == ret_code, answer
    assert answer["err_msg"].startswith(err_msg), answer["err_msg"]
    assert answer["seq"] == 0
    assert not Push.objects.exists() and not Delivery.objects.exists()


@pytest.mark.parametrize(
    "raw, err_msg",
    [
        (b"", "the request body is not valid JSON"),
        (b"{not json", "the request body is not valid JSON"),
        (b'{"expire_time": NaN}', "the request body is not valid JSON"),
        (b"[1, 2]", "the request body must be a JSON object"),
        (b'"text"', "the request body must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_1008001(client, app, raw, err_msg):
    answer = push_app(client, app, raw)

    assert (answer["ret_code"], answer["err_msg"]) == (1008001, err_msg)
    assert not Push.objects.exists()


def test_seq_is_echoed_on_success_and_on_error(client, app, devices):
    assert push_app(client, app, body(seq=4242))["seq"] == 4242
    assert push_app(client, app, body(seq=77, message=DROP)) == {
        "seq": 77,
        "ret_code": 1008002,
        "err_msg": "message: required",
    }
    assert push_app(client, app, body(seq=DROP))["seq"] == 0


def test_an_accepted_push_answers_in_tpns_shape(client, app, devices):
    answer = push_app(client, app, body())

    push = Push.objects.get()
    assert answer == {
        "seq": 0,
        "push_id": str(push.pk),
        "ret_code": 0,
        "err_msg": "NO_ERROR",
        "environment": "product",  # TPNS's example answer of an Android push
        "result": "[0]",
    }
    assert (push.status, push.targets, push.expire_time) == ("PUSH_FINISHED", 1, 86400)


@pytest.mark.parametrize(
    "given, stored", [(500, 800), (1, 800), (0, 0), (800, 800), (259200, 259200)]
)
def test_expire_time_follows_tpns_rules(client, app, devices, given, stored):
    push_app(client, app, body(expire_time=given))

    assert Push.objects.get().expire_time == stored


def test_a_java_sdk_style_body_is_accepted(client, app, devices):
    """The official Java SDK sends empty lists, environment and legacy fields with every push."""
    data = {
        "audience_type": "all",
        "platform": "all",
        "message_type": "notify",
        "message": {"title": "t", "content": "c", "android": {"n_id": 0, "builder_id": 0}},
        "expire_time": 259200,
        "multi_pkg": False,
        "loop_times": 0,
        "loop_interval": 0,
        "environment": "product",
        "seq": 0,
        "account_list": [],
        "account_type": 0,
        "token_list": [],
    }

    answer = push_app(client, app, data)

    assert answer["ret_code"] == 0, answer
    assert Push.objects.get().options == {"multi_pkg": False}


# --------------------------------------------------------------------------------------------
# Scheduling (Beijing time)


def test_a_send_time_is_beijing_time_and_schedules_the_push(client, app, devices, clock):
    now = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    clock(now.timestamp())

    answer = push_app(client, app, body(audience_type="all", send_time="2030-01-01 10:30:00"))

    push = Push.objects.get(pk=answer["push_id"])
    assert push.status == "PUSH_WAIT"
    assert push.send_at == datetime(2030, 1, 1, 2, 30, tzinfo=UTC)
    assert push.options["send_time"] == "2030-01-01 10:30:00"


def test_a_past_send_time_means_now(client, app, devices, clock):
    now = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    clock(now.timestamp())

    answer = push_app(client, app, body(audience_type="all", send_time="2030-01-01 07:59:59"))

    push = Push.objects.get(pk=answer["push_id"])
    assert (push.status, push.send_at) == ("PUSH_INIT", now)


def test_a_send_time_89_days_ahead_is_accepted(client, app, devices, clock):
    clock(datetime(2030, 1, 1, tzinfo=UTC).timestamp())

    answer = push_app(client, app, body(audience_type="all", send_time="2030-03-31 08:00:00"))

    assert answer["ret_code"] == 0


# --------------------------------------------------------------------------------------------
# Invalid tokens


def test_an_unknown_token_fails_the_whole_call_naming_it(client, app, devices):
    answer = push_app(client, app, body(token_list=["tok-a", "nope"]))

    assert answer["ret_code"] == 1008029
    assert "'nope'" in answer["err_msg"] and "'tok-a'" not in answer["err_msg"]
    assert not Push.objects.exists() and not Delivery.objects.exists()


def test_ignore_invalid_token_skips_them_and_lists_them(client, app, devices):
    too_long = "x" * 37
    answer = push_app(
        client, app, body(token_list=["tok-a", "nope", too_long], ignore_invalid_token=1)
    )

    assert answer["ret_code"] == 0
    assert answer["invalid_targe_list"] == ["nope", too_long]
    assert tokens_of(answer["push_id"]) == {"tok-a"}
    assert Push.objects.get().invalid_targets == ["nope", too_long]


def test_ignore_invalid_token_with_no_valid_token_left_fails(client, app, devices):
    answer = push_app(client, app, body(token_list=["nope"], ignore_invalid_token=1))

    assert answer["ret_code"] == 1008029
    assert answer["err_msg"] == "token_list: none of the tokens is a device of this app: 'nope'"
    assert not Push.objects.exists()


# --------------------------------------------------------------------------------------------
# iOS


@pytest.fixture
def ios_app(personas):
    ios, secret = Application.objects.create_for(personas.org, name="Acme iOS", platform="ios")
    ios.test_secret = secret
    add_device(ios, "ios-1")
    return ios


def test_an_ios_push_needs_an_environment(client, ios_app):
    data = body(token_list=["ios-1"])

    assert push_app(client, ios_app, data) == {
        "seq": 0,
        "ret_code": 1008002,
        "err_msg": "environment: required",
    }
    assert push_app(client, ios_app, {**data, "environment": "prod"})["ret_code"] == 1008007
    answer = push_app(client, ios_app, {**data, "environment": "dev"})
    assert (answer["ret_code"], answer["environment"]) == (0, "dev")
    assert Push.objects.get().environment == "dev"


def test_an_ios_silent_message_needs_no_title(client, ios_app):
    data = body(
        token_list=["ios-1"],
        environment="product",
        message_type="message",
        message={"ios": {"aps": {"content-available": 1}, "custom_content": '{"k":"v"}'}},
    )

    assert push_app(client, ios_app, data)["ret_code"] == 0


def test_content_available_cannot_go_with_a_notification(client, ios_app):
    data = body(
        token_list=["ios-1"],
        environment="product",
        message=message(ios={"aps": {"content-available": 1}}),
    )

    answer = push_app(client, ios_app, data)

    assert answer["ret_code"] == 1008007
    assert answer["err_msg"].startswith("message.ios.aps.content-available:")


# --------------------------------------------------------------------------------------------
# Audiences resolved through the API


def test_a_token_push_uses_only_the_first_token(client, app, devices):
    answer = push_app(client, app, body(audience_type="token", token_list=["tok-b", "tok-c"]))

    assert tokens_of(answer["push_id"]) == {"tok-b"}


def test_a_token_list_push_reaches_each_listed_device_once(client, app, devices):
    answer = push_app(client, app, body(token_list=["tok-b", "tok-c", "tok-b"]))

    assert tokens_of(answer["push_id"]) == {"tok-b", "tok-c"}
    assert Push.objects.get().targets == 2


def test_an_account_push_matches_the_account_of_the_given_type(client, app, devices):
    DeviceAccount.objects.create(device=devices["b"], application=app, account="alice")
    DeviceAccount.objects.create(
        device=devices["c"], application=app, account_type=1, account="alice"
    )

    default_type = push_app(client, app, body(audience_type="account", account_list=["alice"]))
    type_1 = push_app(
        client, app, body(audience_type="account", account_list=["alice"], account_type=1)
    )
    phone = push_app(
        client,
        app,
        body(audience_type="account_list", account_list=["13711110001"], account_type=1002),
    )

    assert tokens_of(default_type["push_id"]) == {"tok-b"}
    assert tokens_of(type_1["push_id"]) == {"tok-c"}
    assert tokens_of(phone["push_id"]) == {"tok-a"}  # the number is matched in E.164


def test_account_push_type_1_reaches_every_device_of_the_account(client, app, devices):
    for key in ("a", "b"):
        DeviceAccount.objects.create(device=devices[key], application=app, account="bob")

    latest = push_app(client, app, body(audience_type="account_list", account_list=["bob"]))
    every = push_app(
        client,
        app,
        body(audience_type="account_list", account_list=["bob"], account_push_type=1),
    )

    assert len(tokens_of(latest["push_id"])) == 1
    assert tokens_of(every["push_id"]) == {"tok-a", "tok-b"}


@pytest.mark.parametrize(
    "audience, expected",
    [
        (
            {"tag_rules": [{"tag_items": [{"tags": ["vip", "beijing"], "tags_operator": "AND"}]}]},
            {"tok-a"},
        ),
        (
            {
                "tag_rules": [
                    {"tag_items": [{"tags": ["vip"], "tag_type": "xg_user_define"}]},
                    {"operator": "AND", "is_not": True, "tag_items": [{"tags": ["beijing"]}]},
                ]
            },
            {"tok-b"},
        ),
        ({"tag_list": {"tags": ["vip", "beijing"], "op": "OR"}}, {"tok-a", "tok-b", "tok-c"}),
        (
            # tag_rules wins over tag_list
            {
                "tag_rules": [{"tag_items": [{"tags": ["2.0"], "tag_type": "xg_auto_version"}]}],
                "tag_list": {"tags": ["beijing"], "op": "OR"},
            },
            {"tok-b"},
        ),
    ],
)
def test_tag_pushes_resolve_the_rules(client, app, devices, other_app, audience, expected):
    answer = push_app(client, app, body(audience_type="tag", token_list=DROP, **audience))

    assert answer["ret_code"] == 0, answer
    assert fanout.start(int(answer["push_id"])) is True  # the worker's part
    assert tokens_of(answer["push_id"]) == expected


def test_an_all_push_reaches_every_device_of_the_app_and_no_other(client, app, devices, other_app):
    answer = push_app(client, app, body(audience_type="all"))
    fanout.start(int(answer["push_id"]))

    assert tokens_of(answer["push_id"]) == {"tok-a", "tok-b", "tok-c"}
    assert set(Delivery.objects.values_list("device__application", flat=True).distinct()) == {
        app.pk
    }


# --------------------------------------------------------------------------------------------
# 1 all/tag push per second per app


def test_all_and_tag_pushes_are_limited_to_one_per_second(client, app, devices, other_app, clock):
    t = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    clock(t)
    assert push_app(client, app, body(audience_type="all"))["ret_code"] == 0

    clock(t + 0.5)
    too_fast = push_app(
        client,
        app,
        body(audience_type="tag", tag_list={"tags": ["vip"], "op": "OR"}),
    )
    list_push = push_app(client, app, body())  # list pushes are not limited
    other = push_app(client, other_app, body(audience_type="all"))  # nor other apps

    clock(t + 1.5)
    later = push_app(client, app, body(audience_type="all"))

    assert too_fast["ret_code"] == 1008028
    assert too_fast["err_msg"].startswith("audience_type: all, tag and package pushes are limited")
    assert (list_push["ret_code"], other["ret_code"], later["ret_code"]) == (0, 0, 0)
    assert Push.objects.filter(application=app, audience_type__in=["all", "tag"]).count() == 2


# --------------------------------------------------------------------------------------------
# Supplementary SMS


def test_a_push_with_sms_info_stores_every_field(client, app, devices, sms):
    answer = push_app(
        client,
        app,
        body(resend_by_sms=True, sms_info=sms_info(sms_sign_name="腾讯云", max_sms=50)),
    )

    assert answer["ret_code"] == 0, answer
    push = Push.objects.get()
    assert (push.resend_by_sms, push.sms_delay, push.sms_trigger, push.sms_max) == (
        True,
        600,
        1,
        50,
    )
    assert (push.sms_app_id, push.sms_template_id, push.sms_sign_name) == (
        "1400006666",
        "449739",
        "腾讯云",
    )
    assert push.sms_params == ["报销单 42", "明天"]
    assert push.deliveries.get().fallback == "waiting"


def test_sms_info_without_resend_by_sms_is_ignored(client, app, devices, sms):
    answer = push_app(client, app, body(sms_info=sms_info(trigger_condition=9)))

    assert answer["ret_code"] == 0
    push = Push.objects.get()
    assert (push.resend_by_sms, push.sms_delay, push.deliveries.get().fallback) == (
        False,
        None,
        "none",
    )


@pytest.fixture
def seed_setup(app, personas, reviewer):
    """What the TPNS sample body refers to: its two tokens, SdkAppId "appId", template "123"
    (two parameters) and the signature "signe_name"."""
    for i, token in enumerate(SEED_TOKENS):
        add_device(app, token, phone=f"+861371111000{i}")
    SmsApplication.objects.create(account=personas.org, sdk_app_id="appId")
    template = Template.objects.create(
        account=personas.org, code="123", name="Seed", content="您的{1}已于{2}送达。"
    )
    template.decide(approve=True, by=reviewer)
    # "_" is not allowed by the Signature validator, which create() does not run.
    signature = Signature.objects.create(account=personas.org, text="signe_name")
    signature.decide(approve=True, by=reviewer)


def test_the_tpns_sample_body_is_accepted_unchanged(client, app, seed_setup):
    answer = push_app(client, app, SEED_BODY.encode())

    assert answer["ret_code"] == 0, answer
    push = Push.objects.get(pk=answer["push_id"])
    assert (push.resend_by_sms, push.sms_delay, push.sms_trigger) == (True, 3600, 1)
    assert (push.sms_app_id, push.sms_template_id, push.sms_sign_name) == (
        "appId",
        "123",
        "signe_name",
    )
    assert push.sms_params == ["param1", "param2"]
    assert (push.title, push.options) == (" test loop", {"multi_pkg": True})
    deliveries = list(push.deliveries.select_related("device"))
    assert {d.device.token for d in deliveries} == set(SEED_TOKENS)
    for delivery in deliveries:
        assert delivery.fallback == "waiting"
        assert delivery.sms_due_at == delivery.sent_at + timedelta(seconds=3600)


# --------------------------------------------------------------------------------------------
# Idempotency-Key


def test_the_same_idempotency_key_and_body_return_the_first_push(client, app, devices):
    key = {"Idempotency-Key": "order-42"}
    first = push_app(client, app, body(seq=1), headers=key)
    second = push_app(client, app, body(seq=1), headers=key)

    assert first["ret_code"] == second["ret_code"] == 0
    assert first == second
    assert Push.objects.count() == 1 and Delivery.objects.count() == 1


def test_an_idempotency_key_with_another_body_is_refused(client, app, devices):
    key = {"Idempotency-Key": "order-42"}
    push_app(client, app, body(), headers=key)

    answer = push_app(client, app, body(token_list=["tok-b"]), headers=key)

    assert answer["ret_code"] == 1008007
    assert answer["err_msg"].startswith("Idempotency-Key: already used with another request body")
    assert Push.objects.count() == 1


def test_keys_are_per_app_and_expire_after_24_hours(client, app, devices, other_app, clock):
    t = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    key = {"Idempotency-Key": "order-42"}
    clock(t)
    first = push_app(client, app, body(), headers=key)
    other = push_app(client, other_app, body(token_list=["tok-x"]), headers=key)

    clock(t + 24 * 3600 + 1)
    later = push_app(client, app, body(), headers=key)

    assert other["ret_code"] == later["ret_code"] == 0
    assert len({first["push_id"], other["push_id"], later["push_id"]}) == 3
    assert Push.objects.get(pk=later["push_id"]).idempotency_key == "order-42"


def test_an_idempotency_race_answers_with_the_winners_push(client, app, devices, monkeypatch):
    """The other request inserted its push between our look-up and our insert: the partial
    unique constraint refuses ours, and we answer with the winner's push_id."""
    data = body()
    raw = json.dumps(data).encode()
    winner = fanout.accept(
        Push(
            application=app,
            audience_type="token_list",
            audience={"token_list": ["tok-a"]},
            message_type="notify",
            title="Approval",
            content="Expense report 42 waits for you",
            idempotency_key="order-42",
            request_hash=hashlib.sha256(raw).hexdigest(),
        )
    )
    real, calls = submit._earlier_push, []

    def not_yet_visible(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(submit, "_earlier_push", not_yet_visible)

    answer = push_app(client, app, raw, headers={"Idempotency-Key": "order-42"})

    assert (answer["ret_code"], answer["push_id"]) == (0, str(winner.pk))
    assert len(calls) == 2
    assert Push.objects.count() == 1 and Delivery.objects.count() == 1


def test_an_overlong_idempotency_key_is_refused(client, app, devices):
    answer = push_app(client, app, body(), headers={"Idempotency-Key": "k" * 101})

    assert answer["ret_code"] == 1008007 and answer["err_msg"].startswith("Idempotency-Key:")
    assert not Push.objects.exists()


# --------------------------------------------------------------------------------------------
# Isolation


def test_an_app_cannot_push_to_another_apps_device(client, app, devices, other_app):
    answer = push_app(client, app, body(token_list=["tok-x"]))

    assert answer["ret_code"] == 1008029 and "'tok-x'" in answer["err_msg"]
    assert not Push.objects.exists()


def test_a_shared_token_reaches_only_the_pushing_apps_device(client, app, devices, other_app):
    answer = push_app(client, app, body(token_list=["tok-a"]))

    delivery = Delivery.objects.get(push_id=answer["push_id"])
    assert delivery.device == devices["a"]


def test_an_account_push_never_reaches_another_apps_binding(client, app, devices, other_app):
    other_device = other_app.devices.get(token="tok-x")
    DeviceAccount.objects.create(device=other_device, application=other_app, account="carol")

    answer = push_app(client, app, body(audience_type="account", account_list=["carol"]))

    assert answer["ret_code"] == 0 and tokens_of(answer["push_id"]) == set()


def test_the_other_apps_secret_does_not_authenticate_this_app(client, app, other_app):
    response = client.post(
        "/v3/push/app",
        json.dumps(body()),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(app.access_id, other_app.test_secret),
    )

    assert response.json()["ret_code"] == 1008003


@pytest.mark.parametrize(
    "given, stored",
    [
        # TPNS's Java SDK: 0 "open the app" (its default) and 4 "open an app by package name"
        # open the app; 5 "activity by intent action" is an intent; 6 "broadcast" opens the app.
        ({"action_type": 0}, {"action_type": 1}),
        ({"action_type": 0, "activity": "com.x.Main"}, {"action_type": 1}),
        ({"action_type": 4}, {"action_type": 1}),
        ({"action_type": 5, "activity": "com.x.OPEN"}, {"action_type": 3, "intent": "com.x.OPEN"}),
        ({"action_type": 5}, {"action_type": 1}),
        ({"action_type": 6, "intent": "com.x.PING"}, {"action_type": 1, "intent": "com.x.PING"}),
        (
            {"action_type": 1, "activity": "com.x.Main"},
            {"action_type": 1, "activity": "com.x.Main"},
        ),
    ],
)
def test_the_java_sdks_legacy_action_types_are_taken_as_tpns_channels_took_them(
    client, app, devices, given, stored
):
    answer = push_app(client, app, body(message=message(android={"action": given})))

    assert answer["ret_code"] == 0, answer
    assert Push.objects.get().message["android"]["action"] == stored


def test_an_action_type_tpns_never_had_is_refused(client, app, devices):
    answer = push_app(client, app, body(message=message(android={"action": {"action_type": 7}})))
    assert answer["ret_code"] == 1008007
    assert answer["err_msg"].startswith("message.android.action.action_type: must be one of 0")
    assert not Push.objects.exists()
