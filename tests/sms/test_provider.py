"""Signatures and templates at Tencent Cloud, against a loopback server speaking API 3.0.

The real SDK signs every request; the fake checks the TC3 signature and answers like Tencent.
"""

import base64
import logging
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_q.models import OrmQ

from sms import provider, tasks
from sms.models import ProviderStatus, Region, ReviewDecision, Signature, Template
from sms.review import submit as submit_for_review
from tests.conftest import SECRET_ID, SECRET_KEY, fake_cloud
from tests.fakes.tencentcloud import TencentCloudError
from tests.sms.conftest import authorize

OTHER_ID, OTHER_KEY = "AKIDotherotherotherotherother0EXAMPLE", "otherotherotherotherotherEXAMPLE"
NOW = timezone.now().replace(microsecond=0)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def cloud(settings):
    with fake_cloud(settings, {SECRET_ID: SECRET_KEY, OTHER_ID: OTHER_KEY}) as fake:
        yield fake


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def acme(personas):
    authorize(personas.org)
    return personas.org


def template(account, name="Approval", **extra):
    return Template.objects.create(
        account=account, name=name, content="您有一条待审批：{1}，请在{2}前处理。", **extra
    )


def provider_notes(item):
    return list(item.decisions.filter(action="provider").values_list("reason", flat=True))


# -- submit ----------------------------------------------------------------------------------


def test_a_signature_is_submitted_with_addsmssign(cloud, acme):
    cloud.on("AddSmsSign", lambda params, request: {"AddSignStatus": {"SignId": 1234}})
    signature = Signature.objects.create(
        account=acme,
        text="腾讯云",
        sign_type=Signature.SignType.COMPANY,
        document_type=Signature.DocumentType.THREE_IN_ONE,
        purpose=Signature.Purpose.SELF,
        remark="Our company name",
    )
    signature.proof_image.save("licence.png", ContentFile(PNG))

    assert provider.submit(signature) is True

    [call] = cloud.calls("AddSmsSign")
    assert call.signature_valid and call.secret_id == SECRET_ID
    assert call.params == {
        "SignName": "腾讯云",
        "SignType": 0,
        "DocumentType": 0,
        "International": 0,
        "SignPurpose": 0,
        "ProofImage": base64.b64encode(PNG).decode(),
        "Remark": "Our company name",
    }
    signature.refresh_from_db()
    assert (signature.provider_id, signature.provider_status) == ("1234", 1)
    assert signature.provider_error == ""
    assert provider_notes(signature) == [
        "AddSmsSign: Tencent Cloud accepted the signature for review (SignId 1234)."
    ]
    assert not signature.is_sendable


def test_a_template_is_submitted_with_addsmstemplate(cloud, acme):
    cloud.on(
        "AddSmsTemplate", lambda params, request: {"AddTemplateStatus": {"TemplateId": "1122"}}
    )
    item = template(acme, kind=Template.Kind.VERIFICATION, region=Region.GLOBAL, remark="login")

    assert provider.submit(item) is True

    [call] = cloud.calls("AddSmsTemplate")
    assert call.signature_valid
    assert call.params == {
        "TemplateName": "Approval",
        "TemplateContent": "您有一条待审批：{1}，请在{2}前处理。",
        "SmsType": 3,
        "International": 1,
        "Remark": "login",
    }
    item.refresh_from_db()
    assert (item.provider_id, item.provider_status, item.provider_error) == ("1122", 1, "")
    assert item.provider_template_id == "1122"


def test_tencents_refusal_is_kept_on_the_item_and_its_audit_trail(cloud, acme, caplog):
    def refuse(params, request):
        raise TencentCloudError(
            "FailedOperation.NotEnterpriseCertification", "Personal users cannot use this API."
        )

    cloud.on("AddSmsTemplate", refuse)
    item = template(acme)
    caplog.set_level(logging.DEBUG)

    assert provider.submit(item) is False

    item.refresh_from_db()
    error = "FailedOperation.NotEnterpriseCertification: Personal users cannot use this API."
    assert (item.provider_error, item.provider_status, item.provider_id) == (error, None, "")
    assert provider_notes(item) == [f"Not submitted to Tencent Cloud: {error}"]
    assert SECRET_KEY not in caplog.text and SECRET_KEY[5:] not in caplog.text


