"""The composer's phone-maker, notification-style and quiet-hour options reach the stored push
and what each channel sends; editing a push the API made keeps every field the composer does
not show, exactly as it was, and changes the ones it shows."""

import copy
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from push.channels import fcm, honor, huawei, meizu, oppo, vivo
from push.models import Push
from push.tpns.parse.fields import beijing_time
from tests.push.conftest import add_device
from tests.push.test_composer_options import base, confirm_and_post, errors, form_values, url
from tests.push.test_sdk_api import Sdk
from tests.push.test_tpns_auth import tpns

CHANNEL_OPTIONS = {
    "hw_category": "IM",
    "hw_importance": "2",
    "oppo_category": "ORDER",
    "oppo_notify_level": "16",
    "vivo_category": "IM",
    "accept_time": "08:00-12:30, 22:00-7:00",
    "n_id": "7",
    "builder_id": "2",
    "style_id": "1",
    "clearable": "0",
    "show_type": "1",
    "small_icon": "ic_stat",
    "icon_type": "1",
    "icon_res": "https://shop.example.com/icon.png",
    "icon_color": "16711680",
}
ACCEPT_TIME = [
    {"start": {"hour": "08", "min": "00"}, "end": {"hour": "12", "min": "30"}},
    {"start": {"hour": "22", "min": "00"}, "end": {"hour": "07", "min": "00"}},
]


@pytest.fixture
def devices(app):
    return [add_device(app, "tok-a"), add_device(app, "tok-b")]


def test_each_option_is_stored_as_its_tpns_field(login, personas, app, devices):
    response = login(personas.member).post(url(personas), base(app, **CHANNEL_OPTIONS))

    assert response.status_code == 302, errors(response)
    message = Push.objects.get().message
    assert message["accept_time"] == ACCEPT_TIME
    assert message["android"] == {
        "hw_category": "IM",
        "hw_importance": 2,
        "oppo_category": "ORDER",
        "oppo_notify_level": 16,
        "vivo_category": "IM",
        "n_id": 7,
        "builder_id": 2,
        "style_id": 1,
        "clearable": 0,
        "show_type": 1,
        "small_icon": "ic_stat",
        "icon_type": 1,
        "icon_res": "https://shop.example.com/icon.png",
        "icon_color": 16711680,
    }


def test_the_vendor_options_reach_each_vendors_message(login, personas, app, devices):
    login(personas.member).post(url(personas), base(app, **CHANNEL_OPTIONS))
    push, now = Push.objects.get(), timezone.now()

    notification = oppo.prepare(push, now=now).body
    assert (notification["category"], notification["notify_level"]) == ("ORDER", 16)
    body = vivo.prepare(push, now=now).body
    assert (body["category"], body["classification"]) == ("IM", 1)
    hw = huawei.prepare(push, now=now).body["android"]
    assert (hw["category"], hw["notification"]["importance"]) == ("IM", "NORMAL")
    assert honor.prepare(push, now=now).body["android"]["notification"]["importance"] == "NORMAL"
    assert meizu.prepare(push, now=now).body["advanceInfo"]["clearNoticeBar"] == 0
    assert fcm.prepare(push, now=now).body["android"]["notification"]["icon"] == "ic_stat"


def test_a_marketing_importance_is_low_at_huawei_and_honor(login, personas, app, devices):
    login(personas.member).post(url(personas), base(app, hw_importance="1"))
    push, now = Push.objects.get(), timezone.now()

    assert huawei.prepare(push, now=now).body["android"]["notification"]["importance"] == "LOW"
    assert honor.prepare(push, now=now).body["android"]["notification"]["importance"] == "LOW"


