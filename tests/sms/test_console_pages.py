"""The SMS console pages, as staff use them."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from sms import quota, receipts
from sms.models import (
    IdentityApplication,
    Package,
    QuotaAlert,
    RateLimitPolicy,
    SmsMessage,
    Template,
)
from sms.transports import LOCAL_OUTBOX
from tests.sms.conftest import send_one


def url(account, page):
    return f"/a/{account.pk}/sms/{page}"


@pytest.mark.parametrize(
    "page",
    ["signatures/", "templates/", "applications/", "policy/", "packages/", "records/"],
)
def test_every_page_renders_for_a_member_and_is_404_for_an_outsider(sms, login, personas, page):
    assert login(personas.member).get(url(sms.account, page)).status_code == 200
    assert login(personas.outsider).get(url(sms.account, page)).status_code == 404


def test_applying_for_a_template_in_the_console_sends_it_to_review(
    sms, login, personas, django_capture_on_commit_callbacks
):
    client = login(personas.member)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url(sms.account, "templates/"),
            {
                "name": "Payment",
                "content": "您已付款{1}元",
                "kind": "notification",
                "region": "mainland",
            },
            follow=True,
        )

    template = Template.objects.get(name="Payment")
    assert (template.status, template.param_count, template.created_by) == (
        "pending",
        1,
        personas.member,
    )
    assert "submitted for review" in response.content.decode()
    assert [d.action for d in template.decisions.all()] == ["submitted"]
    detail = client.get(url(sms.account, f"templates/{template.pk}/"))
    assert "Submitted" in detail.content.decode()


def test_a_bad_template_is_refused_with_the_reason(sms, login, personas):
    response = login(personas.member).post(
        url(sms.account, "templates/"),
        {"name": "Bad", "content": "{1}{3}", "kind": "notification", "region": "mainland"},
    )

    assert response.status_code == 200
    assert "consecutively" in response.content.decode()
    assert not Template.objects.filter(name="Bad").exists()


def test_a_viewer_cannot_apply(sms, login, personas):
    from accounts.models import Membership

    Membership.objects.filter(user=personas.member).update(role="viewer")

    response = login(personas.member).post(
        url(sms.account, "templates/"),
        {"name": "X", "content": "hi {1}", "kind": "notification", "region": "mainland"},
    )

    assert response.status_code == 403


def test_an_organization_admin_changes_the_policy_and_the_next_send_obeys_it(sms, login, personas):
    response = login(personas.owner).post(
        url(sms.account, "policy/"),
        {
            "same_content_seconds": 30,
            "daily_limit": 1,
            "hourly_limit": "",
            "exempt_numbers": "+8613711113333\n13711114444",
        },
    )

    assert response.status_code == 302
    policy = RateLimitPolicy.objects.get(account=sms.account)
    assert (policy.daily_limit, policy.updated_by) == (1, personas.owner)
    assert sorted(sms.account.sms_exempt.values_list("number", flat=True)) == [
        "+8613711113333",
        "+8613711114444",
    ]
    assert send_one(sms, params=("单 1", "明天")).state == "sent"
    assert send_one(sms, params=("单 2", "明天")).reason == "daily_limit"


def test_an_individual_account_sees_the_policy_read_only_and_how_to_change_that(
    personas, login, reviewer
):
    client = login(personas.individual_owner)
    account = personas.individual

    page = client.get(url(account, "policy/")).content.decode()
    refused = client.post(url(account, "policy/"), {"same_content_seconds": 0, "daily_limit": 99})

    assert "Read-only for individual accounts" in page
    assert "Apply for organizational identity" in page
    assert 'name="daily_limit"' not in page
    assert refused.status_code == 403
    assert not RateLimitPolicy.objects.filter(account=account).exists()


def test_an_individual_owner_applies_for_organizational_identity(personas, login, reviewer):
    client = login(personas.individual_owner)
    account = personas.individual

    client.post(
        url(account, "policy/identity/"),
        {"identity-company_name": "Ivan Ltd", "identity-credential_number": "91110000X"},
    )
    application = IdentityApplication.objects.get(account=account)
    application.decide(approve=True, by=reviewer)

    account.refresh_from_db()
    assert account.is_organization and account.name == "Ivan Ltd"
    page = client.get(url(account, "policy/")).content.decode()
    assert 'name="daily_limit"' in page


def test_the_packages_page_shows_balance_and_history(sms, login, personas):
    send_one(sms)

    page = login(personas.member).get(url(sms.account, "packages/")).content.decode()

    assert "999" in page and "parts left of 1,000" in page  # grouped as the language groups
    assert "template 449739" in page


def test_the_records_page_filters_masks_and_exports(sms, login, personas):
    send_one(sms)
    send_one(sms, number="+8613711113333")
    client = login(personas.member)

    page = client.get(url(sms.account, "records/"), {"number": "13711113333"})
    export = client.get(url(sms.account, "records/"), {"number": "13711113333", "export": "csv"})

    text = page.content.decode()
    assert "+86137****3333" in text and "+86137****2222" not in text
    assert 'data-full="+8613711113333"' in text  # revealed on click for operators
    assert "simulated" in text
    body = b"".join(export.streaming_content).decode()
    assert body.splitlines()[0].startswith("\ufeffid,created_at,phone_number")  # BOM: Excel
    assert len(body.splitlines()) == 2 and "+8613711113333" in body


def test_a_viewer_cannot_reveal_numbers(sms, login, personas):
    from accounts.models import Membership

    send_one(sms)
    Membership.objects.filter(user=personas.member).update(role="viewer")

    client = login(personas.member)
    text = client.get(url(sms.account, "records/")).content.decode()
    export = client.get(url(sms.account, "records/"), {"export": "csv"})

    assert "+86137****2222" in text and "+8613711112222" not in text
    body = b"".join(export.streaming_content).decode()
    assert "+86137****2222" in body and "+8613711112222" not in body


def test_owners_are_warned_once_at_80_percent_and_at_exhaustion(
    sms, login, personas, django_capture_on_commit_callbacks
):
    Package.objects.filter(pk=sms.package.pk).update(quantity=5, used=3)

    with django_capture_on_commit_callbacks(execute=True):
        send_one(sms, number="+8613711110001")  # 4 of 5: 80 %
    with django_capture_on_commit_callbacks(execute=True):
        send_one(sms, number="+8613711110002")  # 5 of 5: exhausted
    quota.check_alerts(sms.account, "mainland")  # nothing new to say

    assert list(QuotaAlert.objects.values_list("level", flat=True).order_by("id")) == [
        "low",
        "exhausted",
    ]
    assert len(mail.outbox) == 2 and personas.owner.email in mail.outbox[0].to
    banner = login(personas.member).get(url(sms.account, "records/")).content.decode()
    assert "SMS packages are exhausted" in banner


def test_a_new_package_rearms_the_warnings(sms):
    Package.objects.filter(pk=sms.package.pk).update(quantity=5, used=4)
    assert quota.check_alerts(sms.account, "mainland") == "low"
    Package.objects.create(
        account=sms.account, quantity=5, used=4, valid_until=timezone.now() + timedelta(days=30)
    )

    assert quota.check_alerts(sms.account, "mainland") == "low"


def test_a_send_left_by_a_dead_worker_becomes_unknown_and_is_never_resent(sms):
    message = send_one(sms)
    SmsMessage.objects.filter(pk=message.pk).update(state="sending", serial_no="")
    outbox = list(LOCAL_OUTBOX)

    assert receipts.reconcile_stale(now=timezone.now() + timedelta(minutes=5)) == 0
    assert receipts.reconcile_stale(now=timezone.now() + timedelta(minutes=11)) == 1
    message.refresh_from_db()
    assert (message.state, message.reason, message.charged) == ("unknown", "worker_lost", 1)
    assert LOCAL_OUTBOX == outbox  # the sweep handed nothing to the transport


def test_simulated_messages_are_delivered_a_few_seconds_later(sms):
    message = send_one(sms)

    assert receipts.deliver_simulated(now=message.sent_at + timedelta(seconds=1)) == 0
    assert receipts.deliver_simulated(now=message.sent_at + timedelta(seconds=6)) == 1
    message.refresh_from_db()
    assert message.state == "delivered" and message.delivered_at


def test_the_records_page_filters_by_push(sms, login, personas):
    from sms.models import SmsMessage

    send_one(sms)
    send_one(sms, number="+8613711113333")
    SmsMessage.objects.filter(phone_number="+8613711113333").update(
        source_type="push_delivery", session_context="push:77"
    )

    page = login(personas.member).get(url(sms.account, "records/"), {"push": 77})

    assert page.context["totals"]["total"] == 1
    assert "+86137****3333" in page.content.decode()


@pytest.mark.parametrize(
    "content, error",
    [
        ("您的验证码是{2}", "Placeholders must be numbered"),
        ("{1}{2}", "placeholders only"),
    ],
)
def test_a_bad_template_content_is_reported_once(sms, content, error):
    from sms.forms import TemplateForm

    form = TemplateForm(
        {"name": "t", "content": content, "kind": "notification", "region": "mainland"},
        account=sms.account,
    )

    assert not form.is_valid()
    [message] = form.errors["content"]
    assert error in message


def test_usage_by_region_is_every_regions_usage_in_one_query(sms, django_assert_num_queries):
    Package.objects.create(
        account=sms.account,
        region="global",
        quantity=10,
        used=9,
        valid_until=timezone.now() + timedelta(days=30),
    )
    expected = {region: quota.usage(sms.account, region) for region in ("mainland", "global")}

    with django_assert_num_queries(1):
        by_region = quota.usage_by_region(sms.account)

    assert by_region == expected and list(by_region) == ["mainland", "global"]
    assert quota.level_of(by_region["global"]) == "low"


def test_the_packages_page_reads_the_balance_once(sms, login, personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(personas.member)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(sms.account, "packages/")).status_code == 200

    assert len([q for q in queries if 'SUM("sms_package"."quantity")' in q["sql"]]) == 1


def test_the_records_page_counts_its_messages_once(sms, login, personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):
        send_one(sms, number=f"+861371111300{i}")
    client = login(personas.member)

    with CaptureQueriesContext(connection) as captured:
        page = client.get(url(sms.account, "records/"))

    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"] and "sms_smsmessage" in q["sql"]]
    assert len(counts) == 1  # the totals; the pager takes its count from them
    assert page.context["totals"]["total"] == 3 == page.context["page"].paginator.count


@pytest.mark.parametrize(("used", "warned"), [(79, False), (80, True), (100, True)])
def test_the_packages_page_marks_a_balance_that_is_low_or_exhausted(
    sms, login, personas, used, warned
):
    from sms.models import Package

    Package.objects.filter(pk=sms.package.pk).update(quantity=100, used=used)

    text = login(personas.member).get(url(sms.account, "packages/")).content.decode()

    assert ('class="meter warn"' in text) is warned
