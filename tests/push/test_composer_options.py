"""The composer's options (custom key/values, click action, badge, sound, per-platform options,
loops): each becomes its TPNS field in the stored push and reaches what the channels send; bad
input is refused on the field that set it with nothing written; editing and duplicating show
every option again; unknown tokens are offered to be skipped (ignore_invalid_token)."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from push import sender
from push.channels import apns as apns_channel
from push.channels import fcm
from push.forms import ComposeForm
from push.models import Push
from tests.push.conftest import add_device, apns_device, configure
from tests.push.test_sdk_api import Sdk

CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


def url(personas, page="pushes/new/"):
    return f"/a/{personas.org.pk}/push/{page}"


def text(response) -> str:
    return response.content.decode()


def errors(response) -> dict:
    return {name: " ".join(e) for name, e in response.context["form"].errors.items()}


@pytest.fixture
def devices(app):
    return [add_device(app, "tok-a"), add_device(app, "tok-b")]


def base(app, **changes) -> dict:
    return {
        "application": app.pk,
        "audience_type": "token_list",
        "tokens": "tok-a\ntok-b",
        "account_type": 0,
        "tags_operator": "OR",
        "message_type": "notify",
        "title": "Order shipped",
        "content": "Order 42 is on its way",
        "expire_time": 86400,
        "trigger_condition": 1,
        "delay_trigger_time": 600,
        **changes,
    }


ANDROID_OPTIONS = {
    "custom_key_0": "order",
    "custom_value_0": "42",
    "custom_key_1": "screen",
    "custom_value_1": "detail",
    "click_action": "url",
    "click_url": "https://shop.example.com/orders/42",
    "badge": "set",
    "badge_number": "5",
    "sound": "named",
    "sound_name": "ding",
    "image_url": "https://shop.example.com/42.png",
    "android_channel": "orders",
    "android_channel_name": "Orders",
    "vibrate": "0",
    "lights": "1",
    "hw_category": "IM",
    "vivo_ch_id": "1",
    "xm_ch_id": "mi-orders",
    "oppo_ch_id": "oppo-orders",
}
ANDROID_MESSAGE = {
    "title": "Order shipped",
    "content": "Order 42 is on its way",
    "xg_media_resources": "https://shop.example.com/42.png",
    "android": {
        "custom_content": json.dumps({"order": "42", "screen": "detail"}),
        "action": {"action_type": 2, "browser": {"url": "https://shop.example.com/orders/42"}},
        "badge_type": 5,
        "ring_raw": "ding",
        "vibrate": 0,
        "lights": 1,
        "n_ch_id": "orders",
        "n_ch_name": "Orders",
        "hw_category": "IM",
        "vivo_ch_id": "1",
        "xm_ch_id": "mi-orders",
        "oppo_ch_id": "oppo-orders",
    },
}


# Each option ends up in the push and in what the channels send ------------------------------


def test_android_options_are_stored_as_their_tpns_fields(login, personas, app, devices):
    response = login(personas.member).post(url(personas), base(app, **ANDROID_OPTIONS))

    assert response.status_code == 302, errors(response)
    push = Push.objects.get()
    assert push.message == ANDROID_MESSAGE


def test_the_click_url_and_custom_keys_reach_the_built_in_inbox(
    login, personas, app, devices, client
):
    login(personas.member).post(url(personas), base(app, **ANDROID_OPTIONS))

    [message] = Sdk(client, app).get("messages", token="tok-a").json()["messages"]

    android = message["message"]["android"]
    assert android["action"]["browser"]["url"] == "https://shop.example.com/orders/42"
    assert json.loads(android["custom_content"]) == {"order": "42", "screen": "detail"}
    assert (android["badge_type"], android["ring_raw"]) == (5, "ding")


def test_fcm_gets_the_url_custom_keys_badge_sound_and_channel(login, personas, app, devices):
    login(personas.member).post(url(personas), base(app, **ANDROID_OPTIONS))
    push = Push.objects.get()

    message = fcm.prepare(push, now=timezone.now()).body

    assert {k: message["data"][k] for k in ("order", "screen", "url")} == {
        "order": "42",
        "screen": "detail",
        "url": "https://shop.example.com/orders/42",
    }
    notification = message["android"]["notification"]
    assert (notification["sound"], notification["notification_count"]) == ("ding", 5)
    assert notification["channel_id"] == "orders"
    assert message["notification"]["image"] == "https://shop.example.com/42.png"


def test_no_sound_and_an_added_badge_are_told_to_android(login, personas, app, devices):
    login(personas.member).post(url(personas), base(app, sound="none", badge="increment"))

    android = Push.objects.get().message["android"]
    assert (android["ring"], android["badge_type"]) == (0, -2)
    assert "sound" not in fcm.prepare(Push.objects.get(), now=timezone.now()).body["android"].get(
        "notification", {}
    )


@pytest.mark.parametrize(
    "choice, field, value, action",
    [
        (
            "activity",
            "click_activity",
            "com.acme.OrderActivity",
            {"action_type": 1, "activity": "com.acme.OrderActivity"},
        ),  # noqa: E501
        (
            "intent",
            "click_intent",
            "acme://orders/42",
            {"action_type": 3, "intent": "acme://orders/42"},
        ),  # noqa: E501
    ],
)
def test_each_click_action_has_its_tpns_fields(
    login, personas, app, devices, choice, field, value, action
):
    login(personas.member).post(url(personas), base(app, click_action=choice, **{field: value}))

    assert Push.objects.get().message["android"]["action"] == action


def test_a_simple_push_carries_no_options(login, personas, app, devices):
    login(personas.member).post(url(personas), base(app))

    assert Push.objects.get().message == {
        "title": "Order shipped",
        "content": "Order 42 is on its way",
    }


IOS_OPTIONS = {
    "custom_key_0": "order",
    "custom_value_0": "42",
    "badge": "set",
    "badge_number": "3",
    "sound": "named",
    "sound_name": "ding.caf",
    "ios_environment": "dev",
    "ios_category": "ORDER",
    "ios_thread_id": "orders",
    "ios_interruption_level": "time-sensitive",
    "ios_mutable_content": "on",
}


def test_ios_options_reach_apns(login, personas, ios_app, apns):
    configure(ios_app, apns)
    apns_device(ios_app, 1)

    response = login(personas.member).post(
        url(personas), base(ios_app, tokens="dev-1", **IOS_OPTIONS)
    )
    assert response.status_code == 302, errors(response)
    push = Push.objects.get()
    sender.send_batch(timezone.now())

    assert push.environment == "dev" and push.message["thread_id"] == "orders"
    [request] = apns.received
    aps = request.payload["aps"]
    assert request.payload["order"] == "42"
    assert (aps["badge"], aps["sound"], aps["category"]) == (3, "ding.caf", "ORDER")
    assert (aps["thread-id"], aps["interruption-level"], aps["mutable-content"]) == (
        "orders",
        "time-sensitive",
        1,
    )


def test_an_ios_push_has_the_default_sound_unless_told_otherwise(login, personas, ios_app):
    add_device(ios_app, "iphone-1")
    client = login(personas.member)

    client.post(url(personas), base(ios_app, tokens="iphone-1"))
    client.post(url(personas), base(ios_app, tokens="iphone-1", sound="none"))

    first, second = Push.objects.order_by("pk")
    assert apns_channel.payload(first)["aps"]["sound"] == "default"
    assert "sound" not in apns_channel.payload(second)["aps"]
    assert first.environment == "product"


# Bad input: named on its field, nothing written --------------------------------------------


@pytest.mark.parametrize(
    "changes, field, said",
    [
        (
            {"custom_key_0": "k", "custom_key_1": "k"},
            "custom_key_1",
            "Row 2: the key k is already in row 1",
        ),  # noqa: E501
        ({"custom_key_0": "from"}, "custom_key_0", "Row 1: the key from is reserved"),
        ({"custom_key_0": "xg_msgid"}, "custom_key_0", "reserved"),
        ({"custom_value_1": "no key"}, "custom_key_1", "Row 2: give the key"),
        (
            {"click_action": "url", "click_url": "ftp://x"},
            "click_url",
            "message.android.action.browser.url",
        ),  # noqa: E501
        ({"click_action": "url"}, "click_url", "message.android.action.browser"),
        ({"click_action": "activity"}, "click_activity", "Give the activity"),
        ({"badge": "set", "badge_number": "150"}, "badge_number", "message.android.badge_type"),
        ({"badge": "set"}, "badge_number", "Give the number"),
        ({"sound": "named"}, "sound_name", "Give the name of the sound"),
        (
            {
                "loop_type": "1",
                "loop_start": "2030-01-01",
                "loop_end": "2030-01-02",
                "loop_times": "09:00",
            },
            "loop_type",
            "only all, tag and package pushes can loop",
        ),  # noqa: E501
        (
            {
                "loop_type": "2",
                "loop_start": "2030-01-01",
                "loop_end": "2030-01-02",
                "loop_times": "09:00",
            },
            "loop_weekdays",
            "Choose the days",
        ),  # noqa: E501
        (
            {
                "loop_type": "1",
                "loop_start": "2030-01-01",
                "loop_end": "2030-01-02",
                "loop_times": "9h",
            },
            "loop_times",
            "not a time",
        ),  # noqa: E501
    ],
)
def test_bad_options_are_named_on_their_field_and_nothing_is_written(
    login, personas, app, devices, changes, field, said
):
    response = login(personas.member).post(url(personas), base(app, **changes))

    assert response.status_code == 200 and not Push.objects.exists()
    assert said in errors(response).get(field, ""), errors(response)


def test_an_ios_custom_key_may_not_be_aps(login, personas, ios_app):
    add_device(ios_app, "iphone-1")

    response = login(personas.member).post(
        url(personas), base(ios_app, tokens="iphone-1", custom_key_0="aps")
    )

    assert "reserved" in errors(response)["custom_key_0"] and not Push.objects.exists()


def test_a_row_added_in_the_page_is_read(login, personas, app, devices):
    # The page's "Add a row" numbers new rows on; the form takes every row it is sent.
    login(personas.member).post(url(personas), base(app, custom_key_7="late", custom_value_7="yes"))

    custom = json.loads(Push.objects.get().message["android"]["custom_content"])
    assert custom == {"late": "yes"}


# Loops -----------------------------------------------------------------------------------------


def confirm_and_post(client, path, data):
    shown = client.post(path, data)
    assert shown.templates[0].name == "push/push_confirm.html", errors(shown)
    return shown, client.post(
        path, {**data, "confirmation": CONFIRMATION.search(text(shown)).group(1)}
    )


def test_a_weekly_loop_is_one_push_per_occurrence(login, personas, app, devices):
    start = timezone.localdate(timezone.now(), personas.org.tz) + timedelta(days=1)
    data = base(
        app,
        audience_type="all",
        loop_type="2",
        loop_start=start.isoformat(),
        loop_end=(start + timedelta(days=13)).isoformat(),
        loop_weekdays=["1", "5"],
        loop_times="09:00, 18:30",
    )

    shown, response = confirm_and_post(login(personas.member), url(personas), data)

    assert response.status_code == 302
    pushes = list(Push.objects.order_by("send_at"))
    assert len(pushes) == 8  # two Mondays, two Fridays, twice a day
    assert pushes[0].options["loop_param"] == {
        "startDate": start.isoformat(),
        "endDate": (start + timedelta(days=13)).isoformat(),
        "loopType": 2,
        "loopDayIndexs": [1, 5],
        "dayTimes": ["09:00:00", "18:30:00"],
    }
    assert {p.send_at.astimezone(personas.org.tz).isoweekday() for p in pushes} == {1, 5}
    assert "every week" in text(shown)  # the confirmation says how it repeats


# The confirmation and the push page say the options ------------------------------------------


def test_the_confirmation_and_the_push_page_show_the_options(login, personas, app, devices):
    client = login(personas.member)
    data = base(app, audience_type="all", **ANDROID_OPTIONS)

    shown, response = confirm_and_post(client, url(personas), data)
    page = text(client.get(response.url))

    for where in (text(shown), page):
        assert "order = 42; screen = detail" in where
        assert "open a URL: https://shop.example.com/orders/42" in where
        assert "set it to a number: 5" in where and "a sound of the app: ding" in where
        assert "Notification channel ID" in where and "orders" in where


# Editing and duplicating show every option again ----------------------------------------------


def scheduled_with_everything(client, personas, app) -> Push:
    send = timezone.localtime(timezone.now() + timedelta(days=1), personas.org.tz)
    data = base(
        app, audience_type="all", send_time=send.strftime("%Y-%m-%dT%H:%M"), **ANDROID_OPTIONS
    )
    confirm_and_post(client, url(personas), data)
    return Push.objects.get()


def form_values(response) -> dict:
    form = response.context["form"]
    return {name: form[name].value() for name in form.fields}


def test_editing_a_push_shows_every_option_and_saving_keeps_them(login, personas, app, devices):
    client = login(personas.member)
    push = scheduled_with_everything(client, personas, app)
    # Something the composer does not show, given through the API: kept by an edit.
    Push.objects.filter(pk=push.pk).update(
        message={**push.message, "android": {**push.message["android"], "icon_res": "ic_box"}}
    )
    path = url(personas, f"pushes/{push.pk}/edit")

    shown = form_values(client.get(path))

    for name, value in ANDROID_OPTIONS.items():
        assert str(shown[name]) == value, name
    edited = {k: v for k, v in shown.items() if v is not None and v is not False}
    edited["send_time"] = shown["send_time"]
    edited.update(title="Order delivered", badge_number="6")
    _, response = confirm_and_post(client, path, edited)
    assert response.status_code == 302
    push.refresh_from_db()
    expected = {**ANDROID_MESSAGE["android"], "badge_type": 6, "icon_res": "ic_box"}
    assert push.title == "Order delivered" and push.message["android"] == expected


def test_an_edit_can_take_an_option_away(login, personas, app, devices):
    client = login(personas.member)
    push = scheduled_with_everything(client, personas, app)
    path = url(personas, f"pushes/{push.pk}/edit")
    shown = form_values(client.get(path))
    edited = {k: v for k, v in shown.items() if v is not None and v is not False}
    edited.update(click_action="app", custom_key_1="", custom_value_1="", sound="default")

    confirm_and_post(client, path, edited)

    push.refresh_from_db()
    android = push.message["android"]
    assert "action" not in android and "ring_raw" not in android
    assert json.loads(android["custom_content"]) == {"order": "42"}


def test_an_ios_push_round_trips_through_duplicate(login, personas, ios_app):
    add_device(ios_app, "iphone-1")
    client = login(personas.member)
    client.post(url(personas), base(ios_app, tokens="iphone-1", **IOS_OPTIONS))
    push = Push.objects.get()

    shown = form_values(client.get(url(personas, f"pushes/new/?from={push.pk}")))

    for name, value in IOS_OPTIONS.items():
        expected = True if value == "on" else value
        assert str(shown[name]) == str(expected), name


def test_a_duplicated_loop_push_shows_its_loop(login, personas, app, devices):
    start = timezone.localdate(timezone.now(), personas.org.tz) + timedelta(days=1)
    loop = {
        "loop_type": "3",
        "loop_start": start.isoformat(),
        "loop_end": (start + timedelta(days=40)).isoformat(),
        "loop_monthdays": "1, 15",
        "loop_times": "08:00",
    }
    client = login(personas.member)
    confirm_and_post(client, url(personas), base(app, audience_type="all", **loop))
    first = Push.objects.order_by("send_at").first()

    shown = form_values(client.get(url(personas, f"pushes/new/?from={first.pk}")))
    editing = client.get(url(personas, f"pushes/{first.pk}/edit"))

    assert {k: str(shown[k]) for k in loop} == loop
    assert "loop_type" not in editing.context["form"].fields  # an edit keeps the loop
    assert 'id="loop-note"' in text(editing)


def test_a_custom_value_that_is_not_text_is_said_not_to_be_copied(app, devices):
    push = Push(
        application=app,
        message_type="notify",
        audience_type="all",
        message={"android": {"custom_content": json.dumps({"n": 5})}},
    )

    initial, lost = ComposeForm.initial_from(push, app.account.tz)

    assert initial["custom_value_0"] == "5" and "not text" in str(lost[0])


# Unknown tokens: the offer to ignore them ------------------------------------------------------


def test_unknown_tokens_are_explained_and_may_be_ignored(login, personas, app, devices):
    client = login(personas.member)
    data = base(app, tokens="tok-a\nnobody\ntok-b")

    refused = client.post(url(personas), data)

    assert refused.status_code == 200 and not Push.objects.exists()
    said = errors(refused)["tokens"]
    assert "1 of these tokens is not a device of this application" in said and "nobody" in said
    assert "ignore_invalid_token" not in said  # no field the form lacks
    assert 'id="ignore-offer"' in text(refused)

    accepted = client.post(url(personas), {**data, "ignore_invalid_token": "on"})

    assert accepted.status_code == 302
    push = Push.objects.get()
    assert push.targets == 2 and push.invalid_targets == ["nobody"]
    assert push.options["ignore_invalid_token"] == 1
    assert "1 unknown token was skipped" in text(client.get(accepted.url))


def test_no_offer_when_no_token_is_known(login, personas, app, devices):
    response = login(personas.member).post(url(personas), base(app, tokens="nobody\nnone"))

    assert "None of these tokens is a device of this application" in errors(response)["tokens"]
    assert 'id="ignore-offer"' not in text(response)
    assert not Push.objects.exists()


def test_a_duplicate_of_a_push_that_ignored_tokens_ignores_them_too(login, personas, app, devices):
    client = login(personas.member)
    client.post(url(personas), base(app, tokens="tok-a\nnobody", ignore_invalid_token="on"))

    page = client.get(url(personas, f"pushes/new/?from={Push.objects.get().pk}"))

    assert page.context["form"]["ignore_invalid_token"].value() is True
    assert 'id="ignoring-unknown"' in text(page)


def test_a_test_push_to_an_unknown_token_is_not_offered_to_be_ignored(
    login, personas, app, devices
):
    response = login(personas.member).post(url(personas), base(app, test="1", test_token="nobody"))

    assert "token_list" in errors(response)["test_token"]
    assert 'id="ignore-offer"' not in text(response) and not Push.objects.exists()
