"""The SDK API (/sdk/v1/): AccessID + AccessKey, devices by token, bindings, events, the inbox."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from push import fanout
from push.models import Application, Delivery, Device, DeviceAccount, DeviceTag, Push
from push.sdk.views import LongPoll
from tests.push.conftest import add_device, bound, outsider_app


def push_to(app, tokens, **fields) -> Push:
    """A notification to these devices, fanned out (the built-in channel: sent)."""
    fields = {"title": "t", "content": "c", **fields}
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        **fields,
    )
    return fanout.accept(push)


class Sdk:
    """A device's view of the API: every call carries the app's AccessID and AccessKey."""

    def __init__(self, client: Client, app: Application, access_key: str | None = None):
        self.client = client
        self.headers = {
            "X-Access-Id": str(app.access_id),
            "X-Access-Key": access_key if access_key is not None else app.access_key,
        }

    def post(self, path, data):
        return self.client.post(
            f"/sdk/v1/{path}",
            json.dumps(data),
            content_type="application/json",
            headers=self.headers,
        )

    def delete(self, path, data=None, **params):
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        return self.client.generic(
            "DELETE",
            f"/sdk/v1/{path}{query}",
            json.dumps(data) if data is not None else "",
            content_type="application/json",
            headers=self.headers,
        )

    def get(self, path, **params):
        return self.client.get(f"/sdk/v1/{path}", params, headers=self.headers)


@pytest.fixture
def sdk(client, app):
    return Sdk(client, app)


@pytest.fixture
def device(app):
    return add_device(app, "tok-a", tags=["old"], app_version="1.0")


def error_of(response) -> dict:
    return response.json()["error"]


REGISTER = {
    "platform": "android",
    "app_version": "2.1.0",
    "sdk_version": "1.4.0",
    "os_version": "14",
    "device_brand": "Xiaomi",
    "system_language": "zh-CN",
    "country": "cn",
}


# --------------------------------------------------------------------------------------------
# Authentication


def test_without_the_headers_the_answer_is_401_with_the_error_body(client, app):
    response = client.post("/sdk/v1/register", REGISTER, content_type="application/json")

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert "WWW-Authenticate" in response.headers
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "access_id, access_key",
    [
        ("app", "wrong-key"),  # the app's AccessID with a wrong key
        ("12345", "app"),  # an unknown AccessID
        ("not-a-number", "app"),
        ("app", ""),  # only one of the two headers
    ],
)
def test_a_wrong_key_or_unknown_access_id_is_401_and_says_the_same(
    client, app, access_id, access_key
):
    headers = {
        "X-Access-Id": str(app.access_id) if access_id == "app" else access_id,
        "X-Access-Key": app.access_key if access_key == "app" else access_key,
    }

    response = client.post(
        "/sdk/v1/register", REGISTER, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"
    assert not Device.objects.exists()


def test_a_wrong_key_and_an_unknown_access_id_get_the_same_message(client, app):
    def message(access_id, access_key):
        headers = {"X-Access-Id": access_id, "X-Access-Key": access_key}
        response = client.post(
            "/sdk/v1/register", REGISTER, content_type="application/json", headers=headers
        )
        assert response.status_code == 401
        return error_of(response)["message"]

    wrong_key = message(str(app.access_id), "wrong-key")

    assert wrong_key == "Invalid X-Access-Id or X-Access-Key."
    assert message("12345", app.access_key) == wrong_key
    assert message("not-a-number", app.access_key) == wrong_key


def test_the_secret_key_is_not_an_access_key(client, app):
    response = Sdk(client, app, access_key=app.test_secret).post("register", REGISTER)

    assert response.status_code == 401


# --------------------------------------------------------------------------------------------
# Registration


def test_register_creates_a_device_with_a_new_token(sdk, app):
    response = sdk.post("register", {**REGISTER, "notifications_enabled": False, "tags": ["vip"]})

    assert response.status_code == 201
    body = response.json()
    device = Device.objects.get(application=app)
    assert body["token"] == device.token and len(device.token) == 36
    assert body["notifications_enabled"] is False and body["tags"] == ["vip"]
    assert body["phone"] is None
    assert (device.app_version, device.device_brand, device.country) == ("2.1.0", "Xiaomi", "CN")
    assert device.notifications_enabled is False
    assert list(device.tags.values_list("tag", flat=True)) == ["vip"]


def test_register_with_a_token_refreshes_that_device(sdk, device):
    device.last_seen_at = timezone.now() - timedelta(days=3)
    device.save()
    before = device.notifications_changed_at

    response = sdk.post(
        "register",
        {**REGISTER, "token": "tok-a", "notifications_enabled": False, "tags": ["a", "b", "a"]},
    )

    assert response.status_code == 200
    assert response.json()["token"] == "tok-a"
    device.refresh_from_db()
    assert Device.objects.count() == 1
    assert (device.app_version, device.os_version) == ("2.1.0", "14")
    assert device.notifications_enabled is False and device.notifications_changed_at > before
    assert device.last_seen_at > timezone.now() - timedelta(minutes=1)
    assert sorted(device.tags.values_list("tag", flat=True)) == ["a", "b"]


def test_a_refresh_without_tags_keeps_them_and_an_empty_list_clears_them(sdk, device):
    sdk.post("register", {**REGISTER, "token": "tok-a"})
    assert list(device.tags.values_list("tag", flat=True)) == ["old"]

    sdk.post("register", {**REGISTER, "token": "tok-a", "tags": []})
    assert not device.tags.exists()


def test_register_with_an_unknown_token_is_404(sdk, app):
    response = sdk.post("register", {**REGISTER, "token": "no-such-token"})

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert not Device.objects.exists()


def test_the_platform_must_be_the_apps(sdk, app):
    response = sdk.post("register", {**REGISTER, "platform": "ios"})

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["platform"]
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "tags, field",
    [
        ([f"t{i}" for i in range(101)], "tags"),
        (["x" * 51], "tags[0]"),
        (["ok", ""], "tags[1]"),
        ("vip", "tags"),
    ],
)
def test_tags_are_at_most_100_of_at_most_50_characters(sdk, device, tags, field):
    response = sdk.post("register", {**REGISTER, "token": "tok-a", "tags": tags})

    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    assert list(device.tags.values_list("tag", flat=True)) == ["old"]


# --------------------------------------------------------------------------------------------
# Phone number and accounts


def phones(device):
    return list(
        DeviceAccount.objects.filter(device=device, account_type=1002).values_list(
            "account", flat=True
        )
    )


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("13711112222", "+8613711112222"),  # no country code: mainland China
        ("+86 137 1111 2222", "+8613711112222"),
        ("0085261234567", "+85261234567"),
        ("+14155552671", "+14155552671"),
    ],
)
def test_the_phone_number_is_stored_in_e164(sdk, device, raw, stored):
    response = sdk.post("phone", {"token": "tok-a", "phone": raw})

    assert response.status_code == 200
    assert response.json() == {"token": "tok-a", "phone": stored}
    assert phones(device) == [stored]


def test_a_new_phone_number_overwrites_the_old_one(sdk, device):
    sdk.post("phone", {"token": "tok-a", "phone": "13711112222"})
    sdk.post("phone", {"token": "tok-a", "phone": "13833334444"})

    assert phones(device) == ["+8613833334444"]


@pytest.mark.parametrize("raw", ["12345", "not a number", "+861371111222233"])
def test_an_invalid_phone_number_is_400_naming_phone(sdk, device, raw):
    response = sdk.post("phone", {"token": "tok-a", "phone": raw})

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["phone"]
    assert phones(device) == []


def test_delete_phone_removes_the_number_only(sdk, device):
    DeviceAccount.objects.create(device=device, application=device.application, account="alice")
    sdk.post("phone", {"token": "tok-a", "phone": "13711112222"})

    response = sdk.delete("phone", {"token": "tok-a"})

    assert response.status_code == 200
    assert response.json() == {"token": "tok-a", "phone": None}
    assert phones(device) == []
    assert DeviceAccount.objects.filter(device=device).count() == 1


def test_delete_phone_also_takes_the_token_as_a_query_parameter(sdk, device):
    sdk.post("phone", {"token": "tok-a", "phone": "13711112222"})

    assert sdk.delete("phone", token="tok-a").status_code == 200
    assert phones(device) == []


def test_accounts_are_bound_one_per_type_and_a_new_one_overwrites(sdk, device):
    response = sdk.post(
        "accounts",
        {
            "token": "tok-a",
            "accounts": [
                {"account": "alice"},
                {"account": "13711112222", "account_type": 1002},
                {"account": "alice@example.com", "account_type": 1005},
            ],
        },
    )
    assert response.status_code == 200
    assert bound(device) == {0: "alice", 1002: "+8613711112222", 1005: "alice@example.com"}

    response = sdk.post(
        "accounts",
        {"token": "tok-a", "accounts": [{"account": "bob"}, {"account": "carol"}]},
    )

    assert bound(device) == {0: "carol", 1002: "+8613711112222", 1005: "alice@example.com"}
    assert response.json()["accounts"] == [
        {"account": "carol", "account_type": 0},
        {"account": "+8613711112222", "account_type": 1002},
        {"account": "alice@example.com", "account_type": 1005},
    ]


def test_a_phone_account_must_be_a_valid_number(sdk, device):
    response = sdk.post(
        "accounts", {"token": "tok-a", "accounts": [{"account": "123", "account_type": 1002}]}
    )

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["accounts[0].account"]
    assert bound(device) == {}


def test_delete_accounts_removes_the_types_named_or_all(sdk, device):
    sdk.post(
        "accounts",
        {
            "token": "tok-a",
            "accounts": [
                {"account": "alice"},
                {"account": "13711112222", "account_type": 1002},
                {"account": "a@example.com", "account_type": 1005},
            ],
        },
    )

    response = sdk.delete("accounts", {"token": "tok-a", "account_types": [0, 1005]})

    assert response.status_code == 200
    assert response.json()["deleted"] == 2
    assert bound(device) == {1002: "+8613711112222"}

    response = sdk.delete("accounts", {"token": "tok-a"})

    assert response.json() == {"token": "tok-a", "deleted": 1, "accounts": []}
    assert bound(device) == {}


# --------------------------------------------------------------------------------------------
# Notification permission


def test_notification_state_records_the_permission(sdk, device):
    response = sdk.post("notification-state", {"token": "tok-a", "enabled": False})

    assert response.json() == {"token": "tok-a", "notifications_enabled": False, "changed": True}
    device.refresh_from_db()
    assert device.notifications_enabled is False

    again = sdk.post("notification-state", {"token": "tok-a", "enabled": False})
    assert again.json()["changed"] is False

    assert sdk.post("notification-state", {"token": "tok-a"}).status_code == 400


# --------------------------------------------------------------------------------------------
# Another app's token


def _snapshot(device):
    device = Device.objects.get(pk=device.pk)
    return (
        {f.attname: getattr(device, f.attname) for f in Device._meta.concrete_fields},
        sorted(DeviceTag.objects.filter(device=device).values_list("tag", flat=True)),
        bound(device),
        list(Delivery.objects.filter(device=device).values()),
    )


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("post", "register", {**REGISTER, "token": "tok-x", "tags": ["mine"]}),
        ("post", "phone", {"token": "tok-x", "phone": "13711112222"}),
        ("delete", "phone", {"token": "tok-x"}),
        ("post", "accounts", {"token": "tok-x", "accounts": [{"account": "me"}]}),
        ("delete", "accounts", {"token": "tok-x"}),
        ("post", "notification-state", {"token": "tok-x", "enabled": False}),
        ("post", "events", {"token": "tok-x", "events": [{"push_id": "1", "type": "click"}]}),
        ("get", "messages", {"token": "tok-x"}),
    ],
)
def test_another_apps_token_is_404_and_its_device_is_untouched(
    sdk, app, personas, method, path, data
):
    other = outsider_app(personas)
    theirs = add_device(other, "tok-x", tags=["theirs"], phone="+8613700000000")
    push = push_to(other, ["tok-x"])
    data = (
        {**data, "events": [{"push_id": push.push_id, "type": "click"}]}
        if path == "events"
        else data
    )
    before = _snapshot(theirs)

    response = sdk.get(path, **data) if method == "get" else getattr(sdk, method)(path, data)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert _snapshot(theirs) == before
    assert not Device.objects.filter(application=app).exists()


# --------------------------------------------------------------------------------------------
# Events


def test_events_set_the_timestamps_and_answer_the_counts(sdk, app, device):
    push = push_to(app, ["tok-a"])
    sent = datetime(2019, 12, 31, tzinfo=UTC)  # before the reported times, which are kept
    Delivery.objects.filter(push=push).update(sent_at=sent, created_at=sent)
    batch = [
        {"push_id": push.push_id, "type": "arrive", "at": "2020-01-01T00:00:00Z"},
        {"push_id": int(push.push_id), "type": "click", "at": 1577836805},
        {"push_id": "424242", "type": "dismiss"},
    ]

    response = sdk.post("events", {"token": "tok-a", "events": batch})

    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "unknown": 1}
    d = Delivery.objects.get(push=push, device=device)
    assert d.state == "clicked"
    assert (d.arrived_at.isoformat(), d.clicked_at.isoformat()) == (
        "2020-01-01T00:00:00+00:00",
        "2020-01-01T00:00:05+00:00",
    )

    again = sdk.post("events", {"token": "tok-a", "events": batch})
    assert again.json() == {"accepted": 0, "duplicates": 2, "unknown": 1}


def test_more_than_500_events_are_refused_and_nothing_is_recorded(sdk, app, device):
    push = push_to(app, ["tok-a"])
    batch = [{"push_id": push.push_id, "type": "arrive"}] * 501

    response = sdk.post("events", {"token": "tok-a", "events": batch})

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["events"]
    assert Delivery.objects.get(push=push).arrived_at is None


@pytest.mark.parametrize(
    "event, field",
    [
        ({"push_id": "1", "type": "open"}, "events[0].type"),
        ({"push_id": "1", "type": "click", "at": "soon"}, "events[0].at"),
        ({"push_id": "1", "type": "click", "at": 1735689600000}, "events[0].at"),
        ({"type": "click"}, "events[0].push_id"),
    ],
)
def test_a_malformed_event_is_400_naming_it(sdk, device, event, field):
    response = sdk.post("events", {"token": "tok-a", "events": [event]})

    assert response.status_code == 400
    assert field in error_of(response)["fields"]


# --------------------------------------------------------------------------------------------
# Messages (the built-in channel)


def test_messages_come_oldest_first_after_the_cursor(sdk, app, device):
    first = push_to(app, ["tok-a"], title="one", content="1")
    second = push_to(
        app,
        ["tok-a"],
        title="two",
        content="2",
        message={"title": "two", "content": "2", "android": {"custom_content": {"k": "v"}}},
    )

    body = sdk.get("messages", token="tok-a").json()

    assert [m["push_id"] for m in body["messages"]] == [first.push_id, second.push_id]
    latest = body["messages"][-1]
    assert latest["title"] == "two" and latest["content"] == "2"
    assert latest["message_type"] == "notify"
    assert latest["message"]["android"] == {"custom_content": {"k": "v"}}
    assert latest["sent_at"] is not None
    assert body["next"] == latest["id"]

    rest = sdk.get("messages", token="tok-a", after=body["messages"][0]["id"]).json()
    assert [m["push_id"] for m in rest["messages"]] == [second.push_id]

    empty = sdk.get("messages", token="tok-a", after=body["next"]).json()
    assert empty == {"messages": [], "next": body["next"]}


def test_messages_leave_out_expired_and_other_devices_notifications(sdk, app, device):
    add_device(app, "tok-b")
    expired = push_to(app, ["tok-a"], title="expired")
    Delivery.objects.filter(push=expired).update(state="expired")
    past = push_to(app, ["tok-a"], title="past")
    past.expires_at = timezone.now() - timedelta(seconds=1)
    past.save()
    push_to(app, ["tok-b"], title="for b")
    push_to(app, ["tok-a", "tok-b"], title="for both")

    body = sdk.get("messages", token="tok-a").json()

    assert [m["title"] for m in body["messages"]] == ["for both"]


def test_messages_answer_at_most_100(sdk, app, device):
    for _ in range(101):
        push_to(app, ["tok-a"])

    body = sdk.get("messages", token="tok-a").json()

    assert len(body["messages"]) == 100
    assert len(sdk.get("messages", token="tok-a", after=body["next"]).json()["messages"]) == 1


@pytest.fixture
def fake_time(monkeypatch):
    """LongPoll's clock and sleep, without waiting: sleeping advances the clock."""
    state = {"now": 1000.0, "sleeps": []}

    def sleep(seconds):
        state["sleeps"].append(seconds)
        state["now"] += seconds

    monkeypatch.setattr(LongPoll, "clock", staticmethod(lambda: state["now"]))
    monkeypatch.setattr(LongPoll, "sleep", staticmethod(sleep))
    return state


