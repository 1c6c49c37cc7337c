"""The console's push actions: the confirmation of broadcasts (audience size, most SMS cost),
test pushes, duplicating, editing a scheduled push (also while the due clock releases it),
canceling and stopping; who may do each."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import Membership, Role
from push import control, fanout
from push.models import Delivery, Push
from push.tpns import parse
from push.tpns.submit import TEST_OPTION
from tests.conftest import make_user
from tests.push.conftest import add_device, outsider_app

PHONE_A, PHONE_B = "+8613711110001", "+8613711110002"
CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


def url(personas, page=""):
    return f"/a/{personas.org.pk}/push/{page}"


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def devices(app):
    """Four devices of the app: two share PHONE_A, one has PHONE_B, one has no number."""
    return [
        add_device(app, "tok-a", phone=PHONE_A, tags=["vip"]),
        add_device(app, "tok-b", phone=PHONE_B),
        add_device(app, "tok-c", phone=PHONE_A, tags=["vip"]),
        add_device(app, "tok-d"),
    ]


@pytest.fixture
def form_data(app, sms, devices):
    return {
        "application": app.pk,
        "audience_type": "all",
        "tokens": "",
        "account_type": 0,
        "tags_operator": "OR",
        "message_type": "notify",
        "title": "Approval",
        "content": "Expense report 42 waits for you",
        "expire_time": 86400,
        "resend_by_sms": "on",
        "trigger_condition": 1,
        "delay_trigger_time": 600,
        "sms_app_id": "1400006666",
        "sms_template_id": "449739",
        "sms_template_params": "报销单 42\n明天",
    }


def scheduled(app, *, now=None, in_=timedelta(hours=2), **fields) -> Push:
    now = now or timezone.now()
    push = Push(
        application=app,
        audience_type=fields.pop("audience_type", "all"),
        message_type="notify",
        title=fields.pop("title", "Old title"),
        content=fields.pop("content", "Old content"),
        send_at=now + in_,
        **fields,
    )
    return fanout.accept(push, now=now)


def sent_now(app, tokens=("tok-a",), **fields) -> Push:
    """A token-list push, accepted (and so written) now."""
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": list(tokens)},
        message_type="notify",
        title="t",
        content="c",
        **fields,
    )
    return fanout.accept(push)


def member(personas, username, role):
    user = make_user(username)
    Membership.objects.create(user=user, account=personas.org, role=role)
    return user


# The confirmation of all / tag pushes ------------------------------------------------------------


def test_an_all_push_is_accepted_only_once_its_confirmation_is_confirmed(
    login, personas, form_data
):
    client = login(personas.member)

    shown = client.post(url(personas, "pushes/new/"), form_data)

    assert shown.status_code == 200 and not Push.objects.exists()
    assert shown.templates[0].name == "push/push_confirm.html"
    estimate = shown.context["estimate"]
    assert estimate["devices"] == 4
    # PHONE_A is bound twice: one SMS per number, so 2 numbers, each SMS one part.
    assert (estimate["numbers"], estimate["max_sms"], estimate["fee_per_sms"]) == (2, 2, 1)
    assert estimate["max_fee"] == 2 and estimate["balance"] == 1000
    assert 'id="confirm-devices"><strong>4</strong>' in text(shown)
    assert 'id="confirm-max-fee">2 parts at most' in text(shown)

    token = CONFIRMATION.search(text(shown)).group(1)
    confirmed = client.post(url(personas, "pushes/new/"), {**form_data, "confirmation": token})

    push = Push.objects.get()
    assert confirmed.status_code == 302 and confirmed.url.endswith(f"/pushes/{push.pk}/")
    assert (push.audience_type, push.title, push.created_by) == ("all", "Approval", personas.member)


def test_the_most_sms_cost_is_capped_by_max_sms_and_absent_without_sms(login, personas, form_data):
    client = login(personas.member)

    capped = client.post(url(personas, "pushes/new/"), {**form_data, "max_sms": 1})
    without = client.post(url(personas, "pushes/new/"), {**form_data, "resend_by_sms": ""})

    assert (capped.context["estimate"]["max_sms"], capped.context["estimate"]["max_fee"]) == (1, 1)
    assert without.context["estimate"] == {"devices": 4, "sms": False}
    assert "it costs no SMS" in text(without)
    assert not Push.objects.exists()


def test_a_tag_push_counts_the_devices_of_its_tags(login, personas, form_data):
    shown = login(personas.member).post(
        url(personas, "pushes/new/"), {**form_data, "audience_type": "tag", "tags": "vip"}
    )

    assert shown.context["estimate"]["devices"] == 2
    assert shown.context["estimate"]["numbers"] == 1  # both are PHONE_A
    assert not Push.objects.exists()


def test_a_confirmation_holds_only_for_the_request_it_was_shown_for(login, personas, form_data):
    client = login(personas.member)
    token = CONFIRMATION.search(text(client.post(url(personas, "pushes/new/"), form_data))).group(1)

    changed = client.post(
        url(personas, "pushes/new/"), {**form_data, "title": "Other", "confirmation": token}
    )
    forged = client.post(url(personas, "pushes/new/"), {**form_data, "confirmation": "x:y:z"})
    other = login(member(personas, "otto", Role.OPERATOR))
    theirs = other.post(url(personas, "pushes/new/"), {**form_data, "confirmation": token})

    for page in (changed, forged, theirs):
        assert page.templates[0].name == "push/push_confirm.html"
        assert 'id="confirm-changed"' in text(page)
    assert not Push.objects.exists()


def test_back_from_the_confirmation_shows_the_composer_with_the_data(login, personas, form_data):
    back = login(personas.member).post(url(personas, "pushes/new/"), {**form_data, "back": "1"})

    assert back.templates[0].name == "push/compose.html"
    assert back.context["form"]["title"].value() == "Approval"
    assert not Push.objects.exists()


def test_an_invalid_broadcast_is_refused_before_any_confirmation(login, personas, form_data):
    response = login(personas.member).post(
        url(personas, "pushes/new/"), {**form_data, "sms_template_params": "only one"}
    )

    assert response.templates[0].name == "push/compose.html"
    assert "sms_info.sms_template_params" in text(response)


def test_a_token_list_push_is_accepted_without_confirmation(login, personas, form_data):
    response = login(personas.member).post(
        url(personas, "pushes/new/"),
        {**form_data, "audience_type": "token_list", "tokens": "tok-a"},
    )

    assert response.status_code == 302 and Push.objects.get().targets == 1


# Test pushes ----------------------------------------------------------------------------------


def test_a_test_push_goes_to_one_token_and_is_listed_as_a_test(login, personas, form_data):
    client = login(personas.member)

    response = client.post(
        url(personas, "pushes/new/"), {**form_data, "test": "1", "test_token": "tok-b"}
    )

    push = Push.objects.get()
    assert response.status_code == 302
    assert (push.audience_type, push.audience, push.targets) == (
        "token_list",
        {"token_list": ["tok-b"]},
        1,
    )
    assert push.options[TEST_OPTION] is True and push.resend_by_sms
    assert list(push.deliveries.values_list("device__token", flat=True)) == ["tok-b"]
    listed = text(client.get(url(personas, "pushes/")))
    assert 'class="badge test-push"' in listed
    assert 'id="test-badge"' in text(client.get(url(personas, f"pushes/{push.pk}/")))


def test_an_ordinary_push_is_not_listed_as_a_test(login, personas, form_data):
    client = login(personas.member)
    client.post(
        url(personas, "pushes/new/"),
        {**form_data, "audience_type": "token_list", "tokens": "tok-a"},
    )

    assert TEST_OPTION not in Push.objects.get().options
    assert 'class="badge test-push"' not in text(client.get(url(personas, "pushes/")))


def test_a_test_push_to_an_unknown_token_names_the_token_field(login, personas, form_data):
    client = login(personas.member)

    unknown = client.post(
        url(personas, "pushes/new/"), {**form_data, "test": "1", "test_token": "nobody"}
    )
    empty = client.post(url(personas, "pushes/new/"), {**form_data, "test": "1", "test_token": ""})

    assert "token_list" in str(unknown.context["form"].errors["test_token"])
    assert "Give the token of a device" in str(empty.context["form"].errors["test_token"])
    assert not Push.objects.exists()


def test_the_api_cannot_mark_a_push_as_a_test(app, devices):
    body = {
        "audience_type": "token_list",
        "token_list": ["tok-a"],
        "message_type": "notify",
        "message": {"title": "t", "content": "c"},
        TEST_OPTION: True,
    }

    assert TEST_OPTION not in parse.parse_push(app, body, now=timezone.now()).options


def test_the_composer_offers_the_accounts_devices_for_a_test(login, personas, devices):
    theirs = outsider_app(personas)
    add_device(theirs, "their-token")

    page = text(login(personas.member).get(url(personas, "pushes/new/")))

    assert '<option value="tok-a">' in page and "their-token" not in page


# Duplicating ----------------------------------------------------------------------------------


def test_duplicating_opens_the_composer_filled_from_the_push(login, personas, sms, app, devices):
    original = fanout.accept(
        Push(
            application=app,
            audience_type="tag",
            audience={"tag_rules": [{"tag_items": [{"tags": ["vip"], "tags_operator": "OR"}]}]},
            message_type="notify",
            title="Quarter closes",
            content="Submit your reports",
            resend_by_sms=True,
            sms_delay=900,
            sms_trigger=2,
            sms_app_id="1400006666",
            sms_template_id="449739",
            sms_params=["a", "b"],
            sms_max=5,
        )
    )

    page = login(personas.member).get(url(personas, f"pushes/new/?from={original.pk}"))

    form = page.context["form"]
    values = {name: form[name].value() for name in form.fields}
    assert values["audience_type"] == "tag" and values["tags"] == "vip"
    assert (values["title"], values["content"]) == ("Quarter closes", "Submit your reports")
    assert (values["resend_by_sms"], values["delay_trigger_time"], values["max_sms"]) == (
        True,
        900,
        5,
    )
    assert values["sms_template_params"] == "a\nb" and values["trigger_condition"] == 2
    assert 'id="duplicate-note"' in text(page)
    assert Push.objects.count() == 1  # nothing sent by opening it


def test_an_audience_the_composer_cannot_show_is_said_to_be_not_copied(login, personas, app):
    rules = [{"tag_items": [{"tags": ["a"], "is_not": True}]}]
    original = fanout.accept(
        Push(
            application=app,
            audience_type="tag",
            audience={"tag_rules": rules},
            message_type="notify",
            title="t",
            content="c",
        )
    )

    page = login(personas.member).get(url(personas, f"pushes/new/?from={original.pk}"))

    assert "Not copied: its audience" in text(page)


def test_another_accounts_push_cannot_be_duplicated(login, personas):
    theirs = outsider_app(personas)
    push = fanout.accept(
        Push(application=theirs, audience_type="all", message_type="notify", title="x", content="y")
    )

    assert (
        login(personas.member).get(url(personas, f"pushes/new/?from={push.pk}")).status_code == 404
    )


# Editing a scheduled push -----------------------------------------------------------------------


def edit_data(push, **changes):
    local = timezone.localtime(push.send_at + timedelta(hours=1), push.application.account.tz)
    return {
        "application": push.application_id,
        "audience_type": "all",
        "account_type": 0,
        "tags_operator": "OR",
        "message_type": "notify",
        "title": "New title",
        "content": "New content",
        "expire_time": 3600,
        "send_time": local.strftime("%Y-%m-%dT%H:%M"),
        "trigger_condition": 1,
        "delay_trigger_time": 600,
        **changes,
    }


def confirm_and_post(client, path, data):
    shown = client.post(path, data)
    assert shown.templates[0].name == "push/push_confirm.html", text(shown)[:2000]
    return client.post(path, {**data, "confirmation": CONFIRMATION.search(text(shown)).group(1)})


def test_editing_a_scheduled_push_changes_it_after_the_confirmation(login, personas, app, devices):
    push = scheduled(app, options={"push_speed": 2000})
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")

    form = client.get(path).context["form"]
    assert form["title"].value() == "Old title" and form["send_time"].value()
    data = edit_data(push)
    response = confirm_and_post(client, path, data)

    assert response.status_code == 302 and response.url.endswith(f"/pushes/{push.pk}/")
    old_send_at = push.send_at
    push.refresh_from_db()
    assert (push.title, push.content, push.expire_time) == ("New title", "New content", 3600)
    assert push.status == Push.Status.WAIT
    assert push.send_at == old_send_at.replace(second=0, microsecond=0) + timedelta(hours=1)
    assert push.expires_at == push.send_at + timedelta(seconds=3600)
    assert push.options["push_speed"] == 2000  # what the composer does not show is kept


def test_an_edit_goes_through_the_composers_validation(login, personas, app, sms, devices):
    push = scheduled(app)
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")

    bad_sms = client.post(
        path,
        edit_data(
            push,
            resend_by_sms="on",
            sms_app_id="1400006666",
            sms_template_id="449739",
            sms_template_params="one",
        ),
    )
    past = client.post(path, edit_data(push, send_time="2020-01-01T10:00"))
    no_time = client.post(path, edit_data(push, send_time=""))

    assert "sms_info.sms_template_params" in text(bad_sms)
    assert "stays scheduled" in str(past.context["form"].errors["send_time"])
    assert "send_time" in no_time.context["form"].errors
    push.refresh_from_db()
    assert push.title == "Old title"


def test_a_push_that_has_started_cannot_be_edited(login, personas, app, devices):
    push = scheduled(app)
    fanout.release_due(now=push.send_at)  # the due clock released it
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")

    opened = client.get(path)
    posted = client.post(path, edit_data(push))

    for response in (opened, posted):
        assert response.status_code == 302 and response.url.endswith(f"/pushes/{push.pk}/")
    followed = client.get(opened.url)
    assert "is no longer waiting for its send time" in text(followed)
    push.refresh_from_db()
    assert push.title == "Old title" and push.status == Push.Status.INIT


def test_a_push_about_to_start_cannot_be_edited(app, devices):
    now = timezone.now()
    push = scheduled(app, now=now, in_=timedelta(seconds=30))
    edited = edited_push(app, now, "New")

    with pytest.raises(control.Refused, match="about to start"):
        control.edit_waiting(app, push.pk, edited, now)
    push.refresh_from_db()
    assert push.title == "Old title"


def test_the_edit_is_refused_when_the_push_started_after_the_page_was_opened(
    login, personas, app, devices
):
    push = scheduled(app)
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/edit")
    data = edit_data(push)
    token = CONFIRMATION.search(text(client.post(path, data))).group(1)
    fanout.release_due(now=push.send_at)

    response = client.post(path, {**data, "confirmation": token})

    assert response.status_code == 302
    push.refresh_from_db()
    assert push.title == "Old title" and push.status == Push.Status.INIT


def wait_for_a_lock_wait(within: float = 30) -> None:
    """Until another connection of this database waits for a row lock (a deadline only to fail
    a broken test instead of hanging; nothing here is timed)."""
    import time

    deadline = time.monotonic() + within
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no connection ever waited for the lock")


def in_thread(target):
    """Run ``target`` on its own connection; ``.join()`` returns what it returned or raised."""
    box = {}

    def run():
        try:
            box["result"] = target()
        except Exception as exc:  # handed to the test
            box["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("result")

    thread.result = join
    return thread


def edited_push(app, now, title, in_=timedelta(minutes=10)):
    body = {
        "audience_type": "all",
        "message_type": "notify",
        "message": {"title": title, "content": f"{title} content"},
        "expire_time": 7200,
        "send_time": timezone.localtime(now + in_, parse.BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    }
    return parse.parse_push(app, body, now=now)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_clock_release_waiting_for_an_edit_starts_the_whole_edit(app, devices):
    now = timezone.now()
    push = scheduled(app, now=now, in_=timedelta(minutes=10))
    edited = edited_push(app, now, "Edited")
    locked, release = threading.Event(), threading.Event()

    def edit():
        with transaction.atomic():  # the edit's UPDATE is written, not committed yet
            control.edit_waiting(app, push.pk, edited, now)
            locked.set()
            release.wait()

    editor = in_thread(edit)
    locked.wait()
    clock = in_thread(lambda: fanout.release_due(now=push.send_at))  # the send time has come
    wait_for_a_lock_wait()  # the clock's UPDATE waits for the edit's row lock
    release.set()
    editor.result()

    assert clock.result() == [push.pk]
    push.refresh_from_db()
    assert push.status == Push.Status.INIT  # released, with all of the edit
    assert (push.title, push.content, push.expire_time) == ("Edited", "Edited content", 7200)
    assert push.expires_at == push.send_at + timedelta(seconds=7200)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_clock_release_waiting_for_an_edit_that_moves_it_later_leaves_it_waiting(app, devices):
    now = timezone.now()
    push = scheduled(app, now=now, in_=timedelta(minutes=10))
    edited = edited_push(app, now, "Edited", in_=timedelta(minutes=30))
    locked, release = threading.Event(), threading.Event()

    def edit():
        with transaction.atomic():
            control.edit_waiting(app, push.pk, edited, now)
            locked.set()
            release.wait()

    editor = in_thread(edit)
    locked.wait()
    clock = in_thread(lambda: fanout.release_due(now=push.send_at))  # the old send time
    wait_for_a_lock_wait()
    release.set()
    editor.result()

    assert clock.result() == []  # the send time is checked again once the lock is had
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT
    assert push.send_at > now + timedelta(minutes=29)
    assert fanout.release_due(now=push.send_at) == [push.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_waiting_for_a_clock_release_is_refused_and_changes_nothing(app, devices):
    now = timezone.now()
    push = scheduled(app, now=now, in_=timedelta(minutes=10))
    edited = edited_push(app, now, "Edited")
    released, release = threading.Event(), threading.Event()

    def clock():
        with transaction.atomic():  # released, not committed yet
            ids = fanout.release_due(now=push.send_at)
            released.set()
            release.wait()
        return ids

    ticking = in_thread(clock)
    released.wait()
    editor = in_thread(lambda: control.edit_waiting(app, push.pk, edited, now))
    wait_for_a_lock_wait()  # the edit's row lock waits for the clock's UPDATE
    release.set()

    assert ticking.result() == [push.pk]
    with pytest.raises(control.Refused, match="no longer waiting"):
        editor.result()
    push.refresh_from_db()
    assert push.status == Push.Status.INIT
    assert (push.title, push.content) == ("Old title", "Old content")


# Canceling and stopping -----------------------------------------------------------------------


def test_canceling_a_scheduled_push_asks_first_then_cancels_it(login, personas, app, devices):
    push = scheduled(app)
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/cancel")

    asked = client.get(path)
    push.refresh_from_db()
    assert asked.status_code == 200 and push.status == Push.Status.WAIT
    assert 'id="confirm-halt"' in text(asked)

    done = client.post(path)

    push.refresh_from_db()
    assert done.status_code == 302 and push.status == Push.Status.CANCELED
    assert push.stopped_at is not None
    assert "canceled: it will not be sent" in text(client.get(done.url))
    assert fanout.start(push.pk, now=push.send_at) is False  # never fanned out
    assert not push.deliveries.exists()


def test_a_push_that_is_not_waiting_cannot_be_canceled(login, personas, app, devices):
    push = sent_now(app)
    client = login(personas.member)

    done = client.post(url(personas, f"pushes/{push.pk}/cancel"))

    push.refresh_from_db()
    assert push.status == Push.Status.FINISHED
    assert "was not canceled" in text(client.get(done.url))


def test_stopping_a_push_takes_back_its_undelivered_deliveries(login, personas, app, sms, devices):
    push = sent_now(
        app,
        ["tok-a", "tok-b"],
        resend_by_sms=True,
        sms_delay=600,
        sms_trigger=1,
        sms_app_id="1400006666",
        sms_template_id="449739",
        sms_params=["a", "b"],
    )
    client = login(personas.member)
    path = url(personas, f"pushes/{push.pk}/stop")

    assert 'id="confirm-halt"' in text(client.get(path))
    done = client.post(path)

    push.refresh_from_db()
    assert push.status == Push.Status.CANCELED and push.stopped_at is not None
    states = set(push.deliveries.values_list("state", "outcome"))
    assert states == {(Delivery.State.CANCELED, Delivery.Outcome.CANCELED)}
    assert "2 undelivered deliveries canceled" in text(client.get(done.url))


def test_a_broadcast_stopped_before_its_fan_out_writes_no_delivery(login, personas, app, devices):
    now = timezone.now()
    push = fanout.accept(
        Push(application=app, audience_type="all", message_type="notify", title="t", content="c"),
        now=now,
    )
    assert push.status == Push.Status.INIT  # its start task has not run yet

    login(personas.member).post(url(personas, f"pushes/{push.pk}/stop"))
    started = fanout.start(push.pk, now=now)  # the start task, after the stop

    push.refresh_from_db()
    assert started is False and push.status == Push.Status.CANCELED
    assert not push.deliveries.exists()


def test_the_push_page_offers_the_actions_its_state_allows(login, personas, app, viewer, devices):
    waiting = scheduled(app)
    running = sent_now(app)
    client = login(personas.member)

    waiting_page = text(client.get(url(personas, f"pushes/{waiting.pk}/")))
    running_page = text(client.get(url(personas, f"pushes/{running.pk}/")))
    seen_by_viewer = text(login(viewer).get(url(personas, f"pushes/{waiting.pk}/")))

    assert 'id="edit-push"' in waiting_page and 'id="cancel-push"' in waiting_page
    assert 'id="stop-push"' not in waiting_page
    assert 'id="stop-push"' in running_page and 'id="edit-push"' not in running_page
    assert 'id="duplicate-push"' in running_page
    assert 'id="push-actions"' not in seen_by_viewer


# Who may do what --------------------------------------------------------------------------------

ACTIONS = [
    ("get", "pushes/{pk}/edit"),
    ("post", "pushes/{pk}/edit"),
    ("get", "pushes/{pk}/cancel"),
    ("post", "pushes/{pk}/cancel"),
    ("get", "pushes/{pk}/stop"),
    ("post", "pushes/{pk}/stop"),
    ("get", "pushes/new/?from={pk}"),
]


@pytest.mark.parametrize("method,page", ACTIONS)
def test_a_viewer_may_not_act_on_pushes(login, personas, viewer, app, devices, method, page):
    push = scheduled(app)

    response = getattr(login(viewer), method)(url(personas, page.format(pk=push.pk)))

    assert response.status_code == 403
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT and push.title == "Old title"


@pytest.mark.parametrize("method,page", ACTIONS)
def test_an_outsider_gets_404_for_every_push_action(login, personas, app, devices, method, page):
    push = scheduled(app)

    response = getattr(login(personas.outsider), method)(url(personas, page.format(pk=push.pk)))

    assert response.status_code == 404
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT


@pytest.mark.parametrize("page", ["edit", "cancel", "stop"])
def test_an_outsider_cannot_reach_acme_pushes_under_their_own_account(login, personas, app, page):
    push = scheduled(app)

    response = login(personas.outsider).post(
        f"/a/{personas.outsider_account.pk}/push/pushes/{push.pk}/{page}"
    )

    assert response.status_code == 404
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN, Role.OWNER])
def test_operators_and_above_may_cancel(login, personas, app, role):
    push = scheduled(app)
    user = personas.owner if role == Role.OWNER else member(personas, f"u-{role}", role)

    login(user).post(url(personas, f"pushes/{push.pk}/cancel"))

    push.refresh_from_db()
    assert push.status == Push.Status.CANCELED


def test_actions_need_the_csrf_token(personas, app):
    from django.test import Client

    push = scheduled(app)
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.member)

    for page in ("cancel", "stop", "edit"):
        assert client.post(url(personas, f"pushes/{push.pk}/{page}")).status_code == 403
    push.refresh_from_db()
    assert push.status == Push.Status.WAIT
    assert connection.vendor  # (the database answered)


def test_a_push_whose_audience_the_composer_cannot_show_is_not_edited(
    login, personas, app, devices
):
    rules = [{"tag_items": [{"tags": ["vip"], "is_not": True}]}]
    push = scheduled(app, audience_type="tag", audience={"tag_rules": rules})
    client = login(personas.member)

    page = text(client.get(url(personas, f"pushes/{push.pk}/")))
    response = client.post(url(personas, f"pushes/{push.pk}/edit"), edit_data(push))

    assert 'id="edit-push"' not in page and 'id="cancel-push"' in page
    assert response.status_code == 302
    assert "composer cannot show this push" in text(client.get(response.url))
    push.refresh_from_db()
    assert push.audience == {"tag_rules": rules} and push.title == "Old title"
