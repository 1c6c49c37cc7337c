"""The fallback preview says what the real run then does."""

from collections import Counter

import pytest

from push import fallback
from push.models import Delivery
from push.preview import preview
from sms.models import Package, RateLimitPolicy, SmsMessage
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
    assert "blocked:budget_exhausted" in page
    assert "decided" in story and "sms_sent" in story
    assert other.status_code == 404
