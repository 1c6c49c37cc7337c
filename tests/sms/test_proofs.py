"""Proof documents in Django admin: reviewers see them, nobody else does, and an application
whose proof is missing is never approved (alone or in bulk)."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from sms.models import IdentityApplication, Signature
from sms.review import ensure_reviewers_group
from tests.conftest import make_user
from tests.sms.conftest import PNG, proof_file

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = b"<html><script>alert(document.cookie)</script></html>"


def proof_url(item):
    return reverse(f"admin:sms_{item._meta.model_name}_proof", args=[item.pk])


def change_page(item):
    return reverse(f"admin:sms_{item._meta.model_name}_change", args=[item.pk])


def changelist(model):
    return reverse(f"admin:sms_{model._meta.model_name}_changelist")


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def reviewer_client(client, reviewer):
    reviewer.groups.add(ensure_reviewers_group())
    client.force_login(reviewer)
    return client


@pytest.fixture
def signature(personas, media):
    return Signature.objects.create(account=personas.org, text="腾讯云", proof_image=proof_file())


@pytest.fixture
def identity(personas, media):
    return IdentityApplication.objects.create(
        account=personas.individual,
        company_name="Ivan Trading Ltd",
        credential_number="91X",
        proof=proof_file(PDF, "licence.pdf"),
    )


# -- seeing the proof -------------------------------------------------------------------------


def test_the_change_page_links_the_proof_and_the_link_serves_it(reviewer_client, signature):
    page = reviewer_client.get(change_page(signature)).content.decode()

    assert f'href="{proof_url(signature)}"' in page
    assert "/media/" not in page  # proofs are not public media
    response = reviewer_client.get(proof_url(signature))
    assert response.status_code == 200
    assert body(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]


def test_an_identity_applications_pdf_is_served_as_a_pdf(reviewer_client, identity):
    page = reviewer_client.get(change_page(identity)).content.decode()
    response = reviewer_client.get(proof_url(identity))

    assert f'href="{proof_url(identity)}"' in page
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert body(response) == PDF


def test_a_proof_that_is_no_image_or_pdf_is_downloaded_never_shown(
    reviewer_client, personas, media
):
    # The console's form takes any file: what it holds decides how it is served, not its name.
    item = Signature.objects.create(
        account=personas.org, text="腾讯云", proof_image=proof_file(HTML, "licence.png")
    )

    response = reviewer_client.get(proof_url(item))

    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")


def test_anonymous_and_non_staff_users_are_sent_to_the_login(client, signature, personas):
    anonymous = client.get(proof_url(signature))
    client.force_login(personas.owner)  # the applicant's own owner, not staff
    member = client.get(proof_url(signature))

    for response in (anonymous, member):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_who_may_not_view_the_item_get_a_403(client, signature):
    staff = make_user("stan", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_template"))
    client.force_login(staff)

    assert client.get(proof_url(signature)).status_code == 403


def test_the_media_url_serves_no_proof(client, signature):
    assert client.get("/media/" + signature.proof_image.name).status_code == 404


# -- approving needs the proof ---------------------------------------------------------------


def test_approving_one_item_without_proof_is_refused_saying_why(reviewer_client, personas):
    item = Signature.objects.create(account=personas.org, text="腾讯云")

    response = reviewer_client.post(change_page(item), {"reason": "", "_approve": "Approve"})

    assert response.status_code == 200  # the form again, with the error
    assert "Not approved:" in response.content.decode()
    assert "has no proof image" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "pending" and not item.decisions.filter(action="approved").exists()


def test_bulk_approval_approves_those_with_proof_and_names_those_without(
    reviewer_client, personas, signature
):
    bare = Signature.objects.create(account=personas.org, text="无证明")
    no_credential = IdentityApplication.objects.create(
        account=personas.individual, company_name="Ivan Trading Ltd", credential_number="91X"
    )

    response = reviewer_client.post(
        changelist(Signature),
        {"action": "approve_selected", "_selected_action": [signature.pk, bare.pk]},
        follow=True,
    )
    identity = reviewer_client.post(
        changelist(IdentityApplication),
        {"action": "approve_selected", "_selected_action": [no_credential.pk]},
        follow=True,
    )

    signature.refresh_from_db()
    bare.refresh_from_db()
    no_credential.refresh_from_db()
    assert (signature.status, bare.status, no_credential.status) == (
        "approved",
        "pending",
        "pending",
    )
    shown = [str(m) for m in response.context["messages"]]
    assert "Approved 1 signature." in shown
    assert any(m.startswith("Not approved: 【无证明】") and "no proof image" in m for m in shown)
    shown = [str(m) for m in identity.context["messages"]]
    assert any("Ivan Trading Ltd" in m and "has no proof" in m for m in shown)
    assert personas.individual.__class__.objects.get(pk=personas.individual.pk).identity == (
        "individual"
    )


def test_a_proof_gone_from_storage_blocks_approval_and_says_so(reviewer_client, signature):
    signature.proof_image.storage.delete(signature.proof_image.name)

    page = reviewer_client.get(change_page(signature)).content.decode()
    reviewer_client.post(
        changelist(Signature), {"action": "approve_selected", "_selected_action": [signature.pk]}
    )

    assert "missing from storage" in page
    assert reviewer_client.get(proof_url(signature)).status_code == 404
    signature.refresh_from_db()
    assert signature.status == "pending"


def test_rejecting_needs_no_proof(reviewer_client, personas):
    item = Signature.objects.create(account=personas.org, text="腾讯云")

    reviewer_client.post(
        changelist(Signature),
        {
            "action": "reject_selected",
            "_selected_action": [item.pk],
            "post": "yes",
            "reason": "No licence attached.",
        },
    )

    item.refresh_from_db()
    assert item.status == "rejected"
