"""The console's push composer submits through the same code as /v3/push/app."""

import pytest

from push.models import Push
from tests.push.conftest import add_device


@pytest.fixture
def form_data(app, sms):
    add_device(app, "tok-a", phone="+8613711110001")
    add_device(app, "tok-b", phone="+8613711110002")
    return {
        "application": app.pk,
        "audience_type": "token_list",
        "tokens": "tok-a\ntok-b",
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
        "max_sms": 1,
    }


def url(personas):
    return f"/a/{personas.org.pk}/push/pushes/new/"


def test_a_composed_push_with_sms_supplement_is_accepted(form_data, login, personas):
    response = login(personas.member).post(url(personas), form_data)

    push = Push.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/pushes/{push.pk}/")
    assert (push.targets, push.resend_by_sms, push.sms_delay, push.sms_trigger) == (2, True, 600, 1)
    assert (push.sms_params, push.sms_max, push.created_by) == (
        ["报销单 42", "明天"],
        1,
        personas.member,
    )
    assert set(push.deliveries.values_list("fallback", flat=True)) == {"waiting"}


def test_the_form_enforces_the_300_second_minimum(form_data, login, personas):
    form_data["delay_trigger_time"] = 299

    response = login(personas.member).post(url(personas), form_data)

    assert response.status_code == 200 and not Push.objects.exists()
    assert "greater than or equal to 300" in response.content.decode()


def test_the_api_rules_apply_to_the_composer(form_data, login, personas):
    form_data["sms_template_params"] = "only one"

    response = login(personas.member).post(url(personas), form_data)

    text = response.content.decode()
    assert "sms_info.sms_template_params" in text and "ret_code 1008007" in text
    assert not Push.objects.exists()


def test_only_approved_templates_are_offered(form_data, login, personas):
    from sms.models import Template

    Template.objects.create(account=personas.org, code="5555", name="Draft", content="x {1}")

    page = login(personas.member).get(url(personas)).content.decode()

    assert "449739" in page and "5555" not in page


def test_a_viewer_cannot_push(form_data, login, personas):
    from accounts.models import Membership

    Membership.objects.filter(user=personas.member).update(role="viewer")

    assert login(personas.member).post(url(personas), form_data).status_code == 403


def test_the_composer_can_ask_for_the_sms_as_soon_as_a_channel_refuses(form_data, login, personas):
    login(personas.member).post(url(personas), form_data)
    assert Push.objects.get().sms_on_refusal is False
    Push.objects.all().delete()
    login(personas.member).post(url(personas), {**form_data, "send_on_refusal": "on"})
    assert Push.objects.get().sms_on_refusal is True
