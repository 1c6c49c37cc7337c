"""Pin the SMS template and signature of each push (``Push.pinned_template`` / ``_signature``).

Existing pushes with supplementary SMS are pinned to what their sms_info resolves to today
(``sms.sending.resolve``: the account's template of that ID; the named sendable signature of the
template's region, else the newest sendable one), so their remaining SMS keep the brand they
would have had at this moment. A push whose sms_info does not resolve (template or signature
revoked) stays unpinned and is resolved at send time, as before.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q


def pin_existing(apps, schema_editor):
    Push = apps.get_model("push", "Push")
    Template = apps.get_model("sms", "Template")
    Signature = apps.get_model("sms", "Signature")
    sendable = Q(status="approved") & (Q(provider_status__isnull=True) | Q(provider_status=0))
    templates, signatures = {}, {}
    pushes = Push.objects.filter(resend_by_sms=True, pinned_template__isnull=True)
    for push in pushes.select_related("application").iterator(chunk_size=500):
        account_id = push.application.account_id
        key = (account_id, push.sms_template_id)
        if key not in templates:
            templates[key] = Template.objects.filter(
                sendable, account_id=account_id, template_id=push.sms_template_id
            ).first()
        template = templates[key]
        if template is None:
            continue
        key = (account_id, template.region, push.sms_sign_name)
        if key not in signatures:
            found = Signature.objects.filter(
                sendable, account_id=account_id, region=template.region
            )
            if push.sms_sign_name:
                found = found.filter(text=push.sms_sign_name)
            signatures[key] = found.order_by("-reviewed_at", "-id").first()
        signature = signatures[key]
        if signature is None and (push.sms_sign_name or template.region == "mainland"):
            continue
        Push.objects.filter(pk=push.pk).update(pinned_template=template, pinned_signature=signature)


class Migration(migrations.Migration):
    dependencies = [
        ("push", "0004_fanout_in_chunks"),
        ("sms", "0003_live_flag_and_reconcile_checkpoint"),
    ]
    # pin_existing reads Template by the name its field had then (``template_id``).
    run_before = [("sms", "0005_template_code")]

    operations = [
        migrations.AddField(
            model_name="push",
            name="pinned_signature",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="sms.signature",
            ),
        ),
        migrations.AddField(
            model_name="push",
            name="pinned_template",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="sms.template",
            ),
        ),
        migrations.RunPython(pin_existing, migrations.RunPython.noop, elidable=True),
    ]
