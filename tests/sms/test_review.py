"""Review in Django admin: the Reviewers group, the pending queue, decisions and their audit trail.

Every admin request here is made by a reviewer who is staff and only in the Reviewers group
(no superuser), so the group's permissions are what is tested.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management.sql import emit_post_migrate_signal
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import Account
from sms.models import IdentityApplication, ReviewDecision, Signature, Template
from sms.review import REVIEWERS_GROUP, decide_many, ensure_reviewers_group, submit
from tests.conftest import make_user
from tests.sms.conftest import authorize, proof_file, send_one

NOW = timezone.now().replace(microsecond=0)


def changelist(model):
    return reverse(f"admin:sms_{model._meta.model_name}_changelist")


def change_page(item):
    return reverse(f"admin:sms_{item._meta.model_name}_change", args=[item.pk])


def new_template(account, name="Approval", *, created_at=None, **extra):
    return Template.objects.create(
        account=account,
        name=name,
        content="您有一条待审批：{1}，请在{2}前处理。",
        created_at=created_at or NOW,
        **extra,
    )


def actions_of(page):
    return [value for value, _ in page.context["action_form"].fields["action"].choices]


@pytest.fixture
def reviewer_client(client, reviewer):
    """rita: staff, in the Reviewers group, nothing else."""
    reviewer.groups.add(ensure_reviewers_group())
    assert not reviewer.is_superuser and not reviewer.user_permissions.exists()
    client.force_login(reviewer)
    return client


# -- the group -------------------------------------------------------------------------------


def test_migrate_leaves_a_reviewers_group_with_exactly_the_review_permissions(db):
    Group.objects.filter(name=REVIEWERS_GROUP).delete()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    group = Group.objects.get(name=REVIEWERS_GROUP)
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == {
        ("sms", "view_signature"),
        ("sms", "change_signature"),
        ("sms", "view_template"),
        ("sms", "change_template"),
        ("sms", "view_identityapplication"),
        ("sms", "change_identityapplication"),
        ("sms", "view_reviewdecision"),
    }


def test_ensuring_the_group_again_removes_permissions_it_should_not_have(db):
    from django.contrib.auth.models import Permission

    group = ensure_reviewers_group()
    group.permissions.add(Permission.objects.get(codename="delete_template"))

    again = ensure_reviewers_group()

    assert again.pk == group.pk
    assert not again.permissions.filter(codename__startswith="delete_").exists()
    assert again.permissions.count() == 7


def test_a_reviewer_sees_the_review_models_and_may_not_add_or_delete(reviewer_client):
    index = reviewer_client.get("/admin/sms/")
    page = reviewer_client.get(changelist(Template))

    assert index.status_code == 200 and page.status_code == 200
    models = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert models == {"Signature", "Template", "IdentityApplication", "ReviewDecision"}
    assert set(actions_of(page)) == {
        "",
        "approve_selected",
        "reject_selected",
        "submit_to_tencent_again",
    }
    assert reviewer_client.get(reverse("admin:sms_template_add")).status_code == 403
    assert reviewer_client.get(reverse("admin:sms_package_changelist")).status_code == 403


# -- the queue -------------------------------------------------------------------------------


def test_a_reviewer_sees_the_pending_queue_first_oldest_first(reviewer_client, personas, reviewer):
    decided_new = new_template(personas.org, "decided new", created_at=NOW)
    decided_new.decide(approve=True, by=reviewer)
    decided_old = new_template(personas.org, "decided old", created_at=NOW - timedelta(days=9))
    decided_old.decide(approve=False, by=reviewer, reason="no")
    waiting_long = new_template(personas.org, "waiting long", created_at=NOW - timedelta(days=3))
    waiting_short = new_template(personas.org, "waiting", created_at=NOW - timedelta(hours=1))

    page = reviewer_client.get(changelist(Template))

    assert [t.name for t in page.context["cl"].result_list] == [
        waiting_long.name,
        waiting_short.name,
        decided_new.name,
        decided_old.name,
    ]


def test_the_queue_filters_by_status_and_searches_account_names(reviewer_client, personas):
    new_template(personas.org, "Acme's")
    other = new_template(personas.outsider_account, "Other's")
    other.decide(approve=True, by=None)

    pending = reviewer_client.get(changelist(Template), {"status__exact": "pending"})
    found = reviewer_client.get(changelist(Template), {"q": "Other Co"})

    assert [t.name for t in pending.context["cl"].result_list] == ["Acme's"]
    assert [t.name for t in found.context["cl"].result_list] == ["Other's"]


# -- bulk actions ----------------------------------------------------------------------------


def test_bulk_approve_approves_the_pending_and_skips_the_decided(
    reviewer_client, personas, reviewer
):
    first, second = new_template(personas.org, "one"), new_template(personas.org, "two")
    rejected = new_template(personas.org, "rejected")
    rejected.decide(approve=False, by=reviewer, reason="too vague")

    response = reviewer_client.post(
        changelist(Template),
        {"action": "approve_selected", "_selected_action": [first.pk, second.pk, rejected.pk]},
        follow=True,
    )

    assert response.status_code == 200
    for item in (first, second):
        item.refresh_from_db()
        assert (item.status, item.reviewed_by) == ("approved", reviewer)
    rejected.refresh_from_db()
    assert rejected.status == "rejected" and rejected.review_reply == "too vague"
    assert "Approved 2 templates. 1 skipped: no longer pending." in response.content.decode()
    assert Template.objects.sendable().count() == 2


def test_bulk_reject_asks_for_a_reason_first(reviewer_client, personas):
    item = new_template(personas.org)

    page = reviewer_client.post(
        changelist(Template), {"action": "reject_selected", "_selected_action": [item.pk]}
    )

    assert page.status_code == 200
    assert page.templates[0].name == "admin/sms/reject_selected.html"
    text = page.content.decode()
    assert 'name="reason"' in text and str(item) in text
    item.refresh_from_db()
    assert item.status == "pending"


def test_bulk_reject_without_a_reason_shows_the_form_again_and_changes_nothing(
    reviewer_client, personas
):
    item = new_template(personas.org)

    page = reviewer_client.post(
        changelist(Template),
        {"action": "reject_selected", "_selected_action": [item.pk], "post": "yes", "reason": " "},
    )

    assert page.status_code == 200
    assert page.templates[0].name == "admin/sms/reject_selected.html"
    assert "Give a reason to reject" in page.content.decode()
    item.refresh_from_db()
    assert (item.status, item.review_reply, item.reviewed_at) == ("pending", "", None)
    assert not ReviewDecision.objects.filter(action="rejected").exists()


def test_bulk_reject_with_a_reason_rejects_and_replies_with_it(reviewer_client, personas, reviewer):
    first, second = new_template(personas.org, "one"), new_template(personas.org, "two")

    response = reviewer_client.post(
        changelist(Template),
        {
            "action": "reject_selected",
            "_selected_action": [first.pk, second.pk],
            "post": "yes",
            "reason": "Marketing content in a notification template.",
        },
    )

    assert response.status_code == 302
    for item in (first, second):
        item.refresh_from_db()
        assert item.status == "rejected"
        assert item.review_reply == "Marketing content in a notification template."
        assert item.reviewed_by == reviewer
    assert not Template.objects.sendable().exists()


def test_bulk_actions_work_on_signatures_too(reviewer_client, personas, reviewer, media):
    signature = Signature.objects.create(
        account=personas.org, text="腾讯云", proof_image=proof_file()
    )

    reviewer_client.post(
        changelist(Signature), {"action": "approve_selected", "_selected_action": [signature.pk]}
    )

    signature.refresh_from_db()
    assert signature.status == "approved" and signature.reviewed_by == reviewer


# -- one item: buttons, read-only once decided, audit trail ----------------------------------


def test_the_change_page_of_a_pending_item_approves_it(reviewer_client, personas, reviewer):
    item = new_template(personas.org)

    page = reviewer_client.get(change_page(item))
    response = reviewer_client.post(change_page(item), {"reason": "", "_approve": "Approve"})

    assert (
        'name="_approve"' in page.content.decode() and 'name="_save"' not in page.content.decode()
    )
    assert list(page.context["adminform"].form.fields) == ["reason"]
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.reviewed_by) == ("approved", reviewer)


def test_the_change_page_rejects_only_with_a_reason(reviewer_client, personas):
    item = new_template(personas.org)

    refused = reviewer_client.post(change_page(item), {"reason": "", "_reject": "Reject"})
    item.refresh_from_db()
    status_after_refusal = item.status
    done = reviewer_client.post(change_page(item), {"reason": "Unclear.", "_reject": "Reject"})

    assert refused.status_code == 200 and "Give a reason to reject" in refused.content.decode()
    assert status_after_refusal == "pending"
    assert done.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.review_reply) == ("rejected", "Unclear.")


def test_the_audit_trail_is_shown_on_the_items_page(reviewer_client, personas, reviewer):
    item = Signature.objects.create(account=personas.org, text="腾讯云", created_by=personas.owner)
    submitted_at = NOW - timedelta(days=1)
    submit(item, by=personas.owner, now=submitted_at)
    reviewer_client.post(
        changelist(Signature),
        {
            "action": "reject_selected",
            "_selected_action": [item.pk],
            "post": "yes",
            "reason": "The licence photo is blurred.",
        },
    )
    rejected_at = ReviewDecision.objects.get(action="rejected").at

    page = reviewer_client.get(change_page(item))

    assert page.status_code == 200
    trail = page.content.decode().split('class="sms-audit-trail"')[1].split("</table>")[0]
    rows = [row for row in trail.split("<tr>")[2:]]
    assert len(rows) == 2
    assert "Submitted" in rows[0] and "olivia" in rows[0]
    assert submitted_at.strftime("%Y-%m-%d %H:%M:%S") in rows[0]
    assert "Rejected" in rows[1] and "rita" in rows[1]
    assert "The licence photo is blurred." in rows[1]
    assert rejected_at.strftime("%Y-%m-%d %H:%M:%S") in rows[1]


def test_an_approved_item_is_read_only_and_a_post_does_not_change_it(
    reviewer_client, personas, reviewer
):
    item = new_template(personas.org, "Approval")
    item.decide(approve=True, by=reviewer)

    page = reviewer_client.get(change_page(item))
    post = reviewer_client.post(
        change_page(item),
        {"name": "Changed", "content": "Changed {1}", "reason": "x", "_reject": "Reject"},
    )

    text = page.content.decode()
    assert page.status_code == 200 and not page.context["has_change_permission"]
    for control in (
        "<textarea",
        'name="name"',
        'name="_save"',
        'name="_approve"',
        'name="_reject"',
    ):
        assert control not in text
    assert post.status_code == 403
    item.refresh_from_db()
    assert (item.name, item.status, item.content) == (
        "Approval",
        "approved",
        "您有一条待审批：{1}，请在{2}前处理。",
    )


def test_a_second_decision_on_a_decided_item_changes_nothing(personas, reviewer):
    item = new_template(personas.org)
    stale = Template.objects.get(pk=item.pk)  # what a second reviewer loaded before
    other = make_user("ruth", is_staff=True)

    first = item.decide(approve=True, by=reviewer, now=NOW)
    second = stale.decide(approve=False, by=other, reason="too late", now=NOW + timedelta(1))
    in_bulk = decide_many(Template.objects.filter(pk=item.pk), approve=False, by=other, reason="x")

    assert (first, second, in_bulk) == (True, False, (0, 1, []))
    item.refresh_from_db()
    assert (item.status, item.reviewed_by, item.reviewed_at) == ("approved", reviewer, NOW)
    assert list(item.decisions.values_list("action", flat=True)) == ["approved"]


def test_approving_an_identity_application_makes_the_account_an_organization(
    reviewer_client, personas, media
):
    application = IdentityApplication.objects.create(
        account=personas.individual,
        company_name="Ivan Trading Ltd",
        credential_number="91X",
        proof=proof_file(),
    )

    reviewer_client.post(
        changelist(IdentityApplication),
        {"action": "approve_selected", "_selected_action": [application.pk]},
    )

    account = Account.objects.get(pk=personas.individual.pk)
    assert (account.identity, account.name) == ("organization", "Ivan Trading Ltd")


def test_rejecting_an_identity_application_leaves_the_account_individual(reviewer_client, personas):
    application = IdentityApplication.objects.create(
        account=personas.individual, company_name="Ivan Trading Ltd", credential_number="91X"
    )

    reviewer_client.post(
        changelist(IdentityApplication),
        {
            "action": "reject_selected",
            "_selected_action": [application.pk],
            "post": "yes",
            "reason": "The credential number does not match the company.",
        },
    )

    account = Account.objects.get(pk=personas.individual.pk)
    assert (account.identity, account.name) == ("individual", "Ivan")


# -- submit ----------------------------------------------------------------------------------


def test_submit_records_the_submission_and_emails_the_reviewers(
    personas, reviewer, superuser, django_capture_on_commit_callbacks
):
    reviewer.groups.add(ensure_reviewers_group())
    make_user("gone", is_staff=True, is_active=False).groups.add(ensure_reviewers_group())
    make_user("nomail", is_staff=True).groups.add(ensure_reviewers_group())
    Group.objects.get(name=REVIEWERS_GROUP).user_set.filter(username="nomail").update(email="")
    make_user("staff", is_staff=True)  # staff, but not a reviewer
    item = new_template(personas.org)

    with django_capture_on_commit_callbacks(execute=True):
        decision = submit(item, by=personas.owner, now=NOW)

    assert (decision.action, decision.by, decision.at) == ("submitted", personas.owner, NOW)
    assert list(item.decisions.values_list("action", flat=True)) == ["submitted"]
    [message] = mail.outbox
    assert sorted(message.to) == ["rita@example.com", "root@example.com"]
    assert "Template" in message.subject and "Acme" in message.subject
    assert reverse("admin:sms_template_change", args=[item.pk]) in message.body


def test_submit_sends_nothing_before_the_transaction_commits(personas, reviewer):
    reviewer.groups.add(ensure_reviewers_group())

    submit(new_template(personas.org), by=personas.owner)

    assert mail.outbox == []  # the test's transaction never commits


@pytest.mark.parametrize(
    "transport, confirmed, kind, queued",
    [
        ("tencent", True, "template", True),
        ("tencent", True, "signature", True),
        ("tencent", True, "identity", False),
        ("tencent", False, "template", False),
        ("local", True, "template", False),
    ],
)
def test_submit_queues_the_tencent_submission_only_for_confirmed_tencent_accounts(
    personas, settings, django_capture_on_commit_callbacks, transport, confirmed, kind, queued
):
    settings.SMS_TRANSPORT = transport
    authorize(personas.org, confirmed=confirmed)
    item = {
        "template": lambda: new_template(personas.org),
        "signature": lambda: Signature.objects.create(account=personas.org, text="腾讯云"),
        "identity": lambda: IdentityApplication.objects.create(
            account=personas.org, company_name="Acme Ltd", credential_number="91X"
        ),
    }[kind]()

    with django_capture_on_commit_callbacks(execute=True):
        submit(item, by=personas.owner)

    tasks = [(q.func(), q.task["args"]) for q in OrmQ.objects.all()]
    expected = [("sms.tasks.submit_to_provider", (item._meta.label, item.pk))]
    assert tasks == (expected if queued else [])


# -- the rest of the SMS admin ---------------------------------------------------------------


def test_every_sms_admin_page_renders_for_a_superuser(client, sms, superuser):
    client.force_login(superuser)
    message = send_one(sms)
    decision = sms.template.decisions.first()
    pages = [
        ("smsmessage", message.pk),
        ("package", sms.package.pk),
        ("smsapplication", sms.application.pk),
        ("signature", sms.signature.pk),
        ("template", sms.template.pk),
        ("reviewdecision", decision.pk),
        ("packagecharge", message.charges.get().pk),
        ("ratelimitpolicy", None),
        ("exemptnumber", None),
        ("quotaalert", None),
        ("identityapplication", None),
    ]
    for model, pk in pages:
        listing = client.get(reverse(f"admin:sms_{model}_changelist"))
        assert listing.status_code == 200, model
        if pk:
            assert client.get(reverse(f"admin:sms_{model}_change", args=[pk])).status_code == 200


def test_staff_sell_a_package_in_admin_and_are_recorded_as_its_creator(client, personas, superuser):
    staff = superuser
    client.force_login(staff)
    start = NOW
    response = client.post(
        reverse("admin:sms_package_add"),
        {
            "account": personas.org.pk,
            "region": "mainland",
            "quantity": 5000,
            "valid_from_0": start.strftime("%Y-%m-%d"),
            "valid_from_1": start.strftime("%H:%M:%S"),
            "valid_until_0": (start + timedelta(days=365)).strftime("%Y-%m-%d"),
            "valid_until_1": start.strftime("%H:%M:%S"),
            "note": "Order 42",
        },
    )

    assert response.status_code == 302
    package = personas.org.sms_packages.get()
    assert (package.quantity, package.created_by, package.left) == (5000, staff, 5000)


def test_sent_records_are_read_only_for_staff_who_are_not_superusers(client, sms):
    from django.contrib.auth.models import Permission

    staff = make_user("sam", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_smsmessage"))
    client.force_login(staff)
    message = send_one(sms)

    page = client.get(reverse("admin:sms_smsmessage_change", args=[message.pk]))
    post = client.post(reverse("admin:sms_smsmessage_change", args=[message.pk]), {"state": "x"})
    delete = client.post(reverse("admin:sms_smsmessage_delete", args=[message.pk]), {"post": "yes"})

    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert (post.status_code, delete.status_code) == (403, 403)
    message.refresh_from_db()
    assert message.state == "sent"
