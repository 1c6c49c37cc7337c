"""The SMS management API (/api/v1/sms/): scoping, roles, applying, policy, sending, records."""

import base64
import csv
import io
from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Role
from sms.models import (
    ExemptNumber,
    IdentityApplication,
    Package,
    PackageCharge,
    RateLimitPolicy,
    Region,
    ReviewDecision,
    Signature,
    SmsApplication,
    SmsMessage,
    Template,
)
from sms.transports import LOCAL_OUTBOX
from tests.accounts.test_scoping import api
from tests.sms.conftest import approved

NUMBER = "+8613711112222"
OTHER_NUMBER = "+8613711113333"
BASE = "/api/v1/sms/"
# The smallest PNG there is: a 1×1 transparent pixel.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def post(client, path, data, method="post"):
    return getattr(client, method)(BASE + path, data, content_type="application/json")


def send_body(sms, **changes):
    body = {
        "sdk_app_id": sms.application.sdk_app_id,
        "template_id": sms.template.code,
        "params": ["报销单 42", "明天"],
        "numbers": [NUMBER],
    }
    body.update(changes)
    return body


def fields_of(response):
    return response.json()["error"]["fields"]


@pytest.fixture
def operator(client, personas):
    return api(client, personas.member)


@pytest.fixture
def owner(personas):
    return api(Client(), personas.owner)


# Sending


def test_an_operator_sends_and_gets_a_result_per_number(sms, operator, personas):
    response = post(operator, "send", send_body(sms, numbers=["137 1111 2222", OTHER_NUMBER]))

    assert response.status_code == 200, response.content
    body = response.json()
    results = {r["phone_number"]: r for r in body["results"]}
    assert set(results) == {NUMBER, OTHER_NUMBER}
    for result in results.values():
        assert result["state"] == "sent" and result["reason"] == ""
        assert result["serial_no"].startswith("local:") and result["fee"] == 1
    assert body["totals"] == {
        "requested": 2,
        "sent": 2,
        "blocked": 0,
        "failed": 0,
        "unknown": 0,
        "fee": 2,
    }
    messages = SmsMessage.objects.filter(account=sms.account)
    assert sorted(messages.values_list("id", flat=True)) == sorted(r["id"] for r in body["results"])
    assert {m.created_by for m in messages} == {personas.member}
    assert messages.first().content == "【腾讯云】您有一条待审批：报销单 42，请在明天前处理。"
    sms.package.refresh_from_db()
    assert sms.package.used == 2
    assert LOCAL_OUTBOX[-1].numbers == (NUMBER, OTHER_NUMBER)


def _unapproved_template(sms, personas, reviewer):
    Template.objects.create(account=sms.account, code="555", name="New", content="新：{1}")
    return {"template_id": "555", "params": ["x"]}


def _foreign_template(sms, personas, reviewer):
    approved(
        Template.objects.create(
            account=personas.outsider_account, code="777", name="Theirs", content="他：{1}"
        ),
        reviewer,
    )
    return {"template_id": "777", "params": ["x"]}


def _foreign_signature(sms, personas, reviewer):
    approved(
        Signature.objects.create(account=personas.outsider_account, text="别人的签名"), reviewer
    )
    return {"sign_name": "别人的签名"}


def _foreign_application(sms, personas, reviewer):
    SmsApplication.objects.create(account=personas.outsider_account, sdk_app_id="1400009999")
    return {"sdk_app_id": "1400009999"}


