"""Rules of one send that no other test would notice breaking.

- One call of ``/api/v1/sms/send`` sends one SMS per number: a number given twice (in any
  spelling) is a 400 naming its second place, with nothing written or charged — whatever the
  rate-limit policy or the exempt list would let through.
- The gates run in order exempt → rate limits → package: a number a rate limit blocks is
  recorded blocked and charged nothing, so its parts stay for the numbers after it (the engine
  itself, not only its preview, is held to this).
"""

import pytest
from django.test import Client

from push import fallback
from push.sms_source import messages_of
from sms.models import ExemptNumber, Package, PackageCharge, RateLimitPolicy, SmsMessage
from sms.sending import send
from sms.transports import LOCAL_OUTBOX
from tests.accounts.test_scoping import api
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push
from tests.sms.conftest import NUMBER, PARAMS, order, send_one

LIMITED = "+8613700000009"  # already had its SMS of the day
FREE = "+8613700000001"


def send_body(sms, numbers):
    return {
        "sdk_app_id": sms.application.sdk_app_id,
        "template_id": sms.template.code,
        "params": list(PARAMS),
        "numbers": numbers,
    }


# -- one SMS per number per call --------------------------------------------------------------


@pytest.mark.parametrize("policy", ["default", "no limits", "exempt"])
@pytest.mark.parametrize(
    "numbers, field",
    [
        ([NUMBER, NUMBER], "numbers[1]"),
        ([NUMBER, "+8613711113333", "137 1111 2222"], "numbers[2]"),  # another spelling
        (["0086 137 1111 2222", "13711112222"], "numbers[1]"),
    ],
)
def test_a_number_twice_in_one_call_is_a_400_and_nothing_is_sent(
    sms, personas, policy, numbers, field
):
    if policy == "no limits":
        RateLimitPolicy.objects.create(account=sms.account, same_content_seconds=0, daily_limit=0)
    elif policy == "exempt":
        ExemptNumber.objects.create(account=sms.account, number=NUMBER)
    client = api(Client(), personas.member)

    response = client.post(
        "/api/v1/sms/send", send_body(sms, numbers), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == [field]
    assert f"{NUMBER} is numbers[0] again" in error["fields"][field][0]
    assert not SmsMessage.objects.exists() and not PackageCharge.objects.exists()
    sms.package.refresh_from_db()
    assert sms.package.used == 0 and not LOCAL_OUTBOX


# -- a rate-limited number is charged nothing ------------------------------------------------


@pytest.fixture
def one_part_left(sms):
    """A daily limit of 1, LIMITED has had its SMS today, and one part is left."""
    RateLimitPolicy.objects.create(account=sms.account, daily_limit=1, same_content_seconds=0)
    send_one(sms, LIMITED, params=("x", "y"))
    Package.objects.filter(pk=sms.package.pk).update(quantity=2, used=1)
    return sms


def test_the_engine_charges_nothing_for_a_number_a_rate_limit_blocks(one_part_left):
    sms = one_part_left
    before = set(PackageCharge.objects.values_list("pk", flat=True))

    limited, free = send(order(sms, numbers=[LIMITED, FREE]))

    assert (limited.state, limited.reason, limited.charged) == ("blocked", "daily_limit", 0)
    assert (free.state, free.charged) == ("sent", 1)  # the last part went to FREE
    charges = PackageCharge.objects.exclude(pk__in=before)
    assert list(charges.values_list("message_id", "amount")) == [(free.pk, 1)]
    sms.package.refresh_from_db()
    assert sms.package.used == 2


def test_the_supplementary_sms_sweep_charges_nothing_for_a_rate_limited_number(one_part_left, app):
    sms = one_part_left
    add_device(app, "limited", phone=LIMITED)
    add_device(app, "free", phone=FREE)
    push = sms_push(app, ["limited", "free"])

    fallback.sweep(due(push))

    outcomes = dict(push.deliveries.values_list("device__token", "outcome_detail"))
    assert outcomes == {"limited": "daily_limit", "free": ""}
    assert dict(push.deliveries.values_list("device__token", "outcome")) == {
        "limited": "blocked",
        "free": "sent",
    }
    assert list(messages_of(push.pk).order_by("phone_number").values_list("charged")) == [
        (1,),
        (0,),
    ]
    sms.package.refresh_from_db()
    assert sms.package.used == 2
