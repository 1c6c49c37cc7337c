"""A push's SMS go out under the signature and template it was accepted with.

A push that names no signature gets "the account's approved signature": the newest sendable one
when the push is accepted, pinned on the push (``Push.pinned_signature``). Approving another
signature later does not re-brand it; revoking the pinned one blocks its SMS
(``signature_not_approved``) rather than sending them under another signature.
"""

import importlib
from datetime import timedelta

from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from push import fallback
from push.models import Push
from push.preview import preview
from push.sms_source import messages_of
from push.tpns.submit import submit
from sms.models import ProviderStatus, Signature, Template
from tests.accounts.test_scoping import api
from tests.push.conftest import add_device
from tests.push.test_fallback import due

PHONE = "+8613711110001"


def accept(app, **sms_changes):
    """A push through the TPNS API's code path, naming no signature."""
    info = {
        "delay_trigger_time": 300,
        "trigger_condition": 1,
        "sms_app_id": "1400006666",
        "sms_template_id": "449739",
        "sms_template_params": ["报销单 42", "明天"],
        **sms_changes,
    }
    data = {
        "audience_type": "token_list",
        "token_list": ["tok-a"],
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
        "resend_by_sms": True,
        "sms_info": info,
    }
    return submit(app, data, now=timezone.now())


def newer_signature(sms, reviewer, text="新品牌"):
    """Another signature of Acme, approved after the push was accepted."""
    signature = Signature.objects.create(account=sms.account, text=text)
    signature.decide(approve=True, by=reviewer, now=timezone.now() + timedelta(seconds=5))
    signature.refresh_from_db()
    assert signature.is_sendable
    return signature


def test_a_push_is_pinned_to_the_accounts_approved_signature_when_accepted(app, sms):
    add_device(app, "tok-a", phone=PHONE)
    push = accept(app)

    assert push.sms_sign_name == ""  # as given: TPNS's record echoes it
    assert (push.pinned_template, push.pinned_signature) == (sms.template, sms.signature)


def test_approving_a_newer_signature_does_not_rebrand_a_running_push(
    app, sms, reviewer, login, personas
):
    add_device(app, "tok-a", phone=PHONE)
    push = accept(app)
    newer_signature(sms, reviewer)
    # A push accepted now gets the newer one: it is the account's approved signature now.
    assert accept(app).pinned_signature.text == "新品牌"

    before = preview(push, due(push))
    page = login(personas.owner).get(f"/a/{personas.org.pk}/push/pushes/{push.pk}/?preview=1")
    api_body = api(Client(), personas.owner).get(f"/api/v1/pushes/{push.pk}").json()
    fallback.sweep(due(push))

    [message] = messages_of(push.pk)
    assert message.sign_name == "腾讯云" and message.content.startswith("【腾讯云】")
    assert (before["would_send"], before["sign_name"]) == (1, "腾讯云")
    assert before["content"] == message.content
    text = page.content.decode()
    assert 'id="pinned-signature">腾讯云' in text and "新品牌" not in text
    assert f'<q id="preview-content">{message.content}</q>' in text
    assert api_body["sms_pinned"] == {"template_id": "449739", "sign_name": "腾讯云"}


def test_a_revoked_pinned_signature_blocks_the_sms_instead_of_switching_brand(app, sms, reviewer):
    add_device(app, "tok-a", phone=PHONE)
    push = accept(app)
    newer_signature(sms, reviewer)
    # Tencent rejects the pinned signature after the push was accepted.
    Signature.objects.filter(pk=sms.signature.pk).update(provider_status=ProviderStatus.REJECTED)

    before = preview(push, due(push))
    fallback.sweep(due(push))

    delivery = push.deliveries.get()
    assert (delivery.outcome, delivery.outcome_detail) == ("blocked", "signature_not_approved")
    assert before["skipped"] == {"blocked:signature_not_approved": 1}
    assert not messages_of(push.pk).filter(sign_name="新品牌").exists()


def test_a_revoked_pinned_template_blocks_the_sms(app, sms):
    add_device(app, "tok-a", phone=PHONE)
    push = accept(app)
    Template.objects.filter(pk=sms.template.pk).update(provider_status=ProviderStatus.REJECTED)

    fallback.sweep(due(push))

    delivery = push.deliveries.get()
    assert (delivery.outcome, delivery.outcome_detail) == ("blocked", "template_not_approved")


def test_the_migration_pins_existing_pushes_as_they_resolve_today(app, sms, reviewer):
    name = "0005_pin_sms_template_and_signature"
    migration = importlib.import_module(f"push.migrations.{name}")
    # The models as that migration sees them.
    then = MigrationLoader(connection).project_state(("push", name), at_end=True).apps
    add_device(app, "tok-a", phone=PHONE)
    running = accept(app)
    named = accept(app, sms_sign_name="腾讯云")
    newer = newer_signature(sms, reviewer)
    unresolvable = accept(app)
    Push.objects.update(pinned_template=None, pinned_signature=None)  # as before pinning
    revoked = Template.objects.create(
        account=sms.account, code="449740", name="Old", content="旧模板{1}{2}"
    )
    Push.objects.filter(pk=unresolvable.pk).update(sms_template_id=revoked.code)

    migration.pin_existing(then, None)

    def pinned(push):
        push.refresh_from_db()
        return push.pinned_template, push.pinned_signature

    # Today the engine would send the unnamed one with the newest signature, the named one
    # with its own; a pending template does not resolve, so that push stays unpinned.
    assert pinned(running) == (sms.template, newer)
    assert pinned(named) == (sms.template, sms.signature)
    assert pinned(unresolvable) == (None, None)


def test_an_unpinned_push_is_still_resolved_at_send_time(app, sms, reviewer):
    add_device(app, "tok-a", phone=PHONE)
    push = accept(app)
    Push.objects.filter(pk=push.pk).update(pinned_template=None, pinned_signature=None)
    newer_signature(sms, reviewer)

    fallback.sweep(due(push))

    [message] = messages_of(push.pk)
    assert message.sign_name == "新品牌"  # the newest approved one, as before pinning
