"""The fallback preview says what the real run then does."""

from collections import Counter
from datetime import timedelta

import pytest

from push import fallback
from push.models import Delivery
from push.preview import preview
from sms.models import (
    ExemptNumber,
    Package,
    RateLimitPolicy,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from tests.accounts.test_scoping import api as api_client
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push
from tests.sms.conftest import send_one


@pytest.fixture
def scenario(app, sms):
    """Eleven deliveries that end in every kind of outcome."""
    RateLimitPolicy.objects.create(account=sms.account, daily_limit=1, same_content_seconds=0)
    Package.objects.filter(pk=sms.package.pk).update(quantity=4, used=0)
    # A number that already got its SMS of the day.
    send_one(sms, "+8613700000009", params=("x", "y"))
    add_device(app, "arrived", phone="+8613700000001")
    add_device(app, "no-phone")
    add_device(app, "dup-1", phone="+8613700000002")
    add_device(app, "dup-2", phone="+8613700000002")
    add_device(app, "limited", phone="+8613700000009")
    add_device(app, "global", phone="+12025550123")
    for i in range(5):
        add_device(app, f"ok-{i}", phone=f"+861370000010{i}")
    tokens = ["arrived", "no-phone", "dup-1", "dup-2", "limited", "global"] + [
        f"ok-{i}" for i in range(5)
    ]
    push = sms_push(app, tokens, sms_max=5)
    Delivery.objects.filter(push=push, device__token="arrived").update(arrived_at=push.created_at)
    return push


def test_the_preview_equals_what_the_run_then_does(scenario):
    push = scenario
    now = due(push)

    before = preview(push, now)
    fallback.sweep(now)

    outcomes = Counter(
        f"{o}:{d}" if d else o for o, d in push.deliveries.values_list("outcome", "outcome_detail")
    )
    assert before["would_send"] == outcomes["sent"] == 3
    assert before["skipped"] == {k: v for k, v in outcomes.items() if k != "sent"}
    assert before["skipped"] == {
        "not_needed": 1,
        "no_phone": 1,
        "duplicate_number": 1,
        "blocked:daily_limit": 1,
        "blocked:wrong_region": 1,
        "blocked:budget_exhausted": 2,
        "blocked:insufficient_package": 1,
    }
    assert before["fee"] == 3 and before["fee_per_sms"] == 1
    assert before["balance_covers"] is False
    assert SmsMessage.objects.filter(session_context=f"push:{push.pk}", state="sent").count() == 3


def test_a_delivery_whose_worker_died_after_writing_its_sms_is_previewed_as_the_run_decides(
    scenario,
):
    push = scenario
    now = due(push)
    crashed = push.deliveries.get(device__token="ok-0")
    SmsMessage.objects.create(
        account=push.application.account,
        phone_number="+8613700000100",
        region="mainland",
        template_code="449739",
        content="x",
        session_context=f"push:{push.pk}",
        source_type="push_delivery",
        source_id=crashed.pk,
        state="sending",
    )

    before = preview(push, now)
    fallback.sweep(now)

    crashed.refresh_from_db()
    assert (crashed.outcome, before["skipped"]["unknown:sending"]) == ("unknown", 1)
    outcomes = Counter(
        f"{o}:{d}" if d else o for o, d in push.deliveries.values_list("outcome", "outcome_detail")
    )
    assert before["would_send"] == outcomes["sent"]
    assert before["skipped"] == {k: v for k, v in outcomes.items() if k != "sent"}
    assert before["already_sent"] == 0


def test_the_preview_works_before_the_due_time_and_writes_nothing(scenario):
    figures = preview(scenario)

    assert figures["undecided"] == 11 and figures["would_send"] == 3
    assert set(scenario.deliveries.values_list("fallback", flat=True)) == {"waiting"}


def test_the_api_serves_figures_preview_deliveries_and_timelines(scenario, client, personas):
    push = scenario
    fallback.sweep(due(push))
    c = api_client(client, personas.owner)

    figures = c.get(f"/api/v1/pushes/{push.pk}").json()
    previewed = c.get(f"/api/v1/pushes/{push.pk}/fallback-preview").json()
    listing = c.get(f"/api/v1/pushes/{push.pk}/deliveries", {"outcome": "sent"}).json()
    sent = listing["results"][0]
    story = c.get(f"/api/v1/pushes/{push.pk}/deliveries/{sent['id']}/timeline").json()

    assert figures["targets"] == 11 and figures["sms"]["outcome_sent"] == 3
    assert figures["sms"]["blocked_by_reason"]["budget_exhausted"] == 2
    assert figures["sms"]["sms_sent"] == 3 and figures["sms"]["fee"] == 3
    assert previewed["undecided"] == 0
    assert listing["count"] == 3
    assert [e["event"] for e in story["events"]][:2] == ["pushed", "sent"]
    assert {"decided", "sms_sent"} <= {e["event"] for e in story["events"]}


def test_another_accounts_push_is_404(scenario, client, personas):
    c = api_client(client, personas.outsider)

    assert c.get(f"/api/v1/pushes/{scenario.pk}").status_code == 404
    assert c.get(f"/api/v1/pushes/{scenario.pk}/fallback-preview").status_code == 404


def test_the_push_page_shows_the_preview_and_delivery_timelines(scenario, login, personas):
    push = scenario
    client = login(personas.member)
    base = f"/a/{personas.org.pk}/push/pushes/{push.pk}/"

    page = client.get(base, {"preview": "1"}).content.decode()
    fallback.sweep(due(push))
    delivery = push.deliveries.filter(outcome="sent").first()
    story = client.get(f"{base}deliveries/{delivery.pk}/").content.decode()
    other = login(personas.outsider).get(f"{base}deliveries/{delivery.pk}/")

    assert "<strong>3</strong> of 11 undecided deliveries would get an SMS" in page
    assert "Blocked: Budget exhausted" in page  # the rule in words (its code in a title)
    assert "SMS decided" in story and "SMS: Sent" in story
    assert other.status_code == 404


# Every outcome and every rule, each provoked on its own beside a delivery that gets its SMS:
# the preview counts what the run then decides. case → (what it sets up, the key it provokes).
PUSH_PARAMS = ("报销单 42", "明天")  # sms_push's parameters: the same content


def _arrived(push, sms, now):
    Delivery.objects.filter(push=push, device__token="case").update(arrived_at=push.created_at)


def _earlier_sms(state):
    def setup(push, sms, now):
        delivery = push.deliveries.get(device__token="case")
        SmsMessage.objects.create(
            account=sms.account,
            phone_number="+8613700000002",
            region="mainland",
            template_code="449739",
            content="x",
            session_context=f"push:{push.pk}",
            source_type="push_delivery",
            source_id=delivery.pk,
            state=state,
        )

    return setup


def _number_sent_by_an_earlier_batch(push, sms, now):
    fallback.sweep(now, batch_size=1, max_batches=1)  # the first device of the number: sent


def _rate_limited(**policy):
    def setup(push, sms, now):
        RateLimitPolicy.objects.create(account=sms.account, **policy)
        # What the number already got: the same content 5 s before, or another one 60 s before
        # (after the package was bought: the due time is 300 s ahead).
        same = policy.get("same_content_seconds")
        message = send_one(
            sms,
            "+8613700000002",
            params=PUSH_PARAMS if same else ("x", "y"),
            now=now - timedelta(seconds=5 if same else 60),
        )
        assert message.state == "sent"

    return setup


def _exempt(push, sms, now):
    _rate_limited(daily_limit=1, same_content_seconds=0)(push, sms, now)
    ExemptNumber.objects.create(account=sms.account, number="+8613700000002")


def _no_authorization(push, sms, now):
    from django.conf import settings

    settings.SMS_TRANSPORT = "tencent"  # and the account never authorized Tencent Cloud


CASES = {
    "not_needed": ({}, _arrived, "not_needed"),
    "sent": ({}, None, "sent"),
    "no_phone": ({"phone": None}, None, "no_phone"),
    "duplicate_number": ({"phone": "+8613700000001"}, None, "duplicate_number"),
    "duplicate_number_of_an_earlier_batch": (
        {"phone": "+8613700000001", "first": True},
        _number_sent_by_an_earlier_batch,
        "duplicate_number",
    ),
    "wrong_region": ({"phone": "+12025550123"}, None, "blocked:wrong_region"),
    "budget_exhausted": ({"sms_max": 1}, None, "blocked:budget_exhausted"),
    "template_not_approved": (
        {},
        lambda push, sms, now: Template.objects.update(status="rejected"),
        "blocked:template_not_approved",
    ),
    "signature_not_approved": (
        {},
        lambda push, sms, now: Signature.objects.update(status="rejected"),
        "blocked:signature_not_approved",
    ),
    "sms_application_removed": (
        {},
        lambda push, sms, now: SmsApplication.objects.update(sdk_app_id="1400000000"),
        "blocked:sms_application_removed",
    ),
    "no_authorization": ({}, _no_authorization, "blocked:no_authorization"),
    "insufficient_package": (
        {},
        lambda push, sms, now: Package.objects.update(quantity=1, used=0),
        "blocked:insufficient_package",
    ),
    "same_content": ({}, _rate_limited(same_content_seconds=30), "blocked:same_content"),
    "hourly_limit": (
        {},
        _rate_limited(hourly_limit=1, daily_limit=10, same_content_seconds=0),
        "blocked:hourly_limit",
    ),
    "daily_limit": (
        {},
        _rate_limited(daily_limit=1, same_content_seconds=0),
        "blocked:daily_limit",
    ),
    "exempt_from_the_limits": ({}, _exempt, "sent"),
    "unknown": ({}, _earlier_sms("sending"), "unknown:sending"),
    "sent_by_an_earlier_run": ({}, _earlier_sms("sent"), "sent"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_preview_of_each_outcome_and_rule_equals_what_the_run_then_does(app, sms, case):
    fields, setup, provoked = CASES[case]
    phone = fields.get("phone", "+8613700000002")
    add_device(app, "ok", phone="+8613700000001")
    add_device(app, "case", phone=phone)
    tokens = ["case", "ok"] if fields.get("first") else ["ok", "case"]
    push = sms_push(app, tokens, sms_max=fields.get("sms_max"))
    now = due(push)
    if setup:
        setup(push, sms, now)

    undecided = list(push.deliveries.exclude(fallback="decided").values_list("pk", flat=True))
    before = preview(push, now)
    fallback.sweep(now)

    def keys(deliveries):
        return Counter(
            f"{o}:{d}" if d else o for o, d in deliveries.values_list("outcome", "outcome_detail")
        )

    outcomes, decided_now = keys(push.deliveries), keys(push.deliveries.filter(pk__in=undecided))
    assert outcomes[provoked] >= 1, f"the case did not provoke {provoked}: {outcomes}"
    assert before["undecided"] == len(undecided)
    assert before["would_send"] + before["already_sent"] == decided_now["sent"]
    assert before["skipped"] == {k: v for k, v in decided_now.items() if k != "sent"}
    if provoked == "blocked:insufficient_package":
        assert before["balance_covers"] is False
    if before["fee_per_sms"] is not None:
        assert before["fee"] == before["would_send"] * before["fee_per_sms"]


def test_a_refusal_by_the_provider_is_the_one_thing_the_preview_cannot_know(app, sms, settings):
    """``failed``: the provider refuses (permanently) what every gate let through."""
    from tests.conftest import authorized_cloud
    from tests.fakes.tencentcloud import TencentCloudError

    def refused(params, request):
        raise TencentCloudError("FailedOperation.ContainSensitiveWord", "refused")

    add_device(app, "ok", phone="+8613700000001")
    push = sms_push(app, ["ok"])
    now = due(push)
    with authorized_cloud(sms.account, settings, {"AKIDpreview": "preview-key"}) as cloud:
        cloud.on("SendSms", refused)
        before = preview(push, now)
        fallback.sweep(now)

    assert before["would_send"] == 1 and before["skipped"] == {}
    assert list(push.deliveries.values_list("outcome", "outcome_detail")) == [
        ("failed", "FailedOperation.ContainSensitiveWord")
    ]