def test_a_submission_is_never_made_twice(cloud, acme):
    cloud.on(
        "AddSmsTemplate", lambda params, request: {"AddTemplateStatus": {"TemplateId": "1122"}}
    )
    item = template(acme)

    first = provider.submit(item)
    second = provider.submit(Template.objects.get(pk=item.pk))

    assert (first, second) == (True, False)
    assert len(cloud.calls("AddSmsTemplate")) == 1


def test_nothing_is_submitted_without_a_confirmed_authorization(cloud, personas):
    authorize(personas.org, confirmed=False)
    item = template(personas.org)

    assert provider.submit(item) is False

    assert cloud.requests == []
    item.refresh_from_db()
    assert (item.provider_id, item.provider_error, item.provider_status) == ("", "", None)


def test_an_item_rejected_here_is_not_submitted(cloud, acme, reviewer):
    item = template(acme)
    item.decide(approve=False, by=reviewer, reason="no")

    assert provider.submit(item) is False
    assert cloud.requests == []


def test_an_application_reaches_tencent_through_the_queued_task(
    cloud, acme, settings, django_capture_on_commit_callbacks
):
    settings.SMS_TRANSPORT = "tencent"
    cloud.on("AddSmsTemplate", lambda params, request: {"AddTemplateStatus": {"TemplateId": "77"}})
    item = template(acme)
    with django_capture_on_commit_callbacks(execute=True):
        submit_for_review(item)
    assert cloud.calls("AddSmsTemplate") == []  # submit() itself never calls Tencent

    [queued] = OrmQ.objects.all()
    assert tasks.submit_to_provider(*queued.task["args"]) is True

    item.refresh_from_db()
    assert (item.provider_id, item.provider_status) == ("77", ProviderStatus.REVIEWING)