def test_an_empty_long_poll_asks_about_once_a_second_until_wait_has_passed(sdk, device, fake_time):
    body = sdk.get("messages", token="tok-a", wait=3).json()

    assert body == {"messages": [], "next": 0}
    assert fake_time["sleeps"] == [1.0, 1.0, 1.0]


def test_without_wait_an_empty_inbox_answers_at_once(sdk, device, fake_time):
    assert sdk.get("messages", token="tok-a").json()["messages"] == []
    assert fake_time["sleeps"] == []


@pytest.mark.parametrize("params", [{"wait": 31}, {"wait": -1}, {"after": "x"}, {}])
def test_bad_messages_parameters_are_400(sdk, device, params):
    query = {"token": "tok-a", **params} if params else {}
    response = sdk.get("messages", **query)

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_returns_when_a_push_arrives(client, app):
    add_device(app, "tok-a")
    sdk = Sdk(client, app)
    errors = []

    def push_soon():
        try:
            time.sleep(0.3)
            push_to(app, ["tok-a"], title="hello")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=push_soon)
    started = time.monotonic()
    thread.start()
    body = sdk.get("messages", token="tok-a", wait=2).json()
    elapsed = time.monotonic() - started
    thread.join()

    assert errors == []
    assert [m["title"] for m in body["messages"]] == ["hello"]
    assert 0.3 <= elapsed < 1.9
