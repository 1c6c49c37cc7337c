"""The review screens of Django admin, and the reviewers' e-mail, in the reader's language: a
reviewer who chose Simplified Chinese reviews in Chinese (labels, actions, fieldsets, messages),
one who chose English in English."""

import re
from html import unescape

import pytest
from django.core import mail
from django.urls import reverse

from accounts.preferences import Preference
from sms.models import IdentityApplication, Signature, Template
from sms.review import ensure_reviewers_group, submit
from tests.conftest import make_user
from tests.sms.conftest import proof_file

# The English the review screens showed before they were translated: none of it may be left
# on a Chinese reviewer's page. (Data, like the account's name, is not a label.)
ENGLISH_LABELS = [
    "Approve selected",
    "Reject selected",
    "Submit selected",
    "Sendable",
    "Proof document",
    "View the proof",
    "Audit trail",
    "Decision",
    "Review reply",
    "Reviewed by",
    "Reviewed at",
    "Created by",
    "Created at",
    "Signature type",
    "Document type",
    "Purpose",
    "Remark",
    "Region",
    "Status",
    "Tencent status",
    "Tencent's reply",
    "Required to reject",
    "Account is now",
    "Company name",
    "Credential number",
    "Template ID",
    "Back to the queue",
    "Approve",
    "Reject",
    "Signatures",
    "Templates",
    "Identity applications",
    "Review decisions",
]


def visible_text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    # Option labels and button values are read too.
    values = " ".join(re.findall(r'value="([^"]*)"', html))
    return unescape(re.sub(r"<[^>]+>", " ", html) + " " + values)


def english_left(text: str) -> list[str]:
    return [label for label in ENGLISH_LABELS if re.search(rf"\b{re.escape(label)}\b", text, re.I)]


@pytest.fixture
def chinese_reviewer(client, reviewer):
    reviewer.groups.add(ensure_reviewers_group())
    Preference.choose(reviewer, "zh-hans")
    client.force_login(reviewer)
    return client


@pytest.fixture
def items(personas, media):
    signature = Signature.objects.create(
        account=personas.org, text="阿克米", proof_image=proof_file(), remark="官网"
    )
    template = Template.objects.create(
        account=personas.org, code="1001", name="审批", content="您有一条待审批：{1}。"
    )
    identity = IdentityApplication.objects.create(
        account=personas.individual,
        company_name="伊万科技",
        credential_number="91110000MA00000000",
        proof=proof_file(),
    )
    return signature, template, identity


@pytest.mark.parametrize("model", [Signature, Template, IdentityApplication])
def test_a_chinese_reviewer_sees_the_review_queue_in_chinese(chinese_reviewer, items, model):
    page = chinese_reviewer.get(reverse(f"admin:sms_{model._meta.model_name}_changelist"))

    assert page.status_code == 200
    text = visible_text(page)
    assert english_left(text) == []
    assert "审核" in text and "状态" in text
    assert "通过所选" in text and "驳回所选" in text


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_chinese_reviewer_sees_a_pending_applications_page_in_chinese(
    chinese_reviewer, items, index
):
    item = items[index]
    page = chinese_reviewer.get(
        reverse(f"admin:sms_{item._meta.model_name}_change", args=[item.pk])
    )

    assert page.status_code == 200
    text = visible_text(page)
    assert english_left(text) == []
    for chinese in ["审核回复", "审核人", "审核决定", "操作记录", "通过", "驳回", "返回审核队列"]:
        assert chinese in text, chinese


def test_a_chinese_reviewers_messages_are_chinese(chinese_reviewer, items):
    signature = items[0]

    page = chinese_reviewer.post(
        reverse("admin:sms_signature_change", args=[signature.pk]),
        {"reason": "", "_reject": "1"},
    )
    assert "请填写驳回原因" in visible_text(page)

    done = chinese_reviewer.post(
        reverse("admin:sms_signature_changelist"),
        {"action": "approve_selected", "_selected_action": [signature.pk]},
        follow=True,
    )
    assert "已通过 1 个签名。" in visible_text(done)


def test_the_review_screens_stay_english_for_an_english_reviewer(client, reviewer, items):
    reviewer.groups.add(ensure_reviewers_group())
    client.force_login(reviewer)

    page = client.get(reverse("admin:sms_signature_change", args=[items[0].pk]))

    text = visible_text(page)
    assert "Review reply" in text and "Audit trail" in text and "Signature type" in text
    assert "审核回复" not in text


def test_each_reviewer_is_emailed_in_the_language_they_chose(
    personas, reviewer, django_capture_on_commit_callbacks
):
    reviewer.groups.add(ensure_reviewers_group())
    Preference.choose(reviewer, "zh-hans")
    english = make_user("eric", is_staff=True)
    english.groups.add(ensure_reviewers_group())
    template = Template.objects.create(
        account=personas.org, code="1002", name="审批", content="您有一条待审批：{1}。"
    )

    with django_capture_on_commit_callbacks(execute=True):
        submit(template, by=personas.owner)

    by_recipient = {tuple(m.to): m for m in mail.outbox}
    assert set(by_recipient) == {("eric@example.com",), ("rita@example.com",)}
    chinese, english_mail = by_recipient[("rita@example.com",)], by_recipient[("eric@example.com",)]
    assert chinese.subject == "Acme 的模板等待审核"
    assert "已提交审核" in chinese.body and "在管理后台审核" in chinese.body
    assert english_mail.subject == "Template of Acme waits for review"
    assert "was submitted for review" in english_mail.body


def test_the_applicant_is_told_of_a_rejection_in_their_own_language(
    chinese_reviewer, personas, items, django_capture_on_commit_callbacks
):
    signature = items[0]
    signature.created_by = personas.owner
    signature.save(update_fields=["created_by"])
    Preference.choose(personas.owner, "zh-hans")

    with django_capture_on_commit_callbacks(execute=True):
        chinese_reviewer.post(
            reverse("admin:sms_signature_change", args=[signature.pk]),
            {"reason": "请提供完整的公司名称。", "_reject": "1"},
        )

    [notice] = mail.outbox
    assert notice.to == ["olivia@example.com"]
    assert notice.subject == "签名 【阿克米】 已被驳回"
    assert "请提供完整的公司名称。" in notice.body and "请修改后在控制台重新提交。" in notice.body
    assert f"/a/{personas.org.pk}/sms/signatures/{signature.pk}/" in notice.body


def test_an_approval_reaches_the_owners_when_nobody_is_named_as_applicant(
    chinese_reviewer, personas, items, django_capture_on_commit_callbacks
):
    template = items[1]
    assert template.created_by is None

    with django_capture_on_commit_callbacks(execute=True):
        chinese_reviewer.post(
            reverse("admin:sms_template_change", args=[template.pk]), {"_approve": "1"}
        )

    [notice] = mail.outbox  # the owner (English by default); max is an operator
    assert notice.to == ["olivia@example.com"]
    assert notice.subject == "Template 1001 审批 was approved"
    assert "can be used from now on" in notice.body
