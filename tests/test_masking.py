"""One masking rule for personal data, in every outlet.

Phone numbers, device tokens and what an SMS said (content, parameters) are masked for viewers
and shown in full to operators, admins and owners — the same in the console pages, the
management API and every CSV export (``Membership.masking``).
"""

import csv
import io

import pytest
from django.test import Client

from accounts.models import Membership, Role
from lib.masking import mask_content, mask_number, mask_token
from push.models import DeviceAccount
from tests.accounts.test_scoping import api
from tests.conftest import make_user
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push
from tests.sms.conftest import send_one

NUMBER = "+8613711112222"
PHONE = "+8613711110001"
TOKEN = "f3a9c2d4e5b60718293a4b5c6d7e8f90a1b2"
PARAM = "报销单 42"
USER = "user-4711@example.com"  # an account bound to the device (not a phone number)
ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.OWNER]


@pytest.fixture
def world(sms, app):
    """Acme with one API SMS to NUMBER and one push to TOKEN (whose device has PHONE) that has
    been swept, so it also has a supplementary SMS."""
    from push import fallback

    device = add_device(app, TOKEN, phone=PHONE)
    DeviceAccount.objects.create(device=device, application=app, account_type=0, account=USER)
    send_one(sms, NUMBER)
    push = sms_push(app, [TOKEN])
    fallback.sweep(due(push))
    assert push.deliveries.get().outcome == "sent"
    return {"sms": sms, "push": push}


def member(personas, role):
    if role == Role.OWNER:  # an account has one owner (accounts_one_owner)
        return personas.owner
    user = make_user(f"member-{role}")
    Membership.objects.create(user=user, account=personas.org, role=role)
    return user


def rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # console exports: BOM
    return list(csv.DictReader(io.StringIO(body)))


def test_the_mask_keeps_what_a_viewer_needs_to_follow_the_figures():
    assert mask_number(NUMBER) == "+86137****2222"
    assert mask_token(TOKEN) == "f3a9****a1b2"
    assert mask_token("tok-a") == "to****"
    assert mask_content(
        "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。", ["报销单 42", "明天"]
    ) == ("【腾讯云】您有一条待审批：***，请在***前处理。")


# The management API


@pytest.mark.parametrize("role", ROLES)
def test_the_sms_records_api_masks_numbers_and_content_for_viewers_only(world, personas, role):
    client = api(Client(), member(personas, role))

    results = client.get("/api/v1/sms/messages").json()["results"]

    assert {r["source_type"] for r in results} == {"api", "push_delivery"}
    by_number = {r["phone_number"]: r for r in results}
    if role == Role.VIEWER:
        assert set(by_number) == {mask_number(NUMBER), mask_number(PHONE)}
        for r in results:
            assert r["params"] == ["***", "***"]
            assert PARAM not in r["content"] and "***" in r["content"]
            assert r["content"].startswith("【腾讯云】您有一条待审批")  # the template's own text
    else:
        assert set(by_number) == {NUMBER, PHONE}
        assert by_number[NUMBER]["params"] == [PARAM, "明天"]
        assert PARAM in by_number[NUMBER]["content"]


@pytest.mark.parametrize("path", ["messages.csv", "messages?format=csv"])
@pytest.mark.parametrize("role", ROLES)
def test_the_sms_records_csv_of_the_api_masks_for_viewers_only(world, personas, role, path):
    response = api(Client(), member(personas, role)).get("/api/v1/sms/" + path)

    assert response.status_code == 200
    exported = rows(response)
    numbers = {r["phone_number"] for r in exported}
    contents = " ".join(r["content"] for r in exported)
    if role == Role.VIEWER:
        assert numbers == {mask_number(NUMBER), mask_number(PHONE)}
        assert PARAM not in contents and "***" in contents
    else:
        assert numbers == {NUMBER, PHONE}
        assert PARAM in contents