@pytest.mark.parametrize(
    "changes, field",
    [
        (lambda *_: {"numbers": ["12345"]}, "numbers[0]"),
        (lambda *_: {"numbers": [NUMBER, "+12025550123"]}, "numbers[1]"),
        (lambda *_: {"numbers": [f"+86137{i:08d}" for i in range(201)]}, "numbers"),
        (lambda *_: {"numbers": []}, "numbers"),
        (lambda *_: {"params": ["only one"]}, "params"),
        (_unapproved_template, "template_id"),
        (_foreign_template, "template_id"),
        (_foreign_signature, "sign_name"),
        (_foreign_application, "sdk_app_id"),
    ],
    ids=[
        "invalid-number",
        "mixed-regions",
        "201-numbers",
        "no-numbers",
        "param-count",
        "unapproved-template",
        "foreign-template",
        "foreign-signature",
        "foreign-sdk-app-id",
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written_or_charged(
    sms, operator, personas, reviewer, changes, field
):
    response = post(operator, "send", send_body(sms, **changes(sms, personas, reviewer)))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert error["message"].startswith(f"{field}: ")
    assert not SmsMessage.objects.exists() and not PackageCharge.objects.exists()
    sms.package.refresh_from_db()
    assert sms.package.used == 0
    assert not LOCAL_OUTBOX


def test_a_viewer_cannot_send(sms, client, viewer):
    response = post(api(client, viewer), "send", send_body(sms))

    assert response.status_code == 403
    assert "Operator role" in response.json()["error"]["message"]
    assert not SmsMessage.objects.exists()


def test_blocked_numbers_are_reported_with_the_rule(sms, operator):
    first = post(operator, "send", send_body(sms))
    second = post(operator, "send", send_body(sms))

    assert first.json()["totals"]["sent"] == 1
    [result] = second.json()["results"]
    assert (result["state"], result["reason"], result["fee"]) == ("blocked", "same_content", 0)
    assert second.json()["totals"] == {
        "requested": 1,
        "sent": 0,
        "blocked": 1,
        "failed": 0,
        "unknown": 0,
        "fee": 0,
    }


# Scoping and account selection

OUTSIDER_REQUESTS = [
    ("get", "signatures"),
    ("post", "signatures"),
    ("get", "signatures/{signature}"),
    ("get", "templates"),
    ("post", "templates"),
    ("get", "templates/{template}"),
    ("get", "applications"),
    ("post", "applications"),
    ("get", "policy"),
    ("put", "policy"),
    ("get", "identity-applications"),
    ("post", "identity-applications"),
    ("get", "packages"),
    ("post", "send"),
    ("get", "messages"),
    ("get", "messages.csv"),
]


@pytest.mark.parametrize("method, path", OUTSIDER_REQUESTS)
def test_an_outsider_gets_404_for_everything_of_another_account(
    sms, client, personas, method, path
):
    url = BASE + path.format(signature=sms.signature.pk, template=sms.template.pk)
    c = api(client, personas.outsider)
    if method == "get":
        response = c.get(url, {"account": sms.account.pk})
    else:
        body = {**send_body(sms), "account": sms.account.pk}
        response = getattr(c, method)(url, body, content_type="application/json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", ["signatures", "templates"])
def test_another_accounts_item_is_not_found_in_ones_own_account(sms, client, personas, kind):
    item = sms.signature if kind == "signatures" else sms.template

    response = api(client, personas.outsider).get(f"{BASE}{kind}/{item.pk}")

    assert response.status_code == 404


def test_a_user_of_several_accounts_must_name_the_account(sms, owner, personas):
    Membership.objects.create(user=personas.owner, account=personas.individual, role=Role.ADMIN)

    listed = owner.get(BASE + "signatures")
    sent = post(owner, "send", send_body(sms))
    named = owner.get(BASE + "signatures", {"account": sms.account.pk})
    named_in_body = post(owner, "send", {**send_body(sms), "account": sms.account.pk})

    assert listed.status_code == 400 and list(fields_of(listed)) == ["account"]
    assert sent.status_code == 400 and list(fields_of(sent)) == ["account"]
    assert [s["text"] for s in named.json()] == ["腾讯云"]
    assert named_in_body.status_code == 200
    assert SmsMessage.objects.count() == 1


def test_an_account_that_is_not_a_number_is_refused(sms, operator):
    response = operator.get(BASE + "packages", {"account": "acme"})

    assert response.status_code == 400 and list(fields_of(response)) == ["account"]


# Applying for templates and signatures


def test_applying_for_a_template_makes_it_pending_with_a_submitted_audit_entry(
    sms, operator, personas
):
    response = post(
        operator,
        "templates",
        {"name": "Shipping", "content": "您的订单{1}已发货，预计{2}送达。", "kind": "notification"},
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "pending" and created["param_count"] == 2
    assert created["template_id"].isdigit() and created["created_by"] == "max"
    template = Template.objects.get(pk=created["id"], account=sms.account)
    [decision] = template.decisions.all()
    assert (decision.action, decision.by) == (ReviewDecision.Action.SUBMITTED, personas.member)

    detail = operator.get(f"{BASE}templates/{template.pk}").json()
    assert detail["status"] == "pending" and detail["provider_status"] is None
    assert detail["review_reply"] == ""
    assert [(d["action"], d["by"]) for d in detail["decisions"]] == [("submitted", "max")]


def test_a_template_detail_shows_the_review(sms, operator):
    detail = operator.get(f"{BASE}templates/{sms.template.pk}").json()

    assert (detail["status"], detail["param_count"]) == ("approved", 2)
    assert [(d["action"], d["by"]) for d in detail["decisions"]] == [("approved", "rita")]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"content": "{1}{2}"}, "content"),
        ({"content": "缺了{1}和{3}"}, "content"),
        ({"template_id": "449739"}, "template_id"),
        ({"kind": "spam"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_template_application_names_the_field_and_creates_nothing(
    sms, operator, changes, field
):
    body = {"name": "Shipping", "content": "订单{1}已发货", **changes}

    response = post(operator, "templates", body)

    assert response.status_code == 400
    assert list(fields_of(response)) == [field]
    assert list(Template.objects.values_list("code", flat=True)) == ["449739"]
    assert not ReviewDecision.objects.filter(action="submitted").exists()


def test_approved_items_cannot_be_changed_through_the_api(sms, operator):
    url = f"{BASE}templates/{sms.template.pk}"

    assert (
        operator.put(url, {"content": "x{1}"}, content_type="application/json").status_code == 405
    )
    assert operator.patch(url, {}, content_type="application/json").status_code == 405


def test_applying_for_a_signature_with_a_base64_proof(sms, operator, personas, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    response = post(
        operator,
        "signatures",
        {
            "text": "Acme商城",
            "sign_type": 0,
            "document_type": 1,
            "purpose": 0,
            "proof_image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        },
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["region"], created["has_proof_image"]) == (
        "pending",
        "mainland",
        True,
    )
    signature = Signature.objects.get(pk=created["id"], account=sms.account)
    assert signature.proof_image.read() == PNG
    assert [(d.action, d.by) for d in signature.decisions.all()] == [("submitted", personas.member)]
    detail = operator.get(f"{BASE}signatures/{signature.pk}").json()
    assert [d["action"] for d in detail["decisions"]] == ["submitted"]


def test_applying_for_a_signature_with_a_multipart_proof(sms, operator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("licence.png", PNG, content_type="image/png")

    response = operator.post(
        BASE + "signatures",
        {"text": "Acme", "region": "global", "proof_image": upload, "account": sms.account.pk},
    )

    assert response.status_code == 201, response.content
    assert Signature.objects.get(pk=response.json()["id"]).proof_image.read() == PNG


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"text": "Acme!"}, "text"),
        ({"text": "一二三四五六七八九十一二三"}, "text"),
        ({"proof_image": "not base64 at all!"}, "proof_image"),
        ({"proof_image": base64.b64encode(b"GIF89a...").decode()}, "proof_image"),
        ({"sign_type": 3}, "sign_type"),
    ],
)
def test_a_bad_signature_application_names_the_field(sms, operator, changes, field):
    response = post(operator, "signatures", {"text": "Acme", **changes})

    assert response.status_code == 400
    assert list(fields_of(response)) == [field]
    assert Signature.objects.count() == 1


def test_signatures_and_templates_are_filtered_by_status_and_region(sms, operator):
    Signature.objects.create(account=sms.account, text="Pending", region=Region.GLOBAL)

    pending = operator.get(BASE + "signatures", {"status": "pending"}).json()
    mainland = operator.get(BASE + "signatures", {"region": "mainland"}).json()
    templates = operator.get(BASE + "templates", {"status": "approved"}).json()
    bad = operator.get(BASE + "signatures", {"status": "maybe"})

    assert [s["text"] for s in pending] == ["Pending"]
    assert [s["text"] for s in mainland] == ["腾讯云"]
    assert [t["template_id"] for t in templates] == ["449739"]
    assert bad.status_code == 400 and list(fields_of(bad)) == ["status"]


# SMS applications


def test_only_admins_see_the_secret_callback_path(sms, operator, owner):
    as_operator = operator.get(BASE + "applications").json()
    as_owner = owner.get(BASE + "applications").json()

    assert [(a["sdk_app_id"], a["callback_path"]) for a in as_operator] == [("1400006666", None)]
    assert as_owner[0]["callback_path"] == f"/callbacks/sms/{sms.application.receipt_token}"


def test_admins_register_applications_and_operators_cannot(sms, operator, owner):
    body = {"sdk_app_id": "1400007777", "name": "Shop", "receipt_mode": "pull"}

    refused = post(operator, "applications", body)
    created = post(owner, "applications", body)
    duplicate = post(owner, "applications", body)
    not_digits = post(owner, "applications", {**body, "sdk_app_id": "abc"})

    assert refused.status_code == 403
    assert created.status_code == 201
    assert created.json()["callback_path"].startswith("/callbacks/sms/")
    assert SmsApplication.objects.get(sdk_app_id="1400007777").receipt_mode == "pull"
    assert duplicate.status_code == 400 and list(fields_of(duplicate)) == ["sdk_app_id"]
    assert not_digits.status_code == 400 and list(fields_of(not_digits)) == ["sdk_app_id"]


# Rate-limit policy


def test_an_organization_admin_changes_the_policy_and_the_next_send_obeys_it(
    sms, owner, operator, personas
):
    response = post(
        owner,
        "policy",
        {
            "same_content_seconds": 0,
            "daily_limit": 1,
            "hourly_limit": None,
            "exempt_numbers": ["137 1111 3333", OTHER_NUMBER],
        },
        method="put",
    )

    assert response.status_code == 200, response.content
    assert response.json()["exempt_numbers"] == [OTHER_NUMBER]
    assert response.json()["updated_by"] == "olivia"
    policy = RateLimitPolicy.objects.get(account=sms.account)
    assert (policy.same_content_seconds, policy.daily_limit, policy.hourly_limit) == (0, 1, None)

    numbers = [NUMBER, OTHER_NUMBER]
    first = post(operator, "send", send_body(sms, numbers=numbers)).json()["results"]
    second = post(operator, "send", send_body(sms, numbers=numbers)).json()["results"]

    assert [r["state"] for r in first] == ["sent", "sent"]
    assert [(r["state"], r["reason"]) for r in second] == [
        ("blocked", "daily_limit"),
        ("sent", ""),
    ]
    shown = operator.get(BASE + "policy").json()
    assert (shown["daily_limit"], shown["exempt_numbers"]) == (1, [OTHER_NUMBER])


def test_putting_the_policy_replaces_the_exempt_list(sms, owner):
    ExemptNumber.objects.create(account=sms.account, number=NUMBER)
    body = {"same_content_seconds": 30, "daily_limit": 10, "hourly_limit": 5}

    post(owner, "policy", {**body, "exempt_numbers": [OTHER_NUMBER]}, method="put")

    assert list(ExemptNumber.objects.values_list("number", flat=True)) == [OTHER_NUMBER]


def test_an_individual_account_cannot_change_the_policy_and_is_told_how_to(client, personas):
    c = api(client, personas.individual_owner)

    response = post(
        c,
        "policy",
        {"same_content_seconds": 0, "daily_limit": 0, "hourly_limit": None, "exempt_numbers": []},
        method="put",
    )

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "individual_account"
    assert "organization" in error["message"]
    assert "identity-applications" in error["message"]
    assert not RateLimitPolicy.objects.exists()
    assert c.get(BASE + "policy").json()["customizable"] is False


def test_an_operator_cannot_change_the_policy(sms, operator):
    response = post(
        operator,
        "policy",
        {"same_content_seconds": 0, "daily_limit": 0, "hourly_limit": None, "exempt_numbers": []},
        method="put",
    )

    assert response.status_code == 403
    assert not RateLimitPolicy.objects.exists()


def test_more_than_300_exempt_numbers_are_refused(sms, owner):
    numbers = [f"+86137{i:08d}" for i in range(301)]

    response = post(
        owner,
        "policy",
        {
            "same_content_seconds": 30,
            "daily_limit": 10,
            "hourly_limit": None,
            "exempt_numbers": numbers,
        },
        method="put",
    )

    assert response.status_code == 400
    assert list(fields_of(response)) == ["exempt_numbers"]
    assert "300" in fields_of(response)["exempt_numbers"][0]
    assert not ExemptNumber.objects.exists() and not RateLimitPolicy.objects.exists()


def test_an_invalid_exempt_number_is_refused(sms, owner):
    response = post(
        owner,
        "policy",
        {
            "same_content_seconds": 30,
            "daily_limit": 10,
            "hourly_limit": None,
            "exempt_numbers": [NUMBER, "12345"],
        },
        method="put",
    )

    assert response.status_code == 400
    [field] = fields_of(response)
    assert field.startswith("exempt_numbers")
    assert not ExemptNumber.objects.exists()


# Identity applications


def test_an_individual_owner_applies_for_organizational_identity(client, personas):
    c = api(client, personas.individual_owner)

    response = post(
        c,
        "identity-applications",
        {"company_name": "Ivan Ltd", "credential_number": "91310000MA1FL0001"},
    )
    again = post(c, "identity-applications", {"company_name": "Ivan Ltd", "credential_number": "x"})

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    application = IdentityApplication.objects.get(account=personas.individual)
    assert [d.action for d in application.decisions.all()] == ["submitted"]
    assert again.status_code == 409
    assert [a["company_name"] for a in c.get(BASE + "identity-applications").json()] == ["Ivan Ltd"]


def test_an_organization_does_not_apply_for_identity(personas, owner, operator):
    body = {"company_name": "Acme", "credential_number": "1"}

    assert post(owner, "identity-applications", body).status_code == 409
    assert post(operator, "identity-applications", body).status_code == 403
    assert not IdentityApplication.objects.exists()


# Packages


def test_packages_show_the_balance_per_region_and_every_package(sms, operator):
    older = Package.objects.create(
        account=sms.account,
        region=Region.GLOBAL,
        quantity=10,
        purchased_at=timezone.now() - timedelta(days=400),
        valid_from=timezone.now() - timedelta(days=400),
        valid_until=timezone.now() - timedelta(days=35),
    )
    post(operator, "send", send_body(sms))

    body = operator.get(BASE + "packages").json()

    regions = {r["region"]: r for r in body["regions"]}
    assert (regions["mainland"]["quantity"], regions["mainland"]["left"]) == (1000, 999)
    assert regions["global"]["left"] == 0
    assert [(p["id"], p["used"], p["left"], p["valid"]) for p in body["packages"]] == [
        (sms.package.pk, 1, 999, True),
        (older.pk, 0, 10, False),
    ]


# SMS records


@pytest.fixture
def records(sms):
    """Five messages over three days (Asia/Shanghai), oldest first."""
    tz = sms.account.tz
    common = dict(
        account=sms.account,
        application=sms.application,
        region=Region.MAINLAND,
        template=sms.template,
        template_code="449739",
        content="x",
        content_hash="h",
    )
    rows = [
        (NUMBER, "delivered", datetime(2026, 3, 1, 9, tzinfo=tz), "api", None),
        (NUMBER, "failed", datetime(2026, 3, 2, 9, tzinfo=tz), "api", None),
        (OTHER_NUMBER, "sent", datetime(2026, 3, 2, 23, 30, tzinfo=tz), "push_delivery", 7),
        (OTHER_NUMBER, "blocked", datetime(2026, 3, 3, 0, 30, tzinfo=tz), "api", None),
        (NUMBER, "sent", datetime(2026, 3, 3, 12, tzinfo=tz), "api", None),
    ]
    return [
        SmsMessage.objects.create(
            phone_number=n, state=s, created_at=at, source_type=st, source_id=si, **common
        )
        for n, s, at, st, si in rows
    ]


def ids(response):
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["results"]]


def test_messages_are_filtered(records, operator, sms):
    r = records
    get = lambda **q: operator.get(BASE + "messages", q)  # noqa: E731

    assert ids(get()) == [m.pk for m in reversed(r)]
    assert ids(get(phone_number="137 1111 3333")) == [r[3].pk, r[2].pk]
    assert ids(get(state="sent")) == [r[4].pk, r[2].pk]
    assert ids(get(since="2026-03-02", until="2026-03-02")) == [r[2].pk, r[1].pk]
    assert ids(get(since="2026-03-02T23:00:00+08:00")) == [r[4].pk, r[3].pk, r[2].pk]
    assert ids(get(until="2026-03-02T09:00:00")) == [r[0].pk]
    assert ids(get(source_type="push_delivery", source_id=7)) == [r[2].pk]
    assert ids(get(template_id="449739")) == [m.pk for m in reversed(r)]
    assert ids(get(template_id="000")) == []


@pytest.mark.parametrize(
    "query, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"phone_number": "12345"}, "phone_number"),
        ({"state": "lost"}, "state"),
        ({"source_id": "x"}, "source_id"),
        ({"source_type": "carrier_pigeon"}, "source_type"),  # no app registered it
    ],
)
def test_bad_message_filters_name_the_field(records, operator, query, field):
    response = operator.get(BASE + "messages", query)

    assert response.status_code == 400 and list(fields_of(response)) == [field]


