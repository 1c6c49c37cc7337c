"""The applicant's changes to a signature or template application: withdraw or edit a pending
one, resubmit a rejected one (race-safe against a reviewer deciding at the same moment), and
one application per signature text."""

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client

from sms import review
from sms.models import ReviewStatus, Signature, Template
from tests.accounts.test_scoping import api
from tests.conftest import make_user, run_concurrently
from tests.sms.conftest import proof_file


def url(account, page):
    return f"/a/{account.pk}/sms/{page}"


def pending_template(account, name="Order", content="订单{1}已发货"):
    item = Template.objects.create(account=account, name=name, content=content)
    review.submit(item, by=None)
    return item


def pending_signature(account, text="Acme", region="mainland"):
    item = Signature.objects.create(
        account=account, text=text, region=region, proof_image=proof_file()
    )
    review.submit(item, by=None)
    return item


def trail(item):
    return list(item.decisions.order_by("at", "id").values_list("action", flat=True))


def template_form(item, **changes):
    data = {
        "name": item.name,
        "content": item.content,
        "kind": item.kind,
        "region": item.region,
        "remark": item.remark,
    }
    return {**data, **changes}


# -- withdraw -----------------------------------------------------------------------------


def test_withdrawing_a_pending_template_takes_it_out_of_the_queue(personas, login):
    item = pending_template(personas.org)

    response = login(personas.member).post(url(personas.org, f"templates/{item.pk}/withdraw/"))

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewStatus.WITHDRAWN
    assert trail(item) == ["submitted", "withdrawn"]
    assert not Template.objects.pending().exists()
    # A reviewer who still had it open cannot approve it any more.
    assert review.decide(item, approve=True, by=None) is False
    item.refresh_from_db()
    assert item.status == ReviewStatus.WITHDRAWN


def test_a_decided_application_cannot_be_withdrawn(personas, login, reviewer):
    item = pending_template(personas.org)
    item.decide(approve=True, by=reviewer)

    login(personas.member).post(url(personas.org, f"templates/{item.pk}/withdraw/"))

    item.refresh_from_db()
    assert item.status == ReviewStatus.APPROVED and trail(item) == ["submitted", "approved"]


def test_a_viewer_can_neither_withdraw_nor_edit(personas, login, viewer, media):
    item = pending_signature(personas.org)
    client = login(viewer)

    assert client.post(url(personas.org, f"signatures/{item.pk}/withdraw/")).status_code == 403
    assert client.get(url(personas.org, f"signatures/{item.pk}/edit/")).status_code == 403
    assert client.post(url(personas.org, f"signatures/{item.pk}/edit/"), {}).status_code == 403
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING and trail(item) == ["submitted"]


def test_an_outsider_gets_404(personas, login):
    item = pending_template(personas.org)

    response = login(personas.outsider).post(url(personas.org, f"templates/{item.pk}/withdraw/"))

    assert response.status_code == 404
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING


# -- edit and resubmit --------------------------------------------------------------------


def test_editing_a_pending_template_keeps_it_pending_and_says_so_in_the_trail(personas, login):
    item = pending_template(personas.org)
    code = item.code

    response = login(personas.member).post(
        url(personas.org, f"templates/{item.pk}/edit/"),
        template_form(item, content="订单{1}已于{2}发货"),
    )

    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.content, item.param_count, item.code) == (
        "pending",
        "订单{1}已于{2}发货",
        2,
        code,
    )
    assert trail(item) == ["submitted", "edited"]
    assert item.decisions.last().reason == "Changed: content"
    assert item.decisions.last().by == personas.member


def test_resubmitting_a_rejected_signature_sends_it_back_to_review_keeping_the_history(
    personas, login, reviewer, media, django_capture_on_commit_callbacks
):
    item = pending_signature(personas.org)
    review.decide(item, approve=False, by=reviewer, reason="Name the company in full.")
    review.ensure_reviewers_group().user_set.add(reviewer)  # rita@example.com
    data = {
        "text": "AcmeCorp",
        "region": "mainland",
        "sign_type": 0,
        "document_type": 1,
        "purpose": 0,
        "remark": "",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = login(personas.member).post(
            url(personas.org, f"signatures/{item.pk}/edit/"), data
        )

    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.text, item.review_reply, item.reviewed_at) == (
        "pending",
        "AcmeCorp",
        "",
        None,
    )
    assert item.proof_image  # kept: no new upload
    assert trail(item) == ["submitted", "rejected", "resubmitted"]
    rejection = item.decisions.get(action="rejected")
    assert rejection.reason == "Name the company in full."
    assert Signature.objects.pending().filter(pk=item.pk).exists()
    assert len(mail.outbox) == 1 and "waits for review" in mail.outbox[0].subject


def test_an_approved_application_cannot_be_edited(personas, login, reviewer):
    item = pending_template(personas.org)
    item.decide(approve=True, by=reviewer)

    response = login(personas.member).post(
        url(personas.org, f"templates/{item.pk}/edit/"), template_form(item, content="改了{1}")
    )

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.content == "订单{1}已发货" and trail(item) == ["submitted", "approved"]


def test_an_application_already_at_tencent_is_not_edited_here(personas, login):
    item = pending_template(personas.org)
    Template.objects.filter(pk=item.pk).update(provider_id="12345", provider_status=1)

    login(personas.member).post(
        url(personas.org, f"templates/{item.pk}/edit/"), template_form(item, content="改了{1}")
    )

    item.refresh_from_db()
    assert item.content == "订单{1}已发货" and trail(item) == ["submitted"]