def test_a_reviewer_can_retry_a_refused_submission_from_the_admin(
    cloud, acme, reviewer, client, settings, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from sms.review import ensure_reviewers_group

    settings.SMS_TRANSPORT = "tencent"
    answers = iter([TencentCloudError("RequestLimitExceeded", "Too fast."), {"TemplateId": "9"}])

    def add_template(params, request):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return {"AddTemplateStatus": answer}

    cloud.on("AddSmsTemplate", add_template)
    item = template(acme)
    assert provider.submit(item) is False
    reviewer.groups.add(ensure_reviewers_group())
    client.force_login(reviewer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:sms_template_changelist"),
            {"action": "submit_to_tencent_again", "_selected_action": [item.pk]},
        )
    [queued] = OrmQ.objects.all()
    tasks.submit_to_provider(*queued.task["args"])

    item.refresh_from_db()
    assert (item.provider_id, item.provider_error) == ("9", "")
    assert len(provider_notes(item)) == 2


# -- sync ------------------------------------------------------------------------------------


def template_statuses(statuses):
    """A DescribeSmsTemplateList handler answering from {TemplateId: (StatusCode, reply)}."""

    def handler(params, request):
        return {
            "DescribeTemplateStatusSet": [
                {
                    "TemplateId": template_id,
                    "International": params["International"],
                    "StatusCode": statuses[template_id][0],
                    "ReviewReply": statuses[template_id][1],
                    "TemplateName": "x",
                    "TemplateContent": "x",
                    "CreateTime": 1617379200,
                }
                for template_id in params["TemplateIdSet"]
                if template_id in statuses
            ]
        }

    return handler


def submitted(item, provider_id, status=ProviderStatus.REVIEWING):
    type(item).objects.filter(pk=item.pk).update(provider_id=provider_id, provider_status=status)
    item.refresh_from_db()
    return item


def test_sync_reads_each_regions_statuses_and_records_changes(cloud, acme, reviewer):
    approved_here = template(acme, "approved here")
    approved_here.decide(approve=True, by=reviewer)
    submitted(approved_here, "101")
    pending = submitted(template(acme, "pending"), "102")
    global_one = submitted(template(acme, "global", region=Region.GLOBAL), "201")
    template(acme, "never submitted")
    cloud.on(
        "DescribeSmsTemplateList",
        template_statuses({101: (-1, "Content violates the rules."), 102: (0, ""), 201: (2, "")}),
    )

    synced = provider.sync_account(acme, now=NOW)

    assert synced == 3
    calls = sorted(
        (c.params["International"], c.params["TemplateIdSet"])
        for c in cloud.calls("DescribeSmsTemplateList")
    )
    assert calls == [(0, [101, 102]), (1, [201])]
    assert all(c.signature_valid for c in cloud.calls("DescribeSmsTemplateList"))
    for item in (approved_here, pending, global_one):
        item.refresh_from_db()
        assert item.provider_synced_at == NOW
    assert (approved_here.provider_status, approved_here.status) == (-1, "approved")
    assert approved_here.provider_reply == "Content violates the rules."
    assert (pending.provider_status, pending.status) == (0, "pending")
    assert global_one.provider_status == 2
    assert provider_notes(approved_here) == [
        "Tencent Cloud: Rejected by Tencent. Content violates the rules."
    ]


def test_a_tencent_rejection_makes_an_approved_template_unsendable(cloud, acme, reviewer):
    item = template(acme)
    item.decide(approve=True, by=reviewer)
    submitted(item, "101", status=ProviderStatus.APPROVED)
    assert list(Template.objects.sendable()) == [item]
    cloud.on("DescribeSmsTemplateList", template_statuses({101: (-1, "Withdrawn.")}))

    provider.sync_all(now=NOW)

    item.refresh_from_db()
    assert item.status == "approved" and not item.is_sendable
    assert not Template.objects.sendable().exists()


def test_an_unchanged_status_is_synced_without_a_new_audit_entry(cloud, acme):
    item = submitted(template(acme), "101")
    cloud.on("DescribeSmsTemplateList", template_statuses({101: (1, "")}))

    provider.sync_account(acme, now=NOW)
    provider.sync_account(acme, now=NOW + timedelta(minutes=10))

    item.refresh_from_db()
    assert item.provider_synced_at == NOW + timedelta(minutes=10)
    assert provider_notes(item) == []


def test_signatures_are_synced_a_hundred_ids_per_call(cloud, acme):
    Signature.objects.bulk_create(
        Signature(account=acme, text=f"签名{n}", provider_id=str(1000 + n), provider_status=1)
        for n in range(150)
    )

    def approve_all(params, request):
        return {
            "DescribeSignListStatusSet": [
                {
                    "SignId": sign_id,
                    "International": 0,
                    "StatusCode": 0,
                    "ReviewReply": "",
                    "SignName": "腾讯云",
                    "CreateTime": 1617379200,
                }
                for sign_id in params["SignIdSet"]
            ]
        }

    cloud.on("DescribeSmsSignList", approve_all)

    assert provider.sync_account(acme, now=NOW) == 150

    sizes = sorted(len(c.params["SignIdSet"]) for c in cloud.calls("DescribeSmsSignList"))
    assert sizes == [50, 100]
    assert {c.params["International"] for c in cloud.calls("DescribeSmsSignList")} == {0}
    assert set(Signature.objects.values_list("provider_status", flat=True)) == {0}
    assert ReviewDecision.objects.filter(action="provider").count() == 150


def test_sync_all_asks_only_for_accounts_with_a_confirmed_authorization(cloud, acme, personas):
    submitted(template(acme), "101")
    authorize(personas.outsider_account, OTHER_ID, OTHER_KEY, confirmed=False)
    unconfirmed = submitted(template(personas.outsider_account), "301")
    cloud.on("DescribeSmsTemplateList", template_statuses({101: (0, ""), 301: (0, "")}))

    assert provider.sync_all(now=NOW) == 1

    assert {c.secret_id for c in cloud.requests} == {SECRET_ID}
    unconfirmed.refresh_from_db()
    assert unconfirmed.provider_status == ProviderStatus.REVIEWING


def test_a_failing_describe_call_leaves_items_as_they_were(cloud, acme):
    item = submitted(template(acme), "101")

    def fail(params, request):
        raise TencentCloudError("InternalError.Timeout", "Request timed out.")

    cloud.on("DescribeSmsTemplateList", fail)

    assert provider.sync_account(acme, now=NOW) == 0

    item.refresh_from_db()
    assert (item.provider_status, item.provider_synced_at) == (ProviderStatus.REVIEWING, None)