@pytest.mark.parametrize("role", ROLES)
def test_the_deliveries_api_masks_device_tokens_for_viewers_only(world, personas, role):
    client = api(Client(), member(personas, role))

    response = client.get(f"/api/v1/pushes/{world['push'].pk}/deliveries")

    [delivery] = response.json()["results"]
    assert delivery["token"] == (mask_token(TOKEN) if role == Role.VIEWER else TOKEN)


def exempt(personas):
    """Acme's policy exempts NUMBER."""
    from sms.models import RateLimitPolicy

    RateLimitPolicy.change(
        personas.org,
        same_content_seconds=30,
        daily_limit=10,
        hourly_limit=None,
        exempt_numbers=[NUMBER],
        by=personas.owner,
    )


@pytest.mark.parametrize("role", ROLES)
def test_the_policy_api_masks_exempt_numbers_for_viewers_only(world, personas, role):
    exempt(personas)

    body = api(Client(), member(personas, role)).get("/api/v1/sms/policy").json()

    assert body["exempt_numbers"] == [mask_number(NUMBER) if role == Role.VIEWER else NUMBER]


# The console


def console(personas, role) -> Client:
    client = Client()
    client.force_login(member(personas, role))
    return client


@pytest.mark.parametrize("role", ROLES)
def test_the_records_page_and_its_csv_mask_numbers_and_content_for_viewers_only(
    world, personas, role
):
    client = console(personas, role)
    page = client.get(f"/a/{personas.org.pk}/sms/records/").content.decode()
    exported = rows(client.get(f"/a/{personas.org.pk}/sms/records/?export=csv"))

    contents = " ".join(r["content"] for r in exported)
    numbers = {r["phone_number"] for r in exported}
    if role == Role.VIEWER:
        assert PARAM not in page and NUMBER not in page
        assert numbers == {mask_number(NUMBER), mask_number(PHONE)}
        assert PARAM not in contents and "***" in contents
    else:
        # Numbers are masked on the page until revealed; the full one is in the reveal button.
        assert PARAM in page and f'data-full="{NUMBER}"' in page
        assert numbers == {NUMBER, PHONE}
        assert PARAM in contents


@pytest.mark.parametrize("role", ROLES)
def test_the_push_pages_and_the_deliveries_csv_mask_tokens_for_viewers_only(world, personas, role):
    client = console(personas, role)
    push = world["push"]
    delivery = push.deliveries.get()
    base = f"/a/{personas.org.pk}/push"
    pages = [
        client.get(f"{base}/pushes/{push.pk}/").content.decode(),
        client.get(f"{base}/pushes/{push.pk}/deliveries/{delivery.pk}/").content.decode(),
        client.get(f"{base}/devices/").content.decode(),
        client.get(f"{base}/devices/{delivery.device_id}/").content.decode(),
    ]
    [exported] = rows(client.get(f"{base}/pushes/{push.pk}/?export=csv"))

    for page in pages:
        if role == Role.VIEWER:
            assert TOKEN not in page and mask_token(TOKEN) in page
            assert PHONE not in page and USER not in page
        else:
            assert TOKEN in page
    assert (USER in pages[3]) is (role != Role.VIEWER)  # the device page lists its bindings
    if role == Role.VIEWER:
        assert (exported["token"], exported["phone_number"]) == (
            mask_token(TOKEN),
            mask_number(PHONE),
        )
    else:
        assert (exported["token"], exported["phone_number"]) == (TOKEN, PHONE)


@pytest.mark.parametrize("role", ROLES)
def test_the_policy_page_masks_exempt_numbers_for_viewers_only(world, personas, role):
    exempt(personas)

    page = console(personas, role).get(f"/a/{personas.org.pk}/sms/policy/").content.decode()

    assert (NUMBER in page) is (role != Role.VIEWER)
    assert (mask_number(NUMBER) in page) is (role == Role.VIEWER)