def test_an_item_submitted_to_tencent_meanwhile_is_not_changed_by_a_stale_copy(personas):
    stale = pending_template(personas.org)
    Template.objects.filter(pk=stale.pk).update(provider_error="submitting…")  # the task's claim

    stale.content = "改了{1}"
    assert review.amend(stale, ["content"], by=None) is None

    assert Template.objects.get(pk=stale.pk).content == "订单{1}已发货"


def test_an_edit_of_an_item_decided_meanwhile_changes_nothing(personas, reviewer):
    stale = pending_template(personas.org)
    Template.objects.get(pk=stale.pk).decide(approve=True, by=reviewer)

    stale.content = "改了{1}"
    assert review.amend(stale, ["content"], by=None) is None

    fresh = Template.objects.get(pk=stale.pk)
    assert fresh.content == "订单{1}已发货" and fresh.status == "approved"


# -- the race with a reviewer -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_racing_an_approval_ends_in_exactly_one_of_them(personas):
    reviewer = make_user("rick", is_staff=True)
    items = [pending_template(personas.org, name=f"T{i}") for i in range(8)]

    for item in items:

        def act(i, pk=item.pk):
            mine = Template.objects.get(pk=pk)  # each side reads its own copy first
            if i == 0:
                return "withdraw", mine.withdraw(by=personas.member)
            return "approve", review.decide(mine, approve=True, by=reviewer)

        won = [what for what, changed in run_concurrently(2, act) if changed]

        item.refresh_from_db()
        assert len(won) == 1, won
        assert item.status == {"withdraw": "withdrawn", "approve": "approved"}[won[0]]
        assert trail(item) == [
            "submitted",
            {"withdraw": "withdrawn", "approve": "approved"}[won[0]],
        ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_racing_an_approval_never_changes_an_approved_template(personas):
    reviewer = make_user("rick", is_staff=True)
    items = [pending_template(personas.org, name=f"T{i}") for i in range(8)]

    for item in items:

        def act(i, pk=item.pk):
            mine = Template.objects.get(pk=pk)
            if i == 0:
                mine.content = "改过的{1}"
                return review.amend(mine, ["content"], by=personas.member) is not None
            return review.decide(mine, approve=True, by=reviewer)

        run_concurrently(2, act)

        item.refresh_from_db()
        # In the order written (each side stamps its time before it waits for the other).
        actions = list(item.decisions.order_by("id").values_list("action", flat=True))
        assert item.status == "approved" and actions[-1] == "approved"
        # Edited before the approval (which then approved the edit), or not edited at all.
        assert item.content == ("改过的{1}" if "edited" in actions else "订单{1}已发货")


# -- one application per signature text --------------------------------------------------


def signature_form(text, region="mainland"):
    return {
        "text": text,
        "region": region,
        "sign_type": 0,
        "document_type": 1,
        "purpose": 0,
        "remark": "",
        "proof_image": proof_file(name="p.png"),
    }


def test_a_second_application_for_the_same_signature_text_is_refused_naming_the_field(
    personas, login, media
):
    pending_signature(personas.org, text="Acme")

    response = login(personas.member).post(
        url(personas.org, "signatures/"), signature_form(" ACME ")
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["text"]
    assert "【Acme】" in errors["text"][0]
    assert Signature.objects.count() == 1


def test_the_same_text_is_free_in_another_region_and_after_a_rejection_or_withdrawal(
    personas, login, reviewer, media
):
    first = pending_signature(personas.org, text="Acme")
    client = login(personas.member)

    assert (
        client.post(url(personas.org, "signatures/"), signature_form("Acme", "global")).status_code
        == 302
    )
    first.withdraw(by=None)
    assert client.post(url(personas.org, "signatures/"), signature_form("acme")).status_code == 302
    assert Signature.objects.count() == 3


def test_another_account_may_hold_the_same_text(personas, media):
    pending_signature(personas.org, text="Acme")

    pending_signature(personas.outsider_account, text="Acme")


def test_the_database_refuses_a_second_live_application_of_a_text(personas, media):
    pending_signature(personas.org, text="Acme")

    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(account=personas.org, text="aCME", region="mainland")


def test_resubmitting_into_a_text_held_by_another_application_is_refused(
    personas, login, reviewer, media
):
    rejected = pending_signature(personas.org, text="Acme")
    review.decide(rejected, approve=False, by=reviewer, reason="no")
    pending_signature(personas.org, text="acme")

    data = signature_form("Acme")
    del data["proof_image"]
    response = login(personas.member).post(
        url(personas.org, f"signatures/{rejected.pk}/edit/"), data
    )

    assert "text" in response.context["form"].errors
    rejected.refresh_from_db()
    assert rejected.status == "rejected"


def test_the_api_refuses_the_same_text_in_its_own_error_shape(personas, media):
    pending_signature(personas.org, text="Acme")
    client = api(Client(), personas.member)

    response = client.post(
        "/api/v1/sms/signatures",
        {"account": personas.org.pk, "text": "ACME", "proof_image": proof_file(name="p.png")},
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["text"]
    assert "【Acme】" in error["fields"]["text"][0]
    assert Signature.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_applications_for_one_text_at_the_same_moment_let_exactly_one_in(
    personas, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path

    def apply(i):
        client = Client()
        client.force_login(personas.member)
        data = signature_form("Acme" if i % 2 else "ACME")
        return client.post(url(personas.org, "signatures/"), data).status_code

    codes = run_concurrently(4, apply)

    assert sorted(codes) == [200, 200, 200, 302]  # the others see the form again, with why
    assert Signature.objects.count() == 1
