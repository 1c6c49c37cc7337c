"""Why an SMS was not sent, in the reader's words: every console page and the console's CSV say
a blocking rule in the reader's language (``sms.rules.reason_label``), while the database, the
APIs and the API's export keep the code; a refusal of ``sending`` reads in Chinese on the
console's form and in English, byte for byte as before, in the API's answer."""

import csv
import io
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import translation

from accounts.preferences import Preference
from sms.models import OneOffSend, SmsMessage
from sms.rules import Rule, reason_label
from tests.accounts.test_scoping import api
from tests.sms.conftest import NUMBER, send_one

CJK = re.compile(r"[\u4e00-\u9fff]")


def visible(response) -> str:
    """The page's text as read (tags and their attributes, where the codes are kept, removed)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def chinese(login, personas):
    Preference.choose(personas.member, "zh-hans")
    return login(personas.member)


def blocked(sms, rule: str, **fields) -> SmsMessage:
    """An SMS blocked by ``rule``, as ``sending.reserve`` records one."""
    return SmsMessage.objects.create(
        account=sms.account,
        application=sms.application,
        phone_number=NUMBER,
        region="mainland",
        template=sms.template,
        template_code=sms.template.code,
        content="x",
        state=SmsMessage.State.BLOCKED,
        reason=rule,
        **fields,
    )


@pytest.mark.parametrize("rule", Rule.values)
def test_every_rule_has_words_of_its_own_in_each_language(rule):
    with translation.override("en"):
        english = reason_label(rule)
    with translation.override("zh-hans"):
        chinese = reason_label(rule)

    assert english != rule and " " in english
    assert CJK.search(chinese), chinese


def test_a_code_no_rule_covers_is_shown_as_the_provider_spells_it():
    with translation.override("zh-hans"):
        assert reason_label("LimitExceeded.PhoneNumberDailyLimit") == (
            "LimitExceeded.PhoneNumberDailyLimit"
        )


def test_the_one_off_result_page_says_why_in_the_readers_language(sms, chinese, personas):
    done = OneOffSend.objects.create(account=sms.account, token="t", created_by=personas.member)
    blocked(sms, Rule.SAME_CONTENT, session_context=done.session_context)

    page = visible(chinese.get(f"/a/{sms.account.pk}/sms/send/{done.pk}/"))

    assert "相同内容发送过于频繁" in page
    assert "same_content" not in page


def test_the_records_page_and_the_record_say_why_in_the_readers_language(sms, chinese):
    message = blocked(sms, Rule.DAILY_LIMIT)

    records = visible(chinese.get(f"/a/{sms.account.pk}/sms/records/"))
    record = visible(chinese.get(f"/a/{sms.account.pk}/sms/records/{message.pk}/"))

    assert "已达每日上限" in records and "daily_limit" not in records
    assert "已达每日上限" in record  # the record's page also gives the code, for support


def test_the_consoles_csv_gives_the_reason_in_words_beside_the_code(sms, chinese):
    blocked(sms, Rule.INSUFFICIENT_PACKAGE)
    sent = send_one(sms, "+8613711113333")

    response = chinese.get(f"/a/{sms.account.pk}/sms/records/", {"export": "csv"})
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")))
    )
    by_state = {row["state"]: row for row in rows}

    assert by_state["blocked"]["reason"] == "insufficient_package"
    assert by_state["blocked"]["reason_text"] == "套餐余量不足"
    assert by_state[sent.state]["reason_text"] == ""


def test_the_apis_export_and_record_keep_the_code_alone(sms, personas):
    message = blocked(sms, Rule.HOURLY_LIMIT)
    client = api(Client(), personas.member)

    body = b"".join(client.get("/api/v1/sms/messages", {"format": "csv"}).streaming_content).decode(
        "utf-8-sig"
    )
    listing = client.get("/api/v1/sms/messages").json()

    assert body.splitlines()[0].split(",")[5] == "reason" and "reason_text" not in body
    assert [m["reason"] for m in listing["results"] if m["id"] == message.pk] == ["hourly_limit"]


def test_a_refusal_reads_in_chinese_on_the_form_and_in_english_from_the_api(sms, chinese, personas):
    twice = f"{NUMBER}\n137 1111 2222"
    form = chinese.post(
        f"/a/{sms.account.pk}/sms/send/",
        {
            "template": sms.template.pk,
            "param_1": "报销单 42",
            "param_2": "明天",
            "application": sms.application.pk,
            "signature": "",
            "numbers": twice,
            "token": "tok",
            "preview": "1",
        },
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    answer = api(Client(), personas.member).post(
        "/api/v1/sms/send",
        {
            "sdk_app_id": sms.application.sdk_app_id,
            "template_id": sms.template.code,
            "params": ["报销单 42", "明天"],
            "numbers": [NUMBER, "137 1111 2222"],
        },
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert f"{NUMBER} 与 numbers[0] 重复：一次调用每个号码只发送一条短信" in visible(form)
    assert answer.json()["error"]["fields"]["numbers[1]"] == [
        f"{NUMBER} is numbers[0] again: one call sends one SMS per number"
    ]
    assert not SmsMessage.objects.exists()