def test_messages_are_paginated_newest_first(records, operator):
    first = operator.get(BASE + "messages", {"limit": 2}).json()
    second = operator.get(BASE + "messages", {"limit": 2, "offset": 2}).json()

    assert first["count"] == 5
    assert [m["id"] for m in first["results"]] == [records[4].pk, records[3].pk]
    assert [m["id"] for m in second["results"]] == [records[2].pk, records[1].pk]
    assert first["next"] and "offset=2" in first["next"] and first["previous"] is None
    assert first["results"][0]["phone_number"] == NUMBER  # in full: the API is the owner's


@pytest.mark.parametrize("how", ["path", "query"])
def test_the_csv_export_streams_a_header_and_the_rows(records, operator, how):
    if how == "path":
        response = operator.get(BASE + "messages.csv", {"state": "sent"})
    else:
        response = operator.get(BASE + "messages", {"state": "sent", "format": "csv"})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "created_at", "phone_number"]
    assert [(int(row[0]), row[2]) for row in rows[1:]] == [
        (records[4].pk, NUMBER),
        (records[2].pk, OTHER_NUMBER),
    ]


def test_a_bad_filter_on_the_csv_export_is_a_json_400(records, operator):
    response = operator.get(BASE + "messages.csv", {"since": "soon"})

    assert response.status_code == 400
    assert list(fields_of(response)) == ["since"]
