"""A delivery's supplementary-SMS outcome in the reader's words (``push.outcomes``): the push
page's outcome and rule tables, its preview, the deliveries' badges, a delivery's timeline and
the deliveries CSV say them in Chinese to a member who chose Chinese; the stored codes, the API
and the CSV's code columns stay as they were."""

import csv
import io
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import translation

from accounts.preferences import Preference
from push import fallback
from push.models import Delivery
from push.outcomes import detail_label, key_label, outcome_label
from tests.accounts.test_scoping import api
from tests.push.test_fallback import due
from tests.push.test_preview import scenario  # noqa: F401  (the fixture)

CJK = re.compile(r"[\u4e00-\u9fff]")


def visible(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def chinese(login, personas):
    Preference.choose(personas.member, "zh-hans")
    return login(personas.member)


@pytest.mark.parametrize("outcome", Delivery.Outcome.values)
def test_every_outcome_has_chinese_words(outcome):
    with translation.override("zh-hans"):
        assert CJK.search(outcome_label(outcome)), outcome


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("blocked:daily_limit", "已拦截：已达每日上限"),
        ("unknown:sending", "未知（可能已发送）：发送中"),
        ("canceled:push canceled", "已取消：推送已停止"),
        ("canceled:application deleted", "已取消：应用已删除"),
        ("failed:LimitExceeded.PhoneNumberDailyLimit", "失败：LimitExceeded.PhoneNumberDailyLimit"),
        ("no_phone", "没有手机号码"),
    ],
)
def test_a_key_reads_as_its_outcome_and_detail(key, words):
    with translation.override("zh-hans"):
        assert key_label(key) == words


def test_the_push_page_says_outcomes_rules_and_the_preview_in_chinese(scenario, chinese):  # noqa: F811
    push = scenario
    base = f"/a/{push.application.account_id}/push/pushes/{push.pk}/"

    before = visible(chinese.get(base, {"preview": "1"}))
    fallback.sweep(due(push))
    after = visible(chinese.get(base))

    assert "已拦截：预算已用完 2" in before  # the preview's "skipped because"
    assert "没有手机号码 1" in after  # the outcome table
    assert "预算已用完 2" in after  # blocked by rule
    assert "短信已发送" in after  # a delivery's badge
    for code in ("budget_exhausted", "no_phone", "blocked:"):
        assert code not in before + after, code


def test_a_deliverys_timeline_reads_in_chinese_and_the_api_keeps_its_codes(
    scenario,  # noqa: F811
    chinese,
    personas,
):
    push = scenario
    fallback.sweep(due(push))
    delivery = push.deliveries.get(device__token="limited")
    page = visible(
        chinese.get(f"/a/{personas.org.pk}/push/pushes/{push.pk}/deliveries/{delivery.pk}/")
    )
    story = (
        api(Client(), personas.member)
        .get(f"/api/v1/pushes/{push.pk}/deliveries/{delivery.pk}/timeline")
        .json()
    )

    assert "已推送" in page and "短信已决定" in page and "已拦截：已达每日上限" in page
    assert "daily_limit" not in page and "queued for the device" not in page
    decided = [e for e in story["events"] if e["event"] == "decided"]
    assert decided == [
        {"at": decided[0]["at"], "event": "decided", "detail": "blocked: daily_limit"}
    ]
    assert set(story["events"][0]) == {"at", "event", "detail"}


def test_the_deliveries_csv_gives_the_outcome_in_words_beside_its_codes(scenario, chinese):  # noqa: F811
    push = scenario
    fallback.sweep(due(push))

    response = chinese.get(
        f"/a/{push.application.account_id}/push/pushes/{push.pk}/", {"export": "csv"}
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {row["token"]: row for row in csv.DictReader(io.StringIO(body))}

    limited = rows["limited"]
    assert (limited["outcome"], limited["outcome_detail"]) == ("blocked", "daily_limit")
    assert (limited["outcome_text"], limited["outcome_detail_text"]) == ("已拦截", "已达每日上限")


def test_a_detail_no_rule_covers_is_shown_as_stored():
    with translation.override("zh-hans"):
        assert detail_label("InvalidParameterValue.ProhibitedUseUrlInTemplateParameter") == (
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter"
        )
