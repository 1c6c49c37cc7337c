"""A one-off SMS from the console: operators only, one field per template parameter, a preview
with the cost, sent once per form, through the same gates as ``POST /api/v1/sms/send``."""

import pytest
from django.test import Client

from sms.models import ExemptNumber, OneOffSend, Package, Signature, SmsMessage
from sms.transports import LOCAL_OUTBOX
from tests.accounts.test_scoping import api
from tests.sms.conftest import NUMBER, approved

OTHER = "+8613711113333"


def url(account, page="send/"):
    return f"/a/{account.pk}/sms/{page}"


def form_data(sms, numbers=NUMBER, token="tok-1", action="send", **changes):
    data = {
        "template": sms.template.pk,
        "param_1": "报销单 42",
        "param_2": "明天",
        "application": sms.application.pk,
        "signature": "",
        "numbers": numbers,
        "token": token,
        action: "1",
    }
    data.update(changes)
    return data


def used(sms) -> int:
    return Package.objects.get(pk=sms.package.pk).used


def test_a_viewer_can_neither_open_nor_send(sms, login, viewer):
    client = login(viewer)

    assert client.get(url(sms.account)).status_code == 403
    assert client.post(url(sms.account), form_data(sms)).status_code == 403
    assert not SmsMessage.objects.exists()


def test_an_outsider_gets_404(sms, login, personas):
    assert login(personas.outsider).get(url(sms.account)).status_code == 404


def test_the_form_asks_for_each_parameter_of_the_chosen_template(sms, login, personas):
    page = login(personas.member).get(url(sms.account) + f"?template={sms.template.pk}")

    assert page.status_code == 200
    fields = page.context["form"].fields
    assert [n for n in fields if n.startswith("param_")] == ["param_1", "param_2"]
    assert page.context["form"]["token"].value()  # a fresh one-time token


def test_the_preview_shows_the_text_and_cost_and_sends_nothing(sms, login, personas):
    response = login(personas.member).post(
        url(sms.account), form_data(sms, numbers=f"{NUMBER}\n{OTHER}", action="preview")
    )

    assert response.status_code == 200
    quote = response.context["quote"]
    assert (quote.count, quote.sendable, quote.fee_per_sms, quote.fee) == (2, 2, 1, 2)
    text = response.content.decode()
    assert "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。" in text
    assert "Send 2 SMS (2 parts)" in text
    assert not SmsMessage.objects.exists() and used(sms) == 0


def test_sending_charges_the_package_and_lists_each_number_with_its_record(sms, login, personas):
    client = login(personas.member)

    response = client.post(url(sms.account), form_data(sms, numbers=f"{NUMBER}, 13711113333"))

    done = OneOffSend.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(sms.account, f"send/{done.pk}/")
    sent = list(done.messages())
    assert [(m.phone_number, m.state, m.charged) for m in sent] == [
        (NUMBER, "sent", 1),
        (OTHER, "sent", 1),
    ]
    assert used(sms) == 2
    assert [m.numbers for m in LOCAL_OUTBOX] == [(NUMBER, OTHER)]
    assert {m.source_type for m in sent} == {"api"} and sent[0].created_by == personas.member
    page = client.get(response["Location"]).content.decode()
    for m in sent:
        assert url(sms.account, f"records/{m.pk}/") in page
    assert client.get(url(sms.account, f"records/{sent[0].pk}/")).status_code == 200


def test_a_second_post_of_the_same_form_sends_nothing(sms, login, personas):
    client = login(personas.member)
    data = form_data(sms, numbers=f"{NUMBER}\n{OTHER}")

    first = client.post(url(sms.account), data)
    second = client.post(url(sms.account), data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]  # the first send's result
    assert SmsMessage.objects.count() == 2 and used(sms) == 2
    assert len(LOCAL_OUTBOX) == 1
    # A new form (a new token) sends again; the numbers' rate limits then decide.
    client.post(url(sms.account), {**data, "token": "tok-2"})
    assert SmsMessage.objects.count() == 4


def test_a_rate_limited_number_is_blocked_in_the_console_as_in_the_api(
    sms, login, personas, client
):
    console = login(personas.member)
    console.post(url(sms.account), form_data(sms, numbers=NUMBER, token="a"))
    operator = api(Client(), personas.member)
    body = {
        "sdk_app_id": sms.application.sdk_app_id,
        "template_id": sms.template.code,
        "params": ["报销单 42", "明天"],
        "numbers": [NUMBER, OTHER],
    }

    by_api = operator.post("/api/v1/sms/send", body, content_type="application/json").json()
    console.post(url(sms.account), form_data(sms, numbers=f"{NUMBER}\n{OTHER}", token="b"))

    api_results = {r["phone_number"]: (r["state"], r["reason"]) for r in by_api["results"]}
    assert api_results == {NUMBER: ("blocked", "same_content"), OTHER: ("sent", "")}
    second = OneOffSend.objects.get(token="b")
    page = console.get(url(sms.account, f"send/{second.pk}/")).content.decode()
    assert [(m.phone_number, m.state, m.reason) for m in second.messages()] == [
        (NUMBER, "blocked", "same_content"),
        (OTHER, "blocked", "same_content"),  # the API sent it the same text a moment ago
    ]
    assert "same_content" in page
    assert used(sms) == 2  # the first console SMS and the API's second number


def test_an_exempt_number_skips_the_rate_limits_in_the_console_too(sms, login, personas):
    ExemptNumber.objects.create(account=sms.account, number=NUMBER)
    client = login(personas.member)

    client.post(url(sms.account), form_data(sms, token="a"))
    client.post(url(sms.account), form_data(sms, token="b"))

    assert list(SmsMessage.objects.values_list("state", flat=True)) == ["sent", "sent"]


def test_a_number_past_the_package_balance_is_blocked_and_not_charged(sms, login, personas):
    Package.objects.filter(pk=sms.package.pk).update(quantity=1)

    login(personas.member).post(url(sms.account), form_data(sms, numbers=f"{NUMBER}\n{OTHER}"))

    rows = SmsMessage.objects.order_by("id")
    assert [(m.state, m.reason, m.charged) for m in rows] == [
        ("sent", "", 1),
        ("blocked", "insufficient_package", 0),
    ]
    assert used(sms) == 1


@pytest.mark.parametrize(
    "numbers, error",
    [
        (f"{NUMBER}\n137 1111 2222", "is numbers[0] again"),
        ("+14155550100", "is not a Chinese mainland number"),
        ("12345", "number 1"),
    ],
)
def test_a_bad_number_list_is_refused_on_the_numbers_field_with_nothing_sent(
    sms, login, personas, numbers, error
):
    response = login(personas.member).post(url(sms.account), form_data(sms, numbers=numbers))

    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["numbers"])
    assert not SmsMessage.objects.exists() and not OneOffSend.objects.exists()


def test_a_template_no_longer_approved_cannot_be_chosen(sms, login, personas):
    sms.template.__class__.objects.filter(pk=sms.template.pk).update(status="withdrawn")

    response = login(personas.member).post(url(sms.account), form_data(sms))

    assert "template" in response.context["form"].errors
    assert not SmsMessage.objects.exists()


def test_a_signature_of_another_region_is_refused_naming_the_signature(
    sms, login, personas, reviewer
):
    other = approved(
        Signature.objects.create(account=sms.account, text="Acme", region="global"), reviewer
    )

    response = login(personas.member).post(url(sms.account), form_data(sms, signature=other.pk))

    assert "signature" in response.context["form"].errors
    assert not SmsMessage.objects.exists()