def test_style_and_quiet_hours_reach_the_built_in_inbox(login, personas, app, devices, client):
    login(personas.member).post(url(personas), base(app, **CHANNEL_OPTIONS))

    [message] = Sdk(client, app).get("messages", token="tok-a").json()["messages"]

    assert message["message"]["accept_time"] == ACCEPT_TIME
    android = message["message"]["android"]
    assert (android["n_id"], android["builder_id"], android["clearable"]) == (7, 2, 0)
    assert (android["show_type"], android["icon_res"]) == (1, "https://shop.example.com/icon.png")


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("accept_time", "8-12", "8-12 is not a time window HH:MM-HH:MM."),
        ("accept_time", "08:00-24:00", "is not a time window"),
        ("builder_id", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_option_is_named_on_its_field_and_nothing_is_written(
    login, personas, app, devices, field, value, said
):
    response = login(personas.member).post(url(personas), base(app, **{field: value}))

    assert response.status_code == 200
    assert said in errors(response).get(field, ""), errors(response)
    assert not Push.objects.exists()


def test_a_simple_push_opens_none_of_the_new_sections(login, personas, app):
    page = login(personas.member).get(url(personas)).content.decode()

    for section in ("options-vendors", "options-style", "options-quiet"):
        assert f'<details id="{section}" data-platform="android">' in page or (
            f'<details id="{section}">' in page
        ), section


def test_the_confirmation_says_the_new_options(login, personas, app, devices):
    data = base(app, audience_type="all", **CHANNEL_OPTIONS)

    shown, _response = confirm_and_post(login(personas.member), url(personas), data)

    page = shown.content.decode()
    assert "Show only between" in page and "08:00-12:30, 22:00-07:00" in page
    assert "OPPO notify level" in page and "service and communication (NORMAL)" in page


# Editing an API push keeps what the composer does not show ---------------------------------

# Every optional field the TPNS parser takes (push/tpns/parse/), as an API client sends them.
API_MESSAGE = {
    "title": "Flash sale",
    "content": "Today only",
    "accept_time": [{"start": {"hour": "9", "min": "00"}, "end": {"hour": 21, "min": 30}}],
    "thread_id": "sales",
    "thread_sumtext": "%d sales",
    "xg_media_resources": "https://shop.example.com/sale.png",
    "xg_media_audio_resources": "https://shop.example.com/sale.mp3",
    "show_type": 2,
    "android": {
        "n_ch_id": "sales",
        "n_ch_name": "Sales",
        "xm_ch_id": "mi-sales",
        "fcm_ch_id": "fcm-sales",
        "hw_ch_id": "hw-sales",
        "hw_biz_type": 1,
        "hw_category": "MARKETING",
        "hw_importance": 1,
        "oppo_ch_id": "oppo-sales",
        "oppo_category": "MARKETING",
        "oppo_notify_level": 2,
        "vivo_ch_id": "0",
        "vivo_category": "MARKETING",
        "n_id": 3,
        "builder_id": 1,
        "style_id": 0,
        "badge_type": -1,
        "ring": 1,
        "ring_raw": "sale",
        "vibrate": 1,
        "lights": 0,
        "clearable": 1,
        "icon_type": 0,
        "icon_res": "ic_sale",
        "small_icon": "ic_stat_sale",
        "icon_color": 255,
        "show_type": 2,
        "custom_content": json.dumps({"sale": "7"}),
        "action": {
            "action_type": 2,
            "activity": "",
            "aty_attr": {"if": 0, "pf": 1},
            "browser": {"url": "https://shop.example.com/sale", "confirm": 1},
            "intent": "",
        },
    },
    "ios": {"custom_content": json.dumps({"ios": "kept"}), "aps": {"badge_type": 1}},
}
API_TOP_LEVEL = {
    "multi_pkg": True,
    "push_speed": 2000,
    "collapse_id": 77,
    "force_collapse": True,
    "supply_inapp_msg": True,
    "tpns_online_push_type": 1,
    "channel_rules": [{"channel": "vivo", "disable": True}],
    "seq": 12345,
    "plan_id": "plan-x",
}
API_TAG_RULES = [
    {
        "operator": "OR",
        "is_not": False,
        "tag_items": [
            {
                "tags": ["vip"],
                "is_not": False,
                "tags_operator": "OR",
                "items_operator": "OR",
                "tag_type": "xg_user_define",
            }
        ],
    }
]
# What the composer shows of API_MESSAGE: an edit may rewrite these; all else must stay.
SHOWN = {
    "title",
    "content",
    "accept_time",
    "xg_media_resources",
    "android.n_ch_id",
    "android.n_ch_name",
    "android.xm_ch_id",
    "android.hw_category",
    "android.hw_importance",
    "android.oppo_ch_id",
    "android.oppo_category",
    "android.oppo_notify_level",
    "android.vivo_ch_id",
    "android.vivo_category",
    "android.n_id",
    "android.builder_id",
    "android.style_id",
    "android.badge_type",
    "android.ring",
    "android.ring_raw",
    "android.vibrate",
    "android.lights",
    "android.clearable",
    "android.icon_type",
    "android.icon_res",
    "android.small_icon",
    "android.icon_color",
    "android.show_type",
    "android.custom_content",
    "android.action.action_type",
    "android.action.activity",
    "android.action.intent",
    "android.action.browser.url",
}


def leaves(tree: dict, prefix: str = "") -> dict:
    """{"a.b.c": value} of every non-object value of ``tree``."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{path}."))
        else:
            out[path] = value
    return out


def unshown(message: dict) -> str:
    kept = {k: v for k, v in leaves(message).items() if k not in SHOWN}
    return json.dumps(kept, sort_keys=True, ensure_ascii=False)


def without_send_time(options: dict) -> dict:
    return {k: v for k, v in options.items() if k != "send_time"}  # (the form shows it)


def api_push(client, app) -> Push:
    send = timezone.now() + timedelta(days=1)
    body = {
        "audience_type": "tag",
        "tag_rules": API_TAG_RULES,
        "message_type": "notify",
        "message": API_MESSAGE,
        "expire_time": 3600,
        "send_time": beijing_time(send),
        **API_TOP_LEVEL,
    }
    answer = tpns(client, app, "push/app", body).json()
    assert answer["ret_code"] == 0, answer
    return Push.objects.get(pk=answer["push_id"])


def test_an_edit_keeps_every_field_the_composer_does_not_show(login, personas, app, client):
    add_device(app, "tok-a", tags=["vip"])
    push = api_push(client, app)
    stored = copy.deepcopy(push.message)
    before = (without_send_time(push.options), push.audience, push.seq, push.expire_time)
    console = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")
    shown = form_values(console.get(path))
    edited = {k: v for k, v in shown.items() if v is not None and v is not False}
    edited.update(title="Flash sale: last hours", hw_importance="2", oppo_notify_level="1")

    _, response = confirm_and_post(console, path, edited)

    assert response.status_code == 302, errors(response)
    push.refresh_from_db()
    assert unshown(push.message) == unshown(stored)
    assert push.message["title"] == "Flash sale: last hours"
    assert push.message["android"]["hw_importance"] == 2
    assert push.message["android"]["oppo_notify_level"] == 1
    after = (without_send_time(push.options), push.audience, push.seq, push.expire_time)
    assert after == before


def test_an_edit_to_another_tap_action_drops_the_old_actions_extras(login, personas, app, client):
    add_device(app, "tok-a", tags=["vip"])
    push = api_push(client, app)
    console = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")
    shown = form_values(console.get(path))
    edited = {k: v for k, v in shown.items() if v is not None and v is not False}
    edited.update(click_action="intent", click_intent="shop://sale")

    confirm_and_post(console, path, edited)

    push.refresh_from_db()
    assert push.message["android"]["action"] == {"action_type": 3, "intent": "shop://sale"}
    assert push.message["android"]["fcm_ch_id"] == "fcm-sales"  # the rest is still kept
